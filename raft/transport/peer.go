package transport

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftkv/raftkv/raft"
)

// maxRetainedBuf is the largest write buffer a writer keeps between
// batches; a bigger one (after a snapshot) is released.
const maxRetainedBuf = 4 << 20

// batchTarget is the payload size at which a writer stops adding queued
// messages to a batch (the hard limit is MaxFrameSize).
const batchTarget = 1 << 20

// peer is the outbound side of one remote node: a bounded queue and the
// single goroutine that owns the connection and writes to it.
type peer struct {
	t      *Transport
	id     uint64
	queue  chan raft.Message
	ctx    context.Context // cancelled by stop
	cancel context.CancelFunc
	done   chan struct{} // closed when run returns

	mu          sync.Mutex
	addr        string
	addrChanged bool

	// Owned by the run goroutine.
	conn       *outConn
	stopClose  func() bool // unregisters the close-on-cancel hook of conn
	backoff    time.Duration
	nextDial   time.Time
	lastErr    string
	batch      []raft.Message
	sizes      []int // MessageSize of each message in batch
	buf        []byte
	snapsInBuf int // MsgSnap messages in buf
}

func newPeer(t *Transport, id uint64, addr string) *peer {
	ctx, cancel := context.WithCancel(t.ctx)
	return &peer{
		t:      t,
		id:     id,
		addr:   addr,
		queue:  make(chan raft.Message, t.cfg.QueueSize),
		ctx:    ctx,
		cancel: cancel,
		done:   make(chan struct{}),
	}
}

func (p *peer) setAddr(addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if addr != p.addr {
		p.addr = addr
		p.addrChanged = true
	}
}

func (p *peer) getAddr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addr
}

func (p *peer) takeAddr() (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	changed := p.addrChanged
	p.addrChanged = false
	return p.addr, changed
}

// stop makes run return; the context hook closes the connection, which
// unblocks a pending write or dial.
func (p *peer) stop() { p.cancel() }

func (p *peer) run() {
	defer p.t.wg.Done()
	defer close(p.done)
	defer p.closeConn()
	var carry raft.Message
	hasCarry := false
	for {
		if hasCarry {
			p.batch = append(p.batch[:0], carry)
			carry, hasCarry = raft.Message{}, false
		} else {
			select {
			case <-p.ctx.Done():
				return
			case m := <-p.queue:
				p.batch = append(p.batch[:0], m)
			}
		}
		p.sizes = append(p.sizes[:0], MessageSize(&p.batch[0]))
		if hook := p.t.writeHookTest; hook != nil {
			hook(p.id)
		}
		// Take everything queued, up to one frame's worth of payload, and
		// write it at once. A message that would overflow the frame is
		// carried over to the next batch. Batches stop growing at
		// batchTarget so that the receiver can decode one frame while the
		// next is in flight, and the write buffer is reused.
		total := uvarintLen(uint64(p.sizes[0])) + p.sizes[0]
		target := min(p.t.cfg.MaxFrameSize, batchTarget)
	drain:
		for total < target {
			select {
			case m := <-p.queue:
				size := MessageSize(&m)
				need := uvarintLen(uint64(size)) + size
				if total+need > p.t.cfg.MaxFrameSize {
					carry, hasCarry = m, true
					break drain
				}
				p.batch = append(p.batch, m)
				p.sizes = append(p.sizes, size)
				total += need
			default:
				break drain
			}
		}
		p.flush()
		clear(p.batch) // do not pin entry data until the next batch
		if p.ctx.Err() != nil {
			return
		}
	}
}

// encode fills p.buf with the batch as one or more frames, each at most
// MaxFrameSize of payload, dropping messages that cannot fit in any frame.
// It returns the number of frames and messages encoded.
func (p *peer) encode() (frames, msgs int) {
	maxPayload := p.t.cfg.MaxFrameSize
	p.buf = p.buf[:0]
	p.snapsInBuf = 0
	start, payload := 0, 0
	for i := range p.batch {
		m := &p.batch[i]
		size := p.sizes[i]
		need := uvarintLen(uint64(size)) + size
		if need > maxPayload {
			p.t.stats.droppedOversize.Add(1)
			p.t.log.Warn("dropping message larger than the frame limit",
				"peer", p.id, "type", m.Type, "bytes", size, "limit", maxPayload)
			if m.Type == raft.MsgSnap {
				p.t.reportSnapshot(p.id, raft.SnapshotFailure)
			}
			continue
		}
		if payload > 0 && payload+need > maxPayload {
			sealFrame(p.buf[start:])
			frames++
			payload = 0
		}
		if payload == 0 {
			start = len(p.buf)
			p.buf = append(p.buf, make([]byte, FrameHeaderSize)...)
		}
		p.buf = binary.AppendUvarint(p.buf, uint64(size))
		p.buf = AppendMessage(p.buf, m)
		payload += need
		msgs++
		if m.Type == raft.MsgSnap {
			p.snapsInBuf++
		}
	}
	if payload > 0 {
		sealFrame(p.buf[start:])
		frames++
	}
	return frames, msgs
}

