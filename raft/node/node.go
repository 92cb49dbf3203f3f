package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftkv/raftkv/raft"
)

// StateMachine is the replicated application. The driver calls it only from
// its own goroutine, in log order.
type StateMachine interface {
	// Apply applies a committed EntryNormal that carries data. The result
	// goes to the proposer, if it is waiting on this node.
	Apply(index uint64, data []byte) any
	// Snapshot returns the state at the last applied index.
	Snapshot() ([]byte, error)
	// Restore replaces the whole state with a snapshot's data.
	Restore(data []byte) error
}

// SnapshotCapturer is an optional extension of StateMachine for states too
// large to encode on the driver goroutine. CaptureSnapshot is called there,
// like Snapshot, but only takes a consistent copy of the state at the last
// applied index (no encoding, no sorting); the encode function it returns
// runs later on the snapshot goroutine, concurrently with Apply, and must
// return exactly what Snapshot would have returned at the capture. Without
// it the driver calls Snapshot on its goroutine and writes the result in
// the background.
type SnapshotCapturer interface {
	CaptureSnapshot() (encode func() ([]byte, error), err error)
}

// Transport carries messages to peers. Send must not block (drop instead:
// raft tolerates message loss).
type Transport interface {
	Send(msgs []raft.Message)
}

// Failpoint names, in the order a Ready passes them.
const (
	FailpointBeforePersist  = "before-persist"
	FailpointAfterPersist   = "after-persist"
	FailpointBeforeApply    = "before-apply"
	FailpointAfterApply     = "after-apply"
	FailpointDuringSnapshot = "during-snapshot"
)

// Config configures a Node.
type Config struct {
	// Raft configures the core. ID, ticks and options are the caller's;
	// Storage and Applied are filled in by Start from Store.
	Raft raft.Config
	// TickInterval is the Clock time per raft tick (default 100ms).
	TickInterval time.Duration
	// Clock is the time source for ticks (default RealClock()).
	Clock Clock
	// Store is the log store; Start restores from it and the driver is its
	// only writer. Stop does not close it.
	Store raft.LogStore
	// Transport sends messages to peers.
	Transport Transport
	// StateMachine is the application; it must be empty at Start.
	StateMachine StateMachine
	// OnConfChange, if set, is called from the driver goroutine after a
	// conf change is applied (the KV layer updates peer addresses).
	OnConfChange func(cc raft.ConfChange, cs raft.ConfState)
	// SnapshotEvery: take a snapshot each time this many entries were
	// applied since the last one (0: never).
	SnapshotEvery uint64
	// SnapshotCatchUpEntries: entries kept in the log below a snapshot's
	// index so slow followers can catch up without a snapshot.
	SnapshotCatchUpEntries uint64
	// SnapshotLogRatio, when positive, also makes a snapshot wait until the
	// entries applied since the last one carry at least this fraction of
	// that snapshot's size in bytes, once snapshots are larger than
	// SnapshotRatioFloor. A snapshot encodes the whole state, so without
	// it a large state is rewritten every SnapshotEvery entries however
	// little each entry adds; with it, snapshot writes cost at most 1/ratio
	// of the log bytes written, and the log kept is at most about ratio
	// times the state. Small states (below the floor) are unaffected.
	SnapshotLogRatio float64
	// StaggerSnapshots spreads the members' snapshots over time: the i-th
	// of n voters by ID (learners last) waits 1+i/n times as long (entries
	// and log bytes) as the rules above say. All members apply the same
	// entries at about the same moment, so without it they would all
	// encode, write and compact at once, and every write in flight would
	// wait for whichever two of them the quorum needs.
	StaggerSnapshots bool
	// Failpoint, if set, is called at each named point (see the Failpoint*
	// constants) from the driver goroutine, except FailpointDuringSnapshot,
	// which is called from the snapshot goroutine between writing a
	// snapshot and compacting the log; fault injection crashes there.
	Failpoint func(name string)
	// Bootstrap lists the initial voters, used only if Store is empty; nil
	// for a node that joins an existing cluster.
	Bootstrap []uint64
	// Logger receives the driver's logs (default: discard). It is also
	// given to the core when Raft.Logger is nil.
	Logger *slog.Logger
}

