package transport

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftkv/raftkv/raft"
)

// waitTimeout bounds every wait for state in these tests. It is only a
// deadline for a poll that normally ends in milliseconds, so it is generous:
// on a busy machine (make test-stress) a short one failed tests that would
// have passed a moment later.
const waitTimeout = time.Minute

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// lockedBuffer collects log output from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// received is what a test node's Handler saw.
type received struct {
	at  time.Time
	msg raft.Message
}

type node struct {
	*Transport
	logs *lockedBuffer

	mu          sync.Mutex
	got         []received
	unreachable map[uint64]int
	snaps       []snapEvent
}

func (n *node) handle(m raft.Message) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.got = append(n.got, received{time.Now(), m})
}

func (n *node) received() []received {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.got)
}

func (n *node) count() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.got)
}

// indexesFrom returns the Index field of the messages received from peer,
// in arrival order; tests tag messages through Index.
func (n *node) indexesFrom(peer uint64) []uint64 {
	var idx []uint64
	for _, r := range n.received() {
		if r.msg.From == peer {
			idx = append(idx, r.msg.Index)
		}
	}
	return idx
}

func (n *node) hasIndex(peer, index uint64) bool {
	return slices.Contains(n.indexesFrom(peer), index)
}

func (n *node) unreachableCount(peer uint64) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.unreachable[peer]
}

