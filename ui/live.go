package ui

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// MemberView is one member as the live page shows it.
type MemberView struct {
	Member
	// Self marks the node serving the page.
	Self bool `json:"self"`
	// Reachable is false when the last status fetch failed.
	Reachable bool `json:"reachable"`
	// Error says why the member is unreachable.
	Error string `json:"error,omitempty"`
	// Status is the last status fetched (stale when !Reachable; nil when
	// never fetched).
	Status *NodeStatus `json:"status,omitempty"`
	// LastSeen is when Status was fetched.
	LastSeen time.Time `json:"last_seen,omitzero"`
}

// Snapshot is the whole state the live page renders. Each WebSocket
// message carries either a Snapshot or one Event.
type Snapshot struct {
	// Seq grows with each snapshot, so the page (and tests) can wait for a
	// snapshot newer than an action.
	Seq            uint64       `json:"seq"`
	Time           time.Time    `json:"time"`
	Self           string       `json:"self"`
	FaultInjection bool         `json:"fault_injection"`
	Members        []MemberView `json:"members"`
	// Events are the most recent events of the local node, oldest first.
	Events []Event `json:"events"`
}

// Message is one WebSocket message: Type is "snapshot" or "event".
type Message struct {
	Type     string    `json:"type"`
	Snapshot *Snapshot `json:"snapshot,omitempty"`
	Event    *Event    `json:"event,omitempty"`
}

// Options tune the live feed; the zero value gives the defaults.
type Options struct {
	// Interval between snapshots while a page is connected (default 500ms).
	Interval time.Duration
	// MemberTimeout bounds one member's status fetch (default 1s).
	MemberTimeout time.Duration
	// MaxEvents is how many recent events are kept (default 200).
	MaxEvents int
	// Logger (default slog.Default()).
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Interval <= 0 {
		o.Interval = 500 * time.Millisecond
	}
	if o.MemberTimeout <= 0 {
		o.MemberTimeout = time.Second
	}
	if o.MaxEvents <= 0 {
		o.MaxEvents = 200
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// client is one connected page. Its writer goroutine owns conn's writes
// (gorilla/websocket allows one concurrent writer).
type client struct {
	conn *websocket.Conn
	send chan []byte
	done chan struct{}
	once sync.Once
}

func (c *client) close() { c.once.Do(func() { close(c.done) }) }

// clientBuffer is how many messages a page may lag behind before it is
// disconnected (it reconnects and gets a fresh snapshot).
const clientBuffer = 64

// Live is the live feed behind the page: it polls the members while at
// least one page is connected and pushes snapshots and events to every
// page.
type Live struct {
	src  Source
	opts Options

	mu       sync.Mutex
	clients  map[*client]struct{}
	events   []Event
	last     map[string]MemberView // last good view per member id
	latest   []byte                // latest snapshot message
	seq      uint64
	running  bool
	closed   bool
	kick     chan struct{}
	stop     chan struct{}
	unsub    func()
	loopDone chan struct{}
}

func newLive(src Source, opts Options) *Live {
	l := &Live{
		src:     src,
		opts:    opts.withDefaults(),
		clients: make(map[*client]struct{}),
		last:    make(map[string]MemberView),
		kick:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
	}
	l.unsub = src.Subscribe(l.onEvent)
	return l
}

// Close stops the feed: it cancels the event subscription, stops polling
// and disconnects every page.
func (l *Live) Close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	close(l.stop)
	done := l.loopDone
	for c := range l.clients {
		c.close()
	}
	l.mu.Unlock()
	l.unsub()
	if done != nil {
		<-done
	}
}

func (l *Live) onEvent(ev Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	msg, err := json.Marshal(Message{Type: "event", Event: &ev})
	if err != nil {
		return
	}
	l.mu.Lock()
	l.events = append(l.events, ev)
	if n := len(l.events) - l.opts.MaxEvents; n > 0 {
		l.events = slices.Delete(l.events, 0, n)
	}
	l.broadcastLocked(msg)
	l.mu.Unlock()
	// A role, term or membership change is best shown at once.
	l.poke()
}

func (l *Live) poke() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

func (l *Live) broadcastLocked(msg []byte) {
	for c := range l.clients {
		select {
		case c.send <- msg:
		default:
			// Too slow: drop it rather than block the feed.
			c.close()
			delete(l.clients, c)
		}
	}
}

// attach registers a page and starts the poller if it is the first.
func (l *Live) attach(c *client) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.clients[c] = struct{}{}
	if l.latest != nil {
		c.send <- l.latest
	}
	if !l.running {
		l.running = true
		l.loopDone = make(chan struct{})
		go l.loop(l.loopDone)
	} else {
		l.poke()
	}
	return true
}

func (l *Live) detach(c *client) {
	l.mu.Lock()
	delete(l.clients, c)
	l.mu.Unlock()
	c.close()
}

// loop polls and broadcasts until no page is connected.
func (l *Live) loop(done chan struct{}) {
	defer close(done)
	ticker := time.NewTicker(l.opts.Interval)
	defer ticker.Stop()
	for {
		snap := l.Collect(context.Background())
		msg, err := json.Marshal(Message{Type: "snapshot", Snapshot: snap})
		l.mu.Lock()
		if err == nil {
			l.latest = msg
			l.broadcastLocked(msg)
		}
		if len(l.clients) == 0 || l.closed {
			l.running = false
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
		select {
		case <-ticker.C:
		case <-l.kick:
		case <-l.stop:
		}
	}
}

// Collect builds a fresh snapshot: the local status, every other member's
// status fetched in parallel (each bounded by Options.MemberTimeout), and
// the recent events.
func (l *Live) Collect(ctx context.Context) *Snapshot {
	self := l.src.Status()
	members := l.src.Members()
	if !slices.ContainsFunc(members, func(m Member) bool { return m.ID == self.ID }) {
		members = append(members, Member{ID: self.ID, RaftID: self.RaftID, Voter: self.Role != "learner"})
	}
	slices.SortFunc(members, func(a, b Member) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	views := make([]MemberView, len(members))
	now := time.Now()
	var wg sync.WaitGroup
	for i, m := range members {
		if m.ID == self.ID {
			st := self
			views[i] = MemberView{Member: m, Self: true, Reachable: true, Status: &st, LastSeen: now}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, l.opts.MemberTimeout)
			defer cancel()
			st, err := l.src.MemberStatus(cctx, m)
			if err != nil {
				views[i] = MemberView{Member: m, Error: describeUnreachable(err, l.opts.MemberTimeout)}
				return
			}
			views[i] = MemberView{Member: m, Reachable: true, Status: &st, LastSeen: time.Now()}
		}()
	}
	wg.Wait()

	l.mu.Lock()
	defer l.mu.Unlock()
	for i, v := range views {
		if v.Reachable {
			l.last[v.ID] = v
			continue
		}
		// Keep the last known status, marked stale by Reachable=false.
		if old, ok := l.last[v.ID]; ok {
			views[i].Status, views[i].LastSeen = old.Status, old.LastSeen
		}
	}
	l.seq++
	return &Snapshot{
		Seq:            l.seq,
		Time:           now,
		Self:           self.ID,
		FaultInjection: l.src.FaultInjection(),
		Members:        views,
		Events:         slices.Clone(l.events),
	}
}
