package boltstore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/storagetest"
)

// payload is an entry's data that occurs nowhere else in the file, so that
// a test can find it in the raw bytes.
func payload(i uint64) []byte {
	return fmt.Appendf(nil, "<<payload-%06d-%s>>", i, bytes.Repeat([]byte{'x'}, 200))
}

// writeStore returns the path of a fresh copy of a closed store with a
// snapshot at 10 (term 2, data "snapshot-data"), entries 11..210 (terms 2,
// then 3 from 100) and a hard state committing 150. The file spans many
// pages (> 40 KiB of entries). The store is built once and copied, bbolt
// file and snapshot directory, to keep the tests quick.
func writeStore(t *testing.T) string {
	t.Helper()
	templateOnce.Do(func() { template, templateErr = buildTemplate(t.TempDir()) })
	require.NoError(t, templateErr)
	path := filepath.Join(t.TempDir(), "raft.db")
	require.NoError(t, os.WriteFile(path, template.db, 0o600))
	require.NoError(t, os.Mkdir(snapDirPath(path), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(snapDirPath(path), template.snapName), template.snapData, 0o600))
	return path
}

var (
	templateOnce sync.Once
	template     storeFiles
	templateErr  error
)

// storeFiles is the contents of a closed store with one snapshot file.
type storeFiles struct {
	db       []byte
	snapName string
	snapData []byte
}

// snapFile returns the path of the one snapshot data file of the store at
// dbPath.
func snapFile(t *testing.T, dbPath string) string {
	t.Helper()
	names := snapFiles(t, dbPath)
	require.Len(t, names, 1, "snapshot files in %s", snapDirPath(dbPath))
	return filepath.Join(snapDirPath(dbPath), names[0])
}

// snapFiles lists the snapshot directory of the store at dbPath.
func snapFiles(t *testing.T, dbPath string) []string {
	t.Helper()
	des, err := os.ReadDir(snapDirPath(dbPath))
	require.NoError(t, err)
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

func buildTemplate(dir string) (storeFiles, error) {
	path := filepath.Join(dir, "raft.db")
	s, err := Open(path, Options{})
	if err != nil {
		return storeFiles{}, err
	}
	defer s.Close()
	snap := raft.Snapshot{Data: []byte("snapshot-data"), Metadata: raft.SnapshotMetadata{Index: 10, Term: 2, ConfState: raft.ConfState{Voters: []uint64{1, 2, 3}}}}
	if err := s.Save(raft.HardState{Term: 2, Commit: 10}, nil, snap, true); err != nil {
		return storeFiles{}, err
	}
	for lo := uint64(11); lo <= 210; lo += 50 {
		var batch []raft.Entry
		for i := lo; i < lo+50; i++ {
			term := uint64(2)
			if i >= 100 {
				term = 3
			}
			batch = append(batch, raft.Entry{Index: i, Term: term, Data: payload(i)})
		}
		if err := s.Save(raft.HardState{Term: 3, Vote: 1, Commit: min(lo+49, 150)}, batch, raft.Snapshot{}, true); err != nil {
			return storeFiles{}, err
		}
	}
	if err := s.Close(); err != nil {
		return storeFiles{}, err
	}
	var out storeFiles
	out.snapName = s.st.snap.file
	if out.snapData, err = os.ReadFile(filepath.Join(snapDirPath(path), out.snapName)); err != nil {
		return storeFiles{}, err
	}
	out.db, err = os.ReadFile(path)
	return out, err
}

// withBolt opens the store's file with bbolt directly and runs fn in a
// write transaction: the way to damage one record while keeping the file a
// valid bbolt file.
func withBolt(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(fn))
	require.NoError(t, db.Close())
}

func flipInValue(bucket []byte, k []byte, off int) func(tx *bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		v := append([]byte(nil), b.Get(k)...)
		if off < 0 {
			off += len(v)
		}
		v[off] ^= 0x01
		return b.Put(k, v)
	}
}

func put(bucket, k, v []byte) func(tx *bolt.Tx) error {
	return func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put(k, v) }
}

func del(bucket []byte, keys ...[]byte) func(tx *bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		for _, k := range keys {
			if err := tx.Bucket(bucket).Delete(k); err != nil {
				return err
			}
		}
		return nil
	}
}

