package boltstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/raftkv/raftkv/internal/bugs"
	"github.com/raftkv/raftkv/raft"
)

var (
	// ErrCorrupt is wrapped by every error that reports a store whose file
	// cannot be trusted: not a bbolt file, truncated, a missing or unknown
	// format version, a CRC mismatch, a gap in the log, or metadata that
	// contradicts the log. The message names what is wrong and the path.
	ErrCorrupt = errors.New("boltstore: corrupt store")
	// ErrNoState is returned by Open with Options.RequireState when the
	// store holds nothing: the file is missing or empty (0 bytes), or it
	// holds no entry, hard state or snapshot. Nothing was written.
	ErrNoState = errors.New("boltstore: store holds no raft state")
	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("boltstore: store closed")
)

// FormatVersion is the on-disk format this package writes and reads. Open
// refuses a file with any other version rather than guess. Version 1 kept
// the snapshot data inside the bbolt file; version 2 keeps it in a file of
// its own (see the package documentation). There is no migration.
const FormatVersion uint32 = 2

// DefaultLockTimeout is how long Open waits for another process to release
// the file lock when Options.LockTimeout is zero.
const DefaultLockTimeout = time.Second

var (
	bucketEntries = []byte("entries")
	bucketMeta    = []byte("meta")

	keyVersion   = []byte("version")
	keyHardState = []byte("hardstate")
	keyMarker    = []byte("marker")
	keySnapMeta  = []byte("snapmeta")
)

// Options tunes a Store. The zero value is the safe default.
type Options struct {
	// NoSync makes every write skip fsync whatever Save's sync argument
	// says. A crash of the process loses nothing, but a crash of the
	// machine may lose or corrupt the file (bbolt may write its meta page
	// before the data it points to). For tests and CPU benchmarks only.
	NoSync bool
	// LockTimeout bounds how long Open waits for the file lock held by
	// another process; zero means DefaultLockTimeout.
	LockTimeout time.Duration
	// InitialMmapSize is passed to bbolt: a large enough map avoids the
	// remaps (which block readers) while the file grows.
	InitialMmapSize int
	// RequireState makes Open refuse (ErrNoState), before writing
	// anything, a store that holds nothing, instead of creating an empty
	// one. The caller knows the node has state (kvservice: its identity
	// file says it is a member): an empty log then means the log was lost,
	// and a node that starts with an empty log votes for candidates that
	// miss entries it acknowledged.
	RequireState bool
}

// state is the in-memory copy of everything but the entries' data. It is
// replaced as a whole after a write transaction commits, so readers see
// either the old or the new store, never half a Save.
type state struct {
	hs   raft.HardState
	snap snapMeta // snap.Index == 0: no snapshot
	// mark is the entry just before FirstIndex. Invariant:
	// mark.index <= snap.Index <= last.
	mark  marker
	last  uint64
	terms termRuns // the terms of [mark.index+1, last]
}

// empty reports whether the store holds nothing at all: no entry (ever:
// the compaction marker is at 0), no hard state, no snapshot.
func (st *state) empty() bool {
	return st.last == 0 && st.mark.index == 0 && st.snap.Index == 0 && st.hs == (raft.HardState{})
}

func (st *state) termAt(i uint64) uint64 {
	if i == st.mark.index {
		return st.mark.term
	}
	return st.terms.term(i)
}

// Store is a raft.LogStore kept in a bbolt file plus a directory of
// snapshot data files. It is safe for concurrent use: writers (Save,
// CreateSnapshot, Compact) hold the store's write lock only while their
// transaction commits (and fsyncs), so readers and other writers wait for
// at most one small commit and always see a committed state. Snapshot data
// is written to its file before the lock is taken, and Compact commits in
// chunks of at most compactChunk entries, releasing the lock between them.
// FirstIndex, LastIndex, Term and InitialState are answered from memory;
// Entries reads one bbolt read transaction, Snapshot one file.
type Store struct {
	path    string
	snapDir string
	noSync  bool
	// snapSeq numbers the snapshot files this store writes (see
	// snapFileName); Open starts it above every number in the directory.
	snapSeq atomic.Uint64
	hooks   testHooks

	mu sync.RWMutex
	db *bolt.DB // nil once closed
	st state
	// failed is set when a commit failed: after a failed fsync the file's
	// contents are unknown (the kernel may have dropped the dirty pages),
	// so every later write fails too instead of building on them.
	failed error
	// recent holds copies of the newest entries written, contiguous and
	// ending at st.last (or empty), so that raft's reads of entries it has
	// just committed (every Ready's CommittedEntries) skip a bbolt read
	// transaction and the decoding. Entries hands out copies of the
	// structs; the Data they share is never modified.
	recent []raft.Entry
}

