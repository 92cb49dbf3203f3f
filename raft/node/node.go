package node

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
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
	// FailpointBeforePersistVote is before-persist on a Ready that casts a
	// vote for another node only: the window in which a voter has decided
	// and not yet written it down — the moment a crash tests what it
	// promised before writing. (A candidate's vote for itself comes with
	// its new term: plain before-persist covers it.)
	FailpointBeforePersistVote = "before-persist-vote"
	FailpointBeforePersist     = "before-persist"
	FailpointAfterPersist      = "after-persist"
	// FailpointAfterPersistRepair is after-persist on a Ready whose
	// entries replace entries the store already held: a follower's log
	// repair (§5.3), where a conflicting suffix is cut off. A crash there
	// tests that the store's truncation is whole and durable (no old entry
	// left behind to come back at the next start, no stale cache), which
	// plain after-persist reaches only when one repair happens to be the
	// write its count lands on.
	FailpointAfterPersistRepair = "after-persist-repair"
	FailpointBeforeApply        = "before-apply"
	FailpointAfterApply         = "after-apply"
	FailpointDuringSnapshot     = "during-snapshot"
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

// Node runs a Driver on one goroutine. Its methods are safe for concurrent
// use.
type Node struct {
	cfg    Config
	id     uint64
	logger *slog.Logger

	// Inputs to the loop. Request channels are unbuffered so that a
	// completed send means the loop has taken the request.
	stepc     chan raft.Message
	propc     chan *Proposal
	readc     chan *ReadRequest
	transferc chan *TransferRequest
	reportc   chan func(*Driver)
	snapc     chan SnapshotResult // buffered 1: at most one snapshot runs
	stopc     chan struct{}
	donec     chan struct{}
	stopOnce  sync.Once

	status atomic.Pointer[raft.Status]
	err    error // why the loop ended; written before donec is closed
	events eventHub

	// d is owned by the loop goroutine (its counters are atomic).
	d *Driver
	// snapWG counts the snapshot goroutine, so that shutdown waits for it.
	snapWG sync.WaitGroup
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

// Start restores a node from cfg.Store (bootstrapping it if the store is
// empty and cfg.Bootstrap is set) and starts its goroutine.
func Start(cfg Config) (*Node, error) { return start(cfg, testHooks{}) }

func start(cfg Config, hooks testHooks) (*Node, error) {
	n := &Node{
		cfg:       cfg,
		id:        cfg.Raft.ID,
		stepc:     make(chan raft.Message, 4096),
		propc:     make(chan *Proposal),
		readc:     make(chan *ReadRequest),
		transferc: make(chan *TransferRequest),
		reportc:   make(chan func(*Driver), 256),
		snapc:     make(chan SnapshotResult, 1),
		stopc:     make(chan struct{}),
		donec:     make(chan struct{}),
	}
	d, err := newDriver(cfg, DriverEnv{
		RunSnapshot: func(work func() SnapshotResult) {
			n.snapWG.Add(1)
			go func() {
				defer n.snapWG.Done()
				n.snapc <- work()
			}()
		},
		Emit: func(ev Event) {
			ev.Time = time.Now()
			n.events.publish(ev)
		},
		PublishStatus: func(st raft.Status) { n.status.Store(&st) },
	}, hooks)
	if err != nil {
		return nil, err
	}
	n.d, n.cfg, n.logger = d, d.cfg, d.logger
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
	n.report(func(d *Driver) { d.ReportUnreachable(id) })
}

// ReportSnapshot tells raft how sending a snapshot to id ended. The driver
// already reports SnapshotFinish once it handed a snapshot to the transport.
func (n *Node) ReportSnapshot(id uint64, s raft.SnapshotStatus) {
	n.report(func(d *Driver) { d.ReportSnapshot(id, s) })
}

// report queues a hint for the loop; hints are dropped rather than block.
func (n *Node) report(f func(*Driver)) {
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
func (n *Node) ReadRounds() uint64 { return n.d.readRounds.Load() }

// InvalidMessages is how many messages from peers the core dropped because
// they broke an invariant no genuine peer breaks (raft.ErrInvalidMessage);
// each was logged as a warning.
func (n *Node) InvalidMessages() uint64 { return n.d.InvalidDropped() }

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
	o, err := n.propose(ctx, &Proposal{Data: data})
	if err != nil {
		return nil, err
	}
	return o.Result, nil
}

// ProposeConfChange proposes a membership change and waits until it is
// applied on this node, returning the configuration after it.
func (n *Node) ProposeConfChange(ctx context.Context, cc raft.ConfChange) (raft.ConfState, error) {
	o, err := n.propose(ctx, &Proposal{ConfChange: &cc})
	if err != nil {
		return raft.ConfState{}, err
	}
	return o.ConfState, nil
}

func (n *Node) propose(ctx context.Context, p *Proposal) (Outcome, error) {
	ch := make(chan Outcome, 1) // buffered: the loop never blocks on it
	p.Live = func() bool { return ctx.Err() == nil }
	p.Done = func(o Outcome) { ch <- o }
	select {
	case n.propc <- p:
	case <-ctx.Done():
		return Outcome{}, fmt.Errorf("%w: %w", ErrNotProposed, ctx.Err())
	case <-n.donec:
		return Outcome{}, ErrStopped
	}
	select {
	case o := <-ch:
		return o, o.Err
	case <-ctx.Done():
		select { // the answer may have raced with the deadline
		case o := <-ch:
			return o, o.Err
		default:
		}
		if t := p.ProposedTerm(); t != 0 {
			st := n.status.Load()
			if st.Term != t || st.RaftState != raft.StateLeader {
				return Outcome{}, fmt.Errorf("%w: %w", ErrLeadershipLost, ctx.Err())
			}
		}
		return Outcome{}, ctx.Err()
	case <-n.donec:
		select {
		case o := <-ch:
			return o, o.Err
		default:
			// The loop took the request but ended before proposing it.
			return Outcome{}, ErrStopped
		}
	}
}

type readOutcome struct {
	index uint64
	err   error
}

// ReadIndex returns an index such that a read of the state machine once it
// has applied that index is linearizable (thesis §6.4), and waits until
// this node has applied it. Concurrent calls share read-index rounds.
func (n *Node) ReadIndex(ctx context.Context) (uint64, error) {
	ch := make(chan readOutcome, 1)
	r := &ReadRequest{
		Live: func() bool { return ctx.Err() == nil },
		Done: func(index uint64, err error) { ch <- readOutcome{index, err} },
	}
	select {
	case n.readc <- r:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-n.donec:
		return 0, ErrStopped
	}
	select {
	case o := <-ch:
		return o.index, o.err
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-n.donec:
		select {
		case o := <-ch:
			return o.index, o.err
		default:
			return 0, ErrStopped
		}
	}
}

// TransferLeadership asks the leader to hand leadership to `to` and waits
// until this node sees `to` as the leader, or ctx ends.
func (n *Node) TransferLeadership(ctx context.Context, to uint64) error {
	ch := make(chan error, 1)
	t := &TransferRequest{To: to, Live: func() bool { return ctx.Err() == nil }, Done: func(err error) { ch <- err }}
	select {
	case n.transferc <- t:
	case <-ctx.Done():
		return ctx.Err()
	case <-n.donec:
		return ErrStopped
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-n.donec:
		select {
		case err := <-ch:
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
		err = n.d.HandleReadies()
	}
	n.shutdown(err)
}

// input waits for one input and handles it; it reports whether to stop.
func (n *Node) input(tickc <-chan time.Time) (stop bool) {
	select {
	case <-tickc:
		n.tick()
	case m := <-n.stepc:
		n.d.Step(m)
	case p := <-n.propc:
		n.d.Propose(p)
	case r := <-n.readc:
		n.d.Read(r)
	case t := <-n.transferc:
		n.d.Transfer(t)
	case f := <-n.reportc:
		f(n.d)
	case r := <-n.snapc:
		n.d.SnapshotFinished(r)
	case <-n.stopc:
		return true
	}
	return false
}

// tick steps the messages that are already queued, then lets the clock's
// time pass. After the loop was held up (a slow fsync, a machine too busy
// to schedule it), the heartbeats and their acknowledgements that arrived
// meanwhile are waiting in stepc while the clock owes several ticks at
// once; firing those first would time out a follower that did hear its
// leader, or make a leader step down for a quorum whose answers are
// sitting in the queue (issue 14's churn on a busy machine). Only what is
// queued now is taken, so a flood of messages cannot starve the clock.
func (n *Node) tick() {
	for range len(n.stepc) {
		n.d.Step(<-n.stepc)
	}
	n.d.Tick()
}

// tryInput handles one input if one is ready.
func (n *Node) tryInput(tickc <-chan time.Time) (ok, stop bool) {
	select {
	case <-tickc:
		n.tick()
	case m := <-n.stepc:
		n.d.Step(m)
	case p := <-n.propc:
		n.d.Propose(p)
	case r := <-n.readc:
		n.d.Read(r)
	case t := <-n.transferc:
		n.d.Transfer(t)
	case f := <-n.reportc:
		f(n.d)
	case r := <-n.snapc:
		n.d.SnapshotFinished(r)
	case <-n.stopc:
		return true, true
	default:
		return false, false
	}
	return true, false
}

// shutdown fails every request the loop holds and closes donec. err is nil
// after Stop and the fatal error otherwise.
func (n *Node) shutdown(err error) {
	// The snapshot goroutine uses the store, which the caller may close
	// once Stop returns.
	n.snapWG.Wait()
	n.d.Close(err)
	n.err = err
	n.events.close()
	close(n.donec)
}
