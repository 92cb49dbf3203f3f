package nodeapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ErrUnexpectedResponse reports a response that is not valid JSON in the
// API's shape (e.g. a proxy error page). It is indeterminate.
var ErrUnexpectedResponse = errors.New("nodeapi: unexpected response")

// Error is an error answered by a node in the API's JSON error shape.
type Error struct {
	Code     string `json:"code"`
	Message  string `json:"message"`
	Definite bool   `json:"definite"`
	// Leader is the leader the node knew of, if any.
	Leader string `json:"-"`
	// Status is the HTTP status code.
	Status int `json:"-"`
}

// Error returns "code: message".
func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// IsDefinite reports whether err certainly means the request had no effect:
// a definite API error, or a failure to connect before anything was sent.
// Nil is not an error and returns false.
func IsDefinite(err error) bool {
	if err == nil {
		return false
	}
	var apiErr *Error
	if errors.As(err, &apiErr) {
		return apiErr.Definite
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		// Nothing reached the server: the connection was never established.
		return true
	}
	return false
}

// Client talks to one node's API. It is safe for concurrent use.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// Options say how a Client reaches a secured node (docs/security.md). The
// zero value is a plain node: http, no token.
type Options struct {
	// TLS, when set, is the client's TLS configuration (the CA to verify
	// the node with, the name to expect); an address without a scheme
	// then gets https://.
	TLS *tls.Config
	// Token, when set, is sent on every request as a bearer token.
	Token string
}

// New returns a client for the plain (http, tokenless) node whose API
// listens at addr ("127.0.0.1:8000" or "http://127.0.0.1:8000"). timeout
// bounds each request.
func New(addr string, timeout time.Duration) *Client { return NewWith(addr, timeout, Options{}) }

// NewWith returns a client for the node whose API listens at addr, reached
// as o says. timeout bounds each request.
func NewWith(addr string, timeout time.Duration, o Options) *Client {
	if !strings.Contains(addr, "://") {
		scheme := "http://"
		if o.TLS != nil {
			scheme = "https://"
		}
		addr = scheme + addr
	}
	tr := &http.Transport{
		// Each harness client gets its own connections, so that one
		// paused node cannot starve the others' connection pool.
		MaxIdleConnsPerHost: 16,
		DialContext:         (&net.Dialer{Timeout: timeout}).DialContext,
		TLSHandshakeTimeout: timeout,
	}
	if o.TLS != nil {
		tr.TLSClientConfig = o.TLS.Clone()
	}
	return &Client{base: strings.TrimRight(addr, "/"), token: o.Token, http: &http.Client{Timeout: timeout, Transport: tr}}
}

// URL returns the base URL of the node's API.
func (c *Client) URL() string { return c.base }

// CloseIdle closes idle connections (after a node restarts they are dead).
func (c *Client) CloseIdle() { c.http.CloseIdleConnections() }

// Command is a request to POST /command.
type Command struct {
	Operation string  `json:"operation"`
	Key       string  `json:"key"`
	Value     *string `json:"value,omitempty"`
	Expected  *string `json:"expected,omitempty"`
	ClientID  string  `json:"client_id,omitempty"`
	RequestID uint64  `json:"request_id,omitempty"`
	ReadMode  string  `json:"read_mode,omitempty"`
}

// Result is a successful answer to a Command.
type Result struct {
	OK        bool    `json:"ok"`
	Operation string  `json:"operation"`
	Key       string  `json:"key"`
	Value     *string `json:"value,omitempty"`
	Found     *bool   `json:"found,omitempty"`
	Succeeded *bool   `json:"succeeded,omitempty"`
	Node      string  `json:"node,omitempty"`
	Index     uint64  `json:"index,omitempty"`
}

// Do sends a command and returns its result, or an error classified by
// IsDefinite.
func (c *Client) Do(ctx context.Context, cmd Command) (Result, error) {
	var res Result
	err := c.call(ctx, http.MethodPost, "/command", cmd, &res)
	return res, err
}

// Status is the answer of GET /status.
type Status struct {
	ID            string   `json:"id"`
	RaftID        uint64   `json:"raft_id"`
	Role          string   `json:"role"`
	Term          uint64   `json:"term"`
	Vote          uint64   `json:"vote"`
	Leader        string   `json:"leader"`
	Commit        uint64   `json:"commit"`
	Applied       uint64   `json:"applied"`
	LastIndex     uint64   `json:"last_index"`
	SnapshotIndex uint64   `json:"snapshot_index"`
	Members       []string `json:"-"`
	StateHash     string   `json:"state_hash"`
	ReadMode      string   `json:"read_mode"`
}

// Status fetches GET /status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var raw struct {
		Status
		Members json.RawMessage `json:"members"`
	}
	if err := c.call(ctx, http.MethodGet, "/status", nil, &raw); err != nil {
		return Status{}, err
	}
	st := raw.Status
	st.Members = parseMembers(raw.Members)
	return st, nil
}

// parseMembers accepts members as a list of ids or a list of member objects,
// since the contract leaves the element shape open.
func parseMembers(raw json.RawMessage) []string {
	if len(raw) == 0 {
		return nil
	}
	var ids []string
	if json.Unmarshal(raw, &ids) == nil {
		return ids
	}
	var ms []Member
	if json.Unmarshal(raw, &ms) != nil {
		return nil
	}
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return out
}

