package sim

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftkv/raftkv/checker"
	"github.com/raftkv/raftkv/histories"
	"github.com/raftkv/raftkv/nemesis"
)

var (
	flagSeeds = flag.Int("sim.seeds", 0, "seeds per scenario in TestSuite (default: 2 under -short or -race, else 4)")
	flagFrom  = flag.Int64("sim.from", 1, "first seed of TestSuite")
	flagSeed  = flag.Int64("sim.seed", 0, "replay one seed of -sim.scenario and log its summary")
	flagScen  = flag.String("sim.scenario", "", "scenario file for -sim.seed (default: every file of ../scenarios/sim)")
	flagTrace = flag.Bool("sim.trace", false, "with -sim.seed: log the run's trace")
)

func scenarioFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../scenarios/sim/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no sim scenarios: %v", err)
	}
	return files
}

func load(t *testing.T, path string) Config {
	t.Helper()
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func run(t *testing.T, cfg Config, seed int64) *Result {
	t.Helper()
	cfg.Seed = seed
	r, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("%s seed %d: %v", cfg.Name, seed, err)
	}
	return r
}

func seeds(from int64, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = from + int64(i)
	}
	return out
}

// The same seed gives the same history, byte for byte, also when runs of
// other seeds execute concurrently; different seeds give different ones.
func TestDeterministic(t *testing.T) {
	for _, name := range []string{"kill", "clock", "failpoints"} {
		cfg := load(t, "../scenarios/sim/"+name+".yaml")
		a := run(t, cfg, 7)
		var wg sync.WaitGroup
		hashes := make([]string, 3)
		for i := range hashes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cfg := cfg
				cfg.Seed = []int64{7, 8, 7}[i]
				r, err := Run(context.Background(), cfg)
				if err != nil {
					t.Error(err)
					return
				}
				hashes[i] = r.Hash()
			}()
		}
		wg.Wait()
		if hashes[0] != a.Hash() || hashes[2] != a.Hash() {
			t.Errorf("%s: seed 7 gave histories %s, %s and %s", name, a.Hash(), hashes[0], hashes[2])
		}
		if hashes[1] == a.Hash() {
			t.Errorf("%s: seeds 7 and 8 gave the same history", name)
		}
		h, events, err := histories.Read(bytes.NewReader(a.History))
		if err != nil {
			t.Fatal(err)
		}
		if h.StartedAt != "" || h.Backend != Name || h.Seed != 7 || len(events) != len(a.Events) {
			t.Errorf("%s: header %+v, %d events read back of %d", name, h, len(events), len(a.Events))
		}
		if a.Faults == 0 {
			t.Errorf("%s: no fault was injected", name)
		}
	}
}

// Every sim scenario gets the verdict it expects over a few seeds (more
// with -sim.seeds); a failing seed prints the command that replays it.
func TestSuite(t *testing.T) {
	n := 4
	if testing.Short() || raceEnabled {
		n = 2
	}
	if *flagSeeds > 0 {
		n = *flagSeeds
	}
	for _, f := range scenarioFiles(t) {
		cfg := load(t, f)
		t.Run(cfg.Name, func(t *testing.T) {
			st := Sweep(context.Background(), cfg, seeds(*flagFrom, n), 2, time.Minute, func(o SeedOutcome) {
				if !o.Matches(cfg.Expect) {
					t.Errorf("seed %d: %s (expected %s) %v %v; replay: go test ./harness/sim -run TestReplay -sim.scenario %s -sim.seed %d -v",
						o.Seed, o.Verdict, cfg.Expect, o.Reasons, o.Err, f, o.Seed)
				}
			})
			t.Log(st)
		})
	}
}

// The demonstrations are caught, and a failing seed replays to the same
// history and the same violation.
func TestDemosReplay(t *testing.T) {
	for _, name := range []string{"stale-reads", "lease-clock-skew"} {
		cfg := load(t, "../scenarios/sim/"+name+".yaml")
		invalid := 0
		for _, seed := range seeds(1, 3) {
			r := run(t, cfg, seed)
			res := Check(r, time.Minute)
			if res.Verdict != checker.Invalid {
				continue
			}
			invalid++
			again := run(t, cfg, seed)
			res2 := Check(again, time.Minute)
			if again.Hash() != r.Hash() || res2.Verdict != checker.Invalid ||
				!slices.Equal(res2.Linearizability.FailedKeys, res.Linearizability.FailedKeys) {
				t.Errorf("%s seed %d: replay gave %s %v, first run %s %v", name, seed, again.Hash(), res2.Linearizability.FailedKeys, r.Hash(), res.Linearizability.FailedKeys)
			}
		}
		if invalid < 2 {
			t.Errorf("%s: only %d of 3 seeds caught", name, invalid)
		}
	}
}

// Correct configurations break no Raft safety property; the lease demo
// breaks the read-index property at the raft level too (a read answered
// below an index already committed elsewhere).
func TestRaftChecker(t *testing.T) {
	for _, name := range []string{"partitions", "kill", "lease", "lease-clock-skew"} {
		cfg := load(t, "../scenarios/sim/"+name+".yaml")
		r := run(t, cfg, 5)
		if want := name == "lease-clock-skew"; (len(r.Violations) > 0) != want {
			t.Errorf("%s: violations %v, want some: %v", name, r.Violations, want)
		}
		if name == "lease-clock-skew" && !strings.Contains(r.Violations[0], "linearizable read") {
			t.Errorf("%s: %v", name, r.Violations)
		}
	}
}