// Node runs a raft.RawNode on one goroutine. Its methods are safe for
// concurrent use.
type Node struct {
	cfg    Config
	id     uint64
	logger *slog.Logger
	clock  Clock

	// Inputs to the loop. Request channels are unbuffered so that a
	// completed send means the loop has taken the request.
	stepc     chan raft.Message
	propc     chan *proposal
	readc     chan *readRequest
	transferc chan *transferRequest
	reportc   chan func(*raft.RawNode)
	snapc     chan snapshotDone // buffered 1: at most one snapshot runs
	stopc     chan struct{}
	donec     chan struct{}
	stopOnce  sync.Once

	status atomic.Pointer[raft.Status]
	err    error // why the loop ended; written before donec is closed
	events eventHub

	// Counters for tests and metrics.
	readRounds atomic.Uint64
	earlySent  atomic.Uint64 // messages a leader sent before persisting

	// Everything below is owned by the loop goroutine.
	rn        *raft.RawNode
	ticks     *tickSource
	applied   uint64
	snapIndex uint64
	// snapshotting is true while the snapshot goroutine writes a snapshot
	// (snapWG counts it, so that shutdown waits for it); snapRetryAt is the
	// applied index before which a failed snapshot is not retried.
	snapshotting bool
	snapRetryAt  uint64
	snapWG       sync.WaitGroup
	// snapSize is the size of the newest snapshot's data; bytesSinceSnap
	// the data applied since it was captured (for SnapshotLogRatio).
	snapSize       int
	bytesSinceSnap uint64
	confState      raft.ConfState
	lead           uint64
	role           raft.StateType
	term           uint64
	// durableTerm is the term of the hard state in the store.
	durableTerm uint64
	// lazyHS is the newest hard state whose only change was the commit
	// index and that is not in the store yet; it rides along with the next
	// write (see handleReady).
	lazyHS raft.HardState
	// Reused by sendEarly.
	earlyBuf, lateBuf []raft.Message

	waiters *Waiters[*proposal]

	reads *ReadBatcher[*readRequest]

	transfers []*transferRequest

	hooks testHooks
}

// testHooks lets the package's own tests observe or break the loop.
type testHooks struct {
	onTick func()
	onRead func()
	// onReady is called with the node's ID as each Ready is taken.
	onReady func(id uint64)
	// sendBeforePersist breaks the durability rule on purpose, to prove
	// the durability test can fail.
	sendBeforePersist bool
	// noEarlyAppend makes a leader wait for its own write before sending
	// appends too (the stricter order, for comparisons).
	noEarlyAppend bool
	// applyAfterPersist applies committed entries only after the Ready's
	// write (the stricter order, for comparisons).
	applyAfterPersist bool
}

type outcome struct {
	result any
	cs     raft.ConfState
	err    error
}

type proposal struct {
	ctx  context.Context
	data []byte
	cc   *raft.ConfChange
	ch   chan outcome // buffered 1: the loop never blocks on it

	index, term uint64        // set by the loop when proposed
	proposed    atomic.Uint64 // the term, for the caller's error classification
}

type readRequest struct {
	ctx context.Context
	ch  chan readOutcome
}

type readOutcome struct {
	index uint64
	err   error
}

type transferRequest struct {
	ctx context.Context
	to  uint64
	ch  chan error
}

// Start restores a node from cfg.Store (bootstrapping it if the store is
// empty and cfg.Bootstrap is set) and starts its goroutine.
func Start(cfg Config) (*Node, error) { return start(cfg, testHooks{}) }

func start(cfg Config, hooks testHooks) (*Node, error) {
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

	maxTicks := 2 * cfg.Raft.ElectionTick
	n := &Node{
		cfg:         cfg,
		id:          cfg.Raft.ID,
		logger:      logger,
		clock:       cfg.Clock,
		stepc:       make(chan raft.Message, 4096),
		propc:       make(chan *proposal),
		readc:       make(chan *readRequest),
		transferc:   make(chan *transferRequest),
		reportc:     make(chan func(*raft.RawNode), 256),
		snapc:       make(chan snapshotDone, 1),
		stopc:       make(chan struct{}),
		donec:       make(chan struct{}),
		rn:          rn,
		ticks:       newTickSource(cfg.Clock.Now(), cfg.TickInterval, maxTicks),
		applied:     applied,
		snapIndex:   snap.Metadata.Index,
		snapSize:    len(snap.Data),
		confState:   cs,
		term:        hs.Term,
		durableTerm: hs.Term,
		waiters:     NewWaiters(func(p *proposal) uint64 { return p.term }),
		reads:       NewReadBatcher(cfg.Raft.ID, func(r *readRequest) bool { return r.ctx.Err() == nil }),
		hooks:       hooks,
	}
	st := rn.Status()
	n.lead, n.role = st.Lead, st.RaftState
	n.publishStatus()
	if !snap.IsEmpty() {
		n.emit(Event{Type: EventSnapshotRestored, Index: snap.Metadata.Index})
	}
	logger.Info("node started", "applied", applied, "term", hs.Term, "commit", hs.Commit,
		"last_index", last, "bootstrap", empty && len(cfg.Bootstrap) > 0)
	go n.run()
	return n, nil
}

