package sim

import (
	"bytes"
	"container/heap"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/raftkv/raftkv/checker"
	"github.com/raftkv/raftkv/harness/cluster"
	"github.com/raftkv/raftkv/harness/target"
	"github.com/raftkv/raftkv/histories"
	"github.com/raftkv/raftkv/nemesis"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/rafttest"
)

// ErrRun wraps failures of the simulation itself (not verdicts).
var ErrRun = errors.New("sim: run")

// epoch is what simulated time zero reads as on the nodes' base clock.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Result is everything one simulated run produced.
type Result struct {
	Config Config
	// History is history.jsonl, byte for byte.
	History []byte
	// Events are the history's events (header excluded).
	Events []histories.Event
	// States are the nodes' final applied indexes and state hashes
	// (nodes.json).
	States []checker.NodeState
	// Unread are the keys whose final read never succeeded.
	Unread []string
	// SimTime is the simulated time the run took (from the cluster's
	// start to the last final read); Steps the events the loop executed.
	SimTime time.Duration
	Steps   int
	// Faults is the number of fault windows injected (heal-all excluded).
	Faults int
	// Messages counts raft messages sent; Crashes node crashes (kills and
	// failpoints).
	Messages, Crashes int
	// Violations are broken Raft safety properties seen by the raft-level
	// checker (raft/rafttest's Checker: election safety, one vote per term,
	// log matching, leader completeness, state machine safety, read index
	// answers), at most maxViolations, with the simulated time.
	Violations []string
	// Logs are the nodes' committed logs as their disks hold them at the
	// end (logs.json: log agreement).
	Logs []checker.NodeLog
	// NodeEvents are the nodes' panics and failed starts (node_events.json:
	// node health).
	NodeEvents []checker.NodeEvent
	// Net is the baseline network the seed drew.
	Net NetParams
	// Swarm is what a swarm seed drew (Config.Swarm; nil otherwise);
	// Config is then the drawn configuration.
	Swarm *SwarmDraw
	// ConfChanges counts the membership changes committed after the
	// bootstrap (removals, learners added, promotions).
	ConfChanges int
	// Trace is a readable log of what happened inside the cluster (starts,
	// crashes, pauses, leader changes, membership changes, faults,
	// violations), in simulated time since the workload started; at most
	// maxTrace lines.
	Trace []string
	// Voters and Learners are the final configuration, as the leader (or
	// else the first running node) applied it.
	Voters, Learners []string
}

const (
	maxViolations = 10
	maxTrace      = 20000
)

// Hash is the SHA-256 of the history, in hex: two runs of the same seed
// have the same hash.
func (r *Result) Hash() string {
	h := sha256.Sum256(r.History)
	return hex.EncodeToString(h[:])
}

// Summary is sim.json: what a run did besides its history.
type Summary struct {
	Seed        int64    `json:"seed"`
	HistorySHA  string   `json:"history_sha256"`
	SimTime     string   `json:"simulated_time"`
	Steps       int      `json:"steps"`
	Messages    int      `json:"raft_messages"`
	Crashes     int      `json:"crashes"`
	ConfChanges int      `json:"conf_changes"`
	Network     string   `json:"network"`
	Voters      []string `json:"voters"`
	Learners    []string `json:"learners,omitempty"`
	// Violations are broken Raft safety properties seen inside the nodes
	// (see Result.Violations): any makes the run invalid.
	Violations []string `json:"violations,omitempty"`
	// Swarm is the configuration a swarm seed drew.
	Swarm *SwarmDraw `json:"swarm,omitempty"`
}

// Summary returns sim.json's content.
func (r *Result) Summary() Summary {
	return Summary{Seed: r.Config.Seed, HistorySHA: r.Hash(), SimTime: r.SimTime.String(), Steps: r.Steps,
		Messages: r.Messages, Crashes: r.Crashes, ConfChanges: r.ConfChanges, Network: r.Net.String(),
		Voters: r.Voters, Learners: r.Learners, Violations: r.Violations, Swarm: r.Swarm}
}

