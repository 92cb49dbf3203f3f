package raft

import (
	"bytes"
	"fmt"
	"math/rand/v2"

	"github.com/raftkv/raftkv/internal/bugs"
)

// StateType is a node's role.
type StateType uint8

const (
	StateFollower StateType = iota
	StateCandidate
	StateLeader
	StatePreCandidate
)

func (s StateType) String() string {
	switch s {
	case StateFollower:
		return "follower"
	case StateCandidate:
		return "candidate"
	case StateLeader:
		return "leader"
	case StatePreCandidate:
		return "pre-candidate"
	}
	return fmt.Sprintf("StateType(%d)", uint8(s))
}

// campaignTransfer is the Context of MsgVote in an election forced by a
// leadership transfer (MsgTimeoutNow): voters grant it even within their
// leader lease (thesis §3.10).
var campaignTransfer = []byte("CampaignTransfer")

// snapshotRetryElections is how many election timeouts a leader waits for
// a snapshot to be acknowledged (or reported) before sending it again.
const snapshotRetryElections = 4

type campaignType uint8

const (
	campaignPreElection campaignType = iota
	campaignElection
	campaignTransferKind
)

// Config configures a RawNode.
type Config struct {
	// ID is this node's identity; it must not be 0.
	ID uint64
	// ElectionTick is the base election timeout in ticks: a follower that
	// hears from no leader for a random timeout in [ElectionTick,
	// 2*ElectionTick) campaigns. It must exceed HeartbeatTick. 0 means 10.
	ElectionTick int
	// HeartbeatTick is how many ticks pass between leader heartbeats. 0
	// means 1.
	HeartbeatTick int
	// Storage is where the core reads the persisted log from.
	Storage Storage
	// Applied is the last index the application has applied, when
	// restarting. Entries up to it are not handed out again.
	Applied uint64
	// MaxSizePerMsg limits the bytes of entries in one MsgApp (at least
	// one entry is always sent). 0 means no limit.
	MaxSizePerMsg uint64
	// MaxCommittedSizePerReady limits the bytes of CommittedEntries in one
	// Ready (at least one entry). 0 means no limit.
	MaxCommittedSizePerReady uint64
	// MaxInflightMsgs limits the MsgApps in flight to one follower in
	// ProgressReplicate. 0 means 256.
	MaxInflightMsgs int
	// MaxUncommittedEntriesSize limits the payload bytes of the leader's
	// uncommitted tail; proposals beyond it get ErrProposalDropped. 0
	// means no limit.
	MaxUncommittedEntriesSize uint64
	// CheckQuorum makes a leader step down when it has not heard from a
	// majority for an election timeout, and followers ignore votes for an
	// election timeout after hearing from a leader.
	CheckQuorum bool
	// PreVote runs a pre-election (thesis §9.6) before incrementing the
	// term, so a partitioned node cannot disrupt the cluster on rejoining.
	PreVote bool
	// ReadOnlyOption selects ReadIndex (default) or lease reads; lease
	// reads require CheckQuorum.
	ReadOnlyOption ReadOnlyOption
	// Seed seeds the election-timeout randomness. The source is
	// math/rand/v2's PCG seeded with (Seed, ID), so nodes sharing a Seed
	// still draw different timeouts.
	Seed int64
	// Logger receives the core's logs; nil discards them.
	Logger Logger
}

func (c *Config) validate() error {
	if c.ID == None {
		return fmt.Errorf("%w: cannot use none as id", ErrInvalidConfig)
	}
	if c.HeartbeatTick == 0 {
		c.HeartbeatTick = 1
	}
	if c.ElectionTick == 0 {
		c.ElectionTick = 10
	}
	if c.HeartbeatTick < 0 {
		return fmt.Errorf("%w: heartbeat tick must be greater than 0", ErrInvalidConfig)
	}
	if c.ElectionTick <= c.HeartbeatTick {
		return fmt.Errorf("%w: election tick (%d) must be greater than heartbeat tick (%d)", ErrInvalidConfig, c.ElectionTick, c.HeartbeatTick)
	}
	if c.Storage == nil {
		return fmt.Errorf("%w: storage cannot be nil", ErrInvalidConfig)
	}
	if c.MaxInflightMsgs == 0 {
		c.MaxInflightMsgs = 256
	}
	if c.MaxInflightMsgs < 0 {
		return fmt.Errorf("%w: max inflight messages must be positive", ErrInvalidConfig)
	}
	if c.MaxSizePerMsg == 0 {
		c.MaxSizePerMsg = noLimit
	}
	if c.MaxCommittedSizePerReady == 0 {
		c.MaxCommittedSizePerReady = noLimit
	}
	if c.MaxUncommittedEntriesSize == 0 {
		c.MaxUncommittedEntriesSize = noLimit
	}
	if c.ReadOnlyOption == ReadOnlyLeaseBased && !c.CheckQuorum {
		return fmt.Errorf("%w: CheckQuorum must be enabled when ReadOnlyOption is ReadOnlyLeaseBased", ErrInvalidConfig)
	}
	if c.Logger == nil {
		c.Logger = discardLogger{}
	}
	return nil
}

// stepFunc is a role's message handler.
type stepFunc func(r *raft, m Message) error

// raft is the consensus state machine behind RawNode.
type raft struct {
	id uint64

	// Term and Vote are persisted (HardState). Invariant: Vote is None or
	// a node this node voted for in Term.
	Term uint64
	Vote uint64

	readStates []ReadState

	raftLog *raftLog

	maxMsgSize         uint64
	maxUncommittedSize uint64
	trk                *tracker

	state StateType
	// msgs are the messages to send with the next Ready.
	msgs []Message
	// pendingBcast: proposals were appended since the last Ready and not
	// yet sent to followers.
	pendingBcast bool

	// lead is the leader of Term as far as this node knows, or None.
	lead uint64
	// leadTransferee is the target of an ongoing leadership transfer, or
	// None. Invariant: it is None unless state == StateLeader.
	leadTransferee uint64
	// sentTimeoutNow: this leader sent MsgTimeoutNow in this term, so
	// another node may win an election despite the followers' leases; lease
	// reads are off until the term changes.
	sentTimeoutNow bool
	// pendingConfIndex is the index of the last configuration change the
	// leader appended. A new change is refused while applied is below it
	// (one change at a time, thesis §4.1).
	pendingConfIndex uint64
	// uncommittedSize is the payload bytes of the leader's uncommitted
	// entries (an estimate: it is reduced as entries are applied).
	uncommittedSize uint64

	readOnly       *readOnly
	readOnlyOption ReadOnlyOption
	// pendingReadIndexMessages wait for the leader to commit an entry of
	// its term: until then its commit index may be behind the true one.
	pendingReadIndexMessages []Message

	// electionElapsed counts ticks since the last election timeout reset:
	// for a follower or candidate since it last heard from a leader or
	// started a campaign, for a leader since the last check-quorum round.
	electionElapsed  int
	heartbeatElapsed int
	// ticks counts every tick ever; heartbeats carry it so that lease
	// reads know when the acknowledged round was sent.
	ticks uint64

	checkQuorum bool
	preVote     bool
	// restarted: the node started from a non-empty HardState (see
	// inLease).
	restarted bool

	heartbeatTimeout int
	electionTimeout  int
	// randomizedElectionTimeout is in [electionTimeout, 2*electionTimeout).
	randomizedElectionTimeout int
	rand                      *rand.Rand

	tick func()
	step stepFunc

	logger Logger
}

