package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftkv/raftkv/kvservice/fsm"
)

// fakeBackend is a single-node backend over a real FSM.
type fakeBackend struct {
	name     string
	f        *fsm.FSM
	mu       sync.Mutex
	idx      uint64
	leader   LeaderInfo
	proposed atomic.Int64
	reads    atomic.Int64
	err      error // returned by Propose and Read when set
	panicky  bool
	members  []Member // Members() when set; otherwise this node alone
	// learnLeader, when set, is what Leader() turns into after it has
	// been asked learnAfter times: a node that learns of a leader while a
	// request waits.
	learnLeader *LeaderInfo
	learnAfter  int
	asked       int
}

func newFake(name string) *fakeBackend {
	return &fakeBackend{name: name, f: fsm.New(), leader: LeaderInfo{Name: name, Self: true}}
}

func (b *fakeBackend) Name() string { return b.name }
func (b *fakeBackend) Leader() LeaderInfo {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.asked++
	if b.learnLeader != nil && b.asked > b.learnAfter {
		b.leader = *b.learnLeader
	}
	return b.leader
}
func (b *fakeBackend) Propose(ctx context.Context, c fsm.Command) (fsm.Result, error) {
	b.proposed.Add(1)
	if b.panicky {
		panic("boom")
	}
	if b.err != nil {
		return fsm.Result{}, b.err
	}
	b.mu.Lock()
	b.idx++
	i := b.idx
	b.mu.Unlock()
	return b.f.ApplyCommand(i, c), nil
}
func (b *fakeBackend) Read(ctx context.Context, key string, mode ReadMode) (fsm.Result, error) {
	b.reads.Add(1)
	if b.err != nil {
		return fsm.Result{}, b.err
	}
	v, ok, idx := b.f.Get(key)
	return fsm.Result{Op: fsm.OpGet, Key: key, Value: v, Found: ok, Index: idx}, nil
}
func (b *fakeBackend) ResolveReadMode(m ReadMode) ReadMode {
	if m == "" {
		return ReadLinearizable
	}
	return m
}
func (b *fakeBackend) Status() Status { return Status{ID: b.name, Role: "leader"} }
func (b *fakeBackend) Members() MembersResponse {
	if b.members != nil {
		return MembersResponse{Members: b.members}
	}
	return MembersResponse{Members: []Member{{ID: b.name, Voter: true}}}
}
func (b *fakeBackend) AddMember(ctx context.Context, req AddMemberRequest) (MembersResponse, error) {
	return MembersResponse{Members: []Member{{ID: b.name, Voter: true}, {ID: req.ID, APIAddr: req.APIAddr}}}, nil
}
func (b *fakeBackend) RemoveMember(ctx context.Context, name string) error { return nil }
func (b *fakeBackend) TransferLeader(ctx context.Context, name string) (string, error) {
	return name, nil
}
func (b *fakeBackend) Ready() (bool, string) { return true, "" }

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newServer(t *testing.T, b Backend, faults FaultBackend) *httptest.Server {
	t.Helper()
	a := New(Config{Backend: b, Faults: faults, Logger: quietLogger(), RequestTimeout: time.Second})
	s := httptest.NewServer(a.Handler())
	t.Cleanup(s.Close)
	return s
}

type answer struct {
	status int
	body   map[string]any
	raw    string
}

func (a answer) errField(name string) any {
	e, _ := a.body["error"].(map[string]any)
	return e[name]
}

func do(t *testing.T, method, url string, body any) answer {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, raw: string(raw)}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

