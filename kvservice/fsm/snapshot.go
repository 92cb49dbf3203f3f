package fsm

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sort"
)

// Snapshot format: magic, version byte, body, then the CRC-32C
// (Castagnoli) of everything before it, big-endian.
//
//	body := uvarint applied
//	        uvarint nKV      { string key; string value }          sorted by key
//	        uvarint nSession { string clientID; uvarint lastRequest;
//	                           uvarint lastIndex; result }        sorted by client ID
//	        uvarint nMember  { member }                            sorted by raft ID
//	result := byte op; string key; string value; bool found;
//	          bool succeeded; uvarint index
var snapshotMagic = []byte("RKVS")

const snapshotVersion = 1

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Snapshot encodes the whole state (map, sessions, members, applied index).
// Sorting makes the bytes a function of the state alone.
func (f *FSM) Snapshot() ([]byte, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	size := 64
	keys := make([]string, 0, len(f.kv))
	for k, v := range f.kv {
		keys = append(keys, k)
		size += len(k) + len(v) + 8
	}
	sort.Strings(keys)
	b := make([]byte, 0, size)
	b = append(b, snapshotMagic...)
	b = append(b, snapshotVersion)
	b = binary.AppendUvarint(b, f.applied)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = appendString(b, k)
		b = appendString(b, f.kv[k])
	}
	cids := make([]string, 0, len(f.sessions))
	for cid := range f.sessions {
		cids = append(cids, cid)
	}
	sort.Strings(cids)
	b = binary.AppendUvarint(b, uint64(len(cids)))
	for _, cid := range cids {
		s := f.sessions[cid]
		b = appendString(b, cid)
		b = binary.AppendUvarint(b, s.lastRequest)
		b = binary.AppendUvarint(b, s.lastIndex)
		b = append(b, byte(s.result.Op))
		b = appendString(b, s.result.Key)
		b = appendString(b, s.result.Value)
		b = appendBool(b, s.result.Found)
		b = appendBool(b, s.result.Succeeded)
		b = binary.AppendUvarint(b, s.result.Index)
	}
	ids := make([]uint64, 0, len(f.members))
	for id := range f.members {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	b = binary.AppendUvarint(b, uint64(len(ids)))
	for _, id := range ids {
		b = appendMember(b, f.members[id])
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
	f.applied, f.kv, f.hash, f.sessions, f.members = n.applied, n.kv, n.hash, n.sessions, n.members
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
	if v := body[len(snapshotMagic)]; v != snapshotVersion {
		return fmt.Errorf("%w: unknown version %d", ErrCorruptSnapshot, v)
	}
	r := reader{b: body[len(snapshotMagic)+1:]}
	f.applied = r.uvarint()
	// Counts are bounded by the remaining bytes so garbage cannot make us
	// loop for long.
	nkv := r.uvarint()
	for i := uint64(0); i < nkv && r.err == nil; i++ {
		k, v := r.string(), r.string()
		if r.err == nil {
			f.kv[k] = v
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
	}
	nm := r.uvarint()
	for i := uint64(0); i < nm && r.err == nil; i++ {
		m := r.member()
		f.members[m.RaftID] = m
	}
	if r.err != nil {
		return fmt.Errorf("%w: %v", ErrCorruptSnapshot, r.err)
	}
	if len(r.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrCorruptSnapshot, len(r.b))
	}
	if uint64(len(f.kv)) != nkv || uint64(len(f.sessions)) != ns {
		return fmt.Errorf("%w: duplicate keys", ErrCorruptSnapshot)
	}
	return nil
}
