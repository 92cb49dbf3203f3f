package boltstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/raftkv/raftkv/raft"
)

// Every record starts with the CRC-32C (Castagnoli) of the bytes that follow
// it. bbolt has no checksum of its own on data pages, so without this a bit
// flip in an entry would be served to the state machine as a valid command.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const crcLen = 4

// Record layouts (all integers big-endian):
//
//	entry:     crc32c | index u64 | term u64 | type u8 | data...
//	hardstate: crc32c | term u64 | vote u64 | commit u64
//	marker:    crc32c | index u64 | term u64            (the entry just before FirstIndex)
//	snapmeta:  crc32c | index u64 | term u64 | dataLen u64 | dataCRC u32 |
//	           nVoters u32 | voters u64... | nLearners u32 | learners u64... |
//	           nameLen u32 | name (the data's file in the snapshot directory)
//
// The snapshot data itself is not a record: it is the whole content of its
// file, checked against dataLen and dataCRC (see snapfile.go).
//
// The entry repeats its index (the bucket key) so that a value found under
// the wrong key, for example after a page was mixed up, is detected.
const (
	entryHeaderLen = crcLen + 8 + 8 + 1
	hardStateLen   = crcLen + 24
	markerLen      = crcLen + 16
)

// errBadRecord is wrapped by every decoding failure; verification turns it
// into ErrCorrupt with the record's name.
var errBadRecord = errors.New("bad record")

// key returns the bucket key of index i: big-endian, so that bbolt's
// byte-wise key order is the numeric order and a cursor walks the log in
// order.
func key(i uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], i)
	return k[:]
}

func keyIndex(k []byte) (uint64, bool) {
	if len(k) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(k), true
}

func seal(b []byte) []byte {
	binary.BigEndian.PutUint32(b[:crcLen], crc32.Checksum(b[crcLen:], castagnoli))
	return b
}

func checkCRC(b []byte, minLen int) error {
	if len(b) < minLen {
		return fmt.Errorf("%w: %d bytes, want at least %d", errBadRecord, len(b), minLen)
	}
	want := binary.BigEndian.Uint32(b[:crcLen])
	if got := crc32.Checksum(b[crcLen:], castagnoli); got != want {
		return fmt.Errorf("%w: crc32c mismatch (stored %08x, computed %08x)", errBadRecord, want, got)
	}
	return nil
}

func entryLen(e raft.Entry) int { return entryHeaderLen + len(e.Data) }

// putEntry encodes e into b, which must be exactly entryLen(e) bytes.
func putEntry(b []byte, e raft.Entry) []byte {
	binary.BigEndian.PutUint64(b[4:], e.Index)
	binary.BigEndian.PutUint64(b[12:], e.Term)
	b[20] = byte(e.Type)
	copy(b[entryHeaderLen:], e.Data)
	return seal(b)
}

// decodeEntry checks and decodes an entry record. The data is copied: v
// points into bbolt's mmap and is only valid during the transaction.
func decodeEntry(v []byte) (raft.Entry, error) {
	if err := checkCRC(v, entryHeaderLen); err != nil {
		return raft.Entry{}, err
	}
	e := raft.Entry{
		Index: binary.BigEndian.Uint64(v[4:]),
		Term:  binary.BigEndian.Uint64(v[12:]),
		Type:  raft.EntryType(v[20]),
	}
	if e.Type != raft.EntryNormal && e.Type != raft.EntryConfChange {
		return raft.Entry{}, fmt.Errorf("%w: unknown entry type %d", errBadRecord, v[20])
	}
	if n := len(v) - entryHeaderLen; n > 0 {
		e.Data = make([]byte, n)
		copy(e.Data, v[entryHeaderLen:])
	}
	return e, nil
}

// entryTerm returns the index and term of an entry record after checking
// its CRC, without copying the data.
func entryTerm(v []byte) (index, term uint64, err error) {
	if err := checkCRC(v, entryHeaderLen); err != nil {
		return 0, 0, err
	}
	return binary.BigEndian.Uint64(v[4:]), binary.BigEndian.Uint64(v[12:]), nil
}

func encodeHardState(hs raft.HardState) []byte {
	b := make([]byte, hardStateLen)
	binary.BigEndian.PutUint64(b[4:], hs.Term)
	binary.BigEndian.PutUint64(b[12:], hs.Vote)
	binary.BigEndian.PutUint64(b[20:], hs.Commit)
	return seal(b)
}

func decodeHardState(v []byte) (raft.HardState, error) {
	if err := checkCRC(v, hardStateLen); err != nil {
		return raft.HardState{}, err
	}
	if len(v) != hardStateLen {
		return raft.HardState{}, fmt.Errorf("%w: %d bytes, want %d", errBadRecord, len(v), hardStateLen)
	}
	return raft.HardState{
		Term:   binary.BigEndian.Uint64(v[4:]),
		Vote:   binary.BigEndian.Uint64(v[12:]),
		Commit: binary.BigEndian.Uint64(v[20:]),
	}, nil
}

// marker is the index and term of the entry just before FirstIndex: the
// last compacted entry, or the snapshot's last entry, or (0, 0).
type marker struct {
	index, term uint64
}

