package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"runtime"

	"github.com/raftkv/raftkv/checker"
	"github.com/raftkv/raftkv/harness"
	"github.com/raftkv/raftkv/harness/sim"
)

// sweepSim is `harness run --seeds A..B`: every scenario on the sim backend
// for every seed, checked in memory; the seeds whose verdict is not the
// expected one are run again with a report, and printed with the command
// that replays them (and a shorter failing prefix when there is one).
func sweepSim(ctx context.Context, stdout, stderr io.Writer, r *harness.Runner, scs []*harness.Scenario, seedRange string) error {
	seeds, err := sim.ParseSeeds(seedRange)
	if err != nil {
		return exitWith(stderr, 2, err)
	}
	var all []harness.Outcome
	for _, sc := range scs {
		st, fails, err := r.SweepSim(ctx, sc, seeds, runtime.GOMAXPROCS(0), 5)
		if err != nil {
			return exitWith(stderr, 2, err)
		}
		fmt.Fprintln(stdout, st)
		for _, f := range fails {
			o := f.Outcome
			fmt.Fprintf(stdout, "  seed %d: %s (expected %s)%s — report %s\n    replay: go run ./cmd/harness run --backend sim --seed %d %s\n",
				f.Seed, o.Verdict, o.Expected, errSuffix(o.Err), filepath.Join(o.Dir, "index.html"), f.Seed, sc.Path)
			if f.Prefix < sc.Duration.D() {
				fmt.Fprintf(stdout, "    shortest failing prefix: go run ./cmd/harness run --backend sim --seed %d --time-limit %v %s\n", f.Seed, f.Prefix, sc.Path)
			}
			all = append(all, o)
		}
		if len(fails) == 0 && len(st.Mismatched) > 0 {
			// The report runs did not happen (canceled): still fail.
			all = append(all, harness.Outcome{Scenario: sc.Name, Verdict: checker.Unknown, Expected: sc.Expect})
		}
	}
	return exitCode(all)
}
