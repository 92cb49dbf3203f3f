// Package lazystore wraps a raft.LogStore so that what is written without
// fsync lives only in the process's memory until the next fsynced write,
// the way LazyFS holds unsynced data in a page cache of its own. It exists
// for fault testing (raftkv's --unsafe-lazy-fsync) and must never be used
// in production.
//
// Why. Killing a process (SIGKILL, the harness's crash fault) leaves the
// kernel's page cache alone, so a write the store made without fsync
// survives every crash the harness can inject; only a crash of the machine
// would lose it. A node that acknowledges something before it is fsynced,
// or a store that skips an fsync, is then wrong in a way no test can see.
// With this wrapper an unsynced write never reaches the underlying store
// before the next synced one, so killing the process loses it exactly as a
// power failure would lose the page cache.
//
// Contract.
//   - Save with sync false and no snapshot writes nothing to the underlying
//     store: the hard state and entries go to a pending overlay in memory.
//     Later unsynced Saves merge into it with Save's own rules: a non-empty
//     hard state replaces the pending one; entries append, or replace the
//     pending (and the underlying) entries from their first index on;
//     entries at or below FirstIndex()-1 are ignored. An unsynced Save is
//     checked as the underlying bbolt store would check it (contiguous
//     entries, no gap after LastIndex, terms not decreasing, a commit index
//     not beyond the last index) and, if refused, changes nothing.
//   - Save with sync true, or with a snapshot, writes the overlay and then
//     itself to the underlying store in ONE Save(..., true) call, so the
//     disk goes from "before the first pending write" to "after this one"
//     atomically; then the overlay is empty. The overlay's entries are
//     merged ahead of the Save's own (applying several Saves in order is
//     the same as applying their merge once); with a snapshot they are
//     left out, since a snapshot replaces the whole log, and the pending
//     hard state is kept unless the Save brings its own. A Save the
//     underlying store refuses leaves both it and the overlay unchanged.
//   - CreateSnapshot, Compact and Close are synced writes too: each first
//     writes the overlay with one Save(..., true) (whether or not the call
//     then succeeds). Close therefore loses nothing: a clean shutdown keeps
//     every write, as it does with the page cache; only a crash loses the
//     overlay.
//   - Every read (InitialState, Entries, Term, LastIndex, FirstIndex,
//     Snapshot) sees the overlay on top of the underlying store, so a node
//     runs exactly as it would on the underlying store alone.
//   - Sync writes the overlay now; Pending says what it holds; Underlying
//     returns the wrapped store, whose reads show what a crash would keep.
//   - Discard forgets the overlay, which is what a simulated crash does;
//     after a real crash the wrapper is simply gone. Either way the
//     underlying store holds everything up to and including the last
//     synced write, and nothing after it: an unsynced Save that replaced
//     entries the underlying store already had leaves those old entries on
//     disk, as a real unsynced write would.
//   - All methods are safe for concurrent use. A Save (and a flush) holds
//     the wrapper's lock across its write to the underlying store, so
//     readers never see half of it; CreateSnapshot and Compact hold it only
//     for their flush and call the underlying store without it, so that, as
//     raft.LogStore asks, a Save never waits for a whole snapshot write or
//     compaction.
//
// One relaxation: a Compact running on another goroutine is not ordered
// with unsynced Saves made while it runs. That only matters if such a Save
// replaces entries at or below the compaction index, which a correct Raft
// driver never does (it compacts behind its snapshot, and a snapshot only
// covers committed entries, which are never replaced).
package lazystore