// flipRaw flips one bit of every occurrence of pattern in the file's raw
// bytes (stale copies in freed pages included), bypassing bbolt entirely:
// the damage a bad disk or a stray write does.
func flipRaw(t *testing.T, path string, pattern []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	n := 0
	for off := 0; ; {
		k := bytes.Index(b[off:], pattern)
		if k < 0 {
			break
		}
		b[off+k+len(pattern)/2] ^= 0x10
		off += k + len(pattern)
		n++
	}
	require.NotZero(t, n, "pattern not found in %s", path)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteAt(b, 0)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

func TestOpenDetectsCorruption(t *testing.T) {
	for _, tc := range []struct {
		name    string
		corrupt func(t *testing.T, path string)
		msg     string
	}{
		{"truncated to half", func(t *testing.T, path string) {
			fi, err := os.Stat(path)
			require.NoError(t, err)
			require.NoError(t, os.Truncate(path, fi.Size()/2))
		}, "truncated"},
		{"truncated below two pages", func(t *testing.T, path string) {
			require.NoError(t, os.Truncate(path, 1000))
		}, "invalid database"},
		{"garbage file", func(t *testing.T, path string) {
			g := make([]byte, 64<<10)
			rng := rand.New(rand.NewPCG(1, 2))
			for i := range g {
				g[i] = byte(rng.Uint32())
			}
			require.NoError(t, os.WriteFile(path, g, 0o600))
		}, "invalid database"},
		{"text file", func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path, bytes.Repeat([]byte("not a database\n"), 1000), 0o600))
		}, "invalid database"},
		{"bit flipped in an entry's data (via bbolt)", func(t *testing.T, path string) {
			withBolt(t, path, flipInValue(bucketEntries, key(57), -3))
		}, "entry 57: bad record: crc32c mismatch"},
		{"bit flipped in an entry's term (via bbolt)", func(t *testing.T, path string) {
			withBolt(t, path, flipInValue(bucketEntries, key(120), 19))
		}, "entry 120: bad record: crc32c mismatch"},
		{"bit flipped in the raw file", func(t *testing.T, path string) {
			flipRaw(t, path, payload(133))
		}, "entry 133: bad record: crc32c mismatch"},
		{"entry value cut short", func(t *testing.T, path string) {
			withBolt(t, path, put(bucketEntries, key(60), []byte{1, 2, 3}))
		}, "entry 60: bad record: 3 bytes"},
		{"format version 1 (snapshot data inside bbolt)", func(t *testing.T, path string) {
			withBolt(t, path, put(bucketMeta, keyVersion, binary.BigEndian.AppendUint32(nil, 1)))
		}, "unsupported format version 1, which kept the snapshot data inside the bbolt file (this build reads version 2 and does not migrate)"},
		{"unknown format version", func(t *testing.T, path string) {
			withBolt(t, path, put(bucketMeta, keyVersion, binary.BigEndian.AppendUint32(nil, 3)))
		}, "unsupported format version 3 (this build reads version 2)"},
		{"missing format version", func(t *testing.T, path string) {
			withBolt(t, path, del(bucketMeta, keyVersion))
		}, "missing format version"},
		{"missing entries bucket", func(t *testing.T, path string) {
			withBolt(t, path, func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketEntries) })
		}, "missing entries bucket"},
		{"foreign bbolt file", func(t *testing.T, path string) {
			require.NoError(t, os.Remove(path))
			withBolt(t, path, func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("other")); return err })
		}, "missing meta bucket"},
		{"hole in the log", func(t *testing.T, path string) {
			withBolt(t, path, del(bucketEntries, key(77)))
		}, "entries not contiguous: 78 follows 76"},
		{"first entries missing", func(t *testing.T, path string) {
			withBolt(t, path, del(bucketEntries, key(11), key(12)))
		}, "first entry is 13, want 11"},
		{"entry under the wrong key", func(t *testing.T, path string) {
			withBolt(t, path, func(tx *bolt.Tx) error {
				b := tx.Bucket(bucketEntries)
				return b.Put(key(90), append([]byte(nil), b.Get(key(89))...))
			})
		}, "entry under key 90 claims index 89"},
		{"term going backwards", func(t *testing.T, path string) {
			e := raft.Entry{Index: 150, Term: 2, Data: []byte("x")}
			withBolt(t, path, put(bucketEntries, key(150), putEntry(make([]byte, entryLen(e)), e)))
		}, "entry 150 has term 2, below the previous term 3"},
		{"hard state record damaged", func(t *testing.T, path string) {
			withBolt(t, path, flipInValue(bucketMeta, keyHardState, 10))
		}, "hard state: bad record: crc32c mismatch"},
		{"commit beyond the last index", func(t *testing.T, path string) {
			withBolt(t, path, put(bucketMeta, keyHardState, encodeHardState(raft.HardState{Term: 3, Commit: 211})))
		}, "hard state commit 211 is beyond the last index 210"},
		{"log cut after the commit index", func(t *testing.T, path string) {
			withBolt(t, path, del(bucketEntries, key(210), key(209), key(208)))
			withBolt(t, path, put(bucketMeta, keyHardState, encodeHardState(raft.HardState{Term: 3, Commit: 209})))
		}, "hard state commit 209 is beyond the last index 207"},
		{"snapshot metadata damaged", func(t *testing.T, path string) {
			withBolt(t, path, flipInValue(bucketMeta, keySnapMeta, 12))
		}, "snapshot metadata: bad record: crc32c mismatch"},
		{"snapshot data file damaged", func(t *testing.T, path string) {
			flipRaw(t, snapFile(t, path), []byte("snapshot-data"))
		}, "snapshot 10: data crc32c"},
		{"snapshot data file missing", func(t *testing.T, path string) {
			require.NoError(t, os.Remove(snapFile(t, path)))
		}, "snapshot 10: data file missing"},
		{"snapshot directory missing", func(t *testing.T, path string) {
			require.NoError(t, os.RemoveAll(snapDirPath(path)))
		}, "snapshot 10: data file missing"},
		{"snapshot data file truncated", func(t *testing.T, path string) {
			require.NoError(t, os.Truncate(snapFile(t, path), 5))
		}, "snapshot 10: data file is 5 bytes, metadata says 13"},
		{"snapshot data file extended", func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(snapFile(t, path), []byte("snapshot-data+"), 0o600))
		}, "snapshot 10: data file is 14 bytes, metadata says 13"},
		{"snapshot data file replaced by another of the same size", func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(snapFile(t, path), []byte("snapshot-DATA"), 0o600))
		}, "snapshot 10: data crc32c"},
		{"snapshot metadata names a file outside the directory", func(t *testing.T, path string) {
			sm := newSnapMeta(raft.Snapshot{Data: []byte("snapshot-data"), Metadata: raft.SnapshotMetadata{Index: 10, Term: 2}}, "../raft.db")
			withBolt(t, path, put(bucketMeta, keySnapMeta, encodeSnapMeta(sm)))
		}, `snapshot metadata: bad record: file name "../raft.db" is not a snapshot file name for term 2, index 10`},
		{"snapshot metadata names another snapshot's file", func(t *testing.T, path string) {
			sm := newSnapMeta(raft.Snapshot{Data: []byte("snapshot-data"), Metadata: raft.SnapshotMetadata{Index: 10, Term: 2}}, snapFileName(2, 11, 1))
			withBolt(t, path, put(bucketMeta, keySnapMeta, encodeSnapMeta(sm)))
		}, "is not a snapshot file name for term 2, index 10"},
		{"snapshot term contradicts the log", func(t *testing.T, path string) {
			sm := newSnapMeta(raft.Snapshot{Data: []byte("snapshot-data"), Metadata: raft.SnapshotMetadata{Index: 10, Term: 3}}, snapFileName(3, 10, 1))
			withBolt(t, path, put(bucketMeta, keySnapMeta, encodeSnapMeta(sm)))
		}, "snapshot term 3 does not match the log's term 2 at index 10"},
		{"snapshot beyond the log", func(t *testing.T, path string) {
			sm := newSnapMeta(raft.Snapshot{Data: []byte("snapshot-data"), Metadata: raft.SnapshotMetadata{Index: 300, Term: 3}}, snapFileName(3, 300, 1))
			withBolt(t, path, put(bucketMeta, keySnapMeta, encodeSnapMeta(sm)))
		}, "snapshot index 300 is beyond the last index 210"},
		{"every entry after the snapshot lost", func(t *testing.T, path string) {
			var keys [][]byte
			for i := uint64(11); i <= 210; i++ {
				keys = append(keys, key(i))
			}
			withBolt(t, path, del(bucketEntries, keys...))
		}, "hard state commit 150 is beyond the last index 10"},
		{"snapshot newer than the log's end, no entries between", func(t *testing.T, path string) {
			var keys [][]byte
			for i := uint64(11); i <= 210; i++ {
				keys = append(keys, key(i))
			}
			withBolt(t, path, del(bucketEntries, keys...))
			withBolt(t, path, put(bucketMeta, keyHardState, encodeHardState(raft.HardState{Term: 3, Commit: 10})))
			sm := newSnapMeta(raft.Snapshot{Data: []byte("snapshot-data"), Metadata: raft.SnapshotMetadata{Index: 120, Term: 3}}, snapFileName(3, 120, 1))
			withBolt(t, path, put(bucketMeta, keySnapMeta, encodeSnapMeta(sm)))
		}, "snapshot index 120 is beyond the last index 10"},
		{"compacted log without a snapshot", func(t *testing.T, path string) {
			withBolt(t, path, del(bucketMeta, keySnapMeta))
		}, "log compacted to 10 but there is no snapshot"},
		{"compaction marker damaged", func(t *testing.T, path string) {
			withBolt(t, path, flipInValue(bucketMeta, keyMarker, 5))
		}, "compaction marker: bad record: crc32c mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeStore(t)
			tc.corrupt(t, path)
			before := dirContents(t, filepath.Dir(path))
			s, err := Open(path, Options{})
			if err == nil {
				s.Close()
			}
			t.Log(err)
			require.ErrorIs(t, err, ErrCorrupt)
			require.ErrorContains(t, err, path)
			require.ErrorContains(t, err, tc.msg)
			require.Equal(t, before, dirContents(t, filepath.Dir(path)), "a refused Open changed the files")
		})
	}
}

