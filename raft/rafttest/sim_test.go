package rafttest

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	flagSeeds    = flag.Int("sim.seeds", 0, "number of seeds TestSimulation runs (default 1000, 200 with -short)")
	flagSeed     = flag.Uint64("sim.seed", 0, "replay exactly this seed, with a trace")
	flagFrom     = flag.Uint64("sim.from", 1, "first seed of the sweep")
	flagSteps    = flag.Int("sim.steps", 0, "faulty steps per seed (default 300)")
	flagLease    = flag.Bool("sim.lease", false, "serve reads from the leader's lease (Options.LeaseReads)")
	flagSnapConf = flag.Bool("sim.snapconf", false, "the simulated driver snapshots after every conf change (Options.SnapshotOnConfChange)")
)

// seedFlagSet reports whether -sim.seed was given (seed 0 is a seed too).
func seedFlagSet() bool {
	set := false
	flag.Visit(func(f *flag.Flag) {
		if f.Name == "sim.seed" {
			set = true
		}
	})
	return set
}

// replayCommand is the command that replays seed with opts.
func replayCommand(seed uint64, opts Options) string {
	cmd := fmt.Sprintf("go test ./raft/rafttest -run TestSimulation -sim.seed=%d", seed)
	if opts.Steps != 0 {
		cmd += fmt.Sprintf(" -sim.steps=%d", opts.Steps)
	}
	if opts.LeaseReads {
		cmd += " -sim.lease"
	}
	if opts.SnapshotOnConfChange {
		cmd += " -sim.snapconf"
	}
	return cmd + " -v"
}

// tailWriter keeps the last lines written to it.
type tailWriter struct {
	lines []string
	max   int
	part  []byte
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.part = append(w.part, p...)
	for {
		i := bytes.IndexByte(w.part, '\n')
		if i < 0 {
			break
		}
		w.lines = append(w.lines, string(w.part[:i]))
		w.part = w.part[i+1:]
		if len(w.lines) > 2*w.max {
			w.lines = append(w.lines[:0], w.lines[len(w.lines)-w.max:]...)
		}
	}
	return len(p), nil
}

func (w *tailWriter) String() string {
	l := w.lines
	if len(l) > w.max {
		l = l[len(l)-w.max:]
	}
	return strings.Join(l, "\n")
}

type totals struct {
	seeds, failed                 int
	steps                         int
	ticks, delivered, dropped     uint64
	leaders, proposals, reads     int
	crashes, confs, snaps, transf int
	committed                     uint64
}

func (t *totals) add(r Result) {
	t.seeds++
	t.steps += r.Steps
	t.ticks += r.Ticks
	t.delivered += r.Delivered
	t.dropped += r.Dropped
	t.leaders += r.Leaders
	t.proposals += r.Proposals
	t.reads += r.Reads
	t.crashes += r.Crashes
	t.confs += r.ConfChanges
	t.snaps += r.Snapshots
	t.transf += r.Transfers
	t.committed += r.Committed
}

// TestSimulation runs the randomized cluster simulation over many seeds and
// fails with the replay command of every seed that breaks a property.
func TestSimulation(t *testing.T) {
	opts := Options{Steps: *flagSteps, SnapshotOnConfChange: *flagSnapConf, LeaseReads: *flagLease}
	if seedFlagSet() {
		replay(t, *flagSeed, opts)
		return
	}
	n := *flagSeeds
	if n <= 0 {
		n = 1000
		if testing.Short() {
			n = 200
		}
	}
	sweep(t, opts, n)
}

// TestSimulationLeaseReads sweeps fewer seeds with reads served from the
// leader's lease (clocks at one rate), checked for linearizability like
// ReadIndex.
func TestSimulationLeaseReads(t *testing.T) {
	if seedFlagSet() {
		t.Skip("-sim.seed replays in TestSimulation (add -sim.lease)")
	}
	n := *flagSeeds
	if n <= 0 {
		n = 200
		if testing.Short() {
			n = 50
		}
	}
	sweep(t, Options{Steps: *flagSteps, SnapshotOnConfChange: *flagSnapConf, LeaseReads: true}, n)
}