// Member is one cluster member.
type Member struct {
	ID       string `json:"id"`
	RaftID   uint64 `json:"raft_id,omitempty"`
	RaftAddr string `json:"raft_addr"`
	APIAddr  string `json:"api_addr"`
	Voter    bool   `json:"voter,omitempty"`
	Learner  bool   `json:"learner,omitempty"`
}

// Members fetches GET /cluster/members.
func (c *Client) Members(ctx context.Context) ([]Member, error) {
	var res struct {
		Members []Member `json:"members"`
	}
	err := c.call(ctx, http.MethodGet, "/cluster/members", nil, &res)
	return res.Members, err
}

// AddMember posts POST /cluster/members.
func (c *Client) AddMember(ctx context.Context, m Member) error {
	return c.call(ctx, http.MethodPost, "/cluster/members", m, nil)
}

// RemoveMember sends DELETE /cluster/members/{id}.
func (c *Client) RemoveMember(ctx context.Context, id string) error {
	return c.call(ctx, http.MethodDelete, "/cluster/members/"+url.PathEscape(id), nil, nil)
}

// TransferLeader sends POST /cluster/leader; an empty id lets the node pick.
func (c *Client) TransferLeader(ctx context.Context, id string) error {
	return c.call(ctx, http.MethodPost, "/cluster/leader", map[string]string{"id": id}, nil)
}

// Healthy reports whether GET /healthz answers 200.
func (c *Client) Healthy(ctx context.Context) error {
	return c.call(ctx, http.MethodGet, "/healthz", nil, nil)
}

// Ready reports whether GET /readyz answers 200.
func (c *Client) Ready(ctx context.Context) error {
	return c.call(ctx, http.MethodGet, "/readyz", nil, nil)
}

// NetRule is one rule of PUT /fault/network.
type NetRule struct {
	Peer      string  `json:"peer"`
	Direction string  `json:"direction"` // "in", "out" or "both"
	Drop      bool    `json:"drop,omitempty"`
	Loss      float64 `json:"loss,omitempty"`
	DelayMS   int64   `json:"delay_ms,omitempty"`
	JitterMS  int64   `json:"jitter_ms,omitempty"`
}

// SetNetwork replaces the node's transport fault rules.
func (c *Client) SetNetwork(ctx context.Context, rules []NetRule) error {
	if rules == nil {
		rules = []NetRule{}
	}
	return c.call(ctx, http.MethodPut, "/fault/network", map[string]any{"rules": rules}, nil)
}

// ClearNetwork removes every transport fault rule.
func (c *Client) ClearNetwork(ctx context.Context) error {
	return c.call(ctx, http.MethodDelete, "/fault/network", nil, nil)
}

// Clock is the body of PUT /fault/clock.
type Clock struct {
	OffsetMS       int64   `json:"offset_ms"`
	Rate           float64 `json:"rate"`
	StrobeDeltaMS  int64   `json:"strobe_delta_ms"`
	StrobePeriodMS int64   `json:"strobe_period_ms"`
}

// SetClock sets the node's clock fault.
func (c *Client) SetClock(ctx context.Context, clk Clock) error {
	if clk.Rate == 0 {
		clk.Rate = 1
	}
	return c.call(ctx, http.MethodPut, "/fault/clock", clk, nil)
}

// ClearClock restores the node's true clock.
func (c *Client) ClearClock(ctx context.Context) error {
	return c.call(ctx, http.MethodDelete, "/fault/clock", nil, nil)
}

// ArmFailpoint arms the named crash failpoint; the process exits after
// `after` more hits.
func (c *Client) ArmFailpoint(ctx context.Context, name string, after int) error {
	return c.call(ctx, http.MethodPut, "/fault/failpoint", map[string]any{"name": name, "after": after}, nil)
}

// DisarmFailpoint disarms the failpoint.
func (c *Client) DisarmFailpoint(ctx context.Context) error {
	return c.call(ctx, http.MethodDelete, "/fault/failpoint", nil, nil)
}

// Faults returns GET /fault as raw JSON.
func (c *Client) Faults(ctx context.Context) (json.RawMessage, error) {
	var raw json.RawMessage
	err := c.call(ctx, http.MethodGet, "/fault", nil, &raw)
	return raw, err
}

// call sends one request and decodes a 2xx body into out (when non-nil) or
// an error body into *Error.
func (c *Client) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("nodeapi: encode %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return fmt.Errorf("nodeapi: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("nodeapi: read %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 == 2 {
		if out == nil || len(bytes.TrimSpace(data)) == 0 {
			return nil
		}
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%w: %s %s: %v", ErrUnexpectedResponse, method, path, err)
		}
		return nil
	}
	var eb struct {
		Error  *Error `json:"error"`
		Leader string `json:"leader"`
	}
	if json.Unmarshal(data, &eb) != nil || eb.Error == nil {
		// Not the API's error shape (e.g. a 404 from a node without fault
		// injection, or a proxy). A 404 certainly had no effect.
		return &Error{Code: fmt.Sprintf("http_%d", resp.StatusCode), Message: strings.TrimSpace(string(truncate(data, 200))),
			Definite: resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed, Status: resp.StatusCode}
	}
	eb.Error.Leader = eb.Leader
	eb.Error.Status = resp.StatusCode
	return eb.Error
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
