// Package process is the harness's "process" backend: real raftkv node
// processes on 127.0.0.1, each with kernel-assigned free ports, its own data
// directory (<run>/data/<node>) and log file (<run>/logs/<node>.log, appended
// across restarts), started with --unsafe-enable-fault-injection.
//
// Kill is SIGKILL, Pause/Resume are SIGSTOP/SIGCONT. A process that exits
// without the harness asking (a crash failpoint exits with code 99) is
// restarted by a supervisor after a short delay, so that faults which crash
// a node get it back. Importing the package registers the backend.
package process
