package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/internal/devcerts"
)

func TestNodeTokenFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Setenv("RAFTKV_NODE_TOKEN", "from-env")

	good := write("good", "s3cret\n")
	sec, err := (&securityFlags{nodeTokenFile: good}).load(false)
	if err != nil || sec.nodeToken != "s3cret" {
		t.Fatalf("--node-token-file: token %q, err %v", sec.nodeToken, err)
	}
	if sec, err := (&securityFlags{}).load(false); err != nil || sec.nodeToken != "from-env" {
		t.Fatalf("no flag: token %q, err %v (want $RAFTKV_NODE_TOKEN)", sec.nodeToken, err)
	}

	for _, c := range []struct {
		flags securityFlags
		want  string
	}{
		{securityFlags{nodeTokenFile: write("empty", "\n")}, "is empty"},
		{securityFlags{nodeTokenFile: write("lines", "read a\nadmin b\n")}, "more than one token"},
		{securityFlags{nodeTokenFile: filepath.Join(dir, "missing")}, "no such file"},
		{securityFlags{nodeTokenFile: good, nodeTokenEnvOrFlag: "x"}, "not both"},
	} {
		_, err := c.flags.load(false)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one containing %q", c.flags, err, c.want)
		}
	}
}

// Issue 12, part 2: with TLS the fault API must be admin-only, so
// --unsafe-enable-fault-injection refuses to start without --token-file
// (without tokens every request would be admin). Without TLS the node is in
// its trusted-network mode, and with tokens the fault API needs admin.
func TestFaultInjectionWithTLSNeedsTokens(t *testing.T) {
	dir := t.TempDir()
	ca, err := devcerts.NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.Node("node0")
	if err != nil {
		t.Fatal(err)
	}
	toks, err := devcerts.NewTokens()
	if err != nil {
		t.Fatal(err)
	}
	if err := devcerts.WriteFiles(dir, ca, true, map[string]devcerts.Pair{"node0": pair}); err != nil {
		t.Fatal(err)
	}
	if err := devcerts.WriteTokens(dir, toks); err != nil {
		t.Fatal(err)
	}
	f := func(name string) string { return filepath.Join(dir, name) }
	peer := securityFlags{peerCert: f("node0.pem"), peerKey: f("node0-key.pem"), peerCA: f("ca.pem")}
	apiTLS := securityFlags{cert: f("node0.pem"), key: f("node0-key.pem"), apiCA: f("ca.pem")}
	for name, fl := range map[string]securityFlags{"peer TLS": peer, "API TLS": apiTLS} {
		if _, err := fl.load(true); err == nil || !strings.Contains(err.Error(), "needs --token-file") {
			t.Errorf("%s with fault injection and no tokens: %v", name, err)
		}
		if _, err := fl.load(false); err != nil {
			t.Errorf("%s without fault injection: %v", name, err)
		}
		fl.tokenFile = f(devcerts.TokenFile)
		if sec, err := fl.load(true); err != nil || sec.tokens == nil {
			t.Errorf("%s with fault injection and tokens: %v", name, err)
		}
	}
	if _, err := (&securityFlags{}).load(true); err != nil {
		t.Errorf("fault injection on a trusted network: %v", err)
	}
}
