// Package sim is the harness's deterministic simulation backend: a whole
// raftkv cluster, its clients and its faults in one process, on simulated
// time, driven by one seeded random source, so that a seed replays bit for
// bit and thousands of runs fit in a CI minute.
//
// What is real: each node runs raft/node's Driver — the real raft core
// (raft.RawNode), the real per-Ready step (persist, send, apply, advance,
// a leader's early appends, the lazily written commit index, snapshots
// and their catch-up entries), its proposal waiters and read batching —
// over the real KV state machine (kvservice/fsm), configured by
// kvservice.NodeConfig exactly as a raftkv node is, and answers clients
// with kvservice.DriverError's codes. Only I/O and time are simulated:
//
//   - A discrete-event loop (a priority queue of timed events, one
//     goroutine, no wall clock) runs everything. Each node's "goroutine"
//     calls Driver.Tick on its wakeups, Driver.Step on messages, and
//     Driver.HandleReadies a moment after any input (inputs arriving
//     meanwhile share one Ready: group commit). A snapshot's work (encode,
//     write, compact) runs as a later event, as raft/node runs it on a
//     goroutine of its own; a crash before then loses it.
//   - A driver failpoint armed by the nemesis panics with a crash signal;
//     the node's guard turns it into the process exiting there, as the
//     real node's failpoint exits the process.
//   - The disk: each node's durable store is a raft.MemoryStorage or the
//     real bbolt store (raft/boltstore, in a temporary directory, its
//     fsyncs simulated; Config.LogStore, by default drawn per node), and the
//     driver writes through raft/lazystore, so that what was written
//     without fsync is held back and a crash loses it (or, half of the
//     time, the OS wrote it back first). A synced write delays what the
//     step sends or answers after it by a drawn fsync time. A restart
//     rebuilds the node from the durable store alone.
//   - Each node reads time through a node.FaultClock over simulated time,
//     and Driver.Tick ticks once per heartbeat interval of that clock, so
//     clock faults reach elections, heartbeats and leases as on a real node.
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
//     learner, promotion by the leader by kvservice.Promotion; one
//     rejoin in three as a learner that stays one, --join-as-learner).
//     Membership follows kvservice's rules through its functions: a node
//     that joins again picks a new raft ID (kvservice.NewRaftID, its nonce
//     from a seeded stream of its own), the leader judges the join with
//     kvservice.CheckJoin (a new ID under a name still a member waits for
//     the removal), every replica keeps the member table and the removed
//     IDs with kvservice.RecordConfChange, a message from a removed ID is
//     dropped (kvservice.DropFromRemoved) and one addressed to an earlier
//     incarnation's ID is dropped as raft/transport refuses it.
//   - Inside the nodes, raft/rafttest's Checker watches Raft's safety
//     properties (election safety, one vote per term — a vote counts from
//     the moment its response leaves the node, and a node restarts with
//     the term and vote of every message it sent — log matching with the terms
//     the store's entries really hold, leader completeness, committed
//     entries never replaced in any node's log, read-index answers); a
//     broken one, or a panic of the core, is recorded in Result.Violations
//     (and sim.json), and makes the run invalid whatever the history shows.
//   - Liveness after healing: once every fault is healed, the recovery
//     period over, the clients stopped and the final reads done, every
//     running member of the leader's configuration must apply what the
//     leader applied within convergeWait (tens to hundreds of election
//     timeouts of simulated time). A member that never catches up (a store
//     that answers the wrong terms, a follower that rejects every append)
//     is a violation too: a cluster that is safe only because it stopped
//     replicating is not correct.
//
// The history is written with histories.Recorder in the same format, with
// simulated nanoseconds since the workload started and no wall-clock field
// in the header, so the same Config and seed give the same bytes (Result.Hash).
//
// Run simulates one run; Sweep runs many seeds over several goroutines (each
// run stays single-threaded) and checks each with checker.Check; Shrink
// finds the shortest failing prefix of a seed (a shorter duration replays a
// prefix of the same run, so `harness run --time-limit` reproduces it);
// Minimize (`harness shrink`) shrinks an invalid seed further: it writes
// the seed's draws into the configuration (Explicit: a swarm's draw, the
// raft knobs, the fault plan as fixed steps), then drops fault steps,
// clients, keys and duration while the verdict stays invalid. The
// package does not import the harness: the harness hands a scenario over as
// its resolved YAML (ParseConfig) and renders the report from
// Result.WriteDir's files (history.jsonl, nodes.json, sim.json).
//
// Not modelled: torn writes (the real store commits each Ready in one
// atomic bbolt transaction, so a crash loses a whole unsynced write, which
// is modelled, never part of one); an fsync that the bbolt store itself
// skips (lazystore sits above it); the transport's bounded queues and
// per-peer ordering (the simulated network is more adversarial: it
// reorders); the member address table's addresses (a node always knows
// the leader's API address; names and removed IDs are kept).
// The initial members' raft IDs are 1..n (a raftkv node derives them from
// the names, kvservice.RaftID). A seed names a run of this version of the simulator:
// changing how it draws from its source changes what a seed does.
package sim
