package sim

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/raftkv/raftkv/harness/cluster"
	"github.com/raftkv/raftkv/harness/nodeapi"
	"github.com/raftkv/raftkv/histories"
	"github.com/raftkv/raftkv/nemesis"
	"github.com/raftkv/raftkv/raft/node"
)

// ErrUnsupportedFault is the error recorded for a fault the simulation
// does not model.
var ErrUnsupportedFault = errors.New("sim: fault not simulated")

// The nemesis vocabulary on simulated nodes. Each fault does what the
// nemesis package's does through the fault API, with the same names,
// parameters, defaults and targets, and the history records it the same
// way; choices (targets, offsets) are drawn from the run's one source.

type effect struct {
	nodes  []string
	detail string
}

type simFault interface {
	name() string
	inject() (effect, error)
	heal() error
}

// nemesisSim runs the plan's faults and records their windows.
type nemesisSim struct {
	s        *sim
	active   int
	injected int
}

func (m *nemesisSim) once(spec nemesis.Spec, hold time.Duration) {
	s := m.s
	m.active++
	f, err := m.build(spec)
	var eff effect
	if err == nil {
		eff, err = f.inject()
	}
	name := spec.Fault
	if f != nil {
		name = f.name()
	}
	ev := histories.Event{Kind: histories.KindNemesis, Type: histories.Start, Process: nemesis.NemesisProcess,
		F: name, Nodes: eff.nodes, Detail: spec.String() + ": " + eff.detail}
	if err != nil {
		ev.Error = err.Error()
	}
	s.record(ev)
	s.tracef("fault %s: %s %s", name, ev.Detail, ev.Error)
	m.injected++
	s.after(hold, func() {
		var err error
		if f != nil {
			err = f.heal()
		}
		ev := histories.Event{Kind: histories.KindNemesis, Type: histories.Stop, Process: nemesis.NemesisProcess,
			F: name, Nodes: eff.nodes, Detail: "healed"}
		if err != nil {
			ev.Error = err.Error()
		}
		s.record(ev)
		s.tracef("fault %s healed %s", name, ev.Error)
		m.active--
	})
}

// healAll is nemesis.HealAll, recorded as a "heal-all" window.
func (m *nemesisSim) healAll() {
	s := m.s
	s.record(histories.Event{Kind: histories.KindNemesis, Type: histories.Start, Process: nemesis.NemesisProcess,
		F: "heal-all", Nodes: s.names(), Detail: "resume, restart, clear network/clock/failpoints on every node"})
	for _, n := range s.nodes {
		switch n.state {
		case cluster.Paused:
			n.resume()
		case cluster.Down:
			if n.joining {
				s.join(n)
			} else {
				n.start()
			}
		}
	}
	s.book.Reset()
	for _, n := range s.nodes {
		if n.running() {
			n.rules = nil
			n.clock.Reset()
			n.fpName, n.fpAfter = "", 0
		}
	}
	s.record(histories.Event{Kind: histories.KindNemesis, Type: histories.Stop, Process: nemesis.NemesisProcess,
		F: "heal-all", Nodes: s.names(), Detail: "healed"})
}

// ---- targets ----

func (s *sim) shuffled() []*snode {
	out := slices.Clone(s.nodes)
	s.rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func (s *sim) leaderOrRandom(exclude ...*snode) *snode {
	if l := s.leader(); l != nil && !slices.Contains(exclude, l) {
		return l
	}
	var cands []*snode
	for _, n := range s.nodes {
		if !slices.Contains(exclude, n) {
			cands = append(cands, n)
		}
	}
	if len(cands) == 0 {
		return nil
	}
	return cands[s.rng.IntN(len(cands))]
}

func (s *sim) targets(target, def string) ([]*snode, error) {
	if target == "" {
		target = def
	}
	n := len(s.nodes)
	switch target {
	case "one":
		return []*snode{s.nodes[s.rng.IntN(n)]}, nil
	case "leader":
		return []*snode{s.leaderOrRandom()}, nil
	case "minority":
		return s.shuffled()[:(n-1)/2], nil
	case "majority":
		return s.shuffled()[:n/2+1], nil
	case "all":
		return slices.Clone(s.nodes), nil
	case "followers":
		l := s.leaderOrRandom()
		return slices.DeleteFunc(slices.Clone(s.nodes), func(x *snode) bool { return x == l }), nil
	}
	if x, ok := s.byName[target]; ok {
		return []*snode{x}, nil
	}
	return nil, fmt.Errorf("%w: target %q", nemesis.ErrBadSpec, target)
}

func namesOf(ns []*snode) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.name
	}
	return out
}

