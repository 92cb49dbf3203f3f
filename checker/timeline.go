package checker

import (
	"bufio"
	_ "embed"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/raftkv/raftkv/histories"
)

// MaxTimelineOps caps the operations timeline.html carries: beyond it the
// timeline draws the first operations (by invocation) and says how many
// it left out. The page draws only what is on screen, so the cap bounds
// the file (about 60 bytes per operation), not the drawing.
const MaxTimelineOps = 500_000

//go:embed assets/timeline.js
var timelineJS string

//go:embed assets/timeline.css
var timelineCSS string

// timelineData is what timeline.html's script draws. Operations are
// columns (one array per field, ordered by invocation) so that 100k of
// them stay a few megabytes of JSON that the browser parses at once.
type timelineData struct {
	Total int   `json:"total"` // operations in the history
	First int64 `json:"first"` // time of the first event (ns)
	Last  int64 `json:"last"`  // time of the last event (ns)
	// Lanes are client slots: Lanes[i] lists the processes drawn in lane i.
	Lanes [][]int `json:"lanes"`
	// JepsenThreads is true when lanes are process mod len(Lanes).
	JepsenThreads bool `json:"jepsenThreads"`
	Ops           struct {
		Inv   []int64  `json:"inv"`   // invocation time, ns since First
		Cmp   []int64  `json:"cmp"`   // completion time, ns since First; -1 never completed
		End   []int64  `json:"end"`   // where the box ends (Cmp, or the next operation of the lane, or Last)
		Lane  []int    `json:"lane"`  // index into Lanes
		Proc  []int    `json:"proc"`  // process
		Event []int    `json:"event"` // invocation's index in the history (anchor #ev-N)
		Type  string   `json:"type"`  // one letter per operation: o(k), f(ail), i(nfo)
		Label []string `json:"label"` // "get k1 → v"
		Node  []int    `json:"node"`  // index into Nodes, -1 none
	} `json:"ops"`
	Nodes []string `json:"nodes"`
	// Errors holds the error text of failed and info operations, by
	// operation index.
	Errors     map[int]string      `json:"errors,omitempty"`
	Faults     []timelineFault     `json:"faults"`
	Points     []timelineFault     `json:"points"`
	Violations []timelineViolation `json:"violations"`
}

type timelineFault struct {
	Label  string `json:"label"`
	Detail string `json:"detail,omitempty"`
	Start  int64  `json:"start"` // ns since First
	End    int64  `json:"end"`
	Open   bool   `json:"open,omitempty"`
	Slot   int    `json:"slot"` // label column, so that overlapping windows' labels do not overlap
}

type timelineViolation struct {
	Key      string `json:"key"`
	Sentence string `json:"sentence"`
	// Events are the counterexample's operations (anchors #ev-N); the last
	// is the one invoked last (in a stale read, the read).
	Events []int `json:"events"`
}

// WriteTimeline writes timeline.html: a Jepsen-style timeline of every
// operation, time flowing down, one lane per client slot (see
// timelineLanes), each operation a box from its invocation to its
// completion colored by outcome (ok blue, fail pink, info orange), fault
// windows as bands labelled where they are, point faults as lines, and
// the operations of violations (the counterexamples
// CheckLinearizability found; nil for none) outlined in red, with a
// control that jumps to the first. The page has zoom controls and draws
// only the part on screen (a canvas under a few DOM overlays), so a
// 100k-operation history opens in seconds. #ev-N (N: an invocation's index
// in the history) scrolls to that operation and highlights it. The page
// is self-contained: its script and style are inline.
func WriteTimeline(w io.Writer, events []histories.Event, violations []Violation) error {
	return writeTimeline(w, events, violations, MaxTimelineOps)
}

