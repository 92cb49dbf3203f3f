package rafttest

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/raftkv/raftkv/raft"
)

// Options configure a simulation run. The zero value is usable.
type Options struct {
	// Steps is the number of faulty steps (one tick of simulated time
	// each) before the final heal-and-check phase. 0 means 300.
	Steps int
	// Nodes is the number of initial voters, 3 to 5; 0 lets the seed
	// choose.
	Nodes int
	// Trace, if set, receives a readable line per event (and the core's
	// log). Tracing does not change the run: the trace hash is the same.
	Trace io.Writer
	// SnapshotOnConfChange makes the simulated driver take a snapshot
	// right after applying a configuration change, so that the snapshot a
	// leader sends to a member it just added names that member. Without
	// it (the default) a new member may be offered an older snapshot that
	// does not name it, which the core must accept.
	SnapshotOnConfChange bool
	// LeaseReads serves ReadIndex from the leader's lease
	// (raft.ReadOnlyLeaseBased, with CheckQuorum) instead of a heartbeat
	// round. The simulation then keeps every clock at the same rate (no
	// skipped ticks), the condition under which a lease is meant to be
	// safe; the read checker stays the same.
	LeaseReads bool
	// Bugs deliberately breaks the simulated system, to show that the
	// checker catches what it should.
	Bugs Bugs

	// skipVoteCheck turns off the one-vote-per-term check, so that tests
	// can show that Election Safety catches a forgotten vote on its own.
	skipVoteCheck bool
	// tune adjusts the knobs drawn from the seed (tests aim faults with it).
	tune func(*params, *Network)
}

// Bugs are deliberate defects the simulation can inject. A correct core
// run with any of them set is expected to break a safety property for
// some seed; a checker that does not notice is broken.
type Bugs struct {
	// ForgetVote: a restarted node loses the vote it persisted, so it can
	// vote twice in a term.
	ForgetVote bool
	// SendBeforePersist: the driver sends a Ready's messages before it
	// persists the Ready, so a crash can lose acknowledged entries and
	// votes.
	SendBeforePersist bool
	// InflateCommit: the network raises the commit index carried by MsgApp
	// to the last index the message carries, so followers commit entries
	// no quorum holds.
	InflateCommit bool
	// LoseCommit: a restarted node finds its persisted commit index
	// lowered to its snapshot's index.
	LoseCommit bool
}

// Result summarizes a run.
type Result struct {
	Seed  uint64
	Steps int    // steps run, including the final phase
	Ticks uint64 // simulated time
	// Delivered, Dropped and Duplicated count messages.
	Delivered, Dropped, Duplicated uint64
	Leaders                        int    // terms that had a leader
	Committed                      uint64 // highest committed index
	Proposals                      int    // proposals accepted by a leader
	Reads                          int    // ReadIndex answers checked
	Crashes                        int
	ConfChanges                    int // conf changes applied (first node to apply each)
	Snapshots                      int // snapshots installed from a leader
	Transfers                      int // leadership transfers requested
	// TraceHash is a hash of every event of the run: the same seed and
	// Options give the same hash.
	TraceHash uint64
}

// params are the per-seed knobs, drawn once from the seed.
type params struct {
	electionTick, heartbeatTick int
	preVote, checkQuorum        bool
	maxSizePerMsg               uint64
	maxInflight                 int
	maxUncommitted              uint64
	maxCommittedPerReady        uint64
	snapEvery, snapKeep         uint64
	eagerReady, deferReady      float64
	tickSkip                    float64 // the most a node's clock may run slow
	crashRate, crashInReady     float64
	partitionRate               float64
	proposeRate, readRate       float64
	confRate, transferRate      float64
	campaignRate                float64
	maxDown                     int
	// parallelAppend: a leader sends MsgApp and MsgHeartbeat before it
	// persists its own new entries (thesis §10.2.1), which is safe only
	// because the core counts the leader's own log toward commitment
	// after Advance.
	parallelAppend bool
	// durableSM: the state machine (and the configuration it applied) is
	// durable, written with each applied entry, so a restarted node passes
	// Config.Applied above its snapshot (possibly above its persisted
	// commit index, which may be written lazily).
	durableSM bool
}

// crash points inside the handling of a Ready.
const (
	crashNone = iota
	crashBeforePersist
	crashAfterPersist // after persisting, in the middle of sending
	crashAfterSend
	crashAfterApply
)

type node struct {
	id      uint64
	initial bool // bootstrapped with the initial voters
	rn      *raft.RawNode
	stopped bool // removed from the cluster (or never admitted) and shut down
	// live is the storage the core reads; durable is what survives a
	// crash. Every Ready is written to both before its messages are sent,
	// except that a hard state from a Ready with MustSync false reaches
	// durable only with the next synced write (it may be lost).
	live, durable *raft.MemoryStorage
	pendingHS     raft.HardState
	hasPending    bool
	// durableCommit is the highest commit index written to durable, as
	// the simulation saw it (not as the disk says: a bug may change that).
	durableCommit uint64

	sm         StateMachine
	conf       raft.ConfState
	soft       raft.SoftState
	hs         raft.HardState // as of the last Ready
	leaderOf   uint64         // term it was leader of after its last Ready, or 0
	commitSeen uint64         // commit index whose entries were reported to the checker
	snapIndex  uint64         // index of the live storage's snapshot
	restartAt  uint64
	removedAt  int // step at which a node applied its removal; 0 if not removed
	pending    *pendingReady
	// tickSkip is the probability that this node's clock misses a tick:
	// each node's clock runs at its own rate.
	tickSkip float64
	// smDurable and confDurable are the state machine and configuration as
	// last written, in durableSM mode.
	smDurable   StateMachine
	confDurable raft.ConfState
	incarnation int
}

func (n *node) running() bool { return n.rn != nil }

// hasWork reports whether the driver has something to do for n.
func (n *node) hasWork() bool { return n.running() && (n.pending != nil || n.rn.HasReady()) }

// pendingReady is a Ready whose write is in progress: its early messages
// are sent, the rest waits for the write.
type pendingReady struct {
	rd      raft.Ready
	msgs    []raft.Message
	crashAt int
}

func (n *node) durableHardState() raft.HardState {
	hs, _, err := n.durable.InitialState()
	if err != nil {
		panic(err)
	}
	return hs
}

