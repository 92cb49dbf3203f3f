package checker

import (
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"

	"github.com/anishathalye/porcupine"

	"github.com/raftkv/raftkv/histories"
)

// ErrBadHistory is wrapped by errors about histories the checker cannot
// interpret (unpaired events, unknown operations, a put without a value).
var ErrBadHistory = errors.New("checker: bad history")

// KVInput is the input of one KV operation in the Porcupine model.
type KVInput struct {
	Op    string // histories.OpGet, OpPut, OpDelete, OpCas
	Key   string
	Value string // put's value, cas's new value
	// Expected is cas's expected value; HasExpected is false for a cas
	// without one, which can never succeed.
	Expected    string
	HasExpected bool
}

// KVOutput is what the client observed.
type KVOutput struct {
	// Unknown is set for info operations: the outcome was never seen, so
	// any outcome is accepted (the operation still has its effect if it is
	// linearized before the end of the history).
	Unknown bool
	Value   string // get: the value read
	Found   bool   // get: whether the key existed; delete: whether it did (if FoundKnown)
	// FoundKnown is true when a delete reported whether the key existed.
	FoundKnown bool
}

// KVState is the state of one key (the model is partitioned by key).
type KVState struct {
	Value string
	Found bool
}

// OpMeta is attached to every Porcupine operation for the visualization.
type OpMeta struct {
	Process int
	Node    string
	Type    histories.Type
	Error   string
	// Event is the position of the invocation in the history.
	Event int
}

// kvStep is the sequential specification of one key.
func kvStep(state, input, output any) (bool, any) {
	s := state.(KVState)
	in := input.(KVInput)
	out := output.(KVOutput)
	switch in.Op {
	case histories.OpGet:
		if out.Unknown {
			return true, s
		}
		return out.Found == s.Found && (!s.Found || out.Value == s.Value), s
	case histories.OpPut:
		return true, KVState{Value: in.Value, Found: true}
	case histories.OpDelete:
		if !out.Unknown && out.FoundKnown && out.Found != s.Found {
			return false, s
		}
		return true, KVState{}
	case histories.OpCas:
		if in.HasExpected && s.Found && s.Value == in.Expected {
			return true, KVState{Value: in.Value, Found: true}
		}
		// A cas that did not match changes nothing; an acknowledged one
		// claims it matched, so it cannot be placed here.
		return out.Unknown, s
	}
	return false, s
}

func kvHash(state any) uint64 {
	s := state.(KVState)
	h := fnv.New64a()
	if s.Found {
		h.Write([]byte{1})
		h.Write([]byte(s.Value))
	}
	return h.Sum64()
}

const describeMax = 40

func quote(s string) string {
	if len(s) > describeMax {
		s = s[:describeMax] + "…"
	}
	return fmt.Sprintf("%q", s)
}

func describeOperation(input, output any) string {
	in := input.(KVInput)
	out := output.(KVOutput)
	var b strings.Builder
	switch in.Op {
	case histories.OpGet:
		fmt.Fprintf(&b, "get(%s)", quote(in.Key))
		switch {
		case out.Unknown:
			b.WriteString(" → ?")
		case out.Found:
			fmt.Fprintf(&b, " → %s", quote(out.Value))
		default:
			b.WriteString(" → not found")
		}
		return b.String()
	case histories.OpPut:
		fmt.Fprintf(&b, "put(%s, %s)", quote(in.Key), quote(in.Value))
	case histories.OpDelete:
		fmt.Fprintf(&b, "delete(%s)", quote(in.Key))
		if !out.Unknown && out.FoundKnown {
			fmt.Fprintf(&b, " → found=%t", out.Found)
		}
	case histories.OpCas:
		exp := "<none>"
		if in.HasExpected {
			exp = quote(in.Expected)
		}
		fmt.Fprintf(&b, "cas(%s, %s → %s)", quote(in.Key), exp, quote(in.Value))
	default:
		fmt.Fprintf(&b, "%s(%s)", in.Op, quote(in.Key))
	}
	if out.Unknown {
		b.WriteString(" ?")
	}
	return b.String()
}

func describeState(state any) string {
	s := state.(KVState)
	if !s.Found {
		return "<missing>"
	}
	return quote(s.Value)
}

func describeMeta(m any) string {
	meta, ok := m.(OpMeta)
	if !ok {
		return ""
	}
	s := fmt.Sprintf("process %d", meta.Process)
	if meta.Node != "" {
		s += ", node " + meta.Node
	}
	s += ", " + string(meta.Type)
	if meta.Error != "" {
		s += ": " + meta.Error
	}
	return s
}

// partitionByKey splits operations by KVInput.Key, in key order.
func partitionByKey(ops []porcupine.Operation) [][]porcupine.Operation {
	byKey := make(map[string][]porcupine.Operation)
	for _, op := range ops {
		k := op.Input.(KVInput).Key
		byKey[k] = append(byKey[k], op)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([][]porcupine.Operation, len(keys))
	for i, k := range keys {
		out[i] = byKey[k]
	}
	return out
}

// Model returns the Porcupine model of raftkv's KV store, partitioned by
// key: a get returns (value, found); a put sets; a delete removes (and,
// when it reports whether the key existed, that must match); a cas
// succeeds iff the key is present with the expected value. Operations with
// an Unknown output (info) may have any outcome.
func Model() porcupine.Model {
	return porcupine.Model{
		Partition:                 partitionByKey,
		Init:                      func() any { return KVState{} },
		Step:                      kvStep,
		Hash:                      kvHash,
		DescribeOperation:         describeOperation,
		DescribeState:             describeState,
		DescribeOperationMetadata: describeMeta,
	}
}

// Operations converts a history to Porcupine operations, with
// Call = invocation time and Return = completion time.
//
// Fail operations certainly did not happen and are dropped (this includes
// a cas whose expected value did not match, which the harness records as
// fail). Info operations, and invocations never completed, may happen at
// any time after their call: they get Output.Unknown and a Return time
// after every event of the history (the last event time + 1), which is
// Porcupine's convention for an infinite return time and keeps the
// visualization's timestamps readable. Info gets are dropped: a read with
// no result constrains nothing. ClientId is the process's rank among the
// history's processes (dense, zero-based, as the visualization wants).
func Operations(events []histories.Event) ([]porcupine.Operation, error) {
	pairs, err := histories.Pair(events)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadHistory, err)
	}
	_, last := histories.Bounds(events)
	clients := clientIDs(pairs)
	ops := make([]porcupine.Operation, 0, len(pairs))
	for _, p := range pairs {
		op, keep, err := operation(p, last+1, clients[p.Process])
		if err != nil {
			return nil, err
		}
		if keep {
			ops = append(ops, op)
		}
	}
	return ops, nil
}

