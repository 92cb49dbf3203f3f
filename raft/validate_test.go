package raft

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
)

// recLogger records every line, and panics on Panicf like every Logger.
type recLogger struct{ lines []string }

func (l *recLogger) add(level, format string, args ...any) {
	l.lines = append(l.lines, level+" "+fmt.Sprintf(format, args...))
}
func (l *recLogger) Debugf(f string, a ...any)   { l.add("DEBUG", f, a...) }
func (l *recLogger) Infof(f string, a ...any)    { l.add("INFO", f, a...) }
func (l *recLogger) Warningf(f string, a ...any) { l.add("WARN", f, a...) }
func (l *recLogger) Errorf(f string, a ...any)   { l.add("ERROR", f, a...) }
func (l *recLogger) Panicf(f string, a ...any)   { panic(fmt.Sprintf(f, a...)) }

// nodeState is what a dropped message must leave unchanged.
type nodeState struct {
	Status  Status
	Entries []Entry
	Msgs    int
	Reads   int
}

func captureState(t *testing.T, rn *RawNode) nodeState {
	t.Helper()
	l := rn.raft.raftLog
	ents, err := l.slice(l.firstIndex(), l.lastIndex()+1, noLimit)
	if err != nil {
		t.Fatal(err)
	}
	return nodeState{Status: rn.Status(), Entries: ents, Msgs: len(rn.raft.msgs), Reads: len(rn.raft.readStates)}
}

// roleNetwork returns a three-node cluster (1 leads term 2 with a few
// committed entries) and the node playing role: "leader" (1), "follower"
// (2), or "candidate" (3, campaigning alone at term 3). Every node logs to
// its own recLogger.
func roleNetwork(t *testing.T, role string) (*network, *testNode, *recLogger) {
	t.Helper()
	logs := map[uint64]*recLogger{1: {}, 2: {}, 3: {}}
	nw := newEmptyNetwork(t)
	for id := uint64(1); id <= 3; id++ {
		tn := nw.addNode(id, NewMemoryStorage(), func(c *Config) { c.Logger = logs[c.ID] })
		if err := tn.rn.Bootstrap([]uint64{1, 2, 3}); err != nil {
			t.Fatal(err)
		}
	}
	nw.stabilize()
	nw.campaign(1)
	nw.mustPropose(1, "a")
	nw.mustPropose(1, "b")
	var id uint64
	switch role {
	case "leader":
		id = 1
	case "follower":
		id = 2
	case "candidate":
		id = 3
		nw.isolate(3)
		if err := nw.node(3).rn.Campaign(); err != nil {
			t.Fatal(err)
		}
		nw.stabilize()
		if s := nw.raft(3).state; s != StateCandidate {
			t.Fatalf("node 3 is %s, want candidate", s)
		}
	default:
		t.Fatalf("unknown role %q", role)
	}
	tn := nw.node(id)
	// Drain the Ready so that only what the message causes is pending.
	nw.process(tn)
	nw.queue = nil
	return nw, tn, logs[id]
}

