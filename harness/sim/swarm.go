package sim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/raftkv/raftkv/harness/workload"
	"github.com/raftkv/raftkv/nemesis"
)

// Swarm testing (Groce et al., "Swarm testing", ISSTA 2012): instead of
// running every seed with one configuration that has every feature on,
// each seed draws its own — which fault families are on at all, their
// shapes, weights and timings, the cluster's size and timings, the
// snapshot interval, the workload's shape and the timeouts. A feature that
// is off in a seed cannot crowd out or mask the others (a partition that
// hides a crash, constant leader changes that keep a log from ever
// growing long enough to snapshot), and over many seeds every combination
// comes up, including the ones nobody would have written down.
//
// The draw comes from the seed's own random source (a stream of its own,
// so the simulation's other draws are unchanged) and never looks at the
// duration, so a seed replays its draw and a shorter duration (Shrink,
// --time-limit) replays a prefix of the same run. The scenario gives what
// the swarm does not draw: the duration, read mode, recovery and final
// read timeout, and the expectation. With read_mode lease no clock fault
// is drawn (a lease is only valid under a clock bound); with stale reads
// the swarm is pointless, as every seed would be invalid.

// swarmStream is the PCG stream of the swarm's draws.
const swarmStream = 0x737761726d

// SwarmDraw is what a swarm seed drew: recorded in sim.json and the trace,
// so that a failure report says what was on.
type SwarmDraw struct {
	// Families are the fault families that are on.
	Families          []string     `json:"families"`
	Nodes             int          `json:"nodes"`
	HeartbeatInterval string       `json:"heartbeat_interval"`
	ElectionTimeout   string       `json:"election_timeout"`
	SnapshotEvery     uint64       `json:"snapshot_every"`
	Clients           int          `json:"clients"`
	Rate              float64      `json:"rate"`
	Keys              int          `json:"keys"`
	MaxClientsPerKey  int          `json:"max_clients_per_key"`
	Mix               workload.Mix `json:"mix"`
	// RequestTimeout is the clients'; ServerTimeout the nodes' own.
	RequestTimeout string `json:"request_timeout"`
	ServerTimeout  string `json:"server_timeout"`
	WriteAttempts  int    `json:"write_attempts"`
	Network        string `json:"network"`
	// Interval, Hold and Jitter are the nemesis schedule's; Faults its
	// faults, each with its weight.
	Interval string   `json:"interval"`
	Hold     string   `json:"hold"`
	Jitter   string   `json:"jitter"`
	Faults   []string `json:"faults"`
	// The raft knobs (0: the node's defaults; check-quorum stays on with
	// lease reads).
	MaxAppendBytes uint64 `json:"max_append_bytes"`
	MaxInflight    int    `json:"max_inflight"`
	PreVote        bool   `json:"pre_vote"`
	CheckQuorum    bool   `json:"check_quorum"`
}

// String is the draw on one line (the trace's first).
func (d *SwarmDraw) String() string {
	return fmt.Sprintf("families %v; %d nodes, heartbeat %s, election %s, snapshot every %d; %d clients at %g/s on %d keys (≤%d per key), mix %+v; "+
		"client timeout %s, server timeout %s, %d write attempt(s); network %s; faults every %s (hold %s, jitter %s): %s; "+
		"raft: max append bytes %d, max inflight %d, pre-vote %v, check-quorum %v",
		d.Families, d.Nodes, d.HeartbeatInterval, d.ElectionTimeout, d.SnapshotEvery, d.Clients, d.Rate, d.Keys, d.MaxClientsPerKey, d.Mix,
		d.RequestTimeout, d.ServerTimeout, d.WriteAttempts, d.Network, d.Interval, d.Hold, d.Jitter, strings.Join(d.Faults, ", "),
		d.MaxAppendBytes, d.MaxInflight, d.PreVote, d.CheckQuorum)
}

