package rafttest

import (
	"errors"
	"testing"

	"github.com/raftkv/raftkv/raft"
)

func wantViolation(t *testing.T, err error, prop string) {
	t.Helper()
	var v *Violation
	if !errors.As(err, &v) {
		t.Fatalf("got %v, want a %q violation", err, prop)
	}
	if v.Property != prop {
		t.Fatalf("got %q violation (%v), want %q", v.Property, v, prop)
	}
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func ent(index, term uint64, data string) raft.Entry {
	return raft.Entry{Index: index, Term: term, Data: []byte(data)}
}

func TestCheckerElectionSafety(t *testing.T) {
	c := NewChecker()
	noErr(t, c.ObserveLeader(2, 1))
	noErr(t, c.ObserveLeader(2, 1))
	noErr(t, c.ObserveLeader(3, 2))
	wantViolation(t, c.ObserveLeader(2, 3), PropElectionSafety)
}

func TestCheckerLogMatching(t *testing.T) {
	c := NewChecker()
	noErr(t, c.ObserveEntries(0, 0, true, []raft.Entry{ent(1, 1, "a"), ent(2, 1, "b")}))
	noErr(t, c.ObserveEntries(1, 1, true, []raft.Entry{ent(2, 1, "b"), ent(3, 2, "c")}))
	// Same index and term, different content.
	wantViolation(t, c.ObserveEntries(2, 1, true, []raft.Entry{ent(3, 2, "x")}), PropLogMatching)
	// Same index and term, different predecessor.
	wantViolation(t, c.ObserveEntries(2, 2, true, []raft.Entry{ent(3, 2, "c")}), PropLogMatching)
	// A proposal's index/term must name its content too.
	wantViolation(t, c.ObserveProposal(ent(1, 1, "z")), PropLogMatching)
	wantViolation(t, c.ObserveEntries(3, 2, true, []raft.Entry{ent(5, 2, "gap")}), PropLogMatching)
}

func TestCheckerStateMachineSafety(t *testing.T) {
	c := NewChecker()
	noErr(t, c.ObserveCommitted(2, ent(1, 1, "a")))
	noErr(t, c.ObserveCommitted(2, ent(2, 2, "b")))
	wantViolation(t, c.ObserveCommitted(3, ent(2, 3, "other")), PropStateMachineSafety)

	var sm StateMachine
	for _, e := range []raft.Entry{ent(1, 1, "a"), ent(2, 2, "b")} {
		noErr(t, sm.Apply(e))
		noErr(t, c.ObserveApplied(7, e, sm.Hash))
	}
	// Applying an entry nobody reported committed.
	var sm2 StateMachine
	noErr(t, sm2.Apply(ent(1, 1, "a")))
	noErr(t, c.ObserveApplied(8, ent(1, 1, "a"), sm2.Hash))
	wantViolation(t, c.ObserveApplied(8, ent(2, 1, "b'"), 0), PropStateMachineSafety)
	// Applying out of order.
	wantViolation(t, c.ObserveApplied(9, ent(2, 2, "b"), sm.Hash), PropStateMachineSafety)

	// Snapshots must hold the committed state at their index.
	good := raft.Snapshot{Data: sm.Snapshot(), Metadata: raft.SnapshotMetadata{Index: 2, Term: 2}}
	noErr(t, c.ObserveSnapshot(1, good, false))
	bad := StateMachine{Index: 2, Hash: sm.Hash + 1}
	wantViolation(t, c.ObserveSnapshot(1, raft.Snapshot{Data: bad.Snapshot(), Metadata: good.Metadata}, false), PropStateMachineSafety)
	// Installing a snapshot older than what the node applied.
	wantViolation(t, c.ObserveSnapshot(7, good, true), PropStateMachineSafety)

	noErr(t, c.ObserveConf(1, 5, raft.ConfState{Voters: []uint64{1, 2, 3}}))
	noErr(t, c.ObserveConf(2, 5, raft.ConfState{Voters: []uint64{3, 2, 1}}))
	wantViolation(t, c.ObserveConf(3, 5, raft.ConfState{Voters: []uint64{1, 2}}), PropStateMachineSafety)
}

func TestCheckerLeaderCompleteness(t *testing.T) {
	c := NewChecker()
	noErr(t, c.ObserveCommitted(3, ent(1, 1, "a")))
	noErr(t, c.ObserveCommitted(3, ent(2, 3, "b")))
	log := map[uint64]raft.Entry{1: ent(1, 1, "a")}
	at := func(i uint64) (raft.Entry, bool) { e, ok := log[i]; return e, ok }
	// A leader of term 3 (or older) need not hold what was committed by term 3.
	noErr(t, c.ObserveLeaderLog(4, 3, 0, at))
	// A leader of term 4 must.
	wantViolation(t, c.ObserveLeaderLog(4, 4, 0, at), PropLeaderCompleteness)
	log[2] = ent(2, 2, "stale")
	wantViolation(t, c.ObserveLeaderLog(4, 4, 0, at), PropLeaderCompleteness)
	log[2] = ent(2, 3, "b")
	noErr(t, c.ObserveLeaderLog(4, 4, 0, at))
	// Entries in the leader's snapshot are not looked up.
	noErr(t, c.ObserveLeaderLog(4, 4, 2, func(uint64) (raft.Entry, bool) { return raft.Entry{}, false }))
}

func TestCheckerVotesAndReads(t *testing.T) {
	c := NewChecker()
	noErr(t, c.ObserveVote(1, raft.HardState{Term: 2, Vote: 3}))
	noErr(t, c.ObserveVote(1, raft.HardState{Term: 2, Vote: 3, Commit: 4}))
	noErr(t, c.ObserveVote(1, raft.HardState{Term: 3, Vote: 1}))
	wantViolation(t, c.ObserveVote(1, raft.HardState{Term: 2, Vote: 2}), PropVote)

	noErr(t, c.ObserveCommitted(2, ent(1, 1, "a")))
	noErr(t, c.ObserveCommitted(2, ent(2, 2, "b")))
	c.ObserveReadRequest("r1")
	noErr(t, c.ObserveReadState(1, raft.ReadState{Index: 2, RequestCtx: []byte("r1")}))
	wantViolation(t, c.ObserveReadState(1, raft.ReadState{Index: 1, RequestCtx: []byte("r1")}), PropLinearizableRead)
	wantViolation(t, c.ObserveReadState(1, raft.ReadState{Index: 9, RequestCtx: []byte("nope")}), PropLinearizableRead)
}

func TestStateMachineSnapshotRoundTrip(t *testing.T) {
	var a StateMachine
	for i := uint64(1); i <= 5; i++ {
		noErr(t, a.Apply(ent(i, 1, "x")))
	}
	if err := a.Apply(ent(9, 1, "gap")); err == nil {
		t.Fatal("applied index 9 after 5")
	}
	var b StateMachine
	noErr(t, b.Restore(a.Snapshot()))
	if a != b {
		t.Fatalf("restored %+v, want %+v", b, a)
	}
	if err := b.Restore([]byte("short")); !errors.Is(err, ErrBadSnapshot) {
		t.Fatalf("got %v, want ErrBadSnapshot", err)
	}
}

func TestCheckReady(t *testing.T) {
	prev := raft.HardState{Term: 5, Vote: 2, Commit: 10}
	hs := func(term, vote, commit uint64) raft.HardState {
		return raft.HardState{Term: term, Vote: vote, Commit: commit}
	}
	ok := []raft.Ready{
		{HardState: hs(5, 2, 11)},
		{HardState: hs(6, 0, 10), MustSync: true},
		{Entries: []raft.Entry{ent(21, 5, "x")}, MustSync: true},
	}
	for _, rd := range ok {
		noErr(t, CheckReady(1, prev, 5, 20, rd))
	}
	wantViolation(t, CheckReady(1, prev, 0, 0, raft.Ready{HardState: hs(4, 0, 10), MustSync: true}), PropVote)
	wantViolation(t, CheckReady(1, prev, 0, 0, raft.Ready{HardState: hs(5, 3, 10), MustSync: true}), PropVote)
	wantViolation(t, CheckReady(1, prev, 0, 0, raft.Ready{HardState: hs(5, 2, 9)}), PropCommitDurability)
	// Leader Append-Only: overwriting its own entry 20, or appending an
	// entry of another term, or installing a snapshot.
	wantViolation(t, CheckReady(1, prev, 5, 20, raft.Ready{Entries: []raft.Entry{ent(20, 5, "y")}, MustSync: true}), PropLeaderAppendOnly)
	wantViolation(t, CheckReady(1, prev, 5, 20, raft.Ready{Entries: []raft.Entry{ent(21, 4, "y")}, MustSync: true}), PropLeaderAppendOnly)
	wantViolation(t, CheckReady(1, prev, 5, 20, raft.Ready{Snapshot: raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: 30, Term: 5}}, MustSync: true}), PropLeaderAppendOnly)
	// A former leader of an older term may have its log rewritten.
	noErr(t, CheckReady(1, prev, 4, 20, raft.Ready{Entries: []raft.Entry{ent(15, 5, "y")}, MustSync: true}))
	// Entries, a new term or a new vote must be synced.
	wantViolation(t, CheckReady(1, prev, 0, 0, raft.Ready{Entries: []raft.Entry{ent(21, 5, "x")}}), PropDurability)
	wantViolation(t, CheckReady(1, prev, 0, 0, raft.Ready{HardState: hs(6, 0, 10)}), PropDurability)
}