// WriteDir writes history.jsonl, nodes.json, sim.json and sim-trace.log
// into dir (the run directory the harness checks and renders).
func (r *Result) WriteDir(dir string) error {
	trace := strings.Join(r.Trace, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(dir, "sim-trace.log"), []byte(trace), 0o644); err != nil {
		return fmt.Errorf("%w: %w", ErrRun, err)
	}
	if b, err := json.MarshalIndent(r.Summary(), "", "  "); err == nil {
		if err := os.WriteFile(filepath.Join(dir, "sim.json"), append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("%w: %w", ErrRun, err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "history.jsonl"), r.History, 0o644); err != nil {
		return fmt.Errorf("%w: %w", ErrRun, err)
	}
	var logs bytes.Buffer
	if err := checker.WriteNodeLogs(&logs, r.Logs); err != nil {
		return fmt.Errorf("%w: %w", ErrRun, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "logs.json"), logs.Bytes(), 0o644); err != nil {
		return fmt.Errorf("%w: %w", ErrRun, err)
	}
	panics := r.NodeEvents
	if panics == nil {
		panics = []checker.NodeEvent{}
	}
	if b, err := json.MarshalIndent(panics, "", "  "); err == nil {
		if err := os.WriteFile(filepath.Join(dir, "node_events.json"), append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("%w: %w", ErrRun, err)
		}
	}
	b, err := json.MarshalIndent(r.States, "", "  ")
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRun, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "nodes.json"), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("%w: %w", ErrRun, err)
	}
	return nil
}

// event is one scheduled action of the discrete-event loop.
type event struct {
	at  int64
	seq uint64
	fn  func()
}

type eventHeap []*event

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(*event)) }
func (h *eventHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}

// sim is one run: a single-threaded discrete-event loop over simulated
// time. Every random choice comes from rng, in the order the loop makes it,
// so a seed determines the run.
type sim struct {
	cfg Config
	rng *rand.Rand
	// ids draws the nonces of new raft IDs (sim.join), from a stream of
	// its own: a rejoin then changes no other draw of the run, so a seed
	// that failed before raft IDs were fresh per incarnation replays the
	// same schedule up to its first rejoin.
	ids *rand.Rand
	now int64 // simulated ns since the cluster started
	seq uint64
	q   eventHeap

	nodes  []*snode
	byName map[string]*snode
	byID   map[uint64]*snode
	voters []uint64
	net    NetParams

	// origin is when the workload started; history times count from it.
	origin  int64
	started bool
	buf     bytes.Buffer
	rec     *histories.Recorder
	recErr  error
	events  []histories.Event

	chk *rafttest.Checker
	// book is the faults' network rules on each node: faults on one node
	// at once add up, as with the nemesis (nemesis.RuleBook).
	book nemesis.RuleBook
	// restartDelay is how long the supervisor takes to restart a process
	// that exited on its own (drawRestartDelay).
	restartDelay time.Duration
	// commitChecked is the highest index checkCommitSafety has checked.
	commitChecked uint64
	trace         []traceLine
	confIdx       map[uint64]bool
	wl            *workloadSim
	res           *Result
	steps         int
	stopped       bool // the loop gives up (context canceled)
	// storm is set once events outran simulated time (see stormSteps):
	// the loop runs no more events, and the run ends with what it has.
	storm bool
	// stormFrom, stormFromSteps and stormFromMsgs: where the current
	// window of stormWindow simulated time began.
	stormFrom                                       int64
	stormFromSteps, stormFromMsgs, stormFromEntries int
	// sentEntries counts the log entries carried by every raft message.
	sentEntries int
	// diskDir holds the nodes' bbolt files (Config.LogStore).
	diskDir string
}

