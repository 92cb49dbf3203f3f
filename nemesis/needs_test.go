package nemesis

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/harness/target"
)

// bare is a target that offers no capability: only process faults apply.
type bare struct{}

func (bare) Name() string                                            { return "bare" }
func (bare) Caps() []string                                          { return nil }
func (bare) ReadModes() []string                                     { return []string{"linearizable"} }
func (bare) Args(target.Node, []target.Node, target.Config) []string { return nil }
func (bare) Healthy(context.Context, target.Node) error              { return nil }
func (bare) Ready(context.Context, target.Node) error                { return nil }
func (bare) Leader(context.Context, []target.Node) string            { return "" }
func (bare) Dial(target.Node, time.Duration) (target.Client, error) {
	return nil, errors.New("bare: no client")
}

// TestNeedsAndCheckTarget: process faults need nothing from the store;
// in-node faults (network rules, clocks, failpoints, churn, transfer) are
// refused for a target without them, naming the fault and the target,
// also inside a compose.
func TestNeedsAndCheckTarget(t *testing.T) {
	for _, name := range []string{"kill-one", "kill-leader", "pause-minority", "pause-all"} {
		if n := Needs(Spec{Fault: name}); len(n) != 0 {
			t.Errorf("%s needs %v, want nothing", name, n)
		}
	}
	if n := Needs(Spec{Fault: "leader-flap", Action: "crash"}); len(n) != 0 {
		t.Errorf("leader-flap crash needs %v", n)
	}
	for name, want := range map[string]string{"partition-halves": target.CapNodeNetwork, "packet-loss": target.CapNodeNetwork,
		"clock-rate": target.CapClock, "failpoint": target.CapFailpoint, "membership-churn": target.CapMembership,
		"leader-transfer-storm": target.CapLeaderTransfer, "leader-flap": target.CapNodeNetwork} {
		if n := Needs(Spec{Fault: name}); !slices.Contains(n, want) {
			t.Errorf("%s needs %v, want %s", name, n, want)
		}
	}
	ok := Schedule{Faults: []Spec{{Fault: "kill-one"}, {Fault: "compose", Of: []Spec{{Fault: "pause-leader"}, {Fault: "kill-one"}}}}}
	if err := ok.CheckTarget(bare{}); err != nil {
		t.Fatalf("process faults refused: %v", err)
	}
	bad := Schedule{Faults: []Spec{{Fault: "kill-one"}, {Fault: "compose", Of: []Spec{{Fault: "pause-leader"}, {Fault: "clock-rate", Rate: 0.5}}}}}
	err := bad.CheckTarget(bare{})
	if err == nil || !strings.Contains(err.Error(), "clock-rate") || !strings.Contains(err.Error(), "target bare") {
		t.Fatalf("clock fault for a bare target: %v", err)
	}
}
