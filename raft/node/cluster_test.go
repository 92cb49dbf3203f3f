package node

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/raftkv/raftkv/raft"
)

const (
	testTick     = 10 * time.Millisecond
	testElection = 10
	waitFor      = 15 * time.Second
	pollEvery    = 2 * time.Millisecond
)

// testSM is a state machine that remembers every command in order; its
// Apply result is the entry's index.
type testSM struct {
	mu       sync.Mutex
	cmds     []string
	last     uint64 // index of the last applied entry with data
	restores int
	// onApply, if set, is called (on the driver goroutine) before each
	// command is applied.
	onApply func(index uint64, data []byte)
}

type smSnapshot struct {
	Cmds []string
	Last uint64
}

func (s *testSM) Apply(index uint64, data []byte) any {
	if s.onApply != nil {
		s.onApply(index, data)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cmds = append(s.cmds, string(data))
	s.last = index
	return index
}

func (s *testSM) Snapshot() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return json.Marshal(smSnapshot{Cmds: s.cmds, Last: s.last})
}

func (s *testSM) Restore(data []byte) error {
	var snap smSnapshot
	if err := json.Unmarshal(data, &snap); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cmds, s.last = snap.Cmds, snap.Last
	s.restores++
	return nil
}

func (s *testSM) commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.cmds)
}

func (s *testSM) lastIndex() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// network is an in-memory transport between nodes: one buffered inbox and
// one delivery goroutine per node, a partition switch, and a hold switch
// that queues (rather than drops) messages to a node.
type network struct {
	mu       sync.Mutex
	nodes    map[uint64]*Node
	inbox    map[uint64]chan raft.Message
	isolated map[uint64]bool
	held     map[uint64][]raft.Message
	holding  map[uint64]bool
	quit     chan struct{}
	wg       sync.WaitGroup
}

func newNetwork(t testing.TB) *network {
	nw := &network{
		nodes:    make(map[uint64]*Node),
		inbox:    make(map[uint64]chan raft.Message),
		isolated: make(map[uint64]bool),
		held:     make(map[uint64][]raft.Message),
		holding:  make(map[uint64]bool),
		quit:     make(chan struct{}),
	}
	t.Cleanup(func() { close(nw.quit); nw.wg.Wait() })
	return nw
}

// add registers (or replaces, on restart) the node with id.
func (nw *network) add(id uint64, n *Node) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.nodes[id] = n
	if _, ok := nw.inbox[id]; ok {
		return
	}
	ch := make(chan raft.Message, 4096)
	nw.inbox[id] = ch
	nw.wg.Add(1)
	go func() {
		defer nw.wg.Done()
		for {
			select {
			case m := <-ch:
				nw.mu.Lock()
				dst, ok := nw.nodes[id]
				blocked := nw.isolated[m.From] || nw.isolated[m.To]
				if !blocked && nw.holding[id] {
					nw.held[id] = append(nw.held[id], m)
					blocked = true
				}
				nw.mu.Unlock()
				if ok && !blocked {
					dst.Step(m)
				}
			case <-nw.quit:
				return
			}
		}
	}()
}

func (nw *network) isolate(id uint64, on bool) {
	nw.mu.Lock()
	nw.isolated[id] = on
	nw.mu.Unlock()
}

// hold queues messages to id until release.
func (nw *network) hold(id uint64) {
	nw.mu.Lock()
	nw.holding[id] = true
	nw.mu.Unlock()
}

func (nw *network) release(id uint64) {
	nw.mu.Lock()
	nw.holding[id] = false
	msgs := nw.held[id]
	nw.held[id] = nil
	ch := nw.inbox[id]
	nw.mu.Unlock()
	for _, m := range msgs {
		ch <- m
	}
}

func (nw *network) endpoint(from uint64) *endpoint { return &endpoint{nw: nw, from: from} }

type endpoint struct {
	nw   *network
	from uint64
}

func (e *endpoint) Send(msgs []raft.Message) {
	e.nw.mu.Lock()
	defer e.nw.mu.Unlock()
	for _, m := range msgs {
		if e.nw.isolated[e.from] || e.nw.isolated[m.To] {
			continue
		}
		ch, ok := e.nw.inbox[m.To]
		if !ok {
			continue
		}
		// Copy what a real network would not share.
		m.Entries = slices.Clone(m.Entries)
		m.Context = slices.Clone(m.Context)
		select {
		case ch <- m:
		default: // a full queue drops, like the real transport
		}
	}
}

