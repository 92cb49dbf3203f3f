package checker

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/raftkv/raftkv/histories"
)

// opEvents appends an operation's invoke and completion (typ) to evs.
func opEvents(evs []histories.Event, proc int, node, f, key string, val, exp *string, call, ret int64, typ histories.Type, read *string) []histories.Event {
	inv := histories.Event{Kind: histories.KindOp, Type: histories.Invoke, Time: call, Process: proc, F: f, Key: key, Value: val, Expected: exp, Node: node}
	done := histories.Event{Kind: histories.KindOp, Type: typ, Time: ret, Process: proc, F: f, Key: key, Node: node}
	if f == histories.OpGet {
		done.Value = read
		found := read != nil
		done.Found = &found
	}
	return append(evs, inv, done)
}

// staleReadHistory is a history of sequential, linearizable writes to k3
// and reads of k0 by other processes, with one stale read of k3 in the
// middle and a partition that starts after it.
func staleReadHistory() []histories.Event {
	var evs []histories.Event
	ms := int64(time.Millisecond)
	// p0 writes k3 = v0, v1, ... by cas, each 10 ms long.
	evs = opEvents(evs, 0, "node0", histories.OpPut, "k3", histories.Str("v0"), nil, 0, 5*ms, histories.OK, nil)
	for i := 1; i < 40; i++ {
		evs = opEvents(evs, 0, "node0", histories.OpCas, "k3", histories.Str(fmt.Sprint("v", i)), histories.Str(fmt.Sprint("v", i-1)),
			int64(i)*10*ms, int64(i)*10*ms+5*ms, histories.OK, nil)
		// p1 reads k3 correctly after each write.
		evs = opEvents(evs, 1, "node1", histories.OpGet, "k3", nil, nil, int64(i)*10*ms+6*ms, int64(i)*10*ms+8*ms, histories.OK, histories.Str(fmt.Sprint("v", i)))
	}
	// p2 reads v19 at 0.25 s, after cas v19→v20 completed at 0.205 s.
	evs = opEvents(evs, 2, "node2", histories.OpGet, "k3", nil, nil, 250*ms-1*ms, 250*ms, histories.OK, histories.Str("v19"))
	evs = append(evs, histories.Event{Kind: histories.KindNemesis, Type: histories.Start, Time: 300 * ms, F: "partition-halves", Nodes: []string{"node2"}})
	evs = append(evs, histories.Event{Kind: histories.KindNemesis, Type: histories.Stop, Time: 350 * ms, F: "partition-halves"})
	sort.SliceStable(evs, func(a, b int) bool { return evs[a].Time < evs[b].Time })
	return evs
}

func TestStaleReadShrinksToTheOperationsThatExplainIt(t *testing.T) {
	evs := staleReadHistory()
	res := CheckLinearizability(evs, testTimeout)
	if res.Verdict != Invalid || len(res.Violations) != 1 {
		t.Fatalf("verdict %s, %d violations; want invalid with 1", res.Verdict, len(res.Violations))
	}
	v := res.Violations[0]
	if !v.Minimal || len(v.Ops) < 2 || len(v.Ops) > 3 {
		t.Fatalf("counterexample of %d ops (minimal %t), want 2-3: %+v", len(v.Ops), v.Minimal, v.Ops)
	}
	last := v.Ops[len(v.Ops)-1]
	if last.F != histories.OpGet || last.Value != "v19" || last.Process != 2 || last.Node != "node2" {
		t.Errorf("last operation %+v, want p2's get of v19", last)
	}
	if evs[last.Event].Process != 2 || evs[last.Event].Type != histories.Invoke {
		t.Errorf("event index %d does not point at the read's invocation: %+v", last.Event, evs[last.Event])
	}
	if len(v.Faults) != 0 {
		t.Errorf("faults %+v, want none (the partition starts later)", v.Faults)
	}
	for _, want := range []string{"get k3 → v19 at 0.250 s via node2 (process 2), but ", "completed at 0.", "no fault active"} {
		if !strings.Contains(v.Sentence, want) {
			t.Errorf("sentence %q lacks %q", v.Sentence, want)
		}
	}
	// The counterexample itself must still be illegal.
	ops, err := Operations(evs)
	if err != nil {
		t.Fatal(err)
	}
	var sub []histories.Event
	keep := make(map[int]bool)
	for _, o := range v.Ops {
		keep[o.Event] = true
	}
	pairs, _ := histories.Pair(evs)
	for _, p := range pairs {
		if keep[p.InvokeIndex] {
			sub = append(sub, p.Invoke, *p.Complete)
		}
	}
	sort.SliceStable(sub, func(a, b int) bool { return sub[a].Time < sub[b].Time })
	if r := CheckLinearizability(sub, testTimeout); r.Verdict != Invalid {
		t.Errorf("the counterexample alone is %s, want invalid", r.Verdict)
	}
	if len(ops) < 80 {
		t.Errorf("history of %d ops; the test needs noise to shrink", len(ops))
	}
	t.Logf("%s", v.Sentence)
}

