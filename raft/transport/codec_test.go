package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/raftkv/raftkv/raft"
)

// allTypes lists every valid message type, found through Valid so that a
// type added to raft/types.go is covered without editing this file.
func allTypes() []raft.MessageType {
	var ts []raft.MessageType
	for t := raft.MessageType(0); t.Valid(); t++ {
		ts = append(ts, t)
	}
	return ts
}

func randBytes(r *rand.Rand, maxLen int) []byte {
	n := r.IntN(maxLen + 1)
	if n == 0 {
		return nil // the wire does not distinguish empty from nil
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// randUint returns values of every varint length, including the extremes.
func randUint(r *rand.Rand) uint64 {
	switch r.IntN(4) {
	case 0:
		return 0
	case 1:
		return math.MaxUint64 - r.Uint64N(3)
	default:
		return r.Uint64() >> r.UintN(64)
	}
}

func randIDs(r *rand.Rand) []uint64 {
	n := r.IntN(6)
	if n == 0 {
		return nil
	}
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = randUint(r)
	}
	return ids
}

func randMessage(r *rand.Rand) raft.Message {
	ts := allTypes()
	m := raft.Message{
		Type:       ts[r.IntN(len(ts))],
		To:         randUint(r),
		From:       randUint(r),
		Term:       randUint(r),
		LogTerm:    randUint(r),
		Index:      randUint(r),
		Commit:     randUint(r),
		Reject:     r.IntN(2) == 0,
		RejectHint: randUint(r),
		Context:    randBytes(r, 40),
	}
	if n := r.IntN(5); n > 0 {
		m.Entries = make([]raft.Entry, n)
		for i := range m.Entries {
			m.Entries[i] = raft.Entry{
				Term:  randUint(r),
				Index: randUint(r),
				Type:  raft.EntryType(r.IntN(2)),
				Data:  randBytes(r, 300),
			}
		}
	}
	if r.IntN(3) == 0 {
		m.Snapshot = &raft.Snapshot{
			Data: randBytes(r, 500),
			Metadata: raft.SnapshotMetadata{
				Index:     randUint(r),
				Term:      randUint(r),
				ConfState: raft.ConfState{Voters: randIDs(r), Learners: randIDs(r)},
			},
		}
	}
	return m
}

func roundTrip(t *testing.T, m raft.Message) {
	t.Helper()
	b := AppendMessage(nil, &m)
	if len(b) != MessageSize(&m) {
		t.Fatalf("MessageSize = %d, encoded %d bytes", MessageSize(&m), len(b))
	}
	got, err := DecodeMessage(b)
	if err != nil {
		t.Fatalf("decode %v: %v", m.Type, err)
	}
	if !reflect.DeepEqual(got, m) {
		t.Fatalf("round trip mismatch:\n got %+v\nwant %+v", got, m)
	}
}

func TestCodecRoundTripEveryType(t *testing.T) {
	for _, typ := range allTypes() {
		t.Run(typ.String(), func(t *testing.T) {
			// Zero message of this type.
			roundTrip(t, raft.Message{Type: typ})
			// Every field set, with maximal integers.
			roundTrip(t, raft.Message{
				Type: typ, To: 3, From: math.MaxUint64, Term: 1 << 40, LogTerm: 127, Index: 128,
				Commit: 16383, Reject: true, RejectHint: 16384,
				Entries: []raft.Entry{
					{Term: 1, Index: 2, Type: raft.EntryNormal, Data: []byte("put k v")},
					{Term: 1, Index: 3, Type: raft.EntryConfChange, Data: []byte{0, 1, 2}},
					{Term: 2, Index: 4}, // leader no-op: no data
				},
				Context: []byte("CampaignTransfer"),
				Snapshot: &raft.Snapshot{
					Data: bytes.Repeat([]byte{0xab}, 1000),
					Metadata: raft.SnapshotMetadata{
						Index: 99, Term: 7,
						ConfState: raft.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}},
					},
				},
			})
		})
	}
	// An empty snapshot is still a snapshot: presence is a flag.
	roundTrip(t, raft.Message{Type: raft.MsgSnap, Snapshot: &raft.Snapshot{}})
}

func TestCodecRoundTripRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 5000; i++ {
		roundTrip(t, randMessage(r))
	}
}

func TestFrameRoundTripRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 500; i++ {
		msgs := make([]raft.Message, 1+r.IntN(20))
		for j := range msgs {
			msgs[j] = randMessage(r)
		}
		frame := AppendFrame(nil, msgs)
		got, err := DecodeFrame(frame, len(frame))
		if err != nil {
			t.Fatalf("DecodeFrame: %v", err)
		}
		if !reflect.DeepEqual(got, msgs) {
			t.Fatalf("frame round trip mismatch")
		}
		got, err = ReadFrame(bytes.NewReader(frame), len(frame))
		if err != nil || !reflect.DeepEqual(got, msgs) {
			t.Fatalf("ReadFrame: %v", err)
		}
	}
}

func TestDecodeMessageRejects(t *testing.T) {
	valid := AppendMessage(nil, &raft.Message{
		Type: raft.MsgApp, To: 2, From: 1, Term: 5,
		Entries: []raft.Entry{{Term: 5, Index: 1, Data: []byte("x")}},
		Context: []byte("c"),
	})
	// The field layout of valid: type flags to from term logterm index
	// commit hint nentries [term index type len data] ctxlen ctx.
	mutate := func(f func(b []byte) []byte) []byte {
		return f(bytes.Clone(valid))
	}
	cases := map[string][]byte{
		"empty":             {},
		"unknown type":      mutate(func(b []byte) []byte { b[0] = 200; return b }),
		"first invalid":     mutate(func(b []byte) []byte { b[0] = byte(len(allTypes())); return b }),
		"unknown flag":      mutate(func(b []byte) []byte { b[1] = 0x80; return b }),
		"trailing byte":     append(bytes.Clone(valid), 0),
		"bad entry type":    mutate(func(b []byte) []byte { b[12] = 7; return b }),
		"entry count huge":  mutate(func(b []byte) []byte { b[9] = 0x7f; return b }),
		"data len past end": mutate(func(b []byte) []byte { b[13] = 0x7f; return b }),
		"non-minimal varint": append([]byte{byte(raft.MsgHeartbeat), 0, 0x82, 0x00},
			0, 0, 0, 0, 0, 0, 0, 0),
		"varint overflow": append([]byte{byte(raft.MsgHeartbeat), 0},
			0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0),
		"varint too long": append([]byte{byte(raft.MsgHeartbeat), 0},
			0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0, 0, 0, 0, 0, 0, 0),
		"voters count huge": append(AppendMessage(nil, &raft.Message{Type: raft.MsgSnap})[:1],
			flagSnapshot, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0xff, 0xff, 0x03),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := DecodeMessage(b); !errors.Is(err, ErrMalformed) {
				t.Fatalf("DecodeMessage(%x) = %v, want ErrMalformed", b, err)
			}
		})
	}
	// Every strict prefix of a valid encoding is truncated.
	for i := range valid {
		if _, err := DecodeMessage(valid[:i]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("prefix %d: err = %v, want ErrMalformed", i, err)
		}
	}
}

func TestDecodeFrameRejects(t *testing.T) {
	frame := AppendFrame(nil, []raft.Message{{Type: raft.MsgHeartbeat, To: 2, From: 1}})
	badCRC := bytes.Clone(frame)
	badCRC[len(badCRC)-1] ^= 1
	badLen := bytes.Clone(frame)
	binary.BigEndian.PutUint32(badLen, uint32(len(frame)))
	empty := []byte{0, 0, 0, 0, 0, 0, 0, 0}
	// A payload that is a valid length prefix but no message.
	bogus := []byte{0, 0, 0, 1, 0, 0, 0, 0, 5}
	binary.BigEndian.PutUint32(bogus[4:], crc32.Checksum(bogus[8:], castagnoli))
	cases := map[string][]byte{
		"short header":    frame[:5],
		"bad checksum":    badCRC,
		"length mismatch": badLen,
		"truncated":       frame[:len(frame)-1],
		"empty frame":     empty,
		"bogus payload":   bogus,
	}
	for name, b := range cases {
		if _, err := DecodeFrame(b, DefaultMaxFrameSize); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
	_, err := DecodeFrame(frame, len(frame)-FrameHeaderSize-1)
	if !errors.Is(err, ErrFrameTooLarge) || !errors.Is(err, ErrMalformed) {
		t.Errorf("oversized: err = %v, want ErrFrameTooLarge and ErrMalformed", err)
	}
	// ReadFrame rejects the length before reading (or allocating) the payload.
	huge := []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}
	if _, err := ReadFrame(bytes.NewReader(huge), DefaultMaxFrameSize); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("ReadFrame huge: err = %v, want ErrFrameTooLarge", err)
	}
	if _, err := ReadFrame(bytes.NewReader(nil), DefaultMaxFrameSize); err != io.EOF {
		t.Errorf("ReadFrame empty stream: err = %v, want io.EOF", err)
	}
	if _, err := ReadFrame(bytes.NewReader(frame[:len(frame)-2]), DefaultMaxFrameSize); err != io.ErrUnexpectedEOF {
		t.Errorf("ReadFrame cut: err = %v, want io.ErrUnexpectedEOF", err)
	}
}

