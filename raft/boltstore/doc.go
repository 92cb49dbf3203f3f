// Package boltstore is the durable raft.LogStore: the Raft log, hard state
// and snapshot metadata of one node in a bbolt file, and the latest
// snapshot's data in a file of its own next to it.
//
// Layout (format version 2). For a store opened at path:
//
//	path                  the bbolt file
//	path.snap/            the snapshot directory
//	  <term>-<index>-<seq>.snap       snapshot data, the whole file
//	  <term>-<index>-<seq>.snap.tmp   being written (removed by Open)
//
// where term, index and seq are 16 lower-case hex digits each; seq numbers
// the files a store writes, so two writes (a snapshot created locally and
// one installed from the leader, at the same index) never share a name.
// The "entries" bucket maps each log index, as a big-endian uint64 key (so
// bbolt's byte order is the numeric order and a cursor walks the log in
// order), to the entry. The "meta" bucket holds the format version, the
// hard state, the compaction marker (index and term of the entry just
// before FirstIndex), and the snapshot's metadata: index, term, ConfState,
// the data file's name, length and CRC-32C. Every record starts with a
// CRC-32C of its contents. bbolt checks its meta pages but not data pages,
// and a file system checks nothing, so these CRCs are what detects a
// flipped bit.
//
// Version 1 kept the snapshot data inside the bbolt file (meta/snapdata),
// where writing a snapshot of tens of MB held bbolt's single writer, and
// the store's lock, for the whole write and fsync, stalling every Save
// behind it. Open refuses a version-1 store with an error wrapping
// ErrCorrupt that names the version; there is no migration (a node can be
// rebuilt from its peers).
//
// Snapshot files. A snapshot's data is written to a temporary file,
// fsynced, renamed to its final name and the directory fsynced, all
// without the store's lock; only then is the metadata that references it
// committed, in a small bbolt transaction; the replaced snapshot's file is
// deleted after that commit. So the committed metadata always references
// a complete, durable file, and a crash at any point leaves at worst files
// nothing references, which Open removes (after verifying the store; files
// it did not name are left alone). Snapshot opens the file under the
// store's read lock, so a concurrent replacement cannot delete it before
// it is open, and checks length and CRC before returning the data.
//
// Contract.
//   - Save writes snapshot metadata, entries and hard state in one bbolt
//     write transaction (a snapshot's data file first, see above). With
//     sync it returns only after the commit, which fdatasyncs, has
//     returned: the Ready is durable. No db.Batch (its coalescing delay
//     would be on the latency path).
//   - CreateSnapshot and Compact may run concurrently with Save and the
//     readers (the driver calls them from a background goroutine) and hold
//     the store's lock only briefly: CreateSnapshot for its metadata
//     commit, Compact for one chunk of at most 1000 deleted entries at a
//     time, each chunk its own fsynced transaction leaving a valid store.
//   - Open verifies the whole file (see Open) and fails with an error
//     wrapping ErrCorrupt, naming the path and the problem, rather than
//     serve a store it cannot trust; that includes reading the snapshot
//     data file once. Entries and Snapshot check CRCs again on every read.
//     With Options.RequireState it also refuses (ErrNoState), before
//     creating or writing anything, a store that holds nothing: the caller
//     knows the node had a log, so an empty one was lost.
//   - FirstIndex, LastIndex, Term and InitialState are answered from an
//     in-memory copy (terms as runs of equal terms, O(elections) memory),
//     without a bbolt transaction.
//   - Entries of the newest 4096–8192 entries written by this process are
//     served from copies kept by Save (raft reads every entry it commits
//     right after writing it); older ones come from the file, CRC-checked.
//   - All methods are safe for concurrent use; writers' commits are
//     serialized and readers never see a partly applied Save.
//
// bbolt is opened with NoFreelistSync and the hash-map freelist: less to
// write per commit, at the price of a walk of the tree at Open (which doubles
// as a structural check).
//
// Failure handling. A failed commit (say, fsync returned EIO) makes every
// later write fail too: after a failed fsync the kernel may have dropped
// the dirty pages, so the store must be reopened (and thus re-verified).
// Save with sync=false survives a crash of the process but not of the
// machine, where bbolt may even leave the file pointing at unwritten pages
// (or, for a snapshot, at the replaced snapshot whose file is deleted).
//
// Limits of the checks. bbolt keeps two meta pages and, if the newest one
// fails its checksum, silently opens the previous transaction: that is the
// intended recovery from a torn meta write during a crash, and no file-level
// check can tell it from a damaged meta page. (If that previous
// transaction's snapshot was since replaced, its data file is gone and Open
// reports it missing.) Damage to free pages is harmless and not reported.
//
// Behaviour shared with raft.MemoryStorage is pinned by the conformance
// suite in raft/storagetest; this package's tests run it, plus durability,
// corruption and fsync-ordering tests.
package boltstore
