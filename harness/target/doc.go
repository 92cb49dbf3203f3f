// Package target is the harness's view of a store under test: what to
// start for each node (a binary and its flags), how to tell that a node is
// up and who leads, and a client that maps the workload's get, put, delete
// and cas onto the store's own API.
//
// The contract that matters is the client's classification of every
// outcome, because the history and so the verdict depend on it: an answer
// is ok; an error is definite (Answer.Definite: the operation certainly
// did not take effect, by the store's documented semantics) or not (it may
// have). The workload records the first as fail and the second as info.
//
// A target also says which faults it can take (Caps): the process faults
// (kill, pause) need nothing from the store, but raftkv's in-node fault
// API (network rules, clocks, failpoints), membership changes and
// leadership transfer do; a scenario that asks a target for a fault it
// cannot take is refused before anything starts. A backend may make some
// faults itself for any store (the docker backend's network faults, in
// the OS): the target as it runs there is WithCaps(t, those). How a
// target's nodes use their connections (DialerSender) says how such a
// backend cuts one direction of a link.
//
// A target with CapSecure can run secured: Config.Security (a Security
// made for the run: a development CA, a certificate per node, a token per
// role) says what its nodes start with, and Node.Security how the harness
// reaches them (Security.API: https verifying the node's name, and the
// token of the role the call needs).
//
// Targets register by name (Register); harness/target/raftkv and
// harness/target/etcd are the two the harness ships.
package target
