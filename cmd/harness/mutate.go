package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftkv/raftkv/harness"
	"github.com/raftkv/raftkv/internal/bugs"
)

// reexecEnv marks a harness that mutate built with the bug catalogue and
// started, so that it never rebuilds itself again.
const reexecEnv = "RAFTKV_MUTATE_REEXEC"

func newMutate(stdout, stderr io.Writer) *cobra.Command {
	var (
		names        []string
		seeds        int
		correctSeeds int
		workers      int
		processRuns  int
		simOnly      bool
		list         bool
		store        string
		processGlob  string
		binary       string
		allowEscape  []string
		budget       time.Duration
	)
	cmd := &cobra.Command{
		Use:   "mutate [SIM-SCENARIO...]",
		Short: "Measure the harness's power: run every planted bug of the catalogue through it (a mutation score)",
		Long: `mutate runs the catalogue of planted bugs (internal/bugs, compiled in
only with -tags raftkv_bugs) through the harness, one bug at a time, and
prints and writes a table: bug, caught or not, by which part, the first
catching scenario and seed, the runs and seconds to detection; and the
correct build's sweep, which must get only its expected verdicts.

Each bug is hunted through the simulation scenarios (default
harness/scenarios/sim/*.yaml, those that expect valid), seed by seed, up to
--seeds seeds; a bug the simulation cannot express, or did not catch, is
then run through the real-process scenarios (--process, unless --sim-only)
with --unsafe-bug passed to every node.

A binary built without the catalogue builds bin/bugs/harness and
bin/bugs/raftkv with -tags raftkv_bugs and runs the first.

Exit codes: 0 every bug caught and the correct build clean; 1 a bug escaped
(with --sim-only: a bug the simulation can express) or the correct build
got an unexpected verdict; 2 the run itself failed.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if list {
				tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "BUG\tFAMILY\tWHERE\tRULE IT BREAKS")
				for _, b := range bugs.Catalogue {
					where := b.Where
					if b.ProcessOnly {
						where += " (process only)"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", b.ID, b.Family, where, b.Rule)
				}
				return tw.Flush()
			}
			if !bugs.Built {
				return reexecWithBugs(cmd.Context(), stdout, stderr)
			}
			ids, err := bugs.Parse(names)
			if err != nil {
				return exitWith(stderr, 2, err)
			}
			root := moduleRoot()
			if len(args) == 0 {
				args, _ = filepath.Glob(filepath.Join(root, "harness/scenarios/sim/*.yaml"))
			}
			simScs, err := loadAll(args)
			if err != nil {
				return exitWith(stderr, 2, err)
			}
			o := harness.MutateOptions{Bugs: ids, Sim: simScs, Seeds: seeds, CorrectSeeds: correctSeeds,
				Workers: workers, ProcessRuns: processRuns, Budget: budget, Progress: stderr}
			if !simOnly {
				files, _ := filepath.Glob(filepath.Join(root, processGlob))
				if o.Process, err = loadAll(files); err != nil {
					return exitWith(stderr, 2, err)
				}
				if binary == "" {
					binary = filepath.Join(filepath.Dir(os.Args[0]), "raftkv")
				}
				o.Runner = &harness.Runner{Opts: harness.RunOptions{Store: filepath.Join(store, "mutate-runs"), Binary: binary,
					SourceDir: root, Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}}
			}
			rep, err := harness.Mutate(cmd.Context(), o)
			if err != nil {
				return exitWith(stderr, 2, err)
			}
			harness.PrintMutationTable(stdout, rep)
			dir := filepath.Join(store, "mutate", rep.Time.Format("20060102T150405Z"))
			if err := harness.WriteMutationReport(dir, rep); err != nil {
				return exitWith(stderr, 2, err)
			}
			latest := filepath.Join(store, "mutate", "latest")
			_ = os.Remove(latest)
			_ = os.Symlink(filepath.Base(dir), latest)
			fmt.Fprintf(stdout, "report: %s\n", filepath.Join(dir, "mutation.md"))
			for _, m := range rep.Correct.Mismatches {
				fmt.Fprintf(stderr, "correct build: %s\n", m)
			}
			allowed, err := bugs.Parse(allowEscape)
			if err != nil {
				return exitWith(stderr, 2, err)
			}
			failing, known := rep.Escaped(simOnly, allowed)
			if len(known) > 0 {
				fmt.Fprintf(stdout, "KNOWN ESCAPES (listed with --allow-escape, not failing this run): %v\n", known)
			}
			if len(failing) > 0 {
				fmt.Fprintf(stdout, "ESCAPED: %v\n", failing)
			}
			if len(failing) > 0 || len(rep.Correct.Mismatches) > 0 {
				return exitError{1}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&names, "bug", nil, "only these bugs (default: the whole catalogue)")
	f.IntVar(&seeds, "seeds", 30, "seeds of every sim scenario a bug is hunted with before it counts as escaped")
	f.IntVar(&correctSeeds, "correct-seeds", 30, "seeds of every sim scenario the correct build runs")
	f.IntVar(&workers, "workers", runtime.GOMAXPROCS(0), "simulations run in parallel")
	f.IntVar(&processRuns, "process-runs", 2, "runs of every process scenario for a bug the simulation did not catch")
	f.DurationVar(&budget, "budget", 2*time.Minute, "wall time one bug's simulation hunt may take (0: no limit); a bug not caught by then counts as escaped")
	f.BoolVar(&simOnly, "sim-only", false, "skip the process part (CI): only bugs the simulation can express must be caught")
	f.BoolVar(&list, "list", false, "list the catalogue and exit")
	f.StringVar(&store, "store", "store", "where the report (mutate/<time>/mutation.md, .json) and process runs go")
	f.StringVar(&processGlob, "process", "harness/scenarios/mutate/*.yaml", "the process scenarios (a glob under the module root)")
	f.StringSliceVar(&allowEscape, "allow-escape", nil, "bugs known to escape: listed as KNOWN ESCAPES but not failing the run (the correct build's verdicts always count)")
	f.StringVar(&binary, "binary", "", "raftkv built with -tags raftkv_bugs (default: raftkv next to this harness)")
	return cmd
}

func loadAll(paths []string) ([]*harness.Scenario, error) {
	var out []*harness.Scenario
	for _, p := range paths {
		sc, err := harness.LoadScenario(p)
		if err != nil {
			return nil, err
		}
		out = append(out, sc)
	}
	return out, nil
}

// reexecWithBugs builds bin/bugs/{harness,raftkv} with the catalogue and
// runs the same command line with the first.
func reexecWithBugs(ctx context.Context, stdout, stderr io.Writer) error {
	if os.Getenv(reexecEnv) != "" {
		return exitWith(stderr, 2, errors.New("mutate: the rebuilt harness has no bug catalogue either"))
	}
	root := moduleRoot()
	out := filepath.Join(root, "bin", "bugs")
	fmt.Fprintf(stderr, "building %s/{harness,raftkv} with -tags raftkv_bugs\n", out)
	t0 := time.Now()
	build := exec.CommandContext(ctx, "go", "build", "-tags", "raftkv_bugs", "-o", out+"/", "./cmd/harness", "./cmd/raftkv")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := build.CombinedOutput(); err != nil {
		return exitWith(stderr, 2, fmt.Errorf("build with -tags raftkv_bugs: %v: %s", err, strings.TrimSpace(string(b))))
	}
	fmt.Fprintf(stderr, "built in %.1fs\n", time.Since(t0).Seconds())
	c := exec.CommandContext(ctx, filepath.Join(out, "harness"), os.Args[1:]...)
	c.Stdout, c.Stderr, c.Stdin = stdout, stderr, os.Stdin
	c.Env = append(os.Environ(), reexecEnv+"=1")
	if err := c.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return exitError{ee.ExitCode()}
		}
		return exitWith(stderr, 2, err)
	}
	return nil
}
