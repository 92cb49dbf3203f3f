package raft

import (
	"errors"
	"fmt"
)

// SoftState is volatile state that the application may want to watch
// (leader changes, role changes). It is never persisted.
type SoftState struct {
	Lead      uint64
	RaftState StateType
}

// Ready is one batch of work for the driver. The driver must, in order:
// persist HardState, Entries and Snapshot (fsync if MustSync); send
// Messages; restore Snapshot into the state machine and apply
// CommittedEntries; then call Advance.
type Ready struct {
	// SoftState is nil when unchanged since the last Ready.
	*SoftState
	// HardState is empty when unchanged since the last Ready.
	HardState
	// ReadStates answer ReadIndex requests: serve each read once the
	// application has applied ReadState.Index.
	ReadStates []ReadState
	// Entries are to be persisted before Messages are sent.
	Entries []Entry
	// Snapshot is to be persisted, and the state machine restored from it.
	Snapshot Snapshot
	// CommittedEntries are to be applied in order. They may include
	// entries of this Ready's Entries: persist first, then apply.
	CommittedEntries []Entry
	// Messages are to be sent after the rest is persisted.
	Messages []Message
	// MustSync says whether HardState and Entries must be fsynced (a new
	// term, vote or entries) or may be written lazily (only the commit
	// index changed).
	MustSync bool
}

// containsUpdates reports whether rd carries anything to do.
func (rd Ready) containsUpdates() bool {
	return rd.SoftState != nil || !rd.HardState.IsEmpty() || !rd.Snapshot.IsEmpty() ||
		len(rd.Entries) > 0 || len(rd.CommittedEntries) > 0 || len(rd.Messages) > 0 || len(rd.ReadStates) > 0
}

// SnapshotStatus is what the driver reports about a snapshot it sent.
type SnapshotStatus uint8

const (
	// SnapshotFinish: the snapshot reached the follower.
	SnapshotFinish SnapshotStatus = iota
	// SnapshotFailure: sending failed; the leader will retry.
	SnapshotFailure
)

// Status is a snapshot of a node's state, for monitoring and tests.
type Status struct {
	ID uint64
	HardState
	SoftState
	Applied    uint64
	LastIndex  uint64
	FirstIndex uint64
	// Progress is the leader's view of each member; nil on non-leaders.
	Progress       map[uint64]Progress
	LeadTransferee uint64
	Config         ConfState
	// ElectionElapsed counts ticks since the election timer was last
	// reset. On a follower it is reset when it hears from the leader (or
	// grants a vote), so it also tells how long ago the leader was heard
	// from; on a leader it counts the current check-quorum round.
	ElectionElapsed int
	// ElectionTimeout is the tick count ElectionElapsed is compared with:
	// the randomized election timeout on followers and candidates, the
	// configured ElectionTick (the check-quorum round) on a leader.
	ElectionTimeout int
}

// RawNode is the core as the driver sees it: a deterministic state machine,
// not safe for concurrent use. The driver feeds it Tick and Step, and
// drains it with Ready and Advance.
type RawNode struct {
	raft       *raft
	prevSoftSt SoftState
	prevHardSt HardState
}

// NewRawNode returns a node restored from cfg.Storage's InitialState. A new
// cluster member with empty storage has no configuration until it is
// bootstrapped (Bootstrap) or receives one from a leader.
func NewRawNode(cfg *Config) (*RawNode, error) {
	c := *cfg
	r, err := newRaft(&c)
	if err != nil {
		return nil, err
	}
	rn := &RawNode{raft: r}
	rn.prevSoftSt = r.softState()
	rn.prevHardSt = r.hardState()
	return rn, nil
}

// ErrBootstrapNonEmpty is returned by Bootstrap on a storage that already
// holds state.
var ErrBootstrapNonEmpty = errors.New("raft: can't bootstrap a non-empty storage")

