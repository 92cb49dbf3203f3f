package sim

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/checker"
	"github.com/raftkv/raftkv/histories"
	"github.com/raftkv/raftkv/nemesis"
)

// A swarm seed draws its configuration from its own stream: the same seed
// draws the same and replays byte for byte, different seeds draw
// different families, sizes and timings, a shorter duration keeps the
// draw, and sim.json and the trace record it.
func TestSwarmDraw(t *testing.T) {
	cfg := load(t, "../scenarios/sim/swarm.yaml")
	a := run(t, cfg, 3)
	if a.Swarm == nil || len(a.Swarm.Families) == 0 || len(a.Swarm.Faults) == 0 {
		t.Fatalf("no draw recorded: %+v", a.Swarm)
	}
	if b := run(t, cfg, 3); b.Hash() != a.Hash() || b.Swarm.String() != a.Swarm.String() {
		t.Errorf("seed 3 replayed to %s (%s), first %s (%s)", b.Hash(), b.Swarm, a.Hash(), a.Swarm)
	}
	short := cfg
	short.Duration = nemesis.Duration(time.Second)
	if c := run(t, short, 3); c.Swarm.String() != a.Swarm.String() {
		t.Errorf("a shorter duration drew %s, the full one %s", c.Swarm, a.Swarm)
	}
	if !strings.Contains(a.Trace[0], "swarm draw: families") {
		t.Errorf("trace starts with %q", a.Trace[0])
	}
	dir := t.TempDir()
	if err := a.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "sim.json"))
	if err != nil {
		t.Fatal(err)
	}
	var sum Summary
	if err := json.Unmarshal(b, &sum); err != nil || sum.Swarm == nil || sum.Swarm.Nodes != a.Config.Nodes {
		t.Errorf("sim.json swarm %+v: %v", sum.Swarm, err)
	}

	// Over seeds, the draws differ in every dimension.
	families, nodes, snaps, attempts := map[string]bool{}, map[int]bool{}, map[uint64]bool{}, map[int]bool{}
	shorter, longer := false, false
	appendBytes, inflight := map[uint64]bool{}, map[int]bool{}
	preVoteOff, checkQuorumOff := false, false
	for seed := int64(1); seed <= 40; seed++ {
		c := cfg
		c.Seed = seed
		c.applyDefaults()
		d, draw := drawSwarm(c)
		if err := d.Validate(); err != nil {
			t.Fatalf("seed %d drew an invalid config: %v", seed, err)
		}
		for _, f := range draw.Families {
			families[f] = true
		}
		nodes[d.Nodes], snaps[d.Node.SnapshotEvery], attempts[d.WriteAttempts] = true, true, true
		shorter = shorter || d.RequestTimeout.D() < d.ServerTimeout
		longer = longer || d.RequestTimeout.D() > d.ServerTimeout
		appendBytes[d.Node.MaxAppendBytes], inflight[d.Node.MaxInflight] = true, true
		if draw.MaxAppendBytes != d.Node.MaxAppendBytes || draw.MaxInflight != d.Node.MaxInflight {
			t.Errorf("seed %d recorded append bytes %d inflight %d, configured %d %d", seed, draw.MaxAppendBytes, draw.MaxInflight, d.Node.MaxAppendBytes, d.Node.MaxInflight)
		}
		preVoteOff = preVoteOff || !draw.PreVote
		checkQuorumOff = checkQuorumOff || !draw.CheckQuorum
	}
	if len(appendBytes) < 3 || len(inflight) < 3 || !appendBytes[0] || !preVoteOff || !checkQuorumOff {
		t.Errorf("40 seeds drew append bytes %v, inflight %v, pre-vote off %v, check-quorum off %v",
			appendBytes, inflight, preVoteOff, checkQuorumOff)
	}
	if len(families) != len(swarmFamilies) || len(nodes) != 3 || len(snaps) < 5 || len(attempts) < 3 || !shorter || !longer {
		t.Errorf("40 seeds drew families %v, nodes %v, snapshot intervals %v, attempts %v, client timeout shorter %v longer %v",
			families, nodes, snaps, attempts, shorter, longer)
	}

	// With lease reads, no clock fault.
	lease := load(t, "../scenarios/sim/swarm-lease.yaml")
	for seed := int64(1); seed <= 40; seed++ {
		c := lease
		c.Seed = seed
		c.applyDefaults()
		if _, draw := drawSwarm(c); slices.Contains(draw.Families, "clock") || !draw.CheckQuorum {
			t.Fatalf("lease seed %d drew clock faults or no check-quorum: %s", seed, draw)
		}
	}
}

