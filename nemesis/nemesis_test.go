package nemesis_test

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftkv/raftkv/harness/cluster"
	"github.com/raftkv/raftkv/harness/cluster/fake"
	"github.com/raftkv/raftkv/harness/nodeapi"
	"github.com/raftkv/raftkv/histories"
	"github.com/raftkv/raftkv/nemesis"
)

func TestPlanIsDeterministicForASeed(t *testing.T) {
	s := nemesis.Schedule{
		Interval: nemesis.Duration(time.Second), Hold: nemesis.Duration(500 * time.Millisecond),
		Jitter: nemesis.Duration(300 * time.Millisecond),
		Faults: []nemesis.Spec{{Fault: "partition-halves"}, {Fault: "kill-one"}, {Fault: "clock-bump", Weight: 3}, {Fault: "pause-leader"}},
	}
	a := s.Plan(42, time.Minute, nil)
	b := s.Plan(42, time.Minute, nil)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different plans")
	}
	if len(a) < 20 {
		t.Fatalf("plan too short for a minute: %d steps", len(a))
	}
	c := s.Plan(43, time.Minute, nil)
	if reflect.DeepEqual(a, c) {
		t.Fatal("different seeds, same plan")
	}
	prevEnd := time.Duration(0)
	seen := map[string]bool{}
	for _, st := range a {
		seen[st.Spec.Fault] = true
		if st.At < prevEnd+time.Second || st.At >= prevEnd+1300*time.Millisecond {
			t.Errorf("step at %v after previous end %v: interval+jitter not respected", st.At, prevEnd)
		}
		if st.Hold < 500*time.Millisecond || st.Hold >= 800*time.Millisecond {
			t.Errorf("hold %v outside [500ms, 800ms)", st.Hold)
		}
		prevEnd = st.At + st.Hold
	}
	if prevEnd > time.Minute {
		t.Errorf("last fault ends at %v, after the duration", prevEnd)
	}
	if len(seen) != 4 {
		t.Errorf("random mode used only %v", seen)
	}
}

func TestPlanSequenceAndApplies(t *testing.T) {
	s := nemesis.Schedule{Mode: "sequence", Interval: nemesis.Duration(time.Second),
		Faults: []nemesis.Spec{{Fault: "a"}, {Fault: "partition-majorities-ring"}, {Fault: "b"}}}
	plan := s.Plan(1, 9500*time.Millisecond, func(sp nemesis.Spec) bool { return sp.Fault != "partition-majorities-ring" })
	var names []string
	for _, st := range plan {
		names = append(names, st.Spec.Fault)
	}
	// Interval 1s, hold 1s: faults at 1s, 3s, 5s, 7s (the one at 9s would end after 9.5s).
	if want := []string{"a", "b", "a", "b"}; !slices.Equal(names, want) {
		t.Fatalf("sequence %v, want %v", names, want)
	}
	if got := s.Plan(1, 10*time.Second, func(nemesis.Spec) bool { return false }); got != nil {
		t.Fatalf("no applicable fault still planned %v", got)
	}
}

func TestCatalogAppliesByClusterSize(t *testing.T) {
	three := fake.New(cluster.Options{Nodes: 3})
	five := fake.New(cluster.Options{Nodes: 5})
	if nemesis.Applies(three, nemesis.Spec{Fault: "partition-majorities-ring"}) {
		t.Error("majorities-ring applies to 3 nodes")
	}
	if !nemesis.Applies(five, nemesis.Spec{Fault: "partition-majorities-ring"}) {
		t.Error("majorities-ring does not apply to 5 nodes")
	}
	one := fake.New(cluster.Options{Nodes: 1})
	if nemesis.Applies(one, nemesis.Spec{Fault: "membership-churn"}) || !nemesis.Applies(one, nemesis.Spec{Fault: "kill-one"}) {
		t.Error("applicability on one node")
	}
	for _, fi := range nemesis.Catalog() {
		if fi.Description == "" || fi.MinNodes < 1 {
			t.Errorf("catalog entry %+v", fi)
		}
	}
}

type memRec struct {
	mu     sync.Mutex
	events []histories.Event
}

func (m *memRec) Record(e histories.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, e)
	return nil
}

func startFake(t *testing.T, n int) *fake.Cluster {
	t.Helper()
	// The fake nodes answer in microseconds; the request timeout only ends a
	// call that went wrong. A short one (it was 1 s) failed the nemesis's
	// /fault calls with Client.Timeout on a busy machine (issue 14).
	c := fake.New(cluster.Options{Nodes: n, RequestTimeout: time.Minute})
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	return c
}