// Stop stops the node's goroutine and waits for it. Requests in flight fail
// (indeterminately if already proposed). It does not close the Store.
func (n *Node) Stop() {
	n.stopOnce.Do(func() { close(n.stopc) })
	<-n.donec
}

// Done is closed when the node has stopped, by Stop or by a fatal error.
func (n *Node) Done() <-chan struct{} { return n.donec }

// Err returns why the node stopped: nil while running or after Stop, the
// fatal error (e.g. wrapping ErrPersist) otherwise.
func (n *Node) Err() error {
	select {
	case <-n.donec:
		return n.err
	default:
		return nil
	}
}

// Step hands a message from the transport to the node. It blocks while the
// node's input queue is full, and drops the message once the node stopped.
func (n *Node) Step(m raft.Message) {
	select {
	case n.stepc <- m:
	case <-n.donec:
	}
}

// ReportUnreachable tells raft that a message to id could not be sent.
func (n *Node) ReportUnreachable(id uint64) {
	n.report(func(rn *raft.RawNode) { rn.ReportUnreachable(id) })
}

// ReportSnapshot tells raft how sending a snapshot to id ended. The driver
// already reports SnapshotFinish once it handed a snapshot to the transport.
func (n *Node) ReportSnapshot(id uint64, s raft.SnapshotStatus) {
	n.report(func(rn *raft.RawNode) { rn.ReportSnapshot(id, s) })
}

// report queues a hint for the loop; hints are dropped rather than block.
func (n *Node) report(f func(*raft.RawNode)) {
	select {
	case n.reportc <- f:
	default:
	}
}

// Status returns a copy of the node's raft status as of the last loop
// iteration.
func (n *Node) Status() raft.Status {
	st := *n.status.Load()
	st.Progress = maps.Clone(st.Progress)
	st.Config.Voters = append([]uint64(nil), st.Config.Voters...)
	st.Config.Learners = append([]uint64(nil), st.Config.Learners...)
	return st
}

// ReadRounds returns how many read-index rounds this node started; with
// the reads served, it shows how well concurrent reads are batched.
func (n *Node) ReadRounds() uint64 { return n.readRounds.Load() }

// SoftState returns the leader and role as of the last loop iteration,
// without copying the whole status (the API asks on every request).
func (n *Node) SoftState() raft.SoftState { return n.status.Load().SoftState }

// Subscribe calls fn, on a goroutine of its own, for each event from now on
// until cancel is called or the node stops. Events are dropped for a
// subscriber that falls too far behind; the node never waits for one.
func (n *Node) Subscribe(fn func(Event)) (cancel func()) {
	return n.events.subscribe(fn)
}

// Propose proposes data and waits until its entry is applied on this node,
// returning what StateMachine.Apply returned. Only the leader proposes
// (ErrNotLeader otherwise). See IsDefinite for what an error means.
func (n *Node) Propose(ctx context.Context, data []byte) (any, error) {
	if len(data) == 0 {
		return nil, ErrEmptyProposal
	}
	o, err := n.propose(ctx, &proposal{ctx: ctx, data: data, ch: make(chan outcome, 1)})
	if err != nil {
		return nil, err
	}
	return o.result, nil
}

// ProposeConfChange proposes a membership change and waits until it is
// applied on this node, returning the configuration after it.
func (n *Node) ProposeConfChange(ctx context.Context, cc raft.ConfChange) (raft.ConfState, error) {
	o, err := n.propose(ctx, &proposal{ctx: ctx, cc: &cc, ch: make(chan outcome, 1)})
	if err != nil {
		return raft.ConfState{}, err
	}
	return o.cs, nil
}

func (n *Node) propose(ctx context.Context, p *proposal) (outcome, error) {
	select {
	case n.propc <- p:
	case <-ctx.Done():
		return outcome{}, fmt.Errorf("%w: %w", ErrNotProposed, ctx.Err())
	case <-n.donec:
		return outcome{}, ErrStopped
	}
	select {
	case o := <-p.ch:
		return o, o.err
	case <-ctx.Done():
		select { // the answer may have raced with the deadline
		case o := <-p.ch:
			return o, o.err
		default:
		}
		if t := p.proposed.Load(); t != 0 {
			st := n.status.Load()
			if st.Term != t || st.RaftState != raft.StateLeader {
				return outcome{}, fmt.Errorf("%w: %w", ErrLeadershipLost, ctx.Err())
			}
		}
		return outcome{}, ctx.Err()
	case <-n.donec:
		select {
		case o := <-p.ch:
			return o, o.err
		default:
			// The loop took the request but ended before proposing it.
			return outcome{}, ErrStopped
		}
	}
}

