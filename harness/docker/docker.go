package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/raftkv/raftkv/checker"
	"github.com/raftkv/raftkv/harness/cluster"
	"github.com/raftkv/raftkv/harness/nodeapi"
	"github.com/raftkv/raftkv/harness/target"
	raftkvtarget "github.com/raftkv/raftkv/harness/target/raftkv"
)

// Name is the backend's registry name.
const Name = "docker"

// DefaultImage is the image the backend builds and runs for raftkv unless
// RAFTKV_DOCKER_IMAGE names another. Other targets run an image built from
// their binary (BuildTargetImage).
const DefaultImage = "raftkv:harness"

// Provides lists the capabilities the backend gives every target it runs,
// besides the target's own (target.WithCaps): the network faults, which it
// makes in the OS, not in the node.
var Provides = []string{target.CapNodeNetwork}

// On is t as it runs on this backend: t with Provides. The scenario's
// check of which faults a target can take uses it, so that the rule that
// refuses them (nemesis.CheckTarget) stays one for every backend.
func On(t target.Target) target.Target { return target.WithCaps(t, Provides...) }

// imageUID is the unprivileged user of the image (docker/Dockerfile).
const imageUID = 65532

// secretsMount is where a secured node's container sees its credentials
// (its certificate and key, the CA, the token file), each bind-mounted
// read-only from the run's secrets directory.
const secretsMount = "/secrets"

// restartDelay is how long the supervisor waits before restarting a
// container that exited on its own (a crash failpoint).
const restartDelay = 300 * time.Millisecond

// Sentinel errors.
var (
	// ErrUnavailable: no Docker engine can be reached.
	ErrUnavailable = errors.New("docker: engine unavailable")
	// ErrSkip wraps ErrUnavailable when CI is not "true": the caller should
	// skip the run with a visible notice instead of failing it.
	ErrSkip = errors.New("docker: skipped")
	// ErrMissingTool: a host tool for network faults is missing, or the
	// process lacks the privilege to use it.
	ErrMissingTool = errors.New("docker: missing host tool")
	// ErrBuild: the image could not be built.
	ErrBuild = errors.New("docker: build image")
	// ErrBadRule: a network fault rule the backend cannot apply.
	ErrBadRule = errors.New("docker: bad network rule")
)

func init() {
	cluster.Register(Name, func(o cluster.Options) (cluster.Cluster, error) { return New(o) })
}

type node struct {
	id        string
	container string
	ip        string
	dataDir   string
	logPath   string
	proxy     *faultProxy
	pclient   *nodeapi.Client // through the proxy: what Client returns

	op sync.Mutex // serializes operations on this node

	// Guarded by Cluster.mu.
	state    cluster.State
	pid      int // the container's init pid while running
	gen      int // bumped at every start; the watcher of an old start does nothing
	expected bool
	exited   chan struct{}
	created  bool   // the container exists
	joinVia  string // --join URL, kept across restarts
	restarts int
	oldLogs  []byte // logs of containers this node had before a Join recreated it
	applied  string // the network config last applied to the current netns
	logSeen  int    // bytes of the current container's logs already scanned at an exit
}

// exitRecord is one stop of a node's container, as its supervisor saw it.
type exitRecord struct {
	node      *node
	at        time.Time
	status    string // "exit code 137"
	code      int    // -1: unknown
	requested bool   // the harness asked the container to stop
	findings  cluster.LogFindings
}

// Cluster is a set of containers of one target (raftkv by default) on a
// private bridge network. It implements cluster.Cluster and
// cluster.Targeted.
type Cluster struct {
	opts   cluster.Options
	log    *slog.Logger
	run    string // unique per run: names and labels
	owner  string
	image  string
	nodes  []*node
	byID   map[string]*node
	ctx    context.Context // lives until Stop; bounds the supervisors
	cancel context.CancelFunc

	mu        sync.Mutex
	started   bool
	stopped   bool
	network   string
	subnet    string
	ipt       string // the iptables-restore variant that works here
	rules     map[string][]nodeapi.NetRule
	wg        sync.WaitGroup
	netMu     sync.Mutex                // serializes network fault application
	delays    map[[2]string]*delayQueue // by directed link; guarded by netMu
	stopOnce  sync.Once
	stopError error
	exits     []exitRecord // every container stop the supervisors saw; guarded by mu
}

