package checker

import (
	"sort"
	"time"

	"github.com/raftkv/raftkv/histories"
)

// WindowStats counts operation outcomes in one period of the history.
type WindowStats struct {
	// Name is the fault's name for a fault window, "outside" for the
	// operations invoked while no fault was active, "all" for the whole
	// history.
	Name   string   `json:"name"`
	Nodes  []string `json:"nodes,omitempty"`
	Detail string   `json:"detail,omitempty"`
	Start  int64    `json:"start"`
	End    int64    `json:"end"`
	// Ops counts the operations invoked in the window, by outcome (an
	// operation that never completed counts as info).
	Ops  int `json:"ops"`
	OK   int `json:"ok"`
	Fail int `json:"fail"`
	Info int `json:"info"`
	// OKRate is OK/Ops (0 when there are no operations).
	OKRate float64 `json:"ok_rate"`
	// LatencyP50 and LatencyP99 are over the ok operations.
	LatencyP50 time.Duration `json:"latency_p50_ns"`
	LatencyP99 time.Duration `json:"latency_p99_ns"`
}

// Availability counts ok, fail and info outcomes per fault window (an
// operation belongs to every window active at its invocation, bounds
// included; windows may overlap), then for the operations invoked outside
// every window ("outside"), then for the whole history ("all").
// Unpaired events are skipped.
func Availability(events []histories.Event) []WindowStats {
	pairs, _ := histories.Pair(events)
	windows := histories.FaultWindows(events)
	first, last := histories.Bounds(events)
	stats := make([]WindowStats, 0, len(windows)+2)
	lat := make([][]time.Duration, len(windows)+2)
	for _, w := range windows {
		stats = append(stats, WindowStats{Name: w.F, Nodes: w.Nodes, Detail: w.Detail, Start: w.Start, End: w.End})
	}
	outside, all := len(stats), len(stats)+1
	stats = append(stats, WindowStats{Name: "outside", Start: first, End: last}, WindowStats{Name: "all", Start: first, End: last})
	add := func(i int, p histories.Op) {
		s := &stats[i]
		s.Ops++
		switch p.Type() {
		case histories.OK:
			s.OK++
			lat[i] = append(lat[i], time.Duration(p.Complete.Time-p.Invoke.Time))
		case histories.Fail:
			s.Fail++
		default:
			s.Info++
		}
	}
	for _, p := range pairs {
		in := false
		for i, w := range windows {
			if p.Invoke.Time >= w.Start && p.Invoke.Time <= w.End {
				add(i, p)
				in = true
			}
		}
		if !in {
			add(outside, p)
		}
		add(all, p)
	}
	for i := range stats {
		if stats[i].Ops > 0 {
			stats[i].OKRate = float64(stats[i].OK) / float64(stats[i].Ops)
		}
		stats[i].LatencyP50 = percentile(lat[i], 0.50)
		stats[i].LatencyP99 = percentile(lat[i], 0.99)
	}
	return stats
}

func percentile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	i := int(q*float64(len(d)-1) + 0.5)
	return d[min(i, len(d)-1)]
}
