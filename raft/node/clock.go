package node

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// Clock is the only source of time the driver reads. The driver samples it
// to turn elapsed time into raft ticks, so whatever a Clock does (run fast,
// jump, flip back and forth) is what the node's elections, heartbeats and
// leases see.
type Clock interface {
	Now() time.Time
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// RealClock returns the host clock.
func RealClock() Clock { return realClock{} }

// ManualClock is a Clock that moves only when told to. Tests use it to make
// ticking deterministic. It is safe for concurrent use.
type ManualClock struct {
	mu sync.Mutex
	t  time.Time
}

// NewManualClock returns a ManualClock reading start.
func NewManualClock(start time.Time) *ManualClock { return &ManualClock{t: start} }

// Now returns the current manual time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock by d, which may be negative (a backward jump).
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Set makes the clock read t.
func (c *ManualClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// ErrInvalidClockFault is returned for a clock fault that cannot be
// applied: a negative or non-finite rate, or a negative strobe.
var ErrInvalidClockFault = errors.New("node: invalid clock fault")

// ClockState is a FaultClock's configuration as the fault API reports it.
type ClockState struct {
	// Offset is added to the clock.
	Offset time.Duration
	// Rate is how fast the clock runs relative to its base (1 = true speed).
	Rate float64
	// StrobeDelta and StrobePeriod: every StrobePeriod of base time an extra
	// offset flips between 0 and StrobeDelta. Zero period = no strobe.
	StrobeDelta  time.Duration
	StrobePeriod time.Duration
	// Skew is, at the moment State was called, how far the faulted clock
	// is from its base (positive = ahead).
	Skew time.Duration
}

// FaultClock wraps a base Clock and distorts it the way the nemesis asks:
// a constant offset, a rate, and a strobe (an offset flipping between 0 and
// delta every period). Local processes and containers share the host's
// kernel clock, so clock faults act on this per-node clock instead.
//
// The rate is continuous: changing it re-anchors the clock at its current
// reading, so a rate change never makes the clock jump; only offsets,
// strobes and Reset do. It is safe for concurrent use.
type FaultClock struct {
	base Clock

	mu sync.Mutex
	// The rate-scaled part of the reading is anchorVal + (base-anchorBase)*rate.
	anchorBase   time.Time
	anchorVal    time.Time
	rate         float64
	offset       time.Duration
	strobeDelta  time.Duration
	strobePeriod time.Duration
	strobeStart  time.Time // base time the strobe was set; its phase counts from here
}

// NewFaultClock returns a FaultClock that reads exactly like base until a
// fault is set.
func NewFaultClock(base Clock) *FaultClock {
	now := base.Now()
	return &FaultClock{base: base, anchorBase: now, anchorVal: now, rate: 1}
}

// Now returns the faulted time.
func (c *FaultClock) Now() time.Time {
	b := c.base.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.readLocked(b)
}

func (c *FaultClock) scaledLocked(b time.Time) time.Time {
	if c.rate == 1 {
		return c.anchorVal.Add(b.Sub(c.anchorBase))
	}
	el := float64(b.Sub(c.anchorBase)) * c.rate
	return c.anchorVal.Add(time.Duration(el))
}

func (c *FaultClock) readLocked(b time.Time) time.Time {
	t := c.scaledLocked(b).Add(c.offset)
	if c.strobePeriod > 0 && c.strobeDelta != 0 {
		phase := b.Sub(c.strobeStart) / c.strobePeriod
		if phase < 0 {
			phase = -phase
		}
		if phase%2 == 1 {
			t = t.Add(c.strobeDelta)
		}
	}
	return t
}

// SetOffset sets the constant offset (replacing the previous one); the clock
// jumps by the difference.
func (c *FaultClock) SetOffset(d time.Duration) {
	c.mu.Lock()
	c.offset = d
	c.mu.Unlock()
}

// SetRate makes the clock run at r times the base rate from now on, without
// a jump. r = 0 freezes the clock. A negative or non-finite r is rejected.
func (c *FaultClock) SetRate(r float64) error {
	if r < 0 || math.IsNaN(r) || math.IsInf(r, 0) {
		return fmt.Errorf("%w: rate %v", ErrInvalidClockFault, r)
	}
	b := c.base.Now()
	c.mu.Lock()
	c.anchorVal = c.scaledLocked(b)
	c.anchorBase = b
	c.rate = r
	c.mu.Unlock()
	return nil
}

// SetStrobe makes an extra offset flip between 0 and delta every period of
// base time, starting now with 0. A zero delta or period turns the strobe
// off. A negative period is rejected (a negative delta is allowed: the
// clock then flips backwards).
func (c *FaultClock) SetStrobe(delta, period time.Duration) error {
	if period < 0 {
		return fmt.Errorf("%w: strobe period %v", ErrInvalidClockFault, period)
	}
	b := c.base.Now()
	c.mu.Lock()
	c.strobeDelta, c.strobePeriod, c.strobeStart = delta, period, b
	c.mu.Unlock()
	return nil
}

// SetState applies a whole configuration atomically (Skew is ignored), as
// PUT /fault/clock does.
func (c *FaultClock) SetState(s ClockState) error {
	if s.Rate < 0 || math.IsNaN(s.Rate) || math.IsInf(s.Rate, 0) {
		return fmt.Errorf("%w: rate %v", ErrInvalidClockFault, s.Rate)
	}
	if s.StrobePeriod < 0 {
		return fmt.Errorf("%w: strobe period %v", ErrInvalidClockFault, s.StrobePeriod)
	}
	b := c.base.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.anchorVal = c.scaledLocked(b)
	c.anchorBase = b
	c.rate = s.Rate
	c.offset = s.Offset
	if s.StrobeDelta != c.strobeDelta || s.StrobePeriod != c.strobePeriod {
		c.strobeDelta, c.strobePeriod, c.strobeStart = s.StrobeDelta, s.StrobePeriod, b
	}
	return nil
}

// Reset removes every fault: the clock reads its base again (which may be
// a jump in either direction).
func (c *FaultClock) Reset() {
	b := c.base.Now()
	c.mu.Lock()
	c.anchorBase, c.anchorVal = b, b
	c.rate = 1
	c.offset = 0
	c.strobeDelta, c.strobePeriod, c.strobeStart = 0, 0, time.Time{}
	c.mu.Unlock()
}

// State reports the current faults and the current skew from the base.
func (c *FaultClock) State() ClockState {
	b := c.base.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	return ClockState{
		Offset:       c.offset,
		Rate:         c.rate,
		StrobeDelta:  c.strobeDelta,
		StrobePeriod: c.strobePeriod,
		Skew:         c.readLocked(b).Sub(b),
	}
}

// tickSource turns readings of a Clock into raft ticks: one tick per
// interval of clock time that elapsed since the last accounted tick. A
// faster clock therefore ticks faster; a forward jump produces several
// ticks at once (at most max, the excess is forgotten); a backward jump
// produces none and restarts the accounting from the new reading. Time
// lost to a backward jump is not owed: otherwise healing a fast-clock
// fault (which steps the clock back by everything it gained) would freeze
// the node's timers for that long, a stall the fault never asked for.
type tickSource struct {
	interval time.Duration
	max      int
	last     time.Time // clock time up to which ticks have been accounted
}

func newTickSource(now time.Time, interval time.Duration, max int) *tickSource {
	if max < 1 {
		max = 1
	}
	return &tickSource{interval: interval, max: max, last: now}
}

// due returns how many ticks to fire at clock time now.
func (s *tickSource) due(now time.Time) int {
	el := now.Sub(s.last)
	if el < 0 {
		s.last = now
		return 0
	}
	if el < s.interval {
		return 0
	}
	n := el / s.interval
	if n > time.Duration(s.max) {
		s.last = now
		return s.max
	}
	s.last = s.last.Add(n * s.interval)
	return int(n)
}
