package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftkv/raftkv/kvservice/api"
	"github.com/raftkv/raftkv/kvservice/client"
)

func strp(s string) *string { return &s }

// mustPut writes k=v, retrying failures (an election on a loaded machine
// is not what these tests are about; rewriting the same value is harmless
// to their checks).
func mustPut(t *testing.T, cl *client.Client, k, v string) {
	t.Helper()
	eventually(t, 60*time.Second, "put "+k, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := cl.Put(ctx, k, v)
		return err
	})
}

// mustGet reads k with mode, retrying errors, and returns the answer.
func mustGet(t *testing.T, cl *client.Client, k string, mode api.ReadMode) *api.CommandResponse {
	t.Helper()
	var r *api.CommandResponse
	eventually(t, 60*time.Second, "get "+k, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var err error
		r, err = cl.Get(ctx, k, mode)
		return err
	})
	return r
}

// TestClusterBasics: writes through any node, reads from any node, the CLI,
// bad input against a running node, leadership transfer and removal.
func TestClusterBasics(t *testing.T) {
	c := newCluster(t, 3)
	c.waitLeader()
	ctx := context.Background()
	for i, p := range c.procs {
		mustPut(t, c.client(p), fmt.Sprint("k", i), fmt.Sprint("v", i))
	}
	for _, p := range c.procs {
		cl := c.client(p)
		for i := range c.procs {
			r := mustGet(t, cl, fmt.Sprint("k", i), "")
			if r.Found == nil || !*r.Found || *r.Value != fmt.Sprint("v", i) {
				t.Fatalf("linearizable read of k%d through %s: %+v", i, p.name, r)
			}
		}
	}
	// Stale reads catch up; replicas agree.
	c.waitConverged()
	for _, p := range c.procs {
		r := mustGet(t, c.client(p), "k2", api.ReadStale)
		if r.Node != p.name || *r.Value != "v2" {
			t.Fatalf("stale read on %s: %+v", p.name, r)
		}
	}

	// The CLI, with a dead endpoint first to exercise failover.
	dead := freePorts(t, 1)[0]
	eps := fmt.Sprintf("127.0.0.1:%d,%s", dead, c.procs[1].api())
	if out, code := ctl(t, "--endpoints", eps, "put", "cli", "hello"); code != 0 || strings.TrimSpace(out) != "OK" {
		t.Fatalf("ctl put: %d %q", code, out)
	}
	if out, code := ctl(t, "--endpoints", eps, "get", "cli"); code != 0 || strings.TrimSpace(out) != "hello" {
		t.Fatalf("ctl get: %d %q", code, out)
	}
	if out, code := ctl(t, "--endpoints", eps, "cas", "cli", "nope", "x"); code != 2 || !strings.Contains(out, `FAILED (current value "hello")`) {
		t.Fatalf("ctl cas: %d %q", code, out)
	}
	if out, code := ctl(t, "--endpoints", eps, "-o", "json", "cas", "cli", "hello", "x"); code != 0 || !strings.Contains(out, `"succeeded": true`) {
		t.Fatalf("ctl cas json: %d %q", code, out)
	}
	if out, code := ctl(t, "--endpoints", eps, "get", "missing"); code != 2 || !strings.Contains(out, "not found") {
		t.Fatalf("ctl get missing: %d %q", code, out)
	}
	all := c.procs[0].api() + "," + c.procs[1].api() + "," + c.procs[2].api()
	if out, code := ctl(t, "--endpoints", all, "status"); code != 0 || strings.Count(out, "node") < 3 || !strings.Contains(out, "leader") {
		t.Fatalf("ctl status: %d %q", code, out)
	}
	if out, code := ctl(t, "--endpoints", all, "members", "list"); code != 0 || strings.Count(out, "true") != 3 {
		t.Fatalf("ctl members: %d %q", code, out)
	}

	// Bad input against a running node is refused before proposing.
	base := "http://" + c.procs[0].api()
	big := strings.Repeat("x", api.MaxValueBytes+1)
	for _, tc := range []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"POST", "/command", `{"operation":`, 400, api.CodeBadRequest},
		{"POST", "/command", `{"operation":"incr","key":"k"}`, 400, api.CodeUnknownOperation},
		{"POST", "/command", `{"operation":"set","key":"","value":"v"}`, 400, api.CodeBadRequest},
		{"POST", "/command", `{"operation":"set","key":"` + strings.Repeat("k", 1025) + `","value":"v"}`, 400, api.CodeKeyTooLarge},
		{"POST", "/command", `{"operation":"set","key":"k","value":"` + big + `"}`, 413, api.CodeValueTooLarge},
		{"POST", "/command", `{"operation":"set","key":"k","value":"` + big + big + `"}`, 413, api.CodeBodyTooLarge},
		{"GET", "/kv/missing", ``, 404, api.CodeKeyNotFound},
		{"PUT", "/fault/network", `{"rules":[]}`, 404, api.CodeNotFound},
	} {
		code, body := httpDo(t, tc.method, base+tc.path, tc.body)
		e, _ := body["error"].(map[string]any)
		if code != tc.status || e["code"] != tc.code || e["definite"] != true {
			t.Fatalf("%s %s %.60s: got %d %v", tc.method, tc.path, tc.body, code, body)
		}
	}
	metrics, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(metrics.Body)
	metrics.Body.Close()
	for _, want := range []string{"raftkv_raft_term ", "raftkv_raft_commit_index ", "raftkv_raft_is_leader ", `raftkv_http_requests_total{code="bad_request",op="command"}`, "raftkv_forwarded_requests_total "} {
		if !strings.Contains(string(mb), want) {
			t.Fatalf("metrics lack %q", want)
		}
	}

	// Exactly-once: a retried request (same client and request ID) through
	// another node returns the first result instead of applying again.
	cas := api.CommandRequest{Operation: "cas", Key: "once", Expected: strp(""), Value: strp("x"), ClientID: "c1", RequestID: 1}
	mustPut(t, c.client(), "once", "")
	command := func(p *proc) *api.CommandResponse {
		var r *api.CommandResponse
		eventually(t, 60*time.Second, "cas once", func() (err error) {
			r, err = c.client(p).Command(ctx, cas)
			return err
		})
		return r
	}
	// Retries inside command are themselves deduplicated.
	r1 := command(c.procs[0])
	if r1.Succeeded == nil || !*r1.Succeeded {
		t.Fatalf("first cas: %+v", r1)
	}
	mustPut(t, c.client(), "once", "")
	r2 := command(c.procs[2])
	if !r2.Duplicate || !*r2.Succeeded || r2.Index != r1.Index {
		t.Fatalf("retried cas: %+v, first %+v", r2, r1)
	}
	if r, _ := c.client().Get(ctx, "once", ""); *r.Value != "" {
		t.Fatalf("the retry was applied again: once=%q", *r.Value)
	}

	// Leadership transfer to a chosen follower.
	leader := c.waitLeader()
	var target *proc
	for _, p := range c.procs {
		if p != leader {
			target = p
			break
		}
	}
	to, err := c.client(c.procs...).TransferLeader(ctx, target.name)
	if err != nil || to != target.name {
		t.Fatalf("transfer to %s: %q %v", target.name, to, err)
	}
	if got := c.waitLeader(); got != target {
		t.Fatalf("leader after transfer is %s, want %s", got.name, target.name)
	}

	// Remove the old leader; the other two keep serving.
	if _, err := c.client(target).RemoveMember(ctx, leader.name); err != nil {
		t.Fatalf("remove %s: %v", leader.name, err)
	}
	var rest []*proc
	for _, p := range c.procs {
		if p != leader {
			rest = append(rest, p)
		}
	}
	eventually(t, time.Minute, "two members", func() error {
		m, err := c.client(rest...).Members(ctx)
		if err != nil {
			return err
		}
		if len(m.Members) != 2 {
			return fmt.Errorf("members %+v", m.Members)
		}
		return nil
	})
	mustPut(t, c.client(rest...), "after-remove", "ok")
	c.waitConverged(rest...)
}

