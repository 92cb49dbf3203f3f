package raft

import (
	"fmt"
	"slices"

	"github.com/raftkv/raftkv/internal/bugs"
)

// ProgressState is the leader's replication mode toward one follower.
type ProgressState uint8

const (
	// ProgressProbe: the leader does not know where the follower's log
	// matches; it sends at most one MsgApp per heartbeat interval and walks
	// Next back on rejections (§5.3).
	ProgressProbe ProgressState = iota
	// ProgressReplicate: the follower's log matches up to Match; the leader
	// pipelines MsgApps optimistically, up to MaxInflightMsgs in flight.
	ProgressReplicate
	// ProgressSnapshot: the follower needs entries that are compacted; a
	// snapshot is on its way and nothing else is sent until it is reported.
	ProgressSnapshot
)

func (s ProgressState) String() string {
	switch s {
	case ProgressProbe:
		return "StateProbe"
	case ProgressReplicate:
		return "StateReplicate"
	case ProgressSnapshot:
		return "StateSnapshot"
	}
	return fmt.Sprintf("ProgressState(%d)", uint8(s))
}

// Progress is a read-only copy of the leader's view of one follower, as
// reported by Status.
type Progress struct {
	Match, Next  uint64
	State        ProgressState
	RecentActive bool
	IsLearner    bool
	// Inflight is the number of MsgApps sent and not yet acknowledged.
	Inflight int
}

// progress is the leader's live view of one member.
type progress struct {
	// Match is the highest index known to be replicated on the member.
	// Next is the next index to send. Invariant: Match < Next.
	Match, Next uint64
	State       ProgressState
	// PendingSnapshot is the index of the snapshot being sent, in
	// ProgressSnapshot.
	PendingSnapshot uint64
	// snapshotSentTick is the leader tick at which the pending snapshot
	// was sent.
	snapshotSentTick uint64
	// RecentActive: the member was heard from since the last check-quorum
	// round.
	RecentActive bool
	// probeSent: in ProgressProbe, a MsgApp is outstanding; no more is sent
	// until a response or a heartbeat response arrives.
	probeSent bool
	inflights *inflights
	IsLearner bool
	// ackedTick is the highest leader tick echoed back by the member in a
	// MsgHeartbeatResp; lease reads use it (§6.4.1).
	ackedTick uint64
}

func newProgress(next uint64, maxInflight int, learner bool) *progress {
	return &progress{Next: next, inflights: newInflights(maxInflight), IsLearner: learner, RecentActive: true}
}

func (pr *progress) String() string {
	return fmt.Sprintf("match=%d next=%d state=%s inflight=%d", pr.Match, pr.Next, pr.State, pr.inflights.count)
}

func (pr *progress) resetState(state ProgressState) {
	pr.probeSent = false
	pr.PendingSnapshot = 0
	pr.State = state
	pr.inflights.reset()
}

func (pr *progress) becomeProbe() {
	// After a snapshot, resume after it: the follower has everything up to
	// the snapshot index once it applies it.
	if pr.State == ProgressSnapshot {
		pending := pr.PendingSnapshot
		pr.resetState(ProgressProbe)
		pr.Next = max(pr.Match+1, pending+1)
	} else {
		pr.resetState(ProgressProbe)
		pr.Next = pr.Match + 1
	}
}

func (pr *progress) becomeReplicate() {
	pr.resetState(ProgressReplicate)
	pr.Next = pr.Match + 1
}

func (pr *progress) becomeSnapshot(snapshoti uint64) {
	pr.resetState(ProgressSnapshot)
	pr.PendingSnapshot = snapshoti
}

// sentEntries updates the progress after a MsgApp carrying entries up to
// last was sent.
func (pr *progress) sentEntries(n int, last uint64) {
	switch pr.State {
	case ProgressReplicate:
		if n > 0 {
			pr.Next = last + 1
			pr.inflights.add(last)
		}
	case ProgressProbe:
		pr.probeSent = true
	default:
		panic(fmt.Sprintf("raft: sending append in unhandled progress state %s", pr.State))
	}
}

// maybeUpdate records that the member has the log up to n. It returns false
// if that was already known (a stale or duplicate response).
func (pr *progress) maybeUpdate(n uint64) bool {
	updated := false
	if pr.Match < n {
		pr.Match = n
		updated = true
		pr.probeSent = false
	}
	pr.Next = max(pr.Next, n+1)
	pr.checkInvariant()
	return updated
}

// checkInvariant panics if Match < Next does not hold.
func (pr *progress) checkInvariant() {
	if pr.Match >= pr.Next {
		panic(fmt.Sprintf("raft: progress invariant broken: match %d >= next %d (%s)", pr.Match, pr.Next, pr.State))
	}
}

// maybeDecrTo handles a rejected MsgApp for index rejected, with the
// follower's hint matchHint (§5.3 backtracking). It returns false for a
// stale rejection.
func (pr *progress) maybeDecrTo(rejected, matchHint uint64) bool {
	if pr.State == ProgressReplicate {
		// A rejection at or below Match is from an older MsgApp.
		if rejected <= pr.Match {
			return false
		}
		pr.Next = pr.Match + 1
		return true
	}
	// In probe, only the answer to the last probe counts.
	if pr.Next-1 != rejected {
		return false
	}
	pr.Next = max(min(rejected, matchHint+1), pr.Match+1)
	pr.probeSent = false
	pr.checkInvariant()
	return true
}