func TestViolationNamesActiveFaults(t *testing.T) {
	var evs []histories.Event
	evs = append(evs, histories.Event{Kind: histories.KindNemesis, Type: histories.Start, Time: 0, F: "kill", Nodes: []string{"node1"}})
	evs = opEvents(evs, 0, "node0", histories.OpPut, "k", histories.Str("a"), nil, 10, 20, histories.OK, nil)
	evs = opEvents(evs, 1, "node1", histories.OpGet, "k", nil, nil, 30, 40, histories.OK, nil)
	evs = append(evs, histories.Event{Kind: histories.KindNemesis, Type: histories.Stop, Time: 50, F: "kill"})
	res := CheckLinearizability(evs, testTimeout)
	if len(res.Violations) != 1 {
		t.Fatalf("%d violations, want 1", len(res.Violations))
	}
	v := res.Violations[0]
	if len(v.Ops) != 2 || len(v.Faults) != 1 || v.Faults[0].F != "kill" {
		t.Fatalf("violation %+v", v)
	}
	if !strings.Contains(v.Sentence, "get k → not found") || !strings.Contains(v.Sentence, "put k a completed") ||
		!strings.Contains(v.Sentence, "faults active: kill") {
		t.Errorf("sentence %q", v.Sentence)
	}
}

func TestShrinkStopsAtDeadline(t *testing.T) {
	ops, err := Operations(staleReadHistory())
	if err != nil {
		t.Fatal(err)
	}
	out, minimal := ShrinkOperations(ops, time.Now().Add(-time.Second))
	if minimal || len(out) != len(ops) {
		t.Errorf("past deadline: %d of %d ops, minimal %t; want all, not minimal", len(out), len(ops), minimal)
	}
}

// TestCounterexampleDrawing: history.html's drawing of a counterexample has
// one linked row per operation, the last in red, an operation whose outcome
// is unknown running to the right edge, and the fault windows named.
func TestCounterexampleDrawing(t *testing.T) {
	ms := int64(time.Millisecond)
	evs := opEvents(nil, 0, "node0", histories.OpPut, "k3", histories.Str("a"), nil, 10*ms, 20*ms, histories.Info, nil)
	evs = opEvents(evs, 1, "node1", histories.OpGet, "k3", nil, nil, 30*ms, 31*ms, histories.OK, histories.Str("b"))
	ops, err := Operations(evs)
	if err != nil {
		t.Fatal(err)
	}
	v := describeViolation("k3", ops, true, []histories.Window{{F: "partition-halves", Nodes: []string{"node1"}, Start: 25 * ms, End: 40 * ms}})
	svg := counterexampleSVG(v)
	for _, want := range []string{
		`<a href="#ev-0" class="rk-cx-op info" data-event="0">`,
		`<a href="#ev-2" class="rk-cx-op ok rk-cx-last" data-event="2">`,
		`text-anchor="end">?</text>`, // the put's outcome is unknown
		"partition-halves [node1]",
		"get k3 → b", "put k3 a", "process 1 · node1",
	} {
		if !strings.Contains(svg, want) {
			t.Errorf("counterexample drawing lacks %s:\n%s", want, svg)
		}
	}
}

// TestReadsThatContradictEachOtherKeepTheirWrites: b is written, then a,
// a is read, then b again. Dropping both writes leaves two reads that no
// order explains, but says nothing of why; the counterexample must keep
// the writes that make the second read stale.
func TestReadsThatContradictEachOtherKeepTheirWrites(t *testing.T) {
	ms := int64(time.Millisecond)
	evs := opEvents(nil, 0, "node0", histories.OpPut, "k", histories.Str("b"), nil, 0, 10*ms, histories.OK, nil)
	evs = opEvents(evs, 1, "node1", histories.OpPut, "k", histories.Str("a"), nil, 20*ms, 30*ms, histories.OK, nil)
	evs = opEvents(evs, 0, "node0", histories.OpGet, "k", nil, nil, 40*ms, 50*ms, histories.OK, histories.Str("a"))
	evs = opEvents(evs, 2, "node2", histories.OpGet, "k", nil, nil, 60*ms, 70*ms, histories.OK, histories.Str("b"))
	res := CheckLinearizability(evs, testTimeout)
	if len(res.Violations) != 1 {
		t.Fatalf("%d violations, want 1", len(res.Violations))
	}
	v := res.Violations[0]
	assertReadsExplained(t, v)
	for _, want := range []string{"get k → b at 0.070 s via node2", "put k b completed at 0.010 s", "put k a completed at 0.030 s"} {
		if !strings.Contains(v.Sentence, want) {
			t.Errorf("sentence %q lacks %q", v.Sentence, want)
		}
	}
	t.Logf("%s", v.Sentence)
}

