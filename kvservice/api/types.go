package api

import (
	"context"
	"fmt"
	"net/http"

	"github.com/raftkv/raftkv/kvservice/fsm"
)

// Limits from docs/api.md.
const (
	MaxKeyBytes   = 1 << 10
	MaxValueBytes = 1 << 20
	MaxBodyBytes  = 2 << 20
)

// ForwardedHeader marks a request forwarded by a follower; its value is the
// comma-separated names of the nodes that forwarded it, in order.
const ForwardedHeader = "X-Raftkv-Forwarded-By"

// ForwarderTokenHeader carries, on a request a node forwards, that node's
// own admin token (Config.NodeToken). With tokens on, it is what tells a
// peer's ForwardedHeader from one a client made up: the client's own
// Authorization header travels with the request, so it cannot be the proof.
const ForwarderTokenHeader = "X-Raftkv-Forwarder-Token"

// MaxForwardHops is how many nodes may forward one request: a node that
// receives a request already forwarded this many times, or forwarded by
// the node it believes leads, answers not_leader instead.
const MaxForwardHops = 2

// ReadMode says how a get is served.
type ReadMode string

// Read modes.
const (
	// ReadLinearizable: a read index confirmed by a quorum (thesis §6.4).
	ReadLinearizable ReadMode = "linearizable"
	// ReadLease: the leader's lease, no quorum round (thesis §6.4.1); only
	// correct under bounded clock drift.
	ReadLease ReadMode = "lease"
	// ReadStale: the local state, possibly stale.
	ReadStale ReadMode = "stale"
)

// ParseReadMode validates a read mode name.
func ParseReadMode(s string) (ReadMode, error) {
	switch m := ReadMode(s); m {
	case ReadLinearizable, ReadLease, ReadStale:
		return m, nil
	}
	return "", fmt.Errorf("unknown read mode %q (want linearizable, lease or stale)", s)
}

// Error codes (docs/api.md).
const (
	CodeBadRequest       = "bad_request"
	CodeUnknownOperation = "unknown_operation"
	CodeKeyTooLarge      = "key_too_large"
	CodeValueTooLarge    = "value_too_large"
	CodeBodyTooLarge     = "body_too_large"
	CodeKeyNotFound      = "key_not_found"
	CodeNoLeader         = "no_leader"
	CodeNotLeader        = "not_leader"
	CodeTimeout          = "timeout"
	CodeProposalDropped  = "proposal_dropped"
	CodeLeadershipLost   = "leadership_lost"
	CodeForwardFailed    = "forward_failed"
	CodeShuttingDown     = "shutting_down"
	CodeInternal         = "internal"
	CodeStaleRequest     = "stale_request"
	CodeNotFound         = "not_found"
	CodeNotReady         = "not_ready"
	// CodePendingConfChange: a membership change is still in flight, so
	// this one was not proposed (503, definite).
	CodePendingConfChange = "pending_conf_change"
	// CodeMemberExists: a join under the name of a current member with
	// another raft ID (new data); remove the old member first (409).
	CodeMemberExists = "member_exists"
	// CodeRaftIDRemoved: a join with a raft ID that was removed; removed
	// IDs are never reused (409).
	CodeRaftIDRemoved = "raft_id_removed"
	// CodeRaftIDInUse: a join with a raft ID of a member of another name
	// (409).
	CodeRaftIDInUse = "raft_id_in_use"
)

