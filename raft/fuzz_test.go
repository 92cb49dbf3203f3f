package raft

import (
	"encoding/binary"
	"fmt"
	"testing"
)

// FuzzStep runs a three-node cluster (ticks, proposals, message delivery)
// and steps messages made from the fuzzer's bytes into it: valid-looking
// ones near the nodes' real terms and indexes, and arbitrary ones. Whatever
// arrives, no node may panic, and each keeps the core's own invariants:
// applied <= committed <= last index, term and commit index never go back,
// the log's terms never decrease nor exceed the node's term, and an entry
// this node handed out as committed is never replaced.
//
// Cluster-wide safety (one leader per term, the same entry committed
// everywhere) is not checked: a message that is well-formed but forged (a
// made-up leader of a higher term) can break it, and no check at Step can
// tell such a message from a real one; that is what peer authentication
// (mutual TLS) is for.
func FuzzStep(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2})
	// A heartbeat with a commit beyond the follower's log.
	f.Add([]byte{3, byte(MsgHeartbeat), 1, 1, 0, 0, 0, 9, 0, 0, 0, 0, 2})
	// An append with entries not contiguous.
	f.Add([]byte{1, 1, 2, 4, byte(MsgApp), 1, 1, 0, 0, 0, 0, 0, 3, 0, 5, 1, 0, 2})
	// A snapshot message without voters.
	f.Add([]byte{4, byte(MsgSnap), 1, 2, 1, 0, 3, 0, 0, 0, 0, 1, 0, 0, 2})
	// Responses of all kinds to a leader.
	for ty := range msgTypeCount {
		f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, byte(ty), 2, 0, 0, 1, 0, 0, 0, 0, 2})
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := newFuzzCluster(t)
		in := &fuzzInput{b: data}
		for op := 0; op < 300 && !in.done(); op++ {
			switch in.byte() % 6 {
			case 0:
				c.nodes[1+uint64(in.byte()%3)].rn.Tick()
			case 1:
				_, _, _ = c.nodes[1+uint64(in.byte()%3)].rn.Propose([]byte{in.byte()})
			case 2:
				c.deliver(int(in.byte()%8) + 1)
			default:
				m := c.forge(in)
				func() {
					defer func() {
						if p := recover(); p != nil {
							t.Fatalf("op %d: Step(%+v) panicked: %v", op, m, p)
						}
					}()
					_ = c.nodes[m.To].rn.Step(m)
				}()
			}
			c.processAll(op)
		}
	})
}

// fuzzInput hands out the fuzzer's bytes; past the end it gives zeros.
type fuzzInput struct {
	b []byte
	i int
}

func (in *fuzzInput) done() bool { return in.i >= len(in.b) }

func (in *fuzzInput) byte() byte {
	if in.i >= len(in.b) {
		return 0
	}
	in.i++
	return in.b[in.i-1]
}

func (in *fuzzInput) uint64() uint64 {
	var buf [8]byte
	for i := range buf {
		buf[i] = in.byte()
	}
	return binary.BigEndian.Uint64(buf[:])
}

// near returns base plus a small signed offset most of the time, and an
// arbitrary value otherwise.
func (in *fuzzInput) near(base uint64) uint64 {
	b := in.byte()
	if b&0x80 != 0 {
		return in.uint64()
	}
	return base + uint64(int64(b&0x0f)-4)
}

type fuzzNode struct {
	rn      *RawNode
	storage *MemoryStorage
	// term, commit are the last values seen, which must not go back.
	term, commit uint64
	// committed holds the term of every entry handed out as committed.
	committed map[uint64]uint64
}

type fuzzCluster struct {
	t     *testing.T
	nodes map[uint64]*fuzzNode
	queue []Message
}

func newFuzzCluster(t *testing.T) *fuzzCluster {
	c := &fuzzCluster{t: t, nodes: map[uint64]*fuzzNode{}}
	for id := uint64(1); id <= 3; id++ {
		s := NewMemoryStorage()
		cfg := newTestConfig(id, s, withPreVote, withCheckQuorum)
		cfg.Seed = int64(id)
		cfg.MaxInflightMsgs = 4
		rn, err := NewRawNode(&cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := rn.Bootstrap([]uint64{1, 2, 3}); err != nil {
			t.Fatal(err)
		}
		c.nodes[id] = &fuzzNode{rn: rn, storage: s, committed: map[uint64]uint64{}}
	}
	// Elect node 1 so that the fuzzer starts from a working cluster.
	c.processAll(-1)
	if err := c.nodes[1].rn.Campaign(); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		c.processAll(-1)
		c.deliver(len(c.queue))
	}
	return c
}

