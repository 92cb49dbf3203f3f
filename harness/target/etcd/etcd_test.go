package etcd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftkv/raftkv/harness/nodeapi"
	"github.com/raftkv/raftkv/harness/target"
)

func str(s string) *string { return &s }

// TestOpOf pins the mapping of each workload command onto etcd's API:
// reads are linearizable unless serializable is asked for, and a cas is
// one transaction comparing the value and reading the key otherwise.
func TestOpOf(t *testing.T) {
	op, err := OpOf(nodeapi.Command{Operation: "get", Key: "k1", ReadMode: ReadLinearizable})
	if err != nil || !op.IsGet() || op.IsSerializable() || string(op.KeyBytes()) != "k1" {
		t.Fatalf("linearizable get: %+v, %v", op, err)
	}
	op, err = OpOf(nodeapi.Command{Operation: "get", Key: "k1"})
	if err != nil || op.IsSerializable() {
		t.Fatalf("get without a mode must be linearizable: %v", err)
	}
	op, err = OpOf(nodeapi.Command{Operation: "get", Key: "k1", ReadMode: ReadSerializable})
	if err != nil || !op.IsGet() || !op.IsSerializable() {
		t.Fatalf("serializable get: %+v, %v", op, err)
	}
	if _, err := OpOf(nodeapi.Command{Operation: "get", Key: "k1", ReadMode: "lease"}); !errors.Is(err, ErrCommand) {
		t.Fatalf("raftkv's lease mode on etcd: %v, want ErrCommand", err)
	}
	op, err = OpOf(nodeapi.Command{Operation: "set", Key: "k2", Value: str("")})
	if err != nil || !op.IsPut() || string(op.KeyBytes()) != "k2" || len(op.ValueBytes()) != 0 {
		t.Fatalf("put of the empty value: %+v, %v", op, err)
	}
	op, err = OpOf(nodeapi.Command{Operation: "delete", Key: "k3"})
	if err != nil || !op.IsDelete() || string(op.KeyBytes()) != "k3" {
		t.Fatalf("delete: %+v, %v", op, err)
	}
	op, err = OpOf(nodeapi.Command{Operation: "cas", Key: "k4", Expected: str("old"), Value: str("new")})
	if err != nil || !op.IsTxn() {
		t.Fatalf("cas: %+v, %v", op, err)
	}
	cmps, then, els := op.Txn()
	if len(cmps) != 1 || string(cmps[0].KeyBytes()) != "k4" || cmps[0].GetCompare().Target != pb.Compare_VALUE ||
		cmps[0].GetCompare().Result != pb.Compare_EQUAL || string(cmps[0].ValueBytes()) != "old" {
		t.Fatalf("cas compare: %+v", cmps)
	}
	if len(then) != 1 || !then[0].IsPut() || string(then[0].ValueBytes()) != "new" {
		t.Fatalf("cas then: %+v", then)
	}
	if len(els) != 1 || !els[0].IsGet() || string(els[0].KeyBytes()) != "k4" {
		t.Fatalf("cas else: %+v", els)
	}
	for _, bad := range []nodeapi.Command{{Operation: "set", Key: "k"}, {Operation: "cas", Key: "k", Value: str("v")}, {Operation: "append", Key: "k"}} {
		if _, err := OpOf(bad); !errors.Is(err, ErrCommand) {
			t.Errorf("%+v: %v, want ErrCommand", bad, err)
		}
	}
}

// TestResultOf pins how etcd's answers read in the workload's terms.
func TestResultOf(t *testing.T) {
	kv := func(v string) []*mvccpb.KeyValue { return []*mvccpb.KeyValue{{Key: []byte("k"), Value: []byte(v)}} }
	get := func(kvs []*mvccpb.KeyValue) clientv3.OpResponse {
		return (&clientv3.GetResponse{Kvs: kvs}).OpResponse()
	}
	res, err := ResultOf(nodeapi.Command{Operation: "get", Key: "k"}, get(kv("")))
	if err != nil || res.Found == nil || !*res.Found || res.Value == nil || *res.Value != "" {
		t.Fatalf("get of a key holding \"\": %+v, %v", res, err)
	}
	res, _ = ResultOf(nodeapi.Command{Operation: "get", Key: "k"}, get(nil))
	if res.Found == nil || *res.Found || res.Value != nil {
		t.Fatalf("get of a missing key: %+v", res)
	}
	res, _ = ResultOf(nodeapi.Command{Operation: "delete", Key: "k"}, (&clientv3.DeleteResponse{Deleted: 1}).OpResponse())
	if res.Found == nil || !*res.Found {
		t.Fatalf("delete of a present key: %+v", res)
	}
	res, _ = ResultOf(nodeapi.Command{Operation: "delete", Key: "k"}, (&clientv3.DeleteResponse{}).OpResponse())
	if res.Found == nil || *res.Found {
		t.Fatalf("delete of a missing key: %+v", res)
	}
	cas := nodeapi.Command{Operation: "cas", Key: "k", Expected: str("a"), Value: str("b")}
	res, _ = ResultOf(cas, (&clientv3.TxnResponse{Succeeded: true}).OpResponse())
	if res.Succeeded == nil || !*res.Succeeded {
		t.Fatalf("cas that matched: %+v", res)
	}
	miss := &clientv3.TxnResponse{Succeeded: false, Responses: []*pb.ResponseOp{{Response: &pb.ResponseOp_ResponseRange{
		ResponseRange: &pb.RangeResponse{Kvs: kv("c")}}}}}
	res, _ = ResultOf(cas, miss.OpResponse())
	if res.Succeeded == nil || *res.Succeeded || res.Found == nil || !*res.Found || *res.Value != "c" {
		t.Fatalf("cas that did not match must say what the key held: %+v", res)
	}
	if _, err := ResultOf(cas, get(nil)); !errors.Is(err, ErrCommand) {
		t.Fatalf("a cas answered by a range response: %v, want ErrCommand", err)
	}
}

