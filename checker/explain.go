package checker

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/raftkv/raftkv/histories"
)

// Violation names one key's counterexample to linearizability: a minimal
// set of that key's operations that cannot be linearized, found by
// shrinking the key's sub-history while Porcupine still rejects it.
type Violation struct {
	Key string `json:"key"`
	// Ops are the counterexample's operations, ordered by invocation.
	Ops []ViolationOp `json:"ops"`
	// Minimal is true when no single operation can be dropped from Ops
	// with the rest still not linearizable; false when the shrinking time
	// budget ran out first (Ops is then still a counterexample, only maybe
	// not the smallest).
	Minimal bool `json:"minimal"`
	// From and To bound the counterexample in time: the first invocation
	// and the last completion (or invocation, for operations that never
	// completed), in nanoseconds since the run started.
	From int64 `json:"from"`
	To   int64 `json:"to"`
	// Faults are the fault windows that overlap [From, To].
	Faults []histories.Window `json:"faults,omitempty"`
	// Sentence says in words what went wrong, e.g. "get k3 → p2-7 at
	// 0.51 s via node1, but cas k3 p2-7→p0-8 completed at 0.48 s via
	// node0; no fault active".
	Sentence string `json:"sentence"`
}

// ViolationOp is one operation of a counterexample.
type ViolationOp struct {
	Process int            `json:"process"`
	Node    string         `json:"node,omitempty"`
	F       string         `json:"f"`
	Key     string         `json:"key"`
	Type    histories.Type `json:"type"` // ok, or info for an unknown outcome
	// Value is the value written (put, cas's new value) or read (get);
	// Found is false for a get that found no key.
	Value    string `json:"value,omitempty"`
	Found    bool   `json:"found"`
	Expected string `json:"expected,omitempty"` // cas
	// Invoke and Complete are times in nanoseconds since the run started;
	// Complete is -1 when the outcome is unknown (info).
	Invoke   int64 `json:"invoke"`
	Complete int64 `json:"complete"`
	// Event is the position of the invocation in the history (0-based,
	// over the events after the header): timeline.html's anchor #ev-N.
	Event int `json:"event"`
	// Words describes the operation, e.g. "cas k3 p2-7→p0-8".
	Words string `json:"words"`
}

// Shrinking budgets: a key gets at most shrinkKeyBudget, all keys
// together at most shrinkTotalBudget (shrinking only makes the report
// clearer, the verdict is already decided).
const (
	shrinkKeyBudget   = 10 * time.Second
	shrinkTotalBudget = 30 * time.Second
)

