package process

import (
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/raftkv/raftkv/checker"
	"github.com/raftkv/raftkv/harness/cluster"
	"github.com/raftkv/raftkv/harness/nodeapi"
	"github.com/raftkv/raftkv/histories"
)

// TestProcessBackendReportsUnplannedExits: a node killed by someone other
// than the harness is an unplanned exit, one that crashes with a Go runtime
// dump (status 2) a crash; the harness's own kill, a crash
// failpoint the nemesis armed and the final stop are planned. After Stop
// the nodes' committed logs are read from their data, agree, and the data
// is left as it was.
func TestProcessBackendReportsUnplannedExits(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs raftkv")
	}
	dir, bin := buildRaftkv(t)
	cl, err := cluster.New(Name, cluster.Options{Nodes: 3, Dir: dir, Binary: bin,
		Node: cluster.NodeConfig{ElectionTimeout: 300 * time.Millisecond, HeartbeatInterval: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	c := cl.(*Cluster)
	ctx := context.Background()
	origin := time.Now()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer c.Stop(ctx)
	if err := cluster.WaitReady(ctx, c, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	put := func(node, key, val string) error {
		_, err := c.Client(node).Do(ctx, nodeapi.Command{Operation: "set", Key: key, Value: &val})
		return err
	}
	waitFor(t, "a first write", time.Minute, func() bool { return put("node0", "a", "1") == nil })

	// The harness kills node1 and restarts it: planned.
	if err := c.Kill(ctx, "node1"); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(ctx, "node1"); err != nil {
		t.Fatal(err)
	}

	// Someone else kills node2: unplanned. node0 dies of a Go runtime
	// crash dump by itself (SIGQUIT: exit status 2): unplanned, and a
	// crash. The supervisor brings both back.
	signal := func(node string, sig syscall.Signal) {
		c.mu.Lock()
		pid := c.byID[node].cmd.Process.Pid
		c.mu.Unlock()
		if err := syscall.Kill(pid, sig); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the supervisor to restart "+node, 20*time.Second, func() bool {
			return c.Restarts(node) >= 1 && c.Client(node).Healthy(ctx) == nil
		})
	}
	signal("node2", syscall.SIGKILL)
	signal("node0", syscall.SIGQUIT)

	// A crash failpoint on the leader: planned when the nemesis armed it.
	var leader string
	waitFor(t, "a leader", 20*time.Second, func() bool { leader = cluster.Leader(ctx, c); return leader != "" })
	if err := c.Client(leader).ArmFailpoint(ctx, "crash-after-persist", 0); err != nil {
		t.Fatal(err)
	}
	restarts := c.Restarts(leader)
	waitFor(t, "the failpoint crash of "+leader, 20*time.Second, func() bool {
		_ = put(leader, "b", "2")
		return c.Restarts(leader) > restarts
	})
	waitFor(t, leader+" back", 30*time.Second, func() bool { return c.Client(leader).Healthy(ctx) == nil })
	waitFor(t, "a write after the crash", 20*time.Second, func() bool {
		for _, n := range c.Nodes() {
			if put(n, "c", "3") == nil {
				return true
			}
		}
		return false
	})

	if _, err := c.CommittedLog(ctx, "node0"); !errors.Is(err, cluster.ErrRunning) {
		t.Errorf("log of a running node: %v", err)
	}
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	// Node health: node2's and node0's exits are unplanned, everything
	// else is planned.
	events := c.NodeEvents(origin)
	history := []histories.Event{{Kind: histories.KindNemesis, Type: histories.Start, F: "failpoint", Nodes: []string{leader}}}
	h := checker.CheckNodeHealth(events, history)
	if h.Verdict != checker.Invalid || len(h.Events) != 2 {
		t.Fatalf("health: %+v\nall events: %+v", h, events)
	}
	if e := h.Events[0]; e.Node != "node2" || e.Kind != checker.NodeExit || e.Status != "signal: killed" || e.Cause != "" ||
		e.Log != filepath.Join("logs", "node2.log") || e.Time <= 0 {
		t.Errorf("node2's exit: %+v", e)
	}
	if e := h.Events[1]; e.Node != "node0" || e.Kind != checker.NodePanic || e.Status != "exit status 2" ||
		e.Message != "SIGQUIT: quit" || len(e.Detail) < 3 || !strings.HasPrefix(h.Message, "node2 exited unexpectedly at ") {
		t.Errorf("node0's crash: %+v (message %q)", e, h.Message)
	}
	// node1's kill, the failpoint crash, and the three stops.
	if h.Planned != 5 {
		t.Errorf("%d planned exits, want 5: %+v", h.Planned, events)
	}
	// Without the nemesis's failpoint fault in the history, the failpoint
	// crash is unplanned too.
	if h := checker.CheckNodeHealth(events, nil); len(h.Events) != 3 {
		t.Errorf("without the failpoint fault: %+v", h)
	}

	// The committed logs agree, and reading them changed nothing.
	sum := func() [32]byte {
		b, err := os.ReadFile(filepath.Join(dir, "data", "node0", cluster.DBFile))
		if err != nil {
			t.Fatal(err)
		}
		return sha256.Sum256(b)
	}
	before := sum()
	var logs []checker.NodeLog
	for _, n := range c.Nodes() {
		l, err := c.CommittedLog(ctx, n)
		if err != nil {
			t.Fatalf("log of %s: %v", n, err)
		}
		if l.Commit < 3 || len(l.Entries) == 0 || l.Entries[len(l.Entries)-1].Index != l.Commit {
			t.Errorf("log of %s: commit %d, %d entries", n, l.Commit, len(l.Entries))
		}
		logs = append(logs, l)
	}
	if r := checker.CheckLogAgreement(logs); r.Verdict != checker.Valid || r.Compared == 0 {
		t.Errorf("log agreement: %+v", r)
	}
	if sum() != before {
		t.Error("reading the committed log changed node0's raft.db")
	}
}
