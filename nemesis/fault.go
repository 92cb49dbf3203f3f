package nemesis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/raftkv/raftkv/internal/suggest"
	"strings"
	"sync"
	"time"

	"github.com/raftkv/raftkv/harness/cluster"
	"github.com/raftkv/raftkv/harness/nodeapi"
	"github.com/raftkv/raftkv/harness/target"
)

// Sentinel errors.
var (
	ErrUnknownFault = errors.New("nemesis: unknown fault")
	ErrBadSpec      = errors.New("nemesis: bad fault spec")
	ErrNoTarget     = errors.New("nemesis: no node to act on")
)

// Env is what a fault acts with.
type Env struct {
	Cluster cluster.Cluster
	// Rand picks targets; seeded per run so choices repeat for a seed.
	Rand *rand.Rand
	Log  *slog.Logger
	// mu serializes Rand, which is not safe for concurrent use.
	mu sync.Mutex
	// net is the faults' network rules on each node, so that faults on
	// one node at once add up (RuleBook).
	net RuleBook
}

// setNetwork gives node n owner's network rules alongside the rules other
// faults keep on it.
func (e *Env) setNetwork(ctx context.Context, owner any, n string, rules []nodeapi.NetRule) error {
	return e.Cluster.Client(n).SetNetwork(ctx, e.net.Set(owner, n, rules))
}

// clearNetwork takes owner's network rules off node n, leaving the rules
// other faults keep on it.
func (e *Env) clearNetwork(ctx context.Context, owner any, n string) error {
	if rest := e.net.Remove(owner, n); len(rest) > 0 {
		return e.Cluster.Client(n).SetNetwork(ctx, rest)
	}
	return e.Cluster.Client(n).ClearNetwork(ctx)
}

// NewEnv returns an Env whose randomness derives from seed.
func NewEnv(c cluster.Cluster, seed int64, log *slog.Logger) *Env {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Env{Cluster: c, Rand: rand.New(rand.NewPCG(uint64(seed), 0x6e656d65736973)), Log: log}
}

func (e *Env) intn(n int) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.Rand.IntN(n)
}

