//go:build raftkv_bugs

package raft

import (
	"reflect"
	"testing"

	"github.com/raftkv/raftkv/internal/bugs"
)

// These tests prove that each planted bug of the core is live: the same
// scenario runs with the bug off (the rule holds) and on (it is broken).
// Bugs are process-global, so none of these tests runs in parallel.

// bugOnOff runs scenario twice, with bug id off and then on, and switches
// every bug off again at the end.
func bugOnOff(t *testing.T, id bugs.ID, scenario func(t *testing.T, on bool)) {
	t.Helper()
	t.Cleanup(func() { _ = bugs.Enable() })
	for _, on := range []bool{false, true} {
		var ids []bugs.ID
		name := "off"
		if on {
			ids, name = []bugs.ID{id}, "on"
		}
		if err := bugs.Enable(ids...); err != nil {
			t.Fatal(err)
		}
		t.Run(name, func(t *testing.T) { scenario(t, on) })
	}
}

func voteResp(r *raft, to uint64) (Message, bool) {
	for _, m := range r.msgs {
		if m.To == to && (m.Type == MsgVoteResp || m.Type == MsgPreVoteResp) {
			return m, true
		}
	}
	return Message{}, false
}

// A voter whose log is ahead of the candidate's grants the vote.
func TestBugVoteWithoutLogCheck(t *testing.T) {
	bugOnOff(t, bugs.VoteWithoutLogCheck, func(t *testing.T, on bool) {
		nw := newLogNetwork(t, map[uint64][]uint64{1: {1, 1}, 2: {1, 1, 2}, 3: {1}},
			map[uint64]uint64{1: 2, 2: 2, 3: 2})
		r := nw.raft(2)
		// Node 1's log ends at (2, term 1), behind node 2's (3, term 2).
		_ = r.Step(Message{From: 1, To: 2, Type: MsgVote, Term: 3, Index: 2, LogTerm: 1})
		m, ok := voteResp(r, 1)
		if !ok {
			t.Fatalf("no vote response: %+v", r.msgs)
		}
		if granted := !m.Reject; granted != on {
			t.Fatalf("vote for a candidate with a shorter log: granted=%v, want %v", granted, on)
		}
		if on && r.Vote != 1 {
			t.Fatalf("vote = %d, want 1", r.Vote)
		}
	})
}

// With 4 voters, 2 elect a leader and commit an entry only they store.
func TestBugEvenQuorum(t *testing.T) {
	bugOnOff(t, bugs.EvenQuorum, func(t *testing.T, on bool) {
		for n, want := range map[int]int{1: 1, 2: 2, 3: 2, 4: 3, 5: 3, 6: 4} {
			tr := newTracker(1)
			for id := 1; id <= n; id++ {
				tr.voters[uint64(id)] = struct{}{}
			}
			if on && n%2 == 0 {
				want = n / 2
			}
			if got := tr.quorum(); got != want {
				t.Errorf("quorum of %d voters = %d, want %d", n, got, want)
			}
		}
		nw := newNetwork(t, 4)
		nw.isolate(3)
		nw.isolate(4)
		nw.campaign(1)
		if isLeader := nw.raft(1).state == StateLeader; isLeader != on {
			t.Fatalf("node 1 with votes from itself and node 2 of 4: leader=%v, want %v", isLeader, on)
		}
		if !on {
			return
		}
		idx := nw.mustPropose(1, "x")
		if c := nw.raft(1).raftLog.committed; c < idx {
			t.Fatalf("committed %d, want >= %d", c, idx)
		}
		for _, id := range []uint64{3, 4} {
			if l := nw.raft(id).raftLog.lastIndex(); l >= idx {
				t.Fatalf("node %d has index %d", id, l)
			}
		}
	})
}