// A vote on the wire is a promise: a second vote in the same term, sent or
// persisted, breaks One vote per term; repeating the same vote does not.
func TestCheckerVoteSent(t *testing.T) {
	c := NewChecker()
	noErr(t, c.ObserveVoteSent(1, 5, 2))
	noErr(t, c.ObserveVote(1, raft.HardState{Term: 5, Vote: 2}))
	noErr(t, c.ObserveVoteSent(1, 5, 2))
	noErr(t, c.ObserveVoteSent(1, 6, 3))
	wantViolation(t, c.ObserveVote(1, raft.HardState{Term: 5, Vote: 3}), PropVote)
	wantViolation(t, c.ObserveVoteSent(1, 6, 2), PropVote)
}

// A node restarts with a hard state that covers what it sent: a term at
// least that of every message (pre-votes aside), and in that term the vote
// it granted on the wire.
func TestCheckerRestartState(t *testing.T) {
	c := NewChecker()
	c.ObserveSent(1, raft.Message{Type: raft.MsgHeartbeatResp, Term: 4})
	c.ObserveSent(1, raft.Message{Type: raft.MsgPreVote, Term: 9}) // a pre-vote's term is not the node's
	noErr(t, c.ObserveRestartState(1, raft.HardState{Term: 4}))
	noErr(t, c.ObserveRestartState(2, raft.HardState{})) // sent nothing
	wantViolation(t, c.ObserveRestartState(1, raft.HardState{Term: 3, Vote: 1}), PropDurability)

	c.ObserveSent(1, raft.Message{Type: raft.MsgVoteResp, Term: 5})
	noErr(t, c.ObserveVoteSent(1, 5, 2))
	noErr(t, c.ObserveRestartState(1, raft.HardState{Term: 5, Vote: 2}))
	noErr(t, c.ObserveRestartState(1, raft.HardState{Term: 6})) // moved on to a later term
	wantViolation(t, c.ObserveRestartState(1, raft.HardState{Term: 5}), PropVote)
	wantViolation(t, c.ObserveRestartState(1, raft.HardState{Term: 4, Vote: 1}), PropDurability)

	// A member removed and wiped on purpose comes back empty.
	c.ObserveWiped(1)
	noErr(t, c.ObserveRestartState(1, raft.HardState{}))
}

