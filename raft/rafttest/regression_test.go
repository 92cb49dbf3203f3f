package rafttest

import (
	"slices"
	"testing"

	"github.com/raftkv/raftkv/raft"
)

// TestRegressionStaleVoterWithHigherTerm is the scenario TestSimulation
// found (seed 90 at the commit that added this test): with PreVote and
// CheckQuorum off, a voter that missed membership changes keeps
// campaigning among members that are gone, so its term climbs above the
// leader's. It ignores the leader's lower-term messages, and its vote
// requests never reach the current members, so nobody ever tells the
// leader about the higher term: the voter is never caught up. Raft (paper
// figure 2) answers a stale AppendEntries with the current term, which
// makes the leader step down and lets a new election bring the voter back.
func TestRegressionStaleVoterWithHigherTerm(t *testing.T) {
	nodes := map[uint64]member{
		// Node 3 last saw configuration {1,2,3} and campaigned up to term 9.
		3: restoredNode(t, 3, 3, 1, []uint64{1, 2, 3}, raft.HardState{Term: 9, Vote: 3, Commit: 3}),
		// The cluster has since become {3,4,5} (1 and 2 were removed and
		// shut down) and is at term 5.
		4: restoredNode(t, 4, 10, 4, []uint64{3, 4, 5}, raft.HardState{Term: 5, Commit: 10}),
		5: restoredNode(t, 5, 10, 4, []uint64{3, 4, 5}, raft.HardState{Term: 5, Commit: 10}),
	}
	if err := nodes[4].rn.Campaign(); err != nil {
		t.Fatal(err)
	}
	ok := runMembers(t, nodes, 500, func() bool {
		for _, n := range nodes {
			if st := n.rn.Status(); st.RaftState == raft.StateLeader {
				st3 := nodes[3].rn.Status()
				return st.Commit > 10 && st3.Commit >= st.Commit && st3.Term == st.Term
			}
		}
		return false
	})
	if !ok {
		t.Fatal("node 3 (higher term, stale configuration) was never caught up by the leader of {3,4,5}")
	}
}

// TestRegressionStaleVoteRequestUnanswered is TestSimulation seed 44472
// (at the commit that added this test): leader 4 of {3,4,6,8} commits its
// own removal and steps down at once, before 6 and 8 learn that the
// removal is committed, so they still count 4 (now gone) and need 3's
// vote. Node 3 missed earlier changes: it campaigns among {1,2,3} (gone
// too), so its term runs ahead and it never sends anything to 6 or 8. It
// ignores their lower-term vote requests without answering, so they learn
// its term only by overtaking it on their own, which took more than 600
// ticks. Raft answers a RequestVote of a lower term with the current term
// (paper figure 2), after which the next candidate wins at once.
func TestRegressionStaleVoteRequestUnanswered(t *testing.T) {
	nodes := map[uint64]member{
		3: restoredNode(t, 3, 3, 1, []uint64{1, 2, 3}, raft.HardState{Term: 60, Vote: 3, Commit: 3}),
		6: restoredNode(t, 6, 10, 4, []uint64{3, 4, 6, 8}, raft.HardState{Term: 8, Commit: 10}),
		8: restoredNode(t, 8, 10, 4, []uint64{3, 4, 6, 8}, raft.HardState{Term: 8, Commit: 10}),
	}
	ok := runMembers(t, nodes, 200, func() bool {
		for _, id := range []uint64{6, 8} {
			if st := nodes[id].rn.Status(); st.RaftState == raft.StateLeader && st.Commit > 10 {
				return true
			}
		}
		return false
	})
	if !ok {
		t.Fatal("no leader among 6 and 8 within 200 ticks: node 3 never told them its term")
	}
}

type member struct {
	rn *raft.RawNode
	st *raft.MemoryStorage
}

// restoredNode starts node id from a snapshot at (snapIndex, snapTerm) with
// the given voters and hard state, as if it had run before.
func restoredNode(t *testing.T, id, snapIndex, snapTerm uint64, voters []uint64, hs raft.HardState) member {
	t.Helper()
	st := raft.NewMemoryStorage()
	sm := StateMachine{Index: snapIndex}
	snap := raft.Snapshot{Data: sm.Snapshot(), Metadata: raft.SnapshotMetadata{
		Index: snapIndex, Term: snapTerm, ConfState: raft.ConfState{Voters: voters}}}
	if err := st.Save(hs, nil, snap, true); err != nil {
		t.Fatal(err)
	}
	rn, err := raft.NewRawNode(&raft.Config{ID: id, ElectionTick: 10, HeartbeatTick: 1, Storage: st,
		Applied: snapIndex, MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 16, Seed: int64(id)})
	if err != nil {
		t.Fatal(err)
	}
	return member{rn, st}
}