// forge makes a message for one of the nodes from the fuzzer's bytes.
func (c *fuzzCluster) forge(in *fuzzInput) Message {
	to := 1 + uint64(in.byte()%3)
	r := c.nodes[to].rn.raft
	last := r.raftLog.lastIndex()
	m := Message{
		Type:    MessageType(in.byte()) % (msgTypeCount + 1),
		To:      to,
		From:    uint64(in.byte() % 5), // 0, members 1-3, non-member 4
		Term:    in.near(r.Term),
		Index:   in.near(last),
		LogTerm: in.near(r.raftLog.lastTerm()),
		Commit:  in.near(r.raftLog.committed),
	}
	flags := in.byte()
	m.Reject = flags&1 != 0
	if flags&2 != 0 {
		m.RejectHint = in.near(last)
	}
	if flags&4 != 0 {
		m.Context = []byte{in.byte() % 4}
	}
	if flags&8 != 0 {
		m.Term = 0
	}
	n := int(in.byte() % 4)
	for i := range n {
		e := Entry{Index: m.Index + 1 + uint64(i), Term: m.LogTerm, Type: EntryType(in.byte() % 3)}
		if b := in.byte(); b&0x0f == 0 {
			e.Index = in.near(e.Index)
		} else if b&0x0f == 1 {
			e.Term = in.near(e.Term)
		}
		if e.Type == EntryConfChange {
			e.Data = ConfChange{Type: ConfChangeType(in.byte() % 4), NodeID: uint64(in.byte() % 6)}.Marshal()
		}
		m.Entries = append(m.Entries, e)
	}
	if m.Type == MsgSnap && flags&16 != 0 {
		var cs ConfState
		bits := in.byte()
		for id := uint64(0); id < 5; id++ {
			if bits&(1<<id) != 0 {
				cs.Voters = append(cs.Voters, id)
			} else if bits&(1<<(id+3)) != 0 {
				cs.Learners = append(cs.Learners, id)
			}
		}
		m.Snapshot = &Snapshot{Metadata: SnapshotMetadata{Index: in.near(last + 4), Term: in.near(m.Term), ConfState: cs}}
	}
	return m
}

// deliver steps the first n queued messages into their recipients.
func (c *fuzzCluster) deliver(n int) {
	n = min(n, len(c.queue))
	q := c.queue[:n]
	c.queue = append([]Message(nil), c.queue[n:]...)
	for _, m := range q {
		if tn := c.nodes[m.To]; tn != nil {
			_ = tn.rn.Step(m)
		}
	}
}

// processAll runs every node's Ready loop once and checks its invariants.
func (c *fuzzCluster) processAll(op int) {
	for id := uint64(1); id <= 3; id++ {
		fn := c.nodes[id]
		func() {
			defer func() {
				if p := recover(); p != nil {
					c.t.Fatalf("op %d: node %d panicked in its Ready loop: %v", op, id, p)
				}
			}()
			c.process(id, fn)
		}()
		if err := fn.check(); err != nil {
			c.t.Fatalf("op %d: node %d: %v", op, id, err)
		}
	}
}

func (c *fuzzCluster) process(id uint64, fn *fuzzNode) {
	for i := 0; fn.rn.HasReady() && i < 4; i++ {
		rd := fn.rn.Ready()
		if err := fn.storage.Save(rd.HardState, rd.Entries, rd.Snapshot, true); err != nil {
			c.t.Fatalf("node %d: save: %v", id, err)
		}
		if len(c.queue) < 1000 {
			c.queue = append(c.queue, rd.Messages...)
		}
		for _, e := range rd.CommittedEntries {
			fn.committed[e.Index] = e.Term
			if e.Type != EntryConfChange {
				continue
			}
			var cc ConfChange
			if err := cc.Unmarshal(e.Data); err != nil {
				// Entries that arrive in messages are checked at Step, and
				// the fuzzer proposes only normal entries.
				c.t.Fatalf("node %d: committed conf change %d does not decode: %v", id, e.Index, err)
			}
			fn.rn.ApplyConfChange(cc)
		}
		fn.rn.Advance(rd)
	}
}

// check verifies the node's own invariants.
func (fn *fuzzNode) check() error {
	r := fn.rn.raft
	l := r.raftLog
	last := l.lastIndex()
	if l.applied > l.committed || l.committed > last {
		return fmt.Errorf("applied %d <= committed %d <= last %d does not hold", l.applied, l.committed, last)
	}
	if r.Term < fn.term {
		return fmt.Errorf("term went back from %d to %d", fn.term, r.Term)
	}
	if l.committed < fn.commit {
		return fmt.Errorf("commit index went back from %d to %d", fn.commit, l.committed)
	}
	fn.term, fn.commit = r.Term, l.committed
	prev := uint64(0)
	for i := l.firstIndex() - 1; i <= last; i++ {
		tm, err := l.term(i)
		if err != nil {
			return fmt.Errorf("term(%d): %v", i, err)
		}
		if tm < prev {
			return fmt.Errorf("entry %d has term %d, below the previous entry's %d", i, tm, prev)
		}
		if tm > r.Term {
			return fmt.Errorf("entry %d has term %d, ahead of the node's term %d", i, tm, r.Term)
		}
		if want, ok := fn.committed[i]; ok && i >= l.firstIndex() && tm != want {
			return fmt.Errorf("committed entry %d changed term from %d to %d", i, want, tm)
		}
		prev = tm
	}
	return nil
}
