package checker

import (
	"bytes"
	"encoding/json"
	"fmt"
	htmlpkg "html"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/histories"
)

const testTimeout = 20 * time.Second

func load(t *testing.T, name string) []histories.Event {
	t.Helper()
	_, evs, err := histories.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return evs
}

func TestModelStep(t *testing.T) {
	present := KVState{Value: "a", Found: true}
	cases := []struct {
		name  string
		state KVState
		in    KVInput
		out   KVOutput
		ok    bool
		next  KVState
	}{
		{"get hit", present, KVInput{Op: "get"}, KVOutput{Value: "a", Found: true}, true, present},
		{"get wrong value", present, KVInput{Op: "get"}, KVOutput{Value: "b", Found: true}, false, present},
		{"get missing on present", present, KVInput{Op: "get"}, KVOutput{}, false, present},
		{"get missing", KVState{}, KVInput{Op: "get"}, KVOutput{}, true, KVState{}},
		{"get empty value is not missing", KVState{Value: "", Found: true}, KVInput{Op: "get"}, KVOutput{}, false, KVState{Value: "", Found: true}},
		{"put", KVState{}, KVInput{Op: "put", Value: "b"}, KVOutput{}, true, KVState{Value: "b", Found: true}},
		{"delete", present, KVInput{Op: "delete"}, KVOutput{}, true, KVState{}},
		{"delete found matches", present, KVInput{Op: "delete"}, KVOutput{FoundKnown: true, Found: true}, true, KVState{}},
		{"delete found mismatch", KVState{}, KVInput{Op: "delete"}, KVOutput{FoundKnown: true, Found: true}, false, KVState{}},
		{"cas match", present, KVInput{Op: "cas", Expected: "a", HasExpected: true, Value: "c"}, KVOutput{}, true, KVState{Value: "c", Found: true}},
		{"cas mismatch ok", present, KVInput{Op: "cas", Expected: "z", HasExpected: true, Value: "c"}, KVOutput{}, false, present},
		{"cas missing ok", KVState{}, KVInput{Op: "cas", Expected: "", HasExpected: true, Value: "c"}, KVOutput{}, false, KVState{}},
		{"cas mismatch info", present, KVInput{Op: "cas", Expected: "z", HasExpected: true, Value: "c"}, KVOutput{Unknown: true}, true, present},
		{"cas match info", present, KVInput{Op: "cas", Expected: "a", HasExpected: true, Value: "c"}, KVOutput{Unknown: true}, true, KVState{Value: "c", Found: true}},
		{"unknown op", present, KVInput{Op: "incr"}, KVOutput{}, false, present},
	}
	for _, c := range cases {
		ok, next := kvStep(c.state, c.in, c.out)
		if ok != c.ok || next != c.next {
			t.Errorf("%s: got (%v, %+v), want (%v, %+v)", c.name, ok, next, c.ok, c.next)
		}
		if c.ok && next == c.state && kvHash(next) != kvHash(c.state) {
			t.Errorf("%s: equal states hash differently", c.name)
		}
	}
}

func TestOperationsConversion(t *testing.T) {
	evs := load(t, "info-never-appears.jsonl")
	ops, err := Operations(evs)
	if err != nil {
		t.Fatal(err)
	}
	_, last := histories.Bounds(evs)
	// put ok, put info, delete never completed, cas info, two gets.
	if len(ops) != 6 {
		t.Fatalf("%d ops, want 6", len(ops))
	}
	for _, op := range ops {
		in, out := op.Input.(KVInput), op.Output.(KVOutput)
		meta := op.Metadata.(OpMeta)
		if meta.Type != histories.OK {
			if !out.Unknown || op.Return != last+1 {
				t.Errorf("%s by %d: unknown=%v return=%d, want unknown, %d", in.Op, meta.Process, out.Unknown, op.Return, last+1)
			}
		} else if out.Unknown || op.Return > last {
			t.Errorf("ok %s: %+v", in.Op, op)
		}
	}
	// Clients are dense ranks of processes 0, 1, 2, 4, 5.
	var ids []int
	for _, op := range ops {
		ids = append(ids, op.ClientId)
	}
	sort.Ints(ids)
	if !reflect.DeepEqual(ids, []int{0, 0, 1, 2, 3, 4}) {
		t.Errorf("client ids %v", ids)
	}
	// Fail ops are dropped.
	ops, err = Operations(load(t, "unexpected-value.jsonl"))
	if err != nil || len(ops) != 2 {
		t.Fatalf("%d ops, %v; want 2 (the failed put dropped)", len(ops), err)
	}
	// Unpaired histories are refused.
	bad := []histories.Event{{Kind: histories.KindOp, Type: histories.OK, F: "get", Key: "x"}}
	if _, err := Operations(bad); err == nil {
		t.Fatal("no error for an unpaired completion")
	}
}