// seedMessages are valid encodings for the fuzz corpora.
func seedMessages() []raft.Message {
	r := rand.New(rand.NewPCG(5, 6))
	msgs := []raft.Message{
		{Type: raft.MsgHeartbeat, To: 2, From: 1, Term: 3, Commit: 10},
		{Type: raft.MsgApp, To: 2, From: 1, Term: 3, LogTerm: 3, Index: 9, Commit: 9,
			Entries: []raft.Entry{{Term: 3, Index: 10, Data: []byte("v")}}},
		{Type: raft.MsgSnap, To: 2, From: 1, Snapshot: &raft.Snapshot{Data: []byte("s"),
			Metadata: raft.SnapshotMetadata{Index: 5, Term: 2, ConfState: raft.ConfState{Voters: []uint64{1, 2}}}}},
		{Type: raft.MsgReadIndex, Context: []byte("ctx")},
	}
	for i := 0; i < 8; i++ {
		msgs = append(msgs, randMessage(r))
	}
	return msgs
}

// FuzzDecodeMessage checks that decoding never panics and that whatever
// decodes re-encodes to the very same bytes (the encoding is canonical).
func FuzzDecodeMessage(f *testing.F) {
	for _, m := range seedMessages() {
		f.Add(AppendMessage(nil, &m))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMessage(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if !m.Type.Valid() {
			t.Fatalf("decoded invalid type %d", m.Type)
		}
		if again := AppendMessage(nil, &m); !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", b, again)
		}
	})
}

// FuzzDecodeFrame does the same for whole frames. Random bytes almost
// never carry a valid checksum, so the fuzzer's input is used twice: as a
// raw frame (header parsing, checksum and length checks) and as a payload
// under a correct header (batch decoding).
func FuzzDecodeFrame(f *testing.F) {
	msgs := seedMessages()
	for _, frame := range [][]byte{
		AppendFrame(nil, msgs), AppendFrame(nil, msgs[:1]), AppendFrame(nil, msgs[2:4]),
	} {
		f.Add(frame)
		f.Add(frame[FrameHeaderSize:])
	}
	const limit = 1 << 16
	check := func(t *testing.T, b []byte) {
		got, err := DecodeFrame(b, limit)
		rgot, rerr := ReadFrame(bytes.NewReader(b), limit)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			if rerr == nil {
				t.Fatalf("ReadFrame accepted what DecodeFrame rejected (%v)", err)
			}
			return
		}
		if len(got) == 0 {
			t.Fatal("decoded an empty batch")
		}
		if again := AppendFrame(nil, got); !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", b, again)
		}
		if rerr != nil || !reflect.DeepEqual(rgot, got) {
			t.Fatalf("ReadFrame disagrees with DecodeFrame: %v", rerr)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		check(t, b)
		if len(b) <= limit {
			frame := make([]byte, FrameHeaderSize, FrameHeaderSize+len(b))
			binary.BigEndian.PutUint32(frame[0:4], uint32(len(b)))
			binary.BigEndian.PutUint32(frame[4:8], crc32.Checksum(b, castagnoli))
			check(t, append(frame, b...))
		}
	})
}