// The swarm scenarios are valid on the correct build (the suite sweeps
// more seeds: TestSuite, make test-sim).
func TestSwarmValid(t *testing.T) {
	for _, name := range []string{"swarm", "swarm-lease"} {
		cfg := load(t, "../scenarios/sim/"+name+".yaml")
		for _, seed := range seeds(11, 3) {
			o := RunSeed(context.Background(), cfg, seed, time.Minute)
			if !o.Matches("valid") {
				t.Errorf("%s seed %d: %s %v %v", name, seed, o.Verdict, o.Reasons, o.Err)
			}
		}
	}
}

// leader-flap makes many short terms: each new leader is hit within a few
// heartbeats, in every action, and the cluster recovers after the heal.
func TestLeaderFlapSim(t *testing.T) {
	for _, action := range append([]string{""}, nemesis.FlapActions...) {
		cfg := Config{Name: "flap", Duration: nemesis.Duration(3 * time.Second), Rate: 100, Keys: 2,
			Node: NodeConfig{HeartbeatInterval: nemesis.Duration(20 * time.Millisecond), ElectionTimeout: nemesis.Duration(200 * time.Millisecond)},
			Nemesis: nemesis.Schedule{Interval: nemesis.Duration(200 * time.Millisecond), Hold: nemesis.Duration(2 * time.Second),
				Faults: []nemesis.Spec{{Fault: "leader-flap", Action: action, Delay: nemesis.Duration(40 * time.Millisecond)}}}}
		r := run(t, cfg, 5)
		hits, leaders := 0, 0
		for _, l := range r.Trace {
			if strings.Contains(l, "leader-flap: "+action) && strings.Contains(l, "(leader of term") {
				hits++
			}
			if strings.Contains(l, ": leader, term") {
				leaders++
			}
		}
		if hits < 4 || leaders < 5 {
			t.Errorf("action %q: %d hits, %d leaders in 2s of flapping", action, hits, leaders)
		}
		if res := Check(r, time.Minute); res.Verdict != checker.Valid {
			t.Errorf("action %q: %s %v", action, res.Verdict, res.Reasons)
		}
	}
}

// A kill with a spread crashes its nodes at different moments within it.
func TestSpreadKill(t *testing.T) {
	cfg := Config{Name: "spread", Nodes: 5, Duration: nemesis.Duration(2 * time.Second), Rate: 100, Keys: 2,
		Node: NodeConfig{HeartbeatInterval: nemesis.Duration(20 * time.Millisecond), ElectionTimeout: nemesis.Duration(200 * time.Millisecond)},
		Nemesis: nemesis.Schedule{Interval: nemesis.Duration(300 * time.Millisecond), Hold: nemesis.Duration(500 * time.Millisecond),
			Faults: []nemesis.Spec{{Fault: "kill-all", Spread: nemesis.Duration(8 * time.Millisecond)}}}}
	r := run(t, cfg, 2)
	var at []string
	for _, l := range r.Trace {
		if strings.Contains(l, " crashed (") {
			at = append(at, strings.Fields(l)[0])
		}
	}
	slices.Sort(at)
	if len(at) < 5 || len(slices.Compact(at)) < 3 {
		t.Errorf("crashes at %v", at)
	}
	if res := Check(r, time.Minute); res.Verdict != checker.Valid {
		t.Errorf("%s %v", res.Verdict, res.Reasons)
	}
}

// Retried writes keep their session and stay one operation: a run with
// short client timeouts and several attempts completes writes after
// retries, and every invocation has exactly one completion.
func TestRetriesInSim(t *testing.T) {
	cfg := load(t, "../scenarios/sim/kill.yaml")
	cfg.WriteAttempts = 4
	cfg.RequestTimeout = nemesis.Duration(60 * time.Millisecond)
	r := run(t, cfg, 4)
	ops, err := histories.Pair(r.Events)
	if err != nil {
		t.Fatal(err)
	}
	retried := 0
	for _, op := range ops {
		if op.Complete != nil && strings.Contains(op.Complete.Error, "[attempt ") {
			retried++
		}
	}
	if retried == 0 {
		t.Error("no write was retried")
	}
	if res := Check(r, time.Minute); res.Verdict != checker.Valid {
		t.Errorf("%s %v", res.Verdict, res.Reasons)
	}
}

