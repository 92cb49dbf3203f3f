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
// choice (workload.Mix.Pick, edge cases included), unique values, key
// slots, rate limit, retries of writes with the same session
// (workload.Retry) and Jepsen semantics (workload.Complete: an info makes
// the client a new process; a refused connection moves it to the next
// node).
type workloadSim struct {
	s        *sim
	nextProc int
	running  bool
	inflight int
	// limiter: the next free slot of the total rate.
	nextSlot int64
	every    int64
	slots    []int
	known    workload.KnownMap
	retry    workload.Retry

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
	w := &workloadSim{s: s, slots: make([]int, s.cfg.Keys), known: workload.KnownMap{}, retry: workload.Retry{Attempts: s.cfg.WriteAttempts}}
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
			cmds := s.cfg.Mix.Pick(s.rng, workload.Key(j), s.cfg.ReadMode, c.value, w.known)
			c.run(cmds, func() {
				w.slots[j]--
				c.next()
			})
			return
		}
	}
	s.after(keyRetry, c.acquire)
}

// value returns a fresh unique value: p<process>-<n>.
func (c *client) value() string {
	c.seq++
	return fmt.Sprintf("p%d-%d", c.proc, c.seq)
}

// run does cmds one after the other (an edge case is two), then calls
// then.
func (c *client) run(cmds []nodeapi.Command, then func()) {
	if len(cmds) == 0 {
		then()
		return
	}
	c.do(cmds[0], func(histories.Type) { c.run(cmds[1:], then) })
}

func histF(op string) string {
	if op == "set" {
		return histories.OpPut
	}
	return op
}

// op is one client operation in flight, across its attempts.
type op struct {
	cmd nodeapi.Command
	inv histories.Event
	// attempt counts the attempts so far; maybeApplied is set once one
	// of them ended with an unknown outcome.
	attempt      int
	maybeApplied bool
	// node is the node of the current attempt: the client's own for the
	// first, maybe another for a retry (the client keeps its node: a slow
	// or cut-off node keeps its clients, which is the point).
	node int
	then func(histories.Type)
}

// do records the invocation of cmd and sends it to the client's node; a
// write whose outcome stays unknown is sent again with the same session
// (workload.Retry). The last attempt's answer (or the client's timeout)
// is the completion; then gets its type.
func (c *client) do(cmd nodeapi.Command, then func(histories.Type)) {
	w, s := c.w, c.w.s
	if cmd.Operation != "get" {
		c.reqID++
		cmd.ClientID, cmd.RequestID = fmt.Sprintf("harness-p%d", c.proc), c.reqID
	}
	inv := histories.Event{Kind: histories.KindOp, Type: histories.Invoke, Process: c.proc, F: histF(cmd.Operation),
		Key: cmd.Key, Node: s.nodes[c.nodeIdx].name}
	if cmd.Operation == "set" || cmd.Operation == "cas" {
		inv.Value = cmd.Value
	}
	inv.Expected = cmd.Expected
	s.record(inv)
	w.inflight++
	c.attempt(&op{cmd: cmd, inv: inv, node: c.nodeIdx, then: then})
}

// attempt sends one attempt of o to the client's node.
func (c *client) attempt(o *op) {
	s := c.w.s
	o.attempt++
	target := s.nodes[o.node]
	finished := false
	answer := func(r reply) {
		if finished {
			return
		}
		finished = true
		c.answered(o, r)
	}
	cn := &conn{canceled: func() bool { return finished }}
	cn.reply = func(r reply, delay time.Duration) {
		s.after(delay+s.net.api(s.rng), func() { answer(r) })
	}
	s.after(s.net.api(s.rng), func() { target.accept(cn, o.cmd, false) })
	s.after(s.cfg.RequestTimeout.D(), func() {
		answer(reply{err: &apiError{code: "timeout", msg: fmt.Sprintf("no answer within %v", s.cfg.RequestTimeout.D()), transport: true}})
	})
}

// answered handles an attempt's answer: another attempt, or the
// completion.
func (c *client) answered(o *op, r reply) {
	w, s := c.w, c.w.s
	a := answerOf(o.cmd, r)
	if w.retry.Again(o.cmd, a, o.maybeApplied, o.attempt) {
		o.maybeApplied = o.maybeApplied || !a.Definite
		o.node = w.retry.NextNode(s.rng, o.node, len(s.nodes), a)
		s.after(w.retry.Backoff(s.rng), func() { c.attempt(o) })
		return
	}
	w.inflight--
	comp := workload.Complete(o.cmd, a, o.maybeApplied, o.attempt, w.known)
	comp.Process, comp.Node = c.proc, s.nodes[o.node].name
	s.record(comp)
	if comp.Type == histories.Info {
		c.newProcess()
	}
	if a.Refused {
		// Refused: the node is down. Move on, after a short pause.
		c.nodeIdx = (o.node + 1) % len(s.nodes)
		s.after(refusedBackoff, func() { o.then(comp.Type) })
		return
	}
	o.then(comp.Type)
}

// answerOf is an attempt's answer as the HTTP client sees it: the KV
// API's response (kvservice/api's encoding of the state machine's result)
// or its error.
func answerOf(cmd nodeapi.Command, r reply) workload.Answer {
	if r.err != nil {
		return workload.Answer{Err: r.err, Definite: r.err.definite, Refused: r.err.transport && r.err.definite}
	}
	res := r.res
	t, f := true, false
	v := res.Value
	out := nodeapi.Result{OK: true, Operation: cmd.Operation, Key: cmd.Key, Index: res.Index}
	switch cmd.Operation {
	case "get":
		out.Found = &f
		if res.Found {
			out.Found, out.Value = &t, &v
		}
	case "set":
		out.Value = &v
	case "delete":
		out.Found = &f
		if res.Found {
			out.Found = &t
		}
	case "cas":
		out.Succeeded, out.Found = &f, &f
		if res.Succeeded {
			out.Succeeded = &t
		}
		if res.Found {
			out.Found, out.Value = &t, &v
		}
	}
	return workload.Answer{Result: out}
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
