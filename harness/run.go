package harness

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/raftkv/raftkv/checker"
	"github.com/raftkv/raftkv/harness/cluster"
	"github.com/raftkv/raftkv/harness/cluster/process"
	"github.com/raftkv/raftkv/harness/target"
	"github.com/raftkv/raftkv/harness/workload"
	"github.com/raftkv/raftkv/histories"
	"github.com/raftkv/raftkv/nemesis"

	_ "github.com/raftkv/raftkv/harness/cluster/fake" // registers the "fake" backend
	"github.com/raftkv/raftkv/harness/docker"         // registers the "docker" backend
	"github.com/raftkv/raftkv/harness/sim"
	_ "github.com/raftkv/raftkv/harness/target/etcd" // registers the "etcd" target
)

// ErrRun wraps harness failures during a run (not verdicts).
var ErrRun = errors.New("harness: run")

// RunOptions are the knobs of `harness run` that are not in the scenario.
type RunOptions struct {
	// Store is the root of run directories (default "store").
	Store string
	// Seed overrides the scenario's seed when SeedSet.
	Seed    int64
	SeedSet bool
	// TimeLimit caps the scenario's duration when > 0.
	TimeLimit time.Duration
	// Binary is the raftkv binary for the process backend; empty builds
	// ./cmd/raftkv of SourceDir once per Runner.
	Binary    string
	SourceDir string
	// TargetBinaries are the binaries of other targets by name (e.g.
	// "etcd"); a target missing here is looked for where its Makefile
	// target puts it (target.Locator) under SourceDir.
	TargetBinaries map[string]string
	// Backend overrides the scenario's backend when non-empty.
	Backend string
	Logger  *slog.Logger
	// Progress receives one line per phase (nil: nothing).
	Progress io.Writer
	// NodeFlags are passed to every node of the process and docker
	// backends after the scenario's own (e.g. --unsafe-bug=NAME).
	NodeFlags []string
	// Shrink, when set, is recorded in the run's results.json and report
	// (a run of a shrunk scenario, by Shrink).
	Shrink *ShrinkInfo
}

// Outcome is the result of one run.
type Outcome struct {
	Scenario string
	Dir      string
	Verdict  checker.Verdict
	Expected string
	Ops      int
	Faults   int
	Results  *Results
	// Err is a harness failure; the verdict is then unknown.
	Err error
	// Skipped says why the run did not happen (a backend that is not
	// available here, e.g. no Docker engine outside CI); Err is then nil.
	Skipped string
}

// Matches reports whether the verdict is the expected one (a skipped run
// matches: it says nothing either way).
func (o Outcome) Matches() bool {
	return o.Skipped != "" || (o.Err == nil && string(o.Verdict) == o.Expected)
}

// Runner runs scenarios, building the node binary at most once.
type Runner struct {
	Opts RunOptions

	buildOnce sync.Once
	binary    string
	buildErr  error
}

func (r *Runner) logf(format string, args ...any) {
	if r.Opts.Progress != nil {
		fmt.Fprintf(r.Opts.Progress, format+"\n", args...)
	}
}

