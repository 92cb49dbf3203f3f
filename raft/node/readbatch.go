package node

import (
	"encoding/binary"

	"github.com/raftkv/raftkv/raft"
)

// ReadBatcher batches linearizable reads into read-index rounds: the reads
// that arrive while a round is in flight share the next one, so many reads
// cost one heartbeat round. One round is in flight at a time; its request
// context is the node's ID and a sequence number, so an answer to an
// abandoned round is never taken for the current one. A round that gets
// no answer (no leader, the leader changed, a message was lost) is
// abandoned after a number of ticks and its reads go first in the next.
// A batch whose round was answered waits until the node has applied up to
// the read index. Reads for which live reports false (their caller gave
// up) are dropped when a round starts and at Sweep.
//
// The driver (Node) and the harness's simulation use it from one
// goroutine; it is not safe for concurrent use. R is the driver's request
// type.
type ReadBatcher[R any] struct {
	id      uint64
	live    func(R) bool
	seq     uint64
	pending []R                // arrived, not yet in a round
	round   *readRound[R]      // in flight
	ready   []answeredBatch[R] // answered, waiting for applied >= index
}

type readRound[R any] struct {
	rctx  []byte
	reads []R
	ticks int
}

type answeredBatch[R any] struct {
	index uint64
	reads []R
}

// NewReadBatcher returns a batcher for the node with the given raft ID.
func NewReadBatcher[R any](id uint64, live func(R) bool) *ReadBatcher[R] {
	return &ReadBatcher[R]{id: id, live: live}
}

// Add queues a read for the next round.
func (b *ReadBatcher[R]) Add(r R) { b.pending = append(b.pending, r) }

// Start starts a round with the queued live reads if none is in flight and
// returns its request context, for RawNode.ReadIndex; nil if no round
// started.
func (b *ReadBatcher[R]) Start() []byte {
	if b.round != nil {
		return nil
	}
	b.pending = b.keepLive(b.pending)
	if len(b.pending) == 0 {
		return nil
	}
	b.seq++
	rctx := make([]byte, 16)
	binary.BigEndian.PutUint64(rctx, b.id)
	binary.BigEndian.PutUint64(rctx[8:], b.seq)
	b.round = &readRound[R]{rctx: rctx, reads: b.pending}
	b.pending = nil
	return rctx
}

// Tick counts k ticks against the round in flight and abandons it (Retry)
// once it has waited more than limit ticks.
func (b *ReadBatcher[R]) Tick(k, limit int) {
	if b.round == nil {
		return
	}
	b.round.ticks += k
	if b.round.ticks > limit {
		b.Retry()
	}
}

// Retry abandons the round in flight; its reads go first in the next one.
func (b *ReadBatcher[R]) Retry() {
	if b.round == nil {
		return
	}
	b.pending = append(b.round.reads, b.pending...)
	b.round = nil
}

// Answered takes a ReadState from a Ready: if it answers the round in
// flight, that round's reads wait for the node to apply up to its index.
func (b *ReadBatcher[R]) Answered(rs raft.ReadState) {
	if b.round != nil && string(rs.RequestCtx) == string(b.round.rctx) {
		b.ready = append(b.ready, answeredBatch[R]{index: rs.Index, reads: b.round.reads})
		b.round = nil
	}
}

// Due calls answer for every read whose read index is at most applied, and
// forgets them.
func (b *ReadBatcher[R]) Due(applied uint64, answer func(index uint64, r R)) {
	kept := b.ready[:0]
	for _, batch := range b.ready {
		if batch.index <= applied {
			for _, r := range batch.reads {
				answer(batch.index, r)
			}
		} else {
			kept = append(kept, batch)
		}
	}
	clear(b.ready[len(kept):])
	b.ready = kept
}

// Sweep drops the reads that are no longer live from the queue and from
// the answered batches (a round in flight keeps its reads until it ends).
func (b *ReadBatcher[R]) Sweep() {
	b.pending = b.keepLive(b.pending)
	kept := b.ready[:0]
	for _, batch := range b.ready {
		if batch.reads = b.keepLive(batch.reads); len(batch.reads) > 0 {
			kept = append(kept, batch)
		}
	}
	clear(b.ready[len(kept):])
	b.ready = kept
}

// Drain returns every read held, queued, in flight or answered, and
// forgets them all (at shutdown or a crash).
func (b *ReadBatcher[R]) Drain() []R {
	all := b.pending
	if b.round != nil {
		all = append(all, b.round.reads...)
	}
	for _, batch := range b.ready {
		all = append(all, batch.reads...)
	}
	b.pending, b.round, b.ready = nil, nil, nil
	return all
}

func (b *ReadBatcher[R]) keepLive(rs []R) []R {
	kept := rs[:0]
	for _, r := range rs {
		if b.live(r) {
			kept = append(kept, r)
		}
	}
	clear(rs[len(kept):])
	return kept
}