// The undamaged store written by writeStore opens, so every case above
// fails because of its damage alone.
func TestWriteStoreOpens(t *testing.T) {
	path := writeStore(t)
	s, err := Open(path, Options{})
	require.NoError(t, err)
	defer s.Close()
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	require.Equal(t, uint64(11), first)
	require.Equal(t, uint64(210), last)
	hs, _, _ := s.InitialState()
	require.Equal(t, raft.HardState{Term: 3, Vote: 1, Commit: 150}, hs)
}

// Damage that happens while the store is open is caught when the entry is
// read: Entries re-checks every CRC instead of trusting Open's check.
func TestEntriesDetectsCorruptionAtRead(t *testing.T) {
	path := writeStore(t)
	s, err := Open(path, Options{})
	require.NoError(t, err)
	defer s.Close()
	flipRaw(t, path, payload(140)) // the mapping is shared: bbolt sees it
	got, err := s.Entries(100, 130, noLimit)
	require.NoError(t, err)
	require.Len(t, got, 30)
	_, err = s.Entries(130, 150, noLimit)
	require.ErrorIs(t, err, ErrCorrupt)
	require.ErrorContains(t, err, "entry 140")
}

// Damage to the snapshot data file after Open is caught by Snapshot, which
// checks the data against its metadata on every read and never serves it.
func TestSnapshotDetectsCorruptionAtRead(t *testing.T) {
	for _, tc := range []struct {
		name    string
		corrupt func(t *testing.T, file string)
		msg     string
	}{
		{"bit flipped", func(t *testing.T, file string) { flipRaw(t, file, []byte("snapshot-data")) }, "snapshot 10: data crc32c"},
		{"truncated", func(t *testing.T, file string) { require.NoError(t, os.Truncate(file, 3)) }, "snapshot 10: data file is 3 bytes, metadata says 13"},
		{"deleted", func(t *testing.T, file string) { require.NoError(t, os.Remove(file)) }, "snapshot 10: data file missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeStore(t)
			s, err := Open(path, Options{})
			require.NoError(t, err)
			defer s.Close()
			file := snapFile(t, path)
			tc.corrupt(t, file)
			_, err = s.Snapshot()
			require.ErrorIs(t, err, ErrCorrupt)
			require.ErrorContains(t, err, file)
			require.ErrorContains(t, err, tc.msg)
		})
	}
}

