//go:build raftkv_bugs

package bugs

import "testing"

func TestBugEnableSwitchesExactlyThose(t *testing.T) {
	t.Cleanup(func() { _ = Enable() })
	if err := Enable(CommitOldTerm, EvenQuorum); err != nil {
		t.Fatal(err)
	}
	if !On(CommitOldTerm) || !On(EvenQuorum) || On(VoteNotDurable) {
		t.Errorf("enabled %v", Enabled())
	}
	if err := Enable(); err != nil || len(Enabled()) != 0 {
		t.Errorf("Enable() left %v on (%v)", Enabled(), err)
	}
	if err := Enable("nope"); err == nil {
		t.Error("an unknown bug was accepted")
	}
}

// The firing counters are indexed by catalogue position: the ID list they
// use must be the catalogue's, in order.
func TestFiredCountsPerBug(t *testing.T) {
	if len(catalogueIDs) != len(Catalogue) {
		t.Fatalf("%d ids for %d catalogue entries", len(catalogueIDs), len(Catalogue))
	}
	for i, b := range Catalogue {
		if catalogueIDs[i] != b.ID {
			t.Fatalf("position %d: %s, catalogue has %s", i, catalogueIDs[i], b.ID)
		}
	}
	ResetFired()
	Fire(CommitOldTerm)
	Fire(CommitOldTerm)
	Fire("no-such-bug")
	if got := Fired(CommitOldTerm); got != 2 {
		t.Errorf("commit-old-term fired %d times, want 2", got)
	}
	if got := Fired(VoteNotDurable); got != 0 {
		t.Errorf("vote-not-durable fired %d times, want 0", got)
	}
	ResetFired()
	if got := Fired(CommitOldTerm); got != 0 {
		t.Errorf("after ResetFired: %d", got)
	}
}