// TestKillLeaderRejoinBySnapshot: kill -9 the leader, the others elect a
// new one and keep serving; the old leader restarts far behind and catches
// up through a snapshot.
func TestKillLeaderRejoinBySnapshot(t *testing.T) {
	c := newCluster(t, 3, "--snapshot-every", "20")
	old := c.waitLeader()
	cl := c.client()
	for i := range 5 {
		mustPut(t, cl, fmt.Sprint("a", i), "1")
	}
	old.kill()
	var rest []*proc
	for _, p := range c.procs {
		if p != old {
			rest = append(rest, p)
		}
	}
	newLeader := c.waitLeader(rest...)
	if newLeader == old {
		t.Fatal("the killed node is still the leader")
	}
	rcl := c.client(rest...)
	for i := range 120 {
		mustPut(t, rcl, fmt.Sprint("b", i), fmt.Sprint(i))
	}
	st, err := status(newLeader)
	if err != nil || st.SnapshotIndex == 0 {
		t.Fatalf("leader took no snapshot: %+v %v", st, err)
	}
	old.start()
	hash := c.waitConverged()
	if !strings.Contains(old.log(), "state restored from a snapshot") {
		t.Fatal("the restarted node caught up without a snapshot")
	}
	// Everything is on the restarted node, read locally.
	ocl := c.client(old)
	for i := range 120 {
		r := mustGet(t, ocl, fmt.Sprint("b", i), api.ReadStale)
		if r.Found == nil || !*r.Found || *r.Value != fmt.Sprint(i) {
			t.Fatalf("b%d on the restarted node: %+v", i, r)
		}
	}
	t.Logf("converged at state hash %.16s", hash)
}

