package lazystore_test

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/lazystore"
	"github.com/raftkv/raftkv/raft/storagetest"
)

// op is one write, replayable on a raft.MemoryStorage.
type op struct {
	kind string // "save", "create" or "compact"
	hs   raft.HardState
	ents []raft.Entry
	snap raft.Snapshot
	i    uint64
	cs   raft.ConfState
	data []byte
}

func (o op) apply(ms *raft.MemoryStorage) error {
	switch o.kind {
	case "save":
		return ms.Save(o.hs, o.ents, o.snap, true)
	case "create":
		_, err := ms.CreateSnapshot(o.i, o.cs, o.data)
		return err
	default:
		return ms.Compact(o.i)
	}
}

// world is a lazystore under test and its two oracles: all got every
// write, disk got the writes up to and including the last synced one,
// which is exactly what the underlying store must hold (and what the
// wrapper must show after a crash).
type world struct {
	t *testing.T
	s *lazystore.Store
	// crash loses the process: it returns the store a restarted process
	// would use.
	crash func(*lazystore.Store) *lazystore.Store
	// reopen closes the store cleanly and opens it again.
	reopen func(*lazystore.Store) *lazystore.Store

	ops     []op
	durable int // ops[:durable] are on disk
	all     *raft.MemoryStorage
	disk    *raft.MemoryStorage
	term    uint64 // the highest term used so far
	// lost counts the crashes (and Discards) that lost pending writes:
	// hard states, and entries.
	lostHS, lostEnts int
}

// flushed records that every write so far reached the underlying store.
func (w *world) flushed() {
	for _, o := range w.ops[w.durable:] {
		require.NoError(w.t, o.apply(w.disk))
	}
	w.durable = len(w.ops)
}

// crashed rebuilds all from the durable writes.
func (w *world) crashed() {
	w.ops = w.ops[:w.durable]
	w.all = raft.NewMemoryStorage()
	for _, o := range w.ops {
		require.NoError(w.t, o.apply(w.all))
	}
}

func (w *world) record(o op, synced bool) {
	require.NoError(w.t, o.apply(w.all))
	w.ops = append(w.ops, o)
	if synced {
		w.flushed()
	}
}

