// Package sim is the harness's deterministic simulation backend: a whole
// raftkv cluster, its clients and its faults in one process, on simulated
// time, driven by one seeded random source, so that a seed replays bit for
// bit and thousands of runs fit in a CI minute.
//
// What is real: each node runs the real raft core (raft.RawNode) and the
// real KV state machine (kvservice/fsm), with kvservice's raft options
// (PreVote, CheckQuorum, ReadIndex or lease reads, one tick per heartbeat
// interval, election timeout / heartbeat ticks). What is simulated is only
// I/O and time:
//
//   - A discrete-event loop (a priority queue of timed events, one
//     goroutine, no wall clock) runs everything.
//   - The driver follows raft/node's rules: a leader's appends and
//     heartbeats of a durable term leave before its own write
//     (node.MayLeaveEarly), committed entries are applied before the
//     Ready's write, the Ready is persisted (its other messages leave only
//     after the fsync), then sent, then advanced. Proposals wait for their
//     entry and are failed by raft/node's own rules (node.Waiters: definite
//     when the core refused them or another entry won the index, unknown
//     otherwise); reads are batched into read-index rounds and retried by
//     raft/node's node.ReadBatcher. Snapshots, every SnapshotEvery entries
//     with SnapshotEvery/4 catch-up entries, are taken synchronously
//     (raft/node writes them on a goroutine of its own; the simulation
//     keeps to one goroutine).
//   - Each node reads time through a node.FaultClock over simulated time and
//     ticks once per heartbeat interval of its own clock (at most
//     2*ElectionTick at once, nothing while the clock is behind), so clock
//     faults reach elections, heartbeats and leases as on a real node.
//   - The disk keeps a durable copy updated only by synced writes; a crash
//     loses the process (raft state, state machine, unsynced hard state
//     half of the time) and a restart rebuilds the node from the durable
//     copy, as a real node restarts from bbolt.
//   - The raft network draws per seed a latency distribution (a minimum, an
//     exponential jitter that reorders, rare long spikes), loss and
//     duplication, and applies the nodes' fault rules (the transport's
//     drop/loss/delay/jitter per peer and direction) — all partition shapes,
//     packet delay and loss. The API (client to node, follower to leader)
//     is a separate network that partitions do not cut, as with the process
//     backend.
//   - The API follows kvservice/api: stale reads are served locally, every
//     other request by the leader (a follower forwards; forward_failed is
//     definite for reads and when nothing was sent), with the node's request
//     timeout; a stopped process keeps requests in its kernel buffers; a
//     crash resets its connections (an indeterminate outcome).
//   - The clients are harness/workload's: the same op mix, unique values,
//     key slots, rate, request timeout (info → new process), refused
//     connection → next node; the final linearizable reads of every key.
//   - The faults are the nemesis vocabulary with the same names, parameters,
//     defaults and targets, on the plan of nemesis.Schedule.Plan for the
//     seed: partitions of every shape, kill, pause, clock bump/strobe/rate,
//     packet delay/loss, crash failpoints (the process exits and is
//     restarted 300ms later), leader-transfer storms and membership churn
//     (remove through the leader, kill and wipe, join again empty as a
//     learner, promotion by the leader once within kvservice.PromoteLag).
//   - Inside the nodes, raft/rafttest's Checker watches Raft's safety
//     properties (election safety, one vote per term, log matching, leader
//     completeness, committed entries, read-index answers); a broken one, or
//     a panic of the core, is recorded in Result.Violations (and sim.json),
//     and makes the run invalid whatever the history shows.
//
// The history is written with histories.Recorder in the same format, with
// simulated nanoseconds since the workload started and no wall-clock field
// in the header, so the same Config and seed give the same bytes (Result.Hash).
//
// Run simulates one run; Sweep runs many seeds over several goroutines (each
// run stays single-threaded) and checks each with checker.Check; Shrink
// finds the shortest failing prefix of a seed (a shorter duration replays a
// prefix of the same run, so `harness run --time-limit` reproduces it). The
// package does not import the harness: the harness hands a scenario over as
// its resolved YAML (ParseConfig) and renders the report from
// Result.WriteDir's files (history.jsonl, nodes.json, sim.json).
//
// Not modelled: torn writes (the real store commits each Ready in one
// atomic bbolt transaction, so a crash loses a whole unsynced write, which
// is modelled, never part of one); the transport's bounded queues and
// per-peer ordering (the simulated network is more adversarial: it
// reorders); the member address table (a node always knows the leader's
// API address). A seed names a run of this version of the simulator:
// changing how it draws from its source changes what a seed does.
package sim