// newNode starts a transport on 127.0.0.1:0 (or addr) and closes it at the
// end of the test, printing its log if the test failed.
func newNode(t testing.TB, id, cluster uint64, tweak func(*Config)) *node {
	t.Helper()
	n := &node{logs: &lockedBuffer{}, unreachable: make(map[uint64]int)}
	cfg := Config{
		ID:         id,
		ClusterID:  cluster,
		ListenAddr: "127.0.0.1:0",
		Handler:    n.handle,
		OnUnreachable: func(peer uint64) {
			n.mu.Lock()
			n.unreachable[peer]++
			n.mu.Unlock()
		},
		OnSnapshotStatus: func(peer uint64, status raft.SnapshotStatus) {
			n.mu.Lock()
			n.snaps = append(n.snaps, snapEvent{peer, status})
			n.mu.Unlock()
		},
		BackoffMin: 5 * time.Millisecond,
		BackoffMax: 50 * time.Millisecond,
		// A dial, handshake or write that fails drops its whole batch, and
		// most tests send each message once and wait for it: under load
		// the production deadlines (1 s dial, 5 s handshake and write) could
		// drop a batch and fail the test. The handshake deadline also drops
		// an inbound connection that never says hello, which expectDropped
		// waits for, so it stays well below waitTimeout.
		DialTimeout:      waitTimeout,
		HandshakeTimeout: waitTimeout / 4,
		WriteTimeout:     waitTimeout,
		Logger:           slog.New(slog.NewTextHandler(n.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	tr, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	n.Transport = tr
	t.Cleanup(func() {
		tr.Close()
		if t.Failed() {
			t.Logf("log of node %d:\n%s", id, n.logs.String())
		}
	})
	return n
}

func msg(typ raft.MessageType, from, to, index uint64) raft.Message {
	return raft.Message{Type: typ, From: from, To: to, Term: 1, Index: index}
}

func connect(nodes ...*node) {
	for _, a := range nodes {
		for _, b := range nodes {
			if a != b {
				a.AddPeer(b.ID(), b.Addr())
			}
		}
	}
}

func TestTwoTransportsExchange(t *testing.T) {
	a := newNode(t, 1, 7, nil)
	b := newNode(t, 2, 7, nil)
	connect(a, b)
	const n = 200
	want := make([]uint64, n)
	for i := range want {
		want[i] = uint64(i + 1)
		app := msg(raft.MsgApp, 1, 2, want[i])
		app.Entries = []raft.Entry{{Term: 1, Index: want[i], Data: []byte(fmt.Sprint("value-", i))}}
		a.Send([]raft.Message{app})
		b.Send([]raft.Message{msg(raft.MsgAppResp, 2, 1, want[i])})
	}
	waitFor(t, "b to receive all", func() bool { return b.count() == n })
	waitFor(t, "a to receive all", func() bool { return a.count() == n })
	// One connection per direction: order is preserved without faults.
	if got := b.indexesFrom(1); !slices.Equal(got, want) {
		t.Fatalf("b received %v", got)
	}
	if got := a.indexesFrom(2); !slices.Equal(got, want) {
		t.Fatalf("a received %v", got)
	}
	for i, r := range b.received() {
		if want := fmt.Sprint("value-", i); string(r.msg.Entries[0].Data) != want {
			t.Fatalf("entry %d data %q, want %q", i, r.msg.Entries[0].Data, want)
		}
	}
	waitForSent(t, a, n)
	if s := a.Stats(); s.MessagesSent != n || s.Dials != 1 {
		t.Fatalf("a stats: %+v", s)
	}
}

func TestThreeTransportsMesh(t *testing.T) {
	nodes := []*node{newNode(t, 1, 7, nil), newNode(t, 2, 7, nil), newNode(t, 3, 7, nil)}
	connect(nodes...)
	const n = 50
	for i := uint64(1); i <= n; i++ {
		for _, from := range nodes {
			var batch []raft.Message
			for _, to := range nodes {
				if to != from {
					batch = append(batch, msg(raft.MsgHeartbeat, from.ID(), to.ID(), i))
				}
			}
			from.Send(batch)
		}
	}
	for _, to := range nodes {
		waitFor(t, fmt.Sprintf("node %d to receive all", to.ID()), func() bool { return to.count() == 2*n })
		for _, from := range nodes {
			if from == to {
				continue
			}
			if got := to.indexesFrom(from.ID()); len(got) != n || got[n-1] != n {
				t.Fatalf("node %d got %v from %d", to.ID(), got, from.ID())
			}
		}
	}
}

// waitForSent waits until tr has counted n messages as sent. The writer
// counts a batch after its Write returns, so the receiver may already hold
// the messages while the sender's counters still lag.
func waitForSent(t *testing.T, tr *node, n uint64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("node %d to count %d messages sent", tr.ID(), n), func() bool { return tr.Stats().MessagesSent == n })
}

func TestBatchingManySendsFewFrames(t *testing.T) {
	a := newNode(t, 1, 7, nil)
	b := newNode(t, 2, 7, nil)
	// Hold the writer after it took the first message, so that the rest
	// pile up in the queue; it must then send them all in one frame.
	entered := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	a.writeHookTest = func(uint64) {
		once.Do(func() {
			close(entered)
			<-release
		})
	}
	connect(a, b)
	const n = 500
	a.Send([]raft.Message{msg(raft.MsgApp, 1, 2, 1)})
	<-entered
	for i := uint64(2); i <= n; i++ {
		a.Send([]raft.Message{msg(raft.MsgApp, 1, 2, i)})
	}
	close(release)
	waitFor(t, "all messages", func() bool { return b.count() == n })
	waitForSent(t, a, n)
	sa, sb := a.Stats(), b.Stats()
	if sa.MessagesSent != n || sa.FramesSent != 1 {
		t.Fatalf("sent %d messages in %d frames, want %d in 1", sa.MessagesSent, sa.FramesSent, n)
	}
	if sb.FramesReceived != 1 || sb.MessagesReceived != n {
		t.Fatalf("received %d messages in %d frames", sb.MessagesReceived, sb.FramesReceived)
	}
}

func TestBatchSplitAtFrameLimit(t *testing.T) {
	const limit = 4096
	a := newNode(t, 1, 7, func(c *Config) { c.MaxFrameSize = limit })
	b := newNode(t, 2, 7, func(c *Config) { c.MaxFrameSize = limit })
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	a.writeHookTest = func(uint64) { once.Do(func() { close(entered); <-release }) }
	connect(a, b)
	big := func(i uint64) raft.Message {
		m := msg(raft.MsgApp, 1, 2, i)
		m.Entries = []raft.Entry{{Term: 1, Index: i, Data: bytes.Repeat([]byte{byte(i)}, 1000)}}
		return m
	}
	a.Send([]raft.Message{big(1)})
	<-entered
	const n = 40
	for i := uint64(2); i <= n; i++ {
		a.Send([]raft.Message{big(i)})
	}
	close(release)
	waitFor(t, "all messages", func() bool { return b.count() == n })
	waitForSent(t, a, n)
	// Four ~1 KB messages fit in a 4 KB frame, and all 40 were queued
	// before the writer drained: exactly 10 full frames.
	if s := a.Stats(); s.FramesSent != 10 || s.DroppedOversize != 0 {
		t.Fatalf("%d messages in %d frames (oversize drops %d)", s.MessagesSent, s.FramesSent, s.DroppedOversize)
	}
	for i, r := range b.received() {
		if r.msg.Index != uint64(i+1) || len(r.msg.Entries[0].Data) != 1000 {
			t.Fatalf("message %d: index %d", i, r.msg.Index)
		}
	}
}

func TestReconnectAfterPeerRestart(t *testing.T) {
	a := newNode(t, 1, 7, nil)
	b := newNode(t, 2, 7, nil)
	connect(a, b)
	a.Send([]raft.Message{msg(raft.MsgHeartbeat, 1, 2, 1)})
	waitFor(t, "first message", func() bool { return b.hasIndex(1, 1) })

	addr := b.Addr()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// While b is down, sends fail and raft hears about it.
	i := uint64(100)
	waitFor(t, "unreachable report", func() bool {
		i++
		a.Send([]raft.Message{msg(raft.MsgHeartbeat, 1, 2, i)})
		return a.unreachableCount(2) > 0
	})

	b2 := newNode(t, 2, 7, func(c *Config) { c.ListenAddr = addr })
	waitFor(t, "delivery after restart", func() bool {
		i++
		a.Send([]raft.Message{msg(raft.MsgHeartbeat, 1, 2, i)})
		return b2.count() > 0
	})
	if s := a.Stats(); s.Dials < 2 {
		t.Fatalf("expected a redial, stats %+v", s)
	}
}

func TestClusterIDMismatchRejected(t *testing.T) {
	a := newNode(t, 1, 7, nil)
	b := newNode(t, 2, 8, nil)
	a.AddPeer(2, b.Addr())
	i := uint64(0)
	waitFor(t, "rejection", func() bool {
		i++
		a.Send([]raft.Message{msg(raft.MsgHeartbeat, 1, 2, i)})
		return b.Stats().InboundRejected > 0 && a.unreachableCount(2) > 0
	})
	if b.count() != 0 {
		t.Fatalf("b accepted %d messages from another cluster", b.count())
	}
	logs := b.logs.String()
	if !strings.Contains(logs, ErrClusterMismatch.Error()) || !strings.Contains(logs, "remote=127.0.0.1:") {
		t.Fatalf("b's log does not name the mismatch and the remote address:\n%s", logs)
	}
	waitFor(t, "dialer log", func() bool { return strings.Contains(a.logs.String(), ErrClusterMismatch.Error()) })
}

func TestWrongReceiverRejected(t *testing.T) {
	a := newNode(t, 1, 7, nil)
	b := newNode(t, 2, 7, nil)
	// a believes node 3 lives at b's address (a stale address).
	a.AddPeer(3, b.Addr())
	i := uint64(0)
	waitFor(t, "rejection", func() bool {
		i++
		a.Send([]raft.Message{msg(raft.MsgHeartbeat, 1, 3, i)})
		return b.Stats().InboundRejected > 0
	})
	waitFor(t, "dialer log", func() bool { return strings.Contains(a.logs.String(), ErrWrongReceiver.Error()) })
	if b.count() != 0 {
		t.Fatal("b accepted messages addressed to another node")
	}
}

// rawConn dials n and optionally sends a valid hello from sender.
func rawConn(t *testing.T, n *node, sender uint64, withHello bool) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", n.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if withHello {
		h := hello{version: ProtocolVersion, cluster: 7, sender: sender, receiver: n.ID()}
		if _, err := c.Write(h.marshal()); err != nil {
			t.Fatal(err)
		}
		var status [1]byte
		if _, err := io.ReadFull(c, status[:]); err != nil || status[0] != helloOK {
			t.Fatalf("handshake: status %d, err %v", status[0], err)
		}
	}
	return c
}

