package rafttest

import (
	"cmp"
	"math/rand/v2"
	"slices"

	"github.com/raftkv/raftkv/raft"
)

// Envelope is a message in flight with the tick at which it may be
// delivered.
type Envelope struct {
	// From is the node that sent Msg. It differs from Msg.From for a
	// forwarded MsgTransferLeader, whose From names the transferee.
	From uint64
	Msg  raft.Message
	At   uint64
	// Lost marks a message the network lost but whose loss the sender
	// notices (a snapshot).
	Lost bool
}

type link struct{ from, to uint64 }

// Network is a simulated network driven by a seeded source: it drops,
// delays, reorders and duplicates messages, and cuts links in one or both
// directions. Time is the simulation's tick counter. It is deterministic:
// the same sequence of calls with the same source gives the same
// deliveries.
type Network struct {
	rng *rand.Rand
	now uint64
	// due holds messages deliverable now, later those with a future At.
	due, later []Envelope
	cut        map[link]bool

	// DropRate is the probability that Send loses a message.
	DropRate float64
	// DupRate is the probability that Send delivers a message twice.
	DupRate float64
	// DelayRate is the probability of a short delay (1 to 3 ticks);
	// LongDelayRate that of a delay of up to LongDelay ticks, so that stale
	// messages arrive after elections.
	DelayRate, LongDelayRate float64
	LongDelay                int
}

// NewNetwork returns a network with no faults that draws from rng.
func NewNetwork(rng *rand.Rand) *Network {
	return &Network{rng: rng, cut: map[link]bool{}, LongDelay: 20}
}

// Send puts a copy of m, sent by node from, in flight (or drops it). It
// returns the number of copies put in flight: 0, 1 or 2.
func (nw *Network) Send(from uint64, m raft.Message) int {
	lost := false
	if nw.DropRate > 0 && nw.rng.Float64() < nw.DropRate {
		if m.Type != raft.MsgSnap || nw.rng.IntN(2) == 0 {
			return 0
		}
		// A lost snapshot is usually noticed by the sender's transport (it
		// streams snapshots over a connection that fails): then it stays
		// in flight and comes out of Next as undeliverable. Otherwise it is
		// lost silently and the core must retry on its own.
		lost = true
	}
	copies := 1
	if nw.DupRate > 0 && nw.rng.Float64() < nw.DupRate {
		copies = 2
	}
	for i := 0; i < copies; i++ {
		at := nw.now
		r := nw.rng.Float64()
		switch {
		case r < nw.DelayRate:
			at += 1 + uint64(nw.rng.IntN(3))
		case r < nw.DelayRate+nw.LongDelayRate && nw.LongDelay > 0:
			at += 1 + uint64(nw.rng.IntN(nw.LongDelay))
		}
		env := Envelope{From: from, Msg: CloneMessage(m), At: at, Lost: lost}
		if at <= nw.now {
			nw.due = append(nw.due, env)
		} else {
			nw.later = append(nw.later, env)
		}
	}
	return copies
}

// Advance moves the clock to now and makes the messages due by then
// deliverable.
func (nw *Network) Advance(now uint64) {
	nw.now = now
	kept := nw.later[:0]
	for _, e := range nw.later {
		if e.At <= now {
			nw.due = append(nw.due, e)
		} else {
			kept = append(kept, e)
		}
	}
	nw.later = kept
}

// Next removes and returns a random deliverable message (which is how
// messages get reordered). ok is false when none is due. cut reports that
// the link from sender to receiver is cut or the message was lost: the
// caller must drop it (and tell the sender).
func (nw *Network) Next() (env Envelope, cut, ok bool) {
	if len(nw.due) == 0 {
		return Envelope{}, false, false
	}
	i := nw.rng.IntN(len(nw.due))
	env = nw.due[i]
	last := len(nw.due) - 1
	nw.due[i] = nw.due[last]
	nw.due[last] = Envelope{}
	nw.due = nw.due[:last]
	return env, env.Lost || nw.cut[link{env.From, env.Msg.To}], true
}

// InFlight returns the number of messages in flight.
func (nw *Network) InFlight() int { return len(nw.due) + len(nw.later) }

// Cut cuts the link from one node to another (one way).
func (nw *Network) Cut(from, to uint64) { nw.cut[link{from, to}] = true }

// Isolate cuts every link between id and the nodes in others, both ways.
func (nw *Network) Isolate(id uint64, others []uint64) {
	for _, o := range others {
		if o != id {
			nw.Cut(id, o)
			nw.Cut(o, id)
		}
	}
}

// Partition cuts, both ways, every link between a and b.
func (nw *Network) Partition(a, b []uint64) {
	for _, x := range a {
		for _, y := range b {
			nw.Cut(x, y)
			nw.Cut(y, x)
		}
	}
}

// Heal restores every link.
func (nw *Network) Heal() { clear(nw.cut) }

// IsCut reports whether the link from one node to another is cut.
func (nw *Network) IsCut(from, to uint64) bool { return nw.cut[link{from, to}] }

// CutLinks returns the cut links as (from, to) pairs in a stable order.
func (nw *Network) CutLinks() [][2]uint64 {
	out := make([][2]uint64, 0, len(nw.cut))
	for l := range nw.cut {
		out = append(out, [2]uint64{l.from, l.to})
	}
	slices.SortFunc(out, func(a, b [2]uint64) int {
		if c := cmp.Compare(a[0], b[0]); c != 0 {
			return c
		}
		return cmp.Compare(a[1], b[1])
	})
	return out
}

// CloneMessage returns a deep copy of m, so that sender and receiver never
// share memory (as if the message had been encoded on a wire).
func CloneMessage(m raft.Message) raft.Message {
	if m.Entries != nil {
		ents := make([]raft.Entry, len(m.Entries))
		for i, e := range m.Entries {
			e.Data = slices.Clone(e.Data)
			ents[i] = e
		}
		m.Entries = ents
	}
	if m.Snapshot != nil {
		s := *m.Snapshot
		s.Data = slices.Clone(s.Data)
		s.Metadata.ConfState = raft.ConfState{
			Voters:   slices.Clone(s.Metadata.ConfState.Voters),
			Learners: slices.Clone(s.Metadata.ConfState.Learners),
		}
		m.Snapshot = &s
	}
	m.Context = slices.Clone(m.Context)
	return m
}