func (p *peer) flush() {
	frames, msgs := p.encode()
	if msgs == 0 {
		return
	}
	addr, changed := p.takeAddr()
	if changed {
		p.t.log.Info("peer address changed", "peer", p.id, "addr", addr)
		p.closeConn()
		p.backoff, p.nextDial = 0, time.Time{}
	}
	if p.conn != nil && p.conn.dead.Load() {
		// The peer closed the connection (it restarted, say): redial now
		// rather than lose this batch on a write to a dead socket.
		p.closeConn()
	}
	if p.conn == nil {
		if time.Now().Before(p.nextDial) {
			p.dropped(msgs)
			return
		}
		if err := p.dial(addr); err != nil {
			p.failed("dial", addr, err)
			p.dropped(msgs)
			return
		}
	}
	_ = p.conn.SetWriteDeadline(time.Now().Add(p.t.cfg.WriteTimeout))
	// One Write call for the whole batch: the frames are already
	// contiguous in p.buf, so this is one syscall in the common case.
	if _, err := p.conn.Write(p.buf); err != nil {
		p.closeConn()
		p.failed("write", addr, err)
		p.dropped(msgs)
		return
	}
	s := &p.t.stats
	s.framesSent.Add(uint64(frames))
	s.messagesSent.Add(uint64(msgs))
	s.bytesSent.Add(uint64(len(p.buf)))
	for range p.snapsInBuf {
		p.t.reportSnapshot(p.id, raft.SnapshotFinish)
	}
	if cap(p.buf) > maxRetainedBuf {
		p.buf = nil // one huge snapshot should not stay allocated forever
	}
}

// dropped accounts for a batch that could not be written.
func (p *peer) dropped(msgs int) {
	p.t.stats.droppedUnreachable.Add(uint64(msgs))
	for range p.snapsInBuf {
		p.t.reportSnapshot(p.id, raft.SnapshotFailure)
	}
	p.t.reportUnreachable(p.id)
}

// failed records a dial or write failure and schedules the next attempt
// with exponential backoff and jitter.
func (p *peer) failed(op, addr string, err error) {
	if p.ctx.Err() != nil {
		return
	}
	cfg := &p.t.cfg
	p.backoff = min(max(2*p.backoff, cfg.BackoffMin), cfg.BackoffMax)
	wait := p.t.backoffDelay(p.backoff)
	p.nextDial = time.Now().Add(wait)
	// Log each distinct error once rather than every retry.
	if msg := op + ": " + err.Error(); msg != p.lastErr {
		p.lastErr = msg
		p.t.log.Warn("peer unreachable", "peer", p.id, "addr", addr, "op", op, "err", err, "retry_in", wait)
	}
}

// dial connects to addr and performs the handshake.
func (p *peer) dial(addr string) error {
	t := p.t
	t.stats.dials.Add(1)
	d := net.Dialer{Timeout: t.cfg.DialTimeout}
	c, err := d.DialContext(p.ctx, "tcp", addr)
	if err != nil {
		t.stats.dialFailures.Add(1)
		return err
	}
	stopClose := context.AfterFunc(p.ctx, func() { c.Close() })
	setNoDelay(c)
	if t.cfg.TLS != nil {
		_ = c.SetDeadline(time.Now().Add(t.cfg.HandshakeTimeout))
		tc := tls.Client(c, t.clientTLS(p.id))
		if err := tc.HandshakeContext(p.ctx); err != nil {
			stopClose()
			c.Close()
			t.stats.dialFailures.Add(1)
			return fmt.Errorf("%w: TLS: %w", ErrHandshake, err)
		}
		c = tc
	}
	if err := p.handshake(c); err != nil {
		stopClose()
		c.Close()
		t.stats.dialFailures.Add(1)
		return err
	}
	oc := &outConn{Conn: c}
	p.conn, p.stopClose = oc, stopClose
	p.backoff, p.lastErr = 0, ""
	t.log.Info("connected to peer", "peer", p.id, "addr", addr, "local", c.LocalAddr().String())
	// The listener never writes after the handshake, so a read returns
	// only when the peer closes or resets the connection (or we close
	// it). Marking the connection dead lets the writer redial before its
	// next write instead of writing into a dead socket.
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		var b [1]byte
		_, _ = c.Read(b[:])
		oc.dead.Store(true)
	}()
	return nil
}

// outConn is an outbound connection and whether the peer has closed it.
type outConn struct {
	net.Conn
	dead atomic.Bool
}

func (p *peer) handshake(c net.Conn) error {
	cfg := &p.t.cfg
	_ = c.SetDeadline(time.Now().Add(cfg.HandshakeTimeout))
	h := hello{version: ProtocolVersion, cluster: cfg.ClusterID, sender: cfg.ID, receiver: p.id}
	if _, err := c.Write(h.marshal()); err != nil {
		return fmt.Errorf("%w: writing hello: %w", ErrHandshake, err)
	}
	var status [1]byte
	if _, err := io.ReadFull(c, status[:]); err != nil {
		return fmt.Errorf("%w: reading answer: %w", ErrHandshake, err)
	}
	if err := statusError(status[0]); err != nil {
		return err
	}
	return c.SetDeadline(time.Time{})
}

func (p *peer) closeConn() {
	if p.conn == nil {
		return
	}
	p.stopClose()
	p.conn.Close()
	p.conn, p.stopClose = nil, nil
}