func writeTimeline(w io.Writer, events []histories.Event, violations []Violation, maxOps int) error {
	pairs, _ := histories.Pair(events) // draw what pairs; the checkers report the rest
	first, last := histories.Bounds(events)
	d := timelineData{Total: len(pairs), First: first, Last: last - first, Errors: map[int]string{}}
	// The page finds what is on screen by binary search over invocations.
	sort.SliceStable(pairs, func(a, b int) bool { return pairs[a].Invoke.Time < pairs[b].Invoke.Time })
	if len(pairs) > maxOps {
		pairs = pairs[:maxOps]
	}
	lane, lanes, jepsen := timelineLanes(pairs)
	d.Lanes, d.JepsenThreads = lanes, jepsen

	nodes := make(map[string]int)
	var types strings.Builder
	lastInLane := make([]int, len(lanes)) // op index + 1
	n := len(pairs)
	o := &d.Ops
	o.Inv, o.Cmp, o.End, o.Lane, o.Proc, o.Event, o.Label, o.Node =
		make([]int64, n), make([]int64, n), make([]int64, n), make([]int, n), make([]int, n), make([]int, n), make([]string, n), make([]int, n)
	for i, p := range pairs {
		o.Inv[i], o.Cmp[i], o.End[i] = p.Invoke.Time-first, -1, last-first
		if p.Complete != nil {
			o.Cmp[i], o.End[i] = p.Complete.Time-first, p.Complete.Time-first
			if p.Complete.Error != "" {
				d.Errors[i] = p.Complete.Error
			}
		}
		l := lane[p.Process]
		if j := lastInLane[l] - 1; j >= 0 && o.Cmp[j] < 0 {
			// An operation that never completed ends, on screen, where
			// its lane's next operation starts.
			o.End[j] = max(o.Inv[j], o.Inv[i])
		}
		lastInLane[l] = i + 1
		o.Lane[i], o.Proc[i], o.Event[i], o.Label[i] = l, p.Process, p.InvokeIndex, opLabel(p)
		switch p.Type() {
		case histories.OK:
			types.WriteByte('o')
		case histories.Fail:
			types.WriteByte('f')
		default:
			types.WriteByte('i')
		}
		node := p.Invoke.Node
		if p.Complete != nil && p.Complete.Node != "" {
			node = p.Complete.Node
		}
		o.Node[i] = -1
		if node != "" {
			id, ok := nodes[node]
			if !ok {
				id = len(d.Nodes)
				nodes[node] = id
				d.Nodes = append(d.Nodes, node)
			}
			o.Node[i] = id
		}
	}
	o.Type = types.String()

	var slotEnd []int64
	for _, win := range histories.FaultWindows(events) {
		f := timelineFault{Label: faultLabel(win.F, win.Nodes), Detail: win.Detail, Start: win.Start - first, End: win.End - first, Open: win.Open}
		f.Slot = len(slotEnd)
		for s, e := range slotEnd {
			if e < f.Start {
				f.Slot = s
				break
			}
		}
		if f.Slot == len(slotEnd) {
			slotEnd = append(slotEnd, 0)
		}
		slotEnd[f.Slot] = f.End
		d.Faults = append(d.Faults, f)
	}
	for _, e := range events {
		if e.Kind == histories.KindNemesis && e.Type == histories.Info {
			d.Points = append(d.Points, timelineFault{Label: faultLabel(e.F, e.Nodes), Detail: e.Detail, Start: e.Time - first, End: e.Time - first})
		}
	}
	for _, v := range violations {
		tv := timelineViolation{Key: v.Key, Sentence: v.Sentence}
		for _, op := range v.Ops {
			tv.Events = append(tv.Events, op.Event)
		}
		d.Violations = append(d.Violations, tv)
	}
	if d.Faults == nil {
		d.Faults = []timelineFault{}
	}
	if d.Points == nil {
		d.Points = []timelineFault{}
	}
	if d.Violations == nil {
		d.Violations = []timelineViolation{}
	}
	data, err := json.Marshal(d) // escapes <, > and &: safe inside <script>
	if err != nil {
		return fmt.Errorf("checker: timeline: %w", err)
	}

	bw := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }
	p("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>raftkv timeline</title>\n<style>%s</style></head><body>\n", timelineCSS)
	p("<header id=\"top\"><h1>History timeline</h1>\n<p class=\"summary\">%d operations over %s by %d client slot(s)", d.Total, fmtDur(last-first), len(lanes))
	if n < d.Total {
		p(" — showing the first %d operations", n)
	}
	p(".</p>\n")
	if len(violations) > 0 {
		v := violations[0]
		p("<p id=\"first-violation\" class=\"violation-text\"><b>First violation</b> (key %s): %s</p>\n", html.EscapeString(v.Key), html.EscapeString(v.Sentence))
	}
	p("<p class=\"controls\"><button id=\"jump\" type=\"button\"%s>jump to first violation</button> ", map[bool]string{true: "", false: " disabled"}[len(violations) > 0])
	p("<button id=\"zoom-out\" type=\"button\" title=\"zoom out (-)\">−</button> <button id=\"zoom-in\" type=\"button\" title=\"zoom in (+)\">+</button> <button id=\"zoom-fit\" type=\"button\" title=\"whole run on one screen\">fit</button> <span id=\"zoom-label\"></span></p>\n")
	p("<p class=\"legend\"><span class=\"key k-ok\">ok</span> <span class=\"key k-fail\">fail</span> <span class=\"key k-info\">info (outcome unknown)</span> <span class=\"key k-fault\">fault window</span> <span class=\"key k-violation\">violation</span> Time flows down; each lane is a client slot: a client runs one operation at a time, and one that times out continues as a new process, drawn in a free slot. Hover a box for details, click it to link to it; Ctrl+wheel zooms.</p></header>\n")
	p("<div id=\"tl\"><div id=\"heads\"></div>")
	// The counterexamples' operations are in the page from the start, so
	// that #ev-N anchors to them exist before the script runs.
	for vi, v := range d.Violations {
		for _, ev := range v.Events {
			p("<div class=\"violation\" id=\"ev-%d\" data-event=\"%d\" data-violation=\"%d\"></div>", ev, ev, vi)
		}
	}
	p("</div>\n<canvas id=\"canvas\"></canvas><div id=\"tip\" hidden></div>\n")
	p("<script id=\"data\" type=\"application/json\">%s</script>\n<script>%s</script>\n</body></html>\n", data, timelineJS)
	return bw.Flush()
}

