package raft

import (
	"encoding/binary"
	"fmt"

	"github.com/raftkv/raftkv/internal/varint"
)

// Marshal encodes cc for the Data of an EntryConfChange: one byte of type,
// the node ID as a uvarint, then Context verbatim.
func (cc ConfChange) Marshal() []byte {
	buf := make([]byte, 0, 1+binary.MaxVarintLen64+len(cc.Context))
	buf = append(buf, byte(cc.Type))
	buf = binary.AppendUvarint(buf, cc.NodeID)
	return append(buf, cc.Context...)
}

// Unmarshal decodes what Marshal produced. It fails with
// ErrInvalidConfChange on malformed input.
func (cc *ConfChange) Unmarshal(data []byte) error {
	if len(data) < 2 {
		return fmt.Errorf("%d bytes: %w", len(data), ErrInvalidConfChange)
	}
	t := ConfChangeType(data[0])
	if t > ConfChangeRemoveNode {
		return fmt.Errorf("type %d: %w", data[0], ErrInvalidConfChange)
	}
	// The node ID's minimal form only: a padded one would give the same
	// change two encodings, and the entry would not re-encode to its bytes.
	id, n, err := varint.Uvarint(data[1:])
	if err != nil {
		return fmt.Errorf("bad node id: %v: %w", err, ErrInvalidConfChange)
	}
	var ctx []byte
	if rest := data[1+n:]; len(rest) > 0 {
		ctx = append([]byte(nil), rest...)
	}
	*cc = ConfChange{Type: t, NodeID: id, Context: ctx}
	return nil
}