// A candidate counts a grant from its previous election and wins a term in
// which nobody voted for it.
func TestBugCountStaleVote(t *testing.T) {
	bugOnOff(t, bugs.CountStaleVote, func(t *testing.T, on bool) {
		nw := newNetwork(t, 3)
		nw.isolate(1)
		nw.campaign(1)
		staleTerm := nw.raft(1).Term
		nw.campaign(1)
		r := nw.raft(1)
		if r.state != StateCandidate || r.Term != staleTerm+1 {
			t.Fatalf("setup: %s at term %d", r.state, r.Term)
		}
		// Node 2's grant of the first election arrives late.
		_ = r.Step(Message{From: 2, To: 1, Type: MsgVoteResp, Term: staleTerm})
		if isLeader := r.state == StateLeader; isLeader != on {
			t.Fatalf("after a stale grant: %s at term %d, leader=%v, want %v", r.state, r.Term, isLeader, on)
		}
		if on && r.Term != staleTerm+1 {
			t.Fatalf("leader of term %d, want %d", r.Term, staleTerm+1)
		}
	})
}

// The leader commits an entry of an earlier term because a majority stores
// it (§5.4.2).
func TestBugCommitOldTerm(t *testing.T) {
	bugOnOff(t, bugs.CommitOldTerm, func(t *testing.T, on bool) {
		logs := map[uint64][]uint64{1: {1, 1}, 2: {1, 1}, 3: {1}}
		nw := newLogNetwork(t, logs, map[uint64]uint64{1: 2, 2: 2, 3: 2})
		r := nw.raft(1)
		r.state = StateLeader
		for id, m := range map[uint64]uint64{1: 2, 2: 2, 3: 1} {
			r.trk.progress[id].Match = m
		}
		r.maybeCommit()
		want := uint64(0)
		if on {
			want = 2
		}
		if c := r.raftLog.committed; c != want {
			t.Fatalf("leader of term 2 with entry 2 (term 1) on 2 of 3: committed %d, want %d", c, want)
		}
	})
}

// A delayed copy of an earlier append cuts off entries the follower has
// acknowledged.
func TestBugTruncateOnStaleAppend(t *testing.T) {
	bugOnOff(t, bugs.TruncateOnStaleAppend, func(t *testing.T, on bool) {
		nw := newLogNetwork(t, map[uint64][]uint64{1: {1, 1}, 2: {1, 1}}, map[uint64]uint64{1: 1, 2: 1})
		r := nw.raft(1)
		e := func(i uint64) Entry { return Entry{Index: i, Term: 1, Data: []byte{byte(i)}} }
		_ = r.Step(Message{From: 2, To: 1, Type: MsgApp, Term: 1, Index: 2, LogTerm: 1, Entries: []Entry{e(3), e(4), e(5)}})
		if m := r.msgs[len(r.msgs)-1]; m.Type != MsgAppResp || m.Reject || m.Index != 5 {
			t.Fatalf("first append answered %+v, want an ack of 5", m)
		}
		// The first of two appends, duplicated or delayed, arrives again.
		_ = r.Step(Message{From: 2, To: 1, Type: MsgApp, Term: 1, Index: 2, LogTerm: 1, Entries: []Entry{e(3)}})
		want := uint64(5)
		if on {
			want = 3
		}
		if l := r.raftLog.lastIndex(); l != want {
			t.Fatalf("last index after the stale append = %d, want %d", l, want)
		}
	})
}

