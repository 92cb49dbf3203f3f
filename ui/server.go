package ui

import (
	"bytes"
	"embed"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"slices"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"
)

//go:embed static
var staticFiles embed.FS

// assets is the embedded static directory (index.html, app.js, ...).
var assets = func() fs.FS {
	sub, err := fs.Sub(staticFiles, "static")
	if err != nil {
		panic(err)
	}
	return sub
}()

// Errors.
var (
	// ErrUnknownMember: a request names a member the local node does not
	// know.
	ErrUnknownMember = errors.New("ui: unknown member")
)

// Route prefixes used by Register.
const (
	// LiveStaticPrefix serves the live page's assets.
	LiveStaticPrefix = "/ui/static"
	// LiveAPIPrefix serves the live page's JSON endpoints.
	LiveAPIPrefix = "/ui/api"
	// StatusPath is the UI status endpoint that peers fetch: the local
	// NodeStatus with progress, timers and faults.
	StatusPath = LiveAPIPrefix + "/status"
	// WSPath is the WebSocket of the live feed.
	WSPath = "/ws"
)

// maxFaultBody bounds a proxied fault request body.
const maxFaultBody = 64 << 10

// Register adds the live UI to r: GET / (the page), GET /ui/static/* (its
// assets), GET /ws (the feed), GET /ui/api/status (the local NodeStatus, read
// by the other members' UIs), GET /ui/api/snapshot (a fresh Snapshot as
// JSON) and PUT|DELETE /ui/api/members/:id/fault/network|clock (forwarded to
// that member with Source.MemberRequest). The page itself calls the node's
// own API (POST /command, /cluster/leader, /cluster/members) on the same
// origin. Close the returned Live when the server stops.
func Register(r gin.IRouter, src Source, opts ...Options) *Live {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	l := newLive(src, o)
	r.GET("/", func(c *gin.Context) { serveAsset(c, "index.html") })
	r.GET(LiveStaticPrefix+"/*file", func(c *gin.Context) { serveAsset(c, c.Param("file")) })
	r.GET(WSPath, l.serveWS)
	r.GET(StatusPath, func(c *gin.Context) { c.JSON(http.StatusOK, src.Status()) })
	r.GET(LiveAPIPrefix+"/snapshot", func(c *gin.Context) { c.JSON(http.StatusOK, l.Collect(c.Request.Context())) })
	for _, method := range []string{http.MethodPut, http.MethodDelete} {
		r.Handle(method, LiveAPIPrefix+"/members/:id/fault/:kind", l.proxyFault)
	}
	return l
}

// serveAsset writes one embedded file; name may start with "/".
func serveAsset(c *gin.Context, name string) {
	for len(name) > 0 && name[0] == '/' {
		name = name[1:]
	}
	b, err := fs.ReadFile(assets, name)
	if err != nil || name == "" {
		c.Status(http.StatusNotFound)
		return
	}
	c.Header("Cache-Control", "no-cache")
	http.ServeContent(c.Writer, c.Request, name, time.Time{}, bytes.NewReader(b))
}

var upgrader = websocket.Upgrader{
	ReadBufferSize:  1024,
	WriteBufferSize: 16 << 10,
	// The default CheckOrigin (same host) is kept: another site must not
	// read the cluster's state through a visitor's browser.
}

// wsProtocol is the feed's WebSocket subprotocol (kvservice/api's
// WebSocketProtocol; the token subprotocol beside it is checked by the
// node's guard before the request gets here).
const wsProtocol = "raftkv"

// WebSocket timings.
const (
	writeWait  = 5 * time.Second
	pingPeriod = 20 * time.Second
	pongWait   = 2 * pingPeriod
)

func (l *Live) serveWS(c *gin.Context) {
	// A page that sends its API token offers two subprotocols, "raftkv"
	// and the token's; the answer names "raftkv" only (a browser requires
	// the answer to be one it offered).
	var hdr http.Header
	if slices.Contains(websocket.Subprotocols(c.Request), wsProtocol) {
		hdr = http.Header{"Sec-Websocket-Protocol": {wsProtocol}}
	}
	conn, err := upgrader.Upgrade(c.Writer, c.Request, hdr)
	if err != nil {
		// Upgrade has already answered the request.
		return
	}
	cl := &client{conn: conn, send: make(chan []byte, clientBuffer), done: make(chan struct{})}
	if !l.attach(cl) {
		_ = conn.Close()
		return
	}
	go l.readPump(cl)
	l.writePump(cl)
}

// readPump discards what the page sends and notices when it goes away.
func (l *Live) readPump(cl *client) {
	defer l.detach(cl)
	cl.conn.SetReadLimit(4 << 10)
	_ = cl.conn.SetReadDeadline(time.Now().Add(pongWait))
	cl.conn.SetPongHandler(func(string) error {
		return cl.conn.SetReadDeadline(time.Now().Add(pongWait))
	})
	for {
		if _, _, err := cl.conn.ReadMessage(); err != nil {
			return
		}
	}
}

func (l *Live) writePump(cl *client) {
	ping := time.NewTicker(pingPeriod)
	defer func() {
		ping.Stop()
		l.detach(cl)
		_ = cl.conn.Close()
	}()
	for {
		select {
		case msg := <-cl.send:
			_ = cl.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if err := cl.conn.WriteMessage(websocket.TextMessage, msg); err != nil {
				return
			}
		case <-ping.C:
			_ = cl.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if err := cl.conn.WriteMessage(websocket.PingMessage, nil); err != nil {
				return
			}
		case <-cl.done:
			_ = cl.conn.SetWriteDeadline(time.Now().Add(writeWait))
			_ = cl.conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, ""))
			return
		}
	}
}

// proxyFault forwards PUT|DELETE /fault/network|clock to one member.
func (l *Live) proxyFault(c *gin.Context) {
	kind := c.Param("kind")
	if kind != "network" && kind != "clock" {
		c.JSON(http.StatusNotFound, errorBody("not_found", "unknown fault kind "+kind))
		return
	}
	id := c.Param("id")
	var target *Member
	for _, m := range l.src.Members() {
		if m.ID == id {
			target = &m
			break
		}
	}
	if target == nil {
		c.JSON(http.StatusNotFound, errorBody("not_found", ErrUnknownMember.Error()+" "+id))
		return
	}
	var body []byte
	if c.Request.Method == http.MethodPut {
		b, err := io.ReadAll(io.LimitReader(c.Request.Body, maxFaultBody+1))
		if err != nil || len(b) > maxFaultBody {
			c.JSON(http.StatusBadRequest, errorBody("bad_request", "fault body unreadable or too large"))
			return
		}
		body = b
	}
	// The member checks the user's own token (fault injection needs the
	// admin role there); this node's credentials are never lent to it.
	ctx := WithUserAuth(c.Request.Context(), c.GetHeader("Authorization"))
	status, resp, err := l.src.MemberRequest(ctx, *target, c.Request.Method, "/fault/"+kind, body)
	if err != nil {
		c.JSON(http.StatusBadGateway, errorBody("forward_failed", err.Error()))
		return
	}
	l.poke()
	c.Data(status, "application/json", resp)
}

// errorBody has the shape of the API's errors (docs/api.md).
func errorBody(code, msg string) gin.H {
	return gin.H{"error": gin.H{"code": code, "message": msg, "definite": true}}
}
