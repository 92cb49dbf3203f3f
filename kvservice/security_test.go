package kvservice

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
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

// A node with mutual TLS on the raft port, TLS on the API and tokens.
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
	s := startOne(t, func(c *Config) {
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
}