// Replacing an uncommitted entry is log repair; replacing the committed
// entry at an index is losing it. An entry of another term at a committed
// index that the node never held (a lagging node's stale tail) is not.
func TestCheckerOverwrite(t *testing.T) {
	c := NewChecker()
	noErr(t, c.ObserveCommitted(2, ent(1, 1, "a")))
	noErr(t, c.ObserveCommitted(2, ent(2, 2, "b")))
	noErr(t, c.ObserveOverwrite(1, 3, 2, 3)) // index 3 is not committed
	noErr(t, c.ObserveOverwrite(1, 2, 1, 2)) // the node held a stale entry there
	noErr(t, c.ObserveOverwrite(1, 2, 2, 2)) // same term: nothing replaced
	wantViolation(t, c.ObserveOverwrite(1, 2, 2, 1), PropCommitDurability)
	wantViolation(t, c.ObserveOverwrite(1, 1, 1, 0), PropCommitDurability) // cut off
}

// A leader must have a quorum of this term's votes, as the checker saw them
// sent or persisted: a stale vote of an earlier term does not count.
func TestCheckerElectedByQuorum(t *testing.T) {
	c := NewChecker()
	voters := []uint64{1, 2, 3}
	noErr(t, c.ObserveVoteSent(2, 4, 1))
	noErr(t, c.ObserveElected(4, 1, voters))
	noErr(t, c.ObserveElected(4, 5, nil))                                // no configuration known: nothing to check
	wantViolation(t, c.ObserveElected(5, 1, voters), PropElectionSafety) // node 2's vote was for term 4
	noErr(t, c.ObserveVote(3, raft.HardState{Term: 6, Vote: 1}))
	noErr(t, c.ObserveElected(6, 1, voters))
	wantViolation(t, c.ObserveElected(7, 1, []uint64{1, 2, 3, 4}), PropElectionSafety) // 2 of 4 is not a quorum
}

