package storagetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/raftkv/raftkv/raft"
)

// RunConformance runs the conformance suite. open must return a new, empty
// store each time it is called (it is called once per sub-test); the suite
// closes every store it opened.
func RunConformance(t *testing.T, open func(t *testing.T) raft.LogStore) {
	fresh := func(t *testing.T) raft.LogStore {
		t.Helper()
		s := open(t)
		t.Cleanup(func() { require.NoError(t, s.Close()) })
		return s
	}
	for _, tc := range []struct {
		name string
		run  func(*testing.T, func(*testing.T) raft.LogStore)
	}{
		{"Empty", testEmpty},
		{"Term", testTerm},
		{"Entries", testEntries},
		{"EntriesMaxSize", testEntriesMaxSize},
		{"SaveAppends", testSaveAppends},
		{"SaveOverwritesConflictingSuffix", testSaveOverwrite},
		{"SaveIgnoresCompactedEntries", testSaveIgnoresCompacted},
		{"SaveWithGapFails", testSaveGap},
		{"SaveHardState", testSaveHardState},
		{"SaveSnapshot", testSaveSnapshot},
		{"SaveSnapshotOutOfDate", testSaveSnapshotOutOfDate},
		{"CreateSnapshot", testCreateSnapshot},
		{"Compact", testCompact},
		{"CompactThenAppend", testCompactThenAppend},
		{"ConcurrentReadsDuringWrites", testConcurrent},
		{"RandomAgainstModel", testRandom},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, fresh) })
	}
}

// Reference: raft/types.go, Storage: an empty store has FirstIndex 1,
// LastIndex 0 and Term(0) == 0 (index 0 is the empty snapshot's).
func testEmpty(t *testing.T, open func(*testing.T) raft.LogStore) {
	s := open(t)
	require.Equal(t, State{First: 1, Last: 0, Terms: []uint64{0}}, Observe(t, s))

	_, err := s.Term(1)
	require.ErrorIs(t, err, raft.ErrUnavailable)
	_, err = s.Entries(1, 2, noLimit)
	require.ErrorIs(t, err, raft.ErrUnavailable)
	_, err = s.Entries(0, 1, noLimit)
	require.ErrorIs(t, err, raft.ErrCompacted, "index 0 is never an entry")
	ents, err := s.Entries(1, 1, noLimit)
	require.NoError(t, err, "an empty range in bounds is not an error")
	require.Empty(t, ents)
	snap, err := s.Snapshot()
	require.NoError(t, err)
	require.True(t, snap.IsEmpty())

	_, err = s.CreateSnapshot(0, raft.ConfState{}, nil)
	require.ErrorIs(t, err, raft.ErrSnapOutOfDate)
	_, err = s.CreateSnapshot(1, raft.ConfState{}, nil)
	require.Error(t, err, "CreateSnapshot beyond the last index")
	require.ErrorIs(t, s.Compact(0), raft.ErrCompacted)
	require.Error(t, s.Compact(1), "Compact with no snapshot")
	require.NoError(t, s.Save(raft.HardState{}, nil, raft.Snapshot{}, true), "an empty Save is a no-op")
	require.Equal(t, State{First: 1, Last: 0, Terms: []uint64{0}}, Observe(t, s))
}

// termBase is a store whose snapshot is at 3 (term 3) followed by entries
// 4, 5, 6 with terms 4, 5, 5.
func termBase(t *testing.T, open func(*testing.T) raft.LogStore) raft.LogStore {
	s := open(t)
	save(t, s, raft.HardState{Term: 5, Commit: 3}, entries(4, 4, 5, 5), snapshot(3, 3, "three", 1))
	return s
}

func testTerm(t *testing.T, open func(*testing.T) raft.LogStore) {
	s := termBase(t, open)
	for _, tc := range []struct {
		i    uint64
		term uint64
		err  error
	}{
		{0, 0, raft.ErrCompacted},
		{2, 0, raft.ErrCompacted},
		{3, 3, nil}, // FirstIndex-1: the snapshot's term
		{4, 4, nil},
		{5, 5, nil},
		{6, 5, nil},
		{7, 0, raft.ErrUnavailable},
		{100, 0, raft.ErrUnavailable},
	} {
		term, err := s.Term(tc.i)
		if tc.err != nil {
			require.ErrorIs(t, err, tc.err, "Term(%d)", tc.i)
			continue
		}
		require.NoError(t, err, "Term(%d)", tc.i)
		require.Equal(t, tc.term, term, "Term(%d)", tc.i)
	}
}

