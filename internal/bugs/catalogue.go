package bugs

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/raftkv/raftkv/internal/suggest"
)

// ID names one planted bug (its --unsafe-bug value).
type ID string

// Family groups bugs by the part of the system whose rule they break.
type Family string

// The families of the catalogue.
const (
	Election    Family = "election"
	Replication Family = "replication"
	Durability  Family = "durability"
	Snapshots   Family = "snapshots"
	Reads       Family = "reads"
	KV          Family = "kv"
	Storage     Family = "storage"
)

// Bug is one catalogue entry.
type Bug struct {
	ID     ID
	Family Family
	// Rule is the rule the bug breaks, in one line.
	Rule string
	// Where is the package whose code path carries the change.
	Where string
	// ProcessOnly is true for bugs in code the simulation does not run
	// (kvservice's HTTP forwarding, say): only the process suite can catch them.
	ProcessOnly bool
}

// ErrNotBuilt is returned by Enable in a binary built without the catalogue.
var ErrNotBuilt = errors.New("bugs: this binary was built without the bug catalogue (rebuild with -tags raftkv_bugs)")

// ErrUnknown is returned by Enable for a name not in the catalogue.
var ErrUnknown = errors.New("bugs: unknown bug")

// The catalogue. Keep Catalogue (below) in the same order.
const (
	VoteWithoutLogCheck       ID = "vote-without-log-check"
	VoteNotDurable            ID = "vote-not-durable"
	EvenQuorum                ID = "even-quorum"
	CountStaleVote            ID = "count-stale-vote"
	CommitOldTerm             ID = "commit-old-term"
	TruncateOnStaleAppend     ID = "truncate-on-stale-append"
	CommitBeyondLog           ID = "commit-beyond-log"
	AppendFromStaleLeader     ID = "append-from-stale-leader"
	AckBeforeFsync            ID = "ack-before-fsync"
	LeaderSelfAckEarly        ID = "leader-self-ack-early"
	WaiterMatchesIndexOnly    ID = "waiter-matches-index-only"
	SnapshotMerges            ID = "snapshot-merges"
	SnapshotWrongIndex        ID = "snapshot-wrong-index"
	ReadIndexNoHeartbeat      ID = "readindex-no-heartbeat"
	ReadBeforeApplied         ID = "read-before-applied"
	ReadIndexBeforeTermCommit ID = "readindex-before-term-commit"
	LeaseNoDriftMargin        ID = "lease-no-drift-margin"
	NoSessionDedup            ID = "no-session-dedup"
	ForwardRetryNoSession     ID = "forward-retry-no-session"
	StoreStaleTermCache       ID = "store-stale-term-cache"
)

// catalogueIDs lists the IDs in catalogue order (a fixed-size array, so
// that the firing counters need no map and no lock).
var catalogueIDs = [...]ID{
	VoteWithoutLogCheck,
	VoteNotDurable,
	EvenQuorum,
	CountStaleVote,
	CommitOldTerm,
	TruncateOnStaleAppend,
	CommitBeyondLog,
	AppendFromStaleLeader,
	AckBeforeFsync,
	LeaderSelfAckEarly,
	WaiterMatchesIndexOnly,
	SnapshotMerges,
	SnapshotWrongIndex,
	ReadIndexNoHeartbeat,
	ReadBeforeApplied,
	ReadIndexBeforeTermCommit,
	LeaseNoDriftMargin,
	NoSessionDedup,
	ForwardRetryNoSession,
	StoreStaleTermCache,
}