// TestCheckerStepTransitions shows each transition rule of ObserveStep
// failing, and the ordinary transitions it must let through.
func TestCheckerStepTransitions(t *testing.T) {
	leader := raft.BasicStatus{ID: 1, HardState: raft.HardState{Term: 4, Vote: 1, Commit: 5}, CommitTerm: 4,
		SoftState: raft.SoftState{Lead: 1, RaftState: raft.StateLeader}, LastIndex: 7, LastTerm: 4}
	follower := raft.BasicStatus{ID: 2, HardState: raft.HardState{Term: 4, Vote: 1, Commit: 5}, CommitTerm: 4,
		SoftState: raft.SoftState{Lead: 1, RaftState: raft.StateFollower}, LastIndex: 7, LastTerm: 4}
	appResp := raft.Message{Type: raft.MsgAppResp, From: 2, To: 1, Term: 4, Index: 7}
	with := func(s raft.BasicStatus, f func(*raft.BasicStatus)) raft.BasicStatus { f(&s); return s }
	c := NewChecker()

	// Ordinary steps: a leader commits its own term's entry; a follower
	// appends and learns a commit; a higher term deposes a leader; a stale
	// message is answered without any change.
	noErr(t, c.ObserveStep(appResp, leader, with(leader, func(s *raft.BasicStatus) { s.Commit, s.CommitTerm = 7, 4 })))
	app := raft.Message{Type: raft.MsgApp, From: 1, To: 2, Term: 4, Index: 7, LogTerm: 4, Commit: 7, Entries: []raft.Entry{ent(8, 4, "a")}}
	noErr(t, c.ObserveStep(app, follower, with(follower, func(s *raft.BasicStatus) { s.LastIndex, s.Commit = 8, 7 })))
	vote := raft.Message{Type: raft.MsgVote, From: 3, To: 1, Term: 5, Index: 7, LogTerm: 4}
	noErr(t, c.ObserveStep(vote, leader, with(leader, func(s *raft.BasicStatus) {
		s.Term, s.Vote, s.Lead, s.RaftState = 5, 3, raft.None, raft.StateFollower
	})))
	stale := raft.Message{Type: raft.MsgApp, From: 3, To: 2, Term: 3, Index: 6, LogTerm: 3, Commit: 7, Entries: []raft.Entry{ent(7, 3, "old")}}
	noErr(t, c.ObserveStep(stale, follower, follower))

	// A leader committing an earlier term's entry by counting (Figure 8).
	wantViolation(t, c.ObserveStep(appResp, leader, with(leader, func(s *raft.BasicStatus) { s.Commit, s.CommitTerm = 6, 3 })), PropCommitRule)
	// A follower acting on a deposed leader's append: it replaced its
	// entry, or took the stale sender as its leader.
	wantViolation(t, c.ObserveStep(stale, follower, with(follower, func(s *raft.BasicStatus) { s.LastTerm = 3 })), PropCurrentTerm)
	wantViolation(t, c.ObserveStep(stale, follower, with(follower, func(s *raft.BasicStatus) { s.Lead = 3 })), PropCurrentTerm)
	// A candidate counting a vote of an earlier term and becoming leader.
	candidate := with(follower, func(s *raft.BasicStatus) { s.Term, s.Vote, s.Lead, s.RaftState = 5, 2, raft.None, raft.StateCandidate })
	staleVote := raft.Message{Type: raft.MsgVoteResp, From: 3, To: 2, Term: 4}
	wantViolation(t, c.ObserveStep(staleVote, candidate, with(candidate, func(s *raft.BasicStatus) { s.Lead, s.RaftState = 2, raft.StateLeader })), PropCurrentTerm)
	// Terms and commit indexes never go down; a commit never passes the log.
	wantViolation(t, c.ObserveStep(app, follower, with(follower, func(s *raft.BasicStatus) { s.Term = 3 })), PropCurrentTerm)
	wantViolation(t, c.ObserveStep(app, follower, with(follower, func(s *raft.BasicStatus) { s.Commit = 4 })), PropCommitDurability)
	wantViolation(t, c.ObserveStep(app, follower, with(follower, func(s *raft.BasicStatus) { s.Commit = 9 })), PropCommitDurability)
	// A leader that truncates its own log within its term.
	wantViolation(t, c.ObserveStep(appResp, leader, with(leader, func(s *raft.BasicStatus) { s.LastIndex = 6 })), PropLeaderAppendOnly)
}
