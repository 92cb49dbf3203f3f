package sim

import (
	"fmt"
	"slices"
	"time"

	"github.com/raftkv/raftkv/harness/cluster"
	"github.com/raftkv/raftkv/kvservice"
	"github.com/raftkv/raftkv/nemesis"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/node"
)

// Membership as kvservice does it: a member is removed with a RemoveNode
// conf change through the leader; a node joins (started empty with --join)
// by asking the leader to add it as a learner, retrying until it is a
// member; the leader promotes a learner once it is within
// kvservice.PromoteLag entries of the leader's log, one at a time.

const (
	joinRetry      = 200 * time.Millisecond
	joinAttempt    = 2 * time.Second
	joinTimeout    = 30 * time.Second
	promoteEvery   = 500 * time.Millisecond
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
	n.joining = true
}

// join starts a down, wiped node the way `raftkv --join` does: it asks the
// leader (through any node's API) to add it as a learner until it is a
// member, then starts with an empty log and no bootstrap.
func (s *sim) join(n *snode) {
	deadline := s.now + int64(joinTimeout)
	attempt := 0
	var try func()
	try = func() {
		if n.state != cluster.Down {
			return
		}
		l := s.leader()
		switch {
		case l != nil && l.running() && l != n && inConf(l.confState, n.id):
			n.start()
			return
		case l != nil && l.running() && l != n:
			attempt++
			mine := attempt
			l.proposeConfChange(raft.ConfChange{Type: raft.ConfChangeAddLearner, NodeID: n.id}, func(err *apiError) {
				if mine == attempt && err == nil && n.state == cluster.Down {
					n.start()
				}
			})
			if s.now < deadline {
				s.after(joinAttempt, try)
			}
			return
		}
		if s.now < deadline {
			s.after(joinRetry, try)
		}
	}
	try()
}

// maybePromote is the leader's maintenance: promote one caught-up learner.
func (n *snode) maybePromote() {
	if !n.isLeader() || n.s.now-n.lastPromote < int64(promoteEvery) {
		return
	}
	n.lastPromote = n.s.now
	st := n.drv.Status()
	for _, id := range st.Config.Learners {
		pr, ok := st.Progress[id]
		if !ok || pr.Match == 0 || pr.Match+kvservice.PromoteLag < st.LastIndex {
			continue
		}
		n.proposeConfChange(raft.ConfChange{Type: raft.ConfChangeAddVoter, NodeID: id}, func(*apiError) {})
		return
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
	})
	return effect{nodes: []string{x.name}, detail: fmt.Sprintf("removing %s (via %s), then killing and wiping it", x.name, l.name)}, nil
}

func (f *churnFault) heal() error {
	err := f.err
	if f.node != nil && f.node.state == cluster.Down {
		f.s.join(f.node)
	}
	return err
}
