package ui_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/gin-gonic/gin"

	"github.com/raftkv/raftkv/ui"
	"github.com/raftkv/raftkv/ui/fakesource"
)

func init() { gin.SetMode(gin.ReleaseMode) }

// Run ids of the store built by makeStore.
const (
	validRun      = "partition-majority/20260101T100000.000Z"
	invalidRun    = "stale-reads/20260102T100000.000Z"
	incompleteRun = "crash-loop/20260103T100000.000Z"
)

// registerIn is the input of the register model used to draw test
// histories with Porcupine.
type registerIn struct {
	Write bool
	Value int
}

var registerModel = porcupine.Model{
	Init: func() any { return 0 },
	Step: func(state, input, output any) (bool, any) {
		in := input.(registerIn)
		if in.Write {
			return true, in.Value
		}
		return output.(int) == state.(int), state
	},
	DescribeOperation: func(input, output any) string {
		in := input.(registerIn)
		if in.Write {
			return fmt.Sprintf("put(%d)", in.Value)
		}
		return fmt.Sprintf("get() → %d", output.(int))
	},
}

// writeHistoryHTML writes Porcupine's visualization of a long sequential
// history of n writes by two clients, followed, when invalid, by a read of a
// value overwritten long ago: its illegal linearization point is at the far
// right of a wide page.
func writeHistoryHTML(t *testing.T, path string, n int, invalid bool) {
	t.Helper()
	var ops []porcupine.Operation
	for i := range n {
		ops = append(ops, porcupine.Operation{ClientId: i % 2, Input: registerIn{Write: true, Value: i + 1},
			Call: int64(10 * i), Output: 0, Return: int64(10*i + 5)})
	}
	last := n
	if invalid {
		last = 3 // stale
	}
	ops = append(ops, porcupine.Operation{ClientId: 0, Input: registerIn{}, Call: int64(10 * n), Output: last, Return: int64(10*n + 5)})
	res, info := porcupine.CheckOperationsVerbose(registerModel, ops, 0)
	if want := map[bool]porcupine.CheckResult{true: porcupine.Illegal, false: porcupine.Ok}[invalid]; res != want {
		t.Fatalf("porcupine says %v, want %v", res, want)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := porcupine.Visualize(registerModel, info, f); err != nil {
		t.Fatal(err)
	}
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// makeStore builds a store directory shaped like the harness's: a valid
// run, an invalid run (failing key "k3", lost writes on "k7") with a
// history.html whose first error is far to the right, an incomplete run
// (no results.json, its history unchanged for an hour), a "latest"
// symlink and a hidden .bin directory.
func makeStore(t *testing.T) string {
	t.Helper()
	store := t.TempDir()
	for _, id := range []string{validRun, invalidRun, incompleteRun} {
		if err := os.MkdirAll(filepath.Join(store, id), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(store, ".bin", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("20260102T100000.000Z", filepath.Join(store, "stale-reads", "latest")); err != nil {
		t.Fatal(err)
	}
	writeJSON(t, filepath.Join(store, validRun, "results.json"), map[string]any{
		"scenario": "partition-majority", "seed": 7, "backend": "process", "verdict": "valid",
		"ops": 120, "ok": 100, "fail": 15, "info": 5, "faults": 2,
		"linearizability": map[string]any{"verdict": "valid", "ops": 105, "keys": 4},
	})
	writeHistoryHTML(t, filepath.Join(store, validRun, "history.html"), 12, false)
	writeJSON(t, filepath.Join(store, invalidRun, "results.json"), map[string]any{
		"scenario": "stale-reads", "seed": 42, "backend": "sim", "verdict": "invalid", "expected": "invalid",
		"ops": 300, "ok": 280, "fail": 10, "info": 10, "faults": 3,
		"linearizability": map[string]any{"verdict": "invalid", "ops": 290, "keys": 8, "failed_keys": []string{"k3"}},
		"lost_writes": map[string]any{"verdict": "invalid", "lost_writes": 1, "anomalies": []any{
			map[string]any{"key": "k7", "lost": []any{map[string]any{"process": 3, "f": "set", "value": "v9"}}},
			map[string]any{"key": "k8"},
		}},
		"errors": []string{},
	})
	writeHistoryHTML(t, filepath.Join(store, invalidRun, "history.html"), 60, true)
	for _, name := range []string{"timeline.html", "index.html"} {
		if err := os.WriteFile(filepath.Join(store, invalidRun, name), []byte("<!doctype html><title>"+name+"</title><h1>"+name+"</h1>"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(store, invalidRun, "history.jsonl"), []byte(`{"kind":"op"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(store, incompleteRun, "history.jsonl"), []byte(`{"kind":"op"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The incomplete run stopped long ago (it is not running).
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(store, incompleteRun, "history.jsonl"), old, old); err != nil {
		t.Fatal(err)
	}
	return store
}

// server is a test server with the live UI over a fake cluster, the fake's
// node API and the runs browser.
type server struct {
	*httptest.Server
	Cluster *fakesource.Cluster
	Live    *ui.Live
}

func newServer(t *testing.T, faults bool, store string) *server {
	t.Helper()
	c := fakesource.New(3, faults)
	r := gin.New()
	c.Register(r)
	live := ui.Register(r, c, ui.Options{Interval: 100 * time.Millisecond})
	if store != "" {
		ui.RegisterRuns(r, store)
	}
	ts := httptest.NewServer(r) // binds 127.0.0.1:0
	t.Cleanup(func() {
		live.Close()
		ts.Close()
	})
	return &server{Server: ts, Cluster: c, Live: live}
}

func itoa(i int) string { return strconv.Itoa(i) }
