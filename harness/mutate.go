package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/raftkv/raftkv/checker"
	"github.com/raftkv/raftkv/harness/sim"
	"github.com/raftkv/raftkv/internal/bugs"
)

// MutateOptions configure a mutation run (Mutate): the planted bugs to try,
// the simulation scenarios and seeds to hunt them with, the process
// scenarios for what the simulation cannot express, and the correct build's
// sweep.
type MutateOptions struct {
	// Bugs to try (empty: the whole catalogue).
	Bugs []bugs.ID
	// Sim are the simulation scenarios. A bug is hunted with those that
	// expect a valid verdict (the unsafe-mode demos are invalid anyway);
	// the correct build runs all of them against their expectations.
	Sim []*Scenario
	// Seeds is how many seeds (1..Seeds) of every valid sim scenario a bug
	// is hunted with before it counts as escaped; CorrectSeeds how many
	// the correct build runs.
	Seeds, CorrectSeeds int
	// Workers run simulations in parallel (each run stays deterministic).
	Workers int
	// Budget bounds the wall time of one bug's simulation hunt (0: none);
	// a bug not caught within it counts as escaped. Some bugs make runs
	// livelock or flood the network, which makes each run slow.
	Budget time.Duration
	// Process are real-process scenarios, run ProcessRuns times each for
	// every bug the simulation did not catch (or cannot express); none:
	// the process part is skipped.
	Process     []*Scenario
	ProcessRuns int
	// Runner runs the process scenarios; its Binary must be a raftkv built
	// with -tags raftkv_bugs.
	Runner *Runner
	// Progress receives a line per bug (nil: nothing).
	Progress io.Writer
}

// MutantResult is what the harness did with one planted bug.
type MutantResult struct {
	Bug         bugs.ID     `json:"bug"`
	Family      bugs.Family `json:"family"`
	Rule        string      `json:"rule"`
	ProcessOnly bool        `json:"process_only,omitempty"`
	Caught      bool        `json:"caught"`
	// By is "sim" or "process": the part that caught it.
	By       string `json:"by,omitempty"`
	Scenario string `json:"scenario,omitempty"`
	Seed     int64  `json:"seed,omitempty"`
	// Runs is how many runs it took (up to and including the catching
	// one, in the hunt's order), Seconds the wall time to detection.
	Runs    int     `json:"runs"`
	Seconds float64 `json:"seconds"`
	// Reason is the catching run's first verdict reason.
	Reason string `json:"reason,omitempty"`
	// Errors counts simulation failures (not verdicts) during the hunt.
	Errors int `json:"errors,omitempty"`
	// Fired is how often the bug's wrong branch ran during the simulation
	// hunt (bugs.Fire): an escaped bug that never fired was not reached by
	// the exploration; one that fired did harm the checks did not see, or
	// none that could be seen yet.
	Fired int64 `json:"fired"`
	// OverBudget: the hunt ran out of its wall-time budget before its
	// last seed.
	OverBudget bool `json:"over_budget,omitempty"`
	// Replay is the command that reproduces the catching run.
	Replay string `json:"replay,omitempty"`
}

// CorrectResult is the correct build's sweep.
type CorrectResult struct {
	Runs    int     `json:"runs"`
	Seconds float64 `json:"seconds"`
	// Mismatches are runs whose verdict was not the scenario's expectation
	// ("scenario seed N: invalid, expected valid: reason").
	Mismatches []string `json:"mismatches"`
}

// MutationReport is a mutation run's result (mutation.json).
type MutationReport struct {
	Time    time.Time      `json:"time"`
	Seeds   int            `json:"seeds"`
	Correct CorrectResult  `json:"correct"`
	Mutants []MutantResult `json:"mutants"`
}

// Caught counts the caught mutants.
func (r *MutationReport) Caught() int {
	n := 0
	for _, m := range r.Mutants {
		if m.Caught {
			n++
		}
	}
	return n
}

