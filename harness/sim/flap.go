package sim

import (
	"fmt"
	"slices"
	"time"

	"github.com/raftkv/raftkv/harness/cluster"
	"github.com/raftkv/raftkv/nemesis"
)

// ---- leader-flap ----

// flapPoll is how often leader-flap looks for a new leader: well under a
// heartbeat, so that a leader can be hit before its first heartbeat round.
const flapPoll = time.Millisecond

// flapFault is nemesis's leader-flap on simulated nodes: the leader is hit
// within delay (nemesis.HitDelay) after it is seen leading — crashed,
// isolated, or cut off from all but one follower and crashed a moment
// later (Figure 8's partial replication) — and comes back within down; then the next leader
// (or the same one, if it kept its office through a short isolation) is
// hit the same way: many short terms, with restarts from disks that hold
// logs of different lengths.
type flapFault struct {
	s    *sim
	spec nemesis.Spec
	// gen tells the callbacks of this injection from those of earlier
	// ones; stopped ends this one.
	gen     int
	stopped bool
	// busy: a hit is on its way (from the moment a leader is seen until
	// it is crashed, or its isolation ends).
	busy    bool
	killed  []*snode
	touched []*snode
	hits    int
}

func (f *flapFault) name() string { return "leader-flap" }

func (f *flapFault) inject() (effect, error) {
	s := f.s
	f.gen++
	f.stopped, f.busy, f.killed, f.touched, f.hits = false, false, nil, nil, 0
	delay, down := nemesis.FlapTimes(f.spec)
	gen := f.gen
	var poll func()
	poll = func() {
		if f.gen != gen || f.stopped {
			return
		}
		if l := f.leader(); l != nil && !f.busy {
			f.busy = true
			d := nemesis.HitDelay(delay, s.rng.IntN)
			term := l.term
			s.after(d, func() { f.hit(gen, l, term, d, delay, down) })
		}
		s.after(flapPoll, poll)
	}
	poll()
	return effect{nodes: s.names(), detail: fmt.Sprintf("hit each new leader within %v of taking office (%s), down for up to %v",
		delay, flapActionText(f.spec.Action), down)}, nil
}

func flapActionText(a string) string {
	if a == "" {
		return "crash, isolate or partial at random"
	}
	return a
}

// leader is the running leader of the highest term.
func (f *flapFault) leader() *snode {
	var best *snode
	for _, n := range f.s.nodes {
		if n.running() && n.isLeader() && (best == nil || n.term > best.term) {
			best = n
		}
	}
	return best
}

func (f *flapFault) live(gen int) bool { return f.gen == gen && !f.stopped }

// hit acts on l, seen leading term, d after it was seen.
func (f *flapFault) hit(gen int, l *snode, term uint64, d, delay, down time.Duration) {
	s := f.s
	if !f.live(gen) {
		return
	}
	if !l.running() {
		f.busy = false
		return
	}
	action := nemesis.FlapAction(f.spec, s.rng.IntN)
	back := nemesis.Uniform(down/10, down, s.rng.IntN)
	peers := without(s.nodes, l)
	f.hits++
	s.tracef("leader-flap: %s %s (leader of term %d, seen %v ago; back in %v)", action, l.name, term, d, back)
	switch action {
	case nemesis.FlapIsolate:
		f.isolate(l, peers)
		s.after(back, func() {
			if f.live(gen) {
				f.busy = false
				_ = l.dropRules(f) // a node that is down got none back
			}
		})
	case nemesis.FlapPartial:
		keep := peers[s.rng.IntN(len(peers))]
		f.isolate(l, without(peers, keep))
		s.after(nemesis.HitDelay(delay, s.rng.IntN), func() {
			if f.live(gen) {
				f.crash(gen, l, back)
			}
		})
	default:
		f.crash(gen, l, back)
	}
}

func (f *flapFault) isolate(n *snode, from []*snode) {
	_ = n.setRules(f, nemesis.IsolateRules(namesOf(from))) // n runs: it leads
	if !slices.Contains(f.touched, n) {
		f.touched = append(f.touched, n)
	}
}

// crash kills n and restarts it back later (unless the fault was healed
// meanwhile: heal restarts it then); the next leader may be hit at once.
func (f *flapFault) crash(gen int, n *snode, back time.Duration) {
	f.busy = false
	if n.state == cluster.Down {
		return
	}
	n.crash()
	if !slices.Contains(f.killed, n) {
		f.killed = append(f.killed, n)
	}
	f.s.after(back, func() {
		if f.live(gen) && n.state == cluster.Down && !n.joining {
			n.start()
		}
	})
}

func (f *flapFault) heal() error {
	f.stopped = true
	for _, n := range f.killed {
		if n.state == cluster.Down && !n.joining {
			n.start()
		}
	}
	for _, n := range f.touched {
		_ = n.dropRules(f) // a node that is down got none back
	}
	f.s.tracef("leader-flap: %d leader(s) hit", f.hits)
	return nil
}