func (r *Runner) log() *slog.Logger {
	if r.Opts.Logger != nil {
		return r.Opts.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// nodeBinary returns the binary to run, building it on first use.
func (r *Runner) nodeBinary(ctx context.Context, store string) (string, error) {
	if r.Opts.Binary != "" {
		return r.Opts.Binary, nil
	}
	r.buildOnce.Do(func() {
		src := r.Opts.SourceDir
		if src == "" {
			src = "."
		}
		dir := filepath.Join(store, ".bin")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			r.buildErr = err
			return
		}
		out, err := filepath.Abs(filepath.Join(dir, "raftkv"))
		if err != nil {
			r.buildErr = err
			return
		}
		r.logf("building %s from %s", out, src)
		r.buildErr = process.Build(ctx, src, out)
		r.binary = out
	})
	return r.binary, r.buildErr
}

// Run executes one scenario and returns its outcome. It never returns
// without trying to stop the cluster and write what it has.
func (r *Runner) Run(ctx context.Context, sc *Scenario) Outcome {
	sc2 := *sc
	sc = &sc2
	if r.Opts.Backend != "" {
		sc.Backend = r.Opts.Backend
	}
	if err := sc.checkSimOnly(); err != nil {
		return Outcome{Scenario: sc.Name, Expected: sc.Expect, Verdict: checker.Unknown, Err: fmt.Errorf("%w: %s: %w", ErrRun, sc.Name, err)}
	}
	if r.Opts.SeedSet {
		sc.Seed = r.Opts.Seed
	} else if sc.Seed == 0 {
		sc.Seed = time.Now().UnixNano() % (1 << 40)
	}
	if r.Opts.TimeLimit > 0 && sc.Duration.D() > r.Opts.TimeLimit {
		sc.Duration = Duration(r.Opts.TimeLimit)
	}
	out := Outcome{Scenario: sc.Name, Expected: sc.Expect, Verdict: checker.Unknown}
	store := r.Opts.Store
	if store == "" {
		store = "store"
	}
	dir, err := newRunDir(store, sc.Name)
	if err != nil {
		out.Err = fmt.Errorf("%w: %w", ErrRun, err)
		return out
	}
	out.Dir = dir
	res, err := r.run(ctx, sc, dir)
	if res == nil {
		// The run failed before there was a history to check: still leave
		// a results.json and an index saying why.
		res = &Results{Scenario: sc.Name, Seed: sc.Seed, Backend: sc.Backend, Verdict: checker.Unknown, Expected: sc.Expect}
		if err != nil {
			res.Errors = append(res.Errors, err.Error())
		}
		_ = WriteResults(dir, res)
		_ = WriteIndex(dir, res)
	}
	out.Results = res
	if res != nil {
		out.Verdict, out.Ops, out.Faults = res.Verdict, res.Ops, res.Faults
	}
	if err != nil && errors.Is(err, docker.ErrSkip) {
		out.Skipped = err.Error()
		return out
	}
	if err != nil {
		out.Err = err
		out.Verdict = checker.Unknown
	}
	return out
}

// newRunDir creates store/<name>/<timestamp>/ and points store/<name>/latest at it.
func newRunDir(store, name string) (string, error) {
	base := filepath.Join(store, name)
	stamp := time.Now().UTC().Format("20060102T150405.000Z")
	dir := filepath.Join(base, stamp)
	for i := 1; ; i++ {
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			break
		}
		dir = filepath.Join(base, fmt.Sprintf("%s-%d", stamp, i))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	latest := filepath.Join(base, "latest")
	tmp := latest + ".tmp"
	_ = os.Remove(tmp)
	if err := os.Symlink(filepath.Base(dir), tmp); err == nil {
		_ = os.Rename(tmp, latest)
	}
	return dir, nil
}

// run does the work of Run. The returned Results are nil only when no
// history exists.
func (r *Runner) run(ctx context.Context, sc *Scenario, dir string) (*Results, error) {
	log := r.log().With("scenario", sc.Name)
	resolved, err := sc.Marshal()
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "scenario.yaml"), resolved, 0o644); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRun, err)
	}

	if sc.Secure {
		// Also when --backend overrode the scenario's after it was checked.
		tgt, err := target.Lookup(sc.Target)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrRun, err)
		}
		if err := CheckSecure(sc.Backend, tgt); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrRun, err)
		}
	}
	if sc.Backend == sim.Name {
		return r.runSim(ctx, sc, dir, resolved)
	}

	opts := cluster.Options{
		Nodes: sc.Nodes, Dir: dir, SourceDir: r.Opts.SourceDir, Logger: log,
		RequestTimeout: 2 * time.Second,
		Node: cluster.NodeConfig{
			ElectionTimeout: sc.Node.ElectionTimeout.D(), HeartbeatInterval: sc.Node.HeartbeatInterval.D(),
			ReadMode: sc.ReadMode, SnapshotEvery: sc.Node.SnapshotEvery,
			Extra: append(append([]string(nil), sc.Node.Extra...), r.Opts.NodeFlags...),
		},
	}
	tgt, err := target.Lookup(sc.Target)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRun, err)
	}
	opts.Target = tgt
	if sc.Secure {
		// Fresh credentials for this run, before anything starts; the
		// backend issues each node's certificate (it knows the addresses).
		if opts.Node.Security, err = target.NewSecurity(filepath.Join(dir, SecretsDir)); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrRun, err)
		}
	}
	switch {
	case tgt.Name() != target.Default:
		// The process backend runs the store's binary, the docker backend
		// an image built from it.
		opts.Binary, err = r.targetBinary(tgt)
	case sc.Backend == process.Name:
		opts.Binary, err = r.nodeBinary(ctx, filepath.Dir(filepath.Dir(dir)))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRun, err)
	}
	c, err := cluster.New(sc.Backend, opts)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRun, err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_ = c.Stop(sctx)
		}
	}
	defer stop()

	r.logf("%s: starting %d-node %s %s cluster in %s (seed %d)", sc.Name, sc.Nodes, sc.Backend, tgt.Name(), dir, sc.Seed)
	if err := c.Start(ctx); err != nil {
		return nil, fmt.Errorf("%w: start cluster: %w", ErrRun, err)
	}
	if err := cluster.WaitReady(ctx, c, 30*time.Second); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRun, err)
	}

	hf, err := os.Create(filepath.Join(dir, "history.jsonl"))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRun, err)
	}
	bw := &syncWriter{w: bufio.NewWriter(hf), f: hf}
	header := histories.Header{Kind: histories.KindHeader, Version: histories.Version, Scenario: sc.Name,
		Backend: sc.Backend, Seed: sc.Seed, Nodes: c.Nodes(), StartedAt: time.Now().UTC().Format(time.RFC3339Nano)}
	rec, err := histories.NewRecorder(bw, header)
	if err != nil {
		hf.Close()
		return nil, fmt.Errorf("%w: %w", ErrRun, err)
	}
	origin := time.Now()
	now := func() int64 { return int64(time.Since(origin)) }

	wcfg := workloadConfig(sc)
	wcfg.Logger, wcfg.Dial = log, dialer(c, opts.Node.Security)
	wl, err := workload.New(wcfg, c, rec, now)
	if err != nil {
		rec.Close()
		return nil, fmt.Errorf("%w: %w", ErrRun, err)
	}
	env := nemesis.NewEnv(c, sc.Seed, log)
	nem := &nemesis.Runner{Env: env, Rec: rec, Now: now, Origin: origin}
	plan := sc.Nemesis.Plan(sc.Seed, sc.Duration.D(), func(s nemesis.Spec) bool { return nemesis.Applies(c, s) })

	r.logf("%s: workload %v with %d clients, %d fault(s) planned", sc.Name, sc.Duration.D(), sc.Clients, len(plan))
	wctx, wcancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		wl.Run(wctx)
	}()
	nctx, ncancel := context.WithTimeout(ctx, sc.Duration.D())
	nem.Run(nctx, plan)
	<-nctx.Done()
	ncancel()

	// Heal with the clients still running, so the history shows the
	// cluster coming back; then the recovery period; then the final reads.
	hctx, hcancel := context.WithTimeout(context.Background(), 60*time.Second)
	if err := nem.HealAll(hctx); err != nil {
		log.Warn("heal-all", "err", err)
	}
	hcancel()
	sleepCtx(ctx, sc.Recovery.D())
	wcancel()
	wg.Wait()
	// Nodes may still be catching up after the heal: wait (bounded) for
	// every node to be ready before the final reads.
	_ = cluster.WaitReady(ctx, c, sc.FinalReadTimeout.D())
	r.logf("%s: final reads of %d keys", sc.Name, sc.Keys)
	unread := wl.FinalReads(context.Background(), sc.FinalReadTimeout.D())

	// Only a target that reports its applied index and state hash can be
	// checked for convergence; without nodes.json the check is not run.
	var states []checker.NodeState
	var skipped []string
	if target.Has(tgt, target.CapStateHash) {
		states = collectStates(c, 10*time.Second)
	} else {
		skipped = append(skipped, fmt.Sprintf("convergence not checked: target %s reports no applied index and state hash", tgt.Name()))
	}
	if _, ok := c.(cluster.LogReader); ok && !target.Has(tgt, target.CapCommittedLog) {
		skipped = append(skipped, fmt.Sprintf("log agreement not checked: target %s keeps no log the harness can read", tgt.Name()))
	}
	if err := rec.Close(); err != nil {
		log.Error("close history", "err", err)
	}
	stop()
	if states != nil {
		writeJSON(filepath.Join(dir, "nodes.json"), states)
	}
	// With the nodes stopped, their data and their processes' fates are
	// final: the committed logs (for log agreement) and every exit and
	// panic (for node health) are saved like the rest.
	if lr, ok := c.(cluster.LogReader); ok && target.Has(tgt, target.CapCommittedLog) {
		if err := writeLogs(filepath.Join(dir, LogsFile), collectLogs(ctx, lr, c.Nodes())); err != nil {
			log.Error("write "+LogsFile, "err", err)
		}
	}
	if hr, ok := c.(cluster.HealthReporter); ok {
		writeJSON(filepath.Join(dir, NodeEventsFile), hr.NodeEvents(origin))
	}

	// Every artifact of the run is on disk; only now check.
	res, err := r.check(dir, sc, states, unread)
	if res != nil && len(skipped) > 0 {
		res.Warnings = append(res.Warnings, skipped...)
		_ = WriteResults(dir, res)
		_ = WriteIndex(dir, res)
	}
	return res, err
}

