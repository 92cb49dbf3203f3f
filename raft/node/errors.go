package node

import (
	"context"
	"errors"

	"github.com/raftkv/raftkv/raft"
)

// Errors returned by Node. They are sentinels: compare with errors.Is. The
// ones shared with the core are the core's own values, so errors.Is works
// against either package.
var (
	// ErrNotLeader: this node is not the leader, so nothing was proposed
	// (definite). The caller should forward to Status().Lead.
	ErrNotLeader = raft.ErrNotLeader
	// ErrProposalDropped: the proposal certainly did not and will not take
	// effect (definite): either the core refused it, or another entry was
	// committed in its place.
	ErrProposalDropped = raft.ErrProposalDropped
	// ErrPendingConfChange: a configuration change is still in flight, so
	// this one was not proposed (definite).
	ErrPendingConfChange = raft.ErrPendingConfChange
	// ErrEmptyProposal: Propose was given no data; nothing was proposed
	// (definite). Empty entries are reserved for the leader's no-op.
	ErrEmptyProposal = errors.New("node: empty proposal")
	// ErrNotProposed: the caller's context ended before the request
	// reached raft (definite); it wraps the context's error.
	ErrNotProposed = errors.New("node: not proposed")
	// ErrLeadershipLost: the entry was proposed, then this node stopped
	// being the leader of the proposal's term, and the caller's context
	// ended before the entry's fate was known (indeterminate: it may still
	// commit under the next leader).
	ErrLeadershipLost = errors.New("node: leadership lost after proposing")
	// ErrStopped: the node is stopped. Alone it is definite (the request
	// never reached raft); for a request that was already proposed it comes
	// wrapped with ErrOutcomeUnknown.
	ErrStopped = errors.New("node: stopped")
	// ErrOutcomeUnknown marks an error after which the operation may or may
	// not take effect (indeterminate), e.g. the node stopped while an entry
	// was in flight, or the entry was covered by a snapshot from the leader
	// so its result was never seen.
	ErrOutcomeUnknown = errors.New("node: outcome unknown")
	// ErrPersist: Store.Save failed. The node stopped; Err returns it.
	ErrPersist = errors.New("node: persist failed")
	// ErrInvalidConfig: Start was given an unusable Config.
	ErrInvalidConfig = errors.New("node: invalid config")
)

// IsDefinite reports whether err certainly means the operation did not and
// will not take effect — the KV layer's `definite` flag. Context errors
// (unless wrapped by ErrNotProposed), ErrLeadershipLost, ErrOutcomeUnknown
// and unknown errors are indeterminate; nil is not a failure and reports
// false.
func IsDefinite(err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, ErrOutcomeUnknown), errors.Is(err, ErrLeadershipLost):
		return false
	case errors.Is(err, ErrNotProposed):
		return true
	case errors.Is(err, context.Canceled),
		errors.Is(err, context.DeadlineExceeded):
		return false
	case errors.Is(err, ErrNotLeader),
		errors.Is(err, ErrProposalDropped),
		errors.Is(err, ErrPendingConfChange),
		errors.Is(err, ErrEmptyProposal),
		errors.Is(err, raft.ErrInvalidConfChange),
		errors.Is(err, ErrStopped):
		return true
	}
	return false
}
