package ui

import (
	"context"
	"time"
)

// Source is what the live page needs from the node that serves it. The node
// server implements it (see the nodesource sub-package for an adapter over
// kvservice and raft/node); tests use fakesource.
//
// Implementations must be safe for concurrent use.
type Source interface {
	// Status is the local node's status. It must be cheap: it is called on
	// every refresh of the live view.
	Status() NodeStatus
	// Members are the members the local node knows, itself included.
	Members() []Member
	// MemberStatus fetches another member's status. An error marks the
	// member unreachable on the page; it must return within ctx.
	MemberStatus(ctx context.Context, m Member) (NodeStatus, error)
	// MemberRequest sends one API request (method, path such as
	// "/fault/network", JSON body or nil) to member m and returns the HTTP
	// status and body of its answer. The page uses it for the fault
	// controls, which act on a chosen member rather than on the local node.
	MemberRequest(ctx context.Context, m Member, method, path string, body []byte) (int, []byte, error)
	// Subscribe calls fn for each event of the local node until cancel is
	// called. fn must not block for long.
	Subscribe(fn func(Event)) (cancel func())
	// FaultInjection reports whether the local node serves the /fault
	// routes (--unsafe-enable-fault-injection).
	FaultInjection() bool
}

// Member is one member of the cluster as the local node knows it (the shape
// of an entry of GET /cluster/members).
type Member struct {
	ID       string `json:"id"`
	RaftID   uint64 `json:"raft_id"`
	RaftAddr string `json:"raft_addr,omitempty"`
	APIAddr  string `json:"api_addr,omitempty"`
	Voter    bool   `json:"voter"`
	// Match is the leader's view of the member's replicated index (GET
	// /status reports it on the leader only).
	Match *uint64 `json:"match,omitempty"`
}

// Progress is the leader's view of one follower's log.
type Progress struct {
	Match uint64 `json:"match"`
	// Next is 0 when unknown (GET /status reports only match).
	Next uint64 `json:"next,omitempty"`
	// State is "probe", "replicate" or "snapshot" ("" when unknown).
	State        string `json:"state,omitempty"`
	RecentActive bool   `json:"recent_active,omitempty"`
	Learner      bool   `json:"learner,omitempty"`
}

// NetworkRule is one rule of PUT /fault/network (docs/api.md).
type NetworkRule struct {
	Peer      string  `json:"peer"`
	Direction string  `json:"direction"`
	Drop      bool    `json:"drop,omitempty"`
	Loss      float64 `json:"loss,omitempty"`
	DelayMS   int     `json:"delay_ms,omitempty"`
	JitterMS  int     `json:"jitter_ms,omitempty"`
}

// ClockFault is the body of PUT /fault/clock (docs/api.md).
type ClockFault struct {
	OffsetMS       int64   `json:"offset_ms"`
	Rate           float64 `json:"rate"`
	StrobeDeltaMS  int64   `json:"strobe_delta_ms"`
	StrobePeriodMS int64   `json:"strobe_period_ms"`
}

// NodeStatus is one node's status: the fields of GET /status plus what only
// the UI endpoint reports (progress with next indexes, timers, faults).
// Optional fields are zero when the node does not report them.
type NodeStatus struct {
	ID            string   `json:"id"`
	RaftID        uint64   `json:"raft_id"`
	Role          string   `json:"role"`
	Term          uint64   `json:"term"`
	Vote          uint64   `json:"vote"`
	Leader        string   `json:"leader"`
	LeaderRaftID  uint64   `json:"leader_raft_id,omitempty"`
	Commit        uint64   `json:"commit"`
	Applied       uint64   `json:"applied"`
	LastIndex     uint64   `json:"last_index"`
	SnapshotIndex uint64   `json:"snapshot_index"`
	Members       []Member `json:"members,omitempty"`
	StateHash     string   `json:"state_hash,omitempty"`
	Keys          int      `json:"keys,omitempty"`
	ReadMode      string   `json:"read_mode,omitempty"`

	// Progress is the leader's view of each member (keyed by member id);
	// only a leader reports it.
	Progress map[string]Progress `json:"progress,omitempty"`
	// ElectionElapsedMS and ElectionTimeoutMS describe the election timer
	// when the node reports it.
	ElectionElapsedMS int64 `json:"election_elapsed_ms,omitempty"`
	ElectionTimeoutMS int64 `json:"election_timeout_ms,omitempty"`
	// LeaderContactMS is how long ago the node last heard from its
	// leader, when it reports it.
	LeaderContactMS int64 `json:"leader_contact_ms,omitempty"`

	// FaultInjection says whether the node serves the /fault routes.
	FaultInjection bool          `json:"fault_injection"`
	Network        []NetworkRule `json:"network_faults,omitempty"`
	Clock          *ClockFault   `json:"clock_fault,omitempty"`
}

// Event types the page knows; other values are shown as they are.
const (
	EventLeaderChanged     = "leader-changed"
	EventRoleChanged       = "role-changed"
	EventTermChanged       = "term-changed"
	EventSnapshotTaken     = "snapshot-taken"
	EventSnapshotRestored  = "snapshot-restored"
	EventConfChangeApplied = "conf-change-applied"
	EventStopped           = "stopped"
)

// Event is one notable change in the local node (the UI form of a
// raft/node Event).
type Event struct {
	Time   time.Time `json:"time"`
	Node   string    `json:"node"`
	Type   string    `json:"type"`
	Term   uint64    `json:"term"`
	Leader string    `json:"leader,omitempty"`
	Role   string    `json:"role,omitempty"`
	Index  uint64    `json:"index,omitempty"`
	// Detail is free text (a conf change, an error).
	Detail string `json:"detail,omitempty"`
}
