package raft

import "fmt"

// ReadOnlyOption chooses how the leader serves linearizable reads.
type ReadOnlyOption uint8

const (
	// ReadOnlySafe confirms leadership with a heartbeat round before
	// answering (ReadIndex, thesis §6.4). It is correct under any timing.
	ReadOnlySafe ReadOnlyOption = iota
	// ReadOnlyLeaseBased answers from the leader's lease (thesis §6.4.1):
	// while a majority acknowledged a heartbeat sent less than an election
	// timeout ago (in the leader's ticks), no other leader can have been
	// elected, because with CheckQuorum followers refuse votes for an
	// election timeout after hearing from a leader. That argument assumes
	// every node's ticks run at the same rate: a leader whose clock runs
	// slow, or pauses (GC, SIGSTOP), or a follower whose clock runs fast,
	// breaks it, and the leader may answer a read with stale data. Use it
	// only where clock drift is bounded.
	ReadOnlyLeaseBased
)

func (o ReadOnlyOption) String() string {
	switch o {
	case ReadOnlySafe:
		return "ReadOnlySafe"
	case ReadOnlyLeaseBased:
		return "ReadOnlyLeaseBased"
	}
	return fmt.Sprintf("ReadOnlyOption(%d)", uint8(o))
}

// ReadState answers a ReadIndex request: once the application has applied
// Index, a read of its state is linearizable with respect to the request
// identified by RequestCtx.
type ReadState struct {
	Index      uint64
	RequestCtx []byte
}

type readIndexStatus struct {
	req   Message
	index uint64
	acks  map[uint64]bool
}

// readOnly tracks the read-index requests waiting for a heartbeat quorum.
type readOnly struct {
	pending map[string]*readIndexStatus
	// queue holds the keys of pending in arrival order. Invariant: the
	// keys of pending are exactly the elements of queue.
	queue []string
}

func newReadOnly() *readOnly {
	return &readOnly{pending: map[string]*readIndexStatus{}}
}

// addRequest queues a read for commit index index. Duplicate contexts are
// ignored: the first request answers them all.
func (ro *readOnly) addRequest(index uint64, m Message) {
	s := string(m.Context)
	if _, ok := ro.pending[s]; ok {
		return
	}
	ro.pending[s] = &readIndexStatus{index: index, req: m, acks: map[uint64]bool{}}
	ro.queue = append(ro.queue, s)
}

// recvAck records a heartbeat acknowledgement of context ctx and returns the
// acks so far (nil if ctx is unknown).
func (ro *readOnly) recvAck(id uint64, ctx []byte) map[uint64]bool {
	rs, ok := ro.pending[string(ctx)]
	if !ok {
		return nil
	}
	rs.acks[id] = true
	return rs.acks
}

// advance removes and returns every request queued up to and including
// the one with context m.Context: a heartbeat round that confirms a later
// request confirms the earlier ones too.
func (ro *readOnly) advance(ctx []byte) []*readIndexStatus {
	key := string(ctx)
	i := -1
	for j, k := range ro.queue {
		if k == key {
			i = j
			break
		}
	}
	if i < 0 {
		return nil
	}
	out := make([]*readIndexStatus, 0, i+1)
	for _, k := range ro.queue[:i+1] {
		rs, ok := ro.pending[k]
		if !ok {
			panic(fmt.Sprintf("raft: read-only queue key %q has no pending request", k))
		}
		out = append(out, rs)
		delete(ro.pending, k)
	}
	ro.queue = append([]string(nil), ro.queue[i+1:]...)
	return out
}

func (ro *readOnly) lastPendingRequestCtx() []byte {
	if len(ro.queue) == 0 {
		return nil
	}
	return []byte(ro.queue[len(ro.queue)-1])
}