// Bootstrap starts a new cluster of the given voters. It may only be called
// on empty storage, before the first Ready. It appends one EntryConfChange
// (AddVoter) per voter at term 1 and marks them committed; they come out of
// Ready like any committed entries and the application applies them with
// ApplyConfChange as usual (which is then a no-op for the core, which has
// already applied them so that it can campaign).
func (rn *RawNode) Bootstrap(voters []uint64) error {
	if len(voters) == 0 {
		return fmt.Errorf("%w: no voters to bootstrap", ErrInvalidConfig)
	}
	r := rn.raft
	last, err := r.raftLog.storage.LastIndex()
	if err != nil {
		return err
	}
	hs, _, err := r.raftLog.storage.InitialState()
	if err != nil {
		return err
	}
	if last != 0 || !hs.IsEmpty() || r.raftLog.lastIndex() != 0 {
		return ErrBootstrapNonEmpty
	}
	r.becomeFollower(1, None)
	ents := make([]Entry, len(voters))
	ccs := make([]ConfChange, len(voters))
	for i, id := range voters {
		if id == None {
			return fmt.Errorf("%w: voter id 0", ErrInvalidConfig)
		}
		ccs[i] = ConfChange{Type: ConfChangeAddVoter, NodeID: id}
		ents[i] = Entry{Type: EntryConfChange, Term: 1, Index: uint64(i + 1), Data: ccs[i].Marshal()}
	}
	r.raftLog.append(ents...)
	r.raftLog.committed = uint64(len(ents))
	for _, cc := range ccs {
		r.applyConfChange(cc)
	}
	return nil
}

// Tick advances the logical clock by one tick.
func (rn *RawNode) Tick() {
	rn.raft.ticks++
	rn.raft.tick()
}

// Campaign makes the node start an election now (with a pre-vote if
// PreVote is on).
func (rn *RawNode) Campaign() error {
	return rn.raft.Step(Message{Type: MsgHup})
}

// Propose appends data to the log if this node is the leader and returns
// the index and term the entry got. The entry is committed only if a later
// CommittedEntries holds an entry at that index with that term (otherwise
// leadership changed and the outcome is unknown until then). The entries
// proposed between two Readys are sent to each follower in one MsgApp.
func (rn *RawNode) Propose(data []byte) (index, term uint64, err error) {
	return rn.raft.propose([]Entry{{Data: data}})
}

// ProposeConfChange proposes a single-server membership change. It fails
// with ErrPendingConfChange while another change is unapplied or before the
// leader has committed an entry of its term.
func (rn *RawNode) ProposeConfChange(cc ConfChange) (index, term uint64, err error) {
	if cc.NodeID == None {
		return 0, 0, fmt.Errorf("%w: conf change for node 0", ErrInvalidConfChange)
	}
	return rn.raft.propose([]Entry{{Type: EntryConfChange, Data: cc.Marshal()}})
}

// ApplyConfChange applies a committed configuration change; the application
// calls it when it applies an EntryConfChange. It returns the new
// configuration.
func (rn *RawNode) ApplyConfChange(cc ConfChange) ConfState {
	return rn.raft.applyConfChange(cc)
}