// Run simulates one scenario run with cfg.Seed and returns its history and
// final states. It fails only if the simulation itself breaks (or ctx
// ends); a broken cluster is a verdict for the checker, not an error.
func Run(ctx context.Context, cfg Config) (res *Result, err error) {
	cfg.applyDefaults()
	var draw *SwarmDraw
	knobs := ""
	if cfg.Swarm {
		cfg, draw = drawSwarm(cfg)
	} else {
		cfg, knobs = drawUnsetKnobs(cfg)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s, err := newSim(cfg)
	if err != nil {
		return nil, err
	}
	if draw != nil {
		s.res.Swarm = draw
		s.tracef("swarm draw: %s", draw)
	}
	if knobs != "" {
		s.tracef("raft knobs drawn for this seed: %s", knobs)
	}
	defer s.removeDisks()
	defer func() {
		if p := recover(); p != nil {
			// A panic outside a node's own code (guard catches those) is
			// the simulation's: its stack says where, for the bug report.
			res, err = nil, fmt.Errorf("%w: seed %d panicked at %v: %v\n%s", ErrRun, cfg.Seed, time.Duration(s.now), p, debug.Stack())
		}
	}()
	if err := s.run(ctx); err != nil {
		return nil, err
	}
	return s.res, nil
}

// idStream is the PCG stream of sim.ids.
const idStream = 0x6964

func newSim(cfg Config) (*sim, error) {
	s := &sim{
		cfg:     cfg,
		rng:     rand.New(rand.NewPCG(uint64(cfg.Seed), 0x73696d)),
		ids:     rand.New(rand.NewPCG(uint64(cfg.Seed), idStream)),
		byName:  map[string]*snode{},
		byID:    map[uint64]*snode{},
		res:     &Result{Config: cfg},
		chk:     rafttest.NewChecker(),
		confIdx: map[uint64]bool{},
	}
	if cfg.Net != nil {
		s.net = *cfg.Net
	} else {
		s.net = drawNet(s.rng)
	}
	s.res.Net = s.net
	s.restartDelay = drawRestartDelay(cfg.Seed)
	for i := range cfg.Nodes {
		n := newNode(s, i)
		s.nodes = append(s.nodes, n)
		s.byName[n.name] = n
		s.byID[n.id] = n
		s.voters = append(s.voters, n.id)
		if cfg.LogStore == "bolt" || (cfg.LogStore == "mixed" && s.rng.IntN(2) == 0) {
			if s.diskDir == "" {
				dir, err := os.MkdirTemp("", "raftkv-sim-")
				if err != nil {
					return nil, fmt.Errorf("%w: %w", ErrRun, err)
				}
				s.diskDir = dir
			}
			n.useBolt(s.diskDir)
		}
	}
	return s, nil
}

// removeDisks closes the nodes' bbolt stores and deletes their files.
func (s *sim) removeDisks() {
	for _, n := range s.nodes {
		n.closeDisk()
	}
	if s.diskDir != "" {
		_ = os.RemoveAll(s.diskDir)
	}
}

// at schedules fn at simulated time t (not before now).
func (s *sim) at(t int64, fn func()) {
	if t < s.now {
		t = s.now
	}
	s.seq++
	heap.Push(&s.q, &event{at: t, seq: s.seq, fn: fn})
}

// after schedules fn d from now.
func (s *sim) after(d time.Duration, fn func()) { s.at(s.now+int64(d), fn) }

// runUntil executes events until done returns true, simulated time passes
// limit or the queue is empty. It reports whether done became true.
func (s *sim) runUntil(ctx context.Context, limit int64, done func() bool) bool {
	for {
		if done != nil && done() {
			return true
		}
		// After a storm nothing runs any more: time passes as if the
		// queue were empty, so the run's remaining phases end at once.
		if s.storm || len(s.q) == 0 || s.q[0].at > limit {
			if limit > s.now {
				s.now = limit
			}
			return done != nil && done()
		}
		if s.steps&0xfff == 0 && ctx.Err() != nil {
			s.stopped = true
			return false
		}
		e := heap.Pop(&s.q).(*event)
		s.now = e.at
		s.steps++
		s.watchStorm()
		e.fn()
	}
}

// A correct cluster runs a few thousand events per simulated second (a
// busy swarm seed tens of thousands), and its messages carry what clients
// write plus what a lagging node must catch up on. Far more than that
// within a short stretch of simulated time is a storm: nodes answering
// each other's messages at once, forever (a probe that never converges, a
// rejection that triggers the message it rejects, the whole log sent
// again and again), or work rescheduled without time passing. Left alone
// it runs for minutes of wall time and gigabytes of memory without
// reaching the end of the scenario; stopped, it is a liveness violation
// with the figures that show it. The limits count events and entries, not
// wall time, so the verdict is the same on any machine.
const (
	stormWindow  = 100 * time.Millisecond
	stormSteps   = 1_000_000
	stormEntries = 2_000_000
)

// watchStorm checks the current window of simulated time; called once per
// event.
func (s *sim) watchStorm() {
	if s.now-s.stormFrom >= int64(stormWindow) {
		s.stormFrom, s.stormFromSteps, s.stormFromMsgs, s.stormFromEntries = s.now, s.steps, s.res.Messages, s.sentEntries
		return
	}
	if s.steps-s.stormFromSteps < stormSteps && s.sentEntries-s.stormFromEntries < stormEntries {
		return
	}
	s.storm = true
	s.observe(fmt.Errorf("liveness: event storm: %d events and %d raft messages carrying %d log entries in %v of simulated time from %v on, where a healthy cluster runs a few thousand events a second; the nodes keep sending each other work without converging (a livelock), so the run was stopped there (%s)",
		s.steps-s.stormFromSteps, s.res.Messages-s.stormFromMsgs, s.sentEntries-s.stormFromEntries, time.Duration(s.now-s.stormFrom), time.Duration(s.stormFrom-s.origin), s.appliedSummary()))
}

// histNow is the history clock: ns since the workload started.
func (s *sim) histNow() int64 { return s.now - s.origin }

func (s *sim) record(e histories.Event) {
	e.Time = s.histNow()
	if err := s.rec.Record(e); err != nil && s.recErr == nil {
		s.recErr = err
	}
	s.events = append(s.events, e)
}

type traceLine struct {
	at  int64
	msg string
}

// tracef adds a line to the run's trace.
func (s *sim) tracef(format string, args ...any) {
	if len(s.trace) < maxTrace {
		s.trace = append(s.trace, traceLine{s.now, fmt.Sprintf(format, args...)})
	}
}

// finishTrace formats the trace in history time (negative before the
// workload started).
func (s *sim) finishTrace() {
	for _, l := range s.trace {
		d := time.Duration(l.at - s.origin).Round(time.Microsecond)
		s.res.Trace = append(s.res.Trace, fmt.Sprintf("%13s  %s", d, l.msg))
	}
}

// nameOfID names a raft id, "" when unknown; an earlier incarnation's ID
// names the node too.
func (s *sim) nameOfID(id uint64) string {
	if n := s.byID[id]; n != nil {
		return n.name
	}
	return ""
}

// nameOf names a raft id ("-" for none).
func (s *sim) nameOf(id uint64) string {
	if n := s.byID[id]; n != nil {
		return n.name
	}
	return "-"
}

// idLegend names every raft ID the run gave out: "raft IDs: 1 = node0,
// ..." (a node that rejoined has had more than one).
func (s *sim) idLegend() string {
	ids := slices.Sorted(maps.Keys(s.byID))
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprintf("%d = %s", id, s.byID[id].name)
	}
	return "raft IDs: " + strings.Join(parts, ", ")
}