// A follower commits (and hands out for applying) the entries of a deposed
// leader that the current leader's append did not verify.
func TestBugCommitBeyondLog(t *testing.T) {
	bugOnOff(t, bugs.CommitBeyondLog, func(t *testing.T, on bool) {
		// Node 1 has entries 4 and 5 of a deposed term-2 leader; node 2
		// leads term 3 with its own entries 4 and 5, committed.
		nw := newLogNetwork(t, map[uint64][]uint64{1: {1, 1, 1, 2, 2}, 2: {1, 1, 1, 3, 3}, 3: {1, 1, 1, 3, 3}},
			map[uint64]uint64{1: 3, 2: 3, 3: 3})
		rn := nw.node(1).rn
		_ = rn.Step(Message{From: 2, To: 1, Type: MsgApp, Term: 3, Index: 5, LogTerm: 3, Commit: 5})
		rd := rn.Ready()
		var resp Message
		for _, m := range rd.Messages {
			if m.Type == MsgAppResp {
				resp = m
			}
		}
		if !resp.Reject {
			t.Fatalf("the consistency check passed: %+v", resp)
		}
		var committed []uint64
		for _, e := range rd.CommittedEntries {
			if e.Index >= 4 {
				committed = append(committed, e.Term)
			}
		}
		var want []uint64
		if on {
			want = []uint64{2, 2}
		}
		if !reflect.DeepEqual(committed, want) {
			t.Fatalf("terms of committed entries 4.. = %v, want %v", committed, want)
		}
	})
}

// A follower takes a deposed leader's append and overwrites entries it
// acknowledged to the current leader.
func TestBugAppendFromStaleLeader(t *testing.T) {
	bugOnOff(t, bugs.AppendFromStaleLeader, func(t *testing.T, on bool) {
		nw := newLogNetwork(t, map[uint64][]uint64{1: {1, 1, 1, 3, 3}, 2: {1, 1, 1, 3, 3}, 3: {1, 1, 1, 2}},
			map[uint64]uint64{1: 3, 2: 3, 3: 2})
		r := nw.raft(1)
		_ = r.Step(Message{From: 3, To: 1, Type: MsgApp, Term: 2, Index: 3, LogTerm: 1, Entries: []Entry{{Index: 4, Term: 2}}})
		want := []uint64{1, 1, 1, 3, 3}
		if on {
			want = []uint64{1, 1, 1, 2}
		}
		if got := nw.node(1).logTerms(1); !reflect.DeepEqual(got, want) {
			t.Fatalf("log terms after a term-2 append at term 3 = %v, want %v", got, want)
		}
	})
}

