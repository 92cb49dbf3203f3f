package fake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/raftkv/raftkv/harness/cluster"
	"github.com/raftkv/raftkv/harness/nodeapi"
)

// Name is the backend's registry name.
const Name = "fake"

func init() {
	cluster.Register(Name, func(o cluster.Options) (cluster.Cluster, error) {
		if o.Node.Security != nil {
			return nil, fmt.Errorf("%w: fake: secure (its nodes speak plain http and check no token)", cluster.ErrUnsupported)
		}
		return New(o), nil
	})
}

type session struct {
	requestID uint64
	result    map[string]any
}

type fnode struct {
	id      string
	addr    string
	client  *nodeapi.Client
	srv     *http.Server
	state   cluster.State
	resume  chan struct{} // closed on Resume
	member  bool
	rules   []nodeapi.NetRule
	clock   *nodeapi.Clock
	fpName  string
	fpAfter int
	replica map[string]string
	applied uint64
}

// Cluster is the fake cluster. It implements cluster.Cluster.
type Cluster struct {
	opts  cluster.Options
	nodes []*fnode
	byID  map[string]*fnode

	mu       sync.Mutex
	store    map[string]string
	index    uint64
	term     uint64
	leader   string
	sessions map[string]session
	stopped  bool
	wg       sync.WaitGroup
}

var _ cluster.Cluster = (*Cluster)(nil)

// New creates an unstarted fake cluster of o.Nodes nodes.
func New(o cluster.Options) *Cluster {
	if o.Nodes <= 0 {
		o.Nodes = 3
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 2 * time.Second
	}
	c := &Cluster{opts: o, byID: map[string]*fnode{}, store: map[string]string{}, sessions: map[string]session{}}
	for i := range o.Nodes {
		n := &fnode{id: cluster.NodeName(i), state: cluster.Down, member: true, replica: map[string]string{}}
		c.nodes = append(c.nodes, n)
		c.byID[n.id] = n
	}
	return c
}

// Start starts every node's HTTP server.
func (c *Cluster) Start(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.nodes {
		if err := c.serveLocked(n); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cluster) serveLocked(n *fnode) error {
	addr := n.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var l net.Listener
	var err error
	// The old listener's port may take a moment to be released.
	for range 50 {
		if l, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("fake: listen %s: %w", n.id, err)
	}
	if n.addr == "" {
		n.addr = l.Addr().String()
		n.client = nodeapi.New(n.addr, c.opts.RequestTimeout)
	}
	n.srv = &http.Server{Handler: c.handler(n), ReadHeaderTimeout: 5 * time.Second}
	n.state = cluster.Running
	srv := n.srv
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		_ = srv.Serve(l)
	}()
	return nil
}

// downLocked closes n's server (its in-flight requests lose their
// connection, like a killed process).
func (c *Cluster) downLocked(n *fnode) {
	if n.state == cluster.Down {
		return
	}
	if n.state == cluster.Paused {
		close(n.resume)
	}
	n.state = cluster.Down
	srv := n.srv
	n.srv = nil
	go srv.Close()
}

// Stop stops every node.
func (c *Cluster) Stop(context.Context) error {
	c.mu.Lock()
	c.stopped = true
	for _, n := range c.nodes {
		c.downLocked(n)
	}
	c.mu.Unlock()
	c.wg.Wait()
	return nil
}

func (c *Cluster) get(id string) (*fnode, error) {
	n, ok := c.byID[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", cluster.ErrUnknownNode, id)
	}
	return n, nil
}

