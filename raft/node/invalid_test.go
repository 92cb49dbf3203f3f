package node

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/raftkv/raftkv/raft"
)

// A message the core drops as invalid is counted and shown to
// Trace.InvalidMessage (the simulation turns it into a violation); a valid
// one is neither.
func TestDriverCountsInvalidMessages(t *testing.T) {
	var seen []error
	d := traceDriver(t, Trace{InvalidMessage: func(_ raft.Message, err error) { seen = append(seen, err) }})

	d.Step(raft.Message{Type: raft.MsgHeartbeat, From: 2, To: 1, Term: 2, Commit: 1})
	require.Zero(t, d.InvalidDropped())
	require.Empty(t, seen)

	d.Step(raft.Message{Type: raft.MsgHeartbeat, From: 2, To: 1, Term: 2, Commit: 1000})
	require.EqualValues(t, 1, d.InvalidDropped())
	require.Len(t, seen, 1)
	require.True(t, errors.Is(seen[0], raft.ErrInvalidMessage), "%v", seen[0])
	require.Contains(t, seen[0].Error(), "commit 1000 is beyond the last index 3")
}

// Trace.Step sees every peer message with the core's state before and
// after it: here a heartbeat of a new term that makes the node a follower
// of its sender.
func TestDriverTracesSteps(t *testing.T) {
	type step struct {
		m             raft.Message
		before, after raft.BasicStatus
	}
	var seen []step
	d := traceDriver(t, Trace{Step: func(m raft.Message, before, after raft.BasicStatus) {
		seen = append(seen, step{m, before, after})
	}})

	d.Step(raft.Message{Type: raft.MsgHeartbeat, From: 2, To: 1, Term: 2, Commit: 1})
	require.Len(t, seen, 1)
	s := seen[0]
	require.Equal(t, raft.MsgHeartbeat, s.m.Type)
	require.EqualValues(t, 1, s.before.ID)
	require.Less(t, s.before.Term, uint64(2))
	require.EqualValues(t, 2, s.after.Term)
	require.EqualValues(t, 2, s.after.Lead)
	require.Equal(t, raft.StateFollower, s.after.RaftState)
	require.Equal(t, s.before.Commit, s.after.Commit) // the bootstrap entries were committed already
	require.EqualValues(t, 3, s.after.LastIndex)
}

// traceDriver is node 1 of a bootstrapped 3-voter configuration, its
// events seen by trace; nothing it sends goes anywhere.
func traceDriver(t *testing.T, trace Trace) *Driver {
	t.Helper()
	d, err := NewDriver(Config{
		Raft:         raftConfig(1),
		TickInterval: testTick,
		Store:        raft.NewMemoryStorage(),
		Transport:    nopTransport{},
		StateMachine: &testSM{},
		Bootstrap:    []uint64{1, 2, 3},
	}, DriverEnv{Trace: trace})
	require.NoError(t, err)
	return d
}
