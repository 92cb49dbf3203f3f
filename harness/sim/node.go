package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/raftkv/raftkv/checker"
	"github.com/raftkv/raftkv/harness/cluster"
	"github.com/raftkv/raftkv/harness/nodeapi"
	"github.com/raftkv/raftkv/kvservice"
	"github.com/raftkv/raftkv/kvservice/fsm"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/boltstore"
	"github.com/raftkv/raftkv/raft/lazystore"
	"github.com/raftkv/raftkv/raft/node"
)

// simBase is the nodes' base clock: simulated time. Each node reads it
// through its own node.FaultClock, exactly as a real node reads the host
// clock through its FaultClock, so clock faults reach its ticks (elections,
// heartbeats, leases) the same way.
type simBase struct{ s *sim }

func (b simBase) Now() time.Time { return epoch.Add(time.Duration(b.s.now)) }

// snode is one simulated raftkv node: raft/node's Driver (the real core,
// the real per-Ready step, waiters and read batching) over the real KV
// state machine, driven by the simulated loop, with its disk, its API and
// its fault state.
type snode struct {
	s    *sim
	id   uint64
	name string

	state cluster.State
	// inc counts starts; events of an earlier incarnation are ignored.
	inc int

	// The disk: what survives a crash. durable is a MemoryStorage, or the
	// real bbolt store (raft/boltstore) in a file of the run's temporary
	// directory when boltPath is set; the process writes through a
	// lazystore, which keeps unsynced writes in memory until the next
	// synced one, so a crash can lose them.
	durable  raft.LogStore
	boltPath string

	// Process state, lost on a crash.
	drv   *node.Driver
	disk  *lazystore.Store
	fsm   *fsm.FSM
	clock *node.FaultClock
	// lead, role, term, applied and confState are the driver's, as of the
	// last step (read by the API, the faults and the run's checks).
	lead        uint64
	role        raft.StateType
	term        uint64
	applied     uint64
	confState   raft.ConfState
	startCommit uint64

	// checkLeaderLog: the node became leader; check its log once persisted.
	checkLeaderLog bool
	// joining: the disk was wiped; the node starts without bootstrapping.
	joining bool
	// joinUnderWay: a join loop (sim.join) is running for this node.
	joinUnderWay bool
	// stayLearner: the node joins as `raftkv --join --join-as-learner`
	// does, a learner the leader never promotes (a read replica).
	stayLearner bool
	lastPromote int64

	readyScheduled bool
	busyUntil      int64
	// outDelay delays what a step sends or answers after a synced write:
	// the fsyncs of the step so far.
	outDelay time.Duration
	// inbox holds what arrives while the process is stopped (SIGSTOP):
	// kernel buffers keep it until the process runs again.
	inbox []func()
	// conns are the API requests this process is serving.
	conns []*conn

	// Fault state held by the process (a restart clears it).
	rules   []nodeapi.NetRule
	fpName  string
	fpAfter int
}

// crashSignal is how a failpoint crashes a simulated process: raft/node's
// Failpoint hook panics with it, and guard makes the process exit, as the
// real node's failpoint exits the process.
type crashSignal struct{ failpoint string }

// newNode makes the i-th initial member. Its raft ID is i+1 (the
// simulation's stand-in for kvservice.RaftID of the name: the initial
// members derive each other's IDs); a node that joins again picks a new one
// (sim.join, kvservice.NewRaftID).
func newNode(s *sim, i int) *snode {
	return &snode{s: s, id: uint64(i + 1), name: cluster.NodeName(i), state: cluster.Down}
}

func (n *snode) running() bool { return n.state == cluster.Running }

func (n *snode) isLeader() bool { return n.lead == n.id && n.role == raft.StateLeader }

// guard runs f on the node's process. A failpoint's crash makes the
// process exit; any other panic (the raft core finding its state
// inconsistent, say) is recorded as a violation and the process exits (the
// supervisor restarts it), as a real node would.
func (n *snode) guard(where string, f func()) {
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		if c, ok := p.(crashSignal); ok {
			n.s.tracef("%s hit failpoint %s: exiting", n.name, c.failpoint)
		} else {
			n.s.observe(fmt.Errorf("%s panicked (%s): %v", n.name, where, p))
			n.s.res.NodeEvents = append(n.s.res.NodeEvents, checker.NodeEvent{Node: n.name, Time: n.s.histNow(), Kind: checker.NodePanic,
				Message: fmt.Sprint(p), Detail: []string{"in " + where}})
		}
		if n.state != cluster.Down {
			n.exit()
		}
	}()
	f()
	n.refresh()
}

