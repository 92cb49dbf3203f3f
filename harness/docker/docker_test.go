package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/harness/cluster"
	"github.com/raftkv/raftkv/harness/nodeapi"
)

// curlFrom asks to's /healthz from inside from's network namespace.
func curlFrom(c *Cluster, from, to string) error {
	c.mu.Lock()
	pid := c.byID[from].pid
	c.mu.Unlock()
	m, _ := c.Member(to)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return nsExec(ctx, pid, "", "curl", "-sf", "--max-time", "1", "http://"+m.APIAddr+"/healthz")
}

// requireDocker skips the test without a Docker engine, or fails it when
// CI=true (CI must not pass by skipping the docker tests).
func requireDocker(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := Probe(ctx); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but the docker backend cannot run here: %v", err)
		}
		t.Skipf("docker backend unavailable (set CI=true to fail instead): %v", err)
	}
}

func set(v string) *string { return &v }

// write sets key=val through one node, bounded by d.
func write(c *nodeapi.Client, key, val string, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	_, err := c.Do(ctx, nodeapi.Command{Operation: "set", Key: key, Value: set(val)})
	return err
}

func read(c *nodeapi.Client, key string, d time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	r, err := c.Do(ctx, nodeapi.Command{Operation: "get", Key: key})
	if err != nil {
		return "", err
	}
	if r.Value == nil {
		return "", errors.New("not found")
	}
	return *r.Value, nil
}

