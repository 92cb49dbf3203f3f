// Package node is the driver that runs the pure raft core (package raft)
// with a clock, a log store, a transport and a state machine. It is the
// only place that enforces the durability rule.
//
// One goroutine owns the raft.RawNode. Every input (messages from the
// transport, proposals, read requests, configuration changes, leadership
// transfers, ticks) reaches it through a channel, and every Ready is
// handled in this order:
//
//  1. persist: Failpoint("before-persist"), Store.Save(hard state, entries,
//     snapshot, MustSync), Failpoint("after-persist"); if the Ready carries
//     a snapshot, StateMachine.Restore. A failed Save stops the node for
//     good: it never continues after a failed persist.
//  2. send: Transport.Send(messages) — only after step 1 returned, so what
//     a message depends on (a vote, an acknowledged entry) is durable first.
//     One exception (thesis §10.2.1): a leader sends its appends (MsgApp)
//     and heartbeats of the term already in the store before step 1, so
//     the followers write in parallel with it. This is safe because the
//     core counts the leader's own entries toward the commit quorum only
//     after Advance (after the write), an append's entries are exactly
//     what the leader's write is about to persist, and its term is durable.
//     Votes, responses and every message of a non-leader still wait.
//  3. apply: Failpoint("before-apply"), each committed entry in order
//     (EntryNormal with data to StateMachine.Apply, EntryConfChange to
//     RawNode.ApplyConfChange and Config.OnConfChange), Failpoint("after-apply").
//     When the Ready also has something to write and no snapshot, this step
//     runs before step 1 instead: committed entries are already durable on
//     a quorum (the leader counts its own copy only after Advance), so their
//     clients need not wait for this node's next write (etcd's server
//     applies in parallel with its WAL write for the same reason). A
//     snapshot taken after applying still comes after the write, so it
//     never covers entries the store does not hold.
//  4. RawNode.Advance.
//
// A Ready whose only change is the hard state's commit index (MustSync
// false, no entries, no snapshot) writes nothing: the commit index need not
// be durable (a restarted node learns it from the leader), so it is kept
// and written with the next Save, before a snapshot (which must not be
// ahead of the stored commit index) and at Stop. Otherwise every committed
// batch cost each node one more bbolt transaction on the client's path.
//
// Each Ready is written with one Store.Save (one bbolt transaction): every
// input that arrived while the previous Ready was being written (up to 512:
// proposals, messages, reads) is taken before the next Ready is built, so
// concurrent proposals share one fsync (group commit).
//
// The persist and apply failpoints fire only for Readies that have
// something to persist or apply, so "after N hits" counts real writes.
//
// # Time
//
// The driver never reads the host clock for raft's sake: it samples its
// Config.Clock and calls Tick once per TickInterval of clock time that
// elapsed. A faster clock ticks faster, a forward jump fires several ticks
// at once (at most 2*ElectionTick), a backward jump ticks nothing and the
// time it took back is not owed (healing a fast clock does not freeze the
// node's timers). FaultClock is how clock faults reach
// elections, heartbeats and leases.
//
// # Results and errors
//
// Propose and ProposeConfChange answer when the entry is applied locally.
// A waiter for an entry proposed at (index, term) is resolved as soon as
// its fate is certain: the entry applied at index has the same term (the
// result), or an entry with another term was committed at index, or an
// entry with a higher term was committed at a lower index (then, because
// terms never decrease along a log, the proposal can never commit:
// ErrProposalDropped, definite). Losing leadership does not by itself fail
// a waiter, because the entry may still commit under the next leader;
// once the new leader commits its first entry the waiter learns the truth.
// If the caller's context ends first, the error is indeterminate
// (ErrLeadershipLost if the node is no longer leader of the proposal's
// term, else the context error) — unless the request never reached raft
// (the loop was busy): then it is ErrNotProposed, definite. IsDefinite
// says which errors mean "certainly not applied".
//
// ReadIndex batches: every read that arrives while a read-index round is
// in flight joins the next round, and each round is one RawNode.ReadIndex
// with a context unique to the round. A read returns once the local
// applied index reaches the round's read index.
//
// ReadIndex, TransferLeadership and a read-index round are not failed when
// leadership moves: a round that got no answer is retried with a fresh
// context when the known leader changes or after ElectionTick ticks.
//
// Snapshots: every SnapshotEvery applied entries the driver takes
// StateMachine.Snapshot, stores it with Store.CreateSnapshot, then
// compacts the log keeping SnapshotCatchUpEntries entries for slow
// followers (Failpoint("during-snapshot") fires between the two). On
// Start the state machine (assumed empty) is restored from the store's
// snapshot and the committed entries after it are applied again. When the
// transport takes a MsgSnap the driver reports SnapshotFinish at once; if
// the snapshot is lost the leader's probe finds out and sends another.
//
// # Callbacks
//
// StateMachine, OnConfChange and Failpoint run on the driver goroutine:
// they must not call Node methods that wait for it (Propose, ReadIndex,
// ProposeConfChange, TransferLeadership, Stop); Status is fine.
// OnConfChange also sees the bootstrap's AddVoter changes (with an empty
// Context). Subscribe callbacks run on their own goroutines and may call
// anything; a subscriber that falls behind loses events, the driver never
// waits for it.
//
// # Stopping
//
// Stop ends the goroutine; requests already proposed fail with
// ErrOutcomeUnknown (wrapping ErrStopped), requests never proposed with
// ErrStopped alone. A failed Save, a failed Restore or an undecodable conf
// change entry stops the node the same way; Err then says why and Done is
// closed, and the process should exit or restart the node from its store.
package node
