package sim

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/raftkv/raftkv/harness/cluster"
	"github.com/raftkv/raftkv/kvservice"
	"github.com/raftkv/raftkv/kvservice/fsm"
	"github.com/raftkv/raftkv/nemesis"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/node"
)

// Membership as kvservice does it, with its functions: a member is removed
// with a RemoveNode conf change through the leader, and every replica
// records its raft ID as removed (kvservice.RecordConfChange); a node
// joins (started empty with --join) under a new raft ID
// (kvservice.NewRaftID, its nonce from the run's seeded source) by asking
// the leader to add it as a learner, which the leader judges with
// kvservice.CheckJoin, retrying until it is a member; the leader promotes
// a learner once it is within kvservice.PromoteLag entries of the leader's
// log, one at a time.

const (
	joinRetry      = 200 * time.Millisecond
	joinAttempt    = 2 * time.Second
	joinTimeout    = 30 * time.Second
	confChangeWait = 5 * time.Second
)

// proposeConfChange is Node.ProposeConfChange: done gets nil once the
// change is applied on this node, or the error.
func (n *snode) proposeConfChange(cc raft.ConfChange, done func(*apiError)) {
	finished := false
	finish := func(err *apiError) {
		if !finished {
			finished = true
			done(err)
		}
	}
	n.drv.Propose(&node.Proposal{ConfChange: &cc, Live: func() bool { return !finished }, Done: func(o node.Outcome) {
		if o.Err != nil {
			finish(driverError(n.name, o.Err))
			return
		}
		finish(nil)
	}})
	n.kick()
	n.s.after(confChangeWait, func() {
		finish(&apiError{code: "timeout", msg: "conf change not applied in time"})
	})
}

func inConf(cs raft.ConfState, id uint64) bool {
	return slices.Contains(cs.Voters, id) || slices.Contains(cs.Learners, id)
}

// wipe deletes a down node's disk; it can only come back by joining.
func (n *snode) wipe() {
	n.wipeDisk()
	n.s.chk.ObserveWiped(n.id)
	n.joining = true
}

// join starts a down, wiped node the way `raftkv --join` does: it picks a
// new raft ID, asks the leader (through any node's API) to add it as a
// learner until it is a member, then starts with an empty log and no
// bootstrap. A node that was not wiped is left to whatever took it down
// (with its data, `raftkv --join` does not join: it restarts).
//
// One join at a time: a second call while one is under way (a composed
// fault's heal and the heal-all after it, say) does nothing, as a raftkv
// process runs one --join loop; starting another would give the node a
// second raft ID while the leader adds the first.
func (s *sim) join(n *snode) {
	if !n.joining || n.joinUnderWay {
		return
	}
	n.joinUnderWay = true
	s.newIncarnation(n)
	deadline := s.now + int64(joinTimeout)
	attempt := 0
	var try func()
	try = func() {
		if n.state != cluster.Down {
			n.joinUnderWay = false
			return
		}
		l := s.leader()
		switch {
		case l != nil && l.running() && l != n && inConf(l.confState, n.id):
			n.joinUnderWay = false
			n.start()
			return
		case l != nil && l.running() && l != n:
			_, err := kvservice.CheckJoin(l.memberView(), n.name, n.id)
			switch {
			case errors.Is(err, kvservice.ErrRaftIDInUse), errors.Is(err, kvservice.ErrRaftIDRemoved):
				s.tracef("%s: join refused by %s: %v", n.name, l.name, err)
				s.newIncarnation(n)
			case err != nil:
				// The removal of its old incarnation is not applied on
				// this leader yet: ask again.
				s.tracef("%s: join refused by %s: %v", n.name, l.name, err)
			default:
				attempt++
				mine, id := attempt, n.id
				m := fsm.Member{Name: n.name, RaftID: n.id, StayLearner: n.stayLearner}
				l.proposeConfChange(raft.ConfChange{Type: raft.ConfChangeAddLearner, NodeID: n.id, Context: kvservice.MemberContext(m)}, func(err *apiError) {
					if mine == attempt && id == n.id && err == nil && n.state == cluster.Down {
						n.joinUnderWay = false
						n.start()
					}
				})
			}
			if s.now < deadline {
				s.after(joinAttempt, try)
			} else {
				n.joinUnderWay = false
			}
			return
		}
		if s.now < deadline {
			s.after(joinRetry, try)
		} else {
			n.joinUnderWay = false
		}
	}
	try()
}

