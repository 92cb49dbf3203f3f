package node

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftkv/raftkv/raft"
)

// EventType names what an Event reports.
type EventType uint8

const (
	// EventLeaderChanged: the leader this node knows changed (Leader may be
	// raft.None: no leader known).
	EventLeaderChanged EventType = iota + 1
	// EventRoleChanged: this node's raft role changed (Role).
	EventRoleChanged
	// EventTermChanged: this node's term changed (Term).
	EventTermChanged
	// EventSnapshotTaken: the driver took a snapshot at Index.
	EventSnapshotTaken
	// EventSnapshotRestored: the state machine was restored from a
	// snapshot at Index (sent by the leader, or from the store at Start).
	EventSnapshotRestored
	// EventConfChangeApplied: the conf change at Index was applied
	// (ConfChange, ConfState).
	EventConfChangeApplied
	// EventStopped: the node stopped (Err says why; nil after Stop).
	EventStopped
)

func (t EventType) String() string {
	switch t {
	case EventLeaderChanged:
		return "leader-changed"
	case EventRoleChanged:
		return "role-changed"
	case EventTermChanged:
		return "term-changed"
	case EventSnapshotTaken:
		return "snapshot-taken"
	case EventSnapshotRestored:
		return "snapshot-restored"
	case EventConfChangeApplied:
		return "conf-change-applied"
	case EventStopped:
		return "stopped"
	}
	return fmt.Sprintf("EventType(%d)", uint8(t))
}

// Event is one notable change in a node, for the UI and logs. Term, Leader
// and Role are always the node's current values; the other fields are set
// only by the event types that name them.
type Event struct {
	Type EventType
	// Time is the host time the event was produced (not the node's Clock).
	Time       time.Time
	Node       uint64
	Term       uint64
	Leader     uint64
	Role       raft.StateType
	Index      uint64
	ConfChange raft.ConfChange
	ConfState  raft.ConfState
	Err        error
	// Snapshot is what the snapshot cost, for EventSnapshotTaken.
	Snapshot SnapshotStats
}

// SnapshotStats says what taking one snapshot cost, step by step.
type SnapshotStats struct {
	Bytes int // the encoded state
	// Capture is the time on the driver goroutine (writes wait for it);
	// Encode, Write and Compact ran on the snapshot goroutine.
	Capture, Encode, Write, Compact time.Duration
}

// subscriberBuffer is how many events a slow subscriber may lag behind
// before events are dropped for it.
const subscriberBuffer = 256

type subscriber struct {
	ch        chan Event
	dropped   uint64
	cancelled atomic.Bool // set by cancel: queued events are not delivered
}

// eventHub fans events out to subscribers without ever blocking the
// producer: each subscriber has its own buffered channel and goroutine, and
// a full buffer drops the event for that subscriber only.
type eventHub struct {
	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	closed bool
}

func (h *eventHub) subscribe(fn func(Event)) (cancel func()) {
	s := &subscriber{ch: make(chan Event, subscriberBuffer)}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return func() {}
	}
	if h.subs == nil {
		h.subs = make(map[*subscriber]struct{})
	}
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	go func() {
		for ev := range s.ch {
			if !s.cancelled.Load() {
				fn(ev)
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.cancelled.Store(true)
			h.mu.Lock()
			if _, ok := h.subs[s]; ok {
				delete(h.subs, s)
				close(s.ch)
			}
			h.mu.Unlock()
		})
	}
}

func (h *eventHub) publish(ev Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		select {
		case s.ch <- ev:
		default:
			s.dropped++
		}
	}
}

// close ends every subscription after the events already queued are
// delivered; later Subscribe calls get nothing.
func (h *eventHub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		close(s.ch)
		delete(h.subs, s)
	}
}
