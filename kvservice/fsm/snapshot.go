package fsm

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"maps"
	"slices"

	"github.com/google/btree"

	"github.com/raftkv/raftkv/internal/bugs"
)

// Snapshot format: magic, version byte, body, then the CRC-32C
// (Castagnoli) of everything before it, big-endian.
//
//	body := uvarint applied
//	        uvarint nKV      { string key; string value }          sorted by key
//	        uvarint nSession { string clientID; uvarint lastRequest;
//	                           uvarint lastIndex; result }        sorted by client ID
//	        uvarint nMember  { member }                            sorted by raft ID
//	        uvarint nRemoved { uvarint raftID; string name }       sorted by raft ID (version 2)
//	result := byte op; string key; string value; bool found;
//	          bool succeeded; uvarint index
var snapshotMagic = []byte("RKVS")

// snapshotVersion 2 added the removed members (tombstones); Restore still
// reads version 1 (no tombstones).
const snapshotVersion = 2

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Snapshot encodes the whole state (map, sessions, members, applied index).
// Sorting makes the bytes a function of the state alone.
func (f *FSM) Snapshot() ([]byte, error) {
	encode, err := f.CaptureSnapshot()
	if err != nil {
		return nil, err
	}
	return encode()
}

// capturedState is a copy of the state taken under the lock: the key-value
// tree is a copy-on-write clone (O(1); the live tree copies a node the
// first time it changes one), the sessions are copied by value, so the
// live state can change while it is encoded.
type capturedState struct {
	applied  uint64
	kv       *btree.BTreeG[kvPair]
	sessions map[string]session
	members  []Member
	removed  map[uint64]string
}

// CaptureSnapshot copies the state at the last applied index and returns
// the function that encodes it (what Snapshot returns), which may run on
// another goroutine while commands are applied. It implements
// node.SnapshotCapturer, so the raft driver encodes and writes large
// snapshots off its goroutine. The lock is the write lock, held for the
// clone and the sessions only: Clone updates the live tree's copy-on-write
// context.
func (f *FSM) CaptureSnapshot() (func() ([]byte, error), error) {
	f.mu.Lock()
	c := &capturedState{
		applied:  f.applied,
		kv:       f.kv.Clone(),
		sessions: make(map[string]session, len(f.sessions)),
		members:  make([]Member, 0, len(f.members)),
		removed:  maps.Clone(f.removed),
	}
	for cid, s := range f.sessions {
		c.sessions[cid] = *s
	}
	for _, m := range f.members {
		c.members = append(c.members, m)
	}
	f.mu.Unlock()
	return c.encode, nil
}

// appendSession appends a session's record: what a snapshot keeps of it
// (and what the state hash covers).
func appendSession(b []byte, cid string, s *session) []byte {
	b = appendString(b, cid)
	b = binary.AppendUvarint(b, s.lastRequest)
	b = binary.AppendUvarint(b, s.lastIndex)
	b = append(b, byte(s.result.Op))
	b = appendString(b, s.result.Key)
	b = appendString(b, s.result.Value)
	b = appendBool(b, s.result.Found)
	b = appendBool(b, s.result.Succeeded)
	return binary.AppendUvarint(b, s.result.Index)
}

func (c *capturedState) encode() ([]byte, error) {
	size := 64
	c.kv.Ascend(func(p kvPair) bool {
		size += len(p.key) + len(p.value) + 8
		return true
	})
	b := make([]byte, 0, size)
	b = append(b, snapshotMagic...)
	b = append(b, snapshotVersion)
	b = binary.AppendUvarint(b, c.applied)
	b = binary.AppendUvarint(b, uint64(c.kv.Len()))
	c.kv.Ascend(func(p kvPair) bool {
		b = appendString(b, p.key)
		b = appendString(b, p.value)
		return true
	})
	cids := slices.Sorted(maps.Keys(c.sessions))
	b = binary.AppendUvarint(b, uint64(len(cids)))
	for _, cid := range cids {
		s := c.sessions[cid]
		b = appendSession(b, cid, &s)
	}
	slices.SortFunc(c.members, func(a, b Member) int { return cmp.Compare(a.RaftID, b.RaftID) })
	b = binary.AppendUvarint(b, uint64(len(c.members)))
	for _, m := range c.members {
		b = appendMember(b, m)
	}
	ids := slices.Sorted(maps.Keys(c.removed))
	b = binary.AppendUvarint(b, uint64(len(ids)))
	for _, id := range ids {
		b = binary.AppendUvarint(b, id)
		b = appendString(b, c.removed[id])
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli)), nil
}