// dialer opens the target's clients to c's nodes: through the target's
// own node descriptions when c runs one (cluster.Targeted), else raftkv's
// API at the node's endpoint, reached as sec says (nil: plain).
func dialer(c cluster.Cluster, sec *target.Security) func(node, endpoint string, timeout time.Duration) (target.Client, error) {
	tgt := cluster.TargetOf(c)
	return func(node, endpoint string, timeout time.Duration) (target.Client, error) {
		tn := target.Node{ID: node, ClientAddr: endpoint, Security: sec}
		if tc, ok := c.(cluster.Targeted); ok {
			var err error
			if tn, err = tc.TargetNode(node); err != nil {
				return nil, err
			}
		}
		return tgt.Dial(tn, timeout)
	}
}

// targetBinary finds the binary of a target other than raftkv: the one
// given in TargetBinaries, else where the target's Makefile rule puts it
// under SourceDir (target.Locator).
func (r *Runner) targetBinary(t target.Target) (string, error) {
	if b := r.Opts.TargetBinaries[t.Name()]; b != "" {
		return b, nil
	}
	loc, ok := t.(target.Locator)
	if !ok {
		return "", fmt.Errorf("target %s: no binary given (--target-binary %s=PATH)", t.Name(), t.Name())
	}
	src := r.Opts.SourceDir
	if src == "" {
		src = "."
	}
	path, hint := loc.Binary(src)
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("target %s: no binary at %s (%s, or give --target-binary %s=PATH)", t.Name(), path, hint, t.Name())
	}
	return path, nil
}

