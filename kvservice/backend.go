package kvservice

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/raftkv/raftkv/kvservice/api"
	"github.com/raftkv/raftkv/kvservice/fsm"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/node"
)

// The Server is the API's Backend.
var _ api.Backend = (*Server)(nil)

// apiErr maps a driver error to the API's error codes (DriverError).
func (s *Server) apiErr(err error) error {
	if e := DriverError(s.cfg.Name, err); e != nil {
		return e
	}
	return nil
}

// DriverError maps an error of the raft driver (raft/node) on node name to
// the API's error codes; definiteness comes from node.IsDefinite. An
// *api.Error is returned as it is; nil stays nil. The harness's simulation
// answers its clients with it too.
func DriverError(name string, err error) *api.Error {
	var e *api.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &e):
		return e
	case errors.Is(err, node.ErrNotLeader):
		e = api.Errorf(api.CodeNotLeader, "%s is not the leader", name)
	case errors.Is(err, node.ErrPendingConfChange):
		e = api.Errorf(api.CodePendingConfChange, "another membership change is in progress; retry")
	case errors.Is(err, node.ErrProposalDropped):
		e = api.Errorf(api.CodeProposalDropped, "%v", err)
	case errors.Is(err, node.ErrLeadershipLost):
		e = api.Errorf(api.CodeLeadershipLost, "%v", err)
	case errors.Is(err, node.ErrStopped):
		e = api.Errorf(api.CodeShuttingDown, "%v", err)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		e = api.Errorf(api.CodeTimeout, "no result within the deadline: %v", err)
	default:
		e = api.Errorf(api.CodeInternal, "%v", err)
	}
	e.Definite = node.IsDefinite(err)
	return e
}

// Leader implements api.Backend.
func (s *Server) Leader() api.LeaderInfo {
	st := s.node.Load().SoftState()
	if st.Lead == raft.None {
		return api.LeaderInfo{}
	}
	if st.Lead == s.id {
		return api.LeaderInfo{Name: s.cfg.Name, APIAddr: s.apiAddr, Self: st.RaftState == raft.StateLeader}
	}
	m, _ := s.memberInfo(st.Lead)
	return api.LeaderInfo{Name: s.nameOf(st.Lead), APIAddr: m.APIAddr}
}

// Propose implements api.Backend.
func (s *Server) Propose(ctx context.Context, c fsm.Command) (fsm.Result, error) {
	v, err := s.node.Load().Propose(ctx, fsm.EncodeCommand(c))
	if err != nil {
		return fsm.Result{}, s.apiErr(err)
	}
	r, ok := v.(fsm.Result)
	if !ok {
		return fsm.Result{}, api.Errorf(api.CodeInternal, "unexpected apply result %T", v)
	}
	return r, nil
}

// Read implements api.Backend.
func (s *Server) Read(ctx context.Context, key string, mode api.ReadMode) (fsm.Result, error) {
	if mode != api.ReadStale {
		_, err := s.node.Load().ReadIndex(ctx)
		s.metrics.readIndex.WithLabelValues(resultLabel(err)).Inc()
		if err != nil {
			return fsm.Result{}, s.apiErr(err)
		}
	}
	v, ok, applied := s.fsm.Get(key)
	return fsm.Result{Op: fsm.OpGet, Key: key, Value: v, Found: ok, Index: applied}, nil
}