// Step feeds a message from the network to the node. A message that breaks
// an invariant no genuine peer breaks is dropped before it changes
// anything: the core logs it (a warning naming the sender, the type and
// what is wrong) and Step returns an error wrapping ErrInvalidMessage. The
// network and the peers are not trusted to keep the core's invariants; the
// core's own invariant panics are left for states only local corruption
// can cause, and the stores check those at open.
func (rn *RawNode) Step(m Message) error {
	r := rn.raft
	if IsLocal(m.Type) {
		return ErrStepLocalMsg
	}
	if !m.Type.Valid() {
		r.logger.Warningf("raft: %x dropped invalid message: type=%d from=%x term=%d reason=%q", r.id, uint8(m.Type), m.From, m.Term, "unknown message type")
		return fmt.Errorf("%w: unknown message type %d from %x", ErrInvalidMessage, uint8(m.Type), m.From)
	}
	if why := r.checkMessage(m); why != "" {
		r.logger.Warningf("raft: %x dropped invalid message: type=%s from=%x term=%d reason=%q", r.id, m.Type, m.From, m.Term, why)
		return fmt.Errorf("%w: %s from %x at term %d: %s", ErrInvalidMessage, m.Type, m.From, m.Term, why)
	}
	if IsResponse(m.Type) && m.Type != MsgReadIndexResp && r.trk.progress[m.From] == nil {
		// A removed member's late answer, usually: routine, not an attack.
		r.logger.Debugf("raft: %x dropped %s from %x at term %d: no progress for it (not a member)", r.id, m.Type, m.From, m.Term)
		return ErrStepPeerNotFound
	}
	return r.Step(m)
}

// ReadIndex requests a linearizable read point (thesis §6.4). The answer, a
// ReadState with rctx, comes in a later Ready; no answer comes if
// leadership is lost meanwhile (the caller times out and retries). A
// follower forwards the request to its leader.
func (rn *RawNode) ReadIndex(rctx []byte) {
	_ = rn.raft.Step(Message{Type: MsgReadIndex, Context: rctx})
}

// TransferLeader asks the leader (directly, or through this follower) to
// hand leadership to transferee (thesis §3.10).
func (rn *RawNode) TransferLeader(transferee uint64) {
	_ = rn.raft.Step(Message{Type: MsgTransferLeader, From: transferee})
}

// HasReady reports whether Ready would return anything.
func (rn *RawNode) HasReady() bool {
	r := rn.raft
	if r.softState() != rn.prevSoftSt {
		return true
	}
	if hs := r.hardState(); !hs.IsEmpty() && hs != rn.prevHardSt {
		return true
	}
	if r.raftLog.nextUnstableSnapshot() != nil {
		return true
	}
	return len(r.msgs) > 0 || r.raftLog.hasNextUnstableEnts() || r.raftLog.hasNextCommittedEnts() || len(r.readStates) > 0
}

// Ready returns the work to do. Everything it returns is considered handed
// out: the next Ready holds only what is new, even before Advance.
func (rn *RawNode) Ready() Ready {
	r := rn.raft
	rn.flushProposals()
	rd := Ready{
		Entries:          r.raftLog.nextUnstableEnts(),
		CommittedEntries: r.raftLog.nextCommittedEnts(),
		Messages:         r.msgs,
		ReadStates:       r.readStates,
	}
	if ss := r.softState(); ss != rn.prevSoftSt {
		rd.SoftState = &ss
		rn.prevSoftSt = ss
	}
	if hs := r.hardState(); hs != rn.prevHardSt {
		rd.HardState = hs
	}
	if snap := r.raftLog.nextUnstableSnapshot(); snap != nil {
		rd.Snapshot = *snap
	}
	rd.MustSync = len(rd.Entries) > 0 || !rd.Snapshot.IsEmpty() ||
		(!rd.HardState.IsEmpty() && (rd.HardState.Term != rn.prevHardSt.Term || rd.HardState.Vote != rn.prevHardSt.Vote))
	if !rd.HardState.IsEmpty() {
		rn.prevHardSt = rd.HardState
	}
	r.msgs = nil
	r.readStates = nil
	r.raftLog.unstable.acceptInProgress()
	if n := len(rd.CommittedEntries); n > 0 {
		r.raftLog.acceptApplying(rd.CommittedEntries[n-1].Index)
	}
	return rd
}

// flushProposals sends the entries proposed since the last Ready.
func (rn *RawNode) flushProposals() {
	r := rn.raft
	if r.pendingBcast {
		r.pendingBcast = false
		if r.state == StateLeader {
			r.bcastAppend(false)
		}
	}
}

