package fakesource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/raftkv/raftkv/ui"
)

// Errors of the fake cluster.
var (
	// ErrUnknownMember: no member has that id.
	ErrUnknownMember = errors.New("fakesource: unknown member")
	// ErrUnreachable: the member was made unreachable with SetReachable.
	ErrUnreachable = errors.New("fakesource: member unreachable")
)

// member is one fake node's state.
type member struct {
	info      ui.Member
	role      string
	term      uint64
	vote      uint64
	applied   uint64
	reachable bool
	network   []ui.NetworkRule
	clock     *ui.ClockFault
	// elapsed and timeout are the election timer the member reports.
	elapsed, timeout int64
}

// Cluster is an in-memory cluster seen from its first member ("node0"),
// which serves the page. It implements ui.Source, and Register serves the
// subset of the node API the page calls (POST /command, POST
// /cluster/leader, GET|POST /cluster/members, DELETE /cluster/members/:id,
// GET /status) from the same state. It is safe for concurrent use.
type Cluster struct {
	mu      sync.Mutex
	self    string
	members []*member
	leader  string
	index   uint64 // last log index (= commit: the fake commits at once)
	kv      map[string]string
	faults  bool
	subs    map[int]func(ui.Event)
	nextSub int
	// Transfers counts completed leadership transfers.
	transfers int
}

// New returns a healthy cluster of n members node0..node(n-1) with node0 the
// leader in term 1. faults says whether the /fault routes are "enabled".
func New(n int, faults bool) *Cluster {
	c := &Cluster{kv: make(map[string]string), faults: faults, subs: make(map[int]func(ui.Event)), self: "node0"}
	for i := range n {
		id := fmt.Sprintf("node%d", i)
		c.members = append(c.members, &member{
			info:      ui.Member{ID: id, RaftID: uint64(i + 1), RaftAddr: fmt.Sprintf("127.0.0.1:%d", 7000+i), APIAddr: fmt.Sprintf("127.0.0.1:%d", 8000+i), Voter: true},
			role:      "follower",
			term:      1,
			vote:      1,
			reachable: true,
		})
	}
	c.members[0].role = "leader"
	c.leader = "node0"
	c.index = 1 // the bootstrap entry
	for _, m := range c.members {
		m.applied = c.index
	}
	return c
}

func (c *Cluster) find(id string) *member {
	for _, m := range c.members {
		if m.info.ID == id {
			return m
		}
	}
	return nil
}

func (c *Cluster) emitLocked(ev ui.Event) {
	ev.Time = time.Now()
	ev.Node = c.self
	self := c.find(c.self)
	if self != nil {
		ev.Term = self.term
		ev.Role = self.role
	}
	ev.Leader = c.leader
	subs := make([]func(ui.Event), 0, len(c.subs))
	for _, fn := range c.subs {
		subs = append(subs, fn)
	}
	// Subscribers run under c.mu, in order; ui.Live's handler does not call
	// back into the Source, so this cannot deadlock.
	for _, fn := range subs {
		fn(ev)
	}
}

// Leader returns the current leader's id.
func (c *Cluster) Leader() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leader
}

// Transfers returns how many leadership transfers completed.
func (c *Cluster) Transfers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.transfers
}

// Value returns a key's value in the fake store.
func (c *Cluster) Value(key string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.kv[key]
	return v, ok
}

// SetReachable makes a member reachable or not: MemberStatus and
// MemberRequest fail for an unreachable member, and it stops applying.
func (c *Cluster) SetReachable(id string, ok bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.find(id)
	if m == nil {
		return fmt.Errorf("%w: %s", ErrUnknownMember, id)
	}
	m.reachable = ok
	if ok {
		m.applied = c.index
	}
	return nil
}

// SetElectionTimer makes a member report an election timer (in ms).
func (c *Cluster) SetElectionTimer(id string, elapsedMS, timeoutMS int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.find(id)
	if m == nil {
		return fmt.Errorf("%w: %s", ErrUnknownMember, id)
	}
	m.elapsed, m.timeout = elapsedMS, timeoutMS
	return nil
}

