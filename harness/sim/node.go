package sim

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/raftkv/raftkv/harness/cluster"
	"github.com/raftkv/raftkv/harness/nodeapi"
	"github.com/raftkv/raftkv/kvservice/fsm"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/node"
)

// simBase is the nodes' base clock: simulated time. Each node reads it
// through its own node.FaultClock, exactly as a real node reads the host
// clock through its FaultClock, so clock faults reach its ticks (elections,
// heartbeats, leases) the same way.
type simBase struct{ s *sim }

func (b simBase) Now() time.Time { return epoch.Add(time.Duration(b.s.now)) }

// snode is one simulated raftkv node: the real raft.RawNode and the real
// fsm.FSM, driven by the simulated loop with the driver's rules (persist,
// send, apply, advance), its disk, its API and its fault state.
type snode struct {
	s    *sim
	id   uint64
	name string

	state cluster.State
	// inc counts starts; events of an earlier incarnation are ignored.
	inc int

	// The disk: what survives a crash. live (below) is what the process
	// reads; durable is updated only by synced writes.
	durable    *raft.MemoryStorage
	pendingHS  raft.HardState
	hasPending bool

	// Process state, lost on a crash.
	rn          *raft.RawNode
	live        *raft.MemoryStorage
	fsm         *fsm.FSM
	clock       *node.FaultClock
	lastTick    time.Time
	lead        uint64
	role        raft.StateType
	term        uint64
	applied     uint64
	snapIndex   uint64
	confState   raft.ConfState
	startCommit uint64
	waiters     *node.Waiters[*proposal]
	reads       *node.ReadBatcher[*readReq]

	// checkLeaderLog: the node became leader; check its log once persisted.
	checkLeaderLog bool
	// joining: the disk was wiped; the node starts without bootstrapping.
	joining     bool
	lastPromote int64

	readyScheduled bool
	busyUntil      int64
	// outDelay delays what a Ready sends or answers by its fsync.
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

type proposal struct {
	index, term uint64
	done        func(res fsm.Result, err *apiError)
	finished    bool
}

func (p *proposal) finish(res fsm.Result, err *apiError) {
	if !p.finished {
		p.finished = true
		p.done(res, err)
	}
}

type readReq struct {
	done     func(err *apiError)
	finished bool
}

func newNode(s *sim, i int) *snode {
	return &snode{s: s, id: uint64(i + 1), name: cluster.NodeName(i), state: cluster.Down, durable: raft.NewMemoryStorage()}
}

func (n *snode) running() bool { return n.state == cluster.Running }

func (n *snode) isLeader() bool { return n.lead == n.id && n.role == raft.StateLeader }

func (n *snode) electionTick() int {
	return max(2, int(n.s.cfg.Node.ElectionTimeout.D()/n.s.cfg.Node.HeartbeatInterval.D()))
}

// guard runs f on the node's process; a panic (the raft core finding its
// state inconsistent, say) is recorded as a violation and the process exits
// (the supervisor restarts it), as a real node would.
func (n *snode) guard(where string, f func()) {
	defer func() {
		if p := recover(); p != nil {
			n.s.observe(fmt.Errorf("%s panicked (%s): %v", n.name, where, p))
			if n.state != cluster.Down {
				n.exit()
			}
		}
	}()
	f()
}

// start (re)starts the process from its disk, as raft/node.Start does.
func (n *snode) start() { n.guard("start", n.doStart) }

func (n *snode) doStart() {
	s := n.s
	n.inc++
	n.state = cluster.Running
	hs, cs, err := n.durable.InitialState()
	must(err)
	snap, err := n.durable.Snapshot()
	must(err)
	last, err := n.durable.LastIndex()
	must(err)
	empty := hs.IsEmpty() && snap.IsEmpty() && last == 0

	n.live = cloneStorage(n.durable)
	n.fsm = fsm.New()
	var applied uint64
	if !snap.IsEmpty() {
		must(n.fsm.Restore(snap.Data))
		applied = snap.Metadata.Index
	}
	ro := raft.ReadOnlySafe
	if s.cfg.ReadMode == "lease" {
		ro = raft.ReadOnlyLeaseBased
	}
	rn, err := raft.NewRawNode(&raft.Config{
		ID: n.id, ElectionTick: n.electionTick(), HeartbeatTick: 1, Storage: n.live, Applied: applied,
		MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256, CheckQuorum: true, PreVote: true,
		ReadOnlyOption: ro, Seed: int64(s.rng.Uint64() >> 1),
	})
	must(err)
	if empty && !n.joining {
		must(rn.Bootstrap(s.voters))
	}
	n.rn = rn
	n.clock = node.NewFaultClock(simBase{s})
	n.lastTick = n.clock.Now()
	st := rn.Status()
	n.lead, n.role, n.term = st.Lead, st.RaftState, hs.Term
	n.applied, n.snapIndex, n.confState = applied, snap.Metadata.Index, cs
	n.startCommit = st.Commit
	n.waiters = n.newWaiters()
	n.reads = n.newReadBatcher()
	n.readyScheduled, n.busyUntil, n.outDelay = false, 0, 0
	n.checkLeaderLog = false
	n.inbox, n.conns = nil, nil
	n.rules, n.fpName, n.fpAfter = nil, "", 0
	s.tracef("%s started (term %d, commit %d, snapshot %d, last index %d%s)", n.name, hs.Term, st.Commit, snap.Metadata.Index, last,
		map[bool]string{true: ", empty: joining", false: ""}[empty && n.joining])
	n.scheduleWake(n.inc)
	n.kick()
}

// crash kills the process: everything but the disk is lost, and a write
// that was not synced may or may not have reached it.
func (n *snode) crash() {
	if n.state == cluster.Down {
		return
	}
	s := n.s
	lost := n.hasPending
	if n.hasPending && s.rng.IntN(2) == 0 {
		n.flushPending()
		lost = false
	}
	s.tracef("%s crashed (%d open requests reset, unsynced hard state lost: %v)", n.name, len(n.conns), lost)
	n.hasPending = false
	n.state = cluster.Down
	s.res.Crashes++
	conns := n.conns
	n.conns = nil
	for _, c := range conns {
		c.finish(reply{err: errConnLost}, 0)
	}
	n.rn, n.live, n.fsm, n.clock = nil, nil, nil, nil
	n.waiters, n.reads = n.newWaiters(), n.newReadBatcher()
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

// tick fires one raft tick per TickInterval of the node's own clock time
// elapsed, at most 2*ElectionTick at once; a clock that went backwards
// ticks nothing until it is past where it was (raft/node's tickSource).
func (n *snode) tick() {
	interval := n.s.cfg.Node.HeartbeatInterval.D()
	now := n.clock.Now()
	el := now.Sub(n.lastTick)
	if el < interval {
		return
	}
	k := int(el / interval)
	if maxTicks := 2 * n.electionTick(); k > maxTicks {
		n.lastTick = now
		k = maxTicks
	} else {
		n.lastTick = n.lastTick.Add(time.Duration(k) * interval)
	}
	for range k {
		n.rn.Tick()
	}
	n.reads.Tick(k, n.electionTick())
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

func (n *snode) processReady() {
	n.startReadRound()
	for n.running() && n.rn.HasReady() {
		if !n.handleReady() {
			return
		}
		n.startReadRound()
	}
}

// failpoint reports whether the named driver failpoint crashed the node
// (the process exits; the process backend's supervisor restarts it).
func (n *snode) failpoint(name string) bool {
	if n.fpName == "" || n.fpName != "crash-"+name {
		return false
	}
	if n.fpAfter > 0 {
		n.fpAfter--
		return false
	}
	n.exit()
	return true
}

// exit is the process exiting on its own: the process backend's supervisor
// restarts it after restartDelay.
func (n *snode) exit() {
	n.crash()
	inc := n.inc
	n.s.after(restartDelay, func() {
		if n.state == cluster.Down && n.inc == inc {
			n.start()
		}
	})
}

// restartDelay is how long the supervisor takes to restart a process that
// exited on its own.
const restartDelay = 300 * time.Millisecond

// handleReady handles one Ready in raft/node's order: a leader's early
// appends, committed entries applied, persist, the other messages, advance.
// It returns false if a failpoint crashed the node.
func (n *snode) handleReady() bool {
	s := n.s
	rd := n.rn.Ready()
	n.outDelay = 0
	defer func() { n.outDelay = 0 }()
	if !rd.HardState.IsEmpty() {
		n.term = rd.HardState.Term
	}
	if rd.SoftState != nil {
		n.softStateChanged(*rd.SoftState)
	}
	if s.cfg.bugs.sendBeforePersist {
		s.send(n, rd.Messages, s.now)
		if len(rd.Messages) > 0 && s.rng.IntN(50) == 0 {
			n.exit()
			return false
		}
	}
	// raft/node's order: a leader's appends and heartbeats of a durable
	// term leave before its own write (thesis §10.2.1), and committed
	// entries are applied before the Ready's write (they are durable on a
	// quorum already); everything else waits for the write.
	persist := !rd.HardState.IsEmpty() || len(rd.Entries) > 0 || !rd.Snapshot.IsEmpty()
	late := rd.Messages
	if !s.cfg.bugs.sendBeforePersist && persist && n.role == raft.StateLeader && rd.Snapshot.IsEmpty() {
		hs, _, _ := n.durable.InitialState()
		var early []raft.Message
		late = nil
		for _, m := range rd.Messages {
			if node.MayLeaveEarly(m, hs.Term) {
				early = append(early, m)
			} else {
				late = append(late, m)
			}
		}
		s.send(n, early, s.now)
	}
	applyFirst := persist && rd.Snapshot.IsEmpty() && len(rd.CommittedEntries) > 0
	if applyFirst && !n.applyCommitted(rd.CommittedEntries) {
		return false
	}
	// 1. Persist: nothing else this Ready says leaves the node before.
	if persist {
		if n.failpoint(node.FailpointBeforePersist) {
			return false
		}
		n.save(rd)
		n.observePersisted(rd)
		if rd.MustSync {
			n.outDelay = s.net.fsync(s.rng)
		}
		if n.failpoint(node.FailpointAfterPersist) {
			return false
		}
	}
	if !rd.Snapshot.IsEmpty() {
		n.restore(rd.Snapshot)
	}
	// 2. Send, once the write is on disk.
	if !s.cfg.bugs.sendBeforePersist {
		s.send(n, late, s.now+int64(n.outDelay))
	}
	// 3. Apply (unless done before persisting).
	if !applyFirst && !n.applyCommitted(rd.CommittedEntries) {
		return false
	}
	for _, rs := range rd.ReadStates {
		s.observe(s.chk.ObserveReadState(n.id, rs))
		n.reads.Answered(rs)
	}
	// 4. Advance.
	n.rn.Advance(rd)
	for _, m := range rd.Messages {
		if m.Type == raft.MsgSnap {
			n.rn.ReportSnapshot(m.To, raft.SnapshotFinish)
		}
	}
	if !n.maybeSnapshot() {
		return false
	}
	n.answerReads()
	n.busyUntil = s.now + int64(n.outDelay)
	return true
}

// applyCommitted applies committed entries between their failpoints; it
// returns false if a failpoint crashed the node.
func (n *snode) applyCommitted(ents []raft.Entry) bool {
	if len(ents) == 0 {
		return true
	}
	if n.failpoint(node.FailpointBeforeApply) {
		return false
	}
	for _, e := range ents {
		n.apply(e)
	}
	if n.failpoint(node.FailpointAfterApply) {
		return false
	}
	n.dropSuperseded(ents[len(ents)-1].Term, n.applied)
	return true
}

func (n *snode) softStateChanged(ss raft.SoftState) {
	if ss.Lead != n.lead || ss.RaftState != n.role {
		n.s.tracef("%s: %s, term %d, leader %s", n.name, ss.RaftState, n.term, n.s.nameOf(ss.Lead))
	}
	if ss.Lead != n.lead {
		n.lead = ss.Lead
		n.reads.Retry()
	}
	if ss.RaftState == raft.StateLeader && n.role != raft.StateLeader {
		n.s.observe(n.s.chk.ObserveLeader(n.term, n.id))
		n.checkLeaderLog = true
	}
	n.role = ss.RaftState
}

// observePersisted reports a persisted Ready to the raft safety checker
// (raft/rafttest's): votes, log matching, commit indexes, and the log of a
// new leader (Leader Completeness).
func (n *snode) observePersisted(rd raft.Ready) {
	s := n.s
	if !rd.HardState.IsEmpty() {
		s.observe(s.chk.ObserveVote(n.id, rd.HardState))
		s.chk.ObserveCommitIndex(rd.HardState.Commit)
	}
	if len(rd.Entries) > 0 {
		first := rd.Entries[0].Index
		pt, err := n.live.Term(first - 1)
		s.observe(s.chk.ObserveEntries(first-1, pt, err == nil, rd.Entries))
	}
	if n.checkLeaderLog && n.isLeader() {
		n.checkLeaderLog = false
		first, _ := n.live.FirstIndex()
		s.observe(s.chk.ObserveLeaderLog(n.id, n.term, first-1, func(i uint64) (raft.Entry, bool) {
			ents, err := n.live.Entries(i, i+1, math.MaxUint64)
			if err != nil || len(ents) == 0 {
				return raft.Entry{}, false
			}
			return ents[0], true
		}))
	}
}

// save writes a Ready to the disk: the live store always, the durable copy
// only when the write is synced (an unsynced hard state waits for the next
// synced write, and a crash loses it half of the time).
func (n *snode) save(rd raft.Ready) {
	must(n.live.Save(rd.HardState, rd.Entries, rd.Snapshot, rd.MustSync))
	if n.s.cfg.bugs.unsyncedDisk && n.applied > 0 {
		return
	}
	if rd.MustSync || !rd.Snapshot.IsEmpty() {
		hs := rd.HardState
		if hs.IsEmpty() && n.hasPending {
			hs = n.pendingHS
		}
		n.hasPending = false
		must(n.durable.Save(hs, rd.Entries, rd.Snapshot, true))
	} else if !rd.HardState.IsEmpty() {
		n.pendingHS, n.hasPending = rd.HardState, true
	}
}

func (n *snode) flushPending() {
	if n.hasPending {
		must(n.durable.Save(n.pendingHS, nil, raft.Snapshot{}, true))
		n.hasPending = false
	}
}

func (n *snode) restore(snap raft.Snapshot) {
	must(n.fsm.Restore(snap.Data))
	n.waiters.CoveredBySnapshot(snap.Metadata.Index, func(idx uint64, p *proposal) {
		p.finish(fsm.Result{}, &apiError{code: "internal", msg: fmt.Sprintf("node: outcome unknown: entry %d was covered by a snapshot", idx)})
	})
	n.s.chk.ObserveCommitIndex(snap.Metadata.Index)
	n.applied = snap.Metadata.Index
	n.snapIndex = snap.Metadata.Index
	n.confState = snap.Metadata.ConfState
	n.dropSuperseded(snap.Metadata.Term, snap.Metadata.Index)
}

func (n *snode) apply(e raft.Entry) {
	n.s.observe(n.s.chk.ObserveCommitted(n.term, e))
	if e.Index <= n.applied {
		return
	}
	var res fsm.Result
	switch e.Type {
	case raft.EntryNormal:
		if len(e.Data) > 0 {
			res = n.fsm.Apply(e.Index, e.Data).(fsm.Result)
		}
	case raft.EntryConfChange:
		var cc raft.ConfChange
		must(cc.Unmarshal(e.Data))
		n.confState = n.rn.ApplyConfChange(cc)
		if !n.s.confIdx[e.Index] {
			n.s.tracef("%s applied conf change %s %s at index %d: voters %v learners %v", n.name, cc.Type, n.s.nameOf(cc.NodeID), e.Index, n.confState.Voters, n.confState.Learners)
		}
		n.s.confIdx[e.Index] = true
	}
	n.applied = e.Index
	n.waiters.Resolve(e.Index, e.Term, func(p *proposal, mine bool) {
		if mine {
			p.finish(res, nil)
		} else {
			p.finish(fsm.Result{}, &apiError{code: "proposal_dropped", definite: true,
				msg: fmt.Sprintf("entry %d of term %d replaced by term %d", e.Index, p.term, e.Term)})
		}
	})
}

// dropSuperseded is raft/node's: a proposal of a lower term at a higher
// index than a committed entry of term t can never commit.
func (n *snode) dropSuperseded(t, i uint64) {
	n.waiters.DropSuperseded(t, i, func(idx uint64, p *proposal) {
		p.finish(fsm.Result{}, &apiError{code: "proposal_dropped", definite: true,
			msg: fmt.Sprintf("entry %d of term %d superseded by a committed entry of term %d", idx, p.term, t)})
	})
}

func (n *snode) maybeSnapshot() bool {
	every := n.s.cfg.Node.SnapshotEvery
	if every == 0 || n.applied < n.snapIndex+every {
		return true
	}
	data, err := n.fsm.Snapshot()
	must(err)
	snap, err := n.live.CreateSnapshot(n.applied, n.confState, data)
	if err != nil {
		return true
	}
	// The real store writes the snapshot in one synced transaction.
	_, _ = n.durable.CreateSnapshot(n.applied, n.confState, data)
	n.snapIndex = snap.Metadata.Index
	if n.failpoint(node.FailpointDuringSnapshot) {
		return false
	}
	if catchUp := every / 4; snap.Metadata.Index > catchUp {
		_ = n.live.Compact(snap.Metadata.Index - catchUp)
		_ = n.durable.Compact(snap.Metadata.Index - catchUp)
	}
	return true
}

// propose is Node.Propose: the callback gets the apply result, or a
// definite error if the core refused the proposal.
func (n *snode) propose(data []byte, done func(fsm.Result, *apiError)) *proposal {
	p := &proposal{done: done}
	index, term, err := n.rn.Propose(data)
	if err != nil {
		code := "proposal_dropped"
		if err == raft.ErrNotLeader {
			code = "not_leader"
		}
		p.finish(fsm.Result{}, &apiError{code: code, msg: err.Error(), definite: true})
		return p
	}
	p.index, p.term = index, term
	n.waiters.Add(index, p)
	n.kick()
	return p
}

// readIndex is Node.ReadIndex: done is called once the node has applied a
// read index obtained after the call.
func (n *snode) readIndex(done func(*apiError)) *readReq {
	r := &readReq{done: done}
	n.reads.Add(r)
	n.kick()
	return r
}

// newWaiters is raft/node's bookkeeping of proposals, over this node's.
func (n *snode) newWaiters() *node.Waiters[*proposal] {
	return node.NewWaiters(func(p *proposal) uint64 { return p.term })
}

// newReadBatcher is raft/node's read batching, over this node's requests.
func (n *snode) newReadBatcher() *node.ReadBatcher[*readReq] {
	return node.NewReadBatcher(n.id, func(r *readReq) bool { return !r.finished })
}

func (n *snode) startReadRound() {
	if rctx := n.reads.Start(); rctx != nil {
		n.s.chk.ObserveReadRequest(string(rctx))
		n.rn.ReadIndex(rctx)
	}
}

func (n *snode) answerReads() {
	n.reads.Due(n.applied, func(_ uint64, r *readReq) {
		if !r.finished {
			r.finished = true
			r.done(nil)
		}
	})
}

// stateHash is what /status reports: the applied index and the state
// machine's hash.
func (n *snode) stateHash() (uint64, string) {
	a, h := n.fsm.StateHash()
	return max(a, n.applied), h
}

// cloneStorage copies a MemoryStorage: what a restarted process reads back
// from its disk.
func cloneStorage(src *raft.MemoryStorage) *raft.MemoryStorage {
	dst := raft.NewMemoryStorage()
	hs, _, err := src.InitialState()
	must(err)
	snap, err := src.Snapshot()
	must(err)
	first, _ := src.FirstIndex()
	last, _ := src.LastIndex()
	var ents []raft.Entry
	if last >= first {
		ents, err = src.Entries(first, last+1, math.MaxUint64)
		must(err)
		ents = slices.Clone(ents)
	}
	// The log may keep entries below the snapshot (the catch-up entries):
	// rebuild the compaction point first, then the snapshot over it.
	offset := first - 1
	switch {
	case !snap.IsEmpty() && offset >= snap.Metadata.Index:
		must(dst.ApplySnapshot(snap))
	case offset > 0:
		t, err := src.Term(offset)
		must(err)
		must(dst.ApplySnapshot(raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: offset, Term: t}}))
	}
	must(dst.Save(raft.HardState{}, ents, raft.Snapshot{}, true))
	if !snap.IsEmpty() && offset < snap.Metadata.Index {
		_, err := dst.CreateSnapshot(snap.Metadata.Index, snap.Metadata.ConfState, snap.Data)
		must(err)
	}
	must(dst.Save(hs, nil, raft.Snapshot{}, true))
	return dst
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}
