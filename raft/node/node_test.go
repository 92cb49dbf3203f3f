package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/raftkv/raftkv/raft"
)

func TestIsDefinite(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{ErrNotLeader, true},
		{ErrProposalDropped, true},
		{fmt.Errorf("%w: replaced", ErrProposalDropped), true},
		{ErrPendingConfChange, true},
		{ErrEmptyProposal, true},
		{ErrStopped, true},
		{fmt.Errorf("%w: %w", ErrOutcomeUnknown, ErrStopped), false},
		{fmt.Errorf("%w: %w", ErrLeadershipLost, context.DeadlineExceeded), false},
		{context.DeadlineExceeded, false},
		{fmt.Errorf("%w: %w", ErrNotProposed, context.DeadlineExceeded), true},
		{context.Canceled, false},
		{errors.New("something else"), false},
	} {
		require.Equal(t, tc.want, IsDefinite(tc.err), "%v", tc.err)
	}
}

func TestClusterReplicatesInOrder(t *testing.T) {
	c := newCluster(t, 3, nil)
	var events sync.Map
	cancel := c.nodes[1].Subscribe(func(ev Event) { events.Store(ev.Type, ev) })
	defer cancel()

	lead := c.leader()
	var want []string
	for i := range 20 {
		v := fmt.Sprintf("v%d", i)
		c.propose(v)
		want = append(want, v)
	}
	c.converged(want)

	// A follower does not propose: definite, nothing in the log.
	follower := c.voters[0]
	if follower == lead {
		follower = c.voters[1]
	}
	_, err := c.nodes[follower].Propose(ctxTimeout(t, waitFor), []byte("nope"))
	require.ErrorIs(t, err, ErrNotLeader)
	require.True(t, IsDefinite(err))
	_, err = c.nodes[lead].Propose(ctxTimeout(t, waitFor), nil)
	require.ErrorIs(t, err, ErrEmptyProposal)

	st := c.nodes[lead].Status()
	require.Equal(t, raft.StateLeader, st.RaftState)
	require.GreaterOrEqual(t, st.Applied, uint64(20))
	require.Len(t, st.Progress, 3)

	require.Eventually(t, func() bool {
		_, a := events.Load(EventLeaderChanged)
		_, b := events.Load(EventTermChanged)
		return a && b
	}, waitFor, pollEvery)
}

func TestProposeResultIsTheAppliedEntry(t *testing.T) {
	c := newCluster(t, 3, nil)
	lead := c.leader()
	idx, err := c.nodes[lead].Propose(ctxTimeout(t, waitFor), []byte("a"))
	require.NoError(t, err)
	require.Equal(t, c.sms[lead].lastIndex(), idx.(uint64))
	require.Equal(t, []string{"a"}, c.sms[lead].commands())
}

