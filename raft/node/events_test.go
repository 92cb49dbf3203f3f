package node

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestEventHubNeverBlocksAndCancelStopsDelivery(t *testing.T) {
	var h eventHub
	release := make(chan struct{})
	var got atomic.Int64
	cancelSlow := h.subscribe(func(Event) {
		<-release // a subscriber that does not keep up
		got.Add(1)
	})
	var fast atomic.Int64
	cancelFast := h.subscribe(func(Event) { fast.Add(1) })

	// Far more events than a buffer holds: publish must not block.
	const n = 3 * subscriberBuffer
	for i := range n {
		h.publish(Event{Type: EventTermChanged, Term: uint64(i)})
	}
	require.Eventually(t, func() bool { return fast.Load() > 0 }, waitFor, pollEvery)

	// Cancelled: events still queued are not delivered.
	cancelSlow()
	close(release)
	cancelFast()
	cancelFast() // idempotent
	require.LessOrEqual(t, got.Load(), int64(1))

	// After close, publish is a no-op and new subscriptions get nothing.
	h.close()
	var late atomic.Int64
	cancel := h.subscribe(func(Event) { late.Add(1) })
	h.publish(Event{Type: EventStopped})
	cancel()
	require.Zero(t, late.Load())
}

func TestNodeStopEndsSubscriptions(t *testing.T) {
	n := singleNode(t, newStore(), &testSM{}, nil)
	stopped := make(chan Event, 1)
	n.Subscribe(func(ev Event) {
		if ev.Type == EventStopped {
			stopped <- ev
		}
	})
	waitLeader(t, n)
	n.Stop()
	select {
	case ev := <-stopped:
		require.NoError(t, ev.Err)
		require.Equal(t, uint64(1), ev.Node)
	case <-time.After(waitFor):
		t.Fatal("no stopped event")
	}
}
