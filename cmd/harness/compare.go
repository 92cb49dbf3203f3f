package main

import (
	"io"
	"os"
	"path/filepath"

	"github.com/raftkv/raftkv/harness"
	"github.com/spf13/cobra"
)

// newCompare is `harness compare RUN_DIR...`: runs side by side.
func newCompare(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "compare RUN_DIR...",
		Short: "Put runs side by side: verdict, ops/s, availability and latency overall and per fault",
		Long: `compare reads the results of finished runs (run directories, or a
scenario's directory for its latest run) and prints them in columns: the
store each tested (the scenario's target) and backend, the verdict, ops and
ops/s, the share of operations that succeeded and the p50/p99 latency of
the successful ones over the whole run and, for every fault, over its
windows (operations invoked while it was active; latency of the worst
window).

To compare two stores under the same faults, run one scenario file against
each with run --target, then compare the two run directories:

  harness run --target raftkv --seed 7 --store store/cmp SCENARIO.yaml
  harness run --target etcd   --seed 7 --store store/cmp SCENARIO.yaml
  harness compare store/cmp/NAME/*/

Exit codes: 0 printed; 2 a directory is not a run.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var runs []harness.RunSummary
			for _, dir := range args {
				r, err := harness.SummarizeRun(latestRun(dir))
				if err != nil {
					return exitWith(cmd.ErrOrStderr(), 2, err)
				}
				runs = append(runs, r)
			}
			harness.PrintComparison(stdout, runs)
			return nil
		},
	}
}

// latestRun is dir, or dir/latest when dir is a scenario's directory of
// runs (it has no results.json of its own but a latest run that does).
func latestRun(dir string) string {
	if _, err := os.Stat(filepath.Join(dir, "results.json")); err != nil {
		if _, lerr := os.Stat(filepath.Join(dir, "latest", "results.json")); lerr == nil {
			return filepath.Join(dir, "latest")
		}
	}
	return dir
}
