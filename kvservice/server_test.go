package kvservice

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftkv/raftkv/kvservice/api"
	"github.com/raftkv/raftkv/kvservice/client"
)

func TestParseCluster(t *testing.T) {
	ps, err := ParseCluster("localhost:7000, localhost:7001,localhost:7002")
	if err != nil || len(ps) != 3 || ps[1] != (Peer{"node1", "localhost:7001"}) {
		t.Fatalf("plain list: %+v %v", ps, err)
	}
	ps, err = ParseCluster("a=h:1,b=h:2")
	if err != nil || ps[0] != (Peer{"a", "h:1"}) || ps[1] != (Peer{"b", "h:2"}) {
		t.Fatalf("named list: %+v %v", ps, err)
	}
	for _, bad := range []string{"a=h:1,a=h:2", "nocolon", "=h:1"} {
		if _, err := ParseCluster(bad); !errors.Is(err, ErrBadConfig) {
			t.Fatalf("%q: %v", bad, err)
		}
	}
}

func TestIDs(t *testing.T) {
	if RaftID("node0") != RaftID("node0") || RaftID("node0") == RaftID("node1") {
		t.Fatal("RaftID is not a stable injective-looking map")
	}
	for i := range 1000 {
		id := RaftID(fmt.Sprint("node", i))
		if id == 0 || id >= 1<<53 {
			t.Fatalf("RaftID(node%d) = %d", i, id)
		}
	}
	a := ClusterID([]Peer{{"node0", "h:1"}, {"node1", "h:2"}})
	b := ClusterID([]Peer{{"node1", "h:2"}, {"node0", "h:1"}})
	c := ClusterID([]Peer{{"node0", "h:1"}, {"node1", "h:3"}})
	if a != b || a == c {
		t.Fatalf("cluster ids: %x %x %x", a, b, c)
	}
}

