package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftkv/raftkv/kvservice/api"
)

// benchOptions configures a closed-loop load run.
type benchOptions struct {
	clients   []int
	duration  time.Duration
	warmup    time.Duration
	valueSize int
	keys      int
	readRatio float64
	readMode  string
	target    string
	reqTimout time.Duration
}

// BenchResult is the outcome of one load level.
type BenchResult struct {
	Clients    int     `json:"clients"`
	Seconds    float64 `json:"seconds"`
	ValueSize  int     `json:"value_size"`
	ReadRatio  float64 `json:"read_ratio"`
	Writes     int     `json:"writes"`
	Reads      int     `json:"reads"`
	Throughput float64 `json:"ops_per_sec"`
	WritesPerS float64 `json:"writes_per_sec"`
	// Latencies of successful operations, in milliseconds.
	P50    float64        `json:"p50_ms"`
	P90    float64        `json:"p90_ms"`
	P99    float64        `json:"p99_ms"`
	Max    float64        `json:"max_ms"`
	Errors int            `json:"errors"`
	ByCode map[string]int `json:"errors_by_code,omitempty"`
	// LeaderChanges counts the term changes seen by polling /status during
	// the level (each one is an election).
	LeaderChanges int    `json:"leader_changes"`
	Leader        string `json:"leader"`
}