func testEntries(t *testing.T, open func(*testing.T) raft.LogStore) {
	s := termBase(t, open)
	for _, tc := range []struct {
		lo, hi uint64
		want   []raft.Entry
		err    error
	}{
		{2, 6, nil, raft.ErrCompacted},
		{3, 4, nil, raft.ErrCompacted}, // the snapshot's index is not readable
		{4, 5, entries(4, 4), nil},
		{4, 7, entries(4, 4, 5, 5), nil},
		{5, 7, entries(5, 5, 5), nil},
		{6, 7, entries(6, 5), nil},
		{5, 5, nil, nil},
		{4, 8, nil, raft.ErrUnavailable},
		{7, 8, nil, raft.ErrUnavailable},
	} {
		got, err := s.Entries(tc.lo, tc.hi, noLimit)
		if tc.err != nil {
			require.ErrorIs(t, err, tc.err, "Entries(%d, %d)", tc.lo, tc.hi)
			continue
		}
		require.NoError(t, err, "Entries(%d, %d)", tc.lo, tc.hi)
		requireEntries(t, tc.want, got, "Entries(%d, %d)", tc.lo, tc.hi)
	}
}

// Reference: raft/types.go, Storage.Entries: "limited to about maxSize
// bytes but always at least one entry". As in etcd, the result is the
// longest prefix whose total Entry.Size is <= maxSize, or one entry.
func testEntriesMaxSize(t *testing.T, open func(*testing.T) raft.LogStore) {
	s := open(t)
	ents := sized(4, 8, 4, 100) // Size() = 124 each
	save(t, s, raft.HardState{}, ents, snapshot(3, 3, "three", 1))
	for _, tc := range []struct {
		lo, max uint64
		n       int
	}{
		{4, 0, 1},
		{4, 123, 1},
		{4, 124, 1},
		{4, 247, 1},
		{4, 248, 2},
		{4, 371, 2},
		{4, 372, 3},
		{4, 496, 4},
		{4, noLimit, 4},
		{5, 0, 1},
		{5, 248, 2},
		{7, 0, 1},
	} {
		got, err := s.Entries(tc.lo, 8, tc.max)
		require.NoError(t, err, "Entries(%d, 8, %d)", tc.lo, tc.max)
		requireEntries(t, ents[tc.lo-4:tc.lo-4+uint64(tc.n)], got, "Entries(%d, 8, %d)", tc.lo, tc.max)
	}
}

func testSaveAppends(t *testing.T, open func(*testing.T) raft.LogStore) {
	s := open(t)
	appendEnts(t, s, entries(1, 1, 1, 1)...)
	appendEnts(t, s, entries(4, 2)...)
	appendEnts(t, s, entries(5, 2, 3, 3)...)
	appendEnts(t, s, raft.Entry{Index: 8, Term: 3, Type: raft.EntryConfChange, Data: []byte("cc")})
	appendEnts(t, s, raft.Entry{Index: 9, Term: 4}) // a leader's empty entry
	want := append(entries(1, 1, 1, 1, 2, 2, 3, 3),
		raft.Entry{Index: 8, Term: 3, Type: raft.EntryConfChange, Data: []byte("cc")},
		raft.Entry{Index: 9, Term: 4})
	st := Observe(t, s)
	require.Equal(t, uint64(1), st.First)
	require.Equal(t, uint64(9), st.Last)
	require.Equal(t, []uint64{0, 1, 1, 1, 2, 2, 3, 3, 3, 4}, st.Terms)
	requireEntries(t, want, st.Entries)
}