// dirContents maps every file under dir (recursively) to its contents.
func dirContents(t *testing.T, dir string) map[string]string {
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
	require.NoError(t, err)
	return out
}

const noLimit = ^uint64(0)

// TestRandomDamageIsDetectedOrHarmless damages the file at random, past
// bbolt's two meta pages: a few bytes, or a whole page. Open must then
// either fail with ErrCorrupt or (the damage hit a free page) serve exactly
// the original store; it must never crash the process (bbolt panics on a
// bad page in its own goroutine at open; Open walks every page first) nor
// serve anything else.
//
// The meta pages are left alone: when the newest one is damaged bbolt falls
// back to the previous transaction, which is indistinguishable from a crash
// during that commit (a torn meta write) and is what bbolt is designed to do.
func TestRandomDamageIsDetectedOrHarmless(t *testing.T) {
	path := writeStore(t)
	s, err := Open(path, Options{})
	require.NoError(t, err)
	want := storagetest.Observe(t, s)
	require.NoError(t, s.Close())
	clean, err := os.ReadFile(path)
	require.NoError(t, err)
	ps := os.Getpagesize() // bbolt's default page size
	metaEnd := 2 * ps
	detected := 0
	for seed := range uint64(80) {
		b := append([]byte(nil), clean...)
		rng := rand.New(rand.NewPCG(seed, 9))
		if seed%4 == 0 {
			page := 2 + rng.IntN(len(b)/ps-2)
			for i := page * ps; i < (page+1)*ps; i++ {
				b[i] = byte(rng.Uint32())
			}
		} else {
			for range 1 + rng.IntN(4) {
				b[metaEnd+rng.IntN(len(b)-metaEnd)] ^= byte(1 + rng.IntN(255))
			}
		}
		require.NoError(t, os.WriteFile(path, b, 0o600))
		s, err := Open(path, Options{})
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupt, "seed %d", seed)
			detected++
			continue
		}
		got := storagetest.Observe(t, s)
		require.NoError(t, s.Close())
		require.Equal(t, want, got, "seed %d: damaged store opened and served different contents", seed)
	}
	t.Logf("%d of 80 damaged files rejected, the rest damaged only free pages", detected)
	require.NotZero(t, detected)
}

