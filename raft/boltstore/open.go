package boltstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/raftkv/raftkv/raft"
)

// Open opens the store at path, creating an empty one if the file does not
// exist or is empty; the snapshot data files are kept in the directory
// path+".snap", created if missing. An existing file is verified before
// Open returns:
//
//   - it is a bbolt file whose size covers every page its meta page
//     references (a truncated file would otherwise fault on first access);
//   - bbolt's own walk of the page tree succeeds (bbolt does it at every
//     open because the freelist is not synced);
//   - the format version is FormatVersion;
//   - the entries are contiguous from the compaction marker + 1 to the last
//     index, each under the key of its own index, each with a valid CRC and
//     terms non-decreasing;
//   - the hard state, marker and snapshot metadata records have valid CRCs,
//     the hard state's commit index is at most the last index, and the
//     snapshot lies within [marker, last index] with the log's term at its
//     index;
//   - the snapshot's data file exists and matches the length and CRC in
//     its metadata (the file is read once).
//
// Any failure is an error wrapping ErrCorrupt that names the path and the
// problem: the store is never served half-trusted. With
// Options.RequireState, a missing file, an empty one, or a store holding no
// entry, hard state or snapshot is refused with ErrNoState, before anything
// is created or written. Only once the store is
// verified does Open remove the snapshot directory's leftovers: temporary
// files and snapshot files the metadata does not reference (a crash after
// a snapshot file was written but before its metadata was committed, or
// before the replaced snapshot's file was deleted). A file locked by another
// process, or one that cannot be read for lack of permission, is reported
// as such, not as corrupt.
func Open(path string, opts Options) (*Store, error) {
	timeout := opts.LockTimeout
	if timeout == 0 {
		timeout = DefaultLockTimeout
	}
	var pre *inspection
	fi, err := os.Stat(path)
	switch {
	case err == nil && fi.IsDir():
		return nil, fmt.Errorf("boltstore: %s is a directory", path)
	case err == nil && fi.Size() > 0:
		if pre, err = precheck(path, fi.Size(), timeout); err != nil {
			return nil, err
		}
		if opts.RequireState && (pre.fresh || pre.st.empty()) {
			return nil, fmt.Errorf("%w: %s holds no log entry, hard state or snapshot", ErrNoState, path)
		}
	case err == nil && opts.RequireState:
		return nil, fmt.Errorf("%w: %s is empty (0 bytes)", ErrNoState, path)
	case errors.Is(err, fs.ErrNotExist) && opts.RequireState:
		return nil, fmt.Errorf("%w: %s does not exist", ErrNoState, path)
	case err == nil || errors.Is(err, fs.ErrNotExist):
	default:
		return nil, fmt.Errorf("boltstore: %w", err)
	}

	db, err := openBolt(path, &bolt.Options{
		Timeout: timeout,
		// The freelist is rebuilt by walking the tree at open instead of
		// being written at every commit: less to write per Save.
		NoFreelistSync:  true,
		FreelistType:    bolt.FreelistMapType,
		InitialMmapSize: opts.InitialMmapSize,
		NoSync:          opts.NoSync,
	})
	if err != nil {
		return nil, err
	}
	st, err := load(db, path, pre)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	s := &Store{path: path, snapDir: snapDirPath(path), noSync: opts.NoSync, db: db, st: st}
	if st.snap.Index != 0 {
		if err := checkSnapFile(s.snapDir, st.snap); err != nil {
			_ = db.Close()
			return nil, err
		}
	}
	maxSeq, err := prepareSnapDir(s.snapDir, st.snap.file)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	s.snapSeq.Store(maxSeq)
	return s, nil
}

// inspection is what inspect found in a file.
type inspection struct {
	txid  int  // the bbolt transaction the file was inspected at
	fresh bool // no bucket at all: a new store
	st    state
}

