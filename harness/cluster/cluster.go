package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/raftkv/raftkv/checker"
	"github.com/raftkv/raftkv/harness/nodeapi"
	"github.com/raftkv/raftkv/harness/target"
	"github.com/raftkv/raftkv/harness/target/raftkv"
)

// Sentinel errors of backends.
var (
	ErrUnknownBackend = errors.New("cluster: unknown backend")
	ErrUnknownNode    = errors.New("cluster: unknown node")
	ErrNotRunning     = errors.New("cluster: node not running")
	ErrRunning        = errors.New("cluster: node is running")
	ErrUnsupported    = errors.New("cluster: operation not supported by this backend")
)

// State is a node's process state as the backend sees it.
type State string

// Node states.
const (
	Running State = "running"
	Paused  State = "paused"
	Down    State = "down"
)

// Cluster is a running cluster under test. Client and Member speak
// raftkv's API: a backend that runs another store implements Targeted, and
// the faults that need raftkv's API are refused for it (target.Caps).
type Cluster interface {
	// Start starts every node and returns once each process is up (its
	// API answers /healthz), or an error.
	Start(ctx context.Context) error
	// Stop stops every node (SIGTERM, then SIGKILL). Idempotent.
	Stop(ctx context.Context) error
	// Kill kills a node abruptly (SIGKILL); its data dir is kept.
	Kill(ctx context.Context, node string) error
	// Pause freezes a node (SIGSTOP); Resume continues it (SIGCONT).
	Pause(ctx context.Context, node string) error
	Resume(ctx context.Context, node string) error
	// Restart starts a node that is down (or kills and restarts a running
	// one) with its existing data dir.
	Restart(ctx context.Context, node string) error
	// Wipe deletes a down node's data dir.
	Wipe(ctx context.Context, node string) error
	// Join starts a down (typically wiped) node so that it joins the
	// cluster through the API of node via (--join).
	Join(ctx context.Context, node, via string) error
	// Nodes lists the node ids in order.
	Nodes() []string
	// Endpoints lists the API addresses (host:port) in node order.
	Endpoints() []string
	// Member describes a node's addresses.
	Member(node string) (nodeapi.Member, error)
	// State is the node's process state.
	State(node string) State
	// Client returns an API client for the node (including its fault API).
	Client(node string) *nodeapi.Client
	// Logs is the path of the node's log file ("" if none).
	Logs(node string) string
}

// LogReader is a backend that can read its nodes' committed logs from
// their data (ReadCommittedLog) once they are stopped, for the log
// agreement check. Backends without data on the host do not implement it.
type LogReader interface {
	// CommittedLog reads a stopped node's committed log. A node that is
	// still running is an error wrapping ErrRunning.
	CommittedLog(ctx context.Context, node string) (checker.NodeLog, error)
}

// HealthReporter is a backend that watches its nodes' processes, for the
// node health check.
type HealthReporter interface {
	// NodeEvents lists every exit of a node's process since Start (those
	// the harness caused with checker.CauseHarness: ExitEvent) and every
	// panic the nodes logged and survived, with times measured from origin
	// (the history's time zero), in time order. After Stop it is
	// complete.
	NodeEvents(origin time.Time) []checker.NodeEvent
}

// NodeConfig is the per-node flags a scenario may set.
type NodeConfig = target.Config

// Targeted is a cluster that runs a target.Target (the process backend).
// A cluster that does not is raftkv, spoken to through Client.
type Targeted interface {
	// Target is the store the cluster runs.
	Target() target.Target
	// TargetNode describes a node to its target.
	TargetNode(node string) (target.Node, error)
}

// TargetOf is the store c runs: its target if it is Targeted, else raftkv.
func TargetOf(c Cluster) target.Target {
	if tc, ok := c.(Targeted); ok {
		return tc.Target()
	}
	return raftkv.Target{}
}

