package harness

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/raftkv/raftkv/checker"
)

// RunSummary is what `harness compare` puts side by side for one run: the
// store it tested, its verdict, throughput, and availability and latency
// overall and per fault (the windows of one fault name pooled).
type RunSummary struct {
	Dir      string
	Scenario string
	Target   string
	Backend  string
	Verdict  checker.Verdict
	Ops      int
	// OpsPerSec is the operations invoked per second of the history.
	OpsPerSec float64
	// All is the whole history's availability window ("all").
	All checker.WindowStats
	// ByFault pools the fault windows by fault name: operations and
	// outcomes summed, latency the worst window's p50 and p99.
	ByFault map[string]checker.WindowStats
}

// SummarizeRun reads a run directory's results.json and scenario.yaml.
func SummarizeRun(dir string) (RunSummary, error) {
	s := RunSummary{Dir: dir, ByFault: map[string]checker.WindowStats{}}
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		return s, fmt.Errorf("%w: %s is not a run directory: %w", ErrRun, dir, err)
	}
	var res Results
	if err := json.Unmarshal(b, &res); err != nil {
		return s, fmt.Errorf("%w: %s/results.json: %w", ErrRun, dir, err)
	}
	s.Scenario, s.Backend, s.Verdict, s.Ops = res.Scenario, res.Backend, res.Verdict, res.Ops
	s.Target = "raftkv"
	if sc, err := LoadScenario(filepath.Join(dir, "scenario.yaml")); err == nil && sc.Target != "" {
		s.Target = sc.Target
	}
	if res.Stats != nil && res.Stats.DurationNS > 0 {
		d := res.Stats.DurationNS
		s.OpsPerSec = float64(res.Ops) / time.Duration(d).Seconds()
	}
	for _, w := range res.Availability {
		switch w.Name {
		case "all":
			s.All = w
			continue
		case "outside":
			continue
		}
		p := s.ByFault[w.Name]
		p.Name = w.Name
		p.Ops, p.OK, p.Fail, p.Info = p.Ops+w.Ops, p.OK+w.OK, p.Fail+w.Fail, p.Info+w.Info
		p.LatencyP50, p.LatencyP99 = max(p.LatencyP50, w.LatencyP50), max(p.LatencyP99, w.LatencyP99)
		if p.Ops > 0 {
			p.OKRate = float64(p.OK) / float64(p.Ops)
		}
		s.ByFault[w.Name] = p
	}
	return s, nil
}

// PrintComparison prints runs side by side, one column each: the overall
// figures, then availability (share of operations that succeeded) and
// worst-window latency for every fault any of them injected.
func PrintComparison(w io.Writer, runs []RunSummary) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(label string, cell func(r RunSummary) string) {
		fmt.Fprint(tw, label)
		for _, r := range runs {
			fmt.Fprint(tw, "\t"+cell(r))
		}
		fmt.Fprintln(tw)
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
	pct := func(x float64) string { return fmt.Sprintf("%.1f%%", 100*x) }
	row("", func(r RunSummary) string { return r.Target + " (" + r.Backend + ")" })
	row("scenario", func(r RunSummary) string { return r.Scenario })
	row("verdict", func(r RunSummary) string { return string(r.Verdict) })
	row("ops", func(r RunSummary) string { return fmt.Sprint(r.Ops) })
	row("ops/s", func(r RunSummary) string { return fmt.Sprintf("%.0f", r.OpsPerSec) })
	row("ok (all)", func(r RunSummary) string { return pct(r.All.OKRate) })
	row("latency p50 / p99 (ok ops)", func(r RunSummary) string { return ms(r.All.LatencyP50) + " / " + ms(r.All.LatencyP99) })
	var faults []string
	for _, r := range runs {
		for f := range r.ByFault {
			if !slices.Contains(faults, f) {
				faults = append(faults, f)
			}
		}
	}
	slices.Sort(faults)
	for _, f := range faults {
		row("during "+f+": ok, p50 / p99", func(r RunSummary) string {
			p, ok := r.ByFault[f]
			if !ok {
				return "-"
			}
			return fmt.Sprintf("%s of %d, %s / %s", pct(p.OKRate), p.Ops, ms(p.LatencyP50), ms(p.LatencyP99))
		})
	}
	row("report", func(r RunSummary) string { return filepath.Join(r.Dir, "index.html") })
	tw.Flush()
}
