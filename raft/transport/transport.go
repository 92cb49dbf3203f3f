package transport

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftkv/raftkv/raft"
)

// Defaults for the zero values of Config.
const (
	DefaultQueueSize        = 4096
	DefaultDialTimeout      = time.Second
	DefaultWriteTimeout     = 5 * time.Second
	DefaultHandshakeTimeout = 5 * time.Second
	DefaultBackoffMin       = 50 * time.Millisecond
	DefaultBackoffMax       = time.Second
	DefaultMaxInboundConns  = 64
	DefaultIdleTimeout      = 5 * time.Minute
	DefaultFrameReadTimeout = time.Minute
)

// ErrClosed is returned by operations on a closed Transport.
var ErrClosed = errors.New("transport: closed")

// Config configures a Transport. ID, ClusterID, ListenAddr and Handler are
// required; zero values elsewhere select the defaults above.
type Config struct {
	// ID is this node's raft ID (nonzero).
	ID uint64
	// ClusterID must match on both ends of every connection.
	ClusterID uint64
	// ListenAddr is the peer address to listen on ("127.0.0.1:0" picks a port).
	ListenAddr string
	// Handler is called for each received message, from the connection's
	// reader goroutine (or a fault-delay timer), so it is called
	// concurrently and must be goroutine-safe. A slow Handler slows down
	// only the connection it is called from (TCP pushes back on that
	// sender). Close waits for running Handler calls, so Handler must
	// return promptly once the node stops.
	Handler func(raft.Message)
	// OnUnreachable, if set, is called when a message to peer could not be
	// sent (dial or write failure, queue overflow, peer in backoff). It is
	// called from a transport goroutine, never from within Send, and calls
	// for the same peer are coalesced while one is pending.
	OnUnreachable func(peer uint64)
	// OnSnapshotStatus, if set, is called after a MsgSnap to peer was
	// written to the connection (raft.SnapshotFinish) or lost
	// (raft.SnapshotFailure), so that it can be wired to ReportSnapshot.
	// Called like OnUnreachable. "Written" is not "installed": the
	// follower may still fail to apply it, which raft's probing handles.
	OnSnapshotStatus func(peer uint64, status raft.SnapshotStatus)
	// MaxFrameSize bounds a frame's payload, on both sends and receives.
	// A single message larger than this is dropped.
	MaxFrameSize int
	// QueueSize is the number of messages buffered per peer.
	QueueSize int
	// DialTimeout, WriteTimeout and HandshakeTimeout bound each dial, each
	// frame write and each handshake (both sides).
	DialTimeout, WriteTimeout, HandshakeTimeout time.Duration
	// BackoffMin and BackoffMax bound the exponential, jittered delay
	// between failed connection attempts to a peer.
	BackoffMin, BackoffMax time.Duration
	// FaultSeed seeds the random source of Loss and Jitter fault rules.
	// The draws are reproducible for a reproducible order of messages:
	// exactly so for Out rules with one goroutine calling Send; In rules
	// draw from the reader goroutines in arrival order.
	FaultSeed int64
	// Logger receives connection-level events; nil discards them.
	Logger *slog.Logger

	// MaxInboundConns caps the inbound connections served at once,
	// handshaking or established; further connections are closed at once.
	// A cluster needs one per peer (plus a few being replaced).
	MaxInboundConns int
	// IdleTimeout bounds how long an inbound connection may wait for the
	// next frame header; FrameReadTimeout bounds how long a frame's payload
	// may take once its header arrived. A dialer whose connection was
	// closed for idleness redials on its next send.
	IdleTimeout, FrameReadTimeout time.Duration

	// TLS, if set, makes every peer connection mutual TLS (1.3): it must
	// hold this node's certificate (usable for server and client auth) and
	// RootCAs, the pool peers' certificates must chain to. Both ends then
	// also require that the other's certificate names the node ID it
	// claims in the handshake (or was dialled as), via CertIDs.
	TLS *tls.Config
	// CertIDs returns the node IDs a verified peer certificate names.
	// Required with TLS.
	CertIDs func(cert *x509.Certificate) []uint64
}

