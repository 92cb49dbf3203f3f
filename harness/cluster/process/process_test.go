package process

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/raftkv/raftkv/harness/cluster"
	"github.com/raftkv/raftkv/harness/nodeapi"
	"github.com/raftkv/raftkv/harness/target"
)

// moduleRoot is the repository root, three levels above this package.
func moduleRoot(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

func waitFor(t *testing.T, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestProcessBackendLifecycle starts three real raftkv processes and drives
// every backend operation: kill/restart, pause/resume, a crash failpoint
// (the supervisor restarts the node), and remove/wipe/join.
func TestProcessBackendLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs raftkv")
	}
	dir, bin := buildRaftkv(t)
	ctx := context.Background()
	c := startReady(t, ctx, dir, bin, nil)
	put := func(node, key, val string) error {
		_, err := c.Client(node).Do(ctx, nodeapi.Command{Operation: "set", Key: key, Value: &val})
		return err
	}
	waitFor(t, "a first write", time.Minute, func() bool { return put("node0", "a", "1") == nil })

	// Kill and restart keep the data.
	if err := c.Kill(ctx, "node1"); err != nil || c.State("node1") != cluster.Down {
		t.Fatalf("kill: %v, state %s", err, c.State("node1"))
	}
	if err := c.Client("node1").Healthy(ctx); err == nil || !nodeapi.IsDefinite(err) {
		t.Fatalf("killed node answered or indeterminately failed: %v", err)
	}
	if err := c.Restart(ctx, "node1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "node1 to serve the old write", time.Minute, func() bool {
		res, err := c.Client("node1").Do(ctx, nodeapi.Command{Operation: "get", Key: "a"})
		return err == nil && res.Value != nil && *res.Value == "1"
	})

	// Pause makes the node unresponsive; resume brings it back.
	if err := c.Pause(ctx, "node2"); err != nil || c.State("node2") != cluster.Paused {
		t.Fatalf("pause: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err := c.Client("node2").Healthy(short)
	cancel()
	if err == nil {
		t.Fatal("paused node answered")
	}
	if err := c.Resume(ctx, "node2"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "node2 after resume", time.Minute, func() bool { return c.Client("node2").Healthy(ctx) == nil })

	// A crash failpoint exits the process; the supervisor restarts it.
	leader := cluster.Leader(ctx, c)
	if leader == "" {
		t.Fatal("no leader")
	}
	if err := c.Client(leader).ArmFailpoint(ctx, "crash-after-persist", 0); err != nil {
		t.Fatal(err)
	}
	_ = put(leader, "b", "2") // the leader dies on this write's path
	p := c.(*Cluster)
	waitFor(t, "the supervisor to restart "+leader, 20*time.Second, func() bool {
		return p.Restarts(leader) >= 1 && c.Client(leader).Healthy(ctx) == nil
	})

	// Remove, wipe and join back.
	victim := "node2"
	if leader == victim {
		victim = "node1"
	}
	waitFor(t, "removal of "+victim, 15*time.Second, func() bool {
		for _, n := range c.Nodes() {
			if n != victim && c.Client(n).RemoveMember(ctx, victim) == nil {
				return true
			}
		}
		return false
	})
	if err := c.Kill(ctx, victim); err != nil {
		t.Fatal(err)
	}
	if err := c.Wipe(ctx, victim); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", victim)); !os.IsNotExist(err) {
		t.Fatalf("data dir survived wipe: %v", err)
	}
	via := "node0"
	if victim == via {
		via = "node1"
	}
	if err := c.Join(ctx, victim, via); err != nil {
		t.Fatal(err)
	}
	waitFor(t, victim+" to rejoin and catch up", 30*time.Second, func() bool {
		res, err := c.Client(victim).Do(ctx, nodeapi.Command{Operation: "get", Key: "a", ReadMode: "stale"})
		return err == nil && res.Value != nil && *res.Value == "1"
	})
	if logs := c.Logs(victim); logs == "" {
		t.Error("no log path")
	} else if b, err := os.ReadFile(logs); err != nil || len(b) == 0 {
		t.Errorf("log %s: %v", logs, err)
	}
}

// TestFreePortsBelowTheEphemeralRange: the ports are distinct, free, and
// outside the range the kernel takes outgoing connections' local ports from.
func TestFreePortsBelowTheEphemeralRange(t *testing.T) {
	ports, err := freePorts(12)
	if err != nil {
		t.Fatal(err)
	}
	low := ephemeralLow()
	seen := map[int]bool{}
	for _, p := range ports {
		if seen[p] {
			t.Fatalf("port %d twice in %v", p, ports)
		}
		seen[p] = true
		if p >= low || p < 20000 {
			t.Fatalf("port %d is outside [20000, %d)", p, low)
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Fatalf("port %d was handed out but is not free: %v", p, err)
		}
		l.Close()
	}
}

// buildRaftkv builds raftkv into a new temporary directory, which it
// returns with the binary's path.
func buildRaftkv(t *testing.T) (dir, bin string) {
	t.Helper()
	dir = t.TempDir()
	bin = filepath.Join(dir, "raftkv")
	if err := Build(context.Background(), moduleRoot(t), bin); err != nil {
		t.Fatal(err)
	}
	return dir, bin
}

// startReady starts a 3-node cluster of bin in dir (secured with sec when
// it is not nil), stopped when the test ends, and waits until it is ready.
func startReady(t *testing.T, ctx context.Context, dir, bin string, sec *target.Security) cluster.Cluster {
	t.Helper()
	c, err := cluster.New(Name, cluster.Options{Nodes: 3, Dir: dir, Binary: bin,
		Node: cluster.NodeConfig{ElectionTimeout: 300 * time.Millisecond, HeartbeatInterval: 50 * time.Millisecond, Security: sec}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop(ctx) })
	if err := cluster.WaitReady(ctx, c, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	return c
}
