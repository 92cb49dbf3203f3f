package varint

import (
	"encoding/binary"
	"errors"
	"testing"
)

func TestUvarint(t *testing.T) {
	// Every value's own encoding decodes, whatever follows it.
	for _, v := range []uint64{0, 1, 127, 128, 300, 1<<32 - 1, 1 << 53, 1<<64 - 1} {
		b := binary.AppendUvarint(nil, v)
		got, n, err := Uvarint(append(b, 0, 0x80))
		if err != nil || got != v || n != len(b) {
			t.Errorf("%d (%x): got %d, %d bytes, %v", v, b, got, n, err)
		}
	}
	for _, c := range []struct {
		b    []byte
		want error
	}{
		{nil, ErrTruncated},
		{[]byte{0x80}, ErrTruncated},
		{[]byte{0xff, 0xff}, ErrTruncated},
		{[]byte{0x80, 0x00}, ErrNonMinimal},       // 0
		{[]byte{0x81, 0x00}, ErrNonMinimal},       // 1
		{[]byte{0x81, 0x80, 0x00}, ErrNonMinimal}, // 1
		{[]byte{0xac, 0x82, 0x00}, ErrNonMinimal}, // 300
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, ErrOverflow},
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, ErrOverflow},
	} {
		if _, _, err := Uvarint(c.b); !errors.Is(err, c.want) {
			t.Errorf("%x: got %v, want %v", c.b, err, c.want)
		}
	}
}

// FuzzUvarint: whatever decodes is the canonical encoding of its value.
func FuzzUvarint(f *testing.F) {
	f.Add([]byte{0x81, 0x00})
	f.Add([]byte{0xac, 0x02})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, n, err := Uvarint(b)
		if err != nil {
			return
		}
		if enc := binary.AppendUvarint(nil, v); string(enc) != string(b[:n]) {
			t.Fatalf("%x decodes to %d, whose encoding is %x", b[:n], v, enc)
		}
	})
}
