package client

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
	"sync"
	"time"

	"github.com/raftkv/raftkv/kvservice/api"
)

// Error is an error answer of the API.
type Error struct {
	Status   int
	Code     string
	Message  string
	Definite bool
	Leader   string
	Endpoint string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s (http %d, definite=%v)", e.Code, e.Message, e.Status, e.Definite)
}

// ErrNoEndpoints: the client was given no endpoint.
var ErrNoEndpoints = errors.New("client: no endpoints")

// Client talks to a raftkv cluster.
type Client struct {
	hc        *http.Client
	token     string
	mu        sync.Mutex
	endpoints []string
	cur       int
}

// New returns a client for the endpoints ("host:port" or URLs). timeout
// bounds each HTTP request (0: none).
func New(endpoints []string, timeout time.Duration) (*Client, error) {
	c := &Client{hc: &http.Client{Timeout: timeout, Transport: api.NewForwardClient().Transport}}
	for _, e := range endpoints {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if !strings.Contains(e, "://") {
			e = "http://" + e
		}
		c.endpoints = append(c.endpoints, strings.TrimRight(e, "/"))
	}
	if len(c.endpoints) == 0 {
		return nil, ErrNoEndpoints
	}
	return c, nil
}

// UseTLS makes the client speak HTTPS with cfg (RootCAs, and a client
// certificate if the API requires one); endpoints given without a scheme
// become https://. Call before the first request.
func (c *Client) UseTLS(cfg *tls.Config) {
	c.hc.Transport.(*http.Transport).TLSClientConfig = cfg.Clone()
	for i, e := range c.endpoints {
		if rest, ok := strings.CutPrefix(e, "http://"); ok {
			c.endpoints[i] = "https://" + rest
		}
	}
}

// UseToken sends token as a bearer token on every request.
func (c *Client) UseToken(token string) { c.token = token }

// Endpoints returns the normalized endpoints.
func (c *Client) Endpoints() []string { return append([]string(nil), c.endpoints...) }

// isDialError reports whether err happened before anything was sent.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// Do sends one request and decodes a 200 answer into out. It fails over to
// the next endpoint on connection errors.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return err
		}
	}
	c.mu.Lock()
	start := c.cur
	c.mu.Unlock()
	var lastErr error
	for i := range c.endpoints {
		idx := (start + i) % len(c.endpoints)
		err := c.DoAt(ctx, c.endpoints[idx], method, path, raw, out)
		if err != nil && isDialError(err) {
			lastErr = err
			continue
		}
		c.mu.Lock()
		c.cur = idx
		c.mu.Unlock()
		return err
	}
	return fmt.Errorf("no endpoint reachable: %w", lastErr)
}

// DoAt sends one request to one endpoint; raw is the JSON body or nil.
func (c *Client) DoAt(ctx context.Context, endpoint, method, path string, raw []byte, out any) error {
	var rd io.Reader
	if raw != nil {
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, endpoint+path, rd)
	if err != nil {
		return err
	}
	if raw != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var eb struct {
			Error  *api.Error `json:"error"`
			Leader string     `json:"leader"`
		}
		if json.Unmarshal(b, &eb) != nil || eb.Error == nil {
			return &Error{Status: resp.StatusCode, Code: fmt.Sprint("http_", resp.StatusCode), Message: strings.TrimSpace(string(b)), Endpoint: endpoint}
		}
		return &Error{Status: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message, Definite: eb.Error.Definite, Leader: eb.Leader, Endpoint: endpoint}
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// Command sends POST /command.
func (c *Client) Command(ctx context.Context, req api.CommandRequest) (*api.CommandResponse, error) {
	var out api.CommandResponse
	if err := c.Do(ctx, http.MethodPost, "/command", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func strp(s string) *string { return &s }

// Put sets key to value.
func (c *Client) Put(ctx context.Context, key, value string) (*api.CommandResponse, error) {
	return c.Command(ctx, api.CommandRequest{Operation: "set", Key: key, Value: strp(value)})
}

// Get reads key; mode "" is the node's default.
func (c *Client) Get(ctx context.Context, key string, mode api.ReadMode) (*api.CommandResponse, error) {
	return c.Command(ctx, api.CommandRequest{Operation: "get", Key: key, ReadMode: string(mode)})
}

// Delete deletes key.
func (c *Client) Delete(ctx context.Context, key string) (*api.CommandResponse, error) {
	return c.Command(ctx, api.CommandRequest{Operation: "delete", Key: key})
}

// CAS replaces key's value with value if it equals expected.
func (c *Client) CAS(ctx context.Context, key, expected, value string) (*api.CommandResponse, error) {
	return c.Command(ctx, api.CommandRequest{Operation: "cas", Key: key, Expected: strp(expected), Value: strp(value)})
}

// Status returns GET /status of one endpoint.
func (c *Client) Status(ctx context.Context, endpoint string) (*api.Status, error) {
	var st api.Status
	if err := c.DoAt(ctx, endpoint, http.MethodGet, "/status", nil, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// Members lists the members.
func (c *Client) Members(ctx context.Context) (*api.MembersResponse, error) {
	var out api.MembersResponse
	if err := c.Do(ctx, http.MethodGet, "/cluster/members", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AddMember adds a member (a learner first, promoted unless learner).
func (c *Client) AddMember(ctx context.Context, req api.AddMemberRequest) (*api.MembersResponse, error) {
	var out api.MembersResponse
	if err := c.Do(ctx, http.MethodPost, "/cluster/members", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RemoveMember removes a member by name.
func (c *Client) RemoveMember(ctx context.Context, name string) (*api.MembersResponse, error) {
	var out api.MembersResponse
	if err := c.Do(ctx, http.MethodDelete, "/cluster/members/"+url.PathEscape(name), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// TransferLeader moves leadership to name ("" = the most up-to-date voter).
func (c *Client) TransferLeader(ctx context.Context, name string) (string, error) {
	var out api.TransferResponse
	if err := c.Do(ctx, http.MethodPost, "/cluster/leader", api.TransferRequest{ID: name}, &out); err != nil {
		return "", err
	}
	return out.Leader, nil
}