func (n *node) durableTerm() uint64 { return n.durableHardState().Term }
func (n *node) durableVote() uint64 { return n.durableHardState().Vote }

type sim struct {
	seed    uint64
	profile string
	opts    Options
	rng     *rand.Rand
	p       params
	net     *Network
	chk     *Checker
	nodes   []*node // sorted by id
	boot    []uint64

	step   int
	now    uint64
	nextID uint64
	seq    uint64
	final  bool
	res    Result
	hash   uint64

	// conf is the latest configuration applied by any node, at confIndex.
	conf      raft.ConfState
	confIndex uint64
	answered  map[string]uint64 // read contexts answered, with their index
	trace     io.Writer
	logger    raft.Logger
}

// Run simulates one cluster from seed and checks it. It returns the run's
// summary and, if a property was broken, a *Violation.
func Run(seed uint64, opts Options) (res Result, err error) {
	s := newSim(seed, opts)
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		var v *Violation
		switch x := r.(type) {
		case *Violation:
			v = x
		case error:
			v = &Violation{Property: PropPanic, Detail: x.Error() + "\n" + string(debug.Stack())}
		default:
			v = &Violation{Property: PropPanic, Detail: fmt.Sprint(x) + "\n" + string(debug.Stack())}
		}
		v.Seed, v.Step = seed, s.step
		s.tracef("VIOLATION %v", v)
		s.finishResult()
		res, err = s.res, v
	}()
	s.run()
	s.finishResult()
	return s.res, nil
}

func newSim(seed uint64, opts Options) *sim {
	if opts.Steps <= 0 {
		opts.Steps = 300
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed_0f_5a_f37e))
	s := &sim{
		seed:     seed,
		opts:     opts,
		rng:      rng,
		net:      NewNetwork(rng),
		chk:      NewChecker(),
		hash:     fnvOffset,
		answered: map[string]uint64{},
		trace:    opts.Trace,
	}
	s.res.Seed = seed
	if s.trace != nil {
		s.logger = &traceLogger{s: s}
	}
	f := rng.Float64
	s.p = params{
		electionTick:         10,
		heartbeatTick:        1 + rng.IntN(2),
		preVote:              rng.IntN(2) == 0,
		checkQuorum:          rng.IntN(2) == 0,
		maxSizePerMsg:        []uint64{64, 256, 4096, math.MaxUint64}[rng.IntN(4)],
		maxInflight:          1 + rng.IntN(8),
		maxUncommitted:       []uint64{0, 0, 2048}[rng.IntN(3)],
		maxCommittedPerReady: []uint64{0, 0, 64, 512}[rng.IntN(4)],
		snapEvery:            uint64(5 + rng.IntN(40)),
		snapKeep:             uint64(rng.IntN(8)),
		eagerReady:           0.3 + 0.7*f(),
		deferReady:           0.2 * f(),
		tickSkip:             0.1 * f(),
		crashRate:            0.03 * f(),
		crashInReady:         0.01 * f(),
		partitionRate:        0.08 * f(),
		proposeRate:          0.2 + 0.7*f(),
		readRate:             0.3 * f(),
		confRate:             0.04 * f(),
		transferRate:         0.02 * f(),
		campaignRate:         0.01 * f(),
		maxDown:              5 + rng.IntN(60),
		parallelAppend:       rng.IntN(2) == 0,
		durableSM:            rng.IntN(2) == 0,
	}
	s.net.DropRate = 0.1 * f()
	s.net.DupRate = 0.05 * f()
	s.net.DelayRate = 0.3 * f()
	s.net.LongDelayRate = 0.03 * f()
	s.net.LongDelay = 2 * s.p.electionTick
	// A quarter of the seeds each lean hard on one kind of fault.
	profile := []string{"mixed", "crashy", "hostile-network", "churn"}[rng.IntN(4)]
	switch profile {
	case "crashy":
		s.p.crashRate = 0.05 + 0.1*f()
		s.p.crashInReady = 0.01 + 0.04*f()
		s.p.maxDown = 1 + rng.IntN(15)
	case "hostile-network":
		s.net.DropRate = 0.1 + 0.2*f()
		s.net.DupRate = 0.1 * f()
		s.net.DelayRate = 0.3 + 0.4*f()
		s.net.LongDelayRate = 0.05 + 0.1*f()
		s.p.partitionRate = 0.05 + 0.1*f()
	case "churn":
		s.p.confRate = 0.05 + 0.1*f()
		s.p.transferRate = 0.02 + 0.05*f()
		s.p.snapEvery = uint64(2 + rng.IntN(8))
		s.p.campaignRate = 0.02 * f()
	}
	s.profile = profile
	if opts.LeaseReads {
		s.p.checkQuorum = true
		s.p.tickSkip = 0
	}
	if opts.tune != nil {
		opts.tune(&s.p, s.net)
	}
	n := opts.Nodes
	if n < 3 || n > 5 {
		n = 3 + rng.IntN(3)
	}
	for i := 1; i <= n; i++ {
		s.boot = append(s.boot, uint64(i))
	}
	s.nextID = uint64(n) + 1
	s.tracef("seed %d: %s, %d nodes, params %+v, drop %.3f dup %.3f delay %.3f long %.3f", seed, s.profile, n, s.p,
		s.net.DropRate, s.net.DupRate, s.net.DelayRate, s.net.LongDelayRate)
	return s
}

func (s *sim) run() {
	for _, id := range s.boot {
		n := &node{id: id, initial: true, durable: raft.NewMemoryStorage()}
		s.nodes = append(s.nodes, n)
		s.start(n)
	}
	for i := 0; i < s.opts.Steps; i++ {
		s.runStep()
	}
	s.checkLiveness()
}

func (s *sim) finishResult() {
	s.res.Steps = s.step
	s.res.Ticks = s.now
	s.res.Leaders = len(s.chk.leaders)
	s.res.Committed = s.chk.MaxCommitted()
	s.res.TraceHash = s.hash
}

// ev folds an event into the trace hash.
func (s *sim) ev(kind uint64, vals ...uint64) {
	s.hash = mix(s.hash, kind)
	for _, v := range vals {
		s.hash = mix(s.hash, v)
	}
}

func (s *sim) tracef(format string, args ...any) {
	if s.trace == nil {
		return
	}
	fmt.Fprintf(s.trace, "[%4d t%4d] %s\n", s.step, s.now, fmt.Sprintf(format, args...))
}

