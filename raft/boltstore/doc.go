// Package boltstore is the durable raft.LogStore: the Raft log, hard state
// and latest snapshot of one node in a single bbolt file.
//
// Layout. The "entries" bucket maps each log index, as a big-endian uint64
// key (so bbolt's byte order is the numeric order and a cursor walks the
// log in order), to the entry. The "meta" bucket holds the format version,
// the hard state, the compaction marker (index and term of the entry just
// before FirstIndex), and the snapshot's metadata and data. Every record
// starts with a CRC-32C of its contents; the snapshot metadata carries the
// length and CRC-32C of the snapshot data. bbolt checks its meta pages but
// not data pages, so these CRCs are what detects a flipped bit.
//
// Contract.
//   - Save writes snapshot, entries and hard state in one bbolt write
//     transaction. With sync it returns only after the commit, which
//     fdatasyncs, has returned: the Ready is durable. No db.Batch (its
//     coalescing delay would be on the latency path).
//   - Open verifies the whole file (see Open) and fails with an error
//     wrapping ErrCorrupt, naming the path and the problem, rather than
//     serve a store it cannot trust. Entries and Snapshot check CRCs again
//     on every read of the file.
//   - FirstIndex, LastIndex, Term and InitialState are answered from an
//     in-memory copy (terms as runs of equal terms, O(elections) memory),
//     without a bbolt transaction.
//   - Entries of the newest 4096–8192 entries written by this process are
//     served from copies kept by Save (raft reads every entry it commits
//     right after writing it); older ones come from the file, CRC-checked.
//   - All methods are safe for concurrent use; writers are serialized and
//     readers never see a partly applied Save.
//
// bbolt is opened with NoFreelistSync and the hash-map freelist: less to
// write per commit, at the price of a walk of the tree at Open (which doubles
// as a structural check).
//
// Failure handling. A failed commit (say, fsync returned EIO) makes every
// later write fail too: after a failed fsync the kernel may have dropped
// the dirty pages, so the store must be reopened (and thus re-verified).
// Save with sync=false survives a crash of the process but not of the
// machine, where bbolt may even leave the file pointing at unwritten pages.
//
// Limits of the checks. bbolt keeps two meta pages and, if the newest one
// fails its checksum, silently opens the previous transaction: that is the
// intended recovery from a torn meta write during a crash, and no file-level
// check can tell it from a damaged meta page. Damage to free pages is
// harmless and not reported.
//
// Behaviour shared with raft.MemoryStorage is pinned by the conformance
// suite in raft/storagetest; this package's tests run it, plus durability,
// corruption and fsync-ordering tests.
package boltstore
