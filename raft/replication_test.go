package raft

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// Reference: paper §5.3 and figure 7 — whatever a follower's log looks like
// (missing entries, extra uncommitted entries, entries of other terms), the
// leader brings it to match its own. With the follower's hint (the last
// index whose term is <= the leader's probe term, with that term) the
// leader skips a whole term per round trip, not one entry.
func TestLeaderSyncsFollowerLogFigure7(t *testing.T) {
	leaderLog := []uint64{1, 1, 1, 4, 4, 5, 5, 6, 6, 6}
	for _, tc := range []struct {
		name string
		log  []uint64
		term uint64
	}{
		{"a: missing one entry", []uint64{1, 1, 1, 4, 4, 5, 5, 6, 6}, 6},
		{"b: missing many entries", []uint64{1, 1, 1, 4}, 4},
		{"c: one extra entry", []uint64{1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6}, 6},
		{"d: extra entries of a later term", []uint64{1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7}, 7},
		{"e: extra entries of an old term", []uint64{1, 1, 1, 4, 4, 4, 4}, 4},
		{"f: many entries of other terms", []uint64{1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3}, 3},
		{"empty", nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Node 1 has the leader's log; node 2 the case's; node 3 an
			// empty log, so it votes for node 1 while 2 is cut off.
			nw := newLogNetwork(t, map[uint64][]uint64{1: leaderLog, 2: tc.log, 3: nil},
				map[uint64]uint64{1: 7, 2: tc.term, 3: 0})
			nw.cutLink(1, 2)
			nw.campaign(1)
			if nw.raft(1).state != StateLeader || nw.raft(1).Term != 8 {
				t.Fatalf("node 1 is %s at term %d, want leader at 8", nw.raft(1).state, nw.raft(1).Term)
			}
			nw.heal()
			nw.record = true
			nw.tick(1) // a heartbeat resumes probing node 2
			nw.stabilize()
			want := append(append([]uint64(nil), leaderLog...), 8)
			if got := nw.node(2).logTerms(1); !reflect.DeepEqual(got, want) {
				t.Fatalf("follower log terms = %v, want %v", got, want)
			}
			rejections := 0
			for _, m := range nw.delivered {
				if m.Type == MsgAppResp && m.From == 2 && m.Reject {
					rejections++
				}
			}
			// Fast backtracking: at most one rejection per conflicting
			// term, here never more than 2.
			if rejections > 2 {
				t.Fatalf("%d rejections before the logs matched, want <= 2", rejections)
			}
			if c := nw.raft(2).raftLog.committed; c != 11 {
				t.Fatalf("follower commit = %d, want 11", c)
			}
		})
	}
}

// Reference: paper §5.3 — the consistency check: a follower rejects a MsgApp
// whose previous entry it lacks, and its hint points at the last entry that
// can match.
func TestFollowerRejectHint(t *testing.T) {
	for _, tc := range []struct {
		log               []uint64
		index, logTerm    uint64
		wantHint, wantTrm uint64
	}{
		// The follower lacks index 5: hint at its last index.
		{[]uint64{1, 1, 2}, 5, 3, 3, 2},
		// Entry 3 is of term 2 < 3: it might match; hint 3.
		{[]uint64{1, 1, 2, 2}, 4, 3, 4, 2},
		// Entries 3..5 are of term 5 > 4: none can match the leader's
		// entries of term <= 4; the hint skips to index 2.
		{[]uint64{1, 1, 5, 5, 5}, 5, 4, 2, 1},
	} {
		nw := newLogNetwork(t, map[uint64][]uint64{1: tc.log, 2: nil}, map[uint64]uint64{1: 5, 2: 5})
		r := nw.raft(1)
		_ = r.Step(Message{From: 2, To: 1, Type: MsgApp, Term: 6, Index: tc.index, LogTerm: tc.logTerm})
		if len(r.msgs) != 1 {
			t.Fatalf("msgs = %+v", r.msgs)
		}
		m := r.msgs[0]
		if !m.Reject || m.Index != tc.index || m.RejectHint != tc.wantHint || m.LogTerm != tc.wantTrm {
			t.Errorf("log %v, MsgApp(index %d, term %d): got reject=%v index=%d hint=%d term=%d; want hint %d term %d",
				tc.log, tc.index, tc.logTerm, m.Reject, m.Index, m.RejectHint, m.LogTerm, tc.wantHint, tc.wantTrm)
		}
	}
}

