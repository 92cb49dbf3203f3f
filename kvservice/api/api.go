package api

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/raftkv/raftkv/kvservice/fsm"
)

// Config configures the API.
type Config struct {
	Backend Backend
	// Faults enables the /fault routes; nil leaves them unregistered.
	Faults FaultBackend
	// Registry receives the request metrics and serves /metrics; nil
	// makes a private one.
	Registry *prometheus.Registry
	// RequestTimeout bounds a proposal or a read (default 5s).
	RequestTimeout time.Duration
	// Logger (default slog.Default()).
	Logger *slog.Logger
	// ForwardClient is used to forward to the leader (default: a
	// keep-alive client).
	ForwardClient *http.Client
	// ForwardScheme is the scheme of the leader's API, "http" (default) or
	// "https" (the forward client then needs the CA, and a client
	// certificate if the API asks for one).
	ForwardScheme string
	// Tokens, if set, is the set of bearer tokens and their roles that the
	// API requires; nil serves every request (a trusted network).
	Tokens *Tokens
	// NodeToken is this node's own admin token. When set, the requests it
	// forwards carry it in ForwarderTokenHeader; with Tokens set, a
	// ForwardedHeader is honoured only beside an admin token there.
	NodeToken string
	// LeaderWait is how long a request waits for this node to learn of a
	// leader before answering no_leader (default 2s, at most
	// RequestTimeout); about two election timeouts covers a fresh
	// election's winner reaching every follower.
	LeaderWait time.Duration
}

// API is the HTTP handler of one node.
type API struct {
	b       Backend
	faults  FaultBackend
	timeout time.Duration
	// leaderWait bounds how long a request waits for this node to learn
	// of a leader before it answers no_leader.
	leaderWait time.Duration
	log        *slog.Logger
	fwd        *http.Client
	reg        *prometheus.Registry
	metrics    *metrics
	engine     *gin.Engine
	scheme     string
	tokens     *Tokens
	// nodeTok is Config.NodeToken, sent on forwarded requests.
	nodeTok string
}

func init() { gin.SetMode(gin.ReleaseMode) }

// New builds the API.
func New(cfg Config) *API {
	a := &API{
		b:       cfg.Backend,
		faults:  cfg.Faults,
		timeout: cfg.RequestTimeout,
		log:     cfg.Logger,
		fwd:     cfg.ForwardClient,
		reg:     cfg.Registry,
		scheme:  cfg.ForwardScheme,
		tokens:  cfg.Tokens,
		nodeTok: cfg.NodeToken,
	}
	if a.scheme == "" {
		a.scheme = "http"
	}
	if a.timeout <= 0 {
		a.timeout = 5 * time.Second
	}
	a.leaderWait = min(cmp.Or(cfg.LeaderWait, 2*time.Second), a.timeout)
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.fwd == nil {
		a.fwd = NewForwardClient()
	}
	if a.reg == nil {
		a.reg = prometheus.NewRegistry()
	}
	a.metrics = newMetrics(a.reg)
	a.engine = a.routes()
	return a
}

// NewForwardClient returns an http.Client that keeps connections to the
// leader alive between requests.
func NewForwardClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 256
	tr.MaxIdleConnsPerHost = 128
	tr.IdleConnTimeout = 90 * time.Second
	return &http.Client{Transport: tr}
}

// Handler returns the http.Handler serving the API.
func (a *API) Handler() http.Handler { return a.engine }

