package node

import (
	"testing"

	"github.com/stretchr/testify/require"
)

type testProposal struct {
	name string
	term uint64
	dead bool
}

func TestWaiters(t *testing.T) {
	w := NewWaiters(func(p *testProposal) uint64 { return p.term })
	a := &testProposal{name: "a", term: 2}             // index 5
	b := &testProposal{name: "b", term: 2}             // index 6
	c := &testProposal{name: "c", term: 3}             // index 6, a later leader's
	d := &testProposal{name: "d", term: 2}             // index 9
	e := &testProposal{name: "e", term: 4}             // index 9
	f := &testProposal{name: "f", term: 2}             // index 3
	g := &testProposal{name: "g", term: 5}             // index 12
	h := &testProposal{name: "h", term: 5, dead: true} // index 12
	w.Add(5, a)
	w.Add(6, b)
	w.Add(6, c)
	w.Add(9, d)
	w.Add(9, e)
	w.Add(3, f)
	w.Add(12, g)
	w.Add(12, h)

	// The entry at 6 is term 3's: c's, not b's.
	var mine, replaced []string
	w.Resolve(6, 3, func(p *testProposal, m bool) {
		if m {
			mine = append(mine, p.name)
		} else {
			replaced = append(replaced, p.name)
		}
	})
	require.Equal(t, []string{"c"}, mine)
	require.Equal(t, []string{"b"}, replaced)
	w.Resolve(6, 3, func(*testProposal, bool) { t.Fatal("index 6 resolved twice") })

	// Term 3 committed at 6: term-2 proposals above 6 can never commit (d);
	// at or below 6 they are left to their own index (a at 5, f at 3).
	var dropped []string
	w.DropSuperseded(3, 6, func(idx uint64, p *testProposal) { dropped = append(dropped, p.name) })
	require.Equal(t, []string{"d"}, dropped)
	w.DropSuperseded(3, 6, func(uint64, *testProposal) { t.Fatal("the same term scanned twice") })

	// A snapshot up to 5 covers f and a, in index order.
	var covered []string
	w.CoveredBySnapshot(5, func(idx uint64, p *testProposal) { covered = append(covered, p.name) })
	require.Equal(t, []string{"f", "a"}, covered)

	// Abandoned proposals are forgotten; Drain returns the rest in order.
	w.Sweep(func(p *testProposal) bool { return !p.dead })
	require.Equal(t, []*testProposal{e, g}, w.Drain())
	require.Empty(t, w.Drain())
}
