package node

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestManualClock(t *testing.T) {
	c := NewManualClock(epoch)
	require.Equal(t, epoch, c.Now())
	c.Advance(3 * time.Second)
	require.Equal(t, epoch.Add(3*time.Second), c.Now())
	c.Advance(-time.Second)
	require.Equal(t, epoch.Add(2*time.Second), c.Now())
}

func TestFaultClockPassThrough(t *testing.T) {
	base := NewManualClock(epoch)
	fc := NewFaultClock(base)
	base.Advance(time.Second)
	require.Equal(t, base.Now(), fc.Now())
	require.Equal(t, ClockState{Rate: 1}, fc.State())
}

func TestFaultClockOffset(t *testing.T) {
	base := NewManualClock(epoch)
	fc := NewFaultClock(base)
	fc.SetOffset(5 * time.Second)
	require.Equal(t, epoch.Add(5*time.Second), fc.Now())
	fc.SetOffset(-2 * time.Second)
	require.Equal(t, epoch.Add(-2*time.Second), fc.Now())
	require.Equal(t, -2*time.Second, fc.State().Skew)
}

func TestFaultClockRateIsContinuous(t *testing.T) {
	base := NewManualClock(epoch)
	fc := NewFaultClock(base)
	base.Advance(10 * time.Second)
	require.NoError(t, fc.SetRate(2))
	// No jump at the moment the rate changes.
	require.Equal(t, epoch.Add(10*time.Second), fc.Now())
	base.Advance(time.Second)
	require.Equal(t, epoch.Add(12*time.Second), fc.Now())
	// Changing the rate again re-anchors at the current reading.
	require.NoError(t, fc.SetRate(0.5))
	require.Equal(t, epoch.Add(12*time.Second), fc.Now())
	base.Advance(2 * time.Second)
	require.Equal(t, epoch.Add(13*time.Second), fc.Now())
	// Frozen clock.
	require.NoError(t, fc.SetRate(0))
	base.Advance(time.Hour)
	require.Equal(t, epoch.Add(13*time.Second), fc.Now())

	require.ErrorIs(t, fc.SetRate(-1), ErrInvalidClockFault)
	require.Equal(t, 0.0, fc.State().Rate)
}

func TestFaultClockStrobe(t *testing.T) {
	base := NewManualClock(epoch)
	fc := NewFaultClock(base)
	require.NoError(t, fc.SetStrobe(time.Second, 100*time.Millisecond))
	require.Equal(t, epoch, fc.Now()) // phase 0: no extra offset
	base.Advance(100 * time.Millisecond)
	require.Equal(t, epoch.Add(1100*time.Millisecond), fc.Now()) // phase 1
	base.Advance(50 * time.Millisecond)
	require.Equal(t, epoch.Add(1150*time.Millisecond), fc.Now())
	base.Advance(50 * time.Millisecond)
	require.Equal(t, epoch.Add(200*time.Millisecond), fc.Now()) // phase 2: back
	s := fc.State()
	require.Equal(t, time.Second, s.StrobeDelta)
	require.Equal(t, 100*time.Millisecond, s.StrobePeriod)
	require.ErrorIs(t, fc.SetStrobe(time.Second, -1), ErrInvalidClockFault)
}

func TestFaultClockResetAndSetState(t *testing.T) {
	base := NewManualClock(epoch)
	fc := NewFaultClock(base)
	require.NoError(t, fc.SetState(ClockState{Offset: time.Minute, Rate: 3, StrobeDelta: time.Second, StrobePeriod: time.Second}))
	base.Advance(time.Second) // phase 1
	require.Equal(t, epoch.Add(3*time.Second+time.Minute+time.Second), fc.Now())
	fc.Reset()
	require.Equal(t, base.Now(), fc.Now())
	require.Equal(t, ClockState{Rate: 1}, fc.State())
	base.Advance(time.Second)
	require.Equal(t, base.Now(), fc.Now())
	require.ErrorIs(t, fc.SetState(ClockState{Rate: -2}), ErrInvalidClockFault)
}

func TestTickSource(t *testing.T) {
	const iv = 10 * time.Millisecond
	c := NewManualClock(epoch)
	ts := newTickSource(c.Now(), iv, 20)

	require.Equal(t, 0, ts.due(c.Now()))
	c.Advance(9 * time.Millisecond)
	require.Equal(t, 0, ts.due(c.Now()))
	c.Advance(time.Millisecond)
	require.Equal(t, 1, ts.due(c.Now()))
	// Partial intervals accumulate: 3 x 6ms = 18ms -> one tick, 8ms carried.
	got := 0
	for range 3 {
		c.Advance(6 * time.Millisecond)
		got += ts.due(c.Now())
	}
	require.Equal(t, 1, got)
	c.Advance(2 * time.Millisecond) // 8 + 2 carried = 10
	require.Equal(t, 1, ts.due(c.Now()))

	// A forward jump fires several ticks at once.
	c.Advance(55 * time.Millisecond)
	require.Equal(t, 5, ts.due(c.Now()))
	// ... but never more than the cap, and the excess is forgotten.
	c.Advance(time.Hour)
	require.Equal(t, 20, ts.due(c.Now()))
	require.Equal(t, 0, ts.due(c.Now()))

	// A backward jump ticks nothing, and the time it took back is not
	// owed: ticking resumes one interval after the new reading.
	c.Advance(-100 * time.Millisecond)
	require.Equal(t, 0, ts.due(c.Now()))
	c.Advance(iv - time.Millisecond)
	require.Equal(t, 0, ts.due(c.Now()))
	c.Advance(time.Millisecond)
	require.Equal(t, 1, ts.due(c.Now()))
}

func TestTickSourceFollowsFaultClockRate(t *testing.T) {
	const iv = 10 * time.Millisecond
	base := NewManualClock(epoch)
	fc := NewFaultClock(base)
	ts := newTickSource(fc.Now(), iv, 100)
	require.NoError(t, fc.SetRate(2))
	total := 0
	for range 50 { // 50 samples of 2ms base time = 100ms base = 200ms clock time
		base.Advance(2 * time.Millisecond)
		total += ts.due(fc.Now())
	}
	require.Equal(t, 20, total)
	require.NoError(t, fc.SetRate(0.5))
	total = 0
	for range 50 {
		base.Advance(2 * time.Millisecond)
		total += ts.due(fc.Now())
	}
	require.Equal(t, 5, total)
}
