package docker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/raftkv/raftkv/checker"
	"github.com/raftkv/raftkv/harness/cluster"
)

// TestNodeEventsAndCommittedLogs: a container killed by someone other than
// the harness (docker kill from outside) is an unplanned exit, one whose
// node dies of a Go runtime crash dump (SIGQUIT: exit code 2) a crash; the
// harness's own kill and the final stop are planned. After Stop the
// committed logs are read from the bind-mounted data and agree.
func TestNodeEventsAndCommittedLogs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Docker containers")
	}
	requireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	origin := time.Now()
	c := startCluster(t, ctx, cluster.NodeConfig{ElectionTimeout: 300 * time.Millisecond, HeartbeatInterval: 50 * time.Millisecond})
	eventually(t, 30*time.Second, "first write", func() error { return write(c.Client("node0"), "k", "v", 3*time.Second) })

	if err := c.Kill(ctx, "node1"); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(ctx, "node1"); err != nil {
		t.Fatal(err)
	}
	outside := func(node, signal string) {
		if _, err := docker(ctx, nil, "kill", "--signal", signal, c.Container(node)); err != nil {
			t.Fatal(err)
		}
		eventually(t, 60*time.Second, "the supervisor to restart "+node, func() error {
			if c.Restarts(node) < 1 {
				return errors.New("not restarted yet")
			}
			hctx, hcancel := context.WithTimeout(ctx, time.Second)
			defer hcancel()
			return c.Client(node).Healthy(hctx)
		})
	}
	outside("node2", "KILL")
	outside("node0", "QUIT")
	eventually(t, 30*time.Second, "a write after the crashes", func() error { return write(c.Client("node1"), "k", "w", 3*time.Second) })

	if _, err := c.CommittedLog(ctx, "node1"); !errors.Is(err, cluster.ErrRunning) {
		t.Errorf("log of a running node: %v", err)
	}
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	events := c.NodeEvents(origin)
	h := checker.CheckNodeHealth(events, nil)
	if h.Verdict != checker.Invalid || len(h.Events) != 2 || h.Planned != 4 {
		t.Fatalf("health: %+v\nall events: %+v", h, events)
	}
	if e := h.Events[0]; e.Node != "node2" || e.Kind != checker.NodeExit || e.Status != "exit code 137" || e.Log != "logs/node2.log" {
		t.Errorf("node2's exit: %+v", e)
	}
	if e := h.Events[1]; e.Node != "node0" || e.Kind != checker.NodePanic || e.Status != "exit code 2" || e.Message != "SIGQUIT: quit" {
		t.Errorf("node0's crash: %+v", e)
	}

	var logs []checker.NodeLog
	for _, n := range c.Nodes() {
		l, err := c.CommittedLog(ctx, n)
		if err != nil {
			t.Fatalf("log of %s: %v", n, err)
		}
		logs = append(logs, l)
	}
	if r := checker.CheckLogAgreement(logs); r.Verdict != checker.Valid || r.Compared == 0 {
		t.Errorf("log agreement: %+v", r)
	}
}