func TestHandWrittenHistories(t *testing.T) {
	cases := []struct {
		file       string
		lin        Verdict
		failedKeys []string
		lost       Verdict
		lostWrites int
		unexpected bool
		overall    Verdict
	}{
		{"linearizable-concurrent.jsonl", Valid, nil, Valid, 0, false, Valid},
		{"stale-read.jsonl", Invalid, []string{"x"}, Valid, 0, false, Invalid},
		{"lost-write.jsonl", Invalid, []string{"x"}, Invalid, 1, false, Invalid},
		{"cas-anomaly.jsonl", Invalid, []string{"c"}, Valid, 0, false, Invalid},
		{"info-appears.jsonl", Valid, nil, Valid, 0, false, Valid},
		{"info-never-appears.jsonl", Valid, nil, Valid, 0, false, Valid},
		{"unexpected-value.jsonl", Invalid, []string{"x"}, Invalid, 0, true, Invalid},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			evs := load(t, c.file)
			lin := CheckLinearizability(evs, testTimeout)
			if lin.Verdict != c.lin || !reflect.DeepEqual(lin.FailedKeys, c.failedKeys) {
				t.Fatalf("linearizability %s failed %v (%s), want %s %v", lin.Verdict, lin.FailedKeys, lin.Error, c.lin, c.failedKeys)
			}
			lw := CheckLostWrites(evs)
			if lw.Verdict != c.lost || lw.LostWrites != c.lostWrites {
				t.Fatalf("lost writes %s (%d lost) %+v, want %s (%d)", lw.Verdict, lw.LostWrites, lw.Anomalies, c.lost, c.lostWrites)
			}
			if c.unexpected != (len(lw.Anomalies) > 0 && lw.Anomalies[0].Unexpected) {
				t.Fatalf("unexpected = %+v, want %v", lw.Anomalies, c.unexpected)
			}
			res := Check(evs, Options{LinearizabilityTimeout: testTimeout})
			if res.Verdict != c.overall {
				t.Fatalf("overall %s %v, want %s", res.Verdict, res.Reasons, c.overall)
			}
			if _, err := json.Marshal(res); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestLostWriteDetails(t *testing.T) {
	lw := CheckLostWrites(load(t, "lost-write.jsonl"))
	if len(lw.Anomalies) != 1 {
		t.Fatalf("%+v", lw)
	}
	a := lw.Anomalies[0]
	if a.Key != "x" || a.FinalRead == nil || *a.FinalRead != "1" || len(a.Lost) != 1 ||
		a.Lost[0].Value == nil || *a.Lost[0].Value != "2" || a.Lost[0].Complete != 4000 {
		t.Fatalf("anomaly %+v lost %+v", a, a.Lost)
	}
	if lw.KeysChecked != 2 || lw.AcknowledgedWrites != 3 {
		t.Fatalf("counts %+v", lw)
	}
	// Keys written but never read cannot be checked.
	stale := CheckLostWrites(load(t, "stale-read.jsonl"))
	if !reflect.DeepEqual(stale.KeysUnchecked, []string{"other"}) {
		t.Fatalf("unchecked %v", stale.KeysUnchecked)
	}
}

func TestLostWritesCases(t *testing.T) {
	op := func(typ histories.Type, at int64, p int, f, key string, value *string) histories.Event {
		return histories.Event{Kind: histories.KindOp, Type: typ, Time: at, Process: p, F: f, Key: key, Value: value}
	}
	s := histories.Str
	read := func(at int64, p int, v *string) []histories.Event {
		return []histories.Event{op(histories.Invoke, at, p, "get", "k", nil), op(histories.OK, at+1, p, "get", "k", v)}
	}
	cases := []struct {
		name string
		evs  []histories.Event
		want Verdict
		lost int
	}{
		{"concurrent acked writes, either may win", append([]histories.Event{
			op(histories.Invoke, 1, 0, "put", "k", s("a")), op(histories.Invoke, 2, 1, "put", "k", s("b")),
			op(histories.OK, 3, 0, "put", "k", s("a")), op(histories.OK, 4, 1, "put", "k", s("b"))}, read(10, 2, s("a"))...), Valid, 0},
		{"delete then nothing", append([]histories.Event{
			op(histories.Invoke, 1, 0, "put", "k", s("a")), op(histories.OK, 2, 0, "put", "k", s("a")),
			op(histories.Invoke, 3, 0, "delete", "k", nil), op(histories.OK, 4, 0, "delete", "k", nil)}, read(10, 2, s("a"))...), Invalid, 1},
		{"write concurrent with the final read may follow it", append([]histories.Event{
			op(histories.Invoke, 1, 0, "put", "k", s("a")), op(histories.OK, 2, 0, "put", "k", s("a")),
			op(histories.Invoke, 9, 1, "put", "k", s("b"))}, append(read(10, 2, s("a")), op(histories.OK, 20, 1, "put", "k", s("b")))...), Valid, 0},
		{"acked write missing from an empty read", append([]histories.Event{
			op(histories.Invoke, 1, 0, "put", "k", s("a")), op(histories.OK, 2, 0, "put", "k", s("a"))}, read(10, 2, nil)...), Invalid, 1},
		{"info write may be last", append([]histories.Event{
			op(histories.Invoke, 1, 0, "put", "k", s("a")), op(histories.OK, 2, 0, "put", "k", s("a")),
			op(histories.Invoke, 3, 1, "delete", "k", nil), op(histories.Info, 4, 1, "delete", "k", nil)}, read(10, 2, nil)...), Valid, 0},
	}
	for _, c := range cases {
		lw := CheckLostWrites(c.evs)
		if lw.Verdict != c.want || lw.LostWrites != c.lost {
			t.Errorf("%s: %s with %d lost (%+v), want %s with %d", c.name, lw.Verdict, lw.LostWrites, lw.Anomalies, c.want, c.lost)
		}
		// Lost writes are a necessary condition of linearizability.
		if c.want == Invalid {
			if lin := CheckLinearizability(c.evs, testTimeout); lin.Verdict != Invalid {
				t.Errorf("%s: linearizability %s, want invalid", c.name, lin.Verdict)
			}
		}
	}
}

// genHistory simulates a linearizable KV store: operations take effect at
// distinct linearization points, and each gets a random interval around
// its point. Some writes become info (half of those never take effect).
func genHistory(rng *rand.Rand, nOps, nKeys int, width int64) []histories.Event {
	type gop struct {
		call, ret, lp int64
		f, key        string
		val, exp      *string
		out           *string
		found         bool
		info          bool
	}
	state := make(map[string]string)
	ops := make([]gop, nOps)
	for i := range ops {
		lp := int64(i+1) * 100
		o := gop{lp: lp, call: lp - rng.Int64N(width), ret: lp + rng.Int64N(width), key: fmt.Sprintf("k%d", rng.IntN(nKeys))}
		cur, present := state[o.key]
		applies := true
		switch r := rng.IntN(10); {
		case r < 4:
			o.f = histories.OpGet
			if present {
				o.out = histories.Str(cur)
			}
			o.found = present
		case r < 7:
			o.f, o.val = histories.OpPut, histories.Str(fmt.Sprint(i))
		case r < 8:
			o.f = histories.OpDelete
		default:
			o.f, o.val = histories.OpCas, histories.Str(fmt.Sprint(i))
			if present && rng.IntN(3) > 0 {
				o.exp = histories.Str(cur)
			} else {
				o.exp = histories.Str("nope")
			}
		}
		if o.f != histories.OpGet && rng.IntN(8) == 0 {
			o.info = true
			applies = rng.IntN(2) == 0
		}
		if applies {
			switch o.f {
			case histories.OpPut:
				state[o.key] = *o.val
			case histories.OpDelete:
				delete(state, o.key)
			case histories.OpCas:
				if present && cur == *o.exp {
					state[o.key] = *o.val
				} else if !o.info {
					o.f = "" // a cas that did not match: recorded as fail, dropped here
				}
			}
		}
		ops[i] = o
	}
	// Assign processes so that a process has one op outstanding; an info
	// op retires its process.
	sort.SliceStable(ops, func(a, b int) bool { return ops[a].call < ops[b].call })
	var free []int64 // per process: time it is free again (-1: retired)
	var evs []histories.Event
	for _, o := range ops {
		if o.f == "" {
			continue
		}
		p := -1
		for i, f := range free {
			if f >= 0 && f < o.call {
				p = i
				break
			}
		}
		if p < 0 {
			p = len(free)
			free = append(free, 0)
		}
		free[p] = o.ret
		inv := histories.Event{Kind: histories.KindOp, Type: histories.Invoke, Time: o.call, Process: p, F: o.f, Key: o.key, Value: o.val, Expected: o.exp}
		done := inv
		done.Time, done.Type = o.ret, histories.OK
		if o.f == histories.OpGet {
			inv.Value = nil
			done.Value, done.Found = o.out, histories.Bool(o.found)
		}
		if o.info {
			done.Type = histories.Info
			free[p] = -1
		}
		evs = append(evs, inv, done)
	}
	sort.SliceStable(evs, func(a, b int) bool { return evs[a].Time < evs[b].Time })
	return evs
}

func TestGeneratedHistories(t *testing.T) {
	for seed := range uint64(6) {
		rng := rand.New(rand.NewPCG(seed, 42))
		evs := genHistory(rng, 400, 3, 250)
		res := CheckLinearizability(evs, testTimeout)
		if res.Verdict != Valid {
			t.Fatalf("seed %d: %s %v %s", seed, res.Verdict, res.FailedKeys, res.Error)
		}
		if lw := CheckLostWrites(evs); lw.Verdict != Valid {
			t.Fatalf("seed %d: lost writes %+v", seed, lw.Anomalies)
		}
		// Corrupt one read: it must be caught, on that key only.
		var reads []int
		for i, e := range evs {
			if e.Type == histories.OK && e.F == histories.OpGet {
				reads = append(reads, i)
			}
		}
		i := reads[rng.IntN(len(reads))]
		evs[i].Value, evs[i].Found = histories.Str("bogus"), histories.Bool(true)
		res = CheckLinearizability(evs, testTimeout)
		if res.Verdict != Invalid || !reflect.DeepEqual(res.FailedKeys, []string{evs[i].Key}) {
			t.Fatalf("seed %d: corrupted read of %s: %s %v", seed, evs[i].Key, res.Verdict, res.FailedKeys)
		}
	}
}

// nastyHistory has n info puts of distinct values, all concurrent and never
// completed, then reads that observe each value in turn, and a last read of
// v1 again: not linearizable (v1 is written once), but proving it means
// trying the subsets of the puts that could come first.
func nastyHistory(n int) []histories.Event {
	var evs []histories.Event
	for i := range n {
		v := histories.Str(fmt.Sprintf("v%d", i+1))
		evs = append(evs,
			histories.Event{Kind: histories.KindOp, Type: histories.Invoke, Time: int64(i + 1), Process: i, F: histories.OpPut, Key: "n", Value: v},
			histories.Event{Kind: histories.KindOp, Type: histories.Info, Time: int64(1000 + i), Process: i, F: histories.OpPut, Key: "n", Value: v, Error: "timeout"})
	}
	at := int64(5000)
	for i := range n + 1 {
		v := fmt.Sprintf("v%d", i%n+1)
		evs = append(evs,
			histories.Event{Kind: histories.KindOp, Type: histories.Invoke, Time: at, Process: 1000, F: histories.OpGet, Key: "n"},
			histories.Event{Kind: histories.KindOp, Type: histories.OK, Time: at + 10, Process: 1000, F: histories.OpGet, Key: "n", Value: histories.Str(v), Found: histories.Bool(true)})
		at += 100
	}
	// An easy key next to it stays decided.
	evs = append(evs,
		histories.Event{Kind: histories.KindOp, Type: histories.Invoke, Time: at, Process: 1001, F: histories.OpPut, Key: "easy", Value: histories.Str("1")},
		histories.Event{Kind: histories.KindOp, Type: histories.OK, Time: at + 1, Process: 1001, F: histories.OpPut, Key: "easy", Value: histories.Str("1")})
	return evs
}

// TestPruneUnobservedInfo: info writes nobody observed are left out, which
// turns an exponential search into a trivial one, but not when a found
// delete may depend on them.
func TestPruneUnobservedInfo(t *testing.T) {
	ev := func(typ histories.Type, at int64, p int, f string, v *string) histories.Event {
		return histories.Event{Kind: histories.KindOp, Type: typ, Time: at, Process: p, F: f, Key: "k", Value: v}
	}
	var evs []histories.Event
	for i := range 60 {
		v := histories.Str(fmt.Sprintf("lost%d", i))
		evs = append(evs, ev(histories.Invoke, int64(i), i, histories.OpPut, v), ev(histories.Info, int64(100+i), i, histories.OpPut, v))
	}
	a, b := histories.Str("a"), histories.Str("b")
	evs = append(evs,
		ev(histories.Invoke, 200, 100, histories.OpPut, a), ev(histories.OK, 201, 100, histories.OpPut, a),
		ev(histories.Invoke, 202, 100, histories.OpGet, nil), ev(histories.OK, 203, 100, histories.OpGet, a),
		ev(histories.Invoke, 204, 100, histories.OpPut, b), ev(histories.OK, 205, 100, histories.OpPut, b),
		ev(histories.Invoke, 206, 100, histories.OpGet, nil), ev(histories.OK, 207, 100, histories.OpGet, a))
	res := CheckLinearizability(evs, testTimeout)
	if res.Verdict != Invalid || res.PrunedInfo != 60 || res.Ops != 4 {
		t.Fatalf("%s pruned %d ops %d, want invalid, 60 pruned, 4 ops", res.Verdict, res.PrunedInfo, res.Ops)
	}

	// Only the unobserved info put can explain the delete's found=true.
	del := ev(histories.OK, 20, 1, histories.OpDelete, nil)
	del.Found = histories.Bool(true)
	evs = []histories.Event{
		ev(histories.Invoke, 1, 0, histories.OpPut, a), ev(histories.Info, 5, 0, histories.OpPut, a),
		ev(histories.Invoke, 10, 1, histories.OpDelete, nil), del,
	}
	if res := CheckLinearizability(evs, testTimeout); res.Verdict != Valid || res.PrunedInfo != 0 {
		t.Fatalf("found delete: %s pruned %d, want valid, 0", res.Verdict, res.PrunedInfo)
	}
	evs[3].Found = histories.Bool(false)
	if res := CheckLinearizability(evs, testTimeout); res.Verdict != Valid || res.PrunedInfo != 1 {
		t.Fatalf("not-found delete: %s pruned %d, want valid, 1", res.Verdict, res.PrunedInfo)
	}
}

func TestTimeoutIsUnknownNeverValid(t *testing.T) {
	evs := nastyHistory(40)
	start := time.Now()
	// The budget is one deadline for all keys, and a key whose check has
	// not started by then is unknown. The easy key is checked beside the
	// hard one by a second worker, which must get a core before the
	// deadline: 2 s leaves a busy machine room (200 ms did not), while
	// the hard key (2^40 orders) still runs out of it. With one worker
	// (GOMAXPROCS=1) the hard key, checked first, takes the whole budget.
	const budget = 2 * time.Second
	res := CheckLinearizability(evs, budget)
	if res.Verdict != Unknown || !res.TimedOut || !reflect.DeepEqual(res.UnknownKeys, []string{"n"}) {
		t.Fatalf("verdict %s unknown keys %v failed %v, want unknown on n", res.Verdict, res.UnknownKeys, res.FailedKeys)
	}
	// Far above the budget: it only names a check that ignores its budget
	// (this history would then run for a very long time), not a slow machine.
	if el := time.Since(start); el > time.Minute {
		t.Fatalf("check took %v with a %v budget", el, budget)
	}
	if kv := res.PerKey[slices.IndexFunc(res.PerKey, func(k KeyVerdict) bool { return k.Key == "easy" })]; kv.Verdict != Valid {
		t.Fatalf("easy key: %+v", kv)
	}
	// Lost writes cannot see this one (v1 may be the last write), so the
	// overall verdict is unknown, not valid.
	all := Check(evs, Options{LinearizabilityTimeout: 200 * time.Millisecond})
	if all.Verdict != Unknown || len(all.Reasons) != 1 {
		t.Fatalf("overall %s %v, want unknown", all.Verdict, all.Reasons)
	}
	// The small version of the same history is decided: invalid.
	if small := CheckLinearizability(nastyHistory(4), testTimeout); small.Verdict != Invalid {
		t.Fatalf("small nasty history: %s", small.Verdict)
	}
}

func TestVisualizationOfInvalidHistory(t *testing.T) {
	evs := load(t, "lost-write.jsonl")
	res := CheckLinearizability(evs, testTimeout)
	if res.Verdict != Invalid {
		t.Fatalf("verdict %s", res.Verdict)
	}
	var buf bytes.Buffer
	if err := WriteVisualization(&buf, evs, res); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	for _, want := range []string{
		`put(\"x\", \"2\")`,                // the failing key's operations
		`key \"x\": not linearizable`,      // the checker annotation
		`"Tag":"nemesis"`,                  // fault annotations
		`"Description":"partition-halves"`, // the fault window
		`"Description":"kill"`,             // the point fault
		`process 0, node n1, ok`,           // operation metadata
		`"Annotation":true`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("visualization lacks %s", want)
		}
	}
	// Only the failing key is drawn.
	if strings.Contains(html, `get(\"y\")`) {
		t.Error("visualization draws key y, which is linearizable")
	}
	// raftkv's reading aids around Porcupine's page: the first violation
	// in words, its counterexample drawn on its own (one link per
	// operation), and the data the page's script needs.
	v := res.Violations[0]
	for _, want := range []string{
		`<p id="rk-caption" class="rk-caption" data-key="x"><b>First violation</b> (key x): ` + htmlpkg.EscapeString(v.Sentence),
		`<svg id="rk-cx"`, `<script id="rk-data" type="application/json">`, "<title>raftkv history (Porcupine)</title>",
		"render(data)", // Porcupine's own drawing still runs
	} {
		if !strings.Contains(html, want) {
			t.Errorf("history.html lacks %s", want)
		}
	}
	if n := strings.Count(html, `class="rk-cx-op `); n != len(v.Ops) {
		t.Errorf("counterexample draws %d operations, want %d", n, len(v.Ops))
	}
	i := strings.Index(html, `<script id="rk-data" type="application/json">`)
	j := strings.Index(html[i:], "</script>")
	var side historySide
	if err := json.Unmarshal([]byte(html[i+len(`<script id="rk-data" type="application/json">`):i+j]), &side); err != nil {
		t.Fatal(err)
	}
	events := make(map[int]bool)
	for _, op := range side.Ops {
		events[op.Event] = true
	}
	for _, op := range v.Ops {
		if !events[op.Event] {
			t.Errorf("operation at event %d is not among the drawn operations %+v", op.Event, side.Ops)
		}
	}
	if len(side.Clients) != 2 || side.Clients[0].Process != 0 || side.Clients[1].Process != 2 {
		t.Errorf("rows %+v, want processes 0 and 2 (those with operations on x)", side.Clients)
	}
	if p := filepath.Join(t.TempDir(), "history.html"); os.WriteFile(p, buf.Bytes(), 0o644) != nil {
		t.Fatal("write")
	}
}

func TestVisualizationDrawsPrunedInfo(t *testing.T) {
	evs := load(t, "info-never-appears.jsonl")
	res := CheckLinearizability(evs, testTimeout)
	if res.Verdict != Valid || res.PrunedInfo != 2 {
		t.Fatalf("%s pruned %d, want valid, 2 (put 2 and cas 1->9)", res.Verdict, res.PrunedInfo)
	}
	var buf bytes.Buffer
	if err := WriteVisualization(&buf, evs, res); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`put(\"x\", \"2\") ?`, `cas(\"x\", \"1\" → \"9\") ?`, "left out of the check"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("visualization lacks %s", want)
		}
	}
}

