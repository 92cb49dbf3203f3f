// Package docker is the harness's "docker" backend: each node of one
// target (harness/target: raftkv, or another store such as etcd) runs in
// its own container, from an image built FROM scratch out of static
// binaries (nothing is pulled): raftkv's compiled on the host
// (docker/build.sh), another store's from the binary the run is given
// (Options.Binary, e.g. make etcd's), in an image of its own
// (BuildTargetImage: raftkv-target-<name>:<the binary's sha256>, reused
// while the binary is the same).
//
// A run creates a private bridge network with a random /24 subnet and
// starts node<i> at the address .<10+i>, with the command line its target
// writes (raftkv's with fault injection enabled) for the container's
// address, the fixed ports 7000 (peers) and 8000 (clients) and /data, its
// data directory, bind-mounted from <run>/data/<node>. The harness
// reaches the nodes through the bridge; no port is published. The cluster
// is a cluster.Targeted: its probes (health, readiness, leader) and the
// workload's clients are the target's, dialled at the containers'
// addresses. Every container and network carries labels (raftkv.harness,
// raftkv.run, raftkv.owner = the harness's pid and start time): Stop
// removes them, and the next Start removes those whose owner process is
// gone, so a crashed run leaves nothing behind for long and concurrent
// runs do not tear each other down.
//
// Kill is docker kill (SIGKILL), Restart docker start, Pause and Resume
// docker pause and unpause. A container that exits on its own (a crash
// failpoint) is restarted by a supervisor, as in the process backend. At
// Stop (and Logs), everything each container printed is written to
// <run>/logs/<node>.log.
//
// For the checks after a run: the backend records every stop of a
// container (its exit code from docker wait, whether the harness asked
// for it, and what the container printed since its previous stop, scanned
// for a Go panic) and reports them with NodeEvents; CommittedLog reads a
// stopped node's committed log from its data directory, which is on the
// host (the bind mount) and outlives the container (raftkv only: targets
// with target.CapCommittedLog; for others the check is skipped with a
// warning).
//
// Network faults happen at the OS level, for any target: the backend
// enters each container's network namespace from the host (nsenter) and
// loads iptables DROP rules per peer address (partitions of any shape)
// and iptables "statistic" rules for packet loss. So every target takes
// the network faults here (Provides, On), whether or not its nodes have a
// fault API. A one-way cut X -/-> P follows the target's use of its
// connections: for raftkv (target.DialerSender), whose connections carry
// messages from their dialer, it drops the TCP connections X opens to P's
// raft and API ports; for any other target (etcd's members read each
// other's messages from streams they opened to the sender) it drops every
// byte X sends to P but the TCP segments without payload (handshakes,
// acknowledgements), so P's bytes still reach X.
//
// Delay and jitter use NFQUEUE rather than tc netem: the kernels this runs
// on (a firecracker 6.x without modules) have no sch_netem, nor any other
// qdisc that delays (sch_fq, sch_prio), but do have the NFQUEUE target. A
// delayed link X->P is an iptables rule in X's namespace sending what X
// sends to P's address to a queue of its own (numbered after P), with
// --queue-bypass so that while nothing listens the packets pass instead of
// being dropped (a crashed harness never blackholes a cluster). The
// harness listens on that queue through a netlink socket it opens inside
// X's namespace (github.com/florianl/go-nfqueue), holds each packet for the
// delay plus a uniform draw in [0, jitter], and then accepts it. Without
// jitter a link keeps its packet order; with jitter each packet draws its
// own time and may overtake others, as with netem. The queue is fail-open:
// packets beyond its length go through undelayed, not dropped. Listeners
// are bound before their rule appears, follow plan changes, and are closed
// after their rule is gone, when the container stops (its namespace goes
// with it; a restart applies the faults to the new one) and at Stop;
// packets still held then are let through at once. A kernel without the
// NFQUEUE target makes a delay rule fail with cluster.ErrUnsupported,
// with the other faults applied, rather than do nothing.
//
// The node's own transport fault filter is never used: the API client that
// Client returns goes through a small proxy that answers PUT and DELETE
// /fault/network by calling SetNetwork and ClearNetwork. For raftkv, clock
// faults and failpoints still go to the node's fault API, and everything
// else is forwarded to the node. A node of another target has no
// raftkv API: the proxy answers GET /fault (the network faults), lets the
// final heal clear clock faults and failpoints (the store cannot have
// any), and refuses anything else, definitely; the scenario's check
// refuses such faults before the run (nemesis.CheckTarget on On(target),
// the same rule as on the process backend).
//
// A secured cluster (Options.Node.Security, a `secure: true` scenario):
// once the network exists, Start issues each node's certificate naming
// its container's address as well as the node (its hostname), since the
// nodes reach each other's APIs at that address. Each container gets its
// own certificate and key, the CA and the token file bind-mounted
// read-only under /secrets (not the CA's key, not the other nodes' keys;
// as root, the key and token file are given to the image's user), and
// the raftkv target's secured flags with those paths. The harness reaches
// the nodes over https, verifying each as its node name; the fault proxy
// listens in plain http on the host's loopback, answers its own network
// fault routes only with the admin token, and forwards everything else
// over https with the caller's token.
//
// Start fails with an error wrapping ErrUnavailable when no Docker engine
// answers; unless CI=true that error also wraps ErrSkip, which a caller
// turns into a visible skip. Missing host tools (nsenter,
// iptables-restore, or not running as root) are ErrMissingTool, always a
// failure. Importing the package registers the backend.
package docker