// expectDropped waits until the server closes c.
func expectDropped(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
	var b [64]byte
	for {
		_, err := c.Read(b[:])
		if err == nil {
			continue // the hello answer or similar; keep reading
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("connection was not dropped")
		}
		return // EOF or reset: dropped
	}
}

func TestGarbageDropsOnlyThatConnection(t *testing.T) {
	a := newNode(t, 1, 7, nil)
	b := newNode(t, 2, 7, nil)
	connect(a, b)
	a.Send([]raft.Message{msg(raft.MsgHeartbeat, 1, 2, 1)})
	waitFor(t, "first message", func() bool { return b.hasIndex(1, 1) })

	// Garbage instead of a hello.
	g := rawConn(t, b, 0, false)
	if _, err := g.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n and some more bytes")); err != nil {
		t.Fatal(err)
	}
	expectDropped(t, g)

	// A valid hello followed by a frame with a bad checksum.
	g2 := rawConn(t, b, 3, true)
	frame := AppendFrame(nil, []raft.Message{msg(raft.MsgHeartbeat, 3, 2, 9)})
	frame[len(frame)-1] ^= 0xff
	if _, err := g2.Write(frame); err != nil {
		t.Fatal(err)
	}
	expectDropped(t, g2)

	// A valid frame of messages that claim to come from someone else:
	// dropped one by one, the connection survives.
	g3 := rawConn(t, b, 3, true)
	if _, err := g3.Write(AppendFrame(nil, []raft.Message{msg(raft.MsgHeartbeat, 4, 2, 9), msg(raft.MsgHeartbeat, 3, 2, 10)})); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "valid message on raw connection", func() bool { return b.hasIndex(3, 10) })
	if b.hasIndex(4, 9) {
		t.Fatal("accepted a message with a forged From")
	}

	// The established connection from a and the listener keep working.
	a.Send([]raft.Message{msg(raft.MsgHeartbeat, 1, 2, 2)})
	waitFor(t, "message after garbage", func() bool { return b.hasIndex(1, 2) })
	c := newNode(t, 5, 7, nil)
	c.AddPeer(2, b.Addr())
	c.Send([]raft.Message{msg(raft.MsgHeartbeat, 5, 2, 3)})
	waitFor(t, "message from a new peer", func() bool { return b.hasIndex(5, 3) })
	s := b.Stats()
	if s.InboundRejected != 1 || s.InboundMalformed != 1 || s.DroppedInvalid != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestOversizedFrameRejected(t *testing.T) {
	const limit = 1024
	a := newNode(t, 1, 7, func(c *Config) { c.MaxFrameSize = limit })
	b := newNode(t, 2, 7, func(c *Config) { c.MaxFrameSize = limit })
	connect(a, b)

	// Sender side: a message that cannot fit in a frame is dropped and a
	// MsgSnap reports failure; the rest goes through.
	big := msg(raft.MsgSnap, 1, 2, 1)
	big.Snapshot = &raft.Snapshot{Data: make([]byte, 2*limit), Metadata: raft.SnapshotMetadata{Index: 5, Term: 1}}
	a.Send([]raft.Message{big, msg(raft.MsgHeartbeat, 1, 2, 2)})
	waitFor(t, "small message", func() bool { return b.hasIndex(1, 2) })
	if s := a.Stats(); s.DroppedOversize != 1 {
		t.Fatalf("stats %+v", s)
	}
	waitFor(t, "snapshot failure report", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return slices.Contains(a.snaps, snapEvent{2, raft.SnapshotFailure})
	})

	// Receiver side: a frame header announcing more than the limit drops
	// the connection before the payload is read.
	c := rawConn(t, b, 3, true)
	frame := AppendFrame(nil, []raft.Message{{Type: raft.MsgApp, From: 3, To: 2, Context: make([]byte, limit)}})
	if _, err := c.Write(frame); err != nil {
		t.Fatal(err)
	}
	expectDropped(t, c)
	if s := b.Stats(); s.InboundMalformed != 1 {
		t.Fatalf("stats %+v", s)
	}
	if b.hasIndex(3, 0) {
		t.Fatal("oversized frame delivered")
	}
}

