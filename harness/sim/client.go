package sim

import (
	"context"
	"fmt"
	"time"

	"github.com/raftkv/raftkv/harness/nodeapi"
	"github.com/raftkv/raftkv/harness/workload"
	"github.com/raftkv/raftkv/histories"
)

// workloadSim is harness/workload on simulated time: the same clients, op
// mix, unique values, key slots, rate limit and Jepsen semantics (an info
// makes the client a new process; a refused connection moves it to the
// next node).
type workloadSim struct {
	s        *sim
	nextProc int
	running  bool
	inflight int
	// limiter: the next free slot of the total rate.
	nextSlot int64
	every    int64
	slots    []int
	known    map[string]string

	finalNext     int
	finalFailed   []string
	finalActive   int
	finalDeadline int64
}

type client struct {
	w       *workloadSim
	nodeIdx int
	proc    int
	seq     int
	reqID   uint64
}

// refusedBackoff and finalRetry are harness/workload's pauses.
const (
	refusedBackoff = 20 * time.Millisecond
	finalRetry     = 100 * time.Millisecond
	keyRetry       = time.Millisecond
)

func newWorkload(s *sim) *workloadSim {
	w := &workloadSim{s: s, slots: make([]int, s.cfg.Keys), known: map[string]string{}}
	if s.cfg.Rate > 0 {
		w.every = int64(float64(time.Second) / s.cfg.Rate)
	}
	return w
}

func (w *workloadSim) newClient(i int) *client {
	c := &client{w: w, nodeIdx: i % len(w.s.nodes)}
	c.newProcess()
	return c
}

func (c *client) newProcess() {
	c.proc = c.w.nextProc
	c.w.nextProc++
	c.seq, c.reqID = 0, 0
}

func (w *workloadSim) start() {
	w.running = true
	for i := range w.s.cfg.Clients {
		c := w.newClient(i)
		c.next()
	}
}

// stop lets every client finish its current operation and start no other.
func (w *workloadSim) stop() { w.running = false }

func (w *workloadSim) idle() bool { return w.inflight == 0 }

// next waits for the rate limiter, then a key slot, then runs an op.
func (c *client) next() {
	w, s := c.w, c.w.s
	if !w.running {
		return
	}
	at := s.now
	if w.every > 0 {
		if w.nextSlot < s.now {
			w.nextSlot = s.now
		}
		at = w.nextSlot
		w.nextSlot += w.every
	}
	s.at(at, c.acquire)
}

func (c *client) acquire() {
	w, s := c.w, c.w.s
	if !w.running {
		return
	}
	n := s.cfg.Keys
	k := s.rng.IntN(n)
	for i := range n {
		j := (k + i) % n
		if s.cfg.MaxClientsPerKey == 0 || w.slots[j] < s.cfg.MaxClientsPerKey {
			w.slots[j]++
			c.do(c.pick(workload.Key(j)), func(histories.Type) {
				w.slots[j]--
				c.next()
			})
			return
		}
	}
	s.after(keyRetry, c.acquire)
}

func (c *client) pick(key string) nodeapi.Command {
	s := c.w.s
	m := s.cfg.Mix
	r := s.rng.IntN(m.Get + m.Put + m.Delete + m.Cas)
	c.seq++
	val := fmt.Sprintf("p%d-%d", c.proc, c.seq)
	switch {
	case r < m.Get:
		return nodeapi.Command{Operation: "get", Key: key, ReadMode: s.cfg.ReadMode}
	case r < m.Get+m.Put:
		return nodeapi.Command{Operation: "set", Key: key, Value: &val}
	case r < m.Get+m.Put+m.Delete:
		return nodeapi.Command{Operation: "delete", Key: key}
	default:
		exp := "none"
		if v, ok := c.w.known[key]; ok {
			exp = v
		}
		return nodeapi.Command{Operation: "cas", Key: key, Value: &val, Expected: &exp}
	}
}

func histF(op string) string {
	if op == "set" {
		return histories.OpPut
	}
	return op
}

// request is one client operation in flight.
type request struct {
	finished bool
}