// SecretsDir is the run directory's folder of a secured run's credentials
// (target.NewSecurity): ca.pem, ca-key.pem, <node>.pem, <node>-key.pem,
// tokens.txt and tokens.env; the folder is 0700, keys and tokens 0600.
const SecretsDir = "secrets"

// Artifacts of the node evidence, in the run directory.
const (
	// LogsFile holds every node's committed log as read from its data
	// after the run ([]checker.NodeLog; entries as [index, term, hash]).
	LogsFile = "logs.json"
	// NodeEventsFile holds every exit and panic of the nodes' processes
	// ([]checker.NodeEvent), planned ones included.
	NodeEventsFile = "node_events.json"
)

// writeLogs writes logs.json (checker.WriteNodeLogs).
func writeLogs(path string, logs []checker.NodeLog) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	err = checker.WriteNodeLogs(bw, logs)
	return errors.Join(err, bw.Flush(), f.Close())
}

// collectLogs reads every stopped node's committed log; a log that cannot
// be read is listed with its error.
func collectLogs(ctx context.Context, lr cluster.LogReader, nodes []string) []checker.NodeLog {
	logs := make([]checker.NodeLog, 0, len(nodes))
	for _, n := range nodes {
		l, err := lr.CommittedLog(ctx, n)
		if err != nil {
			l = checker.NodeLog{Node: n, Entries: []checker.LogEntry{}, Error: err.Error()}
		}
		logs = append(logs, l)
	}
	return logs
}

