package raft

import (
	"errors"
	"fmt"
	"testing"
)

// Reference: thesis §3.10 — the leader hands leadership to an up-to-date
// follower by sending MsgTimeoutNow; the follower campaigns at once (no
// pre-vote, voters ignore their lease) and wins in the next term.
func TestTransferLeaderToUpToDateFollower(t *testing.T) {
	nw := newNetwork(t, 3, withPreVote, withCheckQuorum)
	nw.campaign(1)
	term := nw.raft(1).Term
	nw.node(1).rn.TransferLeader(2)
	nw.stabilize()
	if nw.raft(2).state != StateLeader || nw.raft(2).Term != term+1 {
		t.Fatalf("node 2 is %s at term %d, want leader at %d", nw.raft(2).state, nw.raft(2).Term, term+1)
	}
	if nw.raft(1).state != StateFollower || nw.raft(1).lead != 2 {
		t.Fatalf("node 1 is %s of %d", nw.raft(1).state, nw.raft(1).lead)
	}
}

// A transfer requested at a follower is forwarded to the leader.
func TestTransferLeaderViaFollower(t *testing.T) {
	nw := newNetwork(t, 3)
	nw.campaign(1)
	nw.node(3).rn.TransferLeader(3)
	nw.stabilize()
	if nw.leader() != 3 {
		t.Fatalf("leader %d, want 3", nw.leader())
	}
}

// Reference: thesis §3.10 — the leader first brings a lagging transferee's
// log up to date, then sends MsgTimeoutNow.
func TestTransferLeaderToLaggingFollower(t *testing.T) {
	nw := newNetwork(t, 3)
	nw.campaign(1)
	nw.isolate(3)
	for i := 0; i < 5; i++ {
		nw.mustPropose(1, fmt.Sprintf("v%d", i))
	}
	nw.heal()
	st := nw.node(1).rn.Status()
	if st.Progress[3].Match >= st.LastIndex {
		t.Fatalf("setup: follower 3 is not lagging (match %d, last %d)", st.Progress[3].Match, st.LastIndex)
	}
	nw.record = true
	nw.node(1).rn.TransferLeader(3)
	// While the transfer is in progress proposals are refused.
	if _, _, err := nw.node(1).rn.Propose([]byte("during")); !errors.Is(err, ErrProposalDropped) {
		t.Fatalf("proposal during transfer: %v, want ErrProposalDropped", err)
	}
	nw.stabilize()
	if nw.leader() != 3 {
		// The catch-up needs the probe to resume (a heartbeat).
		nw.tick(1)
	}
	if nw.leader() != 3 {
		t.Fatalf("leader %d, want 3", nw.leader())
	}
	var sawApp, sawTimeout bool
	for _, m := range nw.delivered {
		if m.To == 3 && m.Type == MsgApp && len(m.Entries) > 0 && !sawTimeout {
			sawApp = true
		}
		if m.To == 3 && m.Type == MsgTimeoutNow {
			sawTimeout = true
			if !sawApp {
				t.Fatal("MsgTimeoutNow before the transferee was caught up")
			}
		}
	}
	if got, want := nw.node(3).logTerms(1), nw.node(1).logTerms(1); len(got) != len(want) {
		t.Fatalf("logs differ: %v vs %v", got, want)
	}
}

// Reference: thesis §3.10 — a transfer that does not finish within an
// election timeout is aborted and the leader accepts proposals again.
func TestTransferLeaderAbortsOnTimeout(t *testing.T) {
	nw := newNetwork(t, 3)
	nw.campaign(1)
	nw.isolate(3)
	rn := nw.node(1).rn
	rn.TransferLeader(3)
	nw.stabilize()
	if st := rn.Status(); st.LeadTransferee != 3 {
		t.Fatalf("transferee %d, want 3", st.LeadTransferee)
	}
	if _, _, err := rn.Propose([]byte("x")); !errors.Is(err, ErrProposalDropped) {
		t.Fatalf("proposal during transfer: %v", err)
	}
	nw.ticks(10, 1)
	if st := rn.Status(); st.LeadTransferee != None || st.RaftState != StateLeader {
		t.Fatalf("after an election timeout: transferee %d, state %s", st.LeadTransferee, st.RaftState)
	}
	if _, err := nw.propose(1, "y"); err != nil {
		t.Fatalf("proposal after abort: %v", err)
	}
}

// Transfers to a learner or to the leader itself are ignored.
func TestTransferLeaderIgnored(t *testing.T) {
	nw := newNetwork(t, 3)
	nw.campaign(1)
	rn := nw.node(1).rn
	rn.TransferLeader(1)
	if rn.Status().LeadTransferee != None {
		t.Fatal("transfer to self started")
	}
	nw.addNode(4, NewMemoryStorage())
	if _, _, err := rn.ProposeConfChange(ConfChange{Type: ConfChangeAddLearner, NodeID: 4}); err != nil {
		t.Fatal(err)
	}
	nw.stabilize()
	rn.TransferLeader(4)
	if rn.Status().LeadTransferee != None {
		t.Fatal("transfer to a learner started")
	}
}