// recentCap is how many entries recent keeps: more than a Ready commits
// at once under heavy load.
const recentCap = 4096

// compactChunk is the most entries one of Compact's transactions deletes:
// a Save waiting for the lock waits for at most this many deletions (and
// one commit).
const compactChunk = 1000

// testHooks lets a test stop a writer at a chosen point, with no lock
// held. All nil outside tests; set before the store is shared.
type testHooks struct {
	// beforeSnapshotWrite runs in CreateSnapshot after its checks, before
	// the data file is written.
	beforeSnapshotWrite func()
	// betweenCompactChunks runs in Compact after each chunk but the last.
	betweenCompactChunks func()
}

var _ raft.LogStore = (*Store)(nil)

// Path returns the file the store was opened from.
func (s *Store) Path() string { return s.path }

// InitialState returns the saved hard state and the ConfState of the
// current snapshot.
func (s *Store) InitialState() (raft.HardState, raft.ConfState, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return raft.HardState{}, raft.ConfState{}, ErrClosed
	}
	return s.st.hs, cloneConfState(s.st.snap.ConfState), nil
}

// FirstIndex returns the index of the first entry that Entries can return.
func (s *Store) FirstIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return 0, ErrClosed
	}
	return s.st.mark.index + 1, nil
}

// LastIndex returns the index of the last entry (the snapshot's index if
// the log is empty after it).
func (s *Store) LastIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return 0, ErrClosed
	}
	return s.st.last, nil
}

// Term returns the term of entry i, for i in [FirstIndex()-1, LastIndex()].
func (s *Store) Term(i uint64) (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	switch {
	case s.db == nil:
		return 0, ErrClosed
	case i < s.st.mark.index:
		return 0, raft.ErrCompacted
	case i > s.st.last:
		return 0, raft.ErrUnavailable
	}
	return s.st.termAt(i), nil
}

