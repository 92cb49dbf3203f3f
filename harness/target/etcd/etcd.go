package etcd

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"

	"github.com/raftkv/raftkv/harness/nodeapi"
	"github.com/raftkv/raftkv/harness/target"
)

// Name is the target's registry name.
const Name = "etcd"

// Version is the etcd server version the Makefile builds (tools/etcd pins
// it) and the client version go.mod requires.
const Version = "v3.7.3"

// Read modes: linearizable (etcd's default Range) and serializable (a
// local read; unsafe: it may be stale).
const (
	ReadLinearizable = "linearizable"
	ReadSerializable = "serializable"
)

// ErrRefused is a command the client did not send because its connection
// to the node is down (the node refused the last attempt to connect).
var ErrRefused = errors.New("etcd: not sent: connection to the node is down")

func init() { target.Register(Target{}) }

// Target is etcd as a target.Target.
type Target struct{}

var (
	_ target.Target  = Target{}
	_ target.Locator = Target{}
)

// Name returns "etcd".
func (Target) Name() string { return Name }

// Caps is empty: etcd takes the process faults, and the faults a backend
// makes itself (see the package doc).
func (Target) Caps() []string { return nil }

// ReadModes are linearizable (the default) and serializable (unsafe).
func (Target) ReadModes() []string { return []string{ReadLinearizable, ReadSerializable} }

// Binary is where `make etcd` puts the server: bin/etcd/<Version>/etcd.
func (Target) Binary(root string) (string, string) {
	return filepath.Join(root, "bin", "etcd", Version, "etcd"), "run make etcd"
}

func url(addr string) string { return "http://" + addr }

// Args is an etcd member's command line for a static cluster of all. A
// member restarted on its data directory ignores the initial-cluster flags.
func (Target) Args(n target.Node, all []target.Node, cfg target.Config) []string {
	var initial []string
	for _, p := range all {
		initial = append(initial, p.ID+"="+url(p.PeerAddr))
	}
	a := []string{
		"--name", n.ID,
		"--data-dir", n.DataDir,
		"--listen-peer-urls", url(n.PeerAddr),
		"--initial-advertise-peer-urls", url(n.PeerAddr),
		"--listen-client-urls", url(n.ClientAddr),
		"--advertise-client-urls", url(n.ClientAddr),
		"--initial-cluster", strings.Join(initial, ","),
		"--initial-cluster-state", "new",
		"--initial-cluster-token", "raftkv-harness",
	}
	if cfg.HeartbeatInterval > 0 {
		a = append(a, "--heartbeat-interval", strconv.FormatInt(cfg.HeartbeatInterval.Milliseconds(), 10))
	}
	if cfg.ElectionTimeout > 0 {
		a = append(a, "--election-timeout", strconv.FormatInt(cfg.ElectionTimeout.Milliseconds(), 10))
	}
	if cfg.SnapshotEvery > 0 {
		a = append(a, "--snapshot-count", strconv.FormatUint(cfg.SnapshotEvery, 10))
	}
	return append(a, cfg.Extra...)
}

// newClient is an etcd client for one endpoint only (no balancing to
// other members: the harness chooses the node), with one attempt per call
// (clientv3 retries calls it deems safe; the workload's retries are its
// own) and a short reconnect backoff, so that a restarted node is found
// again within the hold of a fault.
func newClient(addr string, timeout time.Duration) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints:       []string{url(addr)},
		DialTimeout:     timeout,
		Logger:          zap.NewNop(),
		MaxUnaryRetries: 1,
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 500 * time.Millisecond},
			MinConnectTimeout: timeout,
		})},
	})
}

// memberStatus asks one member for its maintenance status.
func memberStatus(ctx context.Context, n target.Node) (*clientv3.StatusResponse, error) {
	cli, err := newClient(n.ClientAddr, time.Second)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	return cli.Status(ctx, url(n.ClientAddr))
}

// Healthy asks the member's Status.
func (Target) Healthy(ctx context.Context, n target.Node) error {
	_, err := memberStatus(ctx, n)
	return err
}