// Error is an API error: the body of every non-2xx answer.
type Error struct {
	Code     string `json:"code"`
	Message  string `json:"message"`
	Definite bool   `json:"definite"`
	Status   int    `json:"-"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *Error with the status and definiteness the code has in
// docs/api.md.
func Errorf(code, format string, args ...any) *Error {
	e := &Error{Code: code, Message: fmt.Sprintf(format, args...), Definite: true, Status: http.StatusBadRequest}
	switch code {
	case CodeValueTooLarge, CodeBodyTooLarge:
		e.Status = http.StatusRequestEntityTooLarge
	case CodeKeyNotFound, CodeNotFound:
		e.Status = http.StatusNotFound
	case CodeNoLeader, CodeNotLeader, CodeShuttingDown, CodeNotReady, CodePendingConfChange:
		e.Status = http.StatusServiceUnavailable
	case CodeTimeout:
		e.Status, e.Definite = http.StatusGatewayTimeout, false
	case CodeProposalDropped:
		e.Status = http.StatusServiceUnavailable
	case CodeLeadershipLost:
		e.Status, e.Definite = http.StatusServiceUnavailable, false
	case CodeForwardFailed:
		e.Status, e.Definite = http.StatusBadGateway, false
	case CodeInternal:
		e.Status, e.Definite = http.StatusInternalServerError, false
	case CodeStaleRequest, CodeMemberExists, CodeRaftIDRemoved, CodeRaftIDInUse:
		e.Status = http.StatusConflict
	}
	return e
}

// ErrorBody is the JSON of an error answer.
type ErrorBody struct {
	Error  *Error `json:"error"`
	Leader string `json:"leader,omitempty"`
}

// CommandRequest is the body of POST /command.
type CommandRequest struct {
	Operation string  `json:"operation"`
	Key       string  `json:"key"`
	Value     *string `json:"value,omitempty"`
	Expected  *string `json:"expected,omitempty"`
	ClientID  string  `json:"client_id,omitempty"`
	RequestID uint64  `json:"request_id,omitempty"`
	ReadMode  string  `json:"read_mode,omitempty"`
}

// CommandResponse is the body of a successful command.
type CommandResponse struct {
	OK        bool    `json:"ok"`
	Operation string  `json:"operation"`
	Key       string  `json:"key"`
	Value     *string `json:"value,omitempty"`
	Found     *bool   `json:"found,omitempty"`
	Succeeded *bool   `json:"succeeded,omitempty"`
	Node      string  `json:"node"`
	Index     uint64  `json:"index"`
	// Duplicate: the write was a retry; this is the first result.
	Duplicate bool `json:"duplicate,omitempty"`
	// ReadMode is the mode a get was served with.
	ReadMode string `json:"read_mode,omitempty"`
}

// Member is one entry of GET /cluster/members.
type Member struct {
	ID       string `json:"id"`
	RaftID   uint64 `json:"raft_id"`
	RaftAddr string `json:"raft_addr"`
	APIAddr  string `json:"api_addr"`
	Voter    bool   `json:"voter"`
	// Match is the leader's view of the member's replicated index; only
	// the leader reports it.
	Match *uint64 `json:"match,omitempty"`
}

// MembersResponse is the body of GET and POST /cluster/members.
type MembersResponse struct {
	Members []Member `json:"members"`
	// ClusterID (hex) lets a joining node adopt the cluster's identity.
	ClusterID string `json:"cluster_id,omitempty"`
}

// AddMemberRequest is the body of POST /cluster/members.
type AddMemberRequest struct {
	ID string `json:"id"`
	// RaftID is the raft ID of the incarnation asking to join (a joining
	// node picks a fresh one). Without it the request can only update the
	// addresses of a current member of that name.
	RaftID   uint64 `json:"raft_id,omitempty"`
	RaftAddr string `json:"raft_addr"`
	APIAddr  string `json:"api_addr"`
	Learner  bool   `json:"learner"`
}

// TransferRequest is the body of POST /cluster/leader.
type TransferRequest struct {
	ID string `json:"id"`
}

// TransferResponse answers POST /cluster/leader.
type TransferResponse struct {
	Leader string `json:"leader"`
}

// Status is the body of GET /status.
type Status struct {
	ID            string   `json:"id"`
	RaftID        uint64   `json:"raft_id"`
	ClusterID     string   `json:"cluster_id"`
	Role          string   `json:"role"`
	Term          uint64   `json:"term"`
	Vote          uint64   `json:"vote"`
	Leader        string   `json:"leader"`
	LeaderRaftID  uint64   `json:"leader_raft_id"`
	Commit        uint64   `json:"commit"`
	Applied       uint64   `json:"applied"`
	LastIndex     uint64   `json:"last_index"`
	SnapshotIndex uint64   `json:"snapshot_index"`
	Members       []Member `json:"members"`
	StateHash     string   `json:"state_hash"`
	Keys          int      `json:"keys"`
	ReadMode      string   `json:"read_mode"`
	// ElectionElapsedMS is how long ago the election timer was reset (on
	// a follower: when it last heard from the leader; on a leader: when
	// its check-quorum round began), in ticks times the heartbeat
	// interval. ElectionTimeoutMS is what it runs against: the randomized
	// election timeout, or the check-quorum round on a leader.
	ElectionElapsedMS int64 `json:"election_elapsed_ms"`
	ElectionTimeoutMS int64 `json:"election_timeout_ms"`
}

// LeaderInfo is the local view of who leads.
type LeaderInfo struct {
	Name    string // empty when no leader is known
	APIAddr string // empty when the leader's address is unknown
	Self    bool
}

// Backend is what the API needs from a node.
type Backend interface {
	// Name is this node's name (node0, ...).
	Name() string
	// Leader is the current leader as this node knows it.
	Leader() LeaderInfo
	// Propose replicates a write and waits for its result. The API calls
	// it only when Leader().Self.
	Propose(ctx context.Context, c fsm.Command) (fsm.Result, error)
	// Read serves a get. For ReadLinearizable and ReadLease the API calls
	// it only when Leader().Self.
	Read(ctx context.Context, key string, mode ReadMode) (fsm.Result, error)
	// ResolveReadMode returns the mode a get asking for requested ("" for
	// the node's default) is actually served with.
	ResolveReadMode(requested ReadMode) ReadMode
	Status() Status
	Members() MembersResponse
	// AddMember, RemoveMember and TransferLeader run on the leader.
	AddMember(ctx context.Context, req AddMemberRequest) (MembersResponse, error)
	RemoveMember(ctx context.Context, name string) error
	TransferLeader(ctx context.Context, name string) (string, error)
	// Ready says whether the node has a leader and has applied its log up
	// to the commit index it knew at start; reason explains a false.
	Ready() (ok bool, reason string)
}

// NetworkRule is one rule of PUT /fault/network.
type NetworkRule struct {
	Peer      string  `json:"peer"`
	Direction string  `json:"direction"`
	Drop      bool    `json:"drop,omitempty"`
	Loss      float64 `json:"loss,omitempty"`
	DelayMS   int     `json:"delay_ms,omitempty"`
	JitterMS  int     `json:"jitter_ms,omitempty"`
}

// NetworkFaults is the body of PUT /fault/network.
type NetworkFaults struct {
	Rules []NetworkRule `json:"rules"`
}

// ClockFault is the body of PUT /fault/clock.
type ClockFault struct {
	OffsetMS       int64   `json:"offset_ms"`
	Rate           float64 `json:"rate"`
	StrobeDeltaMS  int64   `json:"strobe_delta_ms"`
	StrobePeriodMS int64   `json:"strobe_period_ms"`
}

// Failpoint is the body of PUT /fault/failpoint.
type Failpoint struct {
	Name  string `json:"name"`
	After int    `json:"after"`
}

// FaultState is the body of GET /fault.
type FaultState struct {
	Network   []NetworkRule `json:"network"`
	Clock     *ClockFault   `json:"clock,omitempty"`
	Failpoint *Failpoint    `json:"failpoint,omitempty"`
}

// FaultBackend is the node's fault-injection surface, present only when
// the node runs with --unsafe-enable-fault-injection.
type FaultBackend interface {
	SetNetworkFaults(rules []NetworkRule) error
	ClearNetworkFaults()
	SetClock(c ClockFault) error
	ClearClock()
	ArmFailpoint(fp Failpoint) error
	DisarmFailpoint()
	Faults() FaultState
}