// Options configure a backend.
type Options struct {
	Nodes int
	// Dir is the run directory; each node gets Dir/<node>/ (data) and
	// Dir/logs/<node>.log.
	Dir string
	// Target is the store to start (process backend; nil: raftkv).
	Target target.Target
	// Binary is the target's binary (process backend). Empty: build
	// raftkv's (another target must be given its binary).
	Binary string
	// SourceDir is the module root to build ./cmd/raftkv from when Binary
	// is empty.
	SourceDir string
	Node      NodeConfig
	// RequestTimeout bounds the harness's own API calls to nodes.
	RequestTimeout time.Duration
	Logger         *slog.Logger
}

// Factory creates a backend's cluster (not started).
type Factory func(Options) (Cluster, error)

var (
	regMu    sync.Mutex
	registry = map[string]Factory{}
)

// Register makes a backend available by name. It panics on a duplicate,
// which is a programming error.
func Register(name string, f Factory) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[name]; dup {
		panic("cluster: backend registered twice: " + name)
	}
	registry[name] = f
}

// New creates a cluster with the named backend.
func New(name string, o Options) (Cluster, error) {
	regMu.Lock()
	f, ok := registry[name]
	regMu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: %q (have %v)", ErrUnknownBackend, name, Backends())
	}
	if o.Nodes <= 0 {
		o.Nodes = 3
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Target == nil {
		o.Target = raftkv.Target{}
	}
	return f(o)
}

// Backends lists the registered backend names.
func Backends() []string {
	regMu.Lock()
	defer regMu.Unlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// NodeName is the conventional id of the i-th node.
func NodeName(i int) string { return fmt.Sprintf("node%d", i) }

// Leader asks the running nodes who the leader is and returns the id most
// of them agree on ("" when none is known), through the cluster's target
// (Targeted) or raftkv's GET /status.
func Leader(ctx context.Context, c Cluster) string {
	if tc, ok := c.(Targeted); ok {
		var nodes []target.Node
		for _, n := range c.Nodes() {
			if c.State(n) != Running {
				continue
			}
			if tn, err := tc.TargetNode(n); err == nil {
				nodes = append(nodes, tn)
			}
		}
		return tc.Target().Leader(ctx, nodes)
	}
	var sts []nodeapi.Status
	for _, n := range c.Nodes() {
		if c.State(n) != Running {
			continue
		}
		if st, err := c.Client(n).Status(ctx); err == nil {
			sts = append(sts, st)
		}
	}
	return raftkv.StatusLeader(sts)
}

// ready asks one node whether it can serve clients, through the cluster's
// target or raftkv's GET /readyz.
func ready(ctx context.Context, c Cluster, n string) error { return probe(ctx, c, n, true) }

// probe asks one node whether its process answers (ready false: the
// target's Healthy, raftkv's /healthz) or whether it can serve clients
// (ready true: Ready, /readyz).
func probe(ctx context.Context, c Cluster, n string, ready bool) error {
	if tc, ok := c.(Targeted); ok {
		tn, err := tc.TargetNode(n)
		if err != nil {
			return err
		}
		if ready {
			return tc.Target().Ready(ctx, tn)
		}
		return tc.Target().Healthy(ctx, tn)
	}
	if ready {
		return c.Client(n).Ready(ctx)
	}
	return c.Client(n).Healthy(ctx)
}

// WaitHealthy polls until node n's process answers (it need not know a
// leader yet), or ctx ends: a node just restarted listens only once it has
// opened its store.
func WaitHealthy(ctx context.Context, c Cluster, n string) error {
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := probe(pctx, c, n, false)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: %s does not answer: %w (last: %w)", n, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// WaitReady polls until every node that is not down is ready (it knows a
// leader: raftkv's /readyz, or the target's Ready), or the deadline passes.
func WaitReady(ctx context.Context, c Cluster, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		var notReady []string
		for _, n := range c.Nodes() {
			if c.State(n) == Down {
				continue
			}
			rctx, rcancel := context.WithTimeout(ctx, time.Second)
			err := ready(rctx, c, n)
			rcancel()
			if err != nil {
				notReady = append(notReady, n)
			}
		}
		if len(notReady) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: nodes %v not ready after %v: %w", notReady, timeout, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