func (e *Env) shuffled(xs []string) []string {
	out := slices.Clone(xs)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.Rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// Effect is what an injection did, recorded in the history.
type Effect struct {
	Nodes  []string
	Detail string
}

// Fault is one kind of trouble. A Fault value holds the state of one
// injection: Heal undoes what the last Inject did.
type Fault interface {
	// Name is the fault's name as recorded in the history.
	Name() string
	// Applies reports whether the fault makes sense on this cluster.
	Applies(c cluster.Cluster) bool
	Inject(ctx context.Context, env *Env) (Effect, error)
	Heal(ctx context.Context, env *Env) error
}

// Info describes a fault kind for `harness list`.
type Info struct {
	Name        string
	MinNodes    int
	Description string
}

type entry struct {
	Info
	build func(Spec) (Fault, error)
}

var catalog = map[string]entry{}

func register(name string, minNodes int, desc string, build func(Spec) (Fault, error)) {
	catalog[name] = entry{Info{name, minNodes, desc}, build}
}

// Catalog lists every fault kind, by name.
func Catalog() []Info {
	out := make([]Info, 0, len(catalog))
	for _, e := range catalog {
		out = append(out, e.Info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// names lists every fault kind's name.
func names() []string {
	out := make([]string, 0, len(catalog))
	for n := range catalog {
		out = append(out, n)
	}
	return out
}

// unknownFault is the error for a fault name not in the catalog, with the
// nearest known name when there is one.
func unknownFault(name string) error {
	return fmt.Errorf("%w: %q%s (harness list shows them all)", ErrUnknownFault, name, suggest.Hint(name, names()))
}

// New builds a fault from its spec.
func New(s Spec) (Fault, error) {
	e, ok := catalog[s.Fault]
	if !ok {
		return nil, unknownFault(s.Fault)
	}
	return e.build(s)
}

// Validate checks a spec (recursively) without building anything.
func Validate(s Spec) error {
	_, err := New(s)
	return err
}

// minNodes applies a node-count floor.
type minNodes int

func (m minNodes) Applies(c cluster.Cluster) bool { return len(c.Nodes()) >= int(m) }

// leaderOrRandom returns the leader, or a random node when none is known.
func leaderOrRandom(ctx context.Context, env *Env, exclude ...string) string {
	if l := cluster.Leader(ctx, env.Cluster); l != "" && !slices.Contains(exclude, l) {
		return l
	}
	var cands []string
	for _, n := range env.Cluster.Nodes() {
		if !slices.Contains(exclude, n) {
			cands = append(cands, n)
		}
	}
	if len(cands) == 0 {
		return ""
	}
	return cands[env.intn(len(cands))]
}

// targets resolves a target name to nodes.
func targets(ctx context.Context, env *Env, target, def string) ([]string, error) {
	if target == "" {
		target = def
	}
	nodes := env.Cluster.Nodes()
	switch target {
	case "one":
		return []string{nodes[env.intn(len(nodes))]}, nil
	case "leader":
		return []string{leaderOrRandom(ctx, env)}, nil
	case "minority":
		return env.shuffled(nodes)[:(len(nodes)-1)/2], nil
	case "majority":
		return env.shuffled(nodes)[:len(nodes)/2+1], nil
	case "all":
		return slices.Clone(nodes), nil
	case "followers":
		l := leaderOrRandom(ctx, env)
		return slices.DeleteFunc(slices.Clone(nodes), func(n string) bool { return n == l }), nil
	default:
		if slices.Contains(nodes, target) {
			return []string{target}, nil
		}
		return nil, fmt.Errorf("%w: target %q", ErrBadSpec, target)
	}
}

// validTarget checks a target at build time.
func validTarget(t string) error {
	switch t {
	case "", "one", "leader", "minority", "majority", "all", "followers":
		return nil
	}
	if strings.HasPrefix(t, "node") {
		return nil
	}
	return fmt.Errorf("%w: target %q (one|leader|minority|majority|all|followers|nodeN)", ErrBadSpec, t)
}

// callTimeout bounds one fault-API call, so that a paused or dead node
// cannot hang the nemesis.
const callTimeout = 2 * time.Second

// onNodes runs f for each node concurrently and joins the errors.
func onNodes(ctx context.Context, nodes []string, f func(ctx context.Context, n string) error) error {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, callTimeout)
			defer cancel()
			if err := f(cctx, n); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", n, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// HealAll returns the cluster to a fault-free state: resumes paused nodes,
// restarts down ones, and clears network, clock and failpoint faults on
// every node (of a target that has them). It returns the errors it met but tries everything.
func HealAll(ctx context.Context, env *Env) error {
	c := env.Cluster
	var errs []error
	restarted := map[string]bool{}
	for _, n := range c.Nodes() {
		switch c.State(n) {
		case cluster.Paused:
			if err := c.Resume(ctx, n); err != nil {
				errs = append(errs, err)
			}
		case cluster.Down:
			if err := c.Restart(ctx, n); err != nil {
				errs = append(errs, err)
			} else {
				restarted[n] = true
			}
		}
	}
	// Only a target with the in-node fault API has network, clock or
	// failpoint faults to clear (the others refuse those faults).
	env.net.Reset()
	if t := cluster.TargetOf(c); target.Has(t, target.CapNodeNetwork) || target.Has(t, target.CapClock) || target.Has(t, target.CapFailpoint) {
		errs = append(errs, onNodes(ctx, c.Nodes(), func(ctx context.Context, n string) error {
			// A node restarted above answers only once it has opened its
			// store; its faults are cleared when it does (on the docker
			// backend its network rules outlive the restart).
			if restarted[n] {
				if err := cluster.WaitHealthy(ctx, c, n); err != nil {
					return err
				}
			}
			cl := c.Client(n)
			return errors.Join(cl.ClearNetwork(ctx), cl.ClearClock(ctx), cl.DisarmFailpoint(ctx))
		}))
	}
	return errors.Join(errs...)
}

// ---- partitions ----

// cut is a directed link that drops messages from From to To.
type cut struct{ From, To string }

type partition struct {
	minNodes
	name  string
	plan  func(ctx context.Context, env *Env) ([]cut, string, []string)
	nodes []string
}

func (p *partition) Name() string { return p.name }

func (p *partition) Inject(ctx context.Context, env *Env) (Effect, error) {
	cuts, detail, focus := p.plan(ctx, env)
	rules := map[string][]nodeapi.NetRule{}
	set := map[cut]bool{}
	for _, c := range cuts {
		set[c] = true
	}
	// Each node gets rules naming its peers; a symmetric cut is written as
	// "both" on both sides so that it holds even if one side restarts.
	for _, c := range cuts {
		back := set[cut{c.To, c.From}]
		if back {
			rules[c.From] = appendRule(rules[c.From], nodeapi.NetRule{Peer: c.To, Direction: "both", Drop: true})
			continue
		}
		rules[c.From] = appendRule(rules[c.From], nodeapi.NetRule{Peer: c.To, Direction: "out", Drop: true})
		rules[c.To] = appendRule(rules[c.To], nodeapi.NetRule{Peer: c.From, Direction: "in", Drop: true})
	}
	p.nodes = p.nodes[:0]
	for n := range rules {
		p.nodes = append(p.nodes, n)
	}
	sort.Strings(p.nodes)
	err := onNodes(ctx, p.nodes, func(ctx context.Context, n string) error {
		return env.setNetwork(ctx, p, n, rules[n])
	})
	// The history names the nodes the partition singles out (the minority,
	// the isolated node, the bridge), which is what a reader looks for.
	if len(focus) == 0 {
		focus = p.nodes
	}
	return Effect{Nodes: focus, Detail: detail}, err
}

func appendRule(rs []nodeapi.NetRule, r nodeapi.NetRule) []nodeapi.NetRule {
	for _, x := range rs {
		if x.Peer == r.Peer && x.Direction == r.Direction {
			return rs
		}
	}
	return append(rs, r)
}

func (p *partition) Heal(ctx context.Context, env *Env) error {
	return onNodes(ctx, env.Cluster.Nodes(), func(ctx context.Context, n string) error {
		return env.clearNetwork(ctx, p, n)
	})
}

// split cuts every link between groups a and b, both ways.
func split(a, b []string) []cut {
	var cs []cut
	for _, x := range a {
		for _, y := range b {
			cs = append(cs, cut{x, y}, cut{y, x})
		}
	}
	return cs
}

func describeSplit(a, b []string) string {
	sort.Strings(a)
	sort.Strings(b)
	return fmt.Sprintf("%v | %v", a, b)
}

func without(nodes []string, x string) []string {
	return slices.DeleteFunc(slices.Clone(nodes), func(n string) bool { return n == x })
}

func init() {
	mk := func(name string, min int, desc string, plan func(context.Context, *Env) ([]cut, string, []string)) {
		register(name, min, desc, func(s Spec) (Fault, error) {
			return &partition{minNodes: minNodes(min), name: name, plan: plan}, nil
		})
	}
	mk("partition-halves", 2, "split the nodes into a fixed lower half and upper half (the lower half is the minority)",
		func(_ context.Context, env *Env) ([]cut, string, []string) {
			ns := env.Cluster.Nodes()
			a, b := ns[:len(ns)/2], ns[len(ns)/2:]
			return split(a, b), describeSplit(slices.Clone(a), slices.Clone(b)), slices.Clone(a)
		})
	mk("partition-random-halves", 2, "split the nodes into a random minority and majority",
		func(_ context.Context, env *Env) ([]cut, string, []string) {
			ns := env.shuffled(env.Cluster.Nodes())
			a, b := ns[:len(ns)/2], ns[len(ns)/2:]
			return split(a, b), describeSplit(slices.Clone(a), slices.Clone(b)), slices.Clone(a)
		})
	mk("partition-isolate-one", 2, "cut one random node off from all others",
		func(_ context.Context, env *Env) ([]cut, string, []string) {
			ns := env.Cluster.Nodes()
			x := ns[env.intn(len(ns))]
			return split([]string{x}, without(ns, x)), describeSplit([]string{x}, without(ns, x)), []string{x}
		})
	mk("partition-isolate-leader", 2, "cut the current leader off from all others (clients can still reach it)",
		func(ctx context.Context, env *Env) ([]cut, string, []string) {
			ns := env.Cluster.Nodes()
			x := leaderOrRandom(ctx, env)
			return split([]string{x}, without(ns, x)), "leader " + describeSplit([]string{x}, without(ns, x)), []string{x}
		})
	mk("partition-majorities-ring", 5, "every node sees a different majority (nodes on a random ring see their nearest neighbours)",
		func(_ context.Context, env *Env) ([]cut, string, []string) {
			ring := env.shuffled(env.Cluster.Nodes())
			n := len(ring)
			reach := (n/2 + 1) / 2 // neighbours on each side: self + 2*reach >= majority
			var cs []cut
			for i := range n {
				for j := range n {
					d := min((i-j+n)%n, (j-i+n)%n)
					if i != j && d > reach {
						cs = append(cs, cut{ring[i], ring[j]})
					}
				}
			}
			return cs, fmt.Sprintf("ring %v, each node sees %d neighbour(s) per side", ring, reach), nil
		})
	mk("partition-bridge", 3, "two halves that cannot talk, joined by one bridge node that sees both",
		func(_ context.Context, env *Env) ([]cut, string, []string) {
			ns := env.shuffled(env.Cluster.Nodes())
			bridge := ns[0]
			rest := ns[1:]
			a, b := rest[:len(rest)/2], rest[len(rest)/2:]
			return split(a, b), fmt.Sprintf("%v <- %s -> %v", a, bridge, b), []string{bridge}
		})
	mk("partition-one-way", 2, "the leader's outgoing messages are dropped; it still receives",
		func(ctx context.Context, env *Env) ([]cut, string, []string) {
			x := leaderOrRandom(ctx, env)
			var cs []cut
			for _, y := range without(env.Cluster.Nodes(), x) {
				cs = append(cs, cut{x, y})
			}
			return cs, fmt.Sprintf("%s -/-> others", x), []string{x}
		})
}

// ---- kill / pause ----

type procFault struct {
	minNodes
	name   string
	target string
	pause  bool
	spread time.Duration
	nodes  []string
}

func (f *procFault) Name() string { return f.name }

func (f *procFault) Inject(ctx context.Context, env *Env) (Effect, error) {
	ns, err := targets(ctx, env, f.target, "one")
	if err != nil {
		return Effect{}, err
	}
	f.nodes = ns
	verb := "kill"
	if f.pause {
		verb = "pause (SIGSTOP)"
	}
	// With a spread, each node is hit at its own random moment within it
	// (in node order of those moments), so that a crash of several nodes
	// catches them at different points of their work.
	offsets := SpreadOffsets(len(ns), f.spread, env.intn)
	start := time.Now()
	var errs []error
	for _, i := range byOffset(offsets) {
		n := ns[i]
		sleepUntil(ctx, start.Add(offsets[i]))
		if f.pause {
			err = env.Cluster.Pause(ctx, n)
		} else {
			err = env.Cluster.Kill(ctx, n)
		}
		errs = append(errs, err)
	}
	detail := fmt.Sprintf("%s %v", verb, ns)
	if f.spread > 0 {
		detail += fmt.Sprintf(" at %v", offsets)
	}
	return Effect{Nodes: ns, Detail: detail}, errors.Join(errs...)
}

// SpreadOffsets draws n moments uniform in [0, spread) (all zero without
// a spread), in ms resolution below a second and µs below 10ms; every
// backend uses it so that a spec means the same everywhere.
func SpreadOffsets(n int, spread time.Duration, intn func(int) int) []time.Duration {
	out := make([]time.Duration, n)
	if spread <= 0 {
		return out
	}
	unit := time.Millisecond
	if spread < 10*time.Millisecond {
		unit = time.Microsecond
	}
	steps := max(1, int(spread/unit))
	for i := range out {
		out[i] = time.Duration(intn(steps)) * unit
	}
	return out
}

// byOffset returns the indexes of offsets in increasing order of offset
// (ties in index order).
func byOffset(offsets []time.Duration) []int {
	idx := make([]int, len(offsets))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return offsets[idx[a]] < offsets[idx[b]] })
	return idx
}

func (f *procFault) Heal(ctx context.Context, env *Env) error {
	var errs []error
	for _, n := range f.nodes {
		if f.pause {
			errs = append(errs, env.Cluster.Resume(ctx, n))
		} else if env.Cluster.State(n) == cluster.Down {
			errs = append(errs, env.Cluster.Restart(ctx, n))
		}
	}
	return errors.Join(errs...)
}

func init() {
	for _, v := range []struct {
		suffix, target string
		min            int
	}{{"one", "one", 1}, {"leader", "leader", 1}, {"minority", "minority", 3}, {"majority", "majority", 2}, {"all", "all", 1}} {
		register("kill-"+v.suffix, v.min, "SIGKILL "+v.target+" node(s), at random moments within `spread` (default 0: together); heal restarts them with their data",
			func(s Spec) (Fault, error) {
				return &procFault{minNodes: minNodes(v.min), name: "kill-" + v.suffix, target: procTarget(s, v.target), spread: s.Spread.D()}, validProc(s)
			})
		register("pause-"+v.suffix, v.min, "SIGSTOP "+v.target+" node(s), at random moments within `spread` (default 0: together); heal sends SIGCONT",
			func(s Spec) (Fault, error) {
				return &procFault{minNodes: minNodes(v.min), name: "pause-" + v.suffix, target: procTarget(s, v.target), pause: true, spread: s.Spread.D()}, validProc(s)
			})
	}
}

// procTarget is a kill's or pause's target: the spec's, else the one its
// name says (as the sim backend reads it).
func procTarget(s Spec, def string) string {
	if s.Target != "" {
		return s.Target
	}
	return def
}

func validProc(s Spec) error {
	if s.Spread < 0 {
		return fmt.Errorf("%w: spread %v", ErrBadSpec, s.Spread.D())
	}
	return validTarget(s.Target)
}

// ---- clock ----

type clockFault struct {
	minNodes
	name  string
	spec  Spec
	clock func(env *Env) nodeapi.Clock
	nodes []string
}

func (f *clockFault) Name() string { return f.name }

func (f *clockFault) Inject(ctx context.Context, env *Env) (Effect, error) {
	ns, err := targets(ctx, env, f.spec.Target, "one")
	if err != nil {
		return Effect{}, err
	}
	f.nodes = ns
	clocks := map[string]nodeapi.Clock{}
	var desc []string
	for _, n := range ns {
		clocks[n] = f.clock(env)
		k := clocks[n]
		desc = append(desc, fmt.Sprintf("%s: offset=%dms rate=%g strobe=%dms/%dms", n, k.OffsetMS, k.Rate, k.StrobeDeltaMS, k.StrobePeriodMS))
	}
	err = onNodes(ctx, ns, func(ctx context.Context, n string) error {
		return env.Cluster.Client(n).SetClock(ctx, clocks[n])
	})
	return Effect{Nodes: ns, Detail: strings.Join(desc, "; ")}, err
}

func (f *clockFault) Heal(ctx context.Context, env *Env) error {
	return onNodes(ctx, f.nodes, func(ctx context.Context, n string) error {
		return env.Cluster.Client(n).ClearClock(ctx)
	})
}

func init() {
	register("clock-bump", 1, "shift a node's clock by offset (default: random ±[100ms,2s])", newClockFault)
	register("clock-strobe", 1, "make a node's clock flip between +0 and +delta every period (default 500ms/20ms; optional rate)", newClockFault)
	register("clock-rate", 1, "make a node's clock run at rate × real time (default 0.25: slow)", newClockFault)
}

func newClockFault(s Spec) (Fault, error) {
	if err := validTarget(s.Target); err != nil {
		return nil, err
	}
	if s.Rate < 0 {
		return nil, fmt.Errorf("%w: rate %g", ErrBadSpec, s.Rate)
	}
	return &clockFault{minNodes: 1, name: s.Fault, spec: s, clock: func(env *Env) nodeapi.Clock {
		return ClockFor(s, env.intn)
	}}, nil
}

// ClockFor is the node clock that the clock fault s (clock-bump,
// clock-strobe or clock-rate) sets, with the defaults its help text gives.
// intn draws clock-bump's random offset, so that every backend (the sim
// backend too) keeps its own seeded source and gets the same defaults.
func ClockFor(s Spec, intn func(int) int) nodeapi.Clock {
	switch s.Fault {
	case "clock-bump":
		off := s.Offset.D()
		if off == 0 {
			off = time.Duration(100+intn(1900)) * time.Millisecond
			if intn(2) == 0 {
				off = -off
			}
		}
		return nodeapi.Clock{OffsetMS: off.Milliseconds(), Rate: 1}
	case "clock-strobe":
		delta, period, rate := s.Delta.D(), s.Period.D(), s.Rate
		if delta == 0 {
			delta = 500 * time.Millisecond
		}
		if period == 0 {
			period = 20 * time.Millisecond
		}
		if rate == 0 {
			rate = 1
		}
		// One PUT sets the whole clock, so a strobe that should also drift
		// takes its rate here rather than from a second fault.
		return nodeapi.Clock{Rate: rate, StrobeDeltaMS: delta.Milliseconds(), StrobePeriodMS: period.Milliseconds()}
	default: // clock-rate
		rate := s.Rate
		if rate == 0 {
			rate = 0.25
		}
		return nodeapi.Clock{Rate: rate}
	}
}

// ---- packet delay / loss ----

type packetFault struct {
	minNodes
	name  string
	spec  Spec
	rule  nodeapi.NetRule
	nodes []string
}

func (f *packetFault) Name() string { return f.name }

func (f *packetFault) Inject(ctx context.Context, env *Env) (Effect, error) {
	ns, err := targets(ctx, env, f.spec.Target, "all")
	if err != nil {
		return Effect{}, err
	}
	f.nodes = ns
	all := env.Cluster.Nodes()
	err = onNodes(ctx, ns, func(ctx context.Context, n string) error {
		var rules []nodeapi.NetRule
		for _, p := range without(all, n) {
			r := f.rule
			r.Peer = p
			rules = append(rules, r)
		}
		return env.setNetwork(ctx, f, n, rules)
	})
	return Effect{Nodes: ns, Detail: PacketDetail(f.rule, ns)}, err
}

func (f *packetFault) Heal(ctx context.Context, env *Env) error {
	return onNodes(ctx, f.nodes, func(ctx context.Context, n string) error {
		return env.clearNetwork(ctx, f, n)
	})
}

func init() {
	register("packet-delay", 2, "delay raft messages leaving the target nodes (default all; delay 50ms, jitter 25ms; direction in|out|both, default out)", func(s Spec) (Fault, error) {
		if err := validPacket(s); err != nil {
			return nil, err
		}
		return &packetFault{minNodes: 2, name: "packet-delay", spec: s, rule: PacketRule(s)}, nil
	})
	register("packet-loss", 2, "drop a fraction of raft messages leaving the target nodes (default all; loss 0.2; direction in|out|both, default out)", func(s Spec) (Fault, error) {
		if err := validPacket(s); err != nil {
			return nil, err
		}
		if s.Loss < 0 || s.Loss > 1 {
			return nil, fmt.Errorf("%w: loss %g not in [0,1]", ErrBadSpec, s.Loss)
		}
		return &packetFault{minNodes: 2, name: "packet-loss", spec: s, rule: PacketRule(s)}, nil
	})
}

// packetDirectionWords says what a packet fault's rule direction acts on.
var packetDirectionWords = map[string]string{"out": "outgoing", "in": "incoming", "both": "outgoing and incoming"}

// PacketDetail describes the packet fault rule on nodes, for the fault
// window (every backend words it alike).
func PacketDetail(rule nodeapi.NetRule, nodes []string) string {
	return fmt.Sprintf("%s on %v: delay=%dms jitter=%dms loss=%g", packetDirectionWords[rule.Direction], nodes, rule.DelayMS, rule.JitterMS, rule.Loss)
}

func validPacket(s Spec) error {
	if err := validTarget(s.Target); err != nil {
		return err
	}
	if _, ok := packetDirectionWords[s.Direction]; !ok && s.Direction != "" {
		return fmt.Errorf("%w: direction %q (in|out|both)", ErrBadSpec, s.Direction)
	}
	return nil
}

// PacketRule is the network rule that the packet fault s (packet-delay or
// packet-loss) installs on its target nodes, with the defaults its help
// text gives; every backend uses it so they agree.
func PacketRule(s Spec) nodeapi.NetRule {
	dir := s.Direction
	if dir == "" {
		dir = "out"
	}
	if s.Fault == "packet-delay" {
		d, j := s.Delay.D(), s.Jitter.D()
		if d == 0 {
			d, j = 50*time.Millisecond, 25*time.Millisecond
		}
		return nodeapi.NetRule{Direction: dir, DelayMS: d.Milliseconds(), JitterMS: j.Milliseconds()}
	}
	l := s.Loss
	if l == 0 {
		l = 0.2
	}
	return nodeapi.NetRule{Direction: dir, Loss: l}
}

// ---- membership churn ----

type churn struct {
	minNodes
	spec Spec
	node string
	via  string
}

func (f *churn) Name() string { return "membership-churn" }

// anyClient calls f on the running nodes in turn until one succeeds: a
// follower forwards membership requests to the leader.
func anyClient(ctx context.Context, env *Env, except string, f func(context.Context, *nodeapi.Client) error) (string, error) {
	var errs []error
	for _, n := range env.Cluster.Nodes() {
		if n == except || env.Cluster.State(n) != cluster.Running {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := f(cctx, env.Cluster.Client(n))
		cancel()
		if err == nil {
			return n, nil
		}
		errs = append(errs, fmt.Errorf("via %s: %w", n, err))
	}
	if len(errs) == 0 {
		return "", ErrNoTarget
	}
	return "", errors.Join(errs...)
}

func (f *churn) Inject(ctx context.Context, env *Env) (Effect, error) {
	// Default: a follower, so that the cluster keeps its leader and the
	// fault exercises removal and catch-up rather than election.
	ns, err := targets(ctx, env, f.spec.Target, "followers")
	if err != nil {
		return Effect{}, err
	}
	if len(ns) == 0 {
		return Effect{}, ErrNoTarget
	}
	f.node = ns[env.intn(len(ns))]
	via, err := anyClient(ctx, env, f.node, func(ctx context.Context, c *nodeapi.Client) error {
		return c.RemoveMember(ctx, f.node)
	})
	if err != nil {
		return Effect{Nodes: []string{f.node}}, fmt.Errorf("remove %s: %w", f.node, err)
	}
	f.via = via
	err = errors.Join(env.Cluster.Kill(ctx, f.node), env.Cluster.Wipe(ctx, f.node))
	return Effect{Nodes: []string{f.node}, Detail: fmt.Sprintf("removed %s (via %s), killed and wiped it", f.node, via)}, err
}

func (f *churn) Heal(ctx context.Context, env *Env) error {
	if f.node == "" || env.Cluster.State(f.node) != cluster.Down {
		return nil
	}
	// The node comes back as a new member with an empty log: started with
	// --join, it asks the cluster (through via's API) to add it.
	via := f.via
	if via == "" || env.Cluster.State(via) != cluster.Running {
		via = leaderOrRandom(ctx, env, f.node)
	}
	return env.Cluster.Join(ctx, f.node, via)
}

func init() {
	register("membership-churn", 3, "remove a follower from the cluster, kill and wipe it; heal starts it empty with --join, which asks the cluster to add it",
		func(s Spec) (Fault, error) {
			if err := validTarget(s.Target); err != nil {
				return nil, err
			}
			return &churn{minNodes: 3, spec: s}, nil
		})
}

// ---- leader-transfer storm ----

type storm struct {
	minNodes
	every time.Duration
	stop  context.CancelFunc
	done  chan struct{}
	count int
}

func (f *storm) Name() string { return "leader-transfer-storm" }

func (f *storm) Inject(ctx context.Context, env *Env) (Effect, error) {
	sctx, cancel := context.WithCancel(context.Background())
	f.stop, f.done = cancel, make(chan struct{})
	go func() {
		defer close(f.done)
		t := time.NewTicker(f.every)
		defer t.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-t.C:
			}
			l := cluster.Leader(sctx, env.Cluster)
			if l == "" {
				continue
			}
			to := without(env.Cluster.Nodes(), l)
			target := to[env.intn(len(to))]
			cctx, c := context.WithTimeout(sctx, callTimeout)
			err := env.Cluster.Client(l).TransferLeader(cctx, target)
			c()
			if err == nil {
				f.count++
			}
		}
	}()
	return Effect{Nodes: env.Cluster.Nodes(), Detail: fmt.Sprintf("transfer leadership to a random follower every %v", f.every)}, nil
}

func (f *storm) Heal(context.Context, *Env) error {
	if f.stop != nil {
		f.stop()
		<-f.done
	}
	return nil
}

func init() {
	register("leader-transfer-storm", 2, "transfer leadership to a random follower every `every` (default 300ms)", func(s Spec) (Fault, error) {
		e := s.Every.D()
		if e <= 0 {
			e = 300 * time.Millisecond
		}
		return &storm{minNodes: 2, every: e}, nil
	})
}

// ---- crash failpoints ----

// Failpoints are the crash failpoints of the node's fault API.
var Failpoints = []string{"crash-before-persist-vote", "crash-before-persist", "crash-after-persist", "crash-before-apply", "crash-after-apply", "crash-after-persist-repair", "crash-during-snapshot"}

// DrawnFailpoints are those a failpoint fault that names none draws from:
// the points every node passes often. Not crash-after-persist-repair (a
// follower's log repair, hit only after leaders with diverging logs) nor
// crash-during-snapshot, which may never be hit in a short hold.
var DrawnFailpoints = Failpoints[:5]

type failpoint struct {
	minNodes
	spec  Spec
	name  string
	nodes []string
}

func (f *failpoint) Name() string { return "failpoint" }

func (f *failpoint) Inject(ctx context.Context, env *Env) (Effect, error) {
	name := f.name
	if name == "" {
		name = DrawnFailpoints[env.intn(len(DrawnFailpoints))]
	}
	ns, err := targets(ctx, env, f.spec.Target, "leader")
	if err != nil {
		return Effect{}, err
	}
	f.nodes = ns
	err = onNodes(ctx, ns, func(ctx context.Context, n string) error {
		return env.Cluster.Client(n).ArmFailpoint(ctx, name, f.spec.After)
	})
	return Effect{Nodes: ns, Detail: fmt.Sprintf("arm %s (after %d) on %v; the process exits when hit and is restarted", name, f.spec.After, ns)}, err
}

func (f *failpoint) Heal(ctx context.Context, env *Env) error {
	var errs []error
	for _, n := range f.nodes {
		if env.Cluster.State(n) == cluster.Down {
			errs = append(errs, env.Cluster.Restart(ctx, n))
		}
	}
	// A node that already crashed came back without the failpoint; the
	// call fails harmlessly if it is still starting.
	_ = onNodes(ctx, f.nodes, func(ctx context.Context, n string) error {
		return env.Cluster.Client(n).DisarmFailpoint(ctx)
	})
	return errors.Join(errs...)
}

func init() {
	register("failpoint", 1, "arm a crash failpoint (failpoint: "+strings.Join(Failpoints, "|")+"; default random) on the leader", func(s Spec) (Fault, error) {
		if s.Failpoint != "" && !slices.Contains(Failpoints, s.Failpoint) {
			return nil, fmt.Errorf("%w: failpoint %q", ErrBadSpec, s.Failpoint)
		}
		if err := validTarget(s.Target); err != nil {
			return nil, err
		}
		return &failpoint{minNodes: 1, spec: s, name: s.Failpoint}, nil
	})
}

// ---- compose ----

type compose struct {
	parts  []Fault
	spread time.Duration
	done   int
}

// ComposeOffsets is when each of a compose's parts is injected, from the
// first: all at once without a spread; with one, the first at once and
// each other at its own random moment within the spread, in order (so a
// packet delay can be in place a while before the partition that follows
// it, and its delayed messages be in flight when the cut comes). intn is
// the caller's seeded source.
func ComposeOffsets(parts int, spread time.Duration, intn func(int) int) []time.Duration {
	out := make([]time.Duration, parts)
	if spread <= 0 {
		return out
	}
	for i := 1; i < len(out); i++ {
		out[i] = Uniform(0, spread, intn)
	}
	slices.Sort(out)
	return out
}

func (f *compose) Name() string {
	names := make([]string, len(f.parts))
	for i, p := range f.parts {
		names[i] = p.Name()
	}
	return strings.Join(names, "+")
}

func (f *compose) Applies(c cluster.Cluster) bool {
	for _, p := range f.parts {
		if !p.Applies(c) {
			return false
		}
	}
	return true
}

func (f *compose) Inject(ctx context.Context, env *Env) (Effect, error) {
	var eff Effect
	var details []string
	f.done = 0
	offsets := ComposeOffsets(len(f.parts), f.spread, env.intn)
	start := time.Now()
	for i, p := range f.parts {
		if wait := offsets[i] - time.Since(start); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				eff.Detail = strings.Join(details, "; ")
				return eff, ctx.Err()
			}
		}
		e, err := p.Inject(ctx, env)
		f.done++
		at := ""
		if offsets[i] > 0 {
			at = fmt.Sprintf(" (at +%v)", time.Since(start).Round(time.Millisecond))
		}
		details = append(details, p.Name()+at+": "+e.Detail)
		for _, n := range e.Nodes {
			if !slices.Contains(eff.Nodes, n) {
				eff.Nodes = append(eff.Nodes, n)
			}
		}
		if err != nil {
			eff.Detail = strings.Join(details, "; ")
			return eff, err
		}
	}
	sort.Strings(eff.Nodes)
	eff.Detail = strings.Join(details, "; ")
	return eff, nil
}

// Heal heals in reverse order of injection.
func (f *compose) Heal(ctx context.Context, env *Env) error {
	var errs []error
	for i := f.done - 1; i >= 0; i-- {
		errs = append(errs, f.parts[i].Heal(ctx, env))
	}
	return errors.Join(errs...)
}

func init() {
	register("compose", 1, "inject every fault of `of` together (in order; with spread, each after the first at its own random moment within it) and heal them in reverse", func(s Spec) (Fault, error) {
		if len(s.Of) == 0 {
			return nil, fmt.Errorf("%w: compose needs `of`", ErrBadSpec)
		}
		if s.Spread < 0 {
			return nil, fmt.Errorf("%w: spread %v", ErrBadSpec, s.Spread.D())
		}
		c := &compose{spread: s.Spread.D()}
		for _, o := range s.Of {
			p, err := New(o)
			if err != nil {
				return nil, err
			}
			c.parts = append(c.parts, p)
		}
		return c, nil
	})
}
