// Package raft is a deterministic implementation of the Raft consensus
// algorithm (Ongaro and Ousterhout, "In Search of an Understandable
// Consensus Algorithm", and Ongaro's thesis "Consensus: Bridging Theory and
// Practice").
//
// The package is a pure state machine: it has no goroutines, reads no
// clock, opens no socket and touches no disk. Its inputs are Step (a
// message), Tick (one unit of logical time), proposals, read-index
// requests, configuration changes and leadership transfers; its output is a
// Ready: the hard state and entries to persist, a snapshot to install,
// messages to send, committed entries to apply and read states. Randomness
// (election timeouts) comes from a seeded source in the Config, so the same
// inputs always give the same outputs. This is what makes the deterministic
// cluster simulation and the simulation backend of the harness possible.
//
// The driver in raft/node runs the core with a clock, storage and a
// transport, and is the one place that enforces the durability rule: what a
// Ready asks to persist is fsynced before that Ready's messages leave.
//
// # Using a RawNode
//
// A RawNode is not safe for concurrent use. The driver loop is:
//
//	rn.Tick() every tick interval; rn.Step(m) for each message received
//	if rn.HasReady() {
//		rd := rn.Ready()
//		store.Save(rd.HardState, rd.Entries, rd.Snapshot, rd.MustSync)
//		send(rd.Messages)                 // only after Save returned
//		restore rd.Snapshot, apply rd.CommittedEntries (calling
//		ApplyConfChange for EntryConfChange), serve rd.ReadStates
//		rn.Advance(rd)
//	}
//
// Ready hands its contents out once: a second Ready before Advance returns
// only what is new. CommittedEntries may include entries of the same
// Ready's Entries (a follower learns of an entry and its commitment in one
// message); they are applied after being saved. The leader counts its own
// log toward the commit quorum only after Advance reports it persisted, so
// its MsgApps may leave in parallel with its own write (thesis §10.2.1).
//
// A new cluster is started by calling Bootstrap on every initial member's
// empty storage; a member that joins later starts with empty storage and
// no configuration, and learns both from the leader. A restarted node gets
// Config.Applied, its state machine's applied index; configuration changes
// between the storage's snapshot and Applied are replayed from the log.
//
// # What is implemented
//
//   - Leader election (§5.2) with randomized timeouts in [ElectionTick,
//     2*ElectionTick), pre-vote (thesis §9.6) and check-quorum (§6.2); with
//     check-quorum a node that heard from a leader within the election
//     timeout ignores vote requests unless the campaign is a leadership
//     transfer (Context "CampaignTransfer").
//   - Log replication with the consistency check and fast backtracking
//     (§5.3: a rejection carries RejectHint and LogTerm so the leader skips
//     a whole term per round trip), commitment of current-term entries only
//     (§5.4.2) and a no-op entry on election, an empty MsgApp when the
//     commit index moves.
//   - Flow control per follower: probe (one MsgApp in flight), replicate
//     (pipelined, up to MaxInflightMsgs MsgApps of at most MaxSizePerMsg
//     bytes) and snapshot states; MaxUncommittedEntriesSize bounds the
//     leader's uncommitted tail.
//   - Snapshots (§7): MsgSnap when a follower needs compacted entries,
//     ReportSnapshot, restoration on the follower. A snapshot neither
//     acknowledged nor reported within four election timeouts (while the
//     follower answers heartbeats) is sent again.
//   - A stale MsgApp or heartbeat is answered with the current term (paper
//     figure 2), so a stale leader steps down and a node whose term ran
//     ahead is caught up. A node restarted from a non-empty HardState
//     refuses votes (with CheckQuorum) for its first election timeout, as
//     it may have acknowledged a heartbeat a leader's lease rests on.
//   - Linearizable reads: ReadIndex (thesis §6.4) and lease reads (§6.4.1,
//     see ReadOnlyLeaseBased for why they are unsafe when clocks drift).
//   - Leadership transfer (§3.10), aborted after an election timeout.
//   - Single-server membership changes (thesis §4.1), applied when the
//     entry is applied; one change at a time, and none before the leader
//     has committed an entry of its term (Ongaro's 2015 fix). Learners
//     receive the log but never campaign, are never asked for votes and
//     never count toward a quorum. A leader removed from the configuration
//     steps down.
//
// # Messages are not trusted
//
// RawNode.Step checks every message from the network before it changes
// anything, and drops (logging a warning, returning ErrInvalidMessage) one
// that breaks an invariant no genuine peer breaks: a sender of 0 or this
// node, a missing or overflowing term or index, a heartbeat whose commit
// index is beyond this log's end (never clamped: a commit is only safe up
// to what the leader knows this log matches), an append whose entries are
// not contiguous after its previous entry, go back in term or are ahead of
// the message's term, or cannot be applied (unknown type, undecodable
// configuration change), a snapshot without a term, index or voter, and
// responses a leader cannot have asked for (an index beyond its log, a
// reject hint beyond the rejected index, a heartbeat tick from its
// future). Requests from nodes outside the configuration are handled as
// Raft says (a node being added does not know the leader yet; a vote
// request from a non-member is answered); responses from them are refused
// (ErrStepPeerNotFound). The core's own invariant panics remain for states
// only local corruption can produce, which the stores check when they open
// (raft/boltstore) and the service refuses at start (kvservice). FuzzStep
// steps arbitrary messages into a running cluster to keep it that way.
//
// MemoryStorage is the in-memory LogStore used by tests and the simulation.
//
// Learners answer a vote request if they get one: a candidate only asks the
// voters of its configuration, so a request reaching a learner means the
// learner's own promotion is not applied yet, and the candidate only counts
// votes of its voters anyway.
package raft
