package api

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	readTok  = "read-token-0123456789"
	writeTok = "write-token-0123456789"
	adminTok = "admin-token-0123456789"
)

func newAuthServer(t *testing.T) (*httptest.Server, *fakeBackend) {
	t.Helper()
	return newAuthServerWith(t, nil)
}

// newAuthServerWith is newAuthServer with fault routes served through
// faults (nil: a node started without --unsafe-enable-fault-injection).
func newAuthServerWith(t *testing.T, faults FaultBackend) (*httptest.Server, *fakeBackend) {
	t.Helper()
	toks, err := ParseTokens([]byte("# roles\nread " + readTok + "\nwrite " + writeTok + "\n\nadmin " + adminTok + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	b := newFake("n1")
	a := New(Config{Backend: b, Faults: faults, Logger: quietLogger(), RequestTimeout: time.Second, Tokens: toks})
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	return srv, b
}

func send(t *testing.T, srv *httptest.Server, method, path, token, ctype, origin, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestTokensAndRoles(t *testing.T) {
	srv, b := newAuthServer(t)
	const js = "application/json"
	set := `{"operation":"set","key":"k","value":"v"}`
	get := `{"operation":"get","key":"k"}`
	cases := []struct {
		name, method, path, token, body string
		want                            int
	}{
		{"no token", "POST", "/command", "", get, 401},
		{"unknown token", "POST", "/command", "not-a-valid-token-at-all", get, 401},
		{"read get", "POST", "/command", readTok, get, 200},
		{"read set", "POST", "/command", readTok, set, 403},
		{"write set", "POST", "/command", writeTok, set, 200},
		{"read kv put", "PUT", "/kv/k", readTok, "x", 403},
		{"write status", "GET", "/status", writeTok, "", 200},
		{"no token status", "GET", "/status", "", "", 401},
		{"write transfer", "POST", "/cluster/leader", writeTok, `{"name":"n2"}`, 403},
		{"write add member", "POST", "/cluster/members", writeTok, `{"name":"n4","raft_addr":"x:1","api_addr":"x:2"}`, 403},
		{"write remove member", "DELETE", "/cluster/members/n2", writeTok, "", 403},
		{"admin remove member", "DELETE", "/cluster/members/n2", adminTok, "", 204},
		{"probe without token", "GET", "/healthz", "", "", 200},
	}
	for _, c := range cases {
		if got := send(t, srv, c.method, c.path, c.token, js, "", c.body); got != c.want {
			if c.want == 204 && got == 200 {
				continue
			}
			t.Errorf("%s: %s %s = %d, want %d", c.name, c.method, c.path, got, c.want)
		}
	}
	if v, ok, _ := b.f.Get("k"); !ok || v != "v" {
		t.Fatalf("state after the writes: %q %v (only the write token's set may have applied)", v, ok)
	}
}

// Issue 12, part 2: the fault API needs both the unsafe flag (without it
// the routes do not exist, whatever the token) and an admin token; a
// refused request changes no fault.
func TestFaultAPINeedsAdminAndUnsafeFlag(t *testing.T) {
	const js = "application/json"
	drop := `{"rules":[{"peer":"n2","direction":"both","drop":true}]}`
	ff := &fakeFaults{}
	srv, _ := newAuthServerWith(t, ff)
	for _, c := range []struct {
		name, method, path, token, body string
		want                            int
	}{
		{"no token", "PUT", "/fault/network", "", drop, 401},
		{"read token", "PUT", "/fault/network", readTok, drop, 403},
		{"write token", "PUT", "/fault/network", writeTok, drop, 403},
		{"write token clock", "PUT", "/fault/clock", writeTok, `{"offset_ms":100}`, 403},
		{"write token failpoint", "PUT", "/fault/failpoint", writeTok, `{"name":"crash-after-apply","after":1}`, 403},
		{"write token state", "GET", "/fault", writeTok, "", 403},
	} {
		if got := send(t, srv, c.method, c.path, c.token, js, "", c.body); got != c.want {
			t.Errorf("%s: %s %s = %d, want %d", c.name, c.method, c.path, got, c.want)
		}
	}
	ff.mu.Lock()
	st := ff.state
	ff.mu.Unlock()
	if st.Network != nil || st.Clock != nil || st.Failpoint != nil {
		t.Fatalf("a refused fault request changed the faults: %+v", st)
	}
	if got := send(t, srv, "PUT", "/fault/network", adminTok, js, "", drop); got != 200 {
		t.Fatalf("admin token: %d", got)
	}
	if ff.mu.Lock(); len(ff.state.Network) != 1 {
		t.Errorf("admin's rule not applied: %+v", ff.state)
	}
	ff.mu.Unlock()

	off, _ := newAuthServerWith(t, nil)
	for _, m := range []string{"GET", "PUT", "DELETE"} {
		path := "/fault/network"
		if m == "GET" {
			path = "/fault"
		}
		if got := send(t, off, m, path, adminTok, js, "", drop); got != http.StatusNotFound {
			t.Errorf("without the unsafe flag, admin %s %s = %d, want 404", m, path, got)
		}
	}
}

// The attack of issue 12: a page of another origin POSTs text/plain.
// Nothing it sends is written.
func TestCrossOriginWritesRejected(t *testing.T) {
	b := newFake("n1")
	srv := newServer(t, b, nil) // no tokens: the check holds regardless
	set := `{"operation":"set","key":"k","value":"v"}`
	if got := send(t, srv, "POST", "/command", "", "text/plain", "", set); got != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain POST: %d", got)
	}
	if got := send(t, srv, "POST", "/command", "", "application/json", "http://evil.example", set); got != http.StatusForbidden {
		t.Errorf("cross-origin JSON POST: %d", got)
	}
	if got := send(t, srv, "POST", "/cluster/leader", "", "", "http://evil.example", ""); got != http.StatusForbidden {
		t.Errorf("cross-origin body-less transfer: %d", got)
	}
	if got := send(t, srv, "DELETE", "/kv/k", "", "", "http://evil.example", ""); got != http.StatusForbidden {
		t.Errorf("cross-origin DELETE: %d", got)
	}
	if n := b.proposed.Load(); n != 0 {
		t.Fatalf("cross-origin requests reached Propose %d times", n)
	}
	host := strings.TrimPrefix(srv.URL, "http://")
	if got := send(t, srv, "POST", "/command", "", "application/json; charset=utf-8", "http://"+host, set); got != http.StatusOK {
		t.Errorf("same-origin JSON POST: %d", got)
	}
	if got := send(t, srv, "GET", "/status", "", "", "http://evil.example", ""); got != http.StatusOK {
		t.Errorf("cross-origin GET (the browser keeps the answer from the page): %d", got)
	}
}

func TestParseTokensErrors(t *testing.T) {
	for _, bad := range []string{"", "admin short", "root " + adminTok, "admin " + adminTok + " extra"} {
		if _, err := ParseTokens([]byte(bad)); err == nil {
			t.Errorf("ParseTokens(%q) accepted", bad)
		}
	}
}

// The attack of issue 12 with tokens on: a client that runs on the same
// host as the members (so the trusted-network check by address cannot tell
// it from a member) sends X-Raftkv-Forwarded-By naming the leader to a
// healthy follower. The header is ignored: the follower forwards as usual.
// A request a member forwards carries that member's admin token in
// ForwarderTokenHeader, and only such a chain is honoured (loop
// prevention still works between members).
func TestForwardedHeaderNeedsMemberToken(t *testing.T) {
	toks, err := ParseTokens([]byte("read " + readTok + "\nwrite " + writeTok + "\nadmin " + adminTok + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	var seen sync.Map // header values the leader received, by request path
	la := New(Config{Backend: newFake("node1"), Logger: quietLogger(), RequestTimeout: time.Second, Tokens: toks})
	ls := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.URL.Path, r.Header.Get(ForwarderTokenHeader))
		la.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(ls.Close)
	leaderAddr := strings.TrimPrefix(ls.URL, "http://")
	follower := newFake("node0")
	follower.leader = LeaderInfo{Name: "node1", APIAddr: leaderAddr}
	follower.members = []Member{{ID: "node0", APIAddr: "127.0.0.1:1"}, {ID: "node1", APIAddr: leaderAddr}, {ID: "node2", APIAddr: "127.0.0.1:2"}}
	fa := New(Config{Backend: follower, Logger: quietLogger(), RequestTimeout: time.Second, Tokens: toks, NodeToken: adminTok})
	fs := httptest.NewServer(fa.Handler())
	t.Cleanup(fs.Close)

	put := func(key, chain, forwarder string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("PUT", fs.URL+"/kv/"+key, strings.NewReader(`{"value":"x"}`))
		req.Header.Set("Authorization", "Bearer "+writeTok)
		req.Header.Set("Content-Type", "application/json")
		if chain != "" {
			req.Header.Set(ForwardedHeader, chain)
		}
		if forwarder != "" {
			req.Header.Set(ForwarderTokenHeader, forwarder)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(raw)
	}

	if code, raw := put("plain", "", ""); code != 200 || !strings.Contains(raw, `"node":"node1"`) {
		t.Fatalf("forwarded write: %d %s", code, raw)
	}
	if v, _ := seen.Load("/kv/plain"); v != adminTok {
		t.Fatalf("the follower forwarded with %s %q, want its node token", ForwarderTokenHeader, v)
	}
	// Made-up chains, with no proof or a client's own non-admin token.
	for i, c := range []struct{ chain, forwarder string }{
		{"node1", ""}, {"node2,node1", ""}, {"node2", ""}, {"node1", writeTok}, {"node1", "not-a-token-0123456789"},
	} {
		if code, raw := put(fmt.Sprint("forged", i), c.chain, c.forwarder); code != 200 || !strings.Contains(raw, `"node":"node1"`) {
			t.Errorf("client-sent chain %q (forwarder token %q): %d %s", c.chain, c.forwarder, code, raw)
		}
	}
	// What a member sends: honoured, so a request that already visited the
	// leader this follower knows is not sent back there.
	if code, raw := put("looped", "node1", adminTok); code != 503 || !strings.Contains(raw, CodeNotLeader) {
		t.Fatalf("a member's chain naming the leader: %d %s", code, raw)
	}
}