// eventually polls f until it returns nil or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestPartitionKillAndCleanup runs a real 3-node cluster in containers:
// it writes, isolates the leader with iptables (through the fault API
// proxy, as the nemesis does), shows that writes through the isolated node
// fail while the majority elects a leader and serves writes, heals, kills
// and restarts a node (its data survives), and checks that Stop leaves no
// container or network behind.
func TestPartitionKillAndCleanup(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Docker containers")
	}
	requireDocker(t)
	begin := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	root, err := moduleRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(cluster.Options{Nodes: 3, Dir: t.TempDir(), SourceDir: root, RequestTimeout: 2 * time.Second,
		Node: cluster.NodeConfig{ElectionTimeout: 300 * time.Millisecond, HeartbeatInterval: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			sctx, scancel := context.WithTimeout(context.Background(), time.Minute)
			defer scancel()
			_ = c.Stop(sctx)
		}
	})
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cluster.WaitReady(ctx, c, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("cluster ready after %v", time.Since(begin).Round(time.Millisecond))
	direct := map[string]*nodeapi.Client{}
	for i, n := range c.Nodes() {
		direct[n] = nodeapi.New(c.Endpoints()[i], 3*time.Second)
	}
	eventually(t, 30*time.Second, "first write", func() error { return write(direct["node0"], "k", "before", 3*time.Second) })

	var iso string
	eventually(t, time.Minute, "a leader", func() error {
		if iso = cluster.Leader(ctx, c); iso == "" {
			return errors.New("no leader")
		}
		return nil
	})
	var majority []string
	for _, n := range c.Nodes() {
		if n != iso {
			majority = append(majority, n)
		}
	}
	t.Logf("isolating the leader %s from %v", iso, majority)
	// Exactly what the nemesis sends for partition-isolate-leader.
	var isoRules []nodeapi.NetRule
	for _, m := range majority {
		isoRules = append(isoRules, nodeapi.NetRule{Peer: m, Direction: "both", Drop: true})
		if err := c.Client(m).SetNetwork(ctx, []nodeapi.NetRule{{Peer: iso, Direction: "both", Drop: true}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Client(iso).SetNetwork(ctx, isoRules); err != nil {
		t.Fatal(err)
	}
	// The rules are the OS's, not the node's transport filter.
	raw, err := direct[iso].Faults(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), `"drop":true`) {
		t.Fatalf("the node's own fault filter was used: %s", raw)
	}
	raw, err = c.Client(iso).Faults(ctx)
	if err != nil || !strings.Contains(string(raw), "iptables") {
		t.Fatalf("GET /fault through the proxy should describe the OS rules: %s %v", raw, err)
	}

	// The majority elects a new leader and serves writes.
	eventually(t, 20*time.Second, "a write through the majority", func() error {
		return write(direct[majority[0]], "k", "during", 2*time.Second)
	})
	got, err := read(direct[majority[1]], "k", 3*time.Second)
	if err != nil || got != "during" {
		t.Fatalf("majority read: %q %v", got, err)
	}
	// Writes through the isolated node fail (definitely or not), every time.
	for i := range 3 {
		err := write(direct[iso], "k", fmt.Sprintf("minority-%d", i), 2*time.Second)
		if err == nil {
			t.Fatalf("a write through the isolated %s succeeded", iso)
		}
		t.Logf("write through isolated %s failed as it must: %v (definite=%v)", iso, err, nodeapi.IsDefinite(err))
	}

	// Heal: the isolated node catches up and serves the majority's value.
	for _, n := range c.Nodes() {
		if err := c.Client(n).ClearNetwork(ctx); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 30*time.Second, "a read through the healed node", func() error {
		v, err := read(direct[iso], "k", 2*time.Second)
		if err == nil && v != "during" {
			return fmt.Errorf("read %q, want %q", v, "during")
		}
		return err
	})

	// A one-way cut, written as the nemesis writes partition-one-way: the
	// connections iso opens to majority[0] die, those majority[0] opens
	// to iso live. Checked from inside the namespaces with the host's curl.
	if _, err := exec.LookPath("curl"); err == nil {
		a, b := iso, majority[0]
		if err := c.Client(a).SetNetwork(ctx, []nodeapi.NetRule{{Peer: b, Direction: "out", Drop: true}}); err != nil {
			t.Fatal(err)
		}
		if err := c.Client(b).SetNetwork(ctx, []nodeapi.NetRule{{Peer: a, Direction: "in", Drop: true}}); err != nil {
			t.Fatal(err)
		}
		if err := curlFrom(c, a, b); err == nil {
			t.Fatalf("%s reached %s's API through a one-way cut %s -/-> %s", a, b, a, b)
		}
		if err := curlFrom(c, b, a); err != nil {
			t.Fatalf("%s cannot reach %s, but only %s -> %s is cut: %v", b, a, a, b, err)
		}
		if err := curlFrom(c, majority[1], b); err != nil {
			t.Fatalf("%s is not part of the cut: %v", majority[1], err)
		}
		for _, n := range []string{a, b} {
			if err := c.Client(n).ClearNetwork(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if err := curlFrom(c, a, b); err != nil {
			t.Fatalf("after heal %s cannot reach %s: %v", a, b, err)
		}
	}

	t.Logf("partition phase done after %v", time.Since(begin).Round(time.Millisecond))

	// Kill and restart a node: its data survives.
	victim := majority[0]
	if err := c.Kill(ctx, victim); err != nil {
		t.Fatal(err)
	}
	if s := c.State(victim); s != cluster.Down {
		t.Fatalf("%s is %s after Kill", victim, s)
	}
	eventually(t, 20*time.Second, "a write with one node down", func() error {
		return write(direct[iso], "k2", "while-down", 2*time.Second)
	})
	if err := c.Restart(ctx, victim); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "reads through the restarted node", func() error {
		for key, want := range map[string]string{"k": "during", "k2": "while-down"} {
			v, err := read(direct[victim], key, 2*time.Second)
			if err != nil {
				return err
			}
			if v != want {
				return fmt.Errorf("%s=%q, want %q", key, v, want)
			}
		}
		return nil
	})

	// Stop removes the containers and the network and keeps the logs.
	stopped = true
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	out, err := docker(ctx, nil, "ps", "-a", "-q", "--filter", "label="+labelRun+"="+c.run)
	if err != nil || out != "" {
		t.Fatalf("containers left after Stop: %q %v", out, err)
	}
	out, err = docker(ctx, nil, "network", "ls", "-q", "--filter", "label="+labelRun+"="+c.run)
	if err != nil || out != "" {
		t.Fatalf("network left after Stop: %q %v", out, err)
	}
	t.Logf("stopped after %v", time.Since(begin).Round(time.Millisecond))
	logs, err := os.ReadFile(c.Logs(victim))
	if err != nil || len(logs) == 0 {
		t.Fatalf("no logs for %s: %v", victim, err)
	}
}

// startCluster starts a 3-node cluster for a test and stops it at cleanup
// (unless the test stopped it).
func startCluster(t *testing.T, ctx context.Context, nc cluster.NodeConfig) *Cluster {
	t.Helper()
	return startClusterIn(t, ctx, t.TempDir(), nc)
}

// startClusterIn is startCluster with the run directory dir.
func startClusterIn(t *testing.T, ctx context.Context, dir string, nc cluster.NodeConfig) *Cluster {
	t.Helper()
	root, err := moduleRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(cluster.Options{Nodes: 3, Dir: dir, SourceDir: root, RequestTimeout: 2 * time.Second, Node: nc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), time.Minute)
		defer scancel()
		_ = c.Stop(sctx)
	})
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cluster.WaitReady(ctx, c, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	return c
}

// timedWrite writes through cl and returns how long the write took.
func timedWrite(cl *nodeapi.Client, key, val string) (time.Duration, error) {
	start := time.Now()
	err := write(cl, key, val, 5*time.Second)
	return time.Since(start), err
}

// fastestWrite is the quickest of n successful writes through cl: a lower
// bound that scheduling noise cannot raise.
func fastestWrite(cl *nodeapi.Client, n int) (time.Duration, error) {
	best := time.Hour
	for i := range n {
		d, err := timedWrite(cl, "lat", fmt.Sprint(i))
		if err != nil {
			return 0, err
		}
		best = min(best, d)
	}
	return best, nil
}

// delayListeners lists the open delay listeners as "node->peer@pid".
func delayListeners(c *Cluster) []string {
	c.netMu.Lock()
	defer c.netMu.Unlock()
	var out []string
	for k, q := range c.delays {
		out = append(out, fmt.Sprintf("%s->%s@%d", k[0], k[1], q.pid))
	}
	sort.Strings(out)
	return out
}

// TestPacketDelay proves that a delay rule delays node0's packets to its
// peers at the OS level (NFQUEUE in node0's namespace): every write through
// node0 needs a packet from node0 to a peer (replication when it leads,
// forwarding to the leader otherwise), so with node0's egress to both
// peers delayed by 200 ms no write through it can take less, and without
// the delay they take a few milliseconds. The delay survives a restart
// (new namespace, new listeners), and listeners go away on kill,
// ClearNetwork and Stop.
func TestPacketDelay(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Docker containers")
	}
	requireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// A generous election timeout: the delay is the subject, not elections.
	c := startCluster(t, ctx, cluster.NodeConfig{ElectionTimeout: time.Second, HeartbeatInterval: 100 * time.Millisecond})
	const a, delay = "node0", 200 * time.Millisecond
	via := nodeapi.New(c.Endpoints()[0], 5*time.Second)
	const fast = 100 * time.Millisecond

	eventually(t, 30*time.Second, "fast writes before the delay", func() error {
		d, err := fastestWrite(via, 3)
		if err == nil && d >= fast {
			err = fmt.Errorf("fastest write %v, want < %v", d, fast)
		}
		return err
	})

	rules := []nodeapi.NetRule{
		{Peer: "node1", Direction: "out", DelayMS: delay.Milliseconds()},
		{Peer: "node2", Direction: "out", DelayMS: delay.Milliseconds(), JitterMS: 30},
	}
	if err := c.Client(a).SetNetwork(ctx, rules); err != nil {
		t.Fatal(err)
	}
	if got := delayListeners(c); len(got) != 2 {
		t.Fatalf("delay listeners %v, want node0->node1 and node0->node2", got)
	}
	checkDelayed := func(phase string) {
		t.Helper()
		eventually(t, 30*time.Second, phase+": a write through the delayed node", func() error {
			_, err := timedWrite(via, "lat", "warm")
			return err
		})
		d, err := fastestWrite(via, 5)
		if err != nil {
			t.Fatalf("%s: %v", phase, err)
		}
		if d < delay {
			t.Fatalf("%s: fastest write through %s took %v, want >= %v", phase, a, d, delay)
		}
		t.Logf("%s: fastest of 5 writes through %s: %v", phase, a, d)
	}
	checkDelayed("delayed")

	// Kill: the namespace is gone, so are its listeners; the rules stay
	// and come back with the new container.
	if err := c.Kill(ctx, a); err != nil {
		t.Fatal(err)
	}
	if got := delayListeners(c); len(got) != 0 {
		t.Fatalf("listeners of a killed node left open: %v", got)
	}
	if err := c.Restart(ctx, a); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	pid := c.byID[a].pid
	c.mu.Unlock()
	got := delayListeners(c)
	want := []string{fmt.Sprintf("node0->node1@%d", pid), fmt.Sprintf("node0->node2@%d", pid)}
	if !slices.Equal(got, want) {
		t.Fatalf("after restart listeners %v, want %v", got, want)
	}
	via.CloseIdle()
	checkDelayed("after restart")

	if err := c.Client(a).ClearNetwork(ctx); err != nil {
		t.Fatal(err)
	}
	if got := delayListeners(c); len(got) != 0 {
		t.Fatalf("listeners left after ClearNetwork: %v", got)
	}
	eventually(t, 30*time.Second, "fast writes after ClearNetwork", func() error {
		d, err := fastestWrite(via, 3)
		if err == nil && d >= fast {
			err = fmt.Errorf("fastest write %v, want < %v", d, fast)
		}
		return err
	})

	// Stop closes listeners still open, and leaves no goroutine of theirs.
	if err := c.Client(a).SetNetwork(ctx, rules); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if got := delayListeners(c); len(got) != 0 {
		t.Fatalf("listeners left after Stop: %v", got)
	}
	buf := make([]byte, 1<<20)
	if stacks := string(buf[:runtime.Stack(buf, true)]); strings.Contains(stacks, "go-nfqueue") || strings.Contains(stacks, "delayQueue") {
		t.Fatalf("delay goroutines left after Stop:\n%s", stacks)
	}
}

// TestCleanupStaleRemovesOrphans creates a labelled network as a crashed
// run would (its owner process is gone) and checks the next cleanup
// removes it while a live owner's network stays.
func TestCleanupStaleRemovesOrphans(t *testing.T) {
	if testing.Short() {
		t.Skip("uses Docker")
	}
	requireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mk := func(name, own string) {
		t.Helper()
		if _, err := docker(ctx, nil, "network", "create", "--label", labelHarness+"=1", "--label", labelOwner+"="+own, name); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = docker(context.Background(), nil, "network", "rm", name) })
	}
	dead := "raftkv-test-orphan-" + fmt.Sprint(time.Now().UnixNano()%1e6)
	live := dead + "-live"
	mk(dead, "999999999:1") // no such pid
	mk(live, owner())
	if _, _, err := CleanupStale(ctx); err != nil {
		t.Fatal(err)
	}
	out, err := docker(ctx, nil, "network", "ls", "--format", "{{json .Name}}")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range strings.Split(out, "\n") {
		var s string
		if json.Unmarshal([]byte(l), &s) == nil {
			names = append(names, s)
		}
	}
	has := func(n string) bool {
		for _, x := range names {
			if x == n {
				return true
			}
		}
		return false
	}
	if has(dead) || !has(live) {
		t.Fatalf("after cleanup: orphan present=%v, live present=%v (%v)", has(dead), has(live), names)
	}
}