// newIncarnation gives a wiped node the raft ID a raftkv node started
// empty with --join picks: kvservice.NewRaftID over the run's seeded
// source (so a seed replays), never an ID this run has used. The old ID
// keeps naming the node (traces, and messages still addressed to it reach
// the process, which drops them as raft/transport does).
func (s *sim) newIncarnation(n *snode) {
	old := n.id
	n.id = kvservice.NewRaftID(n.name, s.ids.Uint64, func(id uint64) bool { return s.byID[id] != nil })
	s.byID[n.id] = n
	s.tracef("%s: new incarnation, raft id %x (was %x)", n.name, n.id, old)
}

// memberView is what the node knows of the members, for kvservice.CheckJoin:
// its configuration, its member table's names (the initial members'
// from the scenario, as a raftkv node has them from --cluster) and the
// removed IDs.
func (n *snode) memberView() kvservice.MemberView {
	return kvservice.MemberView{
		Conf: n.confState,
		Name: func(id uint64) string {
			if _, gone := n.fsm.Removed(id); gone {
				return ""
			}
			if m, ok := n.fsm.Member(id); ok {
				return m.Name
			}
			if id >= 1 && id <= uint64(len(n.s.voters)) {
				return n.s.nodes[id-1].name
			}
			return ""
		},
		Removed: n.fsm.Removed,
	}
}

// maybePromote is the leader's maintenance: promote one caught-up learner
// (kvservice.Promotion, every kvservice.PromoteEvery).
func (n *snode) maybePromote() {
	if !n.isLeader() || n.s.now-n.lastPromote < int64(kvservice.PromoteEvery) {
		return
	}
	n.lastPromote = n.s.now
	if cc, ok := kvservice.Promotion(n.drv.Status(), n.fsm.Member); ok {
		n.proposeConfChange(cc, func(*apiError) {})
	}
}

// ---- membership-churn ----

type churnFault struct {
	s    *sim
	spec nemesis.Spec
	node *snode
	err  error
}

func (f *churnFault) name() string { return "membership-churn" }

func (f *churnFault) inject() (effect, error) {
	s := f.s
	ns, err := s.targets(f.spec.Target, "followers")
	if err != nil {
		return effect{}, err
	}
	if len(ns) == 0 {
		return effect{}, nemesis.ErrNoTarget
	}
	f.node = ns[s.rng.IntN(len(ns))]
	x := f.node
	// One rejoin in three is as a learner that stays one (--join-as-learner),
	// so the cluster runs for a while with voters and a non-voter side by
	// side, of both parities: quorums, elections and reads with a member
	// that must never count.
	stay := s.rng.IntN(3) == 0
	rejoin := "it rejoins as a voter once caught up"
	if stay {
		rejoin = "it rejoins as a learner that stays one"
	}
	l := s.leader()
	if l == nil || !l.running() {
		f.node = nil
		return effect{nodes: []string{x.name}}, fmt.Errorf("remove %s: no leader", x.name)
	}
	l.proposeConfChange(raft.ConfChange{Type: raft.ConfChangeRemoveNode, NodeID: x.id}, func(err *apiError) {
		if err != nil {
			f.err = fmt.Errorf("remove %s via %s: %w", x.name, l.name, err)
			return
		}
		x.crash()
		x.wipe()
		x.stayLearner = stay
	})
	return effect{nodes: []string{x.name}, detail: fmt.Sprintf("removing %s (via %s), then killing and wiping it; %s", x.name, l.name, rejoin)}, nil
}

func (f *churnFault) heal() error {
	err := f.err
	if f.node != nil && f.node.state == cluster.Down {
		f.s.join(f.node)
	}
	return err
}
