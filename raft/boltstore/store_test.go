package boltstore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/storagetest"
)

func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "raft.db"), Options{})
	require.NoError(t, err)
	return s
}

func TestConformance(t *testing.T) {
	storagetest.RunConformance(t, func(t *testing.T) raft.LogStore { return openTemp(t) })
}

func TestDurability(t *testing.T) {
	storagetest.RunDurability(t, func(dir string) (raft.LogStore, error) {
		return Open(filepath.Join(dir, "raft.db"), Options{})
	})
}

func ents(lo uint64, terms ...uint64) []raft.Entry {
	out := make([]raft.Entry, len(terms))
	for k, t := range terms {
		i := lo + uint64(k)
		out[k] = raft.Entry{Index: i, Term: t, Data: []byte{byte(i), byte(t), 0xAB}}
	}
	return out
}

// Save refuses what would make the file fail Open's checks, and a refused
// Save writes nothing.
func TestSaveRefusesInconsistentWrites(t *testing.T) {
	for _, tc := range []struct {
		name string
		hs   raft.HardState
		ents []raft.Entry
		msg  string
	}{
		{"commit beyond the last index", raft.HardState{Term: 2, Commit: 6}, ents(4, 2, 2), "commit index 6 is beyond the last index 5"},
		{"entries not contiguous", raft.HardState{}, []raft.Entry{{Index: 4, Term: 2}, {Index: 6, Term: 2}}, "not contiguous"},
		{"term below the previous entry's", raft.HardState{}, ents(4, 1), "below the previous entry's term 2"},
		{"decreasing terms in the batch", raft.HardState{}, ents(4, 3, 2), "below the previous entry's term 3"},
		{"gap", raft.HardState{}, ents(5, 2), "gap"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTemp(t)
			defer s.Close()
			require.NoError(t, s.Save(raft.HardState{Term: 2, Commit: 2}, ents(1, 1, 1, 2), raft.Snapshot{}, true))
			before := storagetest.Observe(t, s)
			err := s.Save(tc.hs, tc.ents, raft.Snapshot{}, true)
			require.ErrorContains(t, err, tc.msg)
			require.Equal(t, before, storagetest.Observe(t, s))
			// Nor did it reach the file.
			require.NoError(t, s.Close())
			s2, err := Open(s.Path(), Options{})
			require.NoError(t, err)
			defer s2.Close()
			require.Equal(t, before, storagetest.Observe(t, s2))
		})
	}
}

// bboltTxID reads the transaction id of the newest valid meta page straight
// from the file (through the page cache, as another process would see it).
// Layout (bbolt internal/common): page header 16 bytes, then magic u32,
// version u32, pageSize u32, flags u32, root bucket 16 bytes, freelist u64,
// pgid u64, txid u64; bbolt is little-endian on disk on amd64/arm64.
func bboltTxID(t *testing.T, path string) uint64 {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var best uint64
	readMeta := func(off int64) []byte {
		b := make([]byte, 16+56)
		_, err := f.ReadAt(b, off)
		require.NoError(t, err)
		return b[16:]
	}
	m0 := readMeta(0)
	pageSize := int64(binary.LittleEndian.Uint32(m0[8:]))
	for _, m := range [][]byte{m0, readMeta(pageSize)} {
		if binary.LittleEndian.Uint32(m[0:]) != 0xED0CDAED {
			continue
		}
		if txid := binary.LittleEndian.Uint64(m[48:]); txid > best {
			best = txid
		}
	}
	require.NotZero(t, best, "no valid bbolt meta page in %s", path)
	return best
}