func (c *Config) setDefaults() error {
	if c.ID == 0 {
		return errors.New("transport: config: ID must be nonzero")
	}
	if c.Handler == nil {
		return errors.New("transport: config: Handler is required")
	}
	if c.MaxFrameSize <= 0 {
		c.MaxFrameSize = DefaultMaxFrameSize
	}
	if c.MaxFrameSize > maxFrameSizeLimit {
		return fmt.Errorf("transport: config: MaxFrameSize %d above limit %d", c.MaxFrameSize, maxFrameSizeLimit)
	}
	if c.MaxFrameSize < 64 {
		return fmt.Errorf("transport: config: MaxFrameSize %d too small", c.MaxFrameSize)
	}
	if c.QueueSize <= 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = DefaultBackoffMin
	}
	if c.BackoffMax < c.BackoffMin {
		c.BackoffMax = max(DefaultBackoffMax, c.BackoffMin)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxInboundConns <= 0 {
		c.MaxInboundConns = DefaultMaxInboundConns
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.FrameReadTimeout <= 0 {
		c.FrameReadTimeout = DefaultFrameReadTimeout
	}
	if c.TLS != nil {
		if len(c.TLS.Certificates) == 0 || c.TLS.RootCAs == nil {
			return errors.New("transport: config: TLS needs Certificates and RootCAs")
		}
		if c.CertIDs == nil {
			return errors.New("transport: config: TLS needs CertIDs")
		}
	}
	return nil
}

// Stats are cumulative counters, for tests, metrics and the UI.
type Stats struct {
	FramesSent, MessagesSent, BytesSent uint64
	FramesReceived, MessagesReceived    uint64
	DroppedQueueFull                    uint64 // Send found the peer's queue full
	DroppedUnreachable                  uint64 // no connection (dial failed, backoff, write failed)
	DroppedUnknownPeer                  uint64 // Send to a peer not added (or removed)
	DroppedOversize                     uint64 // one message larger than MaxFrameSize
	DroppedInvalid                      uint64 // local types, wrong To/From
	FaultDroppedOut, FaultDroppedIn     uint64 // dropped by fault rules
	FaultDelayedOut, FaultDelayedIn     uint64 // delayed by fault rules
	Dials, DialFailures                 uint64
	InboundAccepted, InboundRejected    uint64 // handshakes accepted / refused
	InboundMalformed                    uint64 // connections dropped for bad frames
	InboundOverCap                      uint64 // connections closed at accept: MaxInboundConns reached
}

type stats struct {
	framesSent, messagesSent, bytesSent  atomic.Uint64
	framesReceived, messagesReceived     atomic.Uint64
	droppedQueueFull, droppedUnreachable atomic.Uint64
	droppedUnknownPeer, droppedOversize  atomic.Uint64
	droppedInvalid                       atomic.Uint64
	faultDroppedOut, faultDroppedIn      atomic.Uint64
	faultDelayedOut, faultDelayedIn      atomic.Uint64
	dials, dialFailures                  atomic.Uint64
	inboundAccepted, inboundRejected     atomic.Uint64
	inboundMalformed                     atomic.Uint64
	inboundOverCap                       atomic.Uint64
}

// Transport sends raft messages to peers over persistent TCP connections
// and hands received messages to Config.Handler. See the package
// documentation for the contract.
type Transport struct {
	cfg    Config
	log    *slog.Logger
	ln     net.Listener
	faults *faultFilter
	stats  stats
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.RWMutex
	closed  bool
	peers   map[uint64]*peer
	inbound map[net.Conn]struct{}

	delayMu   sync.Mutex
	delayID   uint64
	delayed   map[uint64]*time.Timer
	delayDone bool

	notifyMu      sync.Mutex
	unreachable   map[uint64]struct{}
	snapStatus    []snapEvent
	notifyWake    chan struct{}
	jitterMu      sync.Mutex
	jitter        *rand.Rand
	writeHookTest func(peer uint64) // tests block the writer here to force batching
}

type snapEvent struct {
	peer   uint64
	status raft.SnapshotStatus
}

// New starts a Transport listening on cfg.ListenAddr.
func New(cfg Config) (*Transport, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("transport: listen %s: %w", cfg.ListenAddr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &Transport{
		cfg:         cfg,
		log:         cfg.Logger.With("node", cfg.ID),
		ln:          ln,
		faults:      newFaultFilter(cfg.FaultSeed),
		ctx:         ctx,
		cancel:      cancel,
		peers:       make(map[uint64]*peer),
		inbound:     make(map[net.Conn]struct{}),
		delayed:     make(map[uint64]*time.Timer),
		unreachable: make(map[uint64]struct{}),
		notifyWake:  make(chan struct{}, 1),
		jitter:      rand.New(rand.NewPCG(cfg.ID, uint64(time.Now().UnixNano()))),
	}
	t.wg.Add(2)
	go t.acceptLoop()
	go t.notifyLoop()
	return t, nil
}

// Addr returns the address the transport listens on.
func (t *Transport) Addr() string { return t.ln.Addr().String() }

// ID returns this node's ID.
func (t *Transport) ID() uint64 { return t.cfg.ID }

// Stats returns a snapshot of the counters.
func (t *Transport) Stats() Stats {
	s := &t.stats
	return Stats{
		FramesSent: s.framesSent.Load(), MessagesSent: s.messagesSent.Load(), BytesSent: s.bytesSent.Load(),
		FramesReceived: s.framesReceived.Load(), MessagesReceived: s.messagesReceived.Load(),
		DroppedQueueFull: s.droppedQueueFull.Load(), DroppedUnreachable: s.droppedUnreachable.Load(),
		DroppedUnknownPeer: s.droppedUnknownPeer.Load(), DroppedOversize: s.droppedOversize.Load(),
		DroppedInvalid:  s.droppedInvalid.Load(),
		FaultDroppedOut: s.faultDroppedOut.Load(), FaultDroppedIn: s.faultDroppedIn.Load(),
		FaultDelayedOut: s.faultDelayedOut.Load(), FaultDelayedIn: s.faultDelayedIn.Load(),
		Dials: s.dials.Load(), DialFailures: s.dialFailures.Load(),
		InboundAccepted: s.inboundAccepted.Load(), InboundRejected: s.inboundRejected.Load(),
		InboundOverCap:   s.inboundOverCap.Load(),
		InboundMalformed: s.inboundMalformed.Load(),
	}
}

// AddPeer registers peer id at addr and starts its writer. Adding a known
// peer with a new address is UpdatePeer. The connection is dialed lazily,
// when the first message is sent.
func (t *Transport) AddPeer(id uint64, addr string) {
	if id == 0 || id == t.cfg.ID {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	if p, ok := t.peers[id]; ok {
		p.setAddr(addr)
		return
	}
	p := newPeer(t, id, addr)
	t.peers[id] = p
	t.wg.Add(1)
	go p.run()
}

// UpdatePeer changes the address of a known peer; its connection is
// re-dialed at the new address before the next write. Unknown peers are
// ignored.
func (t *Transport) UpdatePeer(id uint64, addr string) {
	t.mu.RLock()
	p := t.peers[id]
	t.mu.RUnlock()
	if p != nil {
		p.setAddr(addr)
	}
}

// RemovePeer stops sending to peer id: queued messages are discarded, the
// connection is closed and the writer has exited when it returns.
// Connections the peer opened to us stay up until it closes them (its
// messages may still matter, e.g. a removed leader stepping down).
func (t *Transport) RemovePeer(id uint64) {
	t.mu.Lock()
	p := t.peers[id]
	delete(t.peers, id)
	t.mu.Unlock()
	if p != nil {
		p.stop()
		<-p.done
	}
}

// Peers returns the known peers and their addresses.
func (t *Transport) Peers() map[uint64]string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	m := make(map[uint64]string, len(t.peers))
	for id, p := range t.peers {
		m[id] = p.getAddr()
	}
	return m
}

// Send queues msgs for their destinations and returns at once. A message
// is dropped (raft tolerates loss) when its peer is unknown, its peer's
// queue is full (OnUnreachable follows), a fault rule drops it, or it is a
// local message type or addressed to this node. The transport keeps msgs'
// byte slices until the messages are written; the caller must not modify
// them afterwards (raft never does).
func (t *Transport) Send(msgs []raft.Message) {
	for i := range msgs {
		m := msgs[i]
		if raft.IsLocal(m.Type) || !m.Type.Valid() || m.To == t.cfg.ID || m.To == 0 {
			t.stats.droppedInvalid.Add(1)
			continue
		}
		drop, delay := t.faults.decide(Out, m.To)
		if drop {
			t.stats.faultDroppedOut.Add(1)
			continue
		}
		if delay > 0 {
			t.stats.faultDelayedOut.Add(1)
			t.after(delay, func() { t.enqueue(m) })
			continue
		}
		t.enqueue(m)
	}
}

func (t *Transport) enqueue(m raft.Message) {
	t.mu.RLock()
	p := t.peers[m.To]
	closed := t.closed
	t.mu.RUnlock()
	if closed {
		return
	}
	if p == nil {
		t.stats.droppedUnknownPeer.Add(1)
		return
	}
	select {
	case p.queue <- m:
	default:
		t.stats.droppedQueueFull.Add(1)
		t.reportUnreachable(m.To)
		if m.Type == raft.MsgSnap {
			t.reportSnapshot(m.To, raft.SnapshotFailure)
		}
	}
}

// SetFaults replaces the packet fault rules. Only the unsafe fault API (a
// node started with fault injection explicitly enabled, or the harness)
// may call it: a production node never drops or delays messages on
// purpose. Every message is checked against the rules, in both
// directions. It returns an error wrapping ErrInvalidFault, and changes
// nothing, if a rule is malformed.
func (t *Transport) SetFaults(rules []FaultRule) error {
	if err := t.faults.set(rules); err != nil {
		return err
	}
	t.log.Warn("packet faults set", "rules", len(rules))
	return nil
}

// ClearFaults removes every fault rule. Messages already being delayed are
// still delivered when their delay ends. Same restriction as SetFaults.
func (t *Transport) ClearFaults() {
	_ = t.faults.set(nil)
	t.log.Info("packet faults cleared")
}

// Faults returns a copy of the current fault rules.
func (t *Transport) Faults() []FaultRule { return t.faults.get() }

// after runs fn after d on its own goroutine, unless the transport is
// closed first. Close waits for running callbacks.
func (t *Transport) after(d time.Duration, fn func()) {
	t.delayMu.Lock()
	defer t.delayMu.Unlock()
	if t.delayDone {
		return
	}
	t.delayID++
	id := t.delayID
	t.wg.Add(1)
	// The callback takes delayMu first, so it cannot run before the timer
	// is in the map.
	t.delayed[id] = time.AfterFunc(d, func() {
		defer t.wg.Done()
		t.delayMu.Lock()
		delete(t.delayed, id)
		done := t.delayDone
		t.delayMu.Unlock()
		if !done {
			fn()
		}
	})
}

func (t *Transport) reportUnreachable(peer uint64) {
	if t.cfg.OnUnreachable == nil {
		return
	}
	t.notifyMu.Lock()
	t.unreachable[peer] = struct{}{}
	t.notifyMu.Unlock()
	t.wakeNotifier()
}

func (t *Transport) reportSnapshot(peer uint64, status raft.SnapshotStatus) {
	if t.cfg.OnSnapshotStatus == nil {
		return
	}
	t.notifyMu.Lock()
	t.snapStatus = append(t.snapStatus, snapEvent{peer, status})
	t.notifyMu.Unlock()
	t.wakeNotifier()
}

func (t *Transport) wakeNotifier() {
	select {
	case t.notifyWake <- struct{}{}:
	default:
	}
}

// notifyLoop calls the callbacks from its own goroutine so that Send, which
// the driver calls from its loop, never calls back into the driver.
func (t *Transport) notifyLoop() {
	defer t.wg.Done()
	for {
		select {
		case <-t.ctx.Done():
			return
		case <-t.notifyWake:
		}
		t.notifyMu.Lock()
		peers := t.unreachable
		snaps := t.snapStatus
		t.unreachable = make(map[uint64]struct{})
		t.snapStatus = nil
		t.notifyMu.Unlock()
		for _, s := range snaps {
			t.cfg.OnSnapshotStatus(s.peer, s.status)
		}
		for id := range peers {
			t.cfg.OnUnreachable(id)
		}
	}
}

// Close stops the listener, every writer, reader and pending delayed
// message, and waits for all goroutines to exit. Messages still queued are
// discarded.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return ErrClosed
	}
	t.closed = true
	peers := t.peers
	t.peers = make(map[uint64]*peer)
	for c := range t.inbound {
		c.Close()
	}
	t.mu.Unlock()

	t.cancel()
	err := t.ln.Close()
	for _, p := range peers {
		p.stop()
	}
	t.delayMu.Lock()
	t.delayDone = true
	for id, tm := range t.delayed {
		if tm.Stop() {
			t.wg.Done()
		}
		delete(t.delayed, id)
	}
	t.delayMu.Unlock()
	t.wg.Wait()
	return err
}

