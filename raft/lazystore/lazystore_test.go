package lazystore_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/boltstore"
	"github.com/raftkv/raftkv/raft/lazystore"
	"github.com/raftkv/raftkv/raft/storagetest"
)

const noLimit = ^uint64(0)

func entries(lo uint64, terms ...uint64) []raft.Entry {
	out := make([]raft.Entry, len(terms))
	for k, t := range terms {
		i := lo + uint64(k)
		out[k] = raft.Entry{Index: i, Term: t, Data: fmt.Appendf(nil, "i%d-t%d", i, t)}
	}
	return out
}

func snapshot(i, t uint64, data string) raft.Snapshot {
	return raft.Snapshot{Data: []byte(data), Metadata: raft.SnapshotMetadata{Index: i, Term: t, ConfState: raft.ConfState{Voters: []uint64{1}}}}
}

func openBolt(t *testing.T, path string) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(path, boltstore.Options{})
	require.NoError(t, err)
	return s
}

func TestConformanceOverMemoryStorage(t *testing.T) {
	storagetest.RunConformance(t, func(*testing.T) raft.LogStore {
		return lazystore.New(raft.NewMemoryStorage())
	})
}

func TestConformanceOverBoltstore(t *testing.T) {
	storagetest.RunConformance(t, func(t *testing.T) raft.LogStore {
		return lazystore.New(openBolt(t, filepath.Join(t.TempDir(), "raft.db")))
	})
}

// Close writes the overlay, so the wrapper is as durable as the bbolt
// store across a clean Close and reopen.
func TestDurabilityOverBoltstore(t *testing.T) {
	storagetest.RunDurability(t, func(dir string) (raft.LogStore, error) {
		s, err := boltstore.Open(filepath.Join(dir, "raft.db"), boltstore.Options{})
		if err != nil {
			return nil, err
		}
		return lazystore.New(s), nil
	})
}

// recorder counts the Saves that reach the wrapped store.
type recorder struct {
	raft.LogStore
	mu    sync.Mutex
	saves []bool // the sync flag of each Save
}

func (r *recorder) Save(hs raft.HardState, ents []raft.Entry, snap raft.Snapshot, sync bool) error {
	r.mu.Lock()
	r.saves = append(r.saves, sync)
	r.mu.Unlock()
	return r.LogStore.Save(hs, ents, snap, sync)
}

func (r *recorder) calls() []bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bool(nil), r.saves...)
}

// base saves hard state {Term 2, Commit 3} and entries 1..6 (terms 1 1 1
// 2 2 2), synced.
func base(t *testing.T, s raft.LogStore) storagetest.State {
	t.Helper()
	require.NoError(t, s.Save(raft.HardState{Term: 2, Vote: 1, Commit: 3}, entries(1, 1, 1, 1, 2, 2, 2), raft.Snapshot{}, true))
	return storagetest.Observe(t, s)
}

func TestUnsyncedSaveIsVisibleButNotWritten(t *testing.T) {
	rec := &recorder{LogStore: raft.NewMemoryStorage()}
	s := lazystore.New(rec)
	before := base(t, s)
	require.Equal(t, []bool{true}, rec.calls())

	hs := raft.HardState{Term: 2, Vote: 1, Commit: 7}
	require.NoError(t, s.Save(raft.HardState{}, entries(7, 2), raft.Snapshot{}, false))
	require.NoError(t, s.Save(hs, entries(8, 3), raft.Snapshot{}, false))
	require.Equal(t, []bool{true}, rec.calls(), "an unsynced Save reached the underlying store")
	h, n := s.Pending()
	require.True(t, h)
	require.Equal(t, 2, n)

	st := storagetest.Observe(t, s)
	require.Equal(t, hs, st.HardState)
	require.Equal(t, uint64(8), st.Last)
	require.Equal(t, []uint64{0, 1, 1, 1, 2, 2, 2, 2, 3}, st.Terms)
	require.Equal(t, append(entries(1, 1, 1, 1, 2, 2, 2), entries(7, 2, 3)...), st.Entries)
	require.Equal(t, before, storagetest.Observe(t, rec), "the underlying store changed")

	s.Discard()
	h, n = s.Pending()
	require.False(t, h)
	require.Zero(t, n)
	require.Equal(t, before, storagetest.Observe(t, s), "Discard left unsynced writes")
}