func TestReadIndexBatchesAndWaitsForApply(t *testing.T) {
	var received atomic.Int64
	c := newClusterWith(t, 3, testHooks{onRead: func() { received.Add(1) }}, nil)
	lead := c.leader()

	for i := range 5 {
		c.propose(fmt.Sprintf("w%d", i))
	}
	writtenAt := c.sms[lead].lastIndex()

	// Hold the followers' answers so the first round stays in flight while
	// every read arrives; they must then share the next round.
	for _, id := range c.voters {
		if id != lead {
			c.nw.hold(id)
		}
	}
	before := c.nodes[lead].ReadRounds()
	const reads = 50
	var wg sync.WaitGroup
	errs := make(chan error, reads)
	read := func() {
		defer wg.Done()
		idx, err := c.nodes[lead].ReadIndex(ctxTimeout(t, waitFor))
		if err != nil {
			errs <- err
			return
		}
		if idx < writtenAt {
			errs <- fmt.Errorf("read index %d below acknowledged write %d", idx, writtenAt)
		}
		if got := c.nodes[lead].Status().Applied; got < idx {
			errs <- fmt.Errorf("returned read index %d before applying it (applied %d)", idx, got)
		}
	}
	// One read starts a round, which stays in flight; every later read
	// arrives meanwhile and must wait for the next round, together.
	wg.Add(1)
	go read()
	require.Eventually(t, func() bool { return c.nodes[lead].ReadRounds() == before+1 }, waitFor, pollEvery)
	for range reads - 1 {
		wg.Add(1)
		go read()
	}
	require.Eventually(t, func() bool { return received.Load() == reads }, waitFor, pollEvery)
	for _, id := range c.voters {
		if id != lead {
			c.nw.release(id)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	rounds := c.nodes[lead].ReadRounds() - before
	require.Less(t, rounds, uint64(reads), "reads were not batched")
	require.GreaterOrEqual(t, rounds, uint64(2))
	t.Logf("%d reads in %d read-index rounds", reads, rounds)

	// A follower's read goes through the leader and waits for its own apply.
	follower := c.voters[0]
	if follower == lead {
		follower = c.voters[1]
	}
	last := c.propose("after")
	idx, err := c.nodes[follower].ReadIndex(ctxTimeout(t, waitFor))
	require.NoError(t, err)
	require.GreaterOrEqual(t, idx, last)
	require.GreaterOrEqual(t, c.sms[follower].lastIndex(), last)
}

func TestLeaderPartitionedAway(t *testing.T) {
	// Each node's time is a FaultClock over the real one, so the test can
	// stop the isolated leader's time until both proposals are in its log:
	// before, they had to arrive "well within the election timeout" of
	// real time, and the first one's 600 ms deadline had to find the
	// leader already stepped down, which a busy machine did not always
	// allow.
	clocks := map[uint64]*FaultClock{}
	c := newCluster(t, 3, func(id uint64, cfg *Config) {
		clocks[id] = NewFaultClock(RealClock())
		cfg.Clock = clocks[id]
	})
	old := c.leader()
	before := c.propose("before")

	require.NoError(t, clocks[old].SetRate(0)) // no tick, so no step-down yet
	c.nw.isolate(old, true)
	type res struct {
		v   any
		err error
	}
	// lost-2 waits as long as it takes: a deadline would end it as
	// indeterminate before the heal that is to resolve it.
	lost2, stopWaiting := context.WithCancel(context.Background())
	defer stopWaiting()
	pending := make(chan res, 1)
	go func() {
		v, err := c.nodes[old].Propose(lost2, []byte("lost-2"))
		pending <- res{v, err}
	}()
	lost1, giveUp := context.WithCancel(context.Background())
	defer giveUp()
	lost1Done := make(chan error, 1)
	go func() {
		_, err := c.nodes[old].Propose(lost1, []byte("lost-1"))
		lost1Done <- err
	}()
	require.Eventually(t, func() bool { return c.nodes[old].Status().LastIndex >= before+2 }, waitFor, pollEvery,
		"the isolated leader did not append both proposals")
	require.NoError(t, clocks[old].SetRate(1))
	// Check-quorum makes the isolated leader step down once its clock runs.
	require.Eventually(t, func() bool { return c.nodes[old].Status().RaftState != raft.StateLeader }, waitFor, pollEvery,
		"the isolated leader never stepped down")
	// A proposal on the isolated leader cannot commit; its caller, giving
	// up after the step-down, cannot know whether it will: indeterminate.
	giveUp()
	err := <-lost1Done
	require.Error(t, err)
	require.False(t, IsDefinite(err), "%v", err)
	require.ErrorIs(t, err, ErrLeadershipLost)

	// The proposal that keeps waiting learns its fate once the partition
	// heals: other entries are committed in its place, so it is definitely
	// dropped.
	newLead := c.leader(old)
	require.NotEqual(t, old, newLead)
	c.propose("after-1", old)
	c.propose("after-2", old)

	c.nw.isolate(old, false)
	select {
	case r := <-pending:
		if r.err == nil {
			t.Fatalf("proposal on a partitioned leader succeeded: %v", r.v)
		}
		require.True(t, IsDefinite(r.err), "want a definite drop once the new leader's entries commit, got %v", r.err)
		require.ErrorIs(t, r.err, ErrProposalDropped)
	case <-time.After(waitFor):
		t.Fatal("pending proposal never resolved after heal")
	}
	want := []string{"before", "after-1", "after-2"}
	c.converged(want)
	lead := c.leader()
	require.Contains(t, c.voters, lead)
	for _, id := range c.voters {
		require.NotContains(t, c.sms[id].commands(), "lost-2")
	}
}

// durabilityLog follows, for one node, what its store has made durable and
// checks every message the node sends against the durability rule:
//
//   - every message but pre-votes carries a term that is durable;
//   - a granted vote is durable before the grant leaves;
//   - an acknowledged index (MsgAppResp) is durable before the ack leaves;
//   - a command is applied (and its client answered) only once a quorum
//     of stores holds it (checked by runDurability's state machines);
//   - the entries of a MsgApp are durable before it leaves, except that a
//     leader may send its appends before its own write (thesis §10.2.1):
//     then the entries must be exactly what its next Save writes (same
//     indexes and terms), so the early copies are never ones the leader
//     does not hold itself once the Ready is done.
type durabilityLog struct {
	mu         sync.Mutex
	hs         raft.HardState
	ents       map[uint64]uint64 // index -> term
	data       map[uint64]string // index -> data
	snapIndex  uint64
	saves      int
	sends      int
	early      map[uint64]uint64 // entries sent before they were durable
	earlyMsgs  int
	violations []string
}

func newDurabilityLog() *durabilityLog {
	return &durabilityLog{ents: map[uint64]uint64{}, data: map[uint64]string{}, early: map[uint64]uint64{}}
}

type recordingStore struct {
	*raft.MemoryStorage
	log *durabilityLog
}

func (s *recordingStore) Save(hs raft.HardState, ents []raft.Entry, snap raft.Snapshot, sync bool) error {
	if err := s.MemoryStorage.Save(hs, ents, snap, sync); err != nil {
		return err
	}
	l := s.log
	l.mu.Lock()
	defer l.mu.Unlock()
	l.saves++
	if !snap.IsEmpty() {
		l.snapIndex = snap.Metadata.Index
		l.ents = map[uint64]uint64{snap.Metadata.Index: snap.Metadata.Term}
	}
	if len(ents) > 0 {
		for i := range l.ents {
			if i >= ents[0].Index {
				delete(l.ents, i)
			}
		}
		for _, e := range ents {
			l.ents[e.Index] = e.Term
			l.data[e.Index] = string(e.Data)
		}
	}
	for i, t := range l.early {
		if l.ents[i] != t {
			l.violations = append(l.violations, fmt.Sprintf("entry %d/%d was sent before persisting but the next write did not persist it", i, t))
		}
	}
	clear(l.early)
	if !hs.IsEmpty() {
		l.hs = hs
	}
	return nil
}

type recordingTransport struct {
	inner Transport
	log   *durabilityLog
}

func (tr *recordingTransport) Send(msgs []raft.Message) {
	l := tr.log
	l.mu.Lock()
	l.sends++
	for _, m := range msgs {
		bad := func(format string, args ...any) {
			l.violations = append(l.violations, fmt.Sprintf("%v %d->%d term %d: ", m.Type, m.From, m.To, m.Term)+fmt.Sprintf(format, args...))
		}
		// Pre-vote messages carry a term the sender has not taken (§9.6).
		if m.Type != raft.MsgPreVote && m.Type != raft.MsgPreVoteResp && m.Term > l.hs.Term {
			bad("term not yet durable (durable term %d)", l.hs.Term)
		}
		switch m.Type {
		case raft.MsgVoteResp:
			if !m.Reject && (l.hs.Vote != m.To || l.hs.Term != m.Term) {
				bad("vote granted before it was durable (durable %+v)", l.hs)
			}
		case raft.MsgApp:
			counted := false
			for _, e := range m.Entries {
				if e.Index > l.snapIndex && l.ents[e.Index] != e.Term {
					// Allowed only as a leader's early append; the next
					// Save must write it (checked there).
					l.early[e.Index] = e.Term
					if !counted {
						l.earlyMsgs++
						counted = true
					}
				}
			}
		case raft.MsgAppResp:
			if !m.Reject && m.Index > l.snapIndex {
				if _, ok := l.ents[m.Index]; !ok {
					bad("acknowledged index %d before it was durable", m.Index)
				}
			}
		}
	}
	l.mu.Unlock()
	tr.inner.Send(msgs)
}

func runDurability(t *testing.T, hooks testHooks) []*durabilityLog {
	var logsMu sync.Mutex
	logs := map[uint64]*durabilityLog{}
	c := newClusterWith(t, 3, hooks, func(id uint64, cfg *Config) {
		l := newDurabilityLog()
		logsMu.Lock()
		logs[id] = l
		logsMu.Unlock()
		cfg.Store = &recordingStore{MemoryStorage: raft.NewMemoryStorage(), log: l}
		cfg.Transport = &recordingTransport{inner: cfg.Transport, log: l}
		cfg.StateMachine = &testSM{onApply: func(index uint64, data []byte) {
			held := 0
			logsMu.Lock()
			defer logsMu.Unlock()
			for _, o := range logs {
				o.mu.Lock()
				if d, ok := o.data[index]; ok && d == string(data) {
					held++
				}
				o.mu.Unlock()
			}
			if held < 2 {
				l.mu.Lock()
				l.violations = append(l.violations, fmt.Sprintf("node %d applied entry %d (%q) held by %d stores, not a quorum", id, index, data, held))
				l.mu.Unlock()
			}
		}}
	})
	out := make([]*durabilityLog, 0, 3)
	for _, id := range c.voters {
		out = append(out, logs[id])
	}
	first := c.leader()
	for i := range 10 {
		c.propose(fmt.Sprintf("a%d", i))
	}
	if hooks.sendBeforePersist {
		return out
	}
	// Force a second election so votes and a new term are exercised too.
	c.nw.isolate(first, true)
	c.leader(first)
	for i := range 10 {
		c.propose(fmt.Sprintf("b%d", i), first)
	}
	c.nw.isolate(first, false)
	want := c.sms[c.leader()].commands()
	c.converged(want)
	return out
}

// TestDurabilityOrder is the contract of the driver: nothing a Ready asks to
// persist is visible to a peer before the store has it, except a leader's
// own appends, which may leave before its write (see durabilityLog).
func TestDurabilityOrder(t *testing.T) {
	logs := runDurability(t, testHooks{})
	early := 0
	for i, l := range logs {
		l.mu.Lock()
		require.Empty(t, l.violations, "node %d", i+1)
		require.Positive(t, l.saves)
		require.Positive(t, l.sends)
		early += l.earlyMsgs
		l.mu.Unlock()
	}
	require.Positive(t, early, "no leader sent an append before its own write")
}

// TestDurabilityCheckCatchesSendBeforePersist proves the contract test can
// fail: a driver that sends everything first is caught granting votes and,
// on followers, acknowledging entries (MsgAppResp) before persisting them.
func TestDurabilityCheckCatchesSendBeforePersist(t *testing.T) {
	logs := runDurability(t, testHooks{sendBeforePersist: true})
	var all []string
	for _, l := range logs {
		l.mu.Lock()
		all = append(all, l.violations...)
		l.mu.Unlock()
	}
	has := func(sub string) bool {
		return slices.ContainsFunc(all, func(v string) bool { return strings.Contains(v, sub) })
	}
	require.True(t, has("MsgAppResp") && has("acknowledged index"), "a follower's early ack was not caught: %q", all)
}

// TestLeaderAppendsOverlapItsWrite shows the leader's appends leave before
// its own write: while the leader is stuck before persisting an entry, the
// followers already hold it durably.
func TestLeaderAppendsOverlapItsWrite(t *testing.T) {
	var (
		armed   atomic.Bool
		entered = make(chan struct{}, 1)
		release = make(chan struct{})
	)
	logs := map[uint64]*durabilityLog{}
	var leaderID atomic.Uint64
	c := newCluster(t, 3, func(id uint64, cfg *Config) {
		l := newDurabilityLog()
		logs[id] = l
		cfg.Store = &recordingStore{MemoryStorage: raft.NewMemoryStorage(), log: l}
		cfg.Transport = &recordingTransport{inner: cfg.Transport, log: l}
		cfg.Failpoint = func(name string) {
			if name == FailpointBeforePersist && id == leaderID.Load() && armed.CompareAndSwap(true, false) {
				entered <- struct{}{}
				<-release
			}
		}
	})
	lead := c.leader()
	leaderID.Store(lead)
	c.propose("warm-up")
	last := c.nodes[lead].Status().LastIndex
	armed.Store(true)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		_, err := c.nodes[lead].Propose(ctx, []byte("overlapped"))
		done <- err
	}()
	<-entered // the leader is now before its own write of the new entry
	for _, id := range c.voters {
		if id == lead {
			continue
		}
		l := logs[id]
		require.Eventually(t, func() bool {
			l.mu.Lock()
			defer l.mu.Unlock()
			_, ok := l.ents[last+1]
			return ok
		}, waitFor, pollEvery, "follower %d did not persist the entry while the leader was writing", id)
	}
	close(release)
	if err := <-done; err != nil {
		// A slow machine may have elected another leader meanwhile; the
		// entry may then be applied or not, but never definitely lost.
		require.False(t, IsDefinite(err), "%v", err)
	}
	for id, l := range logs {
		l.mu.Lock()
		require.Empty(t, l.violations, "node %d", id)
		l.mu.Unlock()
	}
}

func singleNode(t *testing.T, store raft.LogStore, sm *testSM, tweak func(*Config)) *Node {
	cfg := Config{
		Raft:         raftConfig(1),
		TickInterval: testTick,
		Store:        store,
		Transport:    &recordingTransport{inner: nopTransport{}, log: &durabilityLog{ents: map[uint64]uint64{}}},
		StateMachine: sm,
		Bootstrap:    []uint64{1},
	}
	if tweak != nil {
		tweak(&cfg)
	}
	n, err := Start(cfg)
	require.NoError(t, err)
	t.Cleanup(n.Stop)
	return n
}

type nopTransport struct{}

func (nopTransport) Send([]raft.Message) {}

func waitLeader(t *testing.T, n *Node) {
	require.Eventually(t, func() bool { return n.Status().RaftState == raft.StateLeader }, waitFor, pollEvery)
}

func TestRestartFromSnapshot(t *testing.T) {
	store := raft.NewMemoryStorage()
	sm := &testSM{}
	snaps := make(chan uint64, 100)
	n := singleNode(t, store, sm, func(c *Config) {
		c.SnapshotEvery = 5
		c.SnapshotCatchUpEntries = 2
	})
	cancel := n.Subscribe(func(ev Event) {
		if ev.Type == EventSnapshotTaken {
			snaps <- ev.Index
		}
	})
	defer cancel()
	waitLeader(t, n)
	var want []string
	for i := range 23 {
		v := fmt.Sprintf("x%d", i)
		_, err := n.Propose(ctxTimeout(t, waitFor), []byte(v))
		require.NoError(t, err)
		want = append(want, v)
	}
	n.Stop()
	require.ErrorIs(t, n.Err(), nil)

	snap, err := store.Snapshot()
	require.NoError(t, err)
	require.Positive(t, snap.Metadata.Index)
	first, err := store.FirstIndex()
	require.NoError(t, err)
	require.Greater(t, first, uint64(1), "log was not compacted")
	require.Equal(t, snap.Metadata.Index-2+1, first, "compaction must keep SnapshotCatchUpEntries")
	// Events reach subscribers on their own goroutine, possibly after Stop.
	require.Eventually(t, func() bool { return len(snaps) > 0 }, waitFor, pollEvery, "no snapshot event")
	require.Contains(t, snap.Metadata.ConfState.Voters, uint64(1))

	// Restart on the same store with an empty state machine.
	sm2 := &testSM{}
	n2 := singleNode(t, store, sm2, nil)
	require.Equal(t, 1, sm2.restores)
	require.Eventually(t, func() bool { return slices.Equal(sm2.commands(), want) }, waitFor, pollEvery)
	waitLeader(t, n2)
	_, err = n2.Propose(ctxTimeout(t, waitFor), []byte("after-restart"))
	require.NoError(t, err)
	require.Equal(t, append(want, "after-restart"), sm2.commands())
}

func TestFailpointsCalledInOrder(t *testing.T) {
	var mu sync.Mutex
	var seq []string
	n := singleNode(t, raft.NewMemoryStorage(), &testSM{}, func(c *Config) {
		c.SnapshotEvery = 3
		c.Failpoint = func(name string) {
			mu.Lock()
			seq = append(seq, name)
			mu.Unlock()
		}
	})
	waitLeader(t, n)
	for i := range 8 {
		_, err := n.Propose(ctxTimeout(t, waitFor), []byte(fmt.Sprint(i)))
		require.NoError(t, err)
	}
	n.Stop()
	mu.Lock()
	defer mu.Unlock()
	for _, name := range []string{FailpointBeforePersist, FailpointAfterPersist, FailpointBeforeApply, FailpointAfterApply, FailpointDuringSnapshot} {
		require.Contains(t, seq, name)
	}
	require.NotContains(t, seq, FailpointAfterPersistRepair, "a single node's log is never repaired")
	// The snapshot goroutine may reach its failpoint at any point of a
	// later Ready, but only after the entries it covers were applied; the
	// driver goroutine's failpoints come in pairs.
	var loop []string
	for i, name := range seq {
		if name == FailpointDuringSnapshot {
			require.Contains(t, seq[:i], FailpointAfterApply)
			continue
		}
		loop = append(loop, name)
	}
	for i, name := range loop {
		switch name {
		case FailpointAfterPersist:
			require.Equal(t, FailpointBeforePersist, loop[i-1])
		case FailpointAfterApply:
			require.Equal(t, FailpointBeforeApply, loop[i-1])
		}
	}
}

// FailpointAfterPersistRepair is passed exactly where a node's write
// replaced entries it held: on the deposed leader whose uncommitted entry
// the new leader's log overwrote, right after its after-persist, and never
// on the nodes whose logs only grew.
func TestRepairFailpointOnlyOnLogRepair(t *testing.T) {
	var mu sync.Mutex
	seqs := map[uint64][]string{}
	c := newCluster(t, 3, func(id uint64, cfg *Config) {
		cfg.Failpoint = func(name string) {
			mu.Lock()
			seqs[id] = append(seqs[id], name)
			mu.Unlock()
		}
	})
	old := c.leader()
	c.propose("before")
	c.nw.isolate(old, true)
	// The isolated leader appends this entry to its own log; it can never
	// commit there.
	_, err := c.nodes[old].Propose(ctxTimeout(t, 600*time.Millisecond), []byte("lost"))
	require.Error(t, err)
	c.leader(old)
	c.propose("after-1", old)
	c.propose("after-2", old)
	c.nw.isolate(old, false)
	c.converged([]string{"before", "after-1", "after-2"})
	c.stopAll()

	mu.Lock()
	defer mu.Unlock()
	for id, seq := range seqs {
		repairs := 0
		for i, name := range seq {
			if name == FailpointAfterPersistRepair {
				repairs++
				require.Equal(t, FailpointAfterPersist, seq[i-1], "node %d: repair failpoint not right after after-persist", id)
			}
		}
		if id == old {
			require.Positive(t, repairs, "the deposed leader's entry was replaced without the repair failpoint")
		} else {
			require.Zero(t, repairs, "node %d never held an entry to replace", id)
		}
	}
}

// failingStore fails every Save once armed.
type failingStore struct {
	*raft.MemoryStorage
	armed atomic.Bool
}

var errDiskGone = errors.New("disk gone")

func (s *failingStore) Save(hs raft.HardState, ents []raft.Entry, snap raft.Snapshot, sync bool) error {
	if s.armed.Load() {
		return errDiskGone
	}
	return s.MemoryStorage.Save(hs, ents, snap, sync)
}

func TestPersistFailureStopsNode(t *testing.T) {
	store := &failingStore{MemoryStorage: raft.NewMemoryStorage()}
	dl := &durabilityLog{ents: map[uint64]uint64{}}
	sm := &testSM{}
	n := singleNode(t, store, sm, func(c *Config) {
		c.Transport = &recordingTransport{inner: nopTransport{}, log: dl}
	})
	waitLeader(t, n)
	_, err := n.Propose(ctxTimeout(t, waitFor), []byte("ok"))
	require.NoError(t, err)

	store.armed.Store(true)
	_, err = n.Propose(ctxTimeout(t, waitFor), []byte("doomed"))
	require.Error(t, err)
	require.ErrorIs(t, err, ErrOutcomeUnknown)
	require.False(t, IsDefinite(err))
	<-n.Done()
	require.ErrorIs(t, n.Err(), ErrPersist)
	require.ErrorIs(t, n.Err(), errDiskGone)
	require.NotContains(t, sm.commands(), "doomed")

	_, err = n.Propose(ctxTimeout(t, waitFor), []byte("later"))
	require.ErrorIs(t, err, ErrStopped)
	require.True(t, IsDefinite(err))
	_, err = n.ReadIndex(ctxTimeout(t, waitFor))
	require.ErrorIs(t, err, ErrStopped)
}

func TestConfChangeLearnerPromoteRemove(t *testing.T) {
	var mu sync.Mutex
	var applied []raft.ConfChange
	c := newCluster(t, 3, func(id uint64, cfg *Config) {
		cfg.OnConfChange = func(cc raft.ConfChange, _ raft.ConfState) {
			if id == 1 {
				mu.Lock()
				applied = append(applied, cc)
				mu.Unlock()
			}
		}
	})
	c.leader()
	c.propose("one")
	c.propose("two")

	// Node 4 joins with an empty store and no bootstrap.
	c.start(4, raft.NewMemoryStorage(), nil)
	ccEvents := make(chan Event, 16)
	cancel := c.nodes[4].Subscribe(func(ev Event) {
		if ev.Type == EventConfChangeApplied {
			ccEvents <- ev
		}
	})
	defer cancel()
	proposeCC := func(cc raft.ConfChange) raft.ConfState {
		t.Helper()
		var cs raft.ConfState
		require.Eventually(t, func() bool {
			lead := c.leader(4)
			var err error
			// A generous deadline: one that expires on a slow commit is
			// an indeterminate error, which fails the test.
			cs, err = c.nodes[lead].ProposeConfChange(ctxTimeout(t, waitFor), cc)
			if err != nil {
				require.True(t, IsDefinite(err), "%v", err)
				return false
			}
			return true
		}, waitFor, pollEvery)
		return cs
	}

	cs := proposeCC(raft.ConfChange{Type: raft.ConfChangeAddLearner, NodeID: 4, Context: []byte("addr4")})
	require.Contains(t, cs.Learners, uint64(4))
	require.NotContains(t, cs.Voters, uint64(4))
	// Node 4 learns the whole configuration history from the log.
	for _, want := range []raft.ConfChangeType{raft.ConfChangeAddVoter, raft.ConfChangeAddVoter, raft.ConfChangeAddVoter, raft.ConfChangeAddLearner} {
		select {
		case ev := <-ccEvents:
			require.Equal(t, want, ev.ConfChange.Type)
		case <-time.After(waitFor):
			t.Fatal("no conf change event on node 4")
		}
	}
	c.propose("three")
	c.converged([]string{"one", "two", "three"}, 1, 2, 3, 4)
	require.Equal(t, raft.StateFollower, c.nodes[4].Status().RaftState)

	cs = proposeCC(raft.ConfChange{Type: raft.ConfChangeAddVoter, NodeID: 4})
	require.Contains(t, cs.Voters, uint64(4))
	require.NotContains(t, cs.Learners, uint64(4))
	c.voters = append(c.voters, 4)
	c.propose("four")
	c.converged([]string{"one", "two", "three", "four"})

	cs = proposeCC(raft.ConfChange{Type: raft.ConfChangeRemoveNode, NodeID: 4})
	require.NotContains(t, cs.Voters, uint64(4))
	require.NotContains(t, cs.Learners, uint64(4))
	c.voters = c.voters[:3]
	c.propose("five")

	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		// 3 bootstrap voters, then learner, promote, remove.
		return len(applied) == 6 && applied[3].Type == raft.ConfChangeAddLearner &&
			string(applied[3].Context) == "addr4" && applied[5].Type == raft.ConfChangeRemoveNode
	}, waitFor, pollEvery)
}

