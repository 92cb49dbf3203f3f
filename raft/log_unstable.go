package raft

import "fmt"

// unstable holds the entries (and possibly a snapshot) that the core has
// accepted but the driver has not yet persisted. A Ready hands them out; the
// Advance after it marks them stable and drops them here.
type unstable struct {
	// snapshot is an incoming snapshot not yet persisted.
	snapshot *Snapshot
	// entries not yet persisted. Invariant: entries[i].Index == offset+i.
	entries []Entry
	// offset is the index of entries[0]. Invariant: if snapshot != nil,
	// offset == snapshot.Metadata.Index+1.
	offset uint64
	// snapshotInProgress: snapshot was handed out in a Ready and is being
	// persisted.
	snapshotInProgress bool
	// offsetInProgress: entries[:offsetInProgress-offset] were handed out in
	// a Ready and are being persisted. Invariant: offset <= offsetInProgress
	// <= offset+len(entries).
	offsetInProgress uint64

	logger Logger
}

// maybeFirstIndex returns the first index the unstable part knows of, which
// only exists when a snapshot is pending.
func (u *unstable) maybeFirstIndex() (uint64, bool) {
	if u.snapshot != nil {
		return u.snapshot.Metadata.Index + 1, true
	}
	return 0, false
}

// maybeLastIndex returns the last index of the unstable entries or of the
// pending snapshot.
func (u *unstable) maybeLastIndex() (uint64, bool) {
	if l := len(u.entries); l != 0 {
		return u.offset + uint64(l) - 1, true
	}
	if u.snapshot != nil {
		return u.snapshot.Metadata.Index, true
	}
	return 0, false
}

// maybeTerm returns the term of entry i if the unstable part knows it.
func (u *unstable) maybeTerm(i uint64) (uint64, bool) {
	if i < u.offset {
		if u.snapshot != nil && u.snapshot.Metadata.Index == i {
			return u.snapshot.Metadata.Term, true
		}
		return 0, false
	}
	last, ok := u.maybeLastIndex()
	if !ok || i > last {
		return 0, false
	}
	return u.entries[i-u.offset].Term, true
}

// nextEntries returns the unstable entries not yet handed out.
func (u *unstable) nextEntries() []Entry {
	inProgress := int(u.offsetInProgress - u.offset)
	if len(u.entries) == inProgress {
		return nil
	}
	return u.entries[inProgress:]
}

// nextSnapshot returns the pending snapshot if not yet handed out.
func (u *unstable) nextSnapshot() *Snapshot {
	if u.snapshot == nil || u.snapshotInProgress {
		return nil
	}
	return u.snapshot
}

// acceptInProgress marks everything currently unstable as handed out.
func (u *unstable) acceptInProgress() {
	if len(u.entries) > 0 {
		u.offsetInProgress = u.entries[len(u.entries)-1].Index + 1
	}
	if u.snapshot != nil {
		u.snapshotInProgress = true
	}
}

// stableTo marks entries up to i (at term t) persisted. Nothing happens if
// entry i was since replaced by an entry of another term: the newer entry
// still has to be persisted.
func (u *unstable) stableTo(i, t uint64) {
	gt, ok := u.maybeTerm(i)
	if !ok || gt != t || i < u.offset {
		return
	}
	n := int(i + 1 - u.offset)
	u.entries = u.entries[n:]
	u.offset = i + 1
	u.offsetInProgress = max(u.offsetInProgress, u.offset)
	u.shrinkEntriesArray()
}

// shrinkEntriesArray reallocates entries when most of the backing array is
// unused, so persisted entries do not stay reachable forever.
func (u *unstable) shrinkEntriesArray() {
	const lenMultiple = 2
	if len(u.entries) == 0 {
		u.entries = nil
	} else if len(u.entries)*lenMultiple < cap(u.entries) {
		newEntries := make([]Entry, len(u.entries))
		copy(newEntries, u.entries)
		u.entries = newEntries
	}
}

// stableSnapTo marks the pending snapshot at index i persisted.
func (u *unstable) stableSnapTo(i uint64) {
	if u.snapshot != nil && u.snapshot.Metadata.Index == i {
		u.snapshot = nil
		u.snapshotInProgress = false
	}
}

// restore replaces everything with snapshot s.
func (u *unstable) restore(s Snapshot) {
	u.offset = s.Metadata.Index + 1
	u.offsetInProgress = u.offset
	u.entries = nil
	u.snapshot = &s
	u.snapshotInProgress = false
}

// truncateAndAppend appends ents, first discarding any unstable entry at or
// after ents[0].Index.
func (u *unstable) truncateAndAppend(ents []Entry) {
	from := ents[0].Index
	switch {
	case from == u.offset+uint64(len(u.entries)):
		u.entries = append(u.entries, ents...)
	case from <= u.offset:
		// Everything unstable is replaced; the storage will drop its
		// conflicting suffix when these are saved.
		u.entries = append([]Entry(nil), ents...)
		u.offset = from
		u.offsetInProgress = u.offset
	default:
		kept := u.slice(u.offset, from)
		u.entries = append(append([]Entry(nil), kept...), ents...)
		u.offsetInProgress = min(u.offsetInProgress, from)
	}
}

// slice returns unstable entries in [lo, hi).
func (u *unstable) slice(lo, hi uint64) []Entry {
	upper := u.offset + uint64(len(u.entries))
	if lo > hi || lo < u.offset || hi > upper {
		panic(fmt.Sprintf("raft: unstable.slice[%d,%d) out of bound [%d,%d]", lo, hi, u.offset, upper))
	}
	return u.entries[lo-u.offset : hi-u.offset]
}
