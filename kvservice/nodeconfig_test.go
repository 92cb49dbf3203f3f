package kvservice

import (
	"testing"
	"time"
)

// NodeConfig keeps today's defaults for zero options, passes the replication
// knobs through, and never turns check-quorum off under lease reads (a lease
// is only sound with it).
func TestNodeConfigKnobs(t *testing.T) {
	base := RaftOptions{ID: 1, ElectionTimeout: time.Second, HeartbeatInterval: 100 * time.Millisecond}
	c := NodeConfig(base).Raft
	if c.MaxSizePerMsg != 1<<20 || c.MaxInflightMsgs != 256 || !c.PreVote || !c.CheckQuorum || c.ElectionTick != 10 {
		t.Errorf("defaults: %+v", c)
	}
	o := base
	o.MaxAppendBytes, o.MaxInflight, o.NoPreVote, o.NoCheckQuorum = 1, 2, true, true
	c = NodeConfig(o).Raft
	if c.MaxSizePerMsg != 1 || c.MaxInflightMsgs != 2 || c.PreVote || c.CheckQuorum {
		t.Errorf("knobs: %+v", c)
	}
	o.LeaseReads = true
	if c = NodeConfig(o).Raft; !c.CheckQuorum {
		t.Errorf("lease reads without check-quorum: %+v", c)
	}
}
