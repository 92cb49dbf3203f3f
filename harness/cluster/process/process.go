package process

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/raftkv/raftkv/checker"
	"github.com/raftkv/raftkv/harness/cluster"
	"github.com/raftkv/raftkv/harness/nodeapi"
	"github.com/raftkv/raftkv/harness/target"
)

// Name is the backend's registry name.
const Name = "process"

// restartDelay is how long the supervisor waits before restarting a node
// that exited on its own, so that a crash loop cannot spin the CPU.
const restartDelay = 300 * time.Millisecond

func init() {
	cluster.Register(Name, func(o cluster.Options) (cluster.Cluster, error) { return New(o) })
}

// ErrBuild reports that the raftkv binary could not be built.
var ErrBuild = errors.New("process: build raftkv")

// Build compiles ./cmd/raftkv of the module at srcDir into out.
func Build(ctx context.Context, srcDir, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/raftkv")
	cmd.Dir = srcDir
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%w: %v: %s", ErrBuild, err, strings.TrimSpace(string(b)))
	}
	return nil
}

type node struct {
	id       string
	raftAddr string
	apiAddr  string
	dataDir  string
	logPath  string
	client   *nodeapi.Client
	sec      *target.Security // nil: a plain node

	// Guarded by Cluster.mu.
	cmd      *exec.Cmd
	state    cluster.State
	expected bool          // the harness asked the process to exit
	exited   chan struct{} // closed when the current process has exited
	joinVia  string        // the --join URL of the last Join, reused by restarts
	restarts int
}

// Cluster is a set of processes of one target (raftkv by default). It
// implements cluster.Cluster and cluster.Targeted.
type Cluster struct {
	opts  cluster.Options
	log   *slog.Logger
	nodes []*node
	byID  map[string]*node

	mu      sync.Mutex
	stopped bool
	wg      sync.WaitGroup
	exits   []exitRecord // every process exit, in order; guarded by mu
}

// exitRecord is one end of a node process, as its supervisor saw it.
type exitRecord struct {
	node      *node
	at        time.Time
	status    string // "exit status 2", "signal: killed"
	code      int    // -1: ended by a signal
	requested bool   // the harness asked the process to exit
	// from and to delimit what the process wrote to the log file.
	from, to int64
}

var (
	_ cluster.Cluster        = (*Cluster)(nil)
	_ cluster.LogReader      = (*Cluster)(nil)
	_ cluster.HealthReporter = (*Cluster)(nil)
	_ cluster.Targeted       = (*Cluster)(nil)
)

