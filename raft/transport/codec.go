package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/bits"
	"slices"

	"github.com/raftkv/raftkv/raft"
)

// Wire format of one message (all integers are unsigned LEB128 varints in
// their shortest form unless noted):
//
//	type      1 byte, must satisfy raft.MessageType.Valid
//	flags     1 byte: bit 0 Reject, bit 1 Snapshot present; other bits must be 0
//	To From Term LogTerm Index Commit RejectHint
//	len(Entries), then per entry: Term Index Type(1 byte, Normal or ConfChange) len(Data) Data
//	len(Context) Context
//	if Snapshot present: Index Term
//	    len(Voters) Voters... len(Learners) Learners... len(Data) Data
//
// A frame is a 4-byte big-endian payload length, a 4-byte big-endian
// CRC32C (Castagnoli) of the payload, then the payload: one or more
// messages, each preceded by its encoded length as a varint. Decoding is
// strict: every length is checked against the bytes that remain, varints
// must be minimal, unknown types and flags are rejected and trailing bytes
// are an error. Because the encoding is canonical, re-encoding a decoded
// message gives back the same bytes; the fuzz tests check exactly that.
//
// Empty and nil byte slices and entry/ID lists are not distinguished on the
// wire: both decode as nil.

const (
	flagReject   = 1 << 0
	flagSnapshot = 1 << 1
	flagsKnown   = flagReject | flagSnapshot

	// FrameHeaderSize is the size of a frame header: payload length and CRC32C.
	FrameHeaderSize = 8

	// minMessageSize is the smallest possible encoded message: type, flags,
	// seven one-byte varints, an empty entry count and an empty context.
	minMessageSize = 11

	// DefaultMaxFrameSize is the default bound on a frame's payload. It
	// must hold the largest single message, which is usually a MsgSnap.
	DefaultMaxFrameSize = 16 << 20

	// maxFrameSizeLimit is the largest payload a uint32 length can describe
	// that we are willing to allocate.
	maxFrameSizeLimit = 1 << 30
)

var (
	// ErrMalformed is wrapped by every decoding error: the bytes are not a
	// valid encoding (truncated, bad length, unknown type, bad checksum...).
	ErrMalformed = errors.New("transport: malformed data")
	// ErrFrameTooLarge is returned (wrapped together with ErrMalformed when
	// decoding) for a frame whose payload exceeds the maximum frame size.
	ErrFrameTooLarge = errors.New("transport: frame too large")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func uvarintLen(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }

func bytesLen(b []byte) int { return uvarintLen(uint64(len(b))) + len(b) }

func idsLen(ids []uint64) int {
	n := uvarintLen(uint64(len(ids)))
	for _, id := range ids {
		n += uvarintLen(id)
	}
	return n
}

// MessageSize returns the exact number of bytes AppendMessage appends for m.
func MessageSize(m *raft.Message) int {
	n := 2 + uvarintLen(m.To) + uvarintLen(m.From) + uvarintLen(m.Term) +
		uvarintLen(m.LogTerm) + uvarintLen(m.Index) + uvarintLen(m.Commit) +
		uvarintLen(m.RejectHint)
	n += uvarintLen(uint64(len(m.Entries)))
	for i := range m.Entries {
		e := &m.Entries[i]
		n += uvarintLen(e.Term) + uvarintLen(e.Index) + 1 + bytesLen(e.Data)
	}
	n += bytesLen(m.Context)
	if s := m.Snapshot; s != nil {
		n += uvarintLen(s.Metadata.Index) + uvarintLen(s.Metadata.Term) +
			idsLen(s.Metadata.ConfState.Voters) + idsLen(s.Metadata.ConfState.Learners) +
			bytesLen(s.Data)
	}
	return n
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

func appendIDs(dst []byte, ids []uint64) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(ids)))
	for _, id := range ids {
		dst = binary.AppendUvarint(dst, id)
	}
	return dst
}