// swarmFamily is one family of faults the swarm switches on or off as a
// whole.
type swarmFamily struct {
	name string
	// specs draws the family's faults for one seed (at least one).
	specs func(r *rand.Rand, c *Config) []nemesis.Spec
}

func pick[T any](r *rand.Rand, xs ...T) T { return xs[r.IntN(len(xs))] }

// some returns a random non-empty subset of xs, each kept with p (in
// order).
func some[T any](r *rand.Rand, p float64, xs ...T) []T {
	var out []T
	for _, x := range xs {
		if r.Float64() < p {
			out = append(out, x)
		}
	}
	if len(out) == 0 {
		out = append(out, xs[r.IntN(len(xs))])
	}
	return out
}

func ms(n float64) nemesis.Duration { return nemesis.Duration(n * float64(time.Millisecond)) }

var swarmFamilies = []swarmFamily{
	{"partition", func(r *rand.Rand, c *Config) []nemesis.Spec {
		var out []nemesis.Spec
		for _, f := range some(r, 0.4, "partition-halves", "partition-random-halves", "partition-isolate-one",
			"partition-isolate-leader", "partition-majorities-ring", "partition-bridge", "partition-one-way") {
			out = append(out, nemesis.Spec{Fault: f})
		}
		return out
	}},
	{"kill", func(r *rand.Rand, c *Config) []nemesis.Spec {
		var out []nemesis.Spec
		for _, f := range some(r, 0.35, "kill-one", "kill-leader", "kill-minority", "kill-majority", "kill-all") {
			out = append(out, nemesis.Spec{Fault: f, Spread: pick(r, 0, 0, ms(2), ms(10), ms(50))})
		}
		return out
	}},
	{"pause", func(r *rand.Rand, c *Config) []nemesis.Spec {
		var out []nemesis.Spec
		for _, f := range some(r, 0.3, "pause-one", "pause-leader", "pause-minority", "pause-majority", "pause-all") {
			out = append(out, nemesis.Spec{Fault: f, Spread: pick(r, 0, 0, ms(5), ms(50))})
		}
		return out
	}},
	{"clock", func(r *rand.Rand, c *Config) []nemesis.Spec {
		target := func() string { return pick(r, "one", "leader", "all", "minority") }
		var out []nemesis.Spec
		for _, f := range some(r, 0.5, "clock-bump", "clock-strobe", "clock-rate") {
			s := nemesis.Spec{Fault: f, Target: target()}
			switch f {
			case "clock-bump":
				s.Offset = pick(r, 0, ms(20), ms(-300), ms(2000), ms(-10000))
			case "clock-strobe":
				s.Delta, s.Period = pick(r, ms(50), ms(500), ms(2000)), pick(r, ms(5), ms(20), ms(100))
			default:
				s.Rate = pick(r, 0.05, 0.25, 0.5, 2, 4)
			}
			out = append(out, s)
		}
		return out
	}},
	{"packet", func(r *rand.Rand, c *Config) []nemesis.Spec {
		target := func() string { return pick(r, "all", "leader", "one", "minority") }
		var out []nemesis.Spec
		for _, f := range some(r, 0.5, "packet-delay", "packet-loss") {
			// Mostly what the targets send; at times what they receive
			// (on a leader: only the answers it waits for are slow or
			// lost, its followers still hear it and each other at once).
			s := nemesis.Spec{Fault: f, Target: target(), Direction: pick(r, "", "", "in", "both")}
			if f == "packet-delay" {
				s.Delay = pick(r, ms(1), ms(5), ms(20), ms(100), ms(400))
				s.Jitter = nemesis.Duration(float64(s.Delay) * pick(r, 0, 0.5, 2))
			} else {
				s.Loss = pick(r, 0.05, 0.2, 0.5, 0.9)
			}
			out = append(out, s)
		}
		return out
	}},
	{"failpoint", func(r *rand.Rand, c *Config) []nemesis.Spec {
		var out []nemesis.Spec
		for _, fp := range some(r, 0.5, nemesis.Failpoints...) {
			out = append(out, nemesis.Spec{Fault: "failpoint", Failpoint: fp, After: pick(r, 0, 0, 1, 3, 10, 30),
				Target: pick(r, "leader", "one", "followers", "minority", "all")})
		}
		return out
	}},
	{"transfer", func(r *rand.Rand, c *Config) []nemesis.Spec {
		return []nemesis.Spec{{Fault: "leader-transfer-storm", Every: pick(r, ms(10), ms(30), ms(100), ms(300))}}
	}},
	{"churn", func(r *rand.Rand, c *Config) []nemesis.Spec {
		// A follower (the default target): removing the leader itself
		// crashes it from inside its own step in the simulation's churn
		// (members.go), which the real node does not do.
		return []nemesis.Spec{{Fault: "membership-churn"}}
	}},
	{"flap", func(r *rand.Rand, c *Config) []nemesis.Spec {
		hb := float64(c.Node.HeartbeatInterval.D()) / float64(time.Millisecond)
		var out []nemesis.Spec
		for range 1 + r.IntN(2) {
			out = append(out, nemesis.Spec{Fault: "leader-flap", Action: pick(r, "", "", nemesis.FlapCrash, nemesis.FlapIsolate, nemesis.FlapPartial),
				// From under a heartbeat to a few heartbeats into the term.
				Delay:  ms(hb * pick(r, 0.5, 1, 2, 4)),
				Period: pick(r, ms(50), ms(200), ms(500), ms(1000))})
		}
		return out
	}},
}

