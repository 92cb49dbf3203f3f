package docker

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"time"

	"github.com/raftkv/raftkv/harness/nodeapi"
	"github.com/raftkv/raftkv/harness/target"
	raftkvtarget "github.com/raftkv/raftkv/harness/target/raftkv"
)

// faultProxy stands between the harness's control client and one node's
// API. The nemesis injects network faults with PUT /fault/network on a
// node's client; in this backend those faults belong to the OS (iptables
// in the container's namespace, NFQUEUE for delay), so the proxy answers
// the network fault routes itself and forwards every other request to a
// raftkv node. A node of another target does not speak raftkv's API: the
// proxy answers for it too (noNodeAPI), and forwards nothing.
type faultProxy struct {
	c    *Cluster
	n    *node
	addr string
	node string // the node's API base URL (https for a secured node)
	// token is the admin token of a secured cluster: what the network
	// fault routes the proxy answers itself require, as the node's fault
	// API would; "" for a plain cluster.
	token string
	// forward: the node speaks raftkv's API (the raftkv target).
	forward bool
	srv     *http.Server
	rp      *httputil.ReverseProxy
}

func newFaultProxy(c *Cluster, n *node) (*faultProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("docker: proxy for %s: %w", n.id, err)
	}
	sec := c.opts.Node.Security
	p := &faultProxy{c: c, n: n, addr: ln.Addr().String(), node: sec.URL(net.JoinHostPort(n.ip, strconv.Itoa(apiPort))),
		token: sec.Token(target.RoleAdmin), forward: c.opts.Target.Name() == raftkvtarget.Name}
	node, err := url.Parse(p.node)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("docker: proxy for %s: %w", n.id, err)
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(node) },
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: c.opts.RequestTimeout}).DialContext,
			MaxIdleConnsPerHost: 16,
			// A secured node is reached with https, verified as itself.
			TLSClientConfig:     sec.ClientTLS(n.id),
			TLSHandshakeTimeout: c.opts.RequestTimeout,
		},
		ErrorHandler: p.forwardError,
	}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

func (p *faultProxy) close() { _ = p.srv.Close() }

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if (r.URL.Path == "/fault/network" || !p.forward) && !p.admin(r) {
		w.Header().Set("WWW-Authenticate", "Bearer")
		writeError(w, http.StatusUnauthorized, "unauthorized", "the fault API needs the admin token", true)
		return
	}
	switch {
	case r.URL.Path == "/fault/network" && r.Method == http.MethodPut:
		var body struct {
			Rules []nodeapi.NetRule `json:"rules"`
		}
		dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			writeError(w, http.StatusBadRequest, "bad_request", err.Error(), true)
			return
		}
		p.apply(w, r.Context(), body.Rules)
	case r.URL.Path == "/fault/network" && r.Method == http.MethodDelete:
		p.apply(w, r.Context(), nil)
	case !p.forward:
		p.noNodeAPI(w, r)
	case r.URL.Path == "/fault" && r.Method == http.MethodGet:
		p.faults(w, r)
	default:
		p.rp.ServeHTTP(w, r)
	}
}

// admin reports whether r carries the admin token (always, for a plain
// cluster). Other routes are forwarded with their Authorization header,
// and the node checks it.
func (p *faultProxy) admin(r *http.Request) bool {
	if p.token == "" {
		return true
	}
	got := []byte(r.Header.Get("Authorization"))
	return subtle.ConstantTimeCompare(got, []byte("Bearer "+p.token)) == 1
}

func (p *faultProxy) apply(w http.ResponseWriter, ctx context.Context, rules []nodeapi.NetRule) {
	err := p.c.SetNetwork(ctx, p.n.id, rules)
	switch {
	case errors.Is(err, ErrBadRule):
		writeError(w, http.StatusBadRequest, "bad_request", err.Error(), true)
	case err != nil:
		writeError(w, http.StatusInternalServerError, "internal", err.Error(), false)
	default:
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "network": p.network()})
	}
}

func (p *faultProxy) network() map[string]any {
	rules := p.c.NetworkRules(p.n.id)
	if rules == nil {
		rules = []nodeapi.NetRule{}
	}
	return map[string]any{"rules": rules, "layer": "os: iptables (NFQUEUE for delay) in the container's network namespace (docker backend)"}
}

// faults answers GET /fault with the node's own answer, whose "network"
// is replaced by the OS-level rules this backend applies.
func (p *faultProxy) faults(w http.ResponseWriter, r *http.Request) {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, p.node+"/fault", nil)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", err.Error(), false)
		return
	}
	if auth := r.Header.Get("Authorization"); auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := p.rp.Transport.RoundTrip(req)
	if err != nil {
		p.forwardError(w, r, err)
		return
	}
	defer resp.Body.Close()
	var m map[string]any
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&m) != nil {
		writeError(w, http.StatusBadGateway, "forward_failed", "node answered GET /fault with "+resp.Status, false)
		return
	}
	m["network"] = p.network()
	writeJSON(w, http.StatusOK, m)
}

// noNodeAPI answers what the harness may ask of a node of a target without
// raftkv's API, the network fault routes aside: GET /fault says which
// network faults are in force; clearing a clock fault or a failpoint
// succeeds, since the store has none (the final heal clears every kind of
// fault); anything else is refused, definitely. The scenario's check
// refuses the faults that would need them (nemesis.CheckTarget), so a
// refusal here is a harness bug, said as such.
func (p *faultProxy) noNodeAPI(w http.ResponseWriter, r *http.Request) {
	name := p.c.opts.Target.Name()
	switch {
	case r.URL.Path == "/fault" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]any{"network": p.network()})
	case (r.URL.Path == "/fault/clock" || r.URL.Path == "/fault/failpoint") && r.Method == http.MethodDelete:
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "note": "target " + name + " has no such fault"})
	default:
		writeError(w, http.StatusNotImplemented, "unsupported",
			fmt.Sprintf("%s %s: target %s does not speak raftkv's node API (the harness reaches it through its target: probes and client); only the network fault routes are the docker backend's own", r.Method, r.URL.Path, name), true)
	}
}

// forwardError answers in the API's error shape. A failed dial reached
// nothing, so it is definite, as nodeapi.IsDefinite says of a direct dial.
func (p *faultProxy) forwardError(w http.ResponseWriter, _ *http.Request, err error) {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		writeError(w, http.StatusServiceUnavailable, "unreachable", p.n.id+": "+err.Error(), true)
		return
	}
	writeError(w, http.StatusBadGateway, "forward_failed", p.n.id+": "+err.Error(), false)
}

func writeError(w http.ResponseWriter, status int, code, msg string, definite bool) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": code, "message": msg, "definite": definite}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
