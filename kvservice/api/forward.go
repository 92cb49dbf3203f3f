package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/raftkv/raftkv/internal/bugs"
)

// leaderOrForward returns true when this node is the leader and should
// serve the request itself. Otherwise it has already answered: by
// forwarding to the leader, or with no_leader / not_leader.
func (a *API) leaderOrForward(c *gin.Context, body []byte, isRead bool) bool {
	l := a.leaderWithAddress(c.Request.Context())
	if l.Self {
		return true
	}
	chain := a.peerChain(c)
	if chain != "" {
		// Forwarded to us by a node that thought we lead. We pass it on
		// once more if we know a leader the request has not visited
		// (leadership just moved); otherwise we answer, which is what
		// prevents loops.
		hops := strings.Split(chain, ",")
		if len(hops) >= MaxForwardHops || l.Name == "" || slices.Contains(hops, l.Name) {
			a.fail(c, Errorf(CodeNotLeader, "%s is not the leader (request forwarded by %s)", a.b.Name(), chain))
			return false
		}
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

// peerChain returns the ForwardedHeader chain when a peer sent it, and ""
// when a client did. The chain only serves loop prevention between nodes;
// a client that sends one would otherwise make a healthy follower refuse to
// forward (not_leader) and could fill the chain to MaxForwardHops. It is
// taken as a peer's when every hop names another member and:
//   - with tokens on, the request carries an admin token in
//     ForwarderTokenHeader (a member's NodeToken), which a client without
//     that token cannot make up, wherever it runs;
//   - without tokens (a trusted network), the request comes from the IP
//     address of the last hop's API address (the forwarding node). A
//     client on the same host as a member can still pass this check; it
//     then only affects its own request, which is refused as not_leader
//     with the leader's name, as any forwarded request would be.
func (a *API) peerChain(c *gin.Context) string {
	chain := c.GetHeader(ForwardedHeader)
	if chain == "" {
		return ""
	}
	if a.tokens != nil && a.tokens.Role(c.GetHeader(ForwarderTokenHeader)) != RoleAdmin {
		a.log.Debug("ignoring a forwarded-by header without a member's token", "chain", chain, "remote", c.ClientIP())
		return ""
	}
	hops := strings.Split(chain, ",")
	addrs := make(map[string]string)
	for _, m := range a.b.Members().Members {
		addrs[m.ID] = m.APIAddr
	}
	for _, h := range hops {
		if _, ok := addrs[h]; !ok || h == a.b.Name() {
			a.log.Debug("ignoring a forwarded-by header that names a non-member", "chain", chain, "remote", c.ClientIP())
			return ""
		}
	}
	if a.tokens == nil && !sameHost(c, addrs[hops[len(hops)-1]]) {
		a.log.Debug("ignoring a forwarded-by header not sent by the node it names", "chain", chain, "remote", c.Request.RemoteAddr)
		return ""
	}
	return chain
}

// sameHost says whether the request's remote address is the host of
// apiAddr (resolved when it is a name, as in Docker).
func sameHost(c *gin.Context, apiAddr string) bool {
	remote, _, err := net.SplitHostPort(c.Request.RemoteAddr)
	if err != nil {
		return false
	}
	host, _, err := net.SplitHostPort(apiAddr)
	if err != nil || host == "" {
		return false
	}
	rip := net.ParseIP(remote)
	if ip := net.ParseIP(host); ip != nil {
		return ip.Equal(rip) || ip.IsUnspecified() && rip.IsLoopback()
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return false
	}
	for _, ip := range ips {
		if ip.IP.Equal(rip) {
			return true
		}
	}
	return false
}

// addressPoll is how often a follower that knows the leader but not yet
// its API address looks again at the replicated member table.
const addressPoll = 5 * time.Millisecond

// leaderWithAddress returns the leader as this node knows it, waiting
// briefly when it cannot yet forward:
//   - no leader is known: up to leaderWait. An election won elsewhere
//     reaches this node with the winner's first message, which can come
//     after another node already reports the leader; the wait is bounded
//     by about one election so a node cut off from the cluster still
//     answers no_leader (a definite failure) quickly.
//   - a leader is known but not its API address: up to the request
//     timeout. A new leader records its address in the replicated member
//     table as soon as it is elected, and a follower learns who leads a
//     round trip before that entry is applied here.
//
// Answering no_leader in either window would fail the first write of
// every fresh cluster (issue 14).
func (a *API) leaderWithAddress(ctx context.Context) LeaderInfo {
	l := a.b.Leader()
	if l.Self || l.APIAddr != "" {
		return l
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	t := time.NewTicker(addressPoll)
	defer t.Stop()
	for {
		if l.Name == "" && time.Since(start) >= a.leaderWait {
			return l
		}
		select {
		case <-ctx.Done():
			return l
		case <-t.C:
		}
		l = a.b.Leader()
		if l.Self || l.APIAddr != "" {
			return l
		}
	}
}

// nextLeader waits, up to leaderWait, for this node to know a leader other
// than failed, the one it could not reach, with its API address; if none
// comes, it returns failed again (it may have restarted in the meantime)
// when this node still names it. ok is false when there is nobody to
// forward to: no leader, or this node leads now (the client should ask
// again, and a definite failure tells it so).
func (a *API) nextLeader(ctx context.Context, failed LeaderInfo) (LeaderInfo, bool) {
	ctx, cancel := context.WithTimeout(ctx, a.leaderWait)
	defer cancel()
	t := time.NewTicker(addressPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			l := a.b.Leader()
			return l, !l.Self && l.APIAddr != ""
		case <-t.C:
		}
		l := a.b.Leader()
		switch {
		case l.Self:
			return l, false
		case l.APIAddr != "" && (l.Name != failed.Name || l.APIAddr != failed.APIAddr):
			return l, true
		}
	}
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
	chain := a.b.Name()
	if prev := a.peerChain(c); prev != "" {
		chain = prev + "," + chain
	}
	newRequest := func(ctx context.Context, l LeaderInfo, body []byte) (*http.Request, error) {
		var rd io.Reader
		if body != nil {
			// A copy: the transport may still be reading the request body
			// after Do returned (an early answer), and the caller's buffer
			// goes back to a pool.
			rd = bytes.NewReader(bytes.Clone(body))
		}
		req, err := http.NewRequestWithContext(ctx, c.Request.Method, a.scheme+"://"+l.APIAddr+c.Request.URL.RequestURI(), rd)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		copyAuth(req, c.Request)
		req.Header.Set(ForwardedHeader, chain)
		if a.nodeTok != "" {
			req.Header.Set(ForwarderTokenHeader, a.nodeTok)
		}
		return req, nil
	}
	req, err := newRequest(ctx, l, body)
	if err != nil {
		a.fail(c, Errorf(CodeInternal, "building forward request: %v", err))
		return
	}
	resp, err := a.fwd.Do(req)
	// The leader could not be reached and nothing was sent (it died, say,
	// and this node has not heard of its successor yet): the request had
	// no effect, so it can go to the next leader once one is known. Failing
	// at once would make every request through a follower fail for an
	// election timeout after each leader crash (issue 15's comparison with
	// etcd, whose client waits for the new leader).
	if err != nil && !wrote.Load() && ctx.Err() == nil {
		if nl, ok := a.nextLeader(ctx, l); ok {
			l = nl
			if req, err = newRequest(ctx, l, body); err == nil {
				resp, err = a.fwd.Do(req)
			}
		}
	}
	if bugs.On(bugs.ForwardRetryNoSession) && !isRead && body != nil && (c.FullPath() == "/command" || c.FullPath() == "/kv/*key") &&
		(err != nil && wrote.Load() || err == nil && resp.StatusCode >= http.StatusInternalServerError) {
		// Planted bug (bugs.ForwardRetryNoSession): the follower retries a
		// write once when the leader's answer did not come or was a 5xx
		// (a timeout, a lost leadership), and builds the retry from the
		// command's fields, without the client's session. The first
		// attempt may have been proposed and may still commit, and the
		// retry is a new request to the state machine: the write is
		// applied twice.
		bugs.Fire(bugs.ForwardRetryNoSession)
		if resp != nil {
			resp.Body.Close()
		}
		if nl := a.b.Leader(); !nl.Self && nl.APIAddr != "" {
			l = nl // leadership may have moved
		}
		rctx, rcancel := context.WithTimeout(c.Request.Context(), a.timeout+2*time.Second)
		defer rcancel()
		req, err = newRequest(rctx, l, withoutSession(body))
		if err != nil {
			a.fail(c, Errorf(CodeInternal, "building forward request: %v", err))
			return
		}
		resp, err = a.fwd.Do(req)
	}
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

// withoutSession re-encodes a command body from its fields, leaving out the
// client's session (ForwardRetryNoSession's retry).
func withoutSession(body []byte) []byte {
	var req CommandRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return body
	}
	req.ClientID, req.RequestID = "", 0
	b, err := json.Marshal(req)
	if err != nil {
		return body
	}
	return b
}

// copyAuth passes the client's token on: the leader checks it again.
func copyAuth(dst, src *http.Request) {
	if h := src.Header.Get("Authorization"); h != "" {
		dst.Header.Set("Authorization", h)
	}
}