// precheck opens an existing file read-only and inspects it before the
// read-write open. Two reasons: reading past the end of a mapped file is a
// SIGBUS, and the read-write open (with NoFreelistSync) walks every page in
// a goroutine of bbolt's own, where a damaged page is a panic this package
// cannot recover: the process would die. A read-only open reads only the
// two meta pages; then the size check rules out truncation, and inspect's
// walk, in this goroutine, reaches every page first.
func precheck(path string, size int64, timeout time.Duration) (*inspection, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: timeout})
	if err != nil {
		return nil, openError(path, err)
	}
	defer db.Close()
	var need int64
	if err := db.View(func(tx *bolt.Tx) error { need = tx.Size(); return nil }); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, path, err)
	}
	if size < need {
		return nil, fmt.Errorf("%w: %s: file is truncated: %d bytes, but its bbolt meta page references %d", ErrCorrupt, path, size, need)
	}
	in, err := inspect(db)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, path, err)
	}
	return &in, nil
}

// openError tells an environmental failure (lock held, permission, I/O)
// from a file bbolt refuses to parse, which is corruption.
func openError(path string, err error) error {
	var pe *fs.PathError
	var errno syscall.Errno
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("boltstore: %s is locked by another process (waited for the lock): %w", path, err)
	case errors.As(err, &pe), errors.As(err, &errno):
		return fmt.Errorf("boltstore: open %s: %w", path, err)
	case errors.Is(err, berrors.ErrInvalid):
		return fmt.Errorf("%w: %s: not a bbolt file, or both its meta pages are damaged: %w", ErrCorrupt, path, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrCorrupt, path, err)
}

// openBolt opens the file read-write, turning a panic of bbolt's in this
// goroutine into ErrCorrupt.
func openBolt(path string, o *bolt.Options) (db *bolt.DB, err error) {
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("%w: %s: bbolt failed opening the file: %v", ErrCorrupt, path, r)
		}
	}()
	db, err = bolt.Open(path, 0o600, o)
	if err != nil {
		return nil, openError(path, err)
	}
	return db, nil
}

// inspect reads the whole store in one read transaction: it counts the
// buckets and, unless there are none, verifies the store. A panic of
// bbolt's on a damaged page, or a memory fault on the mapping (turned into
// a panic by SetPanicOnFault), becomes an error; the transaction is rolled
// back either way so the db can still be closed.
func inspect(db *bolt.DB) (in inspection, err error) {
	tx, err := db.Begin(false)
	if err != nil {
		return inspection{}, err
	}
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			in, err = inspection{}, fmt.Errorf("bbolt failed reading the file: %v", r)
		}
		_ = tx.Rollback()
	}()
	in.txid = tx.ID()
	buckets := 0
	if err := tx.ForEach(func([]byte, *bolt.Bucket) error { buckets++; return nil }); err != nil {
		return inspection{}, err
	}
	if buckets == 0 {
		in.fresh = true
		return in, nil
	}
	in.st, err = verify(tx)
	return in, err
}

// load returns the state of the freshly opened db: the precheck's, if the
// file has not changed since, else a new inspection; a store without any
// bucket (a new file, or one whose first Open crashed before its first
// commit) is initialized.
func load(db *bolt.DB, path string, pre *inspection) (state, error) {
	in := pre
	if in != nil {
		txid := -1
		if err := db.View(func(tx *bolt.Tx) error { txid = tx.ID(); return nil }); err != nil || txid != in.txid {
			in = nil
		}
	}
	if in == nil {
		got, err := inspect(db)
		if err != nil {
			return state{}, fmt.Errorf("%w: %s: %w", ErrCorrupt, path, err)
		}
		in = &got
	}
	if !in.fresh {
		return in.st, nil
	}
	err := db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucket(bucketEntries); err != nil {
			return err
		}
		meta, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		if err := meta.Put(keyVersion, binary.BigEndian.AppendUint32(nil, FormatVersion)); err != nil {
			return err
		}
		return meta.Put(keyMarker, encodeMarker(marker{}))
	})
	if err != nil {
		return state{}, fmt.Errorf("boltstore: initialize %s: %w", path, err)
	}
	return state{}, nil
}

