package storagetest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/raftkv/raftkv/raft"
)

// RunDurability runs the tests that only a durable store must pass. open
// opens (creating if needed) the store kept in directory dir; the suite
// calls it again with the same dir after Close to check that everything
// saved is there, exactly, after a reopen.
func RunDurability(t *testing.T, open func(dir string) (raft.LogStore, error)) {
	for _, tc := range []struct {
		name string
		run  func(*testing.T, *reopener)
	}{
		{"Empty", durEmpty},
		{"EntriesAndHardState", durEntries},
		{"OverwrittenSuffixStaysGone", durOverwrite},
		{"SnapshotReplacesLog", durSnapshot},
		{"CreateSnapshotAndCompact", durCompact},
		{"UnsyncedSaveSurvivesClose", durUnsynced},
		{"RandomAgainstModelWithReopens", durRandom},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &reopener{t: t, dir: t.TempDir(), open: open}
			r.s = r.openStore()
			t.Cleanup(func() {
				if r.s != nil {
					require.NoError(t, r.s.Close())
				}
			})
			tc.run(t, r)
		})
	}
}

type reopener struct {
	t    *testing.T
	dir  string
	open func(string) (raft.LogStore, error)
	s    raft.LogStore
}

func (r *reopener) openStore() raft.LogStore {
	r.t.Helper()
	s, err := r.open(r.dir)
	require.NoError(r.t, err, "open %s", r.dir)
	return s
}

// reopen closes the store, opens it again, and checks that it shows the
// same state as before.
func (r *reopener) reopen() {
	r.t.Helper()
	before := Observe(r.t, r.s)
	require.NoError(r.t, r.s.Close())
	r.s = nil
	r.s = r.openStore()
	require.Equal(r.t, before, Observe(r.t, r.s), "state changed across Close and reopen")
}

func durEmpty(t *testing.T, r *reopener) {
	r.reopen()
	require.Equal(t, State{First: 1, Terms: []uint64{0}}, Observe(t, r.s))
	// The reopened empty store is usable.
	save(t, r.s, raft.HardState{Term: 1, Commit: 1}, entries(1, 1), raft.Snapshot{})
	r.reopen()
}

func durEntries(t *testing.T, r *reopener) {
	save(t, r.s, raft.HardState{Term: 1, Vote: 2}, nil, raft.Snapshot{})
	r.reopen()
	save(t, r.s, raft.HardState{Term: 2, Vote: 2, Commit: 3}, entries(1, 1, 1, 2, 2), raft.Snapshot{})
	appendEnts(t, r.s, raft.Entry{Index: 5, Term: 2, Type: raft.EntryConfChange, Data: []byte{1, 2, 3}}, raft.Entry{Index: 6, Term: 2})
	r.reopen()
	st := Observe(t, r.s)
	require.Equal(t, raft.HardState{Term: 2, Vote: 2, Commit: 3}, st.HardState)
	requireEntries(t, append(entries(1, 1, 1, 2, 2),
		raft.Entry{Index: 5, Term: 2, Type: raft.EntryConfChange, Data: []byte{1, 2, 3}},
		raft.Entry{Index: 6, Term: 2}), st.Entries)
	// Appending continues where it left off.
	appendEnts(t, r.s, entries(7, 3)...)
	r.reopen()
}

func durOverwrite(t *testing.T, r *reopener) {
	appendEnts(t, r.s, entries(1, 1, 1, 1, 1, 1)...)
	r.reopen()
	appendEnts(t, r.s, entries(3, 2)...)
	r.reopen()
	st := Observe(t, r.s)
	require.Equal(t, uint64(3), st.Last)
	requireEntries(t, entries(1, 1, 1, 2), st.Entries)
}

func durSnapshot(t *testing.T, r *reopener) {
	save(t, r.s, raft.HardState{Term: 1, Commit: 2}, entries(1, 1, 1, 1), raft.Snapshot{})
	snap := raft.Snapshot{Data: []byte("at twenty"), Metadata: raft.SnapshotMetadata{Index: 20, Term: 3, ConfState: raft.ConfState{Voters: []uint64{1, 2}, Learners: []uint64{3}}}}
	save(t, r.s, raft.HardState{Term: 3, Vote: 1, Commit: 21}, entries(21, 3, 3), snap)
	r.reopen()
	st := Observe(t, r.s)
	require.Equal(t, uint64(21), st.First)
	require.Equal(t, uint64(22), st.Last)
	require.Equal(t, snap, st.Snapshot)
	require.Equal(t, snap.Metadata.ConfState, st.ConfState)
	require.Equal(t, []uint64{3, 3, 3}, st.Terms)
	// A second, newer snapshot replaces the first for good.
	save(t, r.s, raft.HardState{Term: 4, Commit: 30}, nil, snapshot(30, 4, "at thirty", 1))
	r.reopen()
	st = Observe(t, r.s)
	require.Equal(t, uint64(31), st.First)
	require.Equal(t, []byte("at thirty"), st.Snapshot.Data)
	err := r.s.Save(raft.HardState{}, nil, snap, true)
	require.ErrorIs(t, err, raft.ErrSnapOutOfDate, "the reopened store forgot its snapshot")
}

func durCompact(t *testing.T, r *reopener) {
	save(t, r.s, raft.HardState{Term: 3, Commit: 6}, entries(1, 1, 1, 2, 2, 3, 3, 3), raft.Snapshot{})
	_, err := r.s.CreateSnapshot(4, raft.ConfState{Voters: []uint64{1, 2, 3}}, []byte("four"))
	require.NoError(t, err)
	r.reopen()
	require.NoError(t, r.s.Compact(3))
	r.reopen()
	st := Observe(t, r.s)
	require.Equal(t, uint64(4), st.First)
	require.Equal(t, uint64(2), st.Terms[0], "Term(FirstIndex-1) after reopen")
	require.Equal(t, uint64(4), st.Snapshot.Metadata.Index)
	require.ErrorIs(t, r.s.Compact(3), raft.ErrCompacted, "the reopened store forgot its compaction")
	require.NoError(t, r.s.Compact(4))
	r.reopen()
	st = Observe(t, r.s)
	require.Equal(t, uint64(5), st.First)
	require.Equal(t, []uint64{2, 3, 3, 3}, st.Terms)
	_, err = r.s.CreateSnapshot(4, raft.ConfState{}, nil)
	require.ErrorIs(t, err, raft.ErrSnapOutOfDate)
}

// A Save without sync is not promised to survive a machine crash, but it
// is the store's state: a clean Close keeps it.
func durUnsynced(t *testing.T, r *reopener) {
	require.NoError(t, r.s.Save(raft.HardState{Term: 1, Commit: 2}, entries(1, 1, 1), raft.Snapshot{}, false))
	require.NoError(t, r.s.Save(raft.HardState{}, entries(3, 1), raft.Snapshot{}, false))
	r.reopen()
	st := Observe(t, r.s)
	require.Equal(t, uint64(3), st.Last)
	require.Equal(t, raft.HardState{Term: 1, Commit: 2}, st.HardState)
}

func durRandom(t *testing.T, r *reopener) {
	reopen := func(raft.LogStore) raft.LogStore {
		r.reopen()
		return r.s
	}
	r.s = randomOps(t, 42, 150, 10, r.s, reopen)
}