// Ready asks the member's Status and requires a known leader.
func (Target) Ready(ctx context.Context, n target.Node) error {
	st, err := memberStatus(ctx, n)
	if err != nil {
		return err
	}
	if st.Leader == 0 {
		return fmt.Errorf("etcd: %s knows no leader", n.ID)
	}
	return nil
}

// Leader asks each node's Status for the leader's member id, takes the one
// most name (ties: the highest raft term), and maps it to a node name
// through the member list.
func (Target) Leader(ctx context.Context, nodes []target.Node) string {
	var reports []target.LeaderReport[uint64]
	names := map[uint64]string{}
	for _, n := range nodes {
		cli, err := newClient(n.ClientAddr, time.Second)
		if err != nil {
			continue
		}
		st, err := cli.Status(ctx, url(n.ClientAddr))
		if err == nil && len(names) == 0 {
			if ml, err := cli.MemberList(ctx); err == nil {
				for _, m := range ml.Members {
					names[m.ID] = m.Name
				}
			}
		}
		cli.Close()
		if err != nil {
			continue
		}
		reports = append(reports, target.LeaderReport[uint64]{Leader: st.Leader, Term: st.RaftTerm})
	}
	best, _ := target.LeaderByVotes(reports, func(a, b uint64) bool { return a < b })
	return names[best]
}

// Dial returns a client for the node; it connects on first use.
func (Target) Dial(n target.Node, timeout time.Duration) (target.Client, error) {
	return &Client{addr: n.ClientAddr, timeout: timeout}, nil
}

// Client is a target.Client over etcd's Go client, for one member.
type Client struct {
	addr    string
	timeout time.Duration

	mu  sync.Mutex
	cli *clientv3.Client
}

func (c *Client) conn() (*clientv3.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cli == nil {
		cli, err := newClient(c.addr, c.timeout)
		if err != nil {
			return nil, err
		}
		c.cli = cli
	}
	return c.cli, nil
}

