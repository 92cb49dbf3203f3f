package sim

import (
	"fmt"
	"slices"
	"time"

	"github.com/raftkv/raftkv/harness/cluster"
	"github.com/raftkv/raftkv/harness/nodeapi"
	"github.com/raftkv/raftkv/kvservice/fsm"
)

// apiError is an error answer of the KV API (docs/api.md), or a failure of
// the connection itself (transport).
type apiError struct {
	code, msg string
	// definite: certainly not applied.
	definite bool
	// transport: no answer came; the connection was refused (definite) or
	// lost (indeterminate).
	transport bool
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

var (
	errConnLost = &apiError{code: "connection_lost", msg: "connection reset: the node went away", transport: true}
	errRefused  = &apiError{code: "connection_refused", msg: "connection refused: the node is down", transport: true, definite: true}
)

// reply is an API answer: res when err is nil.
type reply struct {
	res fsm.Result
	err *apiError
}

// conn is one API request as a server process holds it: the client's
// connection to the node, or a follower's forward to the leader.
type conn struct {
	// n is the process serving it (set when accepted).
	n *snode
	// reply carries the answer back to the caller, leaving after delay
	// (a write's fsync).
	reply func(r reply, delay time.Duration)
	// canceled reports that the caller gave up (the request's context).
	canceled func() bool
	done     bool
}

func (c *conn) finish(r reply, delay time.Duration) {
	if c.done {
		return
	}
	c.done = true
	if n := c.n; n != nil {
		n.conns = slices.DeleteFunc(n.conns, func(x *conn) bool { return x == c })
	}
	c.reply(r, delay)
}

// accept is a request reaching the node's API port.
func (n *snode) accept(c *conn, cmd nodeapi.Command, forwarded bool) {
	switch n.state {
	case cluster.Down:
		c.finish(reply{err: errRefused}, 0)
	case cluster.Paused:
		c.n = n
		n.conns = append(n.conns, c)
		n.inbox = append(n.inbox, func() { n.guard("api", func() { n.serve(c, cmd, forwarded) }) })
	default:
		c.n = n
		n.conns = append(n.conns, c)
		n.guard("api", func() { n.serve(c, cmd, forwarded) })
	}
}

// resolveReadMode is kvservice's: the core's read-only option is per node,
// so a node started in lease mode serves every non-stale read from its
// lease.
func (s *sim) resolveReadMode(m string) string {
	switch {
	case m == "":
		return s.cfg.ReadMode
	case m == "stale":
		return m
	case s.cfg.ReadMode == "lease":
		return "lease"
	}
	return "linearizable"
}

// serve is the API's execute: stale reads locally, everything else on the
// leader (a follower forwards), with the node's request timeout.
func (n *snode) serve(c *conn, cmd nodeapi.Command, forwarded bool) {
	s := n.s
	if c.done {
		return
	}
	if c.canceled() {
		// The caller hung up before the request was handled: the handler's
		// context is already done, so nothing is proposed.
		c.finish(reply{err: errConnLost}, 0)
		return
	}
	op, ok := fsm.ParseOp(cmd.Operation)
	if !ok {
		c.finish(reply{err: &apiError{code: "unknown_operation", msg: cmd.Operation, definite: true}}, 0)
		return
	}
	isRead := op == fsm.OpGet
	mode := s.resolveReadMode(cmd.ReadMode)
	if !isRead || mode != "stale" {
		if !n.isLeader() {
			switch {
			case forwarded:
				c.finish(reply{err: &apiError{code: "not_leader", msg: n.name + " is not the leader (request forwarded)", definite: true}}, 0)
			case n.lead == 0:
				c.finish(reply{err: &apiError{code: "no_leader", msg: "no leader known to " + n.name, definite: true}}, 0)
			default:
				n.forward(c, s.byID[n.lead], cmd, isRead)
			}
			return
		}
	}
	if isRead {
		get := func() fsm.Result {
			v, found, applied := n.fsm.Get(cmd.Key)
			return fsm.Result{Op: fsm.OpGet, Key: cmd.Key, Value: v, Found: found, Index: applied}
		}
		if mode == "stale" {
			c.finish(reply{res: get()}, 0)
			return
		}
		r := n.readIndex(func(*apiError) { c.finish(reply{res: get()}, n.outDelay) })
		s.after(s.cfg.ServerTimeout, func() {
			if !r.finished {
				r.finished = true
				// Errors of reads are definite: a read changes nothing.
				c.finish(reply{err: &apiError{code: "timeout", msg: fmt.Sprintf("no read index within %v", s.cfg.ServerTimeout), definite: true}}, 0)
			}
		})
		return
	}
	fc := fsm.Command{Op: op, Key: cmd.Key, ClientID: cmd.ClientID, RequestID: cmd.RequestID}
	if cmd.Value != nil {
		fc.Value = *cmd.Value
	}
	if cmd.Expected != nil {
		fc.Expected = *cmd.Expected
	}
	p := n.propose(fsm.EncodeCommand(fc), func(res fsm.Result, err *apiError) {
		switch {
		case err != nil:
			c.finish(reply{err: err}, n.outDelay)
		case res.Err == fsm.ErrStaleRequest:
			c.finish(reply{err: &apiError{code: "stale_request", msg: res.Err.Error(), definite: true}}, n.outDelay)
		case res.Err != nil:
			c.finish(reply{err: &apiError{code: "internal", msg: res.Err.Error()}}, n.outDelay)
		default:
			c.finish(reply{res: res}, n.outDelay)
		}
	})
	term, inc := p.term(), n.inc
	s.after(s.cfg.ServerTimeout, func() {
		if p.finished {
			return
		}
		p.finished = true
		code := "timeout"
		if n.inc == inc && (n.term != term || !n.isLeader()) {
			code = "leadership_lost"
		}
		c.finish(reply{err: &apiError{code: code, msg: fmt.Sprintf("no result within %v", s.cfg.ServerTimeout)}}, 0)
	})
}

// forward relays a request to the leader over the API and its answer back
// verbatim; a forward that fails is forward_failed, definite for reads and
// when nothing was sent.
func (n *snode) forward(c *conn, l *snode, cmd nodeapi.Command, isRead bool) {
	s := n.s
	timedOut := false
	fc := &conn{canceled: func() bool { return c.done || timedOut || c.canceled() }}
	fc.reply = func(r reply, delay time.Duration) {
		s.after(delay+s.net.api(s.rng), func() {
			if r.err != nil && r.err.transport {
				e := &apiError{code: "forward_failed", msg: fmt.Sprintf("forwarding to leader %s: %s", l.name, r.err.msg),
					definite: isRead || r.err.definite}
				c.finish(reply{err: e}, 0)
				return
			}
			c.finish(r, 0)
		})
	}
	s.after(s.net.api(s.rng), func() { l.accept(fc, cmd, true) })
	s.after(s.cfg.ServerTimeout+2*time.Second, func() {
		if !fc.done {
			timedOut = true
			fc.finish(reply{err: errConnLost}, 0)
		}
	})
}
