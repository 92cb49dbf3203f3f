package kvservice

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/raftkv/raftkv/kvservice/client"
	"github.com/raftkv/raftkv/raft/boltstore"
)

// dropLastEntries deletes up to n entries from the end of the log in the
// bbolt file db, behind the store's back: a log that lost its tail.
func dropLastEntries(t *testing.T, db string, n int) {
	t.Helper()
	bdb, err := bolt.Open(db, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	err = bdb.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket([]byte("entries")).Cursor()
		for k, _ := c.Last(); k != nil && n > 0; k, _ = c.Last() {
			if err := c.Delete(); err != nil {
				return err
			}
			n--
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// dataDirFiles maps every file under dir to its contents.
func dataDirFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// startOneNode starts a single-node cluster in dir, writes n keys through
// it and stops it.
func startOneNode(t *testing.T, addr, dir string, snapshotEvery uint64, first, n int) {
	t.Helper()
	cfg := testConfig("node0", addr, dir, []Peer{{"node0", addr}})
	cfg.SnapshotEvery = snapshotEvery
	s, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	waitFor(t, "leader", func() bool { ok, _ := s.Ready(); return ok })
	cl, _ := client.New([]string{s.APIAddr()}, 5*time.Second)
	for i := first; i < first+n; i++ {
		if _, err := cl.Put(context.Background(), fmt.Sprint("k", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
}

// refuseStart starts node0 on dir and checks that it is refused with
// ErrCorruptData, an error naming want and the recovery, and that nothing
// in dir changed.
func refuseStart(t *testing.T, addr, dir string, want ...string) {
	t.Helper()
	before := dataDirFiles(t, dir)
	s, err := Start(context.Background(), testConfig("node0", addr, dir, []Peer{{"node0", addr}}))
	if err == nil {
		s.Close()
		t.Fatal("started on a data directory it cannot trust")
	}
	t.Log(err)
	if !errors.Is(err, ErrCorruptData) {
		t.Fatalf("err = %v, want ErrCorruptData", err)
	}
	for _, w := range append(want, "raftkvctl members remove node0", "restore the complete data directory") {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not say %q: %v", w, err)
		}
	}
	if after := dataDirFiles(t, dir); !mapsEqual(before, after) {
		t.Fatalf("a refused start changed the data directory:\nbefore %v\nafter  %v", keys(before), keys(after))
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || v != w {
			return false
		}
	}
	return true
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// A member's data directory whose log is missing, empty or contradicts
// itself is refused at start, with a message naming the file, what is
// wrong and how to recover, and nothing is written. Before, a missing or
// empty raft.db next to identity.json started a node with an empty log
// (bootstrapped again) that voted, which lost an acknowledged write.
func TestStartRefusesLostLog(t *testing.T) {
	addr := freeAddrs(t, 1)[0]
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, db string)
		want   []string
	}{
		{"raft.db missing", func(t *testing.T, db string) {
			if err := os.Remove(db); err != nil {
				t.Fatal(err)
			}
		}, []string{"raft.db does not exist", "identity.json says this node is member"}},
		{"raft.db empty", func(t *testing.T, db string) {
			if err := os.Truncate(db, 0); err != nil {
				t.Fatal(err)
			}
		}, []string{"raft.db is empty (0 bytes)"}},
		{"raft.db replaced by a new store", func(t *testing.T, db string) {
			if err := os.Remove(db); err != nil {
				t.Fatal(err)
			}
			s, err := boltstore.Open(db, boltstore.Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
		}, []string{"raft.db holds no log entry, hard state or snapshot"}},
		// The bbolt layout is documented in raft/boltstore: entries under
		// 8-byte big-endian keys in the "entries" bucket.
		{"log ends before the hard state's commit index", func(t *testing.T, db string) {
			dropLastEntries(t, db, 2)
		}, []string{"raft.db", "hard state commit", "is beyond the last index"}},
		{"every entry after the snapshot lost", func(t *testing.T, db string) {
			dropLastEntries(t, db, 1<<20)
		}, []string{"raft.db", "is beyond the last index"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			startOneNode(t, addr, dir, 4, 0, 6)
			tc.damage(t, filepath.Join(dir, "raft.db"))
			refuseStart(t, addr, dir, tc.want...)
		})
	}
}

// A data directory whose raft.db was restored from an older copy while its
// snapshot directory was not: the old log names a snapshot file that a
// later snapshot replaced. Refused at start, not served without its
// snapshot (or, with the whole directory restored consistently, left to
// the core, which drops the leader's heartbeats that commit beyond its
// log instead of panicking: TestRestoredOlderLogDropsHeartbeat in raft).
func TestStartRefusesRestoredOlderLog(t *testing.T) {
	addr := freeAddrs(t, 1)[0]
	dir := t.TempDir()
	db := filepath.Join(dir, "raft.db")
	startOneNode(t, addr, dir, 4, 0, 6)
	old, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	snaps := func() []string {
		des, _ := os.ReadDir(db + ".snap")
		var names []string
		for _, de := range des {
			names = append(names, de.Name())
		}
		return names
	}
	before := snaps()
	if len(before) == 0 {
		t.Fatal("no snapshot was taken")
	}
	startOneNode(t, addr, dir, 4, 6, 12)
	for _, n := range snaps() {
		for _, b := range before {
			if n == b {
				t.Fatalf("snapshot file %s was not replaced", n)
			}
		}
	}
	if err := os.WriteFile(db, old, 0o644); err != nil {
		t.Fatal(err)
	}
	refuseStart(t, addr, dir, "raft.db", "data file missing")
}
