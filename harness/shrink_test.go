package harness

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/checker"
	"github.com/raftkv/raftkv/harness/sim"
)

// Shrink on an invalid simulated run writes shrunk.yaml (which parses and
// replays invalid), shrink.json in the original run, and a shrunk run whose
// results.json and report carry the original and the shrunk schedule.
func TestShrinkRun(t *testing.T) {
	store := t.TempDir()
	r := &Runner{Opts: RunOptions{Store: store, Seed: 1, SeedSet: true}}
	sc, err := LoadScenario("scenarios/sim/lease-clock-skew.yaml")
	if err != nil {
		t.Fatal(err)
	}
	orig := r.Run(context.Background(), sc)
	if orig.Verdict != checker.Invalid {
		t.Fatalf("seed 1: %s %v", orig.Verdict, orig.Err)
	}
	rep, err := (&Runner{Opts: RunOptions{Store: store, Progress: tlog{t}}}).Shrink(context.Background(), orig.Dir, ShrinkOptions{MaxTrials: 30})
	if err != nil {
		t.Fatal(err)
	}
	in := rep.Info
	if rep.Outcome.Verdict != checker.Invalid || len(rep.Warnings) > 0 || in.Trials > 30 || in.Seed != 1 {
		t.Fatalf("shrunk run %s, warnings %v, %d trials", rep.Outcome.Verdict, rep.Warnings, in.Trials)
	}
	if len(in.Original.Steps) != 3 || len(in.Shrunk.Steps) == 0 || len(in.Shrunk.Steps) >= 3 ||
		in.Shrunk.Clients > in.Original.Clients || in.Shrunk.Keys > in.Original.Keys {
		t.Errorf("not shrunk: %+v -> %+v", in.Original, in.Shrunk)
	}
	if want := "harness run --backend sim --seed 1 " + filepath.Join(orig.Dir, ShrunkFile); in.Replay != want {
		t.Errorf("replay %q, want %q", in.Replay, want)
	}

	// shrunk.yaml says where it comes from, parses, and replays invalid.
	b, err := os.ReadFile(filepath.Join(orig.Dir, ShrunkFile))
	if err != nil || !strings.HasPrefix(string(b), "# Shrunk by `harness shrink` from "+orig.Dir) {
		t.Fatalf("shrunk.yaml: %v\n%s", err, b)
	}
	shrunk, err := LoadScenario(filepath.Join(orig.Dir, ShrunkFile))
	if err != nil || len(shrunk.Nemesis.Steps) != len(in.Shrunk.Steps) || len(shrunk.Nemesis.Faults) != 0 {
		t.Fatalf("shrunk.yaml: %v %+v", err, shrunk)
	}
	again := (&Runner{Opts: RunOptions{Store: store}}).Run(context.Background(), shrunk)
	if again.Verdict != checker.Invalid {
		t.Errorf("replay of shrunk.yaml: %s %v", again.Verdict, again.Err)
	}

	var rec ShrinkInfo
	if err := readJSON(filepath.Join(orig.Dir, ShrinkFile), &rec); err != nil || rec.Run != rep.Outcome.Dir || !reflect.DeepEqual(rec.Shrunk, in.Shrunk) {
		t.Errorf("shrink.json: %v %+v", err, rec)
	}
	var res Results
	if err := readJSON(filepath.Join(rep.Outcome.Dir, "results.json"), &res); err != nil || res.Shrink == nil || res.Shrink.From != orig.Dir {
		t.Fatalf("shrunk results.json: %v %+v", err, res.Shrink)
	}
	// A re-check keeps the shrink.
	if res2, err := CheckDir(rep.Outcome.Dir, 0, nil, nil); err != nil || res2.Shrink == nil {
		t.Errorf("re-check dropped the shrink: %v", err)
	}
	html, _ := os.ReadFile(filepath.Join(rep.Outcome.Dir, "index.html"))
	for _, want := range []string{`<h2 id="shrunk-from">Shrunk from</h2>`, `href="../` + filepath.Base(orig.Dir) + `/index.html"`,
		"<tr><td>clients</td><td>8</td>", "<th>original schedule</th><th>shrunk schedule</th>", "<td>—</td>"} {
		if !strings.Contains(string(html), want) {
			t.Errorf("shrunk report lacks %q", want)
		}
	}
	if html, _ := os.ReadFile(filepath.Join(orig.Dir, "index.html")); !strings.Contains(string(html), `href="shrunk.yaml"`) {
		t.Errorf("the original report does not link shrunk.yaml")
	}
}

