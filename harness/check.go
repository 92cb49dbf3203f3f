package harness

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/raftkv/raftkv/checker"
	"github.com/raftkv/raftkv/histories"
)

// Results is results.json: the verdict of a run and every check's detail.
type Results struct {
	Scenario string `json:"scenario"`
	Seed     int64  `json:"seed"`
	Backend  string `json:"backend,omitempty"`
	// Verdict is the overall verdict: invalid if any check proved a
	// violation, unknown if a check could not decide (or crashed), valid
	// otherwise.
	Verdict  checker.Verdict `json:"verdict"`
	Expected string          `json:"expected,omitempty"`
	// Ops counts client operations (invocations); Faults fault windows.
	Ops    int `json:"ops"`
	OK     int `json:"ok"`
	Fail   int `json:"fail"`
	Info   int `json:"info"`
	Faults int `json:"faults"`

	Linearizability *checker.LinearizabilityResult `json:"linearizability,omitempty"`
	LostWrites      *checker.LostWritesResult      `json:"lost_writes,omitempty"`
	Convergence     *checker.ConvergenceResult     `json:"convergence,omitempty"`
	Availability    []checker.WindowStats          `json:"availability,omitempty"`
	// UnreadKeys are keys whose final read never succeeded.
	UnreadKeys []string `json:"unread_keys,omitempty"`
	// Warnings do not change the verdict (e.g. nodes that had not caught
	// up when convergence was measured).
	Warnings []string `json:"warnings,omitempty"`
	// Errors are harness or checker failures; any makes the verdict unknown.
	Errors  []string `json:"errors,omitempty"`
	Elapsed string   `json:"check_elapsed"`
}

// Analyze runs every check on a history. states are the nodes' final
// states (nil: convergence is not checked). A panicking check is recovered
// and recorded as an error, and the verdict becomes unknown.
func Analyze(events []histories.Event, states []checker.NodeState, timeout time.Duration) *Results {
	start := time.Now()
	res := &Results{}
	for _, e := range events {
		switch {
		case e.Kind == histories.KindOp && e.Type == histories.Invoke:
			res.Ops++
		case e.Kind == histories.KindOp && e.Type == histories.OK:
			res.OK++
		case e.Kind == histories.KindOp && e.Type == histories.Fail:
			res.Fail++
		case e.Kind == histories.KindOp && e.Type == histories.Info:
			res.Info++
		}
	}
	for _, w := range histories.FaultWindows(events) {
		if w.F != "heal-all" {
			res.Faults++
		}
	}
	safely(res, "linearizability", func() {
		r := checker.CheckLinearizability(events, timeout)
		res.Linearizability = &r
	})
	safely(res, "lost writes", func() {
		r := checker.CheckLostWrites(events)
		res.LostWrites = &r
	})
	if states != nil {
		safely(res, "convergence", func() {
			r := checker.CheckConvergence(states)
			res.Convergence = &r
		})
	}
	safely(res, "availability", func() { res.Availability = checker.Availability(events) })
	res.Verdict = res.overall()
	res.Elapsed = time.Since(start).Round(time.Millisecond).String()
	return res
}

// overall combines the checks. Convergence that could not be compared
// (nodes at different applied indexes) is a warning, not an unknown: the
// history checks still decide.
func (r *Results) overall() checker.Verdict {
	verdicts := []checker.Verdict{}
	if r.Linearizability != nil {
		verdicts = append(verdicts, r.Linearizability.Verdict)
		if r.Linearizability.Error != "" {
			r.Errors = append(r.Errors, "linearizability: "+r.Linearizability.Error)
		}
	} else {
		verdicts = append(verdicts, checker.Unknown)
	}
	if r.LostWrites != nil {
		v := r.LostWrites.Verdict
		if v == checker.Unknown {
			// No final read at all: nothing to compare; the linearizability
			// check covers the reads there were.
			r.Warnings = append(r.Warnings, "lost writes: undecided: "+r.LostWrites.Error)
			v = checker.Valid
		}
		verdicts = append(verdicts, v)
	}
	if r.Convergence != nil {
		switch r.Convergence.Verdict {
		case checker.Invalid:
			verdicts = append(verdicts, checker.Invalid)
		case checker.Unknown:
			r.Warnings = append(r.Warnings, "convergence: "+r.Convergence.Message)
		}
	}
	if len(r.UnreadKeys) > 0 {
		r.Warnings = append(r.Warnings, fmt.Sprintf("final reads failed for %d key(s): %v", len(r.UnreadKeys), r.UnreadKeys))
	}
	out := checker.Valid
	for _, v := range verdicts {
		switch {
		case v == checker.Invalid:
			return checker.Invalid
		case v != checker.Valid:
			out = checker.Unknown
		}
	}
	if len(r.Errors) > 0 {
		return checker.Unknown
	}
	return out
}

func safely(r *Results, name string, f func()) {
	defer func() {
		if p := recover(); p != nil {
			r.Errors = append(r.Errors, fmt.Sprintf("%s check panicked: %v\n%s", name, p, debug.Stack()))
		}
	}()
	f()
}

// WriteResults writes results.json into dir.
func WriteResults(dir string, r *Results) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("harness: encode results: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, "results.json"), append(b, '\n'), 0o644)
}

// Render writes history.html, timeline.html, latency.png and
// throughput.png into dir. Each artifact is attempted even if another
// fails; a panic in a renderer is recovered and returned as an error.
func Render(dir string, events []histories.Event, r *Results) error {
	var errs []error
	render := func(name string, f func() error) {
		defer func() {
			if p := recover(); p != nil {
				errs = append(errs, fmt.Errorf("%s: renderer panicked: %v", name, p))
			}
		}()
		if err := f(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	toFile := func(name string, write func(f *os.File) error) func() error {
		return func() error {
			f, err := os.Create(filepath.Join(dir, name))
			if err != nil {
				return err
			}
			if err := write(f); err != nil {
				f.Close()
				return err
			}
			return f.Close()
		}
	}
	lin := checker.LinearizabilityResult{}
	if r.Linearizability != nil {
		lin = *r.Linearizability
	}
	render("history.html", toFile("history.html", func(f *os.File) error { return checker.WriteVisualization(f, events, lin) }))
	render("timeline.html", toFile("timeline.html", func(f *os.File) error { return checker.WriteTimeline(f, events) }))
	render("latency.png", func() error { return checker.PlotLatency(filepath.Join(dir, "latency.png"), events) })
	render("throughput.png", func() error { return checker.PlotThroughput(filepath.Join(dir, "throughput.png"), events) })
	return errors.Join(errs...)
}
