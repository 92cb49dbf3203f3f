package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"strings"

	"github.com/raftkv/raftkv/checker"
	"github.com/raftkv/raftkv/histories"
)

// TestPipelineAgainstFakeBackend runs whole scenarios against the fake
// cluster: a correct store under partitions, kills, pauses, crash
// failpoints and membership churn must be valid, and the same store serving
// stale local reads while its leader is isolated must be invalid.
func TestPipelineAgainstFakeBackend(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two 2-second scenarios")
	}
	cases := []struct {
		file string
		want checker.Verdict
	}{
		{"testdata/fake-partitions.yaml", checker.Valid},
		{"testdata/fake-stale.yaml", checker.Invalid},
	}
	t.Parallel()
	store := t.TempDir()
	r := &Runner{Opts: RunOptions{Store: store, Seed: 5, SeedSet: true, TimeLimit: 2 * time.Second, Progress: tlog{t}}}
	for _, c := range cases {
		t.Run(filepath.Base(c.file), func(t *testing.T) {
			t.Parallel()
			sc, err := LoadScenario(c.file)
			if err != nil {
				t.Fatal(err)
			}
			out := r.Run(context.Background(), sc)
			if out.Err != nil {
				t.Fatalf("run: %v", out.Err)
			}
			if out.Verdict != c.want || !out.Matches() {
				t.Fatalf("verdict %s, want %s; results: %+v", out.Verdict, c.want, out.Results)
			}
			if out.Ops < 100 || out.Faults < 1 {
				t.Errorf("%d ops, %d faults: the run did too little", out.Ops, out.Faults)
			}
			for _, name := range []string{"scenario.yaml", "history.jsonl", "history.edn", "nodes.json", "results.json",
				"history.html", "timeline.html", "latency.png", "throughput.png", "index.html"} {
				if st, err := os.Stat(filepath.Join(out.Dir, name)); err != nil || st.Size() == 0 {
					t.Errorf("artifact %s missing or empty: %v", name, err)
				}
			}
			latest, err := filepath.EvalSymlinks(filepath.Join(store, sc.Name, "latest"))
			if err != nil || filepath.Base(latest) != filepath.Base(out.Dir) {
				t.Errorf("latest -> %s (%v), want %s", latest, err, out.Dir)
			}
			if lw := out.Results.LostWrites; lw == nil || lw.KeysChecked == 0 {
				t.Errorf("final reads did not reach the lost-writes check: %+v", lw)
			}
			if c.want == checker.Valid {
				if cv := out.Results.Convergence; cv == nil || !cv.Converged {
					t.Errorf("fake cluster did not converge: %+v", cv)
				}
			}

			// Re-checking offline gives the same verdict: the valid run
			// from its directory, the invalid one from its Jepsen EDN
			// export (each check renders everything, which is slow under
			// -race, so one each).
			if c.want == checker.Valid {
				res, err := CheckDir(out.Dir, 20*time.Second, nil, nil)
				if err != nil || res.Verdict != c.want {
					t.Errorf("re-check of the run dir: %s, %v", res.Verdict, err)
				}
			} else {
				checkFirstViolationShown(t, c.file, out)
				res, _, err := CheckFile(filepath.Join(out.Dir, "history.edn"), 20*time.Second)
				if err != nil || res.Verdict != c.want {
					t.Errorf("check of history.edn: %v, %v", res, err)
				}
			}
		})
	}
}

