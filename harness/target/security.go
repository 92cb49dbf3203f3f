package target

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/raftkv/raftkv/harness/nodeapi"
	"github.com/raftkv/raftkv/internal/devcerts"
)

// Roles of the tokens a secured cluster accepts (docs/security.md): each
// allows what the ones before it do.
const (
	// RoleRead: gets and /status.
	RoleRead = "read"
	// RoleWrite: also sets, deletes and cas.
	RoleWrite = "write"
	// RoleAdmin: also membership, leadership transfer and the fault API.
	RoleAdmin = "admin"
)

// Security is a secured cluster's credentials, made fresh for one run by
// NewSecurity and Issue (with internal/devcerts): a development CA, a
// certificate per node naming it, and a random bearer token per role, as
// files in Dir; and what the harness needs to reach the nodes (the CA to
// verify them, the tokens). A nil *Security is a plain cluster: its
// methods then give plain clients.
type Security struct {
	// Dir holds the files: CAFile, TokenFile (and tokens.env),
	// NodeTokenFile, and
	// CertFile and KeyFile of each issued node.
	Dir string
	// Tokens are the bearer tokens of the three roles.
	Tokens devcerts.Tokens

	ca    *devcerts.CA
	roots *x509.CertPool
}

// NewSecurity makes a development CA and fresh tokens and writes them into
// dir, which it creates with mode 0700 (keys and tokens are 0600 in it).
// It refuses a dir that already holds them.
func NewSecurity(dir string) (*Security, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("target: secrets: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("target: secrets: %w", err)
	}
	ca, err := devcerts.NewCA("raftkv harness CA")
	if err != nil {
		return nil, fmt.Errorf("target: secrets: %w", err)
	}
	tokens, err := devcerts.NewTokens()
	if err != nil {
		return nil, fmt.Errorf("target: secrets: %w", err)
	}
	if err := devcerts.WriteFiles(dir, ca, true, nil); err != nil {
		return nil, fmt.Errorf("target: secrets: %w", err)
	}
	if err := devcerts.WriteTokens(dir, tokens); err != nil {
		return nil, fmt.Errorf("target: secrets: %w", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	return &Security{Dir: dir, Tokens: tokens, ca: ca, roots: roots}, nil
}

// Issue signs node's certificate (server and client use, naming node,
// localhost, 127.0.0.1 and ::1, and hosts: the node's other addresses or
// names) and writes CertFile(node) and KeyFile(node). Issuing a node
// again replaces its pair (a node whose address changed).
func (s *Security) Issue(node string, hosts ...string) error {
	if s.ca == nil {
		return fmt.Errorf("target: issue %s: no CA (a Security from NewSecurity issues)", node)
	}
	pair, err := s.ca.Node(node, hosts...)
	if err != nil {
		return fmt.Errorf("target: issue %s: %w", node, err)
	}
	for _, f := range []string{s.CertFile(node), s.KeyFile(node)} {
		if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("target: issue %s: %w", node, err)
		}
	}
	if err := devcerts.WriteFiles(s.Dir, s.ca, false, map[string]devcerts.Pair{node: pair}); err != nil {
		return fmt.Errorf("target: issue %s: %w", node, err)
	}
	return nil
}

// At returns a copy of s whose file names are under dir instead of s.Dir:
// the same files as a node sees them elsewhere (a container's mount
// point). It is for command lines; it cannot Issue.
func (s *Security) At(dir string) *Security {
	if s == nil {
		return nil
	}
	c := *s
	c.Dir, c.ca = dir, nil
	return &c
}

// CAFile is the CA certificate every node's certificate chains to.
func (s *Security) CAFile() string { return filepath.Join(s.Dir, "ca.pem") }

// TokenFile is the tokens in raftkv's --token-file format.
func (s *Security) TokenFile() string { return filepath.Join(s.Dir, devcerts.TokenFile) }

// NodeTokenFile is the admin token alone, raftkv's --node-token-file (the
// token a node sends to the others, off its command line).
func (s *Security) NodeTokenFile() string { return filepath.Join(s.Dir, devcerts.NodeTokenFile) }

// CertFile is node's certificate.
func (s *Security) CertFile(node string) string { return filepath.Join(s.Dir, node+".pem") }

// KeyFile is node's private key.
func (s *Security) KeyFile(node string) string { return filepath.Join(s.Dir, node+"-key.pem") }

// Token is role's token ("" for a plain cluster or an unknown role).
func (s *Security) Token(role string) string {
	if s == nil {
		return ""
	}
	switch role {
	case RoleRead:
		return s.Tokens.Read
	case RoleWrite:
		return s.Tokens.Write
	case RoleAdmin:
		return s.Tokens.Admin
	}
	return ""
}

// ClientTLS is the TLS configuration to reach node: the run's CA as the
// only root, and the node's name as the name its certificate must carry
// (whatever address it is reached at). Nil for a plain cluster.
func (s *Security) ClientTLS(node string) *tls.Config {
	if s == nil {
		return nil
	}
	return &tls.Config{RootCAs: s.roots, ServerName: node, MinVersion: tls.VersionTLS12}
}

// URL is the base URL of an API at addr (host:port): https for a secured
// cluster, http for a plain one.
func (s *Security) URL(addr string) string {
	if s == nil {
		return "http://" + addr
	}
	return "https://" + addr
}

// API returns a client of node's API at addr that sends role's token and
// verifies the node's certificate (nodeapi.NewWith); for a plain cluster,
// nodeapi.New. timeout bounds each request.
func (s *Security) API(node, addr string, timeout time.Duration, role string) *nodeapi.Client {
	if s == nil {
		return nodeapi.New(addr, timeout)
	}
	return nodeapi.NewWith(addr, timeout, nodeapi.Options{TLS: s.ClientTLS(node), Token: s.Token(role)})
}