func encodeMarker(m marker) []byte {
	b := make([]byte, markerLen)
	binary.BigEndian.PutUint64(b[4:], m.index)
	binary.BigEndian.PutUint64(b[12:], m.term)
	return seal(b)
}

func decodeMarker(v []byte) (marker, error) {
	if err := checkCRC(v, markerLen); err != nil {
		return marker{}, err
	}
	if len(v) != markerLen {
		return marker{}, fmt.Errorf("%w: %d bytes, want %d", errBadRecord, len(v), markerLen)
	}
	return marker{index: binary.BigEndian.Uint64(v[4:]), term: binary.BigEndian.Uint64(v[12:])}, nil
}

// snapMeta is the snapshot's metadata plus where its data is and what is
// needed to check it.
type snapMeta struct {
	raft.SnapshotMetadata
	// file is the data's file name in the snapshot directory (a base name,
	// see snapFileName).
	file    string
	dataLen uint64
	dataCRC uint32
}

func newSnapMeta(s raft.Snapshot, file string) snapMeta {
	return snapMeta{
		SnapshotMetadata: raft.SnapshotMetadata{
			Index:     s.Metadata.Index,
			Term:      s.Metadata.Term,
			ConfState: cloneConfState(s.Metadata.ConfState),
		},
		file:    file,
		dataLen: uint64(len(s.Data)),
		dataCRC: crc32.Checksum(s.Data, castagnoli),
	}
}

func encodeSnapMeta(m snapMeta) []byte {
	n := crcLen + 8 + 8 + 8 + 4 + 4 + 8*len(m.ConfState.Voters) + 4 + 8*len(m.ConfState.Learners) + 4 + len(m.file)
	b := make([]byte, crcLen, n)
	b = binary.BigEndian.AppendUint64(b, m.Index)
	b = binary.BigEndian.AppendUint64(b, m.Term)
	b = binary.BigEndian.AppendUint64(b, m.dataLen)
	b = binary.BigEndian.AppendUint32(b, m.dataCRC)
	b = appendIDs(b, m.ConfState.Voters)
	b = appendIDs(b, m.ConfState.Learners)
	b = binary.BigEndian.AppendUint32(b, uint32(len(m.file)))
	b = append(b, m.file...)
	return seal(b)
}

func appendIDs(b []byte, ids []uint64) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(ids)))
	for _, id := range ids {
		b = binary.BigEndian.AppendUint64(b, id)
	}
	return b
}

func decodeSnapMeta(v []byte) (snapMeta, error) {
	const fixed = crcLen + 8 + 8 + 8 + 4
	if err := checkCRC(v, fixed+8); err != nil {
		return snapMeta{}, err
	}
	var m snapMeta
	m.Index = binary.BigEndian.Uint64(v[4:])
	m.Term = binary.BigEndian.Uint64(v[12:])
	m.dataLen = binary.BigEndian.Uint64(v[20:])
	m.dataCRC = binary.BigEndian.Uint32(v[28:])
	rest := v[fixed:]
	var err error
	if m.ConfState.Voters, rest, err = readIDs(rest); err != nil {
		return snapMeta{}, fmt.Errorf("voters: %w", err)
	}
	if m.ConfState.Learners, rest, err = readIDs(rest); err != nil {
		return snapMeta{}, fmt.Errorf("learners: %w", err)
	}
	if len(rest) < 4 {
		return snapMeta{}, fmt.Errorf("%w: file name missing", errBadRecord)
	}
	n := uint64(binary.BigEndian.Uint32(rest))
	rest = rest[4:]
	if uint64(len(rest)) < n {
		return snapMeta{}, fmt.Errorf("%w: file name of %d bytes in %d", errBadRecord, n, len(rest))
	}
	m.file, rest = string(rest[:n]), rest[n:]
	// The name is joined to the snapshot directory: anything but a name
	// this package makes, for this snapshot, could point elsewhere.
	if term, index, _, ok := parseSnapFileName(m.file); !ok || term != m.Term || index != m.Index {
		return snapMeta{}, fmt.Errorf("%w: file name %q is not a snapshot file name for term %d, index %d", errBadRecord, m.file, m.Term, m.Index)
	}
	if len(rest) != 0 {
		return snapMeta{}, fmt.Errorf("%w: %d trailing bytes", errBadRecord, len(rest))
	}
	return m, nil
}

func readIDs(b []byte) ([]uint64, []byte, error) {
	if len(b) < 4 {
		return nil, nil, fmt.Errorf("%w: truncated id list", errBadRecord)
	}
	n := uint64(binary.BigEndian.Uint32(b))
	b = b[4:]
	if uint64(len(b)) < 8*n {
		return nil, nil, fmt.Errorf("%w: id list of %d ids in %d bytes", errBadRecord, n, len(b))
	}
	if n == 0 {
		return nil, b, nil
	}
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = binary.BigEndian.Uint64(b[8*i:])
	}
	return ids, b[8*n:], nil
}

func cloneConfState(cs raft.ConfState) raft.ConfState {
	var out raft.ConfState
	if len(cs.Voters) > 0 {
		out.Voters = append([]uint64(nil), cs.Voters...)
	}
	if len(cs.Learners) > 0 {
		out.Learners = append([]uint64(nil), cs.Learners...)
	}
	return out
}