func TestTransferLeadership(t *testing.T) {
	c := newCluster(t, 3, nil)
	lead := c.leader()
	c.propose("x")
	target := c.voters[0]
	if target == lead {
		target = c.voters[1]
	}
	require.Eventually(t, func() bool {
		lead = c.leader()
		if lead == target {
			return true
		}
		// Transfer needs the target caught up; retry until it happens.
		return c.nodes[lead].TransferLeadership(ctxTimeout(t, 2*time.Second), target) == nil
	}, waitFor, pollEvery)
	require.Equal(t, target, c.leader())
	require.Equal(t, target, c.nodes[target].Status().Lead)
	c.propose("y")
	c.converged([]string{"x", "y"})
}

// TestTicksFollowTheClock drives a node's ticks with a ManualClock: no
// ticks while the clock stands still, one per interval as it moves, a
// capped burst on a forward jump, none after a backward jump until the
// clock catches up.
func TestTicksFollowTheClock(t *testing.T) {
	clk := NewManualClock(epoch)
	var ticks atomic.Int64
	cfg := manualClockConfig(clk, 1)
	n, err := start(cfg, testHooks{onTick: func() { ticks.Add(1) }})
	require.NoError(t, err)
	defer n.Stop()
	expect := func(want int64) {
		t.Helper()
		require.Eventually(t, func() bool { return ticks.Load() == want }, waitFor, pollEvery)
	}

	clk.Advance(3 * testTick)
	expect(3)
	require.NotEqual(t, raft.StateLeader, n.Status().RaftState)

	// An election timeout's worth of clock time elects the single voter.
	clk.Advance(2 * testElection * testTick)
	expect(3 + 2*testElection)
	waitLeader(t, n)

	// A big forward jump is capped at 2*ElectionTick ticks.
	clk.Advance(time.Hour)
	expect(3 + 4*testElection)

	// Backward: nothing until the clock is past where it was.
	clk.Advance(-time.Second)
	clk.Advance(time.Second - time.Millisecond)
	clk.Advance(testTick)
	expect(3 + 4*testElection + 0)
	clk.Advance(time.Millisecond)
	expect(3 + 4*testElection + 1)
	require.Equal(t, raft.StateLeader, n.Status().RaftState)
}

