package boltstore

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/raftkv/raftkv/raft"
)

// BenchmarkSave measures Save with sync on: one bbolt write transaction and
// its fdatasyncs per call, as the driver does once per Ready. Each batch
// carries a hard state, like a Ready that appends entries.
func BenchmarkSave(b *testing.B) { benchmarkSave(b, Options{}) }

// BenchmarkSaveNoSync is BenchmarkSave without fsync: the CPU and write(2)
// part of a Save, to compare with the synced figures.
func BenchmarkSaveNoSync(b *testing.B) { benchmarkSave(b, Options{NoSync: true}) }

func benchmarkSave(b *testing.B, opts Options) {
	for _, n := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), "raft.db"), opts)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			data := make([]byte, 256)
			for i := range data {
				data[i] = byte(i)
			}
			batch := make([]raft.Entry, n)
			next := uint64(1)
			b.SetBytes(int64(n * len(data)))
			saves := 0
			for b.Loop() {
				for k := range batch {
					batch[k] = raft.Entry{Index: next, Term: 1, Data: data}
					next++
				}
				if err := s.Save(raft.HardState{Term: 1, Vote: 1, Commit: next - 1}, batch, raft.Snapshot{}, true); err != nil {
					b.Fatal(err)
				}
				saves++
			}
			b.ReportMetric(float64(saves*n)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

// BenchmarkTerm is the read the core makes most: answered from memory.
func BenchmarkTerm(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "raft.db"), Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for t := uint64(1); t <= 50; t++ {
		var batch []raft.Entry
		for i := range uint64(200) {
			batch = append(batch, raft.Entry{Index: (t-1)*200 + i + 1, Term: t})
		}
		if err := s.Save(raft.HardState{}, batch, raft.Snapshot{}, false); err != nil {
			b.Fatal(err)
		}
	}
	i := uint64(0)
	for b.Loop() {
		i = i%10000 + 1
		if _, err := s.Term(i); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEntries reads 64 entries of 256 bytes, the size of a MsgApp.
func BenchmarkEntries(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "raft.db"), Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	data := make([]byte, 256)
	var batch []raft.Entry
	for i := range uint64(4096) {
		batch = append(batch, raft.Entry{Index: i + 1, Term: 1, Data: data})
	}
	if err := s.Save(raft.HardState{}, batch, raft.Snapshot{}, false); err != nil {
		b.Fatal(err)
	}
	lo := uint64(1)
	for b.Loop() {
		if _, err := s.Entries(lo, lo+64, noLimit); err != nil {
			b.Fatal(err)
		}
		lo = (lo+64)%4000 + 1
	}
}

// BenchmarkSaveWhileSnapshotting is BenchmarkSave (batches of 16, synced)
// while another goroutine keeps creating 16 MiB snapshots and compacting
// behind them, as the driver does under load: the Saves' p99 shows how long
// a Save waits for snapshot and compaction work.
func BenchmarkSaveWhileSnapshotting(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "raft.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	data := make([]byte, 256)
	snapData := make([]byte, 16<<20)
	for i := range snapData {
		snapData[i] = byte(i)
	}
	const n = 16
	batch := make([]raft.Entry, n)
	next := uint64(1)
	save := func() {
		for k := range batch {
			batch[k] = raft.Entry{Index: next, Term: 1, Data: data}
			next++
		}
		if err := s.Save(raft.HardState{Term: 1, Vote: 1, Commit: next - 1}, batch, raft.Snapshot{}, true); err != nil {
			b.Fatal(err)
		}
	}
	save()
	stop := make(chan struct{})
	snapErr := make(chan error, 1)
	go func() {
		defer close(snapErr)
		for {
			select {
			case <-stop:
				return
			default:
			}
			i, err := s.LastIndex()
			if err != nil {
				snapErr <- err
				return
			}
			if _, err := s.CreateSnapshot(i, raft.ConfState{Voters: []uint64{1}}, snapData); err != nil && !errors.Is(err, raft.ErrSnapOutOfDate) {
				snapErr <- err
				return
			}
			if first, _ := s.FirstIndex(); i > first {
				if err := s.Compact(i - 1); err != nil {
					snapErr <- err
					return
				}
			}
		}
	}()
	var lat []time.Duration
	for b.Loop() {
		start := time.Now()
		save()
		lat = append(lat, time.Since(start))
	}
	close(stop)
	if err := <-snapErr; err != nil {
		b.Fatal(err)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
}