// Reference: paper §5.4.2 and figure 8 — a leader must not commit an entry
// of an earlier term by counting replicas, even once a majority stores it:
// a later leader may still overwrite it. Only entries of its own term are
// committed that way (the earlier ones then by the Log Matching property).
func TestCommitOnlyCurrentTermFigure8(t *testing.T) {
	nw := newNetwork(t, 5, withMaxSizePerMsg(1))
	// Entries 1-5 are the bootstrap configuration, 6 is S1's no-op.
	nw.campaign(1) // (a) S1 leads term 2
	for _, id := range []uint64{3, 4, 5} {
		nw.isolate(id)
	}
	nw.mustPropose(1, "x") // index 7, term 2, on S1 and S2 only
	if got := nw.node(2).logTerms(7); !reflect.DeepEqual(got, []uint64{2}) {
		t.Fatalf("S2 log from 7 = %v, want [2]", got)
	}

	// (b) S1 crashes; S5 is elected for term 3 by S3, S4 (S2 refuses: its
	// log is longer) and appends a no-op at index 7 that reaches nobody.
	nw.heal()
	nw.isolate(1)
	nw.filter = func(m *Message) bool { return !(m.From == 5 && m.Type == MsgApp) }
	nw.campaign(5)
	if nw.raft(5).state != StateLeader || nw.raft(5).Term != 3 {
		t.Fatalf("S5 is %s at term %d, want leader at 3", nw.raft(5).state, nw.raft(5).Term)
	}

	// (c) S5 crashes; S1 restarts and is elected for term 4 (after a
	// failed attempt at term 3, where S3 and S4 had voted already). It
	// replicates index 7 (term 2) to S2 and S3: a majority stores it. Its
	// own no-op at index 8 stays on S1 — the filter strips it, as if S1
	// had sent index 7 before appending 8.
	nw.heal()
	nw.isolate(5)
	nw.restart(1)
	nw.filter = func(m *Message) bool {
		if m.From == 1 && m.Type == MsgApp {
			if m.To == 4 {
				return false
			}
			kept := m.Entries[:0:0]
			for _, e := range m.Entries {
				if e.Index < 8 {
					kept = append(kept, e)
				}
			}
			m.Entries = kept
		}
		return true
	}
	for i := 0; i < 3 && nw.raft(1).state != StateLeader; i++ {
		nw.campaign(1)
	}
	if nw.raft(1).state != StateLeader || nw.raft(1).Term != 4 {
		t.Fatalf("S1 is %s at term %d, want leader at 4", nw.raft(1).state, nw.raft(1).Term)
	}
	nw.tick(1)
	prs := nw.node(1).rn.Status().Progress
	if prs[2].Match != 7 || prs[3].Match != 7 || prs[1].Match != 8 {
		t.Fatalf("matches = S1 %d, S2 %d, S3 %d; want 8, 7, 7", prs[1].Match, prs[2].Match, prs[3].Match)
	}
	if c := nw.raft(1).raftLog.committed; c != 6 {
		t.Fatalf("S1 committed %d: index 7 is of term 2 and must not be committed by counting replicas", c)
	}

	// (d) S1 crashes; S5 restarts and can be elected (by S2, S3, S4, whose last terms
	// are 2) and overwrites index 7 everywhere. Had S1 committed it, a
	// committed entry would now be lost; the network checks that no node
	// ever applies two different entries at one index.
	nw.heal()
	nw.isolate(1)
	nw.restart(5)
	for i := 0; i < 3 && nw.raft(5).state != StateLeader; i++ {
		nw.campaign(5)
	}
	if nw.raft(5).state != StateLeader || nw.raft(5).Term != 5 {
		t.Fatalf("S5 did not win: %s at term %d", nw.raft(5).state, nw.raft(5).Term)
	}
	nw.heal()
	nw.ticks(2)
	for _, id := range nw.ids {
		if got := nw.node(id).logTerms(7)[0]; got != 3 {
			t.Errorf("S%d entry 7 has term %d, want 3 (S5's)", id, got)
		}
		for _, d := range nw.node(id).appliedData() {
			if d == "x" {
				t.Errorf("S%d applied the uncommitted entry", id)
			}
		}
	}
}

