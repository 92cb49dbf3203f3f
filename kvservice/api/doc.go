// Package api is raftkv's HTTP API (docs/api.md), built with Gin.
//
// The package knows nothing about raft: it talks to a Backend (the node
// server in package kvservice, or a fake in tests) and owns everything that
// is HTTP — routing, input validation, error encoding, forwarding to the
// leader, request metrics and logging.
//
// Contract:
//
//   - Input is validated before anything reaches the Backend: the body is
//     capped with http.MaxBytesReader (MaxBodyBytes), malformed JSON,
//     unknown operations, missing or empty keys, keys over MaxKeyBytes and
//     values over MaxValueBytes are answered with the documented JSON errors
//     and are never proposed.
//   - Writes, linearizable and lease reads, membership changes and
//     leadership transfers are served by the leader. A follower forwards
//     them to the leader's API address over a keep-alive http.Client and
//     relays the answer verbatim. A forwarded request carries the
//     ForwardedHeader, the chain of nodes that forwarded it; a node that is
//     not the leader passes it on once more only if the chain is shorter
//     than MaxForwardHops and does not contain the leader it knows, and
//     answers not_leader otherwise, so requests never loop. The chain is
//     honoured only when a member sent it (peerChain): with tokens, the
//     forwarding node's admin token rides in ForwarderTokenHeader. A
//     forward that fails before the request was written is definite
//     (nothing was proposed); one that fails after is not.
//   - Every error is an *Error: a code, an HTTP status, a message and
//     whether the operation certainly had no effect (Definite). Errors
//     from the Backend that are not *Error are mapped (context deadline ->
//     timeout, anything else -> internal, not definite). Failed reads are
//     always definite: a read has no effect.
//   - Fault-injection routes exist only when Config.Faults is set.
package api