// ReadIndex returns an index such that a read of the state machine once it
// has applied that index is linearizable (thesis §6.4), and waits until
// this node has applied it. Concurrent calls share read-index rounds.
func (n *Node) ReadIndex(ctx context.Context) (uint64, error) {
	r := &readRequest{ctx: ctx, ch: make(chan readOutcome, 1)}
	select {
	case n.readc <- r:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-n.donec:
		return 0, ErrStopped
	}
	select {
	case o := <-r.ch:
		return o.index, o.err
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-n.donec:
		select {
		case o := <-r.ch:
			return o.index, o.err
		default:
			return 0, ErrStopped
		}
	}
}

// TransferLeadership asks the leader to hand leadership to `to` and waits
// until this node sees `to` as the leader, or ctx ends.
func (n *Node) TransferLeadership(ctx context.Context, to uint64) error {
	t := &transferRequest{ctx: ctx, to: to, ch: make(chan error, 1)}
	select {
	case n.transferc <- t:
	case <-ctx.Done():
		return ctx.Err()
	case <-n.donec:
		return ErrStopped
	}
	select {
	case err := <-t.ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-n.donec:
		select {
		case err := <-t.ch:
			return err
		default:
			return ErrStopped
		}
	}
}

// maxBatch bounds how many inputs the loop takes before handling a Ready,
// so that concurrent proposals share one fsync without starving output.
const maxBatch = 512

func (n *Node) run() {
	wake := n.cfg.TickInterval / 4
	if wake < 500*time.Microsecond {
		wake = 500 * time.Microsecond
	}
	ticker := time.NewTicker(wake)
	defer ticker.Stop()

	var err error
	for err == nil {
		stop := n.input(ticker.C)
		for i := 0; i < maxBatch && !stop; i++ {
			var ok bool
			if ok, stop = n.tryInput(ticker.C); !ok {
				break
			}
		}
		if stop {
			break
		}
		err = n.afterInputs()
	}
	n.shutdown(err)
}

// input waits for one input and handles it; it reports whether to stop.
func (n *Node) input(tickc <-chan time.Time) (stop bool) {
	select {
	case <-tickc:
		n.tick()
	case m := <-n.stepc:
		n.step(m)
	case p := <-n.propc:
		n.handlePropose(p)
	case r := <-n.readc:
		n.reads.Add(r)
		if n.hooks.onRead != nil {
			n.hooks.onRead()
		}
	case t := <-n.transferc:
		n.handleTransfer(t)
	case f := <-n.reportc:
		f(n.rn)
	case d := <-n.snapc:
		n.snapshotFinished(d)
	case <-n.stopc:
		return true
	}
	return false
}

// tryInput handles one input if one is ready.
func (n *Node) tryInput(tickc <-chan time.Time) (ok, stop bool) {
	select {
	case <-tickc:
		n.tick()
	case m := <-n.stepc:
		n.step(m)
	case p := <-n.propc:
		n.handlePropose(p)
	case r := <-n.readc:
		n.reads.Add(r)
		if n.hooks.onRead != nil {
			n.hooks.onRead()
		}
	case t := <-n.transferc:
		n.handleTransfer(t)
	case f := <-n.reportc:
		f(n.rn)
	case d := <-n.snapc:
		n.snapshotFinished(d)
	case <-n.stopc:
		return true, true
	default:
		return false, false
	}
	return true, false
}

func (n *Node) step(m raft.Message) {
	if err := n.rn.Step(m); err != nil {
		n.logger.Debug("step failed", "type", m.Type, "from", m.From, "err", err)
	}
}

func (n *Node) tick() {
	k := n.ticks.due(n.clock.Now())
	for range k {
		n.rn.Tick()
		if n.hooks.onTick != nil {
			n.hooks.onTick()
		}
	}
	if k == 0 {
		return
	}
	// A round unanswered for an election timeout lost its request or
	// answer (no leader, leader changed, message dropped): try again with
	// a fresh context.
	n.reads.Tick(k, n.electionTicks())
	n.sweepExpired()
	n.publishStatus()
}

func (n *Node) electionTicks() int {
	if n.cfg.Raft.ElectionTick > 0 {
		return n.cfg.Raft.ElectionTick
	}
	return 10
}

