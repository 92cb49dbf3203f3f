package nemesis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/raftkv/raftkv/harness/cluster"
	"github.com/raftkv/raftkv/histories"
)

// Schedule says which faults a run injects and when: quiet for Interval
// (± Jitter), then one fault held for Hold (± Jitter), healed, and again,
// until the run's workload time is over. Or, with Steps, exactly which
// faults and when: a fixed plan, the same for every seed.
type Schedule struct {
	// Interval is the quiet time before each fault (default 2s).
	Interval Duration `yaml:"interval,omitempty"`
	// Hold is how long each fault stays injected (default Interval).
	Hold Duration `yaml:"hold,omitempty"`
	// Jitter adds a uniform random [0, Jitter) to each interval and hold.
	Jitter Duration `yaml:"jitter,omitempty"`
	// Mode is "random" (weighted random choice, the default) or "sequence"
	// (the faults in order, cycling).
	Mode   string `yaml:"mode,omitempty"`
	Faults []Spec `yaml:"faults,omitempty"`
	// Steps is an explicit plan (what `harness shrink` writes): each fault
	// with its time and hold, in time order, one at a time. A schedule
	// with steps has no faults, interval, hold, jitter or mode: nothing is
	// drawn.
	Steps []Step `yaml:"steps,omitempty"`
}

// Specs are the schedule's faults: Faults, or the faults of its Steps.
func (s Schedule) Specs() []Spec {
	if len(s.Steps) == 0 {
		return s.Faults
	}
	out := make([]Spec, len(s.Steps))
	for i, st := range s.Steps {
		out[i] = st.Spec
	}
	return out
}

// Validate checks the schedule's faults and mode, or its steps.
func (s Schedule) Validate() error {
	if len(s.Steps) > 0 {
		return s.validateSteps()
	}
	switch s.Mode {
	case "", "random", "sequence":
	default:
		return fmt.Errorf("%w: mode %q (random|sequence)", ErrBadSpec, s.Mode)
	}
	if s.Interval < 0 || s.Hold < 0 || s.Jitter < 0 {
		return fmt.Errorf("%w: negative duration", ErrBadSpec)
	}
	for _, f := range s.Faults {
		if err := Validate(f); err != nil {
			return err
		}
	}
	return nil
}

// validateSteps checks an explicit plan: nothing to draw from beside it,
// valid faults, times that are not negative, and steps in time order that
// do not overlap (a runner injects one fault at a time; a compose injects
// several together).
func (s Schedule) validateSteps() error {
	if len(s.Faults) > 0 || s.Interval != 0 || s.Hold != 0 || s.Jitter != 0 || s.Mode != "" {
		return fmt.Errorf("%w: a schedule has either steps (a fixed plan) or faults with interval, hold, jitter and mode (a plan drawn from the seed), not both", ErrBadSpec)
	}
	for i, st := range s.Steps {
		if st.At < 0 || st.Hold < 0 {
			return fmt.Errorf("%w: step %d (%s): negative at %v or hold %v", ErrBadSpec, i+1, st.Spec, st.At, st.Hold)
		}
		if st.Spec.Weight != 0 {
			return fmt.Errorf("%w: step %d (%s): weight means nothing in a fixed plan", ErrBadSpec, i+1, st.Spec)
		}
		if err := Validate(st.Spec); err != nil {
			return fmt.Errorf("step %d: %w", i+1, err)
		}
		if i > 0 {
			if prev := s.Steps[i-1]; st.At < prev.At+prev.Hold {
				return fmt.Errorf("%w: step %d (%s) at %v starts before step %d ends at %v: steps run one at a time, in time order (a compose injects faults together)",
					ErrBadSpec, i+1, st.Spec, st.At, i, prev.At+prev.Hold)
			}
		}
	}
	return nil
}

// Step is one planned fault: injected At after the workload starts, healed
// Hold later. In YAML (a schedule's steps) it is the fault's spec mapping
// with "at" and "hold" added: {at: 1.2s, hold: 300ms, fault: kill-one}.
type Step struct {
	At   time.Duration
	Hold time.Duration
	Spec Spec
}

// String is "at 1.2s hold 300ms kill-one".
func (st Step) String() string {
	return fmt.Sprintf("at %v hold %v %s", st.At, st.Hold, st.Spec)
}

// MarshalYAML writes the step as one mapping on one line: at, hold, then
// the spec's fields.
func (st Step) MarshalYAML() (any, error) {
	var n yaml.Node
	if err := n.Encode(st.Spec); err != nil {
		return nil, err
	}
	var head yaml.Node
	if err := head.Encode(map[string]Duration{"at": Duration(st.At), "hold": Duration(st.Hold)}); err != nil {
		return nil, err
	}
	n.Content = append(head.Content, n.Content...)
	n.Style = yaml.FlowStyle
	return &n, nil
}

// UnmarshalYAML reads a mapping with "at", "hold" and a fault spec's keys
// (checked strictly, as in a schedule's faults).
func (st *Step) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a step is a mapping {at: 1s, hold: 500ms, fault: NAME, ...}", n.Line)
	}
	spec := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: n.Line, Column: n.Column}
	var at, hold *Duration
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "at", "hold":
			var d Duration
			if err := d.UnmarshalYAML(v); err != nil {
				return err
			}
			if k.Value == "at" {
				at = &d
			} else {
				hold = &d
			}
		default:
			spec.Content = append(spec.Content, k, v)
		}
	}
	if at == nil || hold == nil {
		return fmt.Errorf("line %d: a step needs both \"at\" and \"hold\"", n.Line)
	}
	var sp Spec
	if err := sp.UnmarshalYAML(spec); err != nil {
		return err
	}
	*st = Step{At: at.D(), Hold: hold.D(), Spec: sp}
	return nil
}

