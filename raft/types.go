package raft

import (
	"errors"
	"fmt"
)

// None is the placeholder node ID used when there is no leader or no vote.
const None uint64 = 0

// EntryType tells how the application should interpret an Entry's Data.
type EntryType uint8

const (
	// EntryNormal carries an application command (or nothing: the leader's
	// no-op that commits its term, thesis §5.4.2 / paper §8).
	EntryNormal EntryType = iota
	// EntryConfChange carries an encoded ConfChange (see ConfChange.Marshal).
	EntryConfChange
)

func (t EntryType) String() string {
	switch t {
	case EntryNormal:
		return "EntryNormal"
	case EntryConfChange:
		return "EntryConfChange"
	}
	return fmt.Sprintf("EntryType(%d)", uint8(t))
}

// Entry is one slot of the replicated log.
type Entry struct {
	Term  uint64
	Index uint64
	Type  EntryType
	Data  []byte
}

// Size is the approximate encoded size of the entry, used for message
// size limits and flow control.
func (e Entry) Size() uint64 { return uint64(len(e.Data)) + 24 }

// HardState is the state that must be on stable storage before any message
// that depends on it is sent (Raft paper figure 2: currentTerm, votedFor,
// plus the commit index so a restarted node does not re-apply blindly).
type HardState struct {
	Term   uint64
	Vote   uint64
	Commit uint64
}

// IsEmpty reports whether h is the zero HardState.
func (h HardState) IsEmpty() bool { return h == HardState{} }

// ConfState is the membership configuration: the voters and the learners
// (non-voting members that receive the log but never count toward a quorum).
// Invariant: a node ID is in at most one of Voters and Learners.
type ConfState struct {
	Voters   []uint64
	Learners []uint64
}

// Equal reports whether two configurations hold the same members, in any order.
func (c ConfState) Equal(o ConfState) bool {
	return sameSet(c.Voters, o.Voters) && sameSet(c.Learners, o.Learners)
}

func sameSet(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	seen := make(map[uint64]int, len(a))
	for _, x := range a {
		seen[x]++
	}
	for _, x := range b {
		if seen[x] == 0 {
			return false
		}
		seen[x]--
	}
	return true
}

// SnapshotMetadata says which log prefix a snapshot replaces.
type SnapshotMetadata struct {
	Index     uint64
	Term      uint64
	ConfState ConfState
}

// Snapshot is the application state up to and including Metadata.Index.
type Snapshot struct {
	Data     []byte
	Metadata SnapshotMetadata
}

// IsEmpty reports whether s carries no snapshot.
func (s Snapshot) IsEmpty() bool { return s.Metadata.Index == 0 }

// ConfChangeType names a single-server membership change (thesis §4.1).
type ConfChangeType uint8

const (
	// ConfChangeAddVoter adds a voter, or promotes a learner to voter.
	ConfChangeAddVoter ConfChangeType = iota
	// ConfChangeAddLearner adds a learner, or demotes a voter to learner.
	ConfChangeAddLearner
	// ConfChangeRemoveNode removes a voter or learner.
	ConfChangeRemoveNode
)

func (t ConfChangeType) String() string {
	switch t {
	case ConfChangeAddVoter:
		return "AddVoter"
	case ConfChangeAddLearner:
		return "AddLearner"
	case ConfChangeRemoveNode:
		return "RemoveNode"
	}
	return fmt.Sprintf("ConfChangeType(%d)", uint8(t))
}

// ConfChange is one single-server membership change. Context is opaque to
// raft; the KV service stores the member's addresses there.
type ConfChange struct {
	Type    ConfChangeType
	NodeID  uint64
	Context []byte
}

// MessageType names a raft message. Local messages (MsgHup, MsgBeat,
// MsgUnreachable, MsgSnapStatus, MsgCheckQuorum) never cross the network.
type MessageType uint8

const (
	MsgHup MessageType = iota
	MsgBeat
	MsgProp
	MsgApp
	MsgAppResp
	MsgVote
	MsgVoteResp
	MsgPreVote
	MsgPreVoteResp
	MsgSnap
	MsgHeartbeat
	MsgHeartbeatResp
	MsgUnreachable
	MsgSnapStatus
	MsgCheckQuorum
	MsgTransferLeader
	MsgTimeoutNow
	MsgReadIndex
	MsgReadIndexResp
	msgTypeCount
)

var messageTypeNames = [...]string{
	"MsgHup", "MsgBeat", "MsgProp", "MsgApp", "MsgAppResp", "MsgVote",
	"MsgVoteResp", "MsgPreVote", "MsgPreVoteResp", "MsgSnap", "MsgHeartbeat",
	"MsgHeartbeatResp", "MsgUnreachable", "MsgSnapStatus", "MsgCheckQuorum",
	"MsgTransferLeader", "MsgTimeoutNow", "MsgReadIndex", "MsgReadIndexResp",
}

func (t MessageType) String() string {
	if t < msgTypeCount {
		return messageTypeNames[t]
	}
	return fmt.Sprintf("MessageType(%d)", uint8(t))
}

