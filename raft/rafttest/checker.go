package rafttest

import (
	"fmt"
	"strings"

	"github.com/raftkv/raftkv/raft"
)

// Properties a Violation can name.
const (
	PropElectionSafety     = "election safety"
	PropLeaderAppendOnly   = "leader append-only"
	PropLogMatching        = "log matching"
	PropLeaderCompleteness = "leader completeness"
	PropStateMachineSafety = "state machine safety"
	PropCommitDurability   = "commit durability"
	PropVote               = "one vote per term"
	PropLinearizableRead   = "linearizable read"
	PropLearner            = "only voters campaign"
	PropDurability         = "durability contract"
	PropCommitRule         = "commit rule"
	PropCurrentTerm        = "current term rule"
	PropLiveness           = "liveness"
	PropPanic              = "panic"
	PropDriver             = "simulation driver"
)

// Violation is a broken property. Seed and Step are filled in by Run; a
// Violation returned by a Checker method has them zero.
type Violation struct {
	Seed     uint64
	Step     int
	Property string
	Detail   string
}

func (v *Violation) Error() string {
	return fmt.Sprintf("seed %d step %d: %s violated: %s", v.Seed, v.Step, v.Property, v.Detail)
}

// IsSafety reports whether the violation is one of Raft's safety
// properties (as opposed to liveness, a panic or a simulator problem).
func (v *Violation) IsSafety() bool {
	switch v.Property {
	case PropLiveness, PropPanic, PropDriver:
		return false
	}
	return true
}

func violation(prop, format string, args ...any) *Violation {
	return &Violation{Property: prop, Detail: fmt.Sprintf(format, args...)}
}

type entryKey struct{ index, term uint64 }

type entryInfo struct {
	hash     uint64
	prevTerm uint64
	hasPrev  bool
}

type committedEntry struct {
	term uint64
	hash uint64
	// obsTerm is the lowest term at which some node reported the entry as
	// committed. The entry was committed in a term <= obsTerm, so every
	// leader of a later term must hold it (Leader Completeness).
	obsTerm uint64
}

type pendingRead struct {
	minIndex uint64
	// leader and leaderTerm: the read reached node leader while it was
	// leader of leaderTerm (ObserveLeaderRead), when newestLeader was the
	// highest term any leader had been seen in.
	leader, leaderTerm, newestLeader uint64
}

// Checker accumulates what every node has done over the whole history of a
// run and checks Raft's safety properties against it. Each Observe method
// returns a *Violation (as error) when the observation breaks a property.
// It is not safe for concurrent use.
type Checker struct {
	// leaders maps a term to the one node seen acting as its leader;
	// newestLeader is the highest of those terms.
	leaders      map[uint64]uint64
	newestLeader uint64
	// entries maps every (index, term) ever seen in a log or a MsgApp to
	// its content and to the term of the entry before it: with induction on
	// the index this is the Log Matching property.
	entries map[entryKey]entryInfo
	// committed holds every index known committed.
	committed map[uint64]*committedEntry
	// chain[i] is the state hash after applying 1..i; it exists for
	// i <= chainLen, the longest known contiguous committed prefix.
	chain    []uint64
	maxIndex uint64 // highest index reported committed by any node
	// votes maps (node, term) to the vote persisted for it.
	votes map[entryKey]uint64
	// termSent is, per node, the highest term of a message it sent
	// (pre-vote messages aside), and votesSent its granted votes on the
	// wire, (node, term) to candidate: what it must still hold when it
	// restarts (ObserveRestartState).
	termSent  map[uint64]uint64
	votesSent map[entryKey]uint64
	// applied is each node's last applied index (reset on restart).
	applied map[uint64]uint64
	// confs maps the index of an applied EntryConfChange to the resulting
	// configuration.
	confs map[uint64]raft.ConfState
	reads map[string]pendingRead
	// states maps an applied index to the application's state hash after
	// it, as the first node to report it saw it (ObserveState).
	states map[uint64]stateSeen
}