// A process killed with unsynced writes pending: the bbolt file, reopened
// without the wrapper's flush, has none of them.
func TestUnsyncedSaveLostWhenTheProcessDies(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	b := openBolt(t, path)
	s := lazystore.New(b)
	before := base(t, s)
	require.NoError(t, s.Save(raft.HardState{Term: 3, Commit: 6}, entries(7, 3, 3), raft.Snapshot{}, false))
	require.Equal(t, uint64(8), storagetest.Observe(t, s).Last)

	require.NoError(t, b.Close()) // the wrapper is dropped, never flushed
	b = openBolt(t, path)
	defer b.Close()
	require.Equal(t, before, storagetest.Observe(t, b))
}

// A synced Save after unsynced ones writes all of them, in order, with one
// synced Save of the underlying store, and empties the overlay.
func TestSyncedSaveWritesPendingWritesInOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	rec := &recorder{LogStore: openBolt(t, path)}
	s := lazystore.New(rec)
	oracle := raft.NewMemoryStorage()
	both := func(hs raft.HardState, ents []raft.Entry, sync bool) {
		t.Helper()
		require.NoError(t, s.Save(hs, ents, raft.Snapshot{}, sync))
		require.NoError(t, oracle.Save(hs, ents, raft.Snapshot{}, sync))
	}
	both(raft.HardState{Term: 1, Vote: 1, Commit: 1}, entries(1, 1, 1, 1), true)
	both(raft.HardState{Term: 1, Vote: 1, Commit: 2}, entries(4, 1, 1), false)
	both(raft.HardState{}, entries(5, 2, 2, 2), false) // replaces the pending 5
	both(raft.HardState{Term: 2, Vote: 3, Commit: 3}, nil, false)
	both(raft.HardState{}, entries(3, 2), false) // replaces the underlying 3 and everything after
	both(raft.HardState{}, entries(4, 2, 3), false)
	require.Equal(t, []bool{true}, rec.calls())
	both(raft.HardState{Term: 3, Vote: 3, Commit: 4}, entries(6, 3), true)
	require.Equal(t, []bool{true, true}, rec.calls(), "the pending writes and the synced one take one Save")
	h, n := s.Pending()
	require.False(t, h)
	require.Zero(t, n)

	want := storagetest.Observe(t, oracle)
	require.Equal(t, want, storagetest.Observe(t, s))
	require.NoError(t, rec.LogStore.Close()) // a crash now loses nothing
	b := openBolt(t, path)
	defer b.Close()
	require.Equal(t, want, storagetest.Observe(t, b))
}

// An unsynced append that conflicts with entries already in the underlying
// store hides them while the process runs; after a crash they are back,
// since the unsynced write never reached the disk.
func TestConflictingUnsyncedAppend(t *testing.T) {
	for _, crash := range []string{"discard", "reopen"} {
		t.Run(crash, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "raft.db")
			b := openBolt(t, path)
			s := lazystore.New(b)
			before := base(t, s) // terms 1 1 1 2 2 2, commit 3
			require.NoError(t, s.Save(raft.HardState{Term: 3, Commit: 3}, entries(4, 3, 3), raft.Snapshot{}, false))

			st := storagetest.Observe(t, s)
			require.Equal(t, uint64(5), st.Last)
			require.Equal(t, []uint64{0, 1, 1, 1, 3, 3}, st.Terms)
			require.Equal(t, append(entries(1, 1, 1, 1), entries(4, 3, 3)...), st.Entries)
			_, err := s.Term(6)
			require.ErrorIs(t, err, raft.ErrUnavailable, "entry 6 was cut by the unsynced append")
			// Reads across the boundary respect the size limit.
			one := entries(1, 1)[0].Size()
			for k := uint64(1); k <= 5; k++ {
				got, err := s.Entries(2, 6, k*one)
				require.NoError(t, err)
				require.Equal(t, st.Entries[1:1+min(k, 4)], got, "Entries(2, 6, %d entries)", k)
			}
			got, err := s.Entries(4, 6, 0)
			require.NoError(t, err)
			require.Equal(t, entries(4, 3), got)

			if crash == "discard" {
				s.Discard()
				require.Equal(t, before, storagetest.Observe(t, s))
				require.NoError(t, s.Close())
				return
			}
			require.NoError(t, b.Close())
			b = openBolt(t, path)
			defer b.Close()
			require.Equal(t, before, storagetest.Observe(t, b))
		})
	}
}