// observe records a raft safety violation (err from the checker).
func (s *sim) observe(err error) {
	if err == nil || len(s.res.Violations) >= maxViolations {
		return
	}
	msg := err.Error()
	var v *rafttest.Violation
	if errors.As(err, &v) {
		// The checker knows nodes by raft ID; the report by name.
		msg = v.Property + " violated: " + v.Detail + " (" + s.idLegend() + ")"
	}
	s.res.Violations = append(s.res.Violations, fmt.Sprintf("at %v: %s", time.Duration(s.now-s.origin), msg))
	s.tracef("VIOLATION %s", msg)
}

func (s *sim) names() []string {
	out := make([]string, len(s.nodes))
	for i, n := range s.nodes {
		out[i] = n.name
	}
	return out
}

// pollEvery is how often the harness's own polls (readiness, final
// states) look at the nodes.
const pollEvery = 50 * time.Millisecond

// waitFor advances simulated time until cond holds (checked every
// pollEvery) or timeout passes.
func (s *sim) waitFor(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	deadline := s.now + int64(timeout)
	for {
		if cond() {
			return true
		}
		if s.now >= deadline || s.stopped {
			return false
		}
		s.runUntil(ctx, min(s.now+int64(pollEvery), deadline), nil)
	}
}

// ready is /readyz of every node that is not down: it knows a leader and
// has applied what was committed when it started.
func (s *sim) allReady() bool {
	for _, n := range s.nodes {
		if n.state == cluster.Down {
			continue
		}
		if n.state != cluster.Running || n.lead == 0 || n.applied < n.startCommit {
			return false
		}
	}
	return true
}

