package raft

import (
	"testing"
)

// Reference: paper §5.2 — a candidate wins with votes from a majority; with
// a minority reachable it stays a candidate (or pre-candidate).
func TestLeaderElection(t *testing.T) {
	for _, preVote := range []bool{false, true} {
		for _, tc := range []struct {
			n     int
			down  []uint64
			state StateType
			term  uint64
		}{
			{3, nil, StateLeader, 2},
			{3, []uint64{3}, StateLeader, 2},
			{3, []uint64{2, 3}, StateCandidate, 2},
			{5, []uint64{4, 5}, StateLeader, 2},
			{5, []uint64{3, 4, 5}, StateCandidate, 2},
		} {
			var opts []configOpt
			if preVote {
				opts = append(opts, withPreVote)
			}
			nw := newNetwork(t, tc.n, opts...)
			for _, id := range tc.down {
				nw.isolate(id)
			}
			nw.campaign(1)
			r := nw.raft(1)
			wantState, wantTerm := tc.state, tc.term
			if preVote && wantState == StateCandidate {
				// A pre-candidate that cannot win leaves the term alone.
				wantState, wantTerm = StatePreCandidate, 1
			}
			if r.state != wantState || r.Term != wantTerm {
				t.Errorf("preVote=%v n=%d down=%v: state %s term %d, want %s term %d",
					preVote, tc.n, tc.down, r.state, r.Term, wantState, wantTerm)
			}
		}
	}
}

// Reference: paper §5.2 — a voter grants at most one vote per term, on a
// first-come basis, and only to a candidate whose log is at least as
// up-to-date as its own (§5.4.1).
func TestVoteOncePerTermAndUpToDate(t *testing.T) {
	nw := newLogNetwork(t, map[uint64][]uint64{
		1: {1, 1},
		2: {1, 1, 2},
		3: {1},
	}, map[uint64]uint64{1: 2, 2: 2, 3: 2})
	// Node 1's log (last term 1) is behind node 2's (last term 2): 2
	// refuses; 3 grants; node 1 wins with 1 and 3.
	nw.campaign(1)
	if nw.raft(1).state != StateLeader {
		t.Fatalf("node 1 is %s, want leader (votes from itself and 3)", nw.raft(1).state)
	}
	// The leader overwrote node 2's uncommitted entry of term 2 at index 3
	// with its own no-op of term 3 (§5.3).
	if got := nw.node(2).logTerms(1); len(got) != 3 || got[2] != 3 {
		t.Fatalf("node 2 log terms = %v, want [1 1 3]", got)
	}

	// In a fresh term, the first candidate to ask gets the vote.
	r := nw.raft(3)
	term := r.Term + 1
	last := r.raftLog.lastIndex()
	lt := r.raftLog.lastTerm()
	_ = r.Step(Message{From: 1, To: 3, Type: MsgVote, Term: term, Index: last, LogTerm: lt})
	_ = r.Step(Message{From: 2, To: 3, Type: MsgVote, Term: term, Index: last, LogTerm: lt})
	msgs := r.msgs
	r.msgs = nil
	if len(msgs) != 2 || msgs[0].Reject || !msgs[1].Reject || msgs[0].To != 1 {
		t.Fatalf("vote responses = %+v, want a grant to 1 then a rejection of 2", msgs)
	}
	if r.Vote != 1 {
		t.Fatalf("vote = %d, want 1", r.Vote)
	}
	// A repeated request from the same candidate is granted again (the
	// response may have been lost).
	_ = r.Step(Message{From: 1, To: 3, Type: MsgVote, Term: term, Index: last, LogTerm: lt})
	if m := r.msgs[0]; m.Reject {
		t.Fatalf("repeated vote request rejected: %+v", m)
	}
}

// Reference: paper §5.2 — split votes are resolved by randomized election
// timeouts. Nodes 1 and 2 campaign at once and each gets one of the other
// two votes: nobody wins term 2. The randomized timeouts then make one node
// time out first and win.
func TestSplitVoteResolvedByRandomization(t *testing.T) {
	nw := newNetwork(t, 4)
	nw.cutLink(1, 4)
	nw.cutLink(2, 3)
	if err := nw.node(1).rn.Campaign(); err != nil {
		t.Fatal(err)
	}
	if err := nw.node(2).rn.Campaign(); err != nil {
		t.Fatal(err)
	}
	nw.stabilize()
	for _, id := range nw.ids {
		if nw.raft(id).state == StateLeader {
			t.Fatalf("node %d won a split vote", id)
		}
	}
	if nw.raft(1).state != StateCandidate || nw.raft(2).state != StateCandidate {
		t.Fatalf("states = %s, %s; want two candidates", nw.raft(1).state, nw.raft(2).state)
	}
	nw.heal()
	// The timeouts are drawn from [ElectionTick, 2*ElectionTick) and differ
	// between nodes (the source is seeded with the node ID).
	seen := map[int]bool{}
	for _, id := range nw.ids {
		to := nw.raft(id).randomizedElectionTimeout
		if to < 10 || to >= 20 {
			t.Fatalf("node %d timeout %d outside [10, 20)", id, to)
		}
		seen[to] = true
	}
	if len(seen) < 2 {
		t.Fatalf("all nodes drew the same election timeout")
	}
	for i := 0; i < 100 && nw.leader() == None; i++ {
		nw.tick()
	}
	if nw.leader() == None {
		t.Fatal("no leader after 100 ticks")
	}
	if term := nw.raft(nw.leader()).Term; term < 3 {
		t.Fatalf("leader term %d, want >= 3", term)
	}
}