// AppendMessage appends the encoding of m to dst and returns the extended
// slice. It never fails; the caller bounds sizes with MessageSize.
func AppendMessage(dst []byte, m *raft.Message) []byte {
	var flags byte
	if m.Reject {
		flags |= flagReject
	}
	if m.Snapshot != nil {
		flags |= flagSnapshot
	}
	dst = append(dst, byte(m.Type), flags)
	dst = binary.AppendUvarint(dst, m.To)
	dst = binary.AppendUvarint(dst, m.From)
	dst = binary.AppendUvarint(dst, m.Term)
	dst = binary.AppendUvarint(dst, m.LogTerm)
	dst = binary.AppendUvarint(dst, m.Index)
	dst = binary.AppendUvarint(dst, m.Commit)
	dst = binary.AppendUvarint(dst, m.RejectHint)
	dst = binary.AppendUvarint(dst, uint64(len(m.Entries)))
	for i := range m.Entries {
		e := &m.Entries[i]
		dst = binary.AppendUvarint(dst, e.Term)
		dst = binary.AppendUvarint(dst, e.Index)
		dst = append(dst, byte(e.Type))
		dst = appendBytes(dst, e.Data)
	}
	dst = appendBytes(dst, m.Context)
	if s := m.Snapshot; s != nil {
		dst = binary.AppendUvarint(dst, s.Metadata.Index)
		dst = binary.AppendUvarint(dst, s.Metadata.Term)
		dst = appendIDs(dst, s.Metadata.ConfState.Voters)
		dst = appendIDs(dst, s.Metadata.ConfState.Learners)
		dst = appendBytes(dst, s.Data)
	}
	return dst
}

// decoder reads from b with a sticky error, so decoding code reads as a
// straight sequence of fields and checks the error once at the end.
type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s at offset %d", ErrMalformed, fmt.Sprintf(format, args...), d.off)
	}
}

func (d *decoder) remaining() int { return len(d.b) - d.off }

func (d *decoder) u8(what string) byte {
	if d.err != nil {
		return 0
	}
	if d.off >= len(d.b) {
		d.fail("truncated %s", what)
		return 0
	}
	c := d.b[d.off]
	d.off++
	return c
}

// uvarint reads a minimal-length varint. Non-minimal encodings are
// rejected so that the encoding stays canonical.
func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	var x uint64
	var shift uint
	for i := 0; i < binary.MaxVarintLen64; i++ {
		if d.off >= len(d.b) {
			d.fail("truncated %s", what)
			return 0
		}
		c := d.b[d.off]
		d.off++
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				d.fail("%s overflows 64 bits", what)
				return 0
			}
			if c == 0 && i > 0 {
				d.fail("non-minimal varint in %s", what)
				return 0
			}
			return x | uint64(c)<<shift
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
	d.fail("%s overflows 64 bits", what)
	return 0
}

// count reads a list length and checks that the list can fit in the bytes
// that remain, given the minimum encoded size of one element. This bounds
// every allocation by the input size.
func (d *decoder) count(what string, minElem int) int {
	n := d.uvarint(what)
	if d.err != nil {
		return 0
	}
	if n > uint64(d.remaining()/minElem) {
		d.fail("%s %d exceeds remaining %d bytes", what, n, d.remaining())
		return 0
	}
	return int(n)
}

// bytes reads a length-prefixed byte string. The result aliases d.b; an
// empty string decodes as nil.
func (d *decoder) bytes(what string) []byte {
	n := d.uvarint(what)
	if d.err != nil {
		return nil
	}
	if n > uint64(d.remaining()) {
		d.fail("%s length %d exceeds remaining %d bytes", what, n, d.remaining())
		return nil
	}
	if n == 0 {
		return nil
	}
	end := d.off + int(n)
	b := d.b[d.off:end:end]
	d.off = end
	return b
}

func (d *decoder) ids(what string) []uint64 {
	n := d.count(what, 1)
	if n == 0 {
		return nil
	}
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = d.uvarint(what)
	}
	return ids
}