// must turns a checker error into a panic that Run recovers.
func (s *sim) must(err error) {
	if err == nil {
		return
	}
	var v *Violation
	if !errors.As(err, &v) {
		v = &Violation{Property: PropDriver, Detail: err.Error()}
	}
	panic(v)
}

func (s *sim) fail(prop, format string, args ...any) {
	panic(violation(prop, format, args...))
}

func (s *sim) node(id uint64) *node {
	i, ok := slices.BinarySearchFunc(s.nodes, id, func(n *node, id uint64) int {
		switch {
		case n.id < id:
			return -1
		case n.id > id:
			return 1
		}
		return 0
	})
	if !ok {
		return nil
	}
	return s.nodes[i]
}

func (s *sim) running() []*node {
	var out []*node
	for _, n := range s.nodes {
		if n.running() {
			out = append(out, n)
		}
	}
	return out
}

func (s *sim) ids(ns []*node) []uint64 {
	out := make([]uint64, len(ns))
	for i, n := range ns {
		out[i] = n.id
	}
	return out
}

// leader returns the running node that believes it leads the highest term.
func (s *sim) leader() *node {
	var best *node
	for _, n := range s.nodes {
		if n.running() && n.soft.RaftState == raft.StateLeader && (best == nil || n.hs.Term > best.hs.Term) {
			best = n
		}
	}
	return best
}

func (s *sim) raftConfig(n *node, applied uint64) *raft.Config {
	return &raft.Config{
		ID:                        n.id,
		ElectionTick:              s.p.electionTick,
		HeartbeatTick:             s.p.heartbeatTick,
		Storage:                   n.live,
		Applied:                   applied,
		MaxSizePerMsg:             s.p.maxSizePerMsg,
		MaxInflightMsgs:           s.p.maxInflight,
		MaxUncommittedEntriesSize: s.p.maxUncommitted,
		MaxCommittedSizePerReady:  s.p.maxCommittedPerReady,
		CheckQuorum:               s.p.checkQuorum,
		PreVote:                   s.p.preVote,
		ReadOnlyOption:            s.readOnly(),
		Seed:                      int64(s.rng.Uint64() >> 1),
		Logger:                    s.logger,
	}
}

func (s *sim) readOnly() raft.ReadOnlyOption {
	if s.opts.LeaseReads {
		return raft.ReadOnlyLeaseBased
	}
	return raft.ReadOnlySafe
}

// start (re)starts n from its durable storage alone.
func (s *sim) start(n *node) {
	n.incarnation++
	if s.opts.Bugs.ForgetVote && n.incarnation > 1 {
		hs, _, err := n.durable.InitialState()
		s.must(err)
		if hs.Vote != raft.None {
			hs.Vote = raft.None
			s.must(n.durable.Save(hs, nil, raft.Snapshot{}, true))
		}
	}
	if s.opts.Bugs.LoseCommit && n.incarnation > 1 {
		hs, _, err := n.durable.InitialState()
		s.must(err)
		snap, err := n.durable.Snapshot()
		s.must(err)
		if hs.Commit > snap.Metadata.Index {
			hs.Commit = snap.Metadata.Index
			s.must(n.durable.Save(hs, nil, raft.Snapshot{}, true))
		}
	}
	n.live = cloneStorage(n.durable)
	dhs, _, err := n.durable.InitialState()
	s.must(err)
	snap, err := n.live.Snapshot()
	s.must(err)
	n.sm = StateMachine{}
	n.conf = raft.ConfState{}
	if !snap.IsEmpty() {
		s.must(n.sm.Restore(snap.Data))
		n.conf = snap.Metadata.ConfState
	}
	n.snapIndex = snap.Metadata.Index
	n.tickSkip = s.p.tickSkip * s.rng.Float64()
	if s.p.durableSM && n.smDurable.Index > n.sm.Index {
		n.sm, n.conf = n.smDurable, n.confDurable
	}
	n.soft = raft.SoftState{}
	n.leaderOf = 0
	n.hasPending = false
	rn, err := raft.NewRawNode(s.raftConfig(n, n.sm.Index))
	if err != nil {
		s.fail(PropDriver, "node %d: NewRawNode: %v", n.id, err)
	}
	n.rn = rn
	last, err := n.live.LastIndex()
	s.must(err)
	if n.initial && last == 0 && snap.IsEmpty() {
		if err := rn.Bootstrap(s.boot); err != nil {
			s.fail(PropDriver, "node %d: Bootstrap: %v", n.id, err)
		}
	}
	st := rn.Status()
	if st.Commit < n.durableCommit {
		s.fail(PropCommitDurability, "node %d restarted with commit %d below its persisted commit %d", n.id, st.Commit, n.durableCommit)
	}
	n.hs = st.HardState
	s.must(s.chk.ObserveRestart(n.id, n.sm))
	// The durable commit index was reported when it was written; report it
	// again so the checker compares this incarnation's log with it.
	n.commitSeen = n.snapIndex
	s.observeCommit(n, max(dhs.Commit, n.sm.Index), st.Term)
	s.ev(1, n.id, uint64(n.incarnation), dhs.Term, dhs.Vote, dhs.Commit, n.snapIndex)
	s.tracef("node %d start #%d: durable hs %+v snapshot %d last %d", n.id, n.incarnation, dhs, n.snapIndex, last)
}

// cloneStorage copies what a MemoryStorage holds into a new one: what a
// restarted process reads back from its disk.
func cloneStorage(src *raft.MemoryStorage) *raft.MemoryStorage {
	dst := raft.NewMemoryStorage()
	hs, _, err := src.InitialState()
	if err != nil {
		panic(err)
	}
	snap, err := src.Snapshot()
	if err != nil {
		panic(err)
	}
	first, _ := src.FirstIndex()
	last, _ := src.LastIndex()
	var ents []raft.Entry
	if last >= first {
		ents, err = src.Entries(first, last+1, math.MaxUint64)
		if err != nil {
			panic(err)
		}
		for i := range ents {
			ents[i].Data = slices.Clone(ents[i].Data)
		}
	}
	if !snap.IsEmpty() {
		snap.Data = slices.Clone(snap.Data)
	}
	if err := dst.Save(hs, ents, snap, true); err != nil {
		panic(err)
	}
	return dst
}

