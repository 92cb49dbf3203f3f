package nemesis

import (
	"fmt"
	"slices"
	"strings"

	"github.com/raftkv/raftkv/harness/target"
)

// Needs lists the target capabilities (target.Cap*) that the fault of s
// uses, recursively through a compose. Kills and pauses act on processes
// and need nothing from the store; the partitions, packet faults and a
// leader-flap that isolates go through raftkv's in-node network rules;
// clock faults, failpoints, membership churn and leadership transfer
// through the node's own API.
func Needs(s Spec) []string {
	var out []string
	add := func(c string) {
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	switch name := s.Fault; {
	case name == "compose":
		for _, sub := range s.Of {
			for _, c := range Needs(sub) {
				add(c)
			}
		}
	case strings.HasPrefix(name, "partition-"), strings.HasPrefix(name, "packet-"):
		add(target.CapNodeNetwork)
	case strings.HasPrefix(name, "clock-"):
		add(target.CapClock)
	case name == "failpoint":
		add(target.CapFailpoint)
	case name == "membership-churn":
		add(target.CapMembership)
	case name == "leader-transfer-storm":
		add(target.CapLeaderTransfer)
	case name == "leader-flap":
		// Only the crash action is a process fault; a random action may
		// isolate.
		if s.Action != "crash" {
			add(target.CapNodeNetwork)
		}
	}
	return out
}

// CheckTarget reports the schedule's first fault that t cannot take,
// naming the fault, the target and what is missing.
func (s Schedule) CheckTarget(t target.Target) error {
	for _, f := range s.Specs() {
		for _, c := range Needs(f) {
			if !target.Has(t, c) {
				return fmt.Errorf("%w: fault %s needs %s, which target %s does not offer (it takes the process faults: kill-*, pause-*, leader-flap with action: crash)",
					ErrBadSpec, f.String(), capWords(c), t.Name())
			}
		}
	}
	return nil
}

// capWords says what a capability is, for the refusal message.
func capWords(c string) string {
	switch c {
	case target.CapNodeNetwork:
		return "raftkv's in-node network rules (" + c + ")"
	case target.CapClock:
		return "a node clock fault API (" + c + ")"
	case target.CapFailpoint:
		return "crash failpoints in the node (" + c + ")"
	case target.CapMembership:
		return "the harness's membership API (" + c + ")"
	case target.CapLeaderTransfer:
		return "a leadership transfer API (" + c + ")"
	}
	return c
}
