package cluster

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/raftkv/raftkv/checker"
	"github.com/raftkv/raftkv/raft/boltstore"
)

// DBFile is the node's bbolt log in its data directory; its snapshot
// files are in DBFile+".snap/".
const DBFile = "raft.db"

// MaxLogEntries bounds the entries ReadCommittedLog lists per node (the
// newest ones, ending at the commit index): about 3 MB of logs.json each.
const MaxLogEntries = 100_000

// readChunk bounds the bytes of one Entries call.
const readChunk = 4 << 20

// ReadCommittedLog reads the committed log of a stopped node from its data
// directory: the hard state's commit index, the snapshot's index and term,
// and (index, term, checker.EntryHash) of every entry it still holds up to
// the commit index (at most maxEntries, the newest; <= 0: MaxLogEntries).
//
// The node's files are evidence and are never opened for writing:
// boltstore.Open opens read-write (and may initialize or tidy a store), so
// the bbolt file and the snapshot files are copied into a temporary
// directory (snapshot files hard-linked when the file system allows; Open
// only reads the one it uses and unlinks the others, which leaves the
// originals alone) and the copy is opened. The node must not be running:
// a copy taken while it writes may be torn.
func ReadCommittedLog(node, dataDir string, maxEntries int) (checker.NodeLog, error) {
	if maxEntries <= 0 {
		maxEntries = MaxLogEntries
	}
	nl := checker.NodeLog{Node: node, Entries: []checker.LogEntry{}}
	src := filepath.Join(dataDir, DBFile)
	if _, err := os.Stat(src); err != nil {
		return nl, fmt.Errorf("cluster: read log of %s: %w", node, err)
	}
	tmp, err := os.MkdirTemp("", "raftkv-logread-")
	if err != nil {
		return nl, fmt.Errorf("cluster: read log of %s: %w", node, err)
	}
	defer os.RemoveAll(tmp)
	dst := filepath.Join(tmp, DBFile)
	if err := copyFile(src, dst); err != nil {
		return nl, fmt.Errorf("cluster: read log of %s: copy %s: %w", node, src, err)
	}
	if err := linkSnapshots(src+".snap", dst+".snap"); err != nil {
		return nl, fmt.Errorf("cluster: read log of %s: copy snapshots: %w", node, err)
	}
	st, err := boltstore.Open(dst, boltstore.Options{NoSync: true})
	if err != nil {
		return nl, fmt.Errorf("cluster: read log of %s: %w", node, err)
	}
	defer st.Close()
	hs, _, err := st.InitialState()
	if err != nil {
		return nl, fmt.Errorf("cluster: read log of %s: %w", node, err)
	}
	nl.Commit = hs.Commit
	snap, err := st.Snapshot()
	if err != nil {
		return nl, fmt.Errorf("cluster: read log of %s: snapshot: %w", node, err)
	}
	nl.SnapshotIndex, nl.SnapshotTerm = snap.Metadata.Index, snap.Metadata.Term
	first, err := st.FirstIndex()
	if err != nil {
		return nl, fmt.Errorf("cluster: read log of %s: %w", node, err)
	}
	last, err := st.LastIndex()
	if err != nil {
		return nl, fmt.Errorf("cluster: read log of %s: %w", node, err)
	}
	hi := min(hs.Commit, last) // inclusive
	if hi < first {
		return nl, nil
	}
	lo := first
	if hi-lo+1 > uint64(maxEntries) {
		lo = hi - uint64(maxEntries) + 1
	}
	nl.Entries = make([]checker.LogEntry, 0, hi-lo+1)
	for i := lo; i <= hi; {
		ents, err := st.Entries(i, hi+1, readChunk)
		if err != nil {
			return nl, fmt.Errorf("cluster: read log of %s: entries [%d, %d]: %w", node, i, hi, err)
		}
		if len(ents) == 0 {
			return nl, fmt.Errorf("cluster: read log of %s: no entry at %d", node, i)
		}
		for _, e := range ents {
			nl.Entries = append(nl.Entries, checker.LogEntry{Index: e.Index, Term: e.Term, Hash: checker.EntryHash(uint8(e.Type), e.Data)})
		}
		i = ents[len(ents)-1].Index + 1
	}
	return nl, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// linkSnapshots makes dst hold the snapshot data files of src (hard links,
// or copies across file systems); temporary files are left out. A missing
// src is an empty dst.
func linkSnapshots(src, dst string) error {
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return err
	}
	ents, err := os.ReadDir(src)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".snap") {
			continue
		}
		from, to := filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())
		if os.Link(from, to) == nil {
			continue
		}
		if err := copyFile(from, to); err != nil {
			return err
		}
	}
	return nil
}