// ShrinkOperations reduces ops, which Porcupine must find not
// linearizable, to a smaller subset that is still a counterexample: it
// keeps the shortest prefix (by invocation) that is one, so that the
// violation named is the first, then drops chunks of operations (halves
// first, then smaller chunks, down to single operations) and keeps every
// drop after which the rest is still one. It stops when no single
// operation can be dropped (minimal is then true) or when deadline passes
// (the zero time: no limit). A drop that Porcupine cannot decide in time is
// not taken, nor one that leaves a read whose value no kept operation
// writes or expects (see explainReads).
//
// A dropped write is not forgotten: a subset is checked together with the
// writes of ops that set what it observes (the values its gets read and
// its acknowledged cas expect, the deletes when it reads a key missing),
// each as an unconditional write within its own invocation and completion
// (ghostWrite). Those writes did take effect in the run, so a subset that
// cannot be linearized even with them proves the run is not linearizable;
// without them a drop could leave two reads of different values that
// contradict each other only because the write between them was dropped.
//
// A subset is a counterexample if it cannot be linearized whatever the key
// held before its first operation (missing, any value it reads or expects,
// or any other value). When the whole of ops is linearizable from some
// such earlier state (the violation depends on the key starting out
// missing, e.g. a read of a value never written), a subset only needs to
// be illegal from the start.
func ShrinkOperations(ops []porcupine.Operation, deadline time.Time) (out []porcupine.Operation, minimal bool) {
	model := Model()
	model.Partition = nil
	all := append([]porcupine.Operation(nil), ops...)
	sort.SliceStable(all, func(a, b int) bool { return all[a].Call < all[b].Call })
	// illegalFrom: bad is true when c cannot be linearized from init;
	// inTime false when the deadline passed first.
	illegalFrom := func(c []porcupine.Operation, init KVState) (bad, inTime bool) {
		var budget time.Duration
		if !deadline.IsZero() {
			budget = time.Until(deadline)
			if budget <= 0 {
				return false, false
			}
		}
		m := model
		m.Init = func() any { return init }
		switch porcupine.CheckOperationsTimeout(m, c, budget) {
		case porcupine.Illegal:
			return true, true
		case porcupine.Ok:
			return false, true
		}
		return false, !deadline.IsZero() && time.Now().Before(deadline)
	}
	anyStart := true
	// counterexample: set holds indexes into all, in increasing order.
	counterexample := func(set []int) (bad, inTime bool) {
		c := withGhostWrites(all, set)
		if bad, inTime = illegalFrom(c, KVState{}); !bad || !anyStart {
			return bad, inTime
		}
		for _, init := range earlierStates(c) {
			if bad, inTime = illegalFrom(c, init); !bad {
				return false, inTime
			}
		}
		return true, true
	}
	ops2 := func(set []int) []porcupine.Operation {
		out := make([]porcupine.Operation, len(set))
		for i, j := range set {
			out[i] = all[j]
		}
		return out
	}
	cur := make([]int, len(all))
	for i := range cur {
		cur[i] = i
	}
	if bad, inTime := counterexample(cur); !inTime {
		return ops2(cur), false
	} else if !bad {
		anyStart = false
	}
	// The first violation: the shortest prefix, by invocation, that is
	// still a counterexample (found by bisection; adding operations invoked
	// later does not make an illegal prefix legal).
	lo, hi := 1, len(cur) // cur[:hi] is a counterexample
	for lo < hi {
		mid := (lo + hi) / 2
		bad, inTime := counterexample(cur[:mid])
		if !inTime {
			return ops2(cur[:hi]), false
		}
		if bad {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	// Every candidate from here on explains its reads (see explainReads):
	// the prefix gets the writes it lacks, and a drop that would leave a
	// read unexplained is not taken, so that the shrinking settles on the
	// operations that say what happened, e.g. a stale read and the write
	// it missed, rather than two reads whose writes it dropped.
	cur = explainReads(all, cur[:hi])
	chunk := max(len(cur)/2, 1)
	for {
		dropped := false
		for i := 0; i < len(cur); {
			end := min(i+chunk, len(cur))
			cand := append(append([]int(nil), cur[:i]...), cur[end:]...)
			if len(cand) == 0 || len(explainReads(all, cand)) != len(cand) {
				i = end
				continue
			}
			bad, inTime := counterexample(cand)
			if !inTime {
				return ops2(cur), false
			}
			if bad {
				cur, dropped = cand, true
				continue // the next chunk now starts at i
			}
			i = end
		}
		if chunk == 1 && !dropped {
			break
		}
		if !dropped {
			chunk = max(chunk/2, 1)
		}
	}
	return ops2(cur), true
}

// observed says what the operations of set (indexes into all) saw of the
// key: the values read or expected, whether a key was seen missing, and
// whether a delete saw it present (any write could have put it there).
func observed(all []porcupine.Operation, set []int) (values map[string]bool, missing, anyWrite bool) {
	values = make(map[string]bool)
	for _, j := range set {
		in, out := all[j].Input.(KVInput), all[j].Output.(KVOutput)
		if out.Unknown {
			continue // an unknown outcome observed nothing
		}
		switch in.Op {
		case histories.OpGet:
			if out.Found {
				values[out.Value] = true
			} else {
				missing = true
			}
		case histories.OpCas:
			if in.HasExpected {
				values[in.Expected] = true
			}
		case histories.OpDelete:
			if out.FoundKnown {
				missing = missing || !out.Found
				anyWrite = anyWrite || out.Found
			}
		}
	}
	return values, missing, anyWrite
}

// withGhostWrites is set's operations (indexes into all) and, for every
// write outside set that could have set a state set's operations observe,
// its ghost: the same write without its own condition (a cas as a put, a
// delete that does not report), within the same invocation and completion.
// Every acknowledged write took effect in its window, and an unknown one
// may have (its completion is the end of the history), so if the run is
// linearizable, so is set with these ghosts: in a linearization of the
// whole run the last write before each of set's operations is one whose
// result that operation observes, which is kept.
func withGhostWrites(all []porcupine.Operation, set []int) []porcupine.Operation {
	values, missing, anyWrite := observed(all, set)
	in := make(map[int]bool, len(set))
	out := make([]porcupine.Operation, 0, len(set))
	for _, j := range set {
		in[j] = true
		out = append(out, all[j])
	}
	for j, op := range all {
		if in[j] {
			continue
		}
		w := op.Input.(KVInput)
		switch {
		case w.Op == histories.OpPut || w.Op == histories.OpCas:
			if anyWrite || values[w.Value] {
				g := op
				g.Input = KVInput{Op: histories.OpPut, Key: w.Key, Value: w.Value}
				out = append(out, g)
			}
		case w.Op == histories.OpDelete:
			if anyWrite || missing {
				g := op
				g.Input = KVInput{Op: histories.OpDelete, Key: w.Key}
				g.Output = KVOutput{Unknown: true}
				out = append(out, g)
			}
		}
	}
	return out
}

// explainReads adds to set (indexes into all, increasing) the writes of
// every value a get of set read that no other operation of set writes or
// expects: a stale read and the later cas that replaced its value say
// enough, but two reads that contradict each other only make sense with
// the writes of their values beside them.
func explainReads(all []porcupine.Operation, set []int) []int {
	mentioned := make(map[string]bool)
	for _, j := range set {
		in := all[j].Input.(KVInput)
		switch in.Op {
		case histories.OpPut:
			mentioned[in.Value] = true
		case histories.OpCas:
			mentioned[in.Value] = true
			if in.HasExpected {
				mentioned[in.Expected] = true
			}
		}
	}
	need := make(map[string]bool)
	for _, j := range set {
		in, out := all[j].Input.(KVInput), all[j].Output.(KVOutput)
		if in.Op == histories.OpGet && !out.Unknown && out.Found && !mentioned[out.Value] {
			need[out.Value] = true
		}
	}
	if len(need) == 0 {
		return set
	}
	keep := make(map[int]bool, len(set))
	for _, j := range set {
		keep[j] = true
	}
	for j, op := range all {
		in := op.Input.(KVInput)
		if (in.Op == histories.OpPut || in.Op == histories.OpCas) && need[in.Value] {
			keep[j] = true
		}
	}
	out := make([]int, 0, len(keep))
	for j := range all {
		if keep[j] {
			out = append(out, j)
		}
	}
	return out
}

// earlierStates are the states of a key before ops that can make a
// difference to them: every value an ok get reads or a cas expects, and
// one value none of them mentions (the key's absence is checked first,
// separately).
func earlierStates(ops []porcupine.Operation) []KVState {
	seen := make(map[string]bool)
	var out []KVState
	add := func(v string) {
		if !seen[v] {
			seen[v] = true
			out = append(out, KVState{Value: v, Found: true})
		}
	}
	mentioned := make(map[string]bool)
	for _, op := range ops {
		in, o := op.Input.(KVInput), op.Output.(KVOutput)
		mentioned[in.Value], mentioned[in.Expected], mentioned[o.Value] = true, true, true
		switch {
		case in.Op == histories.OpGet && !o.Unknown && o.Found:
			add(o.Value)
		case in.Op == histories.OpCas && in.HasExpected:
			add(in.Expected)
		}
	}
	other := "\x00other"
	for mentioned[other] {
		other += "\x00"
	}
	return append(out, KVState{Value: other, Found: true})
}

// explainFailedKeys shrinks every failed key's operations (from parts,
// indexed like res.PerKey) and describes the counterexamples, ordered by
// the time of their last operation (the first violation first).
func explainFailedKeys(events []histories.Event, parts [][]porcupine.Operation, res LinearizabilityResult, budget time.Duration) []Violation {
	total := time.Now().Add(min(budget, shrinkTotalBudget))
	windows := histories.FaultWindows(events)
	var out []Violation
	for i, kv := range res.PerKey {
		if kv.Verdict != Invalid {
			continue
		}
		deadline := time.Now().Add(shrinkKeyBudget)
		if deadline.After(total) {
			deadline = total
		}
		ops, minimal := ShrinkOperations(parts[i], deadline)
		out = append(out, describeViolation(kv.Key, ops, minimal, windows))
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].To < out[b].To })
	return out
}

