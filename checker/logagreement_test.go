package checker

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/histories"
)

// mkLog builds a node log of entries lo..hi whose term is termOf(i) and
// whose data is "cmd-<i>-<term>".
func mkLog(node string, lo, hi, commit uint64, termOf func(uint64) uint64) NodeLog {
	l := NodeLog{Node: node, Commit: commit, Entries: []LogEntry{}}
	for i := lo; i <= hi; i++ {
		t := termOf(i)
		l.Entries = append(l.Entries, LogEntry{Index: i, Term: t, Hash: EntryHash(0, fmt.Appendf(nil, "cmd-%d-%d", i, t))})
	}
	return l
}

// terms: 1 up to 100, 2 up to 300, then 3.
func terms(i uint64) uint64 {
	switch {
	case i <= 100:
		return 1
	case i <= 300:
		return 2
	}
	return 3
}

func TestLogAgreementAgreeingLogs(t *testing.T) {
	r := CheckLogAgreement([]NodeLog{
		mkLog("node0", 1, 500, 500, terms),
		mkLog("node1", 1, 480, 470, terms), // entries above its commit are ignored
		mkLog("node2", 1, 500, 500, terms),
	})
	if r.Verdict != Valid || len(r.Violations) != 0 {
		t.Fatalf("agreeing logs: %+v", r)
	}
	// Pairs 0-1 and 1-2 share 470 indexes, 0-2 share 500.
	if r.Compared != 470+470+500 || r.Through != 500 {
		t.Errorf("compared %d through %d", r.Compared, r.Through)
	}
	if r.Nodes[1].Count != 470 || r.Nodes[1].Last != 470 || r.Nodes[1].First != 1 {
		t.Errorf("summary of node1: %+v", r.Nodes[1])
	}
}

func TestLogAgreementDisagreementAtOneIndex(t *testing.T) {
	a := mkLog("node1", 1, 500, 500, terms)
	b := mkLog("node2", 1, 500, 500, terms)
	b.Entries[411] = LogEntry{Index: 412, Term: 3, Hash: EntryHash(0, []byte("something else"))}
	c := mkLog("node0", 1, 500, 500, terms)
	r := CheckLogAgreement([]NodeLog{a, b, c})
	if r.Verdict != Invalid {
		t.Fatalf("verdict %s: %+v", r.Verdict, r)
	}
	// node0-node2 and node1-node2 both disagree at 412; node0-node1 agree.
	if len(r.Violations) != 2 {
		t.Fatalf("violations %+v", r.Violations)
	}
	v := r.Violations[0]
	if v.Kind != LogDisagree || v.Index != 412 || v.Indexes != 1 || !reflect.DeepEqual(v.Nodes, []string{"node0", "node2"}) {
		t.Errorf("first violation %+v", v)
	}
	want := fmt.Sprintf("node0 and node2 disagree at index 412: term 3 hash %s… vs term 3 hash %s…",
		EntryHash(0, []byte("cmd-412-3"))[:8], EntryHash(0, []byte("something else"))[:8])
	if v.Message != want || !strings.HasPrefix(r.Message, want) {
		t.Errorf("message\n got %q\nwant %q\n(result %q)", v.Message, want, r.Message)
	}
}

func TestLogAgreementDifferentTermSameIndex(t *testing.T) {
	a := mkLog("node1", 1, 50, 50, func(uint64) uint64 { return 5 })
	b := mkLog("node2", 1, 50, 50, func(i uint64) uint64 {
		if i >= 40 {
			return 6
		}
		return 5
	})
	r := CheckLogAgreement([]NodeLog{a, b})
	if r.Verdict != Invalid || len(r.Violations) != 1 || r.Violations[0].Index != 40 || r.Violations[0].Indexes != 11 {
		t.Fatalf("%+v", r)
	}
	if !strings.Contains(r.Message, "disagree at index 40: term 5 hash") || !strings.Contains(r.Message, "vs term 6 hash") {
		t.Errorf("message %q", r.Message)
	}
}

