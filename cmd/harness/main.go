package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftkv/raftkv/checker"
	"github.com/raftkv/raftkv/harness"
	"github.com/raftkv/raftkv/harness/cluster"
	"github.com/raftkv/raftkv/harness/target"
	"github.com/raftkv/raftkv/internal/bugs"
	"github.com/raftkv/raftkv/internal/suggest"
	"github.com/raftkv/raftkv/nemesis"
)

// exitError carries a process exit code out of a command.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func main() {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot(os.Stdout, os.Stderr).ExecuteContext(ctx)
	cancel()
	var ee exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		os.Exit(ee.code)
	default:
		fmt.Fprintln(os.Stderr, errLine(err))
		os.Exit(2)
	}
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "harness",
		Short:         "Jepsen-style fault-injection tests for raftkv",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetFlagErrorFunc(suggest.FlagError)
	root.SetErr(stderr)
	root.AddCommand(newRun(stdout, stderr), newCheck(stdout), newList(stdout), newServe(stdout), newMutate(stdout, stderr), newCompare(stdout), newShrink(stdout, stderr))
	return root
}

// moduleRoot finds the raftkv module root above the working directory, to
// build ./cmd/raftkv from.
func moduleRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return "."
	}
	for d := dir; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/raftkv/raftkv") {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}

func newRun(stdout, stderr io.Writer) *cobra.Command {
	var (
		opts       harness.RunOptions
		seed       int64
		count      int
		verbose    bool
		checkOnly  bool
		seedRange  string
		bugNames   []string
		targetName string
	)
	cmd := &cobra.Command{
		Use:   "run FILE...",
		Short: "Run scenarios and check their histories",
		Long: `Run scenarios and check their histories. Each run writes a directory under
--store with the history, the verdict (results.json) and the rendered report
(index.html); an invalid run's report names the first violation.

Exit codes:
  0  every verdict is the one its scenario expects
  1  a verdict differs from its expectation (a bug found, or a demo that passed)
  2  a run failed to produce a verdict (bad scenario, cluster or check error,
     unknown verdict), or bad usage`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var scs []*harness.Scenario
			for _, a := range args {
				sc, err := harness.LoadScenario(a)
				if err == nil && targetName != "" {
					// The same faults and workload against another store:
					// validated again, so a fault or read mode the target
					// cannot do is refused here.
					sc.Target = targetName
					if err = sc.Validate(); err != nil {
						err = fmt.Errorf("%s with --target %s: %w", a, targetName, err)
					}
				}
				if err != nil {
					return exitWith(stderr, 2, err)
				}
				scs = append(scs, sc)
			}
			if checkOnly {
				fmt.Fprintf(stdout, "%d scenario(s) parsed\n", len(scs))
				return nil
			}
			flags, err := enableBugs(bugNames)
			if err != nil {
				return exitWith(stderr, 2, err)
			}
			opts.NodeFlags = append(opts.NodeFlags, flags...)
			opts.SeedSet = cmd.Flags().Changed("seed")
			opts.Seed = seed
			opts.SourceDir = moduleRoot()
			opts.Progress = stderr
			level := slog.LevelWarn
			if verbose {
				level = slog.LevelDebug
			}
			opts.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
			r := &harness.Runner{Opts: opts}
			if seedRange != "" {
				return sweepSim(cmd.Context(), stdout, stderr, r, scs, seedRange)
			}
			var outs []harness.Outcome
			for i := range max(count, 1) {
				for _, sc := range scs {
					if cmd.Context().Err() != nil {
						break
					}
					if opts.SeedSet && i > 0 {
						r.Opts.Seed = seed + int64(i)
					}
					o := r.Run(cmd.Context(), sc)
					if o.Skipped != "" {
						fmt.Fprintf(stderr, "%s: SKIPPED: %s\n", o.Scenario, o.Skipped)
					} else {
						fmt.Fprintf(stderr, "%s: %s (expected %s)%s\n", o.Scenario, o.Verdict, o.Expected, errSuffix(o.Err))
						harness.PrintFirstViolation(stderr, o.Dir, o.Results)
					}
					outs = append(outs, o)
				}
			}
			printTable(stdout, outs)
			return exitCode(outs)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Store, "store", "store", "root directory of run directories")
	f.Int64Var(&seed, "seed", 0, "seed for every scenario (default: the scenario's, or random)")
	f.IntVar(&count, "count", 1, "run every scenario this many times (with --seed: seed, seed+1, ...)")
	f.DurationVar(&opts.TimeLimit, "time-limit", 0, "cap each scenario's duration")
	f.StringVar(&opts.Binary, "binary", "", "raftkv binary (default: go build ./cmd/raftkv once)")
	f.StringVar(&targetName, "target", "", "override every scenario's target (the store under test: "+strings.Join(target.Names(), "|")+"); compare the runs with harness compare")
	f.StringVar(&opts.Backend, "backend", "", "override every scenario's backend ("+strings.Join(cluster.Backends(), "|")+")")
	f.StringToStringVar(&opts.TargetBinaries, "target-binary", nil, "binary of a target other than raftkv, as NAME=PATH (default: where its make rule puts it, e.g. make etcd's bin/etcd/VERSION/etcd)")
	f.BoolVarP(&verbose, "verbose", "v", false, "debug logging")
	f.BoolVar(&checkOnly, "parse-only", false, "only parse and validate the scenarios")
	f.StringSliceVar(&bugNames, "unsafe-bug", nil, "switch a planted bug on (a harness and raftkv built with -tags raftkv_bugs; see harness mutate --list): in the simulation, and passed to every node")
	f.StringVar(&seedRange, "seeds", "", "sweep seeds A..B (or 1..N) on the sim backend, checked in memory; a seed whose verdict is unexpected gets a report and a replay command")
	return cmd
}

