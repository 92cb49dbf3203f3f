package boltstore

import (
	"bufio"
	"bytes"
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

const (
	crashChildEnv = "BOLTSTORE_CRASH_CHILD"
	// crashSnapshotsEnv makes the child also snapshot and compact.
	crashSnapshotsEnv = "BOLTSTORE_CRASH_SNAPSHOTS"
)

func crashEntryData(i uint64) []byte { return fmt.Appendf(nil, "crash-entry-%d", i) }

// crashSnapshotData is the snapshot data at index i: large enough (1 MiB)
// that a kill often lands while a snapshot file is written.
func crashSnapshotData(i uint64) []byte {
	return bytes.Repeat(fmt.Appendf(nil, "snapshot-at-%08d|", i), (1<<20)/21)
}

// TestCrashChild is the process TestKilledWhileSaving kills: it appends
// batches of 4 entries with a hard state committing them, synced, and
// prints the last index after each Save has returned. With
// crashSnapshotsEnv set, every third Save is followed by a snapshot two
// entries back and a compaction to ten entries before that, on another
// goroutine as the driver does, while the Saves go on.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		t.Skip("run by TestKilledWhileSaving")
	}
	snapshots := os.Getenv(crashSnapshotsEnv) != ""
	s, err := Open(path, Options{})
	require.NoError(t, err)
	last, err := s.LastIndex()
	require.NoError(t, err)
	deadline := time.Now().Add(30 * time.Second) // in case the parent is gone
	snapReq := make(chan uint64, 1)
	snapErr := make(chan error, 1)
	if snapshots {
		go func() {
			for i := range snapReq {
				if _, err := s.CreateSnapshot(i, raft.ConfState{Voters: []uint64{1}}, crashSnapshotData(i)); err != nil {
					snapErr <- err
					return
				}
				if i > 10 {
					if err := s.Compact(i - 10); err != nil {
						snapErr <- err
						return
					}
				}
			}
		}()
	}
	for saves := 1; time.Now().Before(deadline); saves++ {
		select {
		case err := <-snapErr:
			require.NoError(t, err)
		default:
		}
		var batch []raft.Entry
		for i := last + 1; i <= last+4; i++ {
			batch = append(batch, raft.Entry{Index: i, Term: 1, Data: crashEntryData(i)})
		}
		last += 4
		require.NoError(t, s.Save(raft.HardState{Term: 1, Vote: 1, Commit: last}, batch, raft.Snapshot{}, true))
		fmt.Printf("saved %d\n", last)
		if snapshots && saves%3 == 0 {
			select {
			case snapReq <- last - 2:
			default: // the previous one is still being written
			}
		}
	}
}

// TestKilledWhileSaving kills (SIGKILL) a process in the middle of a stream
// of Saves, three times on the same file: every reopen must pass Open's
// verification and hold at least everything whose Save had returned, with
// the hard state at least as new. This is the process-crash half of the
// durability rule; surviving power loss additionally relies on fdatasync.
func TestKilledWhileSaving(t *testing.T) { testKilled(t, false) }

// TestKilledWhileSnapshotting is TestKilledWhileSaving with snapshots
// created and the log compacted concurrently with the Saves: every reopen
// also finds the snapshot's data file intact (its data is that of its
// index), and no other file left in the snapshot directory.
func TestKilledWhileSnapshotting(t *testing.T) { testKilled(t, true) }

func testKilled(t *testing.T, snapshots bool) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	path := filepath.Join(t.TempDir(), "raft.db")
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
		if snapshots {
			cmd.Env = append(cmd.Env, crashSnapshotsEnv+"=1")
		}
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
		if i := st.Snapshot.Metadata.Index; i != 0 {
			require.True(t, bytes.Equal(crashSnapshotData(i), st.Snapshot.Data), "round %d: data of snapshot %d", round, i)
			require.Equal(t, []string{s.st.snap.file}, snapFiles(t, path), "round %d: leftovers in the snapshot directory", round)
		} else {
			require.Empty(t, snapFiles(t, path), "round %d", round)
		}
		require.NoError(t, s.Close())
		t.Logf("round %d: killed after %d acknowledged entries; reopened with entries [%d, %d], snapshot at %d", round, acked, st.First, st.Last, st.Snapshot.Metadata.Index)
	}
}
