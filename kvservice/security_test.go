package kvservice

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/internal/devcerts"
	"github.com/raftkv/raftkv/kvservice/api"
	"github.com/raftkv/raftkv/kvservice/client"
)

func startOne(t *testing.T, tweak func(*Config)) *Server {
	t.Helper()
	addr := freeAddrs(t, 1)[0]
	peers := []Peer{{"node0", addr}}
	cfg := testConfig("node0", addr, filepath.Join(t.TempDir(), "node0"), peers)
	if tweak != nil {
		tweak(&cfg)
	}
	s, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	waitFor(t, "ready", func() bool { ok, _ := s.Ready(); return ok })
	return s
}

// The attack of issue 12: requests whose body is shorter than their
// Content-Length, held open. The read timeout cuts them off, so the
// connection cap frees up and the node answers again.
func TestAPISlowBodiesTimeOut(t *testing.T) {
	s := startOne(t, func(c *Config) {
		c.APIReadTimeout = 300 * time.Millisecond
		c.MaxAPIConns = 8
	})
	var conns []net.Conn
	for range 12 { // more than the cap: the last ones wait to be accepted
		c, err := net.Dial("tcp", s.APIAddr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST /command HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
		conns = append(conns, c)
	}
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		buf := make([]byte, 512)
		for {
			_, err := c.Read(buf)
			if err == nil {
				continue // an error answer; the server closes next
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("connection %d still held open", i)
			}
			break
		}
	}
	cl, err := client.New([]string{s.APIAddr()}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Put(context.Background(), "k", "v"); err != nil {
		t.Fatalf("node not answering after the slow clients: %v", err)
	}
}

// trustedWarning is the start-up warning of a node without TLS and tokens.
const trustedWarning = "the network is trusted"

// Issue 12, part 1: a node started without the TLS and token options works
// as before, and says once (not per connection or request) that it trusts
// its network, so an operator who forgot the options sees it in the log.
func TestTrustedNetworkWarnedOnce(t *testing.T) {
	logs := &syncBuffer{}
	s := startOne(t, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(logs, nil)) })
	cl, err := client.New([]string{s.APIAddr()}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 3 {
		if _, err := cl.Put(ctx, fmt.Sprint("k", i), "v"); err != nil {
			t.Fatalf("plain node refused a write without a token: %v", err)
		}
	}
	if r, err := cl.Get(ctx, "k2", ""); err != nil || r.Value == nil || *r.Value != "v" {
		t.Fatalf("get: %+v %v", r, err)
	}
	if n := strings.Count(logs.String(), trustedWarning); n != 1 {
		t.Fatalf("%q logged %d times, want once:\n%s", trustedWarning, n, logs.String())
	}
}

// A node with mutual TLS on the raft port, TLS on the API and tokens. It
// does not say that it trusts its network.
func TestTLSAndTokensEndToEnd(t *testing.T) {
	ca, err := devcerts.NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	pair, _ := ca.Node("node0")
	cert, err := pair.TLS()
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	toks := &api.Tokens{}
	const admin, reader = "admin-0123456789abcdef", "reader-0123456789abcdef"
	_ = toks.Add(admin, api.RoleAdmin)
	_ = toks.Add(reader, api.RoleRead)
	logs := &syncBuffer{}
	s := startOne(t, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
		c.PeerTLS = &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool}
		c.APITLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		c.APIClientTLS = &tls.Config{RootCAs: pool}
		c.Tokens, c.NodeToken = toks, admin
	})
	cl, _ := client.New([]string{s.APIAddr()}, 10*time.Second)
	cl.UseTLS(&tls.Config{RootCAs: pool})
	cl.UseToken(admin)
	ctx := context.Background()
	if _, err := cl.Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	ro, _ := client.New([]string{s.APIAddr()}, 10*time.Second)
	ro.UseTLS(&tls.Config{RootCAs: pool})
	ro.UseToken(reader)
	if r, err := ro.Get(ctx, "k", ""); err != nil || r.Value == nil || *r.Value != "v" {
		t.Fatalf("get: %+v %v", r, err)
	}
	var ae *client.Error
	if _, err := ro.Put(ctx, "k", "w"); !errors.As(err, &ae) || ae.Status != http.StatusForbidden {
		t.Fatalf("read token put: %v", err)
	}
	plain, _ := client.New([]string{"http://" + s.APIAddr()}, 10*time.Second)
	if _, err := plain.Get(ctx, "k", ""); err == nil {
		t.Fatal("plain HTTP answered by a TLS API")
	}
	if strings.Contains(logs.String(), trustedWarning) {
		t.Fatalf("a node with TLS and tokens says %q:\n%s", trustedWarning, logs.String())
	}
}