func clientIDs(pairs []histories.Op) map[int]int {
	var procs []int
	seen := make(map[int]bool)
	for _, p := range pairs {
		if !seen[p.Process] {
			seen[p.Process] = true
			procs = append(procs, p.Process)
		}
	}
	sort.Ints(procs)
	ids := make(map[int]int, len(procs))
	for i, p := range procs {
		ids[p] = i
	}
	return ids
}

func operation(p histories.Op, infinity int64, client int) (porcupine.Operation, bool, error) {
	typ := p.Type()
	if typ == histories.Fail {
		return porcupine.Operation{}, false, nil
	}
	in := KVInput{Op: p.F, Key: p.Key}
	out := KVOutput{Unknown: typ == histories.Info}
	value := p.Invoke.Value
	if value == nil && p.Complete != nil {
		value = p.Complete.Value
	}
	switch p.F {
	case histories.OpGet:
		if typ == histories.Info {
			return porcupine.Operation{}, false, nil
		}
		c := p.Complete
		if c.Value != nil {
			out.Value = *c.Value
		}
		out.Found = c.Value != nil
		if c.Found != nil {
			out.Found = *c.Found
		}
	case histories.OpPut:
		if value == nil {
			return porcupine.Operation{}, false, fmt.Errorf("%w: event %d: put without a value", ErrBadHistory, p.InvokeIndex)
		}
		in.Value = *value
	case histories.OpDelete:
		if p.Complete != nil && p.Complete.Found != nil {
			out.FoundKnown, out.Found = true, *p.Complete.Found
		}
	case histories.OpCas:
		if value == nil {
			return porcupine.Operation{}, false, fmt.Errorf("%w: event %d: cas without a new value", ErrBadHistory, p.InvokeIndex)
		}
		in.Value = *value
		exp := p.Invoke.Expected
		if exp == nil && p.Complete != nil {
			exp = p.Complete.Expected
		}
		if exp != nil {
			in.Expected, in.HasExpected = *exp, true
		}
	default:
		return porcupine.Operation{}, false, fmt.Errorf("%w: event %d: unknown operation %q", ErrBadHistory, p.InvokeIndex, p.F)
	}
	meta := OpMeta{Process: p.Process, Node: p.Invoke.Node, Type: typ, Event: p.InvokeIndex}
	ret := infinity
	if typ == histories.OK {
		ret = p.Complete.Time
	}
	if p.Complete != nil {
		if p.Complete.Node != "" {
			meta.Node = p.Complete.Node
		}
		meta.Error = p.Complete.Error
	}
	return porcupine.Operation{
		ClientId: client,
		Input:    in,
		Call:     p.Invoke.Time,
		Output:   out,
		Return:   ret,
		Metadata: meta,
	}, true, nil
}

// pruneUnobservedInfo drops info puts and cases whose value no operation
// of their key observes (no ok get read it, no cas expected it), unless
// an ok delete of the key reported that the key existed. Such a write
// changes nothing the checker can see: a linearization without it extends
// to one with it placed last (an info operation's return is infinite), and
// a linearization with it stays valid without it, since no read, cas or
// found-reporting delete depended on its value (an info cas that would
// then match moves to the end as well). Dropping them keeps histories with
// many timeouts (every write during a partition) checkable: each info
// write otherwise doubles the states Porcupine may have to explore.
func pruneUnobservedInfo(ops []porcupine.Operation) (kept, dropped []porcupine.Operation) {
	type keyFacts struct {
		observed   map[string]bool
		foundByDel bool
	}
	facts := make(map[string]*keyFacts)
	get := func(k string) *keyFacts {
		f := facts[k]
		if f == nil {
			f = &keyFacts{observed: make(map[string]bool)}
			facts[k] = f
		}
		return f
	}
	for _, op := range ops {
		in, out := op.Input.(KVInput), op.Output.(KVOutput)
		f := get(in.Key)
		switch in.Op {
		case histories.OpGet:
			if !out.Unknown && out.Found {
				f.observed[out.Value] = true
			}
		case histories.OpCas:
			if in.HasExpected {
				f.observed[in.Expected] = true
			}
		case histories.OpDelete:
			if !out.Unknown && out.FoundKnown && out.Found {
				f.foundByDel = true
			}
		}
	}
	for _, op := range ops {
		in, out := op.Input.(KVInput), op.Output.(KVOutput)
		f := facts[in.Key]
		if out.Unknown && (in.Op == histories.OpPut || in.Op == histories.OpCas) && !f.observed[in.Value] && !f.foundByDel {
			dropped = append(dropped, op)
			continue
		}
		kept = append(kept, op)
	}
	return kept, dropped
}
