// Package fsm is the replicated key-value state machine of raftkv: the
// deterministic part of the KV service that every replica runs over the
// same committed log.
//
// Contract:
//
//   - Commands (set, get, delete, cas and the member-metadata command) are
//     encoded by EncodeCommand into a compact versioned binary format that
//     is what the raft log carries; Apply decodes and executes one.
//   - Apply is deterministic: its result depends only on the state and the
//     entry (index and bytes), never on a clock or on local configuration,
//     so replicas that applied the same prefix of the log hold the same
//     state and the same StateHash.
//   - Client sessions give exactly-once writes (Ongaro's thesis §6.3): per
//     client ID the state machine remembers the last request ID and its
//     result. A retry of that request returns the saved result without
//     applying twice; an older request is rejected with ErrStaleRequest.
//     Sessions expire by log index (a session not used for SessionWindow
//     entries is dropped) and by count (at most MaxSessions, the least
//     recently used goes first), both decided by the entries themselves.
//   - Snapshot and Restore use a versioned, CRC-32C-checksummed encoding of
//     the map, the sessions and the members table; Restore of corrupt or
//     truncated data fails with ErrCorruptSnapshot and leaves the state
//     unchanged.
//   - StateHash returns the index of the last applied command together with
//     a hash of the key-value map, read under one lock so the pair is
//     consistent. The hash is an additive multiset hash of SHA-256 digests
//     of every (key, value) pair, maintained incrementally, so it costs O(1)
//     per write and does not depend on insertion order.
//   - Get and Len read the local state (a stale read unless the caller has
//     first waited for a read index).
//
// The package imports nothing from raft: the members table is fed by the
// node server through ApplyConfChange-like calls (SetMember, RemoveMember;
// kvservice.RecordConfChange). A removed member leaves a tombstone
// (Removed), kept in snapshots, so that its raft ID is never named or
// added again.
package fsm
