package sim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/raftkv/raftkv/harness/cluster"
	"github.com/raftkv/raftkv/harness/nodeapi"
	"github.com/raftkv/raftkv/kvservice"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/rafttest"
)

// NetParams is the baseline behaviour of the simulated raft network and
// disks, before any fault. Each seed draws its own (drawNet) unless
// Config.Net fixes them (a scenario's `network:`, all fields given).
type NetParams struct {
	// Latency is the minimum one-way delay of a raft message; Jitter the
	// mean of an exponential extra delay (which reorders messages).
	Latency time.Duration `yaml:"latency"`
	Jitter  time.Duration `yaml:"jitter"`
	// SpikeRate is the probability of an extra delay uniform in [0, Spike)
	// (a stalled connection): old messages then arrive after newer ones.
	SpikeRate float64       `yaml:"spike_rate"`
	Spike     time.Duration `yaml:"spike"`
	// Loss and Dup are the probabilities that a message is lost or
	// delivered twice.
	Loss float64 `yaml:"loss"`
	Dup  float64 `yaml:"dup"`
	// API is the one-way delay of an API hop (client to node, node to
	// leader when forwarding). Partitions do not cut the API, as with
	// the process backend, whose network faults act on the raft transport.
	API time.Duration `yaml:"api"`
	// Fsync is the mean cost of a synced write.
	Fsync time.Duration `yaml:"fsync"`
}

// Validate checks that delays are not negative, probabilities are in
// [0, 1], and spikes have a length.
func (p NetParams) Validate() error {
	if p.Latency < 0 || p.Jitter < 0 || p.Spike < 0 || p.API < 0 || p.Fsync < 0 {
		return fmt.Errorf("network: negative delay in %v", p)
	}
	for _, x := range []float64{p.SpikeRate, p.Loss, p.Dup} {
		if x < 0 || x > 1 {
			return fmt.Errorf("network: probability %g outside [0, 1] in %v", x, p)
		}
	}
	if p.SpikeRate > 0 && p.Spike <= 0 {
		return fmt.Errorf("network: spike_rate %g without a spike length", p.SpikeRate)
	}
	return nil
}

// drawNet draws a seed's network: usually clean, sometimes lossy,
// duplicating or reordering (Raft must be safe under all of them).
func drawNet(rng *rand.Rand) NetParams {
	pick := func(xs ...float64) float64 { return xs[rng.IntN(len(xs))] }
	return NetParams{
		Latency:   time.Duration(100+rng.IntN(900)) * time.Microsecond,
		Jitter:    time.Duration(50+rng.IntN(450)) * time.Microsecond,
		SpikeRate: pick(0, 0, 0.001, 0.01, 0.03),
		// A stalled connection holds a message from tens of milliseconds
		// (a retransmission) to seconds (TCP's backoff, a reconnect that
		// flushes an old queue): long enough, in some seeds, for votes,
		// appends and their answers to arrive terms later.
		Spike: time.Duration(pick(20, 100, 500, 2000)*(0.5+rng.Float64())) * time.Millisecond,
		Loss:  pick(0, 0, 0.001, 0.01),
		Dup:   pick(0, 0, 0.001, 0.01),
		API:   time.Duration(100+rng.IntN(200)) * time.Microsecond,
		Fsync: time.Duration(200+rng.IntN(300)) * time.Microsecond,
	}
}

func (p NetParams) String() string {
	return fmt.Sprintf("latency %v+exp(%v), spikes %g×%v, loss %g, dup %g, api %v, fsync %v",
		p.Latency, p.Jitter, p.SpikeRate, p.Spike, p.Loss, p.Dup, p.API, p.Fsync)
}

func (p NetParams) latency(rng *rand.Rand) time.Duration {
	d := p.Latency
	if p.Jitter > 0 {
		d += time.Duration(rng.ExpFloat64() * float64(p.Jitter))
	}
	if p.SpikeRate > 0 && rng.Float64() < p.SpikeRate {
		d += time.Duration(rng.Int64N(int64(p.Spike)))
	}
	return d
}

func (p NetParams) fsync(rng *rand.Rand) time.Duration {
	if p.Fsync <= 0 {
		return 0
	}
	return p.Fsync/2 + time.Duration(rng.Int64N(int64(p.Fsync)))
}

func (p NetParams) api(rng *rand.Rand) time.Duration {
	return p.API/2 + time.Duration(rng.Int64N(int64(p.API)+1))
}