// TestClassify pins the classification by etcd's documented errors: only
// what etcd rejects before proposing, or what was never sent, is a
// definite failure of a write; a failed read is always definite.
func TestClassify(t *testing.T) {
	for _, c := range []struct {
		op   string
		err  error
		want bool
	}{
		{"set", rpctypes.ErrGRPCRequestTooLarge, true},
		{"set", rpctypes.ErrRequestTooLarge, true},
		{"set", rpctypes.ErrGRPCRequestTooManyRequests, true},
		{"set", rpctypes.ErrGRPCNoSpace, true},
		{"cas", rpctypes.ErrGRPCEmptyKey, true},
		{"set", rpctypes.ErrGRPCPermissionDenied, true},
		{"set", ErrRefused, true},
		{"set", status.Error(codes.Unavailable, `connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:1: connect: connection refused"`), true},
		{"set", context.DeadlineExceeded, false},
		{"set", fmt.Errorf("wrapped: %w", context.DeadlineExceeded), false},
		{"set", status.Error(codes.DeadlineExceeded, "context deadline exceeded"), false},
		{"cas", rpctypes.ErrGRPCTimeout, false},
		{"cas", rpctypes.ErrTimeout, false},
		{"set", rpctypes.ErrGRPCTimeoutDueToLeaderFail, false},
		{"set", rpctypes.ErrGRPCTimeoutDueToConnectionLost, false},
		{"delete", rpctypes.ErrGRPCLeaderChanged, false},
		{"delete", rpctypes.ErrGRPCNoLeader, false},
		{"set", rpctypes.ErrGRPCStopped, false},
		{"set", status.Error(codes.Unavailable, "error reading from server: EOF"), false},
		{"set", errors.New("something else"), false},
		{"get", context.DeadlineExceeded, true},
		{"get", rpctypes.ErrGRPCLeaderChanged, true},
		{"set", nil, false},
	} {
		if got := Classify(c.op, c.err); got != c.want {
			t.Errorf("Classify(%s, %v) = %v, want %v", c.op, c.err, got, c.want)
		}
	}
}

// TestArgs checks a member's command line: a static cluster naming every
// member, and the scenario's timings in etcd's milliseconds.
func TestArgs(t *testing.T) {
	all := []target.Node{
		{ID: "node0", PeerAddr: "127.0.0.1:1", ClientAddr: "127.0.0.1:2", DataDir: "/d0"},
		{ID: "node1", PeerAddr: "127.0.0.1:3", ClientAddr: "127.0.0.1:4", DataDir: "/d1"},
	}
	args := Target{}.Args(all[1], all, target.Config{ElectionTimeout: time.Second, HeartbeatInterval: 100 * time.Millisecond, SnapshotEvery: 500, Extra: []string{"--log-level", "warn"}})
	line := strings.Join(args, " ")
	for _, want := range []string{"--name node1", "--data-dir /d1", "--listen-client-urls http://127.0.0.1:4",
		"--initial-cluster node0=http://127.0.0.1:1,node1=http://127.0.0.1:3", "--election-timeout 1000",
		"--heartbeat-interval 100", "--snapshot-count 500", "--log-level warn"} {
		if !strings.Contains(line, want) {
			t.Errorf("args lack %q: %s", want, line)
		}
	}
	if slices.Contains(Target{}.Caps(), target.CapSessions) {
		t.Error("etcd has no sessions")
	}
}

// TestDoRefusedIsDefinite sends a write to a port nothing listens on: the
// client must not report it as maybe applied forever, and a refused
// connection must move the workload's client on.
func TestDoRefusedIsDefinite(t *testing.T) {
	c, _ := Target{}.Dial(target.Node{ID: "node0", ClientAddr: "127.0.0.1:1"}, 500*time.Millisecond)
	defer c.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		a := c.Do(context.Background(), nodeapi.Command{Operation: "set", Key: "k", Value: str("v")})
		if a.Err == nil {
			t.Fatal("a write to a closed port succeeded")
		}
		if a.Definite && a.Refused {
			return
		}
		// The first attempt may be the one that finds the port closed
		// (it waits for the connection and runs out: info).
		if time.Now().After(deadline) {
			t.Fatalf("never definite: %v", a.Err)
		}
	}
}

// TestVersionsAgree: the server make etcd builds (tools/etcd/go.mod), the
// client raftkv's go.mod requires, the Makefile's ETCD_VERSION and
// Version are one etcd version.
func TestVersionsAgree(t *testing.T) {
	for file, want := range map[string]string{
		"../../../tools/etcd/go.mod": "go.etcd.io/etcd/server/v3 " + Version,
		"../../../go.mod":            "go.etcd.io/etcd/client/v3 " + Version,
		"../../../Makefile":          "ETCD_VERSION := " + Version,
	} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), want) {
			t.Errorf("%s does not say %q", file, want)
		}
	}
}
