package node

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/raftkv/raftkv/internal/bugs"
	"github.com/raftkv/raftkv/raft"
)

// Driver is the per-Ready step of the driver without goroutines or
// channels: it owns the raft.RawNode, the waiting proposals, reads and
// leadership transfers, and handles each Ready in the order the package
// documentation gives (persist, send, apply, advance). Every method must be
// called from one goroutine at a time.
//
// Node runs a Driver on a goroutine of its own, fed by channels and a
// ticker. The harness's simulation runs the same Driver on simulated time,
// disk and network, so that the rules enforced here are the ones it tests:
// there is no second copy of them.
type Driver struct {
	cfg    Config
	env    DriverEnv
	id     uint64
	logger *slog.Logger

	rn        *raft.RawNode
	ticks     *tickSource
	applied   uint64
	snapIndex uint64
	// snapshotting is true while a snapshot's work (encode, write,
	// compact) runs off the loop; snapRetryAt is the applied index before
	// which a failed snapshot is not retried.
	snapshotting bool
	snapRetryAt  uint64
	// snapSize is the size of the newest snapshot's data; bytesSinceSnap
	// the data applied since it was captured (for SnapshotLogRatio).
	snapSize       int
	bytesSinceSnap uint64
	confState      raft.ConfState
	lead           uint64
	role           raft.StateType
	term           uint64
	// durableTerm and durableVote are the term and vote of the hard state
	// in the store.
	durableTerm, durableVote uint64
	// lazyHS is the newest hard state whose only change was the commit
	// index and that is not in the store yet; it rides along with the next
	// write (see HandleReady).
	lazyHS raft.HardState
	// Reused by sendEarly.
	earlyBuf, lateBuf []raft.Message

	waiters   *Waiters[*Proposal]
	reads     *ReadBatcher[*ReadRequest]
	transfers []*TransferRequest

	// Counters for tests and metrics (read from other goroutines).
	readRounds atomic.Uint64
	// invalidDropped counts messages the core dropped as invalid
	// (raft.ErrInvalidMessage); the core logs each one.
	invalidDropped atomic.Uint64

	hooks testHooks
}

// DriverEnv is what a Driver needs from whoever runs it, besides Config.
type DriverEnv struct {
	// RunSnapshot runs a snapshot's work (encode, write, compact) off the
	// loop — Node on a goroutine, the simulation as a later event — and
	// hands the result to Driver.SnapshotFinished on the loop. Nil: the
	// work runs at once, inline.
	RunSnapshot func(work func() SnapshotResult)
	// Emit receives the driver's events, on the loop (nil: dropped).
	Emit func(Event)
	// PublishStatus receives the raft status after every input batch that
	// changed it (nil: not computed).
	PublishStatus func(raft.Status)
	// Trace lets a checker watch the steps the events do not show.
	Trace Trace
}

// Trace is a set of optional observers, called on the loop: the harness's
// simulation feeds its Raft safety checker from them.
type Trace struct {
	// ReadRound sees the context of each read-index round started, with
	// the core's state as it takes the request (a leader may answer it at
	// once, from its lease).
	ReadRound func(ctx []byte, st raft.BasicStatus)
	// ReadState sees each read index the core answered.
	ReadState func(raft.ReadState)
	// Committed sees each committed entry as it is handed to apply (also
	// the ones a restored snapshot already covers).
	Committed func(raft.Entry)
	// InvalidMessage sees each message the core dropped as invalid
	// (raft.ErrInvalidMessage) with the core's error. Where nothing forges
	// messages (the simulation), a drop means a node's own state is wrong:
	// a heartbeat committing beyond a follower's log is a follower that
	// lost entries it acknowledged.
	InvalidMessage func(raft.Message, error)
	// Step sees each message a peer sent, with the core's state before and
	// after stepping it (rafttest.Checker.ObserveStep checks the
	// transition). Taking the two states costs a little on every message:
	// nil outside tests and the simulation.
	Step func(m raft.Message, before, after raft.BasicStatus)
}

// Outcome is how a proposal ended: the state machine's result (or the
// configuration after a conf change), or an error (see IsDefinite).
type Outcome struct {
	Result    any
	ConfState raft.ConfState
	Err       error
}

// Proposal is a command (Data) or a configuration change (ConfChange)
// waiting for its entry to be applied.
type Proposal struct {
	Data       []byte
	ConfChange *raft.ConfChange
	// Live reports whether the caller still waits (nil: always); a
	// proposal whose caller gave up is forgotten, and one that has not
	// reached raft yet is not proposed.
	Live func() bool
	// Done receives the outcome, exactly once, on the driver's loop.
	Done func(Outcome)

	index, term uint64
	proposed    atomic.Uint64 // the term, readable by the caller's goroutine
}

