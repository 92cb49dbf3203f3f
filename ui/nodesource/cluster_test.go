package nodesource_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/raftkv/raftkv/kvservice"
	"github.com/raftkv/raftkv/ui"
	"github.com/raftkv/raftkv/ui/nodesource"
)

func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().String())
	}
	for _, l := range ls {
		l.Close()
	}
	return out
}

// poll waits for cond with a deadline.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestRealCluster runs three kvservice nodes in this process and checks
// what the UI of node0 sees through the adapter: one leader, every member
// reachable with agreeing terms; the fault routes of another member through
// the UI's proxy; and a stopped member shown unreachable.
// startCluster starts three kvservice nodes in this process, with fault
// injection on; they are closed when the test ends.
func startCluster(t *testing.T, tweaks ...func(*kvservice.Config)) []*kvservice.Server {
	t.Helper()
	addrs := freeAddrs(t, 3)
	var peers []kvservice.Peer
	for i, a := range addrs {
		peers = append(peers, kvservice.Peer{Name: fmt.Sprint("node", i), RaftAddr: a})
	}
	dir := t.TempDir()
	var srvs []*kvservice.Server
	t.Cleanup(func() {
		for _, s := range srvs {
			s.Close()
		}
	})
	for _, p := range peers {
		cfg := kvservice.Config{
			Name: p.Name, RaftAddr: p.RaftAddr, APIAddr: "127.0.0.1:0", Cluster: peers,
			DataDir: filepath.Join(dir, p.Name), ElectionTimeout: 500 * time.Millisecond,
			HeartbeatInterval: 50 * time.Millisecond, NoSync: true, EnableFaults: true,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		}
		for _, tweak := range tweaks {
			tweak(&cfg)
		}
		s, err := kvservice.Start(context.Background(), cfg)
		if err != nil {
			t.Fatalf("start %s: %v", p.Name, err)
		}
		srvs = append(srvs, s)
	}
	return srvs
}

func TestRealCluster(t *testing.T) {
	srvs := startCluster(t)
	s0 := srvs[0]
	src, err := nodesource.New(nodesource.Config{Status: s0.Status, Members: s0.Members, Faults: s0.Faults})
	if err != nil {
		t.Fatal(err)
	}
	eng := gin.New()
	live := ui.Register(eng, src, ui.Options{MemberTimeout: 500 * time.Millisecond})
	defer live.Close()

	var snap *ui.Snapshot
	poll(t, "one leader seen by every member", func() bool {
		snap = live.Collect(context.Background())
		leaders, reachable := 0, 0
		var leader string
		for _, m := range snap.Members {
			if !m.Reachable {
				continue
			}
			reachable++
			if m.Status.Role == "leader" {
				leaders++
				leader = m.ID
			}
		}
		if reachable != 3 || leaders != 1 {
			return false
		}
		for _, m := range snap.Members {
			if m.Status.Leader != leader || m.Status.Term != snap.Members[0].Status.Term {
				return false
			}
		}
		return true
	})
	// Every member reports its election timer (GET /status of real nodes).
	for _, m := range snap.Members {
		if to := m.Status.ElectionTimeoutMS; to < 500 || to >= 1000 && m.Status.Role != "leader" || m.Status.ElectionElapsedMS >= to {
			t.Errorf("%s (%s) timer %d/%dms", m.ID, m.Status.Role, m.Status.ElectionElapsedMS, to)
		}
	}
	if !snap.FaultInjection || snap.Self != "node0" {
		t.Errorf("snapshot: self %q faults %v", snap.Self, snap.FaultInjection)
	}

	// The fault proxy reaches node1's real fault API.
	ts := &http.Server{Handler: eng}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go ts.Serve(ln)
	defer ts.Close()
	req, _ := http.NewRequest(http.MethodPut, "http://"+ln.Addr().String()+"/ui/api/members/node1/fault/clock",
		strings.NewReader(`{"offset_ms":100,"rate":1}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("PUT clock on node1 through the UI: %d %s", resp.StatusCode, b)
	}
	if c := srvs[1].Faults().Clock; c == nil || c.OffsetMS != 100 {
		t.Fatalf("node1 clock fault = %+v", c)
	}

	// A stopped member is shown unreachable, with its last status.
	srvs[2].Close()
	poll(t, "node2 unreachable", func() bool {
		snap = live.Collect(context.Background())
		m := snap.Members[2]
		return m.ID == "node2" && !m.Reachable && m.Status != nil && m.Error != ""
	})
}
