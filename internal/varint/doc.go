// Package varint decodes unsigned varints (encoding/binary's format) in
// their canonical form only: the shortest encoding of each value.
//
// binary.Uvarint also accepts an encoding padded with continuation bytes
// (0x81 0x00 for 1). A decoder that takes both forms gives one value two
// encodings, so bytes that decode equal need not be equal: a re-encoded
// command or conf change would differ from the log entry it came from, and
// their hashes would differ between replicas that hold either form. Every
// decoder of raftkv's binary formats uses this package instead, so the
// rule has one implementation.
package varint