var (
	_ cluster.Cluster        = (*Cluster)(nil)
	_ cluster.LogReader      = (*Cluster)(nil)
	_ cluster.HealthReporter = (*Cluster)(nil)
	_ cluster.Targeted       = (*Cluster)(nil)
)

// New prepares a cluster of o.Nodes containers of o.Target (nil: raftkv);
// nothing touches Docker until Start. raftkv's image is
// RAFTKV_DOCKER_IMAGE when set, otherwise DefaultImage built by Start from
// o.SourceDir (default: the module around the working directory). Another
// target needs o.Binary, a static binary of its store, from which Start
// builds its image (BuildTargetImage).
func New(o cluster.Options) (*Cluster, error) {
	if o.Nodes <= 0 {
		o.Nodes = 3
	}
	if o.Nodes > 200 {
		return nil, fmt.Errorf("docker: %d nodes: at most 200", o.Nodes)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 2 * time.Second
	}
	if o.Target == nil {
		o.Target = raftkvtarget.Target{}
	}
	o.Target = target.Unwrap(o.Target)
	if o.Target.Name() != raftkvtarget.Name {
		if o.Binary == "" {
			return nil, fmt.Errorf("%w: target %s needs its binary (a static build of the store: --target-binary %s=PATH)", ErrBuild, o.Target.Name(), o.Target.Name())
		}
		bin, err := filepath.Abs(o.Binary)
		if err != nil {
			return nil, fmt.Errorf("docker: %w", err)
		}
		if _, err := os.Stat(bin); err != nil {
			return nil, fmt.Errorf("%w: target %s: %w", ErrBuild, o.Target.Name(), err)
		}
		o.Binary = bin
	}
	if o.Node.Security != nil && !target.Has(o.Target, target.CapSecure) {
		return nil, fmt.Errorf("docker: target %s cannot run secured (no %s capability)", o.Target.Name(), target.CapSecure)
	}
	// Bind mounts need an absolute host path.
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("docker: %w", err)
	}
	o.Dir = dir
	var rb [4]byte
	_, _ = rand.Read(rb[:])
	run := hex.EncodeToString(rb[:])
	ctx, cancel := context.WithCancel(context.Background())
	c := &Cluster{opts: o, log: o.Logger, run: run, owner: owner(), byID: map[string]*node{},
		ctx: ctx, cancel: cancel, network: "raftkv-" + run, rules: map[string][]nodeapi.NetRule{},
		delays: map[[2]string]*delayQueue{}}
	if o.Target.Name() == raftkvtarget.Name {
		c.image = os.Getenv("RAFTKV_DOCKER_IMAGE")
	}
	for i := range o.Nodes {
		id := cluster.NodeName(i)
		n := &node{
			id:        id,
			container: "raftkv-" + run + "-" + id,
			dataDir:   filepath.Join(o.Dir, "data", id),
			logPath:   filepath.Join(o.Dir, "logs", id+".log"),
			state:     cluster.Down,
		}
		c.nodes = append(c.nodes, n)
		c.byID[id] = n
	}
	return c, nil
}

func (c *Cluster) node(id string) (*node, error) {
	n, ok := c.byID[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", cluster.ErrUnknownNode, id)
	}
	return n, nil
}

