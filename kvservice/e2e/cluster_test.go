package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/raftkv/raftkv/kvservice/api"
	"github.com/raftkv/raftkv/kvservice/client"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "raftkv-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	build := exec.Command("go", "build", "-o", dir+string(os.PathSeparator), "github.com/raftkv/raftkv/cmd/raftkv", "github.com/raftkv/raftkv/cmd/raftkvctl")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the binaries:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePorts asks the kernel for n distinct free ports.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// proc is one raftkv process.
type proc struct {
	t        *testing.T
	name     string
	raftPort int
	apiPort  int
	dataDir  string
	logPath  string
	args     []string // everything but --data-dir
	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{}
	exitErr  error
}

func (p *proc) api() string  { return fmt.Sprintf("127.0.0.1:%d", p.apiPort) }
func (p *proc) raft() string { return fmt.Sprintf("127.0.0.1:%d", p.raftPort) }

// start launches the process (again, after a kill, with the same data).
func (p *proc) start() {
	p.t.Helper()
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	fmt.Fprintf(f, "===== start %s\n", time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(filepath.Join(binDir, "raftkv"), append(append([]string{}, p.args...), "--data-dir", p.dataDir)...)
	cmd.Stdout, cmd.Stderr = f, f
	orphanProof(cmd)
	if err := cmd.Start(); err != nil {
		f.Close()
		p.t.Fatal(err)
	}
	exited := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.exited = cmd, exited
	p.mu.Unlock()
	go func() {
		err := cmd.Wait()
		f.Close()
		p.mu.Lock()
		p.exitErr = err
		p.mu.Unlock()
		close(exited)
	}()
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// stop sends SIGTERM and waits up to 10s, then kills.
func (p *proc) stop() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		p.kill()
	}
}

func (p *proc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

func (p *proc) log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

type cluster struct {
	t     *testing.T
	procs []*proc
	peers string
	flags []string
}

// timing for every test cluster: short enough to keep the tests quick,
// long enough not to flap on a loaded 2-core machine.
var timing = []string{"--election-timeout", "600ms", "--heartbeat-interval", "60ms"}

// newCluster starts n nodes named node0.. with extra flags.
func newCluster(t *testing.T, n int, flags ...string) *cluster {
	t.Helper()
	ports := freePorts(t, 2*n)
	c := &cluster{t: t, flags: flags}
	var addrs []string
	for i := range n {
		addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", ports[2*i]))
	}
	c.peers = strings.Join(addrs, ",")
	dir := t.TempDir()
	for i := range n {
		p := c.newProc(dir, fmt.Sprintf("node%d", i), ports[2*i], ports[2*i+1])
		p.args = append(p.args, "--cluster", c.peers)
		c.procs = append(c.procs, p)
	}
	for _, p := range c.procs {
		p.start()
	}
	t.Cleanup(func() {
		for _, p := range c.procs {
			p.kill()
		}
		if t.Failed() {
			for _, p := range c.procs {
				l := p.log()
				if len(l) > 6000 {
					l = l[len(l)-6000:]
				}
				t.Logf("---- log of %s (tail) ----\n%s", p.name, l)
			}
		}
	})
	return c
}

func (c *cluster) newProc(dir, name string, raftPort, apiPort int) *proc {
	p := &proc{t: c.t, name: name, raftPort: raftPort, apiPort: apiPort,
		dataDir: filepath.Join(dir, name), logPath: filepath.Join(dir, name+".log")}
	p.args = append([]string{"--id", name, "--host", "127.0.0.1", "--port", strconv.Itoa(raftPort),
		"--api-port", strconv.Itoa(apiPort), "--log-level", "info"}, timing...)
	p.args = append(p.args, c.flags...)
	return p
}

// addJoiner starts a new node that joins through via.
func (c *cluster) addJoiner(name string, via *proc) *proc {
	ports := freePorts(c.t, 2)
	p := c.newProc(c.t.TempDir(), name, ports[0], ports[1])
	p.args = append(p.args, "--join", "http://"+via.api())
	c.procs = append(c.procs, p)
	p.start()
	return p
}

func (c *cluster) proc(name string) *proc {
	for _, p := range c.procs {
		if p.name == name {
			return p
		}
	}
	c.t.Fatalf("no node %s", name)
	return nil
}

func (c *cluster) client(ps ...*proc) *client.Client {
	if len(ps) == 0 {
		ps = c.procs
	}
	var eps []string
	for _, p := range ps {
		eps = append(eps, p.api())
	}
	cl, err := client.New(eps, 10*time.Second)
	if err != nil {
		c.t.Fatal(err)
	}
	return cl
}

func status(p *proc) (*api.Status, error) {
	cl, _ := client.New([]string{p.api()}, 2*time.Second)
	return cl.Status(context.Background(), "http://"+p.api())
}

// eventually polls cond every 50ms until it returns nil or the deadline
// passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for {
		if err = cond(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %v: %v", what, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitLeader waits until every running node of ps agrees on one leader
// among them, and it is ready; it returns the leader.
func (c *cluster) waitLeader(ps ...*proc) *proc {
	c.t.Helper()
	if len(ps) == 0 {
		ps = c.procs
	}
	var leader *proc
	eventually(c.t, 60*time.Second, "a leader agreed on by "+names(ps), func() error {
		lead := ""
		for _, p := range ps {
			st, err := status(p)
			if err != nil {
				return err
			}
			if st.Leader == "" || (lead != "" && st.Leader != lead) {
				return fmt.Errorf("%s sees leader %q, others %q", p.name, st.Leader, lead)
			}
			lead = st.Leader
		}
		leader = nil
		for _, p := range ps {
			if p.name == lead {
				leader = p
			}
			resp, err := http.Get("http://" + p.api() + "/readyz")
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return fmt.Errorf("%s not ready", p.name)
			}
		}
		if leader == nil {
			return fmt.Errorf("leader %q is not among %s", lead, names(ps))
		}
		return nil
	})
	return leader
}

func names(ps []*proc) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.name)
	}
	return strings.Join(s, ",")
}

// waitConverged waits until the nodes report the same applied index and
// state hash.
func (c *cluster) waitConverged(ps ...*proc) string {
	c.t.Helper()
	if len(ps) == 0 {
		ps = c.procs
	}
	var hash string
	eventually(c.t, 60*time.Second, "replicas converge", func() error {
		var first *api.Status
		for _, p := range ps {
			st, err := status(p)
			if err != nil {
				return err
			}
			if first == nil {
				first = st
				continue
			}
			if st.StateHash != first.StateHash || st.Applied != first.Applied {
				return fmt.Errorf("%s at (%d, %.12s), %s at (%d, %.12s)", ps[0].name, first.Applied, first.StateHash, p.name, st.Applied, st.StateHash)
			}
		}
		hash = first.StateHash
		return nil
	})
	return hash
}

// ctl runs raftkvctl and returns its output and exit code.
func ctl(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "raftkvctl"), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return out.String(), 0
}

func httpDo(t *testing.T, method, url, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m
}