// refresh copies what the rest of the simulation reads from the driver.
func (n *snode) refresh() {
	if n.drv == nil || n.state == cluster.Down {
		return
	}
	n.lead, n.role, n.term = n.drv.Lead(), n.drv.Role(), n.drv.Term()
	n.applied, n.confState = n.drv.Applied(), n.drv.ConfState()
}

// openDisk opens the node's durable store (creating it on the first start
// or after a wipe).
func (n *snode) openDisk() error {
	if n.durable != nil {
		return nil
	}
	if n.boltPath == "" {
		n.durable = raft.NewMemoryStorage()
		return nil
	}
	st, err := boltstore.Open(n.boltPath, boltstore.Options{NoSync: true})
	if err != nil {
		return err
	}
	n.durable = st
	return nil
}

// closeDisk closes a bbolt store (a crash: the file stays).
func (n *snode) closeDisk() {
	if st, ok := n.durable.(*boltstore.Store); ok {
		_ = st.Close()
		n.durable = nil
	}
}

// start (re)starts the process from its disk, with raft/node's driver and
// the node configuration kvservice runs with.
func (n *snode) start() { n.guard("start", n.doStart) }

func (n *snode) doStart() {
	s := n.s
	n.inc++
	if err := n.openDisk(); err != nil {
		// raftkv refuses to start on a log store it cannot trust (a
		// corrupt or inconsistent file is detected, reported, never
		// served): the process exits, and its supervisor gives up, as
		// systemd does after a few failed starts in a row. The node
		// stays down; the exit is a node-health event of the run.
		n.state = cluster.Down
		s.tracef("%s exited at start: its log store did not open: %v", n.name, err)
		s.res.NodeEvents = append(s.res.NodeEvents, checker.NodeEvent{Node: n.name, Time: s.histNow(), Kind: checker.NodeExit,
			Message: "refused to start: its log store did not open: " + err.Error()})
		return
	}
	n.state = cluster.Running
	n.disk = lazystore.New(n.durable)
	n.fsm = fsm.New()
	n.clock = node.NewFaultClock(simBase{s})
	n.readyScheduled, n.busyUntil, n.outDelay = false, 0, 0
	n.checkLeaderLog = false
	n.inbox, n.conns = nil, nil
	n.rules, n.fpName, n.fpAfter = nil, "", 0
	n.lead, n.role = 0, raft.StateFollower

	cfg := kvservice.NodeConfig(kvservice.RaftOptions{
		ID:                n.id,
		ElectionTimeout:   s.cfg.Node.ElectionTimeout.D(),
		HeartbeatInterval: s.cfg.Node.HeartbeatInterval.D(),
		LeaseReads:        s.cfg.ReadMode == "lease",
		SnapshotEvery:     s.cfg.Node.SnapshotEvery,
		SnapshotLogRatio:  1,
		Seed:              int64(s.rng.Uint64() >> 1),
		MaxAppendBytes:    s.cfg.Node.MaxAppendBytes,
		MaxInflight:       s.cfg.Node.MaxInflight,
		NoPreVote:         s.cfg.Node.PreVote != nil && !*s.cfg.Node.PreVote,
		NoCheckQuorum:     s.cfg.Node.CheckQuorum != nil && !*s.cfg.Node.CheckQuorum,
	})
	cfg.Clock = n.clock
	cfg.Store = observedStore{Store: n.disk, n: n}
	cfg.Transport = simTransport{n}
	cfg.StateMachine = n.fsm
	cfg.Failpoint = n.failpointHook
	fsmTable := n.fsm
	cfg.OnConfChange = func(cc raft.ConfChange, _ raft.ConfState) {
		// The member table as a raftkv node keeps it: names from the
		// conf changes' context, tombstones for removed IDs.
		must(kvservice.RecordConfChange(fsmTable, cc, s.nameOfID))
	}
	if !n.joining {
		cfg.Bootstrap = s.voters // used only when the disk is empty
	}
	inc := n.inc
	drv, err := node.NewDriver(cfg, node.DriverEnv{
		RunSnapshot: func(work func() node.SnapshotResult) { n.runSnapshot(inc, work) },
		Emit:        n.event,
		Trace: node.Trace{
			ReadRound: func(ctx []byte, st raft.BasicStatus) {
				s.chk.ObserveReadRequest(string(ctx))
				if st.RaftState == raft.StateLeader {
					s.chk.ObserveLeaderRead(string(ctx), st.ID, st.Term)
				}
			},
			ReadState: func(rs raft.ReadState) { s.observe(s.chk.ObserveReadState(n.id, rs)) },
			Committed: func(e raft.Entry) {
				s.observe(s.chk.ObserveCommitted(n.drv.Term(), e))
				if e.Index > s.commitChecked && n.drv.IsLeader() {
					s.commitChecked = e.Index
					s.checkCommitSafety(n, e)
				}
			},
			// The simulation forges no message: one the core drops as
			// invalid shows a node whose state is wrong (a follower that
			// lost entries it acknowledged), which used to be a panic.
			Step: func(m raft.Message, before, after raft.BasicStatus) {
				s.observe(s.chk.ObserveStep(m, before, after))
			},
			InvalidMessage: func(m raft.Message, err error) {
				s.observe(fmt.Errorf("%s dropped a message from a real peer as invalid: %v", n.name, err))
			},
		},
	})
	must(err)
	n.drv = drv
	st := drv.Status()
	n.startCommit = st.Commit
	n.refresh()
	hs, _, _ := n.disk.InitialState()
	snap, _ := n.disk.Snapshot()
	last, _ := n.disk.LastIndex()
	disk := "memory"
	if n.boltPath != "" {
		disk = "bolt"
	}
	s.tracef("%s started (term %d, commit %d, snapshot %d, last index %d, disk %s%s)", n.name, hs.Term, st.Commit, snap.Metadata.Index, last, disk,
		map[bool]string{true: ", empty: joining", false: ""}[last == 0 && n.joining])
	s.observe(s.chk.ObserveRestartState(n.id, hs))
	n.observeState()
	n.scheduleWake(n.inc)
	n.kick()
}