func newRaft(c *Config) (*raft, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	raftlog, err := newLog(c.Storage, c.Logger, c.MaxCommittedSizePerReady)
	if err != nil {
		return nil, err
	}
	hs, cs, err := c.Storage.InitialState()
	if err != nil {
		return nil, fmt.Errorf("raft: storage initial state: %w", err)
	}
	// Caught here rather than by the invariant panics they would reach
	// later (loadState, commitTo): only local corruption or a lost log
	// produces them, so they are an error at start, not a crash at the
	// first message.
	if first, last := raftlog.firstIndex(), raftlog.lastIndex(); first-1 > last {
		return nil, fmt.Errorf("%w: first index %d is beyond the last index %d + 1", ErrCorruptStorage, first, last)
	} else if hs.Commit > last {
		return nil, fmt.Errorf("%w: hard state commits %d but the log ends at %d", ErrCorruptStorage, hs.Commit, last)
	}
	r := &raft{
		id:                 c.ID,
		lead:               None,
		raftLog:            raftlog,
		maxMsgSize:         c.MaxSizePerMsg,
		maxUncommittedSize: c.MaxUncommittedEntriesSize,
		trk:                newTracker(c.MaxInflightMsgs),
		electionTimeout:    c.ElectionTick,
		heartbeatTimeout:   c.HeartbeatTick,
		logger:             c.Logger,
		checkQuorum:        c.CheckQuorum,
		preVote:            c.PreVote,
		readOnly:           newReadOnly(),
		readOnlyOption:     c.ReadOnlyOption,
		rand:               rand.New(rand.NewPCG(uint64(c.Seed), c.ID)),
	}
	for _, id := range cs.Voters {
		r.applyConfChange(ConfChange{Type: ConfChangeAddVoter, NodeID: id})
	}
	for _, id := range cs.Learners {
		r.applyConfChange(ConfChange{Type: ConfChangeAddLearner, NodeID: id})
	}
	if !hs.IsEmpty() {
		r.loadState(hs)
		r.restarted = true
	}
	snapIndex := r.raftLog.firstIndex() - 1
	if c.Applied > 0 {
		if c.Applied < snapIndex {
			return nil, fmt.Errorf("%w: applied index %d is below the compacted index %d: restore the state machine from the snapshot first", ErrInvalidConfig, c.Applied, snapIndex)
		}
		if c.Applied > r.raftLog.lastIndex() {
			return nil, fmt.Errorf("%w: applied index %d is beyond the last index %d", ErrInvalidConfig, c.Applied, r.raftLog.lastIndex())
		}
		if c.Applied > r.raftLog.committed {
			// What was applied was committed; the saved commit index lags
			// because it is written lazily (Ready.MustSync false).
			r.raftLog.commitTo(c.Applied)
		}
		// The storage's configuration is that of its snapshot. Changes
		// between the snapshot and Applied were applied by the application
		// before the restart and will not be handed out again, so replay
		// them here.
		if c.Applied > snapIndex {
			ents, err := r.raftLog.slice(snapIndex+1, c.Applied+1, noLimit)
			if err != nil {
				return nil, fmt.Errorf("raft: reading entries to replay configuration: %w", err)
			}
			for _, e := range ents {
				if e.Type != EntryConfChange {
					continue
				}
				var cc ConfChange
				if err := cc.Unmarshal(e.Data); err != nil {
					return nil, fmt.Errorf("raft: entry %d: %w", e.Index, err)
				}
				r.applyConfChange(cc)
			}
		}
		r.raftLog.appliedTo(c.Applied)
	}
	r.becomeFollower(r.Term, None)
	r.logger.Infof("raft: newRaft %x [peers: %v, term: %d, commit: %d, applied: %d, lastindex: %d, lastterm: %d]",
		r.id, r.trk.ids, r.Term, r.raftLog.committed, r.raftLog.applied, r.raftLog.lastIndex(), r.raftLog.lastTerm())
	return r, nil
}

func (r *raft) hasLeader() bool { return r.lead != None }

func (r *raft) softState() SoftState { return SoftState{Lead: r.lead, RaftState: r.state} }

func (r *raft) hardState() HardState {
	return HardState{Term: r.Term, Vote: r.Vote, Commit: r.raftLog.committed}
}

// send queues m for the next Ready, stamping From and Term.
func (r *raft) send(m Message) {
	if m.From == None {
		m.From = r.id
	}
	switch m.Type {
	case MsgVote, MsgVoteResp, MsgPreVote, MsgPreVoteResp:
		// The term of a (pre)vote is set by the caller: a pre-vote asks
		// for a future term, and a granted pre-vote answers with it.
		if m.Term == 0 {
			r.logger.Panicf("raft: term should be set when sending %s", m.Type)
		}
	default:
		if m.Term != 0 {
			r.logger.Panicf("raft: term should not be set when sending %s (was %d)", m.Type, m.Term)
		}
		// A forwarded read request carries no term: the leader treats it
		// like a local message.
		if m.Type != MsgProp && m.Type != MsgReadIndex {
			m.Term = r.Term
		}
	}
	r.msgs = append(r.msgs, m)
}

// sendAppend sends entries to the member if flow control allows.
func (r *raft) sendAppend(to uint64) { r.maybeSendAppend(to, true) }

// maybeSendAppend sends a MsgApp (or a MsgSnap when the entries are
// compacted) to the member. With sendIfEmpty false it sends nothing when
// there are no new entries. It reports whether a message was sent.
func (r *raft) maybeSendAppend(to uint64, sendIfEmpty bool) bool {
	pr := r.trk.progress[to]
	if pr == nil || pr.isPaused() {
		return false
	}
	prevIndex := pr.Next - 1
	prevTerm, errt := r.raftLog.term(prevIndex)
	ents, erre := r.raftLog.entries(pr.Next, r.maxMsgSize)
	if len(ents) == 0 && !sendIfEmpty {
		return false
	}
	if errt != nil || erre != nil {
		return r.maybeSendSnapshot(to, pr)
	}
	r.send(Message{
		To:      to,
		Type:    MsgApp,
		Index:   prevIndex,
		LogTerm: prevTerm,
		Entries: ents,
		Commit:  r.raftLog.committed,
	})
	var last uint64
	if n := len(ents); n > 0 {
		last = ents[n-1].Index
	}
	pr.sentEntries(len(ents), last)
	return true
}

