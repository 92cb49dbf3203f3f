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
	// LogAgreement compares the nodes' committed logs (logs.json); absent
	// when the backend cannot read its nodes' data.
	LogAgreement *checker.LogAgreementResult `json:"log_agreement,omitempty"`
	// NodeHealth judges every exit and panic of the nodes' processes
	// (node_events.json); absent when the backend does not watch them.
	NodeHealth   *checker.NodeHealthResult `json:"node_health,omitempty"`
	Availability []checker.WindowStats     `json:"availability,omitempty"`
	// UnreadKeys are keys whose final read never succeeded.
	UnreadKeys []string `json:"unread_keys,omitempty"`
	// Reasons say why the verdict is not valid (from checker.Check).
	Reasons []string       `json:"reasons,omitempty"`
	Stats   *checker.Stats `json:"stats,omitempty"`
	// Warnings do not change the verdict (e.g. nodes that had not caught
	// up when convergence was measured).
	Warnings []string `json:"warnings,omitempty"`
	// Errors are harness or checker failures; any makes the verdict unknown.
	Errors  []string `json:"errors,omitempty"`
	Elapsed string   `json:"check_elapsed"`
	// Shrink is set on a run of `harness shrink`'s shrunk scenario: the
	// run it was shrunk from, the original and the shrunk schedule,
	// clients, keys and duration, and the replay command (the report's
	// "Shrunk from" section). A re-check keeps it.
	Shrink *ShrinkInfo `json:"shrink,omitempty"`
}

// Evidence is what a run knows about its nodes besides the history. A nil
// field is a check not run.
type Evidence struct {
	// States are the nodes' final states (convergence).
	States []checker.NodeState
	// Logs are the nodes' committed logs (log agreement).
	Logs []checker.NodeLog
	// Events are the nodes' process exits and panics (node health).
	Events []checker.NodeEvent
}

// Analyze runs every check on a history with checker.Check. states are the
// nodes' final states (nil: convergence is not checked). It is
// AnalyzeEvidence with states as the only evidence.
func Analyze(events []histories.Event, states []checker.NodeState, timeout time.Duration) *Results {
	return AnalyzeEvidence(events, Evidence{States: states}, timeout)
}

// AnalyzeEvidence runs every check on a history and the nodes' evidence
// with checker.Check. If checker.Check panics, the panic is recorded and
// each check is run on its own (each recovered), so that one broken check
// does not hide the others; any recorded error makes a verdict that is
// not invalid unknown.
func AnalyzeEvidence(events []histories.Event, ev Evidence, timeout time.Duration) *Results {
	states := ev.States
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
	if timeout <= 0 {
		timeout = -1 // checker.Check: negative is no limit
	}
	var cr *checker.Result
	safely(res, "checker.Check", func() {
		r := checker.Check(events, checker.Options{LinearizabilityTimeout: timeout, NodeStates: states,
			NodeLogs: ev.Logs, NodeEvents: ev.Events})
		cr = &r
	})
	if cr != nil {
		res.Linearizability, res.LostWrites, res.Convergence = &cr.Linearizability, &cr.LostWrites, cr.Convergence
		res.LogAgreement, res.NodeHealth = cr.LogAgreement, cr.NodeHealth
		res.Availability, res.Reasons, res.Stats = cr.Availability, cr.Reasons, &cr.Stats
	} else {
		safely(res, "linearizability", func() {
			r := checker.CheckLinearizability(events, max(timeout, 0))
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
		if ev.Logs != nil {
			safely(res, "log agreement", func() {
				r := checker.CheckLogAgreement(ev.Logs)
				res.LogAgreement = &r
			})
		}
		if ev.Events != nil {
			safely(res, "node health", func() {
				r := checker.CheckNodeHealth(ev.Events, events)
				res.NodeHealth = &r
			})
		}
		safely(res, "availability", func() { res.Availability = checker.Availability(events) })
	}
	res.finish()
	res.Elapsed = time.Since(start).Round(time.Millisecond).String()
	return res
}

// overall combines the checks as checker.Check does (any proved violation
// is invalid; an undecided linearizability check is unknown; lost writes
// with no final read to compare, and convergence or logs that could not be
// compared, are only warnings), and a recorded harness or checker error turns a
// verdict that is not invalid into unknown. It has no side effects.
func (r *Results) overall() checker.Verdict {
	out := checker.Valid
	if r.Linearizability == nil {
		out = checker.Unknown
	} else {
		switch r.Linearizability.Verdict {
		case checker.Invalid:
			return checker.Invalid
		case checker.Unknown:
			out = checker.Unknown
		}
	}
	if r.LostWrites != nil && r.LostWrites.Verdict == checker.Invalid {
		return checker.Invalid
	}
	if r.Convergence != nil && r.Convergence.Verdict == checker.Invalid {
		return checker.Invalid
	}
	if r.LogAgreement != nil && r.LogAgreement.Verdict == checker.Invalid {
		return checker.Invalid
	}
	if r.NodeHealth != nil && r.NodeHealth.Verdict == checker.Invalid {
		return checker.Invalid
	}
	if len(r.Errors) > 0 {
		return checker.Unknown
	}
	return out
}

// finish sets the verdict and the warnings derived from the checks.
func (r *Results) finish() {
	r.Warnings = nil
	if r.LostWrites != nil && r.LostWrites.Verdict == checker.Unknown {
		r.Warnings = append(r.Warnings, "lost writes: undecided: "+r.LostWrites.Error)
	}
	if r.Convergence != nil && r.Convergence.Verdict == checker.Unknown {
		r.Warnings = append(r.Warnings, "convergence: "+r.Convergence.Message)
	}
	if r.LogAgreement != nil {
		if r.LogAgreement.Verdict == checker.Unknown {
			r.Warnings = append(r.Warnings, "log agreement: "+r.LogAgreement.Message)
		}
		for _, n := range r.LogAgreement.Nodes {
			if n.Error != "" {
				r.Warnings = append(r.Warnings, "log agreement: "+n.Node+"'s log not compared: "+n.Error)
			}
		}
	}
	if len(r.UnreadKeys) > 0 {
		r.Warnings = append(r.Warnings, fmt.Sprintf("final reads failed for %d key(s): %v", len(r.UnreadKeys), r.UnreadKeys))
	}
	r.Verdict = r.overall()
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
	render("timeline.html", toFile("timeline.html", func(f *os.File) error { return checker.WriteTimeline(f, events, lin.Violations) }))
	render("latency.png", func() error { return checker.PlotLatency(filepath.Join(dir, "latency.png"), events) })
	render("throughput.png", func() error { return checker.PlotThroughput(filepath.Join(dir, "throughput.png"), events) })
	return errors.Join(errs...)
}