func TestBadInput(t *testing.T) {
	b := newFake("node0")
	s := newServer(t, b, nil)
	big := strings.Repeat("v", MaxValueBytes+1)
	cases := []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"malformed json", "POST", "/command", `{"operation":`, 400, CodeBadRequest},
		{"not an object", "POST", "/command", `[1,2]`, 400, CodeBadRequest},
		{"trailing garbage", "POST", "/command", `{"operation":"get","key":"k"} x`, 400, CodeBadRequest},
		{"empty body", "POST", "/command", ``, 400, CodeBadRequest},
		{"missing operation", "POST", "/command", `{"key":"k"}`, 400, CodeBadRequest},
		{"unknown operation", "POST", "/command", `{"operation":"increment","key":"k"}`, 400, CodeUnknownOperation},
		{"missing key", "POST", "/command", `{"operation":"set","value":"v"}`, 400, CodeBadRequest},
		{"empty key", "POST", "/command", `{"operation":"get","key":""}`, 400, CodeBadRequest},
		{"wrong key type", "POST", "/command", `{"operation":"get","key":5}`, 400, CodeBadRequest},
		{"key too large", "POST", "/command", map[string]any{"operation": "set", "key": strings.Repeat("k", MaxKeyBytes+1), "value": "v"}, 400, CodeKeyTooLarge},
		{"value too large", "POST", "/command", map[string]any{"operation": "set", "key": "k", "value": big}, 413, CodeValueTooLarge},
		{"expected too large", "POST", "/command", map[string]any{"operation": "cas", "key": "k", "value": "v", "expected": big}, 413, CodeValueTooLarge},
		{"body too large", "POST", "/command", map[string]any{"operation": "set", "key": "k", "value": strings.Repeat("v", MaxBodyBytes)}, 413, CodeBodyTooLarge},
		{"set without value", "POST", "/command", `{"operation":"set","key":"k"}`, 400, CodeBadRequest},
		{"cas without expected", "POST", "/command", `{"operation":"cas","key":"k","value":"v"}`, 400, CodeBadRequest},
		{"bad read mode", "POST", "/command", `{"operation":"get","key":"k","read_mode":"eventual"}`, 400, CodeBadRequest},
		{"rest get missing key", "GET", "/kv/", nil, 400, CodeBadRequest},
		{"rest put empty key", "PUT", "/kv/", `{"value":"v"}`, 400, CodeBadRequest},
		{"rest put malformed", "PUT", "/kv/k", `{"value":`, 400, CodeBadRequest},
		{"rest put no value", "PUT", "/kv/k", `{}`, 400, CodeBadRequest},
		{"rest put value too large", "PUT", "/kv/k", map[string]any{"value": big}, 413, CodeValueTooLarge},
		{"rest key too large", "DELETE", "/kv/" + strings.Repeat("k", MaxKeyBytes+1), nil, 400, CodeKeyTooLarge},
		{"rest bad read mode", "GET", "/kv/k?read_mode=x", nil, 400, CodeBadRequest},
		{"rest get missing", "GET", "/kv/nothing", nil, 404, CodeKeyNotFound},
		{"no route", "GET", "/nope", nil, 404, CodeNotFound},
		{"fault routes disabled", "PUT", "/fault/network", `{"rules":[]}`, 404, CodeNotFound},
		{"fault state disabled", "GET", "/fault", nil, 404, CodeNotFound},
		{"member add incomplete", "POST", "/cluster/members", `{"id":"node3"}`, 400, CodeBadRequest},
		{"transfer malformed", "POST", "/cluster/leader", `{"id":`, 400, CodeBadRequest},
		// Text that encoding/json would turn into U+FFFD, so that distinct
		// keys or values collide, and NUL in keys.
		{"key invalid utf-8", "POST", "/command", "{\"operation\":\"set\",\"key\":\"k\xff\",\"value\":\"v\"}", 400, CodeBadRequest},
		{"value invalid utf-8", "POST", "/command", "{\"operation\":\"set\",\"key\":\"k\",\"value\":\"\xc3\x28\"}", 400, CodeBadRequest},
		{"expected invalid utf-8", "POST", "/command", "{\"operation\":\"cas\",\"key\":\"k\",\"value\":\"v\",\"expected\":\"\xed\xa0\x80\"}", 400, CodeBadRequest},
		{"key lone high surrogate", "POST", "/command", `{"operation":"set","key":"k\ud800","value":"v"}`, 400, CodeBadRequest},
		{"value lone low surrogate", "POST", "/command", `{"operation":"set","key":"k","value":"\udc00x"}`, 400, CodeBadRequest},
		{"value reversed surrogates", "POST", "/command", `{"operation":"set","key":"k","value":"\ude00\ud83d"}`, 400, CodeBadRequest},
		{"key nul escape", "POST", "/command", `{"operation":"set","key":"k\u0000","value":"v"}`, 400, CodeBadRequest},
		{"rest put value invalid utf-8", "PUT", "/kv/k", "{\"value\":\"\xff\"}", 400, CodeBadRequest},
		{"rest key invalid utf-8", "PUT", "/kv/k%FF", `{"value":"v"}`, 400, CodeBadRequest},
		{"rest key nul", "GET", "/kv/k%00", nil, 400, CodeBadRequest},
		{"rest delete key nul", "DELETE", "/kv/k%00x", nil, 400, CodeBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := do(t, tc.method, s.URL+tc.path, tc.body)
			if a.status != tc.status || a.errField("code") != tc.code || a.errField("definite") != true {
				t.Fatalf("got %d %s, want %d code %s definite", a.status, a.raw[:min(len(a.raw), 300)], tc.status, tc.code)
			}
			if msg, _ := a.errField("message").(string); msg == "" {
				t.Fatal("empty error message")
			}
		})
	}
	if n := b.proposed.Load(); n != 0 {
		t.Fatalf("bad input reached Propose %d times", n)
	}
}

