package nemesis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/raftkv/raftkv/harness/cluster"
	"github.com/raftkv/raftkv/histories"
)

// Schedule says which faults a run injects and when: quiet for Interval
// (± Jitter), then one fault held for Hold (± Jitter), healed, and again,
// until the run's workload time is over.
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
}

// Validate checks the schedule's faults and mode.
func (s Schedule) Validate() error {
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

// Step is one planned fault: injected At after the workload starts, healed
// Hold later.
type Step struct {
	At   time.Duration
	Hold time.Duration
	Spec Spec
}

// Plan lays out the schedule over duration, deterministically for a seed.
// Faults for which applies returns false are left out (nil: all apply).
// Every fault is healed by the end of duration.
func (s Schedule) Plan(seed int64, duration time.Duration, applies func(Spec) bool) []Step {
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