// New allocates ports and directories for o.Nodes nodes. The binary must
// exist (see Build).
func New(o cluster.Options) (*Cluster, error) {
	if o.Target == nil {
		return nil, fmt.Errorf("process: no target (cluster.New sets raftkv)")
	}
	if o.Binary == "" && o.Target.Name() != "raftkv" {
		return nil, fmt.Errorf("%w: target %s needs its binary", ErrBuild, o.Target.Name())
	}
	if o.Binary == "" {
		if o.SourceDir == "" {
			return nil, fmt.Errorf("%w: neither a binary nor a source dir given", ErrBuild)
		}
		o.Binary = filepath.Join(o.Dir, "raftkv")
		if err := Build(context.Background(), o.SourceDir, o.Binary); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(o.Binary); err != nil {
		return nil, fmt.Errorf("process: binary: %w", err)
	}
	if abs, err := filepath.Abs(o.Binary); err == nil {
		o.Binary = abs // a bare "raftkv" would otherwise be looked up in $PATH
	}
	sec := o.Node.Security
	if sec != nil && !target.Has(o.Target, target.CapSecure) {
		return nil, fmt.Errorf("process: target %s cannot run secured (no %s capability)", o.Target.Name(), target.CapSecure)
	}
	c := &Cluster{opts: o, log: o.Logger, byID: map[string]*node{}}
	if err := os.MkdirAll(filepath.Join(o.Dir, "logs"), 0o755); err != nil {
		return nil, fmt.Errorf("process: %w", err)
	}
	ports, err := freePorts(2 * o.Nodes)
	if err != nil {
		return nil, err
	}
	for i := range o.Nodes {
		id := cluster.NodeName(i)
		n := &node{
			id:       id,
			raftAddr: "127.0.0.1:" + strconv.Itoa(ports[2*i]),
			apiAddr:  "127.0.0.1:" + strconv.Itoa(ports[2*i+1]),
			dataDir:  filepath.Join(o.Dir, "data", id),
			logPath:  filepath.Join(o.Dir, "logs", id+".log"),
			state:    cluster.Down,
			sec:      sec,
		}
		if sec != nil {
			// Every node listens on 127.0.0.1, which the certificate
			// names by default.
			if err := sec.Issue(id); err != nil {
				return nil, fmt.Errorf("process: %w", err)
			}
		}
		// The harness's own client: the fault API and membership changes
		// need the admin role.
		n.client = sec.API(id, n.apiAddr, o.RequestTimeout, target.RoleAdmin)
		c.nodes = append(c.nodes, n)
		c.byID[id] = n
	}
	return c, nil
}

// freePorts finds n distinct free ports below the kernel's ephemeral range
// (ip_local_port_range). A port the kernel hands out for ":0" comes from that
// range, which is also where every outgoing connection takes its local port:
// while a killed node is down, one of the many connections the harness, the
// clients and the other nodes open could take its port, and the node could
// not restart. Below the range only another listener can. The ports are
// held until all n are found and released before the nodes bind them.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	lo, hi := 20000, ephemeralLow()
	ports := make([]int, 0, n)
	for tries := 0; len(ports) < n && hi-lo > 4*n && tries < 1000; tries++ {
		port := lo + rand.IntN(hi-lo)
		if slices.Contains(ports, port) {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue // taken
		}
		ls = append(ls, l)
		ports = append(ports, port)
	}
	for len(ports) < n {
		// No room below the ephemeral range: let the kernel choose.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("process: free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// ephemeralLow is the first port of the kernel's ephemeral range (32768 if
// it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	low, err := strconv.Atoi(f[0])
	if err != nil || low <= 0 {
		return 32768
	}
	return low
}

func (c *Cluster) node(id string) (*node, error) {
	n, ok := c.byID[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", cluster.ErrUnknownNode, id)
	}
	return n, nil
}

func (n *node) target() target.Node {
	return target.Node{ID: n.id, PeerAddr: n.raftAddr, ClientAddr: n.apiAddr, DataDir: n.dataDir, JoinVia: n.joinVia, Security: n.sec}
}

// args is n's command line, as its target writes it.
func (c *Cluster) args(n *node) []string {
	all := make([]target.Node, 0, len(c.nodes))
	for _, p := range c.nodes {
		all = append(all, p.target())
	}
	return c.opts.Target.Args(n.target(), all, c.opts.Node)
}

// Target is the store the cluster runs.
func (c *Cluster) Target() target.Target { return c.opts.Target }

// TargetNode describes node id to the target.
func (c *Cluster) TargetNode(id string) (target.Node, error) {
	n, err := c.node(id)
	if err != nil {
		return target.Node{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return n.target(), nil
}

// startLocked starts n's process. c.mu must be held.
func (c *Cluster) startLocked(n *node) error {
	if c.stopped {
		return fmt.Errorf("process: cluster stopped")
	}
	if n.state != cluster.Down {
		return fmt.Errorf("%w: %s", cluster.ErrRunning, n.id)
	}
	if err := os.MkdirAll(n.dataDir, 0o755); err != nil {
		return fmt.Errorf("process: %w", err)
	}
	lf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("process: log file: %w", err)
	}
	args := c.args(n)
	fmt.Fprintf(lf, "\n=== harness: %s start %s %s\n", time.Now().UTC().Format(time.RFC3339Nano), c.opts.Binary, strings.Join(args, " "))
	from := fileSize(lf)
	cmd := exec.Command(c.opts.Binary, args...)
	cmd.Stdout = lf
	cmd.Stderr = lf
	// Pdeathsig: nodes never outlive a crashed harness. Setpgid: a ^C to
	// the harness's terminal reaches the harness, which stops them in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return fmt.Errorf("process: start %s: %w", n.id, err)
	}
	n.cmd = cmd
	n.state = cluster.Running
	n.expected = false
	exited := make(chan struct{})
	n.exited = exited
	c.wg.Add(1)
	go c.supervise(n, cmd, lf, exited, from)
	return nil
}

// fileSize is f's size (0 if unknown).
func fileSize(f *os.File) int64 {
	st, err := f.Stat()
	if err != nil {
		return 0
	}
	return st.Size()
}

// exitStatus describes how a process ended.
func exitStatus(err error) (string, int) {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return "exit status 0", 0
	case errors.As(err, &ee):
		return ee.String(), ee.ExitCode()
	}
	return err.Error(), -1
}

