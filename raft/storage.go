package raft

import (
	"fmt"
	"sync"
)

// MemoryStorage is a LogStore held in memory. It is what the tests and the
// deterministic simulation use; it loses everything when the process exits.
// It is safe for concurrent use: the driver writes while the core reads.
//
// Like etcd's MemoryStorage it keeps a dummy entry at ents[0] whose Index and
// Term are those of the current snapshot, so that Term(FirstIndex()-1)
// answers without a special case.
type MemoryStorage struct {
	mu sync.Mutex

	hardState HardState
	snapshot  Snapshot
	// ents[0] is the dummy entry at snapshot.Metadata.Index (or at the index
	// the log was compacted to). Invariant: ents[i].Index == ents[0].Index+i
	// and len(ents) >= 1.
	ents   []Entry
	closed bool
}

var _ LogStore = (*MemoryStorage)(nil)

// NewMemoryStorage returns an empty MemoryStorage: FirstIndex 1, LastIndex 0.
func NewMemoryStorage() *MemoryStorage {
	return &MemoryStorage{ents: make([]Entry, 1)}
}

// InitialState returns the saved HardState and the ConfState of the current
// snapshot. Configuration changes in entries after the snapshot are replayed
// by the core from its log.
func (ms *MemoryStorage) InitialState() (HardState, ConfState, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.hardState, cloneConfState(ms.snapshot.Metadata.ConfState), nil
}

// SetHardState saves hs. It exists for tests; the driver uses Save.
func (ms *MemoryStorage) SetHardState(hs HardState) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.hardState = hs
	return nil
}

// Entries returns the entries in [lo, hi), at most about maxSize bytes but at
// least one if any is in range.
func (ms *MemoryStorage) Entries(lo, hi, maxSize uint64) ([]Entry, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	offset := ms.ents[0].Index
	if lo <= offset {
		return nil, ErrCompacted
	}
	if hi > ms.lastIndex()+1 {
		return nil, fmt.Errorf("entries [%d, %d) beyond last index %d: %w", lo, hi, ms.lastIndex(), ErrUnavailable)
	}
	if lo >= hi {
		return nil, nil
	}
	ents := ms.ents[lo-offset : hi-offset]
	ents = limitSize(ents, maxSize)
	// The caller may append to the result; give it its own backing array so
	// it never writes over ours.
	out := make([]Entry, len(ents))
	copy(out, ents)
	return out, nil
}

// Term returns the term of entry i, for i in [FirstIndex()-1, LastIndex()].
func (ms *MemoryStorage) Term(i uint64) (uint64, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	offset := ms.ents[0].Index
	if i < offset {
		return 0, ErrCompacted
	}
	if int(i-offset) >= len(ms.ents) {
		return 0, ErrUnavailable
	}
	return ms.ents[i-offset].Term, nil
}

// LastIndex returns the index of the last entry.
func (ms *MemoryStorage) LastIndex() (uint64, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.lastIndex(), nil
}

func (ms *MemoryStorage) lastIndex() uint64 {
	return ms.ents[0].Index + uint64(len(ms.ents)) - 1
}

// FirstIndex returns the index of the first readable entry.
func (ms *MemoryStorage) FirstIndex() (uint64, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.ents[0].Index + 1, nil
}

// Snapshot returns the current snapshot.
func (ms *MemoryStorage) Snapshot() (Snapshot, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.snapshot, nil
}

// Save writes snap (if not empty), then ents, then hs (if not empty). An
// entry at an index the storage already holds replaces it and every later
// entry (the leader overwrote a conflicting suffix, §5.3). The sync flag is
// meaningless in memory.
func (ms *MemoryStorage) Save(hs HardState, ents []Entry, snap Snapshot, _ bool) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.closed {
		return ErrStorageClosed
	}
	if !snap.IsEmpty() {
		if err := ms.applySnapshot(snap); err != nil {
			return err
		}
	}
	if err := ms.append(ents); err != nil {
		return err
	}
	if !hs.IsEmpty() {
		ms.hardState = hs
	}
	return nil
}

// ApplySnapshot replaces the storage's contents with snap. It exists for
// tests and for callers that do not use Save.
func (ms *MemoryStorage) ApplySnapshot(snap Snapshot) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.applySnapshot(snap)
}

func (ms *MemoryStorage) applySnapshot(snap Snapshot) error {
	if snap.Metadata.Index <= ms.snapshot.Metadata.Index {
		return ErrSnapOutOfDate
	}
	ms.snapshot = snap
	ms.snapshot.Metadata.ConfState = cloneConfState(snap.Metadata.ConfState)
	ms.ents = []Entry{{Term: snap.Metadata.Term, Index: snap.Metadata.Index}}
	return nil
}