func TestSnapshotStatusReported(t *testing.T) {
	a := newNode(t, 1, 7, nil)
	b := newNode(t, 2, 7, nil)
	connect(a, b)
	snap := msg(raft.MsgSnap, 1, 2, 1)
	snap.Snapshot = &raft.Snapshot{Data: bytes.Repeat([]byte("s"), 100_000),
		Metadata: raft.SnapshotMetadata{Index: 10, Term: 2, ConfState: raft.ConfState{Voters: []uint64{1, 2}}}}
	a.Send([]raft.Message{snap})
	waitFor(t, "snapshot", func() bool { return b.count() == 1 })
	got := b.received()[0].msg
	if got.Snapshot == nil || len(got.Snapshot.Data) != 100_000 || !got.Snapshot.Metadata.ConfState.Equal(snap.Snapshot.Metadata.ConfState) {
		t.Fatalf("snapshot mangled: %+v", got.Snapshot.Metadata)
	}
	waitFor(t, "snapshot status", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return slices.Contains(a.snaps, snapEvent{2, raft.SnapshotFinish})
	})
}

func TestLocalAndSelfMessagesNotSent(t *testing.T) {
	a := newNode(t, 1, 7, nil)
	b := newNode(t, 2, 7, nil)
	connect(a, b)
	a.Send([]raft.Message{
		msg(raft.MsgHup, 1, 2, 1), msg(raft.MsgBeat, 1, 2, 2), msg(raft.MsgHeartbeat, 1, 1, 3),
		msg(raft.MsgHeartbeat, 1, 0, 4), msg(raft.MsgHeartbeat, 1, 2, 5),
	})
	waitFor(t, "valid message", func() bool { return b.hasIndex(1, 5) })
	if got := b.indexesFrom(1); !slices.Equal(got, []uint64{5}) {
		t.Fatalf("received %v", got)
	}
	if s := a.Stats(); s.DroppedInvalid != 4 {
		t.Fatalf("stats %+v", s)
	}
}