func TestLogAgreementSnapshotCoveredPrefix(t *testing.T) {
	// node0 compacted up to 300 (snapshot at 300, term 2) and kept nothing
	// before 301; node1 still holds everything; node2 keeps a few entries
	// before its snapshot at 250.
	a := mkLog("node0", 301, 500, 500, terms)
	a.SnapshotIndex, a.SnapshotTerm = 300, 2
	b := mkLog("node1", 1, 500, 500, terms)
	c := mkLog("node2", 200, 500, 500, terms)
	c.SnapshotIndex, c.SnapshotTerm = 250, 2
	r := CheckLogAgreement([]NodeLog{a, b, c})
	if r.Verdict != Valid {
		t.Fatalf("snapshot-covered prefixes: %+v", r)
	}
	// 0-1: 200 entries + node0's snapshot; 0-2: 200 + node0's snapshot;
	// 1-2: 301 + node2's snapshot.
	if r.Compared != 201+201+302 {
		t.Errorf("compared %d", r.Compared)
	}

	// A snapshot whose term is not the other node's entry's term there.
	a.SnapshotTerm = 1
	r = CheckLogAgreement([]NodeLog{a, b})
	if r.Verdict != Invalid || !strings.Contains(r.Message, "node0 and node1 disagree at index 300: snapshot term 1 vs term 2 hash") {
		t.Fatalf("bad snapshot term: %+v", r)
	}

	// Logs that share nothing cannot be compared: unknown, not valid.
	r = CheckLogAgreement([]NodeLog{mkLog("node0", 1, 10, 10, terms), mkLog("node1", 20, 30, 30, terms)})
	if r.Verdict != Unknown {
		t.Fatalf("disjoint logs: %+v", r)
	}
}

func TestLogAgreementDecreasingTerms(t *testing.T) {
	l := mkLog("node1", 1, 20, 20, func(i uint64) uint64 {
		if i == 12 {
			return 1
		}
		return 2
	})
	r := CheckLogAgreement([]NodeLog{l, mkLog("node2", 1, 20, 20, func(uint64) uint64 { return 2 })})
	if r.Verdict != Invalid {
		t.Fatalf("%+v", r)
	}
	var dec *LogViolation
	for i, v := range r.Violations {
		if v.Kind == LogTermDecrease {
			dec = &r.Violations[i]
		}
	}
	if dec == nil || dec.Index != 12 || dec.Nodes[0] != "node1" ||
		dec.Message != "node1's committed terms decrease at index 12: entry 11 has term 2, entry 12 has term 1" {
		t.Fatalf("term decrease: %+v", r.Violations)
	}

	// The first entry after a snapshot must not go below its term.
	s := mkLog("node3", 11, 20, 20, func(uint64) uint64 { return 2 })
	s.SnapshotIndex, s.SnapshotTerm = 10, 3
	r = CheckLogAgreement([]NodeLog{s})
	if r.Verdict != Invalid || r.Violations[0].Kind != LogTermDecrease ||
		r.Violations[0].Message != "node3's committed terms decrease at index 11: its snapshot at index 10 has term 3, entry 11 has term 2" {
		t.Fatalf("after snapshot: %+v", r)
	}
}

func TestLogAgreementDuplicatesAndUnreadable(t *testing.T) {
	l := mkLog("node1", 1, 5, 5, terms)
	l.Entries = append(l.Entries, LogEntry{Index: 3, Term: 1, Hash: "ffff"})
	r := CheckLogAgreement([]NodeLog{l, {Node: "node2", Error: "open raft.db: permission denied"}})
	if r.Verdict != Invalid || r.Violations[0].Kind != LogDuplicate || r.Violations[0].Index != 3 {
		t.Fatalf("%+v", r)
	}
	if r.Nodes[1].Error == "" {
		t.Errorf("unreadable log not summarized: %+v", r.Nodes)
	}
	if r := CheckLogAgreement(nil); r.Verdict != Unknown {
		t.Errorf("no logs: %+v", r)
	}
}