// maybeSendSnapshot sends the current snapshot to a member whose next
// entries are compacted (§7).
func (r *raft) maybeSendSnapshot(to uint64, pr *progress) bool {
	if !pr.RecentActive {
		r.logger.Debugf("raft: %x ignored sending snapshot to %x since it is not recently active", r.id, to)
		return false
	}
	snap, err := r.raftLog.snapshot()
	if err != nil {
		if err == ErrSnapshotTemporarilyUnavailable {
			r.logger.Debugf("raft: %x failed to send snapshot to %x because snapshot is temporarily unavailable", r.id, to)
			return false
		}
		r.logger.Panicf("raft: %x cannot get snapshot: %v", r.id, err)
	}
	if snap.IsEmpty() {
		r.logger.Panicf("raft: %x needs to send a snapshot to %x but has none [%s]", r.id, to, pr)
	}
	r.logger.Infof("raft: %x [firstindex: %d, commit: %d] sent snapshot[index: %d, term: %d] to %x [%s]",
		r.id, r.raftLog.firstIndex(), r.raftLog.committed, snap.Metadata.Index, snap.Metadata.Term, to, pr)
	pr.becomeSnapshot(snap.Metadata.Index)
	pr.snapshotSentTick = r.ticks
	r.send(Message{To: to, Type: MsgSnap, Snapshot: &snap})
	return true
}

// sendHeartbeat sends a heartbeat. Its commit is capped at the member's
// Match: the member may not have the leader's committed entries yet.
func (r *raft) sendHeartbeat(to uint64, ctx []byte) {
	commit := min(r.trk.progress[to].Match, r.raftLog.committed)
	r.send(Message{To: to, Type: MsgHeartbeat, Commit: commit, Context: ctx, Index: r.ticks})
}

// bcastAppend sends MsgApp to every member that can take one. Members
// without new entries get an empty MsgApp only if sendIfEmpty (a commit
// update).
func (r *raft) bcastAppend(sendIfEmpty bool) {
	for _, id := range r.trk.ids {
		if id == r.id {
			continue
		}
		r.maybeSendAppend(id, sendIfEmpty)
	}
}

func (r *raft) bcastHeartbeat() {
	r.bcastHeartbeatWithCtx(r.readOnly.lastPendingRequestCtx())
}

func (r *raft) bcastHeartbeatWithCtx(ctx []byte) {
	for _, id := range r.trk.ids {
		if id == r.id {
			continue
		}
		r.sendHeartbeat(id, ctx)
	}
}

// maybeCommit advances the commit index to what a majority of voters has,
// if that entry is of the current term (§5.4.2). It reports whether the
// commit index moved.
func (r *raft) maybeCommit() bool {
	before := r.committedEntryInCurrentTerm()
	if !r.raftLog.maybeCommit(r.trk.committed(), r.Term) {
		return false
	}
	if !before && r.committedEntryInCurrentTerm() {
		r.releasePendingReadIndexMessages()
	}
	return true
}

func (r *raft) reset(term uint64) {
	if r.Term != term {
		r.Term = term
		r.Vote = None
		r.sentTimeoutNow = false
	}
	r.lead = None
	r.electionElapsed = 0
	r.heartbeatElapsed = 0
	r.resetRandomizedElectionTimeout()
	r.abortLeaderTransfer()
	r.trk.resetVotes()
	last := r.raftLog.lastIndex()
	for id, pr := range r.trk.progress {
		*pr = progress{Next: last + 1, inflights: newInflights(r.trk.maxInflight), IsLearner: pr.IsLearner}
		if id == r.id {
			pr.RecentActive = true
			pr.Match = r.raftLog.stableLastIndex()
			pr.Next = max(pr.Next, pr.Match+1)
		}
	}
	r.pendingConfIndex = 0
	r.uncommittedSize = 0
	r.readOnly = newReadOnly()
	r.pendingReadIndexMessages = nil
}

// appendEntry appends proposals from the leader, stamping term and index.
// It refuses (false) when the uncommitted tail would exceed its limit.
func (r *raft) appendEntry(es ...Entry) bool {
	li := r.raftLog.lastIndex()
	for i := range es {
		es[i].Term = r.Term
		es[i].Index = li + 1 + uint64(i)
	}
	if !r.increaseUncommittedSize(es) {
		r.logger.Warningf("raft: %x appending new entries to log would exceed uncommitted entry size limit; dropping proposal", r.id)
		return false
	}
	r.raftLog.append(es...)
	// The leader's own Match advances only when Advance reports the
	// entries persisted (see RawNode.Advance).
	if bugs.On(bugs.LeaderSelfAckEarly) {
		// Planted bug (bugs.LeaderSelfAckEarly): the leader counts its own
		// copy toward the commit quorum as soon as it appends it, as cores
		// that assumed a driver writing before it sends did. Here the
		// appends leave before the leader's write, so one follower's ack
		// commits an entry (in a cluster of three) that is on no other
		// disk yet, and a leader crash loses it.
		if pr := r.trk.progress[r.id]; pr != nil && pr.maybeUpdate(r.raftLog.lastIndex()) {
			bugs.Fire(bugs.LeaderSelfAckEarly)
			r.maybeCommit()
		}
	}
	return true
}

// tickElection is the tick of followers and candidates.
func (r *raft) tickElection() {
	r.electionElapsed++
	if r.promotable() && r.pastElectionTimeout() {
		r.electionElapsed = 0
		if err := r.Step(Message{From: r.id, Type: MsgHup}); err != nil {
			r.logger.Debugf("raft: error occurred during election: %v", err)
		}
	}
}

// tickHeartbeat is the leader's tick.
func (r *raft) tickHeartbeat() {
	r.heartbeatElapsed++
	r.electionElapsed++
	if r.electionElapsed >= r.electionTimeout {
		r.electionElapsed = 0
		if r.checkQuorum {
			_ = r.Step(Message{From: r.id, Type: MsgCheckQuorum})
		}
		// A transfer that did not finish within an election timeout is
		// abandoned and proposals resume (§3.10).
		if r.state == StateLeader && r.leadTransferee != None {
			r.abortLeaderTransfer()
		}
	}
	if r.state != StateLeader {
		return
	}
	if r.heartbeatElapsed >= r.heartbeatTimeout {
		r.heartbeatElapsed = 0
		_ = r.Step(Message{From: r.id, Type: MsgBeat})
	}
}

func (r *raft) becomeFollower(term, lead uint64) {
	r.step = stepFollower
	r.reset(term)
	r.tick = r.tickElection
	r.lead = lead
	r.state = StateFollower
	r.logger.Infof("raft: %x became follower at term %d", r.id, r.Term)
}

func (r *raft) becomeCandidate() {
	if r.state == StateLeader {
		r.logger.Panicf("raft: invalid transition [leader -> candidate] at %x", r.id)
	}
	r.step = stepCandidate
	r.reset(r.Term + 1)
	r.tick = r.tickElection
	r.Vote = r.id
	r.state = StateCandidate
	r.logger.Infof("raft: %x became candidate at term %d", r.id, r.Term)
}

func (r *raft) becomePreCandidate() {
	if r.state == StateLeader {
		r.logger.Panicf("raft: invalid transition [leader -> pre-candidate] at %x", r.id)
	}
	// A pre-candidate changes neither Term nor Vote (thesis §9.6): a
	// failed pre-election leaves no trace.
	r.step = stepCandidate
	r.trk.resetVotes()
	r.tick = r.tickElection
	r.lead = None
	r.state = StatePreCandidate
	r.logger.Infof("raft: %x became pre-candidate at term %d", r.id, r.Term)
}