func (t *Transport) acceptLoop() {
	defer t.wg.Done()
	var pause time.Duration
	for {
		c, err := t.ln.Accept()
		if err != nil {
			if t.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off instead of
			// spinning, and keep serving.
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			t.log.Warn("accept failed", "err", err, "retry_in", pause)
			select {
			case <-time.After(pause):
				continue
			case <-t.ctx.Done():
				return
			}
		}
		pause = 0
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			c.Close()
			return
		}
		if len(t.inbound) >= t.cfg.MaxInboundConns {
			t.mu.Unlock()
			t.stats.inboundOverCap.Add(1)
			t.log.Warn("closing inbound connection: connection cap reached", "remote", c.RemoteAddr().String(), "cap", t.cfg.MaxInboundConns)
			c.Close()
			continue
		}
		t.inbound[c] = struct{}{}
		t.wg.Add(1)
		t.mu.Unlock()
		go t.serveConn(c)
	}
}

// serveConn runs the handshake on an inbound connection and then reads
// frames from it until it fails. Any protocol violation closes this
// connection only.
func (t *Transport) serveConn(c net.Conn) {
	defer t.wg.Done()
	defer func() {
		t.mu.Lock()
		delete(t.inbound, c)
		t.mu.Unlock()
		c.Close()
	}()
	remote := c.RemoteAddr().String()
	setNoDelay(c)

	_ = c.SetDeadline(time.Now().Add(t.cfg.HandshakeTimeout))
	conn := c
	var certIDs []uint64
	if t.cfg.TLS != nil {
		tc := tls.Server(c, t.serverTLS())
		if err := tc.HandshakeContext(t.ctx); err != nil {
			t.stats.inboundRejected.Add(1)
			t.log.Warn("rejecting inbound connection: TLS handshake failed", "remote", remote, "err", err)
			return
		}
		certIDs = t.cfg.CertIDs(tc.ConnectionState().PeerCertificates[0])
		conn = tc
	}
	h, err := readHello(conn)
	if err != nil {
		t.stats.inboundRejected.Add(1)
		t.log.Warn("dropping inbound connection: bad hello", "remote", remote, "err", err)
		return
	}
	status, err := h.check(t.cfg.ClusterID, t.cfg.ID)
	if err == nil && t.cfg.TLS != nil && !slices.Contains(certIDs, h.sender) {
		status = helloBadIdentity
		err = fmt.Errorf("%w: %w: peer claims node %d, its certificate names %v", ErrHandshake, ErrIdentity, h.sender, certIDs)
	}
	_, werr := conn.Write([]byte{status})
	if err != nil {
		t.stats.inboundRejected.Add(1)
		t.log.Warn("rejecting inbound connection", "remote", remote, "peer", h.sender, "err", err)
		return
	}
	if werr != nil {
		t.log.Info("inbound handshake failed", "remote", remote, "peer", h.sender, "err", werr)
		return
	}
	t.stats.inboundAccepted.Add(1)
	t.log.Debug("inbound connection", "remote", remote, "peer", h.sender)

	br := bufio.NewReaderSize(conn, 64<<10)
	framePayload := func() { _ = c.SetReadDeadline(time.Now().Add(t.cfg.FrameReadTimeout)) }
	for {
		_ = c.SetReadDeadline(time.Now().Add(t.cfg.IdleTimeout))
		msgs, err := readFrame(br, t.cfg.MaxFrameSize, framePayload)
		if err != nil {
			switch {
			case errors.Is(err, ErrMalformed):
				t.stats.inboundMalformed.Add(1)
				t.log.Warn("dropping inbound connection: malformed frame", "remote", remote, "peer", h.sender, "err", err)
			case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
				t.log.Debug("inbound connection closed", "remote", remote, "peer", h.sender)
			default:
				t.log.Info("inbound connection failed", "remote", remote, "peer", h.sender, "err", err)
			}
			return
		}
		t.stats.framesReceived.Add(1)
		t.stats.messagesReceived.Add(uint64(len(msgs)))
		for _, m := range msgs {
			if m.From != h.sender || m.To != t.cfg.ID || raft.IsLocal(m.Type) {
				t.stats.droppedInvalid.Add(1)
				t.log.Warn("dropping invalid inbound message", "remote", remote, "peer", h.sender,
					"type", m.Type, "from", m.From, "to", m.To)
				continue
			}
			t.deliver(m)
		}
	}
}