func TestLogEntryJSONIsATriple(t *testing.T) {
	l := NodeLog{Node: "n", Commit: 2, Entries: []LogEntry{{1, 1, "aa"}, {2, 3, "bb"}}}
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"node":"n","commit":2,"entries":[[1,1,"aa"],[2,3,"bb"]]}`; string(b) != want {
		t.Fatalf("got %s, want %s", b, want)
	}
	var back NodeLog
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, l) {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	if err := json.Unmarshal([]byte(`{"entries":[[1,2]]}`), &back); err == nil {
		t.Error("a pair decoded as an entry")
	}
}

func TestCheckIncludesLogsAndHealth(t *testing.T) {
	evs := []histories.Event{
		{Kind: histories.KindOp, Type: histories.Invoke, Time: 1, Process: 0, F: "put", Key: "k", Value: ptr("v")},
		{Kind: histories.KindOp, Type: histories.OK, Time: 2, Process: 0, F: "put", Key: "k", Value: ptr("v")},
	}
	r := Check(evs, Options{})
	if r.LogAgreement != nil || r.NodeHealth != nil || r.Verdict != Valid {
		t.Fatalf("checks ran without evidence: %+v", r)
	}
	good := []NodeLog{mkLog("node0", 1, 10, 10, terms), mkLog("node1", 1, 10, 10, terms)}
	r = Check(evs, Options{NodeLogs: good, NodeEvents: []NodeEvent{}})
	if r.Verdict != Valid || r.LogAgreement.Verdict != Valid || r.NodeHealth.Verdict != Valid || !r.NodeHealth.OK {
		t.Fatalf("good evidence: %+v", r)
	}
	bad := []NodeLog{mkLog("node0", 1, 10, 10, terms), mkLog("node1", 1, 10, 10, func(uint64) uint64 { return 2 })}
	r = Check(evs, Options{NodeLogs: bad})
	if r.Verdict != Invalid || len(r.Reasons) != 1 || !strings.HasPrefix(r.Reasons[0], "committed logs: node0 and node1 disagree at index 1") {
		t.Fatalf("disagreeing logs: %+v", r.Reasons)
	}
	r = Check(evs, Options{NodeEvents: []NodeEvent{{Node: "node2", Time: 3.4e9, Kind: NodePanic, Status: "exit status 2",
		Message: "runtime error: index out of range [5] with length 3", Log: "logs/node2.log"}}})
	if r.Verdict != Invalid || len(r.Reasons) != 1 ||
		r.Reasons[0] != "node2 panicked at 3.4 s: runtime error: index out of range [5] with length 3; see logs/node2.log" {
		t.Fatalf("panic: %+v", r.Reasons)
	}
}

func ptr(s string) *string { return &s }

func TestWriteNodeLogsRoundTrip(t *testing.T) {
	a := mkLog("node0", 1, 3, 3, terms)
	a.SnapshotIndex, a.SnapshotTerm = 1, 1
	logs := []NodeLog{a, {Node: "node1", Entries: []LogEntry{}, Error: `open "x": gone`}, mkLog("node2", 1, 1, 1, terms)}
	var b strings.Builder
	if err := WriteNodeLogs(&b, logs); err != nil {
		t.Fatal(err)
	}
	var back []NodeLog
	if err := json.Unmarshal([]byte(b.String()), &back); err != nil {
		t.Fatalf("%v in\n%s", err, b.String())
	}
	if !reflect.DeepEqual(back, logs) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", back, logs)
	}
	if lines := strings.Count(b.String(), "\n"); lines != 12 {
		t.Errorf("%d lines, want one per entry:\n%s", lines, b.String())
	}
	b.Reset()
	if err := WriteNodeLogs(&b, []NodeLog{}); err != nil || strings.TrimSpace(b.String()) != "[\n]" {
		t.Errorf("empty: %q %v", b.String(), err)
	}
}