// load writes unique keys through random nodes until stopped and records
// which writes were acknowledged.
type load struct {
	mu    sync.Mutex
	acked map[string]string
	fails atomic.Int64
	stop  chan struct{}
	wg    sync.WaitGroup
}

func startLoad(t *testing.T, c *cluster, workers int, ps ...*proc) *load {
	l := &load{acked: map[string]string{}, stop: make(chan struct{})}
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				p := ps[rng.IntN(len(ps))]
				cl, _ := client.New([]string{p.api()}, 3*time.Second)
				k, v := fmt.Sprintf("w%d-%d", w, i), fmt.Sprintf("v%d-%d", w, i)
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				_, err := cl.Put(ctx, k, v)
				cancel()
				if err != nil {
					l.fails.Add(1)
					time.Sleep(20 * time.Millisecond) // back off while there is no leader
					continue
				}
				l.mu.Lock()
				l.acked[k] = v
				l.mu.Unlock()
			}
		}()
	}
	return l
}

func (l *load) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

func (l *load) halt() map[string]string {
	close(l.stop)
	l.wg.Wait()
	return l.acked
}

// TestCrashAllMidLoad: kill -9 every node while writes are in flight; after
// a restart every acknowledged write is there.
func TestCrashAllMidLoad(t *testing.T) {
	c := newCluster(t, 3)
	c.waitLeader()
	l := startLoad(t, c, 4, c.procs...)
	eventually(t, 30*time.Second, "200 acknowledged writes", func() error {
		if n := l.count(); n < 200 {
			return fmt.Errorf("%d acknowledged", n)
		}
		return nil
	})
	var wg sync.WaitGroup
	for _, p := range c.procs {
		wg.Add(1)
		go func() { defer wg.Done(); p.kill() }()
	}
	wg.Wait()
	acked := l.halt()
	for _, p := range c.procs {
		p.start()
	}
	c.waitLeader()
	cl := c.client()
	for k, v := range acked {
		r := mustGet(t, cl, k, api.ReadLinearizable)
		if r.Found == nil || !*r.Found || *r.Value != v {
			t.Fatalf("acknowledged write %s=%s lost after crash: %+v", k, v, r)
		}
	}
	c.waitConverged()
	t.Logf("%d acknowledged writes survived; %d failed attempts", len(acked), l.fails.Load())
}

