package raftkv

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/raftkv/raftkv/harness/nodeapi"
	"github.com/raftkv/raftkv/harness/target"
)

// Name is the target's registry name.
const Name = "raftkv"

func init() { target.Register(Target{}) }

// Target is raftkv as a target.Target.
type Target struct{}

var (
	_ target.Target       = Target{}
	_ target.DialerSender = Target{}
)

// Name returns "raftkv".
func (Target) Name() string { return Name }

// Caps lists every capability: raftkv was built with the harness.
func (Target) Caps() []string {
	return []string{target.CapNodeNetwork, target.CapClock, target.CapFailpoint, target.CapMembership,
		target.CapLeaderTransfer, target.CapStateHash, target.CapCommittedLog, target.CapSessions, target.CapSecure}
}

// DialerSends is true: a raftkv node sends raft messages on the
// connections its transport opens, and forwards API requests on
// connections it opens to the leader; what comes back is their answers.
func (Target) DialerSends() bool { return true }

// ReadModes are raftkv's --read-mode values (docs/api.md): linearizable
// (ReadIndex), lease (correct only under a clock bound) and stale (local).
func (Target) ReadModes() []string { return []string{"linearizable", "lease", "stale"} }

// Args is a raftkv node's command line, fault injection on. With
// cfg.Security the node is secured as scripts/cluster.sh TLS=1 does it:
// its certificate on both ports, the run's CA for its peers (and for the
// APIs it calls), the token file, and the admin token as its own
// (--node-token-file) for its calls to other members.
func (Target) Args(n target.Node, all []target.Node, cfg target.Config) []string {
	var peers []string
	for _, p := range all {
		peers = append(peers, p.PeerAddr)
	}
	host, port, _ := net.SplitHostPort(n.PeerAddr)
	_, apiPort, _ := net.SplitHostPort(n.ClientAddr)
	a := []string{
		"--id", n.ID, "--host", host, "--port", port,
		"--cluster", strings.Join(peers, ","),
		"--api-port", apiPort,
		"--data-dir", n.DataDir,
		"--unsafe-enable-fault-injection",
	}
	if cfg.ElectionTimeout > 0 {
		a = append(a, "--election-timeout", cfg.ElectionTimeout.String())
	}
	if cfg.HeartbeatInterval > 0 {
		a = append(a, "--heartbeat-interval", cfg.HeartbeatInterval.String())
	}
	if cfg.ReadMode != "" {
		a = append(a, "--read-mode", cfg.ReadMode)
	}
	if cfg.SnapshotEvery > 0 {
		a = append(a, "--snapshot-every", strconv.FormatUint(cfg.SnapshotEvery, 10))
	}
	if n.JoinVia != "" {
		a = append(a, "--join", n.JoinVia)
	}
	if s := cfg.Security; s != nil {
		a = append(a,
			"--peer-cert", s.CertFile(n.ID), "--peer-key", s.KeyFile(n.ID), "--peer-ca", s.CAFile(),
			"--cert", s.CertFile(n.ID), "--key", s.KeyFile(n.ID),
			"--token-file", s.TokenFile(), "--node-token-file", s.NodeTokenFile())
	}
	return append(a, cfg.Extra...)
}

// probe is a short-lived API client for one probe (with the read token of
// a secured cluster, for /status): a probe must not hold a connection to a
// node that may be paused next.
func probe(n target.Node) *nodeapi.Client {
	return n.Security.API(n.ID, n.ClientAddr, time.Second, target.RoleRead)
}

// Healthy asks GET /healthz.
func (Target) Healthy(ctx context.Context, n target.Node) error {
	c := probe(n)
	defer c.CloseIdle()
	return c.Healthy(ctx)
}

// Ready asks GET /readyz (the node knows a leader).
func (Target) Ready(ctx context.Context, n target.Node) error {
	c := probe(n)
	defer c.CloseIdle()
	return c.Ready(ctx)
}

// Leader asks each node's GET /status and returns the leader most of them
// name (StatusLeader).
func (Target) Leader(ctx context.Context, nodes []target.Node) string {
	var sts []nodeapi.Status
	for _, n := range nodes {
		c := probe(n)
		st, err := c.Status(ctx)
		c.CloseIdle()
		if err == nil {
			sts = append(sts, st)
		}
	}
	return StatusLeader(sts)
}

// StatusLeader returns the leader most of the statuses agree on ("" when
// none names one); ties go to the highest term, then the smallest id.
func StatusLeader(sts []nodeapi.Status) string {
	reports := make([]target.LeaderReport[string], len(sts))
	for i, st := range sts {
		reports[i] = target.LeaderReport[string]{Leader: st.Leader, Term: st.Term}
	}
	l, _ := target.LeaderByVotes(reports, func(a, b string) bool { return a < b })
	return l
}

// Dial returns a client for the node's POST /command (with the write
// token of a secured cluster). Each client has its own connections, so
// that a hung node cannot block other clients'.
func (Target) Dial(n target.Node, timeout time.Duration) (target.Client, error) {
	return &Client{api: n.Security.API(n.ID, n.ClientAddr, timeout, target.RoleWrite)}, nil
}

// Client is a target.Client over one node's API.
type Client struct{ api *nodeapi.Client }

// Do sends cmd as is (raftkv's API is the workload's vocabulary).
func (c *Client) Do(ctx context.Context, cmd nodeapi.Command) target.Answer {
	return AnswerOf(c.api.Do(ctx, cmd))
}

// Reset closes the idle connections.
func (c *Client) Reset() { c.api.CloseIdle() }

// Close closes the idle connections.
func (c *Client) Close() error { c.api.CloseIdle(); return nil }

// AnswerOf classifies what nodeapi.Client.Do returned: an API error says
// itself whether it is definite (nodeapi.IsDefinite); a dial that failed
// sent nothing (definite, refused); anything else may have been applied.
func AnswerOf(res nodeapi.Result, err error) target.Answer {
	a := target.Answer{Result: res, Err: err, Definite: nodeapi.IsDefinite(err)}
	var apiErr *nodeapi.Error
	a.Refused = err != nil && a.Definite && !errors.As(err, &apiErr)
	return a
}
