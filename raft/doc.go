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
package raft