// Reference: Raft paper §5.3: "If an existing entry conflicts with a new
// one (same index but different terms), delete the existing entry and all
// that follow it". The store does not compare terms: the new entries replace
// whatever it holds from their first index on.
func testSaveOverwrite(t *testing.T, open func(*testing.T) raft.LogStore) {
	base := entries(1, 1, 1, 2, 2, 2)
	for _, tc := range []struct {
		name string
		save []raft.Entry
		want []raft.Entry
	}{
		{"identical suffix", entries(3, 2, 2, 2), base},
		{"identical prefix", entries(1, 1, 1), entries(1, 1, 1)},
		{"append", entries(6, 3), entries(1, 1, 1, 2, 2, 2, 3)},
		{"conflict in the middle", entries(3, 3, 3), entries(1, 1, 1, 3, 3)},
		{"conflict at the last entry, longer", entries(5, 3, 3, 3), entries(1, 1, 1, 2, 2, 3, 3, 3)},
		{"conflict at the first entry", entries(1, 4, 4), entries(1, 4, 4)},
		{"overlap then extend", entries(4, 2, 2, 2, 2), entries(1, 1, 1, 2, 2, 2, 2, 2)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			appendEnts(t, s, base...)
			appendEnts(t, s, tc.save...)
			st := Observe(t, s)
			require.Equal(t, uint64(1), st.First)
			require.Equal(t, tc.want[len(tc.want)-1].Index, st.Last)
			requireEntries(t, tc.want, st.Entries)
		})
	}
}

// Entries at or below FirstIndex-1 are already in the snapshot: Save skips
// them and applies the rest.
func testSaveIgnoresCompacted(t *testing.T, open func(*testing.T) raft.LogStore) {
	for _, tc := range []struct {
		name  string
		save  []raft.Entry
		first uint64
		want  []raft.Entry
	}{
		{"all compacted", entries(3, 2, 2, 2), 6, entries(6, 2, 3, 3)},
		{"straddling, identical", entries(4, 2, 2, 2, 3, 3), 6, entries(6, 2, 3, 3)},
		{"straddling, conflicting", entries(4, 2, 2, 2, 4), 6, entries(6, 2, 4)},
		{"straddling, extending", entries(5, 2, 2, 3, 3, 3), 6, entries(6, 2, 3, 3, 3)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			save(t, s, raft.HardState{}, entries(6, 2, 3, 3), snapshot(5, 2, "five", 1))
			appendEnts(t, s, tc.save...)
			st := Observe(t, s)
			require.Equal(t, tc.first, st.First)
			require.Equal(t, uint64(2), st.Terms[0], "Term(FirstIndex-1)")
			requireEntries(t, tc.want, st.Entries)
		})
	}
}

// A batch that starts beyond LastIndex+1 would leave a hole in the log: it
// is refused, and nothing of that Save is applied.
func testSaveGap(t *testing.T, open func(*testing.T) raft.LogStore) {
	t.Run("after entries", func(t *testing.T) {
		s := open(t)
		appendEnts(t, s, entries(1, 1, 1, 1)...)
		before := Observe(t, s)
		require.Error(t, s.Save(raft.HardState{Term: 2, Commit: 1}, entries(5, 2, 2), raft.Snapshot{}, true))
		require.Equal(t, before, Observe(t, s))
	})
	t.Run("after a snapshot", func(t *testing.T) {
		s := open(t)
		save(t, s, raft.HardState{}, nil, snapshot(5, 2, "five", 1))
		before := Observe(t, s)
		require.Error(t, s.Save(raft.HardState{}, entries(7, 2), raft.Snapshot{}, true))
		require.Equal(t, before, Observe(t, s))
	})
}

func testSaveHardState(t *testing.T, open func(*testing.T) raft.LogStore) {
	s := open(t)
	requireHS := func(want raft.HardState) {
		t.Helper()
		hs, _, err := s.InitialState()
		require.NoError(t, err)
		require.Equal(t, want, hs)
	}
	save(t, s, raft.HardState{Term: 1, Vote: 1}, nil, raft.Snapshot{})
	requireHS(raft.HardState{Term: 1, Vote: 1})
	save(t, s, raft.HardState{Term: 2, Vote: 1, Commit: 2}, entries(1, 1, 2), raft.Snapshot{})
	requireHS(raft.HardState{Term: 2, Vote: 1, Commit: 2})
	appendEnts(t, s, entries(3, 2)...) // an empty HardState leaves the saved one alone
	requireHS(raft.HardState{Term: 2, Vote: 1, Commit: 2})
	save(t, s, raft.HardState{Term: 3, Vote: 0, Commit: 3}, nil, raft.Snapshot{})
	requireHS(raft.HardState{Term: 3, Vote: 0, Commit: 3})
}