func (t *Transport) deliver(m raft.Message) {
	drop, delay := t.faults.decide(In, m.From)
	switch {
	case drop:
		t.stats.faultDroppedIn.Add(1)
	case delay > 0:
		t.stats.faultDelayedIn.Add(1)
		t.after(delay, func() { t.cfg.Handler(m) })
	default:
		t.cfg.Handler(m)
	}
}

// backoffDelay returns a delay in [b/2, b), "equal jitter", so that peers
// that failed together do not retry in lockstep.
func (t *Transport) backoffDelay(b time.Duration) time.Duration {
	t.jitterMu.Lock()
	defer t.jitterMu.Unlock()
	half := b / 2
	return half + time.Duration(t.jitter.Int64N(int64(b-half)+1))
}

// serverTLS is the listener's side of mutual TLS: the peer must present a
// certificate that chains to RootCAs.
func (t *Transport) serverTLS() *tls.Config {
	cfg := t.cfg.TLS.Clone()
	cfg.ClientCAs = t.cfg.TLS.RootCAs
	cfg.ClientAuth = tls.RequireAndVerifyClientCert
	cfg.MinVersion = tls.VersionTLS13
	return cfg
}

// clientTLS is the dialer's side for a connection to node id. The server's
// certificate is checked against RootCAs and must name id; its host name is
// not checked, since peers are addressed by node, not by DNS name (an
// address may be an IP, or stale after a membership change).
func (t *Transport) clientTLS(id uint64) *tls.Config {
	cfg := t.cfg.TLS.Clone()
	cfg.MinVersion = tls.VersionTLS13
	cfg.InsecureSkipVerify = true // replaced by VerifyConnection below
	roots := t.cfg.TLS.RootCAs
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return fmt.Errorf("%w: peer sent no certificate", ErrIdentity)
		}
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		leaf := cs.PeerCertificates[0]
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			return err
		}
		if ids := t.cfg.CertIDs(leaf); !slices.Contains(ids, id) {
			return fmt.Errorf("%w: dialled node %d, its certificate names %v", ErrIdentity, id, ids)
		}
		return nil
	}
	return cfg
}

func setNoDelay(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		// Raft messages are latency-sensitive and the writer already
		// batches; Nagle would only add delay.
		_ = tc.SetNoDelay(true)
	}
}