func TestRemovePeerStopsSending(t *testing.T) {
	a := newNode(t, 1, 7, nil)
	b := newNode(t, 2, 7, nil)
	connect(a, b)
	a.Send([]raft.Message{msg(raft.MsgHeartbeat, 1, 2, 1)})
	waitFor(t, "first message", func() bool { return b.hasIndex(1, 1) })

	a.RemovePeer(2)
	if _, ok := a.Peers()[2]; ok {
		t.Fatal("peer still listed")
	}
	for i := uint64(2); i <= 6; i++ {
		a.Send([]raft.Message{msg(raft.MsgHeartbeat, 1, 2, i)})
	}
	if s := a.Stats(); s.DroppedUnknownPeer != 5 {
		t.Fatalf("stats %+v", s)
	}
	// Re-adding the peer opens a new connection; messages sent while it
	// was removed never went anywhere.
	a.AddPeer(2, b.Addr())
	a.Send([]raft.Message{msg(raft.MsgHeartbeat, 1, 2, 7)})
	waitFor(t, "marker", func() bool { return b.hasIndex(1, 7) })
	if got := b.indexesFrom(1); !slices.Equal(got, []uint64{1, 7}) {
		t.Fatalf("received %v", got)
	}
}

func TestUpdatePeerAddress(t *testing.T) {
	a := newNode(t, 1, 7, nil)
	b := newNode(t, 2, 7, nil)
	connect(a, b)
	a.Send([]raft.Message{msg(raft.MsgHeartbeat, 1, 2, 1)})
	waitFor(t, "first message", func() bool { return b.hasIndex(1, 1) })

	// Node 2 moves to a new address while the old one stays up.
	b2 := newNode(t, 2, 7, nil)
	a.UpdatePeer(2, b2.Addr())
	if a.Peers()[2] != b2.Addr() {
		t.Fatalf("peers %v", a.Peers())
	}
	a.Send([]raft.Message{msg(raft.MsgHeartbeat, 1, 2, 2)})
	waitFor(t, "message at the new address", func() bool { return b2.hasIndex(1, 2) })
	if b.hasIndex(1, 2) {
		t.Fatal("message went to the old address")
	}
}

func TestFaultDropOutAndOneWay(t *testing.T) {
	a := newNode(t, 1, 7, nil)
	b := newNode(t, 2, 7, nil)
	connect(a, b)
	rules := []FaultRule{{Peer: 2, Direction: Out, Drop: true}}
	if err := a.SetFaults(rules); err != nil {
		t.Fatal(err)
	}
	if got := a.Faults(); !slices.Equal(got, rules) {
		t.Fatalf("Faults() = %v", got)
	}
	for i := uint64(1); i <= 10; i++ {
		a.Send([]raft.Message{msg(raft.MsgHeartbeat, 1, 2, i)})
		b.Send([]raft.Message{msg(raft.MsgHeartbeatResp, 2, 1, i)})
	}
	// One-way: b -> a still flows.
	waitFor(t, "b -> a", func() bool { return a.count() == 10 })
	a.ClearFaults()
	if len(a.Faults()) != 0 {
		t.Fatal("faults not cleared")
	}
	a.Send([]raft.Message{msg(raft.MsgHeartbeat, 1, 2, 100)})
	waitFor(t, "marker", func() bool { return b.hasIndex(1, 100) })
	// The marker went through the same FIFO queue and connection as the
	// dropped messages would have, so nothing else can still arrive.
	if got := b.indexesFrom(1); !slices.Equal(got, []uint64{100}) {
		t.Fatalf("b received %v", got)
	}
	if s := a.Stats(); s.FaultDroppedOut != 10 {
		t.Fatalf("stats %+v", s)
	}
}