// Reference: paper §5.4.2 — the commit rule in isolation.
func TestCommitRule(t *testing.T) {
	for _, tc := range []struct {
		matches []uint64
		log     []uint64
		term    uint64
		want    uint64
	}{
		// A majority has index 2, of the current term.
		{[]uint64{2, 2, 1}, []uint64{1, 2}, 2, 2},
		// A majority has index 2, but it is of an old term.
		{[]uint64{2, 2, 1}, []uint64{1, 1}, 2, 0},
		{[]uint64{3, 2, 2, 1, 1}, []uint64{1, 2, 2}, 2, 2},
		// Only index 1 is on a majority, and it is of an old term.
		{[]uint64{3, 2, 1, 1, 1}, []uint64{1, 2, 2}, 2, 0},
		// Even-sized cluster: 2 of 4 is not a majority.
		{[]uint64{2, 2, 1, 1}, []uint64{1, 2}, 2, 0},
		{[]uint64{2, 2, 2, 1}, []uint64{1, 2}, 2, 2},
	} {
		logs := map[uint64][]uint64{}
		terms := map[uint64]uint64{}
		for i := range tc.matches {
			logs[uint64(i+1)] = tc.log
			terms[uint64(i+1)] = tc.term
		}
		nw := newLogNetwork(t, logs, terms)
		r := nw.raft(1)
		r.state = StateLeader
		r.raftLog.committed = 0
		for i, m := range tc.matches {
			r.trk.progress[uint64(i+1)].Match = m
		}
		r.maybeCommit()
		if r.raftLog.committed != tc.want {
			t.Errorf("matches %v log %v term %d: committed %d, want %d", tc.matches, tc.log, tc.term, r.raftLog.committed, tc.want)
		}
	}
}