func rules(t *testing.T, c cluster.Cluster, n string) []nodeapi.NetRule {
	t.Helper()
	r, err := tryRules(c, n)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// tryRules is rules for a node a running fault may crash at any moment:
// the caller decides what an error means.
func tryRules(c cluster.Cluster, n string) ([]nodeapi.NetRule, error) {
	raw, err := c.Client(n).Faults(context.Background())
	if err != nil {
		return nil, err
	}
	var f struct {
		Network []nodeapi.NetRule `json:"network"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, err
	}
	return f.Network, nil
}

// blocked reports whether a's or b's rules cut the a->b direction.
func blocked(t *testing.T, c cluster.Cluster, a, b string) bool {
	for _, r := range rules(t, c, a) {
		if r.Peer == b && r.Drop && (r.Direction == "out" || r.Direction == "both") {
			return true
		}
	}
	for _, r := range rules(t, c, b) {
		if r.Peer == a && r.Drop && (r.Direction == "in" || r.Direction == "both") {
			return true
		}
	}
	return false
}

func TestPartitionsInstallTheRightRules(t *testing.T) {
	ctx := context.Background()
	c := startFake(t, 5)
	env := nemesis.NewEnv(c, 7, nil)
	nodes := c.Nodes()

	t.Run("majorities-ring", func(t *testing.T) {
		f, err := nemesis.New(nemesis.Spec{Fault: "partition-majorities-ring"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Inject(ctx, env); err != nil {
			t.Fatal(err)
		}
		views := map[string]bool{}
		for _, a := range nodes {
			var sees []string
			for _, b := range nodes {
				if a == b || (!blocked(t, c, a, b) && !blocked(t, c, b, a)) {
					sees = append(sees, b)
				}
			}
			if len(sees) != 3 {
				t.Errorf("%s sees %v, want a bare majority of 3", a, sees)
			}
			views[slices.Concat(sees)[0]+slices.Concat(sees)[1]+slices.Concat(sees)[2]] = true
		}
		if len(views) != 5 {
			t.Errorf("majorities are not all different: %v", views)
		}
		if err := f.Heal(ctx, env); err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes {
			if r := rules(t, c, n); len(r) != 0 {
				t.Errorf("%s still has rules %v after heal", n, r)
			}
		}
	})

	t.Run("one-way", func(t *testing.T) {
		f, _ := nemesis.New(nemesis.Spec{Fault: "partition-one-way"})
		eff, err := f.Inject(ctx, env)
		if err != nil {
			t.Fatal(err)
		}
		leader := ""
		for _, a := range nodes {
			out := 0
			for _, b := range nodes {
				if a != b && blocked(t, c, a, b) {
					out++
				}
				if a != b && blocked(t, c, a, b) && blocked(t, c, b, a) {
					t.Errorf("%s<->%s cut both ways in a one-way partition", a, b)
				}
			}
			if out == len(nodes)-1 {
				leader = a
			}
		}
		if leader == "" {
			t.Fatalf("no node has all its outgoing links cut (%s)", eff.Detail)
		}
		_ = f.Heal(ctx, env)
	})

	t.Run("bridge", func(t *testing.T) {
		f, _ := nemesis.New(nemesis.Spec{Fault: "partition-bridge"})
		if _, err := f.Inject(ctx, env); err != nil {
			t.Fatal(err)
		}
		bridges := 0
		for _, a := range nodes {
			cut := false
			for _, b := range nodes {
				if a != b && blocked(t, c, a, b) {
					cut = true
				}
			}
			if !cut {
				bridges++
			}
		}
		if bridges != 1 {
			t.Errorf("%d nodes see everyone, want exactly the bridge", bridges)
		}
		_ = f.Heal(ctx, env)
	})
}

func TestRunnerRecordsWindowsAndHealAllRestoresTheCluster(t *testing.T) {
	ctx := context.Background()
	c := startFake(t, 3)
	env := nemesis.NewEnv(c, 3, nil)
	rec := &memRec{}
	origin := time.Now()
	r := &nemesis.Runner{Env: env, Rec: rec, Now: func() int64 { return int64(time.Since(origin)) }, Origin: origin}
	plan := []nemesis.Step{
		{At: 0, Hold: 50 * time.Millisecond, Spec: nemesis.Spec{Fault: "kill-minority"}},
		{At: 60 * time.Millisecond, Hold: 50 * time.Millisecond, Spec: nemesis.Spec{Fault: "compose",
			Of: []nemesis.Spec{{Fault: "clock-rate", Target: "all"}, {Fault: "partition-isolate-one"}}}},
	}
	if n := r.Run(ctx, plan); n != 2 {
		t.Fatalf("injected %d faults, want 2", n)
	}
	ws := histories.FaultWindows(rec.events)
	if len(ws) != 2 || ws[0].F != "kill-minority" || ws[1].F != "clock-rate+partition-isolate-one" || ws[0].Open || ws[1].Open {
		t.Fatalf("windows %+v", ws)
	}
	for _, e := range rec.events {
		if e.Error != "" {
			t.Errorf("fault error: %+v", e)
		}
	}
	for _, n := range c.Nodes() {
		if c.State(n) != cluster.Running {
			t.Errorf("%s is %s after heal", n, c.State(n))
		}
	}

	// Leave a mess, then heal everything.
	_ = c.Kill(ctx, "node0")
	_ = c.Pause(ctx, "node1")
	_ = c.Client("node2").SetNetwork(ctx, []nodeapi.NetRule{{Peer: "node0", Direction: "both", Drop: true}})
	_ = c.Client("node2").SetClock(ctx, nodeapi.Clock{OffsetMS: 500})
	if err := r.HealAll(ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes() {
		if c.State(n) != cluster.Running {
			t.Errorf("%s is %s after heal-all", n, c.State(n))
		}
		raw, err := c.Client(n).Faults(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var f struct {
			Clock     *nodeapi.Clock    `json:"clock"`
			Failpoint string            `json:"failpoint"`
			Network   []nodeapi.NetRule `json:"network"`
		}
		if err := json.Unmarshal(raw, &f); err != nil || f.Clock != nil || f.Failpoint != "" || len(f.Network) != 0 {
			t.Errorf("%s faults after heal-all: %s", n, raw)
		}
	}
	if ws := histories.FaultWindows(rec.events); len(ws) != 3 || ws[2].F != "heal-all" {
		t.Errorf("heal-all window not recorded: %+v", ws)
	}
}

// kill-majority with a spread kills a majority, each node at its own
// moment within the spread; heal restarts them.
func TestKillMajorityWithSpread(t *testing.T) {
	ctx := context.Background()
	c := startFake(t, 5)
	env := nemesis.NewEnv(c, 7, nil)
	f, err := nemesis.New(nemesis.Spec{Fault: "kill-majority", Spread: nemesis.Duration(30 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	eff, err := f.Inject(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	// Inject returns once the last kill of the 30 ms spread is done; the
	// bound only catches a spread read in the wrong unit (30 s), so it is
	// far above what a busy machine adds.
	if time.Since(start) > 20*time.Second || len(eff.Nodes) != 3 || !strings.Contains(eff.Detail, " at [") {
		t.Fatalf("effect %+v after %v", eff, time.Since(start))
	}
	for _, n := range eff.Nodes {
		if c.State(n) != cluster.Down {
			t.Errorf("%s is %s", n, c.State(n))
		}
	}
	if err := f.Heal(ctx, env); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes() {
		if c.State(n) != cluster.Running {
			t.Errorf("%s is %s after heal", n, c.State(n))
		}
	}
	if _, err := nemesis.New(nemesis.Spec{Fault: "pause-all", Spread: -1}); err == nil {
		t.Error("negative spread accepted")
	}
}

// leader-flap hits every new leader soon after it takes office: on the
// fake cluster a killed leader is replaced at once, so a flap of crashes
// kills one leader after another; heal leaves every node running with no
// network rule.
func TestLeaderFlap(t *testing.T) {
	ctx := context.Background()
	c := startFake(t, 3)
	env := nemesis.NewEnv(c, 9, nil)
	for _, bad := range []nemesis.Spec{{Fault: "leader-flap", Action: "explode"}, {Fault: "leader-flap", Delay: -1}} {
		if _, err := nemesis.New(bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	for _, action := range nemesis.FlapActions {
		f, err := nemesis.New(nemesis.Spec{Fault: "leader-flap", Action: action,
			Delay: nemesis.Duration(20 * time.Millisecond), Period: nemesis.Duration(100 * time.Millisecond)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Inject(ctx, env); err != nil {
			t.Fatal(err)
		}
		// Polled while the flap acts: a node it crashes between the state
		// check and the rules request refuses the connection, which is a
		// hit too. Generous deadline: a busy machine delays the flap.
		hit := false
		deadline := time.Now().Add(30 * time.Second)
		for !hit && time.Now().Before(deadline) {
			for _, n := range c.Nodes() {
				if c.State(n) == cluster.Down {
					hit = true
				} else if c.State(n) == cluster.Running {
					if r, err := tryRules(c, n); err != nil || len(r) > 0 {
						hit = true
					}
				}
			}
			time.Sleep(2 * time.Millisecond)
		}
		if err := f.Heal(ctx, env); err != nil {
			t.Fatal(err)
		}
		if !hit {
			t.Errorf("%s: no leader was hit in 30s", action)
		}
		for _, n := range c.Nodes() {
			if c.State(n) != cluster.Running || len(rules(t, c, n)) > 0 {
				t.Errorf("%s: %s is %s with rules %v after heal", action, n, c.State(n), rules(t, c, n))
			}
		}
	}
}

// slowBoot is a cluster whose Restart returns before the node answers, as
// a real process does while it opens its store.
type slowBoot struct {
	*fake.Cluster
	boot time.Duration
}

func (s slowBoot) Restart(ctx context.Context, id string) error {
	go func() {
		time.Sleep(s.boot)
		_ = s.Cluster.Restart(ctx, id)
	}()
	return nil
}

// HealAll waits for a node it restarted to answer before clearing its
// faults, instead of failing on a node that is still starting.
func TestHealAllWaitsForARestartedNode(t *testing.T) {
	ctx := context.Background()
	f := startFake(t, 3)
	if err := f.Kill(ctx, "node1"); err != nil {
		t.Fatal(err)
	}
	c := slowBoot{Cluster: f, boot: 300 * time.Millisecond}
	if err := nemesis.HealAll(ctx, nemesis.NewEnv(c, 1, nil)); err != nil {
		t.Fatalf("heal-all with a node still starting: %v", err)
	}
	if st := f.State("node1"); st != cluster.Running {
		t.Fatalf("node1 is %s after heal-all", st)
	}
}

// Faults on one node at once add up: a compose of a partition and a packet
// delay keeps the partition (before, the delay's rules replaced the
// partition's on every node, and the compose was only a delay), and
// healing one of them leaves the other in place.
func TestComposedNetworkFaultsAddUp(t *testing.T) {
	ctx := context.Background()
	c := startFake(t, 3)
	env := nemesis.NewEnv(c, 3, nil)
	nodes := c.Nodes()
	part, err := nemesis.New(nemesis.Spec{Fault: "partition-isolate-one"})
	if err != nil {
		t.Fatal(err)
	}
	delay, err := nemesis.New(nemesis.Spec{Fault: "packet-delay", Delay: nemesis.Duration(20 * time.Millisecond), Direction: "in"})
	if err != nil {
		t.Fatal(err)
	}
	var lone string
	isolated := func() bool {
		for _, p := range nodes {
			if p != lone && (!blocked(t, c, lone, p) || !blocked(t, c, p, lone)) {
				return false
			}
		}
		return true
	}
	delayedIn := func(n string) bool {
		return slices.ContainsFunc(rules(t, c, n), func(r nodeapi.NetRule) bool { return r.DelayMS == 20 && r.Direction == "in" })
	}
	eff, err := part.Inject(ctx, env)
	if err != nil || len(eff.Nodes) != 1 {
		t.Fatalf("isolate one: %v, nodes %v", err, eff.Nodes)
	}
	lone = eff.Nodes[0]
	if _, err := delay.Inject(ctx, env); err != nil {
		t.Fatal(err)
	}
	if !isolated() {
		t.Fatalf("the delay lifted the partition: %s has rules %v", lone, rules(t, c, lone))
	}
	for _, n := range nodes {
		if !delayedIn(n) {
			t.Errorf("%s has no inbound delay: %v", n, rules(t, c, n))
		}
	}
	if err := part.Heal(ctx, env); err != nil {
		t.Fatal(err)
	}
	for _, p := range nodes {
		if p != lone && (blocked(t, c, lone, p) || blocked(t, c, p, lone)) {
			t.Errorf("partition healed but %s still cut off from %s: %v", lone, p, rules(t, c, lone))
		}
	}
	for _, n := range nodes {
		if !delayedIn(n) {
			t.Errorf("healing the partition took %s's delay away: %v", n, rules(t, c, n))
		}
	}
	if err := delay.Heal(ctx, env); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if r := rules(t, c, n); len(r) != 0 {
			t.Errorf("%s keeps rules %v after both heals", n, r)
		}
	}
}

func TestPacketFaultDirection(t *testing.T) {
	if _, err := nemesis.New(nemesis.Spec{Fault: "packet-loss", Direction: "sideways"}); err == nil {
		t.Error("direction sideways accepted")
	}
	for dir, want := range map[string]string{"": "out", "out": "out", "in": "in", "both": "both"} {
		if r := nemesis.PacketRule(nemesis.Spec{Fault: "packet-delay", Direction: dir}); r.Direction != want {
			t.Errorf("direction %q gave rule direction %q", dir, r.Direction)
		}
	}
}
