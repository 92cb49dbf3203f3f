package raft

import (
	"errors"
	"fmt"

	"github.com/raftkv/raftkv/internal/bugs"
)

// raftLog is the node's view of its log: the persisted part (storage) plus
// the part accepted but not yet persisted (unstable).
type raftLog struct {
	storage  Storage
	unstable unstable

	// committed is the highest index known to be committed.
	// Invariant: applied <= applying <= committed <= lastIndex().
	committed uint64
	// applying is the highest index handed to the application in a Ready
	// but not yet acknowledged by Advance.
	applying uint64
	// applied is the highest index the application has applied.
	applied uint64

	// maxApplyingEntsSize limits the bytes of committed entries per Ready.
	maxApplyingEntsSize uint64

	logger Logger
}

func newLog(storage Storage, logger Logger, maxApplyingEntsSize uint64) (*raftLog, error) {
	first, err := storage.FirstIndex()
	if err != nil {
		return nil, fmt.Errorf("raft: storage first index: %w", err)
	}
	last, err := storage.LastIndex()
	if err != nil {
		return nil, fmt.Errorf("raft: storage last index: %w", err)
	}
	l := &raftLog{
		storage:             storage,
		logger:              logger,
		maxApplyingEntsSize: maxApplyingEntsSize,
		committed:           first - 1,
		applying:            first - 1,
		applied:             first - 1,
	}
	l.unstable.offset = last + 1
	l.unstable.offsetInProgress = last + 1
	l.unstable.logger = logger
	return l, nil
}

func (l *raftLog) String() string {
	return fmt.Sprintf("committed=%d, applied=%d, applying=%d, unstable.offset=%d, len(unstable.entries)=%d",
		l.committed, l.applied, l.applying, l.unstable.offset, len(l.unstable.entries))
}

// maybeAppend appends ents after the entry (index, logTerm) if the log has
// that entry — the consistency check of AppendEntries (§5.3) — and returns
// the index of the last new entry.
func (l *raftLog) maybeAppend(index, logTerm, committed uint64, ents []Entry) (lastnewi uint64, ok bool) {
	if !l.matchTerm(index, logTerm) {
		return 0, false
	}
	lastnewi = index + uint64(len(ents))
	ci := l.findConflict(ents)
	if bugs.On(bugs.TruncateOnStaleAppend) && ci == 0 && len(ents) > 0 && lastnewi < l.lastIndex() && lastnewi > l.committed {
		// Planted bug (bugs.TruncateOnStaleAppend): the follower writes
		// the append as "the log up to index, then ents" (the textbook
		// log = append(log[:index+1], ents...)) even when every entry
		// already matches, so a delayed or duplicated append cuts off the
		// entries after it, which this follower may have acknowledged.
		// (Only down to the commit index: the core's own checks would
		// panic below it.)
		ci = max(ents[0].Index, l.committed+1)
		bugs.Fire(bugs.TruncateOnStaleAppend)
	}
	switch {
	case ci == 0:
	case ci <= l.committed:
		l.logger.Panicf("raft: entry %d conflicts with committed entry [committed(%d)]", ci, l.committed)
	default:
		l.append(ents[ci-(index+1):]...)
	}
	l.commitTo(min(committed, lastnewi))
	return lastnewi, true
}

func (l *raftLog) append(ents ...Entry) uint64 {
	if len(ents) == 0 {
		return l.lastIndex()
	}
	if after := ents[0].Index - 1; after < l.committed {
		l.logger.Panicf("raft: append after %d is out of range [committed(%d)]", after, l.committed)
	}
	l.unstable.truncateAndAppend(ents)
	return l.lastIndex()
}

// findConflict returns the index of the first entry of ents whose term
// differs from the log's entry at that index (or that the log lacks), or 0
// if every entry is already in the log.
func (l *raftLog) findConflict(ents []Entry) uint64 {
	for _, e := range ents {
		if !l.matchTerm(e.Index, e.Term) {
			return e.Index
		}
	}
	return 0
}

// findConflictByTerm returns the largest index <= index whose term is <=
// term, with that term. It is the fast backtracking step (§5.3): every
// entry between that index and index has a term above term, so none of
// them can match.
func (l *raftLog) findConflictByTerm(index, term uint64) (uint64, uint64) {
	for ; index > 0; index-- {
		t, err := l.term(index)
		if err != nil {
			// Compacted or unavailable: give the index as is; the leader
			// probes from there (or sends a snapshot).
			return index, 0
		}
		if t <= term {
			return index, t
		}
	}
	return 0, 0
}