func describeViolation(key string, ops []porcupine.Operation, minimal bool, windows []histories.Window) Violation {
	v := Violation{Key: key, Minimal: minimal}
	sort.SliceStable(ops, func(a, b int) bool { return ops[a].Call < ops[b].Call })
	v.From = ops[0].Call
	for _, op := range ops {
		vo := violationOp(op)
		v.Ops = append(v.Ops, vo)
		v.To = max(v.To, vo.Invoke, vo.Complete)
	}
	for _, w := range windows {
		if w.F != "heal-all" && w.Start <= v.To && w.End >= v.From {
			v.Faults = append(v.Faults, w)
		}
	}
	v.Sentence = violationSentence(v)
	return v
}

func violationOp(op porcupine.Operation) ViolationOp {
	in, out := op.Input.(KVInput), op.Output.(KVOutput)
	meta, _ := op.Metadata.(OpMeta)
	vo := ViolationOp{Process: meta.Process, Node: meta.Node, F: in.Op, Key: in.Key, Type: meta.Type,
		Invoke: op.Call, Complete: op.Return, Event: meta.Event, Expected: in.Expected}
	if out.Unknown {
		vo.Complete = -1
	}
	switch in.Op {
	case histories.OpGet:
		vo.Value, vo.Found = out.Value, out.Found
	case histories.OpPut, histories.OpCas:
		vo.Value, vo.Found = in.Value, true
	case histories.OpDelete:
		vo.Found = out.FoundKnown && out.Found
	}
	vo.Words = opWords(in, out)
	return vo
}

