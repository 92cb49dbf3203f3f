package nodesource

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/raftkv/raftkv/kvservice/api"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/node"
	"github.com/raftkv/raftkv/ui"
)

// ErrIncomplete: Config lacks Status or Members.
var ErrIncomplete = errors.New("nodesource: Status and Members are required")

// Config is what the adapter reads from a node.
type Config struct {
	// Status is the node's GET /status (kvservice.Server.Status).
	Status func() api.Status
	// Members is the node's GET /cluster/members (kvservice.Server.Members).
	Members func() api.MembersResponse
	// Faults is the node's fault state (kvservice.Server.Faults); nil when
	// fault injection is off.
	Faults func() api.FaultState
	// Subscribe is the driver's Node.Subscribe; nil: no events.
	Subscribe func(func(node.Event)) (cancel func())
	// RaftStatus is the driver's Node.Status: on the leader it gives next
	// indexes and replication states; nil: match indexes only.
	RaftStatus func() raft.Status
	// Timers overrides the election timer (elapsed and timeout) and tells
	// how long ago the leader was last heard from; zero values are not
	// shown. nil: the timer of Status (election_elapsed_ms,
	// election_timeout_ms) is shown.
	Timers func() (electionElapsed, electionTimeout, leaderContact time.Duration)
	// Client reaches the other members (default http.DefaultClient; the
	// UI bounds each request with a context).
	Client *http.Client
	// Scheme of the members' APIs ("https" when they serve TLS).
	Scheme string
	// Authorize adds this node's credentials to its status fetches from
	// other members (kvservice's --node-token); nil: none.
	Authorize func(*http.Request)
}

// Source is a ui.Source over one node.
type Source struct {
	ui.HTTPPeers
	cfg Config
}

var _ ui.Source = (*Source)(nil)

// New returns the Source of a node.
func New(cfg Config) (*Source, error) {
	if cfg.Status == nil || cfg.Members == nil {
		return nil, ErrIncomplete
	}
	return &Source{HTTPPeers: ui.HTTPPeers{Client: cfg.Client, Scheme: cfg.Scheme, Authorize: cfg.Authorize}, cfg: cfg}, nil
}

func member(m api.Member) ui.Member {
	return ui.Member{ID: m.ID, RaftID: m.RaftID, RaftAddr: m.RaftAddr, APIAddr: m.APIAddr, Voter: m.Voter, Match: m.Match}
}

// Members implements ui.Source.
func (s *Source) Members() []ui.Member {
	ms := s.cfg.Members().Members
	out := make([]ui.Member, 0, len(ms))
	for _, m := range ms {
		out = append(out, member(m))
	}
	return out
}

// FaultInjection implements ui.Source.
func (s *Source) FaultInjection() bool { return s.cfg.Faults != nil }

// progressState names a replication state as the page shows it.
func progressState(p raft.ProgressState) string {
	switch p {
	case raft.ProgressProbe:
		return "probe"
	case raft.ProgressReplicate:
		return "replicate"
	case raft.ProgressSnapshot:
		return "snapshot"
	}
	return p.String()
}

// Status implements ui.Source: the node's /status, plus the leader's
// progress (from RaftStatus, else the members' match) and the faults.
func (s *Source) Status() ui.NodeStatus {
	st := s.cfg.Status()
	out := ui.NodeStatus{
		ID: st.ID, RaftID: st.RaftID, Role: st.Role, Term: st.Term, Vote: st.Vote,
		Leader: st.Leader, LeaderRaftID: st.LeaderRaftID, Commit: st.Commit, Applied: st.Applied,
		LastIndex: st.LastIndex, SnapshotIndex: st.SnapshotIndex, StateHash: st.StateHash,
		Keys: st.Keys, ReadMode: st.ReadMode, FaultInjection: s.cfg.Faults != nil,
	}
	names := make(map[uint64]string, len(st.Members))
	for _, m := range st.Members {
		out.Members = append(out.Members, member(m))
		names[m.RaftID] = m.ID
	}
	if st.Role == "leader" {
		out.Progress = make(map[string]ui.Progress)
		var rs raft.Status
		if s.cfg.RaftStatus != nil {
			rs = s.cfg.RaftStatus()
		}
		if rs.RaftState == raft.StateLeader && len(rs.Progress) > 0 {
			for id, p := range rs.Progress {
				name := names[id]
				if name == "" {
					name = fmt.Sprintf("#%d", id)
				}
				out.Progress[name] = ui.Progress{Match: p.Match, Next: p.Next, State: progressState(p.State),
					RecentActive: p.RecentActive, Learner: p.IsLearner}
			}
		} else {
			for _, m := range st.Members {
				if m.Match != nil {
					out.Progress[m.ID] = ui.Progress{Match: *m.Match, Learner: !m.Voter}
				}
			}
		}
	}
	if s.cfg.Timers != nil {
		el, to, lc := s.cfg.Timers()
		out.ElectionElapsedMS, out.ElectionTimeoutMS, out.LeaderContactMS = el.Milliseconds(), to.Milliseconds(), lc.Milliseconds()
	} else {
		// GET /status reports the raft election timer.
		out.ElectionElapsedMS, out.ElectionTimeoutMS = st.ElectionElapsedMS, st.ElectionTimeoutMS
	}
	if s.cfg.Faults != nil {
		f := s.cfg.Faults()
		for _, r := range f.Network {
			out.Network = append(out.Network, ui.NetworkRule{Peer: r.Peer, Direction: r.Direction, Drop: r.Drop,
				Loss: r.Loss, DelayMS: r.DelayMS, JitterMS: r.JitterMS})
		}
		if c := f.Clock; c != nil {
			out.Clock = &ui.ClockFault{OffsetMS: c.OffsetMS, Rate: c.Rate, StrobeDeltaMS: c.StrobeDeltaMS, StrobePeriodMS: c.StrobePeriodMS}
		}
	}
	return out
}

// Subscribe implements ui.Source.
func (s *Source) Subscribe(fn func(ui.Event)) (cancel func()) {
	if s.cfg.Subscribe == nil {
		return func() {}
	}
	return s.cfg.Subscribe(func(ev node.Event) {
		fn(Event(ev, s.nameOf))
	})
}

func (s *Source) nameOf(id uint64) string {
	for _, m := range s.cfg.Members().Members {
		if m.RaftID == id {
			return m.ID
		}
	}
	return ""
}

// Event converts a driver event to the UI's form; nameOf maps raft ids to
// member names ("" when unknown: the id is shown as #id).
func Event(ev node.Event, nameOf func(uint64) string) ui.Event {
	name := func(id uint64) string {
		if id == raft.None {
			return ""
		}
		if n := nameOf(id); n != "" {
			return n
		}
		return fmt.Sprintf("#%d", id)
	}
	out := ui.Event{
		Time: ev.Time, Node: name(ev.Node), Type: ev.Type.String(), Term: ev.Term,
		Leader: name(ev.Leader), Role: ev.Role.String(), Index: ev.Index,
	}
	switch ev.Type {
	case node.EventConfChangeApplied:
		out.Detail = fmt.Sprintf("%s %s; voters %s learners %s", ev.ConfChange.Type, name(ev.ConfChange.NodeID),
			names(ev.ConfState.Voters, name), names(ev.ConfState.Learners, name))
	case node.EventStopped:
		if ev.Err != nil {
			out.Detail = ev.Err.Error()
		}
	}
	return out
}

func names(ids []uint64, name func(uint64) string) string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		out = append(out, name(id))
	}
	return "[" + strings.Join(out, " ") + "]"
}
