package transport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Direction says which traffic a FaultRule applies to, seen from the node
// that holds the rule.
type Direction uint8

const (
	// In matches messages received from the rule's peer.
	In Direction = 1 << iota
	// Out matches messages sent to the rule's peer.
	Out
	// Both matches traffic in both directions.
	Both = In | Out
)

func (d Direction) String() string {
	switch d {
	case In:
		return "in"
	case Out:
		return "out"
	case Both:
		return "both"
	}
	return fmt.Sprintf("Direction(%d)", uint8(d))
}

// ParseDirection parses "in", "out" or "both" (the fault API's spelling).
func ParseDirection(s string) (Direction, error) {
	switch s {
	case "in":
		return In, nil
	case "out":
		return Out, nil
	case "both":
		return Both, nil
	}
	return 0, fmt.Errorf("%w: direction %q", ErrInvalidFault, s)
}

// MarshalText encodes d as "in", "out" or "both".
func (d Direction) MarshalText() ([]byte, error) {
	if d != In && d != Out && d != Both {
		return nil, fmt.Errorf("%w: direction %d", ErrInvalidFault, uint8(d))
	}
	return []byte(d.String()), nil
}

// UnmarshalText decodes "in", "out" or "both".
func (d *Direction) UnmarshalText(b []byte) error {
	v, err := ParseDirection(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// ErrInvalidFault is wrapped by SetFaults when a rule is out of range.
var ErrInvalidFault = errors.New("transport: invalid fault rule")

// FaultRule is one packet fault. A message matches the rule when its peer
// (the sender for In, the receiver for Out) equals Peer, or Peer is 0
// (raft.None: every peer), and its direction is in Direction.
//
// A matching message is dropped if Drop is set, else dropped with
// probability Loss, else delivered after Delay plus a uniformly random
// extra in [0, Jitter). When several rules match, the message is dropped
// if any rule drops it, and the delays add up. Delayed messages are handed
// on by a timer, so they never hold up other traffic, and jitter may
// reorder them (raft tolerates reordering, as it tolerates loss).
type FaultRule struct {
	Peer      uint64
	Direction Direction
	Drop      bool
	Loss      float64
	Delay     time.Duration
	Jitter    time.Duration
}

// Validate reports whether the rule is well formed.
func (r FaultRule) Validate() error {
	switch {
	case r.Direction != In && r.Direction != Out && r.Direction != Both:
		return fmt.Errorf("%w: direction %d", ErrInvalidFault, r.Direction)
	case !(r.Loss >= 0 && r.Loss <= 1): // also rejects NaN
		return fmt.Errorf("%w: loss %v not in [0, 1]", ErrInvalidFault, r.Loss)
	case r.Delay < 0 || r.Jitter < 0:
		return fmt.Errorf("%w: negative delay or jitter", ErrInvalidFault)
	}
	return nil
}

func (r FaultRule) matches(dir Direction, peer uint64) bool {
	return r.Direction&dir != 0 && (r.Peer == 0 || r.Peer == peer)
}

// faultFilter holds the rules and the seeded random source they draw
// from. The active flag keeps the no-fault path to one atomic load.
type faultFilter struct {
	active atomic.Bool
	mu     sync.Mutex
	rules  []FaultRule
	rng    *rand.Rand
}

func newFaultFilter(seed int64) *faultFilter {
	return &faultFilter{rng: rand.New(rand.NewPCG(uint64(seed), uint64(seed)^0x9e3779b97f4a7c15))}
}

func (f *faultFilter) set(rules []FaultRule) error {
	for i, r := range rules {
		if err := r.Validate(); err != nil {
			return fmt.Errorf("rule %d: %w", i, err)
		}
	}
	f.mu.Lock()
	f.rules = slices.Clone(rules)
	f.active.Store(len(rules) > 0)
	f.mu.Unlock()
	return nil
}

func (f *faultFilter) get() []FaultRule {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.rules)
}

// decide returns whether to drop a message travelling in dir to or from
// peer, and otherwise how long to hold it.
func (f *faultFilter) decide(dir Direction, peer uint64) (drop bool, delay time.Duration) {
	if !f.active.Load() {
		return false, 0
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.rules {
		if !r.matches(dir, peer) {
			continue
		}
		if r.Drop {
			return true, 0
		}
		// Draw only for rules that can lose, so that adding a pure delay
		// rule does not shift the loss sequence of a seeded run.
		if r.Loss > 0 && f.rng.Float64() < r.Loss {
			return true, 0
		}
		delay += r.Delay
		if r.Jitter > 0 {
			delay += time.Duration(f.rng.Int64N(int64(r.Jitter)))
		}
	}
	return false, delay
}
