package docker

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	nfqueue "github.com/florianl/go-nfqueue/v2"
	"github.com/mdlayher/netlink"
)

// delayQueueMaxLen is how many packets the kernel holds for one delayed
// link before it lets further ones through undelayed (the queue is opened
// fail-open). Raft traffic under a few hundred milliseconds of delay stays
// far below it; a bulk transfer would exceed it and see less delay rather
// than loss.
const delayQueueMaxLen = 16384

// delayQueue delays the packets one container sends to one peer. The
// container's iptables send them to an NFQUEUE queue in its network
// namespace; delayQueue listens on that queue through a netlink socket
// opened inside the namespace and gives each packet its NF_ACCEPT verdict
// once its time has come: Delay after it was queued, plus a uniform draw in
// [0, Jitter]. With no jitter packets leave in the order they came; with
// jitter each one draws its own time, so packets may overtake each other,
// as with netem's jitter.
type delayQueue struct {
	node, peer string
	pid        int
	queue      uint16
	log        *slog.Logger
	nf         *nfqueue.Nfqueue
	cancel     context.CancelFunc    // stops the library's receive loop
	accept     func(id uint32) error // lets a packet go: an NF_ACCEPT verdict
	stop       chan struct{}         // stops release
	released   chan struct{}         // closed when release has returned
	wake       chan struct{}         // a packet came that may be due before the next one

	mu      sync.Mutex
	delay   time.Duration
	jit     time.Duration
	held    heldPackets
	seq     uint64
	closing bool // held packets were let go; later ones pass at once
}

// heldPacket is a queued packet waiting for its verdict.
type heldPacket struct {
	at  time.Time
	seq uint64 // order of arrival: equal times leave in that order
	id  uint32 // the kernel's packet id
}

// heldPackets is a min-heap by release time.
type heldPackets []heldPacket