// Append adds entries, truncating any conflicting suffix. It exists for
// tests; the driver uses Save.
func (ms *MemoryStorage) Append(ents []Entry) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.append(ents)
}

func (ms *MemoryStorage) append(ents []Entry) error {
	if len(ents) == 0 {
		return nil
	}
	first := ms.ents[0].Index + 1
	last := ents[0].Index + uint64(len(ents)) - 1
	if last < first {
		// Everything given is already compacted into the snapshot.
		return nil
	}
	if first > ents[0].Index {
		ents = ents[first-ents[0].Index:]
	}
	for i := 1; i < len(ents); i++ {
		if ents[i].Index != ents[i-1].Index+1 {
			panic(fmt.Sprintf("raft: MemoryStorage.Save: entries not contiguous: index %d follows %d", ents[i].Index, ents[i-1].Index))
		}
	}
	offset := ents[0].Index - ms.ents[0].Index
	switch {
	case uint64(len(ms.ents)) > offset:
		// Replace the suffix starting at ents[0].Index. Copy the prefix so a
		// slice handed out earlier by Entries is never written over.
		kept := make([]Entry, offset, offset+uint64(len(ents)))
		copy(kept, ms.ents[:offset])
		ms.ents = append(kept, ents...)
	case uint64(len(ms.ents)) == offset:
		ms.ents = append(ms.ents, ents...)
	default:
		return fmt.Errorf("raft: MemoryStorage: missing log entry [last: %d, append at: %d]: %w",
			ms.lastIndex(), ents[0].Index, ErrUnavailable)
	}
	return nil
}

// CreateSnapshot makes a snapshot of the state at index i the current one.
// It does not compact the log.
func (ms *MemoryStorage) CreateSnapshot(i uint64, cs ConfState, data []byte) (Snapshot, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if i <= ms.snapshot.Metadata.Index {
		return Snapshot{}, ErrSnapOutOfDate
	}
	offset := ms.ents[0].Index
	if i > ms.lastIndex() {
		return Snapshot{}, fmt.Errorf("raft: snapshot index %d is beyond last index %d: %w", i, ms.lastIndex(), ErrUnavailable)
	}
	if i < offset {
		return Snapshot{}, ErrCompacted
	}
	ms.snapshot = Snapshot{
		Data: data,
		Metadata: SnapshotMetadata{
			Index:     i,
			Term:      ms.ents[i-offset].Term,
			ConfState: cloneConfState(cs),
		},
	}
	return ms.snapshot, nil
}

// Compact discards entries up to and including compactIndex, which must not
// be above the current snapshot's index.
func (ms *MemoryStorage) Compact(compactIndex uint64) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	offset := ms.ents[0].Index
	if compactIndex <= offset {
		return ErrCompacted
	}
	if compactIndex > ms.snapshot.Metadata.Index {
		return fmt.Errorf("raft: compact index %d is above the snapshot index %d: %w", compactIndex, ms.snapshot.Metadata.Index, ErrUnavailable)
	}
	if compactIndex > ms.lastIndex() {
		panic(fmt.Sprintf("raft: compact index %d is out of bound lastindex(%d)", compactIndex, ms.lastIndex()))
	}
	i := compactIndex - offset
	ents := make([]Entry, 1, uint64(len(ms.ents))-i)
	ents[0] = Entry{Index: ms.ents[i].Index, Term: ms.ents[i].Term}
	ms.ents = append(ents, ms.ents[i+1:]...)
	return nil
}

// Close marks the storage closed; later Saves fail with ErrStorageClosed.
func (ms *MemoryStorage) Close() error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.closed = true
	return nil
}

// limitSize returns the longest prefix of ents whose total Size is at most
// maxSize, but at least one entry.
func limitSize(ents []Entry, maxSize uint64) []Entry {
	if len(ents) == 0 {
		return ents
	}
	size := ents[0].Size()
	n := 1
	for ; n < len(ents); n++ {
		size += ents[n].Size()
		if size > maxSize {
			break
		}
	}
	return ents[:n]
}

func cloneConfState(cs ConfState) ConfState {
	var out ConfState
	if cs.Voters != nil {
		out.Voters = append([]uint64(nil), cs.Voters...)
	}
	if cs.Learners != nil {
		out.Learners = append([]uint64(nil), cs.Learners...)
	}
	return out
}