// Kill closes the node's server.
func (c *Cluster) Kill(_ context.Context, id string) error {
	n, err := c.get(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.downLocked(n)
	return nil
}

// Pause makes the node's handlers block until Resume.
func (c *Cluster) Pause(_ context.Context, id string) error {
	n, err := c.get(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if n.state != cluster.Running {
		return fmt.Errorf("%w: %s", cluster.ErrNotRunning, id)
	}
	n.state = cluster.Paused
	n.resume = make(chan struct{})
	return nil
}

// Resume unblocks a paused node.
func (c *Cluster) Resume(_ context.Context, id string) error {
	n, err := c.get(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if n.state == cluster.Paused {
		n.state = cluster.Running
		close(n.resume)
	}
	return nil
}

// Restart (re)starts the node with its replica intact.
func (c *Cluster) Restart(_ context.Context, id string) error {
	n, err := c.get(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.downLocked(n)
	n.rules, n.clock, n.fpName = nil, nil, ""
	n.client.CloseIdle()
	return c.serveLocked(n)
}

// Wipe forgets a down node's replica.
func (c *Cluster) Wipe(_ context.Context, id string) error {
	n, err := c.get(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if n.state != cluster.Down {
		return fmt.Errorf("%w: %s", cluster.ErrRunning, id)
	}
	n.replica, n.applied = map[string]string{}, 0
	return nil
}

// Join starts a down node and makes it a member again.
func (c *Cluster) Join(_ context.Context, id, _ string) error {
	n, err := c.get(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n.member = true
	n.rules, n.clock, n.fpName = nil, nil, ""
	return c.serveLocked(n)
}

// Nodes lists node ids.
func (c *Cluster) Nodes() []string {
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.id
	}
	return out
}

// Endpoints lists API addresses.
func (c *Cluster) Endpoints() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.addr
	}
	return out
}

// Member returns a node's addresses (the fake has no raft address).
func (c *Cluster) Member(id string) (nodeapi.Member, error) {
	n, err := c.get(id)
	if err != nil {
		return nodeapi.Member{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return nodeapi.Member{ID: id, RaftAddr: n.addr, APIAddr: n.addr}, nil
}

// State returns the node's state.
func (c *Cluster) State(id string) cluster.State {
	n, err := c.get(id)
	if err != nil {
		return cluster.Down
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return n.state
}

// Client returns the node's API client.
func (c *Cluster) Client(id string) *nodeapi.Client {
	n, err := c.get(id)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil || n.client == nil {
		return nodeapi.New("127.0.0.1:1", time.Second)
	}
	return n.client
}

// Logs returns "": the fake writes no log.
func (c *Cluster) Logs(string) string { return "" }

// cutLocked reports whether a and b cannot talk (a drop rule on either side
// naming the other, in any direction).
func (c *Cluster) cutLocked(a, b *fnode) bool {
	if a == b {
		return false
	}
	for _, r := range a.rules {
		if r.Peer == b.id && r.Drop {
			return true
		}
	}
	for _, r := range b.rules {
		if r.Peer == a.id && r.Drop {
			return true
		}
	}
	return false
}

// alive: the node can take part in replication.
func alive(n *fnode) bool { return n.state == cluster.Running && n.member }

// quorumLocked reports whether n reaches a majority of members.
func (c *Cluster) quorumLocked(n *fnode) bool {
	if !alive(n) {
		return false
	}
	members, reach := 0, 0
	for _, m := range c.nodes {
		if !m.member {
			continue
		}
		members++
		if alive(m) && !c.cutLocked(n, m) {
			reach++
		}
	}
	return 2*reach > members
}

// leaderLocked returns the current leader, electing one if the old one
// lost its majority.
func (c *Cluster) leaderLocked() *fnode {
	if l, ok := c.byID[c.leader]; ok && c.quorumLocked(l) {
		return l
	}
	for _, n := range c.nodes {
		if c.quorumLocked(n) {
			c.leader = n.id
			c.term++
			return n
		}
	}
	c.leader = ""
	return nil
}

// replicateLocked brings every node connected to the leader up to date.
func (c *Cluster) replicateLocked(l *fnode) {
	for _, n := range c.nodes {
		if alive(n) && !c.cutLocked(n, l) && n.applied != c.index {
			n.replica = make(map[string]string, len(c.store))
			for k, v := range c.store {
				n.replica[k] = v
			}
			n.applied = c.index
		}
	}
}

func hashState(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%q=%q\n", k, m[k])
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

type apiErr struct {
	status   int
	code     string
	definite bool
}

func writeErr(w http.ResponseWriter, e apiErr, leader string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"error":  map[string]any{"code": e.code, "message": e.code, "definite": e.definite},
		"leader": leader,
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

var (
	errNoLeader = apiErr{http.StatusServiceUnavailable, "no_leader", true}
	errBadReq   = apiErr{http.StatusBadRequest, "bad_request", true}
)

// enter waits while the node is paused; it returns false when the node is
// down or the request gave up.
func (c *Cluster) enter(r *http.Request, n *fnode) bool {
	c.mu.Lock()
	st, resume := n.state, n.resume
	c.mu.Unlock()
	if st == cluster.Paused {
		select {
		case <-resume:
		case <-r.Context().Done():
			return false
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return n.state == cluster.Running
}

// hijackClose drops the connection without an answer, like a crashed process.
func hijackClose(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

func (c *Cluster) handler(n *fnode) http.Handler {
	mux := http.NewServeMux()
	wrap := func(f func(http.ResponseWriter, *http.Request)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if !c.enter(r, n) {
				hijackClose(w)
				return
			}
			f(w, r)
		}
	}
	mux.HandleFunc("POST /command", wrap(func(w http.ResponseWriter, r *http.Request) { c.command(w, r, n) }))
	mux.HandleFunc("GET /healthz", wrap(func(w http.ResponseWriter, r *http.Request) { writeJSON(w, map[string]bool{"ok": true}) }))
	mux.HandleFunc("GET /readyz", wrap(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		l := c.leaderLocked()
		ok := l != nil && !c.cutLocked(n, l) && n.member
		c.mu.Unlock()
		if !ok {
			writeErr(w, errNoLeader, "")
			return
		}
		writeJSON(w, map[string]bool{"ok": true})
	}))
	mux.HandleFunc("GET /status", wrap(func(w http.ResponseWriter, r *http.Request) { c.status(w, n) }))
	mux.HandleFunc("GET /cluster/members", wrap(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		defer c.mu.Unlock()
		var ms []nodeapi.Member
		for _, m := range c.nodes {
			if m.member {
				ms = append(ms, nodeapi.Member{ID: m.id, RaftAddr: m.addr, APIAddr: m.addr, Voter: true})
			}
		}
		writeJSON(w, map[string]any{"members": ms})
	}))
	mux.HandleFunc("POST /cluster/members", wrap(func(w http.ResponseWriter, r *http.Request) {
		var m nodeapi.Member
		if json.NewDecoder(r.Body).Decode(&m) != nil {
			writeErr(w, errBadReq, "")
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		t, ok := c.byID[m.ID]
		if !ok {
			writeErr(w, errBadReq, "")
			return
		}
		t.member = true
		writeJSON(w, map[string]bool{"ok": true})
	}))
	mux.HandleFunc("DELETE /cluster/members/{id}", wrap(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		defer c.mu.Unlock()
		t, ok := c.byID[r.PathValue("id")]
		if !ok {
			writeErr(w, errBadReq, "")
			return
		}
		t.member = false
		writeJSON(w, map[string]bool{"ok": true})
	}))
	mux.HandleFunc("POST /cluster/leader", wrap(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			ID string `json:"id"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		c.mu.Lock()
		defer c.mu.Unlock()
		if t, ok := c.byID[body.ID]; ok && c.quorumLocked(t) {
			if c.leader != t.id {
				c.leader = t.id
				c.term++
			}
			writeJSON(w, map[string]bool{"ok": true})
			return
		}
		writeErr(w, errNoLeader, c.leader)
	}))
	mux.HandleFunc("PUT /fault/network", wrap(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Rules []nodeapi.NetRule `json:"rules"`
		}
		if json.NewDecoder(r.Body).Decode(&body) != nil {
			writeErr(w, errBadReq, "")
			return
		}
		c.mu.Lock()
		n.rules = body.Rules
		c.mu.Unlock()
		writeJSON(w, map[string]bool{"ok": true})
	}))
	mux.HandleFunc("DELETE /fault/network", wrap(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		n.rules = nil
		c.mu.Unlock()
		writeJSON(w, map[string]bool{"ok": true})
	}))
	mux.HandleFunc("PUT /fault/clock", wrap(func(w http.ResponseWriter, r *http.Request) {
		var clk nodeapi.Clock
		if json.NewDecoder(r.Body).Decode(&clk) != nil {
			writeErr(w, errBadReq, "")
			return
		}
		c.mu.Lock()
		n.clock = &clk
		c.mu.Unlock()
		writeJSON(w, map[string]bool{"ok": true})
	}))
	mux.HandleFunc("DELETE /fault/clock", wrap(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		n.clock = nil
		c.mu.Unlock()
		writeJSON(w, map[string]bool{"ok": true})
	}))
	mux.HandleFunc("PUT /fault/failpoint", wrap(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Name  string `json:"name"`
			After int    `json:"after"`
		}
		if json.NewDecoder(r.Body).Decode(&body) != nil || !strings.HasPrefix(body.Name, "crash-") {
			writeErr(w, errBadReq, "")
			return
		}
		c.mu.Lock()
		n.fpName, n.fpAfter = body.Name, body.After
		c.mu.Unlock()
		writeJSON(w, map[string]bool{"ok": true})
	}))
	mux.HandleFunc("DELETE /fault/failpoint", wrap(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		n.fpName = ""
		c.mu.Unlock()
		writeJSON(w, map[string]bool{"ok": true})
	}))
	mux.HandleFunc("GET /fault", wrap(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		defer c.mu.Unlock()
		writeJSON(w, map[string]any{"network": n.rules, "clock": n.clock, "failpoint": n.fpName})
	}))
	return mux
}

func (c *Cluster) status(w http.ResponseWriter, n *fnode) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.leaderLocked()
	if l != nil {
		c.replicateLocked(l)
	}
	role, leader := "follower", ""
	if l != nil && !c.cutLocked(n, l) {
		leader = l.id
		if l == n {
			role = "leader"
		}
	}
	var members []string
	for _, m := range c.nodes {
		if m.member {
			members = append(members, m.id)
		}
	}
	writeJSON(w, map[string]any{
		"id": n.id, "role": role, "term": c.term, "leader": leader,
		"commit": c.index, "applied": n.applied, "last_index": n.applied,
		"members": members, "state_hash": hashState(n.replica), "read_mode": c.opts.Node.ReadMode,
	})
}

// crashLocked simulates the process exiting at a failpoint: the server
// closes and the "backend" restarts it a little later.
func (c *Cluster) crashLocked(n *fnode) {
	n.fpName = ""
	c.downLocked(n)
	go func() {
		time.Sleep(200 * time.Millisecond)
		c.mu.Lock()
		defer c.mu.Unlock()
		if n.state == cluster.Down && !c.stopped {
			_ = c.serveLocked(n)
		}
	}()
}

func (c *Cluster) command(w http.ResponseWriter, r *http.Request, n *fnode) {
	var cmd nodeapi.Command
	if err := json.NewDecoder(r.Body).Decode(&cmd); err != nil || cmd.Key == "" {
		writeErr(w, errBadReq, "")
		return
	}
	mode := cmd.ReadMode
	if mode == "" {
		mode = c.opts.Node.ReadMode
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cmd.Operation == "get" && mode == "stale" {
		// The bug on purpose: a local read of a replica that may lag.
		v, ok := n.replica[cmd.Key]
		writeJSON(w, getResult(n.id, cmd.Key, v, ok, n.applied))
		return
	}
	l := c.leaderLocked()
	if l == nil || c.cutLocked(n, l) || !n.member {
		writeErr(w, errNoLeader, "")
		return
	}
	if cmd.Operation == "get" {
		v, ok := c.store[cmd.Key]
		writeJSON(w, getResult(n.id, cmd.Key, v, ok, c.index))
		return
	}
	if s, ok := c.sessions[cmd.ClientID]; ok && cmd.ClientID != "" && cmd.RequestID <= s.requestID {
		if cmd.RequestID == s.requestID {
			writeJSON(w, s.result)
			return
		}
		writeErr(w, errBadReq, l.id)
		return
	}
	crash := ""
	// The fake's one log is never repaired, so crash-after-persist-repair
	// is never hit.
	if l.fpName != "" && l.fpName != "crash-after-persist-repair" {
		if l.fpAfter <= 0 {
			crash = l.fpName
		} else {
			l.fpAfter--
		}
	}
	if crash == "crash-before-persist" || crash == "crash-before-persist-vote" || crash == "crash-before-apply" {
		c.crashLocked(l)
		hijackClose(w)
		return
	}
	res, ok := c.applyLocked(n, cmd)
	if !ok {
		writeErr(w, apiErr{http.StatusBadRequest, "unknown_operation", true}, l.id)
		return
	}
	c.replicateLocked(l)
	if cmd.ClientID != "" {
		c.sessions[cmd.ClientID] = session{requestID: cmd.RequestID, result: res}
	}
	if crash != "" {
		// Applied, but the answer never leaves: an indeterminate outcome.
		c.crashLocked(l)
		hijackClose(w)
		return
	}
	writeJSON(w, res)
}

func getResult(node, key, v string, found bool, index uint64) map[string]any {
	res := map[string]any{"ok": true, "operation": "get", "key": key, "found": found, "node": node, "index": index}
	if found {
		res["value"] = v
	}
	return res
}

func (c *Cluster) applyLocked(n *fnode, cmd nodeapi.Command) (map[string]any, bool) {
	res := map[string]any{"ok": true, "operation": cmd.Operation, "key": cmd.Key, "node": n.id}
	cur, found := c.store[cmd.Key]
	switch cmd.Operation {
	case "set":
		if cmd.Value == nil {
			return nil, false
		}
		c.store[cmd.Key] = *cmd.Value
		res["value"] = *cmd.Value
	case "delete":
		delete(c.store, cmd.Key)
		res["found"] = found
	case "cas":
		if cmd.Value == nil || cmd.Expected == nil {
			return nil, false
		}
		if found && cur == *cmd.Expected {
			c.store[cmd.Key] = *cmd.Value
			res["succeeded"] = true
			res["value"] = *cmd.Value
			res["found"] = true
		} else {
			res["succeeded"] = false
			res["found"] = found
			if found {
				res["value"] = cur
			}
		}
	default:
		return nil, false
	}
	c.index++
	res["index"] = c.index
	return res, true
}
