package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/raftkv/raftkv/internal/devcerts"
	"github.com/raftkv/raftkv/kvservice/api"
)

// securityFlags are the TLS and token flags (docs/security.md).
type securityFlags struct {
	peerCert, peerKey, peerCA     string
	cert, key, clientCA, apiCA    string
	tokenFile, nodeTokenEnvOrFlag string
	nodeTokenFile                 string
	maxAPIConns                   int
}

func (s *securityFlags) register(f *pflag.FlagSet) {
	f.StringVar(&s.peerCert, "peer-cert", "", "PEM certificate for the raft port (mutual TLS; must name this node: CN or DNS SAN = --id)")
	f.StringVar(&s.peerKey, "peer-key", "", "PEM key of --peer-cert")
	f.StringVar(&s.peerCA, "peer-ca", "", "PEM CA certificates peers' certificates must chain to")
	f.StringVar(&s.cert, "cert", "", "PEM certificate to serve the HTTP API over TLS")
	f.StringVar(&s.key, "key", "", "PEM key of --cert")
	f.StringVar(&s.clientCA, "client-ca", "", "require API clients to present a certificate from these PEM CAs")
	f.StringVar(&s.apiCA, "api-ca", "", "PEM CAs to verify other members' API certificates when forwarding or joining (default --peer-ca)")
	f.StringVar(&s.tokenFile, "token-file", "", `require bearer tokens on the API: a file of "ROLE TOKEN" lines, ROLE read, write or admin`)
	f.StringVar(&s.nodeTokenEnvOrFlag, "node-token", "", "admin token this node sends to other members (join, address updates); default $RAFTKV_NODE_TOKEN; visible to ps, prefer --node-token-file")
	f.StringVar(&s.nodeTokenFile, "node-token-file", "", "file holding the admin token this node sends to other members (its only content), instead of --node-token")
	f.IntVar(&s.maxAPIConns, "max-api-conns", 1024, "cap on open API connections")
}

type security struct {
	peerTLS, apiTLS, apiClientTLS *tls.Config
	tokens                        *api.Tokens
	nodeToken                     string
}

func loadPair(certFile, keyFile, what string) (tls.Certificate, error) {
	if certFile == "" || keyFile == "" {
		return tls.Certificate{}, fmt.Errorf("%s: give both the certificate and the key", what)
	}
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s: %w", what, err)
	}
	return c, nil
}

// load reads the files the flags name; any error refuses to start.
func (s *securityFlags) load(faults bool) (security, error) {
	var out security
	if s.peerCert != "" || s.peerKey != "" || s.peerCA != "" {
		pair, err := loadPair(s.peerCert, s.peerKey, "--peer-cert/--peer-key")
		if err != nil {
			return out, err
		}
		if s.peerCA == "" {
			return out, errors.New("--peer-cert needs --peer-ca")
		}
		pool, err := devcerts.LoadPool(s.peerCA)
		if err != nil {
			return out, fmt.Errorf("--peer-ca: %w", err)
		}
		out.peerTLS = &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool}
	}
	if s.cert != "" || s.key != "" || s.clientCA != "" {
		pair, err := loadPair(s.cert, s.key, "--cert/--key")
		if err != nil {
			return out, err
		}
		out.apiTLS = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
		if s.clientCA != "" {
			pool, err := devcerts.LoadPool(s.clientCA)
			if err != nil {
				return out, fmt.Errorf("--client-ca: %w", err)
			}
			out.apiTLS.ClientCAs, out.apiTLS.ClientAuth = pool, tls.RequireAndVerifyClientCert
		}
		caFile := s.apiCA
		if caFile == "" {
			caFile = s.peerCA
		}
		if caFile == "" {
			return out, errors.New("--cert needs --api-ca (or --peer-ca) to reach other members' APIs")
		}
		pool, err := devcerts.LoadPool(caFile)
		if err != nil {
			return out, fmt.Errorf("--api-ca: %w", err)
		}
		// The node's own certificate doubles as its client certificate
		// when other members require one.
		out.apiClientTLS = &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	}
	if s.tokenFile != "" {
		b, err := os.ReadFile(s.tokenFile)
		if err != nil {
			return out, fmt.Errorf("--token-file: %w", err)
		}
		if out.tokens, err = api.ParseTokens(b); err != nil {
			return out, fmt.Errorf("--token-file %s: %w", s.tokenFile, err)
		}
	}
	if s.nodeTokenFile != "" && s.nodeTokenEnvOrFlag != "" {
		return out, errors.New("give --node-token or --node-token-file, not both")
	}
	out.nodeToken = strings.TrimSpace(s.nodeTokenEnvOrFlag)
	if s.nodeTokenFile != "" {
		tok, err := readNodeToken(s.nodeTokenFile)
		if err != nil {
			return out, fmt.Errorf("--node-token-file: %w", err)
		}
		out.nodeToken = tok
	}
	if out.nodeToken == "" {
		out.nodeToken = strings.TrimSpace(os.Getenv("RAFTKV_NODE_TOKEN"))
	}
	if faults && out.tokens == nil && (out.apiTLS != nil || out.peerTLS != nil) {
		return out, errors.New("--unsafe-enable-fault-injection with TLS needs --token-file: the fault API is admin-only")
	}
	return out, nil
}

// readNodeToken reads a --node-token-file: one token and nothing else, so
// that a token file of "ROLE TOKEN" lines given by mistake is refused
// instead of sending its first line as a token.
func readNodeToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(b))
	switch {
	case tok == "":
		return "", fmt.Errorf("%s is empty", path)
	case strings.ContainsAny(tok, " \t\r\n"):
		return "", fmt.Errorf("%s holds more than one token (it must hold only the token, not \"ROLE TOKEN\" lines)", path)
	}
	return tok, nil
}
