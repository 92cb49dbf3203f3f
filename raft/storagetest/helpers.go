package storagetest

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/raftkv/raftkv/raft"
)

// noLimit is the maxSize that returns every entry in range.
const noLimit = math.MaxUint64

// entry returns the entry at index i with term t; its data names both, so
// an entry replaced by one of another term is told apart by its data too.
func entry(i, t uint64) raft.Entry {
	return raft.Entry{Index: i, Term: t, Data: fmt.Appendf(nil, "i%d-t%d", i, t)}
}

// entries returns the entries from index lo with the given terms.
func entries(lo uint64, terms ...uint64) []raft.Entry {
	out := make([]raft.Entry, len(terms))
	for k, t := range terms {
		out[k] = entry(lo+uint64(k), t)
	}
	return out
}

// sized returns entries [lo, hi) of term t whose Data is n bytes.
func sized(lo, hi, t uint64, n int) []raft.Entry {
	var out []raft.Entry
	for i := lo; i < hi; i++ {
		d := make([]byte, n)
		for k := range d {
			d[k] = byte(i) + byte(k)
		}
		out = append(out, raft.Entry{Index: i, Term: t, Data: d})
	}
	return out
}

func snapshot(i, t uint64, data string, voters ...uint64) raft.Snapshot {
	return raft.Snapshot{
		Data:     []byte(data),
		Metadata: raft.SnapshotMetadata{Index: i, Term: t, ConfState: raft.ConfState{Voters: voters}},
	}
}

func save(t *testing.T, s raft.LogStore, hs raft.HardState, ents []raft.Entry, snap raft.Snapshot) {
	t.Helper()
	require.NoError(t, s.Save(hs, ents, snap, true))
}

func appendEnts(t *testing.T, s raft.LogStore, ents ...raft.Entry) {
	t.Helper()
	save(t, s, raft.HardState{}, ents, raft.Snapshot{})
}

// normEntries makes nil and empty Data compare equal: a store may give
// back either for an entry saved with no data.
func normEntries(ents []raft.Entry) []raft.Entry {
	if len(ents) == 0 {
		return nil
	}
	out := make([]raft.Entry, len(ents))
	for k, e := range ents {
		if len(e.Data) == 0 {
			e.Data = nil
		}
		out[k] = e
	}
	return out
}

func normConf(cs raft.ConfState) raft.ConfState {
	var out raft.ConfState
	if len(cs.Voters) > 0 {
		out.Voters = cs.Voters
	}
	if len(cs.Learners) > 0 {
		out.Learners = cs.Learners
	}
	return out
}

func normSnap(s raft.Snapshot) raft.Snapshot {
	if len(s.Data) == 0 {
		s.Data = nil
	}
	s.Metadata.ConfState = normConf(s.Metadata.ConfState)
	return s
}

func requireEntries(t *testing.T, want, got []raft.Entry, msgAndArgs ...any) {
	t.Helper()
	require.Equal(t, normEntries(want), normEntries(got), msgAndArgs...)
}

// State is everything a LogStore shows through its interface.
type State struct {
	HardState raft.HardState
	ConfState raft.ConfState
	First     uint64
	Last      uint64
	// Terms[k] is Term(First-1+k), for every index in [First-1, Last].
	Terms    []uint64
	Entries  []raft.Entry
	Snapshot raft.Snapshot
}

// Observe reads s's whole observable state through the raft.Storage
// interface, checking on the way that the bounds are answered with the
// right errors: Term(First-2) is ErrCompacted, Term(Last+1) and
// Entries(.., Last+2) are ErrUnavailable, Entries(First-1, ..) is
// ErrCompacted, and Entries agrees with Term.
func Observe(t *testing.T, s raft.Storage) State {
	t.Helper()
	var st State
	var err error
	st.HardState, st.ConfState, err = s.InitialState()
	require.NoError(t, err)
	st.ConfState = normConf(st.ConfState)
	st.First, err = s.FirstIndex()
	require.NoError(t, err)
	st.Last, err = s.LastIndex()
	require.NoError(t, err)
	require.GreaterOrEqual(t, st.First, uint64(1), "FirstIndex")
	require.GreaterOrEqual(t, st.Last+1, st.First, "LastIndex+1 >= FirstIndex")
	for i := st.First - 1; i <= st.Last; i++ {
		term, err := s.Term(i)
		require.NoError(t, err, "Term(%d) with FirstIndex %d, LastIndex %d", i, st.First, st.Last)
		st.Terms = append(st.Terms, term)
	}
	if st.First >= 2 {
		_, err := s.Term(st.First - 2)
		require.ErrorIs(t, err, raft.ErrCompacted, "Term(FirstIndex-2)")
	}
	_, err = s.Term(st.Last + 1)
	require.ErrorIs(t, err, raft.ErrUnavailable, "Term(LastIndex+1)")
	if st.First >= 2 {
		_, err = s.Entries(st.First-1, st.Last+1, noLimit)
		require.ErrorIs(t, err, raft.ErrCompacted, "Entries(FirstIndex-1, ...)")
	}
	_, err = s.Entries(st.First, st.Last+2, noLimit)
	require.ErrorIs(t, err, raft.ErrUnavailable, "Entries(..., LastIndex+2)")
	if st.Last >= st.First {
		ents, err := s.Entries(st.First, st.Last+1, noLimit)
		require.NoError(t, err)
		require.Len(t, ents, int(st.Last-st.First+1), "Entries(FirstIndex, LastIndex+1)")
		for k, e := range ents {
			require.Equal(t, st.First+uint64(k), e.Index, "entry %d of Entries(FirstIndex, LastIndex+1)", k)
			require.Equal(t, st.Terms[k+1], e.Term, "term of entry %d: Entries and Term disagree", e.Index)
		}
		st.Entries = normEntries(ents)
	}
	st.Snapshot, err = s.Snapshot()
	require.NoError(t, err)
	st.Snapshot = normSnap(st.Snapshot)
	return st
}
