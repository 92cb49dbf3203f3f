package histories

import (
	"errors"
	"fmt"
	"sort"
)

// ErrUnpaired is wrapped by the errors Pair returns for a history whose
// completions do not match its invocations.
var ErrUnpaired = errors.New("histories: unpaired event")

// Op is one client operation: an invocation and its completion.
type Op struct {
	Process int
	F       string
	Key     string
	Invoke  Event
	// Complete is nil when the history ended before the operation
	// completed; such an operation counts as Info (it may have happened).
	Complete *Event
	// InvokeIndex and CompleteIndex are the positions of the events in the
	// slice given to Pair (CompleteIndex is -1 when Complete is nil).
	InvokeIndex, CompleteIndex int
}

// Type is the outcome of the operation: OK, Fail or Info (Info also when
// the operation never completed).
func (o Op) Type() Type {
	if o.Complete == nil {
		return Info
	}
	return o.Complete.Type
}

// Return is the completion time, or -1 when there is none.
func (o Op) Return() int64 {
	if o.Complete == nil {
		return -1
	}
	return o.Complete.Time
}

// Pair matches every op invocation with the next completion of the same
// process, in history order. An invocation still pending at the end of the
// history gives an Op with a nil Complete. A completion with no pending
// invocation, a second invocation while one is pending, or a completion
// whose f or (non-empty) key differs from its invocation is an error wrapping
// ErrUnpaired; the Ops paired so far are returned with it. Nemesis events
// are skipped. Ops are ordered by invocation.
func Pair(events []Event) ([]Op, error) {
	ops := make([]Op, 0, len(events)/2+1)
	pending := make(map[int]int) // process -> index into ops
	var errs []error
	for i, e := range events {
		if e.Kind != KindOp {
			continue
		}
		if e.Type == Invoke {
			if j, ok := pending[e.Process]; ok {
				errs = append(errs, fmt.Errorf("%w: event %d: process %d invokes %s while event %d is pending",
					ErrUnpaired, i, e.Process, e.F, ops[j].InvokeIndex))
				delete(pending, e.Process)
			}
			pending[e.Process] = len(ops)
			ops = append(ops, Op{Process: e.Process, F: e.F, Key: e.Key, Invoke: e, InvokeIndex: i, CompleteIndex: -1})
			continue
		}
		j, ok := pending[e.Process]
		if !ok {
			errs = append(errs, fmt.Errorf("%w: event %d: process %d completes %s with nothing pending",
				ErrUnpaired, i, e.Process, e.F))
			continue
		}
		delete(pending, e.Process)
		// A completion may leave the key out; it is the invocation's.
		if e.F != ops[j].F || (e.Key != "" && e.Key != ops[j].Key) {
			errs = append(errs, fmt.Errorf("%w: event %d: completion %s(%q) does not match invocation %s(%q)",
				ErrUnpaired, i, e.F, e.Key, ops[j].F, ops[j].Key))
			continue
		}
		c := e
		ops[j].Complete = &c
		ops[j].CompleteIndex = i
	}
	return ops, errors.Join(errs...)
}

// Window is a fault window: from a nemesis Start event to the matching Stop.
type Window struct {
	F      string   `json:"f"`
	Nodes  []string `json:"nodes,omitempty"`
	Detail string   `json:"detail,omitempty"`
	Start  int64    `json:"start"`
	End    int64    `json:"end"`
	// Open is true when the history ended before the fault was stopped;
	// End is then the time of the last event.
	Open bool `json:"open,omitempty"`
}

// FaultWindows pairs nemesis Start and Stop events by fault name (F). A
// Start of a fault that is already active is merged into the open window
// (Jepsen records a nemesis invocation and its completion as two events);
// a Stop with no open window is ignored. Nemesis Info events are point
// events and make no window. Windows are ordered by start time.
func FaultWindows(events []Event) []Window {
	var end int64
	for _, e := range events {
		end = max(end, e.Time)
	}
	open := make(map[string]int)
	var ws []Window
	for _, e := range events {
		if e.Kind != KindNemesis {
			continue
		}
		switch e.Type {
		case Start:
			if _, ok := open[e.F]; ok {
				continue
			}
			open[e.F] = len(ws)
			ws = append(ws, Window{F: e.F, Nodes: e.Nodes, Detail: e.Detail, Start: e.Time, End: end, Open: true})
		case Stop:
			if j, ok := open[e.F]; ok {
				ws[j].End = e.Time
				ws[j].Open = false
				delete(open, e.F)
			}
		}
	}
	sort.SliceStable(ws, func(a, b int) bool { return ws[a].Start < ws[b].Start })
	return ws
}

// Bounds returns the smallest and largest event time (0, 0 when empty).
func Bounds(events []Event) (first, last int64) {
	for i, e := range events {
		if i == 0 || e.Time < first {
			first = e.Time
		}
		if i == 0 || e.Time > last {
			last = e.Time
		}
	}
	return first, last
}

// Str returns a pointer to s, for building events.
func Str(s string) *string { return &s }

// Bool returns a pointer to b, for building events.
func Bool(b bool) *bool { return &b }