// TestUnicodeTextAccepted: the checks of TestBadInput refuse only text that
// is not Unicode; paired surrogate escapes, escaped backslashes before a
// "u" and non-ASCII keys pass and round-trip.
func TestUnicodeTextAccepted(t *testing.T) {
	s := newServer(t, newFake("node0"), nil)
	for body, want := range map[string]string{
		`{"operation":"set","key":"é☃","value":"\ud83d\ude00"}`:            "\U0001F600",
		`{"operation":"set","key":"k","value":"\\ud800"}`:                  `\ud800`,
		`{"operation":"set","key":"k","value":"\u00e9\ufffd"}`:             "é\uFFFD",
		"{\"operation\":\"set\",\"key\":\"k\",\"value\":\"\xef\xbf\xbd\"}": "\uFFFD",
	} {
		a := do(t, "POST", s.URL+"/command", body)
		if a.status != 200 || a.body["previous"] == "x" {
			t.Fatalf("%s: %d %s", body, a.status, a.raw)
		}
		var key string
		_ = json.Unmarshal([]byte(body), &struct{ Key *string }{&key})
		g := do(t, "GET", s.URL+"/kv/"+url.PathEscape(key), nil)
		if g.status != 200 || g.body["value"] != want {
			t.Fatalf("%s: read back %d %s, want %q", body, g.status, g.raw, want)
		}
	}
}