// TestSaveCommitsOneTransactionBeforeReturning checks the part of the
// durability rule that a test can observe: each Save is exactly one bbolt
// write transaction, its meta page is in the file when Save returns, and a
// synced Save committed with bbolt's NoSync off — which makes bbolt's
// commit fdatasync the data pages and then the meta page before returning
// (bbolt tx.Commit: write, fdatasync, writeMeta, fdatasync). That the disk
// honours fdatasync is beyond a unit test.
func TestSaveCommitsOneTransactionBeforeReturning(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	tx0 := bboltTxID(t, s.Path())
	for k, sync := range []bool{true, true, false, true} {
		i := uint64(k*8 + 1)
		batch := ents(i, 1, 1, 1, 1, 1, 1, 1, 1)
		require.NoError(t, s.Save(raft.HardState{Term: 1, Commit: i}, batch, raft.Snapshot{}, sync))
		require.Equal(t, tx0+uint64(k)+1, bboltTxID(t, s.Path()), "Save %d: one committed transaction, on file before Save returned", k)
		require.Equal(t, !sync, s.db.NoSync, "Save %d (sync=%v) committed with bbolt NoSync=%v", k, sync, s.db.NoSync)
	}
	_, err := s.CreateSnapshot(8, raft.ConfState{Voters: []uint64{1}}, nil)
	require.NoError(t, err)
	require.False(t, s.db.NoSync, "CreateSnapshot is always synced")
	require.NoError(t, s.Compact(8))
	require.False(t, s.db.NoSync, "Compact is always synced")
}

func TestOptionsNoSyncNeverSyncs(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "raft.db"), Options{NoSync: true})
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Save(raft.HardState{}, ents(1, 1), raft.Snapshot{}, true))
	require.True(t, s.db.NoSync)
}

func TestBboltOptions(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	require.True(t, s.db.NoFreelistSync)
	require.Equal(t, bolt.FreelistMapType, s.db.FreelistType)
}

func TestClosed(t *testing.T) {
	s := openTemp(t)
	require.NoError(t, s.Save(raft.HardState{}, ents(1, 1), raft.Snapshot{}, true))
	require.NoError(t, s.Close())
	require.ErrorIs(t, s.Close(), ErrClosed)
	require.ErrorIs(t, s.Save(raft.HardState{}, ents(2, 1), raft.Snapshot{}, true), ErrClosed)
	_, err := s.Entries(1, 2, 100)
	require.ErrorIs(t, err, ErrClosed)
	_, err = s.Term(1)
	require.ErrorIs(t, err, ErrClosed)
	_, err = s.FirstIndex()
	require.ErrorIs(t, err, ErrClosed)
	_, err = s.LastIndex()
	require.ErrorIs(t, err, ErrClosed)
	_, _, err = s.InitialState()
	require.ErrorIs(t, err, ErrClosed)
	_, err = s.Snapshot()
	require.ErrorIs(t, err, ErrClosed)
	_, err = s.CreateSnapshot(1, raft.ConfState{}, nil)
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, s.Compact(1), ErrClosed)
}

// A second Open of a file this process already holds waits for the lock
// and then fails; that is not corruption.
func TestOpenLockedIsNotCorrupt(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	start := time.Now()
	_, err := Open(s.Path(), Options{LockTimeout: 50 * time.Millisecond})
	require.ErrorContains(t, err, "locked")
	require.NotErrorIs(t, err, ErrCorrupt)
	require.Less(t, time.Since(start), 10*time.Second)
}

func TestOpenErrorsThatAreNotCorruption(t *testing.T) {
	dir := t.TempDir()
	_, err := Open(dir, Options{})
	require.ErrorContains(t, err, "is a directory")
	require.NotErrorIs(t, err, ErrCorrupt)
	_, err = Open(filepath.Join(dir, "missing", "raft.db"), Options{})
	require.ErrorIs(t, err, os.ErrNotExist)
	require.NotErrorIs(t, err, ErrCorrupt)
}