// An unsynced Save the bbolt store would refuse is refused at once and
// changes nothing, so it cannot make a later synced Save fail.
func TestUnsyncedSaveRefusesInconsistentWrites(t *testing.T) {
	for _, tc := range []struct {
		name string
		hs   raft.HardState
		ents []raft.Entry
		msg  string
	}{
		{"commit beyond the last index", raft.HardState{Term: 2, Commit: 9}, entries(7, 2), "commit index 9 is beyond the last index 7"},
		{"entries not contiguous", raft.HardState{}, []raft.Entry{{Index: 7, Term: 2}, {Index: 9, Term: 2}}, "not contiguous"},
		{"term below the pending entry's", raft.HardState{}, entries(8, 2), "below the previous entry's term 3"},
		{"term below the underlying entry's", raft.HardState{}, entries(5, 1), "below the previous entry's term 2"},
		{"gap after the pending entries", raft.HardState{}, entries(9, 3), "gap"},
		{"cut below the commit index", raft.HardState{}, entries(3, 3), "commit index 6 is beyond the last index 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := lazystore.New(raft.NewMemoryStorage())
			defer s.Close()
			base(t, s)
			require.NoError(t, s.Save(raft.HardState{Term: 3, Commit: 6}, entries(7, 3), raft.Snapshot{}, false))
			before := storagetest.Observe(t, s)
			err := s.Save(tc.hs, tc.ents, raft.Snapshot{}, false)
			require.ErrorContains(t, err, tc.msg)
			require.Equal(t, before, storagetest.Observe(t, s))
			h, n := s.Pending()
			require.True(t, h)
			require.Equal(t, 1, n)
		})
	}
}

// A synced Save that is refused leaves the overlay as it was.
func TestRefusedSyncedSaveKeepsTheOverlay(t *testing.T) {
	s := lazystore.New(openBolt(t, filepath.Join(t.TempDir(), "raft.db")))
	defer s.Close()
	base(t, s)
	_, err := s.CreateSnapshot(2, raft.ConfState{Voters: []uint64{1}}, []byte("two"))
	require.NoError(t, err)
	require.NoError(t, s.Save(raft.HardState{Term: 3, Commit: 6}, entries(7, 3), raft.Snapshot{}, false))
	before := storagetest.Observe(t, s)
	require.ErrorIs(t, s.Save(raft.HardState{}, entries(9, 3), raft.Snapshot{}, true), raft.ErrUnavailable)
	require.ErrorIs(t, s.Save(raft.HardState{Term: 3, Commit: 8}, entries(8, 3), snapshot(2, 1, "old"), true), raft.ErrSnapOutOfDate)
	require.Equal(t, before, storagetest.Observe(t, s))
	h, n := s.Pending()
	require.True(t, h)
	require.Equal(t, 1, n)
	require.Equal(t, uint64(6), storagetest.Observe(t, s.Underlying()).Last)
}

// A snapshot replaces the whole log, pending entries included; a pending
// hard state is written with it unless the Save brings its own.
func TestSaveWithSnapshotWritesThePendingHardState(t *testing.T) {
	rec := &recorder{LogStore: raft.NewMemoryStorage()}
	s := lazystore.New(rec)
	base(t, s)
	hs := raft.HardState{Term: 3, Vote: 2, Commit: 7}
	require.NoError(t, s.Save(hs, entries(7, 3), raft.Snapshot{}, false))
	require.NoError(t, s.Save(raft.HardState{}, entries(11, 3), snapshot(10, 3, "ten"), false))
	require.Equal(t, []bool{true, true}, rec.calls(), "a Save with a snapshot is synced")
	h, n := s.Pending()
	require.False(t, h)
	require.Zero(t, n)
	st := storagetest.Observe(t, s.Underlying())
	require.Equal(t, hs, st.HardState)
	require.Equal(t, uint64(11), st.First)
	require.Equal(t, entries(11, 3), st.Entries)
	require.Equal(t, st, storagetest.Observe(t, s))
}

