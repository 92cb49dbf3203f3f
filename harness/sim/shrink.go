package sim

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/raftkv/raftkv/checker"
	"github.com/raftkv/raftkv/harness/cluster"
	"github.com/raftkv/raftkv/kvservice"
	"github.com/raftkv/raftkv/nemesis"
)

// ErrNotInvalid is returned by Minimize when the configuration it starts
// from is not invalid for the seed: there is nothing to keep failing.
var ErrNotInvalid = errors.New("sim: shrink: not an invalid run")

// Explicit returns cfg as seed runs it, with the draws made outside the
// run written into it: a swarm seed's configuration (and swarm off), the
// raft knobs drawUnsetKnobs would draw (and the others at the node's
// defaults, so that none is drawn again), and the fault plan as fixed
// steps (nemesis.Schedule.Steps, weights dropped). The seed still draws
// everything inside the run (the network of a seed that is not a swarm's,
// the disks, latencies, clients, faults' targets), so Explicit(cfg, seed)
// and seed run the same history as cfg and seed; with fewer steps,
// clients or keys it runs a neighbour of that history.
func Explicit(cfg Config, seed int64) Config {
	cfg.applyDefaults()
	cfg.Seed = seed
	if cfg.Swarm {
		cfg, _ = drawSwarm(cfg)
		cfg.Swarm = false
	} else {
		cfg, _ = drawUnsetKnobs(cfg)
	}
	if cfg.Node.MaxAppendBytes == 0 && cfg.Node.MaxInflight == 0 {
		cfg.Node.MaxAppendBytes, cfg.Node.MaxInflight = kvservice.DefaultMaxAppendBytes, kvservice.DefaultMaxInflight
	}
	on := true
	if cfg.Node.PreVote == nil {
		cfg.Node.PreVote = &on
	}
	if cfg.Node.CheckQuorum == nil {
		cfg.Node.CheckQuorum = &on
	}
	names := make([]string, cfg.Nodes)
	for i := range names {
		names[i] = cluster.NodeName(i)
	}
	sc := simCluster{names: names}
	plan := cfg.Nemesis.Plan(seed, cfg.Duration.D(), func(sp nemesis.Spec) bool { return nemesis.Applies(sc, sp) })
	for i := range plan {
		plan[i].Spec.Weight = 0
	}
	cfg.Nemesis = nemesis.Schedule{Steps: plan}
	return cfg
}

// MinimizeOptions bound Minimize.
type MinimizeOptions struct {
	// MaxTrials bounds the simulated runs, the first one included
	// (default 300).
	MaxTrials int
	// CheckTimeout bounds each run's linearizability search (default
	// 10s; a search that runs out is unknown, which does not count as
	// still failing).
	CheckTimeout time.Duration
	// SameFailure counts a candidate as failing only if every check that
	// found the original invalid (SeedOutcome.Failed) still does: a
	// smaller case may otherwise slip to another symptom (with one client
	// a stale read may no longer show in the history, only to the raft
	// checker).
	SameFailure bool
	// Progress receives a line per phase and per smaller case found.
	Progress func(format string, args ...any)
}

// Minimized is what Minimize found.
type Minimized struct {
	Seed int64
	// Original is the configuration made explicit (Explicit); Shrunk the
	// smallest found that seed still runs to an invalid verdict. Their
	// fault plans are their Nemesis.Steps.
	Original, Shrunk Config
	// Trials counts the simulated runs.
	Trials int
	// First is the original's run, Outcome the shrunk configuration's.
	First, Outcome SeedOutcome
	// Exhausted says that the trial budget or the context ended the
	// search early: Shrunk is still invalid, but maybe not the smallest.
	Exhausted bool
}

// Minimize shrinks a failing simulated run: it makes cfg explicit for seed
// (Explicit), checks that it is invalid, then keeps the seed and, greedily,
// as long as the verdict stays invalid (exactly: unknown or an error of the
// simulation is not a failure): (1) bisects the duration (a shorter one
// replays a prefix of the run; steps that would end after it are dropped),
// (2) drops fault steps, delta-debugging style (all of them, then chunks of
// halves, quarters, ... down to single steps), (3) bisects the clients and
// (4) the keys down to one. The phases repeat while a round makes the case
// smaller. With opts.SameFailure a candidate must also fail every check
// the original failed. Dropping a fault or a client changes the run's later draws, so
// each candidate is judged by its own run; the result replays exactly
// (Shrunk with Seed). At most opts.MaxTrials runs.
func Minimize(ctx context.Context, cfg Config, seed int64, opts MinimizeOptions) (*Minimized, error) {
	if opts.MaxTrials <= 0 {
		opts.MaxTrials = 300
	}
	if opts.CheckTimeout <= 0 {
		opts.CheckTimeout = 10 * time.Second
	}
	m := &minimizer{ctx: ctx, seed: seed, opts: opts}
	orig := Explicit(cfg, seed)
	if err := orig.Validate(); err != nil {
		return nil, err
	}
	o := RunSeed(ctx, orig, seed, opts.CheckTimeout)
	m.trials++
	if o.Err != nil {
		return nil, fmt.Errorf("%w: seed %d: %w", ErrNotInvalid, seed, o.Err)
	}
	if o.Verdict != checker.Invalid {
		return nil, fmt.Errorf("%w: seed %d is %s with the explicit configuration", ErrNotInvalid, seed, o.Verdict)
	}
	m.best, m.want = o, o.Failed
	m.progress("seed %d invalid with %s (failed: %s)", seed, describe(orig), strings.Join(o.Failed, ", "))
	cur := orig
	for round := 1; !m.exhausted; round++ {
		before := cur
		cur = m.duration(cur)
		cur = m.steps(cur)
		cur = m.count(cur, "clients", func(c Config) int { return c.Clients }, func(c *Config, n int) { c.Clients = n })
		cur = m.count(cur, "keys", func(c Config) int { return c.Keys }, func(c *Config, n int) { c.Keys = n })
		if !smaller(cur, before) {
			break
		}
		m.progress("round %d: %s", round, describe(cur))
	}
	return &Minimized{Seed: seed, Original: orig, Shrunk: cur, Trials: m.trials, First: o, Outcome: m.best, Exhausted: m.exhausted}, nil
}

