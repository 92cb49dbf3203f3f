package api

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
)

// leaderOrForward returns true when this node is the leader and should
// serve the request itself. Otherwise it has already answered: by
// forwarding to the leader, or with no_leader / not_leader.
func (a *API) leaderOrForward(c *gin.Context, body []byte, isRead bool) bool {
	l := a.b.Leader()
	if l.Self {
		return true
	}
	if from := c.GetHeader(ForwardedHeader); from != "" {
		// Forwarded to us by a node that thought we lead: answering
		// instead of forwarding again is what prevents loops.
		a.fail(c, Errorf(CodeNotLeader, "%s is not the leader (request forwarded by %s)", a.b.Name(), from))
		return false
	}
	if l.Name == "" {
		a.fail(c, Errorf(CodeNoLeader, "no leader known to %s", a.b.Name()))
		return false
	}
	if l.APIAddr == "" {
		a.fail(c, Errorf(CodeNoLeader, "the api address of leader %s is unknown", l.Name))
		return false
	}
	a.forward(c, l, body, isRead)
	return false
}

// forward relays the request to the leader and its answer back verbatim.
func (a *API) forward(c *gin.Context, l LeaderInfo, body []byte, isRead bool) {
	a.metrics.forwarded.Inc()
	// The leader answers within its own timeout; the margin covers the
	// two hops.
	ctx, cancel := context.WithTimeout(c.Request.Context(), a.timeout+2*time.Second)
	defer cancel()
	var wrote atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteHeaders: func() { wrote.Store(true) },
	})
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, c.Request.Method, "http://"+l.APIAddr+c.Request.URL.RequestURI(), rd)
	if err != nil {
		a.fail(c, Errorf(CodeInternal, "building forward request: %v", err))
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(ForwardedHeader, a.b.Name())
	resp, err := a.fwd.Do(req)
	if err != nil {
		e := Errorf(CodeForwardFailed, "forwarding to leader %s at %s: %v", l.Name, l.APIAddr, err)
		// Nothing sent: the leader cannot have proposed anything. A read
		// has no effect either way.
		e.Definite = isRead || !wrote.Load()
		a.fail(c, e)
		return
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 2*MaxBodyBytes))
	if err != nil {
		e := Errorf(CodeForwardFailed, "reading the answer of leader %s: %v", l.Name, err)
		e.Definite = isRead
		a.fail(c, e)
		return
	}
	c.Set(codeKey, "forwarded")
	ct := resp.Header.Get("Content-Type")
	if ct == "" {
		ct = "application/json"
	}
	c.Data(resp.StatusCode, ct, out)
}