// ProposedTerm is the term the proposal was proposed in (0: not yet).
func (p *Proposal) ProposedTerm() uint64 { return p.proposed.Load() }

func (p *Proposal) live() bool { return p.Live == nil || p.Live() }

// ReadRequest waits for a linearizable read index to be applied locally.
type ReadRequest struct {
	// Live reports whether the caller still waits (nil: always).
	Live func() bool
	// Done receives the read index once it is applied, or an error.
	Done func(index uint64, err error)
}

func (r *ReadRequest) live() bool { return r.Live == nil || r.Live() }

// TransferRequest asks the leader to hand leadership to To.
type TransferRequest struct {
	To uint64
	// Live reports whether the caller still waits (nil: always).
	Live func() bool
	// Done is called (nil error) once this node sees To as the leader, or
	// with ErrStopped-wrapped error at Close. Nil: nobody waits.
	Done func(error)
}

// SnapshotResult is what a snapshot's work reports back to the loop.
type SnapshotResult struct {
	index uint64 // the snapshot's index; 0 if it was not written
	stats SnapshotStats
	err   error
}

// NewDriver restores a driver from cfg.Store (bootstrapping it if the
// store is empty and cfg.Bootstrap is set); the state machine must be
// empty. It is what Start does before starting the goroutine.
func NewDriver(cfg Config, env DriverEnv) (*Driver, error) { return newDriver(cfg, env, testHooks{}) }