type minimizer struct {
	ctx       context.Context
	seed      int64
	opts      MinimizeOptions
	trials    int
	exhausted bool
	// best is the run of the last candidate found failing: the current
	// case.
	best SeedOutcome
	// want are the checks that failed in the original run.
	want []string
}

func (m *minimizer) progress(format string, args ...any) {
	if m.opts.Progress != nil {
		m.opts.Progress(format, args...)
	}
}

// fails runs c and reports whether it is still invalid; once the budget or
// the context is spent, nothing fails any more.
func (m *minimizer) fails(c Config) bool {
	if m.trials >= m.opts.MaxTrials || m.ctx.Err() != nil {
		m.exhausted = true
		return false
	}
	m.trials++
	o := RunSeed(m.ctx, c, m.seed, m.opts.CheckTimeout)
	if o.Err != nil || o.Verdict != checker.Invalid {
		return false
	}
	if m.opts.SameFailure {
		for _, w := range m.want {
			if !slices.Contains(o.Failed, w) {
				return false
			}
		}
	}
	m.best = o
	return true
}

// withDuration is c with duration d and the steps that end by then.
func withDuration(c Config, d time.Duration) Config {
	c.Duration = nemesis.Duration(d)
	var steps []nemesis.Step
	for _, st := range c.Nemesis.Steps {
		if st.At+st.Hold <= d {
			steps = append(steps, st)
		}
	}
	c.Nemesis = nemesis.Schedule{Steps: steps}
	return c
}

func withSteps(c Config, steps []nemesis.Step) Config {
	c.Nemesis = nemesis.Schedule{Steps: steps}
	return c
}

func (m *minimizer) duration(c Config) Config {
	d := bisectDuration(m.ctx, c.Duration.D(), func(d time.Duration) bool { return m.fails(withDuration(c, d)) })
	if d < c.Duration.D() {
		c = withDuration(c, d)
		m.progress("duration %v (%d fault step(s) left)", d, len(c.Nemesis.Steps))
	}
	return c
}

// steps drops fault steps: all of them, then, as in delta debugging, the
// complement of each of n chunks (n = 2, 4, ... up to single steps).
func (m *minimizer) steps(c Config) Config {
	steps := c.Nemesis.Steps
	if len(steps) == 0 {
		return c
	}
	if m.fails(withSteps(c, nil)) {
		m.progress("no fault needed")
		return withSteps(c, nil)
	}
	n := 2
	for len(steps) > 1 && !m.exhausted {
		chunk := (len(steps) + n - 1) / n
		dropped := false
		for i := 0; i < len(steps) && !m.exhausted; i += chunk {
			cand := slices.Concat(steps[:i], steps[min(i+chunk, len(steps)):])
			if m.fails(withSteps(c, cand)) {
				m.progress("%d fault step(s) left", len(cand))
				steps, dropped = cand, true
				n = max(n-1, 2)
				break
			}
		}
		if !dropped {
			if chunk == 1 {
				break
			}
			n = min(2*n, len(steps))
		}
	}
	return withSteps(c, steps)
}

// count bisects a count (clients, keys) down to the smallest that still
// fails, trying 1 first.
func (m *minimizer) count(c Config, what string, get func(Config) int, set func(*Config, int)) Config {
	with := func(n int) Config {
		x := c
		set(&x, n)
		return x
	}
	hi := get(c)
	if hi <= 1 {
		return c
	}
	if m.fails(with(1)) {
		hi = 1
	} else {
		lo := 1 // the largest known not to fail
		for hi-lo > 1 && !m.exhausted {
			mid := lo + (hi-lo)/2
			if m.fails(with(mid)) {
				hi = mid
			} else {
				lo = mid
			}
		}
	}
	if hi < get(c) {
		m.progress("%s %d", what, hi)
	}
	return with(hi)
}

// smaller reports whether a is smaller than b in some dimension the
// minimizer shrinks (it never grows one).
func smaller(a, b Config) bool {
	return a.Duration < b.Duration || len(a.Nemesis.Steps) < len(b.Nemesis.Steps) || a.Clients < b.Clients || a.Keys < b.Keys
}

// describe is a configuration's size in words.
func describe(c Config) string {
	return fmt.Sprintf("duration %v, %d fault step(s), %d client(s), %d key(s)", c.Duration.D(), len(c.Nemesis.Steps), c.Clients, c.Keys)
}