func (a *API) routes() *gin.Engine {
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.Use(a.recovery(), a.observe(), a.sameOriginWrites(), a.authenticate())
	read, write, admin := a.need(RoleRead), a.need(RoleWrite), a.need(RoleAdmin)
	r.NoRoute(func(c *gin.Context) {
		a.fail(c, Errorf(CodeNotFound, "no route %s %s", c.Request.Method, c.Request.URL.Path))
	})
	r.NoMethod(func(c *gin.Context) {
		e := Errorf(CodeBadRequest, "method %s not allowed on %s", c.Request.Method, c.Request.URL.Path)
		e.Status = http.StatusMethodNotAllowed
		a.fail(c, e)
	})
	r.POST("/command", read, a.command) // set, delete and cas also need write: checked once parsed
	r.GET("/kv/*key", read, a.kvGet)
	r.PUT("/kv/*key", write, a.kvPut)
	r.DELETE("/kv/*key", write, a.kvDelete)
	r.GET("/status", read, a.status)
	r.GET("/cluster/members", read, a.members)
	r.POST("/cluster/members", admin, a.addMember)
	r.DELETE("/cluster/members/:id", admin, a.removeMember)
	r.POST("/cluster/leader", admin, a.transfer)
	r.GET("/healthz", func(c *gin.Context) {
		setOp(c, "healthz")
		c.JSON(http.StatusOK, gin.H{"ok": true, "node": a.b.Name()})
	})
	r.GET("/readyz", a.readyz)
	metricsHandler := promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{})
	r.GET("/metrics", read, func(c *gin.Context) {
		setOp(c, "metrics")
		metricsHandler.ServeHTTP(c.Writer, c.Request)
	})
	if a.faults != nil {
		a.faultRoutes(r)
	}
	return r
}

// readBody reads the whole body under the MaxBodyBytes cap.
func readBody(c *gin.Context) ([]byte, *Error) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, MaxBodyBytes)
	b, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, Errorf(CodeBodyTooLarge, "body exceeds %d bytes", MaxBodyBytes)
		}
		return nil, Errorf(CodeBadRequest, "reading body: %v", err)
	}
	return b, nil
}

// bodyPool recycles the buffers the hot handlers (command, PUT /kv) read
// request bodies into.
var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBody keeps the occasional huge body's buffer out of the pool.
const maxPooledBody = 64 << 10

// readPooledBody is readBody into a pooled buffer; the caller gives it back
// with putBody once nothing refers to its bytes (decoded strings are
// copies; forward copies the body it sends).
func readPooledBody(c *gin.Context) (*bytes.Buffer, *Error) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, MaxBodyBytes)
	buf := bodyPool.Get().(*bytes.Buffer)
	buf.Reset()
	if _, err := buf.ReadFrom(c.Request.Body); err != nil {
		putBody(buf)
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, Errorf(CodeBodyTooLarge, "body exceeds %d bytes", MaxBodyBytes)
		}
		return nil, Errorf(CodeBadRequest, "reading body: %v", err)
	}
	return buf, nil
}

func putBody(buf *bytes.Buffer) {
	if buf.Cap() <= maxPooledBody {
		bodyPool.Put(buf)
	}
}

// decodeJSON decodes exactly one JSON value from b into v (json.Unmarshal
// also rejects trailing data).
//
// Text that is not valid Unicode is refused first: encoding/json would
// replace invalid UTF-8 and unpaired surrogate escapes with U+FFFD, so two
// different keys or values would silently become the same one.
func decodeJSON(b []byte, v any) *Error {
	if err := checkJSONText(b); err != nil {
		return Errorf(CodeBadRequest, "%v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return Errorf(CodeBadRequest, "malformed JSON: %v", err)
	}
	return nil
}

// checkJSONText reports an error when b is not valid UTF-8 or has a \u
// escape of an unpaired UTF-16 surrogate.
func checkJSONText(b []byte) error {
	if !utf8.Valid(b) {
		return errors.New("body is not valid UTF-8")
	}
	highPending := false // the previous token was a high surrogate escape
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 >= len(b) {
			if highPending {
				return errors.New("body has an unpaired UTF-16 surrogate escape")
			}
			continue
		}
		if b[i+1] != 'u' || i+6 > len(b) {
			if highPending {
				return errors.New("body has an unpaired UTF-16 surrogate escape")
			}
			i++ // skip the escaped character (it may be a backslash)
			continue
		}
		r, err := strconv.ParseUint(string(b[i+2:i+6]), 16, 16)
		if err != nil {
			return nil // malformed escape: json.Unmarshal reports it
		}
		switch {
		case r >= 0xD800 && r < 0xDC00:
			if highPending {
				return errors.New("body has an unpaired UTF-16 surrogate escape")
			}
			highPending = true
		case r >= 0xDC00 && r < 0xE000:
			if !highPending {
				return errors.New("body has an unpaired UTF-16 surrogate escape")
			}
			highPending = false
		default:
			if highPending {
				return errors.New("body has an unpaired UTF-16 surrogate escape")
			}
		}
		i += 5
	}
	if highPending {
		return errors.New("body has an unpaired UTF-16 surrogate escape")
	}
	return nil
}

