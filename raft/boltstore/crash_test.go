package boltstore

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/storagetest"
)

const crashChildEnv = "BOLTSTORE_CRASH_CHILD"

func crashEntryData(i uint64) []byte { return fmt.Appendf(nil, "crash-entry-%d", i) }

// TestCrashChild is the process TestKilledWhileSaving kills: it appends
// batches of 4 entries with a hard state committing them, synced, and
// prints the last index after each Save has returned.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		t.Skip("run by TestKilledWhileSaving")
	}
	s, err := Open(path, Options{})
	require.NoError(t, err)
	last, err := s.LastIndex()
	require.NoError(t, err)
	deadline := time.Now().Add(30 * time.Second) // in case the parent is gone
	for time.Now().Before(deadline) {
		var batch []raft.Entry
		for i := last + 1; i <= last+4; i++ {
			batch = append(batch, raft.Entry{Index: i, Term: 1, Data: crashEntryData(i)})
		}
		last += 4
		require.NoError(t, s.Save(raft.HardState{Term: 1, Vote: 1, Commit: last}, batch, raft.Snapshot{}, true))
		fmt.Printf("saved %d\n", last)
	}
}

// TestKilledWhileSaving kills (SIGKILL) a process in the middle of a stream
// of Saves, three times on the same file: every reopen must pass Open's
// verification and hold at least everything whose Save had returned, with
// the hard state at least as new. This is the process-crash half of the
// durability rule; surviving power loss additionally relies on fdatasync.
func TestKilledWhileSaving(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	path := filepath.Join(t.TempDir(), "raft.db")
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		sc := bufio.NewScanner(out)
		var acked uint64
		for n := 0; n < 20+10*round && sc.Scan(); {
			var idx uint64
			if _, err := fmt.Sscanf(sc.Text(), "saved %d", &idx); err == nil {
				acked = idx
				n++
			}
		}
		require.NoError(t, cmd.Process.Kill())
		_ = cmd.Wait()
		require.NotZero(t, acked, "round %d: the child acknowledged nothing", round)

		s, err := Open(path, Options{})
		require.NoError(t, err, "round %d: reopen after kill", round)
		st := storagetest.Observe(t, s)
		require.GreaterOrEqual(t, st.Last, acked, "round %d: an acknowledged Save was lost", round)
		require.GreaterOrEqual(t, st.HardState.Commit, acked, "round %d: an acknowledged hard state was lost", round)
		require.Equal(t, st.Last, st.HardState.Commit, "round %d: entries and hard state of one Save are one transaction", round)
		for _, e := range st.Entries {
			require.Equal(t, crashEntryData(e.Index), e.Data, "round %d: entry %d", round, e.Index)
		}
		require.NoError(t, s.Close())
		t.Logf("round %d: killed after %d acknowledged entries; reopened with %d entries", round, acked, st.Last)
	}
}