func (n *Node) handlePropose(p *proposal) {
	if p.ctx.Err() != nil {
		p.ch <- outcome{err: fmt.Errorf("%w: %w", ErrNotProposed, p.ctx.Err())} // the caller gave up first
		return
	}
	var index, term uint64
	var err error
	if p.cc != nil {
		index, term, err = n.rn.ProposeConfChange(*p.cc)
	} else {
		index, term, err = n.rn.Propose(p.data)
	}
	if err != nil {
		p.ch <- outcome{err: err}
		return
	}
	p.index, p.term = index, term
	p.proposed.Store(term)
	n.waiters.Add(index, p)
}

func (n *Node) handleTransfer(t *transferRequest) {
	if n.lead == t.to {
		t.ch <- nil
		return
	}
	n.rn.TransferLeader(t.to)
	n.transfers = append(n.transfers, t)
}

// afterInputs starts a read round if one is due and handles every Ready.
func (n *Node) afterInputs() error {
	n.startReadRound()
	for n.rn.HasReady() {
		if err := n.handleReady(); err != nil {
			return err
		}
		n.startReadRound()
	}
	return nil
}

func (n *Node) failpoint(name string) {
	if n.cfg.Failpoint != nil {
		n.cfg.Failpoint(name)
	}
}

func (n *Node) handleReady() error {
	rd := n.rn.Ready()
	if n.hooks.onReady != nil {
		n.hooks.onReady(n.cfg.Raft.ID)
	}

	if rd.SoftState != nil {
		n.softStateChanged(*rd.SoftState)
	}
	if !rd.HardState.IsEmpty() && rd.HardState.Term != n.term {
		n.term = rd.HardState.Term
		n.emit(Event{Type: EventTermChanged})
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
		n.lazyHS = hs
		persist = false
	} else if persist && hs.IsEmpty() {
		hs = n.lazyHS
	}
	// Committed entries are durable on a quorum already, whatever this
	// Ready still has to write: apply them, and answer their clients, while
	// this node's write is pending rather than after it, so that a batch
	// committed during one write is not held back by the next one. Not with
	// a snapshot, which must be restored first.
	applyFirst := persist && rd.Snapshot.IsEmpty() && len(rd.CommittedEntries) > 0 && !n.hooks.applyAfterPersist
	late := rd.Messages
	switch {
	case n.hooks.sendBeforePersist:
		if len(rd.Messages) > 0 {
			n.cfg.Transport.Send(rd.Messages)
		}
		late = nil
	case persist && n.role == raft.StateLeader && rd.Snapshot.IsEmpty() && !n.hooks.noEarlyAppend:
		// 1a. A leader's appends leave before its own write (thesis
		// §10.2.1), so that the followers' fsyncs overlap the leader's.
		late = n.sendEarly(rd.Messages)
	}
	if applyFirst {
		if err := n.applyCommitted(rd.CommittedEntries); err != nil {
			return err
		}
	}
	// 1. Persist. Nothing else this Ready says may leave the node before this.
	if persist {
		n.failpoint(FailpointBeforePersist)
		if err := n.cfg.Store.Save(hs, rd.Entries, rd.Snapshot, rd.MustSync); err != nil {
			return fmt.Errorf("%w: %w", ErrPersist, err)
		}
		if !hs.IsEmpty() {
			n.durableTerm = hs.Term
		}
		n.lazyHS = raft.HardState{}
		n.failpoint(FailpointAfterPersist)
	}
	if !rd.Snapshot.IsEmpty() {
		if err := n.restore(rd.Snapshot); err != nil {
			return err
		}
	}
	// 2. Send.
	if len(late) > 0 {
		n.cfg.Transport.Send(late)
	}
	// 3. Apply (unless done before persisting).
	if !applyFirst {
		if err := n.applyCommitted(rd.CommittedEntries); err != nil {
			return err
		}
	}
	for _, rs := range rd.ReadStates {
		n.reads.Answered(rs)
	}
	// 4. Advance.
	n.rn.Advance(rd)

	for _, m := range rd.Messages {
		if m.Type == raft.MsgSnap {
			// The transport took it; if it is lost, the leader's probe
			// finds out and sends another.
			n.rn.ReportSnapshot(m.To, raft.SnapshotFinish)
		}
	}
	n.maybeSnapshot()
	n.publishStatus()
	// After publishing, so that a reader sees Status().Applied >= its index.
	n.answerReads()
	return nil
}