// checkKey is the rule for keys from any route: valid UTF-8 (so distinct
// keys stay distinct through JSON answers) and no NUL byte (which tools and
// logs truncate at).
func checkKey(key string) *Error {
	if !utf8.ValidString(key) {
		return Errorf(CodeBadRequest, "key is not valid UTF-8")
	}
	if strings.IndexByte(key, 0) >= 0 {
		return Errorf(CodeBadRequest, "key contains a NUL byte")
	}
	return nil
}

// parsed is a validated command.
type parsed struct {
	cmd  fsm.Command
	mode ReadMode
}

// validate turns a CommandRequest into a command, or the documented error.
func (a *API) validate(req *CommandRequest) (parsed, *Error) {
	var p parsed
	op, ok := fsm.ParseOp(req.Operation)
	if !ok {
		if req.Operation == "" {
			return p, Errorf(CodeBadRequest, "missing operation")
		}
		return p, Errorf(CodeUnknownOperation, "unknown operation %q (want get, set, delete or cas)", req.Operation)
	}
	if req.Key == "" {
		return p, Errorf(CodeBadRequest, "missing or empty key")
	}
	if len(req.Key) > MaxKeyBytes {
		return p, Errorf(CodeKeyTooLarge, "key is %d bytes, the limit is %d", len(req.Key), MaxKeyBytes)
	}
	if e := checkKey(req.Key); e != nil {
		return p, e
	}
	p.cmd = fsm.Command{Op: op, Key: req.Key, ClientID: req.ClientID, RequestID: req.RequestID}
	switch op {
	case fsm.OpSet, fsm.OpCAS:
		if req.Value == nil {
			return p, Errorf(CodeBadRequest, "%s needs a value", op)
		}
		if !utf8.ValidString(*req.Value) {
			return p, Errorf(CodeBadRequest, "value is not valid UTF-8")
		}
		if len(*req.Value) > MaxValueBytes {
			return p, Errorf(CodeValueTooLarge, "value is %d bytes, the limit is %d", len(*req.Value), MaxValueBytes)
		}
		p.cmd.Value = *req.Value
		if op == fsm.OpCAS {
			if req.Expected == nil {
				return p, Errorf(CodeBadRequest, "cas needs an expected value")
			}
			if len(*req.Expected) > MaxValueBytes {
				return p, Errorf(CodeValueTooLarge, "expected value is %d bytes, the limit is %d", len(*req.Expected), MaxValueBytes)
			}
			p.cmd.Expected = *req.Expected
		}
	case fsm.OpGet:
		var m ReadMode
		if req.ReadMode != "" {
			var err error
			if m, err = ParseReadMode(req.ReadMode); err != nil {
				return p, Errorf(CodeBadRequest, "%v", err)
			}
		}
		p.mode = a.b.ResolveReadMode(m)
	}
	return p, nil
}

func (a *API) command(c *gin.Context) {
	setOp(c, "command")
	buf, e := readPooledBody(c)
	if e != nil {
		a.fail(c, e)
		return
	}
	defer putBody(buf)
	body := buf.Bytes()
	var req CommandRequest
	if e := decodeJSON(body, &req); e != nil {
		a.fail(c, e)
		return
	}
	p, e := a.validate(&req)
	if e != nil {
		a.fail(c, e)
		return
	}
	setOp(c, p.cmd.Op.String())
	if p.cmd.Op != fsm.OpGet && !a.allowed(c, RoleWrite) {
		return
	}
	a.execute(c, p, body, false)
}

