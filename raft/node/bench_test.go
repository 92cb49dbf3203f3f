package node

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/boltstore"
)

// BenchmarkClusterPropose measures proposals/s through the driver: an
// in-process 3-node cluster whose logs are bbolt files (fsync on) in
// b.TempDir(), over the in-memory test network, with `proposers`
// concurrent Propose callers on the leader. The order sub-benchmarks
// compare, on the same machine, the driver's Ready orders: "strict"
// (persist, send, apply), "early-append" (a leader sends its appends
// before its write, thesis §10.2.1) and "default" (also applying committed
// entries before the write), for benchstat.
func BenchmarkClusterPropose(b *testing.B) {
	orders := []struct {
		name  string
		hooks testHooks
	}{
		{"strict", testHooks{noEarlyAppend: true, applyAfterPersist: true}},
		{"early-append", testHooks{applyAfterPersist: true}},
		{"default", testHooks{}},
	}
	for _, o := range orders {
		for _, proposers := range []int{1, 32} {
			b.Run(fmt.Sprintf("order=%s/proposers=%d", o.name, proposers), func(b *testing.B) {
				benchmarkClusterPropose(b, proposers, o.hooks)
			})
		}
	}
}

func benchmarkClusterPropose(b *testing.B, proposers int, hooks testHooks) {
	dir := b.TempDir()
	c := &cluster{t: b, nw: newNetwork(b), nodes: map[uint64]*Node{}, stores: map[uint64]raft.LogStore{},
		sms: map[uint64]*testSM{}, voters: []uint64{1, 2, 3}, hooks: hooks}
	c.tweak = func(id uint64, cfg *Config) {
		s, err := boltstore.Open(filepath.Join(dir, fmt.Sprintf("node%d.db", id)), boltstore.Options{})
		if err != nil {
			b.Fatal(err)
		}
		cfg.Store = s
		cfg.Raft.ElectionTick = 100 // no election while the disk is slow
	}
	b.Cleanup(func() {
		c.stopAll()
		for _, s := range c.stores {
			_ = s.Close()
		}
	})
	for _, id := range c.voters {
		c.start(id, nil, c.voters)
	}
	lead := c.nodes[c.leader()]
	data := make([]byte, 256)
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range proposers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if _, err := lead.Propose(context.Background(), data); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d of %d proposals failed", f, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "proposals/s")
}