func TestStopFailsWaiters(t *testing.T) {
	c := newCluster(t, 3, nil)
	lead := c.leader()
	c.propose("committed")
	lead = c.leader()
	for _, id := range c.voters {
		if id != lead {
			c.nw.isolate(id, true)
		}
	}
	last := c.nodes[lead].Status().LastIndex
	errc := make(chan error, 1)
	go func() {
		_, err := c.nodes[lead].Propose(ctxTimeout(t, waitFor), []byte("stuck"))
		errc <- err
	}()
	require.Eventually(t, func() bool {
		return c.nodes[lead].Status().LastIndex > last
	}, waitFor, pollEvery)
	c.nodes[lead].Stop()
	err := <-errc
	require.ErrorIs(t, err, ErrStopped)
	require.ErrorIs(t, err, ErrOutcomeUnknown)
	require.False(t, IsDefinite(err))
	require.NoError(t, c.nodes[lead].Err())
}

// TestReadRetriedAfterLeadershipChange: a read on a leader that gets cut
// off is never answered by that round; the driver starts a new round once
// the node learns of the new leader, and the read then succeeds there.
func TestReadRetriedAfterLeadershipChange(t *testing.T) {
	c := newCluster(t, 3, nil)
	old := c.leader()
	c.propose("a")
	c.nw.isolate(old, true)
	type res struct {
		idx uint64
		err error
	}
	done := make(chan res, 1)
	go func() {
		idx, err := c.nodes[old].ReadIndex(ctxTimeout(t, waitFor))
		done <- res{idx, err}
	}()
	c.leader(old)
	last := c.propose("b", old)
	select {
	case r := <-done:
		t.Fatalf("an isolated node answered a linearizable read: %d %v", r.idx, r.err)
	default:
	}
	c.nw.isolate(old, false)
	r := <-done
	require.NoError(t, r.err)
	require.GreaterOrEqual(t, r.idx, last, "the read must see the write made during the partition")
	require.Contains(t, c.sms[old].commands(), "b")
	require.Greater(t, c.nodes[old].ReadRounds(), uint64(1))
}