// Entries returns the entries in [lo, hi), as many as fit in maxSize bytes
// (by Entry.Size) but at least one. Every entry's CRC is checked as it is
// read; a mismatch is returned as an error wrapping ErrCorrupt.
func (s *Store) Entries(lo, hi, maxSize uint64) ([]raft.Entry, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	switch {
	case s.db == nil:
		return nil, ErrClosed
	case lo <= s.st.mark.index:
		return nil, raft.ErrCompacted
	case hi > s.st.last+1:
		return nil, fmt.Errorf("boltstore: entries [%d, %d) beyond last index %d: %w", lo, hi, s.st.last, raft.ErrUnavailable)
	case lo >= hi:
		return nil, nil
	}
	if r := s.recent; len(r) > 0 && lo >= r[0].Index && hi <= r[len(r)-1].Index+1 {
		return limitSize(r[lo-r[0].Index:hi-r[0].Index], maxSize), nil
	}
	out := make([]raft.Entry, 0, min(hi-lo, 256))
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEntries).Cursor()
		var size uint64
		i := lo
		for k, v := c.Seek(key(lo)); i < hi; k, v = c.Next() {
			if idx, ok := keyIndex(k); !ok || idx != i {
				return fmt.Errorf("%w: %s: entry %d missing from the entries bucket", ErrCorrupt, s.path, i)
			}
			e, err := decodeEntry(v)
			if err != nil {
				return fmt.Errorf("%w: %s: entry %d: %w", ErrCorrupt, s.path, i, err)
			}
			if e.Index != i {
				return fmt.Errorf("%w: %s: entry under key %d claims index %d", ErrCorrupt, s.path, i, e.Index)
			}
			size += e.Size()
			if len(out) > 0 && size > maxSize {
				break
			}
			out = append(out, e)
			i++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Snapshot returns the current snapshot (empty if there is none), its data
// read from its file and checked against the length and CRC recorded with
// its metadata (a mismatch or a missing file is an error wrapping
// ErrCorrupt).
func (s *Store) Snapshot() (raft.Snapshot, error) {
	s.mu.RLock()
	if s.db == nil {
		s.mu.RUnlock()
		return raft.Snapshot{}, ErrClosed
	}
	sm := s.st.snap
	if sm.Index == 0 {
		s.mu.RUnlock()
		return raft.Snapshot{}, nil
	}
	// Opened under the read lock: a writer that replaces the snapshot
	// deletes this file only after it has held the write lock, and an open
	// file can still be read after it is unlinked.
	f, err := openSnapFile(s.snapDir, sm)
	s.mu.RUnlock()
	if err != nil {
		return raft.Snapshot{}, err
	}
	defer f.Close()
	data, err := readSnapFile(f, sm)
	if err != nil {
		return raft.Snapshot{}, err
	}
	snap := raft.Snapshot{Metadata: sm.SnapshotMetadata}
	snap.Metadata.ConfState = cloneConfState(sm.ConfState)
	if len(data) > 0 {
		snap.Data = data
	}
	return snap, nil
}

// Save writes snap (if not empty), then ents, then hs (if not empty) in ONE
// bbolt write transaction, so a crash leaves either all of it or none. A
// snapshot's data is first written to a file of its own (fsynced unless
// Options.NoSync, whatever sync says: a later synced commit would make the
// metadata that references it durable), before the store's lock is taken;
// the transaction records its metadata and file name, and the replaced
// snapshot's file is deleted after the commit.
//
// With sync Save returns only after that transaction has committed, and
// bbolt's commit fdatasyncs the data pages and then the meta page before it
// returns; so when Save returns nil the write is durable. (bbolt's db.Batch
// is deliberately not used: its coalescing delay would sit on the commit
// latency path, and the driver already batches a whole Ready per Save.)
//
// A snapshot at or below the current one fails with raft.ErrSnapOutOfDate; a
// newer one replaces the whole log (the log then starts after it). Entries
// at or below FirstIndex()-1 are ignored (already in the snapshot); an
// entry at an index the store holds replaces it and every later entry.
// Entries must be contiguous, start at most at LastIndex()+1 (else an error
// wrapping raft.ErrUnavailable), and have non-decreasing terms; a hard
// state whose commit index is beyond the resulting last index is refused.
// On any error nothing is written.
func (s *Store) Save(hs raft.HardState, ents []raft.Entry, snap raft.Snapshot, sync bool) error {
	var sm snapMeta
	if !snap.IsEmpty() {
		// Refuse an out-of-date snapshot before writing its data.
		s.mu.RLock()
		err := s.writable()
		cur := s.st.snap.Index
		s.mu.RUnlock()
		if err != nil {
			return err
		}
		if snap.Metadata.Index <= cur {
			return raft.ErrSnapOutOfDate
		}
		name := snapFileName(snap.Metadata.Term, snap.Metadata.Index, s.snapSeq.Add(1))
		if err := writeSnapFile(s.snapDir, name, snap.Data, s.noSync); err != nil {
			return err
		}
		sm = newSnapMeta(snap, name)
	}
	obsolete, err := s.save(hs, ents, snap, sm, sync)
	s.removeSnapFile(obsolete)
	return err
}

// save is Save once the snapshot's data, if any, is in sm.file. It returns
// the snapshot file nothing references any more: the replaced one after a
// commit, sm.file if nothing was committed, none if the commit failed (the
// file then may or may not be referenced; the next Open decides).
func (s *Store) save(hs raft.HardState, ents []raft.Entry, snap raft.Snapshot, sm snapMeta, sync bool) (obsolete string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(); err != nil {
		return sm.file, err
	}
	if hs.IsEmpty() && len(ents) == 0 && snap.IsEmpty() {
		return "", nil
	}
	st := s.st
	st.terms = st.terms.clone()
	err = s.update(sync, func(tx *bolt.Tx) error {
		if !snap.IsEmpty() {
			if err := st.applySnapshot(tx, sm); err != nil {
				return err
			}
		}
		if err := st.appendEntries(tx, ents); err != nil {
			return err
		}
		if !hs.IsEmpty() {
			if err := tx.Bucket(bucketMeta).Put(keyHardState, encodeHardState(hs)); err != nil {
				return err
			}
			st.hs = hs
		}
		if st.hs.Commit > st.last {
			return fmt.Errorf("boltstore: commit index %d is beyond the last index %d", st.hs.Commit, st.last)
		}
		return nil
	})
	if err != nil {
		if s.failed != nil {
			return "", err
		}
		return sm.file, err
	}
	if !snap.IsEmpty() {
		obsolete = s.st.snap.file
	}
	s.st = st
	s.remember(ents, !snap.IsEmpty())
	return obsolete, nil
}

// removeSnapFile deletes a snapshot file that nothing references (none if
// name is empty). A failure is ignored: the file is harmless, and the next
// Open removes it.
func (s *Store) removeSnapFile(name string) {
	if name != "" {
		_ = os.Remove(filepath.Join(s.snapDir, name))
	}
}

// limitSize copies the longest prefix of ents whose total size is within
// maxSize, and at least one entry (the raft.Storage contract).
func limitSize(ents []raft.Entry, maxSize uint64) []raft.Entry {
	n, size := 0, uint64(0)
	for n < len(ents) {
		size += ents[n].Size()
		if n > 0 && size > maxSize {
			break
		}
		n++
	}
	return append([]raft.Entry(nil), ents[:n]...)
}

// remember updates recent after a committed Save of ents (which replace
// any entries from ents[0].Index on).
func (s *Store) remember(ents []raft.Entry, snapshot bool) {
	if snapshot {
		s.recent = nil
	}
	if len(ents) == 0 {
		return
	}
	first := ents[0].Index
	r := s.recent
	if len(r) > 0 && first > r[0].Index && first <= r[len(r)-1].Index+1 {
		// In place (a conflicting suffix is overwritten): Entries only
		// hands out copies.
		r = append(r[:first-r[0].Index], ents...)
	} else {
		r = append([]raft.Entry(nil), ents...)
	}
	if len(r) > 2*recentCap {
		r = append([]raft.Entry(nil), r[len(r)-recentCap:]...)
	}
	s.recent = r
}

// applySnapshot records the snapshot sm, whose data is already in its
// file, and empties the log.
func (st *state) applySnapshot(tx *bolt.Tx, sm snapMeta) error {
	if sm.Index <= st.snap.Index {
		return raft.ErrSnapOutOfDate
	}
	// Dropping and recreating the bucket frees its pages in bulk instead of
	// deleting the keys one by one.
	if err := tx.DeleteBucket(bucketEntries); err != nil {
		return err
	}
	if _, err := tx.CreateBucket(bucketEntries); err != nil {
		return err
	}
	mark := marker{index: sm.Index, term: sm.Term}
	meta := tx.Bucket(bucketMeta)
	for _, kv := range [...]struct{ k, v []byte }{
		{keySnapMeta, encodeSnapMeta(sm)},
		{keyMarker, encodeMarker(mark)},
	} {
		if err := meta.Put(kv.k, kv.v); err != nil {
			return err
		}
	}
	st.snap = sm
	st.mark = mark
	st.last = mark.index
	st.terms = nil
	return nil
}

func (st *state) appendEntries(tx *bolt.Tx, ents []raft.Entry) error {
	if len(ents) == 0 {
		return nil
	}
	for i := 1; i < len(ents); i++ {
		if ents[i].Index != ents[i-1].Index+1 {
			return fmt.Errorf("boltstore: entries not contiguous: index %d follows %d", ents[i].Index, ents[i-1].Index)
		}
	}
	first := st.mark.index + 1
	if ents[len(ents)-1].Index < first {
		return nil // all already compacted into the snapshot
	}
	if ents[0].Index < first {
		ents = ents[first-ents[0].Index:]
	}
	start := ents[0].Index
	if start > st.last+1 {
		return fmt.Errorf("boltstore: entries start at %d, leaving a gap after last index %d: %w", start, st.last, raft.ErrUnavailable)
	}
	prev := st.termAt(start - 1)
	for _, e := range ents {
		if e.Term < prev {
			return fmt.Errorf("boltstore: entry %d has term %d, below the previous entry's term %d", e.Index, e.Term, prev)
		}
		prev = e.Term
	}
	b := tx.Bucket(bucketEntries)
	// The log is appended at its end, so full pages are best; see
	// bbolt's documentation of FillPercent.
	b.FillPercent = 1.0
	// cachedTo is 0 but under bugs.StoreStaleTermCache: entries at or
	// below it are taken as already in the term cache.
	cachedTo := uint64(0)
	if start <= st.last {
		// The leader overwrote a conflicting suffix (Raft §5.3).
		for i := start; i <= st.last; i++ {
			if err := b.Delete(key(i)); err != nil {
				return err
			}
		}
		if bugs.On(bugs.StoreStaleTermCache) {
			// Planted bug (bugs.StoreStaleTermCache): the term cache is
			// kept like an append-only log: the replaced entries are
			// deleted from the file but their terms stay cached, and the
			// new entries at those indexes look already cached. Term
			// answers with the old terms (until the store is reopened),
			// so the core's log-matching checks compare against entries
			// that are gone.
			bugs.Fire(bugs.StoreStaleTermCache)
			cachedTo = st.last
		} else {
			st.terms = st.terms.truncateFrom(start)
		}
	}
	total := 0
	for _, e := range ents {
		total += entryLen(e)
	}
	// bbolt keeps references to the values until the commit, so each
	// needs its own bytes; one allocation holds them all.
	buf := make([]byte, total)
	for _, e := range ents {
		n := entryLen(e)
		v := putEntry(buf[:n:n], e)
		buf = buf[n:]
		if err := b.Put(key(e.Index), v); err != nil {
			return err
		}
		if e.Index > cachedTo {
			st.terms = st.terms.appendTerm(e.Index, e.Term)
		}
	}
	st.last = ents[len(ents)-1].Index
	return nil
}

// CreateSnapshot records a snapshot of the application state at index i
// (in (current snapshot index, LastIndex()]) with configuration cs, and
// fsyncs it (unless Options.NoSync). It does not compact the log.
//
// The data goes to a file of its own, written and fsynced without holding
// the store's lock: Saves and reads go on meanwhile. Only then does it take
// the lock, check again (a snapshot installed by Save in the meantime makes
// this one raft.ErrSnapOutOfDate, and its file is removed) and commit the
// small metadata record; the replaced snapshot's file is deleted after the
// lock is released.
func (s *Store) CreateSnapshot(i uint64, cs raft.ConfState, data []byte) (raft.Snapshot, error) {
	s.mu.RLock()
	term, err := s.snapshotTerm(i)
	s.mu.RUnlock()
	if err != nil {
		return raft.Snapshot{}, err
	}
	snap := raft.Snapshot{
		Data:     data,
		Metadata: raft.SnapshotMetadata{Index: i, Term: term, ConfState: cloneConfState(cs)},
	}
	name := snapFileName(term, i, s.snapSeq.Add(1))
	if h := s.hooks.beforeSnapshotWrite; h != nil {
		h()
	}
	if err := writeSnapFile(s.snapDir, name, data, s.noSync); err != nil {
		return raft.Snapshot{}, err
	}
	obsolete, err := s.commitSnapshot(newSnapMeta(snap, name))
	s.removeSnapFile(obsolete)
	if err != nil {
		return raft.Snapshot{}, err
	}
	return snap, nil
}

// snapshotTerm checks that a snapshot can be created at i and returns the
// log's term there. The caller holds s.mu.
func (s *Store) snapshotTerm(i uint64) (uint64, error) {
	if err := s.writable(); err != nil {
		return 0, err
	}
	if i <= s.st.snap.Index {
		return 0, raft.ErrSnapOutOfDate
	}
	if i > s.st.last {
		return 0, fmt.Errorf("boltstore: snapshot index %d is beyond last index %d: %w", i, s.st.last, raft.ErrUnavailable)
	}
	return s.st.termAt(i), nil
}

// commitSnapshot makes sm, whose data file is written, the current
// snapshot if it still may be. It returns the snapshot file nothing
// references any more, like save.
func (s *Store) commitSnapshot(sm snapMeta) (obsolete string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	term, err := s.snapshotTerm(sm.Index)
	if err != nil {
		return sm.file, err
	}
	if term != sm.Term {
		return sm.file, fmt.Errorf("boltstore: snapshot at %d: the log's term there changed from %d to %d while its data was written", sm.Index, sm.Term, term)
	}
	err = s.update(true, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keySnapMeta, encodeSnapMeta(sm))
	})
	if err != nil {
		if s.failed != nil {
			return "", err
		}
		return sm.file, err
	}
	obsolete = s.st.snap.file
	s.st.snap = sm
	return obsolete, nil
}

