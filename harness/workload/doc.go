// Package workload drives concurrent KV clients against a cluster and
// records every operation in a history.
//
// Semantics follow Jepsen. Each client is a logical process with a process
// id; it records an invoke before sending and exactly one completion: ok
// (took effect), fail (certainly did not: a definite API error, a refused
// connection, or a cas whose expected value did not match) or info (may
// have taken effect: a timeout, a lost connection, a non-definite error).
// After info the process never issues another operation; the client goes on
// under a new process id and a new client_id. Written values are unique
// ("p<process>-<n>"), so a read identifies the write it observed. Keys are
// shared by at most MaxClientsPerKey clients at a time, which bounds the
// concurrency per key that the linearizability checker has to search.
package workload