func (d *decoder) message(m *raft.Message) {
	t := raft.MessageType(d.u8("type"))
	if d.err == nil && !t.Valid() {
		d.fail("unknown message type %d", uint8(t))
	}
	flags := d.u8("flags")
	if d.err == nil && flags&^flagsKnown != 0 {
		d.fail("unknown flags %#x", flags)
	}
	m.Type = t
	m.Reject = flags&flagReject != 0
	m.To = d.uvarint("to")
	m.From = d.uvarint("from")
	m.Term = d.uvarint("term")
	m.LogTerm = d.uvarint("log term")
	m.Index = d.uvarint("index")
	m.Commit = d.uvarint("commit")
	m.RejectHint = d.uvarint("reject hint")
	// An entry takes at least 4 bytes: term, index, type, data length.
	if n := d.count("entry count", 4); n > 0 {
		m.Entries = make([]raft.Entry, n)
		for i := range m.Entries {
			e := &m.Entries[i]
			e.Term = d.uvarint("entry term")
			e.Index = d.uvarint("entry index")
			et := raft.EntryType(d.u8("entry type"))
			if d.err == nil && et != raft.EntryNormal && et != raft.EntryConfChange {
				d.fail("unknown entry type %d", uint8(et))
			}
			e.Type = et
			e.Data = d.bytes("entry data")
			if d.err != nil {
				break
			}
		}
	}
	m.Context = d.bytes("context")
	if flags&flagSnapshot != 0 && d.err == nil {
		s := &raft.Snapshot{}
		s.Metadata.Index = d.uvarint("snapshot index")
		s.Metadata.Term = d.uvarint("snapshot term")
		s.Metadata.ConfState.Voters = d.ids("voters")
		s.Metadata.ConfState.Learners = d.ids("learners")
		s.Data = d.bytes("snapshot data")
		m.Snapshot = s
	}
}

// DecodeMessage decodes one message that occupies all of b. Byte slices in
// the result (entry data, context, snapshot data) alias b, so b must not
// be modified afterwards. Errors wrap ErrMalformed.
func DecodeMessage(b []byte) (raft.Message, error) {
	d := decoder{b: b}
	var m raft.Message
	d.message(&m)
	if d.err == nil && d.remaining() != 0 {
		d.fail("%d trailing bytes", d.remaining())
	}
	if d.err != nil {
		return raft.Message{}, d.err
	}
	return m, nil
}

// AppendFrame appends one frame holding msgs to dst. It does not enforce a
// maximum frame size: the transport's writer splits batches itself.
func AppendFrame(dst []byte, msgs []raft.Message) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, FrameHeaderSize)...)
	for i := range msgs {
		dst = binary.AppendUvarint(dst, uint64(MessageSize(&msgs[i])))
		dst = AppendMessage(dst, &msgs[i])
	}
	sealFrame(dst[start:])
	return dst
}

// sealFrame fills in the header of frame, whose payload follows the
// FrameHeaderSize bytes reserved at its start.
func sealFrame(frame []byte) {
	payload := frame[FrameHeaderSize:]
	binary.BigEndian.PutUint32(frame[0:4], uint32(len(payload)))
	binary.BigEndian.PutUint32(frame[4:8], crc32.Checksum(payload, castagnoli))
}

// DecodeBatch decodes a frame payload: one or more length-prefixed
// messages and nothing else. Byte slices in the result alias payload.
func DecodeBatch(payload []byte) ([]raft.Message, error) {
	if len(payload) == 0 {
		return nil, fmt.Errorf("%w: empty batch", ErrMalformed)
	}
	// Each element is a length varint plus at least minMessageSize bytes.
	msgs := make([]raft.Message, 0, min(len(payload)/(minMessageSize+1), 64))
	d := decoder{b: payload}
	for d.remaining() > 0 {
		n := d.uvarint("message length")
		if d.err == nil && n > uint64(d.remaining()) {
			d.fail("message length %d exceeds remaining %d bytes", n, d.remaining())
		}
		if d.err != nil {
			return nil, d.err
		}
		end := d.off + int(n)
		m, err := DecodeMessage(payload[d.off:end:end])
		if err != nil {
			return nil, fmt.Errorf("message %d: %w", len(msgs), err)
		}
		msgs = append(msgs, m)
		d.off = end
	}
	return msgs, nil
}

