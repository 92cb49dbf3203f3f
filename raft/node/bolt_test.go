package node

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/boltstore"
)

// TestClusterRestartOnBoltStore stops a whole 3-node cluster that keeps its
// log in bbolt files (with snapshots and compaction along the way), reopens
// the files, and checks that every node comes back with its state machine
// restored from the snapshot plus the entries after it, and that the
// cluster goes on.
func TestClusterRestartOnBoltStore(t *testing.T) {
	dir := t.TempDir()
	path := func(id uint64) string { return filepath.Join(dir, fmt.Sprintf("node%d.db", id)) }
	open := func(id uint64) raft.LogStore {
		s, err := boltstore.Open(path(id), boltstore.Options{})
		require.NoError(t, err)
		return s
	}
	tweak := func(id uint64, cfg *Config) {
		cfg.SnapshotEvery = 7
		cfg.SnapshotCatchUpEntries = 3
		if cfg.Store == nil {
			cfg.Store = open(id)
		}
	}
	c := &cluster{t: t, nw: newNetwork(t), nodes: map[uint64]*Node{}, stores: map[uint64]raft.LogStore{},
		sms: map[uint64]*testSM{}, voters: []uint64{1, 2, 3}, tweak: tweak}
	t.Cleanup(func() { // runs before TempDir's removal
		c.stopAll()
		for _, s := range c.stores {
			_ = s.Close()
		}
	})
	for _, id := range c.voters {
		c.start(id, nil, c.voters)
	}
	var want []string
	for i := range 25 {
		v := fmt.Sprintf("b%d", i)
		c.propose(v)
		want = append(want, v)
	}
	c.converged(want)
	c.stopAll()
	for _, id := range c.voters {
		require.NoError(t, c.stores[id].Close())
	}

	for _, id := range c.voters {
		c.start(id, open(id), c.voters) // Bootstrap is ignored: the store is not empty
	}
	for _, id := range c.voters {
		snap, err := c.stores[id].Snapshot()
		require.NoError(t, err)
		require.Positive(t, snap.Metadata.Index, "node %d", id)
		require.Equal(t, 1, c.sms[id].restores, "node %d restores from its snapshot at start", id)
	}
	c.converged(want)
	c.propose("after")
	c.converged(append(want, "after"))
}