func (r *raft) becomeLeader() {
	if r.state == StateFollower {
		r.logger.Panicf("raft: invalid transition [follower -> leader] at %x", r.id)
	}
	r.step = stepLeader
	r.reset(r.Term)
	r.tick = r.tickHeartbeat
	r.lead = r.id
	r.state = StateLeader
	// The leader replicates to itself through its own storage.
	if pr := r.trk.progress[r.id]; pr != nil {
		pr.becomeReplicate()
		pr.Match = r.raftLog.stableLastIndex()
		pr.Next = r.raftLog.lastIndex() + 1
	}
	// Entries of earlier terms may include a configuration change that is
	// not applied yet; be conservative and treat the whole log as pending.
	r.pendingConfIndex = r.raftLog.lastIndex()
	// The no-op that lets the leader commit, and so learn the commit
	// index, in its own term (§5.4.2, §8).
	if !r.appendEntry(Entry{}) {
		r.logger.Panicf("raft: empty entry was dropped")
	}
	r.logger.Infof("raft: %x became leader at term %d", r.id, r.Term)
}

func (r *raft) hup(t campaignType) {
	if r.state == StateLeader {
		r.logger.Debugf("raft: %x ignoring MsgHup because already leader", r.id)
		return
	}
	if !r.promotable() {
		r.logger.Warningf("raft: %x is unpromotable and can not campaign", r.id)
		return
	}
	if r.hasUnappliedConfChanges() {
		// The configuration this node would campaign in may be about to
		// change; wait until it is applied.
		r.logger.Warningf("raft: %x cannot campaign at term %d since there are still pending configuration changes to apply", r.id, r.Term)
		return
	}
	r.campaign(t)
}

func (r *raft) hasUnappliedConfChanges() bool {
	if r.raftLog.applied >= r.raftLog.committed {
		return false
	}
	lo, hi := r.raftLog.applied+1, r.raftLog.committed+1
	ents, err := r.raftLog.slice(lo, hi, noLimit)
	if err != nil {
		r.logger.Panicf("raft: error scanning unapplied entries (%d, %d]: %v", lo-1, hi-1, err)
	}
	for _, e := range ents {
		if e.Type == EntryConfChange {
			return true
		}
	}
	return false
}

// campaign starts a (pre-)election. A transfer campaign skips the
// pre-election: the leader asked for it.
func (r *raft) campaign(t campaignType) {
	var term uint64
	var voteMsg MessageType
	if t == campaignPreElection {
		r.becomePreCandidate()
		voteMsg = MsgPreVote
		term = r.Term + 1
	} else {
		r.becomeCandidate()
		voteMsg = MsgVote
		term = r.Term
	}
	if _, _, res := r.poll(r.id, voteRespType(voteMsg), true); res == voteWon {
		// A single-voter cluster wins at once.
		if t == campaignPreElection {
			r.campaign(campaignElection)
		} else {
			r.becomeLeader()
			r.bcastAppend(true)
		}
		return
	}
	var ctx []byte
	if t == campaignTransferKind {
		ctx = campaignTransfer
	}
	for _, id := range r.trk.ids {
		if id == r.id || !r.trk.isVoter(id) {
			continue
		}
		r.logger.Infof("raft: %x [logterm: %d, index: %d] sent %s request to %x at term %d",
			r.id, r.raftLog.lastTerm(), r.raftLog.lastIndex(), voteMsg, id, r.Term)
		r.send(Message{To: id, Term: term, Type: voteMsg, Index: r.raftLog.lastIndex(), LogTerm: r.raftLog.lastTerm(), Context: ctx})
	}
}

func (r *raft) poll(id uint64, t MessageType, v bool) (granted, rejected int, result voteResult) {
	if v {
		r.logger.Infof("raft: %x received %s from %x at term %d", r.id, t, id, r.Term)
	} else {
		r.logger.Infof("raft: %x received %s rejection from %x at term %d", r.id, t, id, r.Term)
	}
	r.trk.recordVote(id, v)
	return r.trk.tallyVotes()
}

func voteRespType(t MessageType) MessageType {
	switch t {
	case MsgVote:
		return MsgVoteResp
	case MsgPreVote:
		return MsgPreVoteResp
	}
	panic(fmt.Sprintf("raft: not a vote message: %s", t))
}

// inLease reports whether this node heard from a leader less than an
// election timeout ago, so it must not help depose it (thesis §4.2.3,
// §9.6).
func (r *raft) inLease() bool {
	if r.lead != None && r.electionElapsed < r.electionTimeout {
		return true
	}
	// A restarted node may have acknowledged a leader's heartbeat just
	// before it crashed; it must not vote before that heartbeat's lease
	// has run out, or a leader serving lease reads could be deposed while
	// it still trusts its lease.
	return r.restarted && r.ticks < uint64(r.electionTimeout)
}

