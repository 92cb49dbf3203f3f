package harness

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/checker"
)

func writeRun(t *testing.T, target string, res Results) string {
	t.Helper()
	dir := t.TempDir()
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	sc := "name: cmp\nbackend: process\nduration: 2s\ntarget: " + target + "\nnemesis: {interval: 1s, faults: [kill-leader]}\n"
	if err := os.WriteFile(filepath.Join(dir, "scenario.yaml"), []byte(sc), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Two runs side by side: per-target columns, overall figures from the
// "all" window, a fault's windows pooled (outcomes summed, worst latency).
func TestCompareRunsSideBySide(t *testing.T) {
	win := func(name string, ops, ok int, p50, p99 time.Duration) checker.WindowStats {
		return checker.WindowStats{Name: name, Ops: ops, OK: ok, OKRate: float64(ok) / float64(ops), LatencyP50: p50, LatencyP99: p99}
	}
	a := Results{Scenario: "cmp", Backend: "process", Verdict: checker.Valid, Ops: 400}
	a.Stats = &checker.Stats{DurationNS: int64(2 * time.Second)}
	a.Availability = []checker.WindowStats{win("kill-leader", 50, 40, 2*time.Millisecond, 9*time.Millisecond),
		win("kill-leader", 50, 10, 3*time.Millisecond, 30*time.Millisecond), win("outside", 300, 300, time.Millisecond, 2*time.Millisecond),
		win("all", 400, 350, time.Millisecond, 20*time.Millisecond)}
	b := Results{Scenario: "cmp", Backend: "process", Verdict: checker.Invalid, Ops: 100}
	b.Stats = &checker.Stats{DurationNS: int64(2 * time.Second)}
	b.Availability = []checker.WindowStats{win("all", 100, 100, 5*time.Millisecond, 8*time.Millisecond)}

	ra, err := SummarizeRun(writeRun(t, "raftkv", a))
	if err != nil {
		t.Fatal(err)
	}
	rb, err := SummarizeRun(writeRun(t, "etcd", b))
	if err != nil {
		t.Fatal(err)
	}
	k := ra.ByFault["kill-leader"]
	if ra.OpsPerSec != 200 || k.Ops != 100 || k.OK != 50 || k.LatencyP99 != 30*time.Millisecond || ra.Target != "raftkv" || rb.Target != "etcd" {
		t.Fatalf("summaries: %+v %+v", ra, rb)
	}
	var out strings.Builder
	PrintComparison(&out, []RunSummary{ra, rb})
	for _, want := range []string{"raftkv (process)", "etcd (process)", "invalid", "87.5%", "during kill-leader: ok, p50 / p99", "50.0% of 100, 3.0 ms / 30.0 ms", "-"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("comparison lacks %q:\n%s", want, out.String())
		}
	}
	if _, err := SummarizeRun(t.TempDir()); err == nil {
		t.Error("a directory without results.json summarized")
	}
}