// runRandom applies n random writes a Raft driver could issue (appends,
// possibly overwriting an uncommitted suffix, synced or not; commit-only
// hard states, unsynced; snapshots installed from a leader; snapshots
// created and the log compacted behind them), crashes and reopens, and
// after each compares the wrapper with all and its underlying store with
// disk.
func runRandom(t *testing.T, seed uint64, n int, w *world) {
	rng := rand.New(rand.NewPCG(seed, seed^0x5deece66d))
	w.all, w.disk = raft.NewMemoryStorage(), raft.NewMemoryStorage()
	randEnts := func(lo uint64, k int) []raft.Entry {
		prev := w.term
		if t, err := w.all.Term(lo - 1); err == nil && t > prev {
			prev = t
		}
		out := make([]raft.Entry, k)
		for j := range out {
			if rng.IntN(4) == 0 {
				prev++
			}
			out[j] = raft.Entry{Index: lo + uint64(j), Term: prev, Type: raft.EntryType(rng.IntN(2))}
			if rng.IntN(5) > 0 {
				out[j].Data = fmt.Appendf(nil, "s%d-%d-%d", seed, out[j].Index, rng.Uint64())
			}
		}
		w.term = max(w.term, prev)
		return out
	}
	defer func() {
		t.Logf("%d writes survive, %d of them on disk; %d crashes lost pending writes, %d of them entries", len(w.ops), w.durable, w.lostHS, w.lostEnts)
	}()
	for step := range n {
		hs, _, err := w.all.InitialState()
		require.NoError(t, err)
		first, _ := w.all.FirstIndex()
		last, _ := w.all.LastIndex()
		snap, _ := w.all.Snapshot()
		snapIdx := snap.Metadata.Index
		var desc string
		switch r := rng.IntN(20); {
		case r < 9: // append, maybe overwriting the uncommitted suffix
			start := max(first, hs.Commit+1)
			start += rng.Uint64N(last + 2 - start)
			ents := randEnts(start, 1+rng.IntN(5))
			var nhs raft.HardState
			if rng.IntN(2) == 0 {
				end := ents[len(ents)-1].Index
				nhs = raft.HardState{Term: w.term, Vote: rng.Uint64N(4), Commit: hs.Commit + rng.Uint64N(end-hs.Commit+1)}
			}
			sync := rng.IntN(3) == 0
			desc = fmt.Sprintf("Save(%+v, [%d, %d], sync %v)", nhs, start, ents[len(ents)-1].Index, sync)
			require.NoError(t, w.s.Save(nhs, ents, raft.Snapshot{}, sync), desc)
			w.record(op{kind: "save", hs: nhs, ents: ents}, sync)
		case r < 11: // the commit index moved: never synced by the driver
			nhs := raft.HardState{Term: max(hs.Term, 1), Vote: hs.Vote, Commit: hs.Commit + rng.Uint64N(last-hs.Commit+1)}
			desc = fmt.Sprintf("Save(%+v, unsynced)", nhs)
			require.NoError(t, w.s.Save(nhs, nil, raft.Snapshot{}, false), desc)
			w.record(op{kind: "save", hs: nhs}, false)
		case r < 12: // an empty synced Save writes the overlay
			desc = "Save(empty, sync)"
			require.NoError(t, w.s.Save(raft.HardState{}, nil, raft.Snapshot{}, true), desc)
			w.flushed()
		case r < 13: // a snapshot from the leader
			i := last + 1 + rng.Uint64N(8)
			w.term += rng.Uint64N(2)
			s := raft.Snapshot{
				Data:     fmt.Appendf(nil, "installed-%d", i),
				Metadata: raft.SnapshotMetadata{Index: i, Term: max(w.term, 1), ConfState: raft.ConfState{Voters: []uint64{1, 2, 3}[:1+rng.IntN(3)]}},
			}
			w.term = s.Metadata.Term
			var ents []raft.Entry
			if rng.IntN(2) == 0 {
				ents = randEnts(i+1, 1+rng.IntN(3))
			}
			var nhs raft.HardState
			if rng.IntN(4) > 0 {
				nhs = raft.HardState{Term: w.term, Commit: i}
			}
			desc = fmt.Sprintf("Save(%+v, %d entries, snapshot %d/%d)", nhs, len(ents), i, s.Metadata.Term)
			require.NoError(t, w.s.Save(nhs, ents, s, rng.IntN(2) == 0), desc)
			w.record(op{kind: "save", hs: nhs, ents: ents, snap: s}, true)
		case r < 15: // the state machine snapshots; sometimes at a stale index
			var i uint64
			switch {
			case hs.Commit > snapIdx && rng.IntN(4) > 0:
				i = snapIdx + 1 + rng.Uint64N(hs.Commit-snapIdx)
			case snapIdx > 0:
				i = 1 + rng.Uint64N(snapIdx)
			default:
				continue
			}
			o := op{kind: "create", i: i, cs: raft.ConfState{Voters: []uint64{1, 2, 3, 4}[:1+rng.IntN(4)]}, data: fmt.Appendf(nil, "created-%d", i)}
			desc = fmt.Sprintf("CreateSnapshot(%d)", i)
			got, err := w.s.CreateSnapshot(o.i, o.cs, o.data)
			w.flushed() // whether or not it succeeds
			if i <= snapIdx {
				require.ErrorIs(t, err, raft.ErrSnapOutOfDate, desc)
				break
			}
			require.NoError(t, err, desc)
			w.record(o, true)
			want, _ := w.all.Snapshot()
			require.Equal(t, want.Metadata, got.Metadata, desc)
		case r < 16: // compact behind the snapshot; sometimes already compacted
			var i uint64
			switch {
			case snapIdx >= first && rng.IntN(4) > 0:
				i = first + rng.Uint64N(snapIdx-first+1)
			default:
				i = first - 1
			}
			desc = fmt.Sprintf("Compact(%d)", i)
			err := w.s.Compact(i)
			w.flushed()
			if i < first {
				require.ErrorIs(t, err, raft.ErrCompacted, desc)
				break
			}
			require.NoError(t, err, desc)
			w.record(op{kind: "compact", i: i}, true)
		case r < 18:
			desc = "crash"
			w.countLost()
			w.s = w.crash(w.s)
			w.crashed()
		case r < 19:
			desc = "clean reopen"
			w.s = w.reopen(w.s)
			w.flushed()
		default:
			desc = "Discard"
			w.countLost()
			w.s.Discard()
			w.crashed()
		}
		want := storagetest.Observe(t, w.all)
		require.Equal(t, want, storagetest.Observe(t, w.s), "step %d: %s: the wrapper differs from every write applied", step, desc)
		require.Equal(t, storagetest.Observe(t, w.disk), storagetest.Observe(t, w.s.Underlying()), "step %d: %s: the underlying store differs from the synced writes", step, desc)
		if want.Last >= want.First {
			lo := want.First + rng.Uint64N(want.Last-want.First+1)
			hi := lo + 1 + rng.Uint64N(want.Last-lo+1)
			maxSize := rng.Uint64N(150)
			exp, err := w.all.Entries(lo, hi, maxSize)
			require.NoError(t, err)
			got, err := w.s.Entries(lo, hi, maxSize)
			require.NoError(t, err, "Entries(%d, %d, %d)", lo, hi, maxSize)
			require.Equal(t, normEntries(exp), normEntries(got), "step %d: Entries(%d, %d, %d)", step, lo, hi, maxSize)
		}
	}
}

