// Package storagetest is the conformance suite for raft.Storage and
// raft.LogStore implementations (raft.MemoryStorage, raft/boltstore).
//
// RunConformance pins down every behaviour documented in raft/types.go, as
// table-driven sub-tests plus a randomized comparison against a naive
// in-package model of the log; RunDurability adds what only a durable store
// must do: after Close and reopen, everything that was saved (hard state,
// entries, snapshot, compaction, an overwritten suffix staying gone) is
// there exactly. A store passes the suite when it behaves, through the
// LogStore interface alone, like the model.
//
// Behaviour the suite deliberately leaves open, because the contract does
// not fix it and a correct Raft driver never relies on it: reads after
// Close, entries that are not contiguous within one Save, and Save of a
// snapshot whose index is inside the log with the log's own term there (the
// core never emits one; both stores discard the log anyway).
package storagetest