// An empty file, or a bbolt file without any bucket (a first Open that
// crashed before its first commit), is a new store, not a corrupt one.
func TestOpenInitializesEmptyFiles(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.db")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	bare := filepath.Join(dir, "bare.db")
	db, err := bolt.Open(bare, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	for _, p := range []string{empty, bare} {
		s, err := Open(p, Options{})
		require.NoError(t, err, p)
		require.Equal(t, storagetest.State{First: 1, Terms: []uint64{0}}, storagetest.Observe(t, s))
		require.NoError(t, s.Save(raft.HardState{Term: 1, Commit: 1}, ents(1, 1), raft.Snapshot{}, true))
		require.NoError(t, s.Close())
		s, err = Open(p, Options{})
		require.NoError(t, err, p)
		last, err := s.LastIndex()
		require.NoError(t, err)
		require.Equal(t, uint64(1), last)
		require.NoError(t, s.Close())
	}
}

// The term cache must answer like the file across elections, overwrites
// and compaction; compare it with the terms decoded from the file.
func TestTermCacheMatchesFile(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	check := func() {
		t.Helper()
		var fromFile []uint64
		require.NoError(t, s.db.View(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketEntries).ForEach(func(_, v []byte) error {
				_, term, err := entryTerm(v)
				fromFile = append(fromFile, term)
				return err
			})
		}))
		first, _ := s.FirstIndex()
		var cached []uint64
		for i := first; i <= s.st.last; i++ {
			term, err := s.Term(i)
			require.NoError(t, err)
			cached = append(cached, term)
		}
		require.Equal(t, fromFile, cached)
		for k := 1; k < len(s.st.terms); k++ {
			require.Less(t, s.st.terms[k-1].start, s.st.terms[k].start)
			require.Less(t, s.st.terms[k-1].term, s.st.terms[k].term, "runs of equal terms are merged")
		}
	}
	require.NoError(t, s.Save(raft.HardState{Term: 3}, ents(1, 1, 1, 2, 2, 3, 3, 3), raft.Snapshot{}, false))
	check()
	require.NoError(t, s.Save(raft.HardState{}, ents(4, 4, 4), raft.Snapshot{}, false))
	check()
	require.NoError(t, s.Save(raft.HardState{}, ents(6, 4, 5, 5, 5), raft.Snapshot{}, false))
	check()
	require.NoError(t, s.Save(raft.HardState{Term: 5, Commit: 7}, nil, raft.Snapshot{}, false))
	_, err := s.CreateSnapshot(7, raft.ConfState{Voters: []uint64{1}}, nil)
	require.NoError(t, err)
	for _, i := range []uint64{2, 4, 5, 7} {
		require.NoError(t, s.Compact(i))
		check()
	}
	require.Len(t, s.st.terms, 1)
}

// After a failed commit the store refuses further writes until reopened,
// and the file still holds the last committed state. The failure is
// provoked with bbolt's MaxSize: a commit that must grow the file fails.
func TestFailedCommitIsSticky(t *testing.T) {
	s := openTemp(t)
	require.NoError(t, s.Save(raft.HardState{Term: 1, Commit: 1}, ents(1, 1), raft.Snapshot{}, true))
	before := storagetest.Observe(t, s)
	fi, err := os.Stat(s.Path())
	require.NoError(t, err)
	s.db.MaxSize = int(fi.Size())
	big := []raft.Entry{{Index: 2, Term: 1, Data: make([]byte, 4<<20)}}
	err = s.Save(raft.HardState{}, big, raft.Snapshot{}, true)
	require.ErrorIs(t, err, berrors.ErrMaxSizeReached)
	require.Equal(t, before, storagetest.Observe(t, s), "a failed commit changed the cached state")
	s.db.MaxSize = 0
	err = s.Save(raft.HardState{}, ents(2, 1), raft.Snapshot{}, true)
	require.ErrorContains(t, err, "must be reopened")
	_, err = s.CreateSnapshot(1, raft.ConfState{}, nil)
	require.ErrorContains(t, err, "must be reopened")
	require.NoError(t, s.Close())

	s, err = Open(s.Path(), Options{})
	require.NoError(t, err)
	defer s.Close()
	require.Equal(t, before, storagetest.Observe(t, s))
	require.NoError(t, s.Save(raft.HardState{}, ents(2, 1), raft.Snapshot{}, true))
}

