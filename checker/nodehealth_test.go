package checker

import (
	"strings"
	"testing"

	"github.com/raftkv/raftkv/histories"
)

func TestNodeHealthPlannedExitsAreFine(t *testing.T) {
	history := []histories.Event{
		{Kind: histories.KindNemesis, Type: histories.Start, Time: 1e9, F: "kill", Nodes: []string{"node1"}},
		{Kind: histories.KindNemesis, Type: histories.Stop, Time: 2e9, F: "kill", Nodes: []string{"node1"}},
		{Kind: histories.KindNemesis, Type: histories.Start, Time: 3e9, F: "failpoint+partition-halves", Nodes: []string{"node0", "node2"}},
	}
	events := []NodeEvent{
		{Node: "node1", Time: 1e9, Kind: NodeExit, Cause: CauseHarness, Status: "signal: killed"},
		{Node: "node2", Time: 3e9, Kind: NodeExit, Cause: CauseFailpoint, Status: "exit status 99"},
		{Node: "node0", Time: 9e9, Kind: NodeExit, Cause: CauseHarness, Status: "exit status 0"},
	}
	r := CheckNodeHealth(events, history)
	if r.Verdict != Valid || !r.OK || r.Planned != 3 || len(r.Events) != 0 {
		t.Fatalf("%+v", r)
	}
	if r := CheckNodeHealth(nil, nil); r.Verdict != Valid || r.Events == nil {
		t.Fatalf("no events: %+v", r)
	}
}

func TestNodeHealthUnplannedEventsAreInvalid(t *testing.T) {
	history := []histories.Event{
		{Kind: histories.KindNemesis, Type: histories.Start, Time: 1e9, F: "failpoint", Nodes: []string{"node0"}},
	}
	cases := []struct {
		name string
		ev   NodeEvent
		want string
	}{
		{"exit on its own", NodeEvent{Node: "node1", Time: 2.5e9, Kind: NodeExit, Status: "exit status 1", Message: "raft stopped; exiting", Log: "logs/node1.log"},
			"node1 exited unexpectedly at 2.5 s (exit status 1): raft stopped; exiting; see logs/node1.log"},
		{"panic while the harness killed it", NodeEvent{Node: "node0", Time: 0.25e9, Kind: NodePanic, Cause: CauseHarness, Status: "exit status 2", Message: "boom"},
			"node0 panicked at 0.2 s: boom"},
		{"failpoint status without a failpoint fault", NodeEvent{Node: "node2", Time: 4e9, Kind: NodeExit, Cause: CauseFailpoint, Status: "exit status 99"},
			"node2 exited unexpectedly at 4.0 s with the failpoint status, but no failpoint fault targeted it (exit status 99)"},
		{"violation", NodeEvent{Node: "node1", Time: 1e9, Kind: NodeViolation, Message: "two leaders in term 4"},
			"node1 broke an invariant at 1.0 s: two leaders in term 4"},
	}
	for _, c := range cases {
		r := CheckNodeHealth([]NodeEvent{c.ev}, history)
		if r.Verdict != Invalid || r.OK || len(r.Events) != 1 || r.Message != c.want {
			t.Errorf("%s: %+v\nwant message %q", c.name, r, c.want)
		}
	}
	r := CheckNodeHealth([]NodeEvent{cases[0].ev, cases[1].ev, {Node: "node0", Kind: NodeExit, Cause: CauseHarness}}, history)
	if r.Verdict != Invalid || len(r.Events) != 2 || r.Planned != 1 || r.Events[0].Node != "node0" ||
		!strings.HasSuffix(r.Message, "(2 unplanned node events in all)") {
		t.Fatalf("ordering and count: %+v", r)
	}
}