// crash throws away n's process: the RawNode, the state machine and any
// write that was not synced (which may or may not have reached the disk).
func (s *sim) crash(n *node, where string) {
	lost := uint64(1)
	if n.hasPending && s.rng.IntN(2) == 0 {
		s.flushPending(n)
		lost = 0
	}
	n.hasPending = false
	n.pending = nil
	n.rn = nil
	n.live = nil
	n.restartAt = s.now + 1 + uint64(s.rng.IntN(s.p.maxDown))
	s.res.Crashes++
	s.ev(2, n.id, lost, n.restartAt)
	s.tracef("node %d CRASH %s (restart at t%d)", n.id, where, n.restartAt)
}

// saveSM writes the state machine to durable storage in durableSM mode.
func (s *sim) saveSM(n *node) {
	if s.p.durableSM {
		n.smDurable = n.sm
		n.confDurable = raft.ConfState{Voters: slices.Clone(n.conf.Voters), Learners: slices.Clone(n.conf.Learners)}
	}
}

// flushPending writes a hard state left unsynced to durable.
func (s *sim) flushPending(n *node) {
	if !n.hasPending {
		return
	}
	s.must(n.durable.Save(n.pendingHS, nil, raft.Snapshot{}, true))
	n.durableCommit = max(n.durableCommit, n.pendingHS.Commit)
	n.hasPending = false
}

// stop shuts n down for good (it was removed from the cluster).
func (s *sim) stop(n *node) {
	n.rn = nil
	n.pending = nil
	n.stopped = true
	s.ev(3, n.id)
	s.tracef("node %d stopped", n.id)
}

func (s *sim) runStep() {
	s.step++
	s.now++
	s.net.Advance(s.now)
	s.ev(4, s.now)
	if !s.final {
		s.faults()
		s.clients()
	}
	for _, n := range s.nodes {
		if s.final && n.removedAt != 0 && !n.stopped {
			s.stop(n) // the operator shuts down machines it removed
		}
		if !n.running() && !n.stopped && (s.final || n.restartAt <= s.now) {
			s.start(n)
		}
	}
	for _, n := range s.nodes {
		if n.running() && (s.final || n.tickSkip == 0 || s.rng.Float64() >= n.tickSkip) {
			n.rn.Tick()
		}
	}
	s.settle()
}

// settle delivers due messages and handles Readies until nothing is left
// to do in this tick (or a budget is spent: the rest waits a tick).
func (s *sim) settle() {
	for budget := 0; budget < 5000; budget++ {
		if env, cut, ok := s.net.Next(); ok {
			s.deliver(env, cut)
			continue
		}
		progressed := false
		order := slices.Clone(s.nodes)
		s.rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, n := range order {
			if n.hasWork() && (s.final || s.rng.Float64() >= s.p.deferReady) {
				s.handleReady(n)
				progressed = true
				budget++
			}
		}
		if !progressed {
			return
		}
	}
}