func (w *world) countLost() {
	if h, n := w.s.Pending(); h || n > 0 {
		w.lostHS++
		if n > 0 {
			w.lostEnts++
		}
	}
}

func normEntries(ents []raft.Entry) []raft.Entry {
	out := make([]raft.Entry, len(ents))
	for k, e := range ents {
		if len(e.Data) == 0 {
			e.Data = nil
		}
		out[k] = e
	}
	return out
}

// FuzzAgainstMemoryStorage checks the wrapper over a MemoryStorage against
// MemoryStorage oracles; a crash is Discard. `go test` runs the seeds;
// `go test -fuzz FuzzAgainstMemoryStorage ./raft/lazystore/` explores.
func FuzzAgainstMemoryStorage(f *testing.F) {
	for seed := range uint64(6) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, seed uint64) {
		w := &world{
			t: t,
			s: lazystore.New(raft.NewMemoryStorage()),
			crash: func(s *lazystore.Store) *lazystore.Store {
				s.Discard()
				return s
			},
		}
		w.reopen = func(s *lazystore.Store) *lazystore.Store {
			// Close writes the overlay; a new wrapper over the same
			// (closed for writes) MemoryStorage would refuse Saves, so
			// write the overlay without closing instead.
			require.NoError(t, s.Sync())
			return s
		}
		runRandom(t, seed, 250, w)
	})
}

// TestRandomOverBoltstore is the same comparison with the bbolt store
// underneath, where a crash closes the bbolt file without the wrapper's
// flush and opens it again.
func TestRandomOverBoltstore(t *testing.T) {
	for _, seed := range []uint64{11, 12} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "raft.db")
			w := &world{t: t, s: lazystore.New(openBolt(t, path))}
			w.crash = func(s *lazystore.Store) *lazystore.Store {
				require.NoError(t, s.Underlying().Close())
				return lazystore.New(openBolt(t, path))
			}
			w.reopen = func(s *lazystore.Store) *lazystore.Store {
				require.NoError(t, s.Close())
				return lazystore.New(openBolt(t, path))
			}
			runRandom(t, seed, 150, w)
			require.NoError(t, w.s.Close())
			require.Positive(t, w.lostEnts, "no crash lost pending entries: the test proves little")
		})
	}
}