// nextUnstableEnts returns the unstable entries not yet handed out.
func (l *raftLog) nextUnstableEnts() []Entry { return l.unstable.nextEntries() }

func (l *raftLog) hasNextUnstableEnts() bool { return len(l.nextUnstableEnts()) > 0 }

func (l *raftLog) hasNextOrInProgressSnapshot() bool { return l.unstable.snapshot != nil }

// nextCommittedEnts returns the committed entries not yet handed out for
// applying. Unstable entries may be included: the driver persists a
// Ready's Entries before applying its CommittedEntries.
func (l *raftLog) nextCommittedEnts() []Entry {
	if l.hasNextOrInProgressSnapshot() {
		// The application must restore the snapshot first.
		return nil
	}
	lo, hi := l.applying+1, l.committed+1
	if lo >= hi {
		return nil
	}
	ents, err := l.slice(lo, hi, l.maxApplyingEntsSize)
	if err != nil {
		l.logger.Panicf("raft: unexpected error getting committed entries [%d,%d): %v", lo, hi, err)
	}
	return ents
}

func (l *raftLog) hasNextCommittedEnts() bool {
	return !l.hasNextOrInProgressSnapshot() && l.applying < l.committed
}

func (l *raftLog) nextUnstableSnapshot() *Snapshot { return l.unstable.nextSnapshot() }

func (l *raftLog) snapshot() (Snapshot, error) {
	if l.unstable.snapshot != nil {
		return *l.unstable.snapshot, nil
	}
	return l.storage.Snapshot()
}

func (l *raftLog) firstIndex() uint64 {
	if i, ok := l.unstable.maybeFirstIndex(); ok {
		return i
	}
	i, err := l.storage.FirstIndex()
	if err != nil {
		l.logger.Panicf("raft: storage FirstIndex: %v", err)
	}
	return i
}

func (l *raftLog) lastIndex() uint64 {
	if i, ok := l.unstable.maybeLastIndex(); ok {
		return i
	}
	i, err := l.storage.LastIndex()
	if err != nil {
		l.logger.Panicf("raft: storage LastIndex: %v", err)
	}
	return i
}

// stableLastIndex is the last index known to be persisted (or part of a
// committed snapshot): what the leader may count for itself toward a
// commit quorum.
func (l *raftLog) stableLastIndex() uint64 {
	if len(l.unstable.entries) > 0 || l.unstable.snapshot != nil {
		return l.unstable.offset - 1
	}
	return l.lastIndex()
}

func (l *raftLog) commitTo(tocommit uint64) {
	if l.committed < tocommit {
		if last := l.lastIndex(); last < tocommit {
			l.logger.Panicf("raft: tocommit(%d) is out of range [lastIndex(%d)]", tocommit, last)
		}
		l.committed = tocommit
	}
}

func (l *raftLog) appliedTo(i uint64) {
	if i == 0 {
		return
	}
	if l.committed < i || i < l.applied {
		l.logger.Panicf("raft: applied(%d) is out of range [prevApplied(%d), committed(%d)]", i, l.applied, l.committed)
	}
	l.applied = i
	l.applying = max(l.applying, i)
}

func (l *raftLog) acceptApplying(i uint64) {
	if l.committed < i {
		l.logger.Panicf("raft: applying(%d) is out of range [committed(%d)]", i, l.committed)
	}
	l.applying = max(l.applying, i)
}

func (l *raftLog) stableTo(i, t uint64) { l.unstable.stableTo(i, t) }

func (l *raftLog) stableSnapTo(i uint64) { l.unstable.stableSnapTo(i) }

func (l *raftLog) lastTerm() uint64 {
	t, err := l.term(l.lastIndex())
	if err != nil {
		l.logger.Panicf("raft: unexpected error getting the last term: %v", err)
	}
	return t
}

// term returns the term of entry i. ErrCompacted and ErrUnavailable are
// returned for indexes outside [firstIndex()-1, lastIndex()].
func (l *raftLog) term(i uint64) (uint64, error) {
	if t, ok := l.unstable.maybeTerm(i); ok {
		return t, nil
	}
	dummy := l.firstIndex() - 1
	if i < dummy {
		return 0, ErrCompacted
	}
	if i > l.lastIndex() {
		return 0, ErrUnavailable
	}
	t, err := l.storage.Term(i)
	if err == nil {
		return t, nil
	}
	if errors.Is(err, ErrCompacted) || errors.Is(err, ErrUnavailable) {
		return 0, err
	}
	l.logger.Panicf("raft: storage Term(%d): %v", i, err)
	return 0, err
}