// event is the driver's event sink: the trace, and the new leader for the
// safety checker.
func (n *snode) event(ev node.Event) {
	s := n.s
	switch ev.Type {
	case node.EventRoleChanged, node.EventLeaderChanged:
		if ev.Type == node.EventRoleChanged || ev.Role != n.role {
			s.tracef("%s: %s, term %d, leader %s", n.name, ev.Role, ev.Term, s.nameOf(ev.Leader))
		}
		if ev.Type == node.EventRoleChanged && ev.Role == raft.StateLeader {
			s.observe(s.chk.ObserveLeader(ev.Term, n.id))
			s.observe(s.chk.ObserveElected(ev.Term, n.id, n.drv.Status().Config.Voters))
			n.checkLeaderLog = true
		}
	case node.EventConfChangeApplied:
		if !s.confIdx[ev.Index] {
			s.tracef("%s applied conf change %s %s at index %d: voters %v learners %v", n.name, ev.ConfChange.Type, s.nameOf(ev.ConfChange.NodeID), ev.Index, ev.ConfState.Voters, ev.ConfState.Learners)
		}
		s.confIdx[ev.Index] = true
	case node.EventSnapshotRestored:
		s.chk.ObserveCommitIndex(ev.Index)
		s.tracef("%s restored the snapshot at index %d", n.name, ev.Index)
	}
}

// runSnapshot is raft/node's snapshot goroutine on simulated time: the
// work runs a moment later (a stopped process runs it when resumed; a
// crashed one never), and its result goes back to the driver.
func (n *snode) runSnapshot(inc int, work func() node.SnapshotResult) {
	n.s.after(snapshotWork, func() {
		if n.inc != inc || n.state == cluster.Down {
			return
		}
		f := func() {
			n.guard("snapshot", func() {
				n.drv.SnapshotFinished(work())
				n.kick()
			})
		}
		if n.state == cluster.Paused {
			n.inbox = append(n.inbox, f)
			return
		}
		f()
	})
}

// snapshotWork is how long a snapshot's encode, write and compaction take.
const snapshotWork = 2 * time.Millisecond