func TestVisualizationCapsKeys(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	evs := genHistory(rng, 300, 10, 200)
	res := CheckLinearizability(evs, testTimeout)
	if res.Verdict != Valid {
		t.Fatalf("verdict %s", res.Verdict)
	}
	keys := VisualizedKeys(evs, res)
	if len(keys) != MaxVisualizedKeys {
		t.Fatalf("drawn keys %v", keys)
	}
	var buf bytes.Buffer
	if err := WriteVisualization(&buf, evs, res); err != nil {
		t.Fatal(err)
	}
	drawn := 0
	for k := range 10 {
		if strings.Contains(buf.String(), fmt.Sprintf(`(\"k%d\"`, k)) {
			drawn++
		}
	}
	if drawn != MaxVisualizedKeys {
		t.Fatalf("%d keys drawn, want %d", drawn, MaxVisualizedKeys)
	}
}

func TestEDNImportThenCheck(t *testing.T) {
	cases := []struct {
		file string
		want Verdict
		keys []string
	}{
		{"jepsen-independent.edn", Valid, nil},
		{"knossos-single.edn", Invalid, []string{histories.SingleRegisterKey}},
	}
	for _, c := range cases {
		f, err := os.Open(filepath.Join("..", "histories", "testdata", c.file))
		if err != nil {
			t.Fatal(err)
		}
		evs, err := histories.ReadEDN(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		res := CheckLinearizability(evs, testTimeout)
		if res.Verdict != c.want || !reflect.DeepEqual(res.FailedKeys, c.keys) {
			t.Errorf("%s: %s %v, want %s %v", c.file, res.Verdict, res.FailedKeys, c.want, c.keys)
		}
		// Export and re-import: same verdict.
		var buf bytes.Buffer
		if err := histories.WriteEDN(&buf, evs); err != nil {
			t.Fatal(err)
		}
		again, err := histories.ReadEDN(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if r := CheckLinearizability(again, testTimeout); r.Verdict != c.want {
			t.Errorf("%s after round trip: %s", c.file, r.Verdict)
		}
	}
}

func TestConvergence(t *testing.T) {
	cases := []struct {
		name       string
		states     []NodeState
		want       Verdict
		comparable bool
	}{
		{"converged", []NodeState{{"n1", 10, "h"}, {"n2", 10, "h"}, {"n3", 10, "h"}}, Valid, true},
		{"diverged", []NodeState{{"n1", 10, "h"}, {"n2", 10, "h"}, {"n3", 10, "X"}}, Invalid, true},
		{"not comparable", []NodeState{{"n1", 10, "h"}, {"n2", 9, "g"}}, Unknown, false},
		{"diverged among comparable", []NodeState{{"n1", 10, "h"}, {"n2", 10, "X"}, {"n3", 7, "g"}}, Invalid, false},
		{"none", nil, Unknown, false},
	}
	for _, c := range cases {
		r := CheckConvergence(c.states)
		if r.Verdict != c.want || r.Comparable != c.comparable || r.Converged != (c.want == Valid) {
			t.Errorf("%s: %+v", c.name, r)
		}
	}
	r := CheckConvergence([]NodeState{{"n1", 10, "h"}, {"n2", 10, "X"}})
	if len(r.Diverged) != 1 || !reflect.DeepEqual(r.Diverged[0].ByHash["X"], []string{"n2"}) {
		t.Errorf("divergence %+v", r.Diverged)
	}
	// A divergence makes the whole check invalid.
	res := Check(load(t, "linearizable-concurrent.jsonl"), Options{NodeStates: []NodeState{{"n1", 5, "a"}, {"n2", 5, "b"}}})
	if res.Verdict != Invalid {
		t.Errorf("check with diverged nodes: %s", res.Verdict)
	}
}

func TestAvailability(t *testing.T) {
	stats := Availability(load(t, "linearizable-concurrent.jsonl"))
	if len(stats) != 3 {
		t.Fatalf("%+v", stats)
	}
	win, out, all := stats[0], stats[1], stats[2]
	// Invoked in [3100, 5000]: two cas (ok, fail) and a delete (fail).
	if win.Name != "partition-halves" || win.Ops != 3 || win.OK != 1 || win.Fail != 2 || win.Info != 0 {
		t.Errorf("window %+v", win)
	}
	if out.Name != "outside" || out.Ops != 10 || out.OK != 10 || out.OKRate != 1 {
		t.Errorf("outside %+v", out)
	}
	if all.Ops != 13 || all.OK != 11 || all.Fail != 2 || all.LatencyP50 != 400 || all.LatencyP99 != 1100 {
		t.Errorf("all %+v", all)
	}
	info := Availability(load(t, "info-never-appears.jsonl"))
	if a := info[len(info)-1]; a.Info != 3 || a.OK != 3 || a.OKRate != 0.5 {
		t.Errorf("info history %+v", a)
	}
}

func TestRenderings(t *testing.T) {
	dir := t.TempDir()
	evs := load(t, "lost-write.jsonl")
	rng := rand.New(rand.NewPCG(3, 4))
	big := genHistory(rng, 600, 5, 3e6)
	big = append(big, histories.Event{Kind: histories.KindNemesis, Type: histories.Start, Time: 50e6, F: "partition-halves", Nodes: []string{"n1"}},
		histories.Event{Kind: histories.KindNemesis, Type: histories.Stop, Time: 120e6, F: "partition-halves"})
	sort.SliceStable(big, func(a, b int) bool { return big[a].Time < big[b].Time })
	for name, h := range map[string][]histories.Event{"small": evs, "big": big, "empty": nil} {
		var buf bytes.Buffer
		if err := WriteTimeline(&buf, h, nil); err != nil {
			t.Fatal(err)
		}
		s := buf.String()
		if !strings.HasPrefix(s, "<!DOCTYPE html>") || !strings.HasSuffix(s, "</html>\n") {
			t.Errorf("%s: timeline is not a whole HTML page", name)
		}
		if strings.Contains(s, "http://") || strings.Contains(s, "https://") || strings.Contains(s, "<script src") {
			t.Errorf("%s: timeline is not self-contained", name)
		}
		d := timelineOf(t, s)
		if name != "empty" && (len(d.Faults) != 1 || d.Faults[0].Label != "partition-halves [n1]") {
			t.Errorf("%s: timeline faults %+v, want the partition window", name, d.Faults)
		}
		if name == "small" && (d.Ops.Type[:3] != "ooo" || !slices.Contains(d.Ops.Label, "put x=2") || len(d.Points) != 1 || d.Points[0].Label != "kill [n1]") {
			t.Errorf("small timeline lacks operations or the kill: %+v", d)
		}
		// Rendering is slow under -race: one format per history.
		for _, ext := range map[string][]string{"small": {".png"}, "big": {".svg"}, "empty": {".png"}}[name] {
			lat, thr := filepath.Join(dir, name+"-latency"+ext), filepath.Join(dir, name+"-throughput"+ext)
			if err := PlotLatency(lat, h); err != nil {
				t.Fatal(err)
			}
			if err := PlotThroughput(thr, h); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{lat, thr} {
				b, err := os.ReadFile(p)
				if err != nil || len(b) < 500 {
					t.Fatalf("%s: %d bytes, %v", p, len(b), err)
				}
				if ext == ".png" && !bytes.HasPrefix(b, []byte("\x89PNG")) {
					t.Errorf("%s is not a PNG", p)
				}
				if ext == ".svg" && !bytes.Contains(b, []byte("partition-halves")) {
					t.Errorf("%s lacks the fault label", p)
				}
			}
		}
	}
}

// timelineOf reads the data timeline.html draws.
func timelineOf(t *testing.T, page string) timelineData {
	t.Helper()
	const open = `<script id="data" type="application/json">`
	i := strings.Index(page, open)
	j := strings.Index(page[max(i, 0):], "</script>")
	if i < 0 || j < 0 {
		t.Fatal("timeline has no data")
	}
	var d timelineData
	if err := json.Unmarshal([]byte(page[i+len(open):i+j]), &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestTimelineCaps(t *testing.T) {
	var evs []histories.Event
	const limit = 2000
	for i := range limit + 500 {
		p, at := i%4, int64(i)*10
		evs = append(evs,
			histories.Event{Kind: histories.KindOp, Type: histories.Invoke, Time: at, Process: p, F: histories.OpGet, Key: "k"},
			histories.Event{Kind: histories.KindOp, Type: histories.OK, Time: at + 5, Process: p, F: histories.OpGet, Key: "k"})
	}
	var buf bytes.Buffer
	if err := writeTimeline(&buf, evs, nil, limit); err != nil {
		t.Fatal(err)
	}
	if d := timelineOf(t, buf.String()); len(d.Ops.Inv) != limit || d.Total != limit+500 {
		t.Fatalf("%d of %d operations drawn, want %d of %d", len(d.Ops.Inv), d.Total, limit, limit+500)
	}
	if !strings.Contains(buf.String(), fmt.Sprintf("showing the first %d operations", limit)) {
		t.Fatal("timeline does not say it was capped")
	}
}

// TestTimelineLanesAreClientSlots: lanes are client slots, as many as the
// run's concurrency however many processes the clients went through.
func TestTimelineLanesAreClientSlots(t *testing.T) {
	// history has 3 clients doing 40 operations each, at their own pace;
	// every fifth times out and its client continues as process next(p).
	history := func(next func(p, c int) int) ([]histories.Event, [][]int) {
		var evs []histories.Event
		procs := make([][]int, 3)
		fresh := 3
		for c := range 3 {
			p, at := c, int64(c)
			procs[c] = []int{p}
			for i := range 40 {
				typ := histories.OK
				if i%5 == 4 {
					typ = histories.Info
				}
				evs = append(evs,
					histories.Event{Kind: histories.KindOp, Type: histories.Invoke, Time: at, Process: p, F: histories.OpPut, Key: "k", Value: histories.Str("v")},
					histories.Event{Kind: histories.KindOp, Type: typ, Time: at + 7, Process: p, F: histories.OpPut, Key: "k", Value: histories.Str("v")})
				at += int64(10 + 3*c)
				if typ == histories.Info && i < 39 {
					if next != nil {
						p = next(p, c)
					} else {
						p, fresh = fresh, fresh+1
					}
					procs[c] = append(procs[c], p)
				}
			}
		}
		sort.SliceStable(evs, func(a, b int) bool { return evs[a].Time < evs[b].Time })
		return evs, procs
	}
	for _, c := range []struct {
		name   string
		next   func(p, c int) int
		jepsen bool
	}{
		{"one counter (raftkv's harness)", nil, false},
		{"jepsen (p + concurrency)", func(p, _ int) int { return p + 3 }, true},
	} {
		evs, procs := history(c.next)
		var buf bytes.Buffer
		if err := WriteTimeline(&buf, evs, nil); err != nil {
			t.Fatal(err)
		}
		d := timelineOf(t, buf.String())
		if len(d.Lanes) != 3 || d.JepsenThreads != c.jepsen {
			t.Fatalf("%s: lanes %v (jepsen %t), want 3 lanes (jepsen %t)", c.name, d.Lanes, d.JepsenThreads, c.jepsen)
		}
		// No two operations of a lane overlap.
		for i := range d.Ops.Inv {
			for j := i + 1; j < len(d.Ops.Inv) && d.Ops.Inv[j] <= d.Ops.End[i]; j++ {
				if d.Ops.Lane[i] == d.Ops.Lane[j] && d.Ops.Inv[j] < d.Ops.End[i] {
					t.Fatalf("%s: operations %d and %d overlap in lane %d", c.name, i, j, d.Ops.Lane[i])
				}
			}
		}
		// With Jepsen's numbering a client's processes are its thread.
		for _, ps := range procs {
			for i, p := range d.Ops.Proc {
				if c.jepsen && slices.Contains(ps, p) && d.Ops.Lane[i] != ps[0]%3 {
					t.Errorf("%s: process %d in lane %d, want Jepsen's thread %d", c.name, p, d.Ops.Lane[i], ps[0]%3)
				}
			}
		}
	}
}

// TestTimelineMarksViolations: the counterexample's operations are in the
// page as #ev-N anchors, the first violation in words.
func TestTimelineMarksViolations(t *testing.T) {
	evs := load(t, "lost-write.jsonl")
	res := CheckLinearizability(evs, testTimeout)
	if len(res.Violations) != 1 {
		t.Fatalf("%d violations", len(res.Violations))
	}
	var buf bytes.Buffer
	if err := WriteTimeline(&buf, evs, res.Violations); err != nil {
		t.Fatal(err)
	}
	s := buf.String()
	for _, op := range res.Violations[0].Ops {
		if !strings.Contains(s, fmt.Sprintf(`<div class="violation" id="ev-%d"`, op.Event)) {
			t.Errorf("no anchor for event %d", op.Event)
		}
	}
	if !strings.Contains(s, htmlpkg.EscapeString(res.Violations[0].Sentence)) || strings.Contains(s, `id="jump" type="button" disabled`) {
		t.Error("the first violation is not named, or cannot be jumped to")
	}
	if d := timelineOf(t, s); len(d.Violations) != 1 || len(d.Violations[0].Events) != len(res.Violations[0].Ops) {
		t.Errorf("violations %+v", d.Violations)
	}
}

func TestResultJSON(t *testing.T) {
	res := Check(load(t, "lost-write.jsonl"), Options{LinearizabilityTimeout: testTimeout, NodeStates: []NodeState{{"n1", 3, "a"}, {"n2", 4, "b"}}})
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	var back Result
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Verdict != Invalid || back.LostWrites.LostWrites != 1 || back.Convergence.Comparable ||
		back.Linearizability.FailedKeys[0] != "x" || len(back.Availability) != 3 || back.Stats.Ops != 5 {
		t.Fatalf("round trip %s", b)
	}
	for _, want := range []string{`"verdict": "invalid"`, `"failed_keys"`, `"lost"`, `"availability"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("results.json lacks %s", want)
		}
	}
}

func TestLostWritesUndecided(t *testing.T) {
	evs := []histories.Event{
		{Kind: histories.KindOp, Type: histories.Invoke, Time: 1, F: histories.OpPut, Key: "a", Value: histories.Str("1")},
		{Kind: histories.KindOp, Type: histories.OK, Time: 2, F: histories.OpPut, Key: "a", Value: histories.Str("1")},
	}
	lw := CheckLostWrites(evs)
	if lw.Verdict != Unknown || lw.Error == "" || !reflect.DeepEqual(lw.KeysUnchecked, []string{"a"}) {
		t.Fatalf("%+v", lw)
	}
	lw = CheckLostWrites(append(evs, histories.Event{Kind: histories.KindOp, Type: histories.OK, Time: 3, Process: 9, F: histories.OpGet, Key: "a"}))
	if lw.Verdict != Unknown || lw.Error == "" {
		t.Fatalf("unpaired: %+v", lw)
	}
}
