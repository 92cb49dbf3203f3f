package boltstore

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The snapshot data lives in files of its own, in the directory
// snapDirPath(path) next to the bbolt file, so that writing a snapshot of
// tens of MB holds neither the store's lock nor bbolt's single writer: the
// bbolt transaction that makes a snapshot current only writes its small
// metadata record, which names the file.
const (
	snapDirSuffix  = ".snap"
	snapFileSuffix = ".snap"
	// tmpSuffix marks a file still being written: it is renamed to its
	// final name once complete and fsynced, and Open removes any leftover.
	tmpSuffix = ".tmp"
)

func snapDirPath(dbPath string) string { return dbPath + snapDirSuffix }

// snapFileName is the name of a snapshot data file: term, index and a
// sequence number, each 16 hex digits. The sequence number makes every
// file written by a store unique even for the same term and index (a
// snapshot created locally and one installed from the leader can race for
// the same index), so one write can never replace another's file.
func snapFileName(term, index, seq uint64) string {
	return fmt.Sprintf("%016x-%016x-%016x%s", term, index, seq, snapFileSuffix)
}

// parseSnapFileName is the inverse of snapFileName.
func parseSnapFileName(name string) (term, index, seq uint64, ok bool) {
	base, found := strings.CutSuffix(name, snapFileSuffix)
	if !found || len(base) != 3*16+2 || base[16] != '-' || base[33] != '-' {
		return 0, 0, 0, false
	}
	var vals [3]uint64
	for k := range vals {
		field := base[17*k : 17*k+16]
		if strings.ToLower(field) != field {
			return 0, 0, 0, false // one spelling per number
		}
		v, err := strconv.ParseUint(field, 16, 64)
		if err != nil {
			return 0, 0, 0, false
		}
		vals[k] = v
	}
	return vals[0], vals[1], vals[2], true
}

// writeSnapFile makes dir/name hold data, durably unless noSync: it writes
// a temporary file, fsyncs it, renames it to name and fsyncs the directory
// (so the name survives a machine crash too). On error nothing is left
// behind. name must be unique (see snapFileName).
func writeSnapFile(dir, name string, data []byte, noSync bool) (err error) {
	final := filepath.Join(dir, name)
	tmp := final + tmpSuffix
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("boltstore: write snapshot: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
			err = fmt.Errorf("boltstore: write snapshot %s: %w", final, err)
		}
	}()
	err = writeSynced(f, data, noSync)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	if !noSync {
		if err := syncDir(dir); err != nil {
			_ = os.Remove(final)
			return err
		}
	}
	return nil
}

// syncPiece is how much snapshot data is written between two fsyncs. One
// fsync of tens of MB floods the disk's queue, and every Save's fdatasync
// (the commit latency path) waits behind it; flushing in pieces keeps what
// a Save can queue behind small.
const syncPiece = 1 << 20

// writeSynced writes data to f and fsyncs it (unless noSync), a piece at a
// time.
func writeSynced(f *os.File, data []byte, noSync bool) error {
	for len(data) > 0 {
		n := min(len(data), syncPiece)
		if _, err := f.Write(data[:n]); err != nil {
			return err
		}
		data = data[n:]
		if !noSync && len(data) > 0 {
			if err := f.Sync(); err != nil {
				return err
			}
		}
	}
	if noSync {
		return nil
	}
	return f.Sync() // also for empty data: the file's size and metadata
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// readSnapFile reads the snapshot data from f, the open file of sm, and
// checks its length and CRC. Errors (other than failed reads) wrap
// ErrCorrupt and name the file.
func readSnapFile(f *os.File, sm snapMeta) ([]byte, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("boltstore: read snapshot: %w", err)
	}
	if uint64(fi.Size()) != sm.dataLen {
		return nil, fmt.Errorf("%w: %s: snapshot %d: data file is %d bytes, metadata says %d", ErrCorrupt, f.Name(), sm.Index, fi.Size(), sm.dataLen)
	}
	data := make([]byte, sm.dataLen)
	if _, err := io.ReadFull(f, data); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: %s: snapshot %d: data file shorter than the %d bytes its metadata says", ErrCorrupt, f.Name(), sm.Index, sm.dataLen)
		}
		return nil, fmt.Errorf("boltstore: read snapshot %s: %w", f.Name(), err)
	}
	if got := crc32.Checksum(data, castagnoli); got != sm.dataCRC {
		return nil, fmt.Errorf("%w: %s: snapshot %d: data crc32c %08x, metadata says %08x", ErrCorrupt, f.Name(), sm.Index, got, sm.dataCRC)
	}
	return data, nil
}

// openSnapFile opens sm's data file in dir; a missing file is corruption
// (the committed metadata references it).
func openSnapFile(dir string, sm snapMeta) (*os.File, error) {
	p := filepath.Join(dir, sm.file)
	f, err := os.Open(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%w: %s: snapshot %d: data file missing", ErrCorrupt, p, sm.Index)
	case err != nil:
		return nil, fmt.Errorf("boltstore: open snapshot: %w", err)
	}
	return f, nil
}

// checkSnapFile verifies sm's data file in dir (length and CRC) without
// keeping the data.
func checkSnapFile(dir string, sm snapMeta) error {
	f, err := openSnapFile(dir, sm)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("boltstore: check snapshot: %w", err)
	}
	if uint64(fi.Size()) != sm.dataLen {
		return fmt.Errorf("%w: %s: snapshot %d: data file is %d bytes, metadata says %d", ErrCorrupt, f.Name(), sm.Index, fi.Size(), sm.dataLen)
	}
	h := crc32.New(castagnoli)
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("boltstore: check snapshot %s: %w", f.Name(), err)
	}
	if got := h.Sum32(); got != sm.dataCRC {
		return fmt.Errorf("%w: %s: snapshot %d: data crc32c %08x, metadata says %08x", ErrCorrupt, f.Name(), sm.Index, got, sm.dataCRC)
	}
	return nil
}

// prepareSnapDir creates dir if needed (and fsyncs its parent, so that the
// directory itself survives a machine crash), removes every snapshot or
// temporary file other than keep, and returns the highest sequence number
// found in a snapshot file name: a crash can leave a temporary file (while
// a snapshot was written), a file the metadata never came to reference
// (before its commit), or the replaced snapshot's file (before it was
// deleted). Files this package does not name are left alone.
func prepareSnapDir(dir, keep string) (maxSeq uint64, err error) {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.Mkdir(dir, 0o700); err != nil {
			return 0, fmt.Errorf("boltstore: create snapshot directory: %w", err)
		}
		if err := syncDir(filepath.Dir(dir)); err != nil {
			return 0, fmt.Errorf("boltstore: create snapshot directory: %w", err)
		}
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("boltstore: snapshot directory: %w", err)
	}
	for _, de := range des {
		name := de.Name()
		// A temporary file is named after the file it becomes.
		_, _, seq, ok := parseSnapFileName(strings.TrimSuffix(name, tmpSuffix))
		if !ok {
			continue
		}
		maxSeq = max(maxSeq, seq)
		if name == keep {
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return 0, fmt.Errorf("boltstore: remove leftover snapshot file: %w", err)
		}
	}
	return maxSeq, nil
}