// supervise waits for one process, records its exit (with the part of the
// log file it wrote, from offset from on) and restarts it if it exited on
// its own.
func (c *Cluster) supervise(n *node, cmd *exec.Cmd, lf *os.File, exited chan struct{}, from int64) {
	defer c.wg.Done()
	err := cmd.Wait()
	at := time.Now()
	to := fileSize(lf)
	fmt.Fprintf(lf, "=== harness: %s exited: %v\n", at.UTC().Format(time.RFC3339Nano), err)
	lf.Close()
	status, code := exitStatus(err)
	c.mu.Lock()
	defer c.mu.Unlock()
	close(exited)
	c.exits = append(c.exits, exitRecord{node: n, at: at, status: status, code: code,
		requested: n.expected || c.stopped, from: from, to: to})
	if n.cmd != cmd {
		return
	}
	n.state = cluster.Down
	n.cmd = nil
	if n.expected || c.stopped {
		return
	}
	c.log.Info("node exited on its own; restarting", "node", n.id, "err", err)
	n.restarts++
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		time.Sleep(restartDelay)
		c.mu.Lock()
		defer c.mu.Unlock()
		if n.state == cluster.Down && !n.expected && !c.stopped {
			if err := c.startLocked(n); err != nil {
				c.log.Warn("restart after exit failed", "node", n.id, "err", err)
			}
		}
	}()
}