// Escaped lists the mutants that were not caught and count against the
// run: with simOnly, process-only bugs (which the run did not try) do not
// count; bugs in allowed (known escapes) are listed but do not count either.
func (r *MutationReport) Escaped(simOnly bool, allowed []bugs.ID) (failing, known []bugs.ID) {
	for _, m := range r.Mutants {
		switch {
		case m.Caught, simOnly && m.ProcessOnly:
		case slices.Contains(allowed, m.Bug):
			known = append(known, m.Bug)
		default:
			failing = append(failing, m.Bug)
		}
	}
	return failing, known
}

// Mutate runs the mutation analysis: the correct build's sweep, then each
// planted bug, switched on for the whole process (and passed to the nodes
// of process runs), hunted through the simulation scenarios seed by seed
// until a run is invalid, then through the process scenarios if the
// simulation did not catch it. The binary must be built with -tags
// raftkv_bugs.
func Mutate(ctx context.Context, o MutateOptions) (*MutationReport, error) {
	if !bugs.Built {
		return nil, fmt.Errorf("%w: %w", ErrRun, bugs.ErrNotBuilt)
	}
	if o.Workers < 1 {
		o.Workers = 1
	}
	cfgs, err := simConfigs(o.Sim)
	if err != nil {
		return nil, err
	}
	rep := &MutationReport{Time: time.Now().UTC(), Seeds: o.Seeds}
	defer func() { _ = bugs.Enable() }()

	// The correct build first: a harness that flags it is not measuring
	// anything.
	if err := bugs.Enable(); err != nil {
		return nil, err
	}
	rep.Correct = correctSweep(ctx, cfgs, o)
	progressf(o.Progress, "correct build: %d runs, %d unexpected verdicts (%.1fs)\n", rep.Correct.Runs, len(rep.Correct.Mismatches), rep.Correct.Seconds)

	ids := o.Bugs
	if len(ids) == 0 {
		for _, b := range bugs.Catalogue {
			ids = append(ids, b.ID)
		}
	}
	var valid []sim.Config
	for _, c := range cfgs {
		if c.Expect == string(checker.Valid) {
			valid = append(valid, c)
		}
	}
	for _, id := range ids {
		if ctx.Err() != nil {
			break
		}
		b, ok := bugs.Lookup(id)
		if !ok {
			return nil, fmt.Errorf("%w %q", bugs.ErrUnknown, id)
		}
		if err := bugs.Enable(id); err != nil {
			return nil, err
		}
		m := MutantResult{Bug: b.ID, Family: b.Family, Rule: b.Rule, ProcessOnly: b.ProcessOnly}
		start := time.Now()
		if !b.ProcessOnly {
			bugs.ResetFired()
			huntSim(ctx, valid, o, &m)
			m.Fired = bugs.Fired(id)
		}
		if !m.Caught && len(o.Process) > 0 && o.Runner != nil {
			huntProcess(ctx, o, &m)
		}
		m.Seconds = time.Since(start).Seconds()
		rep.Mutants = append(rep.Mutants, m)
		status := fmt.Sprintf("ESCAPED (%s)", m.escapeCause())
		if m.OverBudget {
			status = fmt.Sprintf("ESCAPED (budget spent after %d runs; %s)", m.Runs, m.escapeCause())
		}
		if m.Caught {
			status = fmt.Sprintf("caught by %s %s seed %d after %d runs", m.By, m.Scenario, m.Seed, m.Runs)
		}
		progressf(o.Progress, "%-28s %s (%.1fs)\n", id, status, m.Seconds)
	}
	return rep, nil
}

// escapeCause says, for an escaped bug, whether the simulation hunt ever
// reached it.
func (m *MutantResult) escapeCause() string {
	switch {
	case m.ProcessOnly:
		return "process-only"
	case m.Fired == 0:
		return "never fired: no run reached its wrong branch"
	default:
		return fmt.Sprintf("fired %d times without a failure the checks could see", m.Fired)
	}
}

func progressf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format, args...)
	}
}