func without(ns []*snode, x *snode) []*snode {
	return slices.DeleteFunc(slices.Clone(ns), func(n *snode) bool { return n == x })
}

// setRules gives n owner's network rules alongside the other faults'
// (sim.book); a node that is not running gets them at the next change.
func (n *snode) setRules(owner any, rules []nodeapi.NetRule) error {
	all := n.s.book.Set(owner, n.name, rules)
	return onNode(n, func() { n.rules = all })
}

// dropRules takes owner's network rules off n, leaving the other faults'.
func (n *snode) dropRules(owner any) error {
	rest := n.s.book.Remove(owner, n.name)
	return onNode(n, func() { n.rules = rest })
}

// onNode runs a fault-API call on a node; like the HTTP call, it fails on a
// node that is down or stopped.
func onNode(n *snode, f func()) error {
	if n.state != cluster.Running {
		return fmt.Errorf("%s: %w", n.name, cluster.ErrNotRunning)
	}
	f()
	return nil
}

// ---- build ----

func (m *nemesisSim) build(sp nemesis.Spec) (simFault, error) {
	if err := nemesis.Validate(sp); err != nil {
		return nil, err
	}
	s := m.s
	switch {
	case strings.HasPrefix(sp.Fault, "partition-"):
		return &partitionFault{s: s, fault: sp.Fault}, nil
	case strings.HasPrefix(sp.Fault, "kill-"), strings.HasPrefix(sp.Fault, "pause-"):
		kind, target, _ := strings.Cut(sp.Fault, "-")
		if sp.Target != "" {
			target = sp.Target
		}
		return &procFault{s: s, fault: sp.Fault, target: target, pause: kind == "pause", spread: sp.Spread.D()}, nil
	case strings.HasPrefix(sp.Fault, "clock-"):
		return &clockFault{s: s, spec: sp}, nil
	case sp.Fault == "packet-delay" || sp.Fault == "packet-loss":
		return &packetFault{s: s, fault: sp.Fault, target: sp.Target, rule: nemesis.PacketRule(sp)}, nil
	case sp.Fault == "failpoint":
		return &failpointFault{s: s, spec: sp}, nil
	case sp.Fault == "leader-transfer-storm":
		e := sp.Every.D()
		if e <= 0 {
			e = 300 * time.Millisecond
		}
		return &stormFault{s: s, every: e}, nil
	case sp.Fault == "membership-churn":
		return &churnFault{s: s, spec: sp}, nil
	case sp.Fault == "leader-flap":
		return &flapFault{s: s, spec: sp}, nil
	case sp.Fault == "compose":
		c := &composeFault{s: m.s, spread: sp.Spread.D()}
		for _, o := range sp.Of {
			p, err := m.build(o)
			if err != nil {
				return nil, err
			}
			c.parts = append(c.parts, p)
		}
		return c, nil
	}
	return &unsupported{fault: sp.Fault}, nil
}

type unsupported struct{ fault string }

func (u *unsupported) name() string { return u.fault }
func (u *unsupported) inject() (effect, error) {
	return effect{detail: "not simulated"}, fmt.Errorf("%w: %s", ErrUnsupportedFault, u.fault)
}
func (u *unsupported) heal() error { return nil }

// ---- partitions ----

type cut struct{ from, to *snode }

type partitionFault struct {
	s     *sim
	fault string
}

func (p *partitionFault) name() string { return p.fault }

func split(a, b []*snode) []cut {
	var cs []cut
	for _, x := range a {
		for _, y := range b {
			cs = append(cs, cut{x, y}, cut{y, x})
		}
	}
	return cs
}

func describeSplit(a, b []*snode) string {
	x, y := namesOf(a), namesOf(b)
	sort.Strings(x)
	sort.Strings(y)
	return fmt.Sprintf("%v | %v", x, y)
}

