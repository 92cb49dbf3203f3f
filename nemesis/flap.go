package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/raftkv/raftkv/harness/cluster"
	"github.com/raftkv/raftkv/harness/nodeapi"
)

// ---- leader flap ----

// Flap actions: what leader-flap does to a leader soon after it took
// office.
const (
	// FlapCrash kills the leader and restarts it a little later.
	FlapCrash = "crash"
	// FlapIsolate cuts the leader off from every peer for a while.
	FlapIsolate = "isolate"
	// FlapPartial cuts the leader off from every peer but one follower, so
	// that what it appends reaches that follower only, then kills it and
	// restarts it a little later (Raft paper, Figure 8).
	FlapPartial = "partial"
)

// FlapActions are leader-flap's actions.
var FlapActions = []string{FlapCrash, FlapIsolate, FlapPartial}

// FlapDefaults are leader-flap's defaults: a leader is hit within delay
// (see HitDelay) after it is seen taking office and stays crashed or
// isolated for [down/10, down).
const (
	FlapDefaultDelay = 100 * time.Millisecond
	FlapDefaultDown  = 300 * time.Millisecond
)

// FlapTimes returns a spec's hit delay and down time, with the defaults.
func FlapTimes(s Spec) (delay, down time.Duration) {
	delay, down = s.Delay.D(), s.Period.D()
	if delay <= 0 {
		delay = FlapDefaultDelay
	}
	if down <= 0 {
		down = FlapDefaultDown
	}
	return delay, down
}

// FlapAction picks the action for one hit: the spec's, or a random one.
func FlapAction(s Spec, intn func(int) int) string {
	if s.Action != "" {
		return s.Action
	}
	return FlapActions[intn(len(FlapActions))]
}

// HitDelay draws how long after a leader is seen taking office it is hit:
// log-uniform over the three decades below delay (down to 1µs), so that a
// hit lands as often within a message's flight of the election (before
// the leader's first append or heartbeat reaches anyone, when what it
// persisted exists on its own disk only) as within its first round trips
// or a few heartbeats into the term. A uniform draw over [0, delay) puts
// almost every hit past the first messages, and the windows right after an
// election, where a term's entries reach some nodes and not others, are
// then the least explored.
func HitDelay(delay time.Duration, intn func(int) int) time.Duration {
	lo := max(delay/1000, time.Microsecond)
	if delay <= lo {
		return delay
	}
	// The exponent is drawn in fixed steps through intn, the caller's
	// seeded source, so a seed replays its hits.
	const steps = 1 << 16
	f := math.Exp(math.Log(float64(lo)) + (math.Log(float64(delay))-math.Log(float64(lo)))*float64(intn(steps))/steps)
	return time.Duration(f).Truncate(time.Microsecond)
}

// Uniform draws a duration uniform in [lo, hi) at µs resolution.
func Uniform(lo, hi time.Duration, intn func(int) int) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(intn(int((hi-lo)/time.Microsecond)+1))*time.Microsecond
}

// IsolateRules are the network rules that cut a node off from peers.
func IsolateRules(peers []string) []nodeapi.NetRule {
	rs := make([]nodeapi.NetRule, 0, len(peers))
	for _, p := range peers {
		rs = append(rs, nodeapi.NetRule{Peer: p, Direction: "both", Drop: true})
	}
	return rs
}

// flap is leader-flap on a real cluster: it looks for the leader every
// flapPoll and hits it; after a crash the next leader is hit the same way,
// after an isolation the leader again (the same one, if it kept its office).
type flap struct {
	minNodes
	spec Spec

	stop context.CancelFunc
	done chan struct{}
	wg   sync.WaitGroup

	mu      sync.Mutex
	killed  map[string]bool
	touched map[string]bool
	hits    int
}

// flapPoll is how often the process backend looks for a new leader.
const flapPoll = 10 * time.Millisecond

func (f *flap) Name() string { return "leader-flap" }

func (f *flap) Inject(ctx context.Context, env *Env) (Effect, error) {
	delay, down := FlapTimes(f.spec)
	f.killed, f.touched = map[string]bool{}, map[string]bool{}
	sctx, cancel := context.WithCancel(context.Background())
	f.stop, f.done = cancel, make(chan struct{})
	go func() {
		defer close(f.done)
		for sleepUntil(sctx, time.Now().Add(flapPoll)) {
			// The leader most running nodes name, if it runs itself (a
			// killed leader is named until the others time out).
			l := cluster.Leader(sctx, env.Cluster)
			if l == "" || env.Cluster.State(l) != cluster.Running {
				continue
			}
			f.hit(sctx, env, l, delay, down)
		}
	}()
	return Effect{Nodes: env.Cluster.Nodes(), Detail: fmt.Sprintf("hit each new leader within %v of taking office (%s), down for up to %v",
		delay, actionText(f.spec.Action), down)}, nil
}

