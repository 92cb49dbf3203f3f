package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/raftkv/raftkv/checker"
	"github.com/raftkv/raftkv/harness/sim"
	"github.com/raftkv/raftkv/nemesis"
)

// ErrShrink wraps the refusals and failures of Shrink.
var ErrShrink = errors.New("harness: shrink")

// Files of a shrink.
const (
	// ShrunkFile is the shrunk scenario, written into the original run's
	// directory.
	ShrunkFile = "shrunk.yaml"
	// ShrinkFile is the shrink's record (ShrinkInfo), written into the
	// original run's directory.
	ShrinkFile = "shrink.json"
)

// ShrinkInfo describes a shrink: the original run's directory's
// shrink.json, and the shrunk run's results.json "shrink" field (its
// report's "Shrunk from" section).
type ShrinkInfo struct {
	// From is the run directory that was shrunk; Run the shrunk run's
	// (empty in the shrunk run's own results.json).
	From string `json:"from"`
	Run  string `json:"run,omitempty"`
	// Scenario is the shrunk scenario file (From/shrunk.yaml).
	Scenario string `json:"scenario"`
	Seed     int64  `json:"seed"`
	// Trials counts the simulated runs of the search; Exhausted says its
	// budget (or an interrupt) ended it early.
	Trials    int  `json:"trials"`
	Exhausted bool `json:"exhausted,omitempty"`
	// SameFailure: the search kept only candidates that failed every
	// check the original failed (else: any invalid verdict).
	SameFailure bool `json:"same_failure,omitempty"`
	// Original is the run made explicit (a swarm seed's draw, its fault
	// plan as steps); Shrunk the smallest invalid case found.
	Original ShrinkCase `json:"original"`
	Shrunk   ShrinkCase `json:"shrunk"`
	// Replay is the command that runs the shrunk case.
	Replay string `json:"replay"`
}

// ShrinkCase is the size of one case.
type ShrinkCase struct {
	Duration string       `json:"duration"`
	Clients  int          `json:"clients"`
	Keys     int          `json:"keys"`
	Steps    []ShrinkStep `json:"steps"`
	// Failed names the checks that found the case invalid
	// (sim.SeedOutcome.Failed).
	Failed []string `json:"failed"`
}

// ShrinkStep is one fault step of a case.
type ShrinkStep struct {
	At    string `json:"at"`
	Hold  string `json:"hold"`
	Fault string `json:"fault"`
}

// ShrinkRow is one line of the side-by-side schedule: an original step and
// the same step in the shrunk case, or nil where there is none.
type ShrinkRow struct {
	Original, Shrunk *ShrinkStep
}

// Rows lines the shrunk schedule up against the original: each original
// step with itself where the shrunk case kept it (the shrinker only drops
// steps), then any shrunk step the original lacks.
func (s *ShrinkInfo) Rows() []ShrinkRow {
	var rows []ShrinkRow
	j := 0
	for i := range s.Original.Steps {
		row := ShrinkRow{Original: &s.Original.Steps[i]}
		if j < len(s.Shrunk.Steps) && s.Shrunk.Steps[j] == s.Original.Steps[i] {
			row.Shrunk = &s.Shrunk.Steps[j]
			j++
		}
		rows = append(rows, row)
	}
	for ; j < len(s.Shrunk.Steps); j++ {
		rows = append(rows, ShrinkRow{Shrunk: &s.Shrunk.Steps[j]})
	}
	return rows
}

func shrinkCase(c sim.Config, o sim.SeedOutcome) ShrinkCase {
	sc := ShrinkCase{Duration: c.Duration.D().String(), Clients: c.Clients, Keys: c.Keys, Steps: []ShrinkStep{}, Failed: o.Failed}
	for _, st := range c.Nemesis.Steps {
		sc.Steps = append(sc.Steps, ShrinkStep{At: st.At.String(), Hold: st.Hold.String(), Fault: st.Spec.String()})
	}
	return sc
}

// ShrinkOptions bound Shrink.
type ShrinkOptions struct {
	// MaxTrials bounds the simulated runs of the search (default 300).
	MaxTrials int
	// CheckTimeout bounds each trial's linearizability search (default
	// 10s).
	CheckTimeout time.Duration
	// SameFailure: see sim.MinimizeOptions.SameFailure.
	SameFailure bool
	// ReplayFlags are harness run flags the replay command needs besides
	// the seed (the planted bugs the run had on: --unsafe-bug=NAME).
	ReplayFlags []string
}

