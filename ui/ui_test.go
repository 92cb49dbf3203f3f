package ui_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"

	"github.com/raftkv/raftkv/ui"
	"github.com/raftkv/raftkv/ui/fakesource"
)

func TestRunsList(t *testing.T) {
	store := makeStore(t)
	runs, err := ui.NewRuns(store).List()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range runs {
		ids = append(ids, r.ID)
	}
	// Newest first; the "latest" symlink and .bin are not runs.
	want := []string{incompleteRun, invalidRun, validRun}
	if !slices.Equal(ids, want) {
		t.Fatalf("runs = %v, want %v", ids, want)
	}
	inc, bad, good := runs[0], runs[1], runs[2]
	if inc.Complete || inc.Verdict != "" || !slices.Equal(inc.Files, []string{"history.jsonl"}) {
		t.Errorf("incomplete run = %+v", inc)
	}
	if !bad.Complete || bad.Verdict != "invalid" || bad.Expected != "invalid" || bad.Ops != 300 || bad.Faults != 3 || bad.Seed != 42 {
		t.Errorf("invalid run = %+v", bad)
	}
	if !slices.Equal(bad.FailedKeys, []string{"k3"}) || !slices.Equal(bad.LostWriteKeys, []string{"k7"}) || bad.LostWrites != 1 {
		t.Errorf("invalid run keys: failed %v lost %v (%d)", bad.FailedKeys, bad.LostWriteKeys, bad.LostWrites)
	}
	if wantFiles := []string{"index.html", "history.html", "timeline.html", "results.json", "history.jsonl"}; !slices.Equal(bad.Files, wantFiles) {
		t.Errorf("invalid run files = %v, want %v", bad.Files, wantFiles)
	}
	if good.Verdict != "valid" || good.Time != time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC) {
		t.Errorf("valid run = %+v", good)
	}
	// Through the "latest" link, Get reads the same run.
	latest, err := ui.NewRuns(store).Get("stale-reads/latest")
	if err != nil || latest.Verdict != "invalid" {
		t.Errorf("Get(latest) = %+v, %v", latest, err)
	}
	for _, id := range []string{"", "a", "../x", "a/..", "a/b/c", ".bin/x", "a/.hidden"} {
		if _, err := ui.NewRuns(store).Get(id); err == nil {
			t.Errorf("Get(%q) succeeded", id)
		}
	}
	if runs, err := ui.NewRuns(filepath.Join(store, "missing")).List(); err != nil || len(runs) != 0 {
		t.Errorf("List(missing dir) = %v, %v", runs, err)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestRunsFilesReadOnlyNoTraversal(t *testing.T) {
	store := makeStore(t)
	secret := filepath.Join(filepath.Dir(store), "secret-"+filepath.Base(store))
	if err := os.WriteFile(secret, []byte("SECRET"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(secret) })
	// A symbolic link inside a run that points out of the store.
	if err := os.Symlink(secret, filepath.Join(store, invalidRun, "escape.txt")); err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, false, store)

	code, body := get(t, srv.URL+"/runs/files/"+invalidRun+"/timeline.html")
	if code != 200 || !strings.Contains(body, "<h1>timeline.html</h1>") {
		t.Fatalf("timeline.html: %d %q", code, body)
	}
	if code, _ := get(t, srv.URL+"/runs/files/stale-reads/latest/history.html"); code != 200 {
		t.Errorf("history.html through latest: %d", code)
	}
	for _, p := range []string{
		"/runs/files/" + invalidRun + "/../../" + filepath.Base(secret),
		"/runs/files/" + invalidRun + "/%2e%2e/%2e%2e/" + filepath.Base(secret),
		"/runs/files/stale-reads/..%2f..%2f/" + filepath.Base(secret),
		"/runs/files/..%2f/x/" + filepath.Base(secret),
		"/runs/files/" + invalidRun + "/escape.txt",
		"/runs/files/" + invalidRun + "/",
		"/runs/files/" + invalidRun + "/missing.html",
		"/runs/files/.bin/x/anything",
	} {
		code, body := get(t, srv.URL+p)
		if code == 200 || strings.Contains(body, "SECRET") {
			t.Errorf("GET %s = %d %q, want refused", p, code, body)
		}
	}
	// Read-only: nothing but GET (and HEAD) is routed.
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/runs/files/"+invalidRun+"/timeline.html", strings.NewReader("x"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == 200 {
		t.Errorf("PUT accepted")
	}
	if b, _ := os.ReadFile(filepath.Join(store, invalidRun, "timeline.html")); !strings.Contains(string(b), "timeline.html") {
		t.Errorf("file changed: %q", b)
	}

	code, body = get(t, srv.URL+"/runs/api/runs")
	var list struct{ Runs []ui.RunSummary }
	if err := json.Unmarshal([]byte(body), &list); code != 200 || err != nil || len(list.Runs) != 3 {
		t.Fatalf("/runs/api/runs: %d %v %s", code, err, body)
	}
	if code, _ := get(t, srv.URL+"/runs/api/run?id=../etc"); code != 400 {
		t.Errorf("bad id: %d, want 400", code)
	}
	if code, _ := get(t, srv.URL+"/runs/api/run?id=nope/nope"); code != 404 {
		t.Errorf("missing run: %d, want 404", code)
	}
}