// Step is the entry point of every message, local or remote.
func (r *raft) Step(m Message) error {
	switch {
	case m.Term == 0:
		// A local message.
	case m.Term > r.Term:
		if m.Type == MsgVote || m.Type == MsgPreVote {
			force := bytes.Equal(m.Context, campaignTransfer)
			// With CheckQuorum, a node that heard from a leader within the
			// election timeout refuses votes and pre-votes (thesis §4.2.3,
			// §9.6). The rule needs CheckQuorum: without it a leader that
			// can send but not receive (an asymmetric partition) stays
			// leader forever, and the followers it keeps in their lease
			// would refuse every other candidate, so nobody could be
			// elected.
			if !force && r.inLease() && r.checkQuorum {
				r.logger.Infof("raft: %x [logterm: %d, index: %d, vote: %x] ignored %s from %x [logterm: %d, index: %d] at term %d: lease is not expired (remaining ticks: %d)",
					r.id, r.raftLog.lastTerm(), r.raftLog.lastIndex(), r.Vote, m.Type, m.From, m.LogTerm, m.Index, r.Term, r.electionTimeout-r.electionElapsed)
				return nil
			}
		}
		switch {
		case m.Type == MsgPreVote:
			// Never change our term in response to a pre-vote.
		case m.Type == MsgPreVoteResp && !m.Reject:
			// The term in a granted pre-vote response is the future term
			// we asked for; it becomes ours only if we win.
		default:
			r.logger.Infof("raft: %x [term: %d] received a %s message with higher term from %x [term: %d]", r.id, r.Term, m.Type, m.From, m.Term)
			if m.Type == MsgApp || m.Type == MsgHeartbeat || m.Type == MsgSnap {
				r.becomeFollower(m.Term, m.From)
			} else {
				r.becomeFollower(m.Term, None)
			}
		}
	case m.Term < r.Term:
		if bugs.On(bugs.CountStaleVote) && m.Type == MsgVoteResp {
			// Planted bug (bugs.CountStaleVote): a vote response is matched
			// to the election by its sender only, not by its term, so a
			// grant from this candidate's earlier election that arrives late
			// (or twice) is counted in the current one, where that voter may
			// have voted for somebody else: two leaders in one term (and a
			// stale refusal counts against the current election).
			if r.state == StateCandidate {
				bugs.Fire(bugs.CountStaleVote)
			}
			return r.step(r, m)
		}
		if bugs.On(bugs.AppendFromStaleLeader) && m.Type == MsgApp && r.state == StateFollower {
			// Planted bug (bugs.AppendFromStaleLeader): the term check of
			// AppendEntries (Figure 2, receiver rule 1) is missing, so a
			// deposed leader's delayed append is handled like the current
			// leader's: it can overwrite entries this follower already
			// acknowledged to the current leader, which counted them toward
			// a commit.
			bugs.Fire(bugs.AppendFromStaleLeader)
			return r.step(r, m)
		}
		if m.Type == MsgHeartbeat || m.Type == MsgApp || m.Type == MsgSnap {
			// A stale leader: answer with our term so it steps down (paper
			// figure 2: AppendEntries replies with currentTerm). Otherwise
			// a node whose term ran ahead — e.g. a voter that missed
			// membership changes and campaigns among members that are
			// gone, or one whose votes check-quorum makes others ignore —
			// would never be caught up: it ignores the leader, and the
			// leader never hears of its term.
			r.send(Message{To: m.From, Type: MsgAppResp})
		} else if m.Type == MsgPreVote {
			r.send(Message{To: m.From, Term: r.Term, Type: MsgPreVoteResp, Reject: true})
		} else if m.Type == MsgVote {
			// Paper figure 2: RequestVote replies with currentTerm. A
			// candidate whose term is behind ours must learn it, or it may
			// keep counting on a vote it can never get (found by the
			// rafttest simulation, seed 44472).
			r.send(Message{To: m.From, Term: r.Term, Type: MsgVoteResp, Reject: true})
		}
		// Other stale messages are ignored.
		return nil
	}

	switch m.Type {
	case MsgHup:
		if r.preVote {
			r.hup(campaignPreElection)
		} else {
			r.hup(campaignElection)
		}
	case MsgVote, MsgPreVote:
		// We can vote if this is a repeat of a vote we cast, or we have not
		// voted and know of no leader in this term, or it is a pre-vote
		// for a future term.
		canVote := r.Vote == m.From ||
			(r.Vote == None && r.lead == None) ||
			(m.Type == MsgPreVote && m.Term > r.Term)
		grant := canVote && r.raftLog.isUpToDate(m.Index, m.LogTerm)
		if bugs.On(bugs.VoteWithoutLogCheck) {
			// Planted bug (bugs.VoteWithoutLogCheck): the voter checks the
			// term and its vote but not the candidate's log (the election
			// restriction, §5.4.1), as implementations that compared only
			// terms did: a candidate that misses committed entries can win
			// and overwrite them on the followers.
			if canVote && !grant {
				bugs.Fire(bugs.VoteWithoutLogCheck)
			}
			grant = canVote
		}
		if grant {
			r.logger.Infof("raft: %x [logterm: %d, index: %d, vote: %x] cast %s for %x [logterm: %d, index: %d] at term %d",
				r.id, r.raftLog.lastTerm(), r.raftLog.lastIndex(), r.Vote, m.Type, m.From, m.LogTerm, m.Index, r.Term)
			// A granted vote answers with the term of the request: for a
			// pre-vote it is the candidate's future term, which it must
			// not ignore as stale.
			r.send(Message{To: m.From, Term: m.Term, Type: voteRespType(m.Type)})
			if m.Type == MsgVote {
				r.electionElapsed = 0
				r.Vote = m.From
			}
		} else {
			r.logger.Infof("raft: %x [logterm: %d, index: %d, vote: %x] rejected %s from %x [logterm: %d, index: %d] at term %d",
				r.id, r.raftLog.lastTerm(), r.raftLog.lastIndex(), r.Vote, m.Type, m.From, m.LogTerm, m.Index, r.Term)
			r.send(Message{To: m.From, Term: r.Term, Type: voteRespType(m.Type), Reject: true})
		}
	default:
		return r.step(r, m)
	}
	return nil
}

func stepLeader(r *raft, m Message) error {
	// Messages that need no progress.
	switch m.Type {
	case MsgBeat:
		r.bcastHeartbeat()
		return nil
	case MsgCheckQuorum:
		if !r.trk.quorumActive(r.id) {
			r.logger.Warningf("raft: %x stepped down to follower since quorum is not active", r.id)
			r.becomeFollower(r.Term, None)
		}
		for id, pr := range r.trk.progress {
			if id != r.id {
				pr.RecentActive = false
			}
		}
		return nil
	case MsgProp:
		if len(m.Entries) == 0 {
			r.logger.Panicf("raft: %x stepped empty MsgProp", r.id)
		}
		_, _, err := r.propose(m.Entries)
		return err
	case MsgReadIndex:
		r.handleReadIndex(m)
		return nil
	}

	pr := r.trk.progress[m.From]
	if pr == nil {
		r.logger.Debugf("raft: %x no progress available for %x", r.id, m.From)
		return nil
	}
	switch m.Type {
	case MsgAppResp:
		r.handleAppendResponse(m, pr)
	case MsgHeartbeatResp:
		pr.RecentActive = true
		pr.probeSent = false
		pr.ackedTick = max(pr.ackedTick, m.Index)
		if pr.State == ProgressSnapshot && r.ticks-pr.snapshotSentTick >= uint64(snapshotRetryElections*r.electionTimeout) {
			// The member answers heartbeats but never acknowledged the
			// snapshot, and nobody reported it failed: it was probably
			// lost (a transport may drop silently). Send it again. If the
			// first one arrives after all, the second is ignored.
			r.logger.Warningf("raft: %x snapshot to %x unacknowledged for %d ticks; retrying", r.id, m.From, r.ticks-pr.snapshotSentTick)
			pr.PendingSnapshot = 0
			pr.becomeProbe()
		}
		if pr.State == ProgressReplicate && pr.inflights.full() {
			// The window is stuck (responses lost?): free one slot so the
			// follower is probed again.
			pr.inflights.freeFirstOne()
		}
		if pr.Match < r.raftLog.lastIndex() {
			r.sendAppend(m.From)
		}
		// Heartbeat acknowledgements confirm pending ReadIndex rounds in
		// every read mode: with lease reads a read that cannot use the
		// lease (e.g. after a failed transfer) falls back to a round.
		if len(m.Context) == 0 {
			return nil
		}
		acks := r.readOnly.recvAck(m.From, m.Context)
		if acks == nil || !r.ackQuorum(acks) {
			return nil
		}
		for _, rs := range r.readOnly.advance(m.Context) {
			r.respondReadIndex(rs.req, rs.index)
		}
	case MsgSnapStatus:
		if pr.State != ProgressSnapshot {
			return nil
		}
		if m.Reject {
			r.logger.Debugf("raft: %x snapshot failed, resumed sending replication messages to %x [%s]", r.id, m.From, pr)
			pr.PendingSnapshot = 0
		}
		pr.becomeProbe()
		// Wait for the member's MsgAppResp (or a heartbeat response)
		// before probing, rather than racing the snapshot.
		pr.probeSent = true
	case MsgUnreachable:
		// Optimistic pipelining to an unreachable member likely lost
		// messages; fall back to probing.
		if pr.State == ProgressReplicate {
			pr.becomeProbe()
		}
	case MsgTransferLeader:
		if pr.IsLearner {
			r.logger.Debugf("raft: %x is learner. Ignored transferring leadership", m.From)
			return nil
		}
		transferee := m.From
		if last := r.leadTransferee; last != None {
			if last == transferee {
				return nil
			}
			r.abortLeaderTransfer()
		}
		if transferee == r.id {
			return nil
		}
		// The transfer must finish within an election timeout.
		r.electionElapsed = 0
		r.leadTransferee = transferee
		r.logger.Infof("raft: %x [term %d] starts to transfer leadership to %x", r.id, r.Term, transferee)
		if pr.Match == r.raftLog.lastIndex() {
			r.sendTimeoutNow(transferee)
		} else {
			r.sendAppend(transferee)
		}
	}
	return nil
}

