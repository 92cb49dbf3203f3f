package process

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/harness/cluster"
	"github.com/raftkv/raftkv/harness/nodeapi"
	"github.com/raftkv/raftkv/harness/target"
)

// TestProcessBackendSecured starts a secured cluster the way the harness
// does for `secure: true` and shows that the security is on: the nodes
// run with the TLS and token flags; a client without a token gets 401, one
// with the read token 403 on a write, and plain http nothing; a raft
// connection without a certificate is refused. The harness's own clients
// (the target's probes, the workload's write token, the admin client with
// the fault API, an https join) all work.
func TestProcessBackendSecured(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs raftkv")
	}
	dir, bin := buildRaftkv(t)
	sec, err := target.NewSecurity(filepath.Join(dir, "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := startReady(t, ctx, dir, bin, sec)
	p := c.(*Cluster)

	// The processes really run secured.
	for _, n := range p.nodes {
		p.mu.Lock()
		pid := n.cmd.Process.Pid
		p.mu.Unlock()
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
		if err != nil {
			t.Fatal(err)
		}
		args := strings.Split(string(b), "\x00")
		for f, v := range map[string]string{"--peer-cert": sec.CertFile(n.id), "--cert": sec.CertFile(n.id),
			"--peer-ca": sec.CAFile(), "--token-file": sec.TokenFile(), "--node-token-file": sec.NodeTokenFile()} {
			if i := slices.Index(args, f); i < 0 || i+1 >= len(args) || args[i+1] != v {
				t.Errorf("%s runs without %s %s: %q", n.id, f, v, args)
			}
		}
		if slices.Contains(args, sec.Tokens.Admin) {
			t.Errorf("%s has the admin token on its command line, where ps shows it: %q", n.id, args)
		}
	}

	leader := cluster.Leader(ctx, c) // the target's probes, read token
	if leader == "" {
		t.Fatal("no leader through the read-token probes")
	}
	tn, err := p.TargetNode(leader)
	if err != nil {
		t.Fatal(err)
	}
	writer, err := p.Target().Dial(tn, 2*time.Second) // the workload's client, write token
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	v := "1"
	waitFor(t, "a write with the write token", time.Minute, func() bool {
		return writer.Do(ctx, nodeapi.Command{Operation: "set", Key: "a", Value: &v}).Err == nil
	})

	addr := tn.ClientAddr
	status := func(err error) int {
		var apiErr *nodeapi.Error
		if errors.As(err, &apiErr) {
			return apiErr.Status
		}
		return 0
	}
	noToken := nodeapi.NewWith(addr, 2*time.Second, nodeapi.Options{TLS: sec.ClientTLS(leader)})
	if _, err := noToken.Status(ctx); status(err) != http.StatusUnauthorized {
		t.Errorf("status without a token: %v, want 401", err)
	}
	w := "stolen"
	if _, err := noToken.Do(ctx, nodeapi.Command{Operation: "set", Key: "a", Value: &w}); status(err) != http.StatusUnauthorized || !nodeapi.IsDefinite(err) {
		t.Errorf("write without a token: %v, want a definite 401", err)
	}
	reader := nodeapi.NewWith(addr, 2*time.Second, nodeapi.Options{TLS: sec.ClientTLS(leader), Token: sec.Tokens.Read})
	if _, err := reader.Do(ctx, nodeapi.Command{Operation: "set", Key: "a", Value: &w}); status(err) != http.StatusForbidden {
		t.Errorf("write with the read token: %v, want 403", err)
	}
	if err := reader.SetNetwork(ctx, nil); status(err) != http.StatusForbidden {
		t.Errorf("fault API with the read token: %v, want 403", err)
	}
	if _, err := nodeapi.New(addr, 2*time.Second).Status(ctx); err == nil {
		t.Error("plain http to a secured node answered")
	}
	if res, err := reader.Do(ctx, nodeapi.Command{Operation: "get", Key: "a"}); err != nil || res.Value == nil || *res.Value != "1" {
		t.Errorf("get with the read token: %+v, %v (a refused write changed the key?)", res, err)
	}

	// The raft port wants a certificate from the run's CA.
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", tn.PeerAddr, sec.ClientTLS(leader))
	if err == nil {
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = conn.Read(make([]byte, 1))
		conn.Close()
	}
	if ne, ok := err.(net.Error); err == nil || (ok && ne.Timeout()) {
		t.Errorf("raft port without a client certificate: %v, want the handshake refused", err)
	}

	// The harness's admin client drives the fault API and membership; a
	// wiped node joins back over https with its node token.
	if err := c.Client(leader).SetNetwork(ctx, []nodeapi.NetRule{}); err != nil {
		t.Errorf("fault API with the admin token: %v", err)
	}
	if err := c.Client(leader).ClearNetwork(ctx); err != nil {
		t.Errorf("fault API with the admin token: %v", err)
	}
	victim := "node2"
	if leader == victim {
		victim = "node1"
	}
	waitFor(t, "removal of "+victim, 15*time.Second, func() bool { return c.Client(leader).RemoveMember(ctx, victim) == nil })
	if err := c.Kill(ctx, victim); err != nil {
		t.Fatal(err)
	}
	if err := c.Wipe(ctx, victim); err != nil {
		t.Fatal(err)
	}
	if err := c.Join(ctx, victim, leader); err != nil {
		t.Fatal(err)
	}
	waitFor(t, victim+" to join over https and catch up", 30*time.Second, func() bool {
		res, err := c.Client(victim).Do(ctx, nodeapi.Command{Operation: "get", Key: "a", ReadMode: "stale"})
		return err == nil && res.Value != nil && *res.Value == "1"
	})
}