func newDriver(cfg Config, env DriverEnv, hooks testHooks) (*Driver, error) {
	if cfg.Store == nil || cfg.Transport == nil || cfg.StateMachine == nil {
		return nil, fmt.Errorf("%w: Store, Transport and StateMachine are required", ErrInvalidConfig)
	}
	if cfg.TickInterval == 0 {
		cfg.TickInterval = 100 * time.Millisecond
	}
	if cfg.TickInterval < 0 {
		return nil, fmt.Errorf("%w: negative TickInterval", ErrInvalidConfig)
	}
	if cfg.Clock == nil {
		cfg.Clock = RealClock()
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("raft_id", cfg.Raft.ID)

	hs, cs, err := cfg.Store.InitialState()
	if err != nil {
		return nil, fmt.Errorf("node: read initial state: %w", err)
	}
	snap, err := cfg.Store.Snapshot()
	if err != nil {
		return nil, fmt.Errorf("node: read snapshot: %w", err)
	}
	last, err := cfg.Store.LastIndex()
	if err != nil {
		return nil, fmt.Errorf("node: read last index: %w", err)
	}
	empty := hs.IsEmpty() && snap.IsEmpty() && last == 0

	var applied uint64
	if !snap.IsEmpty() {
		if err := cfg.StateMachine.Restore(snap.Data); err != nil {
			return nil, fmt.Errorf("node: restore state machine from snapshot %d: %w", snap.Metadata.Index, err)
		}
		applied = snap.Metadata.Index
	}

	rc := cfg.Raft
	rc.Storage = cfg.Store
	rc.Applied = applied
	if rc.Logger == nil && cfg.Logger != nil {
		rc.Logger = raft.NewSlogLogger(logger)
	}
	rn, err := raft.NewRawNode(&rc)
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	if empty && len(cfg.Bootstrap) > 0 {
		if err := rn.Bootstrap(cfg.Bootstrap); err != nil {
			return nil, fmt.Errorf("node: bootstrap: %w", err)
		}
	}
	d := &Driver{
		cfg:         cfg,
		env:         env,
		id:          cfg.Raft.ID,
		logger:      logger,
		rn:          rn,
		ticks:       newTickSource(cfg.Clock.Now(), cfg.TickInterval, 2*cfg.Raft.ElectionTick),
		applied:     applied,
		snapIndex:   snap.Metadata.Index,
		snapSize:    len(snap.Data),
		confState:   cs,
		term:        hs.Term,
		durableTerm: hs.Term,
		durableVote: hs.Vote,
		waiters:     NewWaiters(func(p *Proposal) uint64 { return p.term }),
		reads:       NewReadBatcher(cfg.Raft.ID, (*ReadRequest).live),
		hooks:       hooks,
	}
	if d.env.RunSnapshot == nil {
		d.env.RunSnapshot = func(work func() SnapshotResult) { d.SnapshotFinished(work()) }
	}
	st := rn.Status()
	d.lead, d.role = st.Lead, st.RaftState
	d.publishStatus()
	if !snap.IsEmpty() {
		d.emit(Event{Type: EventSnapshotRestored, Index: snap.Metadata.Index})
	}
	logger.Info("node started", "applied", applied, "term", hs.Term, "commit", hs.Commit,
		"last_index", last, "bootstrap", empty && len(cfg.Bootstrap) > 0)
	return d, nil
}

// Applied is the index of the last entry applied to the state machine.
func (d *Driver) Applied() uint64 { return d.applied }

// Lead and Role are the leader and role as of the last Ready; Term the
// current term.
func (d *Driver) Lead() uint64 { return d.lead }

// Role is this node's role as of the last Ready.
func (d *Driver) Role() raft.StateType { return d.role }

// Term is the current term as of the last Ready.
func (d *Driver) Term() uint64 { return d.term }

// IsLeader reports whether this node saw itself elected in the last Ready.
func (d *Driver) IsLeader() bool { return d.lead == d.id && d.role == raft.StateLeader }

// ConfState is the configuration as of the last applied entry or snapshot.
func (d *Driver) ConfState() raft.ConfState { return d.confState }

// Status is the core's status now.
func (d *Driver) Status() raft.Status { return d.rn.Status() }

// Step hands a message from a peer to the core; a message the core refuses
// (from an unknown peer, say) is logged and dropped. Invalid messages
// (raft.ErrInvalidMessage) are counted: the core already logged them as
// warnings.
func (d *Driver) Step(m raft.Message) {
	var before raft.BasicStatus
	if d.env.Trace.Step != nil {
		before = d.rn.BasicStatus()
	}
	err := d.rn.Step(m)
	if d.env.Trace.Step != nil {
		d.env.Trace.Step(m, before, d.rn.BasicStatus())
	}
	switch {
	case err == nil:
	case errors.Is(err, raft.ErrInvalidMessage):
		d.invalidDropped.Add(1)
		if d.env.Trace.InvalidMessage != nil {
			d.env.Trace.InvalidMessage(m, err)
		}
	default:
		d.logger.Debug("step failed", "type", m.Type, "from", m.From, "err", err)
	}
}

// InvalidDropped is how many messages the core dropped as invalid.
func (d *Driver) InvalidDropped() uint64 { return d.invalidDropped.Load() }

// ReportUnreachable and ReportSnapshot pass the transport's hints on.
func (d *Driver) ReportUnreachable(id uint64) { d.rn.ReportUnreachable(id) }

// ReportSnapshot tells raft how sending a snapshot to id ended.
func (d *Driver) ReportSnapshot(id uint64, s raft.SnapshotStatus) { d.rn.ReportSnapshot(id, s) }

// Tick fires one raft tick per TickInterval of Config.Clock time elapsed
// since the last (at most 2*ElectionTick at once; nothing while the clock
// is behind), and retries read rounds that went unanswered for an election
// timeout.
func (d *Driver) Tick() {
	k := d.ticks.due(d.cfg.Clock.Now())
	for range k {
		d.rn.Tick()
		if d.hooks.onTick != nil {
			d.hooks.onTick()
		}
	}
	if k == 0 {
		return
	}
	// A round unanswered for an election timeout lost its request or
	// answer (no leader, leader changed, message dropped): try again with
	// a fresh context.
	d.reads.Tick(k, d.electionTicks())
	d.sweepExpired()
	d.publishStatus()
}

func (d *Driver) electionTicks() int {
	if d.cfg.Raft.ElectionTick > 0 {
		return d.cfg.Raft.ElectionTick
	}
	return 10
}

// Propose hands a proposal to the core; its Done is called when its fate
// is known (at once if the core refuses it).
func (d *Driver) Propose(p *Proposal) {
	if !p.live() {
		p.Done(Outcome{Err: fmt.Errorf("%w: the caller gave up", ErrNotProposed)})
		return
	}
	var index, term uint64
	var err error
	if p.ConfChange != nil {
		index, term, err = d.rn.ProposeConfChange(*p.ConfChange)
	} else {
		index, term, err = d.rn.Propose(p.Data)
	}
	if err != nil {
		p.Done(Outcome{Err: err})
		return
	}
	p.index, p.term = index, term
	p.proposed.Store(term)
	d.waiters.Add(index, p)
}

// Read queues a read for the next read-index round.
func (d *Driver) Read(r *ReadRequest) {
	d.reads.Add(r)
	if d.hooks.onRead != nil {
		d.hooks.onRead()
	}
}

// Transfer asks the core to transfer leadership.
func (d *Driver) Transfer(t *TransferRequest) {
	if d.lead == t.To {
		if t.Done != nil {
			t.Done(nil)
		}
		return
	}
	d.rn.TransferLeader(t.To)
	if t.Done != nil {
		d.transfers = append(d.transfers, t)
	}
}

// maxReadies bounds how many Readies one HandleReadies handles, so that a
// core that never quiesces (a livelock) still lets the loop take inputs
// (ticks, Stop) instead of spinning forever.
const maxReadies = 1024

// HandleReadies starts a read round if one is due and handles the Readies
// the core has (at most maxReadies; HasReady says whether more are due). An
// error is fatal: the driver must not go on (Close it).
func (d *Driver) HandleReadies() error {
	d.startReadRound()
	for i := 0; i < maxReadies && d.rn.HasReady(); i++ {
		if err := d.handleReady(); err != nil {
			return err
		}
		d.startReadRound()
	}
	return nil
}

// HasReady reports whether the core has a Ready to handle.
func (d *Driver) HasReady() bool { return d.rn.HasReady() }

func (d *Driver) failpoint(name string) {
	if d.cfg.Failpoint != nil {
		d.cfg.Failpoint(name)
	}
}

// replaces reports whether a write of entries from index first on would
// replace entries the store holds (a log repair): asked only when a
// failpoint hook is set, for FailpointAfterPersistRepair.
func (d *Driver) replaces(first uint64) bool {
	last, err := d.cfg.Store.LastIndex()
	return err == nil && first <= last
}

func (d *Driver) handleReady() error {
	rd := d.rn.Ready()
	if d.hooks.onReady != nil {
		d.hooks.onReady(d.cfg.Raft.ID)
	}

	if !rd.HardState.IsEmpty() && rd.HardState.Term != d.term {
		d.term = rd.HardState.Term
		d.emit(Event{Type: EventTermChanged})
	}
	if rd.SoftState != nil {
		d.softStateChanged(*rd.SoftState)
	}

	hs := rd.HardState
	persist := !hs.IsEmpty() || len(rd.Entries) > 0 || !rd.Snapshot.IsEmpty()
	if persist && !rd.MustSync && len(rd.Entries) == 0 && rd.Snapshot.IsEmpty() {
		// Only the commit index moved. It need not be durable (a restarted
		// node learns it again from the leader), so this Ready writes
		// nothing: a bbolt transaction per committed batch on every node
		// cost CPU on the client's path and dirtied pages the next fsync
		// had to flush. The newest such hard state is written with the
		// next write, or before a snapshot or stop (flushLazyHS).
		d.lazyHS = hs
		persist = false
	} else if persist && hs.IsEmpty() {
		hs = d.lazyHS
	}
	// Committed entries are durable on a quorum already, whatever this
	// Ready still has to write: apply them, and answer their clients, while
	// this node's write is pending rather than after it, so that a batch
	// committed during one write is not held back by the next one. Not with
	// a snapshot, which must be restored first.
	applyFirst := persist && rd.Snapshot.IsEmpty() && len(rd.CommittedEntries) > 0 && !d.hooks.applyAfterPersist
	late := rd.Messages
	switch {
	case d.hooks.sendBeforePersist:
		if len(rd.Messages) > 0 {
			d.cfg.Transport.Send(rd.Messages)
		}
		late = nil
	case persist && rd.Snapshot.IsEmpty() && !d.hooks.noEarlyAppend:
		// 1a. A leader's appends leave before its own write (thesis
		// §10.2.1), so that the followers' fsyncs overlap the leader's;
		// a follower's heartbeat answers do not wait for its fsync.
		late = d.sendEarly(rd.Messages)
	}
	if applyFirst {
		if err := d.applyCommitted(rd.CommittedEntries); err != nil {
			return err
		}
	}
	// 1. Persist. Nothing else this Ready says may leave the node before this.
	if persist {
		if hs.Vote != raft.None && hs.Vote != d.id && (hs.Term != d.durableTerm || hs.Vote != d.durableVote) {
			d.failpoint(FailpointBeforePersistVote)
		}
		d.failpoint(FailpointBeforePersist)
		repair := d.cfg.Failpoint != nil && len(rd.Entries) > 0 && d.replaces(rd.Entries[0].Index)
		if err := d.cfg.Store.Save(hs, rd.Entries, rd.Snapshot, rd.MustSync); err != nil {
			return fmt.Errorf("%w: %w", ErrPersist, err)
		}
		if !hs.IsEmpty() {
			d.durableTerm, d.durableVote = hs.Term, hs.Vote
		}
		d.lazyHS = raft.HardState{}
		d.failpoint(FailpointAfterPersist)
		if repair {
			d.failpoint(FailpointAfterPersistRepair)
		}
	}
	if !rd.Snapshot.IsEmpty() {
		if err := d.restore(rd.Snapshot); err != nil {
			return err
		}
	}
	// 2. Send.
	if len(late) > 0 {
		d.cfg.Transport.Send(late)
	}
	// 3. Apply (unless done before persisting).
	if !applyFirst {
		if err := d.applyCommitted(rd.CommittedEntries); err != nil {
			return err
		}
	}
	for _, rs := range rd.ReadStates {
		if d.env.Trace.ReadState != nil {
			d.env.Trace.ReadState(rs)
		}
		d.reads.Answered(rs)
	}
	if bugs.On(bugs.ReadBeforeApplied) {
		// Planted bug (bugs.ReadBeforeApplied): the read index is known,
		// so the reads are answered now, as if the state machine had
		// caught up with it — before the entries up to it are applied.
		d.reads.Due(^uint64(0), func(index uint64, r *ReadRequest) {
			if index > d.applied {
				bugs.Fire(bugs.ReadBeforeApplied)
			}
			r.Done(index, nil)
		})
	}
	// 4. Advance.
	d.rn.Advance(rd)

	for _, m := range rd.Messages {
		if m.Type == raft.MsgSnap {
			// The transport took it; if it is lost, the leader's probe
			// finds out and sends another.
			d.rn.ReportSnapshot(m.To, raft.SnapshotFinish)
		}
	}
	d.maybeSnapshot()
	d.publishStatus()
	// After publishing, so that a reader sees Status().Applied >= its index.
	d.answerReads()
	return nil
}

// sendEarly sends, before the Ready is persisted, the messages that may
// leave early, and returns the others (in their order), which must wait
// for the write. A leader's message may leave early when it is an append
// (MsgApp) or a heartbeat of the term already durable in the store:
//   - the leader's own entries count toward the commit quorum only after
//     Advance, i.e. after this Ready is persisted, so an entry is never
//     committed on the strength of a copy that is not on disk;
//   - the entries a MsgApp carries may be lost if the leader crashes before
//     its write: that is no different from a leader that crashes after
//     sending them, and a follower holding them is still consistent;
//   - its term must be durable, or a leader that crashed before saving the
//     term could, after a restart, win the same term again and send other
//     entries at the same indexes and term (an election of a single voter
//     becomes leader within one Ready, term and all).
//
// Any node's answer to a heartbeat (MsgHeartbeatResp) of the durable term
// leaves early too: it says only that this node follows the sender in that
// term (and echoes the heartbeat's tick and read context), nothing about
// its log, so nothing it acknowledges can be lost with the write. Sent
// after the write, it waited behind whatever the Ready carried (a batch
// of entries, a slow fsync on a busy disk), and a leader whose followers
// answered late stepped down for a quorum that was alive (check-quorum)
// or lost its lease.
//
// Votes, vote and append responses, read-index and transfer messages
// still wait for the fsync.
func (d *Driver) sendEarly(msgs []raft.Message) (late []raft.Message) {
	early := d.earlyBuf[:0]
	late = d.lateBuf[:0]
	leader := d.role == raft.StateLeader
	for _, m := range msgs {
		if MayLeaveEarly(m, d.durableTerm, leader) {
			early = append(early, m)
		} else {
			late = append(late, m)
		}
	}
	if len(early) > 0 {
		d.cfg.Transport.Send(early)
	}
	// The buffers are reused by the next Ready: the transport copies each
	// message it queues.
	clear(early)
	d.earlyBuf = early
	d.lateBuf = late
	return late
}

// MayLeaveEarly says whether a node (a leader if leader) may send m before
// the Ready that holds it is persisted, given the term of the hard state
// already in its store (see sendEarly for why): a leader's appends and
// heartbeats, and anyone's heartbeat answers, of that term only.
func MayLeaveEarly(m raft.Message, durableTerm uint64, leader bool) bool {
	switch {
	case bugs.On(bugs.AckBeforeFsync) && m.Type == raft.MsgAppResp:
		// Planted bug (bugs.AckBeforeFsync): an append's acknowledgement
		// is "just a small message", so it leaves with the leader-style
		// early sends, before the entries it acknowledges are written.
		bugs.Fire(bugs.AckBeforeFsync)
		return true
	case bugs.On(bugs.VoteNotDurable) && (m.Type == raft.MsgVoteResp || m.Type == raft.MsgPreVoteResp):
		// Planted bug (bugs.VoteNotDurable): the vote response leaves
		// before the hard state recording the vote (and its term) is
		// written, so a crash in between lets this node vote again.
		bugs.Fire(bugs.VoteNotDurable)
		return true
	}
	switch m.Type {
	case raft.MsgApp, raft.MsgHeartbeat:
		return leader && m.Term == durableTerm
	case raft.MsgHeartbeatResp:
		return m.Term == durableTerm
	}
	return false
}

// applyCommitted applies committed entries in order and resolves their
// waiters.
func (d *Driver) applyCommitted(ents []raft.Entry) error {
	if len(ents) == 0 {
		return nil
	}
	d.failpoint(FailpointBeforeApply)
	for _, e := range ents {
		if err := d.apply(e); err != nil {
			return err
		}
	}
	d.failpoint(FailpointAfterApply)
	d.dropSuperseded(ents[len(ents)-1].Term, d.applied)
	return nil
}

func (d *Driver) softStateChanged(ss raft.SoftState) {
	if ss.Lead != d.lead {
		d.lead = ss.Lead
		d.emit(Event{Type: EventLeaderChanged})
		kept := d.transfers[:0]
		for _, t := range d.transfers {
			if t.To == ss.Lead {
				t.Done(nil)
			} else {
				kept = append(kept, t)
			}
		}
		clear(d.transfers[len(kept):])
		d.transfers = kept
		// A read round in flight at the old leader will not be answered.
		d.reads.Retry()
	}
	if ss.RaftState != d.role {
		d.role = ss.RaftState
		d.emit(Event{Type: EventRoleChanged})
	}
}

// restore installs a snapshot the leader sent (already persisted).
func (d *Driver) restore(s raft.Snapshot) error {
	if err := d.cfg.StateMachine.Restore(s.Data); err != nil {
		return fmt.Errorf("node: restore state machine from snapshot %d: %w", s.Metadata.Index, err)
	}
	// Proposals covered by the snapshot: their entries may or may not be
	// in it, and their results were never seen.
	d.waiters.CoveredBySnapshot(s.Metadata.Index, func(idx uint64, p *Proposal) {
		p.Done(Outcome{Err: fmt.Errorf("%w: entry %d was covered by a snapshot", ErrOutcomeUnknown, idx)})
	})
	d.applied = s.Metadata.Index
	d.snapIndex = s.Metadata.Index
	d.snapSize, d.bytesSinceSnap = len(s.Data), 0
	d.confState = s.Metadata.ConfState
	d.dropSuperseded(s.Metadata.Term, s.Metadata.Index)
	d.emit(Event{Type: EventSnapshotRestored, Index: s.Metadata.Index})
	return nil
}

func (d *Driver) apply(e raft.Entry) error {
	if d.env.Trace.Committed != nil {
		d.env.Trace.Committed(e)
	}
	if e.Index <= d.applied {
		return nil // already in the state machine (restored snapshot)
	}
	var o Outcome
	switch e.Type {
	case raft.EntryNormal:
		if len(e.Data) > 0 {
			o.Result = d.cfg.StateMachine.Apply(e.Index, e.Data)
		}
	case raft.EntryConfChange:
		var cc raft.ConfChange
		if err := cc.Unmarshal(e.Data); err != nil {
			return fmt.Errorf("node: conf change entry %d: %w", e.Index, err)
		}
		d.confState = d.rn.ApplyConfChange(cc)
		o.ConfState = d.confState
		if d.cfg.OnConfChange != nil {
			d.cfg.OnConfChange(cc, d.confState)
		}
		d.emit(Event{Type: EventConfChangeApplied, Index: e.Index, ConfChange: cc, ConfState: d.confState})
	}
	d.applied = e.Index
	d.bytesSinceSnap += uint64(len(e.Data))
	d.waiters.Resolve(e.Index, e.Term, func(p *Proposal, mine bool) {
		switch {
		case mine:
			p.Done(o)
		case bugs.On(bugs.WaiterMatchesIndexOnly):
			// Planted bug (bugs.WaiterMatchesIndexOnly): the waiter was
			// registered at this index, so whatever landed there is taken
			// as its result, though another leader's entry replaced it.
			bugs.Fire(bugs.WaiterMatchesIndexOnly)
			p.Done(o)
		default:
			p.Done(Outcome{Err: fmt.Errorf("%w: entry %d of term %d replaced by term %d", ErrProposalDropped, e.Index, p.term, e.Term)})
		}
	})
	return nil
}

// dropSuperseded fails every waiter whose entry can no longer commit once
// an entry of term t is committed at index i (see Waiters.DropSuperseded).
func (d *Driver) dropSuperseded(t, i uint64) {
	d.waiters.DropSuperseded(t, i, func(idx uint64, p *Proposal) {
		p.Done(Outcome{Err: fmt.Errorf("%w: entry %d of term %d superseded by a committed entry of term %d", ErrProposalDropped, idx, p.term, t)})
	})
}

// sweepExpired forgets requests whose callers gave up, so they do not pile
// up while their indexes are never reached.
func (d *Driver) sweepExpired() {
	d.waiters.Sweep((*Proposal).live)
	d.reads.Sweep()
	tk := d.transfers[:0]
	for _, t := range d.transfers {
		if t.Live == nil || t.Live() {
			tk = append(tk, t)
		}
	}
	clear(d.transfers[len(tk):])
	d.transfers = tk
}

// startReadRound starts a read-index round for the queued reads, if none
// is in flight.
func (d *Driver) startReadRound() {
	if rctx := d.reads.Start(); rctx != nil {
		d.readRounds.Add(1)
		if d.env.Trace.ReadRound != nil {
			d.env.Trace.ReadRound(rctx, d.rn.BasicStatus())
		}
		d.rn.ReadIndex(rctx)
	}
}

// answerReads answers the reads whose read index is applied.
func (d *Driver) answerReads() {
	d.reads.Due(d.applied, func(index uint64, r *ReadRequest) { r.Done(index, nil) })
}

// flushLazyHS writes the hard state whose commit-only change handleReady
// left out of the store, without fsync (the commit index is written lazily).
func (d *Driver) flushLazyHS() error {
	if d.lazyHS.IsEmpty() {
		return nil
	}
	if err := d.cfg.Store.Save(d.lazyHS, nil, raft.Snapshot{}, false); err != nil {
		return fmt.Errorf("%w: %w", ErrPersist, err)
	}
	d.lazyHS = raft.HardState{}
	return nil
}

// maybeSnapshot starts a snapshot when SnapshotEvery entries were applied
// since the last one and none is being written. Only the capture happens
// here, on the loop; encoding, writing and compacting run through
// DriverEnv.RunSnapshot, so that a large state does not hold up the log
// writes and answers of the Readys that follow.
func (d *Driver) maybeSnapshot() {
	every := d.cfg.SnapshotEvery
	if every == 0 || d.snapshotting || d.applied < d.snapRetryAt {
		return
	}
	stagger := d.snapshotStagger()
	if float64(d.applied-min(d.applied, d.snapIndex)) < stagger*float64(every) {
		return
	}
	if r := d.cfg.SnapshotLogRatio; r > 0 && d.snapSize > SnapshotRatioFloor && float64(d.bytesSinceSnap) < stagger*r*float64(d.snapSize) {
		return
	}
	// A snapshot at the applied index must not be ahead of the commit
	// index in the store: a restart would find the log committed only up
	// to an index below its snapshot.
	if err := d.flushLazyHS(); err != nil {
		d.logger.Error("write hard state before snapshot failed", "applied", d.applied, "err", err)
		d.snapRetryAt = d.applied + snapshotRetryGap(every)
		return
	}
	start := time.Now()
	encode, err := d.captureSnapshot()
	if err != nil {
		d.logger.Error("state machine snapshot failed", "applied", d.applied, "err", err)
		d.snapRetryAt = d.applied + snapshotRetryGap(every)
		return
	}
	d.snapshotting = true
	d.bytesSinceSnap = 0
	index, cs, capture := d.applied, cloneConfState(d.confState), time.Since(start)
	if bugs.On(bugs.SnapshotWrongIndex) {
		// Planted bug (bugs.SnapshotWrongIndex): the snapshot is labelled
		// with the next index to apply rather than the last one applied,
		// so the entry at that index is never applied by a node that
		// restores from it.
		bugs.Fire(bugs.SnapshotWrongIndex)
		index++
	}
	d.env.RunSnapshot(func() SnapshotResult { return d.writeSnapshot(index, cs, encode, capture) })
}

// snapshotStagger is the factor StaggerSnapshots applies: 1+i/n for the
// i-th of the n members (voters by ID, then learners), 1 without it.
func (d *Driver) snapshotStagger() float64 {
	if !d.cfg.StaggerSnapshots {
		return 1
	}
	members := len(d.confState.Voters) + len(d.confState.Learners)
	rank := 0
	for _, id := range d.confState.Voters {
		if id < d.id {
			rank++
		}
	}
	if !slices.Contains(d.confState.Voters, d.id) {
		rank = len(d.confState.Voters)
		for _, id := range d.confState.Learners {
			if id < d.id {
				rank++
			}
		}
	}
	if members == 0 || rank >= members {
		return 1
	}
	return 1 + float64(rank)/float64(members)
}

// SnapshotRatioFloor is the snapshot size from which SnapshotLogRatio
// applies.
const SnapshotRatioFloor = 1 << 20

// snapshotRetryGap is how many more entries must be applied before a failed
// snapshot is tried again, so a failing store is not hammered every Ready.
func snapshotRetryGap(every uint64) uint64 { return max(1, every/8) }

func (d *Driver) captureSnapshot() (func() ([]byte, error), error) {
	if c, ok := d.cfg.StateMachine.(SnapshotCapturer); ok {
		return c.CaptureSnapshot()
	}
	data, err := d.cfg.StateMachine.Snapshot()
	if err != nil {
		return nil, err
	}
	return func() ([]byte, error) { return data, nil }, nil
}

// writeSnapshot is a snapshot's work, off the loop: it encodes the
// captured state, records it as the snapshot at index, and compacts the
// log. The store is safe for concurrent use, and the driver's reads of it
// tolerate a compaction between two calls (raft sends a snapshot when it
// finds the entries it wants compacted). Only committed, applied entries at
// or below index are compacted, and raft never needs those for applying.
func (d *Driver) writeSnapshot(index uint64, cs raft.ConfState, encode func() ([]byte, error), capture time.Duration) (done SnapshotResult) {
	done.stats.Capture = capture
	t := time.Now()
	data, err := encode()
	if err != nil {
		done.err = fmt.Errorf("encode the state machine at %d: %w", index, err)
		return done
	}
	done.stats.Bytes, done.stats.Encode = len(data), time.Since(t)
	t = time.Now()
	snap, err := d.cfg.Store.CreateSnapshot(index, cs, data)
	if err != nil {
		done.err = err
		return done
	}
	done.index, done.stats.Write = snap.Metadata.Index, time.Since(t)
	d.failpoint(FailpointDuringSnapshot)
	t = time.Now()
	if snap.Metadata.Index > d.cfg.SnapshotCatchUpEntries {
		compact := snap.Metadata.Index - d.cfg.SnapshotCatchUpEntries
		if err := d.cfg.Store.Compact(compact); err != nil && !errors.Is(err, raft.ErrCompacted) {
			d.logger.Error("compact failed", "index", compact, "err", err)
		}
	}
	done.stats.Compact = time.Since(t)
	return done
}

// SnapshotFinished takes a snapshot's result back on the loop.
func (d *Driver) SnapshotFinished(r SnapshotResult) {
	d.snapshotting = false
	switch {
	case r.err == nil:
		// A snapshot from the leader may have been restored meanwhile.
		d.snapIndex = max(d.snapIndex, r.index)
		d.snapSize = r.stats.Bytes
		d.emit(Event{Type: EventSnapshotTaken, Index: r.index, Snapshot: r.stats})
	case errors.Is(r.err, raft.ErrSnapOutOfDate):
		// A newer snapshot (from the leader) was installed first.
	default:
		d.logger.Error("create snapshot failed", "applied", d.applied, "err", r.err)
		d.snapRetryAt = d.applied + snapshotRetryGap(d.cfg.SnapshotEvery)
	}
	d.maybeSnapshot()
}

func cloneConfState(cs raft.ConfState) raft.ConfState {
	return raft.ConfState{Voters: slices.Clone(cs.Voters), Learners: slices.Clone(cs.Learners)}
}

func (d *Driver) publishStatus() {
	if d.env.PublishStatus != nil {
		d.env.PublishStatus(d.rn.Status())
	}
}

func (d *Driver) emit(ev Event) {
	if d.env.Emit == nil {
		return
	}
	ev.Node = d.id
	ev.Term, ev.Leader, ev.Role = d.term, d.lead, d.role
	d.env.Emit(ev)
}

// Close ends the driver: after a clean stop (err nil) it writes the lazily
// kept hard state; either way it fails every request it holds (proposed
// ones indeterminately). It does not close the Store. The caller must make
// sure no snapshot work is still running.
func (d *Driver) Close(err error) {
	if err == nil {
		if ferr := d.flushLazyHS(); ferr != nil {
			d.logger.Warn("write hard state at stop failed", "err", ferr)
		}
	}
	if err != nil {
		d.logger.Error("node stopped on a fatal error; it will not continue", "err", err)
	} else {
		d.logger.Info("node stopped")
	}
	cause := ErrStopped
	if err != nil {
		cause = fmt.Errorf("%w: %w", ErrStopped, err)
	}
	for _, p := range d.waiters.Drain() {
		p.Done(Outcome{Err: fmt.Errorf("%w: %w", ErrOutcomeUnknown, cause)})
	}
	for _, r := range d.reads.Drain() {
		r.Done(0, cause)
	}
	for _, t := range d.transfers {
		t.Done(cause)
	}
	d.transfers = nil
	d.emit(Event{Type: EventStopped, Err: err})
}