// Every message here breaks an invariant a genuine peer never breaks. Most
// of them panicked the node before they were checked at Step (a heartbeat's
// commit beyond the last index was "tocommit(N) is out of range"). Each is
// stepped into a leader, a follower and a candidate: it must be refused with
// ErrInvalidMessage, leave the node's log, hard state, commit index and
// everything else in its status unchanged, send nothing, and be logged as a
// warning with its reason.
func TestStepDropsInvalidMessages(t *testing.T) {
	type mk func(r *raft) Message
	last := func(r *raft) uint64 { return r.raftLog.lastIndex() }
	lastTerm := func(r *raft) uint64 { return r.raftLog.lastTerm() }
	other := func(r *raft) uint64 { return r.id%3 + 1 }
	snap := func(r *raft, md SnapshotMetadata) Message {
		return Message{Type: MsgSnap, From: other(r), Term: r.Term, Snapshot: &Snapshot{Metadata: md}}
	}
	cs := ConfState{Voters: []uint64{1, 2, 3}}
	tests := []struct {
		name   string
		reason string // a fragment of the logged reason
		msg    mk
	}{
		{"heartbeat commit beyond last index", "beyond the last index", func(r *raft) Message {
			return Message{Type: MsgHeartbeat, From: other(r), Term: r.Term, Commit: last(r) + 1}
		}},
		{"heartbeat commit beyond last index, higher term", "beyond the last index", func(r *raft) Message {
			return Message{Type: MsgHeartbeat, From: other(r), Term: r.Term + 1, Commit: last(r) + 50}
		}},
		{"heartbeat commit beyond last index from a non-member", "beyond the last index", func(r *raft) Message {
			return Message{Type: MsgHeartbeat, From: 9, Term: r.Term + 1, Commit: 1 << 40}
		}},
		{"append entry term ahead of message term", "ahead of the message term", func(r *raft) Message {
			return Message{Type: MsgApp, From: other(r), Term: r.Term, Index: last(r), LogTerm: lastTerm(r),
				Entries: []Entry{{Index: last(r) + 1, Term: r.Term + 1}}, Commit: last(r) + 1}
		}},
		{"append entries not contiguous", "not contiguous", func(r *raft) Message {
			return Message{Type: MsgApp, From: other(r), Term: r.Term, Index: last(r), LogTerm: lastTerm(r),
				Entries: []Entry{{Index: last(r) + 1, Term: r.Term}, {Index: last(r) + 3, Term: r.Term}}}
		}},
		{"append entries overlapping", "not contiguous", func(r *raft) Message {
			return Message{Type: MsgApp, From: other(r), Term: r.Term, Index: last(r), LogTerm: lastTerm(r),
				Entries: []Entry{{Index: last(r) + 1, Term: r.Term}, {Index: last(r) + 1, Term: r.Term}}}
		}},
		{"append entries before their previous entry", "not contiguous", func(r *raft) Message {
			return Message{Type: MsgApp, From: other(r), Term: r.Term, Index: last(r), LogTerm: lastTerm(r),
				Entries: []Entry{{Index: 1, Term: r.Term}}}
		}},
		{"append entry terms decreasing", "below the previous entry's term", func(r *raft) Message {
			return Message{Type: MsgApp, From: other(r), Term: r.Term, Index: last(r), LogTerm: lastTerm(r),
				Entries: []Entry{{Index: last(r) + 1, Term: r.Term}, {Index: last(r) + 2, Term: 1}}}
		}},
		{"append previous term ahead of message term", "ahead of the message term", func(r *raft) Message {
			return Message{Type: MsgApp, From: other(r), Term: r.Term, Index: last(r), LogTerm: r.Term + 1}
		}},
		{"append index overflow", "out of range", func(r *raft) Message {
			return Message{Type: MsgApp, From: other(r), Term: r.Term, Index: math.MaxUint64, LogTerm: 1,
				Entries: []Entry{{Index: 0, Term: 1}}}
		}},
		{"append entries overflow", "overflow", func(r *raft) Message {
			return Message{Type: MsgApp, From: other(r), Term: r.Term, Index: maxWireValue, LogTerm: 1,
				Entries: []Entry{{Index: 0, Term: 1}}}
		}},
		{"append unknown entry type", "unknown entry type", func(r *raft) Message {
			return Message{Type: MsgApp, From: other(r), Term: r.Term, Index: last(r), LogTerm: lastTerm(r),
				Entries: []Entry{{Index: last(r) + 1, Term: r.Term, Type: 7}}}
		}},
		{"append conf change for node 0", "node 0", func(r *raft) Message {
			return Message{Type: MsgApp, From: other(r), Term: r.Term, Index: last(r), LogTerm: lastTerm(r),
				Entries: []Entry{{Index: last(r) + 1, Term: r.Term, Type: EntryConfChange, Data: ConfChange{NodeID: 0}.Marshal()}}}
		}},
		{"append malformed conf change", "malformed configuration change", func(r *raft) Message {
			return Message{Type: MsgApp, From: other(r), Term: r.Term, Index: last(r), LogTerm: lastTerm(r),
				Entries: []Entry{{Index: last(r) + 1, Term: r.Term, Type: EntryConfChange, Data: []byte{9}}}}
		}},
		{"append conf change with a padded node id", "malformed configuration change", func(r *raft) Message {
			return Message{Type: MsgApp, From: other(r), Term: r.Term, Index: last(r), LogTerm: lastTerm(r),
				Entries: []Entry{{Index: last(r) + 1, Term: r.Term, Type: EntryConfChange, Data: []byte{byte(ConfChangeAddVoter), 0x82, 0x00}}}}
		}},
		{"snapshot missing", "without a snapshot", func(r *raft) Message {
			return Message{Type: MsgSnap, From: other(r), Term: r.Term + 1}
		}},
		{"snapshot index 0", "snapshot index is 0", func(r *raft) Message {
			return snap(r, SnapshotMetadata{Term: r.Term, ConfState: cs})
		}},
		{"snapshot term 0", "snapshot term is 0", func(r *raft) Message {
			return snap(r, SnapshotMetadata{Index: last(r) + 10, ConfState: cs})
		}},
		{"snapshot term ahead of message term", "ahead of the message term", func(r *raft) Message {
			return snap(r, SnapshotMetadata{Index: last(r) + 10, Term: r.Term + 1, ConfState: cs})
		}},
		{"snapshot index overflow", "out of range", func(r *raft) Message {
			return snap(r, SnapshotMetadata{Index: math.MaxUint64, Term: r.Term, ConfState: cs})
		}},
		{"snapshot without voters", "no voter", func(r *raft) Message {
			return snap(r, SnapshotMetadata{Index: last(r) + 10, Term: r.Term, ConfState: ConfState{Learners: []uint64{2}}})
		}},
		{"snapshot with node 0", "node 0", func(r *raft) Message {
			return snap(r, SnapshotMetadata{Index: last(r) + 10, Term: r.Term, ConfState: ConfState{Voters: []uint64{0, 1, 2}}})
		}},
		{"snapshot with a node twice", "twice", func(r *raft) Message {
			return snap(r, SnapshotMetadata{Index: last(r) + 10, Term: r.Term, ConfState: ConfState{Voters: []uint64{1, 2}, Learners: []uint64{2}}})
		}},
		{"from 0", "from is 0", func(r *raft) Message {
			return Message{Type: MsgHeartbeat, From: 0, Term: r.Term + 1}
		}},
		{"from this node", "from is this node", func(r *raft) Message {
			return Message{Type: MsgAppResp, From: r.id, Term: r.Term, Index: last(r)}
		}},
		{"vote with term 0", "term is 0", func(r *raft) Message {
			return Message{Type: MsgVote, From: other(r), Index: last(r), LogTerm: lastTerm(r)}
		}},
		{"response with term 0", "term is 0", func(r *raft) Message {
			return Message{Type: MsgAppResp, From: other(r), Index: last(r)}
		}},
		{"forwarded read with a term", "carries term", func(r *raft) Message {
			return Message{Type: MsgReadIndex, From: other(r), Term: r.Term + 1, Context: []byte("x")}
		}},
		{"forwarded transfer with a term", "carries term", func(r *raft) Message {
			return Message{Type: MsgTransferLeader, From: other(r), Term: r.Term}
		}},
		{"term overflow", "out of range", func(r *raft) Message {
			return Message{Type: MsgHeartbeat, From: other(r), Term: math.MaxUint64}
		}},
		{"vote last term ahead of election term", "ahead of the election term", func(r *raft) Message {
			return Message{Type: MsgVote, From: other(r), Term: r.Term + 1, Index: last(r) + 5, LogTerm: r.Term + 2}
		}},
		{"pre-vote last term ahead of election term", "ahead of the election term", func(r *raft) Message {
			return Message{Type: MsgPreVote, From: other(r), Term: r.Term + 1, Index: last(r) + 5, LogTerm: r.Term + 2}
		}},
		{"append response hint beyond rejected index", "reject hint", func(r *raft) Message {
			return Message{Type: MsgAppResp, From: other(r), Term: r.Term, Index: 2, Reject: true, RejectHint: 9}
		}},
		{"append response hint term ahead of sender term", "ahead of the sender's term", func(r *raft) Message {
			return Message{Type: MsgAppResp, From: other(r), Term: r.Term, Index: 2, Reject: true, RejectHint: 1, LogTerm: r.Term + 1}
		}},
		{"proposal without entries", "without entries", func(r *raft) Message {
			return Message{Type: MsgProp, From: other(r)}
		}},
		{"proposal of a conf change for node 0", "node 0", func(r *raft) Message {
			return Message{Type: MsgProp, From: other(r), Entries: []Entry{{Type: EntryConfChange, Data: ConfChange{Type: ConfChangeAddVoter}.Marshal()}}}
		}},
		{"unknown message type", "unknown message type", func(r *raft) Message {
			return Message{Type: msgTypeCount + 3, From: other(r), Term: r.Term}
		}},
	}
	// Messages only a leader acts on the fields of.
	leaderOnly := []struct {
		name   string
		reason string
		msg    mk
	}{
		{"append response index beyond last index", "beyond the leader's last index", func(r *raft) Message {
			return Message{Type: MsgAppResp, From: 2, Term: r.Term, Index: last(r) + 1}
		}},
		{"append rejection index beyond last index", "beyond the leader's last index", func(r *raft) Message {
			return Message{Type: MsgAppResp, From: 2, Term: r.Term, Index: last(r) + 7, Reject: true, RejectHint: last(r) + 7}
		}},
		{"heartbeat response tick ahead", "echoed tick", func(r *raft) Message {
			return Message{Type: MsgHeartbeatResp, From: 2, Term: r.Term, Index: r.ticks + 1}
		}},
	}
	for _, role := range []string{"leader", "follower", "candidate"} {
		cases := tests
		if role == "leader" {
			cases = append(cases, leaderOnly...)
		}
		for _, tt := range cases {
			t.Run(role+"/"+tt.name, func(t *testing.T) {
				_, tn, log := roleNetwork(t, role)
				before := captureState(t, tn.rn)
				m := tt.msg(tn.rn.raft)
				m.To = tn.id
				nlines := len(log.lines)
				var err error
				func() {
					defer func() {
						if p := recover(); p != nil {
							t.Fatalf("Step(%+v) panicked: %v", m, p)
						}
					}()
					err = tn.rn.Step(m)
				}()
				if !errors.Is(err, ErrInvalidMessage) {
					t.Fatalf("Step(%+v) = %v, want ErrInvalidMessage", m, err)
				}
				if after := captureState(t, tn.rn); !reflect.DeepEqual(before, after) {
					t.Fatalf("state changed by a dropped message\nbefore: %+v\nafter:  %+v", before, after)
				}
				if tn.rn.HasReady() {
					t.Fatalf("a dropped message left a Ready: %+v", tn.rn.Ready())
				}
				logged := log.lines[nlines:]
				if len(logged) != 1 || !strings.HasPrefix(logged[0], "WARN ") ||
					!strings.Contains(logged[0], "dropped invalid message") || !strings.Contains(logged[0], tt.reason) {
					t.Fatalf("logged %q, want one warning naming %q", logged, tt.reason)
				}
			})
		}
	}
}