// Advance tells the node that rd (from the last Ready) was persisted and its
// committed entries applied.
func (rn *RawNode) Advance(rd Ready) {
	r := rn.raft
	if n := len(rd.Entries); n > 0 {
		e := rd.Entries[n-1]
		r.raftLog.stableTo(e.Index, e.Term)
	}
	if !rd.Snapshot.IsEmpty() {
		r.raftLog.stableSnapTo(rd.Snapshot.Metadata.Index)
		r.raftLog.appliedTo(rd.Snapshot.Metadata.Index)
	}
	if n := len(rd.CommittedEntries); n > 0 {
		r.raftLog.appliedTo(rd.CommittedEntries[n-1].Index)
		var s uint64
		for _, e := range rd.CommittedEntries {
			s += uint64(len(e.Data))
		}
		r.reduceUncommittedSize(s)
	}
	if l := r.raftLog; l.applied > l.applying || l.applying > l.committed || l.committed > l.lastIndex() {
		r.logger.Panicf("raft: log invariant broken: applied %d <= applying %d <= committed %d <= last %d does not hold",
			l.applied, l.applying, l.committed, l.lastIndex())
	}
	if r.state == StateLeader {
		// Only now are the leader's own entries durable, so only now do
		// they count toward the commit quorum. Messages to followers went
		// out before (they may carry unpersisted entries: §10.2.1 allows
		// the leader to write in parallel with replicating).
		if pr := r.trk.progress[r.id]; pr != nil && pr.maybeUpdate(r.raftLog.stableLastIndex()) {
			if r.maybeCommit() {
				r.bcastAppend(true)
			}
		}
	}
}

// BasicStatus is the part of Status that changes as the core steps, without
// the leader's progress map: cheap enough to take before and after every
// message, which is how a tracer checks the core's transitions (see
// rafttest.Checker.ObserveStep).
type BasicStatus struct {
	ID uint64
	HardState
	SoftState
	LastIndex, LastTerm uint64
	// CommitTerm is the term of the entry at HardState.Commit.
	CommitTerm uint64
}

// BasicStatus returns the node's current basic state.
func (rn *RawNode) BasicStatus() BasicStatus {
	r := rn.raft
	return BasicStatus{
		ID:         r.id,
		HardState:  r.hardState(),
		SoftState:  r.softState(),
		LastIndex:  r.raftLog.lastIndex(),
		LastTerm:   r.raftLog.lastTerm(),
		CommitTerm: r.raftLog.zeroTermOnOutOfBounds(r.raftLog.term(r.raftLog.committed)),
	}
}

// Status returns the node's current state.
func (rn *RawNode) Status() Status {
	r := rn.raft
	s := Status{
		ID:             r.id,
		HardState:      r.hardState(),
		SoftState:      r.softState(),
		Applied:        r.raftLog.applied,
		LastIndex:      r.raftLog.lastIndex(),
		FirstIndex:     r.raftLog.firstIndex(),
		LeadTransferee: r.leadTransferee,
		Config:         r.trk.confState(),

		ElectionElapsed: r.electionElapsed,
		ElectionTimeout: r.randomizedElectionTimeout,
	}
	if r.state == StateLeader {
		s.ElectionTimeout = r.electionTimeout
		s.Progress = make(map[uint64]Progress, len(r.trk.progress))
		for id, pr := range r.trk.progress {
			s.Progress[id] = pr.public()
		}
	}
	return s
}

// ReportUnreachable tells the leader that a message to id could not be
// delivered; it stops pipelining to id and probes instead.
func (rn *RawNode) ReportUnreachable(id uint64) {
	_ = rn.raft.Step(Message{Type: MsgUnreachable, From: id})
}

// ReportSnapshot tells the leader how sending a snapshot to id ended.
func (rn *RawNode) ReportSnapshot(id uint64, status SnapshotStatus) {
	_ = rn.raft.Step(Message{Type: MsgSnapStatus, From: id, Reject: status == SnapshotFailure})
}