// runSim runs a scenario on the deterministic simulation: the whole run
// happens in process on simulated time; its history and node states land
// in dir like a real run's, then the same checks and report follow.
func (r *Runner) runSim(ctx context.Context, sc *Scenario, dir string, resolved []byte) (*Results, error) {
	cfg, err := sim.ParseConfig(resolved)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRun, err)
	}
	r.logf("%s: simulating %d nodes for %v of simulated time (seed %d) in %s", sc.Name, sc.Nodes, sc.Duration.D(), sc.Seed, dir)
	res, err := sim.Run(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRun, err)
	}
	if err := res.WriteDir(dir); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRun, err)
	}
	states := res.States
	if states == nil {
		states = []checker.NodeState{}
	}
	unread := res.Unread
	if unread == nil {
		unread = []string{}
	}
	return r.check(dir, sc, states, unread)
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// syncWriter flushes the buffer and the file on every line, so that the
// history survives a harness crash.
type syncWriter struct {
	w *bufio.Writer
	f *os.File
}

func (s *syncWriter) Write(p []byte) (int, error) { return s.w.Write(p) }
func (s *syncWriter) Flush() error                { return s.w.Flush() }
func (s *syncWriter) Close() error {
	err := s.w.Flush()
	return errors.Join(err, s.f.Close())
}

// collectStates polls every node's /status until all report the same
// applied index (or timeout) and returns the last states seen.
func collectStates(c cluster.Cluster, timeout time.Duration) []checker.NodeState {
	deadline := time.Now().Add(timeout)
	var states []checker.NodeState
	for {
		states = states[:0]
		same := true
		for _, n := range c.Nodes() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			st, err := c.Client(n).Status(ctx)
			cancel()
			if err != nil {
				same = false
				continue
			}
			states = append(states, checker.NodeState{Node: n, Applied: st.Applied, StateHash: st.StateHash})
			if st.Applied != states[0].Applied {
				same = false
			}
		}
		if (same && len(states) == len(c.Nodes())) || time.Now().After(deadline) {
			return states
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func writeJSON(path string, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err == nil {
		_ = os.WriteFile(path, append(b, '\n'), 0o644)
	}
}

// check reads the history back from disk (the source of truth), writes
// history.edn, runs the checks and renders the report.
func (r *Runner) check(dir string, sc *Scenario, states []checker.NodeState, unread []string) (*Results, error) {
	r.logf("%s: checking", sc.Name)
	res, err := CheckDir(dir, sc.CheckTimeout.D(), states, unread)
	if res != nil {
		res.Expected = sc.Expect
		if r.Opts.Shrink != nil {
			res.Shrink = r.Opts.Shrink
		}
		_ = WriteResults(dir, res)
		_ = WriteIndex(dir, res)
	}
	return res, err
}

// CheckDir (re-)checks the run directory dir: it reads history.jsonl,
// writes history.edn, runs AnalyzeEvidence and writes results.json and
// every rendering. states nil means nodes.json is read if present; the
// nodes' committed logs (logs.json) and process events
// (node_events.json) are read when present.
func CheckDir(dir string, timeout time.Duration, states []checker.NodeState, unread []string) (*Results, error) {
	h, events, err := histories.ReadFile(filepath.Join(dir, "history.jsonl"))
	if err != nil {
		res := &Results{Verdict: checker.Unknown, Errors: []string{"read history: " + err.Error()}}
		_ = WriteResults(dir, res)
		return res, fmt.Errorf("%w: %w", ErrRun, err)
	}
	if ef, err := os.Create(filepath.Join(dir, "history.edn")); err == nil {
		_ = histories.WriteEDN(ef, events)
		ef.Close()
	}
	if states == nil {
		if b, err := os.ReadFile(filepath.Join(dir, "nodes.json")); err == nil {
			_ = json.Unmarshal(b, &states)
		}
	}
	ev := Evidence{States: states}
	var readErrs []string
	for name, v := range map[string]any{LogsFile: &ev.Logs, NodeEventsFile: &ev.Events} {
		if err := readJSON(filepath.Join(dir, name), v); err != nil {
			readErrs = append(readErrs, err.Error())
		}
	}
	// A re-check keeps what the run knew about its final reads, and what
	// it was shrunk from.
	var prev Results
	if b, err := os.ReadFile(filepath.Join(dir, "results.json")); err == nil && json.Unmarshal(b, &prev) == nil && unread == nil {
		unread = prev.UnreadKeys
	}
	res := AnalyzeEvidence(events, ev, timeout)
	res.Scenario, res.Seed, res.Backend = h.Scenario, h.Seed, h.Backend
	res.UnreadKeys = unread
	res.Shrink = prev.Shrink
	sort.Strings(readErrs)
	res.Errors = append(res.Errors, readErrs...)
	res.finish()
	if v := sim.ReadViolations(dir); len(v) > 0 {
		// Raft safety properties broken inside the simulated nodes
		// (sim.json) make the run invalid whatever the history shows.
		res.Reasons = append(res.Reasons, v...)
		res.Verdict = checker.Invalid
	}
	if sc, err := LoadScenario(filepath.Join(dir, "scenario.yaml")); err == nil {
		res.Expected = sc.Expect
	}
	if err := WriteResults(dir, res); err != nil {
		return res, fmt.Errorf("%w: %w", ErrRun, err)
	}
	if err := Render(dir, events, res); err != nil {
		res.Warnings = append(res.Warnings, "render: "+err.Error())
		_ = WriteResults(dir, res)
	}
	return res, WriteIndex(dir, res)
}

// readJSON decodes the file at path into v; a missing file leaves v alone
// and is no error.
func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", filepath.Base(path), err)
	}
	return nil
}