// Restore replaces the whole state with a snapshot made by Snapshot. On any
// error (ErrCorruptSnapshot) the state is left as it was.
func (f *FSM) Restore(data []byte) error {
	n := New()
	if err := n.decode(data); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if bugs.On(bugs.SnapshotMerges) {
		// Planted bug (bugs.SnapshotMerges): the snapshot is loaded into
		// the live state, pair by pair, instead of replacing it. Keys that
		// the snapshot does not have (deleted before it was taken, or
		// written by entries this replica applied from a log the leader
		// has since replaced) survive the install.
		bugs.Fire(bugs.SnapshotMerges)
		n.kv.Ascend(func(p kvPair) bool {
			old, found := f.get(p.key)
			f.put(p.key, old, found, p.value)
			return true
		})
		f.applied = n.applied
		for cid, s := range n.sessions {
			if old := f.sessions[cid]; old != nil {
				f.sessionSum.sub(sessionHash(cid, old))
			}
			f.sessions[cid] = s
			f.sessionSum.add(sessionHash(cid, s))
		}
		maps.Copy(f.members, n.members)
		maps.Copy(f.removed, n.removed)
		return nil
	}
	f.applied, f.kv, f.hash, f.sessionSum, f.sessions, f.members, f.removed = n.applied, n.kv, n.hash, n.sessionSum, n.sessions, n.members, n.removed
	return nil
}

func (f *FSM) decode(data []byte) error {
	if len(data) < len(snapshotMagic)+1+4 || !bytes.Equal(data[:len(snapshotMagic)], snapshotMagic) {
		return fmt.Errorf("%w: bad header", ErrCorruptSnapshot)
	}
	body, sum := data[:len(data)-4], binary.BigEndian.Uint32(data[len(data)-4:])
	if got := crc32.Checksum(body, castagnoli); got != sum {
		return fmt.Errorf("%w: checksum %08x, want %08x", ErrCorruptSnapshot, got, sum)
	}
	version := body[len(snapshotMagic)]
	if version != 1 && version != snapshotVersion {
		return fmt.Errorf("%w: unknown version %d", ErrCorruptSnapshot, version)
	}
	r := reader{b: body[len(snapshotMagic)+1:]}
	f.applied = r.uvarint()
	// Counts are bounded by the remaining bytes so garbage cannot make us
	// loop for long.
	nkv := r.uvarint()
	for i := uint64(0); i < nkv && r.err == nil; i++ {
		k, v := r.string(), r.string()
		if r.err == nil {
			f.kv.ReplaceOrInsert(kvPair{key: k, value: v})
			f.hash.add(pairHash(k, v))
		}
	}
	ns := r.uvarint()
	for i := uint64(0); i < ns && r.err == nil; i++ {
		cid := r.string()
		s := &session{lastRequest: r.uvarint(), lastIndex: r.uvarint()}
		s.result.Op = Op(r.byte())
		s.result.Key = r.string()
		s.result.Value = r.string()
		s.result.Found = r.bool()
		s.result.Succeeded = r.bool()
		s.result.Index = r.uvarint()
		f.sessions[cid] = s
		f.sessionSum.add(sessionHash(cid, s))
	}
	nm := r.uvarint()
	for i := uint64(0); i < nm && r.err == nil; i++ {
		m := r.member()
		f.members[m.RaftID] = m
	}
	var nr uint64
	if version >= 2 {
		nr = r.uvarint()
		for i := uint64(0); i < nr && r.err == nil; i++ {
			id := r.uvarint()
			f.removed[id] = r.string()
		}
	}
	if r.err != nil {
		return fmt.Errorf("%w: %v", ErrCorruptSnapshot, r.err)
	}
	if len(r.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrCorruptSnapshot, len(r.b))
	}
	if uint64(f.kv.Len()) != nkv || uint64(len(f.sessions)) != ns || uint64(len(f.removed)) != nr {
		return fmt.Errorf("%w: duplicate keys", ErrCorruptSnapshot)
	}
	return nil
}