func testSaveSnapshot(t *testing.T, open func(*testing.T) raft.LogStore) {
	t.Run("newer than the log discards it", func(t *testing.T) {
		s := open(t)
		save(t, s, raft.HardState{Term: 1, Vote: 1, Commit: 3}, entries(1, 1, 1, 1), raft.Snapshot{})
		snap := raft.Snapshot{
			Data:     []byte("state at 10"),
			Metadata: raft.SnapshotMetadata{Index: 10, Term: 4, ConfState: raft.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}}},
		}
		hs := raft.HardState{Term: 4, Commit: 10}
		save(t, s, hs, nil, snap)
		require.Equal(t, State{
			HardState: hs,
			ConfState: snap.Metadata.ConfState,
			First:     11,
			Last:      10,
			Terms:     []uint64{4},
			Snapshot:  snap,
		}, Observe(t, s))
		_, err := s.Entries(10, 11, noLimit)
		require.ErrorIs(t, err, raft.ErrCompacted)
		_, err = s.Term(9)
		require.ErrorIs(t, err, raft.ErrCompacted)

		appendEnts(t, s, entries(11, 4, 5)...)
		st := Observe(t, s)
		require.Equal(t, uint64(11), st.First)
		require.Equal(t, uint64(12), st.Last)
		requireEntries(t, entries(11, 4, 5), st.Entries)
		require.Equal(t, snap, st.Snapshot)
	})
	t.Run("with entries and hard state in one Save", func(t *testing.T) {
		s := open(t)
		hs := raft.HardState{Term: 2, Vote: 1, Commit: 6}
		save(t, s, hs, entries(6, 2, 2), snapshot(5, 2, "five", 1, 2))
		st := Observe(t, s)
		require.Equal(t, hs, st.HardState)
		require.Equal(t, raft.ConfState{Voters: []uint64{1, 2}}, st.ConfState)
		require.Equal(t, uint64(6), st.First)
		require.Equal(t, uint64(7), st.Last)
		require.Equal(t, []uint64{2, 2, 2}, st.Terms)
		requireEntries(t, entries(6, 2, 2), st.Entries)
	})
	t.Run("entries overlapping it are ignored", func(t *testing.T) {
		s := open(t)
		save(t, s, raft.HardState{}, entries(3, 1, 2, 2, 2, 2), snapshot(5, 2, "five", 1))
		st := Observe(t, s)
		require.Equal(t, uint64(6), st.First)
		requireEntries(t, entries(6, 2, 2), st.Entries)
	})
	t.Run("inside a conflicting log discards it", func(t *testing.T) {
		s := open(t)
		appendEnts(t, s, entries(1, 1, 1, 1, 1, 1)...)
		save(t, s, raft.HardState{Term: 2, Commit: 3}, nil, snapshot(3, 2, "three", 1))
		st := Observe(t, s)
		require.Equal(t, uint64(4), st.First)
		require.Equal(t, uint64(3), st.Last)
		require.Equal(t, []uint64{2}, st.Terms)
	})
	t.Run("round trip of data and configuration", func(t *testing.T) {
		s := open(t)
		data := make([]byte, 100_000)
		for i := range data {
			data[i] = byte(i * 7)
		}
		snap := raft.Snapshot{Data: data, Metadata: raft.SnapshotMetadata{Index: 7, Term: 3, ConfState: raft.ConfState{Voters: []uint64{5, 1, 3}, Learners: []uint64{8, 9}}}}
		save(t, s, raft.HardState{}, nil, snap)
		got, err := s.Snapshot()
		require.NoError(t, err)
		require.Equal(t, snap, got)
		_, cs, err := s.InitialState()
		require.NoError(t, err)
		require.Equal(t, snap.Metadata.ConfState, cs)
	})
}

// Reference: raft/types.go, ErrSnapOutOfDate. A Save whose snapshot is not
// newer than the store's fails with it, atomically: its entries and hard
// state are not applied either.
func testSaveSnapshotOutOfDate(t *testing.T, open func(*testing.T) raft.LogStore) {
	for _, idx := range []uint64{5, 3, 1} {
		s := open(t)
		save(t, s, raft.HardState{Term: 2, Commit: 6}, entries(6, 2, 2), snapshot(5, 2, "five", 1))
		before := Observe(t, s)
		err := s.Save(raft.HardState{Term: 9, Vote: 9, Commit: 8}, entries(8, 3), snapshot(idx, 2, "old", 1), true)
		require.ErrorIs(t, err, raft.ErrSnapOutOfDate, "snapshot at %d after one at 5", idx)
		require.Equal(t, before, Observe(t, s), "a failed Save changed the store")
	}
}

func createBase(t *testing.T, open func(*testing.T) raft.LogStore) raft.LogStore {
	s := open(t)
	save(t, s, raft.HardState{Term: 3, Commit: 5}, entries(1, 1, 1, 2, 2, 3), raft.Snapshot{})
	return s
}

