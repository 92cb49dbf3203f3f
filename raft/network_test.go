package raft

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// This file is a small synchronous in-process network for table tests: each
// node is a RawNode over a MemoryStorage and a toy state machine (the list of
// applied payloads). stabilize runs every node's Ready loop and delivers
// messages until the cluster is quiet. Links can be cut, nodes isolated,
// message types dropped, and arbitrary filters installed.

type testNode struct {
	id      uint64
	rn      *RawNode
	storage *MemoryStorage
	cfg     Config
	// applied is the state machine: the payloads applied, in order, with
	// their indexes.
	applied      []appliedEntry
	appliedIndex uint64
	readStates   []ReadState
	down         bool
}

type appliedEntry struct {
	Index uint64
	Term  uint64
	Data  string
}

type network struct {
	t     testing.TB
	nodes map[uint64]*testNode
	ids   []uint64
	// queue is the messages in flight, delivered in order.
	queue []Message
	// cut holds directed links that drop everything.
	cut map[[2]uint64]bool
	// dropTypes drops every message of the given types.
	dropTypes map[MessageType]bool
	// filter, when set, drops the messages it returns false for. It may
	// also rewrite a message, to reproduce an exact interleaving.
	filter func(m *Message) bool
	// dropRate drops a fraction of messages, from a seeded source.
	dropRate float64
	rng      *rand.Rand
	// sent counts delivered messages by type, for flow-control tests.
	delivered []Message
	record    bool

	// leaders records the leader of each term seen, to check Election
	// Safety (at most one leader per term, §5.2).
	leaders map[uint64]uint64
	// committed records every applied entry by index, to check State
	// Machine Safety (§5.4.3).
	committed map[uint64]appliedEntry
}

type configOpt func(*Config)

func withPreVote(c *Config)     { c.PreVote = true }
func withCheckQuorum(c *Config) { c.CheckQuorum = true }
func withLease(c *Config) {
	c.CheckQuorum = true
	c.ReadOnlyOption = ReadOnlyLeaseBased
}

func withMaxInflight(n int) configOpt      { return func(c *Config) { c.MaxInflightMsgs = n } }
func withMaxSizePerMsg(n uint64) configOpt { return func(c *Config) { c.MaxSizePerMsg = n } }

func newTestConfig(id uint64, s Storage, opts ...configOpt) Config {
	c := Config{
		ID:              id,
		ElectionTick:    10,
		HeartbeatTick:   1,
		Storage:         s,
		MaxSizePerMsg:   noLimit,
		MaxInflightMsgs: 256,
		Seed:            1,
	}
	for _, o := range opts {
		o(&c)
	}
	return c
}

func newEmptyNetwork(t testing.TB) *network {
	return &network{
		t:         t,
		nodes:     map[uint64]*testNode{},
		cut:       map[[2]uint64]bool{},
		dropTypes: map[MessageType]bool{},
		rng:       rand.New(rand.NewPCG(7, 7)),
		leaders:   map[uint64]uint64{},
		committed: map[uint64]appliedEntry{},
	}
}

// newNetwork bootstraps a cluster of n voters (IDs 1..n) and applies the
// bootstrap entries.
func newNetwork(t testing.TB, n int, opts ...configOpt) *network {
	nw := newEmptyNetwork(t)
	var voters []uint64
	for i := 1; i <= n; i++ {
		voters = append(voters, uint64(i))
	}
	for _, id := range voters {
		tn := nw.addNode(id, NewMemoryStorage(), opts...)
		if err := tn.rn.Bootstrap(voters); err != nil {
			t.Fatal(err)
		}
	}
	nw.stabilize()
	return nw
}

// addNode creates a node over storage s (without bootstrapping it).
func (nw *network) addNode(id uint64, s *MemoryStorage, opts ...configOpt) *testNode {
	cfg := newTestConfig(id, s, opts...)
	cfg.Seed = int64(id) * 31
	rn, err := NewRawNode(&cfg)
	if err != nil {
		nw.t.Fatal(err)
	}
	tn := &testNode{id: id, rn: rn, storage: s, cfg: cfg}
	nw.nodes[id] = tn
	nw.ids = append(nw.ids, id)
	slices.Sort(nw.ids)
	return tn
}

