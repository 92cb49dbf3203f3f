package node

import (
	"maps"
	"slices"
)

// Waiters holds the proposals waiting for their entries, by log index, and
// decides each one's fate as the log is applied:
//   - Resolve: the entry at its index was applied. If it is the proposal's
//     own (same term) the proposal succeeded; otherwise another entry was
//     committed at that index and this one never will be (definite).
//   - DropSuperseded: an entry of term t committed at index i is in every
//     future leader's log, and the entries after it in such a log have
//     terms >= t, so a proposal of a lower term at a higher index can never
//     commit (definite).
//   - CoveredBySnapshot: a snapshot replaced the log up to its index; the
//     proposals at or below it may or may not be in it (unknown).
//
// Callbacks run in index order, so a deterministic caller (the harness's
// simulation) stays deterministic. The driver (Node) and the simulation use
// it from one goroutine; it is not safe for concurrent use.
type Waiters[P any] struct {
	term     func(P) uint64 // the term the proposal was appended in
	byIndex  map[uint64][]P
	scanTerm uint64 // highest committed term DropSuperseded scanned for
}

// NewWaiters returns an empty set; term gives a proposal's term.
func NewWaiters[P any](term func(P) uint64) *Waiters[P] {
	return &Waiters[P]{term: term, byIndex: map[uint64][]P{}}
}

// Add makes p wait for the entry at index.
func (w *Waiters[P]) Add(index uint64, p P) {
	w.byIndex[index] = append(w.byIndex[index], p)
}

// Resolve takes the entry of term `term` applied at index: each proposal
// waiting for index is passed to f with mine true if the entry is its own,
// false if another entry took its place.
func (w *Waiters[P]) Resolve(index, term uint64, f func(p P, mine bool)) {
	ws, ok := w.byIndex[index]
	if !ok {
		return
	}
	delete(w.byIndex, index)
	for _, p := range ws {
		f(p, w.term(p) == term)
	}
}

// DropSuperseded takes an entry of term t committed at index i and passes
// every proposal of a lower term at a higher index to drop. It scans only
// when t is higher than any term it scanned for before.
func (w *Waiters[P]) DropSuperseded(t, i uint64, drop func(index uint64, p P)) {
	if t <= w.scanTerm {
		return
	}
	w.scanTerm = t
	for _, idx := range slices.Sorted(maps.Keys(w.byIndex)) {
		if idx <= i {
			continue
		}
		w.keep(idx, func(p P) bool { return w.term(p) >= t }, drop)
	}
}

// CoveredBySnapshot passes every proposal at or below index to f and
// forgets them.
func (w *Waiters[P]) CoveredBySnapshot(index uint64, f func(index uint64, p P)) {
	for _, idx := range slices.Sorted(maps.Keys(w.byIndex)) {
		if idx > index {
			break
		}
		for _, p := range w.byIndex[idx] {
			f(idx, p)
		}
		delete(w.byIndex, idx)
	}
}

// Sweep forgets the proposals for which live reports false (their callers
// gave up), so they do not pile up while their indexes are never reached.
func (w *Waiters[P]) Sweep(live func(P) bool) {
	for idx := range w.byIndex {
		w.keep(idx, live, nil)
	}
}

// Drain returns every proposal still waiting, in index order, and forgets
// them (at shutdown or a crash).
func (w *Waiters[P]) Drain() []P {
	var all []P
	for _, idx := range slices.Sorted(maps.Keys(w.byIndex)) {
		all = append(all, w.byIndex[idx]...)
	}
	clear(w.byIndex)
	return all
}

// keep filters the proposals at idx, passing the others to drop (if not
// nil), and forgets idx when none is kept.
func (w *Waiters[P]) keep(idx uint64, ok func(P) bool, drop func(uint64, P)) {
	ws := w.byIndex[idx]
	kept := ws[:0]
	for _, p := range ws {
		if ok(p) {
			kept = append(kept, p)
		} else if drop != nil {
			drop(idx, p)
		}
	}
	clear(ws[len(kept):])
	if len(kept) == 0 {
		delete(w.byIndex, idx)
	} else {
		w.byIndex[idx] = kept
	}
}