// Compact discards the entries up to and including compactIndex, which must
// be in [FirstIndex(), current snapshot index] (raft.ErrCompacted below,
// an error wrapping raft.ErrUnavailable above). It deletes at most
// compactChunk entries per transaction and releases the store's lock
// between them, so a concurrent Save waits for one small chunk, not the
// whole compaction. Each chunk's commit moves the compaction marker to the
// chunk's last entry and leaves a valid store (a crash in the middle leaves
// the log compacted part of the way), and each is fsynced unless
// Options.NoSync: an unsynced bbolt commit may leave the file pointing at
// unwritten pages after a machine crash, which Open would then refuse.
func (s *Store) Compact(compactIndex uint64) error {
	for first := true; ; first = false {
		done, err := s.compactChunk(compactIndex, first)
		if err != nil || done {
			return err
		}
		if h := s.hooks.betweenCompactChunks; h != nil {
			h()
		}
	}
}

// compactChunk discards the next at most compactChunk entries up to
// compactIndex in one transaction and reports whether the log is now
// compacted through compactIndex. first says whether this is the
// compaction's first chunk, which checks the arguments; later ones find
// their work done if a snapshot installed meanwhile emptied the log.
func (s *Store) compactChunk(compactIndex uint64, first bool) (done bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(); err != nil {
		return false, err
	}
	switch {
	case first && compactIndex <= s.st.mark.index:
		return false, raft.ErrCompacted
	case first && compactIndex > s.st.snap.Index:
		return false, fmt.Errorf("boltstore: compact index %d is above the snapshot index %d: %w", compactIndex, s.st.snap.Index, raft.ErrUnavailable)
	case compactIndex <= s.st.mark.index:
		return true, nil
	case compactIndex > s.st.last:
		return false, fmt.Errorf("boltstore: compact index %d is beyond the last index %d (the log was cut while it was compacted): %w", compactIndex, s.st.last, raft.ErrUnavailable)
	}
	end := min(compactIndex, s.st.mark.index+compactChunk)
	mark := marker{index: end, term: s.st.termAt(end)}
	err = s.update(true, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEntries)
		for i := s.st.mark.index + 1; i <= end; i++ {
			if err := b.Delete(key(i)); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keyMarker, encodeMarker(mark))
	})
	if err != nil {
		return false, err
	}
	s.st.mark = mark
	s.st.terms = s.st.terms.compactTo(end+1, s.st.last)
	if r := s.recent; len(r) > 0 && r[0].Index <= end {
		if end >= r[len(r)-1].Index {
			s.recent = nil
		} else {
			s.recent = r[end+1-r[0].Index:]
		}
	}
	return end == compactIndex, nil
}

// Close closes the bbolt file. Later calls return ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return ErrClosed
	}
	err := s.db.Close()
	s.db = nil
	if err != nil {
		return fmt.Errorf("boltstore: close %s: %w", s.path, err)
	}
	return nil
}

func (s *Store) writable() error {
	if s.db == nil {
		return ErrClosed
	}
	return s.failed
}

// update runs fn in one write transaction and commits it, fsynced when
// sync is true and Options.NoSync is false. The caller holds s.mu, which
// is also what makes setting db.NoSync per transaction safe: no other
// transaction can be committing.
func (s *Store) update(sync bool, fn func(*bolt.Tx) error) error {
	s.db.NoSync = s.noSync || !sync
	tx, err := s.db.Begin(true)
	if err != nil {
		return fmt.Errorf("boltstore: begin write: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		s.failed = fmt.Errorf("boltstore: %s: an earlier commit failed, the store must be reopened: %w", s.path, err)
		return fmt.Errorf("boltstore: commit: %w", err)
	}
	return nil
}