// ShrinkReport is what Shrink did.
type ShrinkReport struct {
	Info ShrinkInfo
	// Min is the search's result (both configurations, their plans).
	Min *sim.Minimized
	// Outcome is the shrunk scenario's run through Run.
	Outcome Outcome
	// Warnings: the shrunk run's history differs from the search's run of
	// the same case (it should not: the simulation is deterministic).
	Warnings []string
}

// ResolveRunDir returns the run directory that path names: a run directory
// itself, or a scenario's directory (its latest run), with symbolic links
// resolved (a later run moves "latest").
func ResolveRunDir(path string) (string, error) {
	if _, err := os.Stat(filepath.Join(path, "scenario.yaml")); err != nil {
		if _, lerr := os.Stat(filepath.Join(path, "latest", "scenario.yaml")); lerr != nil {
			return "", fmt.Errorf("%w: %s is not a run directory (no scenario.yaml)", ErrShrink, path)
		}
		path = filepath.Join(path, "latest")
	}
	dir, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrShrink, err)
	}
	return filepath.Clean(dir), nil
}

// Shrink shrinks the invalid simulated run in dir (sim.Minimize with its
// scenario.yaml and seed), writes the smallest case found as
// dir/shrunk.yaml, runs it through Run into r.Opts.Store (its results.json
// and report carry the shrink: ShrinkInfo) and writes dir/shrink.json. A
// run that is not on the sim backend, or not invalid, is refused.
func (r *Runner) Shrink(ctx context.Context, dir string, opts ShrinkOptions) (*ShrinkReport, error) {
	sc, err := LoadScenario(filepath.Join(dir, "scenario.yaml"))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrShrink, err)
	}
	if sc.Backend != sim.Name {
		return nil, fmt.Errorf("%w: %s ran on the %s backend: only simulated runs (backend sim) replay exactly, so only they can be shrunk", ErrShrink, dir, sc.Backend)
	}
	var prev Results
	if err := readJSON(filepath.Join(dir, "results.json"), &prev); err != nil || prev.Verdict == "" {
		return nil, fmt.Errorf("%w: %s has no verdict (results.json): %v", ErrShrink, dir, err)
	}
	if prev.Verdict != checker.Invalid {
		return nil, fmt.Errorf("%w: %s is %s: only an invalid run can be shrunk", ErrShrink, dir, prev.Verdict)
	}
	resolved, err := os.ReadFile(filepath.Join(dir, "scenario.yaml"))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrShrink, err)
	}
	cfg, err := sim.ParseConfig(resolved)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrShrink, err)
	}
	seed := sc.Seed
	r.logf("shrinking %s: %s seed %d", dir, sc.Name, seed)
	m, err := sim.Minimize(ctx, cfg, seed, sim.MinimizeOptions{MaxTrials: opts.MaxTrials, CheckTimeout: opts.CheckTimeout, SameFailure: opts.SameFailure,
		Progress: func(format string, args ...any) { r.logf("  "+format, args...) }})
	if errors.Is(err, sim.ErrNotInvalid) {
		return nil, fmt.Errorf("%w: %w (the run was invalid: was it made with a planted bug, --unsafe-bug, that shrink was not given?)", ErrShrink, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrShrink, err)
	}

	shrunk := scenarioFromSim(sc, m.Shrunk)
	path := filepath.Join(dir, ShrunkFile)
	info := ShrinkInfo{From: dir, Scenario: path, Seed: seed, Trials: m.Trials, Exhausted: m.Exhausted,
		SameFailure: opts.SameFailure, Original: shrinkCase(m.Original, m.First), Shrunk: shrinkCase(m.Shrunk, m.Outcome),
		Replay: strings.Join(append(append([]string{"harness run --backend sim"}, opts.ReplayFlags...), fmt.Sprintf("--seed %d %s", seed, path)), " ")}
	shrunk.Description = fmt.Sprintf("Shrunk by harness shrink from %s (scenario %s, seed %d): the seed's draws written out "+
		"(a swarm's configuration, the raft knobs, the fault plan as fixed steps), then cut down to what still fails.", dir, sc.Name, seed)
	body, err := shrunk.Marshal()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrShrink, err)
	}
	// The file must run what the search found: a field the scenario
	// cannot say would replay something else.
	want := m.Shrunk
	if len(want.Nemesis.Steps) == 0 {
		want.Nemesis.Steps = nil
	}
	if back, err := sim.ParseConfig(body); err != nil || !reflect.DeepEqual(back, want) {
		return nil, fmt.Errorf("%w: the shrunk scenario does not read back as the shrunk configuration (%v)", ErrShrink, err)
	}
	header := fmt.Sprintf("# Shrunk by `harness shrink` from %s (%s, seed %d) in %d trial runs:\n"+
		"# duration %s -> %s, %d -> %d fault step(s), %d -> %d client(s), %d -> %d key(s).\n# Replay: %s\n",
		dir, sc.Name, seed, m.Trials, info.Original.Duration, info.Shrunk.Duration, len(info.Original.Steps), len(info.Shrunk.Steps),
		info.Original.Clients, info.Shrunk.Clients, info.Original.Keys, info.Shrunk.Keys, info.Replay)
	if err := os.WriteFile(path, append([]byte(header), body...), 0o644); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrShrink, err)
	}
	if _, err := LoadScenario(path); err != nil {
		return nil, fmt.Errorf("%w: the shrunk scenario does not parse: %w", ErrShrink, err)
	}

	rr := &Runner{Opts: r.Opts}
	rr.Opts.Seed, rr.Opts.SeedSet, rr.Opts.Backend, rr.Opts.TimeLimit = seed, true, sim.Name, 0
	rr.Opts.Shrink = &info
	shrunk.Path = path
	rep := &ShrinkReport{Min: m, Outcome: rr.Run(ctx, shrunk)}
	info.Run = rep.Outcome.Dir
	rep.Info = info
	if b, err := os.ReadFile(filepath.Join(rep.Outcome.Dir, "sim.json")); err == nil {
		var sum sim.Summary
		if json.Unmarshal(b, &sum) == nil && sum.HistorySHA != m.Outcome.Hash {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("the shrunk run's history %.12s differs from the search's run of the same case %.12s", sum.HistorySHA, m.Outcome.Hash))
		}
	}
	if b, err := json.MarshalIndent(info, "", "  "); err == nil {
		if err := os.WriteFile(filepath.Join(dir, ShrinkFile), append(b, '\n'), 0o644); err != nil {
			return rep, fmt.Errorf("%w: %w", ErrShrink, err)
		}
	}
	// The original report lists the new artifacts.
	_ = WriteIndex(dir, &prev)
	if rep.Outcome.Err != nil {
		return rep, fmt.Errorf("%w: the shrunk run: %w", ErrShrink, rep.Outcome.Err)
	}
	if rep.Outcome.Verdict != checker.Invalid {
		return rep, fmt.Errorf("%w: the shrunk scenario replayed to %s, not invalid", ErrShrink, rep.Outcome.Verdict)
	}
	return rep, nil
}

