package raftkv

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/harness/target"
)

// flag returns the value after name in args ("" if absent).
func flag(args []string, name string) string {
	if i := slices.Index(args, name); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

func TestArgsSecured(t *testing.T) {
	nodes := []target.Node{
		{ID: "node0", PeerAddr: "127.0.0.1:7000", ClientAddr: "127.0.0.1:8000", DataDir: "/d/node0"},
		{ID: "node1", PeerAddr: "127.0.0.1:7001", ClientAddr: "127.0.0.1:8001", DataDir: "/d/node1"},
	}
	plain := Target{}.Args(nodes[1], nodes, target.Config{Extra: []string{"--x"}})
	for _, f := range []string{"--peer-cert", "--cert", "--token-file", "--node-token", "--node-token-file"} {
		if slices.Contains(plain, f) {
			t.Errorf("plain node got %s: %v", f, plain)
		}
	}

	sec, err := target.NewSecurity(filepath.Join(t.TempDir(), "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	a := Target{}.Args(nodes[1], nodes, target.Config{Security: sec.At("/secrets"), Extra: []string{"--x"}})
	want := map[string]string{
		"--peer-cert": "/secrets/node1.pem", "--peer-key": "/secrets/node1-key.pem", "--peer-ca": "/secrets/ca.pem",
		"--cert": "/secrets/node1.pem", "--key": "/secrets/node1-key.pem",
		"--token-file": "/secrets/tokens.txt", "--node-token-file": "/secrets/node-token.txt",
	}
	if slices.Contains(a, sec.Tokens.Admin) {
		t.Errorf("the admin token is on the command line, where ps shows it: %s", strings.Join(a, " "))
	}
	for f, v := range want {
		if got := flag(a, f); got != v {
			t.Errorf("%s %q, want %q (args %s)", f, got, v, strings.Join(a, " "))
		}
	}
	if !slices.Contains(a, "--unsafe-enable-fault-injection") || a[len(a)-1] != "--x" {
		t.Errorf("secured args lost the fault API or the extra flags: %v", a)
	}
	if !target.Has(Target{}, target.CapSecure) {
		t.Error("raftkv does not offer CapSecure")
	}
}