// Liveness over many seeds: a cluster that starts with no leader and only
// ticks elects one within a few election timeouts, and never two in a term
// (checked by the network on every step).
func TestElectionConvergesAcrossSeeds(t *testing.T) {
	for seed := int64(0); seed < 20; seed++ {
		nw := newEmptyNetwork(t)
		voters := []uint64{1, 2, 3, 4, 5}
		for _, id := range voters {
			tn := nw.addNode(id, NewMemoryStorage())
			tn.cfg.Seed = seed
			c := tn.cfg
			c.Seed = seed
			rn, err := NewRawNode(&c)
			if err != nil {
				t.Fatal(err)
			}
			tn.rn = rn
			if err := rn.Bootstrap(voters); err != nil {
				t.Fatal(err)
			}
		}
		nw.stabilize()
		ticks := 0
		for ; ticks < 200 && nw.leader() == None; ticks++ {
			nw.tick()
		}
		if nw.leader() == None {
			t.Fatalf("seed %d: no leader after %d ticks", seed, ticks)
		}
		if ticks > 60 {
			t.Errorf("seed %d: leader took %d ticks (> 3 max election timeouts)", seed, ticks)
		}
	}
}

// Reference: thesis §9.6 — with pre-vote, a node that was partitioned away
// does not raise its term, so on rejoining it does not depose a working
// leader. Without pre-vote it does.
func TestPreVotePreventsDisruption(t *testing.T) {
	for _, preVote := range []bool{false, true} {
		opts := []configOpt{}
		if preVote {
			opts = append(opts, withPreVote)
		}
		nw := newNetwork(t, 3, opts...)
		nw.campaign(1)
		term := nw.raft(1).Term
		nw.isolate(3)
		nw.ticks(50, 3)
		r3 := nw.raft(3)
		if preVote {
			if r3.Term != term || r3.state != StatePreCandidate {
				t.Fatalf("pre-vote: isolated node is %s at term %d, want pre-candidate at %d", r3.state, r3.Term, term)
			}
		} else if r3.Term <= term {
			t.Fatalf("no pre-vote: isolated node term %d did not grow past %d", r3.Term, term)
		}
		nw.heal()
		nw.mustPropose(1, "x") // the leader talks to 3 again
		nw.ticks(3)
		if preVote {
			if nw.leader() != 1 || nw.raft(1).Term != term {
				t.Fatalf("pre-vote: leader %d term %d after the partition healed, want 1 at %d", nw.leader(), nw.raft(1).Term, term)
			}
			if nw.raft(3).state != StateFollower || nw.raft(3).lead != 1 {
				t.Fatalf("pre-vote: node 3 is %s of %d, want follower of 1", nw.raft(3).state, nw.raft(3).lead)
			}
		} else if nw.raft(1).Term == term && nw.raft(1).state == StateLeader {
			t.Fatalf("no pre-vote: leader was not disrupted (term %d)", term)
		}
	}
}

// Reference: thesis §6.2 — with CheckQuorum, a leader that has not heard
// from a majority for a whole election timeout steps down; without it, it stays
// leader forever.
func TestCheckQuorumIsolatedLeaderStepsDown(t *testing.T) {
	for _, cq := range []bool{false, true} {
		opts := []configOpt{}
		if cq {
			opts = append(opts, withCheckQuorum)
		}
		nw := newNetwork(t, 3, opts...)
		nw.campaign(1)
		nw.isolate(1)
		// Activity is checked once per election timeout; the first check
		// still sees the responses from before the partition.
		nw.ticks(21, 1)
		got := nw.raft(1).state
		if cq && got != StateFollower {
			t.Fatalf("check quorum: isolated leader is %s after an election timeout", got)
		}
		if !cq && got != StateLeader {
			t.Fatalf("no check quorum: isolated leader is %s", got)
		}
	}
}