// drawSwarm returns cfg with the seed's swarm draw applied, and the draw.
func drawSwarm(cfg Config) (Config, *SwarmDraw) {
	r := rand.New(rand.NewPCG(uint64(cfg.Seed), swarmStream))
	c := cfg

	// The cluster.
	c.Nodes = pick(r, 3, 3, 4, 5, 5)
	hb := pick(r, 10, 20, 30, 50, 100)
	ticks := min(pick(r, 3, 5, 8, 10, 15, 20), 1000/hb)
	c.Node.HeartbeatInterval = ms(float64(hb))
	c.Node.ElectionTimeout = ms(float64(hb * ticks))
	c.Node.SnapshotEvery = pick[uint64](r, 5, 10, 20, 50, 200, 10000)

	// The workload.
	c.Clients = 1 + r.IntN(10)
	c.Rate = pick[float64](r, 20, 50, 100, 200, 300)
	c.Keys = pick(r, 1, 2, 3, 4, 5, 8, 10)
	// At most 100 ops/s per key: a key's history stays one that the
	// linearizability search finishes.
	c.Rate = min(c.Rate, float64(100*c.Keys))
	c.MaxClientsPerKey = 1 + r.IntN(min(c.Clients, 4))
	w := func() int { return pick(r, 0, 5, 20, 50) }
	c.Mix = workload.Mix{Get: w(), Put: w(), Delete: w(), Cas: w(), Edge: pick(r, 0, 5, 20)}
	if c.Mix.Put+c.Mix.Cas+c.Mix.Edge == 0 {
		c.Mix.Put = 20
	}
	// The client's timeout and the server's, each sometimes the shorter:
	// an error the server calls definite must be right either way.
	// (Not under 100ms: a client that times out every few heartbeats
	// leaves so many infos on a key that the linearizability search may
	// not finish.)
	c.RequestTimeout = pick(r, ms(100), ms(150), ms(300), ms(600), ms(1000), ms(3000))
	c.ServerTimeout = pick(r, ms(100), ms(250), ms(500), ms(1000), ms(2000), ms(5000)).D()
	c.WriteAttempts = drawWriteAttempts(r)

	// The baseline network, harsher than a plain seed's at times.
	net := drawNet(r)
	net.Loss = pick(r, 0, 0, 0.001, 0.01, 0.05)
	net.Dup = pick(r, 0, 0, 0.001, 0.01, 0.05)
	c.Net = &net

	// The faults: each family on or off, at least one on.
	var fams []swarmFamily
	for _, f := range swarmFamilies {
		if f.name == "clock" && c.ReadMode == "lease" {
			continue
		}
		if r.IntN(2) == 0 {
			fams = append(fams, f)
		}
	}
	for len(fams) == 0 {
		if f := pick(r, swarmFamilies...); f.name != "clock" || c.ReadMode != "lease" {
			fams = append(fams, f)
		}
	}
	var specs [][]nemesis.Spec
	var names []string
	for _, f := range fams {
		fs := f.specs(r, &c)
		for i := range fs {
			fs[i].Weight = 1 + r.IntN(5)
		}
		specs = append(specs, fs)
		names = append(names, f.name)
	}
	var faults []nemesis.Spec
	for _, fs := range specs {
		faults = append(faults, fs...)
	}
	// Compositions of faults of two families at once (a flap with a
	// partition, a kill during packet loss...).
	if len(specs) >= 2 && r.IntN(3) > 0 {
		for range 1 + r.IntN(2) {
			i := r.IntN(len(specs))
			j := (i + 1 + r.IntN(len(specs)-1)) % len(specs)
			a, b := pick(r, specs[i]...), pick(r, specs[j]...)
			a.Weight, b.Weight = 0, 0
			// Together, or the second a moment after the first.
			spread := pick(r, 0, 0, ms(20), ms(200))
			faults = append(faults, nemesis.Spec{Fault: "compose", Of: []nemesis.Spec{a, b}, Spread: spread, Weight: 1 + r.IntN(5)})
		}
	}
	interval := pick(r, ms(20), ms(100), ms(300), ms(1000))
	hold := pick(r, ms(50), ms(200), ms(500), ms(1000), ms(2000))
	jitter := pick(r, 0, ms(50), ms(300), ms(1000))
	// Drawn last, so that the draws above stay what they were for every
	// seed.
	drawRaftKnobs(r, &c)
	c.Nemesis = nemesis.Schedule{Interval: interval, Hold: hold, Jitter: jitter, Mode: "random", Faults: faults}

	d := &SwarmDraw{Families: names, Nodes: c.Nodes, HeartbeatInterval: c.Node.HeartbeatInterval.D().String(),
		ElectionTimeout: c.Node.ElectionTimeout.D().String(), SnapshotEvery: c.Node.SnapshotEvery,
		Clients: c.Clients, Rate: c.Rate, Keys: c.Keys, MaxClientsPerKey: c.MaxClientsPerKey, Mix: c.Mix,
		RequestTimeout: c.RequestTimeout.D().String(), ServerTimeout: c.ServerTimeout.String(), WriteAttempts: c.WriteAttempts,
		Network: net.String(), Interval: interval.D().String(), Hold: hold.D().String(), Jitter: jitter.D().String(),
		MaxAppendBytes: c.Node.MaxAppendBytes, MaxInflight: c.Node.MaxInflight,
		PreVote: c.Node.PreVote == nil || *c.Node.PreVote, CheckQuorum: c.ReadMode == "lease" || c.Node.CheckQuorum == nil || *c.Node.CheckQuorum}
	for _, f := range faults {
		d.Faults = append(d.Faults, fmt.Sprintf("%s×%d", f.String(), f.Weight))
	}
	slices.Sort(d.Families)
	return c, d
}

