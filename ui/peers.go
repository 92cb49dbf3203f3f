package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// ErrNoAddress: a member has no API address to reach it at.
var ErrNoAddress = errors.New("ui: member has no api address")

// HTTPPeers implements Source.MemberStatus and Source.MemberRequest over
// HTTP, for a Source to embed. MemberStatus reads the member's UI status
// endpoint (StatusPath) and falls back to its GET /status when the member
// does not serve the UI.
type HTTPPeers struct {
	// Client (default: a client with no timeout of its own; the caller's
	// context bounds each request).
	Client *http.Client
	// Scheme of the members' APIs: "http" (default) or "https" (Client
	// then trusts their CA).
	Scheme string
	// Authorize, if set, adds this node's own credentials to a status
	// fetch (a node started with --node-token). Requests made for a user
	// (MemberRequest) carry the user's token instead (WithUserAuth).
	Authorize func(*http.Request)
}

type userAuthKey struct{}

// WithUserAuth returns ctx carrying the Authorization header of the user
// a MemberRequest is made for: the member then checks the user's role,
// never this node's.
func WithUserAuth(ctx context.Context, authorization string) context.Context {
	return context.WithValue(ctx, userAuthKey{}, authorization)
}

// maxPeerBody bounds what is read from a member's answer.
const maxPeerBody = 1 << 20

func (p HTTPPeers) client() *http.Client {
	if p.Client != nil {
		return p.Client
	}
	return http.DefaultClient
}

func (p HTTPPeers) baseURL(m Member) (string, error) {
	if m.APIAddr == "" {
		return "", fmt.Errorf("%w: %s", ErrNoAddress, m.ID)
	}
	if strings.HasPrefix(m.APIAddr, "http://") || strings.HasPrefix(m.APIAddr, "https://") {
		return strings.TrimRight(m.APIAddr, "/"), nil
	}
	scheme := p.Scheme
	if scheme == "" {
		scheme = "http"
	}
	return scheme + "://" + m.APIAddr, nil
}

// MemberStatus fetches m's status.
func (p HTTPPeers) MemberStatus(ctx context.Context, m Member) (NodeStatus, error) {
	base, err := p.baseURL(m)
	if err != nil {
		return NodeStatus{}, err
	}
	st, code, err := p.getStatus(ctx, base+StatusPath)
	if err == nil && code == http.StatusOK {
		return st, nil
	}
	if err != nil && ctx.Err() != nil {
		return NodeStatus{}, err
	}
	// No UI on that member (or an older one): the API's /status has the
	// same field names.
	st, code, err = p.getStatus(ctx, base+"/status")
	if err != nil {
		return NodeStatus{}, err
	}
	if code != http.StatusOK {
		if code == http.StatusUnauthorized || code == http.StatusForbidden {
			return NodeStatus{}, fmt.Errorf("it refused this node's credentials (HTTP %d): start every node with a --node-token the others accept", code)
		}
		return NodeStatus{}, fmt.Errorf("its status answered HTTP %d", code)
	}
	return st, nil
}

func (p HTTPPeers) getStatus(ctx context.Context, url string) (NodeStatus, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return NodeStatus{}, 0, err
	}
	if p.Authorize != nil {
		p.Authorize(req)
	}
	resp, err := p.client().Do(req)
	if err != nil {
		return NodeStatus{}, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxPeerBody))
	if err != nil {
		return NodeStatus{}, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return NodeStatus{}, resp.StatusCode, nil
	}
	var st NodeStatus
	if err := json.Unmarshal(b, &st); err != nil {
		return NodeStatus{}, resp.StatusCode, fmt.Errorf("ui: decode status from %s: %w", url, err)
	}
	return st, resp.StatusCode, nil
}

// MemberRequest sends one request to m's API.
func (p HTTPPeers) MemberRequest(ctx context.Context, m Member, method, path string, body []byte) (int, []byte, error) {
	base, err := p.baseURL(m)
	if err != nil {
		return 0, nil, err
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth, _ := ctx.Value(userAuthKey{}).(string); auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := p.client().Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxPeerBody))
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, b, nil
}