// With RequireState, Open refuses a store that holds nothing, whether the
// file is missing, empty, a bbolt file without the store's buckets, or an
// initialized store that never got an entry, hard state or snapshot, and
// it creates and writes nothing. A store with state opens as usual.
func TestOpenRequireState(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, path string)
		msg   string
	}{
		{"missing file", func(t *testing.T, path string) {}, "does not exist"},
		{"empty file", func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path, nil, 0o600))
		}, "is empty (0 bytes)"},
		{"bbolt file without buckets", func(t *testing.T, path string) {
			withBolt(t, path, func(*bolt.Tx) error { return nil })
		}, "holds no log entry, hard state or snapshot"},
		{"initialized store without state", func(t *testing.T, path string) {
			s, err := Open(path, Options{})
			require.NoError(t, err)
			require.NoError(t, s.Close())
		}, "holds no log entry, hard state or snapshot"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "raft.db")
			tc.setup(t, path)
			before := dirContents(t, dir)
			_, snapDirErr := os.Stat(snapDirPath(path))
			s, err := Open(path, Options{RequireState: true})
			if err == nil {
				s.Close()
			}
			require.ErrorIs(t, err, ErrNoState)
			require.ErrorContains(t, err, path)
			require.ErrorContains(t, err, tc.msg)
			require.Equal(t, before, dirContents(t, dir), "a refused Open changed the files")
			if os.IsNotExist(snapDirErr) {
				_, err := os.Stat(snapDirPath(path))
				require.ErrorIs(t, err, os.ErrNotExist, "a refused Open created the snapshot directory")
			}
		})
	}
	t.Run("store with state", func(t *testing.T) {
		s, err := Open(writeStore(t), Options{RequireState: true})
		require.NoError(t, err)
		require.NoError(t, s.Close())
	})
	t.Run("store with only a hard state", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "raft.db")
		s, err := Open(path, Options{})
		require.NoError(t, err)
		require.NoError(t, s.Save(raft.HardState{Term: 1, Vote: 2}, nil, raft.Snapshot{}, true))
		require.NoError(t, s.Close())
		s, err = Open(path, Options{RequireState: true})
		require.NoError(t, err)
		require.NoError(t, s.Close())
	})
}