func TestRunFailureStillLeavesResults(t *testing.T) {
	sc, err := ParseScenario([]byte("name: nobinary\nbackend: process\nduration: 1s\n"), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	store := t.TempDir()
	r := &Runner{Opts: RunOptions{Store: store, Binary: filepath.Join(store, "does-not-exist")}}
	out := r.Run(context.Background(), sc)
	if out.Err == nil || out.Verdict != checker.Unknown || out.Matches() {
		t.Fatalf("outcome %+v", out)
	}
	for _, name := range []string{"scenario.yaml", "results.json", "index.html"} {
		if _, err := os.Stat(filepath.Join(out.Dir, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestAnalyzeRecoversFromACheckerPanic(t *testing.T) {
	res := &Results{}
	safely(res, "boom", func() { panic("checker bug") })
	res.finish()
	if len(res.Errors) != 1 || res.Verdict != checker.Unknown {
		t.Fatalf("panic not recorded as unknown: %+v", res)
	}
}

// tlog sends progress lines to the test log.
type tlog struct{ t *testing.T }

func (l tlog) Write(p []byte) (int, error) {
	l.t.Logf("%s %s", time.Now().Format("15:04:05.000"), p)
	return len(p), nil
}

// TestProcessBackendScenario runs the CI partition scenario end to end
// against real raftkv processes built from this tree.
func TestProcessBackendScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("builds raftkv and runs a 5-second scenario")
	}
	t.Parallel()
	sc, err := LoadScenario("scenarios/ci/partition.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r := &Runner{Opts: RunOptions{Store: t.TempDir(), SourceDir: "..", Seed: 11, SeedSet: true, Progress: tlog{t}}}
	out := r.Run(context.Background(), sc)
	if out.Err != nil {
		t.Fatalf("run: %v", out.Err)
	}
	if out.Verdict != checker.Valid {
		t.Fatalf("verdict %s; results: %+v", out.Verdict, out.Results)
	}
	if out.Faults != 1 || out.Results.OK < 50 {
		t.Errorf("%d faults, %d ok ops: the run did too little", out.Faults, out.Results.OK)
	}
	for _, n := range []string{"node0", "node1", "node2"} {
		if st, err := os.Stat(filepath.Join(out.Dir, "logs", n+".log")); err != nil || st.Size() == 0 {
			t.Errorf("log of %s: %v", n, err)
		}
	}
	if cv := out.Results.Convergence; cv == nil || !cv.Converged {
		t.Errorf("nodes did not converge: %+v", cv)
	}
}

// TestSecureScenario runs the CI secure scenario end to end: the run makes
// its credentials in secrets/ (0700), every node starts with the TLS and
// token flags (so every client of the harness had to speak https and send
// its token for the run to have a history at all), and the verdict is
// valid. TestProcessBackendSecured shows that such a node refuses a client
// without a token.
func TestSecureScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("builds raftkv and runs a 6-second scenario")
	}
	t.Parallel()
	sc, err := LoadScenario("scenarios/ci/secure.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r := &Runner{Opts: RunOptions{Store: t.TempDir(), SourceDir: "..", Seed: 13, SeedSet: true, Progress: tlog{t}}}
	out := r.Run(context.Background(), sc)
	if out.Err != nil {
		t.Fatalf("run: %v", out.Err)
	}
	if out.Verdict != checker.Valid || out.Faults != 2 || out.Results.OK < 50 {
		t.Fatalf("verdict %s, %d faults, %d ok ops; results: %+v", out.Verdict, out.Faults, out.Results.OK, out.Results)
	}
	secrets := filepath.Join(out.Dir, SecretsDir)
	if st, err := os.Stat(secrets); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("%s: %v, mode %v", secrets, err, st.Mode())
	}
	for _, n := range []string{"node0", "node1", "node2"} {
		b, err := os.ReadFile(filepath.Join(out.Dir, "logs", n+".log"))
		if err != nil {
			t.Fatal(err)
		}
		log := string(b)
		for _, flag := range []string{"--peer-cert " + filepath.Join(secrets, n+".pem"), "--cert " + filepath.Join(secrets, n+".pem"),
			"--peer-ca " + filepath.Join(secrets, "ca.pem"), "--token-file " + filepath.Join(secrets, "tokens.txt"),
			"--node-token-file " + filepath.Join(secrets, "node-token.txt")} {
			if !strings.Contains(log, flag) {
				t.Errorf("%s did not start with %s", n, flag)
			}
		}
		if strings.Contains(log, "the network is trusted") {
			t.Errorf("%s says it trusts the network", n)
		}
	}
	if cv := out.Results.Convergence; cv == nil || !cv.Converged {
		t.Errorf("nodes did not converge (status needs a token): %+v", cv)
	}
}

// TestSimBackendScenarios runs simulation scenarios through the same
// Runner, checks and report as the real backends.
func TestSimBackendScenarios(t *testing.T) {
	t.Parallel()
	store := t.TempDir()
	r := &Runner{Opts: RunOptions{Store: store, Seed: 3, SeedSet: true}}
	for _, c := range []struct {
		file string
		want checker.Verdict
	}{
		{"scenarios/sim/partitions.yaml", checker.Valid},
		{"scenarios/sim/stale-reads.yaml", checker.Invalid},
	} {
		sc, err := LoadScenario(c.file)
		if err != nil {
			t.Fatal(err)
		}
		out := r.Run(context.Background(), sc)
		if out.Err != nil || out.Verdict != c.want || !out.Matches() {
			t.Errorf("%s: verdict %s (want %s), err %v", c.file, out.Verdict, c.want, out.Err)
			continue
		}
		for _, name := range []string{"history.jsonl", "nodes.json", "results.json", "history.html", "index.html"} {
			if _, err := os.Stat(filepath.Join(out.Dir, name)); err != nil {
				t.Errorf("%s: %v", c.file, err)
			}
		}
		if c.want == checker.Invalid {
			checkFirstViolationShown(t, c.file, out)
		}
	}
}

// checkFirstViolationShown checks that an invalid run names its first
// violation: a counterexample of 2-4 operations in results.json (a stale
// read and the write it missed, or two reads and their writes), its
// sentence in index.html, and links to the violating read in timeline.html
// and history.html.
func checkFirstViolationShown(t *testing.T, name string, out Outcome) {
	t.Helper()
	v := out.Results.FirstViolation()
	if v == nil || len(v.Ops) < 2 || len(v.Ops) > 4 || v.Sentence == "" {
		t.Fatalf("%s: first violation %+v, want a counterexample of 2-4 operations", name, v)
	}
	index, err := os.ReadFile(filepath.Join(out.Dir, "index.html"))
	if err != nil || !strings.Contains(string(index), v.Sentence) {
		t.Errorf("%s: index.html lacks the first violation %q (%v)", name, v.Sentence, err)
	}
	last := v.Ops[len(v.Ops)-1]
	for _, page := range []string{"timeline.html", "history.html"} {
		anchor := fmt.Sprintf(`href="%s#ev-%d"`, page, last.Event)
		if !strings.Contains(string(index), anchor) {
			t.Errorf("%s: index.html does not link %s", name, anchor)
		}
	}
	timeline, err := os.ReadFile(filepath.Join(out.Dir, "timeline.html"))
	if err != nil || !strings.Contains(string(timeline), fmt.Sprintf(`id="ev-%d"`, last.Event)) {
		t.Errorf("%s: timeline.html has no operation ev-%d (%v)", name, last.Event, err)
	}
	_, evs, err := histories.ReadFile(filepath.Join(out.Dir, "history.jsonl"))
	if err != nil || last.Event >= len(evs) || evs[last.Event].Type != histories.Invoke || evs[last.Event].Process != last.Process {
		t.Errorf("%s: event %d is not the invocation of process %d's %s (%v)", name, last.Event, last.Process, last.F, err)
	}
}
