package checker

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/raftkv/raftkv/histories"
)

// Kinds of NodeEvent.
const (
	// NodeExit: the node's process ended.
	NodeExit = "exit"
	// NodePanic: a Go panic or fatal error ended the process, or the node
	// recovered a panic and logged it (a handler's, say). A panic is never
	// planned.
	NodePanic = "panic"
	// NodeViolation: an invariant the node (or a simulation) checks was
	// broken. Never planned.
	NodeViolation = "violation"
)

// Causes of a NodeExit the backend knows.
const (
	// CauseHarness: the harness ended the process (a kill fault, a restart,
	// the stop at the end of the run).
	CauseHarness = "harness"
	// CauseFailpoint: the process exited with the failpoint status after
	// its log said a failpoint was hit. It is planned when the history has
	// a failpoint fault on that node (the nemesis armed it).
	CauseFailpoint = "failpoint"
)

// NodeEvent is something a node's process did that may make a run
// invalid: an exit, a panic, a broken invariant. Backends report every
// exit (those the harness caused too, with their Cause) so that the
// artifact shows them all; CheckNodeHealth decides which were planned.
type NodeEvent struct {
	Node string `json:"node"`
	// Time is on the history's clock: nanoseconds since the run started
	// (negative: before the workload did, e.g. while the cluster started).
	Time int64  `json:"time"`
	Kind string `json:"kind"`
	// Cause is CauseHarness or CauseFailpoint when the backend knows who
	// ended the process, "" otherwise.
	Cause string `json:"cause,omitempty"`
	// Status is how the process ended, as the backend saw it ("exit
	// status 2", "signal: killed", "exit code 137").
	Status string `json:"status,omitempty"`
	// Message is the one line that says what happened ("runtime error:
	// index out of range [3] with length 3"; for an exit without a panic,
	// the last error the node logged).
	Message string `json:"message,omitempty"`
	// Detail is the first lines of the panic and its stack, or the last
	// lines the process logged.
	Detail []string `json:"detail,omitempty"`
	// Log is the node's log file, relative to the run directory.
	Log string `json:"log,omitempty"`
}

// planned reports whether the event is one the harness caused (given
// whether the history shows a failpoint fault on the node).
func (e NodeEvent) planned(failpointArmed bool) bool {
	if e.Kind != NodeExit {
		return false
	}
	switch e.Cause {
	case CauseHarness:
		return true
	case CauseFailpoint:
		return failpointArmed
	}
	return false
}

// Describe says what happened in words, for a reason.
func (e NodeEvent) Describe() string {
	at := fmt.Sprintf("%.1f s", float64(e.Time)/1e9)
	var b strings.Builder
	switch e.Kind {
	case NodePanic:
		fmt.Fprintf(&b, "%s panicked at %s", e.Node, at)
	case NodeViolation:
		fmt.Fprintf(&b, "%s broke an invariant at %s", e.Node, at)
	default:
		fmt.Fprintf(&b, "%s exited unexpectedly at %s", e.Node, at)
		if e.Cause == CauseFailpoint {
			b.WriteString(" with the failpoint status, but no failpoint fault targeted it")
		}
	}
	if e.Status != "" && e.Kind != NodePanic {
		fmt.Fprintf(&b, " (%s)", e.Status)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.Log != "" {
		b.WriteString("; see " + e.Log)
	}
	return b.String()
}

// NodeHealthResult is the outcome of CheckNodeHealth (results.json
// "node_health").
type NodeHealthResult struct {
	// Verdict is Invalid when any event was unplanned, Valid otherwise.
	Verdict Verdict `json:"verdict"`
	OK      bool    `json:"ok"`
	Message string  `json:"message"`
	// Events are the unplanned events, in time order.
	Events []NodeEvent `json:"events"`
	// Planned counts the exits the harness caused or asked for.
	Planned int `json:"planned"`
}

// CheckNodeHealth decides which of the nodes' events the harness did not
// plan: every panic and broken invariant; every exit but those the harness
// caused, and failpoint exits of a node that the history shows a failpoint
// fault on (the fault's name, or a part of a composed one, is "failpoint"
// and its nodes include the node). Any unplanned event makes it Invalid:
// a crash the workload happened to survive is still a bug, and
// convergence only compares the survivors.
func CheckNodeHealth(events []NodeEvent, history []histories.Event) NodeHealthResult {
	armed := failpointTargets(history)
	res := NodeHealthResult{Events: []NodeEvent{}}
	for _, e := range events {
		if e.planned(armed[e.Node]) {
			res.Planned++
			continue
		}
		res.Events = append(res.Events, e)
	}
	sort.SliceStable(res.Events, func(i, j int) bool { return res.Events[i].Time < res.Events[j].Time })
	if len(res.Events) == 0 {
		res.Verdict, res.OK = Valid, true
		res.Message = fmt.Sprintf("no unplanned exit, panic or broken invariant (%d planned exit(s))", res.Planned)
		return res
	}
	res.Verdict = Invalid
	res.Message = res.Events[0].Describe()
	if n := len(res.Events); n > 1 {
		res.Message += fmt.Sprintf(" (%d unplanned node events in all)", n)
	}
	return res
}

// failpointTargets returns the nodes a failpoint fault was injected on.
func failpointTargets(history []histories.Event) map[string]bool {
	out := map[string]bool{}
	for _, e := range history {
		if e.Kind != histories.KindNemesis || e.Type != histories.Start {
			continue
		}
		if !slices.Contains(strings.Split(e.F, "+"), "failpoint") {
			continue
		}
		for _, n := range e.Nodes {
			out[n] = true
		}
	}
	return out
}