// crash kills the process: everything but the disk is lost, and what was
// written but not synced may or may not have reached it (the OS may have
// written the page cache back first).
func (n *snode) crash() {
	if n.state == cluster.Down {
		return
	}
	s := n.s
	hsPending, entsPending := n.disk.Pending()
	lost := hsPending || entsPending > 0
	if lost && s.rng.IntN(2) == 0 {
		must(n.disk.Sync())
		lost = false
	}
	n.disk.Discard()
	s.tracef("%s crashed (%d open requests reset, unsynced writes lost: %v)", n.name, len(n.conns), lost)
	n.state = cluster.Down
	s.res.Crashes++
	conns := n.conns
	n.conns = nil
	for _, c := range conns {
		c.finish(reply{err: errConnLost}, 0)
	}
	n.closeDisk()
	n.drv, n.disk, n.fsm, n.clock = nil, nil, nil, nil
	n.inbox = nil
	n.rules, n.fpName, n.fpAfter = nil, "", 0
	n.lead, n.role = 0, raft.StateFollower
	n.readyScheduled = false
}

func (n *snode) pause() {
	if n.state == cluster.Running {
		n.state = cluster.Paused
		n.s.tracef("%s paused", n.name)
	}
}

func (n *snode) resume() {
	if n.state != cluster.Paused {
		return
	}
	n.state = cluster.Running
	n.s.tracef("%s resumed (%d queued inputs)", n.name, len(n.inbox))
	inbox := n.inbox
	n.inbox = nil
	for _, f := range inbox {
		if n.state != cluster.Running {
			break
		}
		f()
	}
	// The ticker fired while the process was stopped: raft/node takes that
	// tick in the same batch as the queued inputs, before it handles the
	// Ready (and starts a read round), so the clock's elapsed time reaches
	// raft before any queued read is answered.
	if n.state == cluster.Running {
		n.guard("tick", n.tick)
	}
	n.kick()
}

// wakeEvery is how often the driver's loop looks at its clock (raft/node
// wakes every TickInterval/4).
func (n *snode) wakeEvery() time.Duration {
	return max(n.s.cfg.Node.HeartbeatInterval.D()/4, 500*time.Microsecond)
}

func (n *snode) scheduleWake(inc int) {
	n.s.after(n.wakeEvery(), func() {
		if n.inc != inc || n.state == cluster.Down {
			return
		}
		n.scheduleWake(inc)
		if n.state == cluster.Running {
			n.guard("tick", n.tick)
		}
		if n.state == cluster.Running {
			n.guard("maintain", n.maybePromote)
		}
	})
}

// tick is the driver's ticker firing: Driver.Tick ticks raft once per
// TickInterval of the node's own clock.
func (n *snode) tick() {
	n.drv.Tick()
	n.kick()
}

// procDelay is how long a node takes to get to its Ready after an input:
// inputs arriving meanwhile are batched into the same Ready.
const procDelay = 20 * time.Microsecond

func (n *snode) kick() {
	if n.readyScheduled || n.state != cluster.Running {
		return
	}
	n.readyScheduled = true
	inc := n.inc
	n.s.at(max(n.s.now+int64(procDelay), n.busyUntil), func() {
		if n.inc != inc {
			return
		}
		n.readyScheduled = false
		if n.state == cluster.Running {
			n.guard("ready", n.processReady)
		}
	})
}

// processReady is raft/node's loop after a batch of inputs: every Ready,
// in the driver's order. What it sends or answers after a synced write
// leaves once that write's fsync is over; the node is busy until then.
func (n *snode) processReady() {
	n.outDelay = 0
	if err := n.drv.HandleReadies(); err != nil {
		// The real node stops for good and the process exits.
		n.s.observe(fmt.Errorf("%s: raft stopped: %v", n.name, err))
		n.exit()
		return
	}
	n.busyUntil = n.s.now + int64(n.outDelay)
	n.outDelay = 0
	n.observeState()
	if n.drv.HasReady() {
		n.kick() // the driver stopped at its bound of Readies per batch
	}
}

// observeState reports the state machine's (applied index, state hash) to
// the safety checker: nodes that applied the same prefix must agree.
func (n *snode) observeState() {
	a, h := n.fsm.StateHash()
	n.s.observe(n.s.chk.ObserveState(n.id, a, h))
}