// Reference: raft/types.go, LogStore.CreateSnapshot.
func testCreateSnapshot(t *testing.T, open func(*testing.T) raft.LogStore) {
	cs := raft.ConfState{Voters: []uint64{1, 2, 3}}
	for _, tc := range []struct {
		i    uint64
		term uint64
		err  error
	}{
		{3, 2, nil},
		{4, 2, nil},
		{5, 3, nil},
		{1, 1, nil},
		{0, 0, raft.ErrSnapOutOfDate},
		{6, 0, raft.ErrUnavailable},
	} {
		s := createBase(t, open)
		before := Observe(t, s)
		snap, err := s.CreateSnapshot(tc.i, cs, []byte("data"))
		if tc.err != nil {
			require.Error(t, err, "CreateSnapshot(%d)", tc.i)
			if tc.err == raft.ErrSnapOutOfDate {
				require.ErrorIs(t, err, tc.err, "CreateSnapshot(%d)", tc.i)
			}
			require.Equal(t, before, Observe(t, s))
			continue
		}
		require.NoError(t, err, "CreateSnapshot(%d)", tc.i)
		want := raft.Snapshot{Data: []byte("data"), Metadata: raft.SnapshotMetadata{Index: tc.i, Term: tc.term, ConfState: cs}}
		require.Equal(t, want, normSnap(snap))
		after := Observe(t, s)
		require.Equal(t, want, after.Snapshot)
		require.Equal(t, cs, after.ConfState, "InitialState returns the snapshot's ConfState")
		// It does not compact the log.
		before.Snapshot, before.ConfState = want, cs
		require.Equal(t, before, after)
	}

	t.Run("not newer than the current one", func(t *testing.T) {
		s := createBase(t, open)
		_, err := s.CreateSnapshot(3, cs, []byte("three"))
		require.NoError(t, err)
		for _, i := range []uint64{3, 2} {
			_, err := s.CreateSnapshot(i, cs, []byte("again"))
			require.ErrorIs(t, err, raft.ErrSnapOutOfDate, "CreateSnapshot(%d) after 3", i)
		}
		got, err := s.Snapshot()
		require.NoError(t, err)
		require.Equal(t, []byte("three"), got.Data)
		snap, err := s.CreateSnapshot(4, raft.ConfState{Voters: []uint64{1}}, nil)
		require.NoError(t, err)
		require.Equal(t, raft.SnapshotMetadata{Index: 4, Term: 2, ConfState: raft.ConfState{Voters: []uint64{1}}}, snap.Metadata)
		got, err = s.Snapshot()
		require.NoError(t, err)
		require.Equal(t, normSnap(snap), normSnap(got))
		require.Empty(t, got.Data)
	})
}

// Reference: raft/types.go, LogStore.Compact.
func testCompact(t *testing.T, open func(*testing.T) raft.LogStore) {
	base := func(t *testing.T) raft.LogStore {
		s := createBase(t, open) // terms 1 1 2 2 3
		_, err := s.CreateSnapshot(4, raft.ConfState{Voters: []uint64{1}}, []byte("four"))
		require.NoError(t, err)
		return s
	}
	for _, tc := range []struct {
		name   string
		ops    []uint64 // Compact calls that must succeed
		i      uint64
		err    error // nil: success
		first  uint64
		mTerm  uint64 // Term(FirstIndex-1)
		remain []raft.Entry
	}{
		{"to the middle", nil, 2, nil, 3, 1, entries(3, 2, 2, 3)},
		{"to the snapshot", nil, 4, nil, 5, 2, entries(5, 3)},
		{"twice", []uint64{2}, 3, nil, 4, 2, entries(4, 2, 3)},
		{"already compacted", []uint64{2}, 2, raft.ErrCompacted, 3, 1, entries(3, 2, 2, 3)},
		{"below the compacted index", []uint64{3}, 1, raft.ErrCompacted, 4, 2, entries(4, 2, 3)},
		{"zero", nil, 0, raft.ErrCompacted, 1, 0, entries(1, 1, 1, 2, 2, 3)},
		{"past the snapshot", nil, 5, errAny, 1, 0, entries(1, 1, 1, 2, 2, 3)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := base(t)
			for _, i := range tc.ops {
				require.NoError(t, s.Compact(i))
			}
			err := s.Compact(tc.i)
			switch tc.err {
			case nil:
				require.NoError(t, err)
			case errAny:
				require.Error(t, err)
				require.NotErrorIs(t, err, raft.ErrCompacted)
			default:
				require.ErrorIs(t, err, tc.err)
			}
			st := Observe(t, s)
			require.Equal(t, tc.first, st.First)
			require.Equal(t, uint64(5), st.Last)
			require.Equal(t, tc.mTerm, st.Terms[0], "Term(FirstIndex-1)")
			requireEntries(t, tc.remain, st.Entries)
			require.Equal(t, uint64(4), st.Snapshot.Metadata.Index, "Compact changed the snapshot")
			require.Equal(t, []byte("four"), st.Snapshot.Data)
		})
	}
	t.Run("without a snapshot", func(t *testing.T) {
		s := createBase(t, open)
		before := Observe(t, s)
		require.Error(t, s.Compact(1))
		require.Equal(t, before, Observe(t, s))
	})
}