func TestFaultDropIn(t *testing.T) {
	a := newNode(t, 1, 7, nil)
	b := newNode(t, 2, 7, nil)
	c := newNode(t, 3, 7, nil)
	connect(a, b, c)
	// b ignores a, but not c; Peer 0 would mean everyone.
	if err := b.SetFaults([]FaultRule{{Peer: 1, Direction: In, Drop: true}}); err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 10; i++ {
		a.Send([]raft.Message{msg(raft.MsgHeartbeat, 1, 2, i)})
		c.Send([]raft.Message{msg(raft.MsgHeartbeat, 3, 2, i)})
	}
	waitFor(t, "drops at b", func() bool { return b.Stats().FaultDroppedIn == 10 })
	waitFor(t, "c -> b", func() bool { return len(b.indexesFrom(3)) == 10 })
	// Outbound traffic of b is not affected by an In rule.
	b.Send([]raft.Message{msg(raft.MsgHeartbeatResp, 2, 1, 1)})
	waitFor(t, "b -> a", func() bool { return a.hasIndex(2, 1) })
	b.ClearFaults()
	a.Send([]raft.Message{msg(raft.MsgHeartbeat, 1, 2, 100)})
	waitFor(t, "marker", func() bool { return b.hasIndex(1, 100) })
	if got := b.indexesFrom(1); !slices.Equal(got, []uint64{100}) {
		t.Fatalf("b received %v from a", got)
	}
}

// lossRun sends n messages through a Loss rule with the given seed and
// returns which arrived.
func lossRun(t *testing.T, seed int64, n uint64) []uint64 {
	a := newNode(t, 1, 7, func(c *Config) { c.FaultSeed = seed })
	b := newNode(t, 2, 7, nil)
	connect(a, b)
	if err := a.SetFaults([]FaultRule{{Peer: 2, Direction: Both, Loss: 0.5}}); err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= n; i++ {
		a.Send([]raft.Message{msg(raft.MsgHeartbeat, 1, 2, i)})
	}
	a.ClearFaults()
	a.Send([]raft.Message{msg(raft.MsgHeartbeat, 1, 2, n+1)})
	waitFor(t, "marker", func() bool { return b.hasIndex(1, n+1) })
	got := b.indexesFrom(1)
	if s := a.Stats(); s.FaultDroppedOut+uint64(len(got)) != n+1 {
		t.Fatalf("%d dropped + %d delivered != %d", s.FaultDroppedOut, len(got), n+1)
	}
	return got[:len(got)-1]
}

func TestFaultLossSeeded(t *testing.T) {
	const n = 400
	first := lossRun(t, 42, n)
	second := lossRun(t, 42, n)
	other := lossRun(t, 43, n)
	// Binomial(400, 0.5): the bounds are more than 8 standard deviations out.
	if len(first) < 120 || len(first) > 280 {
		t.Fatalf("delivered %d of %d at 50%% loss", len(first), n)
	}
	if !slices.Equal(first, second) {
		t.Fatal("same seed, different losses")
	}
	if slices.Equal(first, other) {
		t.Fatal("different seeds, same losses")
	}
}

