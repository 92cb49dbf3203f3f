// Package fake is an in-memory stand-in for a raftkv cluster, registered as
// the "fake" backend. Each node is a real HTTP server on 127.0.0.1 that
// implements docs/api.md (commands, status, members, leader transfer and the
// fault API), backed by one shared, linearizable map.
//
// It exists to test the harness end to end without the real node: its
// network faults really cut nodes off (a node that cannot reach a majority
// has no leader; its replica stops following the log), Kill closes the
// server, Pause blocks its handlers, crash failpoints "exit" the node and the
// backend restarts it. With read mode "stale" a node serves gets from its own
// replica, which lags when it is partitioned — exactly the bug the harness
// must report as invalid. It is not a Raft implementation and makes no
// durability claims beyond what its API promises.
package fake