func (s *sim) run(ctx context.Context) error {
	cfg := s.cfg
	// Processes never boot at the same instant: each node starts within
	// bootSpread of the first, so the nodes' tickers run at different
	// phases, as on real machines. With every node ticking at the same
	// instants, rules whose margin is a tick (a lease must end a tick
	// before any follower's election timeout) are never tested.
	bootSpread := 2 * cfg.Node.HeartbeatInterval.D()
	for _, n := range s.nodes {
		s.after(time.Duration(s.rng.Int64N(int64(bootSpread))), n.start)
	}
	s.runUntil(ctx, s.now+int64(bootSpread), nil)
	if !s.waitFor(ctx, 30*time.Second, s.allReady) {
		return fmt.Errorf("%w: seed %d: the cluster did not become ready in 30s of simulated time", ErrRun, cfg.Seed)
	}

	s.origin = s.now
	s.tracef("cluster ready; workload starts (network: %v)", s.net)
	rec, err := histories.NewRecorder(&s.buf, histories.Header{Scenario: cfg.Name, Backend: Name, Seed: cfg.Seed, Nodes: s.names()})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRun, err)
	}
	s.rec = rec
	s.started = true

	// The plan is the harness's own: the same seed gives the same faults
	// at the same times as with the process backend.
	sc := simCluster{names: s.names()}
	plan := cfg.Nemesis.Plan(cfg.Seed, cfg.Duration.D(), func(sp nemesis.Spec) bool { return nemesis.Applies(sc, sp) })
	nem := &nemesisSim{s: s}
	for _, st := range plan {
		st := st
		s.at(s.origin+int64(st.At), func() { nem.once(st.Spec, st.Hold) })
	}
	s.wl = newWorkload(s)
	s.wl.start()

	end := s.origin + int64(cfg.Duration.D())
	s.runUntil(ctx, end, nil)
	// Faults planned to end by `end` may still be holding if injection
	// took time; the real runner also waits for the nemesis to return.
	s.runUntil(ctx, end+int64(time.Minute), func() bool { return nem.active == 0 })
	nem.healAll()
	s.runUntil(ctx, s.now+int64(cfg.Recovery.D()), nil)
	s.wl.stop()
	s.runUntil(ctx, s.now+int64(time.Hour), s.wl.idle)
	s.waitFor(ctx, cfg.FinalReadTimeout.D(), s.allReady)
	s.res.Unread = s.wl.finalReads(ctx, cfg.FinalReadTimeout.D())
	s.waitFor(ctx, convergeWait, s.caughtUp)
	if stuck := s.stuckMembers(); len(stuck) > 0 && !s.stopped && !s.storm {
		s.observe(fmt.Errorf("liveness: %v after every fault healed and the clients stopped, %s, a member of the leader's configuration, up and connected, has not caught up with the leader (%s)",
			convergeWait+cfg.Recovery.D(), strings.Join(stuck, " and "), s.appliedSummary()))
	}
	s.finishTrace()
	s.res.States = s.states()
	s.res.Logs = s.nodeLogs()
	s.finalConf()
	s.res.ConfChanges = max(0, len(s.confIdx)-len(s.voters))
	if s.stopped {
		return fmt.Errorf("%w: %w", ErrRun, ctx.Err())
	}
	if err := rec.Close(); err != nil {
		return fmt.Errorf("%w: %w", ErrRun, err)
	}
	if s.recErr != nil {
		return fmt.Errorf("%w: record: %w", ErrRun, s.recErr)
	}
	s.res.History = s.buf.Bytes()
	s.res.Events = s.events
	s.res.SimTime = time.Duration(s.now)
	s.res.Steps = s.steps
	s.res.Faults = nem.injected
	return nil
}

// convergeWait is how long, after the final reads, the nodes have to
// apply the same index. The network is whole and every node up by then,
// and the recovery period has passed: in simulated time ten seconds are
// tens to hundreds of election timeouts, so a node still behind is stuck
// (a replication or storage bug that keeps it from ever matching the
// leader's log), not slow.
const convergeWait = 10 * time.Second

// stuckMembers names the running members of the leader's configuration
// that have not applied what the leader applied. Nodes outside the
// configuration (a removed member that was never shut down, a join whose
// conf change never committed) need not converge; members that are down
// cannot; with no leader there is nothing to converge to.
func (s *sim) stuckMembers() []string {
	l := s.leader()
	if l == nil || !l.running() || !l.isLeader() || l.fsm == nil {
		return nil
	}
	target, _ := l.stateHash()
	var out []string
	for _, n := range s.nodes {
		if n == l || !n.running() || n.fsm == nil || !inConf(l.confState, n.id) {
			continue
		}
		if a, _ := n.stateHash(); a < target {
			out = append(out, n.name)
		}
	}
	return out
}

