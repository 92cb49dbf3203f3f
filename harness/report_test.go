package harness

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/checker"
	"github.com/raftkv/raftkv/histories"
)

// TestIndexNamesActiveFaults: the table of a violation lists its fault
// windows separated by semicolons, each with its nodes separated by
// commas, and nothing dangling after the last.
func TestIndexNamesActiveFaults(t *testing.T) {
	dir := t.TempDir()
	op := checker.ViolationOp{Process: 1, Node: "node2", F: "get", Key: "k", Type: histories.OK, Words: "get k → a", Event: 4}
	v := checker.Violation{Key: "k", Ops: []checker.ViolationOp{op}, Minimal: true, Sentence: "get k → a",
		Faults: []histories.Window{{F: "partition-halves", Nodes: []string{"node1", "node2"}, Start: 5e8, End: 2e9}, {F: "kill", Start: 1e9, End: 3e9}}}
	r := &Results{Scenario: "x", Verdict: checker.Invalid, Expected: "invalid",
		Linearizability: &checker.LinearizabilityResult{Verdict: checker.Invalid, FailedKeys: []string{"k"}, Violations: []checker.Violation{v}}}
	if err := WriteIndex(dir, r); err != nil {
		t.Fatal(err)
	}
	html, _ := os.ReadFile(filepath.Join(dir, "index.html"))
	want := "faults active: <code>partition-halves</code> 0.500 s–2.000 s on node1, node2; <code>kill</code> 1.000 s–3.000 s</td>"
	if !strings.Contains(string(html), want) {
		t.Errorf("index.html lacks %q", want)
	}
}