func (s *sim) deliver(env Envelope, cut bool) {
	m := env.Msg
	to, from := s.node(m.To), s.node(env.From)
	if cut || to == nil || !to.running() {
		s.res.Dropped++
		s.ev(5, uint64(m.Type), m.From, m.To, m.Term)
		if from != nil && from.running() {
			if m.Type == raft.MsgSnap {
				s.tracef("node %d: snapshot to %d failed", from.id, m.To)
				from.rn.ReportSnapshot(m.To, raft.SnapshotFailure)
			}
			if s.rng.IntN(2) == 0 {
				from.rn.ReportUnreachable(m.To)
			}
		}
		return
	}
	if s.opts.Bugs.InflateCommit && m.Type == raft.MsgApp && len(m.Entries) > 0 {
		m.Commit = max(m.Commit, m.Index+uint64(len(m.Entries)))
	}
	s.res.Delivered++
	s.ev(6, uint64(m.Type), m.From, m.To, m.Term, m.LogTerm, m.Index, m.Commit, uint64(len(m.Entries)), b2u(m.Reject))
	if s.trace != nil {
		s.tracef("deliver %s", fmtMsg(m))
	}
	before := to.rn.BasicStatus()
	err := to.rn.Step(m)
	s.must(s.chk.ObserveStep(m, before, to.rn.BasicStatus()))
	if err != nil && !errors.Is(err, raft.ErrStepPeerNotFound) && !errors.Is(err, raft.ErrProposalDropped) {
		s.tracef("node %d Step: %v", to.id, err)
	}
	if m.Type == raft.MsgSnap && from != nil && from.running() {
		from.rn.ReportSnapshot(m.To, raft.SnapshotFinish)
	}
	if to.hasWork() && s.rng.Float64() < s.p.eagerReady {
		s.handleReady(to)
	}
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func fmtMsg(m raft.Message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %d->%d term %d", m.Type, m.From, m.To, m.Term)
	if m.Index != 0 || m.LogTerm != 0 {
		fmt.Fprintf(&b, " logterm %d index %d", m.LogTerm, m.Index)
	}
	if len(m.Entries) > 0 {
		fmt.Fprintf(&b, " entries [%d..%d]", m.Entries[0].Index, m.Entries[len(m.Entries)-1].Index)
	}
	if m.Commit != 0 {
		fmt.Fprintf(&b, " commit %d", m.Commit)
	}
	if m.Reject {
		fmt.Fprintf(&b, " REJECT hint %d", m.RejectHint)
	}
	if m.Snapshot != nil {
		fmt.Fprintf(&b, " snapshot %d/%d", m.Snapshot.Metadata.Index, m.Snapshot.Metadata.Term)
	}
	if len(m.Context) > 0 {
		fmt.Fprintf(&b, " ctx %q", m.Context)
	}
	return b.String()
}

// leaderOnly reports whether only a leader sends messages of type t.
func leaderOnly(t raft.MessageType) bool {
	switch t {
	case raft.MsgApp, raft.MsgHeartbeat, raft.MsgSnap, raft.MsgTimeoutNow, raft.MsgReadIndexResp:
		return true
	}
	return false
}

// handleReady is the simulated driver: persist, send, apply, advance, with
// a possible crash between any two of these.
func (s *sim) handleReady(n *node) {
	if p := n.pending; p != nil {
		n.pending = nil
		s.ev(17, n.id)
		s.tracef("node %d: ready completes", n.id)
		s.completeReady(n, p.rd, p.msgs, p.crashAt)
		return
	}
	rd := n.rn.Ready()
	crashAt := crashNone
	if !s.final && s.rng.Float64() < s.p.crashInReady {
		crashAt = 1 + s.rng.IntN(4)
	}
	s.ev(7, n.id, rd.Term, rd.Vote, rd.Commit, uint64(len(rd.Entries)), uint64(len(rd.CommittedEntries)),
		uint64(len(rd.Messages)), rd.Snapshot.Metadata.Index, uint64(len(rd.ReadStates)), b2u(rd.MustSync), uint64(crashAt))
	if s.trace != nil {
		s.traceReady(n, rd)
	}
	s.checkReady(n, rd)

	// A leader whose term and vote are already durable may replicate its
	// new entries while it writes them (thesis §10.2.1).
	msgs := rd.Messages
	var early []raft.Message
	if s.p.parallelAppend && n.soft.RaftState == raft.StateLeader && !s.opts.Bugs.SendBeforePersist &&
		(rd.HardState.IsEmpty() || (rd.Term == n.durableTerm() && rd.Vote == n.durableVote())) {
		var rest []raft.Message
		for _, m := range rd.Messages {
			if m.Type == raft.MsgApp || m.Type == raft.MsgHeartbeat {
				early = append(early, m)
			} else {
				rest = append(rest, m)
			}
		}
		if len(early) > 0 {
			s.send(n, early, -1)
			msgs = rest
			if s.rng.IntN(2) == 0 {
				// The write is still in progress: the node keeps stepping
				// messages (acknowledgements of these very entries among
				// them) until a later event completes it.
				n.pending = &pendingReady{rd: rd, msgs: msgs, crashAt: crashAt}
				s.ev(16, n.id)
				s.tracef("node %d: ready in progress (%d messages sent early)", n.id, len(early))
				return
			}
		}
	}
	s.completeReady(n, rd, msgs, crashAt)
}

// completeReady persists rd, sends msgs, applies and advances, crashing
// at crashAt.
func (s *sim) completeReady(n *node, rd raft.Ready, msgs []raft.Message, crashAt int) {
	if s.opts.Bugs.SendBeforePersist {
		s.send(n, msgs, -1)
		if crashAt != crashNone {
			s.crash(n, "after sending, before persisting")
			return
		}
		s.persist(n, rd)
	} else {
		if crashAt == crashBeforePersist {
			s.crash(n, "before persisting a Ready")
			return
		}
		s.persist(n, rd)
		cut := -1
		if crashAt == crashAfterPersist {
			cut = s.rng.IntN(len(msgs) + 1)
		}
		s.send(n, msgs, cut)
		if crashAt == crashAfterPersist {
			s.crash(n, fmt.Sprintf("after persisting, having sent %d of %d messages", cut, len(msgs)))
			return
		}
		if crashAt == crashAfterSend {
			s.crash(n, "after sending, before applying")
			return
		}
	}
	s.apply(n, rd)
	if crashAt == crashAfterApply {
		s.crash(n, "after applying, before Advance")
		return
	}
	n.rn.Advance(rd)
	n.leaderOf = 0
	if n.soft.RaftState == raft.StateLeader {
		n.leaderOf = n.hs.Term
	}
}

func (s *sim) traceReady(n *node, rd raft.Ready) {
	var b strings.Builder
	fmt.Fprintf(&b, "node %d ready:", n.id)
	if rd.SoftState != nil {
		fmt.Fprintf(&b, " soft{lead %d %s}", rd.Lead, rd.RaftState)
	}
	if !rd.HardState.IsEmpty() {
		fmt.Fprintf(&b, " hs{term %d vote %d commit %d}", rd.Term, rd.Vote, rd.Commit)
	}
	if len(rd.Entries) > 0 {
		fmt.Fprintf(&b, " entries [%d..%d] (term %d..%d)", rd.Entries[0].Index, rd.Entries[len(rd.Entries)-1].Index,
			rd.Entries[0].Term, rd.Entries[len(rd.Entries)-1].Term)
	}
	if !rd.Snapshot.IsEmpty() {
		fmt.Fprintf(&b, " snapshot %d/%d %v", rd.Snapshot.Metadata.Index, rd.Snapshot.Metadata.Term, rd.Snapshot.Metadata.ConfState)
	}
	if len(rd.CommittedEntries) > 0 {
		fmt.Fprintf(&b, " apply [%d..%d]", rd.CommittedEntries[0].Index, rd.CommittedEntries[len(rd.CommittedEntries)-1].Index)
	}
	for _, r := range rd.ReadStates {
		fmt.Fprintf(&b, " read{%q %d}", r.RequestCtx, r.Index)
	}
	fmt.Fprintf(&b, " msgs %d sync %v", len(rd.Messages), rd.MustSync)
	s.tracef("%s", b.String())
}

// checkReady checks what a Ready says before it is persisted.
func (s *sim) checkReady(n *node, rd raft.Ready) {
	prev := n.hs
	if rd.SoftState != nil {
		if rd.RaftState != raft.StateFollower && rd.RaftState != n.soft.RaftState {
			// Only a voter of its own configuration may campaign or
			// lead; a learner or a node that is not (yet) a member never does.
			if !slices.Contains(n.rn.Status().Config.Voters, n.id) {
				s.fail(PropLearner, "node %d became %s while not a voter of its configuration %v", n.id, rd.RaftState, n.rn.Status().Config)
			}
		}
		n.soft = *rd.SoftState
	}
	var last uint64
	if n.leaderOf != 0 && len(rd.Entries) > 0 {
		var err error
		last, err = n.live.LastIndex()
		s.must(err)
	}
	s.must(CheckReady(n.id, prev, n.leaderOf, last, rd))
	if !rd.HardState.IsEmpty() {
		n.hs = rd.HardState
	}
	if n.soft.RaftState == raft.StateLeader {
		s.must(s.chk.ObserveLeader(n.hs.Term, n.id))
	}
}

func (s *sim) persist(n *node, rd raft.Ready) {
	if err := n.live.Save(rd.HardState, rd.Entries, rd.Snapshot, rd.MustSync); err != nil {
		s.fail(PropDriver, "node %d: save: %v", n.id, err)
	}
	if rd.MustSync || !rd.Snapshot.IsEmpty() {
		hs := rd.HardState
		if hs.IsEmpty() && n.hasPending {
			hs = n.pendingHS
		}
		n.hasPending = false
		if err := n.durable.Save(hs, rd.Entries, rd.Snapshot, true); err != nil {
			s.fail(PropDriver, "node %d: durable save: %v", n.id, err)
		}
		n.durableCommit = max(n.durableCommit, hs.Commit)
	} else if !rd.HardState.IsEmpty() {
		n.pendingHS, n.hasPending = rd.HardState, true
	}
	if !rd.HardState.IsEmpty() && !s.opts.skipVoteCheck {
		s.must(s.chk.ObserveVote(n.id, rd.HardState))
	}
	if !rd.Snapshot.IsEmpty() {
		snap := rd.Snapshot
		s.must(s.chk.ObserveSnapshot(n.id, snap, true))
		s.must(n.sm.Restore(snap.Data))
		n.conf = snap.Metadata.ConfState
		s.saveSM(n)
		n.snapIndex = snap.Metadata.Index
		n.commitSeen = max(n.commitSeen, snap.Metadata.Index)
		s.chk.ObserveCommitIndex(snap.Metadata.Index)
		s.res.Snapshots++
	}
	if len(rd.Entries) > 0 {
		first := rd.Entries[0].Index
		pt, err := n.live.Term(first - 1)
		s.must(s.chk.ObserveEntries(first-1, pt, err == nil, rd.Entries))
	}
	s.observeCommit(n, n.hs.Commit, n.hs.Term)
	if n.soft.RaftState == raft.StateLeader {
		s.checkLeaderLog(n)
	}
}

// observeCommit reports to the checker the entries of n's log up to its
// commit index ci, learned at term.
func (s *sim) observeCommit(n *node, ci, term uint64) {
	if ci <= n.commitSeen {
		return
	}
	last, err := n.live.LastIndex()
	s.must(err)
	if ci > last {
		s.fail(PropStateMachineSafety, "node %d commit index %d is beyond its last index %d", n.id, ci, last)
	}
	first, err := n.live.FirstIndex()
	s.must(err)
	lo := max(n.commitSeen+1, first)
	if lo <= ci {
		ents, err := n.live.Entries(lo, ci+1, math.MaxUint64)
		s.must(err)
		for _, e := range ents {
			s.must(s.chk.ObserveCommitted(term, e))
		}
	}
	s.chk.ObserveCommitIndex(ci)
	n.commitSeen = ci
}

func (s *sim) checkLeaderLog(n *node) {
	first, err := n.live.FirstIndex()
	s.must(err)
	last, err := n.live.LastIndex()
	s.must(err)
	var ents []raft.Entry
	if last >= first {
		ents, err = n.live.Entries(first, last+1, math.MaxUint64)
		s.must(err)
	}
	s.must(s.chk.ObserveLeaderLog(n.id, n.hs.Term, first-1, func(i uint64) (raft.Entry, bool) {
		if i < first || i > last {
			return raft.Entry{}, false
		}
		return ents[i-first], true
	}))
}

// send puts msgs on the network; if cut >= 0 only the first cut of them
// (the process dies in the middle).
func (s *sim) send(n *node, msgs []raft.Message, cut int) {
	for i, m := range msgs {
		if cut >= 0 && i >= cut {
			return
		}
		// A follower forwards MsgTransferLeader (whose From names the
		// transferee) and MsgReadIndex (whose From names the node that
		// asked) with From unchanged, as etcd does; everything else comes
		// from n.
		if m.From != n.id && m.Type != raft.MsgTransferLeader && m.Type != raft.MsgReadIndex {
			s.fail(PropDriver, "node %d sends a %s from %d", n.id, m.Type, m.From)
		}
		if leaderOnly(m.Type) && m.Term != 0 {
			s.must(s.chk.ObserveLeader(m.Term, m.From))
		}
		if m.Type == raft.MsgApp && len(m.Entries) > 0 {
			s.must(s.chk.ObserveEntries(m.Index, m.LogTerm, true, m.Entries))
		}
		switch s.net.Send(n.id, m) {
		case 0:
			s.res.Dropped++
			s.ev(8, uint64(m.Type), m.From, m.To)
		case 2:
			s.res.Duplicated++
			s.ev(9, uint64(m.Type), m.From, m.To)
		}
	}
}

func (s *sim) apply(n *node, rd raft.Ready) {
	confChanged := false
	for _, e := range rd.CommittedEntries {
		if err := n.sm.Apply(e); err != nil {
			s.fail(PropStateMachineSafety, "node %d: %v", n.id, err)
		}
		s.must(s.chk.ObserveApplied(n.id, e, n.sm.Hash))
		if e.Type == raft.EntryConfChange {
			var cc raft.ConfChange
			if err := cc.Unmarshal(e.Data); err != nil {
				s.fail(PropStateMachineSafety, "node %d: entry %d: %v", n.id, e.Index, err)
			}
			cs := n.rn.ApplyConfChange(cc)
			n.conf = cs
			// Bootstrap applies every initial voter at once, so the
			// configuration returned while applying the bootstrap entries
			// is the final one; compare from there on.
			if e.Index > uint64(len(s.boot)) {
				s.must(s.chk.ObserveConf(n.id, e.Index, cs))
			}
			s.onConfApplied(n, e.Index, cc, cs)
			confChanged = true
		}
	}
	if len(rd.CommittedEntries) > 0 {
		s.saveSM(n)
	}
	for _, r := range rd.ReadStates {
		s.must(s.chk.ObserveReadState(n.id, r))
		s.res.Reads++
		s.answered[string(r.RequestCtx)] = r.Index
	}
	s.maybeSnapshot(n, confChanged && s.opts.SnapshotOnConfChange)
}

func (s *sim) onConfApplied(n *node, index uint64, cc raft.ConfChange, cs raft.ConfState) {
	s.ev(10, n.id, index, uint64(cc.Type), cc.NodeID)
	s.tracef("node %d applied conf change %s %d at %d: %v", n.id, cc.Type, cc.NodeID, index, cs)
	if index <= s.confIndex {
		return
	}
	s.confIndex, s.conf = index, cs
	s.res.ConfChanges++
	if cc.Type == raft.ConfChangeRemoveNode {
		if r := s.node(cc.NodeID); r != nil && r.removedAt == 0 {
			r.removedAt = s.step
		}
	}
}

// maybeSnapshot snapshots the state machine every snapEvery entries and
// compacts the log, keeping snapKeep entries for followers that lag; force
// takes a snapshot now if anything was applied since the last one.
func (s *sim) maybeSnapshot(n *node, force bool) {
	if n.sm.Index <= n.snapIndex || (!force && n.sm.Index < n.snapIndex+s.p.snapEvery) {
		return
	}
	// A snapshot is a sync point: the hard state goes to disk with it, so
	// a restart never finds a snapshot above its persisted commit index.
	s.flushPending(n)
	idx, data := n.sm.Index, n.sm.Snapshot()
	snap, err := n.live.CreateSnapshot(idx, n.conf, data)
	if err != nil {
		s.fail(PropDriver, "node %d: create snapshot at %d: %v", n.id, idx, err)
	}
	if _, err := n.durable.CreateSnapshot(idx, n.conf, data); err != nil {
		s.fail(PropDriver, "node %d: durable snapshot at %d: %v", n.id, idx, err)
	}
	s.must(s.chk.ObserveSnapshot(n.id, snap, false))
	n.snapIndex = idx
	if idx > s.p.snapKeep {
		ci := idx - s.p.snapKeep
		for _, st := range []*raft.MemoryStorage{n.live, n.durable} {
			if err := st.Compact(ci); err != nil && !errors.Is(err, raft.ErrCompacted) {
				s.fail(PropDriver, "node %d: compact %d: %v", n.id, ci, err)
			}
		}
	}
	s.ev(11, n.id, idx)
	s.tracef("node %d snapshot at %d (conf %v), compacted to %d", n.id, idx, n.conf, idx-min(idx, s.p.snapKeep))
}

// faults injects this step's faults.
func (s *sim) faults() {
	r := s.rng.Float64
	all := s.ids(s.live())
	if r() < s.p.partitionRate && len(all) > 1 {
		switch s.rng.IntN(5) {
		case 0:
			s.net.Heal()
			s.tracef("heal")
			s.ev(20)
		case 1:
			id := all[s.rng.IntN(len(all))]
			s.net.Heal()
			s.net.Isolate(id, all)
			s.tracef("isolate %d", id)
			s.ev(21, id)
		case 2:
			sh := slices.Clone(all)
			s.rng.Shuffle(len(sh), func(i, j int) { sh[i], sh[j] = sh[j], sh[i] })
			k := 1 + s.rng.IntN(len(sh)-1)
			s.net.Heal()
			s.net.Partition(sh[:k], sh[k:])
			s.tracef("partition %v | %v", sh[:k], sh[k:])
			s.ev(22, uint64(k))
		default:
			a, b := all[s.rng.IntN(len(all))], all[s.rng.IntN(len(all))]
			if a != b {
				s.net.Cut(a, b)
				s.tracef("cut one way %d -> %d", a, b)
				s.ev(23, a, b)
			}
		}
	}
	if r() < 0.01 {
		s.net.DropRate = []float64{0, 0.02, 0.1, 0.3}[s.rng.IntN(4)]
		s.tracef("drop rate %.2f", s.net.DropRate)
		s.ev(24, uint64(s.net.DropRate*100))
	}
	if r() < s.p.crashRate {
		if run := s.running(); len(run) > 0 {
			s.crash(run[s.rng.IntN(len(run))], "between steps")
		}
	}
	if r() < s.p.confRate {
		s.confChange()
	}
	if r() < s.p.transferRate {
		s.transfer()
	}
	if r() < s.p.campaignRate {
		if run := s.running(); len(run) > 0 {
			n := run[s.rng.IntN(len(run))]
			s.tracef("node %d campaign", n.id)
			s.ev(25, n.id)
			_ = n.rn.Campaign()
		}
	}
	for _, n := range s.nodes {
		if n.removedAt != 0 && !n.stopped && r() < 0.05 {
			s.stop(n)
		}
	}
}

// live returns the nodes that are not shut down for good.
func (s *sim) live() []*node {
	var out []*node
	for _, n := range s.nodes {
		if !n.stopped {
			out = append(out, n)
		}
	}
	return out
}

func (s *sim) clients() {
	if s.rng.Float64() < s.p.proposeRate {
		n := s.leader()
		if n == nil || s.rng.IntN(5) == 0 {
			if run := s.running(); len(run) > 0 {
				n = run[s.rng.IntN(len(run))]
			}
		}
		if n != nil {
			s.propose(n, []byte(fmt.Sprintf("p%d", s.seq)))
			s.seq++
		}
	}
	if s.rng.Float64() < s.p.readRate {
		if run := s.running(); len(run) > 0 {
			n := run[s.rng.IntN(len(run))]
			s.read(n, fmt.Sprintf("r%d", s.seq))
			s.seq++
		}
	}
}

func (s *sim) propose(n *node, data []byte) (uint64, uint64, bool) {
	idx, term, err := n.rn.Propose(data)
	s.ev(12, n.id, idx, term, b2u(err == nil))
	if err != nil {
		s.tracef("node %d propose %q: %v", n.id, data, err)
		return 0, 0, false
	}
	s.tracef("node %d propose %q -> index %d term %d", n.id, data, idx, term)
	s.must(s.chk.ObserveLeader(term, n.id))
	s.must(s.chk.ObserveProposal(raft.Entry{Index: idx, Term: term, Type: raft.EntryNormal, Data: data}))
	s.res.Proposals++
	return idx, term, true
}

func (s *sim) read(n *node, rctx string) {
	s.chk.ObserveReadRequest(rctx)
	if st := n.rn.BasicStatus(); st.RaftState == raft.StateLeader {
		s.chk.ObserveLeaderRead(rctx, n.id, st.Term)
	}
	s.ev(13, n.id, s.chk.MaxCommitted())
	s.tracef("node %d read index %q (committed so far %d)", n.id, rctx, s.chk.MaxCommitted())
	n.rn.ReadIndex([]byte(rctx))
}

// confChange proposes one membership change at the leader: add a learner
// under a fresh ID, promote a learner, remove a member (a removed machine
// comes back only under a fresh ID), or rarely demote a voter.
func (s *sim) confChange() {
	l := s.leader()
	if l == nil {
		return
	}
	voters, learners := l.conf.Voters, l.conf.Learners
	var cc raft.ConfChange
	var fresh *node
	switch op := s.rng.IntN(4); {
	case op == 0 && len(voters)+len(learners) < 6 && len(learners) < 2:
		fresh = &node{id: s.nextID, durable: raft.NewMemoryStorage()}
		s.nextID++
		cc = raft.ConfChange{Type: raft.ConfChangeAddLearner, NodeID: fresh.id}
	case op == 1 && len(learners) > 0 && len(voters) < 5:
		cc = raft.ConfChange{Type: raft.ConfChangeAddVoter, NodeID: learners[s.rng.IntN(len(learners))]}
	case op == 2 && len(voters) > 3:
		cc = raft.ConfChange{Type: raft.ConfChangeRemoveNode, NodeID: voters[s.rng.IntN(len(voters))]}
	case op == 2 && len(learners) > 0:
		cc = raft.ConfChange{Type: raft.ConfChangeRemoveNode, NodeID: learners[s.rng.IntN(len(learners))]}
	case op == 3 && len(voters) > 3 && s.rng.IntN(3) == 0:
		cc = raft.ConfChange{Type: raft.ConfChangeAddLearner, NodeID: voters[s.rng.IntN(len(voters))]}
	default:
		return
	}
	if fresh != nil {
		s.nodes = append(s.nodes, fresh) // ids only grow: s.nodes stays sorted
		s.start(fresh)
	}
	data := cc.Marshal()
	idx, term, err := l.rn.ProposeConfChange(cc)
	s.ev(14, l.id, uint64(cc.Type), cc.NodeID, idx, term, b2u(err == nil))
	s.tracef("node %d propose conf change %s %d -> index %d term %d err %v", l.id, cc.Type, cc.NodeID, idx, term, err)
	if err != nil {
		if fresh != nil {
			s.stop(fresh) // never admitted
		}
		return
	}
	s.must(s.chk.ObserveLeader(term, l.id))
	s.must(s.chk.ObserveProposal(raft.Entry{Index: idx, Term: term, Type: raft.EntryConfChange, Data: data}))
}

func (s *sim) transfer() {
	l := s.leader()
	if l == nil || len(l.conf.Voters) < 2 {
		return
	}
	to := l.conf.Voters[s.rng.IntN(len(l.conf.Voters))]
	at := l
	if run := s.running(); s.rng.IntN(4) == 0 && len(run) > 0 {
		at = run[s.rng.IntN(len(run))] // a follower forwards it
	}
	s.res.Transfers++
	s.ev(15, at.id, to)
	s.tracef("node %d transfer leadership to %d", at.id, to)
	at.rn.TransferLeader(to)
}

// checkLiveness heals every fault, restarts every crashed member, and
// requires that a leader commits a fresh proposal that every voter applies
// and answers a ReadIndex, within a bounded number of ticks.
func (s *sim) checkLiveness() {
	s.final = true
	s.net.Heal()
	s.net.DropRate, s.net.DupRate, s.net.DelayRate, s.net.LongDelayRate = 0, 0, 0, 0
	for _, n := range s.nodes {
		if n.removedAt != 0 && !n.stopped {
			s.stop(n)
		}
	}
	s.tracef("FINAL: healed; checking liveness")
	deadline := s.now + uint64(60*s.p.electionTick)
	data := []byte("final")
	var idx, term uint64
	var proposer *node
	var readSent uint64
	const rctx = "final-read"
	for {
		s.runStep()
		if idx != 0 {
			if t, ok := s.chk.CommittedTerm(idx); ok && t != term {
				idx = 0 // overwritten by a new leader before it committed: propose again
			} else if !ok && (!proposer.running() || proposer.hs.Term != term || proposer.soft.RaftState != raft.StateLeader) {
				idx = 0 // its leader is gone; the entry may never commit
			}
		}
		if idx == 0 {
			if l := s.leader(); l != nil {
				proposer = l
				idx, term, _ = s.propose(l, data)
			}
			if s.now > deadline {
				s.fail(PropLiveness, "no leader commits a proposal by tick %d: %s", s.now, s.describe())
			}
			continue
		}
		if !s.appliedEverywhere(idx) {
			if s.now > deadline {
				s.fail(PropLiveness, "proposal at index %d term %d not applied on every voter of %v by tick %d: %s", idx, term, s.conf.Voters, s.now, s.describe())
			}
			continue
		}
		if ri, ok := s.answered[rctx]; ok {
			if ri < idx {
				s.fail(PropLinearizableRead, "final read answered %d below %d", ri, idx)
			}
			return
		}
		if l := s.leader(); l != nil && (readSent == 0 || s.now >= readSent+uint64(3*s.p.electionTick)) {
			readSent = s.now
			s.read(l, rctx)
		}
		if s.now > deadline {
			s.fail(PropLiveness, "final ReadIndex not answered by tick %d: %s", s.now, s.describe())
		}
	}
}

func (s *sim) appliedEverywhere(idx uint64) bool {
	if len(s.conf.Voters) == 0 {
		return false
	}
	for _, id := range s.conf.Voters {
		n := s.node(id)
		if n == nil || n.stopped {
			s.fail(PropDriver, "voter %d of %v is not running", id, s.conf.Voters)
		}
		if !n.running() || n.sm.Index < idx {
			return false
		}
	}
	return true
}

func (s *sim) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "config %v;", s.conf)
	for _, n := range s.nodes {
		if n.stopped {
			continue
		}
		fmt.Fprintf(&b, " node %d{%s term %d lead %d commit %d applied %d conf %v}", n.id, n.soft.RaftState, n.hs.Term, n.soft.Lead, n.hs.Commit, n.sm.Index, n.conf)
	}
	return b.String()
}

// traceLogger sends the core's log to the trace.
type traceLogger struct{ s *sim }

func (l *traceLogger) Debugf(f string, a ...any)   { l.s.tracef("  core: "+f, a...) }
func (l *traceLogger) Infof(f string, a ...any)    { l.s.tracef("  core: "+f, a...) }
func (l *traceLogger) Warningf(f string, a ...any) { l.s.tracef("  core WARN: "+f, a...) }
func (l *traceLogger) Errorf(f string, a ...any)   { l.s.tracef("  core ERROR: "+f, a...) }
func (l *traceLogger) Panicf(f string, a ...any) {
	msg := fmt.Sprintf(f, a...)
	l.s.tracef("  core PANIC: %s", msg)
	panic(msg)
}