func actionText(a string) string {
	if a == "" {
		return "crash, isolate or partial at random"
	}
	return a
}

// hit waits HitDelay(delay) and acts on leader l; the restarts of crashed
// leaders run on their own goroutines so that the next leader can be hit
// meanwhile.
func (f *flap) hit(ctx context.Context, env *Env, l string, delay, down time.Duration) {
	if !sleepUntil(ctx, time.Now().Add(HitDelay(delay, env.intn))) {
		return
	}
	c := env.Cluster
	peers := without(c.Nodes(), l)
	action := FlapAction(f.spec, env.intn)
	f.mu.Lock()
	f.hits++
	f.mu.Unlock()
	back := Uniform(down/10, down, env.intn)
	switch action {
	case FlapIsolate:
		f.setNetwork(ctx, env, l, IsolateRules(peers))
		sleepUntil(ctx, time.Now().Add(back))
		f.clearNetwork(env, l)
	case FlapPartial:
		keep := peers[env.intn(len(peers))]
		f.setNetwork(ctx, env, l, IsolateRules(without(peers, keep)))
		if !sleepUntil(ctx, time.Now().Add(HitDelay(delay, env.intn))) {
			f.clearNetwork(env, l)
			return
		}
		f.kill(env, l)
		f.later(back, func() { f.restart(env, l) })
	default:
		f.kill(env, l)
		f.later(back, func() { f.restart(env, l) })
	}
}

func (f *flap) later(d time.Duration, fn func()) {
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		time.Sleep(d)
		fn()
	}()
}

func (f *flap) setNetwork(ctx context.Context, env *Env, n string, rules []nodeapi.NetRule) {
	cctx, c := context.WithTimeout(ctx, callTimeout)
	defer c()
	if env.setNetwork(cctx, f, n, rules) == nil {
		f.mu.Lock()
		f.touched[n] = true
		f.mu.Unlock()
	}
}

func (f *flap) clearNetwork(env *Env, n string) {
	cctx, c := context.WithTimeout(context.Background(), callTimeout)
	defer c()
	_ = env.clearNetwork(cctx, f, n)
}

func (f *flap) kill(env *Env, n string) {
	cctx, c := context.WithTimeout(context.Background(), callTimeout)
	defer c()
	if env.Cluster.State(n) == cluster.Running && env.Cluster.Kill(cctx, n) == nil {
		f.mu.Lock()
		f.killed[n] = true
		f.mu.Unlock()
	}
}

func (f *flap) restart(env *Env, n string) {
	cctx, c := context.WithTimeout(context.Background(), 30*time.Second)
	defer c()
	if env.Cluster.State(n) == cluster.Down {
		_ = env.Cluster.Restart(cctx, n)
	}
}

// Heal stops the watcher, lets pending recoveries finish, then restarts
// every node it killed that is still down and clears the network rules it
// set.
func (f *flap) Heal(ctx context.Context, env *Env) error {
	if f.stop == nil {
		return nil
	}
	f.stop()
	<-f.done
	f.wg.Wait()
	f.mu.Lock()
	killed, touched := keys(f.killed), keys(f.touched)
	f.mu.Unlock()
	var errs []error
	for _, n := range killed {
		if env.Cluster.State(n) == cluster.Down {
			errs = append(errs, env.Cluster.Restart(ctx, n))
		}
	}
	errs = append(errs, onNodes(ctx, touched, func(ctx context.Context, n string) error {
		if env.Cluster.State(n) != cluster.Running {
			env.net.Remove(f, n)
			return nil
		}
		return env.clearNetwork(ctx, f, n)
	}))
	return errors.Join(errs...)
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// ValidFlap checks leader-flap's parameters.
func ValidFlap(s Spec) error {
	if s.Action != "" && !slices.Contains(FlapActions, s.Action) {
		return fmt.Errorf("%w: leader-flap action %q (%v)", ErrBadSpec, s.Action, FlapActions)
	}
	if s.Delay < 0 || s.Period < 0 {
		return fmt.Errorf("%w: negative leader-flap delay or period", ErrBadSpec)
	}
	return nil
}

func init() {
	register("leader-flap", 3, "hit every new leader within `delay` of taking office (default 100ms): crash it, isolate it, or (partial) cut it off from all but one follower and crash it `delay` later (action; default random each time); it comes back within `period` (default 300ms): many short terms (Figure 8)",
		func(s Spec) (Fault, error) {
			return &flap{minNodes: 3, spec: s}, ValidFlap(s)
		})
}
