package raft

import (
	"errors"
	"testing"
)

func (nw *network) confChange(leader uint64, cc ConfChange) error {
	_, _, err := nw.node(leader).rn.ProposeConfChange(cc)
	if err == nil {
		nw.stabilize()
	}
	return err
}

// Reference: thesis §4.1 — a new server joins with an empty log, catches up
// from the leader, and counts toward the quorum once the change is applied.
func TestAddVoter(t *testing.T) {
	nw := newNetwork(t, 3)
	nw.campaign(1)
	nw.mustPropose(1, "a")
	n4 := nw.addNode(4, NewMemoryStorage())
	if err := nw.confChange(1, ConfChange{Type: ConfChangeAddVoter, NodeID: 4, Context: []byte("addr4")}); err != nil {
		t.Fatal(err)
	}
	nw.tick(1)
	want := ConfState{Voters: []uint64{1, 2, 3, 4}}
	for _, id := range nw.ids {
		if cs := nw.node(id).rn.Status().Config; !cs.Equal(want) {
			t.Fatalf("node %d config %+v, want %+v", id, cs, want)
		}
	}
	if got := n4.appliedData(); len(got) != 1 || got[0] != "a" {
		t.Fatalf("new voter applied %v", got)
	}
	// 4 voters: a quorum is 3, so 1 and 2 alone cannot commit.
	nw.isolate(3)
	nw.isolate(4)
	idx, err := nw.propose(1, "b")
	if err != nil {
		t.Fatal(err)
	}
	if c := nw.raft(1).raftLog.committed; c >= idx {
		t.Fatalf("committed %d with 2 of 4 voters", c)
	}
	nw.heal()
	nw.tick(1)
	if c := nw.raft(1).raftLog.committed; c < idx {
		t.Fatalf("not committed after heal: %d < %d", c, idx)
	}
}

// Removing a voter shrinks the quorum.
func TestRemoveVoter(t *testing.T) {
	nw := newNetwork(t, 3)
	nw.campaign(1)
	if err := nw.confChange(1, ConfChange{Type: ConfChangeRemoveNode, NodeID: 3}); err != nil {
		t.Fatal(err)
	}
	want := ConfState{Voters: []uint64{1, 2}}
	if cs := nw.node(1).rn.Status().Config; !cs.Equal(want) {
		t.Fatalf("config %+v, want %+v", cs, want)
	}
	if _, ok := nw.node(1).rn.Status().Progress[3]; ok {
		t.Fatal("leader still tracks the removed node")
	}
	nw.record = true
	nw.mustPropose(1, "x")
	for _, m := range nw.delivered {
		if m.To == 3 {
			t.Fatalf("message to the removed node: %+v", m)
		}
	}
	// Two voters: both are needed.
	nw.isolate(2)
	idx, _ := nw.propose(1, "y")
	if nw.raft(1).raftLog.committed >= idx {
		t.Fatal("committed without the other voter")
	}
}

// Reference: thesis §4.2.2 — a leader removed from the configuration steps
// down once the change is applied, and the rest elect a new leader.
func TestRemoveLeaderStepsDown(t *testing.T) {
	nw := newNetwork(t, 3)
	nw.campaign(1)
	if err := nw.confChange(1, ConfChange{Type: ConfChangeRemoveNode, NodeID: 1}); err != nil {
		t.Fatal(err)
	}
	if s := nw.raft(1).state; s != StateFollower {
		t.Fatalf("removed leader is %s", s)
	}
	nw.isolate(1)
	nw.ticks(30, 2, 3)
	l := nw.leader()
	if l != 2 && l != 3 {
		t.Fatalf("leader %d after removing 1", l)
	}
	if _, err := nw.propose(l, "z"); err != nil {
		t.Fatal(err)
	}
}

