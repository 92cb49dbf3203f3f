package cluster

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/raftkv/raftkv/checker"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/boltstore"
)

// writeStore writes a node's data dir: entries 1..last (term 1 up to 10,
// then 2), commit index commit, a snapshot at snapAt and the log
// compacted up to compactTo.
func writeStore(t *testing.T, dir string, last, commit, snapAt, compactTo uint64) []raft.Entry {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(dir, DBFile), boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var ents []raft.Entry
	for i := uint64(1); i <= last; i++ {
		term := uint64(1)
		if i > 10 {
			term = 2
		}
		typ := raft.EntryNormal
		if i == 1 {
			typ = raft.EntryConfChange
		}
		ents = append(ents, raft.Entry{Index: i, Term: term, Type: typ, Data: fmt.Appendf(nil, "cmd %d", i)})
	}
	if err := st.Save(raft.HardState{Term: 2, Vote: 1, Commit: commit}, ents, raft.Snapshot{}, false); err != nil {
		t.Fatal(err)
	}
	if snapAt > 0 {
		if _, err := st.CreateSnapshot(snapAt, raft.ConfState{Voters: []uint64{1, 2, 3}}, []byte("state")); err != nil {
			t.Fatal(err)
		}
	}
	if compactTo > 0 {
		if err := st.Compact(compactTo); err != nil {
			t.Fatal(err)
		}
	}
	return ents
}

// fingerprint hashes every file under dir, by relative path.
func fingerprint(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = sha256.Sum256(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestReadCommittedLog(t *testing.T) {
	dir := t.TempDir()
	ents := writeStore(t, dir, 30, 25, 20, 15)
	before := fingerprint(t, dir)
	names := func() []string {
		var ns []string
		for k := range fingerprint(t, dir) {
			ns = append(ns, k)
		}
		sort.Strings(ns)
		return ns
	}
	files := names()

	l, err := ReadCommittedLog("node1", dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if l.Node != "node1" || l.Commit != 25 || l.SnapshotIndex != 20 || l.SnapshotTerm != 2 || l.Error != "" {
		t.Fatalf("log %+v", l)
	}
	// Compacted through 15: entries 16..25 are held and committed.
	if len(l.Entries) != 10 || l.Entries[0].Index != 16 || l.Entries[9].Index != 25 {
		t.Fatalf("entries %v", l.Entries)
	}
	for _, e := range l.Entries {
		src := ents[e.Index-1]
		if e.Term != src.Term || e.Hash != checker.EntryHash(uint8(src.Type), src.Data) {
			t.Errorf("entry %d: %+v, want term %d hash of %q", e.Index, e, src.Term, src.Data)
		}
	}
	after := fingerprint(t, dir)
	if len(after) != len(before) {
		t.Fatalf("files changed: %v, were %v", names(), files)
	}
	for k, v := range before {
		if after[k] != v {
			t.Errorf("reading changed %s", k)
		}
	}

	// Bounded: the newest entries up to the commit index.
	l, err = ReadCommittedLog("node1", dir, 4)
	if err != nil || len(l.Entries) != 4 || l.Entries[0].Index != 22 || l.Entries[3].Index != 25 {
		t.Fatalf("bounded: %v %v", l.Entries, err)
	}

	// Two readers of two copies of the same data agree; a missing store
	// is an error.
	other := t.TempDir()
	writeStore(t, other, 30, 30, 0, 0)
	m, err := ReadCommittedLog("node2", other, 0)
	if err != nil || len(m.Entries) != 30 || m.SnapshotIndex != 0 {
		t.Fatalf("uncompacted: %+v %v", m, err)
	}
	if r := checker.CheckLogAgreement([]checker.NodeLog{l, m}); r.Verdict != checker.Valid || r.Compared != 4+1 {
		t.Errorf("agreement: %+v", r)
	}
	if _, err := ReadCommittedLog("node3", filepath.Join(t.TempDir(), "wiped"), 0); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing store: %v", err)
	}
}