// knobStream is the PCG stream of drawUnsetKnobs.
const knobStream = 0x6b6e6f6273

// drawUnsetKnobs varies, per seed, the raft knobs a scenario that is not a
// swarm leaves unset (drawRaftKnobs' draw, from a stream of its own): a
// Figure 8 or crash-window scenario then runs, over its seeds, with small
// appends and few in flight, and with pre-vote or check-quorum off, which
// is where stale votes, old-term commits and deposed leaders' appends come
// up. Unset write attempts are drawn too (drawWriteAttempts). A knob the
// scenario sets is kept. It returns the knobs drawn, in words ("" when
// none).
func drawUnsetKnobs(cfg Config) (Config, string) {
	r := rand.New(rand.NewPCG(uint64(cfg.Seed), knobStream))
	drawn := cfg
	drawn.Node.MaxAppendBytes, drawn.Node.MaxInflight, drawn.Node.PreVote, drawn.Node.CheckQuorum = 0, 0, nil, nil
	drawRaftKnobs(r, &drawn)
	var words []string
	if cfg.Node.MaxAppendBytes == 0 && cfg.Node.MaxInflight == 0 && drawn.Node.MaxAppendBytes != 0 {
		cfg.Node.MaxAppendBytes, cfg.Node.MaxInflight = drawn.Node.MaxAppendBytes, drawn.Node.MaxInflight
		words = append(words, fmt.Sprintf("max append bytes %d, max inflight %d", cfg.Node.MaxAppendBytes, cfg.Node.MaxInflight))
	}
	if cfg.Node.PreVote == nil && drawn.Node.PreVote != nil {
		cfg.Node.PreVote = drawn.Node.PreVote
		words = append(words, fmt.Sprintf("pre-vote %v", *cfg.Node.PreVote))
	}
	if cfg.Node.CheckQuorum == nil && drawn.Node.CheckQuorum != nil {
		cfg.Node.CheckQuorum = drawn.Node.CheckQuorum
		words = append(words, fmt.Sprintf("check-quorum %v", *cfg.Node.CheckQuorum))
	}
	// Drawn after the raft knobs, so that their draws per seed stay
	// what they were before write attempts were drawn too.
	if attempts := drawWriteAttempts(r); cfg.WriteAttempts == 0 {
		cfg.WriteAttempts = attempts
		if attempts > 1 {
			words = append(words, fmt.Sprintf("write attempts %d", attempts))
		}
	}
	return cfg, strings.Join(words, ", ")
}