// CreateSnapshot and Compact write the overlay first, with one synced
// Save, whether or not they then succeed.
func TestCreateSnapshotAndCompactWriteTheOverlay(t *testing.T) {
	rec := &recorder{LogStore: raft.NewMemoryStorage()}
	s := lazystore.New(rec)
	base(t, s)
	require.NoError(t, s.Save(raft.HardState{Term: 3, Commit: 7}, entries(7, 3), raft.Snapshot{}, false))
	snap, err := s.CreateSnapshot(7, raft.ConfState{Voters: []uint64{1}}, []byte("seven"))
	require.NoError(t, err)
	require.Equal(t, uint64(3), snap.Metadata.Term, "the term of the pending entry 7")
	require.Equal(t, []bool{true, true}, rec.calls())

	require.NoError(t, s.Save(raft.HardState{Term: 3, Commit: 8}, entries(8, 3), raft.Snapshot{}, false))
	_, err = s.CreateSnapshot(7, raft.ConfState{}, nil)
	require.ErrorIs(t, err, raft.ErrSnapOutOfDate)
	require.Equal(t, []bool{true, true, true}, rec.calls(), "a failing CreateSnapshot still flushes")

	require.NoError(t, s.Save(raft.HardState{Term: 3, Commit: 9}, entries(9, 3), raft.Snapshot{}, false))
	require.NoError(t, s.Compact(5))
	require.Equal(t, []bool{true, true, true, true}, rec.calls())
	st := storagetest.Observe(t, s)
	require.Equal(t, st, storagetest.Observe(t, s.Underlying()))
	require.Equal(t, uint64(6), st.First)
	require.Equal(t, uint64(9), st.Last)
	require.Equal(t, raft.HardState{Term: 3, Commit: 9}, st.HardState)
}

func TestCloseWritesTheOverlay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	s := lazystore.New(openBolt(t, path))
	base(t, s)
	require.NoError(t, s.Save(raft.HardState{Term: 3, Commit: 7}, entries(7, 3), raft.Snapshot{}, false))
	want := storagetest.Observe(t, s)
	require.NoError(t, s.Close())
	require.ErrorIs(t, s.Save(raft.HardState{Term: 4}, nil, raft.Snapshot{}, false), lazystore.ErrClosed)
	require.ErrorIs(t, s.Close(), lazystore.ErrClosed)
	b := openBolt(t, path)
	defer b.Close()
	require.Equal(t, want, storagetest.Observe(t, b))
}

// The driver's use: Saves (mostly synced, the commit index unsynced) and
// reads on one goroutine, CreateSnapshot and Compact on another, readers
// on a third. Run with -race.
func TestConcurrentSnapshotsDuringSaves(t *testing.T) {
	s := lazystore.New(openBolt(t, filepath.Join(t.TempDir(), "raft.db")))
	defer s.Close()
	const total = 300
	snapReq := make(chan uint64, 1)
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	wg.Add(2)
	go func() { // snapshots
		defer wg.Done()
		for i := range snapReq {
			if _, err := s.CreateSnapshot(i, raft.ConfState{Voters: []uint64{1}}, fmt.Appendf(nil, "at %d", i)); err != nil {
				errs <- err
				return
			}
			if err := s.Compact(i - 5); err != nil {
				errs <- err
				return
			}
		}
	}()
	go func() { // a reader: every entry has term index/10+1
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			first, err := s.FirstIndex()
			if err == nil {
				var last uint64
				if last, err = s.LastIndex(); err == nil && last >= first {
					var ents []raft.Entry
					if ents, err = s.Entries(first, last+1, noLimit); err == nil {
						for _, e := range ents {
							if e.Term != e.Index/10+1 {
								err = fmt.Errorf("entry %d has term %d", e.Index, e.Term)
								break
							}
						}
					}
				}
			}
			if err != nil && !errors.Is(err, raft.ErrCompacted) { // a Compact between FirstIndex and Entries
				errs <- err
				return
			}
		}
	}()
	for i := uint64(1); i <= total; i++ {
		e := raft.Entry{Index: i, Term: i/10 + 1, Data: fmt.Appendf(nil, "%d", i)}
		require.NoError(t, s.Save(raft.HardState{Term: e.Term, Commit: i - 1}, []raft.Entry{e}, raft.Snapshot{}, true))
		require.NoError(t, s.Save(raft.HardState{Term: e.Term, Commit: i}, nil, raft.Snapshot{}, false))
		if i%20 == 0 {
			select {
			case snapReq <- i:
			default:
			}
		}
	}
	close(snapReq)
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.NoError(t, s.Save(raft.HardState{}, nil, raft.Snapshot{}, true))
	st := storagetest.Observe(t, s)
	require.Equal(t, st, storagetest.Observe(t, s.Underlying()))
	require.Equal(t, uint64(total), st.Last)
	require.Equal(t, raft.HardState{Term: total/10 + 1, Commit: total}, st.HardState)
}
