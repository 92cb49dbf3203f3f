package workload

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftkv/raftkv/harness/nodeapi"
	"github.com/raftkv/raftkv/harness/target"
	"github.com/raftkv/raftkv/histories"
)

// ErrConfig reports an invalid workload configuration.
var ErrConfig = errors.New("workload: invalid config")

// Mix weighs the operations (relative weights; all zero means the default
// 50 get / 30 put / 5 delete / 15 cas / 5 edge). Edge weighs the API edge
// cases (EdgeCases: empty values, a cas of a value never written or of the
// empty value, a delete then a cas).
type Mix struct {
	Get    int `yaml:"get"`
	Put    int `yaml:"put"`
	Delete int `yaml:"delete"`
	Cas    int `yaml:"cas"`
	Edge   int `yaml:"edge,omitempty"`
}

func (m Mix) total() int { return m.Get + m.Put + m.Delete + m.Cas + m.Edge }

// Valid reports whether every weight is >= 0 and one is > 0.
func (m Mix) Valid() bool {
	return m.Get >= 0 && m.Put >= 0 && m.Delete >= 0 && m.Cas >= 0 && m.Edge >= 0 && m.total() > 0
}

// DefaultMix is used when a Mix is all zero.
var DefaultMix = Mix{Get: 50, Put: 30, Delete: 5, Cas: 15, Edge: 5}

// Config configures a workload.
type Config struct {
	// Concurrency is the number of concurrent clients (default 6).
	Concurrency int
	// Rate is the total operations per second; 0 is unlimited.
	Rate float64
	// Keys is the number of distinct keys (default 8): k0..k{Keys-1}.
	Keys int
	// MaxClientsPerKey bounds the clients using one key at a time (0: no bound).
	MaxClientsPerKey int
	Mix              Mix
	// RequestTimeout bounds each request (default 1s); running out is info.
	RequestTimeout time.Duration
	// ReadMode is sent with every get ("" leaves the node's default); the
	// target's client interprets it (target.Target.ReadModes).
	ReadMode string
	// Dial opens a client to a node (its id and endpoint): the target's
	// client (target.Target.Dial). Required.
	Dial func(node, endpoint string, timeout time.Duration) (target.Client, error)
	// WriteAttempts bounds how many times a write whose outcome is unknown
	// is sent, with the same client and request id (default
	// DefaultWriteAttempts, 1: never retry). See Retry.
	WriteAttempts int
	Seed          int64
	Logger        *slog.Logger
}

