//go:build raftkv_bugs

package boltstore

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/raftkv/raftkv/internal/bugs"
	"github.com/raftkv/raftkv/raft"
)

// After a conflicting append replaced entries 6 and 7 (term 2) with entries
// of term 3, Term still answers 2 for them while the file holds term 3;
// reopening the store rebuilds the cache from the file. The scenario runs
// with the bug off and on; bugs are process-global, so this test does not
// run in parallel.
func TestBugStoreStaleTermCache(t *testing.T) {
	t.Cleanup(func() { _ = bugs.Enable() })
	for _, on := range []bool{false, true} {
		var ids []bugs.ID
		name := "off"
		if on {
			ids, name = []bugs.ID{bugs.StoreStaleTermCache}, "on"
		}
		require.NoError(t, bugs.Enable(ids...))
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "raft.db")
			s, err := Open(path, Options{NoSync: true})
			require.NoError(t, err)
			require.NoError(t, s.Save(raft.HardState{Term: 2}, ents(1, 1, 1, 1, 1, 2, 2, 2, 2), raft.Snapshot{}, false))
			require.NoError(t, s.Save(raft.HardState{Term: 3}, ents(6, 3, 3), raft.Snapshot{}, false))
			last, err := s.LastIndex()
			require.NoError(t, err)
			require.Equal(t, uint64(7), last)
			stored, err := s.Entries(6, 8, noLimit)
			require.NoError(t, err)
			require.Equal(t, uint64(3), stored[0].Term)
			require.Equal(t, uint64(3), stored[1].Term)
			want := uint64(3)
			if on {
				want = 2
			}
			for _, i := range []uint64{6, 7} {
				term, err := s.Term(i)
				require.NoError(t, err)
				require.Equal(t, want, term, "Term(%d)", i)
			}
			require.NoError(t, s.Close())
			s, err = Open(path, Options{NoSync: true})
			require.NoError(t, err)
			defer s.Close()
			term, err := s.Term(7)
			require.NoError(t, err)
			require.Equal(t, uint64(3), term, "Term(7) after reopening")
		})
	}
}
