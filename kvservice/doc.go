// Package kvservice is the raftkv node server: it wires the bbolt log store
// (raft/boltstore), the raft driver (raft/node), the TCP transport
// (raft/transport), the key-value state machine (kvservice/fsm) and the HTTP
// API (kvservice/api) into one process.
//
// Names and IDs. Members are named (node0, node1, ...); a name maps to its
// raft ID with RaftID, the 64-bit FNV-1a hash of the name cut to 53 bits
// (exact as a JSON number in JavaScript; never 0: a hash of 0 becomes 1). The mapping is stable, so every node computes the same ID
// for a name without coordination, and a node that restarts, or joins under
// a fresh name, gets an ID that cannot collide with a previous member of the
// same name but another identity in practice.
//
// Cluster identity. The cluster ID is the FNV-1a hash of the sorted initial
// member list ("name=raft_addr" joined by commas); a joining node adopts the
// ID of the cluster it joins. A data directory holds the bbolt log (raft.db),
// its snapshot files (raft.db.snap/) and identity.json (cluster ID and node
// name). Start refuses a data
// directory written for another cluster or another node, and a log that
// boltstore reports as corrupt (ErrCorrupt), with a message naming the
// problem: a node never serves a state it cannot trust. With identity.json
// present, a missing, empty or stateless raft.db is a lost log, not a new
// node (boltstore.Options.RequireState), and is refused too: a member that
// starts with an empty log votes for candidates missing what it
// acknowledged. These refusals (ErrCorruptData) end with the recovery (see
// docs/security.md) and write nothing.
//
// Member addresses. Raft membership (voters, learners) is raft's ConfState;
// names and addresses live in the state machine's members table, so they
// are replicated, survive restarts and travel in snapshots. They get there
// two ways: a conf change's Context (a JSON fsm.Member) when a member is
// added; and an OpMembers command: the leader proposes one for itself, and
// a follower whose own entry is missing or out of date registers itself
// through the leader's POST /cluster/members (which, for an existing
// member, only updates its addresses). Until the leader's API address is
// in the table a follower cannot forward, and /readyz says so. The
// transport's peers follow the table (initial members' raft addresses come
// from --cluster).
//
// Joining. A node started with Join set and an empty data directory asks
// the cluster (POST /cluster/members) to add it as a learner, adopts the
// cluster ID from the answer, and starts with no bootstrap. The leader
// promotes a learner to voter once its match index is within PromoteLag
// entries of the leader's last index, unless it was added with learner=true.
//
// Reads. ReadLinearizable uses the driver's ReadIndex (thesis §6.4).
// ReadLease uses the same call on a node whose core was configured with
// raft.ReadOnlyLeaseBased, which Start does only when Config.ReadMode is
// lease: the read-only option is per node, so on a node started with
// --read-mode lease every non-stale read is a lease read, and on any other
// node a lease request is served as linearizable (the answer's read_mode
// says which mode was used). ReadStale reads the local state machine.
//
// Fault injection (Config.EnableFaults) exposes the transport's packet
// faults (peers by name), the node's FaultClock, and crash failpoints that
// log their name and exit the process with code 99.
package kvservice