// TestSweepStatsString: the verdict counts read as words, not as a Go map.
func TestSweepStatsString(t *testing.T) {
	st := SweepStats{Scenario: "s", Runs: 3, Expect: "valid", ByVerdict: map[string]int{"valid": 2, "invalid": 1}}
	got := st.String()
	if !strings.Contains(got, ": 1 invalid, 2 valid; expected valid") || strings.Contains(got, "map[") {
		t.Errorf("%s", got)
	}
}

// Faults composed on one node add up in the simulation as with the
// nemesis (nemesis.RuleBook): a leader cut off while every link is also
// slow loses its office to another node within the window (before, the
// delay's rules replaced the partition's and nobody else was elected). With
// a spread, the delay comes a moment after the partition.
func TestComposedFaultsAddUpInSim(t *testing.T) {
	compose := nemesis.Spec{Fault: "compose", Spread: nemesis.Duration(100 * time.Millisecond), Of: []nemesis.Spec{
		{Fault: "partition-isolate-leader"},
		{Fault: "packet-delay", Delay: nemesis.Duration(5 * time.Millisecond), Direction: "both"},
	}}
	cfg := Config{Name: "compose", Nodes: 3, Duration: nemesis.Duration(2 * time.Second), Rate: 50, Keys: 2,
		Node: NodeConfig{HeartbeatInterval: nemesis.Duration(20 * time.Millisecond), ElectionTimeout: nemesis.Duration(200 * time.Millisecond)},
		Nemesis: nemesis.Schedule{Interval: nemesis.Duration(200 * time.Millisecond), Hold: nemesis.Duration(1500 * time.Millisecond),
			Faults: []nemesis.Spec{compose}}}
	for _, seed := range []int64{1, 2, 3} {
		r := run(t, cfg, seed)
		var inWindow, staggered, elected bool
		for _, l := range r.Trace {
			switch {
			case strings.Contains(l, "fault partition-isolate-leader+packet-delay healed"):
				inWindow = false
			case strings.Contains(l, "part 1 (packet-delay) injected at +"):
				staggered, inWindow = true, true
			case inWindow && strings.Contains(l, ": leader, term"):
				elected = true
			}
		}
		if !staggered {
			t.Errorf("seed %d: the delay was not injected after the partition", seed)
		}
		if !elected {
			t.Errorf("seed %d: no leader elected while the old one was cut off: the delay replaced the partition", seed)
		}
		if res := Check(r, time.Minute); res.Verdict != checker.Valid {
			t.Errorf("seed %d: %s %v", seed, res.Verdict, res.Reasons)
		}
	}
}

// A scenario that is not a swarm gets the knobs it leaves unset drawn per
// seed, write attempts included (retries with the same session in every
// scenario); what it sets is kept.
func TestUnsetKnobsDrawn(t *testing.T) {
	unset := load(t, "../scenarios/sim/figure8.yaml")
	pinned := load(t, "../scenarios/sim/stale-reads.yaml")
	if unset.WriteAttempts != 0 || pinned.WriteAttempts != 1 {
		t.Fatalf("write attempts as loaded: figure8 %d (want 0: unset), stale-reads %d (want 1)", unset.WriteAttempts, pinned.WriteAttempts)
	}
	attempts := map[int]int{}
	preVoteOff := 0
	for seed := int64(1); seed <= 40; seed++ {
		c := unset
		c.Seed = seed
		got, words := drawUnsetKnobs(c)
		if got.WriteAttempts < 1 {
			t.Fatalf("seed %d: write attempts %d after the draw", seed, got.WriteAttempts)
		}
		if (got.WriteAttempts > 1) != strings.Contains(words, "write attempts") {
			t.Errorf("seed %d: %d write attempts but the words say %q", seed, got.WriteAttempts, words)
		}
		attempts[got.WriteAttempts]++
		if got.Node.PreVote != nil && !*got.Node.PreVote {
			preVoteOff++
		}
		p := pinned
		p.Seed = seed
		if kept, _ := drawUnsetKnobs(p); kept.WriteAttempts != 1 {
			t.Errorf("seed %d: stale-reads' write_attempts 1 became %d", seed, kept.WriteAttempts)
		}
	}
	if attempts[1] == 0 || attempts[1] == 40 || preVoteOff == 0 {
		t.Errorf("40 seeds drew write attempts %v and pre-vote off %d times", attempts, preVoteOff)
	}
}
