package rafttest

import "testing"

// TestSimulationDeterministic runs seeds twice (once with a trace) and
// requires identical results and trace hashes: a failing seed must replay
// exactly.
func TestSimulationDeterministic(t *testing.T) {
	hashes := map[uint64]uint64{}
	for seed := uint64(1); seed <= 8; seed++ {
		a, errA := Run(seed, Options{Steps: 200})
		b, errB := Run(seed, Options{Steps: 200, Trace: &tailWriter{max: 10}})
		if a != b {
			t.Fatalf("seed %d: two runs differ:\n%+v\n%+v", seed, a, b)
		}
		if (errA == nil) != (errB == nil) || (errA != nil && errA.Error() != errB.Error()) {
			t.Fatalf("seed %d: two runs end differently: %v / %v", seed, errA, errB)
		}
		if other, ok := hashes[a.TraceHash]; ok {
			t.Fatalf("seeds %d and %d have the same trace hash %x", other, seed, a.TraceHash)
		}
		hashes[a.TraceHash] = seed
		if a.Delivered == 0 || a.Committed == 0 {
			t.Fatalf("seed %d did nothing: %+v", seed, a)
		}
	}
}