// enableBugs switches the named catalogue bugs on in this process (the
// simulation runs here) and returns the node flags that switch them on in
// raftkv processes.
func enableBugs(names []string) ([]string, error) {
	ids, err := bugs.Parse(names)
	if err != nil {
		return nil, err
	}
	if err := bugs.Enable(ids...); err != nil {
		return nil, err
	}
	var flags []string
	for _, id := range ids {
		flags = append(flags, "--unsafe-bug="+string(id))
	}
	return flags, nil
}

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return ": harness error: " + err.Error()
}

func exitWith(w io.Writer, code int, err error) error {
	fmt.Fprintln(w, errLine(err))
	return exitError{code}
}

// errLine is err as the command prints it: prefixed by "harness:" once,
// even when the error comes from the harness package and says so already.
func errLine(err error) string {
	return "harness: " + strings.TrimPrefix(err.Error(), "harness: ")
}

// exitCode: 2 if any run failed or is unknown against its expectation,
// 1 if any verdict differs from its expectation, 0 otherwise.
func exitCode(outs []harness.Outcome) error {
	code := 0
	for _, o := range outs {
		switch {
		case o.Skipped != "":
		case o.Err != nil:
			code = 2
		case o.Matches():
		case o.Verdict == checker.Unknown:
			code = 2
		case code == 0:
			code = 1
		}
	}
	if code != 0 {
		return exitError{code}
	}
	return nil
}

func printTable(w io.Writer, outs []harness.Outcome) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tOPS\tFAULTS\tVERDICT\tEXPECTED\t\tREPORT")
	for _, o := range outs {
		mark := "ok"
		switch {
		case o.Skipped != "":
			mark = "SKIPPED"
		case !o.Matches():
			mark = "MISMATCH"
		}
		link := ""
		if o.Dir != "" {
			link = filepath.Join(o.Dir, "index.html")
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\n", o.Scenario, o.Ops, o.Faults, o.Verdict, o.Expected, mark, link)
	}
	tw.Flush()
}

func newCheck(stdout io.Writer) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "check PATH",
		Short: "Re-check a run directory, a history.jsonl or a Jepsen .edn history and re-render it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := args[0]
			st, err := os.Stat(path)
			if err != nil {
				return exitWith(cmd.ErrOrStderr(), 2, err)
			}
			var (
				res *harness.Results
				out string
			)
			if st.IsDir() {
				// A scenario directory checks its latest run.
				if _, err := os.Stat(filepath.Join(path, "history.jsonl")); err != nil {
					if _, lerr := os.Stat(filepath.Join(path, "latest", "history.jsonl")); lerr == nil {
						path = filepath.Join(path, "latest")
					}
				}
				out = path
				res, err = harness.CheckDir(path, timeout, nil, nil)
			} else {
				res, out, err = harness.CheckFile(path, timeout)
			}
			if res == nil {
				return exitWith(cmd.ErrOrStderr(), 2, err)
			}
			fmt.Fprintf(stdout, "%s: %s (%d ops, %d faults) — %s\n", res.Scenario, res.Verdict, res.Ops, res.Faults, filepath.Join(out, "index.html"))
			harness.PrintFirstViolation(stdout, out, res)
			for _, w := range res.Warnings {
				fmt.Fprintln(stdout, "warning:", w)
			}
			for _, e := range res.Errors {
				fmt.Fprintln(stdout, "error:", firstLine(e))
			}
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), errLine(err))
			}
			switch {
			case err != nil || res.Verdict == checker.Unknown:
				return exitError{2}
			case res.Verdict == checker.Invalid:
				return exitError{1}
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "check-timeout", time.Minute, "time budget of the linearizability search")
	return cmd
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func newList(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "list [DIR...]",
		Short: "List scenarios (default harness/scenarios), fault kinds and backends",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				args = []string{filepath.Join(moduleRoot(), "harness", "scenarios")}
				if rel, err := filepath.Rel(mustGetwd(), args[0]); err == nil {
					args[0] = rel
				}
			}
			var files []string
			for _, a := range args {
				_ = filepath.WalkDir(a, func(p string, d os.DirEntry, err error) error {
					if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
						files = append(files, p)
					}
					return nil
				})
			}
			sort.Strings(files)
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SCENARIO\tFILE\tBACKEND\tNODES\tDURATION\tREAD MODE\tEXPECT\tFAULTS")
			bad := 0
			for _, f := range files {
				sc, err := harness.LoadScenario(f)
				if err != nil {
					fmt.Fprintf(tw, "!\t%s\t%v\n", f, err)
					bad++
					continue
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%v\t%s\t%s\t%s\n", sc.Name, f, sc.Backend, sc.Nodes, sc.Duration.D(), sc.ReadMode, sc.Expect, strings.Join(sc.Faults(), ", "))
			}
			tw.Flush()
			fmt.Fprintln(stdout, "\nFAULTS")
			tw = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			for _, fi := range nemesis.Catalog() {
				fmt.Fprintf(tw, "  %s\t(>= %d nodes)\t%s\n", fi.Name, fi.MinNodes, fi.Description)
			}
			tw.Flush()
			fmt.Fprintf(stdout, "\nBACKENDS: %s\n", strings.Join(cluster.Backends(), ", "))
			fmt.Fprintf(stdout, "TARGETS: %s (a scenario's target:, default %s)\n", strings.Join(target.Names(), ", "), target.Default)
			if bad > 0 {
				return exitError{2}
			}
			return nil
		},
	}
}

func mustGetwd() string {
	d, err := os.Getwd()
	if err != nil {
		return "."
	}
	return d
}
