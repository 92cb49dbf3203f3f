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