func faultLabel(f string, nodes []string) string {
	if len(nodes) > 0 {
		return f + " [" + strings.Join(nodes, " ") + "]"
	}
	return f
}

func opLabel(op histories.Op) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", op.F, op.Key)
	switch op.F {
	case histories.OpPut:
		if op.Invoke.Value != nil {
			fmt.Fprintf(&b, "=%s", *op.Invoke.Value)
		}
	case histories.OpCas:
		if op.Invoke.Expected != nil && op.Invoke.Value != nil {
			fmt.Fprintf(&b, " %s→%s", *op.Invoke.Expected, *op.Invoke.Value)
		}
	case histories.OpGet:
		if op.Type() == histories.OK {
			if op.Complete.Value != nil {
				fmt.Fprintf(&b, " → %s", *op.Complete.Value)
			} else {
				b.WriteString(" → ∅")
			}
		}
	}
	s := b.String()
	if len(s) > 60 {
		s = s[:60] + "…"
	}
	return s
}

func fmtDur(ns int64) string {
	return time.Duration(ns).Round(time.Microsecond).String()
}

// timelineLanes gives every process a lane, a client slot: a client runs
// one operation at a time and, after an info (its outcome unknown),
// continues as a new process, so the number of slots is the number of
// processes alive at once — the run's concurrency. When the processes are
// numbered as in Jepsen (a retired process p is followed by p+concurrency),
// the slot is Jepsen's thread, process mod concurrency, and jepsen is true.
// Otherwise (raftkv's harness numbers new processes from one counter, and
// the history does not say which client a new process belongs to)
// processes are packed in order of their first invocation, each into the
// free lane that was freed last, a new lane only when none is free: the
// lanes are then slots, not necessarily the clients themselves. A process
// is alive from its first invocation to its last completion; an
// invocation that never completed does not keep its lane.
func timelineLanes(ops []histories.Op) (lane map[int]int, lanes [][]int, jepsen bool) {
	type life struct {
		proc       int
		start, end int64
	}
	lives := make(map[int]*life)
	var order []*life
	for _, op := range ops {
		end := op.Invoke.Time
		if op.Complete != nil {
			end = op.Complete.Time
		}
		l := lives[op.Process]
		if l == nil {
			l = &life{proc: op.Process, start: op.Invoke.Time, end: end}
			lives[op.Process] = l
			order = append(order, l)
		}
		l.start, l.end = min(l.start, op.Invoke.Time), max(l.end, end)
	}
	sort.SliceStable(order, func(i, j int) bool {
		if order[i].start != order[j].start {
			return order[i].start < order[j].start
		}
		return order[i].proc < order[j].proc
	})
	lane = make(map[int]int, len(order))
	var laneEnd []int64
	for _, l := range order {
		best := -1
		for i, e := range laneEnd {
			if e <= l.start && (best < 0 || e > laneEnd[best]) {
				best = i
			}
		}
		if best < 0 {
			best = len(laneEnd)
			laneEnd = append(laneEnd, 0)
			lanes = append(lanes, nil)
		}
		laneEnd[best] = l.end
		lane[l.proc] = best
		lanes[best] = append(lanes[best], l.proc)
	}
	// Jepsen's numbering: process mod concurrency never puts two live
	// processes in one lane.
	if c := len(lanes); c > 0 && len(order) > c {
		modEnd := make([]int64, c)
		started := make([]bool, c)
		ok := true
		for _, l := range order {
			s := ((l.proc % c) + c) % c
			if started[s] && modEnd[s] > l.start {
				ok = false
				break
			}
			started[s], modEnd[s] = true, l.end
		}
		if ok {
			lanes = make([][]int, c)
			for _, l := range order {
				s := ((l.proc % c) + c) % c
				lane[l.proc] = s
				lanes[s] = append(lanes[s], l.proc)
			}
			return lane, lanes, true
		}
	}
	return lane, lanes, false
}

// niceStep rounds a raw interval up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	pow := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*pow >= raw {
			return m * pow
		}
	}
	return 10 * pow
}
