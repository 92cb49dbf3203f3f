// Package cluster defines the harness's view of a raftkv cluster under test
// (the Cluster interface) and a registry of backends by name ("process";
// room for "docker" and "sim").
//
// A backend starts N nodes named node0..node{N-1}, each with its own data
// directory and log file under the run directory and fault injection
// enabled, and lets the nemesis kill, pause, restart and wipe them. Node
// operations are synchronous: when Kill returns the node is down, when
// Restart returns its process has been started (not necessarily ready).
// A backend restarts a node whose process exits on its own (a crash
// failpoint), because the faults that arm failpoints expect the node back.
package cluster