// opWords describes an operation briefly: "get k3 → p2-7", "put k3 v",
// "cas k3 p2-7→p0-8", "delete k3 → existed".
func opWords(in KVInput, out KVOutput) string {
	v := func(s string) string {
		if s == "" {
			return `""`
		}
		if len(s) > describeMax {
			return s[:describeMax] + "…"
		}
		return s
	}
	switch in.Op {
	case histories.OpGet:
		if out.Found {
			return fmt.Sprintf("get %s → %s", in.Key, v(out.Value))
		}
		return fmt.Sprintf("get %s → not found", in.Key)
	case histories.OpPut:
		return fmt.Sprintf("put %s %s", in.Key, v(in.Value))
	case histories.OpCas:
		exp := "(none)"
		if in.HasExpected {
			exp = v(in.Expected)
		}
		return fmt.Sprintf("cas %s %s→%s", in.Key, exp, v(in.Value))
	case histories.OpDelete:
		switch {
		case out.Unknown || !out.FoundKnown:
			return "delete " + in.Key
		case out.Found:
			return "delete " + in.Key + " → existed"
		default:
			return "delete " + in.Key + " → did not exist"
		}
	}
	return in.Op + " " + in.Key
}

// Seconds formats a history time (nanoseconds since the start) as "0.510 s".
func Seconds(ns int64) string { return fmt.Sprintf("%.3f s", float64(ns)/1e9) }

// violationSentence puts the operation invoked last first (in a stale
// read, the read), then what the others did before or while it ran, then
// the faults active over the counterexample.
func violationSentence(v Violation) string {
	via := func(o ViolationOp) string {
		if o.Node == "" {
			return fmt.Sprintf(" (process %d)", o.Process)
		}
		return fmt.Sprintf(" via %s (process %d)", o.Node, o.Process)
	}
	last := v.Ops[len(v.Ops)-1]
	var b strings.Builder
	b.WriteString(last.Words)
	if last.Complete < 0 {
		fmt.Fprintf(&b, " (outcome unknown) invoked at %s", Seconds(last.Invoke))
	} else {
		fmt.Fprintf(&b, " at %s", Seconds(last.Complete))
	}
	b.WriteString(via(last))
	for i, o := range v.Ops[:len(v.Ops)-1] {
		if i == 0 {
			b.WriteString(", but ")
		} else {
			b.WriteString(", and ")
		}
		b.WriteString(o.Words)
		switch {
		case o.Complete < 0:
			fmt.Fprintf(&b, " (outcome unknown) was invoked at %s", Seconds(o.Invoke))
		case o.Complete < last.Invoke:
			fmt.Fprintf(&b, " completed at %s", Seconds(o.Complete))
		default:
			fmt.Fprintf(&b, " ran from %s to %s", Seconds(o.Invoke), Seconds(o.Complete))
		}
		b.WriteString(via(o))
	}
	if len(v.Ops) == 1 {
		b.WriteString(", which no order of operations explains")
	}
	if len(v.Faults) == 0 {
		b.WriteString("; no fault active")
	} else {
		names := make([]string, len(v.Faults))
		for i, w := range v.Faults {
			names[i] = fmt.Sprintf("%s %s–%s", w.F, Seconds(w.Start), Seconds(w.End))
			if len(w.Nodes) > 0 {
				names[i] += " on " + strings.Join(w.Nodes, ",")
			}
		}
		b.WriteString("; faults active: " + strings.Join(names, "; "))
	}
	return b.String()
}
