// Package fakesource is an in-memory raftkv cluster for testing the web UI
// without raft: a Cluster implements ui.Source (seen from its first member,
// node0) and serves the node API routes the page calls (POST /command,
// POST /cluster/leader, GET|POST /cluster/members, DELETE
// /cluster/members/:id, GET /status) from the same state.
//
// Contract: it models only what the page shows. A write commits and applies
// at once on every reachable member; a leadership transfer completes at
// once in a new term; unreachable members (SetReachable) fail MemberStatus
// and MemberRequest and stop applying. Events are those node0 would
// publish. It is not a Raft model and checks nothing about Raft.
package fakesource