func resultLabel(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

// ResolveReadMode implements api.Backend: the raft core's read-only option
// is per node, so lease and linearizable cannot both be served by one node.
func (s *Server) ResolveReadMode(m api.ReadMode) api.ReadMode {
	switch {
	case m == "":
		return s.readMode
	case m == api.ReadStale:
		return m
	case s.readMode == api.ReadLease:
		return api.ReadLease
	}
	return api.ReadLinearizable
}

func (s *Server) role(st raft.Status) string {
	if _, l := inConf(st.Config, s.id); l {
		return "learner"
	}
	return st.RaftState.String()
}

// Status implements api.Backend. The state hash is read after raft's
// applied index: the state machine then holds every command at or below
// that index, and conf changes and empty entries do not change the map, so
// the hash is the state at max(raft applied, last command applied).
func (s *Server) Status() api.Status {
	st := s.node.Load().Status()
	fsmApplied, hash := s.fsm.StateHash()
	applied := max(st.Applied, fsmApplied)
	snap := uint64(0)
	if st.FirstIndex > 0 {
		snap = st.FirstIndex - 1
	}
	return api.Status{
		ID:            s.cfg.Name,
		RaftID:        s.id,
		ClusterID:     formatClusterID(s.clusterID),
		Role:          s.role(st),
		Term:          st.Term,
		Vote:          st.Vote,
		Leader:        s.nameOf(st.Lead),
		LeaderRaftID:  st.Lead,
		Commit:        st.Commit,
		Applied:       applied,
		LastIndex:     st.LastIndex,
		SnapshotIndex: snap,
		Members:       s.membersOf(st),
		StateHash:     hash,
		Keys:          s.fsm.Len(),
		ReadMode:      string(s.readMode),
		// One raft tick is one heartbeat interval (Start).
		ElectionElapsedMS: (time.Duration(st.ElectionElapsed) * s.cfg.HeartbeatInterval).Milliseconds(),
		ElectionTimeoutMS: (time.Duration(st.ElectionTimeout) * s.cfg.HeartbeatInterval).Milliseconds(),
	}
}

func (s *Server) membersOf(st raft.Status) []api.Member {
	var out []api.Member
	add := func(id uint64, voter bool) {
		m, _ := s.memberInfo(id)
		if id == s.id {
			m.RaftAddr, m.APIAddr = s.raftAddr, s.apiAddr
		}
		am := api.Member{ID: s.nameOf(id), RaftID: id, RaftAddr: m.RaftAddr, APIAddr: m.APIAddr, Voter: voter}
		if pr, ok := st.Progress[id]; ok && st.RaftState == raft.StateLeader {
			match := pr.Match
			am.Match = &match
		}
		out = append(out, am)
	}
	for _, id := range st.Config.Voters {
		add(id, true)
	}
	for _, id := range st.Config.Learners {
		add(id, false)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Members implements api.Backend.
func (s *Server) Members() api.MembersResponse {
	return api.MembersResponse{Members: s.membersOf(s.node.Load().Status()), ClusterID: formatClusterID(s.clusterID)}
}

// AddMember implements api.Backend: a new member is added as a learner (the
// leader promotes it later); an existing member only has its addresses
// updated. CheckJoin decides which, and refuses a removed raft ID, another
// member's raft ID, and a new raft ID under a current member's name (409,
// with the remedy in the message). A request without a raft ID can only
// update a current member's addresses.
func (s *Server) AddMember(ctx context.Context, req api.AddMemberRequest) (api.MembersResponse, error) {
	n := s.node.Load()
	st := n.Status()
	id := req.RaftID
	if id == raft.None {
		if id = s.idOf(st.Config, req.ID); id == raft.None {
			return api.MembersResponse{}, api.Errorf(api.CodeBadRequest,
				"%q is not a member, and the request names no raft_id: a new member joins by starting it with an empty data directory and --join (it picks its own raft id)", req.ID)
		}
	}
	member, err := CheckJoin(s.memberView(st.Config), req.ID, id)
	if err != nil {
		s.log.Warn("join refused", "member", req.ID, "raft_id", fmt.Sprintf("%x", id), "err", err)
		return api.MembersResponse{}, joinError(err)
	}
	m := fsm.Member{Name: req.ID, RaftID: id, RaftAddr: req.RaftAddr, APIAddr: req.APIAddr, StayLearner: req.Learner}
	if member {
		if old, ok := s.fsm.Member(id); !ok || old != m {
			if _, err := n.Propose(ctx, fsm.EncodeCommand(fsm.Command{Op: fsm.OpMembers, Members: []fsm.Member{m}})); err != nil {
				return api.MembersResponse{}, s.apiErr(err)
			}
			s.log.Info("member addresses updated", "member", req.ID, "raft_addr", req.RaftAddr, "api_addr", req.APIAddr)
		}
		return s.Members(), nil
	}
	if _, err := n.ProposeConfChange(ctx, raft.ConfChange{Type: raft.ConfChangeAddLearner, NodeID: id, Context: MemberContext(m)}); err != nil {
		return api.MembersResponse{}, s.apiErr(err)
	}
	s.log.Info("member added as learner", "member", req.ID, "raft_id", fmt.Sprintf("%x", id), "raft_addr", req.RaftAddr, "api_addr", req.APIAddr, "stay_learner", req.Learner)
	return s.Members(), nil
}

// joinError words CheckJoin's refusals for the API.
func joinError(err error) error {
	switch {
	case errors.Is(err, ErrMemberExists):
		return api.Errorf(api.CodeMemberExists, "%v", err)
	case errors.Is(err, ErrRaftIDRemoved):
		return api.Errorf(api.CodeRaftIDRemoved, "%v", err)
	case errors.Is(err, ErrRaftIDInUse):
		return api.Errorf(api.CodeRaftIDInUse, "%v", err)
	}
	return api.Errorf(api.CodeBadRequest, "%v", err)
}

// RemoveMember implements api.Backend. Its raft ID is remembered as
// removed by every replica when the change applies (RecordConfChange).
func (s *Server) RemoveMember(ctx context.Context, name string) error {
	n := s.node.Load()
	st := n.Status()
	id := s.idOf(st.Config, name)
	v, l := inConf(st.Config, id)
	if id == raft.None || (!v && !l) {
		return api.Errorf(api.CodeNotFound, "%q is not a member", name)
	}
	if v && len(st.Config.Voters) == 1 {
		return api.Errorf(api.CodeBadRequest, "cannot remove the last voter")
	}
	if _, err := n.ProposeConfChange(ctx, raft.ConfChange{Type: raft.ConfChangeRemoveNode, NodeID: id}); err != nil {
		return s.apiErr(err)
	}
	s.log.Info("member removed", "member", name, "raft_id", fmt.Sprintf("%x", id))
	return nil
}

// TransferLeader implements api.Backend; an empty name picks the voter
// with the highest match index.
func (s *Server) TransferLeader(ctx context.Context, name string) (string, error) {
	n := s.node.Load()
	st := n.Status()
	var to uint64
	if name == "" {
		var best uint64
		for _, id := range st.Config.Voters {
			if pr, ok := st.Progress[id]; ok && id != s.id && (to == 0 || pr.Match > best) {
				to, best = id, pr.Match
			}
		}
		if to == 0 {
			return "", api.Errorf(api.CodeBadRequest, "no other voter to transfer leadership to")
		}
	} else {
		to = s.idOf(st.Config, name)
		if v, _ := inConf(st.Config, to); to == raft.None || !v {
			return "", api.Errorf(api.CodeBadRequest, "%q is not a voter", name)
		}
	}
	if to == s.id {
		return s.cfg.Name, nil
	}
	if err := n.TransferLeadership(ctx, to); err != nil {
		return "", s.apiErr(err)
	}
	s.log.Info("leadership transferred", "to", s.nameOf(to))
	return s.nameOf(to), nil
}

// Ready implements api.Backend.
func (s *Server) Ready() (bool, string) {
	st := s.node.Load().Status()
	if st.Lead == raft.None {
		return false, "no leader known"
	}
	if st.Applied < s.startCommit {
		return false, fmt.Sprintf("applied %d of the %d entries committed at start", st.Applied, s.startCommit)
	}
	if l := s.Leader(); !l.Self && l.APIAddr == "" {
		// Until the leader's address is replicated here, writes cannot be
		// forwarded.
		return false, fmt.Sprintf("the api address of leader %s is not known yet", l.Name)
	}
	if s.needsRegistration(st) {
		// Until this node's own addresses are replicated, the others
		// cannot forward to it should it become leader. So a cluster
		// whose every node is ready can lose its leader to any of the
		// others without a window in which followers answer no_leader.
		return false, "this node's addresses are not in the replicated member table yet"
	}
	return true, ""
}
