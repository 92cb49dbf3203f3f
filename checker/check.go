package checker

import (
	"time"

	"github.com/raftkv/raftkv/histories"
)

// DefaultLinearizabilityTimeout is the time budget Check gives the
// linearizability search when Options leaves it zero.
const DefaultLinearizabilityTimeout = 5 * time.Minute

// Options configures Check.
type Options struct {
	// LinearizabilityTimeout bounds the linearizability search (0:
	// DefaultLinearizabilityTimeout; negative: no limit).
	LinearizabilityTimeout time.Duration
	// NodeStates, when given, are compared by CheckConvergence.
	NodeStates []NodeState
	// NodeLogs, when not nil, are the nodes' committed logs read from
	// their data after the run, compared by CheckLogAgreement.
	NodeLogs []NodeLog
	// NodeEvents, when not nil, are the exits, panics and broken
	// invariants of the nodes' processes, judged by CheckNodeHealth (an
	// empty, non-nil slice: the backend watched and saw nothing).
	NodeEvents []NodeEvent
}

// Stats counts a history's contents.
type Stats struct {
	Events         int            `json:"events"`
	Ops            int            `json:"ops"`
	ByType         map[string]int `json:"by_type"` // "ok", "fail", "info" (incl. never completed)
	ByF            map[string]int `json:"by_f"`
	Processes      int            `json:"processes"`
	Keys           int            `json:"keys"`
	NemesisEvents  int            `json:"nemesis_events"`
	FaultWindows   int            `json:"fault_windows"`
	DurationNS     int64          `json:"duration_ns"`
	UnpairedEvents string         `json:"unpaired_events,omitempty"`
}

// Result is everything Check found, serialisable as results.json.
type Result struct {
	// Verdict is Invalid if any check failed, else Unknown if the
	// linearizability check could not decide (or the history could not be
	// interpreted), else Valid.
	Verdict         Verdict               `json:"verdict"`
	Reasons         []string              `json:"reasons,omitempty"`
	Stats           Stats                 `json:"stats"`
	Linearizability LinearizabilityResult `json:"linearizability"`
	LostWrites      LostWritesResult      `json:"lost_writes"`
	Convergence     *ConvergenceResult    `json:"convergence,omitempty"`
	LogAgreement    *LogAgreementResult   `json:"log_agreement,omitempty"`
	NodeHealth      *NodeHealthResult     `json:"node_health,omitempty"`
	Availability    []WindowStats         `json:"availability"`
	FaultWindows    []histories.Window    `json:"fault_windows,omitempty"`
}

// Check runs every check on the history: linearizability, lost writes,
// convergence (when node states are given), log agreement (when node logs
// are given), node health (when node events are given) and availability.
// Convergence that is merely not comparable (nodes at different applied
// indexes), like logs that share no committed index, is reported but does
// not change the verdict; a divergence, a disagreement or an unplanned
// node event makes it invalid.
func Check(events []histories.Event, opts Options) Result {
	timeout := opts.LinearizabilityTimeout
	switch {
	case timeout == 0:
		timeout = DefaultLinearizabilityTimeout
	case timeout < 0:
		timeout = 0
	}
	res := Result{
		Stats:           stats(events),
		Linearizability: CheckLinearizability(events, timeout),
		LostWrites:      CheckLostWrites(events),
		Availability:    Availability(events),
		FaultWindows:    histories.FaultWindows(events),
	}
	if opts.NodeStates != nil {
		c := CheckConvergence(opts.NodeStates)
		res.Convergence = &c
	}
	if opts.NodeLogs != nil {
		l := CheckLogAgreement(opts.NodeLogs)
		res.LogAgreement = &l
	}
	if opts.NodeEvents != nil {
		h := CheckNodeHealth(opts.NodeEvents, events)
		res.NodeHealth = &h
	}
	res.Verdict = Valid
	if res.Linearizability.Verdict == Invalid {
		res.Reasons = append(res.Reasons, "not linearizable: keys "+joinKeys(res.Linearizability.FailedKeys))
	}
	if res.LostWrites.Verdict == Invalid {
		res.Reasons = append(res.Reasons, "lost or unexpected writes on keys "+joinKeys(anomalyKeys(res.LostWrites)))
	}
	if res.Convergence != nil && res.Convergence.Verdict == Invalid {
		res.Reasons = append(res.Reasons, res.Convergence.Message)
	}
	if res.LogAgreement != nil && res.LogAgreement.Verdict == Invalid {
		res.Reasons = append(res.Reasons, "committed logs: "+res.LogAgreement.Message)
	}
	if res.NodeHealth != nil && res.NodeHealth.Verdict == Invalid {
		res.Reasons = append(res.Reasons, res.NodeHealth.Message)
	}
	switch {
	case len(res.Reasons) > 0:
		res.Verdict = Invalid
	case res.Linearizability.Verdict == Unknown:
		res.Verdict = Unknown
		if res.Linearizability.Error != "" {
			res.Reasons = append(res.Reasons, "history not checkable: "+res.Linearizability.Error)
		} else {
			res.Reasons = append(res.Reasons, "linearizability check timed out on keys "+joinKeys(res.Linearizability.UnknownKeys))
		}
	}
	return res
}

func anomalyKeys(r LostWritesResult) []string {
	keys := make([]string, len(r.Anomalies))
	for i, a := range r.Anomalies {
		keys[i] = a.Key
	}
	return keys
}

func joinKeys(keys []string) string {
	const maxKeys = 10
	s := ""
	for i, k := range keys {
		if i == maxKeys {
			return s + ", …"
		}
		if i > 0 {
			s += ", "
		}
		s += quote(k)
	}
	return s
}

func stats(events []histories.Event) Stats {
	s := Stats{Events: len(events), ByType: map[string]int{}, ByF: map[string]int{}}
	pairs, err := histories.Pair(events)
	if err != nil {
		s.UnpairedEvents = err.Error()
	}
	procs := make(map[int]bool)
	keys := make(map[string]bool)
	for _, p := range pairs {
		s.Ops++
		s.ByType[string(p.Type())]++
		s.ByF[p.F]++
		procs[p.Process] = true
		keys[p.Key] = true
	}
	s.Processes, s.Keys = len(procs), len(keys)
	for _, e := range events {
		if e.Kind == histories.KindNemesis {
			s.NemesisEvents++
		}
	}
	s.FaultWindows = len(histories.FaultWindows(events))
	first, last := histories.Bounds(events)
	s.DurationNS = last - first
	return s
}