// Catalogue lists every planted bug.
var Catalogue = []Bug{
	{VoteWithoutLogCheck, Election, "a vote is granted only to a candidate whose log is at least as up to date (§5.4.1); this one grants it without the check", "raft", false},
	{VoteNotDurable, Election, "a vote (and the term it was cast in) must be durable before the vote response leaves (§5.2, Figure 2); this one sends the response first", "raft/node", false},
	{EvenQuorum, Election, "a quorum is a strict majority (n/2+1 of n voters); this one takes half the voters rounded up ((n+1)/2), which differs only for even-sized configurations: 2 of 4 elect a leader and commit", "raft", false},
	{CountStaleVote, Election, "a candidate counts only votes of its current term, once per voter; this one counts a response of an earlier term", "raft", false},
	{CommitOldTerm, Replication, "a leader commits only entries of its own term by counting replicas (§5.4.2, Figure 8); this one commits an older term's entry on a majority", "raft", false},
	{TruncateOnStaleAppend, Replication, "a follower truncates its log only at the first conflicting entry (§5.3); this one truncates after the append's entries even when they all match (down to its commit index), so a stale or duplicated append deletes acknowledged entries", "raft", false},
	{CommitBeyondLog, Replication, "a follower's commit index is min(leader commit, index of the last new entry), and moves only when the append's consistency check passed (Figure 2); this one takes min(leader commit, its own last index) before the check, so entries it never verified against the leader's log (a deposed leader's tail) are committed and applied", "raft", false},
	{AppendFromStaleLeader, Replication, "a follower rejects an append from a leader of an earlier term (Figure 2, AppendEntries rule 1); this one handles it, so a deposed leader's delayed append overwrites entries the current leader counted as replicated", "raft", false},
	{AckBeforeFsync, Durability, "a follower acknowledges an append only once it is durable (Figure 2); this one lets the acknowledgement leave before the write", "raft/node", false},
	{LeaderSelfAckEarly, Durability, "a leader counts its own copy of an entry toward the commit quorum only once it is durable (§10.2.1); this one counts it as soon as it is appended", "raft", false},
	{WaiterMatchesIndexOnly, Durability, "a proposal is answered from the entry applied at its index only if that entry has the proposal's term; this one answers from whatever entry landed at the index", "raft/node", false},
	{SnapshotMerges, Snapshots, "installing a snapshot replaces the whole state machine; this one merges the snapshot into the current state, keeping keys the snapshot does not have", "kvservice/fsm", false},
	{SnapshotWrongIndex, Snapshots, "a snapshot is labelled with the index of the last entry it contains; this one labels it with an index one past what was applied", "raft/node", false},
	{ReadIndexNoHeartbeat, Reads, "a read index is served only after a heartbeat round confirms leadership (§6.4); this one answers at once", "raft", false},
	{ReadBeforeApplied, Reads, "a read is answered only once the local state machine applied its read index (§6.4); this one answers as soon as the index is known", "raft/node", false},
	{ReadIndexBeforeTermCommit, Reads, "a new leader serves read indexes only after committing an entry of its term (§6.4); this one serves them at once", "raft", false},
	{LeaseNoDriftMargin, Reads, "a leader lease must end before any follower can time out (§6.4.1): the core keeps it for an election timeout minus one tick from the acknowledged heartbeat, the tick covering unaligned tick phases; this one drops that margin, so the lease lasts a full election timeout and outlives a follower's", "raft", false},
	{NoSessionDedup, KV, "a retried command with the same client id and request id is applied once (§6.3); this one applies every retry", "kvservice/fsm", false},
	{ForwardRetryNoSession, KV, "a follower that retries a forwarded write keeps the client's session so the retry is de-duplicated; this one retries once (after a 5xx answer or a connection lost once the request was sent) without it, so a write whose first attempt commits late is applied twice", "kvservice/api", true},
	{StoreStaleTermCache, Storage, "a log store forgets the terms of entries a conflicting append replaced; this one keeps the old terms cached after truncating (until the store is reopened), so Term answers with the replaced entries' terms", "raft/boltstore", false},
}

// Lookup returns the catalogue entry named id.
func Lookup(id ID) (Bug, bool) {
	i := slices.IndexFunc(Catalogue, func(b Bug) bool { return b.ID == id })
	if i < 0 {
		return Bug{}, false
	}
	return Catalogue[i], true
}

// Parse checks names against the catalogue, with a suggestion for a typo.
func Parse(names []string) ([]ID, error) {
	var ids []ID
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if _, ok := Lookup(ID(n)); !ok {
			known := make([]string, len(Catalogue))
			for i, b := range Catalogue {
				known[i] = string(b.ID)
			}
			return nil, fmt.Errorf("%w %q%s (see `harness mutate --list`)", ErrUnknown, n, suggest.Hint(n, known))
		}
		ids = append(ids, ID(n))
	}
	return ids, nil
}