func TestCommands(t *testing.T) {
	b := newFake("node0")
	s := newServer(t, b, nil)
	cmd := func(body string) answer { return do(t, "POST", s.URL+"/command", body) }
	expect := func(a answer, want string) {
		t.Helper()
		var got, exp map[string]any
		_ = json.Unmarshal([]byte(a.raw), &got)
		if err := json.Unmarshal([]byte(want), &exp); err != nil {
			t.Fatal(err)
		}
		delete(got, "index")
		if a.status != 200 || !jsonEqual(got, exp) {
			t.Fatalf("got %d %s, want %s", a.status, a.raw, want)
		}
	}
	expect(cmd(`{"operation":"get","key":"k"}`), `{"ok":true,"operation":"get","key":"k","found":false,"node":"node0","read_mode":"linearizable"}`)
	expect(cmd(`{"operation":"set","key":"k","value":"v1"}`), `{"ok":true,"operation":"set","key":"k","value":"v1","node":"node0"}`)
	expect(cmd(`{"operation":"get","key":"k","read_mode":"stale"}`), `{"ok":true,"operation":"get","key":"k","value":"v1","found":true,"node":"node0","read_mode":"stale"}`)
	expect(cmd(`{"operation":"cas","key":"k","expected":"x","value":"v2"}`), `{"ok":true,"operation":"cas","key":"k","value":"v1","found":true,"succeeded":false,"node":"node0"}`)
	expect(cmd(`{"operation":"cas","key":"k","expected":"v1","value":"v2"}`), `{"ok":true,"operation":"cas","key":"k","value":"v2","found":true,"succeeded":true,"node":"node0"}`)
	expect(cmd(`{"operation":"cas","key":"missing","expected":"","value":"v2"}`), `{"ok":true,"operation":"cas","key":"missing","found":false,"succeeded":false,"node":"node0"}`)
	expect(cmd(`{"operation":"delete","key":"k"}`), `{"ok":true,"operation":"delete","key":"k","found":true,"node":"node0"}`)
	expect(cmd(`{"operation":"delete","key":"k"}`), `{"ok":true,"operation":"delete","key":"k","found":false,"node":"node0"}`)
	// Exactly-once through the API.
	expect(cmd(`{"operation":"set","key":"s","value":"1","client_id":"c","request_id":7}`), `{"ok":true,"operation":"set","key":"s","value":"1","node":"node0"}`)
	expect(cmd(`{"operation":"set","key":"s","value":"1","client_id":"c","request_id":7}`), `{"ok":true,"operation":"set","key":"s","value":"1","node":"node0","duplicate":true}`)
	a := cmd(`{"operation":"set","key":"s","value":"0","client_id":"c","request_id":6}`)
	if a.status != 409 || a.errField("code") != CodeStaleRequest || a.errField("definite") != true {
		t.Fatalf("stale request: %d %s", a.status, a.raw)
	}
	// REST forms; keys may contain slashes and escapes.
	expect(do(t, "PUT", s.URL+"/kv/a/b%20c", `{"value":"x"}`), `{"ok":true,"operation":"set","key":"a/b c","value":"x","node":"node0"}`)
	expect(do(t, "GET", s.URL+"/kv/a/b%20c?read_mode=lease", nil), `{"ok":true,"operation":"get","key":"a/b c","value":"x","found":true,"node":"node0","read_mode":"lease"}`)
	expect(do(t, "DELETE", s.URL+"/kv/a/b%20c", nil), `{"ok":true,"operation":"delete","key":"a/b c","found":true,"node":"node0"}`)
	if a := do(t, "GET", s.URL+"/kv/a/b%20c", nil); a.status != 404 || a.errField("code") != CodeKeyNotFound {
		t.Fatalf("deleted key: %d %s", a.status, a.raw)
	}
	// Values at the limit pass.
	max := strings.Repeat("v", MaxValueBytes)
	if a := do(t, "POST", s.URL+"/command", map[string]any{"operation": "set", "key": strings.Repeat("k", MaxKeyBytes), "value": max}); a.status != 200 {
		t.Fatalf("max-size set: %d %s", a.status, a.raw[:200])
	}
	for _, p := range []string{"/status", "/cluster/members", "/healthz", "/readyz"} {
		if a := do(t, "GET", s.URL+p, nil); a.status != 200 {
			t.Fatalf("%s: %d %s", p, a.status, a.raw)
		}
	}
	m := do(t, "GET", s.URL+"/metrics", nil)
	if m.status != 200 || !strings.Contains(m.raw, `raftkv_http_requests_total{code="ok",op="set"}`) ||
		!strings.Contains(m.raw, `raftkv_http_requests_total{code="stale_request",op="set"}`) {
		t.Fatalf("metrics: %s", m.raw)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func TestBackendErrors(t *testing.T) {
	b := newFake("node0")
	s := newServer(t, b, nil)
	cases := []struct {
		err            error
		op             string
		status         int
		code           string
		definite       bool
		readIsDefinite bool
	}{
		{context.DeadlineExceeded, "set", 504, CodeTimeout, false, true},
		{Errorf(CodeProposalDropped, "slot taken"), "cas", 503, CodeProposalDropped, true, true},
		{Errorf(CodeLeadershipLost, "leadership lost"), "cas", 503, CodeLeadershipLost, false, true},
		{Errorf(CodeNotLeader, "lost leadership"), "delete", 503, CodeNotLeader, true, true},
		{Errorf(CodeShuttingDown, "stopping"), "set", 503, CodeShuttingDown, true, true},
		{errors.New("disk on fire"), "set", 500, CodeInternal, false, true},
	}
	for _, tc := range cases {
		b.err = tc.err
		a := do(t, "POST", s.URL+"/command", `{"operation":"`+tc.op+`","key":"k","value":"v","expected":"e"}`)
		if a.status != tc.status || a.errField("code") != tc.code || a.errField("definite") != tc.definite {
			t.Fatalf("%v: got %d %s", tc.err, a.status, a.raw)
		}
		a = do(t, "GET", s.URL+"/kv/k", nil)
		if a.status != tc.status || a.errField("definite") != tc.readIsDefinite {
			t.Fatalf("read %v: got %d %s", tc.err, a.status, a.raw)
		}
	}
	b.err = nil
	b.panicky = true
	a := do(t, "PUT", s.URL+"/kv/k", `{"value":"v"}`)
	if a.status != 500 || a.errField("code") != CodeInternal {
		t.Fatalf("panic: %d %s", a.status, a.raw)
	}
}

func TestForwarding(t *testing.T) {
	leader := newFake("node1")
	ls := newServer(t, leader, nil)
	follower := newFake("node0")
	follower.leader = LeaderInfo{Name: "node1", APIAddr: strings.TrimPrefix(ls.URL, "http://")}
	// node2 and node3 run on this host; node4 on another one.
	follower.members = []Member{{ID: "node0", APIAddr: "127.0.0.1:1"}, {ID: "node1", APIAddr: follower.leader.APIAddr},
		{ID: "node2", APIAddr: "127.0.0.1:2"}, {ID: "node3", APIAddr: "127.0.0.1:3"}, {ID: "node4", APIAddr: "192.0.2.4:8000"}}
	fs := newServer(t, follower, nil)

	a := do(t, "POST", fs.URL+"/command", `{"operation":"set","key":"k","value":"v"}`)
	if a.status != 200 || a.body["node"] != "node1" {
		t.Fatalf("forwarded write: %d %s", a.status, a.raw)
	}
	a = do(t, "GET", fs.URL+"/kv/k", nil)
	if a.status != 200 || a.body["value"] != "v" || a.body["node"] != "node1" {
		t.Fatalf("forwarded read: %d %s", a.status, a.raw)
	}
	// Errors of the leader come back verbatim.
	if a = do(t, "GET", fs.URL+"/kv/missing", nil); a.status != 404 || a.errField("code") != CodeKeyNotFound {
		t.Fatalf("forwarded 404: %d %s", a.status, a.raw)
	}
	// Stale reads are local.
	if a = do(t, "GET", fs.URL+"/kv/k?read_mode=stale", nil); a.status != 404 || follower.reads.Load() != 1 {
		t.Fatalf("stale read: %d %s", a.status, a.raw)
	}
	if follower.proposed.Load() != 0 || leader.proposed.Load() != 1 {
		t.Fatalf("proposals: follower %d leader %d", follower.proposed.Load(), leader.proposed.Load())
	}
	// Membership and transfer are forwarded too.
	if a = do(t, "POST", fs.URL+"/cluster/leader", `{"id":"node0"}`); a.status != 200 || a.body["leader"] != "node0" {
		t.Fatalf("forwarded transfer: %d %s", a.status, a.raw)
	}

	// A request forwarded once more follows a leader change...
	put := func(chain string) (int, string) {
		req, _ := http.NewRequest("PUT", fs.URL+"/kv/k", strings.NewReader(`{"value":"x"}`))
		req.Header.Set(ForwardedHeader, chain)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(raw)
	}
	if code, raw := put("node2"); code != 200 || !strings.Contains(raw, `"node":"node1"`) {
		t.Fatalf("second hop: %d %s", code, raw)
	}
	// ...but never back to a node it visited, nor past MaxForwardHops.
	for _, chain := range []string{"node1", "node2,node3"} {
		code, raw := put(chain)
		if code != 503 || !strings.Contains(raw, CodeNotLeader) || !strings.Contains(raw, `"leader":"node1"`) {
			t.Fatalf("loop prevention with chain %q: %d %s", chain, code, raw)
		}
	}

	// A chain a client made up is ignored: it names a non-member, or a
	// member on another host than the sender. The request is forwarded as
	// if it had no header.
	for _, chain := range []string{"evil", "node1,evil", "node4", "node2,node4", "node0"} {
		if code, raw := put(chain); code != 200 || !strings.Contains(raw, `"node":"node1"`) {
			t.Fatalf("client-sent chain %q: %d %s", chain, code, raw)
		}
	}

	// No leader known.
	follower.mu.Lock()
	follower.leader = LeaderInfo{}
	follower.mu.Unlock()
	if a = do(t, "PUT", fs.URL+"/kv/k", `{"value":"x"}`); a.status != 503 || a.errField("code") != CodeNoLeader || a.errField("definite") != true {
		t.Fatalf("no leader: %d %s", a.status, a.raw)
	}
}

// TestForwardWaitsForLeader: a follower that does not yet know the leader,
// or knows it but not its API address, waits for it instead of answering
// no_leader (a fresh cluster's first write, issue 14).
func TestForwardWaitsForLeader(t *testing.T) {
	leader := newFake("node1")
	ls := newServer(t, leader, nil)
	known := LeaderInfo{Name: "node1", APIAddr: strings.TrimPrefix(ls.URL, "http://")}
	for _, before := range []LeaderInfo{{}, {Name: "node1"}} {
		follower := newFake("node0")
		follower.leader = before
		follower.learnLeader = &known
		follower.learnAfter = 3
		fs := newServer(t, follower, nil)
		if a := do(t, "PUT", fs.URL+"/kv/k", `{"value":"x"}`); a.status != 200 || a.body["node"] != "node1" {
			t.Fatalf("leader learnt while waiting (before: %+v): %d %s", before, a.status, a.raw)
		}
	}
}

// A follower whose leader died forwards to the next leader once it learns
// of it, instead of failing the request: nothing reached the dead one.
func TestForwardRedialsNextLeader(t *testing.T) {
	dead := deadAddr(t)
	next := newFake("node2")
	ns := newServer(t, next, nil)
	follower := newFake("node0")
	follower.leader = LeaderInfo{Name: "node1", APIAddr: dead}
	follower.learnLeader = &LeaderInfo{Name: "node2", APIAddr: strings.TrimPrefix(ns.URL, "http://")}
	follower.learnAfter = 3
	fs := newServer(t, follower, nil)
	if a := do(t, "PUT", fs.URL+"/kv/k", `{"value":"x"}`); a.status != 200 || a.body["node"] != "node2" {
		t.Fatalf("write after the leader died: %d %s", a.status, a.raw)
	}
	if a := do(t, "GET", fs.URL+"/kv/k", nil); a.status != 200 || a.body["node"] != "node2" {
		t.Fatalf("read after the leader died: %d %s", a.status, a.raw)
	}
}

func TestForwardFailures(t *testing.T) {
	// A leader address nobody listens on: the request is never written,
	// so the failure is definite.
	dead := deadAddr(t)
	follower := newFake("node0")
	follower.leader = LeaderInfo{Name: "node1", APIAddr: dead}
	fs := newServer(t, follower, nil)
	a := do(t, "PUT", fs.URL+"/kv/k", `{"value":"x"}`)
	if a.status != 502 || a.errField("code") != CodeForwardFailed || a.errField("definite") != true {
		t.Fatalf("dead leader: %d %s", a.status, a.raw)
	}

	// A leader that reads the request and hangs up: it may have been
	// proposed, so the failure is not definite (but a read's is).
	hang, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hang.Close()
	go func() {
		for {
			c, err := hang.Accept()
			if err != nil {
				return
			}
			go func() {
				buf := make([]byte, 4096)
				_, _ = c.Read(buf)
				c.Close()
			}()
		}
	}()
	follower.mu.Lock()
	follower.leader = LeaderInfo{Name: "node1", APIAddr: hang.Addr().String()}
	follower.mu.Unlock()
	a = do(t, "PUT", fs.URL+"/kv/k", `{"value":"x"}`)
	if a.status != 502 || a.errField("code") != CodeForwardFailed || a.errField("definite") != false {
		t.Fatalf("hang-up leader, write: %d %s", a.status, a.raw)
	}
	a = do(t, "GET", fs.URL+"/kv/k", nil)
	if a.status != 502 || a.errField("definite") != true {
		t.Fatalf("hang-up leader, read: %d %s", a.status, a.raw)
	}
}

type fakeFaults struct {
	mu    sync.Mutex
	state FaultState
}

func (f *fakeFaults) SetNetworkFaults(r []NetworkRule) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, x := range r {
		if x.Peer == "unknown" {
			return errors.New("unknown peer")
		}
	}
	f.state.Network = r
	return nil
}
func (f *fakeFaults) ClearNetworkFaults() { f.mu.Lock(); f.state.Network = nil; f.mu.Unlock() }
func (f *fakeFaults) SetClock(c ClockFault) error {
	f.mu.Lock()
	f.state.Clock = &c
	f.mu.Unlock()
	return nil
}
func (f *fakeFaults) ClearClock() { f.mu.Lock(); f.state.Clock = nil; f.mu.Unlock() }
func (f *fakeFaults) ArmFailpoint(fp Failpoint) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.state.Failpoint = &fp
	return nil
}
func (f *fakeFaults) DisarmFailpoint() { f.mu.Lock(); f.state.Failpoint = nil; f.mu.Unlock() }
func (f *fakeFaults) Faults() FaultState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state
}