// SetRole overrides what a member reports as its role and term, to show
// states the fake does not reach by itself (a deposed leader cut off in a
// minority that still believes it leads, a candidate).
func (c *Cluster) SetRole(id, role string, term uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.find(id)
	if m == nil {
		return fmt.Errorf("%w: %s", ErrUnknownMember, id)
	}
	m.role, m.term = role, term
	return nil
}

// TransferLeadership makes to the leader in a new term, as a completed
// raft leadership transfer would; "" picks the next member after the
// current leader. It emits the local node's term, role and leader events.
func (c *Cluster) TransferLeadership(to string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if to == "" {
		i := slices.IndexFunc(c.members, func(m *member) bool { return m.info.ID == c.leader })
		for j := 1; j <= len(c.members); j++ {
			cand := c.members[(i+j)%len(c.members)]
			if cand.reachable && cand.info.ID != c.leader {
				to = cand.info.ID
				break
			}
		}
	}
	target := c.find(to)
	if target == nil {
		return "", fmt.Errorf("%w: %s", ErrUnknownMember, to)
	}
	if !target.reachable {
		return "", fmt.Errorf("%w: %s", ErrUnreachable, to)
	}
	if to == c.leader {
		return to, nil
	}
	self := c.find(c.self)
	oldRole := self.role
	term := target.term + 1
	for _, m := range c.members {
		if !m.reachable {
			continue
		}
		m.term, m.vote, m.role = term, target.info.RaftID, "follower"
	}
	target.role = "leader"
	c.leader = to
	c.transfers++
	c.index++ // the new leader's empty entry
	for _, m := range c.members {
		if m.reachable {
			m.applied = c.index
		}
	}
	c.emitLocked(ui.Event{Type: ui.EventTermChanged})
	if self.role != oldRole {
		c.emitLocked(ui.Event{Type: ui.EventRoleChanged})
	}
	c.emitLocked(ui.Event{Type: ui.EventLeaderChanged})
	return to, nil
}

func (c *Cluster) statusLocked(m *member) ui.NodeStatus {
	st := ui.NodeStatus{
		ID: m.info.ID, RaftID: m.info.RaftID, Role: m.role, Term: m.term, Vote: m.vote,
		Leader: c.leader, Commit: m.applied, Applied: m.applied, LastIndex: m.applied,
		FaultInjection: c.faults, Network: slices.Clone(m.network), ReadMode: "linearizable",
		Keys: len(c.kv), ElectionElapsedMS: m.elapsed, ElectionTimeoutMS: m.timeout,
	}
	if l := c.find(c.leader); l != nil {
		st.LeaderRaftID = l.info.RaftID
	}
	if m.clock != nil {
		ck := *m.clock
		st.Clock = &ck
	}
	for _, o := range c.members {
		st.Members = append(st.Members, o.info)
	}
	if m.role == "leader" {
		st.Progress = make(map[string]ui.Progress)
		for _, o := range c.members {
			p := ui.Progress{Match: o.applied, Next: o.applied + 1, State: "replicate", RecentActive: o.reachable}
			if !o.reachable {
				p.State = "probe"
			}
			st.Progress[o.info.ID] = p
		}
	}
	return st
}

// Status implements ui.Source.
func (c *Cluster) Status() ui.NodeStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.statusLocked(c.find(c.self))
}

// Members implements ui.Source.
func (c *Cluster) Members() []ui.Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]ui.Member, 0, len(c.members))
	for _, m := range c.members {
		out = append(out, m.info)
	}
	return out
}