// failpointHook is the driver's Failpoint: an armed crash failpoint makes
// the process exit there.
func (n *snode) failpointHook(name string) {
	if n.fpName == "" || n.fpName != "crash-"+name {
		return
	}
	if n.fpAfter > 0 {
		n.fpAfter--
		return
	}
	panic(crashSignal{failpoint: name})
}

// exit is the process exiting on its own: the process backend's supervisor
// restarts it after the seed's restart delay.
func (n *snode) exit() {
	n.crash()
	inc := n.inc
	n.s.after(n.s.restartDelay, func() {
		if n.state == cluster.Down && n.inc == inc {
			n.start()
		}
	})
}

// restartStream is the PCG stream of drawRestartDelay.
const restartStream = 0x7265737461

// drawRestartDelay draws how long, in this seed, a supervisor takes to
// restart a process that exited on its own (a crash failpoint): from a
// millisecond (systemd's Restart=always with no delay) to 300ms (the
// process backend's supervisor). A fast restart brings the process back
// while messages sent to it before the crash are still in flight, so it
// answers requests it had already answered before it crashed — the test
// of whatever it promised without writing it down first. From a stream of
// its own, so the seed's other draws stay what they were.
func drawRestartDelay(seed int64) time.Duration {
	r := rand.New(rand.NewPCG(uint64(seed), restartStream))
	return []time.Duration{time.Millisecond, 3 * time.Millisecond, 10 * time.Millisecond, 50 * time.Millisecond,
		300 * time.Millisecond, 300 * time.Millisecond}[r.IntN(6)]
}

// simTransport sends a step's messages on the simulated network: at once,
// or after the step's fsyncs so far.
type simTransport struct{ n *snode }

func (t simTransport) Send(msgs []raft.Message) {
	t.n.s.send(t.n, msgs, t.n.s.now+int64(t.n.outDelay))
}

// observedStore is the node's store as the driver sees it: each write is
// reported to the raft safety checker (votes, log matching, commit
// indexes, and the log of a new leader: Leader Completeness), and a synced
// one costs an fsync's time.
type observedStore struct {
	*lazystore.Store
	n *snode
}

func (o observedStore) Save(hs raft.HardState, ents []raft.Entry, snap raft.Snapshot, sync bool) error {
	n, s := o.n, o.n.s
	var prevTerm uint64
	prevOK := false
	var overwrites [][2]uint64 // index, old term: entries this write replaces
	if len(ents) > 0 {
		prevTerm, prevOK = o.storedTerm(ents[0].Index - 1)
		overwrites = o.replaced(ents)
	}
	if err := o.Store.Save(hs, ents, snap, sync); err != nil {
		return err
	}
	if len(overwrites) > 0 {
		newTerm := func(i uint64) uint64 {
			if k := i - ents[0].Index; k < uint64(len(ents)) {
				return ents[k].Term
			}
			return 0 // cut off after the write's last entry
		}
		for _, ow := range overwrites {
			s.observe(s.chk.ObserveOverwrite(n.id, ow[0], ow[1], newTerm(ow[0])))
		}
	}
	if !hs.IsEmpty() {
		s.observe(s.chk.ObserveVote(n.id, hs))
		s.chk.ObserveCommitIndex(hs.Commit)
	}
	if !snap.IsEmpty() {
		s.chk.ObserveCommitIndex(snap.Metadata.Index)
	}
	if len(ents) > 0 {
		s.observe(s.chk.ObserveEntries(ents[0].Index-1, prevTerm, prevOK, ents))
	}
	if sync || !snap.IsEmpty() {
		n.outDelay += s.net.fsync(s.rng)
	}
	if n.checkLeaderLog && n.drv != nil && n.drv.IsLeader() {
		n.checkLeaderLog = false
		first, _ := o.Store.FirstIndex()
		s.observe(s.chk.ObserveLeaderLog(n.id, n.drv.Term(), first-1, func(i uint64) (raft.Entry, bool) {
			ents, err := o.Store.Entries(i, i+1, math.MaxUint64)
			if err != nil || len(ents) == 0 {
				return raft.Entry{}, false
			}
			return ents[0], true
		}))
	}
	return nil
}

