package boltstore

import "sort"

// termRun says that the entries from start up to the next run's start (or
// the last index) all have term term.
type termRun struct {
	start, term uint64
}

// termRuns caches the term of every entry in the log, [first, last], in
// O(number of distinct terms) memory: terms only change at elections, so a
// log of millions of entries has a handful of runs. This is what lets Term,
// which the core calls for nearly every message, answer without a bbolt
// transaction.
//
// Invariant: starts strictly increase and consecutive runs have different
// terms (terms are non-decreasing along a Raft log, so they increase).
type termRuns []termRun

// term returns the term of index i, which the caller has checked is in
// [first, last]; the log is non-empty then, so runs[0].start <= i.
func (r termRuns) term(i uint64) uint64 {
	n := sort.Search(len(r), func(k int) bool { return r[k].start > i })
	return r[n-1].term
}

// truncateFrom drops the terms of the entries at i and after.
func (r termRuns) truncateFrom(i uint64) termRuns {
	n := sort.Search(len(r), func(k int) bool { return r[k].start >= i })
	return r[:n]
}

// appendTerm records that the entry at i (the new last index) has term t.
func (r termRuns) appendTerm(i, t uint64) termRuns {
	if len(r) > 0 && r[len(r)-1].term == t {
		return r
	}
	return append(r, termRun{start: i, term: t})
}

// compactTo drops the terms of the entries before first; last is the last
// index of the log.
func (r termRuns) compactTo(first, last uint64) termRuns {
	if first > last {
		return nil
	}
	n := sort.Search(len(r), func(k int) bool { return r[k].start > first })
	out := append(termRuns(nil), r[n-1:]...)
	out[0].start = first
	return out
}

func (r termRuns) clone() termRuns { return append(termRuns(nil), r...) }