// runMembers ticks every member up to ticks times, delivering every message
// (to members only) between ticks, until done reports true.
func runMembers(t *testing.T, nodes map[uint64]member, ticks int, done func() bool) bool {
	t.Helper()
	ids := make([]uint64, 0, len(nodes))
	for id := range nodes {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for tick := 0; tick < ticks; tick++ {
		for round := 0; round < 50; round++ {
			var msgs []raft.Message
			for _, id := range ids {
				n := nodes[id]
				for n.rn.HasReady() {
					rd := n.rn.Ready()
					if err := n.st.Save(rd.HardState, rd.Entries, rd.Snapshot, rd.MustSync); err != nil {
						t.Fatal(err)
					}
					msgs = append(msgs, rd.Messages...)
					n.rn.Advance(rd)
				}
			}
			if len(msgs) == 0 {
				break
			}
			for _, m := range msgs {
				if n, ok := nodes[m.To]; ok {
					_ = n.rn.Step(CloneMessage(m))
				}
			}
		}
		if done() {
			return true
		}
		for _, id := range ids {
			nodes[id].rn.Tick()
		}
	}
	for _, id := range ids {
		st := nodes[id].rn.Status()
		t.Logf("node %d: %s term %d commit %d lead %d config %v", id, st.RaftState, st.Term, st.Commit, st.Lead, st.Config)
	}
	return false
}

// miniCluster is a synchronous cluster for scripted regression tests: it
// drains Readies, persists to MemoryStorage and delivers every message
// unless drop says otherwise.
type miniCluster struct {
	t     *testing.T
	ids   []uint64
	nodes map[uint64]*raft.RawNode
	st    map[uint64]*raft.MemoryStorage
	reads map[string]uint64
	drop  func(m raft.Message) bool
}

func newMiniCluster(t *testing.T, ids []uint64, cfg func(*raft.Config)) *miniCluster {
	c := &miniCluster{t: t, ids: ids, nodes: map[uint64]*raft.RawNode{}, st: map[uint64]*raft.MemoryStorage{}, reads: map[string]uint64{}}
	for _, id := range ids {
		st := raft.NewMemoryStorage()
		conf := &raft.Config{ID: id, ElectionTick: 10, HeartbeatTick: 1, Storage: st, MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 16, Seed: int64(id)}
		if cfg != nil {
			cfg(conf)
		}
		rn, err := raft.NewRawNode(conf)
		if err != nil {
			t.Fatal(err)
		}
		if err := rn.Bootstrap(ids); err != nil {
			t.Fatal(err)
		}
		c.nodes[id], c.st[id] = rn, st
	}
	return c
}

// settle runs Ready/deliver rounds until no message is left.
func (c *miniCluster) settle() {
	for round := 0; round < 100; round++ {
		var msgs []raft.Message
		for _, id := range c.ids {
			rn := c.nodes[id]
			for rn.HasReady() {
				rd := rn.Ready()
				if err := c.st[id].Save(rd.HardState, rd.Entries, rd.Snapshot, rd.MustSync); err != nil {
					c.t.Fatal(err)
				}
				for _, e := range rd.CommittedEntries {
					if e.Type == raft.EntryConfChange {
						var cc raft.ConfChange
						if err := cc.Unmarshal(e.Data); err != nil {
							c.t.Fatal(err)
						}
						rn.ApplyConfChange(cc)
					}
				}
				for _, r := range rd.ReadStates {
					c.reads[string(r.RequestCtx)] = r.Index
				}
				msgs = append(msgs, rd.Messages...)
				rn.Advance(rd)
			}
		}
		if len(msgs) == 0 {
			return
		}
		for _, m := range msgs {
			if c.drop == nil || !c.drop(m) {
				_ = c.nodes[m.To].Step(CloneMessage(m))
			}
		}
	}
}

func (c *miniCluster) tick(n int) {
	for i := 0; i < n; i++ {
		for _, id := range c.ids {
			c.nodes[id].Tick()
		}
		c.settle()
	}
}

// TestRegressionLeaseReadFallback is a finding of TestSimulation with
// -sim.lease: with ReadOnlyLeaseBased, a ReadIndex that arrives when the
// lease cannot be used (here: the leader sent MsgTimeoutNow in this term
// and the transfer failed, so lease reads are off until the term changes)
// falls back to a heartbeat round, but the leader ignores heartbeat
// acknowledgements unless the option is ReadOnlySafe, so the read is never
// answered.
func TestRegressionLeaseReadFallback(t *testing.T) {
	c := newMiniCluster(t, []uint64{1, 2, 3}, func(cfg *raft.Config) {
		cfg.CheckQuorum = true
		cfg.ReadOnlyOption = raft.ReadOnlyLeaseBased
	})
	c.settle()
	if err := c.nodes[1].Campaign(); err != nil {
		t.Fatal(err)
	}
	c.settle()
	if _, _, err := c.nodes[1].Propose([]byte("x")); err != nil {
		t.Fatal(err)
	}
	c.tick(3)
	c.nodes[1].ReadIndex([]byte("before"))
	c.tick(3)
	if _, ok := c.reads["before"]; !ok {
		t.Fatal("a lease read in a healthy cluster was not answered")
	}
	// The transfer's MsgTimeoutNow is lost, so the transfer fails and node
	// 1 stays leader of the same term.
	c.drop = func(m raft.Message) bool { return m.Type == raft.MsgTimeoutNow }
	c.nodes[1].TransferLeader(2)
	c.tick(30)
	c.drop = nil
	if st := c.nodes[1].Status(); st.RaftState != raft.StateLeader {
		t.Fatalf("node 1 is %s, want leader", st.RaftState)
	}
	c.nodes[1].ReadIndex([]byte("after"))
	c.tick(30)
	if _, ok := c.reads["after"]; !ok {
		t.Fatal("a ReadIndex that could not use the lease was never answered")
	}
}
