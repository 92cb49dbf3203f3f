package raft

import (
	"testing"
)

func readStateFor(tn *testNode, ctx string) (ReadState, bool) {
	for _, rs := range tn.readStates {
		if string(rs.RequestCtx) == ctx {
			return rs, true
		}
	}
	return ReadState{}, false
}

// Reference: thesis §6.4 — the leader records its commit index as the read
// index, confirms it is still leader with a heartbeat round that carries the
// request context, and answers once a majority acknowledged.
func TestReadIndexLeader(t *testing.T) {
	nw := newNetwork(t, 3)
	nw.campaign(1)
	nw.mustPropose(1, "a")
	commit := nw.raft(1).raftLog.committed
	nw.record = true
	nw.node(1).rn.ReadIndex([]byte("r1"))
	// Nothing is answered before the heartbeat round.
	if len(nw.raft(1).readStates) != 0 {
		t.Fatal("answered before confirming leadership")
	}
	nw.stabilize()
	rs, ok := readStateFor(nw.node(1), "r1")
	if !ok || rs.Index != commit {
		t.Fatalf("read state %+v (found %v), want index %d", rs, ok, commit)
	}
	hb := 0
	for _, m := range nw.delivered {
		if m.Type == MsgHeartbeat && string(m.Context) == "r1" {
			hb++
		}
	}
	if hb != 2 {
		t.Fatalf("%d heartbeats carried the request context, want 2", hb)
	}
}

// A follower forwards a read to the leader and gets the leader's read index
// back.
func TestReadIndexFollowerForwards(t *testing.T) {
	nw := newNetwork(t, 3)
	nw.campaign(1)
	nw.mustPropose(1, "a")
	nw.node(2).rn.ReadIndex([]byte("r2"))
	nw.stabilize()
	rs, ok := readStateFor(nw.node(2), "r2")
	if !ok || rs.Index != nw.raft(1).raftLog.committed {
		t.Fatalf("follower read state %+v (found %v), want index %d", rs, ok, nw.raft(1).raftLog.committed)
	}
	if _, ok := readStateFor(nw.node(1), "r2"); ok {
		t.Fatal("the leader kept a forwarded read for itself")
	}
}

// Reference: thesis §6.4 step 1 — a new leader does not know the commit
// index until it has committed an entry of its term; a read arriving
// before that waits, and is answered with an index that covers the no-op.
func TestReadIndexWaitsForCommitInTerm(t *testing.T) {
	nw := newNetwork(t, 3)
	nw.filter = func(m *Message) bool { return m.Type != MsgAppResp }
	nw.campaign(1)
	r := nw.raft(1)
	if r.state != StateLeader || r.committedEntryInCurrentTerm() {
		t.Fatalf("setup: %s, committed in term %v", r.state, r.committedEntryInCurrentTerm())
	}
	noop := r.raftLog.lastIndex()
	nw.node(1).rn.ReadIndex([]byte("early"))
	nw.ticks(3)
	if _, ok := readStateFor(nw.node(1), "early"); ok {
		t.Fatal("answered a read before committing an entry of the term")
	}
	nw.heal()
	nw.ticks(2)
	rs, ok := readStateFor(nw.node(1), "early")
	if !ok || rs.Index < noop {
		t.Fatalf("read state %+v (found %v), want index >= %d", rs, ok, noop)
	}
}

// A deposed leader never answers: its heartbeat round cannot reach a
// majority of its term.
func TestReadIndexDeposedLeaderDoesNotAnswer(t *testing.T) {
	nw := newNetwork(t, 3, withPreVote, withCheckQuorum)
	nw.campaign(1)
	nw.isolate(1)
	nw.node(1).rn.ReadIndex([]byte("stale"))
	nw.ticks(30, 2, 3)
	newLead := None
	for _, id := range []uint64{2, 3} {
		if nw.raft(id).state == StateLeader {
			newLead = id
		}
	}
	if newLead == None {
		t.Fatal("no new leader")
	}
	nw.mustPropose(newLead, "new")
	nw.heal()
	nw.ticks(3)
	if nw.raft(1).state == StateLeader {
		t.Fatal("old leader did not step down")
	}
	if rs, ok := readStateFor(nw.node(1), "stale"); ok {
		t.Fatalf("deposed leader answered a read: %+v", rs)
	}
}

func TestReadIndexSingleNode(t *testing.T) {
	nw := newNetwork(t, 1)
	nw.campaign(1)
	nw.node(1).rn.ReadIndex([]byte("x"))
	nw.stabilize()
	if rs, ok := readStateFor(nw.node(1), "x"); !ok || rs.Index != nw.raft(1).raftLog.committed {
		t.Fatalf("single node read state %+v (found %v)", rs, ok)
	}
}