func (p *partitionFault) plan() (cuts []cut, detail string, focus []*snode) {
	s := p.s
	ns := s.nodes
	switch p.fault {
	case "partition-halves":
		a, b := ns[:len(ns)/2], ns[len(ns)/2:]
		return split(a, b), describeSplit(a, b), a
	case "partition-random-halves":
		sh := s.shuffled()
		a, b := sh[:len(sh)/2], sh[len(sh)/2:]
		return split(a, b), describeSplit(a, b), a
	case "partition-isolate-one":
		x := ns[s.rng.IntN(len(ns))]
		return split([]*snode{x}, without(ns, x)), describeSplit([]*snode{x}, without(ns, x)), []*snode{x}
	case "partition-isolate-leader":
		x := s.leaderOrRandom()
		return split([]*snode{x}, without(ns, x)), "leader " + describeSplit([]*snode{x}, without(ns, x)), []*snode{x}
	case "partition-majorities-ring":
		ring := s.shuffled()
		n := len(ring)
		reach := (n/2 + 1) / 2
		var cs []cut
		for i := range n {
			for j := range n {
				d := min((i-j+n)%n, (j-i+n)%n)
				if i != j && d > reach {
					cs = append(cs, cut{ring[i], ring[j]})
				}
			}
		}
		return cs, fmt.Sprintf("ring %v, each node sees %d neighbour(s) per side", namesOf(ring), reach), nil
	case "partition-bridge":
		sh := s.shuffled()
		bridge, rest := sh[0], sh[1:]
		a, b := rest[:len(rest)/2], rest[len(rest)/2:]
		return split(a, b), fmt.Sprintf("%v <- %s -> %v", namesOf(a), bridge.name, namesOf(b)), []*snode{bridge}
	case "partition-one-way":
		x := s.leaderOrRandom()
		var cs []cut
		for _, y := range without(ns, x) {
			cs = append(cs, cut{x, y})
		}
		return cs, fmt.Sprintf("%s -/-> others", x.name), []*snode{x}
	}
	return nil, "unknown partition", nil
}

func (p *partitionFault) inject() (effect, error) {
	cuts, detail, focus := p.plan()
	rules := map[*snode][]nodeapi.NetRule{}
	set := map[cut]bool{}
	for _, c := range cuts {
		set[c] = true
	}
	add := func(n *snode, r nodeapi.NetRule) {
		for _, x := range rules[n] {
			if x.Peer == r.Peer && x.Direction == r.Direction {
				return
			}
		}
		rules[n] = append(rules[n], r)
	}
	for _, c := range cuts {
		if set[cut{c.to, c.from}] {
			add(c.from, nodeapi.NetRule{Peer: c.to.name, Direction: "both", Drop: true})
			continue
		}
		add(c.from, nodeapi.NetRule{Peer: c.to.name, Direction: "out", Drop: true})
		add(c.to, nodeapi.NetRule{Peer: c.from.name, Direction: "in", Drop: true})
	}
	var touched []*snode
	var errs []error
	for _, n := range p.s.nodes { // node order: deterministic
		if rs, ok := rules[n]; ok {
			touched = append(touched, n)
			errs = append(errs, n.setRules(p, rs))
		}
	}
	if len(focus) == 0 {
		focus = touched
	}
	return effect{nodes: namesOf(focus), detail: detail}, errors.Join(errs...)
}

func (p *partitionFault) heal() error {
	var errs []error
	for _, n := range p.s.nodes {
		errs = append(errs, n.dropRules(p))
	}
	return errors.Join(errs...)
}

// ---- kill / pause ----

type procFault struct {
	s      *sim
	fault  string
	target string
	pause  bool
	spread time.Duration
	nodes  []*snode
	// healed cancels the hits of a spread that are still to come.
	healed bool
}

func (f *procFault) name() string { return f.fault }

