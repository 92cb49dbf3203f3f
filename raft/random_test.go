package raft

import (
	"flag"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// TestRandomizedFaults is a property test: a 5-node cluster runs random
// proposals, ticks, partitions, message loss, crashes/restarts and log
// compactions. The network checks Election Safety (one leader per term)
// and State Machine Safety (no two different entries applied at one index)
// on every step; at the end, after healing, every node must converge on
// the same applied state (liveness once the faults stop).
var randomSeeds = flag.Int("raft.seeds", 8, "number of seeds TestRandomizedFaults runs")

func TestRandomizedFaults(t *testing.T) {
	seeds := *randomSeeds
	if testing.Short() {
		seeds = 3
	}
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			runRandomized(t, seed, seed%3 == 0)
		})
	}
}

// The core is deterministic: the same seed gives the same message trace.
func TestRandomizedDeterminism(t *testing.T) {
	a := runRandomized(t, 5, true)
	b := runRandomized(t, 5, true)
	if a != b {
		t.Fatal("two runs with the same seed produced different message traces")
	}
}

// runRandomized runs one randomized scenario (with membership changes if
// membership) and returns a fingerprint of every message delivered.
func runRandomized(t *testing.T, seed uint64, membership bool) uint64 {
	{
		{
			rng := rand.New(rand.NewPCG(seed, 99))
			var opts []configOpt
			if seed%2 == 0 {
				opts = append(opts, withPreVote, withCheckQuorum)
			}
			opts = append(opts, withMaxSizePerMsg(200), withMaxInflight(4))
			nw := newNetwork(t, 5, opts...)
			nw.rng = rand.New(rand.NewPCG(seed, 7))
			nw.record = true
			h := fnv.New64a()
			trace := func() {
				for _, m := range nw.delivered {
					var snap SnapshotMetadata
					if m.Snapshot != nil {
						snap = m.Snapshot.Metadata
					}
					m.Snapshot = nil
					fmt.Fprintf(h, "%+v %+v\n", m, snap)
				}
				nw.delivered = nw.delivered[:0]
			}
			proposals := 0
			for step := 0; step < 1200; step++ {
				switch x := rng.IntN(100); {
				case x < 40:
					nw.tick()
				case x < 70:
					if l := nw.leader(); l != None {
						if _, err := nw.propose(l, fmt.Sprintf("s%d-%d", seed, proposals)); err == nil {
							proposals++
						}
					}
				case x < 76:
					nw.heal()
					switch rng.IntN(3) {
					case 0:
						nw.isolate(uint64(1 + rng.IntN(5)))
					case 1:
						a, b := uint64(1+rng.IntN(5)), uint64(1+rng.IntN(5))
						if a != b {
							nw.cutLink(a, b)
						}
					case 2:
						nw.dropRate = 0.2
					}
				case x < 80:
					nw.heal()
				case x < 83:
					nw.restart(uint64(1 + rng.IntN(5)))
				case x < 86:
					id := uint64(1 + rng.IntN(5))
					tn := nw.node(id)
					snap, _ := tn.storage.Snapshot()
					if tn.appliedIndex > snap.Metadata.Index+5 {
						nw.compact(id)
					}
				case x < 88 && membership:
					if l := nw.leader(); l != None {
						randomConfChange(nw, l, rng)
					}
				case x < 88:
					if l := nw.leader(); l != None {
						nw.node(l).rn.TransferLeader(uint64(1 + rng.IntN(5)))
						nw.stabilize()
					}
				default:
					if l := nw.leader(); l != None {
						nw.node(uint64(1 + rng.IntN(5))).rn.ReadIndex([]byte(fmt.Sprintf("r%d", step)))
						nw.stabilize()
					}
				}
				trace()
			}
			nw.heal()
			waitLeader := func() uint64 {
				var lead uint64
				for i := 0; i < 200; i++ {
					nw.tick()
					if lead = nw.leader(); lead != None && i > 20 {
						return lead
					}
				}
				t.Fatal("no leader after healing")
				return None
			}
			lead := waitLeader()
			nw.mustPropose(lead, "final")
			nw.ticks(3)
			// Nodes removed from the configuration are shut down, as an
			// operator would: one that missed its removal would otherwise
			// keep campaigning (thesis §4.2.3).
			cs := nw.node(lead).rn.Status().Config
			members := append(append([]uint64(nil), cs.Voters...), cs.Learners...)
			for _, id := range nw.ids {
				if !slices.Contains(members, id) {
					nw.node(id).down = true
				}
			}
			lead = waitLeader()
			nw.mustPropose(lead, "final2")
			nw.ticks(3)
			want := nw.node(lead).appliedData()
			for _, id := range nw.ids {
				if nw.node(id).down {
					continue
				}
				if got := nw.node(id).appliedData(); !reflect.DeepEqual(got, want) {
					st := nw.node(id).rn.Status()
					t.Logf("node %d status %+v; leader status %+v", id, st, nw.node(lead).rn.Status())
					t.Fatalf("node %d applied %d entries, leader %d applied %d", id, len(got), lead, len(want))
				}
			}
			if proposals < 50 {
				t.Fatalf("only %d proposals were accepted", proposals)
			}
			trace()
			return h.Sum64()
		}
	}
}

// randomConfChange proposes a random single-server change at the leader,
// keeping at least three voters.
func randomConfChange(nw *network, leader uint64, rng *rand.Rand) {
	cs := nw.node(leader).rn.Status().Config
	id := uint64(1 + rng.IntN(5))
	var cc ConfChange
	switch {
	case slices.Contains(cs.Voters, id):
		if len(cs.Voters) <= 3 {
			return
		}
		if rng.IntN(2) == 0 {
			cc = ConfChange{Type: ConfChangeRemoveNode, NodeID: id}
		} else {
			cc = ConfChange{Type: ConfChangeAddLearner, NodeID: id}
		}
	case slices.Contains(cs.Learners, id):
		cc = ConfChange{Type: ConfChangeAddVoter, NodeID: id}
	default:
		if rng.IntN(2) == 0 {
			cc = ConfChange{Type: ConfChangeAddVoter, NodeID: id}
		} else {
			cc = ConfChange{Type: ConfChangeAddLearner, NodeID: id}
		}
		// A node coming back restarts from its storage.
		nw.node(id).down = false
	}
	if _, _, err := nw.node(leader).rn.ProposeConfChange(cc); err == nil {
		nw.stabilize()
	}
}
