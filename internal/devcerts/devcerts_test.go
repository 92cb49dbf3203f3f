package devcerts

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestNodeCertificateNamesNodeAndVerifies(t *testing.T) {
	ca, err := NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.Node("node1", "db.example", "10.0.0.7")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pair.TLS()
	if err != nil {
		t.Fatal(err)
	}
	leaf := cert.Leaf
	if !slices.Contains(Names(leaf), "node1") || !slices.Contains(leaf.DNSNames, "localhost") || !slices.Contains(leaf.DNSNames, "db.example") {
		t.Fatalf("names %v", Names(leaf))
	}
	if len(leaf.IPAddresses) != 3 {
		t.Fatalf("IP SANs %v", leaf.IPAddresses)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	for _, u := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{u}, DNSName: "localhost"}); err != nil {
			t.Fatalf("usage %v: %v", u, err)
		}
	}
	client, _ := ca.Client("ctl")
	cc, _ := client.TLS()
	if _, err := cc.Leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Fatal("a client certificate verified as a server")
	}
	other, _ := NewCA("other")
	otherRoots := x509.NewCertPool()
	otherRoots.AddCert(other.Cert)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: otherRoots}); err == nil {
		t.Fatal("verified against a foreign CA")
	}
}

func TestWriteFilesAndLoadCA(t *testing.T) {
	dir := t.TempDir()
	ca, _ := NewCA("test CA")
	p, _ := ca.Node("node0")
	if err := WriteFiles(dir, ca, true, map[string]Pair{"node0": p}); err != nil {
		t.Fatal(err)
	}
	if err := WriteFiles(dir, ca, false, map[string]Pair{"node0": p}); err == nil {
		t.Fatal("overwrote node0.pem")
	}
	back, err := LoadCA(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if !back.Cert.Equal(ca.Cert) {
		t.Fatal("loaded another CA")
	}
	if _, err := LoadCA(filepath.Join(dir, "node0.pem"), filepath.Join(dir, "node0-key.pem")); err == nil {
		t.Fatal("a node certificate loaded as a CA")
	}
	if _, err := LoadPool(filepath.Join(dir, "node0-key.pem")); err == nil {
		t.Fatal("a key file loaded as a CA pool")
	}
}

func TestTokensParseAsATokenFile(t *testing.T) {
	tok, err := NewTokens()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewTokens()
	if len(tok.Read) != 48 || tok.Read == tok.Write || tok.Write == tok.Admin || tok.Admin == other.Admin {
		t.Fatalf("tokens %+v, %+v: not fresh 24-byte tokens", tok, other)
	}
	want := "read " + tok.Read + "\nwrite " + tok.Write + "\nadmin " + tok.Admin + "\n"
	if got := string(tok.File()); got != want {
		t.Fatalf("file %q, want %q", got, want)
	}
	if env := string(tok.Env()); !strings.Contains(env, "RAFTKV_ADMIN_TOKEN="+tok.Admin+"\n") {
		t.Fatalf("env %q", env)
	}
	dir := t.TempDir()
	if err := WriteTokens(dir, tok); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{TokenFile, TokenEnv, NodeTokenFile} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, mode %v", name, err, st.Mode())
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, NodeTokenFile)); string(b) != tok.Admin+"\n" {
		t.Fatalf("%s holds %q, want the admin token alone", NodeTokenFile, b)
	}
	if err := WriteTokens(dir, other); err == nil {
		t.Fatal("overwrote the tokens")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, TokenFile)); string(b) != want {
		t.Fatal("a refused write changed tokens.txt")
	}
}