// Start starts all nodes and waits until each is healthy (its target's
// Healthy: raftkv's /healthz).
func (c *Cluster) Start(ctx context.Context) error {
	c.mu.Lock()
	for _, n := range c.nodes {
		if err := c.startLocked(n); err != nil {
			c.mu.Unlock()
			return err
		}
	}
	c.mu.Unlock()
	deadline := time.Now().Add(20 * time.Second)
	for _, n := range c.nodes {
		for {
			hctx, cancel := context.WithTimeout(ctx, time.Second)
			tn, _ := c.TargetNode(n.id)
			err := c.opts.Target.Healthy(hctx, tn)
			cancel()
			if err == nil {
				break
			}
			if c.State(n.id) == cluster.Down {
				return fmt.Errorf("process: %s exited at start (see %s): %s", n.id, n.logPath, tail(n.logPath, 800))
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return fmt.Errorf("process: %s not healthy: %w (see %s)", n.id, err, n.logPath)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}

// signalAndWait sends sig to n's process and waits for it to exit.
func (c *Cluster) signalAndWait(ctx context.Context, n *node, sig syscall.Signal) error {
	c.mu.Lock()
	// Set even when down: it cancels a pending supervisor restart.
	n.expected = true
	if n.state == cluster.Down {
		c.mu.Unlock()
		return nil
	}
	cmd, exited, paused := n.cmd, n.exited, n.state == cluster.Paused
	_ = cmd.Process.Signal(sig)
	if paused && sig != syscall.SIGKILL {
		_ = cmd.Process.Signal(syscall.SIGCONT)
	}
	c.mu.Unlock()
	select {
	case <-exited:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("process: %s did not exit: %w", n.id, ctx.Err())
	}
}

// Stop stops every node: SIGTERM, then SIGKILL after 5 s.
func (c *Cluster) Stop(ctx context.Context) error {
	c.mu.Lock()
	c.stopped = true
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, n := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if c.signalAndWait(tctx, n, syscall.SIGTERM) != nil {
				kctx, kcancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer kcancel()
				_ = c.signalAndWait(kctx, n, syscall.SIGKILL)
			}
		}()
	}
	wg.Wait()
	c.wg.Wait()
	return nil
}

// Kill SIGKILLs the node and waits until it is gone.
func (c *Cluster) Kill(ctx context.Context, id string) error {
	n, err := c.node(id)
	if err != nil {
		return err
	}
	return c.signalAndWait(ctx, n, syscall.SIGKILL)
}

// Pause sends SIGSTOP.
func (c *Cluster) Pause(_ context.Context, id string) error {
	n, err := c.node(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if n.state != cluster.Running {
		return fmt.Errorf("%w: %s is %s", cluster.ErrNotRunning, id, n.state)
	}
	if err := n.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		return fmt.Errorf("process: pause %s: %w", id, err)
	}
	n.state = cluster.Paused
	// The signal is asynchronous: wait until every thread is stopped, so
	// that when Pause returns the node really answers nothing.
	waitStopped(n.cmd.Process.Pid, 2*time.Second)
	return nil
}

// waitStopped polls /proc until all of pid's threads are in state T
// (stopped), or timeout passes (then the pause is merely not yet complete).
func waitStopped(pid int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
		if err != nil || len(tasks) == 0 {
			return // no procfs: nothing to wait on
		}
		all := true
		for _, t := range tasks {
			b, err := os.ReadFile(t)
			if err != nil {
				continue // the thread exited
			}
			// stat is "pid (comm) S ...": the state follows the last ')'.
			i := strings.LastIndexByte(string(b), ')')
			if i < 0 || i+2 >= len(b) || (b[i+2] != 'T' && b[i+2] != 't') {
				all = false
				break
			}
		}
		if all {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Resume sends SIGCONT to a paused node (no-op otherwise).
func (c *Cluster) Resume(_ context.Context, id string) error {
	n, err := c.node(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if n.state != cluster.Paused {
		return nil
	}
	if err := n.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		return fmt.Errorf("process: resume %s: %w", id, err)
	}
	n.state = cluster.Running
	return nil
}

// Restart starts a down node, or kills a running one and starts it again.
func (c *Cluster) Restart(ctx context.Context, id string) error {
	n, err := c.node(id)
	if err != nil {
		return err
	}
	if err := c.signalAndWait(ctx, n, syscall.SIGKILL); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if n.state != cluster.Down { // the supervisor got there first
		return nil
	}
	n.client.CloseIdle()
	return c.startLocked(n)
}

// Wipe removes a down node's data dir.
func (c *Cluster) Wipe(_ context.Context, id string) error {
	n, err := c.node(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if n.state != cluster.Down {
		return fmt.Errorf("%w: %s", cluster.ErrRunning, id)
	}
	if err := os.RemoveAll(n.dataDir); err != nil {
		return fmt.Errorf("process: wipe %s: %w", id, err)
	}
	return nil
}

// Join starts a down node with --join pointing at via's API.
func (c *Cluster) Join(_ context.Context, id, via string) error {
	n, err := c.node(id)
	if err != nil {
		return err
	}
	v, err := c.node(via)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n.joinVia = n.sec.URL(v.apiAddr)
	n.client.CloseIdle()
	return c.startLocked(n)
}

// Nodes lists node ids.
func (c *Cluster) Nodes() []string {
	ids := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		ids[i] = n.id
	}
	return ids
}

// Endpoints lists API addresses in node order.
func (c *Cluster) Endpoints() []string {
	eps := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		eps[i] = n.apiAddr
	}
	return eps
}

// Member returns a node's addresses.
func (c *Cluster) Member(id string) (nodeapi.Member, error) {
	n, err := c.node(id)
	if err != nil {
		return nodeapi.Member{}, err
	}
	return nodeapi.Member{ID: n.id, RaftAddr: n.raftAddr, APIAddr: n.apiAddr}, nil
}

// State returns the node's process state.
func (c *Cluster) State(id string) cluster.State {
	n, err := c.node(id)
	if err != nil {
		return cluster.Down
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return n.state
}

// Client returns the node's API client.
func (c *Cluster) Client(id string) *nodeapi.Client {
	n, err := c.node(id)
	if err != nil {
		return nodeapi.New("127.0.0.1:1", time.Second)
	}
	return n.client
}

// Logs returns the node's log file path.
func (c *Cluster) Logs(id string) string {
	n, err := c.node(id)
	if err != nil {
		return ""
	}
	return n.logPath
}

// CommittedLog reads a stopped node's committed log from its data
// directory (cluster.ReadCommittedLog, which opens a copy).
func (c *Cluster) CommittedLog(_ context.Context, id string) (checker.NodeLog, error) {
	n, err := c.node(id)
	if err != nil {
		return checker.NodeLog{}, err
	}
	if !target.Has(c.opts.Target, target.CapCommittedLog) {
		return checker.NodeLog{}, fmt.Errorf("%w: %s keeps no log the harness can read", cluster.ErrUnsupported, c.opts.Target.Name())
	}
	if s := c.State(id); s != cluster.Down {
		return checker.NodeLog{}, fmt.Errorf("%w: %s is %s", cluster.ErrRunning, id, s)
	}
	return cluster.ReadCommittedLog(id, n.dataDir, 0)
}

// NodeEvents lists every exit of a node process since Start, each with
// what the process wrote to its log (a panic's first lines, or its last
// error), and the panics the nodes recovered and logged. An exit the
// harness asked for (Kill, Restart, Stop) has checker.CauseHarness; one
// with the failpoint exit code after the node logged hitting a failpoint
// has checker.CauseFailpoint; any other is unplanned.
func (c *Cluster) NodeEvents(origin time.Time) []checker.NodeEvent {
	c.mu.Lock()
	exits := slices.Clone(c.exits)
	c.mu.Unlock()
	out := []checker.NodeEvent{}
	for _, x := range exits {
		f := scanLogRange(x.node.logPath, x.from, x.to)
		out = append(out, cluster.ExitEvent(x.node.id, int64(x.at.Sub(origin)), x.status, x.code, x.requested, f, c.relLog(x.node)))
	}
	for _, n := range c.nodes {
		f := scanLogRange(n.logPath, 0, -1)
		out = append(out, cluster.RecoveredEvents(n.id, f, origin, c.relLog(n))...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time < out[j].Time })
	return out
}

// scanLogRange scans bytes [from, to) of a log file (to < 0: to its end).
func scanLogRange(path string, from, to int64) cluster.LogFindings {
	f, err := os.Open(path)
	if err != nil {
		return cluster.LogFindings{LastError: "log unreadable: " + err.Error()}
	}
	defer f.Close()
	if to < 0 {
		to = fileSize(f)
	}
	return cluster.ScanNodeLog(io.NewSectionReader(f, from, max(to-from, 0)))
}

// relLog is the node's log path relative to the run directory.
func (c *Cluster) relLog(n *node) string {
	if rel, err := filepath.Rel(c.opts.Dir, n.logPath); err == nil {
		return rel
	}
	return n.logPath
}

// Restarts is how many times the supervisor restarted the node after it
// exited on its own.
func (c *Cluster) Restarts(id string) int {
	n, err := c.node(id)
	if err != nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return n.restarts
}