// Plan lays out the schedule over duration, deterministically for a seed.
// Faults for which applies returns false are left out (nil: all apply).
// Every fault is healed by the end of duration. A schedule with Steps
// returns them, whatever the seed, less the steps that do not apply or
// would end after duration.
func (s Schedule) Plan(seed int64, duration time.Duration, applies func(Spec) bool) []Step {
	if len(s.Steps) > 0 {
		var steps []Step
		for _, st := range s.Steps {
			if st.At+st.Hold <= duration && (applies == nil || applies(st.Spec)) {
				steps = append(steps, st)
			}
		}
		return steps
	}
	var pool []Spec
	for _, f := range s.Faults {
		if applies == nil || applies(f) {
			pool = append(pool, f)
		}
	}
	if len(pool) == 0 {
		return nil
	}
	interval, hold, jitter := s.Interval.D(), s.Hold.D(), s.Jitter.D()
	if interval <= 0 {
		interval = 2 * time.Second
	}
	if hold <= 0 {
		hold = interval
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x7363686564756c65))
	jit := func() time.Duration {
		if jitter <= 0 {
			return 0
		}
		return time.Duration(rng.Int64N(int64(jitter)))
	}
	total := 0
	for _, f := range pool {
		total += max(f.Weight, 1)
	}
	var steps []Step
	t := time.Duration(0)
	for i := 0; ; i++ {
		t += interval + jit()
		h := hold + jit()
		if t+h > duration {
			return steps
		}
		var f Spec
		if s.Mode == "sequence" {
			f = pool[i%len(pool)]
		} else {
			r := rng.IntN(total)
			for _, c := range pool {
				if r -= max(c.Weight, 1); r < 0 {
					f = c
					break
				}
			}
		}
		steps = append(steps, Step{At: t, Hold: h, Spec: f})
		t += h
	}
}

// Recorder receives history events; histories.Recorder implements it.
type Recorder interface {
	Record(e histories.Event) error
}

// NemesisProcess is the process id of nemesis events in a history.
const NemesisProcess = -1

// Runner executes a plan and records each fault window.
type Runner struct {
	Env *Env
	Rec Recorder
	// Now is the history clock: nanoseconds since the run started.
	Now func() int64
	// Origin is when the workload started; Step.At counts from it.
	Origin time.Time
}

// Applies reports whether spec's fault applies to the runner's cluster.
func Applies(c cluster.Cluster, s Spec) bool {
	f, err := New(s)
	return err == nil && f.Applies(c)
}

// Run executes the plan until it ends or ctx is done. A fault injected when
// ctx ends is still healed. It returns the number of faults injected.
func (r *Runner) Run(ctx context.Context, plan []Step) int {
	injected := 0
	for _, st := range plan {
		if !sleepUntil(ctx, r.Origin.Add(st.At)) {
			return injected
		}
		f, err := New(st.Spec)
		if err != nil { // validated before; cannot happen for a planned step
			r.Env.Log.Error("build fault", "fault", st.Spec.Fault, "err", err)
			continue
		}
		r.Once(ctx, f, st.Spec.String(), st.Hold)
		injected++
	}
	return injected
}

// Once injects f, holds it for hold (or until ctx ends), heals it, and
// records the window.
func (r *Runner) Once(ctx context.Context, f Fault, desc string, hold time.Duration) {
	ictx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	eff, err := f.Inject(ictx, r.Env)
	cancel()
	ev := histories.Event{Kind: histories.KindNemesis, Type: histories.Start, Time: r.Now(), Process: NemesisProcess,
		F: f.Name(), Nodes: eff.Nodes, Detail: desc + ": " + eff.Detail}
	if err != nil {
		ev.Error = err.Error()
		r.Env.Log.Warn("inject", "fault", f.Name(), "err", err)
	}
	r.record(ev)
	sleepUntil(ctx, time.Now().Add(hold))
	hctx, hcancel := context.WithTimeout(context.Background(), 30*time.Second)
	err = f.Heal(hctx, r.Env)
	hcancel()
	ev = histories.Event{Kind: histories.KindNemesis, Type: histories.Stop, Time: r.Now(), Process: NemesisProcess,
		F: f.Name(), Nodes: eff.Nodes, Detail: "healed"}
	if err != nil {
		ev.Error = err.Error()
		r.Env.Log.Warn("heal", "fault", f.Name(), "err", err)
	}
	r.record(ev)
}

// HealAll heals everything and records it as a "heal-all" window.
func (r *Runner) HealAll(ctx context.Context) error {
	start := histories.Event{Kind: histories.KindNemesis, Type: histories.Start, Time: r.Now(), Process: NemesisProcess,
		F: "heal-all", Nodes: r.Env.Cluster.Nodes(), Detail: "resume, restart, clear network/clock/failpoints on every node"}
	r.record(start)
	err := HealAll(ctx, r.Env)
	stop := histories.Event{Kind: histories.KindNemesis, Type: histories.Stop, Time: r.Now(), Process: NemesisProcess,
		F: "heal-all", Nodes: r.Env.Cluster.Nodes(), Detail: "healed"}
	if err != nil {
		stop.Error = err.Error()
	}
	r.record(stop)
	return err
}

func (r *Runner) record(e histories.Event) {
	if err := r.Rec.Record(e); err != nil {
		r.Env.Log.Error("record nemesis event", "err", err)
	}
}

// sleepUntil waits until t; false if ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}