// sendEarly sends, before the Ready is persisted, the messages of a leader
// that may leave early, and returns the others (in their order), which
// must wait for the write. A message may leave early when it is an append
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
// Votes, vote and append responses, read-index and transfer messages, and
// everything from a non-leader still wait for the fsync.
func (n *Node) sendEarly(msgs []raft.Message) (late []raft.Message) {
	early := n.earlyBuf[:0]
	late = n.lateBuf[:0]
	for _, m := range msgs {
		if MayLeaveEarly(m, n.durableTerm) {
			early = append(early, m)
		} else {
			late = append(late, m)
		}
	}
	if len(early) > 0 {
		n.earlySent.Add(uint64(len(early)))
		n.cfg.Transport.Send(early)
	}
	// The buffers are reused by the next Ready: the transport copies each
	// message it queues.
	clear(early)
	n.earlyBuf = early
	n.lateBuf = late
	return late
}

// MayLeaveEarly says whether a leader may send m before the Ready that
// holds it is persisted, given the term of the hard state already in its
// store (see sendEarly for why): appends and heartbeats of that term only.
// Exported so that the harness's simulation drives the same rule.
func MayLeaveEarly(m raft.Message, durableTerm uint64) bool {
	return (m.Type == raft.MsgApp || m.Type == raft.MsgHeartbeat) && m.Term == durableTerm
}

// applyCommitted applies committed entries in order and resolves their
// waiters.
func (n *Node) applyCommitted(ents []raft.Entry) error {
	if len(ents) == 0 {
		return nil
	}
	n.failpoint(FailpointBeforeApply)
	for _, e := range ents {
		if err := n.apply(e); err != nil {
			return err
		}
	}
	n.failpoint(FailpointAfterApply)
	n.dropSuperseded(ents[len(ents)-1].Term, n.applied)
	return nil
}

func (n *Node) softStateChanged(ss raft.SoftState) {
	if ss.Lead != n.lead {
		n.lead = ss.Lead
		n.emit(Event{Type: EventLeaderChanged})
		kept := n.transfers[:0]
		for _, t := range n.transfers {
			if t.to == ss.Lead {
				t.ch <- nil
			} else {
				kept = append(kept, t)
			}
		}
		clear(n.transfers[len(kept):])
		n.transfers = kept
		// A read round in flight at the old leader will not be answered.
		n.reads.Retry()
	}
	if ss.RaftState != n.role {
		n.role = ss.RaftState
		n.emit(Event{Type: EventRoleChanged})
	}
}

// restore installs a snapshot the leader sent (already persisted).
func (n *Node) restore(s raft.Snapshot) error {
	if err := n.cfg.StateMachine.Restore(s.Data); err != nil {
		return fmt.Errorf("node: restore state machine from snapshot %d: %w", s.Metadata.Index, err)
	}
	// Proposals covered by the snapshot: their entries may or may not be
	// in it, and their results were never seen.
	n.waiters.CoveredBySnapshot(s.Metadata.Index, func(idx uint64, p *proposal) {
		p.ch <- outcome{err: fmt.Errorf("%w: entry %d was covered by a snapshot", ErrOutcomeUnknown, idx)}
	})
	n.applied = s.Metadata.Index
	n.snapIndex = s.Metadata.Index
	n.snapSize, n.bytesSinceSnap = len(s.Data), 0
	n.confState = s.Metadata.ConfState
	n.dropSuperseded(s.Metadata.Term, s.Metadata.Index)
	n.emit(Event{Type: EventSnapshotRestored, Index: s.Metadata.Index})
	return nil
}

func (n *Node) apply(e raft.Entry) error {
	if e.Index <= n.applied {
		return nil // already in the state machine (restored snapshot)
	}
	var o outcome
	switch e.Type {
	case raft.EntryNormal:
		if len(e.Data) > 0 {
			o.result = n.cfg.StateMachine.Apply(e.Index, e.Data)
		}
	case raft.EntryConfChange:
		var cc raft.ConfChange
		if err := cc.Unmarshal(e.Data); err != nil {
			return fmt.Errorf("node: conf change entry %d: %w", e.Index, err)
		}
		n.confState = n.rn.ApplyConfChange(cc)
		o.cs = n.confState
		if n.cfg.OnConfChange != nil {
			n.cfg.OnConfChange(cc, n.confState)
		}
		n.emit(Event{Type: EventConfChangeApplied, Index: e.Index, ConfChange: cc, ConfState: n.confState})
	}
	n.applied = e.Index
	n.bytesSinceSnap += uint64(len(e.Data))
	n.waiters.Resolve(e.Index, e.Term, func(p *proposal, mine bool) {
		if mine {
			p.ch <- o
		} else {
			p.ch <- outcome{err: fmt.Errorf("%w: entry %d of term %d replaced by term %d", ErrProposalDropped, e.Index, p.term, e.Term)}
		}
	})
	return nil
}