// Reference: thesis §4.2.3/§9.6 — with CheckQuorum, a follower that heard
// from the leader within the election timeout ignores a vote request (and
// does not adopt its term), unless the election is a leadership transfer.
func TestVoteIgnoredWithinLease(t *testing.T) {
	nw := newNetwork(t, 3, withCheckQuorum)
	nw.campaign(1)
	r2 := nw.raft(2)
	term := r2.Term
	req := Message{From: 3, To: 2, Type: MsgVote, Term: term + 1, Index: r2.raftLog.lastIndex(), LogTerm: r2.raftLog.lastTerm()}
	_ = r2.Step(req)
	if r2.Term != term || len(r2.msgs) != 0 {
		t.Fatalf("in lease: term %d (want %d), msgs %+v (want none)", r2.Term, term, r2.msgs)
	}
	pre := req
	pre.Type = MsgPreVote
	_ = r2.Step(pre)
	if len(r2.msgs) != 0 {
		t.Fatalf("in lease: pre-vote answered: %+v", r2.msgs)
	}
	req.Context = campaignTransfer
	_ = r2.Step(req)
	if r2.Term != term+1 || len(r2.msgs) != 1 || r2.msgs[0].Reject {
		t.Fatalf("transfer campaign: term %d, msgs %+v; want a granted vote at %d", r2.Term, r2.msgs, term+1)
	}
}

// Reference: paper §5.1 — a stale leader that sees a higher term steps down;
// with CheckQuorum/PreVote, a follower answers a stale leader's heartbeat so
// it learns the new term.
func TestStaleLeaderStepsDownOnHeal(t *testing.T) {
	nw := newNetwork(t, 3, withPreVote, withCheckQuorum)
	nw.campaign(1)
	nw.isolate(1)
	nw.ticks(30, 2, 3)
	newLead := nw.leader()
	if newLead == 1 || newLead == None {
		// Node 1 is still a leader in its own (old) term; find the other.
		newLead = None
		for _, id := range []uint64{2, 3} {
			if nw.raft(id).state == StateLeader {
				newLead = id
			}
		}
	}
	if newLead == None {
		t.Fatal("majority side did not elect a leader")
	}
	nw.heal()
	nw.ticks(2)
	if nw.raft(1).state == StateLeader {
		t.Fatal("stale leader still leads after the partition healed")
	}
	if nw.raft(1).Term != nw.raft(newLead).Term {
		t.Fatalf("node 1 term %d, leader term %d", nw.raft(1).Term, nw.raft(newLead).Term)
	}
}

// A learner never campaigns, even when its election timer fires.
func TestLearnerNeverCampaigns(t *testing.T) {
	nw := newNetwork(t, 1)
	nw.campaign(1)
	tn := nw.addNode(2, NewMemoryStorage())
	idx, _, err := nw.node(1).rn.ProposeConfChange(ConfChange{Type: ConfChangeAddLearner, NodeID: 2})
	if err != nil {
		t.Fatal(err)
	}
	nw.stabilize()
	if tn.appliedIndex < idx {
		t.Fatalf("learner applied %d, want >= %d", tn.appliedIndex, idx)
	}
	nw.isolate(2)
	nw.ticks(100, 2)
	if s := tn.rn.raft.state; s != StateFollower {
		t.Fatalf("learner became %s", s)
	}
	if err := tn.rn.Campaign(); err != nil {
		t.Fatal(err)
	}
	if s := tn.rn.raft.state; s != StateFollower {
		t.Fatalf("learner became %s after Campaign", s)
	}
}

// An asymmetric partition: the leader can send but receives nothing. Its
// heartbeats keep the followers in their lease, so with check-quorum it is
// the leader's stepping down that lets the others elect a new leader.
func TestAsymmetricPartitionLiveness(t *testing.T) {
	nw := newNetwork(t, 3, withPreVote, withCheckQuorum)
	nw.campaign(1)
	nw.filter = func(m *Message) bool { return m.To != 1 }
	for i := 0; i < 100; i++ {
		nw.tick()
		if l := nw.leader(); l == 2 || l == 3 {
			break
		}
	}
	l := nw.leader()
	if l != 2 && l != 3 {
		t.Fatalf("no new leader: leader is %d", l)
	}
	idx := nw.mustPropose(l, "x")
	if c := nw.raft(l).raftLog.committed; c < idx {
		t.Fatalf("new leader cannot commit: %d < %d", c, idx)
	}
}

// Reference: paper figure 2 — a node answers a stale AppendEntries (or
// heartbeat) with its current term, whatever the options, so that the
// stale leader steps down and a node whose term ran ahead can be caught up.
func TestStaleAppendAnsweredWithCurrentTerm(t *testing.T) {
	for _, typ := range []MessageType{MsgApp, MsgHeartbeat} {
		nw := newLogNetwork(t, map[uint64][]uint64{1: {1}, 2: {1}}, map[uint64]uint64{1: 10, 2: 5})
		r := nw.raft(1)
		_ = r.Step(Message{From: 2, To: 1, Type: typ, Term: 5})
		if len(r.msgs) != 1 || r.msgs[0].Type != MsgAppResp || r.msgs[0].Term != 10 || r.msgs[0].To != 2 {
			t.Fatalf("%s at a stale term: answered %+v, want MsgAppResp at term 10", typ, r.msgs)
		}
	}
}
