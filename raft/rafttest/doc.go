// Package rafttest is a randomized, deterministic cluster simulation of the
// raft core, with a checker for Raft's safety properties.
//
// Run builds a cluster of 3 to 5 raft.RawNode over raft.MemoryStorage and
// drives it through a few hundred steps of simulated time. One seeded
// math/rand/v2 source decides everything: message drop, delay, reordering
// and duplication, partitions (symmetric and one-way), crashes (also in the
// middle of handling a Ready) and restarts from durable storage only,
// membership changes (add a learner, promote, remove, re-add under a fresh
// ID), leadership transfers, snapshots and log compaction, proposals with
// unique payloads and ReadIndex requests. The same seed and Options always
// give the same trace, whose hash Result.TraceHash exposes.
//
// Each seed also draws the core's options (PreVote, CheckQuorum, message
// and inflight limits, MaxCommittedSizePerReady, MaxUncommittedEntriesSize),
// a fault profile (mixed, crash-heavy, hostile network, membership churn)
// and two driver variants: leaders that replicate while their own write is
// still in progress, stepping messages between Ready and Advance (thesis
// §10.2.1), and a durable state machine, so that restarts pass
// Config.Applied above the snapshot. Options.LeaseReads serves reads from
// the leader's lease instead (clocks then run at one rate).
//
// After every event the Checker verifies Election Safety, Leader
// Append-Only, Log Matching, Leader Completeness and State Machine Safety
// (Raft paper figure 3), that a node's commit index never goes below what it
// persisted, that a vote is never changed within a term, and that a
// ReadIndex answer is never below an index known to be committed before the
// read was issued; also that only voters of their own configuration
// campaign, that nodes applying the same configuration change reach the same
// configuration, and that snapshots hold the committed state. At the end the simulation heals every fault and checks
// liveness: a leader emerges and a fresh proposal is applied on every voter
// within a bounded number of ticks, and a final ReadIndex is answered.
//
// A failure is returned as a *Violation naming the seed, the step and the
// property; Run with Options.Trace replays it with a readable trace.
// TestSimulation sweeps seeds 1..1000 (200 with -short) over GOMAXPROCS
// workers, TestSimulationLeaseReads 200 (50) with lease reads; their flags
// are -sim.seeds N, -sim.from S (first seed), -sim.steps N, -sim.lease,
// -sim.snapconf, and -sim.seed S, which replays one seed and prints its
// whole trace with -v (a failure prints this command):
//
//	go test ./raft/rafttest -run TestSimulation -sim.seed=N -v
//
// A seed names a run of this version of the simulator: changing how the
// simulator draws from its source changes what a seed does, so a seed
// reported against one commit may be harmless against another.
//
// The simulated driver follows the durability rule of raft/node: a Ready's
// hard state, entries and snapshot go to the node's durable storage before
// its messages are sent (a hard state from a Ready with MustSync false may
// be written lazily and lost). A snapshot that is sent but lost is reported
// to the sender with ReportSnapshot half of the time, as a transport would;
// the other half it vanishes silently. A crash throws away the RawNode, its volatile state
// machine and any write that was not synced; a restarted node is rebuilt
// from its durable storage alone.
//
// The package is exported so that the harness's simulation backend can reuse
// the Checker, the Network and the StateMachine.
package rafttest
