// Package kvservice is the raftkv node server: it wires the bbolt log store
// (raft/boltstore), the raft driver (raft/node), the TCP transport
// (raft/transport), the key-value state machine (kvservice/fsm) and the HTTP
// API (kvservice/api) into one process.
//
// Names and IDs. Members are named (node0, node1, ...); a raft ID names
// one incarnation of a member, because raft's safety rests on what that
// incarnation persisted (its vote, its log). The initial members (those
// of --cluster) derive each other's IDs with RaftID, the 64-bit FNV-1a
// hash of the name cut to 53 bits (exact as a JSON number in JavaScript;
// never 0). A node that joins with an empty data directory picks a fresh
// ID (NewRaftID: the hash of its name and a random nonce) and keeps it in
// identity.json: a member that was removed, wiped and joins again under
// its old name must not come back under its old ID, which could vote twice
// in a term, receive messages meant for its old self (a commit index past
// its empty log) or find itself a voter in a stale snapshot's
// configuration. Everywhere else (peer certificates, removal, leadership
// transfer, fault rules) a name maps to IDs through the replicated member
// table. Removed IDs are kept in that table as tombstones (they travel in
// snapshots), are never added again, and messages from them are dropped
// (DropFromRemoved); the transport refuses a connection dialled for
// another ID, so a message addressed to an earlier incarnation does not
// reach the new one. The rules live in membership.go, and the harness's
// simulation calls the same functions.
//
// Cluster identity. The cluster ID is the FNV-1a hash of the sorted initial
// member list ("name=raft_addr" joined by commas); a joining node adopts the
// ID of the cluster it joins. A data directory holds the bbolt log (raft.db),
// its snapshot files (raft.db.snap/) and identity.json (cluster ID, node
// name and raft ID). Start refuses a data
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
// the cluster (POST /cluster/members) to add it, under its new raft ID, as
// a learner, adopts the cluster ID from the answer, and starts with no
// bootstrap. The leader refuses (CheckJoin) a removed ID, another member's
// ID, and a new ID under the name of a current member: the old member must
// be removed first (the joining node retries this one for
// MemberExistsWait, as a removal may not be applied yet by a new leader,
// then stops with the leader's message). The leader
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
