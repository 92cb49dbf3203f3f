package raft

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

// TestRandomizedFaults is a property test: a 5-node cluster runs random
// proposals, ticks, partitions, message loss, crashes/restarts and log
// compactions. The network checks Election Safety (one leader per term)
// and State Machine Safety (no two different entries applied at one index)
// on every step; at the end, after healing, every node must converge on
// the same applied state (liveness once the faults stop).
func TestRandomizedFaults(t *testing.T) {
	seeds := 12
	if testing.Short() {
		seeds = 3
	}
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			var opts []configOpt
			if seed%2 == 0 {
				opts = append(opts, withPreVote, withCheckQuorum)
			}
			opts = append(opts, withMaxSizePerMsg(200), withMaxInflight(4))
			nw := newNetwork(t, 5, opts...)
			nw.rng = rand.New(rand.NewPCG(seed, 7))
			proposals := 0
			for step := 0; step < 1500; step++ {
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
			}
			nw.heal()
			var lead uint64
			for i := 0; i < 200; i++ {
				nw.tick()
				if lead = nw.leader(); lead != None && i > 20 {
					break
				}
			}
			if lead == None {
				t.Fatal("no leader after healing")
			}
			nw.mustPropose(lead, "final")
			nw.ticks(3)
			want := nw.node(lead).appliedData()
			for _, id := range nw.ids {
				if got := nw.node(id).appliedData(); !reflect.DeepEqual(got, want) {
					t.Fatalf("node %d applied %d entries, leader %d applied %d", id, len(got), lead, len(want))
				}
			}
			if proposals < 50 {
				t.Fatalf("only %d proposals were accepted", proposals)
			}
		})
	}
}