// The leader counts its own entries toward the commit quorum only once
// Advance reports them persisted: a single-node cluster commits nothing
// until its Ready is processed.
func TestLeaderCountsSelfOnlyAfterAdvance(t *testing.T) {
	s := NewMemoryStorage()
	cfg := newTestConfig(1, s)
	rn, err := NewRawNode(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := rn.Bootstrap([]uint64{1}); err != nil {
		t.Fatal(err)
	}
	rd := rn.Ready()
	_ = s.Save(rd.HardState, rd.Entries, rd.Snapshot, true)
	rn.Advance(rd)
	if err := rn.Campaign(); err != nil {
		t.Fatal(err)
	}
	idx, _, err := rn.Propose([]byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	if c := rn.raft.raftLog.committed; c >= idx {
		t.Fatalf("committed %d before the leader's entries were persisted", c)
	}
	rd = rn.Ready()
	if len(rd.CommittedEntries) != 0 {
		t.Fatalf("committed entries %v before persistence", rd.CommittedEntries)
	}
	_ = s.Save(rd.HardState, rd.Entries, rd.Snapshot, true)
	rn.Advance(rd)
	rd = rn.Ready()
	if n := len(rd.CommittedEntries); n == 0 || rd.CommittedEntries[n-1].Index != idx {
		t.Fatalf("after Advance, committed entries = %v, want through %d", rd.CommittedEntries, idx)
	}
}

func countMsgApps(msgs []Message, from, to uint64) (n int, maxEnts int, maxBytes uint64) {
	for _, m := range msgs {
		// Empty MsgApps (commit updates) do not use the window.
		if m.Type != MsgApp || m.From != from || m.To != to || len(m.Entries) == 0 {
			continue
		}
		n++
		maxEnts = max(maxEnts, len(m.Entries))
		var b uint64
		for _, e := range m.Entries {
			b += e.Size()
		}
		maxBytes = max(maxBytes, b)
	}
	return
}

// Flow control: in ProgressReplicate at most MaxInflightMsgs MsgApps are
// outstanding to a follower; in probe, one.
func TestFlowControlInflightLimit(t *testing.T) {
	nw := newNetwork(t, 3, withMaxInflight(3))
	nw.campaign(1)
	if st := nw.node(1).rn.Status().Progress[2].State; st != ProgressReplicate {
		t.Fatalf("follower 2 in %s, want replicate", st)
	}
	// Follower 2's acknowledgements are lost: the window fills.
	nw.filter = func(m *Message) bool { return !(m.From == 2 && m.Type == MsgAppResp) }
	nw.record = true
	for i := 0; i < 10; i++ {
		nw.mustPropose(1, fmt.Sprintf("v%d", i))
	}
	if n, _, _ := countMsgApps(nw.delivered, 1, 2); n != 3 {
		t.Fatalf("%d MsgApps with entries reached follower 2 with no acks, want 3 (MaxInflightMsgs)", n)
	}
	if n, _, _ := countMsgApps(nw.delivered, 1, 3); n < 10 {
		t.Fatalf("%d MsgApps reached follower 3, want >= 10 (it acks)", n)
	}
	if pr := nw.node(1).rn.Status().Progress[2]; pr.Inflight != 3 {
		t.Fatalf("inflight = %d, want 3", pr.Inflight)
	}
	// Once acks flow again the follower catches up.
	nw.heal()
	nw.ticks(3)
	if got, want := nw.node(2).appliedData(), nw.node(1).appliedData(); !reflect.DeepEqual(got, want) {
		t.Fatalf("follower 2 applied %v, leader %v", got, want)
	}

	// Probe: a follower whose position is unknown gets one MsgApp at a
	// time.
	nw.isolate(3)
	for i := 0; i < 5; i++ {
		nw.mustPropose(1, fmt.Sprintf("w%d", i))
	}
	nw.node(1).rn.ReportUnreachable(3)
	if st := nw.node(1).rn.Status().Progress[3].State; st != ProgressProbe {
		t.Fatalf("after ReportUnreachable follower 3 is in %s, want probe", st)
	}
	nw.delivered = nil
	nw.filter = func(m *Message) bool { return !(m.From == 3 && m.Type == MsgAppResp) }
	delete(nw.cut, [2]uint64{1, 3})
	for i := 0; i < 5; i++ {
		nw.mustPropose(1, fmt.Sprintf("p%d", i))
	}
	if n, _, _ := countMsgApps(nw.delivered, 1, 3); n != 1 {
		t.Fatalf("%d MsgApps to a probed follower, want 1", n)
	}
}

// Flow control: a MsgApp carries at most MaxSizePerMsg bytes of entries
// (but always one entry).
func TestFlowControlMessageSize(t *testing.T) {
	payload := strings.Repeat("z", 100) // Size() == 124
	nw := newNetwork(t, 3, withMaxSizePerMsg(250))
	nw.campaign(1)
	nw.isolate(2)
	for i := 0; i < 10; i++ {
		nw.mustPropose(1, payload)
	}
	nw.heal()
	nw.record = true
	nw.ticks(2)
	n, maxEnts, maxBytes := countMsgApps(nw.delivered, 1, 2)
	if n < 5 || maxEnts > 2 || maxBytes > 250 {
		t.Fatalf("catch-up used %d MsgApps with up to %d entries / %d bytes; want >= 5 messages of <= 2 entries, <= 250 bytes", n, maxEnts, maxBytes)
	}
	if got := len(nw.node(2).appliedData()); got != 10 {
		t.Fatalf("follower applied %d entries, want 10", got)
	}
}

// The leader's uncommitted tail is limited by MaxUncommittedEntriesSize.
func TestUncommittedEntriesLimit(t *testing.T) {
	nw := newNetwork(t, 3, func(c *Config) { c.MaxUncommittedEntriesSize = 1000 })
	nw.campaign(1)
	nw.isolate(2)
	nw.isolate(3)
	rn := nw.node(1).rn
	data := make([]byte, 300)
	var err error
	n := 0
	for ; n < 10; n++ {
		if _, _, err = rn.Propose(data); err != nil {
			break
		}
	}
	if err != ErrProposalDropped || n != 3 {
		t.Fatalf("accepted %d proposals of 300 bytes under a 1000-byte limit, err %v; want 3 then ErrProposalDropped", n, err)
	}
	nw.heal()
	nw.ticks(2)
	if _, _, err := rn.Propose(data); err != nil {
		t.Fatalf("after the tail committed: %v", err)
	}
}

// Reference: paper §7 — a follower that needs compacted entries gets the
// snapshot, restores from it, and then continues from the log.
func TestSnapshotSendAndRestore(t *testing.T) {
	nw := newNetwork(t, 3)
	nw.campaign(1)
	nw.isolate(3)
	for i := 0; i < 10; i++ {
		nw.mustPropose(1, fmt.Sprintf("a%d", i))
	}
	nw.compact(1)
	snapIndex := nw.node(1).appliedIndex
	if fi := nw.raft(1).raftLog.firstIndex(); fi != snapIndex+1 {
		t.Fatalf("leader first index %d, want %d", fi, snapIndex+1)
	}
	nw.heal()
	nw.record = true
	nw.ticks(2)
	sent := 0
	for _, m := range nw.delivered {
		if m.Type == MsgSnap && m.To == 3 {
			sent++
			if m.Snapshot.Metadata.Index != snapIndex {
				t.Fatalf("snapshot index %d, want %d", m.Snapshot.Metadata.Index, snapIndex)
			}
		}
	}
	if sent != 1 {
		t.Fatalf("%d snapshots sent, want 1", sent)
	}
	if got, want := nw.node(3).appliedData(), nw.node(1).appliedData(); !reflect.DeepEqual(got, want) {
		t.Fatalf("restored follower applied %v, want %v", got, want)
	}
	if fi, _ := nw.node(3).storage.FirstIndex(); fi != snapIndex+1 {
		t.Fatalf("follower storage first index %d, want %d", fi, snapIndex+1)
	}
	nw.mustPropose(1, "after")
	if got := nw.node(3).appliedData(); got[len(got)-1] != "after" {
		t.Fatalf("follower did not continue after the snapshot: %v", got)
	}
	if st := nw.node(1).rn.Status().Progress[3].State; st != ProgressReplicate {
		t.Fatalf("follower 3 in %s after catching up, want replicate", st)
	}
}

// A failed snapshot is retried.
func TestSnapshotFailureRetried(t *testing.T) {
	nw := newNetwork(t, 3)
	nw.campaign(1)
	nw.isolate(3)
	for i := 0; i < 5; i++ {
		nw.mustPropose(1, fmt.Sprintf("a%d", i))
	}
	nw.compact(1)
	nw.heal()
	nw.dropTypes[MsgSnap] = true
	nw.ticks(1)
	lead := nw.node(1).rn
	if st := lead.Status().Progress[3].State; st != ProgressSnapshot {
		t.Fatalf("follower 3 in %s, want snapshot", st)
	}
	// Nothing more goes to 3 while the snapshot is pending.
	nw.ticks(3)
	lead.ReportSnapshot(3, SnapshotFailure)
	if st := lead.Status().Progress[3].State; st != ProgressProbe {
		t.Fatalf("after failure follower 3 in %s, want probe", st)
	}
	nw.heal()
	nw.ticks(3)
	if got, want := nw.node(3).appliedData(), nw.node(1).appliedData(); !reflect.DeepEqual(got, want) {
		t.Fatalf("follower applied %v, want %v", got, want)
	}
}

// A node restarted from its storage resumes where it was, replaying the
// configuration changes it had applied (Config.Applied) and handing out
// only later committed entries.
func TestRestartFromStorage(t *testing.T) {
	nw := newNetwork(t, 3)
	nw.campaign(1)
	for i := 0; i < 3; i++ {
		nw.mustPropose(1, fmt.Sprintf("a%d", i))
	}
	old := nw.node(2)
	cfg := old.cfg
	cfg.Applied = old.appliedIndex
	rn, err := NewRawNode(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	st := rn.Status()
	if !st.Config.Equal(ConfState{Voters: []uint64{1, 2, 3}}) {
		t.Fatalf("restarted config %+v", st.Config)
	}
	if st.Commit != old.appliedIndex || st.Applied != old.appliedIndex || st.Term != nw.raft(1).Term {
		t.Fatalf("restarted status %+v", st)
	}
	if rn.HasReady() {
		if rd := rn.Ready(); len(rd.CommittedEntries) > 0 || len(rd.Entries) > 0 {
			t.Fatalf("restart handed out again: %+v", rd)
		}
	}
	old.rn = rn
	nw.mustPropose(1, "b")
	if got := old.appliedData(); got[len(got)-1] != "b" {
		t.Fatalf("restarted node applied %v", got)
	}
}

// A commit index saved lazily may lag the applied index or the snapshot; a
// restart trusts what was applied and what the snapshot holds, since both
// were committed.
func TestRestartWithLaggingCommit(t *testing.T) {
	s := NewMemoryStorage()
	_ = s.Append(ents(1, 1, 1, 1, 1, 1))
	_ = s.SetHardState(HardState{Term: 1, Commit: 2})
	cfg := newTestConfig(1, s)
	cfg.Applied = 4
	rn, err := NewRawNode(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	if st := rn.Status(); st.Commit != 4 || st.Applied != 4 {
		t.Fatalf("commit %d applied %d, want 4, 4", st.Commit, st.Applied)
	}
	if _, err := s.CreateSnapshot(5, ConfState{Voters: []uint64{1}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(5); err != nil {
		t.Fatal(err)
	}
	cfg.Applied = 0
	rn, err = NewRawNode(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	if st := rn.Status(); st.Commit != 5 || st.FirstIndex != 6 {
		t.Fatalf("after compaction: commit %d first %d, want 5, 6", st.Commit, st.FirstIndex)
	}
	cfg.Applied = 9
	if _, err := NewRawNode(&cfg); err == nil {
		t.Fatal("an applied index beyond the log was accepted")
	}
}

// A snapshot lost without a failure report is sent again after a few
// election timeouts (the member keeps answering heartbeats meanwhile).
func TestSnapshotLostSilentlyIsRetried(t *testing.T) {
	nw := newNetwork(t, 3)
	nw.campaign(1)
	nw.isolate(3)
	for i := 0; i < 5; i++ {
		nw.mustPropose(1, fmt.Sprintf("a%d", i))
	}
	nw.compact(1)
	nw.heal()
	nw.dropTypes[MsgSnap] = true
	nw.ticks(2)
	if st := nw.node(1).rn.Status().Progress[3].State; st != ProgressSnapshot {
		t.Fatalf("follower 3 in %s, want snapshot", st)
	}
	delete(nw.dropTypes, MsgSnap)
	nw.ticks(10 * snapshotRetryElections)
	if got, want := nw.node(3).appliedData(), nw.node(1).appliedData(); !reflect.DeepEqual(got, want) {
		t.Fatalf("follower applied %v, want %v", got, want)
	}
}

// Proposals made between two Readys leave in one MsgApp per follower.
func TestProposalsBatchedPerReady(t *testing.T) {
	nw := newNetwork(t, 3)
	nw.campaign(1)
	rn := nw.node(1).rn
	for i := 0; i < 10; i++ {
		if _, _, err := rn.Propose([]byte(fmt.Sprintf("v%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	nw.record = true
	nw.stabilize()
	for _, to := range []uint64{2, 3} {
		if n, maxEnts, _ := countMsgApps(nw.delivered, 1, to); n != 1 || maxEnts != 10 {
			t.Fatalf("to %d: %d MsgApps with up to %d entries, want 1 with 10", to, n, maxEnts)
		}
	}
}
