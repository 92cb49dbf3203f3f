package rafttest

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/raftkv/raftkv/raft"
)

// ErrBadSnapshot is returned by StateMachine.Restore for malformed data.
var ErrBadSnapshot = errors.New("rafttest: malformed state machine snapshot")

// StateMachine is the simulated application: a register holding a hash
// chain over every applied entry. Two state machines have the same Hash at
// the same Index only if they applied the same entries in the same order,
// which is what State Machine Safety asks; and a snapshot of it is 16 bytes.
type StateMachine struct {
	// Index is the index of the last applied entry.
	Index uint64
	// Hash is ChainHash over the entries 1..Index.
	Hash uint64
}

// Apply applies the entry at index e.Index. It fails if e is not the
// entry right after the last applied one.
func (s *StateMachine) Apply(e raft.Entry) error {
	if e.Index != s.Index+1 {
		return fmt.Errorf("rafttest: apply index %d after %d", e.Index, s.Index)
	}
	s.Index = e.Index
	s.Hash = ChainHash(s.Hash, e)
	return nil
}

// Snapshot encodes the state.
func (s StateMachine) Snapshot() []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, s.Index)
	binary.BigEndian.PutUint64(b[8:], s.Hash)
	return b
}

// Restore replaces the state with what Snapshot encoded.
func (s *StateMachine) Restore(data []byte) error {
	if len(data) != 16 {
		return fmt.Errorf("%d bytes: %w", len(data), ErrBadSnapshot)
	}
	s.Index = binary.BigEndian.Uint64(data)
	s.Hash = binary.BigEndian.Uint64(data[8:])
	return nil
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// mix folds the 64-bit word x into the hash h (FNV-style multiply with a
// final xor-shift so that high bits reach low ones).
func mix(h, x uint64) uint64 {
	h = (h ^ x) * fnvPrime
	return h ^ (h >> 31)
}

func hashBytes(h uint64, b []byte) uint64 {
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return h
}

// EntryHash identifies an entry's content (type and data, not its
// position).
func EntryHash(e raft.Entry) uint64 {
	return hashBytes(mix(fnvOffset, uint64(e.Type)), e.Data)
}

// ChainHash is the state hash after applying e on a state whose hash is
// prev.
func ChainHash(prev uint64, e raft.Entry) uint64 {
	return chainStep(prev, e.Index, e.Term, EntryHash(e))
}

func chainStep(prev, index, term, entryHash uint64) uint64 {
	return mix(mix(mix(prev, index), term), entryHash)
}
