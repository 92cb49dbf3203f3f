package transport

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/internal/devcerts"
	"github.com/raftkv/raftkv/raft"
)

// testCA signs certificates whose name is "n<id>"; certIDs maps them back.
type testCA struct{ ca *devcerts.CA }

func newTestCA(t *testing.T) testCA {
	t.Helper()
	ca, err := devcerts.NewCA("raftkv test CA")
	if err != nil {
		t.Fatal(err)
	}
	return testCA{ca}
}

func certIDs(c *x509.Certificate) []uint64 {
	var ids []uint64
	for _, name := range devcerts.Names(c) {
		var id uint64
		if _, err := fmt.Sscanf(name, "n%d", &id); err == nil {
			ids = append(ids, id)
		}
	}
	return ids
}

// tlsConfig is the TLS config of a node whose certificate names name.
func (ca testCA) tlsConfig(t *testing.T, name string) *tls.Config {
	t.Helper()
	pair, err := ca.ca.Node(name)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pair.TLS()
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.ca.Cert)
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool}
}

func withTLS(cfg *tls.Config) func(*Config) {
	return func(c *Config) { c.TLS, c.CertIDs = cfg, certIDs }
}

func TestTLSPeersExchange(t *testing.T) {
	ca := newTestCA(t)
	a := newNode(t, 1, 7, withTLS(ca.tlsConfig(t, "n1")))
	b := newNode(t, 2, 7, withTLS(ca.tlsConfig(t, "n2")))
	connect(a, b)
	for i := uint64(1); i <= 20; i++ {
		a.Send([]raft.Message{msg(raft.MsgHeartbeat, 1, 2, i)})
		b.Send([]raft.Message{msg(raft.MsgHeartbeatResp, 2, 1, i)})
	}
	waitFor(t, "b to receive", func() bool { return b.count() == 20 })
	waitFor(t, "a to receive", func() bool { return a.count() == 20 })
}

// The attack of issue 12: a forged hello and append from anyone who can
// reach the port. With TLS the plain-text hello never gets an answer.
func TestTLSForgedPeerWithoutCertificateRefused(t *testing.T) {
	ca := newTestCA(t)
	b := newNode(t, 2, 7, withTLS(ca.tlsConfig(t, "n2")))

	plain := rawConn(t, b, 0, false)
	h := hello{version: ProtocolVersion, cluster: 7, sender: 1, receiver: 2}
	app := msg(raft.MsgApp, 1, 2, 5)
	app.Entries = []raft.Entry{{Term: 1, Index: 5, Data: []byte("forged")}}
	_, _ = plain.Write(append(h.marshal(), AppendFrame(nil, []raft.Message{app})...))
	expectDropped(t, plain)

	// A TLS client without a certificate, and one with a certificate from
	// another CA, are refused in the TLS handshake.
	other := newTestCA(t)
	for name, cfg := range map[string]*tls.Config{
		"no certificate": {InsecureSkipVerify: true},
		"foreign CA":     {InsecureSkipVerify: true, Certificates: other.tlsConfig(t, "n1").Certificates},
	} {
		c, err := tls.Dial("tcp", b.Addr(), cfg)
		if err == nil {
			// TLS 1.3: the client may finish before the server rejects its
			// certificate; the rejection then arrives on the first read.
			_ = c.SetDeadline(time.Now().Add(waitTimeout))
			_, _ = c.Write(h.marshal())
			var status [1]byte
			_, err = io.ReadFull(c, status[:])
			c.Close()
		}
		if err == nil {
			t.Fatalf("%s: handshake and hello accepted", name)
		}
	}
	waitFor(t, "rejections counted", func() bool { return b.Stats().InboundRejected == 3 })
	if b.count() != 0 || b.Stats().InboundAccepted != 0 {
		t.Fatalf("forged peer got through: %d messages, stats %+v", b.count(), b.Stats())
	}
}