// errAny marks a table case that must fail without naming the error.
var errAny = errors.New("any error")

func errTorn(format string, args ...any) error {
	return fmt.Errorf("torn read: "+format, args...)
}

// After compacting everything, Term(FirstIndex-1) is the snapshot's term
// and the log continues from there.
func testCompactThenAppend(t *testing.T, open func(*testing.T) raft.LogStore) {
	s := createBase(t, open)
	_, err := s.CreateSnapshot(5, raft.ConfState{Voters: []uint64{1}}, []byte("five"))
	require.NoError(t, err)
	require.NoError(t, s.Compact(5))
	st := Observe(t, s)
	require.Equal(t, uint64(6), st.First)
	require.Equal(t, uint64(5), st.Last)
	require.Equal(t, []uint64{3}, st.Terms)
	save(t, s, raft.HardState{Term: 4, Commit: 6}, entries(6, 4, 4), raft.Snapshot{})
	st = Observe(t, s)
	require.Equal(t, []uint64{3, 4, 4}, st.Terms)
	requireEntries(t, entries(6, 4, 4), st.Entries)
	require.Equal(t, raft.HardState{Term: 4, Commit: 6}, st.HardState)
}

// Reference: raft/types.go, Storage: "All methods must be safe to call
// while the driver writes from another goroutine." Readers must never see
// a half-applied Save: every read is checked against the writer's rule
// (the term of index i is i/10+1). Run with -race.
func testConcurrent(t *testing.T, open func(*testing.T) raft.LogStore) {
	s := open(t)
	termOf := func(i uint64) uint64 { return i/10 + 1 }
	const total = 240
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		for lo := uint64(1); lo <= total; lo += 3 {
			var batch []raft.Entry
			for i := lo; i < lo+3; i++ {
				batch = append(batch, entry(i, termOf(i)))
			}
			if err := s.Save(raft.HardState{Term: termOf(lo + 2), Commit: lo}, batch, raft.Snapshot{}, false); err != nil {
				errs <- err
				return
			}
		}
	}()
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				last, err := s.LastIndex()
				if err != nil {
					errs <- err
					return
				}
				if last%3 != 0 {
					errs <- errTorn("LastIndex %d is not a whole number of batches", last)
					return
				}
				if last == 0 {
					continue
				}
				ents, err := s.Entries(1, last+1, noLimit)
				if err != nil {
					errs <- err
					return
				}
				if uint64(len(ents)) != last {
					errs <- errTorn("Entries(1, %d) returned %d entries", last+1, len(ents))
					return
				}
				for k, e := range ents {
					if e.Index != uint64(k)+1 || e.Term != termOf(e.Index) {
						errs <- errTorn("Entries returned %d/%d at position %d", e.Index, e.Term, k)
						return
					}
				}
				if term, err := s.Term(last); err != nil || term != termOf(last) {
					errs <- errTorn("Term(%d) = %d, %v", last, term, err)
					return
				}
				if _, _, err := s.InitialState(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	last, err := s.LastIndex()
	require.NoError(t, err)
	require.Equal(t, uint64(total), last)
}

// testRandom compares the store with the model over a few hundred random
// operations a driver could issue. Failures name the seed and operation.
func testRandom(t *testing.T, open func(*testing.T) raft.LogStore) {
	for _, seed := range []uint64{1, 2, 3} {
		randomOps(t, seed, 120, 0, open(t), nil)
	}
}