func TestFaultDelayOut(t *testing.T) {
	const delay = 300 * time.Millisecond
	a := newNode(t, 1, 7, nil)
	b := newNode(t, 2, 7, nil)
	c := newNode(t, 3, 7, nil)
	connect(a, b, c)
	if err := a.SetFaults([]FaultRule{{Peer: 2, Direction: Out, Delay: delay}}); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	a.Send([]raft.Message{msg(raft.MsgHeartbeat, 1, 2, 1), msg(raft.MsgHeartbeat, 1, 3, 1)})
	// Traffic to c is not held up by the delayed message.
	waitFor(t, "undelayed message", func() bool { return c.hasIndex(1, 1) })
	waitFor(t, "delayed message", func() bool { return b.hasIndex(1, 1) })
	if got := b.received()[0].at.Sub(sent); got < delay {
		t.Fatalf("delayed message arrived after %v, before the %v delay", got, delay)
	}
	if s := a.Stats(); s.FaultDelayedOut != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestFaultDelayDoesNotBlockQueue(t *testing.T) {
	// A delayed message to b must not hold up later messages to b either.
	const delay = time.Second
	a := newNode(t, 1, 7, nil)
	b := newNode(t, 2, 7, nil)
	connect(a, b)
	if err := a.SetFaults([]FaultRule{{Peer: 2, Direction: Out, Delay: delay}}); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	a.Send([]raft.Message{msg(raft.MsgHeartbeat, 1, 2, 1)})
	a.ClearFaults()
	a.Send([]raft.Message{msg(raft.MsgHeartbeat, 1, 2, 2)})
	waitFor(t, "both messages", func() bool { return b.count() == 2 })
	if got := b.indexesFrom(1); !slices.Equal(got, []uint64{2, 1}) {
		t.Fatalf("arrival order %v, want the undelayed message first", got)
	}
	if got := b.received()[1].at.Sub(sent); got < delay {
		t.Fatalf("delayed message arrived after %v", got)
	}
}

func TestFaultDelayJitterIn(t *testing.T) {
	const delay, jitter = 50 * time.Millisecond, 50 * time.Millisecond
	a := newNode(t, 1, 7, nil)
	b := newNode(t, 2, 7, nil)
	connect(a, b)
	if err := b.SetFaults([]FaultRule{{Peer: 0, Direction: In, Delay: delay, Jitter: jitter}}); err != nil {
		t.Fatal(err)
	}
	const n = 20
	sent := make([]time.Time, n+1)
	for i := uint64(1); i <= n; i++ {
		sent[i] = time.Now()
		a.Send([]raft.Message{msg(raft.MsgHeartbeat, 1, 2, i)})
	}
	waitFor(t, "delayed messages", func() bool { return b.count() == n })
	for _, r := range b.received() {
		if d := r.at.Sub(sent[r.msg.Index]); d < delay {
			t.Fatalf("message %d arrived after %v, before the %v delay", r.msg.Index, d, delay)
		}
	}
	if s := b.Stats(); s.FaultDelayedIn != n {
		t.Fatalf("stats %+v", s)
	}
}

func TestDirectionText(t *testing.T) {
	for _, d := range []Direction{In, Out, Both} {
		b, err := d.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Direction
		if err := back.UnmarshalText(b); err != nil || back != d {
			t.Fatalf("%v: round trip gave %v, %v", d, back, err)
		}
	}
	if _, err := ParseDirection("sideways"); !errors.Is(err, ErrInvalidFault) {
		t.Fatalf("ParseDirection(sideways) = %v", err)
	}
	if _, err := Direction(0).MarshalText(); !errors.Is(err, ErrInvalidFault) {
		t.Fatalf("MarshalText(0) = %v", err)
	}
}

func TestSetFaultsValidates(t *testing.T) {
	a := newNode(t, 1, 7, nil)
	good := []FaultRule{{Peer: 2, Direction: Out, Drop: true}}
	if err := a.SetFaults(good); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []FaultRule{
		{Peer: 2, Direction: 0, Drop: true},
		{Peer: 2, Direction: 9},
		{Peer: 2, Direction: In, Loss: 1.5},
		{Peer: 2, Direction: In, Loss: -0.1},
		{Peer: 2, Direction: In, Delay: -time.Second},
	} {
		if err := a.SetFaults([]FaultRule{bad}); !errors.Is(err, ErrInvalidFault) {
			t.Errorf("SetFaults(%+v) = %v, want ErrInvalidFault", bad, err)
		}
	}
	if got := a.Faults(); !slices.Equal(got, good) {
		t.Fatalf("a failed SetFaults changed the rules: %v", got)
	}
}

func TestQueueOverflowDropsAndReports(t *testing.T) {
	a := newNode(t, 1, 7, func(c *Config) { c.QueueSize = 8 })
	b := newNode(t, 2, 7, nil)
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	a.writeHookTest = func(uint64) { once.Do(func() { close(entered); <-release }) }
	connect(a, b)
	a.Send([]raft.Message{msg(raft.MsgHeartbeat, 1, 2, 0)})
	<-entered
	// The writer is held: 8 fit in the queue, the other 12 are dropped,
	// and Send returned each time without blocking.
	for i := uint64(1); i <= 20; i++ {
		a.Send([]raft.Message{msg(raft.MsgHeartbeat, 1, 2, i)})
	}
	if s := a.Stats(); s.DroppedQueueFull != 12 {
		t.Fatalf("stats %+v", s)
	}
	waitFor(t, "unreachable report", func() bool { return a.unreachableCount(2) > 0 })
	close(release)
	waitFor(t, "queued messages", func() bool { return b.count() == 9 })
}

func TestConcurrentUseAndClose(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		nodes := []*node{newNode(t, 1, 7, nil), newNode(t, 2, 7, nil), newNode(t, 3, 7, nil)}
		connect(nodes...)
		var wg sync.WaitGroup
		var stop atomic.Bool
		for _, n := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := uint64(0); !stop.Load(); i++ {
					for _, to := range nodes {
						if to != n {
							n.Send([]raft.Message{msg(raft.MsgApp, n.ID(), to.ID(), i)})
						}
					}
					if i%50 == 0 {
						runtime.Gosched()
					}
				}
			}()
		}
		// Membership and fault changes while traffic flows.
		for i := 0; i < 20; i++ {
			nodes[0].RemovePeer(2)
			nodes[0].AddPeer(2, nodes[1].Addr())
			_ = nodes[1].SetFaults([]FaultRule{{Direction: Both, Loss: 0.1, Delay: time.Millisecond}})
			nodes[1].ClearFaults()
		}
		waitFor(t, "traffic", func() bool { return nodes[2].count() > 100 })
		stop.Store(true)
		wg.Wait()
		for _, n := range nodes {
			if err := n.Close(); err != nil {
				t.Fatal(err)
			}
			if err := n.Close(); !errors.Is(err, ErrClosed) {
				t.Fatalf("second Close = %v", err)
			}
			n.Send([]raft.Message{msg(raft.MsgApp, n.ID(), 2, 1)}) // no panic after Close
		}
	}()
	// Close waits for its goroutines; give the runtime's own a moment.
	waitFor(t, "goroutines to exit", func() bool { return runtime.NumGoroutine() <= before })
}

