package raft

import "errors"

// Errors returned by RawNode. They are sentinels: compare with errors.Is.
var (
	// ErrProposalDropped: the proposal was not appended (a leadership
	// transfer is in progress, or the uncommitted tail is over
	// MaxUncommittedEntriesSize). It is definite: nothing was proposed.
	ErrProposalDropped = errors.New("raft: proposal dropped")
	// ErrStepLocalMsg: Step was given a message type that only the node
	// itself may generate (MsgHup, MsgBeat, ...).
	ErrStepLocalMsg = errors.New("raft: cannot step raft local message")
	// ErrStepPeerNotFound: Step was given a response from a node that is
	// not in the leader's configuration.
	ErrStepPeerNotFound = errors.New("raft: cannot step as peer not found")
	// ErrPendingConfChange: a configuration change is already in the log
	// and not yet applied, or the leader has not yet committed an entry of
	// its term (thesis §4.1 and Ongaro's 2015 fix), so a new change is
	// refused.
	ErrPendingConfChange = errors.New("raft: a configuration change is pending")
	// ErrNotLeader: the node is not the leader; the core does not forward
	// proposals.
	ErrNotLeader = errors.New("raft: not the leader")
	// ErrStorageClosed: a write reached a closed MemoryStorage.
	ErrStorageClosed = errors.New("raft: storage closed")
	// ErrInvalidConfChange: ConfChange.Unmarshal was given malformed bytes.
	ErrInvalidConfChange = errors.New("raft: invalid encoded conf change")
	// ErrInvalidMessage: Step was given a message that breaks an invariant
	// no genuine peer breaks (a heartbeat's commit beyond this log's end,
	// entries that are not contiguous or whose term is ahead of the
	// leader's, a snapshot without a configuration, ...). It was dropped
	// before it changed anything, and logged; see RawNode.Step.
	ErrInvalidMessage = errors.New("raft: invalid message dropped")
	// ErrCorruptStorage: NewRawNode found the storage's state contradicting
	// itself (a hard state committing beyond the last index, a snapshot
	// beyond the last index): the log lost entries this node had, so
	// starting would act on state it does not have.
	ErrCorruptStorage = errors.New("raft: storage state is inconsistent")
	// ErrInvalidConfig: NewRawNode was given an unusable Config.
	ErrInvalidConfig = errors.New("raft: invalid config")
)