// MemberStatus implements ui.Source.
func (c *Cluster) MemberStatus(ctx context.Context, want ui.Member) (ui.NodeStatus, error) {
	if err := ctx.Err(); err != nil {
		return ui.NodeStatus{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.find(want.ID)
	if m == nil {
		return ui.NodeStatus{}, fmt.Errorf("%w: %s", ErrUnknownMember, want.ID)
	}
	if !m.reachable {
		return ui.NodeStatus{}, fmt.Errorf("%w: %s: connection refused", ErrUnreachable, want.ID)
	}
	return c.statusLocked(m), nil
}

// MemberRequest implements ui.Source for the fault routes: PUT|DELETE
// /fault/network and /fault/clock change the member's recorded faults.
func (c *Cluster) MemberRequest(ctx context.Context, want ui.Member, method, path string, body []byte) (int, []byte, error) {
	if err := ctx.Err(); err != nil {
		return 0, nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.find(want.ID)
	if m == nil {
		return 0, nil, fmt.Errorf("%w: %s", ErrUnknownMember, want.ID)
	}
	if !m.reachable {
		return 0, nil, fmt.Errorf("%w: %s", ErrUnreachable, want.ID)
	}
	if !c.faults {
		return http.StatusNotFound, []byte(`{"error":{"code":"not_found","message":"fault injection is off","definite":true}}`), nil
	}
	switch method + " " + path {
	case "PUT /fault/network":
		var req struct {
			Rules []ui.NetworkRule `json:"rules"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			return http.StatusBadRequest, []byte(`{"error":{"code":"bad_request","message":"bad json","definite":true}}`), nil
		}
		m.network = req.Rules
	case "DELETE /fault/network":
		m.network = nil
	case "PUT /fault/clock":
		var ck ui.ClockFault
		if err := json.Unmarshal(body, &ck); err != nil {
			return http.StatusBadRequest, []byte(`{"error":{"code":"bad_request","message":"bad json","definite":true}}`), nil
		}
		m.clock = &ck
	case "DELETE /fault/clock":
		m.clock = nil
	default:
		return http.StatusNotFound, []byte(`{"error":{"code":"not_found","message":"no such route","definite":true}}`), nil
	}
	b, _ := json.Marshal(map[string]any{"network": m.network, "clock": m.clock})
	return http.StatusOK, b, nil
}

// Subscribe implements ui.Source.
func (c *Cluster) Subscribe(fn func(ui.Event)) (cancel func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id := c.nextSub
	c.nextSub++
	c.subs[id] = fn
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(c.subs, id)
	}
}

// FaultInjection implements ui.Source.
func (c *Cluster) FaultInjection() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.faults
}

// command is the body of POST /command (docs/api.md).
type command struct {
	Operation string  `json:"operation"`
	Key       string  `json:"key"`
	Value     *string `json:"value"`
	Expected  *string `json:"expected"`
}

func apiError(g *gin.Context, status int, code, msg string) {
	g.JSON(status, gin.H{"error": gin.H{"code": code, "message": msg, "definite": true}})
}

// Register serves the node API routes the page calls, from the fake state.
func (c *Cluster) Register(r gin.IRouter) {
	r.GET("/status", func(g *gin.Context) { g.JSON(http.StatusOK, c.Status()) })
	r.POST("/command", c.command)
	r.POST("/cluster/leader", func(g *gin.Context) {
		var req struct {
			ID string `json:"id"`
		}
		if err := g.ShouldBindJSON(&req); err != nil {
			apiError(g, http.StatusBadRequest, "bad_request", err.Error())
			return
		}
		leader, err := c.TransferLeadership(req.ID)
		if err != nil {
			apiError(g, http.StatusServiceUnavailable, "not_leader", err.Error())
			return
		}
		g.JSON(http.StatusOK, gin.H{"leader": leader})
	})
	r.GET("/cluster/members", func(g *gin.Context) { g.JSON(http.StatusOK, gin.H{"members": c.Members()}) })
	r.POST("/cluster/members", c.addMember)
	r.DELETE("/cluster/members/:id", func(g *gin.Context) {
		c.mu.Lock()
		i := slices.IndexFunc(c.members, func(m *member) bool { return m.info.ID == g.Param("id") })
		if i < 0 || c.members[i].info.ID == c.leader {
			c.mu.Unlock()
			apiError(g, http.StatusNotFound, "not_found", "no such member (or it leads)")
			return
		}
		c.members = slices.Delete(c.members, i, i+1)
		c.index++
		c.emitLocked(ui.Event{Type: ui.EventConfChangeApplied, Index: c.index, Detail: "remove " + g.Param("id")})
		c.mu.Unlock()
		g.JSON(http.StatusOK, gin.H{"members": c.Members()})
	})
}

func (c *Cluster) addMember(g *gin.Context) {
	var req struct {
		ID       string `json:"id"`
		RaftAddr string `json:"raft_addr"`
		APIAddr  string `json:"api_addr"`
		Learner  bool   `json:"learner"`
	}
	if err := g.ShouldBindJSON(&req); err != nil || req.ID == "" {
		apiError(g, http.StatusBadRequest, "bad_request", "id, raft_addr and api_addr are required")
		return
	}
	c.mu.Lock()
	if c.find(req.ID) != nil {
		c.mu.Unlock()
		apiError(g, http.StatusBadRequest, "bad_request", "member exists")
		return
	}
	var maxID uint64
	for _, m := range c.members {
		maxID = max(maxID, m.info.RaftID)
	}
	c.index++
	c.members = append(c.members, &member{
		info: ui.Member{ID: req.ID, RaftID: maxID + 1, RaftAddr: req.RaftAddr, APIAddr: req.APIAddr, Voter: !req.Learner},
		role: map[bool]string{true: "learner", false: "follower"}[req.Learner],
		term: c.find(c.leader).term, applied: c.index, reachable: true,
	})
	c.emitLocked(ui.Event{Type: ui.EventConfChangeApplied, Index: c.index, Detail: "add " + req.ID})
	c.mu.Unlock()
	g.JSON(http.StatusOK, gin.H{"members": c.Members()})
}

func (c *Cluster) command(g *gin.Context) {
	b, err := io.ReadAll(io.LimitReader(g.Request.Body, 2<<20))
	if err != nil {
		apiError(g, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	var cmd command
	if err := json.Unmarshal(b, &cmd); err != nil {
		apiError(g, http.StatusBadRequest, "bad_request", "malformed JSON")
		return
	}
	if strings.TrimSpace(cmd.Key) == "" {
		apiError(g, http.StatusBadRequest, "bad_request", "missing key")
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	resp := gin.H{"ok": true, "operation": cmd.Operation, "key": cmd.Key, "node": c.self}
	write := func() {
		c.index++
		for _, m := range c.members {
			if m.reachable {
				m.applied = c.index
			}
		}
		resp["index"] = c.index
	}
	cur, found := c.kv[cmd.Key]
	switch cmd.Operation {
	case "get":
		resp["found"] = found
		if found {
			resp["value"] = cur
		}
		resp["index"] = c.index
	case "set":
		if cmd.Value == nil {
			apiError(g, http.StatusBadRequest, "bad_request", "missing value")
			return
		}
		c.kv[cmd.Key] = *cmd.Value
		resp["value"] = *cmd.Value
		write()
	case "delete":
		delete(c.kv, cmd.Key)
		resp["found"] = found
		write()
	case "cas":
		if cmd.Value == nil || cmd.Expected == nil {
			apiError(g, http.StatusBadRequest, "bad_request", "cas needs value and expected")
			return
		}
		ok := found && cur == *cmd.Expected
		if ok {
			c.kv[cmd.Key] = *cmd.Value
			resp["value"] = *cmd.Value
		} else if found {
			resp["value"] = cur
		}
		resp["succeeded"] = ok
		resp["found"] = found
		write()
	default:
		apiError(g, http.StatusBadRequest, "unknown_operation", "unknown operation "+cmd.Operation)
		return
	}
	g.JSON(http.StatusOK, resp)
}