// A member with a valid certificate cannot speak for another member.
func TestTLSCertificateNamingAnotherMemberRefused(t *testing.T) {
	ca := newTestCA(t)
	b := newNode(t, 2, 7, withTLS(ca.tlsConfig(t, "n2")))
	cfg := ca.tlsConfig(t, "n3")
	cfg.InsecureSkipVerify = true
	c, err := tls.Dial("tcp", b.Addr(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(waitTimeout))
	h := hello{version: ProtocolVersion, cluster: 7, sender: 1, receiver: 2} // claims to be 1
	if _, err := c.Write(h.marshal()); err != nil {
		t.Fatal(err)
	}
	var status [1]byte
	if _, err := io.ReadFull(c, status[:]); err != nil {
		t.Fatal(err)
	}
	if err := statusError(status[0]); !errors.Is(err, ErrIdentity) {
		t.Fatalf("status %d: %v, want %v", status[0], err, ErrIdentity)
	}
	expectDropped(t, c)
	if !strings.Contains(b.logs.String(), ErrIdentity.Error()) {
		t.Fatalf("b's log does not say why:\n%s", b.logs.String())
	}

	// The dialer's side: a listener whose certificate names another node
	// than the one dialled is refused before any message is written.
	a := newNode(t, 1, 7, withTLS(ca.tlsConfig(t, "n1")))
	impostor := newNode(t, 4, 7, withTLS(ca.tlsConfig(t, "n4")))
	a.AddPeer(2, impostor.Addr())
	i := uint64(0)
	waitFor(t, "dialer refuses the impostor", func() bool {
		i++
		a.Send([]raft.Message{msg(raft.MsgHeartbeat, 1, 2, i)})
		return strings.Contains(a.logs.String(), ErrIdentity.Error())
	})
	if impostor.Stats().InboundAccepted != 0 {
		t.Fatal("the dialer completed a handshake with a certificate naming another node")
	}
}

// heapGrowth runs fn and returns how many bytes were allocated meanwhile.
func heapGrowth(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// The attacks of issue 12: four frames announcing 256 MiB, and eight
// connections that send a header and nothing else. Neither allocates the
// announced size, and the connections are dropped by the read deadline.
func TestHugeFrameHeadersDoNotAllocate(t *testing.T) {
	b := newNode(t, 2, 7, func(c *Config) {
		c.MaxFrameSize = 256 << 20
		c.FrameReadTimeout = 300 * time.Millisecond
		c.IdleTimeout = 300 * time.Millisecond
	})
	grown := heapGrowth(func() {
		var conns []net.Conn
		for i := range 12 {
			c := rawConn(t, b, uint64(10+i), true)
			if i < 4 {
				var h [FrameHeaderSize]byte
				binary.BigEndian.PutUint32(h[0:4], 256<<20)
				if _, err := c.Write(append(h[:], 1, 2, 3)); err != nil {
					t.Fatal(err)
				}
			}
			conns = append(conns, c)
		}
		for _, c := range conns {
			expectDropped(t, c)
		}
	})
	if grown > 32<<20 {
		t.Fatalf("allocated %d MiB for frames that were only announced", grown>>20)
	}
	t.Logf("allocated %d KiB in total", grown>>10)
}

func TestInboundConnectionCap(t *testing.T) {
	b := newNode(t, 2, 7, func(c *Config) { c.MaxInboundConns = 3 })
	for range 3 {
		rawConn(t, b, 0, false)
	}
	waitFor(t, "three inbound connections", func() bool {
		b.Transport.mu.RLock()
		defer b.Transport.mu.RUnlock()
		return len(b.Transport.inbound) == 3
	})
	extra := rawConn(t, b, 0, false)
	expectDropped(t, extra)
	if s := b.Stats(); s.InboundOverCap != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestTLSConfigValidated(t *testing.T) {
	cfg := Config{ID: 1, Handler: func(raft.Message) {}, ListenAddr: "127.0.0.1:0", TLS: &tls.Config{}}
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "TLS") {
		t.Fatalf("New with an empty TLS config: %v", err)
	}
}
