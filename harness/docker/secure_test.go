package docker

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/raftkv/raftkv/harness/cluster"
	"github.com/raftkv/raftkv/harness/nodeapi"
	"github.com/raftkv/raftkv/harness/target"
)

// TestSecuredContainers runs a secured cluster in containers, as a
// `secure: true` docker scenario does: the certificates reach the
// containers and name their addresses (the cluster elects, forwards and
// takes a join over https), the role tokens work, and a client without a
// token gets 401 from a node and from the backend's fault proxy.
func TestSecuredContainers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Docker containers")
	}
	requireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	sec, err := target.NewSecurity(filepath.Join(dir, "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	c := startClusterIn(t, ctx, dir, cluster.NodeConfig{ElectionTimeout: 300 * time.Millisecond, HeartbeatInterval: 50 * time.Millisecond, Security: sec})
	eps := c.Endpoints()
	// A follower's write is forwarded to the leader over https, with the
	// client's token.
	leader := cluster.Leader(ctx, c)
	follower := "node0"
	if leader == follower {
		follower = "node1"
	}
	fi := map[string]int{"node0": 0, "node1": 1, "node2": 2}[follower]
	writer := sec.API(follower, eps[fi], 3*time.Second, target.RoleWrite)
	eventually(t, 30*time.Second, "a write through a follower", func() error { return write(writer, "k", "v", 3*time.Second) })

	status := func(err error) int {
		var apiErr *nodeapi.Error
		if errors.As(err, &apiErr) {
			return apiErr.Status
		}
		return 0
	}
	noToken := nodeapi.NewWith(eps[fi], 3*time.Second, nodeapi.Options{TLS: sec.ClientTLS(follower)})
	if _, err := noToken.Status(ctx); status(err) != http.StatusUnauthorized {
		t.Errorf("status without a token: %v, want 401", err)
	}
	if err := write(noToken, "k", "stolen", 3*time.Second); status(err) != http.StatusUnauthorized {
		t.Errorf("write without a token: %v, want 401", err)
	}
	if _, err := nodeapi.New(eps[fi], 3*time.Second).Status(ctx); err == nil {
		t.Error("plain http to a secured container answered")
	}
	// The proxy's own network fault routes want the admin token too.
	n, _ := c.node(follower)
	if err := nodeapi.New(n.proxy.addr, time.Minute).SetNetwork(ctx, nil); status(err) != http.StatusUnauthorized {
		t.Errorf("proxy's fault API without a token: %v, want 401", err)
	}
	if err := c.Client(follower).SetNetwork(ctx, []nodeapi.NetRule{{Peer: leader, Direction: "both", Drop: true}}); err != nil {
		t.Fatalf("fault API with the admin token: %v", err)
	}
	if err := c.Client(follower).ClearNetwork(ctx); err != nil {
		t.Fatalf("clear with the admin token: %v", err)
	}
	if _, err := c.Client(follower).Faults(ctx); err != nil {
		t.Errorf("GET /fault through the proxy: %v", err)
	}

	// A wiped node joins back over https (its new container gets the
	// mounts again).
	eventually(t, time.Minute, "removal of "+follower, func() error { return c.Client(leader).RemoveMember(ctx, follower) })
	if err := c.Kill(ctx, follower); err != nil {
		t.Fatal(err)
	}
	if err := c.Wipe(ctx, follower); err != nil {
		t.Fatal(err)
	}
	if err := c.Join(ctx, follower, leader); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, follower+" to join over https and catch up", func() error {
		res, err := c.Client(follower).Do(ctx, nodeapi.Command{Operation: "get", Key: "k", ReadMode: "stale"})
		if err != nil {
			return err
		}
		if res.Value == nil || *res.Value != "v" {
			return errors.New("not caught up")
		}
		return nil
	})
}

// A run directory under a relative store (store/ci/...) still mounts the
// credentials by absolute path: docker takes a relative source for the
// name of a volume and refuses it (found by CI's docker-secure scenario).
func TestSecretMountsAreAbsolute(t *testing.T) {
	t.Chdir(t.TempDir())
	sec, err := target.NewSecurity(filepath.Join("run", "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sec.Issue("node0", "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	c := &Cluster{opts: cluster.Options{Node: cluster.NodeConfig{Security: sec}}}
	args, err := c.secretMounts(&node{id: "node0"})
	if err != nil {
		t.Fatal(err)
	}
	if len(args) != 10 { // certificate, key, CA, token file, node token file
		t.Fatalf("mounts %v", args)
	}
	for i := 1; i < len(args); i += 2 {
		if !filepath.IsAbs(args[i]) {
			t.Errorf("mount %q has a relative source", args[i])
		}
	}
}