type stateSeen struct {
	node uint64
	hash string
}

// NewChecker returns a Checker with an empty history.
func NewChecker() *Checker {
	return &Checker{
		leaders:   map[uint64]uint64{},
		entries:   map[entryKey]entryInfo{},
		committed: map[uint64]*committedEntry{},
		chain:     []uint64{0},
		votes:     map[entryKey]uint64{},
		termSent:  map[uint64]uint64{},
		votesSent: map[entryKey]uint64{},
		applied:   map[uint64]uint64{},
		confs:     map[uint64]raft.ConfState{},
		reads:     map[string]pendingRead{},
		states:    map[uint64]stateSeen{},
	}
}

// ObserveState records that node id's state machine, having applied
// everything up to index, has state hash hash (any digest of its whole
// state). State Machine Safety seen from the application: two nodes that
// applied the same prefix must hold the same state, however they got there
// (applying entries, restoring a snapshot, restarting). It catches a state
// machine or snapshot path that diverges even when the logs agree.
func (c *Checker) ObserveState(id, index uint64, hash string) error {
	if index == 0 {
		return nil
	}
	old, ok := c.states[index]
	if !ok {
		c.states[index] = stateSeen{node: id, hash: hash}
		return nil
	}
	if old.hash != hash {
		return violation(PropStateMachineSafety, "after applying through index %d node %d holds state %s but node %d held %s", index, id, short(hash), old.node, short(old.hash))
	}
	return nil
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// ObserveLeader records that node id acted as leader of term: it said so in
// a Ready's SoftState or it sent a message only a leader sends. Election
// Safety: at most one leader per term, over the whole history.
func (c *Checker) ObserveLeader(term, id uint64) error {
	if prev, ok := c.leaders[term]; ok && prev != id {
		return violation(PropElectionSafety, "nodes %d and %d are both leader of term %d", prev, id, term)
	}
	c.leaders[term] = id
	c.newestLeader = max(c.newestLeader, term)
	return nil
}

// ObserveElected checks that node id, which just became leader of term
// with the given voters, was voted for by a quorum of them in that term:
// itself and the voters whose vote for it in term the checker has seen
// (persisted, or sent as a granted vote: ObserveVote, ObserveVoteSent).
// A leader counts only votes it received, every received vote was sent,
// and every sent vote is seen, so a leader short of a quorum here counted
// something that was not a vote of this term — a stale or duplicated
// response, or a wrong quorum size — even if no second leader shows it.
func (c *Checker) ObserveElected(term, id uint64, voters []uint64) error {
	if len(voters) == 0 {
		return nil
	}
	got := []uint64{id}
	for _, v := range voters {
		if v != id && c.votes[entryKey{v, term}] == id {
			got = append(got, v)
		}
	}
	if need := len(voters)/2 + 1; len(got) < need {
		return violation(PropElectionSafety, "node %d became leader of term %d, but only %v voted for it in that term, not a quorum (%d) of the voters %v", id, term, got, need, voters)
	}
	return nil
}

// LeaderOf returns the leader seen for term, or raft.None.
func (c *Checker) LeaderOf(term uint64) uint64 { return c.leaders[term] }

// ObserveEntries records a run of consecutive entries whose predecessor is
// (prevIndex, prevTerm); hasPrev is false when the predecessor's term is not
// known. Log Matching: an (index, term) pair always names the same content
// and the same predecessor term.
func (c *Checker) ObserveEntries(prevIndex, prevTerm uint64, hasPrev bool, ents []raft.Entry) error {
	for i, e := range ents {
		if e.Index != prevIndex+1+uint64(i) {
			return violation(PropLogMatching, "entries not contiguous: index %d at position %d after %d", e.Index, i, prevIndex)
		}
		pt, hp := prevTerm, hasPrev
		if i > 0 {
			pt, hp = ents[i-1].Term, true
			if e.Term < pt {
				return violation(PropLogMatching, "entry %d has term %d below its predecessor's %d", e.Index, e.Term, pt)
			}
		}
		if err := c.observeEntry(e.Index, e.Term, EntryHash(e), pt, hp); err != nil {
			return err
		}
	}
	return nil
}

func (c *Checker) observeEntry(index, term, hash, prevTerm uint64, hasPrev bool) error {
	k := entryKey{index, term}
	old, ok := c.entries[k]
	if !ok {
		c.entries[k] = entryInfo{hash: hash, prevTerm: prevTerm, hasPrev: hasPrev}
		return nil
	}
	if old.hash != hash {
		return violation(PropLogMatching, "two different entries at index %d term %d", index, term)
	}
	if hasPrev && old.hasPrev && old.prevTerm != prevTerm {
		return violation(PropLogMatching, "entry %d/%d follows term %d in one log and term %d in another", index, term, old.prevTerm, prevTerm)
	}
	if hasPrev && !old.hasPrev {
		old.prevTerm, old.hasPrev = prevTerm, true
		c.entries[k] = old
	}
	return nil
}

// ObserveProposal records that a leader accepted a proposal with content
// e (Index and Term as Propose returned them).
func (c *Checker) ObserveProposal(e raft.Entry) error {
	return c.observeEntry(e.Index, e.Term, EntryHash(e), 0, false)
}

// ObserveCommitted records that a node at term obsTerm holds e in its log
// with a commit index >= e.Index. A committed index never changes content.
func (c *Checker) ObserveCommitted(obsTerm uint64, e raft.Entry) error {
	h := EntryHash(e)
	if old, ok := c.committed[e.Index]; ok {
		if old.term != e.Term || old.hash != h {
			return violation(PropStateMachineSafety, "index %d committed as term %d and as term %d (or different content)", e.Index, old.term, e.Term)
		}
		old.obsTerm = min(old.obsTerm, obsTerm)
	} else {
		c.committed[e.Index] = &committedEntry{term: e.Term, hash: h, obsTerm: obsTerm}
	}
	c.maxIndex = max(c.maxIndex, e.Index)
	for {
		n := uint64(len(c.chain))
		ce, ok := c.committed[n]
		if !ok {
			break
		}
		c.chain = append(c.chain, chainStep(c.chain[n-1], n, ce.term, ce.hash))
	}
	return nil
}

// ObserveCommitIndex records that some node reported commit index ci
// (for entries it cannot show, e.g. compacted ones).
func (c *Checker) ObserveCommitIndex(ci uint64) { c.maxIndex = max(c.maxIndex, ci) }

// MaxCommitted returns the highest index any node has reported committed.
func (c *Checker) MaxCommitted() uint64 { return c.maxIndex }

// CommittedTerm returns the term of the committed entry at index i.
func (c *Checker) CommittedTerm(i uint64) (uint64, bool) {
	ce, ok := c.committed[i]
	if !ok {
		return 0, false
	}
	return ce.term, true
}

// ObserveLeaderLog checks Leader Completeness for node id, leader of term:
// every entry committed in an earlier term must be in its log. term(i)
// returns the term of the leader's entry i and whether it has one; entries
// at or below snapIndex are in the leader's snapshot (checked when the
// snapshot was made or installed).
func (c *Checker) ObserveLeaderLog(id, term, snapIndex uint64, entryAt func(i uint64) (raft.Entry, bool)) error {
	for i := snapIndex + 1; i <= c.maxIndex; i++ {
		ce, ok := c.committed[i]
		if !ok || ce.obsTerm >= term {
			continue
		}
		e, ok := entryAt(i)
		if !ok {
			return violation(PropLeaderCompleteness, "leader %d of term %d lacks index %d committed by term %d", id, term, i, ce.obsTerm)
		}
		if e.Term != ce.term || EntryHash(e) != ce.hash {
			return violation(PropLeaderCompleteness, "leader %d of term %d has index %d at term %d, committed at term %d", id, term, i, e.Term, ce.term)
		}
	}
	return nil
}

// ObserveVote records the hard state a node persisted. One vote per term:
// a node never persists two different votes for the same term, and its term
// never goes down.
func (c *Checker) ObserveVote(id uint64, hs raft.HardState) error {
	if hs.Vote == raft.None {
		return nil
	}
	k := entryKey{id, hs.Term}
	if v, ok := c.votes[k]; ok && v != hs.Vote {
		return violation(PropVote, "node %d voted for %d and for %d in term %d", id, v, hs.Vote, hs.Term)
	}
	c.votes[k] = hs.Vote
	return nil
}

// ObserveVoteSent records a granted vote as it leaves node id: a vote for
// candidate in term. A node sends a vote only once it is durable (Figure 2),
// so a vote on the wire counts exactly as one in the store: a node that
// crashes after sending one and then votes for another candidate in the
// same term has broken One vote per term, even if neither candidate wins.
func (c *Checker) ObserveVoteSent(id, term, candidate uint64) error {
	c.votesSent[entryKey{id, term}] = candidate
	return c.ObserveVote(id, raft.HardState{Term: term, Vote: candidate})
}

// ObserveSent records a message as it leaves node id. Its term is a
// promise like a vote: a node persists its term before any message of
// that term leaves (Figure 2: currentTerm is updated on stable storage
// before responding), pre-votes aside, whose term is the one a campaign
// would take and is not the node's. A granted vote also goes to
// ObserveVoteSent.
func (c *Checker) ObserveSent(id uint64, m raft.Message) {
	if m.Type == raft.MsgPreVote || m.Type == raft.MsgPreVoteResp {
		return
	}
	c.termSent[id] = max(c.termSent[id], m.Term)
}

// ObserveWiped tells the checker that node id's data was deleted on
// purpose (a member removed, then wiped to join again empty): it restarts
// with nothing, which breaks no promise, since the removal took its votes
// and acknowledgements out of every quorum that counts.
func (c *Checker) ObserveWiped(id uint64) {
	delete(c.termSent, id)
	for k := range c.votesSent {
		if k.index == id {
			delete(c.votesSent, k)
		}
	}
}

// ObserveRestartState checks the hard state node id restarts with against
// what it sent before: Raft's persistent state (Figure 2) must cover every
// message that left the node, so its term is at least the highest term it
// sent a message in, and in that term its vote is the one it granted on
// the wire. A node that forgot either (a term or vote written after the
// message left, or not synced) can vote twice in one term: the harm shows
// only if a second candidate of that term asks it, which a run rarely
// arranges; the forgetting itself is visible at every restart.
func (c *Checker) ObserveRestartState(id uint64, hs raft.HardState) error {
	if sent := c.termSent[id]; hs.Term < sent {
		return violation(PropDurability, "node %d restarted at term %d, but it had sent messages of term %d: its term was not durable before they left", id, hs.Term, sent)
	}
	if cand, ok := c.votesSent[entryKey{id, hs.Term}]; ok && hs.Vote != cand {
		return violation(PropVote, "node %d restarted in term %d with vote %d, but its vote for %d in that term had left the node: the vote was not durable before it was sent", id, hs.Term, hs.Vote, cand)
	}
	return nil
}

// ObserveOverwrite checks a write that replaces node id's entry at index
// (of term oldTerm, as its log held it) by one of term newTerm. Replacing
// an uncommitted entry is how a follower's log is repaired (§5.3), but an
// entry that was committed is in every later leader's log (Leader
// Completeness), and a node that holds it has a term at least its term, so
// no correct leader's append — and no stale leader's, which the term check
// refuses — can make a node drop it. A node that does has lost a committed
// entry from its log, whether or not it ever becomes leader.
func (c *Checker) ObserveOverwrite(id, index, oldTerm, newTerm uint64) error {
	if oldTerm == newTerm {
		return nil
	}
	if ce, ok := c.committed[index]; ok && ce.term == oldTerm {
		return violation(PropCommitDurability, "node %d replaced index %d of term %d, committed, with an entry of term %d", id, index, oldTerm, newTerm)
	}
	return nil
}

// ObserveRestart tells the checker that node id restarted with its state
// machine sm (restored from its snapshot or from durable state), and
// checks that state against the committed history.
func (c *Checker) ObserveRestart(id uint64, sm StateMachine) error {
	c.applied[id] = sm.Index
	if sm.Index < uint64(len(c.chain)) && c.chain[sm.Index] != sm.Hash {
		return violation(PropStateMachineSafety, "node %d restarted with a state at %d that differs from the committed history", id, sm.Index)
	}
	return nil
}

// ObserveApplied checks State Machine Safety for one applied entry: nodes
// apply entries in index order, only committed ones, and the same entry at
// the same index; stateHash is the node's state after applying it.
func (c *Checker) ObserveApplied(id uint64, e raft.Entry, stateHash uint64) error {
	if last := c.applied[id]; e.Index != last+1 {
		return violation(PropStateMachineSafety, "node %d applied index %d after %d", id, e.Index, last)
	}
	c.applied[id] = e.Index
	ce, ok := c.committed[e.Index]
	if !ok {
		return violation(PropStateMachineSafety, "node %d applied index %d (term %d), which no node reported committed", id, e.Index, e.Term)
	}
	if ce.term != e.Term || ce.hash != EntryHash(e) {
		return violation(PropStateMachineSafety, "node %d applied index %d term %d, but term %d was committed there", id, e.Index, e.Term, ce.term)
	}
	if e.Index < uint64(len(c.chain)) && c.chain[e.Index] != stateHash {
		return violation(PropStateMachineSafety, "node %d state after index %d differs from the committed history", id, e.Index)
	}
	return nil
}

// ObserveConf checks that every node applying the configuration change at
// index gets the same configuration.
func (c *Checker) ObserveConf(id, index uint64, cs raft.ConfState) error {
	if old, ok := c.confs[index]; ok && !old.Equal(cs) {
		return violation(PropStateMachineSafety, "node %d has configuration %v after index %d, another node %v", id, cs, index, old)
	}
	c.confs[index] = cs
	return nil
}

// ObserveSnapshot checks a snapshot a node created or installed: it holds
// the state of the committed history at its index.
func (c *Checker) ObserveSnapshot(id uint64, snap raft.Snapshot, installed bool) error {
	var sm StateMachine
	if err := sm.Restore(snap.Data); err != nil {
		return violation(PropStateMachineSafety, "node %d snapshot at %d: %v", id, snap.Metadata.Index, err)
	}
	idx := snap.Metadata.Index
	if sm.Index != idx {
		return violation(PropStateMachineSafety, "node %d snapshot metadata index %d but state at %d", id, idx, sm.Index)
	}
	if t, ok := c.CommittedTerm(idx); ok && t != snap.Metadata.Term {
		return violation(PropStateMachineSafety, "node %d snapshot at %d has term %d, committed term %d", id, idx, snap.Metadata.Term, t)
	}
	if idx >= uint64(len(c.chain)) {
		return violation(PropStateMachineSafety, "node %d snapshot at %d is beyond the known committed prefix %d", id, idx, len(c.chain)-1)
	}
	if c.chain[idx] != sm.Hash {
		return violation(PropStateMachineSafety, "node %d snapshot at %d differs from the committed history", id, idx)
	}
	if installed {
		if last := c.applied[id]; idx <= last {
			return violation(PropStateMachineSafety, "node %d installed snapshot at %d after applying %d", id, idx, last)
		}
		c.applied[id] = idx
	}
	return nil
}

// ObserveReadRequest records a ReadIndex request with a unique context,
// issued now: its answer must be at least every index committed so far.
func (c *Checker) ObserveReadRequest(rctx string) {
	c.reads[rctx] = pendingRead{minIndex: c.maxIndex}
}

// ObserveLeaderRead records that the read rctx (ObserveReadRequest) was
// taken by node id while its core was leader of term.
func (c *Checker) ObserveLeaderRead(rctx string, id, term uint64) {
	r := c.reads[rctx]
	r.leader, r.leaderTerm, r.newestLeader = id, term, c.newestLeader
	c.reads[rctx] = r
}

// ObserveReadState checks a ReadIndex answer: it is at least every index
// committed before the read was issued; and a leader that took the read
// after a leader of a later term had been elected must not answer it. A
// heartbeat round cannot confirm it then (the new leader's voters, a
// quorum, are in the later term), so an answer can only come from a lease
// that outlived the leadership it stood for: the old leader reads its own
// state while the new one may already commit writes (§6.4.1). Seeing it
// needs no write and no unlucky client: the moment the lease is wrong is
// enough.
func (c *Checker) ObserveReadState(id uint64, rs raft.ReadState) error {
	r, ok := c.reads[string(rs.RequestCtx)]
	if !ok {
		return violation(PropLinearizableRead, "node %d got a read state for unknown context %q", id, rs.RequestCtx)
	}
	if r.leaderTerm != 0 && r.newestLeader > r.leaderTerm {
		return violation(PropLinearizableRead, "node %d, leader of term %d, answered read %x (index %d) though node %d had already been elected leader of term %d when the read reached it: its lease outlived its leadership",
			r.leader, r.leaderTerm, rs.RequestCtx, rs.Index, c.leaders[r.newestLeader], r.newestLeader)
	}
	if rs.Index < r.minIndex {
		return violation(PropLinearizableRead, "read %q answered with index %d below %d, committed before the read was issued", rs.RequestCtx, rs.Index, r.minIndex)
	}
	return nil
}

// CheckReady checks one Ready of node id against the node's previous hard
// state prev. leaderOf is the term the node was leader of when it advanced
// its previous Ready (0 if it was not leader), and lastIndex the last index
// of its persisted log (needed only when leaderOf != 0).
//
//   - Terms never go down, commit indexes never go down, and a vote is
//     never changed within a term.
//   - Leader Append-Only: a node still leader of the same term only appends
//     entries of that term right after its last entry, and installs no
//     snapshot.
//   - The durability contract: a Ready with entries, or that changes the
//     term or the vote, has MustSync set.
func CheckReady(id uint64, prev raft.HardState, leaderOf, lastIndex uint64, rd raft.Ready) error {
	if hs := rd.HardState; !hs.IsEmpty() {
		if hs.Term < prev.Term {
			return violation(PropVote, "node %d term went down from %d to %d", id, prev.Term, hs.Term)
		}
		if hs.Commit < prev.Commit {
			return violation(PropCommitDurability, "node %d commit went down from %d to %d", id, prev.Commit, hs.Commit)
		}
		if hs.Term == prev.Term && prev.Vote != raft.None && hs.Vote != prev.Vote {
			return violation(PropVote, "node %d changed its vote in term %d from %d to %d", id, hs.Term, prev.Vote, hs.Vote)
		}
	}
	term := prev.Term
	if !rd.HardState.IsEmpty() {
		term = rd.Term
	}
	if leaderOf != 0 && leaderOf == term {
		if !rd.Snapshot.IsEmpty() {
			return violation(PropLeaderAppendOnly, "leader %d of term %d installs snapshot %d", id, leaderOf, rd.Snapshot.Metadata.Index)
		}
		if len(rd.Entries) > 0 && rd.Entries[0].Index != lastIndex+1 {
			return violation(PropLeaderAppendOnly, "leader %d of term %d writes index %d over its log ending at %d", id, leaderOf, rd.Entries[0].Index, lastIndex)
		}
		for _, e := range rd.Entries {
			if e.Term != leaderOf {
				return violation(PropLeaderAppendOnly, "leader %d of term %d appends entry %d of term %d", id, leaderOf, e.Index, e.Term)
			}
		}
	}
	if !rd.MustSync {
		if len(rd.Entries) > 0 {
			return violation(PropDurability, "node %d: Ready with %d entries has MustSync false", id, len(rd.Entries))
		}
		if !rd.HardState.IsEmpty() && (rd.Term != prev.Term || rd.Vote != prev.Vote) {
			return violation(PropDurability, "node %d: Ready changes term/vote %d/%d -> %d/%d with MustSync false", id, prev.Term, prev.Vote, rd.Term, rd.Vote)
		}
	}
	return nil
}

// ObserveStep checks one transition of a node's core: the state before and
// after it stepped message m from a peer. These are the rules of Figure 2
// and §5.3–5.4.2 that hold of every single step, checked as the step
// happens, so a break is caught where it occurs and not only in the rare
// schedule that later turns it into a lost write or two leaders:
//
//   - A node's term and commit index never go down, and it never counts
//     as committed an entry it does not hold.
//   - A message of an earlier term than the receiver's changes nothing of
//     its state (term, vote, commit index, log, leader, role): a deposed
//     leader's append, a stale vote or answer is at most answered, never
//     acted on (Figure 2: "reply false if term < currentTerm").
//   - A leader never shortens its log within its term (Leader Append-Only),
//     and it moves its commit index only to an entry of its own term,
//     whatever a majority of its followers hold (§5.4.2, the rule that
//     Figure 8 shows cannot be dropped).
func (c *Checker) ObserveStep(m raft.Message, before, after raft.BasicStatus) error {
	id := before.ID
	switch {
	case after.Term < before.Term:
		return violation(PropCurrentTerm, "node %d's term went from %d down to %d on a %s from %d", id, before.Term, after.Term, m.Type, m.From)
	case after.Commit < before.Commit:
		return violation(PropCommitDurability, "node %d's commit index went back from %d to %d on a %s from %d of term %d", id, before.Commit, after.Commit, m.Type, m.From, m.Term)
	case after.Commit > after.LastIndex:
		return violation(PropCommitDurability, "node %d's commit index %d is beyond its last entry %d after a %s from %d of term %d", id, after.Commit, after.LastIndex, m.Type, m.From, m.Term)
	}
	if m.Term != 0 && m.Term < before.Term && stateChanged(before, after) {
		return violation(PropCurrentTerm, "node %d, in term %d, acted on a %s of earlier term %d from %d: %s", id, before.Term, m.Type, m.Term, m.From, describeChange(before, after))
	}
	if before.RaftState == raft.StateLeader && after.RaftState == raft.StateLeader && before.Term == after.Term {
		if after.LastIndex < before.LastIndex {
			return violation(PropLeaderAppendOnly, "node %d, leader of term %d, shortened its log from %d to %d entries on a %s from %d", id, after.Term, before.LastIndex, after.LastIndex, m.Type, m.From)
		}
		if after.Commit > before.Commit && after.CommitTerm != after.Term {
			return violation(PropCommitRule, "node %d, leader of term %d, moved its commit index from %d to %d, an entry of term %d, on a %s from %d: a leader commits by counting replicas only an entry of its own term (§5.4.2); an earlier term's entry on a majority can still be overwritten (Figure 8)",
				id, after.Term, before.Commit, after.Commit, after.CommitTerm, m.Type, m.From)
		}
	}
	return nil
}

func stateChanged(before, after raft.BasicStatus) bool {
	return before.HardState != after.HardState || before.SoftState != after.SoftState ||
		before.LastIndex != after.LastIndex || before.LastTerm != after.LastTerm
}

// describeChange names what a step changed, for a violation's detail.
func describeChange(before, after raft.BasicStatus) string {
	var out []string
	add := func(what string, from, to any) {
		if from != to {
			out = append(out, fmt.Sprintf("%s %v -> %v", what, from, to))
		}
	}
	add("term", before.Term, after.Term)
	add("vote", before.Vote, after.Vote)
	add("commit", before.Commit, after.Commit)
	add("last index", before.LastIndex, after.LastIndex)
	add("last term", before.LastTerm, after.LastTerm)
	add("leader", before.Lead, after.Lead)
	add("role", before.RaftState, after.RaftState)
	return strings.Join(out, ", ")
}
