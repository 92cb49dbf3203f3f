// Package checker decides whether a raftkv history is correct and renders
// it so a person can see where it went wrong.
//
// Checks:
//   - CheckLinearizability: Porcupine with Model (a KV store partitioned by
//     key: get returns (value, found), put, delete, cas that succeeds iff
//     the key is present and equal). Fail operations are dropped; info
//     operations may take effect at any point after their invocation (an
//     infinite return time; Operations gives them the end of the history).
//     Info writes whose value no operation observed are left out first:
//     they cannot change the verdict, and each would double the search.
//     Keys are checked independently on a shared time budget; running out
//     of it gives Unknown, never Valid. It reports the failing keys.
//   - CheckLostWrites: the final read of every key (its last successful
//     get; the harness reads every key after healing) must show the effect
//     of one of the writes that could have been the last before it;
//     otherwise the acknowledged writes nothing could have superseded are
//     lost (or the read is of a value never written). It is a necessary
//     condition of linearizability that still decides when the search
//     times out.
//   - CheckConvergence: nodes at the same applied index must have the same
//     state hash.
//   - CheckLogAgreement: the nodes' committed logs, read from their data
//     after the run as (index, term, EntryHash) per entry up to the commit
//     index, must agree at every index two nodes both still hold (Raft's
//     Log Matching and State Machine Safety), a snapshot's (index, term)
//     must match the others' entry there, and one node's committed terms
//     must never decrease. It is evidence the history cannot give: a
//     divergence nobody read yet.
//   - CheckNodeHealth: every exit, panic or broken invariant of a node
//     that the harness did not cause (NodeEvent, from any backend) makes
//     the run invalid, even when the clients never noticed.
//   - Availability: outcomes per fault window and outside.
//
// Check runs them all and gives one Verdict: Invalid if any check failed,
// Unknown if linearizability could not be decided and nothing failed,
// Valid otherwise. Result is JSON-serialisable (results.json).
//
// Renderings: WriteVisualization (Porcupine's HTML with fault windows as
// annotations, failing keys only for an invalid result, and around it the
// first violation in words, its counterexample drawn on its own, a time
// axis, sticky row labels and fault bands; it opens at the violation),
// WriteTimeline (a
// self-contained Jepsen-style timeline: lanes per client slot, fault
// windows labelled, violations marked, zoom; it draws only what is on
// screen, so 100k operations open in seconds), PlotLatency and PlotThroughput
// (gonum plots with fault windows shaded).
package checker