// Start checks the engine and tools, cleans up what crashed runs left,
// builds the image, creates the network and starts every node, then waits
// until each is healthy (its target's Healthy: raftkv's /healthz). Without a Docker engine it returns an error
// wrapping ErrUnavailable, and also ErrSkip unless CI=true.
func (c *Cluster) Start(ctx context.Context) error {
	if err := Probe(ctx); err != nil {
		if errors.Is(err, ErrUnavailable) && os.Getenv("CI") != "true" {
			return fmt.Errorf("%w: %w (set CI=true to make this a failure)", ErrSkip, err)
		}
		if errors.Is(err, ErrUnavailable) {
			return fmt.Errorf("%w (CI=true: the docker scenarios require a Docker engine)", err)
		}
		return err
	}
	c.mu.Lock()
	if c.started {
		c.mu.Unlock()
		return errors.New("docker: cluster already started")
	}
	c.started = true
	c.mu.Unlock()

	if nc, nn, err := CleanupStale(ctx); err != nil {
		c.log.Warn("cleanup of stale harness containers", "err", err)
	} else if nc+nn > 0 {
		c.log.Info("removed leftovers of crashed runs", "containers", nc, "networks", nn)
	}
	if c.image == "" && c.opts.Target.Name() != raftkvtarget.Name {
		img, err := BuildTargetImage(ctx, c.opts.Target.Name(), c.opts.Binary)
		if err != nil {
			return err
		}
		c.image = img
	}
	if c.image == "" {
		src := c.opts.SourceDir
		if src == "" {
			src = "."
		}
		root, err := moduleRoot(src)
		if err != nil {
			return err
		}
		c.image = DefaultImage
		if err := BuildImage(ctx, root, c.image); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(c.opts.Dir, "logs"), 0o755); err != nil {
		return fmt.Errorf("docker: %w", err)
	}
	if err := c.createNetwork(ctx); err != nil {
		return err
	}
	sec := c.opts.Node.Security
	for i, n := range c.nodes {
		n.ip = hostIP(c.subnet, 10+i)
		if sec != nil {
			// The certificate names the container's address as well as
			// its hostname (the node's name): the nodes reach each
			// other's APIs at that address (forwarding, a join).
			if err := sec.Issue(n.id, n.ip); err != nil {
				return fmt.Errorf("docker: %w", err)
			}
		}
		p, err := newFaultProxy(c, n)
		if err != nil {
			return err
		}
		n.proxy = p
		// The proxy listens on the host's loopback in plain http and
		// speaks to the node as the node wants (https); the admin token
		// goes through it.
		n.pclient = nodeapi.NewWith(p.addr, c.opts.RequestTimeout, nodeapi.Options{Token: sec.Token(target.RoleAdmin)})
	}
	for _, n := range c.nodes {
		if err := c.startNode(ctx, n); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(30 * time.Second)
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
				return fmt.Errorf("docker: %s exited at start: %s", n.id, c.tailLogs(n, 800))
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return fmt.Errorf("docker: %s not healthy: %w: %s", n.id, err, c.tailLogs(n, 800))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

// createNetwork creates the run's bridge network on a random private /24
// that overlaps neither another Docker network (the engine refuses those)
// nor an address of this host.
func (c *Cluster) createNetwork(ctx context.Context) error {
	var lastErr error
	for range 20 {
		b, _ := rand.Int(rand.Reader, big.NewInt(256*16))
		third, second := b.Int64()%256, 16+b.Int64()/256 // 172.16.0.0/12
		subnet := fmt.Sprintf("172.%d.%d.0/24", second, third)
		if hostUses(subnet) {
			continue
		}
		_, err := docker(ctx, nil, "network", "create", "--driver", "bridge", "--subnet", subnet,
			"--label", labelHarness+"=1", "--label", labelRun+"="+c.run, "--label", labelOwner+"="+c.owner, c.network)
		if err == nil {
			c.mu.Lock()
			c.subnet = subnet
			c.mu.Unlock()
			return nil
		}
		lastErr = err
		if !strings.Contains(err.Error(), "overlap") {
			break
		}
	}
	return fmt.Errorf("docker: create network: %w", lastErr)
}

// hostUses reports whether an address of this host lies in subnet.
func hostUses(subnet string) bool {
	_, ipn, err := net.ParseCIDR(subnet)
	if err != nil {
		return true
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if in, ok := a.(*net.IPNet); ok && (ipn.Contains(in.IP) || in.Contains(ipn.IP)) {
			return true
		}
	}
	return false
}

// hostIP is the address with last byte i in a /24 subnet.
func hostIP(subnet string, i int) string {
	base := strings.TrimSuffix(subnet, "0/24")
	return base + strconv.Itoa(i)
}

// args is n's command line inside its container: its target's own (one
// implementation of each store's node flags), with the container's
// address, fixed ports and data directory (/data, the bind mount).
func (c *Cluster) args(n *node) []string {
	var all []target.Node
	var self target.Node
	for _, p := range c.nodes {
		tn := target.Node{ID: p.id, PeerAddr: net.JoinHostPort(p.ip, strconv.Itoa(raftPort)),
			ClientAddr: net.JoinHostPort(p.ip, strconv.Itoa(apiPort)), DataDir: "/data", JoinVia: p.joinVia}
		all = append(all, tn)
		if p == n {
			self = tn
		}
	}
	cfg := c.opts.Node
	cfg.Security = cfg.Security.At(secretsMount)
	return c.opts.Target.Args(self, all, cfg)
}

// secretMounts are the bind mounts of a secured node's credentials (none
// for a plain node): its own certificate and key, the CA, the token file
// and the node's own token, read-only under secretsMount; not the CA's key nor the other
// nodes' keys. As root, the key and the token file (mode 0600) are given
// to the image's user, which runs the node; otherwise the container runs
// as the harness's user, who owns them.
func (c *Cluster) secretMounts(n *node) ([]string, error) {
	sec := c.opts.Node.Security
	if sec == nil {
		return nil, nil
	}
	in := sec.At(secretsMount)
	var a []string
	for _, f := range []struct {
		host, ctr string
		private   bool // mode 0600
	}{
		{sec.CertFile(n.id), in.CertFile(n.id), false}, {sec.KeyFile(n.id), in.KeyFile(n.id), true},
		{sec.CAFile(), in.CAFile(), false}, {sec.TokenFile(), in.TokenFile(), true},
		{sec.NodeTokenFile(), in.NodeTokenFile(), true},
	} {
		if f.private && os.Geteuid() == 0 {
			if err := os.Chown(f.host, imageUID, imageUID); err != nil {
				return nil, fmt.Errorf("docker: %w", err)
			}
		}
		// Docker takes a relative source for a volume's name: the
		// harness's store may be relative (store/ci/...).
		host, err := filepath.Abs(f.host)
		if err != nil {
			return nil, fmt.Errorf("docker: %w", err)
		}
		a = append(a, "-v", host+":"+f.ctr+":ro")
	}
	return a, nil
}

// createContainer creates (does not start) n's container. The data dir is
// a bind mount of the run directory, so it survives the container and is
// part of the run's artifacts.
func (c *Cluster) createContainer(ctx context.Context, n *node) error {
	if err := os.MkdirAll(n.dataDir, 0o755); err != nil {
		return fmt.Errorf("docker: %w", err)
	}
	user := []string{}
	if os.Geteuid() == 0 {
		// Run as the image's own unprivileged user, owning its data.
		if err := os.Chown(n.dataDir, imageUID, imageUID); err != nil {
			return fmt.Errorf("docker: %w", err)
		}
	} else {
		user = []string{"--user", fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid())}
	}
	a := []string{"create", "--name", n.container, "--hostname", n.id,
		"--network", c.network, "--ip", n.ip,
		"--label", labelHarness + "=1", "--label", labelRun + "=" + c.run,
		"--label", labelOwner + "=" + c.owner, "--label", labelNode + "=" + n.id,
		"--no-healthcheck", "--log-driver", "json-file",
		"-v", n.dataDir + ":/data"}
	mounts, err := c.secretMounts(n)
	if err != nil {
		return err
	}
	a = append(a, mounts...)
	a = append(a, user...)
	a = append(a, c.image)
	a = append(a, c.args(n)...)
	if _, err := docker(ctx, nil, a...); err != nil {
		return fmt.Errorf("docker: create %s: %w", n.id, err)
	}
	c.mu.Lock()
	n.created = true
	c.mu.Unlock()
	return nil
}

// startNode starts n's container (creating it first if needed), records
// its pid, re-applies its network faults to the fresh namespace and starts
// a supervisor that restarts it if it exits on its own.
func (c *Cluster) startNode(ctx context.Context, n *node) error {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return errors.New("docker: cluster stopped")
	}
	if n.state != cluster.Down {
		c.mu.Unlock()
		return fmt.Errorf("%w: %s", cluster.ErrRunning, n.id)
	}
	created := n.created
	c.mu.Unlock()
	if !created {
		if err := c.createContainer(ctx, n); err != nil {
			return err
		}
	}
	if _, err := docker(ctx, nil, "start", n.container); err != nil {
		return fmt.Errorf("docker: start %s: %w", n.id, err)
	}
	pidStr, err := docker(ctx, nil, "inspect", "-f", "{{.State.Pid}}", n.container)
	pid, _ := strconv.Atoi(pidStr)
	if err != nil || pid == 0 {
		return fmt.Errorf("docker: %s has no pid after start (%v): %s", n.id, err, c.tailLogs(n, 400))
	}
	c.mu.Lock()
	n.gen++
	gen := n.gen
	n.pid = pid
	n.state = cluster.Running
	n.expected = false
	n.applied = ""
	exited := make(chan struct{})
	n.exited = exited
	c.wg.Add(1)
	c.mu.Unlock()
	go c.supervise(n, gen, exited)
	if err := c.applyNetwork(ctx, n); err != nil {
		return err
	}
	n.pclient.CloseIdle()
	return nil
}

