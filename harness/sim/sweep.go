package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/raftkv/raftkv/checker"
	"github.com/raftkv/raftkv/nemesis"
)

// Check runs the harness's checks (checker.Check: linearizability, lost
// writes, convergence, availability, log agreement across the nodes'
// disks, node health) on a simulated run.
func Check(r *Result, timeout time.Duration) checker.Result {
	if timeout == 0 {
		timeout = time.Minute
	}
	panics := r.NodeEvents
	if panics == nil {
		panics = []checker.NodeEvent{}
	}
	return checker.Check(r.Events, checker.Options{LinearizabilityTimeout: timeout, NodeStates: r.States,
		NodeLogs: r.Logs, NodeEvents: panics})
}

// ViolationReasons words raft safety violations (Result.Violations) as
// verdict reasons: any of them makes the run invalid, whatever the history
// says.
func ViolationReasons(violations []string) []string {
	out := make([]string, len(violations))
	for i, v := range violations {
		out[i] = "raft safety (simulation checker): " + v
	}
	return out
}

// ReadViolations returns the verdict reasons for the violations recorded in
// a run directory's sim.json (none if there is no sim.json), so that a
// re-check of a simulated run keeps them.
func ReadViolations(dir string) []string {
	b, err := os.ReadFile(filepath.Join(dir, "sim.json"))
	if err != nil {
		return nil
	}
	var s Summary
	if json.Unmarshal(b, &s) != nil {
		return nil
	}
	return ViolationReasons(s.Violations)
}

// SeedOutcome is one seed of a sweep.
type SeedOutcome struct {
	Seed    int64
	Verdict checker.Verdict
	Reasons []string
	Hash    string
	Ops     int
	// Failed names the checks that found the run invalid:
	// "linearizability", "lost writes", "convergence", "log agreement",
	// "node health", and "raft: PROPERTY" for each raft safety property
	// the simulation saw broken.
	Failed  []string
	SimTime time.Duration
	Wall    time.Duration
	// Err is a failure of the simulation itself (the verdict is unknown).
	Err error
	// Result is kept only for seeds whose verdict differs from the
	// scenario's expectation (to write their report).
	Result *Result
}

// Matches reports whether the verdict is the one the scenario expects.
func (o SeedOutcome) Matches(expect string) bool { return o.Err == nil && string(o.Verdict) == expect }

// SweepStats summarizes a sweep.
type SweepStats struct {
	Scenario string
	Runs     int
	// ByVerdict counts verdicts ("valid", "invalid", "unknown", "error").
	ByVerdict map[string]int
	// Mismatched lists the seeds whose verdict differs from Expect.
	Mismatched []int64
	Expect     string
	Wall       time.Duration
	SimTime    time.Duration
}

// RunsPerMinute is the sweep's throughput.
func (st SweepStats) RunsPerMinute() float64 {
	if st.Wall <= 0 {
		return 0
	}
	return float64(st.Runs) / st.Wall.Minutes()
}

// SimSpeed is simulated seconds per wall-clock second (over all workers).
func (st SweepStats) SimSpeed() float64 {
	if st.Wall <= 0 {
		return 0
	}
	return st.SimTime.Seconds() / st.Wall.Seconds()
}

func (st SweepStats) String() string {
	return fmt.Sprintf("%s: %d runs in %v (%.0f runs/min, %.0f simulated s per wall s): %v; expected %s, %d mismatch(es)",
		st.Scenario, st.Runs, st.Wall.Round(time.Millisecond), st.RunsPerMinute(), st.SimSpeed(), st.verdictCounts(), st.Expect, len(st.Mismatched))
}

// verdictCounts is "48 valid, 2 invalid", verdicts in a fixed order.
func (st SweepStats) verdictCounts() string {
	var parts []string
	for _, v := range slices.Sorted(maps.Keys(st.ByVerdict)) {
		parts = append(parts, fmt.Sprintf("%d %s", st.ByVerdict[v], v))
	}
	if len(parts) == 0 {
		return "no verdicts"
	}
	return strings.Join(parts, ", ")
}