// dropSuperseded fails every waiter whose entry can no longer commit once
// an entry of term t is committed at index i (see Waiters.DropSuperseded).
func (n *Node) dropSuperseded(t, i uint64) {
	n.waiters.DropSuperseded(t, i, func(idx uint64, p *proposal) {
		p.ch <- outcome{err: fmt.Errorf("%w: entry %d of term %d superseded by a committed entry of term %d", ErrProposalDropped, idx, p.term, t)}
	})
}

// sweepExpired forgets requests whose callers gave up, so they do not pile
// up while their indexes are never reached.
func (n *Node) sweepExpired() {
	n.waiters.Sweep(func(p *proposal) bool { return p.ctx.Err() == nil })
	n.reads.Sweep()
	tk := n.transfers[:0]
	for _, t := range n.transfers {
		if t.ctx.Err() == nil {
			tk = append(tk, t)
		}
	}
	clear(n.transfers[len(tk):])
	n.transfers = tk
}

// startReadRound starts a read-index round for the queued reads, if none
// is in flight.
func (n *Node) startReadRound() {
	if rctx := n.reads.Start(); rctx != nil {
		n.readRounds.Add(1)
		n.rn.ReadIndex(rctx)
	}
}

// answerReads answers the reads whose read index is applied.
func (n *Node) answerReads() {
	n.reads.Due(n.applied, func(index uint64, r *readRequest) { r.ch <- readOutcome{index: index} })
}

// flushLazyHS writes the hard state whose commit-only change handleReady
// left out of the store, without fsync (the commit index is written lazily).
func (n *Node) flushLazyHS() error {
	if n.lazyHS.IsEmpty() {
		return nil
	}
	if err := n.cfg.Store.Save(n.lazyHS, nil, raft.Snapshot{}, false); err != nil {
		return fmt.Errorf("%w: %w", ErrPersist, err)
	}
	n.lazyHS = raft.HardState{}
	return nil
}

// maybeSnapshot starts a snapshot when SnapshotEvery entries were applied
// since the last one and none is being written. Only the capture happens
// here, on the driver goroutine; encoding, writing and compacting happen on
// the snapshot goroutine (writeSnapshot), so that a large state does not
// hold up the log writes and answers of the Readys that follow.
func (n *Node) maybeSnapshot() {
	every := n.cfg.SnapshotEvery
	if every == 0 || n.snapshotting || n.applied < n.snapRetryAt {
		return
	}
	stagger := n.snapshotStagger()
	if float64(n.applied-min(n.applied, n.snapIndex)) < stagger*float64(every) {
		return
	}
	if r := n.cfg.SnapshotLogRatio; r > 0 && n.snapSize > SnapshotRatioFloor && float64(n.bytesSinceSnap) < stagger*r*float64(n.snapSize) {
		return
	}
	// A snapshot at the applied index must not be ahead of the commit
	// index in the store: a restart would find the log committed only up
	// to an index below its snapshot.
	if err := n.flushLazyHS(); err != nil {
		n.logger.Error("write hard state before snapshot failed", "applied", n.applied, "err", err)
		n.snapRetryAt = n.applied + snapshotRetryGap(every)
		return
	}
	start := time.Now()
	encode, err := n.captureSnapshot()
	if err != nil {
		n.logger.Error("state machine snapshot failed", "applied", n.applied, "err", err)
		n.snapRetryAt = n.applied + snapshotRetryGap(every)
		return
	}
	n.snapshotting = true
	n.bytesSinceSnap = 0
	n.snapWG.Add(1)
	go n.writeSnapshot(n.applied, cloneConfState(n.confState), encode, time.Since(start))
}