func (f *procFault) inject() (effect, error) {
	ns, err := f.s.targets(f.target, "one")
	if err != nil {
		return effect{}, err
	}
	f.nodes = ns
	f.healed = false
	verb := "kill"
	if f.pause {
		verb = "pause (SIGSTOP)"
	}
	hit := func(n *snode) {
		switch {
		case f.healed:
		case f.pause:
			n.pause()
		default:
			n.crash()
		}
	}
	// With a spread, each node is hit at its own moment within it (drawn
	// as the process backend draws them), so that the nodes of a crash are
	// caught at different points of their work, each losing what it had
	// not synced.
	offsets := nemesis.SpreadOffsets(len(ns), f.spread, f.s.rng.IntN)
	var errs []error
	for i, n := range ns {
		switch {
		case f.pause && n.state != cluster.Running:
			errs = append(errs, fmt.Errorf("%s: %w", n.name, cluster.ErrNotRunning))
		case offsets[i] > 0:
			f.s.after(offsets[i], func() { hit(n) })
		default:
			hit(n)
		}
	}
	detail := fmt.Sprintf("%s %v", verb, namesOf(ns))
	if f.spread > 0 {
		detail += fmt.Sprintf(" at %v", offsets)
	}
	return effect{nodes: namesOf(ns), detail: detail}, errors.Join(errs...)
}

func (f *procFault) heal() error {
	f.healed = true
	for _, n := range f.nodes {
		if f.pause {
			n.resume()
		} else if n.state == cluster.Down {
			n.start()
		}
	}
	return nil
}

// ---- clock ----

type clockFault struct {
	s     *sim
	spec  nemesis.Spec
	nodes []*snode
}

func (f *clockFault) name() string { return f.spec.Fault }

// clock returns the fault API's clock for one node, with the nemesis's
// defaults (drawn from the simulation's seeded source).
func (f *clockFault) clock() nodeapi.Clock {
	return nemesis.ClockFor(f.spec, f.s.rng.IntN)
}

func (f *clockFault) inject() (effect, error) {
	ns, err := f.s.targets(f.spec.Target, "one")
	if err != nil {
		return effect{}, err
	}
	f.nodes = ns
	var desc []string
	var errs []error
	for _, n := range ns {
		k := f.clock()
		desc = append(desc, fmt.Sprintf("%s: offset=%dms rate=%g strobe=%dms/%dms", n.name, k.OffsetMS, k.Rate, k.StrobeDeltaMS, k.StrobePeriodMS))
		errs = append(errs, onNode(n, func() {
			must(n.clock.SetState(node.ClockState{
				Offset: time.Duration(k.OffsetMS) * time.Millisecond, Rate: k.Rate,
				StrobeDelta: time.Duration(k.StrobeDeltaMS) * time.Millisecond, StrobePeriod: time.Duration(k.StrobePeriodMS) * time.Millisecond,
			}))
		}))
	}
	return effect{nodes: namesOf(ns), detail: strings.Join(desc, "; ")}, errors.Join(errs...)
}

func (f *clockFault) heal() error {
	var errs []error
	for _, n := range f.nodes {
		errs = append(errs, onNode(n, func() { n.clock.Reset() }))
	}
	return errors.Join(errs...)
}

// ---- packet delay / loss ----

type packetFault struct {
	s      *sim
	fault  string
	target string
	rule   nodeapi.NetRule
	nodes  []*snode
}

func (f *packetFault) name() string { return f.fault }

func (f *packetFault) inject() (effect, error) {
	ns, err := f.s.targets(f.target, "all")
	if err != nil {
		return effect{}, err
	}
	f.nodes = ns
	var errs []error
	for _, n := range ns {
		var rules []nodeapi.NetRule
		for _, p := range without(f.s.nodes, n) {
			r := f.rule
			r.Peer = p.name
			rules = append(rules, r)
		}
		errs = append(errs, n.setRules(f, rules))
	}
	return effect{nodes: namesOf(ns), detail: nemesis.PacketDetail(f.rule, namesOf(ns))}, errors.Join(errs...)
}

func (f *packetFault) heal() error {
	var errs []error
	for _, n := range f.nodes {
		errs = append(errs, n.dropRules(f))
	}
	return errors.Join(errs...)
}

// ---- crash failpoints ----

type failpointFault struct {
	s     *sim
	spec  nemesis.Spec
	nodes []*snode
}

func (f *failpointFault) name() string { return "failpoint" }

