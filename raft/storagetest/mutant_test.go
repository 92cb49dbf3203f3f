package storagetest_test

import (
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/storagetest"
)

// mutant is a MemoryStorage with one deliberate bug, to show that the
// suite is not vacuous: each bug must make a named sub-test fail.
type mutant struct {
	*raft.MemoryStorage
	bug string
}

func (m mutant) Term(i uint64) (uint64, error) {
	if first, _ := m.FirstIndex(); m.bug == "forgets-snapshot-term" && i == first-1 {
		return 0, nil
	}
	return m.MemoryStorage.Term(i)
}

func (m mutant) Entries(lo, hi, maxSize uint64) ([]raft.Entry, error) {
	if m.bug == "ignores-maxsize" {
		maxSize = ^uint64(0)
	}
	return m.MemoryStorage.Entries(lo, hi, maxSize)
}

func (m mutant) Save(hs raft.HardState, ents []raft.Entry, snap raft.Snapshot, sync bool) error {
	switch m.bug {
	case "keeps-conflicting-suffix":
		last, _ := m.LastIndex()
		for len(ents) > 0 && ents[0].Index <= last {
			ents = ents[1:]
		}
	case "drops-hard-state-with-entries":
		if len(ents) > 0 {
			hs = raft.HardState{}
		}
	case "snapshot-keeps-log":
		if !snap.IsEmpty() {
			return m.MemoryStorage.Save(hs, ents, raft.Snapshot{}, sync)
		}
	}
	return m.MemoryStorage.Save(hs, ents, snap, sync)
}

func (m mutant) Compact(i uint64) error {
	if m.bug == "compacts-past-snapshot" {
		snap, _ := m.Snapshot()
		if i > snap.Metadata.Index {
			// Pretend success without doing anything.
			return nil
		}
	}
	return m.MemoryStorage.Compact(i)
}

// TestMutant runs the suite against the mutant named by $STORAGETEST_MUTANT;
// TestSuiteCatchesMutants runs it in a subprocess and expects it to fail.
func TestMutant(t *testing.T) {
	bug := os.Getenv("STORAGETEST_MUTANT")
	if bug == "" {
		t.Skip("run by TestSuiteCatchesMutants")
	}
	storagetest.RunConformance(t, func(*testing.T) raft.LogStore { return mutant{raft.NewMemoryStorage(), bug} })
}

func TestSuiteCatchesMutants(t *testing.T) {
	for _, tc := range []struct {
		bug, failing string
		// byModel: the randomized comparison with the model catches it
		// too (it never issues a Compact past the snapshot).
		byModel bool
	}{
		{"forgets-snapshot-term", "--- FAIL: TestMutant/Term ", true},
		{"ignores-maxsize", "--- FAIL: TestMutant/EntriesMaxSize ", true},
		{"keeps-conflicting-suffix", "--- FAIL: TestMutant/SaveOverwritesConflictingSuffix ", true},
		{"drops-hard-state-with-entries", "--- FAIL: TestMutant/SaveHardState ", true},
		{"snapshot-keeps-log", "--- FAIL: TestMutant/SaveSnapshot ", true},
		{"compacts-past-snapshot", "--- FAIL: TestMutant/Compact ", false},
	} {
		t.Run(tc.bug, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestMutant$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), "STORAGETEST_MUTANT="+tc.bug)
			out, err := cmd.CombinedOutput()
			require.Error(t, err, "the suite passed a store with bug %q", tc.bug)
			require.Contains(t, string(out), tc.failing)
			if tc.byModel {
				require.Contains(t, string(out), "--- FAIL: TestMutant/RandomAgainstModel ")
			}
		})
	}
}
