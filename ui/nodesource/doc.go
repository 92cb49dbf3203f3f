// Package nodesource adapts a raftkv node (kvservice's server and its
// raft/node driver) to ui.Source, so that a node serves the live UI.
//
// Contract: New takes the node's pieces as functions (the server's Status,
// Members and Faults, the driver's Subscribe and Status), so it depends on
// no server internals. Status and Members are required; the others are
// optional and only enrich the page: without Faults the fault controls are
// hidden, without Subscribe no events are shown, without RaftStatus the
// leader's replication view has match indexes only (from GET /status).
// Other members are reached over HTTP (ui.HTTPPeers). The election timer
// comes from Status (GET /status's election_elapsed_ms and
// election_timeout_ms, from raft.Status); Timers may override it.
package nodesource