func TestCollectMarksUnreachableAndKeepsLastStatus(t *testing.T) {
	c := fakesource.New(3, false)
	live := ui.Register(gin.New(), c)
	defer live.Close()
	snap := live.Collect(context.Background())
	if len(snap.Members) != 3 || snap.Self != "node0" {
		t.Fatalf("snapshot = %+v", snap)
	}
	for _, m := range snap.Members {
		if !m.Reachable || m.Status == nil {
			t.Fatalf("member %s not reachable: %+v", m.ID, m)
		}
	}
	if err := c.SetReachable("node2", false); err != nil {
		t.Fatal(err)
	}
	snap2 := live.Collect(context.Background())
	if snap2.Seq <= snap.Seq {
		t.Errorf("seq %d after %d", snap2.Seq, snap.Seq)
	}
	n2 := snap2.Members[2]
	if n2.ID != "node2" || n2.Reachable || !strings.Contains(n2.Error, "unreachable") {
		t.Fatalf("node2 = %+v", n2)
	}
	if n2.Status == nil || n2.Status.Role != "follower" || !n2.LastSeen.Equal(snap.Members[2].LastSeen) {
		t.Errorf("node2 lost its last known status: %+v", n2)
	}
}

// slowSource's peers never answer: Collect must still return in about
// MemberTimeout.
type slowSource struct{ *fakesource.Cluster }

func (s slowSource) MemberStatus(ctx context.Context, m ui.Member) (ui.NodeStatus, error) {
	<-ctx.Done()
	return ui.NodeStatus{}, ctx.Err()
}

func TestCollectBoundsUnresponsiveMembers(t *testing.T) {
	live := ui.Register(gin.New(), slowSource{fakesource.New(5, false)}, ui.Options{MemberTimeout: 50 * time.Millisecond})
	defer live.Close()
	start := time.Now()
	snap := live.Collect(context.Background())
	// The bound is only there to name a Collect that waits for a hung
	// member instead of its 50 ms timeout; far above a busy machine's delay.
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("Collect took %v with 4 hung members", d)
	}
	reachable := 0
	for _, m := range snap.Members {
		if m.Reachable {
			reachable++
		}
	}
	if reachable != 1 {
		t.Errorf("%d reachable members, want only the local one", reachable)
	}
}

func readMsg(t *testing.T, conn *websocket.Conn) ui.Message {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var m ui.Message
	if err := conn.ReadJSON(&m); err != nil {
		t.Fatalf("read ws: %v", err)
	}
	return m
}

func TestWebSocketSnapshotsAndEvents(t *testing.T) {
	srv := newServer(t, false, "")
	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+ui.WSPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	m := readMsg(t, conn)
	if m.Type != "snapshot" || len(m.Snapshot.Members) != 3 || m.Snapshot.Members[0].Status.Role != "leader" {
		t.Fatalf("first message = %+v", m)
	}
	if _, err := srv.Cluster.TransferLeadership("node1"); err != nil {
		t.Fatal(err)
	}
	sawEvent, sawLeader := false, false
	for deadline := time.Now().Add(10 * time.Second); !(sawEvent && sawLeader); {
		if time.Now().After(deadline) {
			t.Fatalf("no leader-changed event (%v) or snapshot with node1 leading (%v)", sawEvent, sawLeader)
		}
		m := readMsg(t, conn)
		switch m.Type {
		case "event":
			if m.Event.Type == ui.EventLeaderChanged && m.Event.Leader == "node1" && m.Event.Node == "node0" {
				sawEvent = true
			}
		case "snapshot":
			if m.Snapshot.Members[1].Status.Role == "leader" && m.Snapshot.Members[0].Status.Role == "follower" {
				sawLeader = true
				if !slices.ContainsFunc(m.Snapshot.Events, func(e ui.Event) bool { return e.Type == ui.EventLeaderChanged }) {
					t.Errorf("snapshot events miss the leader change: %+v", m.Snapshot.Events)
				}
			}
		}
	}
	// A cross-site page may not open the feed.
	h := http.Header{"Origin": {"http://evil.example"}}
	if c2, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+ui.WSPath, h); err == nil {
		c2.Close()
		t.Errorf("cross-origin websocket accepted")
	} else if resp != nil && resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin websocket: HTTP %d", resp.StatusCode)
	}
}