// Do maps cmd onto etcd (OpOf), sends it with the client's timeout and
// classifies the outcome (ResultOf, Classify).
func (c *Client) Do(ctx context.Context, cmd nodeapi.Command) target.Answer {
	op, err := OpOf(cmd)
	if err != nil {
		return target.Answer{Err: err, Definite: true}
	}
	cli, err := c.conn()
	if err != nil {
		return target.Answer{Err: fmt.Errorf("%w: %v", ErrRefused, err), Definite: true, Refused: true}
	}
	if cc := cli.ActiveConnection(); cc != nil && cc.GetState() == connectivity.TransientFailure {
		// The last attempt to connect failed: sending would only wait for
		// the timeout. Nothing is sent, so the outcome is definite.
		cc.Connect()
		return target.Answer{Err: ErrRefused, Definite: true, Refused: true}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := cli.Do(ctx, op)
	if err != nil {
		return target.Answer{Err: err, Definite: Classify(cmd.Operation, err)}
	}
	res, err := ResultOf(cmd, resp)
	return target.Answer{Result: res, Err: err}
}

// Reset closes the connection; the next Do dials again.
func (c *Client) Reset() {
	c.mu.Lock()
	cli := c.cli
	c.cli = nil
	c.mu.Unlock()
	if cli != nil {
		_ = cli.Close()
	}
}

// Close closes the connection.
func (c *Client) Close() error { c.Reset(); return nil }

// ErrCommand is a command the mapping does not know (a harness bug).
var ErrCommand = errors.New("etcd: bad command")

// OpOf maps a workload command onto one etcd operation.
func OpOf(cmd nodeapi.Command) (clientv3.Op, error) {
	switch cmd.Operation {
	case "get":
		switch cmd.ReadMode {
		case "", ReadLinearizable:
			return clientv3.OpGet(cmd.Key), nil
		case ReadSerializable:
			return clientv3.OpGet(cmd.Key, clientv3.WithSerializable()), nil
		}
		return clientv3.Op{}, fmt.Errorf("%w: read mode %q (etcd has %s, %s)", ErrCommand, cmd.ReadMode, ReadLinearizable, ReadSerializable)
	case "set":
		if cmd.Value == nil {
			return clientv3.Op{}, fmt.Errorf("%w: set without a value", ErrCommand)
		}
		return clientv3.OpPut(cmd.Key, *cmd.Value), nil
	case "delete":
		return clientv3.OpDelete(cmd.Key), nil
	case "cas":
		if cmd.Value == nil || cmd.Expected == nil {
			return clientv3.Op{}, fmt.Errorf("%w: cas without value or expected", ErrCommand)
		}
		return clientv3.OpTxn(
			[]clientv3.Cmp{clientv3.Compare(clientv3.Value(cmd.Key), "=", *cmd.Expected)},
			[]clientv3.Op{clientv3.OpPut(cmd.Key, *cmd.Value)},
			[]clientv3.Op{clientv3.OpGet(cmd.Key)}), nil
	}
	return clientv3.Op{}, fmt.Errorf("%w: operation %q", ErrCommand, cmd.Operation)
}

// ResultOf reads etcd's answer to cmd in the workload's terms.
func ResultOf(cmd nodeapi.Command, resp clientv3.OpResponse) (nodeapi.Result, error) {
	res := nodeapi.Result{OK: true, Operation: cmd.Operation, Key: cmd.Key}
	found := func(b bool) *bool { return &b }
	switch cmd.Operation {
	case "get":
		g := resp.Get()
		if g == nil {
			return res, fmt.Errorf("%w: get answered without a range response", ErrCommand)
		}
		res.Found = found(len(g.Kvs) > 0)
		if len(g.Kvs) > 0 {
			v := string(g.Kvs[0].Value)
			res.Value = &v
		}
	case "set":
		if resp.Put() == nil {
			return res, fmt.Errorf("%w: put answered without a put response", ErrCommand)
		}
	case "delete":
		d := resp.Del()
		if d == nil {
			return res, fmt.Errorf("%w: delete answered without a delete response", ErrCommand)
		}
		res.Found = found(d.Deleted > 0)
	case "cas":
		t := resp.Txn()
		if t == nil {
			return res, fmt.Errorf("%w: cas answered without a txn response", ErrCommand)
		}
		res.Succeeded = found(t.Succeeded)
		if !t.Succeeded && len(t.Responses) == 1 {
			if r := t.Responses[0].GetResponseRange(); r != nil {
				res.Found = found(len(r.Kvs) > 0)
				if len(r.Kvs) > 0 {
					v := string(r.Kvs[0].Value)
					res.Value = &v
				}
			}
		}
	}
	return res, nil
}

// Classify reports whether err certainly means that op (a workload
// operation) was not applied. A get changes nothing, so any failed get is
// definite. A write is definite only when etcd rejected it before
// proposing it: the gRPC codes etcd uses for invalid, oversized,
// over-quota, throttled or unauthorized requests (rpctypes: request too
// large, too many requests, no space, empty key, permission denied…).
// Deadlines, cancellations, lost connections and etcd's own "request
// timed out", "leader changed", "no leader" and "server stopped" may come
// after the proposal and are not definite.
func Classify(op string, err error) bool {
	if err == nil {
		return false
	}
	if op == "get" {
		return true
	}
	if errors.Is(err, ErrRefused) {
		return true
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return false
	}
	st, ok := status.FromError(err)
	if !ok {
		// clientv3 turns a few gRPC errors into rpctypes.EtcdError.
		var ee rpctypes.EtcdError
		if !errors.As(err, &ee) {
			return false
		}
		st = status.New(ee.Code(), ee.Error())
	}
	switch st.Code() {
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange, codes.ResourceExhausted,
		codes.PermissionDenied, codes.Unauthenticated:
		return true
	case codes.Unavailable:
		// A connection that was never made sent nothing.
		return isDialFailure(st.Message())
	}
	return false
}

// isDialFailure reports whether a gRPC Unavailable message says the
// connection could not be made (so the request never left).
func isDialFailure(msg string) bool {
	return strings.Contains(msg, "connect: connection refused") && strings.Contains(msg, "Error while dialing")
}
