package kvservice

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/raftkv/raftkv/kvservice/api"
	"github.com/raftkv/raftkv/kvservice/fsm"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/node"
)

// JoinTimeout bounds how long a joining node keeps asking to be added.
const JoinTimeout = 2 * time.Minute

// MemberExistsWait is how long a joining node keeps asking while the
// leader answers that its name is still a member under another raft ID: a
// removal that the previous leader applied may not be applied yet by a new
// one. Past it the node gives up with the leader's message (remove the old
// member first).
const MemberExistsWait = 10 * time.Second

// join asks the cluster at cfg.Join to add this node under its new raft ID
// (s.id), retrying while the cluster has no leader or another change is in
// flight. Should the leader find the ID taken (a current or removed
// member's; unlikely with 53 random bits), it picks another.
func (s *Server) join(ctx context.Context) error {
	if _, port, err := net.SplitHostPort(s.cfg.RaftAddr); err != nil || port == "0" {
		return fmt.Errorf("%w: joining needs a concrete raft address, got %q", ErrBadConfig, s.cfg.RaftAddr)
	}
	ctx, cancel := context.WithTimeout(ctx, JoinTimeout)
	defer cancel()
	url := strings.TrimRight(s.cfg.Join, "/") + "/cluster/members"
	backoff := 200 * time.Millisecond
	var existsSince time.Time
	tried := map[uint64]bool{}
	for attempt := 1; ; attempt++ {
		body, _ := json.Marshal(api.AddMemberRequest{ID: s.cfg.Name, RaftID: s.id, RaftAddr: s.cfg.RaftAddr, APIAddr: s.apiAddr, Learner: s.cfg.JoinAsLearner})
		resp, status, err := s.postJSON(ctx, url, body)
		if err == nil && status == http.StatusOK {
			var mr api.MembersResponse
			if err := json.Unmarshal(resp, &mr); err != nil {
				return fmt.Errorf("join: bad answer from %s: %w", url, err)
			}
			cid, err := parseClusterID(mr.ClusterID)
			if err != nil {
				return fmt.Errorf("join: answer from %s: %w", url, err)
			}
			s.clusterID = cid
			s.staticMu.Lock()
			for _, m := range mr.Members {
				s.static[m.RaftID] = fsm.Member{Name: m.ID, RaftID: m.RaftID, RaftAddr: m.RaftAddr, APIAddr: m.APIAddr}
			}
			s.staticMu.Unlock()
			s.log.Info("joined the cluster as a learner", "via", s.cfg.Join, "raft_id", fmt.Sprintf("%x", s.id), "cluster_id", mr.ClusterID, "members", len(mr.Members))
			return nil
		}
		if err == nil && status >= 400 && status < 500 {
			var eb api.ErrorBody
			_ = json.Unmarshal(resp, &eb)
			code := ""
			if eb.Error != nil {
				code = eb.Error.Code
			}
			switch {
			case code == api.CodeRaftIDInUse || code == api.CodeRaftIDRemoved:
				tried[s.id] = true
				s.id = NewRaftID(s.cfg.Name, RandomNonce, func(id uint64) bool { return tried[id] || id == RaftID(s.cfg.Name) })
				s.log.Warn("join: raft id taken; picked another", "raft_id", fmt.Sprintf("%x", s.id), "answer", string(bytes.TrimSpace(resp)))
				continue
			case code == api.CodeMemberExists && (existsSince.IsZero() || time.Since(existsSince) < cmp.Or(s.cfg.memberExistsWait, MemberExistsWait)):
				if existsSince.IsZero() {
					existsSince = time.Now()
				}
				err = fmt.Errorf("%d %s", status, bytes.TrimSpace(resp))
			case code == api.CodeMemberExists:
				// ErrMemberExists, not ErrWrongCluster: the directory is
				// new and the cluster is the right one; the member table
				// is what stands in the way. The leader's message starts
				// with the same sentence, said once.
				return fmt.Errorf("%w: join: %s refused: %s (this node's data directory %s is new: the cluster still has a member named %q; remove it, then start this node again)",
					ErrMemberExists, url, strings.TrimPrefix(eb.Error.Message, ErrMemberExists.Error()+": "), s.cfg.DataDir, s.cfg.Name)
			default:
				return fmt.Errorf("join: %s refused: %d %s", url, status, bytes.TrimSpace(resp))
			}
		}
		if err == nil {
			err = fmt.Errorf("%d %s", status, bytes.TrimSpace(resp))
		}
		s.log.Warn("join attempt failed; retrying", "attempt", attempt, "url", url, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("join: giving up after %d attempts: %w", attempt, err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func (s *Server) postJSON(ctx context.Context, url string, body []byte) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	s.authorize(req)
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return b, resp.StatusCode, err
}

// maintain runs the periodic membership duties until Close.
func (s *Server) maintain() {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	var lastPublish, lastPromote, lastRegister time.Time
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		n := s.node.Load()
		st := n.Status()
		s.syncPeers(st.Config)
		if st.RaftState == raft.StateLeader {
			if time.Since(lastPublish) > 300*time.Millisecond {
				lastPublish = time.Now()
				s.publishMembers(n, st)
			}
			if time.Since(lastPromote) > PromoteEvery {
				lastPromote = time.Now()
				s.promoteLearners(n, st)
			}
		} else if time.Since(lastRegister) > 300*time.Millisecond && s.needsRegistration(st) {
			lastRegister = time.Now()
			s.registerSelf()
		}
	}
}

func (s *Server) self(stayLearner bool) fsm.Member {
	return fsm.Member{Name: s.cfg.Name, RaftID: s.id, RaftAddr: s.raftAddr, APIAddr: s.apiAddr, StayLearner: stayLearner}
}

// publishMembers (leader) records this node's own addresses in the
// replicated table. Other members register their own (registerSelf): a
// guess from --cluster would point forwarding at wrong ports whenever API
// ports are not at a fixed offset from raft ports.
func (s *Server) publishMembers(n *node.Node, st raft.Status) {
	old, ok := s.fsm.Member(s.id)
	me := s.self(old.StayLearner)
	if ok && old == me {
		return
	}
	if v, l := inConf(st.Config, s.id); !v && !l {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := n.Propose(ctx, fsm.EncodeCommand(fsm.Command{Op: fsm.OpMembers, Members: []fsm.Member{me}})); err != nil {
		s.log.Debug("publishing member addresses failed", "err", err)
	}
}

// Promotion is the leader's promotion rule: the AddVoter change (its
// context the member's record) for the first learner of st's
// configuration that did not join to stay a learner and whose match index
// is within PromoteLag of the leader's last index. member gives a
// learner's record. The simulation's leaders promote with it too.
func Promotion(st raft.Status, member func(id uint64) (fsm.Member, bool)) (raft.ConfChange, bool) {
	for _, id := range st.Config.Learners {
		m, known := member(id)
		if known && m.StayLearner {
			continue
		}
		pr, ok := st.Progress[id]
		if !ok || pr.Match == 0 || pr.Match+PromoteLag < st.LastIndex {
			continue
		}
		cc := raft.ConfChange{Type: raft.ConfChangeAddVoter, NodeID: id}
		if known {
			cc.Context = MemberContext(m)
		}
		return cc, true
	}
	return raft.ConfChange{}, false
}

// promoteLearners (leader) promotes one caught-up learner at a time.
func (s *Server) promoteLearners(n *node.Node, st raft.Status) {
	cc, ok := Promotion(st, s.fsm.Member)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_, err := n.ProposeConfChange(ctx, cc)
	cancel()
	if err != nil {
		s.log.Info("promoting a learner failed; will retry", "member", s.nameOf(cc.NodeID), "err", err)
	} else {
		s.log.Info("learner promoted to voter", "member", s.nameOf(cc.NodeID), "match", st.Progress[cc.NodeID].Match, "last_index", st.LastIndex)
	}
}

// needsRegistration: this node is a member but the replicated table does
// not have its current addresses.
func (s *Server) needsRegistration(st raft.Status) bool {
	if v, l := inConf(st.Config, s.id); !v && !l {
		return false
	}
	old, ok := s.fsm.Member(s.id)
	return !ok || old != s.self(old.StayLearner)
}

// registerSelf sends this node's addresses to the leader.
func (s *Server) registerSelf() {
	l := s.Leader()
	if l.Name == "" || l.APIAddr == "" || l.Self {
		return
	}
	old, _ := s.fsm.Member(s.id)
	body, _ := json.Marshal(api.AddMemberRequest{ID: s.cfg.Name, RaftID: s.id, RaftAddr: s.raftAddr, APIAddr: s.apiAddr, Learner: old.StayLearner})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.apiScheme()+"://"+l.APIAddr+"/cluster/members", bytes.NewReader(body))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/json")
	s.authorize(req)
	req.Header.Set(api.ForwardedHeader, s.cfg.Name)
	resp, err := s.client.Do(req)
	if err != nil {
		s.log.Debug("registering addresses with the leader failed", "leader", l.Name, "err", err)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	s.log.Info("registered addresses with the leader", "leader", l.Name, "status", resp.StatusCode)
}

func (s *Server) onEvent(e node.Event) {
	switch e.Type {
	case node.EventLeaderChanged:
		s.metrics.leaderChanges.Inc()
		s.log.Info("leader changed", "leader", s.nameOf(e.Leader), "term", e.Term)
	case node.EventRoleChanged:
		s.log.Info("role changed", "role", e.Role.String(), "term", e.Term)
	case node.EventSnapshotTaken:
		s.metrics.snapshots.WithLabelValues("taken").Inc()
		st := e.Snapshot
		s.metrics.observeSnapshot(st)
		s.log.Info("snapshot taken", "index", e.Index, "bytes", st.Bytes, "capture", st.Capture,
			"encode", st.Encode, "write", st.Write, "compact", st.Compact)
	case node.EventSnapshotRestored:
		s.metrics.snapshots.WithLabelValues("restored").Inc()
		s.log.Info("state restored from a snapshot", "index", e.Index)
	case node.EventStopped:
		if e.Err != nil {
			s.log.Error("raft stopped", "err", e.Err)
		}
	}
}