// storedTerm is the term of entry i as the store holds it — read from the
// entry itself, not from the store's Term (which a store may answer from a
// cache of its own) — or, for the entry just before the first one, from the
// snapshot's metadata.
func (o observedStore) storedTerm(i uint64) (uint64, bool) {
	snap, err := o.Store.Snapshot()
	if err != nil {
		return 0, false
	}
	return storedTerm(o.Store, snap.Metadata, i)
}

// storedTerm is the term of entry i of st, read from the entry itself, or
// from the metadata of st's snapshot for the entry the snapshot ends with
// (0 for index 0).
func storedTerm(st raft.Storage, snap raft.SnapshotMetadata, i uint64) (uint64, bool) {
	if i == 0 {
		return 0, true
	}
	if i == snap.Index {
		return snap.Term, true
	}
	ents, err := st.Entries(i, i+1, math.MaxUint64)
	if err != nil || len(ents) != 1 {
		return 0, false
	}
	return ents[0].Term, true
}

// replaced lists the stored entries a Save of ents replaces (index and old
// term): from the first stored entry whose term differs from the new one
// at its index to the end of the log, which the write cuts off (§5.3).
func (o observedStore) replaced(ents []raft.Entry) [][2]uint64 {
	last, err := o.Store.LastIndex()
	if err != nil {
		return nil
	}
	var out [][2]uint64
	conflict := false
	for i := ents[0].Index; i <= last; i++ {
		old, ok := o.storedTerm(i)
		if !ok {
			continue
		}
		if k := i - ents[0].Index; !conflict && k < uint64(len(ents)) && ents[k].Term == old {
			continue
		}
		conflict = true
		out = append(out, [2]uint64{i, old})
	}
	return out
}

// propose is Node.Propose: done gets the apply result, or the driver's
// error as the API words it (kvservice.DriverError).
func (n *snode) propose(data []byte, done func(fsm.Result, *apiError)) *proposal {
	p := &proposal{}
	p.p = &node.Proposal{Data: data, Live: func() bool { return !p.finished }, Done: func(o node.Outcome) {
		if o.Err != nil {
			p.finish(fsm.Result{}, driverError(n.name, o.Err))
			return
		}
		res, _ := o.Result.(fsm.Result)
		p.finish(res, nil)
	}}
	p.done = done
	n.drv.Propose(p.p)
	n.kick()
	return p
}

// proposal is a write waiting in the driver for its client's connection.
type proposal struct {
	p        *node.Proposal
	done     func(res fsm.Result, err *apiError)
	finished bool
}

func (p *proposal) finish(res fsm.Result, err *apiError) {
	if !p.finished {
		p.finished = true
		p.done(res, err)
	}
}

// term is the term the proposal was proposed in (0: refused).
func (p *proposal) term() uint64 { return p.p.ProposedTerm() }

type readReq struct {
	done     func(err *apiError)
	finished bool
}

// readIndex is Node.ReadIndex: done is called once the node has applied a
// read index obtained after the call.
func (n *snode) readIndex(done func(*apiError)) *readReq {
	r := &readReq{done: done}
	n.drv.Read(&node.ReadRequest{Live: func() bool { return !r.finished }, Done: func(_ uint64, err error) {
		if r.finished {
			return
		}
		r.finished = true
		if err != nil {
			r.done(driverError(n.name, err))
			return
		}
		r.done(nil)
	}})
	n.kick()
	return r
}

// driverError words a driver error as the KV API does.
func driverError(name string, err error) *apiError {
	e := kvservice.DriverError(name, err)
	return &apiError{code: e.Code, msg: e.Message, definite: e.Definite}
}

// stateHash is what /status reports: the applied index and the state
// machine's hash.
func (n *snode) stateHash() (uint64, string) {
	a, h := n.fsm.StateHash()
	return max(a, n.applied), h
}

// wipeDisk deletes a down node's disk.
func (n *snode) wipeDisk() {
	n.closeDisk()
	n.durable = nil
	if n.boltPath != "" {
		must(os.RemoveAll(n.boltPath))
		must(os.RemoveAll(n.boltPath + ".snap"))
	}
}

// useBolt makes the node's disk the real bbolt store, in a file of dir.
func (n *snode) useBolt(dir string) {
	n.boltPath = filepath.Join(dir, n.name, "raft.db")
	must(os.MkdirAll(filepath.Dir(n.boltPath), 0o755))
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}