func TestFaultRoutes(t *testing.T) {
	ff := &fakeFaults{}
	s := newServer(t, newFake("node0"), ff)
	if a := do(t, "PUT", s.URL+"/fault/network", `{"rules":[{"peer":"node1","direction":"both","drop":true}]}`); a.status != 200 {
		t.Fatalf("network: %d %s", a.status, a.raw)
	}
	for _, bad := range []string{`{"rules":[{"peer":"node1","direction":"sideways"}]}`, `{"rules":[{"direction":"in"}]}`,
		`{"rules":[{"peer":"node1","loss":2}]}`, `{"rules":[{"peer":"unknown"}]}`, `{`} {
		if a := do(t, "PUT", s.URL+"/fault/network", bad); a.status != 400 {
			t.Fatalf("%s: %d %s", bad, a.status, a.raw)
		}
	}
	if a := do(t, "PUT", s.URL+"/fault/clock", `{"offset_ms":100,"rate":1.5}`); a.status != 200 {
		t.Fatalf("clock: %d %s", a.status, a.raw)
	}
	if a := do(t, "PUT", s.URL+"/fault/clock", `{"rate":0}`); a.status != 400 {
		t.Fatalf("clock rate 0: %d %s", a.status, a.raw)
	}
	if a := do(t, "PUT", s.URL+"/fault/failpoint", `{"name":"crash-after-apply","after":3}`); a.status != 200 {
		t.Fatalf("failpoint: %d %s", a.status, a.raw)
	}
	a := do(t, "GET", s.URL+"/fault", nil)
	if a.status != 200 || !strings.Contains(a.raw, `"peer":"node1"`) || !strings.Contains(a.raw, `"offset_ms":100`) || !strings.Contains(a.raw, `crash-after-apply`) {
		t.Fatalf("state: %s", a.raw)
	}
	for _, p := range []string{"/fault/network", "/fault/clock", "/fault/failpoint"} {
		do(t, "DELETE", s.URL+p, nil)
	}
	if a := do(t, "GET", s.URL+"/fault", nil); a.raw != `{"network":null}` {
		t.Fatalf("after clear: %s", a.raw)
	}
}

// deadAddr is a local address nobody listens on: a connection to it is
// refused, so nothing sent there is ever written.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