func (h heldPackets) Len() int { return len(h) }
func (h heldPackets) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h heldPackets) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *heldPackets) Push(x any)   { *h = append(*h, x.(heldPacket)) }
func (h *heldPackets) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// openDelayQueue binds NFQUEUE queue number queue in the network namespace
// of the process pid (a container's init) and starts delaying what arrives
// on it by d (the link's delay and jitter).
func openDelayQueue(log *slog.Logger, node string, pid int, d linkDelay) (*delayQueue, error) {
	ns, err := os.Open("/proc/" + strconv.Itoa(pid) + "/ns/net")
	if err != nil {
		return nil, fmt.Errorf("network namespace of %s: %w", node, err)
	}
	// The socket keeps its namespace once created; the fd is only needed
	// to create it.
	defer ns.Close()
	nf, err := nfqueue.Open(&nfqueue.Config{
		NetNS:       int(ns.Fd()),
		NfQueue:     d.Queue,
		MaxQueueLen: delayQueueMaxLen,
		// Only the packet id is needed: the queue tells the link.
		Copymode: nfqueue.NfQnlCopyMeta,
		// Fail open: an overfull queue, or a socket buffer the kernel
		// cannot append to, lets packets through undelayed instead of
		// dropping them. GSO: big segments are queued whole rather than
		// split for us, since we never look inside.
		Flags:        nfqueue.NfQaCfgFlagFailOpen | nfqueue.NfQaCfgFlagGSO,
		AfFamily:     syscall.AF_INET,
		WriteTimeout: time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("nfqueue %d in %s's namespace: %w", d.Queue, node, err)
	}
	// A reader that falls behind gets ENOBUFS on every read otherwise;
	// with fail-open the kernel passes what does not fit.
	_ = nf.SetOption(netlink.NoENOBUFS, true)
	_ = nf.Con.SetReadBuffer(4 << 20)
	q := newDelayQueue(log, node, d, func(id uint32) error { return nf.SetVerdict(id, nfqueue.NfAccept) })
	q.pid, q.nf = pid, nf
	ctx, cancel := context.WithCancel(context.Background())
	q.cancel = cancel
	if err := nf.RegisterWithErrorFunc(ctx, q.arrivedAttr, q.readError(ctx)); err != nil {
		cancel()
		_ = nf.Close()
		return nil, fmt.Errorf("nfqueue %d in %s's namespace: %w", d.Queue, node, err)
	}
	go q.release()
	return q, nil
}

// newDelayQueue is the timing part of a delayQueue, with accept as the way
// to let a packet go; the caller starts release.
func newDelayQueue(log *slog.Logger, node string, d linkDelay, accept func(id uint32) error) *delayQueue {
	return &delayQueue{node: node, peer: d.Peer, queue: d.Queue, log: log, accept: accept,
		stop: make(chan struct{}), released: make(chan struct{}), wake: make(chan struct{}, 1),
		delay: d.Delay, jit: d.Jitter}
}

// set changes the link's delay. Packets already held keep their time.
func (q *delayQueue) set(d linkDelay) {
	q.mu.Lock()
	q.delay, q.jit = d.Delay, d.Jitter
	q.mu.Unlock()
}

// arrivedAttr runs on the library's receive goroutine for each queued
// packet.
func (q *delayQueue) arrivedAttr(a nfqueue.Attribute) int {
	if a.PacketID != nil {
		q.arrived(*a.PacketID)
	}
	return 0
}

// arrived only records the packet, so the socket is read at full speed.
func (q *delayQueue) arrived(id uint32) {
	q.mu.Lock()
	if q.closing {
		q.mu.Unlock()
		_ = q.accept(id)
		return
	}
	at := time.Now().Add(q.delay)
	if q.jit > 0 {
		at = at.Add(rand.N(q.jit + 1))
	}
	q.seq++
	first := len(q.held) == 0 || at.Before(q.held[0].at)
	heap.Push(&q.held, heldPacket{at: at, seq: q.seq, id: id})
	q.mu.Unlock()
	if first {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

// readError decides whether the receive loop goes on after a read error:
// yes for the passing ones, no once the queue is being closed or the
// socket is broken (then the queue unbinds, and --queue-bypass lets the
// link's packets through undelayed).
func (q *delayQueue) readError(ctx context.Context) nfqueue.ErrorFunc {
	return func(err error) int {
		if ctx.Err() != nil {
			return 1
		}
		var op *netlink.OpError
		if errors.Is(err, syscall.ENOBUFS) || (errors.As(err, &op) && (op.Timeout() || op.Temporary())) {
			return 0
		}
		if errors.Is(err, syscall.ENOENT) {
			// The container stopped and its network namespace went with
			// it (a kill, or Stop removing it before this queue closed):
			// nothing is left to delay; a restart sets up a new queue.
			q.log.Debug("packet delay: the container's network namespace is gone", "node", q.node, "peer", q.peer, "err", err)
			return 1
		}
		q.log.Warn("packet delay: reading the queue failed; the link goes undelayed", "node", q.node, "peer", q.peer, "err", err)
		return 1
	}
}

// release gives each held packet its verdict when its time comes.
func (q *delayQueue) release() {
	defer close(q.released)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var failed bool
	for {
		q.mu.Lock()
		now := time.Now()
		var due []uint32
		for len(q.held) > 0 && !q.held[0].at.After(now) {
			due = append(due, heap.Pop(&q.held).(heldPacket).id)
		}
		var wait time.Duration = -1
		if len(q.held) > 0 {
			wait = q.held[0].at.Sub(now)
		}
		q.mu.Unlock()
		for _, id := range due {
			if err := q.accept(id); err != nil && !failed {
				failed = true // once per queue: the socket is the same for all
				q.log.Warn("packet delay: a verdict failed", "node", q.node, "peer", q.peer, "err", err)
			}
		}
		var tick <-chan time.Time
		if wait >= 0 {
			timer.Reset(wait)
			tick = timer.C
		}
		select {
		case <-q.stop:
			return
		case <-q.wake:
		case <-tick:
		}
	}
}

// close stops delaying. The caller has normally removed the NFQUEUE rule
// first, so few packets still come. Packets held, and any that still come,
// are let through at once rather than left to the kernel, which drops the
// packets of a queue when it is unbound or its socket closes. Once closed,
// the queue is unbound and a rule still pointing at it lets packets pass
// (--queue-bypass).
func (q *delayQueue) close() {
	close(q.stop)
	<-q.released
	q.mu.Lock()
	held := q.held
	q.held, q.closing = nil, true
	q.mu.Unlock()
	for _, p := range held {
		_ = q.accept(p.id)
	}
	if q.nf != nil {
		q.cancel()
		_ = q.nf.Close() // waits for the library's goroutines
	}
}
