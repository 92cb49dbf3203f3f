// Package etcd is the harness's target for etcd (go.etcd.io/etcd, the
// server built from its module at Version, see `make etcd`): node flags
// for a static cluster, readiness and leader from the maintenance Status
// call, and the workload's client through etcd's own Go client
// (go.etcd.io/etcd/client/v3).
//
// The mapping: get is a Range of the key, linearizable by default
// ("linearizable" read mode) or serializable ("serializable": answered
// from the node's own state without asking the leader — etcd documents it
// as possibly stale, and the harness must show it failing); put is a Put;
// delete is a DeleteRange (found: a key was deleted); cas is a Txn that
// puts the new value if the key's value equals the expected one, and
// otherwise reads the key. etcd's value comparison on a missing key is
// false, so a cas of a missing key fails whatever it expected — raftkv's
// own cas semantics (a cas expecting "" matches a key holding "", never a
// missing key).
//
// Classification (Classify), from etcd's documented errors: a get that
// fails changed nothing and is a fail; a write is a fail only when etcd
// rejected it before proposing it (invalid argument, request too large,
// too many requests, no space, permission: codes InvalidArgument,
// FailedPrecondition, OutOfRange, ResourceExhausted, PermissionDenied,
// Unauthenticated) or when the harness never sent it (the connection to the
// node is known to be down: refused); anything else — a deadline, a lost
// connection, "request timed out", "leader changed", "server stopped" — may
// have been applied and is info.
//
// etcd has no client sessions (a write sent again may apply twice), no
// in-node fault API, and no state hash the harness can compare, so its
// Caps are empty: it takes the process faults (kill, pause) on any
// backend, and on the docker backend the network faults too (partitions,
// packet delay and loss, made by the OS: target.WithCaps); the
// convergence and log agreement checks are skipped for it. Its members
// use their peer connections both ways (each reads the other's messages
// from a stream it opened), so it is no target.DialerSender.
package etcd