func (a *API) kvKey(c *gin.Context) (string, *Error) {
	key := strings.TrimPrefix(c.Param("key"), "/")
	if key == "" {
		return "", Errorf(CodeBadRequest, "missing or empty key")
	}
	if len(key) > MaxKeyBytes {
		return "", Errorf(CodeKeyTooLarge, "key is %d bytes, the limit is %d", len(key), MaxKeyBytes)
	}
	return key, nil
}

func (a *API) kvGet(c *gin.Context) {
	setOp(c, "get")
	key, e := a.kvKey(c)
	if e != nil {
		a.fail(c, e)
		return
	}
	req := CommandRequest{Operation: "get", Key: key, ReadMode: c.Query("read_mode")}
	p, e := a.validate(&req)
	if e != nil {
		a.fail(c, e)
		return
	}
	a.execute(c, p, nil, true)
}

func (a *API) kvPut(c *gin.Context) {
	setOp(c, "set")
	key, e := a.kvKey(c)
	if e != nil {
		a.fail(c, e)
		return
	}
	buf, e := readPooledBody(c)
	if e != nil {
		a.fail(c, e)
		return
	}
	defer putBody(buf)
	body := buf.Bytes()
	var req CommandRequest
	if e := decodeJSON(body, &req); e != nil {
		a.fail(c, e)
		return
	}
	req.Operation, req.Key = "set", key
	p, e := a.validate(&req)
	if e != nil {
		a.fail(c, e)
		return
	}
	a.execute(c, p, body, false)
}

func (a *API) kvDelete(c *gin.Context) {
	setOp(c, "delete")
	key, e := a.kvKey(c)
	if e != nil {
		a.fail(c, e)
		return
	}
	req := CommandRequest{Operation: "delete", Key: key}
	p, e := a.validate(&req)
	if e != nil {
		a.fail(c, e)
		return
	}
	a.execute(c, p, nil, false)
}

// execute runs a validated command here or on the leader. rest selects the
// REST form's answer for a missing key (404).
func (a *API) execute(c *gin.Context, p parsed, body []byte, rest bool) {
	isRead := p.cmd.Op == fsm.OpGet
	if !isRead || p.mode != ReadStale {
		if !a.leaderOrForward(c, body, isRead) {
			return
		}
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), a.timeout)
	defer cancel()
	var (
		res fsm.Result
		err error
	)
	start := time.Now()
	if isRead {
		res, err = a.b.Read(ctx, p.cmd.Key, p.mode)
		a.metrics.reads.WithLabelValues(string(p.mode), resultLabel(err)).Inc()
	} else {
		res, err = a.b.Propose(ctx, p.cmd)
		a.metrics.proposals.WithLabelValues(p.cmd.Op.String(), resultLabel(err)).Inc()
		a.metrics.proposeLatency.Observe(time.Since(start).Seconds())
	}
	if err == nil && res.Err != nil {
		err = res.Err
	}
	if err != nil {
		e := a.toError(err)
		if isRead {
			e.Definite = true
		}
		a.fail(c, e)
		return
	}
	if rest && isRead && !res.Found {
		a.fail(c, Errorf(CodeKeyNotFound, "key %q not found", p.cmd.Key))
		return
	}
	c.JSON(http.StatusOK, a.response(p, res))
}