func TestBackoffGrowsWithJitterAndCap(t *testing.T) {
	a := newNode(t, 1, 7, func(c *Config) {
		c.BackoffMin = 50 * time.Millisecond
		c.BackoffMax = time.Second
	})
	p := newPeer(a.Transport, 2, "127.0.0.1:1")
	want := []time.Duration{50, 100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		w *= time.Millisecond
		before := time.Now()
		p.failed("dial", p.addr, errors.New("refused"))
		if p.backoff != w {
			t.Fatalf("failure %d: backoff %v, want %v", i+1, p.backoff, w)
		}
		// Equal jitter: the wait is in [backoff/2, backoff].
		if wait := p.nextDial.Sub(before); wait < w/2 || wait > w+time.Since(before) {
			t.Fatalf("failure %d: wait %v outside [%v, %v]", i+1, wait, w/2, w)
		}
	}
}

func TestNoRedialDuringBackoff(t *testing.T) {
	// A long backoff: after the first failed dial, sends are dropped and
	// reported without dialing again.
	a := newNode(t, 1, 7, func(c *Config) { c.BackoffMin, c.BackoffMax = time.Hour, time.Hour })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close() // nothing listens there now
	a.AddPeer(2, dead)
	a.Send([]raft.Message{msg(raft.MsgHeartbeat, 1, 2, 1)})
	waitFor(t, "failed dial", func() bool { return a.Stats().DroppedUnreachable == 1 })
	for i := uint64(2); i <= 50; i++ {
		a.Send([]raft.Message{msg(raft.MsgHeartbeat, 1, 2, i)})
	}
	waitFor(t, "drops in backoff", func() bool { return a.Stats().DroppedUnreachable == 50 })
	if s := a.Stats(); s.Dials != 1 || s.DialFailures != 1 {
		t.Fatalf("stats %+v", s)
	}
	waitFor(t, "unreachable report", func() bool { return a.unreachableCount(2) > 0 })
	// A new address resets the backoff: the next send dials at once.
	b := newNode(t, 2, 7, nil)
	a.UpdatePeer(2, b.Addr())
	a.Send([]raft.Message{msg(raft.MsgHeartbeat, 1, 2, 51)})
	waitFor(t, "delivery at the new address", func() bool { return b.hasIndex(1, 51) })
}

func TestCloseDiscardsDelayedMessages(t *testing.T) {
	a := newNode(t, 1, 7, nil)
	b := newNode(t, 2, 7, nil)
	connect(a, b)
	if err := a.SetFaults([]FaultRule{{Peer: 2, Direction: Out, Delay: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	if err := b.SetFaults([]FaultRule{{Peer: 1, Direction: In, Delay: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	// Message 1 waits in a's timer (Out), message 2 in b's timer (In).
	a.Send([]raft.Message{msg(raft.MsgHeartbeat, 1, 2, 1)})
	a.ClearFaults()
	a.Send([]raft.Message{msg(raft.MsgHeartbeat, 1, 2, 2)})
	waitFor(t, "delayed at b", func() bool { return b.Stats().FaultDelayedIn == 1 })
	// Close does not wait an hour: pending delayed messages are discarded.
	done := make(chan struct{})
	go func() {
		a.Close()
		b.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("Close blocked on delayed messages")
	}
	if b.count() != 0 {
		t.Fatalf("delayed messages delivered: %v", b.indexesFrom(1))
	}
	if s := a.Stats(); s.FaultDelayedOut != 1 || s.MessagesSent != 1 {
		t.Fatalf("stats %+v", s)
	}
}