func do(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestFaultProxy(t *testing.T) {
	srv := newServer(t, true, "")
	code, body := do(t, http.MethodPut, srv.URL+"/ui/api/members/node1/fault/network", `{"rules":[{"peer":"node0","direction":"both","drop":true}]}`)
	if code != 200 {
		t.Fatalf("PUT network: %d %s", code, body)
	}
	snap := srv.Live.Collect(context.Background())
	if r := snap.Members[1].Status.Network; len(r) != 1 || r[0].Peer != "node0" || !r[0].Drop {
		t.Fatalf("node1 rules = %+v", r)
	}
	if code, body := do(t, http.MethodPut, srv.URL+"/ui/api/members/node2/fault/clock", `{"offset_ms":500,"rate":1.5}`); code != 200 {
		t.Fatalf("PUT clock: %d %s", code, body)
	}
	snap = srv.Live.Collect(context.Background())
	if ck := snap.Members[2].Status.Clock; ck == nil || ck.OffsetMS != 500 || ck.Rate != 1.5 {
		t.Fatalf("node2 clock = %+v", ck)
	}
	if code, _ := do(t, http.MethodDelete, srv.URL+"/ui/api/members/node1/fault/network", ""); code != 200 {
		t.Fatalf("DELETE network: %d", code)
	}
	if r := srv.Live.Collect(context.Background()).Members[1].Status.Network; len(r) != 0 {
		t.Errorf("rules after heal: %+v", r)
	}
	for _, p := range []string{"/ui/api/members/node9/fault/network", "/ui/api/members/node1/fault/failpoint"} {
		if code, _ := do(t, http.MethodPut, srv.URL+p, `{}`); code != 404 {
			t.Errorf("PUT %s: %d, want 404", p, code)
		}
	}
	if err := srv.Cluster.SetReachable("node2", false); err != nil {
		t.Fatal(err)
	}
	if code, _ := do(t, http.MethodDelete, srv.URL+"/ui/api/members/node2/fault/clock", ""); code != http.StatusBadGateway {
		t.Errorf("DELETE on an unreachable member: %d, want 502", code)
	}
}

func TestHTTPPeers(t *testing.T) {
	// A member without the UI: only the API's /status.
	plain := gin.New()
	plain.GET("/status", func(c *gin.Context) {
		c.JSON(200, gin.H{"id": "node1", "raft_id": 2, "role": "leader", "term": 4, "leader": "node1",
			"members": []gin.H{{"id": "node0", "raft_id": 1, "voter": true, "match": 17}}})
	})
	plain.PUT("/fault/network", func(c *gin.Context) {
		b, _ := io.ReadAll(c.Request.Body)
		c.Data(200, "application/json", b)
	})
	ps := httptest.NewServer(plain)
	defer ps.Close()
	// A member with the UI.
	withUI := gin.New()
	ui.Register(withUI, fakesource.New(3, true)).Close()
	us := httptest.NewServer(withUI)
	defer us.Close()

	var p ui.HTTPPeers
	ctx := context.Background()
	st, err := p.MemberStatus(ctx, ui.Member{ID: "node1", APIAddr: strings.TrimPrefix(ps.URL, "http://")})
	if err != nil || st.Role != "leader" || st.Term != 4 || len(st.Members) != 1 || st.Members[0].Match == nil || *st.Members[0].Match != 17 {
		t.Fatalf("fallback status = %+v, %v", st, err)
	}
	st, err = p.MemberStatus(ctx, ui.Member{ID: "node0", APIAddr: us.URL})
	if err != nil || st.ID != "node0" || st.Progress == nil || !st.FaultInjection {
		t.Fatalf("ui status = %+v, %v", st, err)
	}
	code, body, err := p.MemberRequest(ctx, ui.Member{ID: "node1", APIAddr: ps.URL}, http.MethodPut, "/fault/network", []byte(`{"rules":[]}`))
	if err != nil || code != 200 || string(body) != `{"rules":[]}` {
		t.Fatalf("MemberRequest = %d %s %v", code, body, err)
	}
	if _, err := p.MemberStatus(ctx, ui.Member{ID: "x"}); err == nil {
		t.Errorf("member without address: no error")
	}
	ps.Close()
	if _, err := p.MemberStatus(ctx, ui.Member{ID: "node1", APIAddr: ps.URL}); err == nil {
		t.Errorf("closed member: no error")
	}
}

func TestPageAndAssetsServed(t *testing.T) {
	srv := newServer(t, false, makeStore(t))
	for path, want := range map[string]string{
		"/":                      `id="cluster"`,
		"/ui/static/app.js":      "new WebSocket",
		"/ui/static/style.css":   ".ring-node",
		"/runs/":                 `id="runs"`,
		"/runs/run":              `id="jump"`,
		"/runs/static/run.js":    "jumpToFirstError",
		"/runs/static/common.js": "function api(",
	} {
		code, body := get(t, srv.URL+path)
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("GET %s = %d, missing %q", path, code, want)
		}
	}
	for _, path := range []string{"/ui/static/", "/ui/static/../ui.go", "/ui/static/nope.js"} {
		if code, _ := get(t, srv.URL+path); code == 200 {
			t.Errorf("GET %s = 200", path)
		}
	}
	code, body := get(t, srv.URL+ui.StatusPath)
	var st ui.NodeStatus
	if err := json.Unmarshal([]byte(body), &st); code != 200 || err != nil || st.ID != "node0" || st.Role != "leader" {
		t.Errorf("status: %d %v %s", code, err, body)
	}
}