// A response from a node without progress (a removed member's late answer)
// is refused as before, with a debug line, not as an invalid message.
func TestStepResponseFromNonMember(t *testing.T) {
	_, tn, log := roleNetwork(t, "leader")
	before := captureState(t, tn.rn)
	r := tn.rn.raft
	err := tn.rn.Step(Message{Type: MsgAppResp, From: 9, To: 1, Term: r.Term, Index: 1})
	if !errors.Is(err, ErrStepPeerNotFound) {
		t.Fatalf("Step = %v, want ErrStepPeerNotFound", err)
	}
	if after := captureState(t, tn.rn); !reflect.DeepEqual(before, after) {
		t.Fatalf("state changed\nbefore: %+v\nafter:  %+v", before, after)
	}
	if l := log.lines[len(log.lines)-1]; !strings.HasPrefix(l, "DEBUG ") || !strings.Contains(l, "not a member") {
		t.Fatalf("last line %q, want a debug line saying the sender is not a member", l)
	}
}

// The checks must not refuse what Raft accepts: a leader that the node
// does not know (a node being added has no configuration yet), a vote
// request from a non-member (answered, with our term), an append whose
// commit is beyond the entries it carries (the leader's commit index, used
// only up to the last verified entry), and a forwarded transfer or read
// that names this node as its sender.
func TestStepKeepsRaftSemantics(t *testing.T) {
	t.Run("append from a leader the new node does not know", func(t *testing.T) {
		nw := newEmptyNetwork(t)
		tn := nw.addNode(4, NewMemoryStorage())
		if err := tn.rn.Step(Message{Type: MsgHeartbeat, From: 1, To: 4, Term: 2}); err != nil {
			t.Fatal(err)
		}
		if err := tn.rn.Step(Message{Type: MsgApp, From: 1, To: 4, Term: 2, Index: 0, LogTerm: 0,
			Entries: []Entry{{Index: 1, Term: 1}, {Index: 2, Term: 2}}, Commit: 7}); err != nil {
			t.Fatal(err)
		}
		r := tn.rn.raft
		if r.lead != 1 || r.raftLog.lastIndex() != 2 || r.raftLog.committed != 2 {
			t.Fatalf("lead %d last %d commit %d, want 1, 2, 2", r.lead, r.raftLog.lastIndex(), r.raftLog.committed)
		}
	})
	t.Run("vote request from a non-member", func(t *testing.T) {
		_, tn, _ := roleNetwork(t, "follower")
		r := tn.rn.raft
		if err := tn.rn.Step(Message{Type: MsgVote, From: 9, To: 2, Term: r.Term + 1, Index: r.raftLog.lastIndex(), LogTerm: r.raftLog.lastTerm()}); err != nil {
			t.Fatal(err)
		}
		if len(r.msgs) != 1 || r.msgs[0].Type != MsgVoteResp || r.msgs[0].To != 9 {
			t.Fatalf("messages %+v, want a vote response to 9", r.msgs)
		}
	})
	t.Run("transfer forwarded to the leader it names", func(t *testing.T) {
		_, tn, _ := roleNetwork(t, "leader")
		if err := tn.rn.Step(Message{Type: MsgTransferLeader, From: 1, To: 1}); err != nil {
			t.Fatal(err)
		}
	})
}

