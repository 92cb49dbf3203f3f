package api

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"
)

// Role is what a token may do. Roles are ordered: write includes read and
// admin includes both.
type Role int

// The roles, weakest first. RoleNone is what a request without a valid
// token has.
const (
	RoleNone Role = iota
	RoleRead
	RoleWrite
	RoleAdmin
)

func (r Role) String() string {
	switch r {
	case RoleRead:
		return "read"
	case RoleWrite:
		return "write"
	case RoleAdmin:
		return "admin"
	}
	return "none"
}

// ParseRole parses read, write or admin.
func ParseRole(s string) (Role, error) {
	switch s {
	case "read":
		return RoleRead, nil
	case "write":
		return RoleWrite, nil
	case "admin":
		return RoleAdmin, nil
	}
	return RoleNone, fmt.Errorf("unknown role %q (want read, write or admin)", s)
}

// Codes of authentication and authorization failures.
const (
	CodeUnauthorized = "unauthorized" // 401: no token, or an unknown one
	CodeForbidden    = "forbidden"    // 403: the token's role is too weak, or a cross-origin write
	CodeBadMediaType = "unsupported_media_type"
)

// MinTokenBytes is the shortest token accepted: shorter ones are guessable.
const MinTokenBytes = 16

// Tokens maps bearer tokens to roles. Tokens are kept as SHA-256 digests
// and compared in constant time, so neither the map's layout nor timing
// reveals them.
type Tokens struct {
	digests [][sha256.Size]byte
	roles   []Role
}

// Add registers a token with a role.
func (t *Tokens) Add(token string, role Role) error {
	if len(token) < MinTokenBytes {
		return fmt.Errorf("token shorter than %d bytes", MinTokenBytes)
	}
	if role < RoleRead || role > RoleAdmin {
		return fmt.Errorf("invalid role %d", role)
	}
	t.digests = append(t.digests, sha256.Sum256([]byte(token)))
	t.roles = append(t.roles, role)
	return nil
}

// Len is the number of tokens.
func (t *Tokens) Len() int { return len(t.roles) }

// Role returns the role of token, RoleNone if it is unknown. Every stored
// digest is compared, so the time does not depend on which one matches.
func (t *Tokens) Role(token string) Role {
	d := sha256.Sum256([]byte(token))
	role := RoleNone
	for i := range t.digests {
		if subtle.ConstantTimeCompare(d[:], t.digests[i][:]) == 1 {
			role = max(role, t.roles[i])
		}
	}
	return role
}

// ParseTokens reads a token file: one "ROLE TOKEN" per line, blank lines
// and lines starting with # ignored.
func ParseTokens(data []byte) (*Tokens, error) {
	t := &Tokens{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("line %d: want \"ROLE TOKEN\"", n)
		}
		role, err := ParseRole(f[0])
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if err := t.Add(f[1], role); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if t.Len() == 0 {
		return nil, fmt.Errorf("no tokens")
	}
	return t, nil
}

const roleKey = "raftkv.role"

// WebSocketProtocol is the subprotocol a node accepts on its WebSocket
// feed. A browser cannot set headers on a WebSocket handshake, so the page
// sends its token as a second subprotocol, WebSocketTokenPrefix followed by
// the token in unpadded base64url; the node answers with WebSocketProtocol
// only, never echoing the token.
const (
	WebSocketProtocol    = "raftkv"
	WebSocketTokenPrefix = "raftkv.bearer."
)

// bearer returns the request's token: an "Authorization: Bearer ..."
// header, or a WebSocket handshake's token subprotocol.
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(v, ",") {
			if enc, ok := strings.CutPrefix(strings.TrimSpace(p), WebSocketTokenPrefix); ok {
				if b, err := base64.RawURLEncoding.DecodeString(enc); err == nil {
					return string(b)
				}
			}
		}
	}
	return ""
}

// Guard wraps h (a handler beside the API, such as the web UI's data
// endpoints) so that it answers only requests whose token has role need,
// with the API's own 401 and 403 answers. Without configured tokens it
// lets everything through, like the API.
func (a *API) Guard(need Role, h http.Handler) http.Handler {
	g := gin.New()
	g.Use(a.authenticate(), a.need(need))
	g.Any("/*path", gin.WrapH(h))
	return g
}

// ReadGuard is Guard(RoleRead, h).
func (a *API) ReadGuard(h http.Handler) http.Handler { return a.Guard(RoleRead, h) }

// authenticate records the request's role. Without configured tokens every
// request is admin (the trusted-network mode of a node started without
// --token-file).
func (a *API) authenticate() gin.HandlerFunc {
	return func(c *gin.Context) {
		if a.tokens == nil {
			c.Set(roleKey, RoleAdmin)
			return
		}
		c.Set(roleKey, a.tokens.Role(bearer(c.Request)))
	}
}

// allowed reports whether the request may go on with role need, answering
// 401 or 403 if not.
func (a *API) allowed(c *gin.Context, need Role) bool {
	v, _ := c.Get(roleKey)
	have, _ := v.(Role)
	switch {
	case have >= need:
		return true
	case have == RoleNone:
		c.Header("WWW-Authenticate", `Bearer realm="raftkv"`)
		e := Errorf(CodeUnauthorized, "this request needs a token with role %s (Authorization: Bearer TOKEN)", need)
		e.Status = http.StatusUnauthorized
		a.fail(c, e)
	default:
		e := Errorf(CodeForbidden, "this request needs role %s; the token has role %s", need, have)
		e.Status = http.StatusForbidden
		a.fail(c, e)
	}
	return false
}

// need is a route middleware requiring role.
func (a *API) need(role Role) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !a.allowed(c, role) {
			c.Abort()
		}
	}
}

// sameOriginWrites rejects what a browser page of another origin can send
// without a CORS preflight (which this API never grants): any state-changing
// request whose Origin is not this host, and any POST that is not
// application/json (text/plain, form and multipart bodies are "simple"
// requests a page can send to any site).
func (a *API) sameOriginWrites() gin.HandlerFunc {
	return func(c *gin.Context) {
		r := c.Request
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return
		}
		if o := r.Header.Get("Origin"); o != "" {
			u, err := url.Parse(o)
			if err != nil || u.Host != r.Host {
				e := Errorf(CodeForbidden, "cross-origin %s from %q refused", r.Method, o)
				e.Status = http.StatusForbidden
				a.fail(c, e)
				return
			}
		}
		if ct := r.Header.Get("Content-Type"); r.Method == http.MethodPost && ct != "" {
			if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
				e := Errorf(CodeBadMediaType, "POST needs Content-Type application/json, not %q", ct)
				e.Status = http.StatusUnsupportedMediaType
				a.fail(c, e)
				return
			}
		}
	}
}
