package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftkv/raftkv/kvservice/api"
)

type failoverOptions struct {
	trials          int
	pidDir          string
	pids            string
	method          string
	writers         int
	electionTimeout time.Duration
	settle          time.Duration
	timeout         time.Duration
}

// FailoverTrial is one leader kill.
type FailoverTrial struct {
	Killed string  `json:"killed"`
	Method string  `json:"method"`
	Millis float64 `json:"ms_to_first_write"`
	// NewLeader is the leader that acknowledged the first write.
	NewLeader string `json:"new_leader,omitempty"`
	Restarted bool   `json:"restarted"`
}

// FailoverResult summarizes the trials.
type FailoverResult struct {
	Trials   []FailoverTrial `json:"trials"`
	MedianMs float64         `json:"median_ms"`
	MinMs    float64         `json:"min_ms"`
	MaxMs    float64         `json:"max_ms"`
	// ElectionTimeoutMs is the configured (lower) election timeout; the
	// randomized timeout's upper bound is twice it.
	ElectionTimeoutMs float64 `json:"election_timeout_ms,omitempty"`
}

func failoverCmd(g *globals) *cobra.Command {
	var o failoverOptions
	cmd := &cobra.Command{
		Use:   "failover",
		Short: "Kill the leader and time until the first successful write",
		Long: `failover kills the current leader N times and measures, each time, the
time from the kill to the first write the cluster acknowledges (writers
keep sending to the surviving endpoints, which forward to whichever node
they believe leads).

The leader is killed by PID with SIGKILL (--method kill; PIDs from --pids
node0=123,... or from --pid-dir DIR, which holds NAME.pid files), or asked
to crash at its next persist through the fault API (--method failpoint; the
node must run with --unsafe-enable-fault-injection).

Between trials the killed node is restarted when --pid-dir holds an
executable NAME.restart (scripts/bench.sh writes them): it must start the
node in the background and rewrite NAME.pid. The next trial waits until
every endpoint agrees on a leader and has caught up.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.output != "simple" && g.output != "json" && g.output != "markdown" {
				return fmt.Errorf("-o %q: want simple, json or markdown", g.output)
			}
			if o.method != "kill" && o.method != "failpoint" {
				return fmt.Errorf("--method %q: want kill or failpoint", o.method)
			}
			if o.trials < 1 || o.writers < 1 {
				return errors.New("--trials and --writers must be positive")
			}
			res, err := runFailover(cmd.Context(), g, o, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			switch g.output {
			case "json":
				return printJSON(w, res)
			case "markdown":
				printFailoverMarkdown(w, res)
			default:
				for i, t := range res.Trials {
					fmt.Fprintf(w, "trial %d: killed %s (%s), first write after %.0f ms (leader %s)\n", i+1, t.Killed, t.Method, t.Millis, t.NewLeader)
				}
				fmt.Fprintf(w, "failover: median %.0f ms, min %.0f ms, max %.0f ms over %d trials\n", res.MedianMs, res.MinMs, res.MaxMs, len(res.Trials))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.trials, "trials", 5, "number of leader kills")
	f.StringVar(&o.pidDir, "pid-dir", "", "directory with NAME.pid (and optional executable NAME.restart) per node")
	f.StringVar(&o.pids, "pids", "", "node PIDs: node0=123,node1=124,...")
	f.StringVar(&o.method, "method", "kill", "kill (SIGKILL by PID) or failpoint (crash-before-persist through the fault API)")
	f.IntVar(&o.writers, "writers", 4, "concurrent writers probing for the first successful write")
	f.DurationVar(&o.electionTimeout, "election-timeout", 0, "the nodes' --election-timeout, reported next to the result")
	f.DurationVar(&o.settle, "settle", 500*time.Millisecond, "pause after the cluster is healthy, before a kill")
	f.DurationVar(&o.timeout, "trial-timeout", 30*time.Second, "give up a trial after this long")
	return cmd
}

func parsePIDs(s string) (map[string]int, error) {
	out := map[string]int{}
	if s == "" {
		return out, nil
	}
	for _, kv := range strings.Split(s, ",") {
		name, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		pid, err := strconv.Atoi(v)
		if !ok || err != nil || pid <= 0 {
			return nil, fmt.Errorf("--pids: %q is not NAME=PID", kv)
		}
		out[name] = pid
	}
	return out, nil
}

// pidOf finds a node's PID: --pids first, then DIR/NAME.pid.
func pidOf(o failoverOptions, static map[string]int, name string) (int, error) {
	if pid, ok := static[name]; ok {
		return pid, nil
	}
	if o.pidDir == "" {
		return 0, fmt.Errorf("no PID known for %s (give --pids or --pid-dir)", name)
	}
	b, err := os.ReadFile(filepath.Join(o.pidDir, name+".pid"))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

func runFailover(ctx context.Context, g *globals, o failoverOptions, logw io.Writer) (*FailoverResult, error) {
	static, err := parsePIDs(o.pids)
	if err != nil {
		return nil, err
	}
	b, err := newBencher(g, o.writers)
	if err != nil {
		return nil, err
	}
	res := &FailoverResult{ElectionTimeoutMs: ms(o.electionTimeout)}
	for trial := range o.trials {
		if err := b.waitHealthy(ctx, o.timeout); err != nil {
			return nil, fmt.Errorf("trial %d: cluster not healthy: %w", trial+1, err)
		}
		if err := sleepCtx(ctx, o.settle); err != nil {
			return nil, err
		}
		name, leaderEP, err := b.leaderEndpoint(ctx, "")
		if err != nil {
			return nil, err
		}
		t := FailoverTrial{Killed: name, Method: o.method}
		var killedAt time.Time
		switch o.method {
		case "kill":
			pid, err := pidOf(o, static, name)
			if err != nil {
				return nil, err
			}
			killedAt = time.Now()
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				return nil, fmt.Errorf("kill %s (pid %d): %w", name, pid, err)
			}
		case "failpoint":
			if killedAt, err = b.crashByFailpoint(ctx, leaderEP); err != nil {
				return nil, fmt.Errorf("crashing %s: %w", name, err)
			}
		}
		var survivors []string
		for _, ep := range b.endpoints {
			if ep != leaderEP {
				survivors = append(survivors, ep)
			}
		}
		at, leader, err := b.firstWrite(ctx, survivors, killedAt, o)
		if err != nil {
			return nil, fmt.Errorf("trial %d (killed %s): %w", trial+1, name, err)
		}
		t.Millis = ms(at.Sub(killedAt))
		t.NewLeader = leader
		fmt.Fprintf(logw, "failover trial %d: killed %s, first write after %.0f ms\n", trial+1, name, t.Millis)
		if o.pidDir != "" {
			restart := filepath.Join(o.pidDir, name+".restart")
			if st, err := os.Stat(restart); err == nil && st.Mode()&0o111 != 0 {
				out, err := exec.CommandContext(ctx, restart).CombinedOutput()
				if err != nil {
					return nil, fmt.Errorf("restarting %s: %w: %s", name, err, out)
				}
				t.Restarted = true
			}
		}
		res.Trials = append(res.Trials, t)
		if !t.Restarted && trial+1 < o.trials {
			fmt.Fprintf(logw, "cannot restart %s (no executable %s.restart in --pid-dir): stopping after %d trials\n", name, name, trial+1)
			break
		}
	}
	var d []float64
	for _, t := range res.Trials {
		d = append(d, t.Millis)
	}
	slices.Sort(d)
	res.MinMs, res.MaxMs = d[0], d[len(d)-1]
	if len(d)%2 == 1 {
		res.MedianMs = d[len(d)/2]
	} else {
		res.MedianMs = (d[len(d)/2-1] + d[len(d)/2]) / 2
	}
	return res, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// waitHealthy waits until every endpoint answers, all agree on one leader
// and term, and every node has applied what the leader had committed.
func (b *bencher) waitHealthy(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := errors.New("no status yet")
	for time.Now().Before(deadline) {
		if err := b.healthy(ctx); err == nil {
			return nil
		} else {
			last = err
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	return last
}

func (b *bencher) healthy(ctx context.Context) error {
	var sts []*api.Status
	for _, ep := range b.endpoints {
		st, err := b.status(ctx, ep)
		if err != nil {
			return err
		}
		sts = append(sts, st)
	}
	var commit uint64
	for _, st := range sts {
		if st.Leader == "" || st.Leader != sts[0].Leader || st.Term != sts[0].Term {
			return fmt.Errorf("endpoints disagree on the leader")
		}
		if st.Role == "leader" {
			commit = st.Commit
		}
	}
	if commit == 0 {
		return errors.New("the leader is not among the endpoints")
	}
	for _, st := range sts {
		if st.Applied < commit {
			return fmt.Errorf("%s has applied %d < commit %d", st.ID, st.Applied, commit)
		}
	}
	return nil
}

// crashByFailpoint arms crash-before-persist on the leader and writes to
// it; the moment that write's connection breaks is the crash.
func (b *bencher) crashByFailpoint(ctx context.Context, ep string) (time.Time, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, ep+"/fault/failpoint", strings.NewReader(`{"name":"crash-before-persist","after":0}`))
	if err != nil {
		return time.Time{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.hc.Do(req)
	if err != nil {
		return time.Time{}, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return time.Time{}, fmt.Errorf("PUT /fault/failpoint: http %d: %s (is the node running with --unsafe-enable-fault-injection?)", resp.StatusCode, bytes.TrimSpace(body))
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	r := b.send(cctx, ep, appendCommand(nil, "set", "bench-failover-trigger", []byte("x"), ""))
	if r.ok {
		return time.Time{}, errors.New("the leader acknowledged a write after the failpoint was armed")
	}
	return time.Now(), nil
}

// firstWrite sends writes to the survivors until one succeeds and returns
// when it was acknowledged.
func (b *bencher) firstWrite(ctx context.Context, survivors []string, since time.Time, o failoverOptions) (time.Time, string, error) {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	type hit struct {
		at     time.Time
		leader string
	}
	got := make(chan hit, o.writers)
	var wg sync.WaitGroup
	for w := range o.writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				ep := survivors[(w+i)%len(survivors)]
				key := fmt.Sprintf("bench-failover-%d-%d-%d", since.UnixNano(), w, i)
				rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
				r := b.send(rctx, ep, appendCommand(nil, "set", key, []byte("v"), ""))
				rcancel()
				if r.ok {
					got <- hit{at: time.Now(), leader: ep}
					return
				}
				_ = sleepCtx(ctx, 2*time.Millisecond)
			}
		}()
	}
	select {
	case h := <-got:
		cancel()
		wg.Wait()
		leader := h.leader
		if name, _, err := b.leaderEndpoint(context.Background(), ""); err == nil {
			leader = name
		}
		return h.at, leader, nil
	case <-ctx.Done():
		wg.Wait()
		return time.Time{}, "", fmt.Errorf("no write succeeded within %v", o.timeout)
	}
}

func printFailoverMarkdown(w io.Writer, r *FailoverResult) {
	fmt.Fprintln(w, "| trial | killed | ms to first write | new leader |")
	fmt.Fprintln(w, "|---:|---|---:|---|")
	for i, t := range r.Trials {
		fmt.Fprintf(w, "| %d | %s | %.0f | %s |\n", i+1, t.Killed, t.Millis, t.NewLeader)
	}
	fmt.Fprintf(w, "\nMedian %.0f ms (min %.0f, max %.0f) over %d trials", r.MedianMs, r.MinMs, r.MaxMs, len(r.Trials))
	if r.ElectionTimeoutMs > 0 {
		bound := 2 * r.ElectionTimeoutMs
		fmt.Fprintf(w, "; election timeout %.0f ms, randomized up to %.0f ms, target ≤ 1.5 × %.0f = %.0f ms: %s",
			r.ElectionTimeoutMs, bound, bound, 1.5*bound, metOrNot(r.MedianMs <= 1.5*bound))
	}
	fmt.Fprintln(w, ".")
}

func metOrNot(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}