func (r *raft) handleAppendResponse(m Message, pr *progress) {
	pr.RecentActive = true
	if m.Reject {
		r.logger.Debugf("raft: %x received MsgAppResp(rejected, hint: (index %d, term %d)) from %x for index %d",
			r.id, m.RejectHint, m.LogTerm, m.From, m.Index)
		nextProbeIdx := m.RejectHint
		if m.LogTerm > 0 {
			// The follower told us its term at RejectHint: skip every
			// entry of ours with a term above it, since none can match
			// (fast backtracking, §5.3).
			nextProbeIdx, _ = r.raftLog.findConflictByTerm(m.RejectHint, m.LogTerm)
		}
		if pr.maybeDecrTo(m.Index, nextProbeIdx) {
			if pr.State == ProgressReplicate {
				pr.becomeProbe()
			}
			r.sendAppend(m.From)
		}
		return
	}
	oldPaused := pr.isPaused()
	if !pr.maybeUpdate(m.Index) {
		return
	}
	switch {
	case pr.State == ProgressProbe:
		pr.becomeReplicate()
	case pr.State == ProgressSnapshot && pr.Match+1 >= r.raftLog.firstIndex():
		// The member caught up through the snapshot (or otherwise) and
		// the leader can reach it with entries again.
		pr.becomeProbe()
		pr.becomeReplicate()
	case pr.State == ProgressReplicate:
		pr.inflights.freeLE(m.Index)
	}
	if r.maybeCommit() {
		// Tell followers the new commit index now, not at the next
		// heartbeat.
		r.bcastAppend(true)
	} else if oldPaused {
		r.sendAppend(m.From)
	}
	// Fill the window.
	for r.maybeSendAppend(m.From, false) {
	}
	if m.From == r.leadTransferee && pr.Match == r.raftLog.lastIndex() {
		r.logger.Infof("raft: %x sent MsgTimeoutNow to %x after received MsgAppResp", r.id, m.From)
		r.sendTimeoutNow(m.From)
	}
}

// ackQuorum reports whether a majority of voters (counting the leader)
// acknowledged.
func (r *raft) ackQuorum(acks map[uint64]bool) bool {
	n := 0
	for id := range r.trk.voters {
		if id == r.id || acks[id] {
			n++
		}
	}
	return n >= r.trk.quorum()
}

// leaseValid reports whether a majority of voters acknowledged a heartbeat
// recent enough that none of them can have voted for another leader (see
// ReadOnlyLeaseBased for the clock assumption). The margin of one tick
// covers the tick phases of the two nodes being unaligned.
func (r *raft) leaseValid() bool {
	if r.leadTransferee != None || r.sentTimeoutNow {
		return false
	}
	n := 0
	for id := range r.trk.voters {
		if id == r.id {
			n++
			continue
		}
		pr := r.trk.progress[id]
		margin := uint64(1)
		if bugs.On(bugs.LeaseNoDriftMargin) {
			// Planted bug (bugs.LeaseNoDriftMargin): no margin, so the
			// lease runs a full election timeout from the acknowledged
			// heartbeat. A follower that got that heartbeat just before its
			// own tick starts its election timeout up to one leader tick
			// earlier than the leader's count assumes, so it may vote (and
			// a new leader commit writes) while this leader still answers
			// lease reads from its old state.
			margin = 0
			if pr.ackedTick > 0 && r.ticks-pr.ackedTick+1 == uint64(r.electionTimeout) {
				bugs.Fire(bugs.LeaseNoDriftMargin) // counted only without the margin
			}
		}
		if pr.ackedTick > 0 && r.ticks-pr.ackedTick+margin < uint64(r.electionTimeout) {
			n++
		}
	}
	return n >= r.trk.quorum()
}

func (r *raft) handleReadIndex(m Message) {
	if r.isSingleVoter() {
		r.respondReadIndex(m, r.raftLog.committed)
		return
	}
	// Until the leader commits an entry of its term, its commit index may
	// be behind the cluster's (thesis §6.4 step 1): defer.
	wait := !r.committedEntryInCurrentTerm()
	if bugs.On(bugs.ReadIndexBeforeTermCommit) {
		// Planted bug (bugs.ReadIndexBeforeTermCommit): a new leader takes
		// its commit index as the read index at once. It may be behind
		// what the previous leader committed (and acknowledged) until the
		// no-op of the new term commits, so the read misses those writes.
		if wait {
			bugs.Fire(bugs.ReadIndexBeforeTermCommit)
		}
		wait = false
	}
	if wait {
		r.pendingReadIndexMessages = append(r.pendingReadIndexMessages, m)
		return
	}
	if r.readOnlyOption == ReadOnlyLeaseBased && r.leaseValid() {
		r.respondReadIndex(m, r.raftLog.committed)
		return
	}
	if bugs.On(bugs.ReadIndexNoHeartbeat) {
		// Planted bug (bugs.ReadIndexNoHeartbeat): the leader trusts that
		// it still leads and answers with its commit index without the
		// heartbeat round, an optimisation that made ReadIndex a lease
		// read with no lease: a deposed leader that has not heard of its
		// successor answers from its stale state.
		bugs.Fire(bugs.ReadIndexNoHeartbeat)
		r.respondReadIndex(m, r.raftLog.committed)
		return
	}
	// Confirm leadership with a heartbeat round carrying the request
	// context (thesis §6.4 step 2).
	r.readOnly.addRequest(r.raftLog.committed, m)
	r.bcastHeartbeatWithCtx(m.Context)
}

func (r *raft) isSingleVoter() bool {
	return len(r.trk.voters) == 1 && r.trk.isVoter(r.id)
}

func (r *raft) respondReadIndex(req Message, readIndex uint64) {
	if req.From == None || req.From == r.id {
		r.readStates = append(r.readStates, ReadState{Index: readIndex, RequestCtx: req.Context})
		return
	}
	r.send(Message{To: req.From, Type: MsgReadIndexResp, Index: readIndex, Context: req.Context})
}