// TestLaggingMemberCatchesUpBySnapshot: once the leader compacted its log,
// a new member gets a snapshot, which the driver persists and restores into
// the state machine before applying what follows.
func TestLaggingMemberCatchesUpBySnapshot(t *testing.T) {
	c := newCluster(t, 3, func(_ uint64, cfg *Config) {
		cfg.SnapshotEvery = 5
		cfg.SnapshotCatchUpEntries = 1
	})
	c.leader()
	var want []string
	for i := range 15 {
		v := fmt.Sprintf("s%d", i)
		c.propose(v)
		want = append(want, v)
	}
	lead := c.leader()
	first, err := c.stores[lead].FirstIndex()
	require.NoError(t, err)
	require.Greater(t, first, uint64(2), "the leader should have compacted its log")

	n4 := c.start(4, raft.NewMemoryStorage(), nil)
	restored := make(chan uint64, 4)
	cancel := n4.Subscribe(func(ev Event) {
		if ev.Type == EventSnapshotRestored {
			restored <- ev.Index
		}
	})
	defer cancel()
	require.Eventually(t, func() bool {
		_, err := c.nodes[c.leader(4)].ProposeConfChange(ctxTimeout(t, 2*time.Second),
			raft.ConfChange{Type: raft.ConfChangeAddLearner, NodeID: 4})
		return err == nil
	}, waitFor, pollEvery)
	c.propose("tail")
	want = append(want, "tail")
	c.converged(want, 1, 2, 3, 4)
	require.Positive(t, c.sms[4].restores)
	select {
	case idx := <-restored:
		require.Positive(t, idx)
	case <-time.After(waitFor):
		t.Fatal("no snapshot-restored event")
	}
	snap, err := c.stores[4].Snapshot()
	require.NoError(t, err)
	require.Positive(t, snap.Metadata.Index, "the received snapshot must be persisted")
	require.Contains(t, n4.Status().Config.Learners, uint64(4))
}