// sweep runs n seeds from -sim.from on GOMAXPROCS workers and reports.
func sweep(t *testing.T, opts Options, n int) {
	start := time.Now()
	var (
		mu    sync.Mutex
		tot   totals
		fails []*Violation
	)
	seeds := make(chan uint64)
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seed := range seeds {
				res, err := Run(seed, opts)
				mu.Lock()
				tot.add(res)
				if err != nil {
					var v *Violation
					if !errors.As(err, &v) {
						v = &Violation{Seed: seed, Property: PropDriver, Detail: err.Error()}
					}
					fails = append(fails, v)
				}
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < n; i++ {
		seeds <- *flagFrom + uint64(i)
	}
	close(seeds)
	wg.Wait()
	elapsed := time.Since(start)
	tot.failed = len(fails)
	mode := "read index"
	if opts.LeaseReads {
		mode = "lease reads"
	}
	summary := fmt.Sprintf("simulation (%s): %d seeds (%d..%d), %d failed, %d steps, %d ticks, %d messages delivered, %d dropped, "+
		"%d leaders, %d proposals, %d reads checked, %d crashes, %d conf changes, %d snapshots installed, %d transfers, in %v",
		mode, tot.seeds, *flagFrom, *flagFrom+uint64(n)-1, tot.failed, tot.steps, tot.ticks, tot.delivered, tot.dropped,
		tot.leaders, tot.proposals, tot.reads, tot.crashes, tot.confs, tot.snaps, tot.transf, elapsed.Round(time.Millisecond))
	t.Log(summary)
	fmt.Println(summary)
	if len(fails) == 0 {
		return
	}
	// Report the lowest seeds first, each with its replay command and the
	// end of its trace (a replay is deterministic).
	slicesSortViolations(fails)
	var list []string
	for _, v := range fails {
		list = append(list, fmt.Sprintf("%d (%s)", v.Seed, v.Property))
	}
	t.Errorf("failing seeds: %s", strings.Join(list, ", "))
	for i, v := range fails {
		if i >= 5 {
			t.Errorf("... and %d more failing seeds", len(fails)-i)
			break
		}
		tw := &tailWriter{max: 60}
		o := opts
		o.Trace = tw
		_, _ = Run(v.Seed, o)
		t.Errorf("%v\nreplay: %s\nlast trace lines:\n%s", v, replayCommand(v.Seed, opts), tw)
	}
}

func slicesSortViolations(vs []*Violation) {
	for i := 1; i < len(vs); i++ {
		for j := i; j > 0 && vs[j].Seed < vs[j-1].Seed; j-- {
			vs[j], vs[j-1] = vs[j-1], vs[j]
		}
	}
}

// replay runs one seed with a trace: the whole trace on stdout with -v, its
// tail in the failure otherwise.
func replay(t *testing.T, seed uint64, opts Options) {
	tw := &tailWriter{max: 200}
	var w io.Writer = tw
	if testing.Verbose() {
		w = io.MultiWriter(tw, stdoutWriter{})
	}
	opts.Trace = w
	start := time.Now()
	res, err := Run(seed, opts)
	summary := fmt.Sprintf("simulation: 1 seed (%d), %d steps, %d ticks, %d delivered, %d leaders, %d committed, trace hash %016x, in %v",
		seed, res.Steps, res.Ticks, res.Delivered, res.Leaders, res.Committed, res.TraceHash, time.Since(start).Round(time.Millisecond))
	t.Log(summary)
	if err != nil {
		t.Fatalf("%v\nreplay: %s\nlast trace lines:\n%s", err, replayCommand(seed, opts), tw)
	}
}

type stdoutWriter struct{}

func (stdoutWriter) Write(p []byte) (int, error) { fmt.Print(string(p)); return len(p), nil }