// snapshotStagger is the factor StaggerSnapshots applies: 1+i/n for the
// i-th of the n members (voters by ID, then learners), 1 without it.
func (n *Node) snapshotStagger() float64 {
	if !n.cfg.StaggerSnapshots {
		return 1
	}
	members := len(n.confState.Voters) + len(n.confState.Learners)
	rank := 0
	for _, id := range n.confState.Voters {
		if id < n.id {
			rank++
		}
	}
	if !slices.Contains(n.confState.Voters, n.id) {
		rank = len(n.confState.Voters)
		for _, id := range n.confState.Learners {
			if id < n.id {
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

func (n *Node) captureSnapshot() (func() ([]byte, error), error) {
	if c, ok := n.cfg.StateMachine.(SnapshotCapturer); ok {
		return c.CaptureSnapshot()
	}
	data, err := n.cfg.StateMachine.Snapshot()
	if err != nil {
		return nil, err
	}
	return func() ([]byte, error) { return data, nil }, nil
}

// snapshotDone is what the snapshot goroutine reports to the loop.
type snapshotDone struct {
	index uint64 // the snapshot's index; 0 if it was not written
	stats SnapshotStats
	err   error
}

// writeSnapshot runs on the snapshot goroutine: it encodes the captured
// state, records it as the snapshot at index, and compacts the log. The
// store is safe for concurrent use, and the driver's reads of it tolerate a
// compaction between two calls (raft sends a snapshot when it finds the
// entries it wants compacted). Only committed, applied entries at or below
// index are compacted, and raft never needs those for applying.
func (n *Node) writeSnapshot(index uint64, cs raft.ConfState, encode func() ([]byte, error), capture time.Duration) {
	defer n.snapWG.Done()
	done := snapshotDone{stats: SnapshotStats{Capture: capture}}
	defer func() { n.snapc <- done }()
	t := time.Now()
	data, err := encode()
	if err != nil {
		done.err = fmt.Errorf("encode the state machine at %d: %w", index, err)
		return
	}
	done.stats.Bytes, done.stats.Encode = len(data), time.Since(t)
	t = time.Now()
	snap, err := n.cfg.Store.CreateSnapshot(index, cs, data)
	if err != nil {
		done.err = err
		return
	}
	done.index, done.stats.Write = snap.Metadata.Index, time.Since(t)
	n.failpoint(FailpointDuringSnapshot)
	t = time.Now()
	if snap.Metadata.Index > n.cfg.SnapshotCatchUpEntries {
		compact := snap.Metadata.Index - n.cfg.SnapshotCatchUpEntries
		if err := n.cfg.Store.Compact(compact); err != nil && !errors.Is(err, raft.ErrCompacted) {
			n.logger.Error("compact failed", "index", compact, "err", err)
		}
	}
	done.stats.Compact = time.Since(t)
}

// snapshotFinished takes the snapshot goroutine's report on the loop.
func (n *Node) snapshotFinished(d snapshotDone) {
	n.snapshotting = false
	switch {
	case d.err == nil:
		// A snapshot from the leader may have been restored meanwhile.
		n.snapIndex = max(n.snapIndex, d.index)
		n.snapSize = d.stats.Bytes
		n.emit(Event{Type: EventSnapshotTaken, Index: d.index, Snapshot: d.stats})
	case errors.Is(d.err, raft.ErrSnapOutOfDate):
		// A newer snapshot (from the leader) was installed first.
	default:
		n.logger.Error("create snapshot failed", "applied", n.applied, "err", d.err)
		n.snapRetryAt = n.applied + snapshotRetryGap(n.cfg.SnapshotEvery)
	}
	n.maybeSnapshot()
}

func cloneConfState(cs raft.ConfState) raft.ConfState {
	return raft.ConfState{Voters: slices.Clone(cs.Voters), Learners: slices.Clone(cs.Learners)}
}

func (n *Node) publishStatus() {
	st := n.rn.Status()
	n.status.Store(&st)
}

func (n *Node) emit(ev Event) {
	ev.Time = time.Now()
	ev.Node = n.id
	ev.Term, ev.Leader, ev.Role = n.term, n.lead, n.role
	n.events.publish(ev)
}

// shutdown fails every request the loop holds and closes donec. err is nil
// after Stop and the fatal error otherwise.
func (n *Node) shutdown(err error) {
	// The snapshot goroutine uses the store, which the caller may close
	// once Stop returns.
	n.snapWG.Wait()
	if err == nil {
		if ferr := n.flushLazyHS(); ferr != nil {
			n.logger.Warn("write hard state at stop failed", "err", ferr)
		}
	}
	if err != nil {
		n.logger.Error("node stopped on a fatal error; it will not continue", "err", err)
	} else {
		n.logger.Info("node stopped")
	}
	cause := ErrStopped
	if err != nil {
		cause = fmt.Errorf("%w: %w", ErrStopped, err)
	}
	for _, p := range n.waiters.Drain() {
		p.ch <- outcome{err: fmt.Errorf("%w: %w", ErrOutcomeUnknown, cause)}
	}
	for _, r := range n.reads.Drain() {
		r.ch <- readOutcome{err: cause}
	}
	for _, t := range n.transfers {
		t.ch <- cause
	}
	n.err = err
	n.emit(Event{Type: EventStopped, Err: err})
	n.events.close()
	close(n.donec)
}
