package target

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/kvservice/api"
)

func TestSecurityFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets")
	s, err := NewSecurity(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Issue("node0"); err != nil {
		t.Fatal(err)
	}
	if err := s.Issue("node1", "10.1.2.3"); err != nil {
		t.Fatal(err)
	}
	if err := s.Issue("node1", "10.1.2.4"); err != nil {
		t.Fatalf("issuing a node again: %v", err)
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("secrets dir: %v, mode %v", err, st.Mode())
	}
	for f, mode := range map[string]os.FileMode{s.CAFile(): 0o644, s.TokenFile(): 0o600,
		s.KeyFile("node0"): 0o600, s.CertFile("node1"): 0o644, filepath.Join(dir, "ca-key.pem"): 0o600} {
		if st, err := os.Stat(f); err != nil || st.Mode().Perm() != mode {
			t.Errorf("%s: %v, mode %v (want %v)", f, err, st.Mode(), mode)
		}
	}
	// The token file is what a node's --token-file reads, with the roles
	// the harness gives its clients.
	b, _ := os.ReadFile(s.TokenFile())
	toks, err := api.ParseTokens(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{RoleRead, RoleWrite, RoleAdmin} {
		if r := toks.Role(s.Token(role)); r.String() != role {
			t.Errorf("token of %s has role %v", role, r)
		}
	}

	// A node's certificate verifies under its own name at any address it
	// was issued for, and not as another node.
	pair, err := tls.LoadX509KeyPair(s.CertFile("node1"), s.KeyFile("node1"))
	if err != nil {
		t.Fatal(err)
	}
	leaf := pair.Leaf
	verify := func(node string) error {
		// What crypto/tls checks of a server with this configuration.
		cfg := s.ClientTLS(node)
		_, err := leaf.Verify(x509.VerifyOptions{Roots: cfg.RootCAs, DNSName: cfg.ServerName,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		return err
	}
	if err := verify("node1"); err != nil {
		t.Errorf("node1's certificate as node1: %v", err)
	}
	if err := verify("node0"); err == nil {
		t.Error("node1's certificate verified as node0")
	}
	if ips := leaf.IPAddresses; len(ips) != 3 || ips[2].String() != "10.1.2.4" {
		t.Errorf("IP SANs %v: want loopbacks and the address issued last", ips)
	}

	in := s.At("/secrets")
	if in.CertFile("node0") != "/secrets/node0.pem" || in.TokenFile() != "/secrets/tokens.txt" || s.CAFile() != filepath.Join(dir, "ca.pem") {
		t.Errorf("At: %s, %s; original %s", in.CertFile("node0"), in.TokenFile(), s.CAFile())
	}
	if err := in.Issue("node2"); err == nil {
		t.Error("a copy At another dir issued a certificate")
	}
	if c := s.API("node0", "127.0.0.1:1", time.Second, RoleAdmin); !strings.HasPrefix(c.URL(), "https://") {
		t.Errorf("secured client URL %s", c.URL())
	}
	if _, err := NewSecurity(dir); err == nil {
		t.Error("NewSecurity overwrote an existing CA")
	}
}

func TestNilSecurityIsPlain(t *testing.T) {
	var s *Security
	if s.ClientTLS("node0") != nil || s.Token(RoleAdmin) != "" || s.At("/x") != nil || s.URL("h:1") != "http://h:1" {
		t.Error("a nil Security is not plain")
	}
	if c := s.API("node0", "127.0.0.1:1", time.Second, RoleWrite); c.URL() != "http://127.0.0.1:1" {
		t.Errorf("plain client URL %s", c.URL())
	}
}