// verify checks everything Open promises and returns the in-memory state.
func verify(tx *bolt.Tx) (state, error) {
	var st state
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return st, errors.New("missing meta bucket")
	}
	entries := tx.Bucket(bucketEntries)
	if entries == nil {
		return st, errors.New("missing entries bucket")
	}
	// Visit every page of the meta bucket too (the entries bucket is
	// walked below), so that a damaged page is met here first.
	if err := meta.ForEach(func([]byte, []byte) error { return nil }); err != nil {
		return st, err
	}

	v := meta.Get(keyVersion)
	switch {
	case v == nil:
		return st, errors.New("missing format version")
	case len(v) != 4:
		return st, fmt.Errorf("malformed format version (%d bytes)", len(v))
	case binary.BigEndian.Uint32(v) == 1:
		return st, fmt.Errorf("unsupported format version 1, which kept the snapshot data inside the bbolt file (this build reads version %d and does not migrate)", FormatVersion)
	case binary.BigEndian.Uint32(v) != FormatVersion:
		return st, fmt.Errorf("unsupported format version %d (this build reads version %d)", binary.BigEndian.Uint32(v), FormatVersion)
	}

	v = meta.Get(keyMarker)
	if v == nil {
		return st, errors.New("missing compaction marker")
	}
	mark, err := decodeMarker(v)
	if err != nil {
		return st, fmt.Errorf("compaction marker: %w", err)
	}
	st.mark = mark

	if v := meta.Get(keyHardState); v != nil {
		if st.hs, err = decodeHardState(v); err != nil {
			return st, fmt.Errorf("hard state: %w", err)
		}
	}

	if v := meta.Get(keySnapMeta); v != nil {
		if st.snap, err = decodeSnapMeta(v); err != nil {
			return st, fmt.Errorf("snapshot metadata: %w", err)
		}
		if st.snap.Index == 0 {
			return st, errors.New("snapshot metadata with index 0")
		}
	}

	// Walk the whole log: contiguous keys, each value's CRC, index and
	// term. This reads every page of the entries bucket once.
	next := mark.index + 1
	prevTerm := mark.term
	c := entries.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		idx, ok := keyIndex(k)
		switch {
		case !ok:
			return st, fmt.Errorf("entry key %x is not 8 bytes", k)
		case idx != next && next == mark.index+1:
			return st, fmt.Errorf("first entry is %d, want %d (the entry after the compaction marker %d)", idx, next, mark.index)
		case idx != next:
			return st, fmt.Errorf("entries not contiguous: %d follows %d", idx, next-1)
		case v == nil:
			return st, fmt.Errorf("entry %d is a nested bucket", idx)
		}
		e, t, err := entryTerm(v)
		if err != nil {
			return st, fmt.Errorf("entry %d: %w", idx, err)
		}
		if e != idx {
			return st, fmt.Errorf("entry under key %d claims index %d", idx, e)
		}
		if typ := raft.EntryType(v[20]); typ != raft.EntryNormal && typ != raft.EntryConfChange {
			return st, fmt.Errorf("entry %d has unknown type %d", idx, v[20])
		}
		if t < prevTerm {
			return st, fmt.Errorf("entry %d has term %d, below the previous term %d", idx, t, prevTerm)
		}
		st.terms = st.terms.appendTerm(idx, t)
		prevTerm = t
		next++
	}
	st.last = next - 1

	if st.hs.Commit > st.last {
		return st, fmt.Errorf("hard state commit %d is beyond the last index %d", st.hs.Commit, st.last)
	}
	switch {
	case st.snap.Index == 0 && mark.index != 0:
		return st, fmt.Errorf("log compacted to %d but there is no snapshot", mark.index)
	case st.snap.Index == 0:
	case st.snap.Index < mark.index:
		return st, fmt.Errorf("snapshot index %d is below the compaction marker %d", st.snap.Index, mark.index)
	case st.snap.Index > st.last:
		return st, fmt.Errorf("snapshot index %d is beyond the last index %d", st.snap.Index, st.last)
	case st.termAt(st.snap.Index) != st.snap.Term:
		return st, fmt.Errorf("snapshot term %d does not match the log's term %d at index %d", st.snap.Term, st.termAt(st.snap.Index), st.snap.Index)
	}
	return st, nil
}