// isPaused reports whether the leader must not send more MsgApps now (flow
// control).
func (pr *progress) isPaused() bool {
	switch pr.State {
	case ProgressProbe:
		return pr.probeSent
	case ProgressReplicate:
		return pr.inflights.full()
	case ProgressSnapshot:
		return true
	}
	panic("raft: unexpected progress state")
}

func (pr *progress) public() Progress {
	return Progress{Match: pr.Match, Next: pr.Next, State: pr.State, RecentActive: pr.RecentActive, IsLearner: pr.IsLearner, Inflight: pr.inflights.count}
}

// inflights is a ring buffer of the last index of each MsgApp in flight to
// one member, in increasing order.
type inflights struct {
	start int
	// count is the number of MsgApps in flight. Invariant: count <= size.
	count  int
	size   int
	buffer []uint64
}

func newInflights(size int) *inflights { return &inflights{size: size} }

func (in *inflights) add(last uint64) {
	if in.full() {
		panic(fmt.Sprintf("raft: inflights.add(%d) on a full window of %d", last, in.size))
	}
	next := in.start + in.count
	if next >= in.size {
		next -= in.size
	}
	if next >= len(in.buffer) {
		in.grow()
	}
	in.buffer[next] = last
	in.count++
}

// grow doubles the buffer (up to size) so an idle follower costs little.
func (in *inflights) grow() {
	n := len(in.buffer) * 2
	if n == 0 {
		n = 1
	}
	n = min(n, in.size)
	nb := make([]uint64, n)
	copy(nb, in.buffer)
	in.buffer = nb
}

// freeLE frees every inflight MsgApp whose last index is <= to.
func (in *inflights) freeLE(to uint64) {
	if in.count == 0 || to < in.buffer[in.start] {
		return
	}
	idx := in.start
	i := 0
	for ; i < in.count; i++ {
		if to < in.buffer[idx] {
			break
		}
		idx++
		if idx >= in.size {
			idx -= in.size
		}
	}
	in.count -= i
	in.start = idx
	if in.count == 0 {
		in.start = 0
	}
}

// freeFirstOne frees the oldest inflight MsgApp.
func (in *inflights) freeFirstOne() {
	if in.count > 0 {
		in.freeLE(in.buffer[in.start])
	}
}

func (in *inflights) full() bool { return in.count == in.size }

func (in *inflights) reset() {
	in.count = 0
	in.start = 0
}

// tracker holds the configuration and the leader's progress per member.
type tracker struct {
	voters   map[uint64]struct{}
	learners map[uint64]struct{}
	// ids is every member, sorted, so that broadcasts are deterministic.
	ids []uint64
	// progress has an entry for every member (and only members).
	progress    map[uint64]*progress
	votes       map[uint64]bool
	maxInflight int
}

func newTracker(maxInflight int) *tracker {
	return &tracker{
		voters:      map[uint64]struct{}{},
		learners:    map[uint64]struct{}{},
		progress:    map[uint64]*progress{},
		votes:       map[uint64]bool{},
		maxInflight: maxInflight,
	}
}

func (t *tracker) confState() ConfState {
	var cs ConfState
	for _, id := range t.ids {
		if _, ok := t.voters[id]; ok {
			cs.Voters = append(cs.Voters, id)
		} else {
			cs.Learners = append(cs.Learners, id)
		}
	}
	return cs
}

func (t *tracker) isVoter(id uint64) bool   { _, ok := t.voters[id]; return ok }
func (t *tracker) isLearner(id uint64) bool { _, ok := t.learners[id]; return ok }

func (t *tracker) rebuildIDs() {
	t.ids = t.ids[:0]
	for id := range t.progress {
		t.ids = append(t.ids, id)
	}
	slices.Sort(t.ids)
}

// quorum is the number of voters that makes a majority.
func (t *tracker) quorum() int {
	if bugs.On(bugs.EvenQuorum) {
		// Planted bug (bugs.EvenQuorum): "half the voters, rounded up".
		// Right for odd sizes, but for 2, 4, 6 voters it is exactly half:
		// two disjoint halves can both elect a leader and commit.
		if len(t.voters)%2 == 0 {
			bugs.Fire(bugs.EvenQuorum)
		}
		return (len(t.voters) + 1) / 2
	}
	return len(t.voters)/2 + 1
}

// committed returns the highest index replicated on a majority of voters,
// given each voter's Match.
func (t *tracker) committed() uint64 {
	n := len(t.voters)
	if n == 0 {
		return 0
	}
	matches := make([]uint64, 0, n)
	for id := range t.voters {
		matches = append(matches, t.progress[id].Match)
	}
	slices.Sort(matches)
	return matches[n-t.quorum()]
}

type voteResult uint8

const (
	votePending voteResult = iota
	voteLost
	voteWon
)

func (t *tracker) recordVote(id uint64, granted bool) {
	if _, ok := t.votes[id]; !ok {
		t.votes[id] = granted
	}
}

func (t *tracker) tallyVotes() (granted, rejected int, result voteResult) {
	for id := range t.voters {
		v, ok := t.votes[id]
		if !ok {
			continue
		}
		if v {
			granted++
		} else {
			rejected++
		}
	}
	q := t.quorum()
	switch {
	case granted >= q:
		result = voteWon
	case len(t.voters)-rejected < q:
		result = voteLost
	default:
		result = votePending
	}
	return granted, rejected, result
}

func (t *tracker) resetVotes() { clear(t.votes) }

// quorumActive reports whether a majority of voters was heard from
// recently (check quorum, thesis §6.2).
func (t *tracker) quorumActive(self uint64) bool {
	n := 0
	for id := range t.voters {
		if id == self || t.progress[id].RecentActive {
			n++
		}
	}
	return n >= t.quorum()
}