// newLogNetwork creates nodes whose storages hold the given logs (terms of
// entries 1..n) and hard-state terms, all configured as voters of ids.
func newLogNetwork(t testing.TB, logs map[uint64][]uint64, terms map[uint64]uint64, opts ...configOpt) *network {
	nw := newEmptyNetwork(t)
	var ids []uint64
	for id := range logs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		s := NewMemoryStorage()
		if err := s.Append(ents(logs[id]...)); err != nil {
			t.Fatal(err)
		}
		_ = s.SetHardState(HardState{Term: terms[id]})
		tn := nw.addNode(id, s, opts...)
		for _, v := range ids {
			tn.rn.ApplyConfChange(ConfChange{Type: ConfChangeAddVoter, NodeID: v})
		}
	}
	return nw
}

func (nw *network) node(id uint64) *testNode { return nw.nodes[id] }
func (nw *network) raft(id uint64) *raft     { return nw.nodes[id].rn.raft }

// isolate cuts every link of id.
func (nw *network) isolate(id uint64) {
	for _, o := range nw.ids {
		if o != id {
			nw.cutLink(id, o)
		}
	}
}

func (nw *network) cutLink(a, b uint64) {
	nw.cut[[2]uint64{a, b}] = true
	nw.cut[[2]uint64{b, a}] = true
}

// heal removes cuts, drops and filters.
func (nw *network) heal() {
	clear(nw.cut)
	clear(nw.dropTypes)
	nw.filter = nil
	nw.dropRate = 0
}

func (nw *network) dropped(m *Message) bool {
	if nw.cut[[2]uint64{m.From, m.To}] || nw.dropTypes[m.Type] {
		return true
	}
	if nw.filter != nil && !nw.filter(m) {
		return true
	}
	if to := nw.nodes[m.To]; to == nil || to.down {
		return true
	}
	if nw.dropRate > 0 && nw.rng.Float64() < nw.dropRate {
		return true
	}
	return false
}

// process runs one Ready/Advance cycle on node tn: persist, queue the
// messages, apply. It reports whether there was anything to do.
func (nw *network) process(tn *testNode) bool {
	if tn.down || !tn.rn.HasReady() {
		return false
	}
	rd := tn.rn.Ready()
	if err := tn.storage.Save(rd.HardState, rd.Entries, rd.Snapshot, true); err != nil {
		nw.t.Fatalf("node %d: save: %v", tn.id, err)
	}
	for _, m := range rd.Messages {
		// Forwarded requests keep their original sender.
		if m.From != tn.id && m.Type != MsgReadIndex && m.Type != MsgTransferLeader {
			nw.t.Fatalf("node %d sent a message from %d: %+v", tn.id, m.From, m)
		}
		if !nw.dropped(&m) {
			nw.queue = append(nw.queue, m)
		}
	}
	if !rd.Snapshot.IsEmpty() {
		var sm []appliedEntry
		if err := json.Unmarshal(rd.Snapshot.Data, &sm); err != nil {
			nw.t.Fatalf("node %d: bad snapshot data: %v", tn.id, err)
		}
		tn.applied = sm
		tn.appliedIndex = rd.Snapshot.Metadata.Index
	}
	for _, e := range rd.CommittedEntries {
		if e.Index != tn.appliedIndex+1 {
			nw.t.Fatalf("node %d applied index %d after %d", tn.id, e.Index, tn.appliedIndex)
		}
		tn.appliedIndex = e.Index
		ae := appliedEntry{Index: e.Index, Term: e.Term, Data: string(e.Data)}
		if prev, ok := nw.committed[e.Index]; ok && prev != ae {
			nw.t.Fatalf("state machine safety violated at index %d: node %d applied %+v, another node applied %+v", e.Index, tn.id, ae, prev)
		}
		nw.committed[e.Index] = ae
		switch e.Type {
		case EntryConfChange:
			var cc ConfChange
			if err := cc.Unmarshal(e.Data); err != nil {
				nw.t.Fatal(err)
			}
			tn.rn.ApplyConfChange(cc)
		case EntryNormal:
			if len(e.Data) > 0 {
				tn.applied = append(tn.applied, ae)
			}
		}
	}
	tn.readStates = append(tn.readStates, rd.ReadStates...)
	tn.rn.Advance(rd)
	nw.checkLeaders()
	return true
}

// checkLeaders checks Election Safety: at most one leader per term.
func (nw *network) checkLeaders() {
	for _, id := range nw.ids {
		r := nw.raft(id)
		if r.state != StateLeader {
			continue
		}
		if l, ok := nw.leaders[r.Term]; ok && l != id {
			nw.t.Fatalf("election safety violated: %d and %d are both leaders of term %d", l, id, r.Term)
		}
		nw.leaders[r.Term] = id
	}
}