// TestRecentEntriesMatchTheFile checks the in-memory copies of recent
// entries against what a fresh open reads from the file, through appends,
// a conflicting overwrite, size limits and compaction.
func TestRecentEntriesMatchTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	s, err := Open(path, Options{NoSync: true})
	require.NoError(t, err)
	ents := func(lo, hi, term uint64) []raft.Entry {
		var out []raft.Entry
		for i := lo; i < hi; i++ {
			out = append(out, raft.Entry{Index: i, Term: term, Data: []byte(fmt.Sprintf("e%d-t%d", i, term))})
		}
		return out
	}
	require.NoError(t, s.Save(raft.HardState{Term: 1, Commit: 0}, ents(1, 11, 1), raft.Snapshot{}, true))
	require.NoError(t, s.Save(raft.HardState{}, ents(11, 13, 1), raft.Snapshot{}, true))
	require.NoError(t, s.Save(raft.HardState{Term: 2}, ents(6, 9, 2), raft.Snapshot{}, true)) // replaces 6..12
	got, err := s.Entries(1, 9, math.MaxUint64)
	require.NoError(t, err)
	require.Equal(t, append(ents(1, 6, 1), ents(6, 9, 2)...), got)
	_, err = s.Entries(9, 10, math.MaxUint64)
	require.ErrorIs(t, err, raft.ErrUnavailable)
	one := got[0].Size()
	got, err = s.Entries(2, 9, 2*one+one/2)
	require.NoError(t, err)
	require.Len(t, got, 2)
	got, err = s.Entries(5, 9, 0)
	require.NoError(t, err)
	require.Len(t, got, 1, "at least one entry whatever maxSize says")
	got[0].Term = 99 // a caller's copy
	_, err = s.CreateSnapshot(7, raft.ConfState{Voters: []uint64{1}}, []byte("snap"))
	require.NoError(t, err)
	require.NoError(t, s.Compact(4))
	_, err = s.Entries(4, 6, math.MaxUint64)
	require.ErrorIs(t, err, raft.ErrCompacted)
	cached, err := s.Entries(5, 9, math.MaxUint64)
	require.NoError(t, err)
	require.NoError(t, s.Close())

	s, err = Open(path, Options{NoSync: true})
	require.NoError(t, err)
	defer s.Close()
	fromFile, err := s.Entries(5, 9, math.MaxUint64)
	require.NoError(t, err)
	require.Equal(t, fromFile, cached)
	require.Equal(t, uint64(1), fromFile[0].Term)
}

// copyStore copies the closed-or-idle store at path (bbolt file and
// snapshot directory) to a new directory and returns the copy's path: what
// a crash at this moment would leave on disk, as far as committed
// transactions go.
func copyStore(t *testing.T, path string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "raft.db")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(dst, b, 0o600))
	require.NoError(t, os.Mkdir(snapDirPath(dst), 0o700))
	for _, name := range snapFiles(t, path) {
		b, err := os.ReadFile(filepath.Join(snapDirPath(path), name))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(snapDirPath(dst), name), b, 0o600))
	}
	return dst
}

// Compact deletes a long log prefix in chunks of compactChunk entries, each
// its own transaction, releasing the lock between them: a Save goes through
// between two chunks, each chunk leaves a store that reopens, and the end
// result is the same as one big compaction.
func TestCompactInChunks(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	const last = 3*compactChunk + 500
	// Term 1 up to 1500, then 2: the term changes inside a chunk.
	terms := append(slices.Repeat([]uint64{1}, 1500), slices.Repeat([]uint64{2}, last-1500)...)
	all := ents(1, terms...)
	for lo := 0; lo < last; lo += 500 {
		require.NoError(t, s.Save(raft.HardState{Term: 2, Commit: uint64(lo + 500)}, all[lo:lo+500], raft.Snapshot{}, false))
	}
	require.Equal(t, uint64(last), s.st.last)
	_, err := s.CreateSnapshot(last-200, raft.ConfState{Voters: []uint64{1}}, []byte("snap"))
	require.NoError(t, err)

	var firsts []uint64
	var midway string
	next := uint64(last + 1)
	s.hooks.betweenCompactChunks = func() {
		first, err := s.FirstIndex()
		require.NoError(t, err)
		firsts = append(firsts, first)
		if midway == "" {
			midway = copyStore(t, s.Path())
		}
		// The lock is free between chunks: a Save (here on the same
		// goroutine, so a held lock would deadlock) goes through.
		require.NoError(t, s.Save(raft.HardState{Term: 2, Commit: next}, ents(next, 2), raft.Snapshot{}, true))
		next++
	}
	tx0 := bboltTxID(t, s.Path())
	require.NoError(t, s.Compact(last-300))
	require.Equal(t, []uint64{compactChunk + 1, 2*compactChunk + 1, 3*compactChunk + 1}, firsts)
	require.Equal(t, tx0+4+3, bboltTxID(t, s.Path()), "4 chunks and 3 Saves, one transaction each")
	s.hooks.betweenCompactChunks = nil

	st := storagetest.Observe(t, s)
	require.Equal(t, uint64(last-300+1), st.First)
	require.Equal(t, next-1, st.Last)
	require.Equal(t, uint64(2), st.Terms[0], "Term(FirstIndex-1)")
	require.Len(t, st.Entries, int(next-1-(last-300)))
	for k, e := range st.Entries {
		require.Equal(t, ents(st.First+uint64(k), e.Term)[0], e, "entry %d", e.Index)
	}
	require.NoError(t, s.Close())
	s2, err := Open(s.Path(), Options{})
	require.NoError(t, err)
	defer s2.Close()
	require.Equal(t, st, storagetest.Observe(t, s2))

	// The copy taken after the first chunk is a valid store, compacted
	// through that chunk.
	m, err := Open(midway, Options{})
	require.NoError(t, err)
	defer m.Close()
	mid := storagetest.Observe(t, m)
	require.Equal(t, uint64(compactChunk+1), mid.First)
	require.Equal(t, uint64(last), mid.Last)
	require.Equal(t, uint64(1), mid.Terms[0])
}

