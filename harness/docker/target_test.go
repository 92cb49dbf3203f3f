package docker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/harness/cluster"
	"github.com/raftkv/raftkv/harness/nodeapi"
	"github.com/raftkv/raftkv/harness/target"
	"github.com/raftkv/raftkv/harness/target/etcd"
	raftkvtarget "github.com/raftkv/raftkv/harness/target/raftkv"
	"github.com/raftkv/raftkv/nemesis"
)

// fakeBinary is an executable file standing for a store's static binary.
func fakeBinary(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "store")
	if err := os.WriteFile(p, []byte("#!/bin/false\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// newEtcdCluster is an etcd cluster that has not touched Docker, with
// the container addresses Start would give it on 172.20.0.0/24.
func newEtcdCluster(t *testing.T, nodes int) *Cluster {
	t.Helper()
	c, err := New(cluster.Options{Nodes: nodes, Dir: t.TempDir(), Target: etcd.Target{}, Binary: fakeBinary(t),
		Node: cluster.NodeConfig{ElectionTimeout: time.Second, HeartbeatInterval: 100 * time.Millisecond, Extra: []string{"--log-level", "warn"}}})
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range c.nodes {
		n.ip = hostIP("172.20.0.0/24", 10+i)
	}
	return c
}

// flag is the value following name in args ("" if absent).
func flag(args []string, name string) string {
	if i := slices.Index(args, name); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

// TestTargetArgsInContainer: each node's command line is its target's
// own, with the container's address, the fixed ports and /data (the bind
// mount); etcd's static cluster names every container.
func TestTargetArgsInContainer(t *testing.T) {
	c := newEtcdCluster(t, 3)
	args := c.args(c.byID["node1"])
	for name, want := range map[string]string{
		"--name":                        "node1",
		"--data-dir":                    "/data",
		"--listen-peer-urls":            "http://172.20.0.11:7000",
		"--initial-advertise-peer-urls": "http://172.20.0.11:7000",
		"--listen-client-urls":          "http://172.20.0.11:8000",
		"--advertise-client-urls":       "http://172.20.0.11:8000",
		"--initial-cluster":             "node0=http://172.20.0.10:7000,node1=http://172.20.0.11:7000,node2=http://172.20.0.12:7000",
		"--election-timeout":            "1000",
		"--heartbeat-interval":          "100",
		"--log-level":                   "warn",
	} {
		if got := flag(args, name); got != want {
			t.Errorf("%s = %q, want %q (args %q)", name, got, want, args)
		}
	}

	// raftkv's, by the same path: the raftkv target's flags.
	r, err := New(cluster.Options{Nodes: 3, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range r.nodes {
		n.ip = hostIP("172.20.0.0/24", 10+i)
	}
	args = r.args(r.byID["node2"])
	for name, want := range map[string]string{
		"--id": "node2", "--host": "172.20.0.12", "--port": "7000", "--api-port": "8000", "--data-dir": "/data",
		"--cluster": "172.20.0.10:7000,172.20.0.11:7000,172.20.0.12:7000",
	} {
		if got := flag(args, name); got != want {
			t.Errorf("raftkv %s = %q, want %q (args %q)", name, got, want, args)
		}
	}
	if !slices.Contains(args, "--unsafe-enable-fault-injection") {
		t.Errorf("raftkv without fault injection: %q", args)
	}
}

// TestTargetNodeAndTarget: the cluster is Targeted: the harness reaches a
// node at its container's address, its data is in the run directory, and
// the target it reports takes the network faults this backend makes.
func TestTargetNodeAndTarget(t *testing.T) {
	c := newEtcdCluster(t, 3)
	var tc cluster.Targeted = c
	tn, err := tc.TargetNode("node2")
	if err != nil {
		t.Fatal(err)
	}
	if tn.ID != "node2" || tn.ClientAddr != "172.20.0.12:8000" || tn.PeerAddr != "172.20.0.12:7000" ||
		tn.DataDir != filepath.Join(c.opts.Dir, "data", "node2") || tn.Security != nil {
		t.Errorf("target node %+v", tn)
	}
	if _, err := tc.TargetNode("node9"); !errors.Is(err, cluster.ErrUnknownNode) {
		t.Errorf("unknown node: %v", err)
	}
	got := cluster.TargetOf(c)
	if got.Name() != etcd.Name || !target.Has(got, target.CapNodeNetwork) || target.Has(got, target.CapClock) {
		t.Errorf("target %s caps %v, want etcd with %s only", got.Name(), got.Caps(), target.CapNodeNetwork)
	}
	if !slices.Equal(got.ReadModes(), etcd.Target{}.ReadModes()) {
		t.Errorf("read modes %v", got.ReadModes())
	}
	if _, err := c.CommittedLog(context.Background(), "node0"); !errors.Is(err, cluster.ErrUnsupported) {
		t.Errorf("etcd's committed log: %v, want ErrUnsupported", err)
	}
}

// TestNewRefusesWhatATargetCannotDo: another store needs its binary (the
// image is built from it), and a target without TLS setup cannot run
// secured, as on the process backend.
func TestNewRefusesWhatATargetCannotDo(t *testing.T) {
	_, err := New(cluster.Options{Nodes: 3, Dir: t.TempDir(), Target: etcd.Target{}})
	if !errors.Is(err, ErrBuild) || !strings.Contains(err.Error(), "--target-binary etcd=PATH") {
		t.Errorf("etcd without a binary: %v", err)
	}
	_, err = New(cluster.Options{Nodes: 3, Dir: t.TempDir(), Target: etcd.Target{}, Binary: filepath.Join(t.TempDir(), "none")})
	if !errors.Is(err, ErrBuild) {
		t.Errorf("etcd with a missing binary: %v", err)
	}
	dir := t.TempDir()
	sec, err := target.NewSecurity(filepath.Join(dir, "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(cluster.Options{Nodes: 3, Dir: dir, Target: etcd.Target{}, Binary: fakeBinary(t), Node: cluster.NodeConfig{Security: sec}})
	if err == nil || !strings.Contains(err.Error(), "cannot run secured") {
		t.Errorf("secured etcd: %v", err)
	}
}

// TestOnRefusesTheStoresOwnFaults: on this backend a target takes the
// network faults (the backend makes them), and what needs the store's own
// fault API is refused by the one rule every backend uses
// (nemesis.CheckTarget), in the same words as on the process backend.
func TestOnRefusesTheStoresOwnFaults(t *testing.T) {
	sched := func(specs ...nemesis.Spec) nemesis.Schedule { return nemesis.Schedule{Faults: specs} }
	et := On(etcd.Target{})
	for _, s := range []nemesis.Spec{
		{Fault: "partition-isolate-leader"}, {Fault: "partition-random-halves"}, {Fault: "partition-one-way"},
		{Fault: "partition-bridge"}, {Fault: "partition-majorities-ring"}, {Fault: "packet-delay"},
		{Fault: "packet-loss", Loss: 0.3}, {Fault: "leader-flap", Action: "isolate"}, {Fault: "kill-leader"}, {Fault: "pause-one"},
	} {
		if err := sched(s).CheckTarget(et); err != nil {
			t.Errorf("%s on docker etcd: %v", s.Fault, err)
		}
		if err := sched(s).CheckTarget(etcd.Target{}); s.Fault != "kill-leader" && s.Fault != "pause-one" && err == nil {
			t.Errorf("%s on etcd without this backend: accepted", s.Fault)
		}
	}
	for _, s := range []nemesis.Spec{
		{Fault: "clock-rate", Rate: 0.5}, {Fault: "clock-strobe"}, {Fault: "failpoint"},
		{Fault: "membership-churn"}, {Fault: "leader-transfer-storm"},
		{Fault: "compose", Of: []nemesis.Spec{{Fault: "kill-one"}, {Fault: "clock-offset"}}},
	} {
		here := sched(s).CheckTarget(et)
		process := sched(s).CheckTarget(etcd.Target{})
		if here == nil || !errors.Is(here, nemesis.ErrBadSpec) || process == nil || here.Error() != process.Error() {
			t.Errorf("%s: refused here with %v, on the process backend with %v: want the same refusal", s.Fault, here, process)
		}
	}
	// raftkv already has every capability: nothing changes for it.
	if got, want := On(raftkvtarget.Target{}).Caps(), (raftkvtarget.Target{}).Caps(); !slices.Equal(got, want) {
		t.Errorf("raftkv on docker: caps %v, want %v", got, want)
	}
}

// TestTargetImageContext: a store's image is assembled from its binary,
// FROM scratch (nothing to pull), as the image's unprivileged user with
// /data its own, and the label the reuse check reads names the binary's
// sha256.
func TestTargetImageContext(t *testing.T) {
	bin := fakeBinary(t)
	dir := t.TempDir()
	sum, err := writeTargetContext(dir, "etcd", bin)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(bin)
	h := sha256.Sum256(raw)
	if want := hex.EncodeToString(h[:]); sum != want {
		t.Errorf("sum %s, want %s", sum, want)
	}
	st, err := os.Stat(filepath.Join(dir, "etcd"))
	if err != nil || st.Mode().Perm() != 0o755 || st.Size() != int64(len(raw)) {
		t.Errorf("binary in the context: %v %v", st, err)
	}
	df, _ := os.ReadFile(filepath.Join(dir, "Dockerfile"))
	for _, want := range []string{
		"\nFROM scratch\n", "\nCOPY etcd /etcd\n", "\nCOPY --chown=65532:65532 data /data\n", "\nUSER 65532:65532\n",
		"\nWORKDIR /data\n", "\nLABEL raftkv.binary=" + sum + " raftkv.target=etcd\n", "\nENTRYPOINT [\"/etcd\"]\n",
	} {
		if !strings.Contains(string(df), want) {
			t.Errorf("Dockerfile lacks %q:\n%s", want, df)
		}
	}
	if strings.Contains(string(df), labelHarness) {
		t.Errorf("the image must not carry %s (its containers would be taken for a run's):\n%s", labelHarness, df)
	}
	passwd, _ := os.ReadFile(filepath.Join(dir, "etc", "passwd"))
	if !strings.Contains(string(passwd), ":x:65532:65532:") {
		t.Errorf("passwd: %q", passwd)
	}
	if st, err := os.Stat(filepath.Join(dir, "data")); err != nil || !st.IsDir() {
		t.Errorf("data dir: %v", err)
	}
	if tag := targetImageRepo("etcd") + ":" + sum[:12]; !strings.HasPrefix(tag, "raftkv-target-etcd:") {
		t.Errorf("tag %s", tag)
	}

	if _, err := writeTargetContext(t.TempDir(), "Bad/Name", bin); !errors.Is(err, ErrBuild) {
		t.Errorf("bad target name: %v", err)
	}
	plain := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(plain, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := writeTargetContext(t.TempDir(), "etcd", plain); !errors.Is(err, ErrBuild) {
		t.Errorf("a file that is not executable: %v", err)
	}
}

// TestProxyWithoutNodeAPI: for a target without raftkv's API the fault
// proxy makes the network faults itself, says which are in force, lets
// the final heal clear the kinds of fault the store cannot have, and
// refuses anything else, definitely, without reaching the node.
func TestProxyWithoutNodeAPI(t *testing.T) {
	c := newEtcdCluster(t, 3)
	n := c.byID["node0"]
	p, err := newFaultProxy(c, n)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	cl := nodeapi.New(p.addr, time.Minute)
	ctx := context.Background()
	rules := []nodeapi.NetRule{{Peer: "node1", Direction: "out", Drop: true}}
	if err := cl.SetNetwork(ctx, rules); err != nil {
		t.Fatal(err)
	}
	if got := c.NetworkRules("node0"); !slices.Equal(got, rules) {
		t.Errorf("rules in force %+v, want %+v", got, rules)
	}
	raw, err := cl.Faults(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var faults map[string]json.RawMessage
	if err := json.Unmarshal(raw, &faults); err != nil || len(faults) != 1 || !strings.Contains(string(faults["network"]), `"node1"`) {
		t.Errorf("GET /fault: %s %v", raw, err)
	}
	if err := cl.ClearClock(ctx); err != nil {
		t.Errorf("clearing a clock fault etcd cannot have: %v", err)
	}
	if err := cl.DisarmFailpoint(ctx); err != nil {
		t.Errorf("disarming a failpoint etcd cannot have: %v", err)
	}
	if err := cl.ClearNetwork(ctx); err != nil || c.NetworkRules("node0") != nil {
		t.Errorf("clear network: %v, left %+v", err, c.NetworkRules("node0"))
	}
	for name, call := range map[string]func() error{
		"set clock":     func() error { return cl.SetClock(ctx, nodeapi.Clock{Rate: 2}) },
		"arm failpoint": func() error { return cl.ArmFailpoint(ctx, "before-persist", 1) },
		"status":        func() error { _, err := cl.Status(ctx); return err },
		"command":       func() error { _, err := cl.Do(ctx, nodeapi.Command{Operation: "get", Key: "k"}); return err },
	} {
		err := call()
		var apiErr *nodeapi.Error
		if !errors.As(err, &apiErr) || apiErr.Status != 501 || !nodeapi.IsDefinite(err) || !strings.Contains(err.Error(), "target etcd") {
			t.Errorf("%s through the proxy of an etcd node: %v, want a definite 501 naming the target", name, err)
		}
	}
}