// gappedStorage claims a first index beyond its last index + 1: entries
// between its snapshot and its log's end are missing.
type gappedStorage struct{ *MemoryStorage }

func (gappedStorage) FirstIndex() (uint64, error) { return 9, nil }

// A storage whose state contradicts itself is refused at NewRawNode with
// ErrCorruptStorage; before, the hard state case panicked in loadState
// ("state.commit is out of range") and a restored older log panicked at the
// first heartbeat ("tocommit out of range").
func TestNewRawNodeRefusesInconsistentStorage(t *testing.T) {
	behind := NewMemoryStorage()
	if err := behind.Append([]Entry{{Index: 1, Term: 1}, {Index: 2, Term: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := behind.SetHardState(HardState{Term: 1, Commit: 5}); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]Storage{
		"commit beyond the last index": behind,
		"first index beyond the end":   gappedStorage{NewMemoryStorage()},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := newTestConfig(1, s)
			var err error
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("NewRawNode panicked: %v", p)
					}
				}()
				_, err = NewRawNode(&cfg)
			}()
			if !errors.Is(err, ErrCorruptStorage) {
				t.Fatalf("NewRawNode = %v, want ErrCorruptStorage", err)
			}
		})
	}
}

// A follower restarted from an older copy of its storage (restored from a
// backup: its log ends before entries it acknowledged) used to panic at the
// leader's next heartbeat ("tocommit(N) is out of range [lastIndex(M)]").
// The heartbeat is dropped with a warning saying the log may have lost
// acknowledged entries; the follower's state is unchanged. (The stores
// cannot see this at open when the whole copy is self-consistent; kvservice
// refuses the partial restores it can see.)
func TestRestoredOlderLogDropsHeartbeat(t *testing.T) {
	log3 := &recLogger{}
	nw := newEmptyNetwork(t)
	for id := uint64(1); id <= 3; id++ {
		tn := nw.addNode(id, NewMemoryStorage(), func(c *Config) {
			if c.ID == 3 {
				c.Logger = log3
			}
		})
		if err := tn.rn.Bootstrap([]uint64{1, 2, 3}); err != nil {
			t.Fatal(err)
		}
	}
	nw.stabilize()
	nw.campaign(1)
	nw.mustPropose(1, "a")

	// Copy node 3's storage, as a backup would.
	tn3 := nw.node(3)
	old := NewMemoryStorage()
	first, _ := tn3.storage.FirstIndex()
	last, _ := tn3.storage.LastIndex()
	ents, err := tn3.storage.Entries(first, last+1, noLimit)
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Append(ents); err != nil {
		t.Fatal(err)
	}
	hs, _, _ := tn3.storage.InitialState()
	if err := old.SetHardState(hs); err != nil {
		t.Fatal(err)
	}
	oldApplied := tn3.appliedIndex

	// Node 3 acknowledges more entries, then restarts from the old copy.
	nw.mustPropose(1, "b")
	nw.mustPropose(1, "c")
	cfg := tn3.cfg
	cfg.Storage = old
	cfg.Applied = oldApplied
	rn, err := NewRawNode(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	tn3.rn, tn3.storage, tn3.appliedIndex = rn, old, oldApplied
	nw.process(tn3)

	// The leader's next heartbeat to 3 commits what 3 acknowledged.
	nw.node(1).rn.Tick()
	nw.process(nw.node(1))
	var hb Message
	for _, m := range nw.queue {
		if m.Type == MsgHeartbeat && m.To == 3 {
			hb = m
		}
	}
	nw.queue = nil
	if hb.Commit <= last {
		t.Fatalf("heartbeat %+v does not commit beyond the old copy's last index %d", hb, last)
	}
	before := captureState(t, rn)
	n := len(log3.lines)
	if err := rn.Step(hb); !errors.Is(err, ErrInvalidMessage) {
		t.Fatalf("Step(%+v) = %v, want ErrInvalidMessage", hb, err)
	}
	if after := captureState(t, rn); !reflect.DeepEqual(before, after) {
		t.Fatalf("state changed\nbefore: %+v\nafter:  %+v", before, after)
	}
	if got := log3.lines[n:]; len(got) != 1 || !strings.Contains(got[0], "lost entries it acknowledged") {
		t.Fatalf("logged %q, want a warning that the log may have lost acknowledged entries", got)
	}
}