// Reference: thesis §6.4.1 — with a valid lease the leader answers at once,
// with no heartbeat round; once the lease has run out (no majority
// acknowledged a heartbeat within the lease), it falls back to a round.
func TestLeaseRead(t *testing.T) {
	nw := newNetwork(t, 3, withLease)
	nw.campaign(1)
	nw.ticks(2) // heartbeats acknowledged: the lease is established
	rn := nw.node(1).rn
	rn.ReadIndex([]byte("fast"))
	if rs := rn.raft.readStates; len(rs) != 1 || string(rs[0].RequestCtx) != "fast" || rs[0].Index != rn.raft.raftLog.committed {
		t.Fatalf("lease read not answered at once: %+v", rs)
	}
	nw.stabilize()
	nw.isolate(1)
	nw.ticks(9, 1) // the lease (election timeout minus one tick) runs out
	rn.ReadIndex([]byte("slow"))
	nw.stabilize()
	if _, ok := readStateFor(nw.node(1), "slow"); ok {
		t.Fatal("leader answered from an expired lease")
	}
}

// Reference: thesis §6.4.1 — lease reads assume bounded clock drift. Here
// the leader's clock stops (a pause, or a slow clock) while the others'
// run: they elect a new leader and commit a write, and the old leader, whose
// lease has not expired by its own clock, answers a read at an index that
// misses the write: a stale read. ReadIndex (ReadOnlySafe) does not answer.
func TestLeaseReadUnsafeUnderClockDrift(t *testing.T) {
	for _, lease := range []bool{true, false} {
		opts := []configOpt{withPreVote, withCheckQuorum}
		if lease {
			opts = append(opts, withLease)
		}
		nw := newNetwork(t, 3, opts...)
		nw.campaign(1)
		nw.mustPropose(1, "old")
		nw.tick()
		nw.isolate(1)
		// Only 2 and 3 tick: node 1's clock is frozen.
		nw.ticks(40, 2, 3)
		var newLead uint64
		for _, id := range []uint64{2, 3} {
			if nw.raft(id).state == StateLeader {
				newLead = id
			}
		}
		if newLead == None {
			t.Fatal("no new leader")
		}
		nw.mustPropose(newLead, "new")
		newCommit := nw.raft(newLead).raftLog.committed
		nw.node(1).rn.ReadIndex([]byte("read"))
		nw.stabilize()
		rs, ok := readStateFor(nw.node(1), "read")
		if lease {
			if !ok || rs.Index >= newCommit {
				t.Fatalf("expected the documented stale lease read (index < %d), got %+v (found %v)", newCommit, rs, ok)
			}
		} else if ok {
			t.Fatalf("ReadOnlySafe answered from a deposed leader: %+v", rs)
		}
	}
}

// During a leadership transfer the leader does not trust its lease: the
// transferee may win without waiting for the followers' leases.
func TestLeaseNotUsedDuringTransfer(t *testing.T) {
	nw := newNetwork(t, 3, withLease)
	nw.campaign(1)
	nw.ticks(2)
	nw.isolate(3)
	rn := nw.node(1).rn
	rn.TransferLeader(3)
	rn.ReadIndex([]byte("r"))
	if len(rn.raft.readStates) != 0 {
		t.Fatal("lease read answered during a transfer")
	}
}

// A read waiting for heartbeat acknowledgements is answered when the leader
// becomes the only voter (no acknowledgement will come).
func TestReadIndexAnsweredWhenLeaderBecomesSingleVoter(t *testing.T) {
	nw := newNetwork(t, 2)
	nw.campaign(1)
	nw.dropTypes[MsgHeartbeat] = true
	nw.node(1).rn.ReadIndex([]byte("r"))
	nw.stabilize()
	if _, ok := readStateFor(nw.node(1), "r"); ok {
		t.Fatal("answered without a heartbeat round")
	}
	if err := nw.confChange(1, ConfChange{Type: ConfChangeRemoveNode, NodeID: 2}); err != nil {
		t.Fatal(err)
	}
	if _, ok := readStateFor(nw.node(1), "r"); !ok {
		t.Fatal("pending read not answered once the leader is the only voter")
	}
}

// A follower that restarts keeps refusing votes for an election timeout
// (with CheckQuorum): it may have acknowledged the heartbeat that the
// leader's lease rests on just before crashing.
func TestRestartedFollowerHonorsLease(t *testing.T) {
	nw := newNetwork(t, 3, withLease, withPreVote)
	nw.campaign(1)
	nw.ticks(2)
	nw.restart(2)
	nw.restart(3)
	nw.node(2).rn.raft.preVote = false // campaign for real at once
	nw.campaign(2)
	if nw.raft(2).state == StateLeader {
		t.Fatal("a restarted follower voted within its lease")
	}
	rn := nw.node(1).rn
	rn.ReadIndex([]byte("r"))
	if len(rn.raft.readStates) != 1 {
		t.Fatal("leader lease read refused")
	}
}