func (f *failpointFault) inject() (effect, error) {
	name := f.spec.Failpoint
	if name == "" {
		name = nemesis.DrawnFailpoints[f.s.rng.IntN(len(nemesis.DrawnFailpoints))]
	}
	ns, err := f.s.targets(f.spec.Target, "leader")
	if err != nil {
		return effect{}, err
	}
	f.nodes = ns
	var errs []error
	for _, n := range ns {
		errs = append(errs, onNode(n, func() { n.fpName, n.fpAfter = name, f.spec.After }))
	}
	return effect{nodes: namesOf(ns), detail: fmt.Sprintf("arm %s (after %d) on %v; the process exits when hit and is restarted", name, f.spec.After, namesOf(ns))},
		errors.Join(errs...)
}

func (f *failpointFault) heal() error {
	for _, n := range f.nodes {
		if n.state == cluster.Down {
			n.start()
		}
		if n.running() {
			n.fpName, n.fpAfter = "", 0
		}
	}
	return nil
}

// ---- leader-transfer storm ----

type stormFault struct {
	s       *sim
	every   time.Duration
	stopped bool
}

func (f *stormFault) name() string { return "leader-transfer-storm" }

func (f *stormFault) inject() (effect, error) {
	f.stopped = false
	var loop func()
	loop = func() {
		if f.stopped {
			return
		}
		s := f.s
		if l := s.leader(); l != nil && l.running() {
			to := without(s.nodes, l)
			target := to[s.rng.IntN(len(to))]
			l.drv.Transfer(&node.TransferRequest{To: target.id})
			l.kick()
		}
		s.after(f.every, loop)
	}
	f.s.after(f.every, loop)
	return effect{nodes: f.s.names(), detail: fmt.Sprintf("transfer leadership to a random follower every %v", f.every)}, nil
}

func (f *stormFault) heal() error {
	f.stopped = true
	return nil
}

// ---- compose ----

type composeFault struct {
	s      *sim
	parts  []simFault
	spread time.Duration
	done   int
	// healed cancels the parts still waiting for their moment; err is
	// the first error of a part injected after the window was recorded.
	healed bool
	err    error
}

func (f *composeFault) name() string {
	names := make([]string, len(f.parts))
	for i, p := range f.parts {
		names[i] = p.name()
	}
	return strings.Join(names, "+")
}

// inject injects the parts whose moment is now (all of them without a
// spread, nemesis.ComposeOffsets) and schedules the others; the window's
// nodes and detail are those of the parts injected now, and the detail
// says when the others come (the trace records them).
func (f *composeFault) inject() (effect, error) {
	var eff effect
	var details []string
	f.done = 0
	offsets := nemesis.ComposeOffsets(len(f.parts), f.spread, f.s.rng.IntN)
	for i, p := range f.parts {
		if offsets[i] > 0 {
			for j := i; j < len(f.parts); j++ {
				details = append(details, fmt.Sprintf("%s at +%v", f.parts[j].name(), offsets[j]))
			}
			f.later(i, offsets)
			break
		}
		e, err := p.inject()
		f.done++
		details = append(details, p.name()+": "+e.detail)
		for _, n := range e.nodes {
			if !slices.Contains(eff.nodes, n) {
				eff.nodes = append(eff.nodes, n)
			}
		}
		if err != nil {
			eff.detail = strings.Join(details, "; ")
			return eff, err
		}
	}
	sort.Strings(eff.nodes)
	eff.detail = strings.Join(details, "; ")
	return eff, nil
}

// later injects part i at its offset, then the next, unless the compose
// was healed (or a part failed) before.
func (f *composeFault) later(i int, offsets []time.Duration) {
	f.s.after(offsets[i]-offsets[i-1], func() {
		if f.healed || f.err != nil {
			return
		}
		p := f.parts[i]
		e, err := p.inject()
		f.done++
		f.s.tracef("fault %s: part %d (%s) injected at +%v: %s %v", f.name(), i, p.name(), offsets[i], e.detail, err)
		if err != nil {
			f.err = fmt.Errorf("%s at +%v: %w", p.name(), offsets[i], err)
			return
		}
		if i+1 < len(f.parts) {
			f.later(i+1, offsets)
		}
	})
}

func (f *composeFault) heal() error {
	f.healed = true
	errs := []error{f.err}
	for i := f.done - 1; i >= 0; i-- {
		errs = append(errs, f.parts[i].heal())
	}
	return errors.Join(errs...)
}