// assertReadsExplained fails unless every value a get of v read is written
// or expected by another operation of v.
func assertReadsExplained(t *testing.T, v Violation) {
	t.Helper()
	mentioned := make(map[string]bool)
	for _, o := range v.Ops {
		if o.F == histories.OpPut || o.F == histories.OpCas {
			mentioned[o.Value] = true
		}
		if o.F == histories.OpCas {
			mentioned[o.Expected] = true
		}
	}
	for _, o := range v.Ops {
		if o.F == histories.OpGet && o.Found && o.Type == histories.OK && !mentioned[o.Value] {
			t.Errorf("%s: no operation of the counterexample writes %s: %s", o.Words, o.Value, v.Sentence)
		}
	}
}

// TestCounterexamplesHoldWithTheWritesDropped shrinks random invalid
// histories of one key and checks each counterexample against what the
// shrinking left out: with every write of the history that is not in it
// added back as an unconditional write within its own times (which the run
// did do), it must still not be linearizable from the key missing, and
// its reads must be explained.
func TestCounterexamplesHoldWithTheWritesDropped(t *testing.T) {
	ms := int64(time.Millisecond)
	rng := rand.New(rand.NewPCG(13, 13))
	found := 0
	for trial := 0; trial < 400 && found < 40; trial++ {
		// 3 processes, each a sequence of operations 2-12 ms long with
		// gaps; values are unique; a read returns one of the values
		// written so far, usually the latest, sometimes an older one.
		var evs []histories.Event
		var written []string
		for p := range 3 {
			at := int64(rng.IntN(5)) * ms
			for i := range 6 {
				call, ret := at, at+int64(2+rng.IntN(10))*ms
				at = ret + int64(rng.IntN(8))*ms
				switch r := rng.IntN(10); {
				case r < 4 || len(written) == 0:
					v := fmt.Sprintf("p%d-%d", p, i)
					written = append(written, v)
					evs = opEvents(evs, p, "node0", histories.OpPut, "k", histories.Str(v), nil, call, ret, histories.OK, nil)
				case r < 5:
					v := fmt.Sprintf("p%d-%d", p, i)
					exp := written[len(written)-1]
					written = append(written, v)
					evs = opEvents(evs, p, "node0", histories.OpCas, "k", histories.Str(v), histories.Str(exp), call, ret, histories.OK, nil)
				default:
					v := written[len(written)-1]
					if rng.IntN(4) == 0 {
						v = written[rng.IntN(len(written))]
					}
					evs = opEvents(evs, p, "node0", histories.OpGet, "k", nil, nil, call, ret, histories.OK, histories.Str(v))
				}
			}
		}
		sort.SliceStable(evs, func(a, b int) bool { return evs[a].Time < evs[b].Time })
		res := CheckLinearizability(evs, testTimeout)
		if res.Verdict != Invalid {
			continue
		}
		found++
		v := res.Violations[0]
		assertReadsExplained(t, v)
		ops, err := Operations(evs)
		if err != nil {
			t.Fatal(err)
		}
		kept := make(map[int]bool)
		for _, o := range v.Ops {
			kept[o.Event] = true
		}
		var with []porcupine.Operation
		for _, op := range ops {
			in := op.Input.(KVInput)
			switch {
			case kept[op.Metadata.(OpMeta).Event]:
				with = append(with, op)
			case in.Op == histories.OpPut || in.Op == histories.OpCas:
				op.Input = KVInput{Op: histories.OpPut, Key: in.Key, Value: in.Value}
				with = append(with, op)
			}
		}
		m := Model()
		m.Partition = nil
		if porcupine.CheckOperations(m, with) {
			t.Errorf("trial %d: %q is linearizable with the history's other writes", trial, v.Sentence)
		}
	}
	if found < 10 {
		t.Fatalf("only %d invalid histories generated; the test needs more", found)
	}
}