// deliver steps one queued message into its recipient.
func (nw *network) deliver(m Message) {
	tn := nw.nodes[m.To]
	if tn == nil || tn.down {
		return
	}
	if nw.record {
		nw.delivered = append(nw.delivered, m)
	}
	err := tn.rn.Step(m)
	if err != nil && !errors.Is(err, ErrStepPeerNotFound) && !errors.Is(err, ErrProposalDropped) {
		nw.t.Fatalf("node %d: step %s: %v", m.To, m.Type, err)
	}
	if m.Type == MsgSnap {
		// The transport reports a delivered snapshot.
		if from := nw.nodes[m.From]; from != nil && !from.down {
			from.rn.ReportSnapshot(m.To, SnapshotFinish)
		}
	}
}

// stabilize runs Ready loops and delivers messages until nothing is left.
func (nw *network) stabilize() {
	for i := 0; ; i++ {
		if i > 100000 {
			nw.t.Fatal("network did not stabilize")
		}
		progressed := false
		for _, id := range nw.ids {
			if nw.process(nw.nodes[id]) {
				progressed = true
			}
		}
		if len(nw.queue) > 0 {
			q := nw.queue
			nw.queue = nil
			for _, m := range q {
				nw.deliver(m)
			}
			progressed = true
		}
		if !progressed {
			return
		}
	}
}

// tick ticks the given nodes (all when none given) once and stabilizes.
func (nw *network) tick(ids ...uint64) {
	if len(ids) == 0 {
		ids = nw.ids
	}
	for _, id := range ids {
		if !nw.nodes[id].down {
			nw.nodes[id].rn.Tick()
		}
	}
	nw.stabilize()
}

func (nw *network) ticks(n int, ids ...uint64) {
	for i := 0; i < n; i++ {
		nw.tick(ids...)
	}
}

func (nw *network) campaign(id uint64) {
	if err := nw.nodes[id].rn.Campaign(); err != nil {
		nw.t.Fatal(err)
	}
	nw.stabilize()
}

func (nw *network) propose(id uint64, data string) (uint64, error) {
	idx, _, err := nw.nodes[id].rn.Propose([]byte(data))
	if err == nil {
		nw.stabilize()
	}
	return idx, err
}

func (nw *network) mustPropose(id uint64, data string) uint64 {
	idx, err := nw.propose(id, data)
	if err != nil {
		nw.t.Fatalf("propose %q at %d: %v", data, id, err)
	}
	return idx
}

// leader returns the ID of the unique leader of the highest term among
// reachable nodes, or None.
func (nw *network) leader() uint64 {
	var lead, term uint64
	for _, id := range nw.ids {
		r := nw.raft(id)
		if r.state == StateLeader && r.Term >= term && !nw.nodes[id].down {
			lead, term = id, r.Term
		}
	}
	return lead
}

// snapshotData encodes a node's state machine for a snapshot.
func (tn *testNode) snapshotData() []byte {
	b, err := json.Marshal(tn.applied)
	if err != nil {
		panic(err)
	}
	return b
}

// compact snapshots node id at its applied index and compacts its log.
func (nw *network) compact(id uint64) {
	tn := nw.nodes[id]
	cs := tn.rn.raft.trk.confState()
	if _, err := tn.storage.CreateSnapshot(tn.appliedIndex, cs, tn.snapshotData()); err != nil {
		nw.t.Fatal(err)
	}
	if err := tn.storage.Compact(tn.appliedIndex); err != nil {
		nw.t.Fatal(err)
	}
}

func (tn *testNode) appliedData() []string {
	var out []string
	for _, e := range tn.applied {
		out = append(out, e.Data)
	}
	return out
}

// logTerms returns the terms of the node's log from index from.
func (tn *testNode) logTerms(from uint64) []uint64 {
	l := tn.rn.raft.raftLog
	var out []uint64
	for i := from; i <= l.lastIndex(); i++ {
		t, err := l.term(i)
		if err != nil {
			panic(fmt.Sprintf("term(%d): %v", i, err))
		}
		out = append(out, t)
	}
	return out
}

// restart replaces node id with a new RawNode over the same storage, as
// after a crash: volatile state is lost, the persisted log and hard state
// remain.
func (nw *network) restart(id uint64) {
	tn := nw.nodes[id]
	cfg := tn.cfg
	cfg.Applied = tn.appliedIndex
	rn, err := NewRawNode(&cfg)
	if err != nil {
		nw.t.Fatal(err)
	}
	tn.rn = rn
}
