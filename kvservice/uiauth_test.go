package kvservice

import (
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/raftkv/raftkv/kvservice/api"
)

// TestUIDataNeedsToken: with tokens on, the web UI's page and assets stay
// public (a browser must load them to ask for a token), but its data —
// the live feed, status, snapshot and fault proxy — needs the read role
// like GET /status does; the fault proxy checks the user's own token at
// the member, never lending the node's admin token.
func TestUIDataNeedsToken(t *testing.T) {
	toks := &api.Tokens{}
	const admin, reader = "admin-0123456789abcdef", "reader-0123456789abcdef"
	_ = toks.Add(admin, api.RoleAdmin)
	_ = toks.Add(reader, api.RoleRead)
	s := startOne(t, func(c *Config) {
		c.Tokens, c.NodeToken = toks, admin
		c.EnableFaults = true
	})
	base := "http://" + s.APIAddr()
	do := func(method, path, token, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, path := range []string{"/", "/ui/static/app.js"} {
		if code, _ := do("GET", path, "", ""); code != 200 {
			t.Errorf("public %s: %d", path, code)
		}
	}
	for _, path := range []string{"/ui/api/status", "/ui/api/snapshot", "/ws"} {
		if code, body := do("GET", path, "", ""); code != 401 || !strings.Contains(body, "unauthorized") {
			t.Errorf("%s without a token: %d %s", path, code, body)
		}
		if code, _ := do("GET", path, "wrong-token-0123456789", ""); code != 401 {
			t.Errorf("%s with an unknown token: %d", path, code)
		}
	}
	if code, body := do("GET", "/ui/api/status", reader, ""); code != 200 || !strings.Contains(body, `"id":"node0"`) {
		t.Errorf("status with the read token: %d %s", code, body)
	}
	rule := `{"rules":[{"peer":"node9","direction":"both","drop":true}]}`
	if code, body := do("PUT", "/ui/api/members/node0/fault/network", reader, rule); code != 403 {
		t.Errorf("fault through the UI with the read token: %d %s", code, body)
	}
	// The admin token passes authorization; the member then judges the
	// rule itself (a one-node cluster has no peer node9).
	if code, body := do("PUT", "/ui/api/members/node0/fault/network", admin, rule); code != 400 || !strings.Contains(body, `unknown peer`) {
		t.Errorf("fault through the UI with the admin token: %d %s", code, body)
	}
	if code, body := do("DELETE", "/ui/api/members/node0/fault/network", admin, ""); code != 200 {
		t.Errorf("clearing the fault: %d %s", code, body)
	}

	// The page's WebSocket: the token as a subprotocol, answered with
	// "raftkv" only.
	dial := func(token string) (*websocket.Conn, *http.Response, error) {
		d := websocket.Dialer{HandshakeTimeout: 30 * time.Second,
			Subprotocols: []string{api.WebSocketProtocol, api.WebSocketTokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(token))}}
		return d.Dial("ws://"+s.APIAddr()+"/ws", http.Header{"Origin": {base}})
	}
	if _, resp, err := dial("wrong-token-0123456789"); err == nil || resp == nil || resp.StatusCode != 401 {
		t.Fatalf("feed with an unknown token: %v %v", resp, err)
	}
	conn, resp, err := dial(reader)
	if err != nil {
		t.Fatalf("feed with the read token: %v %v", resp, err)
	}
	defer conn.Close()
	if p := conn.Subprotocol(); p != api.WebSocketProtocol {
		t.Errorf("answered subprotocol %q", p)
	}
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, msg, err := conn.ReadMessage()
	if err != nil || !strings.Contains(string(msg), `"snapshot"`) {
		t.Fatalf("first feed message: %v %.200s", err, msg)
	}
}
