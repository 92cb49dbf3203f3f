package lazystore

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/raftkv/raftkv/raft"
)

// ErrClosed is returned by writes after Close.
var ErrClosed = errors.New("lazystore: store closed")

// Store is a raft.LogStore that holds unsynced writes in memory on top of
// an underlying store until the next synced write (see the package
// documentation).
type Store struct {
	under raft.LogStore

	// mu guards the overlay and closed, and is held (for writing) across
	// every Save of the underlying store, so that readers see the overlay
	// and the underlying store agree.
	mu sync.RWMutex
	// hs is the pending hard state (empty: none).
	hs raft.HardState
	// ents are the pending entries: contiguous, and they replace the
	// underlying store's entries from ents[0].Index on. Invariant:
	// ents[0].Index <= the underlying LastIndex()+1, because every Save of
	// the underlying store (the only writes that can shorten it) empties
	// the overlay first. The backing array is only ever written under mu
	// held for writing and is never handed out.
	ents   []raft.Entry
	closed bool
}

var _ raft.LogStore = (*Store)(nil)

// New returns a Store that keeps unsynced writes to under in memory. The
// Store owns under from then on: Close closes it.
func New(under raft.LogStore) *Store {
	return &Store{under: under}
}

// Underlying returns the wrapped store. Reading it directly shows what
// would survive a crash.
func (s *Store) Underlying() raft.LogStore { return s.under }

// Pending reports what the overlay holds: whether a hard state, and how
// many entries, are waiting for the next synced write.
func (s *Store) Pending() (hardState bool, entries int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return !s.hs.IsEmpty(), len(s.ents)
}

// Discard forgets every unsynced write, as a crash of the process would:
// the store then shows the underlying store alone.
func (s *Store) Discard() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clear()
}

func (s *Store) clear() {
	s.hs = raft.HardState{}
	s.ents = nil
}

// pendingStart is the index the pending entries start at. The caller holds
// mu and len(s.ents) > 0.
func (s *Store) pendingStart() uint64 { return s.ents[0].Index }

// pendingLast is the index of the last pending entry. The caller holds mu
// and len(s.ents) > 0.
func (s *Store) pendingLast() uint64 { return s.ents[len(s.ents)-1].Index }

// InitialState returns the pending hard state if there is one, else the
// underlying store's, and the underlying snapshot's ConfState (snapshots
// are never pending).
func (s *Store) InitialState() (raft.HardState, raft.ConfState, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	hs, cs, err := s.under.InitialState()
	if err != nil {
		return hs, cs, err
	}
	if !s.hs.IsEmpty() {
		hs = s.hs
	}
	return hs, cs, nil
}

// FirstIndex returns the underlying store's first index: compaction is
// always synced.
func (s *Store) FirstIndex() (uint64, error) {
	return s.under.FirstIndex()
}

// LastIndex returns the index of the last pending entry, or the underlying
// store's last index if none is pending.
func (s *Store) LastIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.ents) > 0 {
		return s.pendingLast(), nil
	}
	return s.under.LastIndex()
}

// Term returns the term of entry i, for i in [FirstIndex()-1, LastIndex()].
func (s *Store) Term(i uint64) (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.ents) == 0 || i < s.pendingStart() {
		return s.under.Term(i)
	}
	if i > s.pendingLast() {
		return 0, raft.ErrUnavailable
	}
	first, err := s.under.FirstIndex()
	if err != nil {
		return 0, err
	}
	if i+1 < first {
		return 0, raft.ErrCompacted
	}
	return s.ents[i-s.pendingStart()].Term, nil
}

// Entries returns the entries in [lo, hi): those before the pending ones
// from the underlying store, the rest from the overlay, together at most
// maxSize bytes (by Entry.Size) but at least one entry.
func (s *Store) Entries(lo, hi, maxSize uint64) ([]raft.Entry, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.ents) == 0 || hi <= s.pendingStart() {
		return s.under.Entries(lo, hi, maxSize)
	}
	p, last := s.pendingStart(), s.pendingLast()
	first, err := s.under.FirstIndex()
	if err != nil {
		return nil, err
	}
	switch {
	case lo < first:
		return nil, raft.ErrCompacted
	case hi > last+1:
		return nil, fmt.Errorf("lazystore: entries [%d, %d) beyond last index %d: %w", lo, hi, last, raft.ErrUnavailable)
	case lo >= hi:
		return nil, nil
	}
	var out []raft.Entry
	var size uint64
	if lo < p {
		if out, err = s.under.Entries(lo, p, maxSize); err != nil {
			return nil, err
		}
		if uint64(len(out)) < p-lo {
			return out, nil // the size limit was reached
		}
		for _, e := range out {
			size += e.Size()
		}
	}
	for _, e := range s.ents[max(lo, p)-p : hi-p] {
		size += e.Size()
		if len(out) > 0 && size > maxSize {
			break
		}
		out = append(out, e)
	}
	return out, nil
}

// Snapshot returns the underlying store's snapshot: snapshots are always
// synced.
func (s *Store) Snapshot() (raft.Snapshot, error) {
	return s.under.Snapshot()
}