// supervise waits for the container of one start to stop, and restarts it
// if nobody asked it to stop.
func (c *Cluster) supervise(n *node, gen int, exited chan struct{}) {
	defer c.wg.Done()
	code, err := docker(c.ctx, nil, "wait", n.container)
	at := time.Now()
	c.mu.Lock()
	if n.gen != gen {
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	// The container's namespace is gone (or going): so is any reason to
	// listen in it. A later start applies the faults to its new one.
	c.closeDelays(n.id)
	c.mu.Lock()
	if n.gen != gen {
		c.mu.Unlock()
		return
	}
	if c.ctx.Err() != nil && err != nil {
		// Stop cancelled the wait; Stop owns the container now.
		n.state = cluster.Down
		close(exited)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	// What this run of the container printed, for the node health check:
	// everything its logs gained since the last stop.
	logs := c.containerLogs(context.Background(), n)
	status, exitCode := "exit code "+code, -1
	if err != nil {
		status = err.Error()
	} else if v, perr := strconv.Atoi(code); perr == nil {
		exitCode = v
	}
	// The node is not down yet, so neither a start nor a Join can have
	// touched gen or logSeen meanwhile.
	c.mu.Lock()
	seen := n.logSeen
	n.logSeen = len(logs)
	c.mu.Unlock()
	findings := cluster.ScanBytes(logs[min(seen, len(logs)):])
	c.mu.Lock()
	c.exits = append(c.exits, exitRecord{node: n, at: at, status: status, code: exitCode,
		requested: n.expected || c.stopped, findings: findings})
	n.state = cluster.Down
	n.pid = 0
	close(exited)
	restart := !n.expected && !c.stopped
	if restart {
		n.restarts++
	}
	c.mu.Unlock()
	if !restart {
		return
	}
	c.log.Info("container exited on its own; restarting", "node", n.id, "exit", code, "err", err)
	t := time.NewTimer(restartDelay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.ctx.Done():
		return
	}
	n.op.Lock()
	defer n.op.Unlock()
	c.mu.Lock()
	again := n.state == cluster.Down && !n.expected && !c.stopped && n.gen == gen
	c.mu.Unlock()
	if again {
		if err := c.startNode(c.ctx, n); err != nil {
			c.log.Warn("restart after exit failed", "node", n.id, "err", err)
		}
	}
}

// killAndWait SIGKILLs n's container (unpausing it first if paused) and
// waits until the supervisor saw it stop.
func (c *Cluster) killAndWait(ctx context.Context, n *node) error {
	c.mu.Lock()
	n.expected = true // also cancels a pending supervisor restart
	if n.state == cluster.Down {
		c.mu.Unlock()
		return nil
	}
	paused, exited := n.state == cluster.Paused, n.exited
	c.mu.Unlock()
	if _, err := docker(ctx, nil, "kill", n.container); err != nil {
		// Engines that refuse to kill a paused container get it thawed
		// first. Otherwise the container may have stopped in between:
		// only the wait tells.
		if paused {
			_, _ = docker(ctx, nil, "unpause", n.container)
			_, err = docker(ctx, nil, "kill", n.container)
		}
		c.log.Debug("docker kill", "node", n.id, "err", err)
	}
	select {
	case <-exited:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("docker: %s did not stop: %w", n.id, ctx.Err())
	}
}

// Stop stops every container (SIGTERM, SIGKILL after 5 s), saves each
// node's logs to the run directory, and removes the containers and the
// network. It is idempotent.
func (c *Cluster) Stop(ctx context.Context) error {
	c.stopOnce.Do(func() { c.stopError = c.stop(ctx) })
	return c.stopError
}

func (c *Cluster) stop(ctx context.Context) error {
	c.mu.Lock()
	c.stopped = true
	for _, n := range c.nodes {
		n.expected = true
	}
	c.mu.Unlock()
	var errs []error
	var names []string
	for _, n := range c.nodes {
		c.mu.Lock()
		if n.created {
			names = append(names, n.container)
		}
		if n.state == cluster.Paused {
			_, _ = docker(ctx, nil, "unpause", n.container)
		}
		c.mu.Unlock()
	}
	if len(names) > 0 {
		if _, err := docker(ctx, nil, append([]string{"stop", "-t", "5"}, names...)...); err != nil {
			c.log.Warn("docker stop", "err", err)
		}
	}
	// Let each supervisor see its container's exit and record it before
	// the cancel below cuts its `docker wait` short: on a busy machine the
	// wait can still be running after `docker stop` returned, and a
	// cancelled wait records nothing (a node's final stop went missing
	// from the health check's planned exits).
	for _, n := range c.nodes {
		c.mu.Lock()
		exited := n.exited
		c.mu.Unlock()
		if exited == nil {
			continue
		}
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			c.log.Warn("container exit not seen after docker stop", "node", n.id)
		case <-ctx.Done():
		}
	}
	for _, n := range c.nodes {
		c.saveLogs(ctx, n)
		if n.proxy != nil {
			n.proxy.close()
		}
	}
	c.cancel()
	c.wg.Wait()
	c.netMu.Lock()
	for _, n := range c.nodes {
		c.closeDelaysLocked(n.id, nil)
	}
	c.netMu.Unlock()
	if len(names) > 0 {
		if _, err := docker(context.Background(), nil, append([]string{"rm", "-f", "-v"}, names...)...); err != nil {
			errs = append(errs, err)
		}
	}
	c.mu.Lock()
	hasNet := c.subnet != ""
	c.mu.Unlock()
	if hasNet {
		if _, err := docker(context.Background(), nil, "network", "rm", c.network); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// saveLogs writes everything the node's containers printed to its log file.
func (c *Cluster) saveLogs(ctx context.Context, n *node) {
	c.mu.Lock()
	created, old := n.created, n.oldLogs
	c.mu.Unlock()
	if !created && old == nil {
		return
	}
	var cur []byte
	if created {
		cur = c.containerLogs(ctx, n)
	}
	_ = os.WriteFile(n.logPath, append(append([]byte{}, old...), cur...), 0o644)
}

func (c *Cluster) containerLogs(ctx context.Context, n *node) []byte {
	// docker logs replays the container's stdout and stderr; both go to
	// one file, as the process backend does.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	out, err := dockerCombined(lctx, "logs", n.container)
	if err != nil {
		return []byte(fmt.Sprintf("=== harness: docker logs %s: %v\n", n.container, err))
	}
	return out
}

func (c *Cluster) tailLogs(n *node, max int) string {
	b := c.containerLogs(context.Background(), n)
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return strings.TrimSpace(string(b))
}

// Kill SIGKILLs the node's container and waits until it has stopped. Its
// data stays in the run directory.
func (c *Cluster) Kill(ctx context.Context, id string) error {
	n, err := c.node(id)
	if err != nil {
		return err
	}
	n.op.Lock()
	defer n.op.Unlock()
	return c.killAndWait(ctx, n)
}

// Pause freezes the container (docker pause: the cgroup freezer).
func (c *Cluster) Pause(ctx context.Context, id string) error {
	return c.freeze(ctx, id, "pause", cluster.Running, cluster.Paused, true)
}

// Resume thaws a paused container (no-op otherwise).
func (c *Cluster) Resume(ctx context.Context, id string) error {
	return c.freeze(ctx, id, "unpause", cluster.Paused, cluster.Running, false)
}

// freeze runs `docker pause` or `docker unpause` on a node in state from
// and records state to. A node in another state is an error when strict
// (pausing a node that is not running), and left alone otherwise (resuming
// one that is not paused).
func (c *Cluster) freeze(ctx context.Context, id, verb string, from, to cluster.State, strict bool) error {
	n, err := c.node(id)
	if err != nil {
		return err
	}
	n.op.Lock()
	defer n.op.Unlock()
	if s := c.State(id); s != from {
		if !strict {
			return nil
		}
		return fmt.Errorf("%w: %s is %s", cluster.ErrNotRunning, id, s)
	}
	if _, err := docker(ctx, nil, verb, n.container); err != nil {
		return fmt.Errorf("docker: %s %s: %w", verb, id, err)
	}
	c.mu.Lock()
	n.state = to
	c.mu.Unlock()
	return nil
}

// Restart kills the node's container if it runs and starts it again with
// the same data; its network faults are applied to the new namespace.
func (c *Cluster) Restart(ctx context.Context, id string) error {
	n, err := c.node(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	wasDown, gen := n.state == cluster.Down, n.gen
	c.mu.Unlock()
	n.op.Lock()
	defer n.op.Unlock()
	c.mu.Lock()
	// A node that was down when asked and has been started since (by the
	// supervisor, after a crash) is what the caller wanted: killing it
	// again would only cost another start.
	startedMeanwhile := wasDown && n.gen != gen && n.state != cluster.Down
	c.mu.Unlock()
	if startedMeanwhile {
		return nil
	}
	if err := c.killAndWait(ctx, n); err != nil {
		return err
	}
	return c.startNode(ctx, n)
}

// Wipe deletes a stopped node's data.
func (c *Cluster) Wipe(_ context.Context, id string) error {
	n, err := c.node(id)
	if err != nil {
		return err
	}
	n.op.Lock()
	defer n.op.Unlock()
	if c.State(id) != cluster.Down {
		return fmt.Errorf("%w: %s", cluster.ErrRunning, id)
	}
	if err := os.RemoveAll(n.dataDir); err != nil {
		return fmt.Errorf("docker: wipe %s: %w", id, err)
	}
	return nil
}

// Join recreates a stopped node's container with --join pointing at via's
// API and starts it. A container's command is fixed at creation, so the
// old container is removed (its logs are kept) and a new one created.
func (c *Cluster) Join(ctx context.Context, id, via string) error {
	n, err := c.node(id)
	if err != nil {
		return err
	}
	v, err := c.node(via)
	if err != nil {
		return err
	}
	n.op.Lock()
	defer n.op.Unlock()
	if c.State(id) != cluster.Down {
		return fmt.Errorf("%w: %s", cluster.ErrRunning, id)
	}
	c.mu.Lock()
	created := n.created
	c.mu.Unlock()
	if created {
		logs := c.containerLogs(ctx, n)
		if _, err := docker(ctx, nil, "rm", "-f", "-v", n.container); err != nil {
			return fmt.Errorf("docker: remove %s before join: %w", id, err)
		}
		c.mu.Lock()
		n.oldLogs = append(n.oldLogs, logs...)
		n.oldLogs = append(n.oldLogs, []byte("=== harness: container recreated to join via "+via+"\n")...)
		n.created = false
		n.logSeen = 0
		c.mu.Unlock()
	}
	c.mu.Lock()
	n.joinVia = c.opts.Node.Security.URL(net.JoinHostPort(v.ip, strconv.Itoa(apiPort)))
	c.mu.Unlock()
	return c.startNode(ctx, n)
}

// Nodes lists node ids.
func (c *Cluster) Nodes() []string {
	ids := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		ids[i] = n.id
	}
	return ids
}

// Endpoints lists the nodes' API addresses on the run's network (the host
// reaches them through the bridge; no port is published).
func (c *Cluster) Endpoints() []string {
	eps := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		eps[i] = net.JoinHostPort(n.ip, strconv.Itoa(apiPort))
	}
	return eps
}

// Member returns a node's addresses on the run's network.
func (c *Cluster) Member(id string) (nodeapi.Member, error) {
	n, err := c.node(id)
	if err != nil {
		return nodeapi.Member{}, err
	}
	return nodeapi.Member{ID: n.id,
		RaftAddr: net.JoinHostPort(n.ip, strconv.Itoa(raftPort)),
		APIAddr:  net.JoinHostPort(n.ip, strconv.Itoa(apiPort))}, nil
}

// State returns the node's container state as the backend last saw it.
func (c *Cluster) State(id string) cluster.State {
	n, err := c.node(id)
	if err != nil {
		return cluster.Down
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return n.state
}

// Client returns an API client for the node. Its requests go through a
// small proxy of this backend: PUT and DELETE /fault/network are applied
// at the OS level (SetNetwork, ClearNetwork) instead of reaching the
// node's own fault filter; everything else is forwarded unchanged.
func (c *Cluster) Client(id string) *nodeapi.Client {
	n, err := c.node(id)
	if err != nil || n.pclient == nil {
		return nodeapi.New("127.0.0.1:1", time.Second)
	}
	return n.pclient
}

// Logs saves and returns the path of the node's log file.
func (c *Cluster) Logs(id string) string {
	n, err := c.node(id)
	if err != nil {
		return ""
	}
	c.saveLogs(context.Background(), n)
	return n.logPath
}

// Restarts is how many times the supervisor restarted the node after its
// container exited on its own.
func (c *Cluster) Restarts(id string) int {
	n, err := c.node(id)
	if err != nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return n.restarts
}

// CommittedLog reads a stopped node's committed log from its data
// directory, which is a bind mount of the run directory and so outlives
// the container (cluster.ReadCommittedLog, which opens a copy). Only a
// target with target.CapCommittedLog (raftkv) keeps a log it can read.
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

// NodeEvents lists every stop of a node's container that its supervisor
// saw, with its exit code and what the container printed since the
// previous stop (a panic's first lines, or its last error), and the panics
// the nodes recovered and logged (from the log files Stop saves). A stop
// the harness asked for (Kill, Restart, Stop) has checker.CauseHarness;
// the failpoint exit code after the node logged hitting a failpoint has
// checker.CauseFailpoint; any other is unplanned.
func (c *Cluster) NodeEvents(origin time.Time) []checker.NodeEvent {
	c.mu.Lock()
	exits := slices.Clone(c.exits)
	c.mu.Unlock()
	out := []checker.NodeEvent{}
	for _, x := range exits {
		out = append(out, cluster.ExitEvent(x.node.id, int64(x.at.Sub(origin)), x.status, x.code, x.requested, x.findings, c.relLog(x.node)))
	}
	for _, n := range c.nodes {
		if b, err := os.ReadFile(n.logPath); err == nil {
			out = append(out, cluster.RecoveredEvents(n.id, cluster.ScanBytes(b), origin, c.relLog(n))...)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time < out[j].Time })
	return out
}

// relLog is the node's log path relative to the run directory.
func (c *Cluster) relLog(n *node) string {
	if rel, err := filepath.Rel(c.opts.Dir, n.logPath); err == nil {
		return rel
	}
	return n.logPath
}

// Target is the store the cluster runs, as it runs here: with the network
// faults this backend makes itself (On).
func (c *Cluster) Target() target.Target { return On(c.opts.Target) }

// TargetNode describes node id to its target as the harness reaches it
// from the host: its container's address and ports, its data directory in
// the run directory (the bind mount), and the run's security.
func (c *Cluster) TargetNode(id string) (target.Node, error) {
	n, err := c.node(id)
	if err != nil {
		return target.Node{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return target.Node{ID: n.id, PeerAddr: net.JoinHostPort(n.ip, strconv.Itoa(raftPort)),
		ClientAddr: net.JoinHostPort(n.ip, strconv.Itoa(apiPort)), DataDir: n.dataDir,
		JoinVia: n.joinVia, Security: c.opts.Node.Security}, nil
}

// Network is the name of the run's Docker network.
func (c *Cluster) Network() string { return c.network }

// Container is the name of the node's container.
func (c *Cluster) Container(id string) string {
	n, err := c.node(id)
	if err != nil {
		return ""
	}
	return n.container
}
