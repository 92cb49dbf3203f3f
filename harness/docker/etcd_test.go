package docker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/checker"
	"github.com/raftkv/raftkv/harness/cluster"
	"github.com/raftkv/raftkv/harness/nodeapi"
	"github.com/raftkv/raftkv/harness/target"
	"github.com/raftkv/raftkv/harness/target/etcd"
)

// etcdDo sends one command to node through its target's client.
func etcdDo(c *Cluster, node string, cmd nodeapi.Command) target.Answer {
	tn, err := c.TargetNode(node)
	if err != nil {
		return target.Answer{Err: err}
	}
	cl, err := c.opts.Target.Dial(tn, 2*time.Second)
	if err != nil {
		return target.Answer{Err: err}
	}
	defer cl.Close()
	return cl.Do(context.Background(), cmd)
}

func etcdGet(c *Cluster, node, key string) (string, error) {
	a := etcdDo(c, node, nodeapi.Command{Operation: "get", Key: key})
	if a.Err != nil {
		return "", a.Err
	}
	if a.Result.Value == nil {
		return "", errors.New("not found")
	}
	return *a.Result.Value, nil
}

// TestEtcdContainers runs etcd (make etcd's binary; skipped without it)
// in containers from an image built FROM scratch out of that binary: the
// target's flags, probes and client work at the containers' addresses;
// the leader cut off by the OS (through the fault proxy, as the nemesis
// does it) cannot take a write while the others elect and serve one; a
// killed node comes back with its data, a paused one resumes; Stop leaves
// no container or network, and the test removes the image if it built it.
func TestEtcdContainers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Docker containers")
	}
	root, err := moduleRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	bin, hint := etcd.Target{}.Binary(root)
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("no etcd binary at %s (%s)", bin, hint)
	}
	requireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	images := func() []string {
		out, _ := docker(ctx, nil, "image", "ls", "--format", "{{.Repository}}:{{.Tag}}", targetImageRepo(etcd.Name))
		return strings.Fields(out)
	}
	before := images()
	c, err := New(cluster.Options{Nodes: 3, Dir: t.TempDir(), Target: etcd.Target{}, Binary: bin, RequestTimeout: 2 * time.Second,
		Node: cluster.NodeConfig{ElectionTimeout: 500 * time.Millisecond, HeartbeatInterval: 50 * time.Millisecond, Extra: []string{"--log-level", "warn"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), time.Minute)
		defer scancel()
		_ = c.Stop(sctx)
		if !slices.Contains(before, c.image) {
			_, _ = docker(sctx, nil, "image", "rm", c.image)
		}
	})
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cluster.WaitReady(ctx, c, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.image, targetImageRepo(etcd.Name)+":") {
		t.Errorf("image %q", c.image)
	}
	eventually(t, 30*time.Second, "a first write", func() error {
		return etcdDo(c, "node0", nodeapi.Command{Operation: "set", Key: "k", Value: set("before")}).Err
	})

	var iso string
	eventually(t, 20*time.Second, "a leader", func() error {
		if iso = cluster.Leader(ctx, c); iso == "" {
			return errors.New("no leader")
		}
		return nil
	})
	var others []string
	for _, n := range c.Nodes() {
		if n != iso {
			others = append(others, n)
		}
	}
	t.Logf("isolating the leader %s from %v", iso, others)
	var isoRules []nodeapi.NetRule
	for _, o := range others {
		isoRules = append(isoRules, nodeapi.NetRule{Peer: o, Direction: "both", Drop: true})
		if err := c.Client(o).SetNetwork(ctx, []nodeapi.NetRule{{Peer: iso, Direction: "both", Drop: true}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Client(iso).SetNetwork(ctx, isoRules); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "a write through the majority", func() error {
		return etcdDo(c, others[0], nodeapi.Command{Operation: "set", Key: "k", Value: set("during")}).Err
	})
	eventually(t, 30*time.Second, "a new leader among the others", func() error {
		if l := cluster.Leader(ctx, c); !slices.Contains(others, l) {
			return fmt.Errorf("leader %q", l)
		}
		return nil
	})
	for i := range 2 {
		if a := etcdDo(c, iso, nodeapi.Command{Operation: "set", Key: "k", Value: set(fmt.Sprint("cut-off-", i))}); a.Err == nil {
			t.Fatalf("a write through the cut-off %s succeeded", iso)
		}
	}
	// The final heal clears every kind of fault through the proxy.
	for _, n := range c.Nodes() {
		cl := c.Client(n)
		if err := errors.Join(cl.ClearNetwork(ctx), cl.ClearClock(ctx), cl.DisarmFailpoint(ctx)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 30*time.Second, "the healed node reads the majority's value", func() error {
		v, err := etcdGet(c, iso, "k")
		if err == nil && v != "during" {
			err = fmt.Errorf("read %q", v)
		}
		return err
	})

	victim := others[0]
	if err := c.Kill(ctx, victim); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "a write with one node down", func() error {
		return etcdDo(c, iso, nodeapi.Command{Operation: "set", Key: "k2", Value: set("while-down")}).Err
	})
	if err := c.Restart(ctx, victim); err != nil {
		t.Fatal(err)
	}
	if err := c.Pause(ctx, others[1]); err != nil {
		t.Fatal(err)
	}
	if err := c.Resume(ctx, others[1]); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{victim, others[1]} {
		eventually(t, 30*time.Second, "reads through "+n, func() error {
			v, err := etcdGet(c, n, "k2")
			if err == nil && v != "while-down" {
				err = fmt.Errorf("read %q", v)
			}
			return err
		})
	}

	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	for _, what := range []string{"ps", "network"} {
		args := []string{"ps", "-a", "-q", "--filter", "label=" + labelRun + "=" + c.run}
		if what == "network" {
			args = []string{"network", "ls", "-q", "--filter", "label=" + labelRun + "=" + c.run}
		}
		if out, err := docker(ctx, nil, args...); err != nil || out != "" {
			t.Fatalf("%s left after Stop: %q %v", what, out, err)
		}
	}
	// Every stop was the harness's: the kill, and the three at Stop.
	events := c.NodeEvents(time.Now())
	if len(events) < 4 || slices.ContainsFunc(events, func(e checker.NodeEvent) bool { return e.Cause != checker.CauseHarness }) {
		t.Errorf("node events %+v", events)
	}
}
