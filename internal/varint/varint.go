package varint

import (
	"encoding/binary"
	"errors"
)

// Errors of Uvarint.
var (
	// ErrTruncated: the input ends inside the varint.
	ErrTruncated = errors.New("truncated uvarint")
	// ErrOverflow: the varint does not fit in 64 bits.
	ErrOverflow = errors.New("uvarint overflows 64 bits")
	// ErrNonMinimal: the value has a shorter encoding.
	ErrNonMinimal = errors.New("non-minimal uvarint")
)

// Uvarint decodes the varint at the start of b and returns its value and
// its length in bytes. It refuses what binary.Uvarint refuses, and a
// padded encoding: one longer than a byte whose last byte is 0 (that byte
// adds no bits, so dropping it and the continuation bit before it encodes
// the same value).
func Uvarint(b []byte) (uint64, int, error) {
	v, n := binary.Uvarint(b)
	switch {
	case n == 0:
		return 0, 0, ErrTruncated
	case n < 0:
		return 0, 0, ErrOverflow
	case n > 1 && b[n-1] == 0:
		return 0, 0, ErrNonMinimal
	}
	return v, n, nil
}