// do sends cmd to the client's node, records the invocation and, when the
// answer (or the client's timeout) comes, the completion; then calls then.
func (c *client) do(cmd nodeapi.Command, then func(histories.Type)) {
	w, s := c.w, c.w.s
	target := s.nodes[c.nodeIdx]
	if cmd.Operation != "get" {
		c.reqID++
		cmd.ClientID, cmd.RequestID = fmt.Sprintf("harness-p%d", c.proc), c.reqID
	}
	inv := histories.Event{Kind: histories.KindOp, Type: histories.Invoke, Process: c.proc, F: histF(cmd.Operation),
		Key: cmd.Key, Node: target.name}
	if cmd.Operation == "set" || cmd.Operation == "cas" {
		inv.Value = cmd.Value
	}
	inv.Expected = cmd.Expected
	s.record(inv)
	w.inflight++

	req := &request{}
	complete := func(r reply) {
		if req.finished {
			return
		}
		req.finished = true
		w.inflight--
		c.complete(cmd, inv, r, then)
	}
	cn := &conn{canceled: func() bool { return req.finished }}
	cn.reply = func(r reply, delay time.Duration) {
		s.after(delay+s.net.api(s.rng), func() { complete(r) })
	}
	s.after(s.net.api(s.rng), func() { target.accept(cn, cmd, false) })
	s.after(s.cfg.RequestTimeout.D(), func() {
		complete(reply{err: &apiError{code: "timeout", msg: fmt.Sprintf("no answer within %v", s.cfg.RequestTimeout.D()), transport: true}})
	})
}

func (c *client) complete(cmd nodeapi.Command, inv histories.Event, r reply, then func(histories.Type)) {
	w, s := c.w, c.w.s
	comp := histories.Event{Kind: histories.KindOp, Process: c.proc, F: inv.F, Key: cmd.Key, Node: inv.Node}
	res := r.res
	switch {
	case r.err == nil && cmd.Operation == "cas" && !res.Succeeded:
		comp.Type = histories.Fail
		comp.Error = "cas mismatch"
		comp.Expected = cmd.Expected
		if res.Found {
			w.known[cmd.Key] = res.Value
		}
	case r.err == nil:
		comp.Type = histories.OK
		switch cmd.Operation {
		case "get":
			comp.Found = histories.Bool(res.Found)
			if res.Found {
				v := res.Value
				comp.Value = &v
				w.known[cmd.Key] = v
			}
		case "set", "cas":
			comp.Value = cmd.Value
			comp.Expected = cmd.Expected
			w.known[cmd.Key] = *cmd.Value
		case "delete":
			comp.Found = histories.Bool(res.Found)
			delete(w.known, cmd.Key)
		}
	case r.err.definite:
		comp.Type = histories.Fail
		comp.Error = r.err.Error()
	default:
		comp.Type = histories.Info
		comp.Error = r.err.Error()
		if cmd.Operation == "set" || cmd.Operation == "cas" {
			comp.Value = cmd.Value
		}
	}
	s.record(comp)
	if comp.Type == histories.Info {
		c.newProcess()
	}
	if r.err != nil && r.err.transport && r.err.definite {
		// Refused: the node is down. Move on, after a short pause.
		c.nodeIdx = (c.nodeIdx + 1) % len(s.nodes)
		s.after(refusedBackoff, func() { then(comp.Type) })
		return
	}
	then(comp.Type)
}

// finalReads reads every key with a linearizable get, retrying on the next
// node (as a new process after an info) until each read is ok or timeout
// passes, like workload.FinalReads. It returns the keys never read.
func (w *workloadSim) finalReads(ctx context.Context, timeout time.Duration) []string {
	s := w.s
	keys := make([]string, s.cfg.Keys)
	for i := range keys {
		keys[i] = workload.Key(i)
	}
	w.finalDeadline = s.now + int64(timeout)
	for i := range min(4, len(keys)) {
		c := w.newClient(i)
		w.finalActive++
		c.finalNext(keys)
	}
	s.runUntil(ctx, w.finalDeadline+int64(s.cfg.RequestTimeout.D())+int64(time.Second), func() bool { return w.finalActive == 0 })
	return w.finalFailed
}

func (c *client) finalNext(keys []string) {
	w := c.w
	j := w.finalNext
	w.finalNext++
	if j >= len(keys) {
		w.finalActive--
		return
	}
	c.finalRead(keys, keys[j])
}

func (c *client) finalRead(keys []string, key string) {
	w, s := c.w, c.w.s
	if s.now >= w.finalDeadline {
		w.finalFailed = append(w.finalFailed, key)
		c.finalNext(keys)
		return
	}
	c.do(nodeapi.Command{Operation: "get", Key: key, ReadMode: "linearizable"}, func(t histories.Type) {
		if t == histories.OK {
			c.finalNext(keys)
			return
		}
		c.nodeIdx = (c.nodeIdx + 1) % len(s.nodes)
		if s.now+int64(finalRetry) > w.finalDeadline {
			w.finalFailed = append(w.finalFailed, key)
			c.finalNext(keys)
			return
		}
		s.after(finalRetry, func() { c.finalRead(keys, key) })
	})
}
