package node

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/raftkv/raftkv/raft"
)

type testRead struct {
	name string
	dead bool
}

func TestReadBatcher(t *testing.T) {
	b := NewReadBatcher(7, func(r *testRead) bool { return !r.dead })
	require.Nil(t, b.Start(), "a round with no reads")

	r1, r2, r3 := &testRead{name: "r1"}, &testRead{name: "r2"}, &testRead{name: "r3"}
	b.Add(r1)
	b.Add(r2)
	first := b.Start()
	require.Len(t, first, 16)
	b.Add(r3)
	require.Nil(t, b.Start(), "one round in flight at a time")

	// An answer to another context is not this round's.
	b.Answered(raft.ReadState{Index: 5, RequestCtx: []byte("other")})
	var got []string
	answer := func(index uint64, r *testRead) { got = append(got, r.name) }
	b.Due(100, answer)
	require.Empty(t, got)

	b.Answered(raft.ReadState{Index: 5, RequestCtx: first})
	b.Due(4, answer)
	require.Empty(t, got, "answered before the read index was applied")
	b.Due(5, answer)
	require.Equal(t, []string{"r1", "r2"}, got)

	// r3 goes in the next round, with a new context; unanswered for more
	// than the limit, the round is abandoned and its reads go first again.
	second := b.Start()
	require.NotEqual(t, first, second)
	b.Tick(3, 3)
	require.Nil(t, b.Start(), "abandoned too early")
	b.Tick(1, 3)
	r4 := &testRead{name: "r4"}
	b.Add(r4)
	third := b.Start()
	require.NotNil(t, third)
	b.Answered(raft.ReadState{Index: 6, RequestCtx: second}) // too late: ignored
	got = nil
	b.Due(100, answer)
	require.Empty(t, got)
	b.Answered(raft.ReadState{Index: 6, RequestCtx: third})
	b.Due(6, answer)
	require.Equal(t, []string{"r3", "r4"}, got)

	// Reads whose callers gave up are dropped when queued or answered, not
	// while in flight; Drain hands back everything that is left.
	r5, r6, r7 := &testRead{name: "r5"}, &testRead{name: "r6"}, &testRead{name: "r7"}
	b.Add(r5)
	fourth := b.Start()
	b.Answered(raft.ReadState{Index: 9, RequestCtx: fourth})
	b.Add(r6)
	b.Add(r7)
	r5.dead, r6.dead = true, true
	b.Sweep()
	require.Equal(t, []*testRead{r7}, b.Drain())
	require.Nil(t, b.Start())
	got = nil
	b.Due(100, answer)
	require.Empty(t, got)
}