// simConfigs resolves scenarios into simulation configurations.
func simConfigs(scs []*Scenario) ([]sim.Config, error) {
	var out []sim.Config
	for _, sc := range scs {
		sc2 := *sc
		sc2.Backend = sim.Name
		resolved, err := sc2.Marshal()
		if err != nil {
			return nil, err
		}
		cfg, err := sim.ParseConfig(resolved)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrRun, err)
		}
		out = append(out, cfg)
	}
	return out, nil
}

// simJob is one (scenario, seed) run of a hunt, in the hunt's order.
type simJob struct {
	cfg  sim.Config
	seed int64
}

// huntOrder interleaves scenarios seed by seed, so that every fault family
// gets its first seeds before any gets many.
func huntOrder(cfgs []sim.Config, seeds int) []simJob {
	var jobs []simJob
	for s := 1; s <= seeds; s++ {
		for _, c := range cfgs {
			jobs = append(jobs, simJob{c, int64(s)})
		}
	}
	return jobs
}

// simRunLimit bounds the wall time of one simulated run of a hunt: only a
// guard against a run that livelocks for good. A planted bug that makes a
// follower spin takes some 10s per run on an idle 2-core machine and over
// 90s under CPU hogs (make test-stress cut two such runs at the former
// 90s limit, each a catch lost): far above both, so that the hunt's
// verdict stays the seeds', not the machine's.
const simRunLimit = 10 * time.Minute