// Learners receive the log but never count toward a quorum; promoting a
// learner makes it a voter.
func TestLearnerAndPromotion(t *testing.T) {
	nw := newNetwork(t, 3)
	nw.campaign(1)
	n4 := nw.addNode(4, NewMemoryStorage())
	if err := nw.confChange(1, ConfChange{Type: ConfChangeAddLearner, NodeID: 4}); err != nil {
		t.Fatal(err)
	}
	nw.tick(1)
	nw.mustPropose(1, "a")
	if got := n4.appliedData(); len(got) != 1 {
		t.Fatalf("learner applied %v", got)
	}
	want := ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}}
	if cs := n4.rn.Status().Config; !cs.Equal(want) {
		t.Fatalf("learner's config %+v, want %+v", cs, want)
	}
	if !nw.node(1).rn.Status().Progress[4].IsLearner {
		t.Fatal("progress does not mark the learner")
	}
	// The leader and the learner are not a quorum of {1,2,3}.
	nw.isolate(2)
	nw.isolate(3)
	idx, _ := nw.propose(1, "b")
	if n4.rn.raft.raftLog.lastIndex() < idx {
		t.Fatal("learner did not receive the entry")
	}
	if nw.raft(1).raftLog.committed >= idx {
		t.Fatal("a learner counted toward the quorum")
	}
	nw.heal()
	nw.tick(1)
	// Promote.
	if err := nw.confChange(1, ConfChange{Type: ConfChangeAddVoter, NodeID: 4}); err != nil {
		t.Fatal(err)
	}
	want = ConfState{Voters: []uint64{1, 2, 3, 4}}
	if cs := nw.node(1).rn.Status().Config; !cs.Equal(want) {
		t.Fatalf("after promotion %+v", cs)
	}
	// Now 1, 4 and 2 make a quorum without 3.
	nw.isolate(3)
	idx = nw.mustPropose(1, "c")
	if nw.raft(1).raftLog.committed < idx {
		t.Fatal("the promoted voter did not count")
	}
}

// Reference: thesis §4.1 — one change at a time: a second change is refused
// while the first is unapplied. And (Ongaro, raft-dev 2015) a new leader
// accepts no change until it has committed an entry of its term.
func TestOnePendingConfChange(t *testing.T) {
	nw := newNetwork(t, 3)
	nw.campaign(1)
	rn := nw.node(1).rn
	if _, _, err := rn.ProposeConfChange(ConfChange{Type: ConfChangeAddLearner, NodeID: 4}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := rn.ProposeConfChange(ConfChange{Type: ConfChangeAddLearner, NodeID: 5}); !errors.Is(err, ErrPendingConfChange) {
		t.Fatalf("second change: %v, want ErrPendingConfChange", err)
	}
	nw.stabilize()
	if _, _, err := rn.ProposeConfChange(ConfChange{Type: ConfChangeAddLearner, NodeID: 5}); err != nil {
		t.Fatalf("after the first was applied: %v", err)
	}
	nw.stabilize()

	// A new leader whose no-op is not committed refuses changes.
	nw.filter = func(m *Message) bool { return m.Type != MsgAppResp }
	nw.campaign(2)
	if nw.raft(2).state != StateLeader {
		t.Fatalf("node 2 is %s", nw.raft(2).state)
	}
	if _, _, err := nw.node(2).rn.ProposeConfChange(ConfChange{Type: ConfChangeRemoveNode, NodeID: 5}); !errors.Is(err, ErrPendingConfChange) {
		t.Fatalf("change before committing in term: %v, want ErrPendingConfChange", err)
	}
	nw.heal()
	nw.tick(2)
	if _, _, err := nw.node(2).rn.ProposeConfChange(ConfChange{Type: ConfChangeRemoveNode, NodeID: 5}); err != nil {
		t.Fatalf("after committing in term: %v", err)
	}
}

// Only the leader proposes; the core does not forward.
func TestProposeNotLeader(t *testing.T) {
	nw := newNetwork(t, 3)
	nw.campaign(1)
	if _, _, err := nw.node(2).rn.Propose([]byte("x")); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("follower propose: %v", err)
	}
	if _, _, err := nw.node(2).rn.ProposeConfChange(ConfChange{Type: ConfChangeAddVoter, NodeID: 9}); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("follower conf change: %v", err)
	}
	if err := nw.node(2).rn.Step(Message{Type: MsgHup}); !errors.Is(err, ErrStepLocalMsg) {
		t.Fatalf("stepping MsgHup: %v", err)
	}
	if err := nw.node(1).rn.Step(Message{Type: MsgAppResp, From: 42, To: 1, Term: nw.raft(1).Term}); !errors.Is(err, ErrStepPeerNotFound) {
		t.Fatalf("response from a stranger: %v", err)
	}
}