// Save records hs, ents and snap with raft.LogStore.Save's semantics. When
// sync is false and snap is empty the write only joins the overlay in
// memory; otherwise the overlay and this write go to the underlying store
// in one synced Save.
func (s *Store) Save(hs raft.HardState, ents []raft.Entry, snap raft.Snapshot, sync bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	switch {
	case !snap.IsEmpty():
		// The snapshot replaces the whole log, pending entries included;
		// the pending hard state stays unless this write brings one.
		if hs.IsEmpty() {
			hs = s.hs
		}
		if err := s.under.Save(hs, ents, snap, true); err != nil {
			return err
		}
		s.clear()
		return nil
	case !sync:
		return s.merge(hs, ents, true)
	case s.hs.IsEmpty() && len(s.ents) == 0:
		return s.under.Save(hs, ents, snap, true)
	}
	// A synced write after unsynced ones: merge them into a copy, so
	// that a refused write leaves the overlay as it was.
	oldHS, oldEnts := s.hs, s.ents
	if err := s.merge(hs, ents, false); err != nil {
		return err
	}
	if err := s.under.Save(s.hs, s.ents, raft.Snapshot{}, true); err != nil {
		s.hs, s.ents = oldHS, oldEnts
		return err
	}
	s.clear()
	return nil
}

// merge applies hs and ents to the overlay, or changes nothing and returns
// an error if the underlying bbolt store would refuse them. inPlace lets
// it write over the overlay's backing array; without it the old s.ents
// stays intact. The caller holds mu for writing.
func (s *Store) merge(hs raft.HardState, ents []raft.Entry, inPlace bool) error {
	for i := 1; i < len(ents); i++ {
		if ents[i].Index != ents[i-1].Index+1 {
			return fmt.Errorf("lazystore: entries not contiguous: index %d follows %d", ents[i].Index, ents[i-1].Index)
		}
	}
	first, err := s.under.FirstIndex()
	if err != nil {
		return err
	}
	last := uint64(0)
	if len(s.ents) > 0 {
		last = s.pendingLast()
	} else if last, err = s.under.LastIndex(); err != nil {
		return err
	}
	if len(ents) > 0 && ents[len(ents)-1].Index < first {
		ents = nil // all already compacted into the snapshot
	}
	if len(ents) > 0 && ents[0].Index < first {
		ents = ents[first-ents[0].Index:]
	}
	if len(ents) > 0 {
		start := ents[0].Index
		if start > last+1 {
			return fmt.Errorf("lazystore: entries start at %d, leaving a gap after last index %d: %w", start, last, raft.ErrUnavailable)
		}
		prev, err := s.termLocked(start - 1)
		switch {
		case errors.Is(err, raft.ErrCompacted):
			// A Compact on another goroutine passed start-1 since
			// FirstIndex was read: there is no term left to check
			// against, and the underlying Save skips those entries.
			prev = 0
		case err != nil:
			return err
		}
		for _, e := range ents {
			if e.Term < prev {
				return fmt.Errorf("lazystore: entry %d has term %d, below the previous entry's term %d", e.Index, e.Term, prev)
			}
			prev = e.Term
		}
		last = ents[len(ents)-1].Index
	}
	commit := hs.Commit
	if hs.IsEmpty() {
		if commit = s.hs.Commit; s.hs.IsEmpty() {
			uhs, _, err := s.under.InitialState()
			if err != nil {
				return err
			}
			commit = uhs.Commit
		}
	}
	if commit > last {
		return fmt.Errorf("lazystore: commit index %d is beyond the last index %d", commit, last)
	}

	if len(ents) > 0 {
		switch start := ents[0].Index; {
		case len(s.ents) == 0 || start <= s.pendingStart():
			s.ents = slices.Clone(ents)
		case inPlace:
			s.ents = append(s.ents[:start-s.pendingStart()], ents...)
		default:
			s.ents = append(slices.Clip(s.ents[:start-s.pendingStart()]), ents...)
		}
	}
	if !hs.IsEmpty() {
		s.hs = hs
	}
	return nil
}

// termLocked is Term for a caller that holds mu.
func (s *Store) termLocked(i uint64) (uint64, error) {
	if len(s.ents) > 0 && i >= s.pendingStart() {
		return s.ents[i-s.pendingStart()].Term, nil
	}
	return s.under.Term(i)
}

// flush writes the overlay to the underlying store in one synced Save.
// The caller holds mu for writing.
func (s *Store) flush() error {
	if s.hs.IsEmpty() && len(s.ents) == 0 {
		return nil
	}
	if err := s.under.Save(s.hs, s.ents, raft.Snapshot{}, true); err != nil {
		return err
	}
	s.clear()
	return nil
}

// Sync writes the overlay to the underlying store with one synced Save.
func (s *Store) Sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	return s.flush()
}

// CreateSnapshot writes the overlay to the underlying store (synced), then
// creates the snapshot there. The snapshot is written without the
// wrapper's lock held, so Saves and reads go on meanwhile.
func (s *Store) CreateSnapshot(i uint64, cs raft.ConfState, data []byte) (raft.Snapshot, error) {
	if err := s.Sync(); err != nil {
		return raft.Snapshot{}, err
	}
	return s.under.CreateSnapshot(i, cs, data)
}

// Compact writes the overlay to the underlying store (synced), then
// compacts it there, without the wrapper's lock held.
func (s *Store) Compact(compactIndex uint64) error {
	if err := s.Sync(); err != nil {
		return err
	}
	return s.under.Compact(compactIndex)
}

// Close writes the overlay to the underlying store (a clean shutdown loses
// nothing) and closes it. Later writes fail with ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.closed = true
	err := s.flush()
	if cerr := s.under.Close(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	return err
}