// TestClockJumpReachesRaft: a forward jump of the leader's clock fires a
// burst of ticks (2*ElectionTick) with no message handled in between, so
// check-quorum runs twice back to back, finds no follower active the second
// time, and the leader steps down: clock faults reach elections.
func TestClockJumpReachesRaft(t *testing.T) {
	clocks := map[uint64]*FaultClock{}
	c := newCluster(t, 3, func(id uint64, cfg *Config) {
		clocks[id] = NewFaultClock(RealClock())
		cfg.Clock = clocks[id]
	})
	lead := c.leader()
	c.propose("x")
	term := c.nodes[lead].Status().Term
	var mu sync.Mutex
	var roles []raft.StateType
	cancel := c.nodes[lead].Subscribe(func(ev Event) {
		if ev.Type == EventRoleChanged {
			mu.Lock()
			roles = append(roles, ev.Role)
			mu.Unlock()
		}
	})
	defer cancel()

	clocks[lead].SetOffset(time.Hour)
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(roles, raft.StateFollower)
	}, waitFor, pollEvery, "the leader did not step down after its clock jumped")
	require.Equal(t, time.Hour, clocks[lead].State().Offset)
	c.leader()
	require.Greater(t, c.nodes[c.leader()].Status().Term, term)
	c.propose("y")
	c.converged([]string{"x", "y"})
}

// TestProposeNotTakenIsDefinite: a proposal whose context ends while the
// loop is busy (here: stuck in a failpoint before persisting) never
// reaches raft, and says so.
func TestProposeNotTakenIsDefinite(t *testing.T) {
	block := make(chan struct{})
	var blocking atomic.Bool
	entered := make(chan struct{}, 1)
	n := singleNode(t, newStore(), &testSM{}, func(c *Config) {
		c.Failpoint = func(name string) {
			if name == FailpointBeforePersist && blocking.Load() {
				select {
				case entered <- struct{}{}:
				default:
				}
				<-block
			}
		}
	})
	waitLeader(t, n)
	blocking.Store(true)
	errc := make(chan error, 1)
	go func() {
		_, err := n.Propose(ctxTimeout(t, waitFor), []byte("first"))
		errc <- err
	}()
	<-entered // the loop is now stuck persisting "first"
	_, err := n.Propose(ctxTimeout(t, 50*time.Millisecond), []byte("second"))
	require.ErrorIs(t, err, ErrNotProposed)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.True(t, IsDefinite(err))
	blocking.Store(false)
	close(block)
	require.NoError(t, <-errc)
}

// TestAppliedBeforeTheReadyIsWritten: a client whose entry is committed
// gets its answer while the Ready that carries the commit is still being
// written (here: held in the before-persist failpoint). Such a Ready also
// carries new entries: one that only moves the commit index writes nothing.
// Concurrent proposers on a 3-node cluster make the leader's Readies carry
// both (the acks of one batch arrive with the next proposals).
func TestAppliedBeforeTheReadyIsWritten(t *testing.T) {
	var (
		mu       sync.Mutex
		prev     = map[uint64]string{}
		lead     atomic.Uint64
		armed    atomic.Bool
		heldAt   atomic.Uint64
		entered  = make(chan struct{})
		release  = make(chan struct{})
		answered sync.Map // log indexes whose proposer got its answer
		c        *cluster
	)
	// "ready" marks where a Ready starts, so that after-apply followed by
	// before-persist means the same Ready applied, then wrote.
	onReady := func(id uint64) {
		mu.Lock()
		prev[id] = "ready"
		mu.Unlock()
	}
	c = newClusterWith(t, 3, testHooks{onReady: onReady}, func(id uint64, cfg *Config) {
		cfg.Failpoint = func(name string) {
			mu.Lock()
			last := prev[id]
			prev[id] = name
			mu.Unlock()
			if id == lead.Load() && name == FailpointBeforePersist && last == FailpointAfterApply && armed.CompareAndSwap(true, false) {
				heldAt.Store(c.sms[id].lastIndex())
				close(entered)
				<-release
			}
		}
	})
	lead.Store(c.leader())
	n := c.nodes[lead.Load()]
	// The leader's empty entry of its term is applied without a command.
	warm := c.propose("warm-up")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	armed.Store(true)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), waitFor)
				res, err := n.Propose(ctx, []byte(fmt.Sprintf("p%d-%d", i, k)))
				cancel()
				if err != nil {
					return
				}
				answered.Store(res.(uint64), true)
			}
		}()
	}
	defer close(stop)
	select {
	case <-entered:
	case <-time.After(waitFor):
		close(release)
		t.Fatal("no Ready applied committed entries before writing new ones")
	}
	defer close(release)
	require.Greater(t, heldAt.Load(), warm)
	require.Eventually(t, func() bool {
		_, ok := answered.Load(heldAt.Load())
		return ok
	}, waitFor, pollEvery, "the client of entry %d was not answered before the write of the Ready that committed it", heldAt.Load())
}