// CheckFile checks a standalone history (.jsonl or Jepsen .edn) and writes
// the results and renderings next to it, in <file>.check/. A history with
// no client operations is an error (nothing is written).
func CheckFile(path string, timeout time.Duration) (*Results, string, error) {
	var events []histories.Event
	var h histories.Header
	var err error
	if strings.HasSuffix(path, ".edn") {
		var f *os.File
		if f, err = os.Open(path); err == nil {
			events, err = histories.ReadEDN(f)
			f.Close()
		}
	} else {
		h, events, err = histories.ReadFile(path)
	}
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrRun, err)
	}
	if !slices.ContainsFunc(events, func(e histories.Event) bool { return e.Kind == histories.KindOp }) {
		// An empty file (or one cut before its first operation) proves
		// nothing; calling it valid would hide a broken export.
		return nil, "", fmt.Errorf("%w: %s holds no client operations", ErrRun, path)
	}
	out := path + ".check"
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrRun, err)
	}
	res := Analyze(events, nil, timeout)
	res.Scenario, res.Seed, res.Backend = h.Scenario, h.Seed, h.Backend
	if res.Scenario == "" {
		res.Scenario = filepath.Base(path)
	}
	if err := WriteResults(out, res); err != nil {
		return res, out, fmt.Errorf("%w: %w", ErrRun, err)
	}
	if err := Render(out, events, res); err != nil {
		res.Warnings = append(res.Warnings, "render: "+err.Error())
		_ = WriteResults(out, res)
	}
	return res, out, WriteIndex(out, res)
}

// workloadConfig is the workload a scenario asks for (without its dialer
// and logger).
func workloadConfig(sc *Scenario) workload.Config {
	return workload.Config{
		Concurrency: sc.Clients, Rate: sc.Rate, Keys: sc.Keys, MaxClientsPerKey: sc.MaxClientsPerKey,
		Mix: sc.Mix, RequestTimeout: sc.RequestTimeout.D(), ReadMode: sc.ReadMode, WriteAttempts: sc.WriteAttempts,
		Seed: sc.Seed,
	}
}
