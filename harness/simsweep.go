package harness

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/raftkv/raftkv/harness/sim"
)

// SimFailure is a seed of a sweep whose verdict was not the expected one.
type SimFailure struct {
	Seed    int64
	Outcome Outcome
	// Prefix is the shortest workload duration found that still fails
	// (sim.Shrink); replay it with --time-limit.
	Prefix time.Duration
}

// SweepSim runs sc on the sim backend once per seed, checking each history
// in memory on workers goroutines (each run stays single-threaded and
// deterministic). Every seed whose verdict is not the expected one is run
// again through Run (the same seed gives the same history), so that its run
// directory and report exist, and the first shrinkMax of them are shrunk to
// their shortest failing prefix.
func (r *Runner) SweepSim(ctx context.Context, sc *Scenario, seeds []int64, workers, shrinkMax int) (sim.SweepStats, []SimFailure, error) {
	sc2 := *sc
	sc2.Backend = sim.Name
	if r.Opts.TimeLimit > 0 && sc2.Duration.D() > r.Opts.TimeLimit {
		sc2.Duration = Duration(r.Opts.TimeLimit)
	}
	resolved, err := sc2.Marshal()
	if err != nil {
		return sim.SweepStats{}, nil, err
	}
	cfg, err := sim.ParseConfig(resolved)
	if err != nil {
		return sim.SweepStats{}, nil, fmt.Errorf("%w: %w", ErrRun, err)
	}
	var failing []int64
	st := sim.Sweep(ctx, cfg, seeds, workers, sc.CheckTimeout.D(), func(o sim.SeedOutcome) {
		if !o.Matches(cfg.Expect) {
			failing = append(failing, o.Seed)
		}
	})
	slices.Sort(failing)
	var fails []SimFailure
	for i, seed := range failing {
		fr := &Runner{Opts: r.Opts}
		fr.Opts.Seed, fr.Opts.SeedSet, fr.Opts.Backend = seed, true, sim.Name
		f := SimFailure{Seed: seed, Outcome: fr.Run(ctx, &sc2), Prefix: sc2.Duration.D()}
		if i < shrinkMax {
			f.Prefix, _ = sim.Shrink(ctx, cfg, seed, sc.CheckTimeout.D())
		}
		fails = append(fails, f)
	}
	return st, fails, nil
}