// A single-node leader commits an entry before it is persisted.
func TestBugLeaderSelfAckEarly(t *testing.T) {
	bugOnOff(t, bugs.LeaderSelfAckEarly, func(t *testing.T, on bool) {
		s := NewMemoryStorage()
		cfg := newTestConfig(1, s)
		rn, err := NewRawNode(&cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := rn.Bootstrap([]uint64{1}); err != nil {
			t.Fatal(err)
		}
		rd := rn.Ready()
		_ = s.Save(rd.HardState, rd.Entries, rd.Snapshot, true)
		rn.Advance(rd)
		if err := rn.Campaign(); err != nil {
			t.Fatal(err)
		}
		idx, _, err := rn.Propose([]byte("a"))
		if err != nil {
			t.Fatal(err)
		}
		rd = rn.Ready()
		committedEarly := false
		for _, e := range rd.CommittedEntries {
			if e.Index == idx {
				committedEarly = true
			}
		}
		if committedEarly != on {
			t.Fatalf("entry %d committed in the Ready that first hands it out for persisting: %v, want %v", idx, committedEarly, on)
		}
	})
}

// A deposed leader answers a read index at once, with a commit index that
// misses its successor's write.
func TestBugReadIndexNoHeartbeat(t *testing.T) {
	bugOnOff(t, bugs.ReadIndexNoHeartbeat, func(t *testing.T, on bool) {
		nw := newNetwork(t, 3, withPreVote, withCheckQuorum)
		nw.campaign(1)
		nw.isolate(1)
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
		newCommit := nw.raft(newLead).raftLog.committed
		if nw.raft(1).state != StateLeader {
			t.Fatal("setup: node 1 is no longer leader")
		}
		nw.node(1).rn.ReadIndex([]byte("stale"))
		nw.stabilize()
		rs, ok := readStateFor(nw.node(1), "stale")
		if ok != on {
			t.Fatalf("deposed leader answered: %v (%+v), want %v", ok, rs, on)
		}
		if on && rs.Index >= newCommit {
			t.Fatalf("read index %d covers the new leader's commit %d", rs.Index, newCommit)
		}
	})
}

// A new leader serves a read index below a write the previous leader
// committed and acknowledged.
func TestBugReadIndexBeforeTermCommit(t *testing.T) {
	bugOnOff(t, bugs.ReadIndexBeforeTermCommit, func(t *testing.T, on bool) {
		nw := newNetwork(t, 3)
		nw.campaign(1)
		k := nw.raft(1).raftLog.lastIndex() + 1
		// The followers store "x" but never learn that it committed.
		nw.filter = func(m *Message) bool {
			return !(m.From == 1 && (m.Type == MsgApp || m.Type == MsgHeartbeat) && m.Commit >= k)
		}
		if idx := nw.mustPropose(1, "x"); idx != k {
			t.Fatalf("x at %d, want %d", idx, k)
		}
		if c := nw.raft(1).raftLog.committed; c < k {
			t.Fatalf("x not committed on the leader: %d", c)
		}
		if c := nw.raft(2).raftLog.committed; c >= k {
			t.Fatalf("setup: node 2 knows x committed (%d)", c)
		}
		// Node 1 dies; node 2 wins, and its no-op does not commit yet.
		nw.node(1).down = true
		nw.filter = func(m *Message) bool { return m.Type != MsgAppResp }
		nw.campaign(2)
		if nw.raft(2).state != StateLeader {
			t.Fatal("node 2 did not win")
		}
		nw.node(2).rn.ReadIndex([]byte("r"))
		nw.stabilize()
		rs, ok := readStateFor(nw.node(2), "r")
		if ok != on {
			t.Fatalf("read answered before the leader committed in its term: %v (%+v), want %v", ok, rs, on)
		}
		if on && rs.Index >= k {
			t.Fatalf("read index %d covers x at %d", rs.Index, k)
		}
	})
}

// The leader's lease outlives a follower's: the follower votes for a new
// leader, which commits a write, while the old leader still answers lease
// reads with its old commit index. Every clock runs at the same rate; the
// followers only tick just after the leader (a phase offset, not drift).
func TestBugLeaseNoDriftMargin(t *testing.T) {
	bugOnOff(t, bugs.LeaseNoDriftMargin, func(t *testing.T, on bool) {
		nw := newNetwork(t, 3, withLease)
		nw.campaign(1)
		nw.mustPropose(1, "old")
		if nw.raft(1).electionElapsed != 0 {
			t.Fatal("setup: the leader is not at the start of a check-quorum round")
		}
		// The leader's heartbeat is acknowledged; then it is cut off.
		nw.tick(1)
		nw.isolate(1)
		nw.tick(2, 3)
		et := nw.raft(1).electionTimeout
		for k := 1; k < et; k++ {
			nw.tick(1)
			nw.tick(2, 3)
		}
		if nw.raft(1).state != StateLeader {
			t.Fatal("setup: node 1 stepped down")
		}
		newLead := None
		for _, id := range []uint64{2, 3} {
			if nw.raft(id).state == StateLeader {
				newLead = id
			}
		}
		if newLead == None {
			nw.campaign(2)
			newLead = 2
		}
		if nw.raft(newLead).state != StateLeader {
			t.Fatalf("no new leader: the followers still honour the lease")
		}
		nw.mustPropose(newLead, "new")
		newCommit := nw.raft(newLead).raftLog.committed
		rn := nw.node(1).rn
		rn.ReadIndex([]byte("read"))
		nw.stabilize()
		rs, ok := readStateFor(nw.node(1), "read")
		if ok != on {
			t.Fatalf("old leader answered a lease read after a new leader committed: %v (%+v), want %v", ok, rs, on)
		}
		if on && rs.Index >= newCommit {
			t.Fatalf("read index %d covers the new commit %d", rs.Index, newCommit)
		}
	})
}