// drawWriteAttempts draws how many times a client sends a write whose
// outcome stays unknown: once in a quarter of the seeds, else 2, 3 or 5
// times with the same session and request id, as a user's client retries
// after a timeout, so that a retry applied twice (de-duplication off,
// sessions lost with a snapshot or a restart, a forwarded retry without
// its session) lands over a later write and shows.
func drawWriteAttempts(r *rand.Rand) int { return pick(r, 1, 2, 3, 5) }

// drawRaftKnobs draws the nodes' replication and election knobs, each
// switched on in about a third of the seeds:
//
//   - Append messages of one entry up to a few KiB, and one to a few
//     appends in flight per follower: replication then proceeds in many
//     small steps, so that a new leader's older entries are acknowledged,
//     and counted, before its own term's (the schedules of the Raft
//     paper's Figure 8), and a follower (a rejoined empty one too) is
//     caught up over many round trips.
//   - Pre-vote off, and check-quorum off (kept on with lease reads, which
//     need it): with them a disruptive or partitioned candidate rarely
//     gets to a real election, so split votes, stale vote responses and
//     deposed leaders that still send come up far less often.
//
// Drawn with membership churn these once made the correct build fail (a
// rejoined node reused its raft ID; kvservice's membership rules now give
// it a new one).
func drawRaftKnobs(r *rand.Rand, c *Config) {
	if r.IntN(3) == 0 {
		c.Node.MaxAppendBytes = pick[uint64](r, 1, 1, 100, 1000, 4096)
		c.Node.MaxInflight = pick(r, 1, 1, 2, 4)
	}
	off := false
	if r.IntN(3) == 0 {
		c.Node.PreVote = &off
	}
	if r.IntN(3) == 0 && c.ReadMode != "lease" {
		c.Node.CheckQuorum = &off
	}
}