// With tokens, a node needs an admin token of its own for its calls to the
// other members (joins, address updates, forwarded requests): a node
// without one, or whose token is not an admin token in the token file, is
// refused at start with the flags to use, and creates nothing.
func TestTokensNeedAnAdminNodeToken(t *testing.T) {
	toks := &api.Tokens{}
	const admin, reader = "admin-0123456789abcdef", "reader-0123456789abcdef"
	_ = toks.Add(admin, api.RoleAdmin)
	_ = toks.Add(reader, api.RoleRead)
	addr := freeAddrs(t, 1)[0]
	for _, c := range []struct{ token, want string }{
		{"", "needs its own admin token (--node-token-file"},
		{reader, "is a read token in the token file; it must be an admin token"},
		{"unknown-0123456789abcdef", "is not in the token file"},
	} {
		dir := filepath.Join(t.TempDir(), "node0")
		cfg := testConfig("node0", addr, dir, []Peer{{"node0", addr}})
		cfg.Tokens, cfg.NodeToken = toks, c.token
		s, err := Start(context.Background(), cfg)
		if err == nil {
			s.Close()
		}
		if !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("node token %q: %v, want ErrBadConfig saying %q", c.token, err, c.want)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("node token %q: a refused start created %s (%v)", c.token, dir, err)
		}
	}
}

// Issue 12's attack on a real cluster with tokens: a client on the
// members' host sends X-Raftkv-Forwarded-By naming the leader to a healthy
// follower. Before, the follower answered 503 not_leader; now the header
// is ignored (it carries no member's token) and the write is forwarded.
// Writes through a follower still work, with the follower's node token.
func TestClientForwardedHeaderIgnoredWithTokens(t *testing.T) {
	toks := &api.Tokens{}
	const admin, writer = "admin-0123456789abcdef", "writer-0123456789abcdef"
	_ = toks.Add(admin, api.RoleAdmin)
	_ = toks.Add(writer, api.RoleWrite)
	peers := testPeers(t, 3)
	dir := t.TempDir()
	var srvs []*Server
	for _, p := range peers {
		cfg := testConfig(p.Name, p.RaftAddr, filepath.Join(dir, p.Name), peers)
		cfg.Tokens, cfg.NodeToken = toks, admin
		s, err := Start(context.Background(), cfg)
		if err != nil {
			t.Fatalf("start %s: %v", p.Name, err)
		}
		t.Cleanup(func() { s.Close() })
		srvs = append(srvs, s)
	}
	leader := leaderOf(t, srvs)
	var follower *Server
	for _, s := range srvs {
		if s != leader {
			follower = s
			break
		}
	}
	waitFor(t, "the follower knows the leader's API address", func() bool {
		l := follower.Leader()
		return l.Name == leader.Name() && l.APIAddr != ""
	})
	put := func(key, chain string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("PUT", "http://"+follower.APIAddr()+"/kv/"+key, strings.NewReader(`{"value":"v"}`))
		req.Header.Set("Authorization", "Bearer "+writer)
		req.Header.Set("Content-Type", "application/json")
		if chain != "" {
			req.Header.Set(api.ForwardedHeader, chain)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := put("through-follower", ""); code != 200 {
		t.Fatalf("write through the follower: %d %s", code, body)
	}
	if code, body := put("forged", leader.Name()); code != 200 {
		t.Fatalf("write with a client-sent %s: %s: %d %s", api.ForwardedHeader, leader.Name(), code, body)
	}
}