// appliedSummary lists each node's state and applied index.
func (s *sim) appliedSummary() string {
	var parts []string
	for _, n := range s.nodes {
		if n.fsm == nil {
			parts = append(parts, fmt.Sprintf("%s %s, no state (wiped)", n.name, n.state))
			continue
		}
		a, _ := n.stateHash()
		parts = append(parts, fmt.Sprintf("%s %s applied %d", n.name, n.state, a))
	}
	return strings.Join(parts, ", ")
}

// caughtUp reports whether a leader leads and every running member of its
// configuration applied what it applied: the one definition of converged
// that the liveness check (stuckMembers) also uses, so the wait ends as
// soon as the check would pass rather than waiting on nodes it ignores.
func (s *sim) caughtUp() bool {
	l := s.leader()
	return l != nil && l.running() && l.isLeader() && len(s.stuckMembers()) == 0
}

func (s *sim) states() []checker.NodeState {
	var out []checker.NodeState
	for _, n := range s.nodes {
		if n.state != cluster.Running {
			continue
		}
		a, h := n.stateHash()
		out = append(out, checker.NodeState{Node: n.name, Applied: a, StateHash: h})
	}
	return out
}

// nodeLogs reads every node's committed log from its disk: what a running
// node's store holds up to its commit index, and for a node that is down,
// what its durable store kept (up to the commit index stored there).
func (s *sim) nodeLogs() []checker.NodeLog {
	var out []checker.NodeLog
	for _, n := range s.nodes {
		l := checker.NodeLog{Node: n.name, Entries: []checker.LogEntry{}}
		var st raft.Storage
		switch {
		case n.state != cluster.Down && n.disk != nil:
			st = n.disk
			l.Commit = n.drv.Status().Commit
		case n.durable != nil:
			st = n.durable
			hs, _, err := st.InitialState()
			if err != nil {
				l.Error = err.Error()
			}
			l.Commit = hs.Commit
		default:
			continue // a wiped node that never came back, or a closed bolt file
		}
		if snap, err := st.Snapshot(); err == nil {
			l.SnapshotIndex, l.SnapshotTerm = snap.Metadata.Index, snap.Metadata.Term
		}
		first, _ := st.FirstIndex()
		last, _ := st.LastIndex()
		hi := min(l.Commit, last)
		if hi >= first {
			ents, err := st.Entries(first, hi+1, math.MaxUint64)
			if err != nil {
				l.Error = err.Error()
			}
			for _, e := range ents {
				l.Entries = append(l.Entries, checker.LogEntry{Index: e.Index, Term: e.Term, Hash: checker.EntryHash(uint8(e.Type), e.Data)})
			}
		}
		out = append(out, l)
	}
	return out
}

func (s *sim) finalConf() {
	src := s.leader()
	for _, n := range s.nodes {
		if src == nil && n.running() {
			src = n
		}
	}
	if src == nil || !src.running() {
		return
	}
	for _, id := range src.confState.Voters {
		if n := s.byID[id]; n != nil {
			s.res.Voters = append(s.res.Voters, n.name)
		}
	}
	for _, id := range src.confState.Learners {
		if n := s.byID[id]; n != nil {
			s.res.Learners = append(s.res.Learners, n.name)
		}
	}
	slices.Sort(s.res.Voters)
	slices.Sort(s.res.Learners)
}

// leader is cluster.Leader over the simulated nodes: the leader most of
// the running nodes name, ties to the highest term, then the lowest name.
func (s *sim) leader() *snode {
	pos := map[uint64]int{}
	for i, n := range s.nodes {
		pos[n.id] = i
	}
	var reports []target.LeaderReport[uint64]
	for _, n := range s.nodes {
		// A vote for an id no node has now (a removed incarnation) counts
		// for nobody.
		if _, known := pos[n.lead]; n.state == cluster.Running && n.lead != 0 && known {
			reports = append(reports, target.LeaderReport[uint64]{Leader: n.lead, Term: n.term})
		}
	}
	// Ties go by node order, not by id: a replay of a seed must pick the
	// same node as it always has.
	id, ok := target.LeaderByVotes(reports, func(a, b uint64) bool { return pos[a] < pos[b] })
	if !ok {
		return nil
	}
	return s.nodes[pos[id]]
}
