//go:build raftkv_bugs

package fsm

import (
	"testing"

	"github.com/raftkv/raftkv/internal/bugs"
)

// These tests prove that the state machine's planted bugs are live: the
// same scenario runs with the bug off (the rule holds) and on (it is
// broken). Bugs are process-global, so none of these tests runs in
// parallel.

func bugOnOff(t *testing.T, id bugs.ID, scenario func(t *testing.T, on bool)) {
	t.Helper()
	t.Cleanup(func() { _ = bugs.Enable() })
	for _, on := range []bool{false, true} {
		var ids []bugs.ID
		name := "off"
		if on {
			ids, name = []bugs.ID{id}, "on"
		}
		if err := bugs.Enable(ids...); err != nil {
			t.Fatal(err)
		}
		t.Run(name, func(t *testing.T) { scenario(t, on) })
	}
}

// A retry of a client's last request is applied a second time, over a
// write that came in between.
func TestBugNoSessionDedup(t *testing.T) {
	bugOnOff(t, bugs.NoSessionDedup, func(t *testing.T, on bool) {
		a := newApplier(t)
		set := Command{Op: OpSet, Key: "k", Value: "mine", ClientID: "c1", RequestID: 7}
		first := a.do(set)
		a.do(Command{Op: OpSet, Key: "k", Value: "theirs", ClientID: "c2", RequestID: 1})
		retry := a.do(set)
		want := "theirs"
		if on {
			want = "mine"
		}
		if v, _, _ := a.f.Get("k"); v != want {
			t.Fatalf("k = %q after the retry, want %q", v, want)
		}
		if retry.Duplicate == on || (!on && retry.Index != first.Index) {
			t.Fatalf("retry result %+v (first %+v)", retry, first)
		}
	})
}

// Installing a snapshot keeps a key the snapshot does not have.
func TestBugSnapshotMerges(t *testing.T) {
	bugOnOff(t, bugs.SnapshotMerges, func(t *testing.T, on bool) {
		// The leader's state at index 3: k was set, then deleted.
		leader := newApplier(t)
		leader.do(Command{Op: OpSet, Key: "k", Value: "v"})
		leader.do(Command{Op: OpSet, Key: "j", Value: "1"})
		leader.do(Command{Op: OpDelete, Key: "k"})
		snap, err := leader.f.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		// A follower applied only the first entry, then gets the snapshot.
		follower := newApplier(t)
		follower.do(Command{Op: OpSet, Key: "k", Value: "v"})
		if err := follower.f.Restore(snap); err != nil {
			t.Fatal(err)
		}
		_, found, applied := follower.f.Get("k")
		if applied != 3 {
			t.Fatalf("applied %d after the restore, want 3", applied)
		}
		if found != on {
			t.Fatalf("deleted key present after the restore: %v, want %v", found, on)
		}
		_, lh := leader.f.StateHash()
		_, fh := follower.f.StateHash()
		if (lh == fh) == on {
			t.Fatalf("state hashes equal: %v, want %v", lh == fh, !on)
		}
	})
}