// TestReplay runs one seed (-sim.seed) and logs what it found.
func TestReplay(t *testing.T) {
	if *flagSeed == 0 {
		t.Skip("-sim.seed not set")
	}
	files := scenarioFiles(t)
	if *flagScen != "" {
		files = []string{*flagScen}
	}
	for _, f := range files {
		cfg := load(t, f)
		r := run(t, cfg, *flagSeed)
		res := Check(r, time.Minute)
		var faults []string
		for _, w := range histories.FaultWindows(r.Events) {
			faults = append(faults, fmt.Sprintf("%v-%v %s %v", time.Duration(w.Start), time.Duration(w.End), w.F, w.Nodes))
		}
		t.Logf("%s seed %d: %s %v; history %s; %d ops, simulated %v in %d steps, %d messages, %d crashes\nfaults:\n  %s",
			cfg.Name, *flagSeed, res.Verdict, res.Reasons, r.Hash(), res.Stats.Ops, r.SimTime, r.Steps, r.Messages, r.Crashes,
			strings.Join(faults, "\n  "))
		if *flagTrace {
			t.Logf("trace:\n%s", strings.Join(r.Trace, "\n"))
		}
	}
}

// Shrink finds a shorter prefix of a failing seed that still fails, and the
// prefix is itself deterministic.
func TestShrink(t *testing.T) {
	cfg := load(t, "../scenarios/sim/stale-reads.yaml")
	cfg.Expect = "valid" // so that the demo's invalid runs count as failing
	d, o := Shrink(context.Background(), cfg, 2, time.Minute)
	if o.Matches(cfg.Expect) || d >= cfg.Duration.D() {
		t.Fatalf("shrunk to %v: %s %v", d, o.Verdict, o.Err)
	}
	c := cfg
	c.Duration = nemesis.Duration(d)
	again := RunSeed(context.Background(), c, 2, time.Minute)
	if again.Hash != o.Hash || again.Verdict != checker.Invalid {
		t.Errorf("replaying the %v prefix gave %s %s, shrinking saw %s", d, again.Hash, again.Verdict, o.Hash)
	}
	t.Logf("seed 2 of %s fails within %v of %v", cfg.Name, d, cfg.Duration.D())
}

// membership-churn removes a node, which joins again empty as a learner and
// is promoted, or (one rejoin in three) stays a learner: the run ends with
// every node a member, a voter unless its last rejoin was as a permanent
// learner, converged.
func TestMembershipChurn(t *testing.T) {
	cfg := load(t, "../scenarios/sim/membership.yaml")
	r := run(t, cfg, 2)
	if r.ConfChanges < 3 || len(r.Voters)+len(r.Learners) != cfg.Nodes || len(r.Voters) < 2 {
		t.Errorf("%d conf changes, final voters %v learners %v", r.ConfChanges, r.Voters, r.Learners)
	}
	for _, name := range r.Learners {
		stays := false
		for _, l := range r.Trace {
			if strings.Contains(l, "removing "+name+" ") {
				stays = strings.Contains(l, "rejoins as a learner that stays one")
			}
		}
		if !stays {
			t.Errorf("%s ended a learner, but its last rejoin was to be promoted", name)
		}
	}
	if res := Check(r, time.Minute); res.Verdict != checker.Valid || res.Convergence == nil || res.Convergence.Verdict != checker.Valid {
		t.Errorf("verdict %s %v, convergence %+v", res.Verdict, res.Reasons, res.Convergence)
	}
}

// BenchmarkRun measures one simulated run of each of two scenarios (without
// the checks) and reports simulated seconds per wall-clock second.
func BenchmarkRun(b *testing.B) {
	for _, name := range []string{"kill", "ring"} {
		cfg, err := LoadConfig("../scenarios/sim/" + name + ".yaml")
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			var simTime time.Duration
			for i := 0; b.Loop(); i++ {
				cfg.Seed = int64(i + 1)
				r, err := Run(context.Background(), cfg)
				if err != nil {
					b.Fatal(err)
				}
				simTime += r.SimTime
			}
			b.ReportMetric(simTime.Seconds()/b.Elapsed().Seconds(), "sim-s/s")
		})
	}
}

// WriteDir leaves what the harness checks and what a re-check needs.
func TestWriteDir(t *testing.T) {
	cfg := load(t, "../scenarios/sim/lease-clock-skew.yaml")
	r := run(t, cfg, 1)
	dir := t.TempDir()
	if err := r.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "history.jsonl"))
	if err != nil || !bytes.Equal(b, r.History) {
		t.Fatalf("history.jsonl: %v", err)
	}
	for _, f := range []string{"nodes.json", "sim.json", "sim-trace.log"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	if v := ReadViolations(dir); len(v) == 0 || len(v) != len(r.Violations) {
		t.Errorf("violations read back: %v, run had %v", v, r.Violations)
	}
	if v := ReadViolations(t.TempDir()); v != nil {
		t.Errorf("no sim.json: %v", v)
	}
}

// The nodes' disk can be the real bbolt store (raft/boltstore) behind
// raft/lazystore: the runs stay valid, replay byte for byte, and the trace
// says which disk each node had.
func TestBoltDisk(t *testing.T) {
	cfg := load(t, "../scenarios/sim/failpoints.yaml")
	cfg.LogStore = "bolt"
	for _, seed := range seeds(1, 3) {
		r := run(t, cfg, seed)
		if res := Check(r, time.Minute); res.Verdict != checker.Valid {
			t.Errorf("seed %d: %s %v", seed, res.Verdict, res.Reasons)
		}
		if again := run(t, cfg, seed); again.Hash() != r.Hash() {
			t.Errorf("seed %d: replay gave history %s, first run %s", seed, again.Hash(), r.Hash())
		}
		if !slices.ContainsFunc(r.Trace, func(l string) bool { return strings.Contains(l, "disk bolt") }) {
			t.Errorf("seed %d: no node ran on bolt", seed)
		}
	}
}