func freeAddrs(t *testing.T, n int) []string {
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

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testPeers names n members node0..node<n-1> on free raft addresses.
func testPeers(t *testing.T, n int) []Peer {
	var peers []Peer
	for i, a := range freeAddrs(t, n) {
		peers = append(peers, Peer{fmt.Sprint("node", i), a})
	}
	return peers
}

func testConfig(name, raftAddr, dir string, peers []Peer) Config {
	return Config{Name: name, RaftAddr: raftAddr, APIAddr: "127.0.0.1:0", Cluster: peers, DataDir: dir,
		ElectionTimeout: 500 * time.Millisecond, HeartbeatInterval: 50 * time.Millisecond, NoSync: true, Logger: quiet()}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestInProcessCluster runs three servers in this process (so the race
// detector sees the server code): replication, forwarding, the fault API
// and a failpoint.
func TestInProcessCluster(t *testing.T) {
	addrs := freeAddrs(t, 3)
	var peers []Peer
	for i, a := range addrs {
		peers = append(peers, Peer{fmt.Sprint("node", i), a})
	}
	dir := t.TempDir()
	var exitCode atomic.Int32
	var srvs []*Server
	for i, p := range peers {
		cfg := testConfig(p.Name, p.RaftAddr, filepath.Join(dir, p.Name), peers)
		cfg.EnableFaults = true
		cfg.Exit = func(code int) { exitCode.Store(int32(code)) }
		s, err := Start(context.Background(), cfg)
		if err != nil {
			t.Fatalf("start node%d: %v", i, err)
		}
		srvs = append(srvs, s)
	}
	defer func() {
		for _, s := range srvs {
			s.Close()
		}
	}()
	waitFor(t, "all ready", func() bool {
		for _, s := range srvs {
			if ok, _ := s.Ready(); !ok {
				return false
			}
		}
		return true
	})
	ctx := context.Background()
	for i, s := range srvs {
		cl, _ := client.New([]string{s.APIAddr()}, 5*time.Second)
		if _, err := cl.Put(ctx, fmt.Sprint("k", i), "v"); err != nil {
			t.Fatalf("put through node%d: %v", i, err)
		}
	}
	waitFor(t, "replicas converge", func() bool {
		a, b, c := srvs[0].Status(), srvs[1].Status(), srvs[2].Status()
		return a.Keys == 3 && a.StateHash == b.StateHash && b.StateHash == c.StateHash && a.Applied == b.Applied && b.Applied == c.Applied
	})

	// On a node not started in lease mode a lease request is served as
	// linearizable, and the answer says so.
	cl0, _ := client.New([]string{srvs[1].APIAddr()}, 5*time.Second)
	if r, err := cl0.Get(ctx, "k0", api.ReadLease); err != nil || r.ReadMode != "linearizable" || *r.Value != "v" {
		t.Fatalf("lease request on a linearizable node: %+v %v", r, err)
	}

	// Fault API: names map to peers; unknown names are refused.
	f := srvs[0]
	if err := f.SetNetworkFaults([]api.NetworkRule{{Peer: "node1", Direction: "out", Drop: true}}); err != nil {
		t.Fatal(err)
	}
	if fs := f.Faults(); len(fs.Network) != 1 || fs.Network[0].Peer != "node1" || fs.Network[0].Direction != "out" {
		t.Fatalf("faults: %+v", fs)
	}
	if err := f.SetNetworkFaults([]api.NetworkRule{{Peer: "nobody"}}); err == nil {
		t.Fatal("unknown peer accepted")
	}
	f.ClearNetworkFaults()
	if err := f.SetClock(api.ClockFault{OffsetMS: 10, Rate: 1.01}); err != nil {
		t.Fatal(err)
	}
	if fs := f.Faults(); fs.Clock == nil || fs.Clock.OffsetMS != 10 {
		t.Fatalf("clock: %+v", fs.Clock)
	}
	f.ClearClock()
	if fs := f.Faults(); fs.Clock != nil {
		t.Fatalf("clock after clear: %+v", fs.Clock)
	}

	// A failpoint on every node: the next write's apply hits it.
	if err := f.ArmFailpoint(api.Failpoint{Name: "crash-nowhere"}); err == nil {
		t.Fatal("unknown failpoint accepted")
	}
	for _, s := range srvs {
		if err := s.ArmFailpoint(api.Failpoint{Name: "crash-after-apply", After: 0}); err != nil {
			t.Fatal(err)
		}
	}
	cl, _ := client.New([]string{srvs[2].APIAddr()}, 5*time.Second)
	if _, err := cl.Put(ctx, "boom", "v"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "failpoint exit", func() bool { return exitCode.Load() == FailpointExitCode })
}

func TestRefusals(t *testing.T) {
	addr := freeAddrs(t, 1)[0]
	dir := t.TempDir()
	peers := []Peer{{"node0", addr}}
	s, err := Start(context.Background(), testConfig("node0", addr, dir, peers))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "leader", func() bool { ok, _ := s.Ready(); return ok })
	s.Close()

	if _, err := Start(context.Background(), testConfig("node0", addr, dir, []Peer{{"node0", addr}, {"node1", "127.0.0.1:1"}})); !errors.Is(err, ErrWrongCluster) {
		t.Fatalf("another cluster: %v", err)
	}
	if _, err := Start(context.Background(), testConfig("node1", addr, dir, []Peer{{"node1", addr}})); !errors.Is(err, ErrWrongCluster) {
		t.Fatalf("another node: %v", err)
	}
	// A log cut in half.
	db := filepath.Join(dir, "raft.db")
	b, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(db, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(context.Background(), testConfig("node0", addr, dir, peers)); !errors.Is(err, ErrCorruptData) {
		t.Fatalf("corrupt log: %v", err)
	}
	// A log without an identity file.
	if err := os.Remove(filepath.Join(dir, identityFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(context.Background(), testConfig("node0", addr, dir, peers)); !errors.Is(err, ErrCorruptData) {
		t.Fatalf("log without identity: %v", err)
	}
	// A bad identity file.
	dir2 := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir2, identityFile), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(context.Background(), testConfig("node0", addr, dir2, peers)); !errors.Is(err, ErrCorruptData) {
		t.Fatalf("bad identity: %v", err)
	}
}

// TestLeaseReadMode: a node started with read mode lease serves every
// non-stale read by lease and says so; stale stays stale.
func TestLeaseReadMode(t *testing.T) {
	addr := freeAddrs(t, 1)[0]
	cfg := testConfig("node0", addr, t.TempDir(), []Peer{{"node0", addr}})
	cfg.ReadMode = api.ReadLease
	s, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	waitFor(t, "leader", func() bool { ok, _ := s.Ready(); return ok })
	cl, _ := client.New([]string{s.APIAddr()}, 5*time.Second)
	ctx := context.Background()
	if _, err := cl.Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	for req, want := range map[api.ReadMode]string{"": "lease", api.ReadLinearizable: "lease", api.ReadLease: "lease", api.ReadStale: "stale"} {
		r, err := cl.Get(ctx, "k", req)
		if err != nil || r.ReadMode != want || *r.Value != "v" {
			t.Fatalf("read mode %q: %+v %v", req, r, err)
		}
	}
	if st := s.Status(); st.ReadMode != "lease" || st.Role != "leader" {
		t.Fatalf("status: %+v", st)
	}
}