// Valid reports whether t is a known message type. Decoders use it to
// reject garbage before it reaches Step.
func (t MessageType) Valid() bool { return t < msgTypeCount }

// Message is the unit of communication between raft nodes. Fields that a
// type does not use are zero.
type Message struct {
	Type MessageType
	To   uint64
	From uint64
	Term uint64
	// LogTerm and Index identify the entry preceding Entries in MsgApp, the
	// candidate's last entry in MsgVote/MsgPreVote, and the rejected index
	// in a rejecting MsgAppResp.
	LogTerm uint64
	Index   uint64
	Entries []Entry
	Commit  uint64
	// Snapshot is set only on MsgSnap.
	Snapshot *Snapshot
	Reject   bool
	// RejectHint is the follower's hint for fast backtracking (§5.3): the
	// last index that might match, with LogTerm its term.
	RejectHint uint64
	// Context carries ReadIndex request contexts and the campaign kind of
	// a forced (leadership-transfer) election.
	Context []byte
}

// IsLocal reports whether the message type is only ever delivered to the
// node itself.
func IsLocal(t MessageType) bool {
	switch t {
	case MsgHup, MsgBeat, MsgUnreachable, MsgSnapStatus, MsgCheckQuorum:
		return true
	}
	return false
}

// IsResponse reports whether the message type answers another message.
func IsResponse(t MessageType) bool {
	switch t {
	case MsgAppResp, MsgVoteResp, MsgPreVoteResp, MsgHeartbeatResp, MsgReadIndexResp, MsgSnapStatus, MsgUnreachable:
		return true
	}
	return false
}

// Storage errors. Implementations return exactly these sentinels (wrapped
// is fine) so the core can react to them.
var (
	// ErrCompacted: the requested index is below the first available index
	// because the log was compacted into a snapshot.
	ErrCompacted = errors.New("raft: requested index is unavailable due to compaction")
	// ErrSnapOutOfDate: the snapshot being applied or created is older
	// than the one already held.
	ErrSnapOutOfDate = errors.New("raft: requested index is older than the existing snapshot")
	// ErrUnavailable: the requested entries are beyond the last index.
	ErrUnavailable = errors.New("raft: requested entry at index is unavailable")
	// ErrSnapshotTemporarilyUnavailable: the snapshot is being prepared;
	// the core retries later.
	ErrSnapshotTemporarilyUnavailable = errors.New("raft: snapshot is temporarily unavailable")
)

// Storage is the core's read-only view of the persisted log. The driver
// writes through the concrete store (MemoryStorage, the bbolt store) after
// each Ready; the core only reads. All methods must be safe to call while
// the driver writes from another goroutine.
type Storage interface {
	// InitialState returns the saved HardState and ConfState.
	InitialState() (HardState, ConfState, error)
	// Entries returns entries in [lo, hi), limited to about maxSize bytes
	// but always at least one entry if any is available.
	Entries(lo, hi, maxSize uint64) ([]Entry, error)
	// Term returns the term of the entry at index i, which must be in
	// [FirstIndex()-1, LastIndex()]; the term at FirstIndex()-1 is the
	// snapshot's term.
	Term(i uint64) (uint64, error)
	// LastIndex returns the index of the last entry in the log.
	LastIndex() (uint64, error)
	// FirstIndex returns the index of the first entry that may be read
	// through Entries (older ones are in the snapshot).
	FirstIndex() (uint64, error)
	// Snapshot returns the most recent snapshot.
	Snapshot() (Snapshot, error)
}

// LogStore is the writer side of a log store, implemented by MemoryStorage
// and the bbolt store (raft/boltstore). The core never calls these methods:
// only the driver (raft/node) writes: Save once per Ready, which is where
// the durability rule lives, and CreateSnapshot and Compact possibly from
// another goroutine, concurrently with Save and the Storage methods. So
// every method must be safe for concurrent use, and a store should not
// make Save wait for a whole snapshot write or compaction.
type LogStore interface {
	Storage
	// Save persists, in one atomic write, first snap (if not empty), then
	// ents (an entry at an index the store already holds replaces it and
	// every entry after it), then hs (if not empty). When sync is true it
	// returns only after the write is durable (fsynced).
	Save(hs HardState, ents []Entry, snap Snapshot, sync bool) error
	// CreateSnapshot makes a snapshot of the application state at index i
	// (which must be <= the last index and > the current snapshot's index,
	// else ErrSnapOutOfDate, also when a Save installed a snapshot at or
	// beyond i while it ran) the current snapshot. cs is the configuration
	// at i. It does not compact the log.
	CreateSnapshot(i uint64, cs ConfState, data []byte) (Snapshot, error)
	// Compact discards the entries up to and including compactIndex, which
	// must be <= the current snapshot's index (an error otherwise), so that
	// FirstIndex becomes compactIndex+1 and Term(compactIndex) still
	// answers. It returns ErrCompacted if the log is already compacted past
	// compactIndex.
	Compact(compactIndex uint64) error
	// Close releases the store's resources.
	Close() error
}