// A snapshot installed by Save between two chunks of a compaction empties
// the log; the compaction then has nothing left to do.
func TestCompactEndsWhenASnapshotIsInstalledMidway(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	const last = 2*compactChunk + 10
	require.NoError(t, s.Save(raft.HardState{Term: 1, Commit: last}, ents(1, slices.Repeat([]uint64{1}, last)...), raft.Snapshot{}, false))
	_, err := s.CreateSnapshot(last, raft.ConfState{Voters: []uint64{1}}, []byte("local"))
	require.NoError(t, err)
	chunks := 0
	s.hooks.betweenCompactChunks = func() {
		chunks++
		snap := raft.Snapshot{Data: []byte("leader"), Metadata: raft.SnapshotMetadata{Index: last + 50, Term: 2, ConfState: raft.ConfState{Voters: []uint64{1}}}}
		require.NoError(t, s.Save(raft.HardState{Term: 2, Commit: last + 50}, nil, snap, true))
	}
	require.NoError(t, s.Compact(last))
	require.Equal(t, 1, chunks)
	st := storagetest.Observe(t, s)
	require.Equal(t, uint64(last+51), st.First)
	require.Equal(t, []byte("leader"), st.Snapshot.Data)
}

// blockSnapshotWrite makes s's next CreateSnapshot stop after its checks,
// before it writes the data file: the returned channel receives once it
// has stopped, and the returned func lets it go on.
func blockSnapshotWrite(s *Store) (stopped <-chan struct{}, release func()) {
	stop := make(chan struct{}, 1)
	cont := make(chan struct{})
	s.hooks.beforeSnapshotWrite = func() {
		stop <- struct{}{}
		<-cont
	}
	return stop, sync.OnceFunc(func() { close(cont) })
}

// within runs fn on its own goroutine and returns its error, failing the
// test if fn has not returned after a generous bound: fn is expected to be
// quick, and would block forever if it waited for a lock the stopped
// writer held.
func within(t *testing.T, what string, fn func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		require.NoError(t, err, what)
	case <-time.After(10 * time.Second):
		t.Fatalf("%s is blocked behind CreateSnapshot writing its data", what)
	}
}

// waitStopped waits for the writer held by blockSnapshotWrite to stop.
func waitStopped(t *testing.T, stopped <-chan struct{}) {
	t.Helper()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("CreateSnapshot never reached its data write")
	}
}