// TestJoinUnderLoad: a fourth node joins with --join while writes go on,
// is promoted to voter, converges, and serves reads.
func TestJoinUnderLoad(t *testing.T) {
	c := newCluster(t, 3)
	c.waitLeader()
	orig := append([]*proc(nil), c.procs...)
	l := startLoad(t, c, 2, orig...)
	eventually(t, 30*time.Second, "some writes", func() error {
		if l.count() < 50 {
			return errors.New("not yet")
		}
		return nil
	})
	n3 := c.addJoiner("node3", orig[1])
	eventually(t, 60*time.Second, "node3 is a voter", func() error {
		m, err := c.client(orig...).Members(context.Background())
		if err != nil {
			return err
		}
		for _, mm := range m.Members {
			if mm.ID == "node3" && mm.Voter && mm.APIAddr == n3.api() {
				return nil
			}
		}
		return fmt.Errorf("members %+v", m.Members)
	})
	acked := l.halt()
	c.waitConverged()
	cl := c.client(n3)
	for k, v := range acked {
		if r := mustGet(t, cl, k, api.ReadStale); r.Value == nil || *r.Value != v {
			t.Fatalf("%s on node3: %+v", k, r)
		}
	}
	// Writes through the new node work (it forwards to the leader).
	mustPut(t, cl, "via-node3", "ok")
	// Restarting the joined node (no --cluster) recovers from its data dir.
	n3.stop()
	n3.start()
	c.waitLeader()
	c.waitConverged()
}

// startExpectFailure runs a node that must refuse to start and returns its
// log.
func startExpectFailure(t *testing.T, p *proc) string {
	t.Helper()
	p.start()
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		p.kill()
		t.Fatalf("%s did not refuse to start", p.name)
	}
	if p.exitErr == nil {
		t.Fatalf("%s exited with status 0", p.name)
	}
	return p.log()
}

// TestRefusesForeignOrCorruptData: a data directory from another cluster
// and a corrupt log are refused with a clear message.
func TestRefusesForeignOrCorruptData(t *testing.T) {
	c := newCluster(t, 1)
	p := c.procs[0]
	c.waitLeader()
	mustPut(t, c.client(), "k", "v")
	p.stop()

	// Same node name, another cluster (different member list).
	other := c.newProc(t.TempDir(), "node0", p.raftPort, p.apiPort)
	other.dataDir = p.dataDir
	other.args = append(other.args, "--cluster", p.raft()+",127.0.0.1:1")
	if log := startExpectFailure(t, other); !strings.Contains(log, "belongs to another cluster") {
		t.Fatalf("no clear refusal:\n%s", log)
	}
	// The right cluster still starts.
	p.start()
	c.waitLeader()
	p.stop()

	// A truncated log.
	db := filepath.Join(p.dataDir, "raft.db")
	if err := os.Truncate(db, 8192); err != nil {
		t.Fatal(err)
	}
	corrupt := c.newProc(t.TempDir(), "node0", p.raftPort, p.apiPort)
	corrupt.dataDir = p.dataDir
	corrupt.args = append(corrupt.args, "--cluster", c.peers)
	if log := startExpectFailure(t, corrupt); !strings.Contains(log, "corrupt") {
		t.Fatalf("no clear refusal of a corrupt log:\n%s", log)
	}

	// The log gone, the identity left: a lost log, not a new node. The
	// process exits non-zero with the recovery, and creates no raft.db.
	if err := os.Remove(db); err != nil {
		t.Fatal(err)
	}
	lost := c.newProc(t.TempDir(), "node0", p.raftPort, p.apiPort)
	lost.dataDir = p.dataDir
	lost.args = append(lost.args, "--cluster", c.peers)
	log := startExpectFailure(t, lost)
	for _, want := range []string{"raft.db does not exist", "raftkvctl members remove node0"} {
		if !strings.Contains(log, want) {
			t.Fatalf("refusal of a lost log does not say %q:\n%s", want, log)
		}
	}
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Fatalf("a refused start created %s (%v)", db, err)
	}
}
