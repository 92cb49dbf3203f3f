package target

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/raftkv/raftkv/harness/nodeapi"
)

// ErrUnknownTarget reports a target name that is not registered.
var ErrUnknownTarget = errors.New("target: unknown target")

// Default is the target a scenario runs when it names none.
const Default = "raftkv"

// Node is one node of a cluster as its target sees it: the addresses the
// backend allocated for it and its data directory.
type Node struct {
	ID string
	// PeerAddr is where the node listens for its peers (host:port).
	PeerAddr string
	// ClientAddr is where the node serves clients (host:port).
	ClientAddr string
	// DataDir is the node's own data directory.
	DataDir string
	// JoinVia is the API URL of a member the node joins through (a node
	// that starts empty after a membership change); "" for a founding node.
	JoinVia string
	// Security is how the harness reaches a node of a secured cluster:
	// the CA its certificate chains to (naming ID) and the tokens; nil:
	// plain http, no token. The target's probes and clients use it
	// (Security.API).
	Security *Security
}

// Config is the per-node settings a scenario may give (zero: the
// target's own default).
type Config struct {
	ElectionTimeout   time.Duration
	HeartbeatInterval time.Duration
	// ReadMode is the nodes' default read mode (targets that have one).
	ReadMode      string
	SnapshotEvery uint64
	// Extra flags passed verbatim to every node.
	Extra []string
	// Security, when set, starts the nodes secured (targets with
	// CapSecure): mutual TLS between them, TLS on the API, bearer tokens,
	// from its files as the node sees them (Security.At for a node that
	// sees them elsewhere). Nil: plain nodes.
	Security *Security
}

// Capabilities a target may offer beyond starting, killing and pausing
// its processes. Faults and checks that need one are refused or skipped
// for a target without it.
const (
	// CapNodeNetwork: per-node network rules (partitions, packet delay
	// and loss, leader isolation) set through the cluster's fault API
	// client: raftkv's own in-node rules, or the docker backend's, which
	// makes them in the OS for any target (WithCaps).
	CapNodeNetwork = "node-network"
	// CapClock: a per-node clock fault (offset, rate, strobe).
	CapClock = "clock"
	// CapFailpoint: crash failpoints armed through the node.
	CapFailpoint = "failpoint"
	// CapMembership: remove a member, wipe it and have it join again.
	CapMembership = "membership"
	// CapLeaderTransfer: ask the leader to hand over leadership.
	CapLeaderTransfer = "leader-transfer"
	// CapStateHash: each node reports its applied index and a hash of its
	// state (the convergence check).
	CapStateHash = "state-hash"
	// CapCommittedLog: the backend can read a stopped node's committed
	// log from its data directory (the log agreement check).
	CapCommittedLog = "committed-log"
	// CapSessions: a write sent again with the same client and request id
	// is applied at most once (write_attempts > 1).
	CapSessions = "sessions"
	// CapSecure: the target starts its nodes with Config.Security (mutual
	// TLS between the nodes, TLS on the API, bearer tokens), and its
	// probes and clients reach them with Node.Security.
	CapSecure = "secure"
)

// Target is a store the harness can test.
type Target interface {
	// Name is the target's registry name ("raftkv", "etcd").
	Name() string
	// Caps lists the capabilities the target offers (the Cap constants).
	Caps() []string
	// ReadModes lists the read modes a scenario may ask for, the first
	// being the default; the last word on which are safe is the target's
	// documentation.
	ReadModes() []string
	// Args is node n's command line (without the binary), all being every
	// node of the cluster in order.
	Args(n Node, all []Node, cfg Config) []string
	// Healthy reports whether node n's process is up and serving (it may
	// not know a leader yet).
	Healthy(ctx context.Context, n Node) error
	// Ready reports whether node n can serve clients: it knows a leader.
	Ready(ctx context.Context, n Node) error
	// Leader returns the id of the node that nodes (the running ones) agree
	// leads, or "" if none is known.
	Leader(ctx context.Context, nodes []Node) string
	// Dial returns a client for node n; timeout bounds each request. A
	// client may connect lazily, on its first request.
	Dial(n Node, timeout time.Duration) (Client, error)
}

// Locator is a target whose binary has a conventional place under the
// module root, where a Makefile rule builds it.
type Locator interface {
	// Binary is the binary's path under root and how to build it there
	// (e.g. "run make etcd").
	Binary(root string) (path, hint string)
}

// Client sends the workload's commands to one node. Implementations are
// used by one goroutine at a time.
type Client interface {
	// Do sends cmd (Operation "get", "set", "delete" or "cas") and
	// classifies the outcome.
	Do(ctx context.Context, cmd nodeapi.Command) Answer
	// Reset drops the client's connections (after a node restarts or
	// refused a connection, they are dead).
	Reset()
	// Close releases the client.
	Close() error
}

// Answer is what one attempt of a command got back.
type Answer struct {
	// Result is the answer when Err is nil: Found and Value for a get,
	// Found for a delete (whether the key existed), Succeeded for a cas
	// (with Found and Value of what the key held when it did not).
	Result nodeapi.Result
	Err    error
	// Definite: Err certainly means that this attempt was not applied.
	Definite bool
	// Refused: nothing reached the node (the connection was refused, a
	// definite error); the client moves to the next node.
	Refused bool
}

// Has reports whether t offers capability c.
func Has(t Target, c string) bool { return slices.Contains(t.Caps(), c) }

var (
	mu       sync.Mutex
	registry = map[string]Target{}
)

// Register makes a target available by name. It panics on a duplicate,
// which is a programming error.
func Register(t Target) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[t.Name()]; dup {
		panic("target: registered twice: " + t.Name())
	}
	registry[t.Name()] = t
}

// Lookup returns the named target ("" is Default).
func Lookup(name string) (Target, error) {
	if name == "" {
		name = Default
	}
	mu.Lock()
	t, ok := registry[name]
	mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w %q (have %s)", ErrUnknownTarget, name, strings.Join(Names(), ", "))
	}
	return t, nil
}

// Names lists the registered targets, sorted.
func Names() []string {
	mu.Lock()
	defer mu.Unlock()
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
