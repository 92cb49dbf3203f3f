package raft

import "testing"

// TestStatusElectionTimer checks the election timer Status reports: a
// follower's elapsed ticks grow with Tick and go back to zero when the
// leader is heard from; its timeout is the randomized one; a leader
// reports its check-quorum round against the configured ElectionTick.
func TestStatusElectionTimer(t *testing.T) {
	nw := newNetwork(t, 3, withCheckQuorum)
	nw.campaign(1)
	if l := nw.leader(); l != 1 {
		t.Fatalf("leader = %d, want 1", l)
	}
	f := nw.node(2).rn
	st := f.Status()
	if st.RaftState != StateFollower {
		t.Fatalf("node 2 is %s", st.RaftState)
	}
	if st.ElectionTimeout < 10 || st.ElectionTimeout >= 20 {
		t.Errorf("follower timeout = %d ticks, want the randomized [10, 20)", st.ElectionTimeout)
	}
	if st.ElectionTimeout != nw.raft(2).randomizedElectionTimeout {
		t.Errorf("follower timeout = %d, core's randomized timeout %d", st.ElectionTimeout, nw.raft(2).randomizedElectionTimeout)
	}
	base := st.ElectionElapsed
	// Ticks on the follower alone (no delivery): the leader is not heard.
	for i := 1; i <= 3; i++ {
		f.Tick()
		if got := f.Status().ElectionElapsed; got != base+i {
			t.Fatalf("after %d ticks elapsed = %d, want %d", i, got, base+i)
		}
	}
	// A heartbeat from the leader resets it.
	nw.tick(1)
	if got := f.Status().ElectionElapsed; got != 0 {
		t.Errorf("elapsed after a heartbeat = %d, want 0", got)
	}
	ls := nw.node(1).rn.Status()
	if ls.ElectionTimeout != 10 || ls.ElectionElapsed < 0 || ls.ElectionElapsed >= 10 {
		t.Errorf("leader timer = %d/%d, want elapsed in [0, 10) of 10", ls.ElectionElapsed, ls.ElectionTimeout)
	}
}