func (r *raft) committedEntryInCurrentTerm() bool {
	return r.raftLog.zeroTermOnOutOfBounds(r.raftLog.term(r.raftLog.committed)) == r.Term
}

func (r *raft) releasePendingReadIndexMessages() {
	if len(r.pendingReadIndexMessages) == 0 {
		return
	}
	msgs := r.pendingReadIndexMessages
	r.pendingReadIndexMessages = nil
	for _, m := range msgs {
		r.handleReadIndex(m)
	}
}

// propose appends entries as the leader and returns the index and term of
// the last one.
func (r *raft) propose(es []Entry) (index, term uint64, err error) {
	if r.state != StateLeader {
		return 0, 0, ErrNotLeader
	}
	if r.trk.progress[r.id] == nil {
		// Removed from the configuration but not yet stepped down.
		return 0, 0, ErrProposalDropped
	}
	if r.leadTransferee != None {
		r.logger.Debugf("raft: %x [term %d] transfer leadership to %x is in progress; dropping proposal", r.id, r.Term, r.leadTransferee)
		return 0, 0, ErrProposalDropped
	}
	confIndex := uint64(0)
	for i := range es {
		if es[i].Type != EntryConfChange {
			continue
		}
		var cc ConfChange
		if err := cc.Unmarshal(es[i].Data); err != nil {
			return 0, 0, err
		}
		if confIndex != 0 || r.pendingConfIndex > r.raftLog.applied || !r.committedEntryInCurrentTerm() {
			return 0, 0, ErrPendingConfChange
		}
		confIndex = r.raftLog.lastIndex() + uint64(i) + 1
	}
	if !r.appendEntry(es...) {
		return 0, 0, ErrProposalDropped
	}
	if confIndex != 0 {
		r.pendingConfIndex = confIndex
	}
	// The MsgApps go out at the next Ready, one per follower for all the
	// proposals since the last one: a driver that batches proposals gets
	// batched messages.
	r.pendingBcast = true
	last := es[len(es)-1]
	return last.Index, last.Term, nil
}

func stepCandidate(r *raft, m Message) error {
	myVoteRespType := MsgVoteResp
	if r.state == StatePreCandidate {
		myVoteRespType = MsgPreVoteResp
	}
	switch m.Type {
	case MsgProp:
		return ErrProposalDropped
	case MsgApp:
		r.becomeFollower(m.Term, m.From)
		r.handleAppendEntries(m)
	case MsgHeartbeat:
		r.becomeFollower(m.Term, m.From)
		r.handleHeartbeat(m)
	case MsgSnap:
		r.becomeFollower(m.Term, m.From)
		r.handleSnapshot(m)
	case myVoteRespType:
		gr, rj, res := r.poll(m.From, m.Type, !m.Reject)
		r.logger.Infof("raft: %x has received %d %s votes and %d vote rejections", r.id, gr, m.Type, rj)
		switch res {
		case voteWon:
			if r.state == StatePreCandidate {
				r.campaign(campaignElection)
			} else {
				r.becomeLeader()
				r.bcastAppend(true)
			}
		case voteLost:
			// A pre-candidate's rejections may carry a higher term, in
			// which case Step already made us a follower of it.
			r.becomeFollower(r.Term, None)
		}
	case MsgTimeoutNow:
		r.logger.Debugf("raft: %x [term %d state %v] ignored MsgTimeoutNow from %x", r.id, r.Term, r.state, m.From)
	}
	return nil
}

func stepFollower(r *raft, m Message) error {
	switch m.Type {
	case MsgProp:
		return ErrProposalDropped
	case MsgApp:
		r.electionElapsed = 0
		r.lead = m.From
		r.handleAppendEntries(m)
	case MsgHeartbeat:
		r.electionElapsed = 0
		r.lead = m.From
		r.handleHeartbeat(m)
	case MsgSnap:
		r.electionElapsed = 0
		r.lead = m.From
		r.handleSnapshot(m)
	case MsgTransferLeader:
		if r.lead == None {
			r.logger.Infof("raft: %x no leader at term %d; dropping leader transfer msg", r.id, r.Term)
			return nil
		}
		m.To = r.lead
		r.msgs = append(r.msgs, m)
	case MsgTimeoutNow:
		r.logger.Infof("raft: %x [term %d] received MsgTimeoutNow from %x and starts an election to get leadership", r.id, r.Term, m.From)
		// The leader asked: no pre-vote, and voters ignore their lease.
		r.hup(campaignTransferKind)
	case MsgReadIndex:
		if r.lead == None {
			r.logger.Infof("raft: %x no leader at term %d; dropping index reading msg", r.id, r.Term)
			return nil
		}
		m.To = r.lead
		r.send(m)
	case MsgReadIndexResp:
		r.readStates = append(r.readStates, ReadState{Index: m.Index, RequestCtx: m.Context})
	}
	return nil
}

func (r *raft) handleAppendEntries(m Message) {
	if bugs.On(bugs.CommitBeyondLog) {
		// Planted bug (bugs.CommitBeyondLog): the follower takes the
		// leader's commit index before (and whatever the outcome of) the
		// consistency check, capped only by the length of its own log —
		// the "commitIndex = min(leaderCommit, lastLogIndex)" slip. Entries
		// past what this append verified (a deposed leader's uncommitted
		// tail, say) are committed and applied.
		c := min(m.Commit, r.raftLog.lastIndex())
		if c > r.raftLog.committed && (c > m.Index+uint64(len(m.Entries)) || !r.raftLog.matchTerm(m.Index, m.LogTerm)) {
			bugs.Fire(bugs.CommitBeyondLog)
		}
		r.raftLog.commitTo(c)
	}
	if m.Index < r.raftLog.committed {
		// Everything up to our commit index already matches the leader's
		// (Log Matching); say so.
		r.send(Message{To: m.From, Type: MsgAppResp, Index: r.raftLog.committed})
		return
	}
	if last, ok := r.raftLog.maybeAppend(m.Index, m.LogTerm, m.Commit, m.Entries); ok {
		r.send(Message{To: m.From, Type: MsgAppResp, Index: last})
		return
	}
	// The consistency check failed. Hint the leader where our log might
	// match: the last index <= m.Index whose term is <= m.LogTerm. Entries
	// between it and m.Index cannot match the leader's (§5.3, fast
	// backtracking).
	hintIndex := min(m.Index, r.raftLog.lastIndex())
	hintIndex, hintTerm := r.raftLog.findConflictByTerm(hintIndex, m.LogTerm)
	r.logger.Debugf("raft: %x [logterm: %d, index: %d] rejected MsgApp [logterm: %d, index: %d] from %x",
		r.id, r.raftLog.zeroTermOnOutOfBounds(r.raftLog.term(m.Index)), m.Index, m.LogTerm, m.Index, m.From)
	r.send(Message{To: m.From, Type: MsgAppResp, Index: m.Index, Reject: true, RejectHint: hintIndex, LogTerm: hintTerm})
}

func (r *raft) handleHeartbeat(m Message) {
	r.raftLog.commitTo(m.Commit)
	r.send(Message{To: m.From, Type: MsgHeartbeatResp, Context: m.Context, Index: m.Index})
}

