package rafttest

import (
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
	type member struct {
		rn *raft.RawNode
		st *raft.MemoryStorage
	}
	mk := func(id, snapIndex, snapTerm uint64, voters []uint64, hs raft.HardState) member {
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
	nodes := map[uint64]member{
		// Node 3 last saw configuration {1,2,3} and campaigned up to term 9.
		3: mk(3, 3, 1, []uint64{1, 2, 3}, raft.HardState{Term: 9, Vote: 3, Commit: 3}),
		// The cluster has since become {3,4,5} (1 and 2 were removed and
		// shut down) and is at term 5.
		4: mk(4, 10, 4, []uint64{3, 4, 5}, raft.HardState{Term: 5, Commit: 10}),
		5: mk(5, 10, 4, []uint64{3, 4, 5}, raft.HardState{Term: 5, Commit: 10}),
	}
	ids := []uint64{3, 4, 5}
	if err := nodes[4].rn.Campaign(); err != nil {
		t.Fatal(err)
	}
	var inflight []raft.Message
	for tick := 0; tick < 500; tick++ {
		for round := 0; round < 50; round++ {
			for _, id := range ids {
				n := nodes[id]
				for n.rn.HasReady() {
					rd := n.rn.Ready()
					if err := n.st.Save(rd.HardState, rd.Entries, rd.Snapshot, rd.MustSync); err != nil {
						t.Fatal(err)
					}
					inflight = append(inflight, rd.Messages...)
					n.rn.Advance(rd)
				}
			}
			if len(inflight) == 0 {
				break
			}
			msgs := inflight
			inflight = nil
			for _, m := range msgs {
				if n, ok := nodes[m.To]; ok { // 1 and 2 are gone
					_ = n.rn.Step(CloneMessage(m))
				}
			}
		}
		var leader *raft.RawNode
		for _, id := range ids {
			if st := nodes[id].rn.Status(); st.RaftState == raft.StateLeader {
				leader = nodes[id].rn
			}
		}
		if leader != nil {
			lst, st3 := leader.Status(), nodes[3].rn.Status()
			if lst.Commit > 10 && st3.Commit >= lst.Commit && st3.Term == lst.Term {
				return
			}
		}
		for _, id := range ids {
			nodes[id].rn.Tick()
		}
	}
	for _, id := range ids {
		st := nodes[id].rn.Status()
		t.Logf("node %d: %s term %d commit %d lead %d config %v", id, st.RaftState, st.Term, st.Commit, st.Lead, st.Config)
	}
	t.Fatal("node 3 (higher term, stale configuration) was never caught up by the leader of {3,4,5}")
}