func (a *API) response(p parsed, res fsm.Result) CommandResponse {
	r := CommandResponse{OK: true, Operation: p.cmd.Op.String(), Key: p.cmd.Key, Node: a.b.Name(), Index: res.Index, Duplicate: res.Duplicate}
	t, f := true, false
	v := res.Value
	switch p.cmd.Op {
	case fsm.OpGet:
		r.ReadMode = string(p.mode)
		r.Found = &f
		if res.Found {
			r.Found, r.Value = &t, &v
		}
	case fsm.OpSet:
		r.Value = &v
	case fsm.OpDelete:
		r.Found = &f
		if res.Found {
			r.Found = &t
		}
	case fsm.OpCAS:
		r.Succeeded, r.Found = &f, &f
		if res.Succeeded {
			r.Succeeded = &t
		}
		if res.Found {
			r.Found, r.Value = &t, &v
		}
	}
	return r
}

// toError maps a Backend error to an *Error.
func (a *API) toError(err error) *Error {
	var e *Error
	switch {
	case errors.As(err, &e):
		cp := *e
		return &cp
	case errors.Is(err, context.DeadlineExceeded):
		return Errorf(CodeTimeout, "no result within %v", a.timeout)
	case errors.Is(err, context.Canceled):
		return Errorf(CodeTimeout, "request canceled: %v", err)
	case errors.Is(err, fsm.ErrStaleRequest):
		return Errorf(CodeStaleRequest, "%v", err)
	}
	return Errorf(CodeInternal, "%v", err)
}

// fail writes an error answer, with the known leader as a hint.
func (a *API) fail(c *gin.Context, e *Error) {
	c.Set(codeKey, e.Code)
	body := ErrorBody{Error: e}
	if l := a.b.Leader(); !l.Self {
		body.Leader = l.Name
	} else {
		body.Leader = a.b.Name()
	}
	c.AbortWithStatusJSON(e.Status, body)
}

func (a *API) status(c *gin.Context) {
	setOp(c, "status")
	c.JSON(http.StatusOK, a.b.Status())
}

func (a *API) members(c *gin.Context) {
	setOp(c, "members")
	c.JSON(http.StatusOK, a.b.Members())
}

func (a *API) addMember(c *gin.Context) {
	setOp(c, "member_add")
	body, e := readBody(c)
	if e != nil {
		a.fail(c, e)
		return
	}
	var req AddMemberRequest
	if e := decodeJSON(body, &req); e != nil {
		a.fail(c, e)
		return
	}
	if req.ID == "" || req.RaftAddr == "" || req.APIAddr == "" {
		a.fail(c, Errorf(CodeBadRequest, "id, raft_addr and api_addr are required"))
		return
	}
	if !a.leaderOrForward(c, body, false) {
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*a.timeout)
	defer cancel()
	resp, err := a.b.AddMember(ctx, req)
	if err != nil {
		a.fail(c, a.toError(err))
		return
	}
	c.JSON(http.StatusOK, resp)
}

func (a *API) removeMember(c *gin.Context) {
	setOp(c, "member_remove")
	if !a.leaderOrForward(c, nil, false) {
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*a.timeout)
	defer cancel()
	if err := a.b.RemoveMember(ctx, c.Param("id")); err != nil {
		a.fail(c, a.toError(err))
		return
	}
	c.JSON(http.StatusOK, a.b.Members())
}

func (a *API) transfer(c *gin.Context) {
	setOp(c, "leader_transfer")
	body, e := readBody(c)
	if e != nil {
		a.fail(c, e)
		return
	}
	var req TransferRequest
	if len(bytes.TrimSpace(body)) > 0 {
		if e := decodeJSON(body, &req); e != nil {
			a.fail(c, e)
			return
		}
	}
	if !a.leaderOrForward(c, body, false) {
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*a.timeout)
	defer cancel()
	to, err := a.b.TransferLeader(ctx, req.ID)
	if err != nil {
		a.fail(c, a.toError(err))
		return
	}
	c.JSON(http.StatusOK, TransferResponse{Leader: to})
}

func (a *API) readyz(c *gin.Context) {
	setOp(c, "readyz")
	if ok, reason := a.b.Ready(); !ok {
		a.fail(c, Errorf(CodeNotReady, "%s", reason))
		return
	}
	c.JSON(http.StatusOK, gin.H{"ok": true, "node": a.b.Name()})
}