func (r *raft) handleSnapshot(m Message) {
	if m.Snapshot == nil {
		r.logger.Warningf("raft: %x received MsgSnap without a snapshot from %x", r.id, m.From)
		return
	}
	s := *m.Snapshot
	sindex, sterm := s.Metadata.Index, s.Metadata.Term
	if r.restore(s) {
		r.logger.Infof("raft: %x [commit: %d] restored snapshot [index: %d, term: %d]", r.id, r.raftLog.committed, sindex, sterm)
		r.send(Message{To: m.From, Type: MsgAppResp, Index: r.raftLog.lastIndex()})
	} else {
		r.logger.Infof("raft: %x [commit: %d] ignored snapshot [index: %d, term: %d]", r.id, r.raftLog.committed, sindex, sterm)
		r.send(Message{To: m.From, Type: MsgAppResp, Index: r.raftLog.committed})
	}
}

// restore installs snapshot s as the log's base (§7). It returns false if
// the snapshot is not newer than what is committed, or if the log already
// has its last entry (then the commit index just moves up).
func (r *raft) restore(s Snapshot) bool {
	if s.Metadata.Index <= r.raftLog.committed {
		return false
	}
	if r.state != StateFollower {
		// Only a follower of the sender gets here (Election Safety: no
		// other leader of this term can send a snapshot).
		r.logger.Panicf("raft: %x attempted to restore a snapshot as %s at term %d", r.id, r.state, r.Term)
	}
	// A node missing from the snapshot's configuration still restores it:
	// a new member may be sent a snapshot taken before it was added, and
	// its AddVoter entry follows in the log.
	cs := s.Metadata.ConfState
	if r.raftLog.matchTerm(s.Metadata.Index, s.Metadata.Term) {
		r.raftLog.commitTo(s.Metadata.Index)
		return false
	}
	r.raftLog.restore(s)
	// The configuration is the snapshot's.
	r.trk = newTracker(r.trk.maxInflight)
	for _, id := range cs.Voters {
		r.applyConfChange(ConfChange{Type: ConfChangeAddVoter, NodeID: id})
	}
	for _, id := range cs.Learners {
		r.applyConfChange(ConfChange{Type: ConfChangeAddLearner, NodeID: id})
	}
	return true
}

// promotable reports whether this node may campaign: it is a voter and is
// not waiting to install a snapshot.
func (r *raft) promotable() bool {
	return r.trk.isVoter(r.id) && !r.raftLog.hasNextOrInProgressSnapshot()
}

// applyConfChange applies one single-server change (thesis §4.1) to the
// configuration and returns the new ConfState.
func (r *raft) applyConfChange(cc ConfChange) ConfState {
	t := r.trk
	id := cc.NodeID
	switch cc.Type {
	case ConfChangeAddVoter:
		if t.isVoter(id) {
			break
		}
		delete(t.learners, id)
		t.voters[id] = struct{}{}
		if pr := t.progress[id]; pr != nil {
			pr.IsLearner = false
		} else {
			t.progress[id] = newProgress(r.raftLog.lastIndex()+1, t.maxInflight, false)
		}
	case ConfChangeAddLearner:
		if t.isLearner(id) {
			break
		}
		delete(t.voters, id)
		t.learners[id] = struct{}{}
		if pr := t.progress[id]; pr != nil {
			pr.IsLearner = true
		} else {
			t.progress[id] = newProgress(r.raftLog.lastIndex()+1, t.maxInflight, true)
		}
	case ConfChangeRemoveNode:
		delete(t.voters, id)
		delete(t.learners, id)
		delete(t.progress, id)
	default:
		r.logger.Panicf("raft: unknown conf change type %d", cc.Type)
	}
	t.rebuildIDs()
	if _, ok := t.voters[id]; ok && id != r.id {
		if _, ok := t.learners[id]; ok {
			r.logger.Panicf("raft: node %x is both voter and learner", id)
		}
	}

	if r.state != StateLeader {
		return t.confState()
	}
	if !t.isVoter(r.id) {
		// A leader that is removed (or demoted) steps down once the change
		// is committed and applied (thesis §4.2.2).
		r.logger.Infof("raft: %x is no longer a voter; stepping down", r.id)
		r.becomeFollower(r.Term, None)
		return t.confState()
	}
	if r.leadTransferee != None && !t.isVoter(r.leadTransferee) {
		r.abortLeaderTransfer()
	}
	// The quorum changed: the commit index may move, and new members need
	// the log.
	if r.maybeCommit() {
		r.bcastAppend(true)
	} else {
		r.bcastAppend(false)
	}
	if pr := t.progress[id]; pr != nil && id != r.id && pr.Match == 0 && !pr.isPaused() {
		r.sendAppend(id)
	}
	// A leader left alone in the configuration gets no more heartbeat
	// responses: answer the reads waiting for them now. (Other shrunk
	// configurations are answered by the next heartbeat round.)
	if r.isSingleVoter() {
		if ctx := r.readOnly.lastPendingRequestCtx(); ctx != nil {
			for _, rs := range r.readOnly.advance(ctx) {
				r.respondReadIndex(rs.req, rs.index)
			}
		}
	}
	return t.confState()
}

func (r *raft) sendTimeoutNow(to uint64) {
	r.sentTimeoutNow = true
	r.send(Message{To: to, Type: MsgTimeoutNow})
}

func (r *raft) abortLeaderTransfer() { r.leadTransferee = None }

func (r *raft) pastElectionTimeout() bool {
	return r.electionElapsed >= r.randomizedElectionTimeout
}

func (r *raft) resetRandomizedElectionTimeout() {
	r.randomizedElectionTimeout = r.electionTimeout + r.rand.IntN(r.electionTimeout)
}

func (r *raft) loadState(state HardState) {
	if state.Commit > r.raftLog.lastIndex() {
		r.logger.Panicf("raft: %x state.commit %d is out of range [%d, %d]", r.id, state.Commit, r.raftLog.committed, r.raftLog.lastIndex())
	}
	// A snapshot is committed state; a commit index saved lazily (MustSync
	// false) before the snapshot was taken may be behind it. Keep the
	// higher.
	if state.Commit < r.raftLog.committed {
		r.logger.Warningf("raft: %x saved commit %d is below the snapshot index %d; using the snapshot index", r.id, state.Commit, r.raftLog.committed)
	} else {
		r.raftLog.committed = state.Commit
	}
	r.Term = state.Term
	r.Vote = state.Vote
}

func (r *raft) increaseUncommittedSize(ents []Entry) bool {
	var s uint64
	for _, e := range ents {
		s += uint64(len(e.Data))
	}
	// Always allow one proposal into an empty tail, however large, so a
	// big entry is not refused forever.
	if r.uncommittedSize > 0 && s > 0 && r.uncommittedSize+s > r.maxUncommittedSize {
		return false
	}
	r.uncommittedSize += s
	return true
}

func (r *raft) reduceUncommittedSize(s uint64) {
	if s > r.uncommittedSize {
		r.uncommittedSize = 0
	} else {
		r.uncommittedSize -= s
	}
}