// zeroTermOnOutOfBounds turns the out-of-range errors of term into term 0.
func (l *raftLog) zeroTermOnOutOfBounds(t uint64, err error) uint64 {
	if err == nil {
		return t
	}
	return 0
}

func (l *raftLog) entries(lo, maxSize uint64) ([]Entry, error) {
	if lo > l.lastIndex() {
		return nil, nil
	}
	return l.slice(lo, l.lastIndex()+1, maxSize)
}

// isUpToDate reports whether a log ending at (lasti, term) is at least as
// up-to-date as this one (§5.4.1): a later last term wins, and with equal
// last terms the longer log wins.
func (l *raftLog) isUpToDate(lasti, term uint64) bool {
	lt := l.lastTerm()
	return term > lt || (term == lt && lasti >= l.lastIndex())
}

func (l *raftLog) matchTerm(i, term uint64) bool {
	t, err := l.term(i)
	if err != nil {
		return false
	}
	return t == term
}

// maybeCommit commits up to maxIndex if that entry is of term term: a leader
// only commits entries of its own term by counting replicas (§5.4.2).
func (l *raftLog) maybeCommit(maxIndex, term uint64) bool {
	if bugs.On(bugs.CommitOldTerm) && maxIndex > l.committed {
		// Planted bug (bugs.CommitOldTerm): the leader commits whatever a
		// majority stores, whatever its term — the rule of §5.4.2 left
		// out. An entry of an earlier term on a majority can still be
		// overwritten by a leader elected without it (Figure 8), after it
		// was applied and acknowledged here.
		if l.zeroTermOnOutOfBounds(l.term(maxIndex)) != term {
			bugs.Fire(bugs.CommitOldTerm)
		}
		l.commitTo(maxIndex)
		return true
	}
	if maxIndex > l.committed && l.zeroTermOnOutOfBounds(l.term(maxIndex)) == term {
		l.commitTo(maxIndex)
		return true
	}
	return false
}

func (l *raftLog) restore(s Snapshot) {
	l.logger.Infof("raft: log [%s] starts to restore snapshot [index: %d, term: %d]", l, s.Metadata.Index, s.Metadata.Term)
	l.committed = s.Metadata.Index
	l.unstable.restore(s)
}

// slice returns entries in [lo, hi), at most about maxSize bytes but at
// least one entry.
func (l *raftLog) slice(lo, hi, maxSize uint64) ([]Entry, error) {
	if err := l.mustCheckOutOfBounds(lo, hi); err != nil {
		return nil, err
	}
	if lo == hi {
		return nil, nil
	}
	var ents []Entry
	if lo < l.unstable.offset {
		stored, err := l.storage.Entries(lo, min(hi, l.unstable.offset), maxSize)
		if errors.Is(err, ErrCompacted) {
			return nil, err
		} else if errors.Is(err, ErrUnavailable) {
			l.logger.Panicf("raft: entries[%d:%d) is unavailable from storage", lo, min(hi, l.unstable.offset))
		} else if err != nil {
			l.logger.Panicf("raft: storage Entries: %v", err)
		}
		if uint64(len(stored)) < min(hi, l.unstable.offset)-lo {
			// Cut by the size limit: do not add unstable entries.
			return stored, nil
		}
		ents = stored
	}
	if hi > l.unstable.offset {
		u := l.unstable.slice(max(lo, l.unstable.offset), hi)
		if len(ents) > 0 {
			combined := make([]Entry, len(ents)+len(u))
			n := copy(combined, ents)
			copy(combined[n:], u)
			ents = combined
		} else {
			ents = u
		}
	}
	return limitSize(ents, maxSize), nil
}

// mustCheckOutOfBounds checks firstIndex <= lo <= hi <= lastIndex+1.
func (l *raftLog) mustCheckOutOfBounds(lo, hi uint64) error {
	if lo > hi {
		l.logger.Panicf("raft: invalid slice %d > %d", lo, hi)
	}
	fi := l.firstIndex()
	if lo < fi {
		return ErrCompacted
	}
	length := l.lastIndex() + 1 - fi
	if hi > fi+length {
		l.logger.Panicf("raft: slice[%d,%d) out of bound [%d,%d]", lo, hi, fi, l.lastIndex())
	}
	return nil
}