// checkHeader validates a frame header and returns the payload length and
// checksum.
func checkHeader(h []byte, maxFrameSize int) (int, uint32, error) {
	n := binary.BigEndian.Uint32(h[0:4])
	if uint64(n) > uint64(maxFrameSize) {
		return 0, 0, fmt.Errorf("%w: %w: %d bytes, limit %d", ErrMalformed, ErrFrameTooLarge, n, maxFrameSize)
	}
	if n == 0 {
		return 0, 0, fmt.Errorf("%w: empty frame", ErrMalformed)
	}
	return int(n), binary.BigEndian.Uint32(h[4:8]), nil
}

func verifyPayload(payload []byte, sum uint32) error {
	if got := crc32.Checksum(payload, castagnoli); got != sum {
		return fmt.Errorf("%w: checksum mismatch: header %#08x, payload %#08x", ErrMalformed, sum, got)
	}
	return nil
}

// DecodeFrame decodes a frame that occupies all of b, enforcing
// maxFrameSize on its payload. Byte slices in the result alias b.
func DecodeFrame(b []byte, maxFrameSize int) ([]raft.Message, error) {
	if len(b) < FrameHeaderSize {
		return nil, fmt.Errorf("%w: truncated frame header (%d bytes)", ErrMalformed, len(b))
	}
	n, sum, err := checkHeader(b[:FrameHeaderSize], maxFrameSize)
	if err != nil {
		return nil, err
	}
	if len(b)-FrameHeaderSize != n {
		return nil, fmt.Errorf("%w: frame header says %d payload bytes, have %d", ErrMalformed, n, len(b)-FrameHeaderSize)
	}
	payload := b[FrameHeaderSize:]
	if err := verifyPayload(payload, sum); err != nil {
		return nil, err
	}
	return DecodeBatch(payload)
}

// ReadFrame reads and decodes one frame from r. The payload is read into a
// fresh buffer, which the returned messages alias; it is never reused, so
// the caller may keep the messages. io.EOF is returned unwrapped when r
// ends cleanly before a frame starts; a frame cut short gives
// io.ErrUnexpectedEOF.
//
// The payload buffer grows only as payload bytes arrive, so a header that
// announces a frame of MaxFrameSize costs a peer the bytes it really sends,
// not the bytes it announces.
func ReadFrame(r io.Reader, maxFrameSize int) ([]raft.Message, error) {
	return readFrame(r, maxFrameSize, nil)
}

// readFrame is ReadFrame with a hook called once a valid header has been
// read, which the transport uses to put a deadline on the payload.
func readFrame(r io.Reader, maxFrameSize int, onHeader func()) ([]raft.Message, error) {
	var h [FrameHeaderSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	n, sum, err := checkHeader(h[:], maxFrameSize)
	if err != nil {
		return nil, err
	}
	if onHeader != nil {
		onHeader()
	}
	payload, err := readPayload(r, n)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if err := verifyPayload(payload, sum); err != nil {
		return nil, err
	}
	return DecodeBatch(payload)
}

// payloadChunk is the first allocation for a payload; the buffer then at
// most doubles per step, each step only after the previous one was filled.
const payloadChunk = 64 << 10

// readPayload reads exactly n bytes, growing the buffer as they arrive.
func readPayload(r io.Reader, n int) ([]byte, error) {
	buf := make([]byte, 0, min(n, payloadChunk))
	for len(buf) < n {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(n-len(buf), cap(buf)))
		}
		end := min(n, cap(buf))
		got, err := io.ReadFull(r, buf[len(buf):end])
		buf = buf[:len(buf)+got]
		if err != nil {
			if len(buf) > 0 && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return buf, nil
}
