// Package raftkv is the harness's target for raftkv itself: its node
// flags, its readiness and leader from GET /readyz and GET /status, and
// the workload's client over POST /command (harness/nodeapi), whose errors
// say themselves whether they are definite.
//
// raftkv offers every capability (target.Caps): its nodes carry the fault
// API the in-node faults need (network rules, clocks, failpoints), report
// a state hash, keep a bbolt log the backends can read, and apply a write
// sent again under the same session at most once.
package raftkv
