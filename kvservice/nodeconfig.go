package kvservice

import (
	"time"

	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/node"
)

// RaftOptions are the node settings that shape its raft driver.
type RaftOptions struct {
	ID                                 uint64
	ElectionTimeout, HeartbeatInterval time.Duration
	// LeaseReads configures the core for lease-based read index.
	LeaseReads       bool
	SnapshotEvery    uint64
	SnapshotLogRatio float64
	// Seed seeds the core's randomized election timeouts.
	Seed int64
	// MaxAppendBytes bounds the entry bytes of one append message and
	// MaxInflight the appends in flight to one follower (0: 1 MiB and
	// 256). Small values make replication proceed in many small steps,
	// as it does with large entries or a slow follower.
	MaxAppendBytes uint64
	MaxInflight    int
	// NoPreVote and NoCheckQuorum turn those protections off (the harness
	// explores both ways: pre-vote and check-quorum hide many election
	// schedules, which a node run without them goes through). Lease reads
	// need check-quorum, so LeaseReads keeps it on.
	NoPreVote, NoCheckQuorum bool
}

// The replication bounds a node runs with when RaftOptions leaves them 0.
const (
	DefaultMaxAppendBytes = 1 << 20
	DefaultMaxInflight    = 256
)

// NodeConfig is the raft driver configuration a raftkv node runs with: the
// core's options (pre-vote, check-quorum, one tick per heartbeat interval,
// the election timeout in ticks), the snapshot policy (a quarter of
// SnapshotEvery kept for slow followers, staggered members). The caller
// fills in the clock, store, transport, state machine and hooks. The
// harness's simulation starts its nodes with it too, so that it tests the
// configuration a real node runs.
func NodeConfig(o RaftOptions) node.Config {
	electionTick := max(2, int(o.ElectionTimeout/o.HeartbeatInterval))
	ro := raft.ReadOnlySafe
	if o.LeaseReads {
		ro = raft.ReadOnlyLeaseBased
	}
	maxBytes, inflight := o.MaxAppendBytes, o.MaxInflight
	if maxBytes == 0 {
		maxBytes = DefaultMaxAppendBytes
	}
	if inflight <= 0 {
		inflight = DefaultMaxInflight
	}
	return node.Config{
		Raft: raft.Config{
			ID:              o.ID,
			ElectionTick:    electionTick,
			HeartbeatTick:   1,
			MaxSizePerMsg:   maxBytes,
			MaxInflightMsgs: inflight,
			CheckQuorum:     !o.NoCheckQuorum || o.LeaseReads,
			PreVote:         !o.NoPreVote,
			ReadOnlyOption:  ro,
			Seed:            o.Seed,
		},
		TickInterval:           o.HeartbeatInterval,
		SnapshotEvery:          o.SnapshotEvery,
		SnapshotCatchUpEntries: o.SnapshotEvery / 4,
		SnapshotLogRatio:       o.SnapshotLogRatio,
		StaggerSnapshots:       true,
	}
}