// ruleVerdict applies a node's fault rules (the transport's FaultRule) to
// one message to or from peer in direction dir ("in" or "out").
func (s *sim) ruleVerdict(rules []nodeapi.NetRule, peer, dir string) (drop bool, delay time.Duration) {
	for _, r := range rules {
		if !ruleApplies(r, peer, dir) {
			continue
		}
		if r.Drop || (r.Loss > 0 && s.rng.Float64() < r.Loss) {
			return true, 0
		}
		delay += time.Duration(r.DelayMS) * time.Millisecond
		if r.JitterMS > 0 {
			delay += time.Duration(s.rng.Int64N(r.JitterMS * int64(time.Millisecond)))
		}
	}
	return false, delay
}

// cutOff reports whether rules drop every message to or from peer in
// direction dir (a partition; loss and delay rules were applied when the
// message was sent).
func cutOff(rules []nodeapi.NetRule, peer, dir string) bool {
	return slices.ContainsFunc(rules, func(r nodeapi.NetRule) bool { return r.Drop && ruleApplies(r, peer, dir) })
}

// ruleApplies reports whether rule r covers messages to or from peer in
// direction dir.
func ruleApplies(r nodeapi.NetRule, peer, dir string) bool {
	return (r.Peer == peer || r.Peer == "*") && (r.Direction == dir || r.Direction == "both" || r.Direction == "")
}

// send puts a Ready's messages on the network; they leave at sendAt.
func (s *sim) send(from *snode, msgs []raft.Message, sendAt int64) {
	for _, m := range msgs {
		to := s.byID[m.To]
		if to == nil || to == from {
			continue
		}
		s.res.Messages++
		s.sentEntries += len(m.Entries)
		s.chk.ObserveSent(from.id, m)
		if m.Type == raft.MsgVoteResp && !m.Reject {
			// A vote is a promise from the moment it leaves.
			s.observe(s.chk.ObserveVoteSent(from.id, m.Term, m.To))
		}
		drop, delay := s.ruleVerdict(from.rules, to.name, "out")
		if drop || (s.net.Loss > 0 && s.rng.Float64() < s.net.Loss) {
			continue
		}
		copies := 1
		if s.net.Dup > 0 && s.rng.Float64() < s.net.Dup {
			copies = 2
		}
		for range copies {
			mc := rafttest.CloneMessage(m)
			fromName := from.name
			s.at(sendAt+int64(delay+s.net.latency(s.rng)), func() { to.deliver(fromName, mc) })
		}
	}
}

// deliver hands a message to the node's process: stepped now, kept in the
// kernel's buffers while the process is stopped, lost if it is down.
// Addressed to another raft ID (an earlier incarnation of the node: it was
// removed, wiped and joined again under a new ID), it is dropped, as
// raft/transport refuses a connection dialled for another ID.
func (n *snode) deliver(from string, m raft.Message) {
	if n.state == cluster.Down || m.To != n.id {
		return
	}
	drop, delay := n.s.ruleVerdict(n.rules, from, "in")
	if drop {
		return
	}
	if sender := n.s.byName[from]; sender != nil && cutOff(sender.rules, n.name, "out") {
		// A partition put in place while the message was on the wire loses
		// it too, as a cut link loses what is still in flight: a leader
		// isolated a moment after it took office has then told nobody
		// about its first entries (the partial replication of the Raft
		// paper's Figure 8), whereas checking the sender's rules only when
		// it sends would let everything it sent before the cut through.
		return
	}
	if delay > 0 {
		// An inbound delay rule holds the message in the receiving
		// transport (raft/transport's fault filter) before the node
		// steps it; a crash meanwhile loses it with the process.
		inc := n.inc
		n.s.after(delay, func() {
			if n.state != cluster.Down && n.inc == inc {
				n.receive(m)
			}
		})
		return
	}
	n.receive(m)
}

// receive steps a message that arrived: now, or once the process resumes.
func (n *snode) receive(m raft.Message) {
	if n.state == cluster.Paused {
		n.inbox = append(n.inbox, func() { n.step(m) })
		return
	}
	n.step(m)
}

func (n *snode) step(m raft.Message) {
	if kvservice.DropFromRemoved(n.fsm, m) {
		return // as kvservice.Server.step: a removed sender has no say
	}
	n.guard("step", func() {
		n.drv.Step(m)
		n.kick()
	})
}