// Validate checks the config.
func (c Config) Validate() error {
	if c.Concurrency < 0 || c.Keys < 0 || c.MaxClientsPerKey < 0 || c.Rate < 0 || c.RequestTimeout < 0 || c.WriteAttempts < 0 {
		return fmt.Errorf("%w: negative value", ErrConfig)
	}
	if c.Mix.Get < 0 || c.Mix.Put < 0 || c.Mix.Delete < 0 || c.Mix.Cas < 0 || c.Mix.Edge < 0 {
		return fmt.Errorf("%w: negative mix weight", ErrConfig)
	}
	if c.Dial == nil {
		return fmt.Errorf("%w: no Dial (the target's client)", ErrConfig)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Concurrency == 0 {
		c.Concurrency = 6
	}
	if c.Keys == 0 {
		c.Keys = 8
	}
	if c.Mix.total() == 0 {
		c.Mix = DefaultMix
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = time.Second
	}
	if c.WriteAttempts == 0 {
		c.WriteAttempts = DefaultWriteAttempts
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// refusedBackoff is the pause after a refused connection.
const refusedBackoff = 20 * time.Millisecond

// Target is the cluster as the workload sees it (cluster.Cluster implements it).
type Target interface {
	Nodes() []string
	Endpoints() []string
}

// Recorder receives history events (histories.Recorder implements it).
type Recorder interface {
	Record(e histories.Event) error
}

// Stats counts completions by type.
type Stats struct {
	Invoked, OK, Fail, Info int64
	// Processes is how many process ids were used.
	Processes int64
}

// Workload runs clients against a target.
type Workload struct {
	cfg    Config
	target Target
	rec    Recorder
	now    func() int64

	nextProc atomic.Int64
	stats    struct{ invoked, ok, fail, info atomic.Int64 }

	limiter *limiter
	slots   []chan struct{}
	retry   Retry

	known syncKnown // key -> last value seen or written, for cas
}

// New prepares a workload. now is the history clock (ns since run start).
func New(cfg Config, target Target, rec Recorder, now func() int64) (*Workload, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	w := &Workload{cfg: cfg, target: target, rec: rec, now: now, retry: Retry{Attempts: cfg.WriteAttempts}}
	if cfg.Rate > 0 {
		w.limiter = &limiter{every: time.Duration(float64(time.Second) / cfg.Rate)}
	}
	if cfg.MaxClientsPerKey > 0 {
		w.slots = make([]chan struct{}, cfg.Keys)
		for i := range w.slots {
			w.slots[i] = make(chan struct{}, cfg.MaxClientsPerKey)
		}
	}
	return w, nil
}

// Key returns the i-th key's name.
func Key(i int) string { return "k" + strconv.Itoa(i) }

// Keys lists the workload's keys.
func (w *Workload) Keys() []string {
	ks := make([]string, w.cfg.Keys)
	for i := range ks {
		ks[i] = Key(i)
	}
	return ks
}

// Stats returns the counts so far.
func (w *Workload) Stats() Stats {
	return Stats{Invoked: w.stats.invoked.Load(), OK: w.stats.ok.Load(), Fail: w.stats.fail.Load(),
		Info: w.stats.info.Load(), Processes: w.nextProc.Load()}
}

// limiter spaces operations evenly across all clients.
type limiter struct {
	mu    sync.Mutex
	next  time.Time
	every time.Duration
}

func (l *limiter) wait(ctx context.Context) bool {
	l.mu.Lock()
	now := time.Now()
	if l.next.Before(now) {
		l.next = now
	}
	at := l.next
	l.next = l.next.Add(l.every)
	l.mu.Unlock()
	return sleepUntil(ctx, at)
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// client is one worker: a sequence of processes.
type client struct {
	w       *Workload
	rng     *rand.Rand
	nodes   []string
	apis    []target.Client
	nodeIdx int

	proc     int
	clientID string
	reqID    uint64
	seq      int
}

func (w *Workload) newClient(i int, seedSalt uint64) (*client, error) {
	nodes, eps := w.target.Nodes(), w.target.Endpoints()
	c := &client{w: w, rng: rand.New(rand.NewPCG(uint64(w.cfg.Seed), seedSalt+uint64(i))), nodes: nodes, nodeIdx: i % len(nodes)}
	for j, ep := range eps {
		// Per-client connections: a hung node must not block other
		// clients' requests.
		api, err := w.cfg.Dial(nodes[j], ep, w.cfg.RequestTimeout)
		if err != nil {
			c.close()
			return nil, fmt.Errorf("workload: dial %s: %w", nodes[j], err)
		}
		c.apis = append(c.apis, api)
	}
	c.newProcess()
	return c, nil
}

// close releases the client's connections.
func (c *client) close() {
	for _, api := range c.apis {
		_ = api.Close()
	}
}

// newProcess gives the client a fresh identity (Jepsen: after an info the
// old process may still be executing its operation).
func (c *client) newProcess() {
	c.proc = int(c.w.nextProc.Add(1) - 1)
	c.clientID = fmt.Sprintf("harness-p%d", c.proc)
	c.reqID = 0
	c.seq = 0
}

// Run runs the clients until ctx is done and waits for them to finish their
// current operation.
func (w *Workload) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for i := range w.cfg.Concurrency {
		c, err := w.newClient(i, 0)
		if err != nil {
			w.cfg.Logger.Error("workload client", "err", err)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.close()
			c.loop(ctx)
		}()
	}
	wg.Wait()
}

func (c *client) loop(ctx context.Context) {
	for ctx.Err() == nil {
		if c.w.limiter != nil && !c.w.limiter.wait(ctx) {
			return
		}
		k, release, ok := c.acquireKey(ctx)
		if !ok {
			return
		}
		// The ops run to completion even if ctx ends meanwhile: the
		// request timeout bounds them, and cutting one short would turn an
		// answer into an info.
		for _, cmd := range c.w.cfg.Mix.Pick(c.rng, Key(k), c.w.cfg.ReadMode, c.value, &c.w.known) {
			c.do(context.Background(), cmd)
		}
		release()
	}
}

// acquireKey picks a random key with a free client slot.
func (c *client) acquireKey(ctx context.Context) (int, func(), bool) {
	n := c.w.cfg.Keys
	k := c.rng.IntN(n)
	if c.w.slots == nil {
		return k, func() {}, true
	}
	for i := range n {
		j := (k + i) % n
		select {
		case c.w.slots[j] <- struct{}{}:
			return j, func() { <-c.w.slots[j] }, true
		default:
		}
	}
	select {
	case c.w.slots[k] <- struct{}{}:
		return k, func() { <-c.w.slots[k] }, true
	case <-ctx.Done():
		return 0, nil, false
	}
}

// value returns a fresh unique value: p<process>-<n>.
func (c *client) value() string {
	c.seq++
	return fmt.Sprintf("p%d-%d", c.proc, c.seq)
}

func histF(op string) string {
	if op == "set" {
		return histories.OpPut
	}
	return op
}

// do sends one command and records its invoke and completion. It returns
// the completion type.
func (c *client) do(ctx context.Context, cmd nodeapi.Command) histories.Type {
	w := c.w
	node := c.nodes[c.nodeIdx]
	if cmd.Operation != "get" {
		c.reqID++
		cmd.ClientID, cmd.RequestID = c.clientID, c.reqID
	}
	inv := histories.Event{Kind: histories.KindOp, Type: histories.Invoke, Process: c.proc, F: histF(cmd.Operation),
		Key: cmd.Key, Node: node}
	if cmd.Operation == "set" || cmd.Operation == "cas" {
		inv.Value = cmd.Value
	}
	inv.Expected = cmd.Expected
	inv.Time = w.now()
	w.record(inv)
	w.stats.invoked.Add(1)

	// A write whose outcome stays unknown is sent again with the same
	// session (client id and request id), to the same node or another:
	// still one operation, completed by the last attempt's answer.
	// The client keeps its node (a slow or cut-off node keeps its
	// clients, as in Jepsen); only a retry may go elsewhere.
	var a Answer
	maybeApplied := false
	attempt, at := 1, c.nodeIdx
	for {
		a = c.apis[at].Do(ctx, cmd)
		if !w.retry.Again(cmd, a, maybeApplied, attempt) {
			break
		}
		maybeApplied = maybeApplied || !a.Definite
		if a.Refused {
			c.apis[at].Reset()
		}
		at = w.retry.NextNode(c.rng, at, len(c.nodes), a)
		time.Sleep(w.retry.Backoff(c.rng))
		attempt++
	}

	comp := Complete(cmd, a, maybeApplied, attempt, &w.known)
	comp.Process, comp.Node, comp.Time = c.proc, c.nodes[at], w.now()
	w.record(comp)
	switch comp.Type {
	case histories.OK:
		w.stats.ok.Add(1)
	case histories.Fail:
		w.stats.fail.Add(1)
	case histories.Info:
		w.stats.info.Add(1)
		c.newProcess()
	}
	if a.Refused {
		// Refused at once: the node is down. Move to the next node, and
		// pause briefly so that an unthrottled workload does not spin while
		// every node is down. A node that is slow or partitioned keeps its
		// clients (as in Jepsen): what it answers then is the point.
		c.apis[at].Reset()
		c.nodeIdx = (at + 1) % len(c.nodes)
		time.Sleep(refusedBackoff)
	}
	return comp.Type
}

func (w *Workload) record(e histories.Event) {
	if err := w.rec.Record(e); err != nil {
		w.cfg.Logger.Error("record", "err", err)
	}
}

// FinalReads reads every key with a linearizable get, retrying (under new
// processes after an info) until each read is ok or timeout passes. The
// reads are recorded like any operation. It returns the keys it could not
// read.
func (w *Workload) FinalReads(ctx context.Context, timeout time.Duration) []string {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	keys := w.Keys()
	var (
		mu     sync.Mutex
		failed []string
		wg     sync.WaitGroup
		next   atomic.Int64
	)
	for i := range min(4, len(keys)) {
		c, err := w.newClient(i, 1<<32)
		if err != nil {
			w.cfg.Logger.Error("final read client", "err", err)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.close()
			for {
				j := int(next.Add(1) - 1)
				if j >= len(keys) {
					return
				}
				if !c.finalRead(ctx, keys[j]) {
					mu.Lock()
					failed = append(failed, keys[j])
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	// Keys no client got to (every dial failed) are unread too.
	for j := int(next.Load()); j < len(keys); j++ {
		failed = append(failed, keys[j])
	}
	return failed
}

func (c *client) finalRead(ctx context.Context, key string) bool {
	for ctx.Err() == nil {
		t := c.do(context.Background(), nodeapi.Command{Operation: "get", Key: key, ReadMode: "linearizable"})
		if t == histories.OK {
			return true
		}
		c.nodeIdx = (c.nodeIdx + 1) % len(c.nodes)
		if !sleepUntil(ctx, time.Now().Add(100*time.Millisecond)) {
			return false
		}
	}
	return false
}