// While CreateSnapshot writes a large snapshot, Save (the latency path) and
// the readers proceed: the data is written without the store's lock. The
// hook holds CreateSnapshot just before its file write until the Save has
// returned, so the order is deterministic.
func TestSaveProceedsWhileCreateSnapshotWrites(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	require.NoError(t, s.Save(raft.HardState{Term: 1, Commit: 10}, ents(1, slices.Repeat([]uint64{1}, 10)...), raft.Snapshot{}, true))
	big := make([]byte, 32<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	stopped, release := blockSnapshotWrite(s)
	defer release()
	type result struct {
		snap raft.Snapshot
		err  error
	}
	created := make(chan result, 1)
	go func() {
		snap, err := s.CreateSnapshot(8, raft.ConfState{Voters: []uint64{1}}, big)
		created <- result{snap, err}
	}()
	waitStopped(t, stopped)
	within(t, "Save", func() error {
		return s.Save(raft.HardState{Term: 1, Commit: 12}, ents(11, 1, 1), raft.Snapshot{}, true)
	})
	var got []raft.Entry
	var snap raft.Snapshot
	within(t, "reading", func() error {
		var err error
		if got, err = s.Entries(9, 13, noLimit); err != nil {
			return err
		}
		snap, err = s.Snapshot()
		return err
	})
	require.Len(t, got, 4)
	require.True(t, snap.IsEmpty(), "the snapshot is not current before its commit")
	select {
	case r := <-created:
		t.Fatalf("CreateSnapshot returned (%v) while held before its write", r.err)
	default:
	}
	release()
	r := <-created
	require.NoError(t, r.err)
	require.Equal(t, uint64(8), r.snap.Metadata.Index)
	snap, err := s.Snapshot()
	require.NoError(t, err)
	require.True(t, bytes.Equal(big, snap.Data), "snapshot data read back differs")
	last, err := s.LastIndex()
	require.NoError(t, err)
	require.Equal(t, uint64(12), last)
}

// A snapshot installed from the leader while CreateSnapshot writes its
// data wins: CreateSnapshot then fails with ErrSnapOutOfDate and removes
// its file, even when both are at the same index and term (their files
// have different names).
func TestSnapshotInstalledWhileCreateSnapshotWrites(t *testing.T) {
	for _, at := range []uint64{8, 9, 20} {
		t.Run(fmt.Sprintf("installed at %d", at), func(t *testing.T) {
			s := openTemp(t)
			defer s.Close()
			require.NoError(t, s.Save(raft.HardState{Term: 1, Commit: 10}, ents(1, slices.Repeat([]uint64{1}, 10)...), raft.Snapshot{}, true))
			stopped, release := blockSnapshotWrite(s)
			defer release()
			created := make(chan error, 1)
			go func() {
				_, err := s.CreateSnapshot(8, raft.ConfState{Voters: []uint64{1}}, []byte("local"))
				created <- err
			}()
			waitStopped(t, stopped)
			leader := raft.Snapshot{Data: []byte("from the leader"), Metadata: raft.SnapshotMetadata{Index: at, Term: 1, ConfState: raft.ConfState{Voters: []uint64{1, 2}}}}
			within(t, "Save of a snapshot", func() error {
				return s.Save(raft.HardState{Term: 1, Commit: at}, nil, leader, true)
			})
			release()
			require.ErrorIs(t, <-created, raft.ErrSnapOutOfDate)
			snap, err := s.Snapshot()
			require.NoError(t, err)
			require.Equal(t, leader, snap)
			require.Equal(t, []string{s.st.snap.file}, snapFiles(t, s.Path()), "only the current snapshot's file is left")
			require.NoError(t, s.Close())
			s2, err := Open(s.Path(), Options{})
			require.NoError(t, err)
			defer s2.Close()
			snap, err = s2.Snapshot()
			require.NoError(t, err)
			require.Equal(t, leader, snap)
		})
	}
}

// A snapshot's replacement, created or installed, deletes the replaced
// snapshot's file once the new one is committed; a refused snapshot leaves
// no file behind.
func TestReplacedSnapshotFilesAreDeleted(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	require.NoError(t, s.Save(raft.HardState{Term: 1, Commit: 10}, ents(1, slices.Repeat([]uint64{1}, 10)...), raft.Snapshot{}, true))
	require.Empty(t, snapFiles(t, s.Path()))
	cs := raft.ConfState{Voters: []uint64{1}}
	for i := uint64(3); i <= 9; i += 3 {
		_, err := s.CreateSnapshot(i, cs, fmt.Appendf(nil, "at %d", i))
		require.NoError(t, err)
		require.Equal(t, []string{s.st.snap.file}, snapFiles(t, s.Path()))
	}
	_, err := s.CreateSnapshot(5, cs, []byte("old"))
	require.ErrorIs(t, err, raft.ErrSnapOutOfDate)
	require.ErrorIs(t, s.Save(raft.HardState{}, nil, raft.Snapshot{Data: []byte("old"), Metadata: raft.SnapshotMetadata{Index: 9, Term: 1}}, true), raft.ErrSnapOutOfDate)
	// Refused inside the transaction, after the file was written.
	err = s.Save(raft.HardState{Term: 2, Commit: 40}, nil, raft.Snapshot{Data: []byte("x"), Metadata: raft.SnapshotMetadata{Index: 30, Term: 2}}, true)
	require.ErrorContains(t, err, "commit index 40 is beyond the last index 30")
	require.Equal(t, []string{s.st.snap.file}, snapFiles(t, s.Path()))
	require.NoError(t, s.Save(raft.HardState{Term: 2, Commit: 30}, nil, raft.Snapshot{Data: []byte("leader"), Metadata: raft.SnapshotMetadata{Index: 30, Term: 2}}, true))
	require.Equal(t, []string{s.st.snap.file}, snapFiles(t, s.Path()))
	require.Equal(t, snapFileName(2, 30, s.snapSeq.Load()), s.st.snap.file)
}

// Open removes what a crash can leave in the snapshot directory (a
// temporary file, a snapshot file whose metadata never committed, the
// replaced snapshot's file) and nothing else, and numbers new files above
// every file it found.
func TestOpenRemovesLeftoverSnapshotFiles(t *testing.T) {
	s := openTemp(t)
	require.NoError(t, s.Save(raft.HardState{Term: 1, Commit: 10}, ents(1, slices.Repeat([]uint64{1}, 10)...), raft.Snapshot{}, true))
	_, err := s.CreateSnapshot(5, raft.ConfState{Voters: []uint64{1}}, []byte("five"))
	require.NoError(t, err)
	current := s.st.snap.file
	path := s.Path()
	require.NoError(t, s.Close())
	dir := snapDirPath(path)
	leftovers := []string{
		snapFileName(1, 8, 7) + tmpSuffix, // crash while writing
		snapFileName(1, 9, 90),            // crash before its metadata committed
		snapFileName(1, 3, 1),             // crash before the replaced file was deleted
	}
	for _, name := range leftovers {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("leftover"), 0o600))
	}
	foreign := []string{"README", "1-2.snap", strings.ToUpper(snapFileName(1, 3, 2))}
	for _, name := range foreign {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("not ours"), 0o600))
	}
	s, err = Open(path, Options{})
	require.NoError(t, err)
	defer s.Close()
	require.ElementsMatch(t, append([]string{current}, foreign...), snapFiles(t, path))
	snap, err := s.Snapshot()
	require.NoError(t, err)
	require.Equal(t, []byte("five"), snap.Data)
	_, err = s.CreateSnapshot(9, raft.ConfState{Voters: []uint64{1}}, []byte("nine"))
	require.NoError(t, err)
	require.Equal(t, snapFileName(1, 9, 91), s.st.snap.file, "numbered above the leftovers")
}

// A fresh store creates its snapshot directory; a store whose directory
// went missing while it had no snapshot just gets a new one.
func TestOpenCreatesTheSnapshotDirectory(t *testing.T) {
	s := openTemp(t)
	fi, err := os.Stat(snapDirPath(s.Path()))
	require.NoError(t, err)
	require.True(t, fi.IsDir())
	require.NoError(t, s.Close())
	require.NoError(t, os.Remove(snapDirPath(s.Path())))
	s, err = Open(s.Path(), Options{})
	require.NoError(t, err)
	defer s.Close()
	require.DirExists(t, snapDirPath(s.Path()))
}