// Sweep runs cfg once per seed in seeds on workers goroutines (each run is
// still single-threaded and deterministic), checks each history, and calls
// report (serialized, in completion order) with each seed's outcome. The
// outcome keeps its Result only when the verdict differs from cfg.Expect.
func Sweep(ctx context.Context, cfg Config, seeds []int64, workers int, checkTimeout time.Duration, report func(SeedOutcome)) SweepStats {
	cfg.applyDefaults()
	if workers < 1 {
		workers = 1
	}
	st := SweepStats{Scenario: cfg.Name, Expect: cfg.Expect, ByVerdict: map[string]int{}}
	start := time.Now()
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		next int
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if next >= len(seeds) || ctx.Err() != nil {
					mu.Unlock()
					return
				}
				seed := seeds[next]
				next++
				mu.Unlock()
				o := RunSeed(ctx, cfg, seed, checkTimeout)
				mu.Lock()
				st.Runs++
				st.SimTime += o.SimTime
				key := string(o.Verdict)
				if o.Err != nil {
					key = "error"
				}
				st.ByVerdict[key]++
				if !o.Matches(cfg.Expect) {
					st.Mismatched = append(st.Mismatched, seed)
				}
				if report != nil {
					report(o)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	st.Wall = time.Since(start)
	return st
}

// RunSeed runs and checks one seed.
func RunSeed(ctx context.Context, cfg Config, seed int64, checkTimeout time.Duration) SeedOutcome {
	cfg.Seed = seed
	t0 := time.Now()
	o := SeedOutcome{Seed: seed, Verdict: checker.Unknown}
	r, err := Run(ctx, cfg)
	if err != nil {
		o.Err = err
		o.Wall = time.Since(t0)
		return o
	}
	res := Check(r, checkTimeout)
	o.Verdict, o.Reasons, o.Hash, o.SimTime = res.Verdict, res.Reasons, r.Hash(), r.SimTime
	if len(r.Violations) > 0 {
		o.Verdict = checker.Invalid
		o.Reasons = append(o.Reasons, ViolationReasons(r.Violations)...)
	}
	o.Failed = failedChecks(res, r.Violations)
	o.Ops = res.Stats.Ops
	o.Wall = time.Since(t0)
	if !o.Matches(cfg.Expect) {
		o.Result = r
	}
	return o
}

// failedChecks names the checks of res that are invalid and the raft
// properties of violations (SeedOutcome.Failed).
func failedChecks(res checker.Result, violations []string) []string {
	var out []string
	for _, c := range []struct {
		name    string
		verdict checker.Verdict
	}{
		{"linearizability", res.Linearizability.Verdict}, {"lost writes", res.LostWrites.Verdict},
	} {
		if c.verdict == checker.Invalid {
			out = append(out, c.name)
		}
	}
	if res.Convergence != nil && res.Convergence.Verdict == checker.Invalid {
		out = append(out, "convergence")
	}
	if res.LogAgreement != nil && res.LogAgreement.Verdict == checker.Invalid {
		out = append(out, "log agreement")
	}
	if res.NodeHealth != nil && res.NodeHealth.Verdict == checker.Invalid {
		out = append(out, "node health")
	}
	for _, v := range violations {
		// "at 1.2s: PROPERTY violated: detail", or "at 1.2s: liveness: ...".
		_, msg, _ := strings.Cut(v, ": ")
		prop, _, ok := strings.Cut(msg, " violated: ")
		if !ok {
			prop, _, _ = strings.Cut(msg, ":")
		}
		if name := "raft: " + prop; !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

// ParseSeeds parses a seed range: "A..B" (inclusive) or "N" (1..N).
func ParseSeeds(s string) ([]int64, error) {
	var from, to int64
	if a, b, ok := strings.Cut(s, ".."); ok {
		var err1, err2 error
		from, err1 = strconv.ParseInt(strings.TrimSpace(a), 10, 64)
		to, err2 = strconv.ParseInt(strings.TrimSpace(b), 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%w: seeds %q: want A..B or N", ErrConfig, s)
		}
	} else {
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: seeds %q: want A..B or N", ErrConfig, s)
		}
		from, to = 1, n
	}
	if to < from || to-from >= 1<<20 {
		return nil, fmt.Errorf("%w: seeds %q: empty or too large a range", ErrConfig, s)
	}
	out := make([]int64, 0, to-from+1)
	for x := from; x <= to; x++ {
		out = append(out, x)
	}
	return out, nil
}

// shrinkStep is the resolution of Shrink.
const shrinkStep = 100 * time.Millisecond

// Shrink looks for a shorter workload duration for which seed still gets
// an unexpected verdict. A shorter duration replays a prefix of the same
// run (the fault plan and every draw before the cut are the same), so the
// result is a smaller case that the harness replays with --time-limit. It
// bisects in steps of 100ms (assuming, as is usual, that a longer prefix
// keeps failing) and returns the duration and its outcome; the original
// duration if nothing shorter fails.
func Shrink(ctx context.Context, cfg Config, seed int64, checkTimeout time.Duration) (time.Duration, SeedOutcome) {
	cfg.applyDefaults()
	hi := cfg.Duration.D()
	best := RunSeed(ctx, cfg, seed, checkTimeout)
	if best.Matches(cfg.Expect) {
		return hi, best
	}
	hi = bisectDuration(ctx, hi, func(d time.Duration) bool {
		c := cfg
		c.Duration = nemesis.Duration(d)
		o := RunSeed(ctx, c, seed, checkTimeout)
		if o.Matches(cfg.Expect) {
			return false
		}
		best = o
		return true
	})
	return hi, best
}

// bisectDuration returns the shortest duration in (0, hi], in steps of
// shrinkStep, for which fails holds, given that it holds for hi and
// assuming that a longer prefix of a failing run fails too.
func bisectDuration(ctx context.Context, hi time.Duration, fails func(time.Duration) bool) time.Duration {
	lo := time.Duration(0)
	for hi-lo > shrinkStep && ctx.Err() == nil {
		mid := (lo + (hi-lo)/2).Round(shrinkStep)
		if mid <= lo || mid >= hi {
			break
		}
		if fails(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}