// TestCommitIndexWrittenLazily: a Ready that only moves the commit index
// writes nothing; the commit index reaches the store with the next write,
// before a snapshot (which must not be ahead of the stored commit index)
// and at Stop.
func TestCommitIndexWrittenLazily(t *testing.T) {
	store := raft.NewMemoryStorage()
	sm := &testSM{}
	n := singleNode(t, store, sm, func(c *Config) { c.SnapshotEvery = 3 })
	waitLeader(t, n)
	for i := range 8 {
		res, err := n.Propose(ctxTimeout(t, waitFor), []byte(fmt.Sprint("c", i)))
		require.NoError(t, err)
		idx := res.(uint64)
		// The client is answered before the driver may snapshot at this
		// entry, so read the snapshot before the hard state: the commit
		// index is written before a snapshot, never after.
		snap, err := store.Snapshot()
		require.NoError(t, err)
		hs, _, err := store.InitialState()
		require.NoError(t, err)
		require.LessOrEqual(t, snap.Metadata.Index, hs.Commit, "snapshot ahead of the stored commit index")
		// Nothing is written between the commit and the next proposal
		// except the commit index that goes before a snapshot: if the
		// stored commit already covers this entry, a snapshot at (or
		// after) it must follow.
		if hs.Commit >= idx {
			require.Eventually(t, func() bool {
				s, err := store.Snapshot()
				return err == nil && s.Metadata.Index >= idx
			}, waitFor, pollEvery, "the commit-only Ready of entry %d was written (no snapshot followed)", idx)
		}
	}
	snap, err := store.Snapshot()
	require.NoError(t, err)
	require.NotZero(t, snap.Metadata.Index, "no snapshot was taken")
	n.Stop()
	hs, _, err := store.InitialState()
	require.NoError(t, err)
	require.Equal(t, sm.lastIndex(), hs.Commit, "the commit index was not written at Stop")
}

// capturingSM is a testSM whose snapshots are encoded by CaptureSnapshot's
// function, which waits for release: a snapshot held in its encoding.
type capturingSM struct {
	*testSM
	captures atomic.Int32
	release  chan struct{}
}

func (s *capturingSM) CaptureSnapshot() (func() ([]byte, error), error) {
	s.captures.Add(1)
	data, err := s.testSM.Snapshot()
	return func() ([]byte, error) {
		<-s.release
		return data, err
	}, err
}

// TestSnapshotDoesNotHoldUpWrites: a snapshot is encoded and written on its
// own goroutine. While one is stuck in its encoding, proposals still commit
// and no second snapshot starts; once it finishes, it is the store's
// snapshot, the log is compacted, and the next snapshot can start.
func TestSnapshotDoesNotHoldUpWrites(t *testing.T) {
	store := raft.NewMemoryStorage()
	sm := &capturingSM{testSM: &testSM{}, release: make(chan struct{})}
	taken := make(chan Event, 16)
	n, err := Start(Config{
		Raft:                   raftConfig(1),
		TickInterval:           testTick,
		Store:                  store,
		Transport:              nopTransport{},
		StateMachine:           sm,
		Bootstrap:              []uint64{1},
		SnapshotEvery:          3,
		SnapshotCatchUpEntries: 1,
	})
	require.NoError(t, err)
	released := false
	t.Cleanup(func() {
		if !released {
			close(sm.release)
		}
		n.Stop()
	})
	cancel := n.Subscribe(func(ev Event) {
		if ev.Type == EventSnapshotTaken {
			taken <- ev
		}
	})
	defer cancel()
	waitLeader(t, n)
	var last uint64
	for i := range 12 {
		res, err := n.Propose(ctxTimeout(t, waitFor), []byte(fmt.Sprint("w", i)))
		require.NoError(t, err, "a proposal waited for the snapshot being encoded")
		last = res.(uint64)
	}
	require.Equal(t, int32(1), sm.captures.Load(), "a second snapshot started while the first was being written")
	snap, err := store.Snapshot()
	require.NoError(t, err)
	require.Zero(t, snap.Metadata.Index, "the snapshot was stored before its encoding finished")

	close(sm.release)
	released = true
	ev := <-taken
	first := ev.Index
	require.Positive(t, first)
	// The event says what the snapshot cost; the encoding waited for
	// release, so it took a measurable time.
	require.Positive(t, ev.Snapshot.Bytes)
	require.Positive(t, ev.Snapshot.Encode)
	require.Eventually(t, func() bool {
		s, err := store.Snapshot()
		fi, ferr := store.FirstIndex()
		return err == nil && ferr == nil && s.Metadata.Index >= first && fi == s.Metadata.Index
	}, waitFor, pollEvery, "the snapshot was not stored, or the log not compacted to it")
	// The writes that arrived meanwhile are due a snapshot, which starts
	// as soon as the first one is done.
	require.Eventually(t, func() bool { return sm.captures.Load() >= 2 }, waitFor, pollEvery)
	require.Eventually(t, func() bool {
		s, err := store.Snapshot()
		return err == nil && s.Metadata.Index >= last
	}, waitFor, pollEvery)
}

// bigSM is a testSM whose snapshots are 2 MiB, above SnapshotRatioFloor.
type bigSM struct {
	*testSM
	captures atomic.Int32
}

func (s *bigSM) CaptureSnapshot() (func() ([]byte, error), error) {
	s.captures.Add(1)
	return func() ([]byte, error) { return make([]byte, 2<<20), nil }, nil
}

// TestSnapshotLogRatio: once snapshots are large, the next one waits until
// the entries applied since carry SnapshotLogRatio times its size, however
// many entries that takes beyond SnapshotEvery.
func TestSnapshotLogRatio(t *testing.T) {
	sm := &bigSM{testSM: &testSM{}}
	n, err := Start(Config{
		Raft:             raftConfig(1),
		TickInterval:     testTick,
		Store:            raft.NewMemoryStorage(),
		Transport:        nopTransport{},
		StateMachine:     sm,
		Bootstrap:        []uint64{1},
		SnapshotEvery:    2,
		SnapshotLogRatio: 1,
	})
	require.NoError(t, err)
	t.Cleanup(n.Stop)
	taken := make(chan uint64, 16)
	cancel := n.Subscribe(func(ev Event) {
		if ev.Type == EventSnapshotTaken {
			taken <- ev.Index
		}
	})
	defer cancel()
	waitLeader(t, n)
	propose := func(size int) {
		_, err := n.Propose(ctxTimeout(t, waitFor), make([]byte, size))
		require.NoError(t, err)
	}
	// The first snapshot: no earlier size to compare with.
	propose(10)
	propose(10)
	<-taken
	require.Equal(t, int32(1), sm.captures.Load())
	// 1 MiB applied since: half the snapshot's size, no new snapshot,
	// though SnapshotEvery was passed ten times over. The loop takes a
	// proposal only after the Ready before it, snapshot check included,
	// so the answer of the last proposal settles the count.
	for range 20 {
		propose(50 << 10)
	}
	propose(10)
	require.Equal(t, int32(1), sm.captures.Load(), "a snapshot was taken before the log grew by its size")
	// Another 1 MiB and more: now it is due.
	for range 22 {
		propose(50 << 10)
	}
	require.Eventually(t, func() bool { return sm.captures.Load() == 2 }, waitFor, pollEvery)
}