// huntSim runs the jobs in order on o.Workers goroutines and records the
// first (in the hunt's order) whose verdict is invalid. Jobs after one
// already found are not started.
func huntSim(ctx context.Context, cfgs []sim.Config, o MutateOptions, m *MutantResult) {
	jobs := huntOrder(cfgs, o.Seeds)
	if o.Budget > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Budget)
		defer cancel()
	}
	var (
		mu     sync.Mutex
		next   int
		found  = len(jobs)
		first  sim.SeedOutcome
		errors int
		wg     sync.WaitGroup
		// running holds the cancel functions of the runs under way, by
		// job index: once a run catches the bug, the later runs cannot
		// come first in the hunt's order and are stopped (a planted bug
		// can make a run spin until simRunLimit).
		running = map[int]context.CancelFunc{}
	)
	for range o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				if i >= found || ctx.Err() != nil {
					mu.Unlock()
					return
				}
				next++
				// A planted bug can make a run livelock (the simulation
				// then never reaches its end): bound its wall time.
				rctx, cancel := context.WithTimeout(ctx, simRunLimit)
				running[i] = cancel
				mu.Unlock()
				out := sim.RunSeed(rctx, jobs[i].cfg, jobs[i].seed, jobs[i].cfg.FinalReadTimeout.D()*4)
				cancel()
				mu.Lock()
				delete(running, i)
				switch {
				case i > found:
					// Stopped: a run earlier in the order caught the bug.
				case out.Err != nil:
					errors++
				case out.Verdict == checker.Invalid && i < found:
					found, first = i, out
					for j, stop := range running {
						if j > i {
							stop()
						}
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	m.Errors = errors
	if found == len(jobs) {
		m.Runs = min(next, len(jobs))
		m.OverBudget = next < len(jobs) || ctx.Err() != nil
		return
	}
	j := jobs[found]
	m.Caught, m.By, m.Scenario, m.Seed, m.Runs = true, "sim", j.cfg.Name, j.seed, found+1
	if len(first.Reasons) > 0 {
		m.Reason = first.Reasons[0]
	}
	m.Replay = fmt.Sprintf("bin/bugs/harness run --unsafe-bug %s --backend sim --seed %d <%s scenario>", m.Bug, j.seed, j.cfg.Name)
}

// correctSweep runs every scenario's seeds with no bug on and lists every
// verdict that is not the expected one.
func correctSweep(ctx context.Context, cfgs []sim.Config, o MutateOptions) CorrectResult {
	start := time.Now()
	res := CorrectResult{Mismatches: []string{}}
	var seeds []int64
	for s := 1; s <= o.CorrectSeeds; s++ {
		seeds = append(seeds, int64(s))
	}
	for _, c := range cfgs {
		sim.Sweep(ctx, c, seeds, o.Workers, c.FinalReadTimeout.D()*4, func(out sim.SeedOutcome) {
			res.Runs++
			if !out.Matches(c.Expect) {
				why := ""
				if out.Err != nil {
					why = out.Err.Error()
				} else if len(out.Reasons) > 0 {
					why = out.Reasons[0]
				}
				res.Mismatches = append(res.Mismatches, fmt.Sprintf("%s seed %d: %s, expected %s: %s", c.Name, out.Seed, out.Verdict, c.Expect, why))
			}
		})
	}
	res.Seconds = time.Since(start).Seconds()
	return res
}

// huntProcess runs the process scenarios with the bug passed to every node
// until one run is invalid.
func huntProcess(ctx context.Context, o MutateOptions, m *MutantResult) {
	r := &Runner{Opts: o.Runner.Opts}
	r.Opts.NodeFlags = append(append([]string(nil), r.Opts.NodeFlags...), "--unsafe-bug="+string(m.Bug))
	runs := 0
	for range max(o.ProcessRuns, 1) {
		for _, sc := range o.Process {
			if ctx.Err() != nil {
				return
			}
			runs++
			out := r.Run(ctx, sc)
			if out.Err == nil && out.Verdict == checker.Invalid {
				m.Caught, m.By, m.Scenario, m.Runs = true, "process", sc.Name, m.Runs+runs
				if out.Results != nil {
					m.Seed = out.Results.Seed // the scenario's seed, random unless it names one
					if len(out.Results.Reasons) > 0 {
						m.Reason = out.Results.Reasons[0]
					}
				}
				m.Replay = "report: " + filepath.Join(out.Dir, "index.html")
				return
			}
		}
	}
	m.Runs += runs
}

// WriteMutationReport writes mutation.json and mutation.md into dir.
func WriteMutationReport(dir string, rep *MutationReport) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "mutation.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	var md strings.Builder
	fmt.Fprintf(&md, "# Mutation score: %d of %d planted bugs caught\n\n", rep.Caught(), len(rep.Mutants))
	fmt.Fprintf(&md, "Correct build: %d simulated runs (%d seeds of every scenario), %d unexpected verdicts, %.0f s.\n\n",
		rep.Correct.Runs, rep.Seeds, len(rep.Correct.Mismatches), rep.Correct.Seconds)
	for _, mm := range rep.Correct.Mismatches {
		fmt.Fprintf(&md, "- %s\n", mm)
	}
	md.WriteString("| bug | family | caught | by | scenario | seed | runs | seconds | first reason |\n|---|---|---|---|---|---:|---:|---:|---|\n")
	for _, m := range rep.Mutants {
		caught := "**ESCAPED**"
		if m.Caught {
			caught = "yes"
		}
		reason := strings.ReplaceAll(m.Reason, "|", "\\|")
		if len(reason) > 160 {
			reason = reason[:160] + "…"
		}
		fmt.Fprintf(&md, "| %s | %s | %s | %s | %s | %d | %d | %.1f | %s |\n", m.Bug, m.Family, caught, m.By, m.Scenario, m.Seed, m.Runs, m.Seconds, reason)
	}
	return os.WriteFile(filepath.Join(dir, "mutation.md"), []byte(md.String()), 0o644)
}

// PrintMutationTable prints the report as a table.
func PrintMutationTable(w io.Writer, rep *MutationReport) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BUG\tFAMILY\tCAUGHT\tBY\tSCENARIO\tSEED\tRUNS\tFIRED\tSECONDS")
	for _, m := range rep.Mutants {
		caught := "ESCAPED"
		if m.Caught {
			caught = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%.1f\n", m.Bug, m.Family, caught, m.By, m.Scenario, m.Seed, m.Runs, m.Fired, m.Seconds)
	}
	fmt.Fprintf(tw, "correct build\t\t%d unexpected\t\t%d runs\t\t\t\t%.1f\n", len(rep.Correct.Mismatches), rep.Correct.Runs, rep.Correct.Seconds)
	tw.Flush()
	fmt.Fprintf(w, "mutation score: %d/%d caught\n", rep.Caught(), len(rep.Mutants))
}