type cluster struct {
	t      testing.TB
	nw     *network
	voters []uint64
	nodes  map[uint64]*Node
	stores map[uint64]raft.LogStore
	sms    map[uint64]*testSM
	// tweak, if set, adjusts each node's Config before Start.
	tweak func(id uint64, cfg *Config)
	hooks testHooks
}

func raftConfig(id uint64) raft.Config {
	return raft.Config{
		ID:              id,
		ElectionTick:    testElection,
		HeartbeatTick:   1,
		MaxSizePerMsg:   1 << 20,
		MaxInflightMsgs: 256,
		CheckQuorum:     true,
		PreVote:         true,
		Seed:            int64(id),
	}
}

func newCluster(t *testing.T, size int, tweak func(id uint64, cfg *Config)) *cluster {
	return newClusterWith(t, size, testHooks{}, tweak)
}

func newClusterWith(t testing.TB, size int, hooks testHooks, tweak func(id uint64, cfg *Config)) *cluster {
	c := &cluster{
		hooks:  hooks,
		t:      t,
		nw:     newNetwork(t),
		nodes:  make(map[uint64]*Node),
		stores: make(map[uint64]raft.LogStore),
		sms:    make(map[uint64]*testSM),
		tweak:  tweak,
	}
	for i := 1; i <= size; i++ {
		c.voters = append(c.voters, uint64(i))
	}
	for _, id := range c.voters {
		c.start(id, raft.NewMemoryStorage(), c.voters)
	}
	t.Cleanup(c.stopAll)
	return c
}

func (c *cluster) start(id uint64, store raft.LogStore, bootstrap []uint64) *Node {
	c.t.Helper()
	cfg := Config{
		Raft:                   raftConfig(id),
		TickInterval:           testTick,
		Store:                  store,
		Transport:              c.nw.endpoint(id),
		StateMachine:           &testSM{},
		SnapshotEvery:          0,
		SnapshotCatchUpEntries: 0,
		Bootstrap:              bootstrap,
	}
	if c.tweak != nil {
		c.tweak(id, &cfg)
	}
	n, err := start(cfg, c.hooks)
	require.NoError(c.t, err)
	c.nodes[id] = n
	c.stores[id] = cfg.Store
	c.sms[id] = cfg.StateMachine.(*testSM)
	c.nw.add(id, n)
	return n
}

func (c *cluster) stopAll() {
	for _, n := range c.nodes {
		n.Stop()
	}
}

// leader waits until exactly one node outside `except` is leader and every
// other such node agrees, and returns it.
func (c *cluster) leader(except ...uint64) uint64 {
	c.t.Helper()
	var lead uint64
	require.Eventually(c.t, func() bool {
		lead = 0
		var term uint64
		for id, n := range c.nodes {
			if slices.Contains(except, id) {
				continue
			}
			st := n.Status()
			if st.RaftState == raft.StateLeader && st.Term >= term {
				lead, term = id, st.Term
			}
		}
		if lead == 0 {
			return false
		}
		for id, n := range c.nodes {
			if slices.Contains(except, id) || !slices.Contains(n.Status().Config.Voters, id) {
				continue
			}
			if st := n.Status(); st.Lead != lead || st.Term != term {
				return false
			}
		}
		return true
	}, waitFor, pollEvery, "no agreed leader")
	return lead
}

// propose proposes data on the current leader, retrying while leadership
// moves; it returns the index the entry was applied at.
func (c *cluster) propose(data string, except ...uint64) uint64 {
	c.t.Helper()
	deadline := time.Now().Add(waitFor)
	for time.Now().Before(deadline) {
		lead := c.leader(except...)
		// Each attempt gets the whole wait: a deadline that expires on a
		// commit slowed by a busy machine is an indeterminate error, which
		// fails the test below; a lost leadership still ends it early.
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		res, err := c.nodes[lead].Propose(ctx, []byte(data))
		cancel()
		if err == nil {
			return res.(uint64)
		}
		require.True(c.t, IsDefinite(err), "indeterminate error would make the test's expectations ambiguous: %v", err)
	}
	c.t.Fatalf("could not propose %q", data)
	return 0
}

// converged waits until every node in ids has applied exactly want.
func (c *cluster) converged(want []string, ids ...uint64) {
	c.t.Helper()
	if len(ids) == 0 {
		ids = c.voters
	}
	for _, id := range ids {
		require.Eventually(c.t, func() bool {
			return slices.Equal(c.sms[id].commands(), want)
		}, waitFor, pollEvery, "node %d did not converge: has %v", id, fmt.Sprint(c.sms[id].commands()))
	}
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func newStore() *raft.MemoryStorage { return raft.NewMemoryStorage() }
