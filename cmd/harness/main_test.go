package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/checker"
	"github.com/raftkv/raftkv/harness"
	"github.com/raftkv/raftkv/histories"
)

func execute(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRoot(&out, &errOut)
	root.SetArgs(args)
	err := root.Execute()
	code := 0
	var ee exitError
	switch {
	case errors.As(err, &ee):
		code = ee.code
	case err != nil:
		code = 2
	}
	return out.String() + errOut.String(), code
}

func writeHistory(t *testing.T, path string, read string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := histories.NewRecorder(f, histories.Header{Kind: histories.KindHeader, Version: histories.Version, Scenario: "hand"})
	if err != nil {
		t.Fatal(err)
	}
	v := histories.Str("a")
	for _, e := range []histories.Event{
		{Kind: histories.KindOp, Type: histories.Invoke, Time: 1, Process: 0, F: histories.OpPut, Key: "k", Value: v},
		{Kind: histories.KindOp, Type: histories.OK, Time: 2, Process: 0, F: histories.OpPut, Key: "k", Value: v},
		{Kind: histories.KindOp, Type: histories.Invoke, Time: 3, Process: 1, F: histories.OpGet, Key: "k"},
		{Kind: histories.KindOp, Type: histories.OK, Time: 4, Process: 1, F: histories.OpGet, Key: "k", Value: histories.Str(read), Found: histories.Bool(true)},
	} {
		if err := rec.Record(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestCheckExitCodes(t *testing.T) {
	dir := t.TempDir()
	good, bad, junk := filepath.Join(dir, "good.jsonl"), filepath.Join(dir, "bad.jsonl"), filepath.Join(dir, "junk.jsonl")
	writeHistory(t, good, "a")
	writeHistory(t, bad, "never-written")
	if err := os.WriteFile(junk, []byte("not a history\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := execute(t, "check", good); code != 0 || !strings.Contains(out, "valid") {
		t.Errorf("valid history: exit %d\n%s", code, out)
	}
	if out, code := execute(t, "check", bad); code != 1 || !strings.Contains(out, "invalid") ||
		!strings.Contains(out, "first violation: get k → never-written at 0.000 s (process 1), but put k a completed at 0.000 s (process 0); no fault active") ||
		!strings.Contains(out, "timeline.html#ev-2") {
		t.Errorf("invalid history: exit %d, or the first violation not named\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(bad+".check", "history.html")); err != nil {
		t.Errorf("no visualization for the invalid history: %v", err)
	}
	empty := filepath.Join(dir, "empty.edn")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := execute(t, "check", empty); code != 2 || !strings.Contains(out, "holds no client operations") {
		t.Errorf("empty .edn: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(empty + ".check"); !os.IsNotExist(err) {
		t.Errorf("empty .edn: %s.check written (%v)", empty, err)
	}
	if out, code := execute(t, "check", junk); code != 2 {
		t.Errorf("junk: exit %d\n%s", code, out)
	}
	if out, code := execute(t, "check", filepath.Join(dir, "missing")); code != 2 {
		t.Errorf("missing: exit %d\n%s", code, out)
	}
}

func TestRunExitCodes(t *testing.T) {
	o := func(v checker.Verdict, exp string, err error) harness.Outcome {
		return harness.Outcome{Verdict: v, Expected: exp, Err: err}
	}
	cases := []struct {
		outs []harness.Outcome
		want int
	}{
		{[]harness.Outcome{o(checker.Valid, "valid", nil), o(checker.Invalid, "invalid", nil)}, 0},
		{[]harness.Outcome{o(checker.Valid, "valid", nil), o(checker.Valid, "invalid", nil)}, 1},
		{[]harness.Outcome{o(checker.Invalid, "valid", nil), o(checker.Unknown, "valid", nil)}, 2},
		{[]harness.Outcome{o(checker.Unknown, "unknown", nil)}, 0},
		{[]harness.Outcome{o(checker.Unknown, "unknown", errors.New("boom"))}, 2},
	}
	for i, c := range cases {
		err := exitCode(c.outs)
		got := 0
		var ee exitError
		if errors.As(err, &ee) {
			got = ee.code
		}
		if got != c.want {
			t.Errorf("case %d: exit %d, want %d", i, got, c.want)
		}
	}
}

// TestUsageHelp: a mistyped flag gets the nearest one; run's help lists the
// exit codes; serve's help names its flag's type plainly (a backquoted
// word in a usage string would become the type).
func TestUsageHelp(t *testing.T) {
	root := newRoot(&bytes.Buffer{}, &bytes.Buffer{})
	root.SetArgs([]string{"run", "--sed", "1", "x.yaml"})
	if err := root.Execute(); err == nil || errLine(err) != `harness: unknown flag: --sed (did you mean "seed"?)` {
		t.Errorf("mistyped flag: %v", err)
	}
	out, _ := execute(t, "run", "--help")
	for _, want := range []string{"Exit codes:", "0  every verdict", "1  a verdict differs", "2  a run failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("run --help lacks %q:\n%s", want, out)
		}
	}
	if out, _ := execute(t, "serve", "--help"); !strings.Contains(out, "--store string") {
		t.Errorf("serve --help flag line:\n%s", out)
	}
}

func TestListAndParseOnly(t *testing.T) {
	out, code := execute(t, "list", "../../harness/scenarios")
	if code != 0 || !strings.Contains(out, "stale-reads") || !strings.Contains(out, "partition-majorities-ring") {
		t.Errorf("list: exit %d\n%s", code, out)
	}
	files, _ := filepath.Glob("../../harness/scenarios/*/*.yaml")
	if out, code := execute(t, append([]string{"run", "--parse-only"}, files...)...); code != 0 {
		t.Errorf("parse-only: exit %d\n%s", code, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	_ = os.WriteFile(bad, []byte("duration: 1s\nnodse: 3\n"), 0o644)
	if out, code := execute(t, "run", bad); code != 2 || !strings.Contains(out, "line 2") ||
		!strings.Contains(out, "harness: ") || strings.Contains(out, "harness: harness:") {
		t.Errorf("bad scenario: exit %d, or not prefixed by \"harness: \" exactly once\n%s", code, out)
	}
}

// shrink on an invalid sim run prints both schedules and the replay
// command; on a run of another backend, or a valid one, it exits 2 saying
// why.
func TestShrinkCommand(t *testing.T) {
	store := t.TempDir()
	if out, code := execute(t, "run", "--backend", "sim", "--seed", "1", "--store", store, "../../harness/scenarios/sim/lease-clock-skew.yaml"); code != 0 {
		t.Fatalf("run: exit %d\n%s", code, out)
	}
	runDir, err := filepath.EvalSymlinks(filepath.Join(store, "sim-lease-clock-skew", "latest"))
	if err != nil {
		t.Fatal(err)
	}
	out, code := execute(t, "shrink", "--max-trials", "20", filepath.Join(store, "sim-lease-clock-skew"))
	if code != 0 {
		t.Fatalf("shrink: exit %d\n%s", code, out)
	}
	for _, want := range []string{
		"original schedule (3 step(s)):\n  at 500ms  hold 1.5s  clock-rate(target=leader,rate=0.05)+partition-isolate-leader\n",
		"shrunk schedule (", "duration 6s -> ", "clients 8 -> ", "shrunk run: invalid (expected invalid)",
		"replay: harness run --backend sim --seed 1 " + filepath.Join(runDir, "shrunk.yaml") + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("shrink output lacks %q:\n%s", want, out)
		}
	}

	if out, code := execute(t, "run", "--backend", "sim", "--seed", "1", "--time-limit", "1s", "--store", store, "../../harness/scenarios/sim/partitions.yaml"); code != 0 {
		t.Fatalf("run: exit %d\n%s", code, out)
	}
	if out, code := execute(t, "shrink", filepath.Join(store, "sim-partitions", "latest")); code != 2 || !strings.Contains(out, "is valid: only an invalid run can be shrunk") {
		t.Errorf("valid run: exit %d\n%s", code, out)
	}
	proc := t.TempDir()
	_ = os.WriteFile(filepath.Join(proc, "scenario.yaml"), []byte("name: p\nduration: 1s\nseed: 3\n"), 0o644)
	_ = harness.WriteResults(proc, &harness.Results{Verdict: checker.Invalid})
	if out, code := execute(t, "shrink", proc); code != 2 || !strings.Contains(out, "ran on the process backend: only simulated runs") {
		t.Errorf("process run: exit %d\n%s", code, out)
	}
	if out, code := execute(t, "shrink", t.TempDir()); code != 2 || !strings.Contains(out, "not a run directory") {
		t.Errorf("not a run: exit %d\n%s", code, out)
	}
	if out, _ := execute(t, "shrink", "--help"); !strings.Contains(out, "Exit codes:\n  0  shrunk") {
		t.Errorf("shrink --help:\n%s", out)
	}
}
