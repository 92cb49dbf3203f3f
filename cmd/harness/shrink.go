package main

import (
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftkv/raftkv/harness"
)

func newShrink(stdout, stderr io.Writer) *cobra.Command {
	var (
		opts     harness.ShrinkOptions
		store    string
		bugNames []string
	)
	cmd := &cobra.Command{
		Use:   "shrink RUN_DIR",
		Short: "Shrink an invalid simulated run to a smaller case that is still invalid",
		Long: `shrink takes the directory of an invalid run on the sim backend (or a
scenario's directory: its latest run) and looks for a smaller case with the
same seed that is still invalid. It writes the seed's draws into the scenario
(a swarm seed's configuration, the raft knobs, the fault plan as fixed
nemesis steps), then, while the verdict stays invalid, shortens the duration,
drops fault steps, and lowers the clients and keys, each candidate a
simulated run of its own (at most --max-trials).

It writes RUN_DIR/shrunk.yaml, runs it like harness run into --store (its
report shows the original and the shrunk schedule side by side) and
RUN_DIR/shrink.json, and prints both schedules, the sizes before and after,
and the command that replays the shrunk case.

Exit codes:
  0  shrunk, and the shrunk scenario's run is invalid
  2  bad usage; the run is not on the sim backend or not invalid; the search
     or the shrunk scenario's run failed`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := harness.ResolveRunDir(args[0])
			if err != nil {
				return exitWith(stderr, 2, err)
			}
			flags, err := enableBugs(bugNames)
			if err != nil {
				return exitWith(stderr, 2, err)
			}
			opts.ReplayFlags = append(opts.ReplayFlags, flags...)
			if store == "" {
				// Next to the original: store/<scenario>/<run>.
				store = filepath.Dir(filepath.Dir(dir))
			}
			r := &harness.Runner{Opts: harness.RunOptions{Store: store, SourceDir: moduleRoot(), Progress: stderr,
				Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}}
			rep, err := r.Shrink(cmd.Context(), dir, opts)
			if rep != nil {
				printShrink(stdout, rep)
			}
			if err != nil {
				return exitWith(stderr, 2, err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&opts.MaxTrials, "max-trials", 300, "most simulated runs the search makes")
	f.DurationVar(&opts.CheckTimeout, "check-timeout", 10*time.Second, "time budget of each trial's linearizability search (running out is not invalid)")
	f.BoolVar(&opts.SameFailure, "same-failure", false, "keep a smaller case only if every check that failed the original still fails (default: any invalid verdict)")
	f.StringVar(&store, "store", "", "root directory of the shrunk run's directory (default: the store RUN_DIR is in)")
	f.StringSliceVar(&bugNames, "unsafe-bug", nil, "a planted bug the run had switched on (harness run --unsafe-bug; a harness built with -tags raftkv_bugs)")
	return cmd
}

// printShrink writes the schedules before and after (a line per step),
// the sizes, the shrunk run and the replay command.
func printShrink(w io.Writer, rep *harness.ShrinkReport) {
	in := rep.Info
	schedule := func(title string, c harness.ShrinkCase) {
		fmt.Fprintf(w, "%s schedule (%d step(s)):\n", title, len(c.Steps))
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, st := range c.Steps {
			fmt.Fprintf(tw, "  at %s\thold %s\t%s\n", st.At, st.Hold, st.Fault)
		}
		if len(c.Steps) == 0 {
			fmt.Fprintln(tw, "  (no faults)")
		}
		tw.Flush()
	}
	fmt.Fprintln(w)
	schedule("original", in.Original)
	schedule("shrunk", in.Shrunk)
	fmt.Fprintf(w, "duration %s -> %s, clients %d -> %d, keys %d -> %d; %d trial runs", in.Original.Duration, in.Shrunk.Duration,
		in.Original.Clients, in.Shrunk.Clients, in.Original.Keys, in.Shrunk.Keys, in.Trials)
	if in.Exhausted {
		fmt.Fprint(w, " (budget spent: a smaller case may exist)")
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "failed checks: %s -> %s\n", strings.Join(in.Original.Failed, ", "), strings.Join(in.Shrunk.Failed, ", "))
	fmt.Fprintf(w, "shrunk scenario: %s\n", in.Scenario)
	o := rep.Outcome
	if o.Dir != "" {
		fmt.Fprintf(w, "shrunk run: %s (expected %s)%s — %s\n", o.Verdict, o.Expected, errSuffix(o.Err), filepath.Join(o.Dir, "index.html"))
		harness.PrintFirstViolation(w, o.Dir, o.Results)
	}
	for _, warn := range rep.Warnings {
		fmt.Fprintln(w, "warning:", warn)
	}
	fmt.Fprintf(w, "replay: %s\n", in.Replay)
}