// TestSnapshotStagger: with StaggerSnapshots the i-th of n members (voters
// by ID, then learners) waits 1+i/n times as long; without it, all wait the
// same.
func TestSnapshotStagger(t *testing.T) {
	cs := raft.ConfState{Voters: []uint64{30, 10, 20}, Learners: []uint64{5}}
	want := map[uint64]float64{10: 1, 20: 1.25, 30: 1.5, 5: 1.75}
	for id, f := range want {
		n := &Driver{id: id, confState: cs, cfg: Config{StaggerSnapshots: true}}
		require.InDelta(t, f, n.snapshotStagger(), 1e-9, "member %d", id)
		n.cfg.StaggerSnapshots = false
		require.Equal(t, 1.0, n.snapshotStagger())
	}
	// Not (or no longer) a member: no stagger.
	n := &Driver{id: 99, confState: cs, cfg: Config{StaggerSnapshots: true}}
	require.Equal(t, 1.0, n.snapshotStagger())
}

// TestQueuedMessagesBeforeOwedTicks: a leader whose loop was held up while
// a follower's heartbeat acknowledgement arrived and its clock moved on by
// a check-quorum round steps the queued acknowledgement before the owed
// ticks, so it does not step down for a quorum that did answer (issue 14:
// leaders lost on a busy machine). Ticking first would find the follower
// inactive at the round's check and step down.
func TestQueuedMessagesBeforeOwedTicks(t *testing.T) {
	clk := NewManualClock(epoch)
	var ticks atomic.Int64
	cfg := manualClockConfig(clk, 1, 2, 3)
	n, err := start(cfg, testHooks{onTick: func() { ticks.Add(1) }})
	require.NoError(t, err)
	defer n.Stop()
	state := func(want raft.StateType) {
		t.Helper()
		require.Eventually(t, func() bool { return n.Status().RaftState == want }, waitFor, pollEvery)
	}
	// Elected with node 2's (pre-)vote, which the test plays. The clock
	// moves until the node campaigns (it cannot before it applied its
	// bootstrap configuration).
	require.Eventually(t, func() bool {
		if n.Status().RaftState == raft.StatePreCandidate {
			return true
		}
		clk.Advance(testTick)
		return false
	}, waitFor, pollEvery)
	term := n.Status().Term + 1
	n.Step(raft.Message{Type: raft.MsgPreVoteResp, From: 2, To: 1, Term: term})
	state(raft.StateCandidate)
	n.Step(raft.Message{Type: raft.MsgVoteResp, From: 2, To: 1, Term: term})
	state(raft.StateLeader)
	var mu sync.Mutex
	var roles []raft.StateType
	cancel := n.Subscribe(func(ev Event) {
		if ev.Type == EventRoleChanged {
			mu.Lock()
			roles = append(roles, ev.Role)
			mu.Unlock()
		}
	})
	defer cancel()

	// Rounds of check-quorum: node 2 acknowledges during each; in every
	// other round the acknowledgement waits in the queue of a held loop
	// while the clock passes the whole round.
	for round := range 8 {
		base := ticks.Load()
		ack := raft.Message{Type: raft.MsgHeartbeatResp, From: 2, To: 1, Term: term}
		if round%2 == 0 {
			n.Step(ack)
			clk.Advance(testElection * testTick)
		} else {
			release := make(chan struct{})
			held := make(chan struct{})
			n.reportc <- func(*Driver) { close(held); <-release }
			<-held
			n.Step(ack)
			clk.Advance(testElection * testTick)
			close(release)
		}
		require.Eventually(t, func() bool { return ticks.Load() == base+testElection }, waitFor, pollEvery)
		require.Equal(t, raft.StateLeader, n.Status().RaftState, "round %d: the leader stepped down although node 2's acknowledgement was queued", round)
	}
	mu.Lock()
	defer mu.Unlock()
	require.Empty(t, roles, "role changes while leading")
}

// manualClockConfig is node 1 of a cluster of voters on a memory store,
// its ticks driven by clk.
func manualClockConfig(clk Clock, voters ...uint64) Config {
	return Config{
		Raft:         raftConfig(1),
		TickInterval: testTick,
		Clock:        clk,
		Store:        raft.NewMemoryStorage(),
		Transport:    nopTransport{},
		StateMachine: &testSM{},
		Bootstrap:    voters,
	}
}

// Which messages leave before the Ready's write: a leader's appends and
// heartbeats, and anyone's heartbeat answers, of the durable term; nothing
// that acknowledges entries or a vote.
func TestMayLeaveEarly(t *testing.T) {
	cases := []struct {
		typ    raft.MessageType
		term   uint64
		leader bool
		want   bool
	}{
		{raft.MsgApp, 3, true, true},
		{raft.MsgHeartbeat, 3, true, true},
		{raft.MsgApp, 4, true, false}, // its term is not written yet
		{raft.MsgApp, 3, false, false},
		{raft.MsgHeartbeat, 3, false, false}, // a deposed leader's leftover
		{raft.MsgHeartbeatResp, 3, false, true},
		{raft.MsgHeartbeatResp, 3, true, true},
		{raft.MsgHeartbeatResp, 4, false, false}, // answers in a term not yet durable
		{raft.MsgAppResp, 3, false, false},
		{raft.MsgVoteResp, 3, false, false},
		{raft.MsgPreVoteResp, 3, false, false},
		{raft.MsgVote, 3, false, false},
		{raft.MsgReadIndexResp, 3, true, false},
		{raft.MsgTimeoutNow, 3, true, false},
	}
	for _, c := range cases {
		if got := MayLeaveEarly(raft.Message{Type: c.typ, Term: c.term}, 3, c.leader); got != c.want {
			t.Errorf("%s term %d (leader %v, durable term 3): early %v, want %v", c.typ, c.term, c.leader, got, c.want)
		}
	}
}
