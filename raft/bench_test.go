package raft

import (
	"testing"
)

// BenchmarkProposals3Nodes measures proposals committed and applied through
// a 3-node cluster on the in-memory network (MemoryStorage, no fsync, no
// serialization): the cost of the core itself. Proposals are batched 64 per
// Ready round, as a driver batching client requests would.
func BenchmarkProposals3Nodes(b *testing.B) {
	nw := newNetwork(b, 3)
	nw.campaign(1)
	rn := nw.node(1).rn
	data := make([]byte, 64)
	const batch = 64
	b.ReportAllocs()
	b.ResetTimer()
	var last uint64
	for i := 0; i < b.N; i++ {
		idx, _, err := rn.Propose(data)
		if err != nil {
			b.Fatal(err)
		}
		last = idx
		if i%batch == batch-1 {
			nw.stabilize()
			// Keep the safety bookkeeping from growing without bound.
			clear(nw.committed)
			for _, id := range nw.ids {
				nw.nodes[id].applied = nw.nodes[id].applied[:0]
			}
		}
	}
	nw.stabilize()
	b.StopTimer()
	for _, id := range nw.ids {
		if got := nw.nodes[id].appliedIndex; got < last {
			b.Fatalf("node %d applied %d, want %d", id, got, last)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}