func benchCmd(g *globals) *cobra.Command {
	var o benchOptions
	var clients string
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Closed-loop load against a running cluster",
		Long: `bench runs a closed loop: each client sends one request, waits for the
answer, sends the next. Writes are "set" commands; with --keys 0 every
write goes to a key of its own. --clients takes a list (1,8,32,128) to
sweep load levels one after the other. Leader changes are counted by
polling /status of every endpoint.

-o json prints one JSON object per level (a JSON array), -o markdown a
table row per level.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if o.clients, err = parseInts(clients); err != nil {
				return fmt.Errorf("--clients: %w", err)
			}
			if o.readRatio < 0 || o.readRatio > 1 {
				return fmt.Errorf("--read-ratio %v: want a value in [0, 1]", o.readRatio)
			}
			if o.target != "leader" && o.target != "all" {
				return fmt.Errorf("--target %q: want leader or all", o.target)
			}
			if g.output != "simple" && g.output != "json" && g.output != "markdown" {
				return fmt.Errorf("-o %q: want simple, json or markdown", g.output)
			}
			b, err := newBencher(g, slices.Max(o.clients))
			if err != nil {
				return err
			}
			var results []BenchResult
			for _, n := range o.clients {
				r, err := b.level(cmd.Context(), o, n)
				if err != nil {
					return err
				}
				results = append(results, r)
				if g.output == "simple" {
					printBenchSimple(cmd.OutOrStdout(), r)
				}
			}
			switch g.output {
			case "json":
				return printJSON(cmd.OutOrStdout(), results)
			case "markdown":
				printBenchMarkdown(cmd.OutOrStdout(), results)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&clients, "clients", "1", "concurrent clients, or a comma-separated list of levels to sweep")
	f.DurationVar(&o.duration, "duration", 10*time.Second, "measured time per level")
	f.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured load before each level")
	f.IntVar(&o.valueSize, "value-size", 256, "bytes per written value")
	f.IntVar(&o.keys, "keys", 0, "key space for writes and reads (0: every write gets a unique key)")
	f.Float64Var(&o.readRatio, "read-ratio", 0, "fraction of operations that are reads (gets)")
	f.StringVar(&o.readMode, "read-mode", "", "read mode of the gets (default: the node's)")
	f.StringVar(&o.target, "target", "leader", "send to the leader (found via /status) or spread over all endpoints")
	f.DurationVar(&o.reqTimout, "request-timeout", 10*time.Second, "timeout of one request")
	cmd.AddCommand(failoverCmd(g))
	return cmd
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// bencher holds what the load levels share: the endpoints and one HTTP
// transport with enough idle keep-alive connections for every client.
type bencher struct {
	endpoints []string
	hc        *http.Client
	run       string // distinguishes the keys of this run from earlier ones
	tls       *tls.Config
	token     string
}

func newBencher(g *globals, maxClients int) (*bencher, error) {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        4*maxClients + 64,
		MaxIdleConnsPerHost: maxClients + 16,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	b := &bencher{hc: &http.Client{Transport: tr}, run: strconv.FormatInt(time.Now().UnixNano()%1e9, 36), token: g.token}
	scheme := "http://"
	cfg, err := g.tlsConfig()
	if err != nil {
		return nil, err
	}
	if cfg != nil {
		b.tls, tr.TLSClientConfig, scheme = cfg, cfg, "https://"
	}
	for _, e := range strings.Split(g.endpoints, ",") {
		if e = strings.TrimSpace(e); e == "" {
			continue
		}
		if !strings.Contains(e, "://") {
			e = scheme + e
		}
		b.endpoints = append(b.endpoints, strings.TrimRight(e, "/"))
	}
	return b, nil
}

func (b *bencher) authorize(req *http.Request) {
	if b.token != "" {
		req.Header.Set("Authorization", "Bearer "+b.token)
	}
}

// status fetches GET /status of one endpoint.
func (b *bencher) status(ctx context.Context, ep string) (*api.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ep+"/status", nil)
	if err != nil {
		return nil, err
	}
	b.authorize(req)
	resp, err := b.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s/status: http %d", ep, resp.StatusCode)
	}
	var st api.Status
	return &st, json.NewDecoder(resp.Body).Decode(&st)
}

// leaderEndpoint returns the API URL of the leader as the endpoints see it.
func (b *bencher) leaderEndpoint(ctx context.Context, exclude string) (name, url string, err error) {
	for _, ep := range b.endpoints {
		if ep == exclude {
			continue
		}
		st, err := b.status(ctx, ep)
		if err != nil || st.Leader == "" {
			continue
		}
		if st.Role == "leader" {
			return st.ID, ep, nil
		}
		for _, m := range st.Members {
			if m.ID == st.Leader && m.APIAddr != "" {
				u := "http://" + m.APIAddr
				if !slices.Contains(b.endpoints, u) {
					// The advertised address may use another host name
					// than the endpoint list: keep the endpoint's.
					continue
				}
				if u != exclude {
					return m.ID, u, nil
				}
			}
		}
	}
	return "", "", fmt.Errorf("no endpoint knows a leader")
}

// termWatcher polls /status of every endpoint and counts term changes.
type termWatcher struct {
	mu      sync.Mutex
	term    uint64
	changes int
	leader  string
}

func (w *termWatcher) poll(ctx context.Context, b *bencher) {
	for _, ep := range b.endpoints {
		st, err := b.status(ctx, ep)
		if err != nil {
			continue
		}
		w.mu.Lock()
		if st.Term > w.term {
			if w.term != 0 {
				w.changes += int(st.Term - w.term)
			}
			w.term = st.Term
		}
		if st.Role == "leader" {
			w.leader = st.ID
		}
		w.mu.Unlock()
	}
}

func (w *termWatcher) run(ctx context.Context, b *bencher, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.poll(ctx, b)
		}
	}
}

// opResult is what one request came back with.
type opResult struct {
	ok   bool
	code string
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// send posts one pre-encoded /command body and classifies the answer
// without decoding a successful one (the load generator shares the CPU with
// the cluster: it must stay cheap).
func (b *bencher) send(ctx context.Context, ep string, body []byte) opResult {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep+"/command", bytes.NewReader(body))
	if err != nil {
		return opResult{code: "client"}
	}
	req.Header.Set("Content-Type", "application/json")
	b.authorize(req)
	resp, err := b.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return opResult{code: "client_timeout"}
		}
		return opResult{code: "connection"}
	}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	_, rerr := buf.ReadFrom(resp.Body)
	resp.Body.Close()
	defer bufPool.Put(buf)
	if rerr != nil {
		return opResult{code: "connection"}
	}
	return classify(resp.StatusCode, buf.Bytes())
}

// classify turns an answer of /command into an opResult.
func classify(status int, body []byte) opResult {
	if status == http.StatusOK {
		return opResult{ok: true}
	}
	var eb struct {
		Error *api.Error `json:"error"`
	}
	if json.Unmarshal(body, &eb) == nil && eb.Error != nil {
		return opResult{code: eb.Error.Code}
	}
	return opResult{code: "http_" + strconv.Itoa(status)}
}

// rawConn is one load client's own keep-alive HTTP/1.1 connection. The
// net/http client hands every request to two goroutines of its own (a
// writer and a reader per connection); on a 2-core machine shared with the
// cluster those handoffs added about 0.1 ms to every measured request (wrk,
// which reads and writes its sockets itself, measured 0.59 ms p50 where
// the net/http client measured 0.73 ms against the same build). So a load
// client writes its request bytes itself and parses each answer with
// net/http's ReadResponse, on its own goroutine. With tls set it speaks
// HTTP/1.1 over TLS to https:// endpoints.
type rawConn struct {
	tls   *tls.Config
	token string
	ep    string // the endpoint conn is connected to
	conn  net.Conn
	br    *bufio.Reader
	req   []byte
	body  bytes.Buffer
}

// post sends body to ep+"/command" and classifies the answer. Any transport
// error closes the connection; the next post dials again.
func (rc *rawConn) post(ctx context.Context, ep string, body []byte) opResult {
	res, err := rc.roundTrip(ctx, ep, body)
	if err != nil {
		rc.close()
		if ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) {
			return opResult{code: "client_timeout"}
		}
		return opResult{code: "connection"}
	}
	return res
}

func (rc *rawConn) roundTrip(ctx context.Context, ep string, body []byte) (opResult, error) {
	host := strings.TrimPrefix(strings.TrimPrefix(ep, "http://"), "https://")
	if rc.conn != nil && rc.ep != ep {
		rc.close()
	}
	if rc.conn == nil {
		c, err := (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, "tcp", host)
		if err != nil {
			return opResult{}, err
		}
		if rc.tls != nil {
			cfg := rc.tls.Clone()
			cfg.NextProtos = []string{"http/1.1"}
			tc := tls.Client(c, cfg)
			if err := tc.HandshakeContext(ctx); err != nil {
				c.Close()
				return opResult{}, err
			}
			c = tc
		}
		rc.conn, rc.ep = c, ep
		if rc.br == nil {
			rc.br = bufio.NewReaderSize(c, 16<<10)
		} else {
			rc.br.Reset(c)
		}
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = rc.conn.SetDeadline(dl)
	}
	rc.req = append(rc.req[:0], "POST /command HTTP/1.1\r\nHost: "...)
	rc.req = append(rc.req, host...)
	if rc.token != "" {
		rc.req = append(rc.req, "\r\nAuthorization: Bearer "...)
		rc.req = append(rc.req, rc.token...)
	}
	rc.req = append(rc.req, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	rc.req = strconv.AppendInt(rc.req, int64(len(body)), 10)
	rc.req = append(rc.req, "\r\n\r\n"...)
	rc.req = append(rc.req, body...)
	if _, err := rc.conn.Write(rc.req); err != nil {
		return opResult{}, err
	}
	resp, err := http.ReadResponse(rc.br, nil)
	if err != nil {
		return opResult{}, err
	}
	rc.body.Reset()
	_, err = rc.body.ReadFrom(resp.Body)
	resp.Body.Close()
	if err != nil {
		return opResult{}, err
	}
	if resp.Close {
		rc.close()
	}
	return classify(resp.StatusCode, rc.body.Bytes()), nil
}

func (rc *rawConn) close() {
	if rc.conn != nil {
		_ = rc.conn.Close()
		rc.conn = nil
	}
}

// appendCommand encodes a set or get without reflection.
func appendCommand(dst []byte, op, key string, value []byte, mode string) []byte {
	dst = append(dst, `{"operation":"`...)
	dst = append(dst, op...)
	dst = append(dst, `","key":`...)
	dst = strconv.AppendQuote(dst, key)
	if value != nil {
		dst = append(dst, `,"value":"`...)
		dst = append(dst, value...) // letters only: no escaping needed
		dst = append(dst, '"')
	}
	if mode != "" {
		dst = append(dst, `,"read_mode":`...)
		dst = strconv.AppendQuote(dst, mode)
	}
	return append(dst, '}')
}

// loadClient is one closed-loop client.
type loadClient struct {
	id      int
	lat     []time.Duration
	writes  int
	reads   int
	errs    map[string]int
	keySeq  uint64
	buf     []byte
	value   []byte
	rng     *rand.Rand
	measure atomic.Bool
	conn    rawConn
}

func (b *bencher) level(ctx context.Context, o benchOptions, n int) (BenchResult, error) {
	name, ep, err := b.leaderEndpoint(ctx, "")
	if err != nil {
		return BenchResult{}, err
	}
	value := make([]byte, o.valueSize)
	for i := range value {
		value[i] = 'a' + byte(i%26)
	}
	var w termWatcher
	w.poll(ctx, b)
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	go w.run(wctx, b, 200*time.Millisecond)

	var leaderEP atomic.Pointer[string]
	leaderEP.Store(&ep)
	var rediscover sync.Mutex
	findLeader := func(bad string) {
		if !rediscover.TryLock() {
			return
		}
		defer rediscover.Unlock()
		if cur := *leaderEP.Load(); cur != bad {
			return
		}
		if _, u, err := b.leaderEndpoint(ctx, ""); err == nil {
			leaderEP.Store(&u)
		}
	}

	clients := make([]*loadClient, n)
	start := time.Now()
	measureFrom := start.Add(o.warmup)
	end := measureFrom.Add(o.duration)
	var wg sync.WaitGroup
	for i := range n {
		c := &loadClient{id: i, errs: map[string]int{}, value: value, rng: rand.New(rand.NewPCG(uint64(i), uint64(start.UnixNano())))}
		c.conn.tls, c.conn.token = b.tls, b.token
		c.lat = make([]time.Duration, 0, 4096)
		clients[i] = c
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				target := *leaderEP.Load()
				if o.target == "all" {
					target = b.endpoints[(c.id+int(c.keySeq))%len(b.endpoints)]
				}
				isRead := o.readRatio > 0 && c.rng.Float64() < o.readRatio
				var key string
				switch {
				case o.keys > 0:
					key = "bench-" + strconv.Itoa(c.rng.IntN(o.keys))
				case isRead && c.keySeq > 0:
					key = "bench-" + b.run + "-" + strconv.Itoa(c.id) + "-" + strconv.FormatUint(c.rng.Uint64N(c.keySeq), 10)
				default:
					key = "bench-" + b.run + "-" + strconv.Itoa(c.id) + "-" + strconv.FormatUint(c.keySeq, 10)
				}
				if isRead {
					c.buf = appendCommand(c.buf[:0], "get", key, nil, o.readMode)
				} else {
					c.keySeq++
					c.buf = appendCommand(c.buf[:0], "set", key, c.value, "")
				}
				rctx, cancel := context.WithTimeout(ctx, o.reqTimout)
				var res opResult
				if strings.HasPrefix(target, "http://") {
					res = c.conn.post(rctx, target, c.buf)
				} else {
					res = b.send(rctx, target, c.buf)
				}
				cancel()
				t1 := time.Now()
				if !t0.Before(measureFrom) && t1.Before(end) {
					if res.ok {
						c.lat = append(c.lat, t1.Sub(t0))
						if isRead {
							c.reads++
						} else {
							c.writes++
						}
					} else {
						c.errs[res.code]++
					}
				}
				if !res.ok {
					switch res.code {
					case api.CodeNotLeader, api.CodeNoLeader, "connection", api.CodeForwardFailed:
						findLeader(target)
						time.Sleep(5 * time.Millisecond) // not to spin while there is no leader
					}
				}
				if ctx.Err() != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	wcancel()
	for _, c := range clients {
		c.conn.close()
	}
	if err := ctx.Err(); err != nil {
		return BenchResult{}, err
	}
	w.poll(ctx, b)

	r := BenchResult{Clients: n, Seconds: o.duration.Seconds(), ValueSize: o.valueSize, ReadRatio: o.readRatio, ByCode: map[string]int{}}
	var all []time.Duration
	for _, c := range clients {
		all = append(all, c.lat...)
		r.Writes += c.writes
		r.Reads += c.reads
		for code, k := range c.errs {
			r.ByCode[code] += k
			r.Errors += k
		}
	}
	slices.Sort(all)
	r.P50, r.P90, r.P99 = ms(percentile(all, 0.50)), ms(percentile(all, 0.90)), ms(percentile(all, 0.99))
	if len(all) > 0 {
		r.Max = ms(all[len(all)-1])
	}
	r.Throughput = float64(r.Writes+r.Reads) / o.duration.Seconds()
	r.WritesPerS = float64(r.Writes) / o.duration.Seconds()
	w.mu.Lock()
	r.LeaderChanges = w.changes
	r.Leader = w.leader
	w.mu.Unlock()
	if r.Leader == "" {
		r.Leader = name
	}
	if len(r.ByCode) == 0 {
		r.ByCode = nil
	}
	return r, nil
}

// percentile returns the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func printBenchSimple(w io.Writer, r BenchResult) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "clients\t%d\n", r.Clients)
	fmt.Fprintf(tw, "throughput\t%.0f ops/s (%.0f writes/s, %d writes, %d reads in %.1fs)\n", r.Throughput, r.WritesPerS, r.Writes, r.Reads, r.Seconds)
	fmt.Fprintf(tw, "latency\tp50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n", r.P50, r.P90, r.P99, r.Max)
	errs := fmt.Sprint(r.Errors)
	if r.Errors > 0 {
		errs += fmt.Sprintf(" %v", r.ByCode)
	}
	fmt.Fprintf(tw, "errors\t%s\n", errs)
	fmt.Fprintf(tw, "leader changes\t%d (leader %s)\n", r.LeaderChanges, r.Leader)
	tw.Flush()
	fmt.Fprintln(w)
}

func printBenchMarkdown(w io.Writer, rs []BenchResult) {
	fmt.Fprintln(w, "| clients | ops/s | writes/s | p50 ms | p90 ms | p99 ms | max ms | errors | leader changes |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rs {
		fmt.Fprintf(w, "| %d | %.0f | %.0f | %.2f | %.2f | %.2f | %.2f | %d | %d |\n",
			r.Clients, r.Throughput, r.WritesPerS, r.P50, r.P90, r.P99, r.Max, r.Errors, r.LeaderChanges)
	}
}