// scenarioFromSim is base with the simulation configuration c written in
// (Shrink's explicit, shrunk case): everything the simulation reads, so
// that the file runs c.
func scenarioFromSim(base *Scenario, c sim.Config) *Scenario {
	sc := *base
	sc.Backend = sim.Name
	sc.Nodes, sc.Duration, sc.Clients, sc.Rate, sc.Keys, sc.MaxClientsPerKey = c.Nodes, c.Duration, c.Clients, c.Rate, c.Keys, c.MaxClientsPerKey
	sc.Mix, sc.ReadMode, sc.RequestTimeout, sc.WriteAttempts = c.Mix, c.ReadMode, c.RequestTimeout, c.WriteAttempts
	sc.Node.ElectionTimeout, sc.Node.HeartbeatInterval, sc.Node.SnapshotEvery = c.Node.ElectionTimeout, c.Node.HeartbeatInterval, c.Node.SnapshotEvery
	sc.Node.MaxAppendBytes, sc.Node.MaxInflight, sc.Node.PreVote, sc.Node.CheckQuorum = c.Node.MaxAppendBytes, c.Node.MaxInflight, c.Node.PreVote, c.Node.CheckQuorum
	sc.Nemesis = nemesis.Schedule{Steps: c.Nemesis.Steps}
	sc.Recovery, sc.FinalReadTimeout, sc.Expect, sc.Seed, sc.Swarm = c.Recovery, c.FinalReadTimeout, c.Expect, c.Seed, c.Swarm
	sc.ServerTimeout, sc.Network = Duration(c.ServerTimeout), c.Net
	return &sc
}

// shrinkFromLink is the shrunk run's link to the original run's report,
// relative to the shrunk run's directory dir.
func shrinkFromLink(dir string, s *ShrinkInfo) string {
	from := filepath.Join(s.From, "index.html")
	a, err1 := filepath.Abs(dir)
	b, err2 := filepath.Abs(from)
	if err1 != nil || err2 != nil {
		return from
	}
	if rel, err := filepath.Rel(a, b); err == nil {
		return filepath.ToSlash(rel)
	}
	return b
}
