package docker

import (
	"log/slog"
	"sync"
	"testing"
	"time"
)

// acceptLog records when each packet id was let go.
type acceptLog struct {
	mu    sync.Mutex
	order []uint32
	at    map[uint32]time.Time
}

func (l *acceptLog) accept(id uint32) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.at == nil {
		l.at = map[uint32]time.Time{}
	}
	l.order = append(l.order, id)
	l.at[id] = time.Now()
	return nil
}

// waitFor polls until n packets were let go, or fails after d. Callers give
// a minute: the poll ends as soon as the packets are out, and the deadline
// only ends a queue that holds them for good, not a busy machine's delay.
func (l *acceptLog) waitFor(t *testing.T, n int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		l.mu.Lock()
		got := len(l.order)
		l.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d packets let go within %v", got, n, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func startDelayQueue(t *testing.T, d linkDelay) (*delayQueue, *acceptLog) {
	t.Helper()
	l := &acceptLog{}
	q := newDelayQueue(slog.New(slog.DiscardHandler), "node0", d, l.accept)
	go q.release()
	t.Cleanup(func() {
		select {
		case <-q.released:
		default:
			q.close()
		}
	})
	return q, l
}

func TestDelayQueueHoldsInOrder(t *testing.T) {
	const delay = 50 * time.Millisecond
	q, l := startDelayQueue(t, linkDelay{Peer: "node1", Delay: delay})
	came := map[uint32]time.Time{}
	for id := range uint32(20) {
		came[id] = time.Now()
		q.arrived(id)
	}
	l.waitFor(t, 20, time.Minute)
	for i, id := range l.order {
		if id != uint32(i) {
			t.Fatalf("without jitter packets leave in order; got %v", l.order)
		}
		if held := l.at[id].Sub(came[id]); held < delay {
			t.Errorf("packet %d held %v, want >= %v", id, held, delay)
		}
	}
}

func TestDelayQueueJitterIsUniformWithinBounds(t *testing.T) {
	const delay, jitter = 20 * time.Millisecond, 40 * time.Millisecond
	q, l := startDelayQueue(t, linkDelay{Peer: "node1", Delay: delay, Jitter: jitter})
	const n = 200
	came := map[uint32]time.Time{}
	for id := range uint32(n) {
		came[id] = time.Now()
		q.arrived(id)
	}
	l.waitFor(t, n, time.Minute)
	lo, hi := time.Hour, time.Duration(0)
	for id, at := range l.at {
		held := at.Sub(came[id])
		if held < delay {
			t.Errorf("packet %d held %v, want >= %v", id, held, delay)
		}
		lo, hi = min(lo, held), max(hi, held)
	}
	// 200 uniform draws over 40 ms all landing within 10 ms of each other
	// has a probability far below 1e-100.
	if hi-lo < 10*time.Millisecond {
		t.Errorf("holding times span only %v..%v: no jitter", lo, hi)
	}
}

func TestDelayQueueSetAppliesToLaterPackets(t *testing.T) {
	q, l := startDelayQueue(t, linkDelay{Peer: "node1", Delay: time.Hour})
	q.arrived(1)
	q.set(linkDelay{Peer: "node1", Delay: 10 * time.Millisecond})
	q.arrived(2)
	l.waitFor(t, 1, time.Minute)
	l.mu.Lock()
	order := append([]uint32(nil), l.order...)
	l.mu.Unlock()
	if order[0] != 2 {
		t.Fatalf("packet 2 (10 ms) should leave before packet 1 (1 h): %v", order)
	}
	q.close()
	l.waitFor(t, 2, time.Minute)
}

func TestDelayQueueCloseLetsEverythingGo(t *testing.T) {
	q, l := startDelayQueue(t, linkDelay{Peer: "node1", Delay: time.Hour})
	for id := range uint32(5) {
		q.arrived(id)
	}
	q.close()
	l.waitFor(t, 5, time.Minute) // at once: close returned after letting them go
	// A packet still arriving after close is not held.
	q.arrived(99)
	l.waitFor(t, 6, time.Minute)
}
