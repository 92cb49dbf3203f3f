// Package nemesis is raftkv's fault vocabulary and fault schedule.
//
// A Fault injects one kind of trouble into a cluster.Cluster and heals it:
// network partitions (through each node's /fault/network, by node name),
// kills and restarts, pauses (SIGSTOP/SIGCONT), clock faults (through
// /fault/clock), packet delay and loss, membership churn, leader-transfer
// storms and crash failpoints. Each fault says whether it applies to a
// cluster (some need at least three or five nodes). Faults are built from a
// Spec (the YAML form a scenario uses) and hold the state of one
// injection, so Heal undoes exactly what Inject did.
//
// A Schedule turns a seed into a deterministic Plan (when each fault starts
// and how long it holds); a Runner executes a plan against a cluster and
// records each fault window as a nemesis start/stop event pair in the same
// history as the client operations. HealAll returns any cluster to a
// fault-free state; every run ends with it.
package nemesis
