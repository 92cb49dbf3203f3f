package sim

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/raftkv/raftkv/checker"
	"github.com/raftkv/raftkv/nemesis"
)

// A configuration made explicit runs the same history as the scenario and
// seed it comes from — a swarm seed's draw, the raft knobs of a seed that
// is not a swarm's, the fault plan as fixed steps — and it survives being
// written as YAML and read back.
func TestExplicitReplaysTheSeed(t *testing.T) {
	for _, c := range []struct {
		file  string
		seeds []int64
	}{
		{"../scenarios/sim/stale-reads.yaml", []int64{3}},
		{"../scenarios/sim/figure8.yaml", []int64{1}},
		{"../scenarios/sim/swarm.yaml", []int64{1, 2, 3}},
		{"../scenarios/sim/swarm-lease.yaml", []int64{4}},
	} {
		cfg := load(t, c.file)
		cfg.Duration = min(cfg.Duration, nemesis.Duration(3*time.Second))
		for _, seed := range c.seeds {
			ex := Explicit(cfg, seed)
			if ex.Swarm || len(ex.Nemesis.Faults) > 0 || ex.Node.PreVote == nil || ex.Node.CheckQuorum == nil || ex.Node.MaxInflight == 0 {
				t.Errorf("%s seed %d: not explicit: %+v", cfg.Name, seed, ex)
			}
			b, err := yaml.Marshal(ex)
			if err != nil {
				t.Fatal(err)
			}
			back, err := ParseConfig(b)
			if err != nil {
				t.Fatalf("%s seed %d: %v\n%s", cfg.Name, seed, err, b)
			}
			if !reflect.DeepEqual(back, ex) {
				t.Errorf("%s seed %d: read back as\n%+v\nwritten\n%+v\n%s", cfg.Name, seed, back, ex, b)
			}
			a, e := run(t, cfg, seed), run(t, back, seed)
			if a.Hash() != e.Hash() {
				t.Errorf("%s seed %d: explicit history %s, the seed's %s", cfg.Name, seed, e.Hash()[:12], a.Hash()[:12])
			}
			if a.Faults != len(ex.Nemesis.Steps) {
				t.Errorf("%s seed %d: %d faults injected, %d steps", cfg.Name, seed, a.Faults, len(ex.Nemesis.Steps))
			}
		}
	}
}

// Minimize keeps the seed invalid while it shrinks: the result is no
// larger than the original in any dimension, smaller in one, within the
// trial budget, and its YAML replays to the same invalid history.
func TestMinimize(t *testing.T) {
	for _, c := range []struct {
		file string
		seed int64
	}{
		{"../scenarios/sim/stale-reads.yaml", 3},
		{"../scenarios/sim/lease-clock-skew.yaml", 1},
	} {
		cfg := load(t, c.file)
		progress := 0
		m, err := Minimize(context.Background(), cfg, c.seed, MinimizeOptions{MaxTrials: 40,
			Progress: func(string, ...any) { progress++ }})
		if err != nil {
			t.Fatalf("%s seed %d: %v", cfg.Name, c.seed, err)
		}
		o, s := m.Original, m.Shrunk
		t.Logf("%s seed %d, %d trials: %s -> %s", cfg.Name, c.seed, m.Trials, describe(o), describe(s))
		if m.Outcome.Verdict != checker.Invalid || m.Outcome.Err != nil {
			t.Errorf("%s: shrunk outcome %s %v", cfg.Name, m.Outcome.Verdict, m.Outcome.Err)
		}
		if s.Duration > o.Duration || len(s.Nemesis.Steps) > len(o.Nemesis.Steps) || s.Clients > o.Clients || s.Keys > o.Keys || !smaller(s, o) {
			t.Errorf("%s: not shrunk: %s -> %s", cfg.Name, describe(o), describe(s))
		}
		if m.Trials > 40 || m.Trials < 2 || progress == 0 {
			t.Errorf("%s: %d trials, %d progress lines", cfg.Name, m.Trials, progress)
		}
		for _, st := range s.Nemesis.Steps {
			if st.At+st.Hold > s.Duration.D() {
				t.Errorf("%s: step %v ends after the duration %v", cfg.Name, st, s.Duration.D())
			}
		}
		b, err := yaml.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseConfig(b)
		if err != nil {
			t.Fatalf("%s: %v\n%s", cfg.Name, err, b)
		}
		if r := RunSeed(context.Background(), back, c.seed, 0); r.Verdict != checker.Invalid || r.Hash != m.Outcome.Hash {
			t.Errorf("%s: the shrunk YAML replays to %s %s, the shrink's run was %s %s", cfg.Name, r.Verdict, r.Hash[:12], m.Outcome.Verdict, m.Outcome.Hash[:12])
		}
	}
	// lease-clock-skew needs a fault; stale reads do not.
	cfg := load(t, "../scenarios/sim/lease-clock-skew.yaml")
	m, err := Minimize(context.Background(), cfg, 1, MinimizeOptions{MaxTrials: 40})
	if err != nil || len(m.Shrunk.Nemesis.Steps) == 0 || len(m.Shrunk.Nemesis.Steps) >= len(m.Original.Nemesis.Steps) {
		t.Errorf("lease-clock-skew: %v, %d of %d steps kept", err, len(m.Shrunk.Nemesis.Steps), len(m.Original.Nemesis.Steps))
	}
}

// A run that is not invalid is refused; a spent budget ends the search
// with the smallest invalid case found so far.
func TestMinimizeRefusesAndStops(t *testing.T) {
	cfg := load(t, "../scenarios/sim/partitions.yaml")
	cfg.Duration = nemesis.Duration(2 * time.Second)
	if _, err := Minimize(context.Background(), cfg, 1, MinimizeOptions{MaxTrials: 5}); !errors.Is(err, ErrNotInvalid) {
		t.Errorf("a valid seed: %v", err)
	}
	cfg = load(t, "../scenarios/sim/lease-clock-skew.yaml")
	m, err := Minimize(context.Background(), cfg, 1, MinimizeOptions{MaxTrials: 3})
	if err != nil || !m.Exhausted || m.Trials != 3 || m.Outcome.Verdict != checker.Invalid {
		t.Fatalf("budget 3: %v, %+v", err, m)
	}
	if r := RunSeed(context.Background(), m.Shrunk, 1, 0); r.Hash != m.Outcome.Hash {
		t.Errorf("a budget-stopped shrink's case replays to %s, its run was %s", r.Hash[:12], m.Outcome.Hash[:12])
	}
}