// A run that is not simulated, or not invalid, is refused with a reason.
func TestShrinkRefuses(t *testing.T) {
	dir := t.TempDir()
	write := func(scenario string, verdict checker.Verdict) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "scenario.yaml"), []byte(scenario), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := WriteResults(dir, &Results{Verdict: verdict}); err != nil {
			t.Fatal(err)
		}
	}
	r := &Runner{Opts: RunOptions{Store: t.TempDir()}}
	write("name: p\nduration: 1s\nseed: 3\n", checker.Invalid)
	if _, err := r.Shrink(context.Background(), dir, ShrinkOptions{}); !errors.Is(err, ErrShrink) || !strings.Contains(err.Error(), "ran on the process backend") {
		t.Errorf("process run: %v", err)
	}
	write("name: s\nbackend: sim\nduration: 1s\nseed: 3\n", checker.Valid)
	if _, err := r.Shrink(context.Background(), dir, ShrinkOptions{}); err == nil || !strings.Contains(err.Error(), "is valid: only an invalid run can be shrunk") {
		t.Errorf("valid run: %v", err)
	}
	if _, err := ResolveRunDir(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a run directory") {
		t.Errorf("empty directory: %v", err)
	}
	// A sim run recorded invalid that the simulation does not reproduce
	// (here: a valid seed with a forged verdict) is refused by the search.
	write("name: s\nbackend: sim\nduration: 1s\nseed: 3\n", checker.Invalid)
	if _, err := r.Shrink(context.Background(), dir, ShrinkOptions{MaxTrials: 2}); !errors.Is(err, sim.ErrNotInvalid) {
		t.Errorf("forged verdict: %v", err)
	}
}

// The report's shrink section lines each original step up with itself in
// the shrunk schedule, or a dash where it was dropped.
func TestShrinkReportSideBySide(t *testing.T) {
	dir := t.TempDir()
	step := func(at, f string) ShrinkStep { return ShrinkStep{At: at, Hold: "1s", Fault: f} }
	a, b, c := step("1s", "kill-one"), step("3s", "partition-halves"), step("5s", "pause-leader")
	r := &Results{Scenario: "x", Verdict: checker.Invalid, Expected: "invalid", Shrink: &ShrinkInfo{
		From: filepath.Join(filepath.Dir(dir), "orig"), Seed: 7, Trials: 12, Replay: "harness run --backend sim --seed 7 orig/shrunk.yaml",
		Original: ShrinkCase{Duration: "6s", Clients: 8, Keys: 3, Steps: []ShrinkStep{a, b, c}, Failed: []string{"linearizability"}},
		Shrunk:   ShrinkCase{Duration: "3s", Clients: 2, Keys: 1, Steps: []ShrinkStep{b}, Failed: []string{"linearizability"}}}}
	if err := WriteIndex(dir, r); err != nil {
		t.Fatal(err)
	}
	html, _ := os.ReadFile(filepath.Join(dir, "index.html"))
	for _, want := range []string{
		`<a class="shrunk-from" href="../orig/index.html">`,
		"<tr><td>duration</td><td>6s</td><td>3s</td></tr>",
		"<tr><td>keys</td><td>3</td><td>1</td></tr>",
		"<tr><td>at 1s, hold 1s: <code>kill-one</code></td><td>—</td></tr>",
		"<tr><td>at 3s, hold 1s: <code>partition-halves</code></td><td>at 3s, hold 1s: <code>partition-halves</code></td></tr>",
		"<tr><td>at 5s, hold 1s: <code>pause-leader</code></td><td>—</td></tr>",
		"harness run --backend sim --seed 7 orig/shrunk.yaml",
	} {
		if !strings.Contains(string(html), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	// Without a shrink the section is absent.
	r.Shrink = nil
	if err := WriteIndex(dir, r); err != nil {
		t.Fatal(err)
	}
	if html, _ := os.ReadFile(filepath.Join(dir, "index.html")); strings.Contains(string(html), "Shrunk from") {
		t.Error("a run that is not shrunk has a shrink section")
	}
	b2, _ := json.Marshal(&ShrinkInfo{})
	if !strings.Contains(string(b2), `"original"`) {
		t.Errorf("shrink json %s", b2)
	}
}
