package devcerts

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Tokens is one random bearer token per role, for raftkv's --token-file.
type Tokens struct {
	Read, Write, Admin string
}

// NewTokens draws a fresh token per role: 24 random bytes, hex-encoded
// (48 characters; raftkv wants at least 16 bytes).
func NewTokens() (Tokens, error) {
	var t Tokens
	for _, tok := range []*string{&t.Read, &t.Write, &t.Admin} {
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return Tokens{}, err
		}
		*tok = hex.EncodeToString(b)
	}
	return t, nil
}

// roles pairs each role name with its token, in the order of the files.
func (t Tokens) roles() [][2]string {
	return [][2]string{{"read", t.Read}, {"write", t.Write}, {"admin", t.Admin}}
}

// File is the tokens in the --token-file format: one "ROLE TOKEN" line per
// role.
func (t Tokens) File() []byte {
	var b []byte
	for _, r := range t.roles() {
		b = fmt.Appendf(b, "%s %s\n", r[0], r[1])
	}
	return b
}

// Env is the tokens as shell variables (RAFTKV_READ_TOKEN=..., and WRITE
// and ADMIN), for `set -a; . tokens.env`.
func (t Tokens) Env() []byte {
	var b []byte
	for _, r := range t.roles() {
		b = fmt.Appendf(b, "RAFTKV_%s_TOKEN=%s\n", strings.ToUpper(r[0]), r[1])
	}
	return b
}

// Token files written by WriteTokens. NodeTokenFile is the admin token
// alone, for raftkv's --node-token-file: a node's own token kept out of its
// command line, where ps shows it to every user of the machine.
const (
	TokenFile     = "tokens.txt"
	TokenEnv      = "tokens.env"
	NodeTokenFile = "node-token.txt"
)

// WriteTokens writes TokenFile, TokenEnv and NodeTokenFile into dir with
// mode 0600. It refuses to overwrite any, and then writes none.
func WriteTokens(dir string, t Tokens) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	files := [][2]string{{TokenFile, string(t.File())}, {TokenEnv, string(t.Env())}, {NodeTokenFile, t.Admin + "\n"}}
	for _, f := range files {
		if p := filepath.Join(dir, f[0]); fileExists(p) {
			return fmt.Errorf("%s already exists", p)
		}
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f[0]), []byte(f[1]), 0o600); err != nil {
			return err
		}
	}
	return nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
