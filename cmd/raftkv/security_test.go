package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
