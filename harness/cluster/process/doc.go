// Package process is the harness's "process" backend: real node processes
// of one target (harness/target: raftkv, or another store such as etcd) on
// 127.0.0.1, each with two free ports (peers, clients), its own data
// directory (<run>/data/<node>) and log file (<run>/logs/<node>.log,
// appended across restarts), started with the command line its target
// writes (raftkv's with --unsafe-enable-fault-injection).
//
// With Options.Node.Security (targets with target.CapSecure) the cluster
// is secured: New issues each node's certificate into the security's
// directory, the target starts the nodes with TLS and tokens, and every
// client of the backend speaks https with the run's CA: Client's with the
// admin token (the fault API and membership changes need it), the
// target's probes and clients with theirs; a Join goes through https.
//
// Kill is SIGKILL, Pause/Resume are SIGSTOP/SIGCONT. A process that exits
// without the harness asking (a crash failpoint exits with code 99) is
// restarted by a supervisor after a short delay, so that faults which crash
// a node get it back.
//
// The supervisor records every exit: its time and status, whether the
// harness asked for it (Kill, Restart, Stop), and the range of the log file
// that process wrote. NodeEvents turns them into checker.NodeEvents (a Go
// panic in that range makes the exit a panic; the failpoint exit code
// after the node logged hitting a failpoint is a failpoint exit; any other
// exit the harness did not ask for is unplanned), plus the panics the
// nodes recovered and logged. CommittedLog reads a stopped node's
// committed log from a copy of its raft.db (targets with
// target.CapCommittedLog only). Importing the package
// registers the backend.
package process
