package checker

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/anishathalye/porcupine"

	"github.com/raftkv/raftkv/histories"
)

// history.html is Porcupine's own page (its drawing of the operations,
// linearizations and annotations, from porcupine.Visualize) with raftkv's
// reading aids around it: a header that names the first violation in
// words, the violation's minimal counterexample drawn on its own on a real
// time axis, and a script (assets/history.js) that runs after Porcupine's
// and adds a time axis, client labels that stay in view, fault windows as
// named bands, and opens the page at the first violation (or at #ev-N).

//go:embed assets/history.js
var historyJS string

//go:embed assets/history.css
var historyCSS string

// historySide is what assets/history.js needs besides Porcupine's data.
type historySide struct {
	Keys []string `json:"keys"`
	// Clients describes Porcupine's rows: row i is process Clients[i].
	Clients []historyClient `json:"clients"`
	// Ops maps "row:call" (Porcupine's ClientId and its call time, as in
	// its data) to the operation's place in the history.
	Ops map[string]historyOp `json:"ops"`
	// Notes are the real times of Porcupine's annotations, in its order
	// (Porcupine keeps only their rank).
	Notes []historyNote `json:"notes"`
	// Infinity is the return time Operations gives an operation whose
	// outcome is unknown.
	Infinity   int64       `json:"infinity"`
	Violations []Violation `json:"violations"`
}

type historyClient struct {
	Process int `json:"process"`
	Slot    int `json:"slot"` // the client slot, as timeline.html's lanes
}

type historyOp struct {
	Event int    `json:"event"`
	Key   string `json:"key"`
	Words string `json:"words"`
}

type historyNote struct {
	Start int64  `json:"start"`
	End   int64  `json:"end"`
	Kind  string `json:"kind"` // fault (a window), point (a point fault), checker, pruned
	Label string `json:"label"`
	Event int    `json:"event"` // pruned: the operation's invocation; -1 otherwise
}

func historySideData(events []histories.Event, keys []string, procs []int, sub []porcupine.Operation, notes []porcupine.Annotation, pruned []porcupine.Operation, res LinearizabilityResult) historySide {
	_, last := histories.Bounds(events)
	side := historySide{Keys: keys, Ops: make(map[string]historyOp, len(sub)), Infinity: last + 1}
	pairs, _ := histories.Pair(events)
	lane, _, _ := timelineLanes(pairs)
	for _, p := range procs {
		side.Clients = append(side.Clients, historyClient{Process: p, Slot: lane[p]})
	}
	add := func(op porcupine.Operation) int {
		meta, _ := op.Metadata.(OpMeta)
		in, out := op.Input.(KVInput), op.Output.(KVOutput)
		side.Ops[fmt.Sprintf("%d:%d", op.ClientId, op.Call)] = historyOp{Event: meta.Event, Key: in.Key, Words: opWords(in, out)}
		return meta.Event
	}
	for _, op := range sub {
		add(op)
	}
	for _, a := range notes {
		n := historyNote{Start: a.Start, End: a.End, Label: a.Description, Event: -1}
		switch {
		case a.Tag == "checker":
			n.Kind = "checker"
		case a.BackgroundColor == pointColor:
			n.Kind = "point"
		default:
			n.Kind = "fault"
		}
		side.Notes = append(side.Notes, n)
	}
	for _, op := range pruned {
		side.Notes = append(side.Notes, historyNote{Start: op.Call, End: op.Return, Kind: "pruned", Label: describeOperation(op.Input, op.Output), Event: add(op)})
	}
	drawn := make(map[string]bool, len(keys))
	for _, k := range keys {
		drawn[k] = true
	}
	for _, v := range res.Violations {
		if drawn[v.Key] {
			side.Violations = append(side.Violations, v)
		}
	}
	return side
}

// historyHeader is the top of history.html: what the page shows, the
// first violation in words and its counterexample drawn on its own.
func historyHeader(side historySide, res LinearizabilityResult) string {
	var b strings.Builder
	esc := html.EscapeString
	b.WriteString(`<header id="rk-head">`)
	keys := esc(strings.Join(side.Keys, ", "))
	switch {
	case len(side.Violations) > 0:
		fmt.Fprintf(&b, `<h1>Not linearizable: key %s</h1>`, esc(strings.Join(res.FailedKeys, ", ")))
		v := side.Violations[0]
		fmt.Fprintf(&b, `<p id="rk-caption" class="rk-caption" data-key="%s"><b>First violation</b> (key %s): %s</p>`, esc(v.Key), esc(v.Key), esc(v.Sentence))
		fmt.Fprintf(&b, `<section id="rk-counterexample"><h2>The counterexample: %d operation(s) of key %s</h2>`, len(v.Ops), esc(v.Key))
		fmt.Fprintf(&b, `<p class="rk-help">No order of these operations is consistent with both their real-time order and a key-value register%s. Time runs right on a real scale; click an operation to find it in the full history below.</p>`,
			map[bool]string{true: "", false: " (shrinking ran out of time: some may not be needed)"}[v.Minimal])
		b.WriteString(counterexampleSVG(v))
		b.WriteString(`</section>`)
		if len(side.Violations) > 1 {
			b.WriteString(`<details class="rk-others"><summary>Other keys' violations</summary><ul>`)
			for _, o := range side.Violations[1:] {
				fmt.Fprintf(&b, `<li>key %s: %s (<a href="#ev-%d">show</a>)</li>`, esc(o.Key), esc(o.Sentence), o.Ops[len(o.Ops)-1].Event)
			}
			b.WriteString(`</ul></details>`)
		}
	case len(res.FailedKeys) > 0:
		fmt.Fprintf(&b, `<h1>Not linearizable: key %s</h1><p id="rk-caption" class="rk-caption">The checker found no order for these keys' operations; the red marks below show where each partial linearization cannot go on.</p>`, esc(strings.Join(res.FailedKeys, ", ")))
	default:
		fmt.Fprintf(&b, `<h1>History of key %s</h1><p id="rk-caption" class="rk-caption">%s</p>`, keys,
			map[Verdict]string{Valid: "Linearizable: the black line is one order of the operations that is consistent with their real-time order.",
				Unknown: "Undecided: the checker ran out of time; the lines are the longest partial linearizations it found."}[res.Verdict])
	}
	fmt.Fprintf(&b, `<h2>Full history of key %s (Porcupine)</h2>`, keys)
	b.WriteString(`<p class="rk-help">One row per process (its client slot beside it: a client that times out continues as a new process). Time runs right but is warped, Porcupine spaces events evenly: the axis gives the run time at each mark. Shaded bands are fault windows. Black lines join the longest partial linearizations; red marks are steps that no legal order can take. Hover or click an operation for the states before and after it.</p>`)
	fmt.Fprintf(&b, `<p class="rk-controls"><button id="rk-jump" type="button"%s>jump to first violation</button> <span id="rk-where"></span></p>`,
		map[bool]string{true: "", false: " disabled"}[len(side.Violations) > 0])
	b.WriteString(`</header>`)
	return b.String()
}

// counterexampleSVG draws a violation's operations on a linear time axis,
// one row each, with the fault windows active then; the operation invoked
// last (in a stale read, the read) in red.
func counterexampleSVG(v Violation) string {
	const width, labelW, rowH, axisH = 1000.0, 230.0, 34.0, 46.0
	lo, hi := v.From, v.To
	pad := max((hi-lo)/6, 1_000_000) // at least 1 ms either side
	lo, hi = lo-pad, hi+pad
	x := func(t int64) float64 {
		return labelW + float64(min(max(t, lo), hi)-lo)/float64(hi-lo)*(width-labelW-20)
	}
	height := axisH + rowH*float64(len(v.Ops)) + 8
	var b strings.Builder
	esc := html.EscapeString
	fmt.Fprintf(&b, `<svg id="rk-cx" xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f">`, width, height, width, height)
	for _, f := range v.Faults {
		x0, x1 := x(f.Start), x(f.End)
		fmt.Fprintf(&b, `<g class="rk-cx-fault"><rect x="%.1f" y="%.1f" width="%.1f" height="%.1f"/><text x="%.1f" y="%.1f">%s</text><title>%s</title></g>`,
			x0, 20.0, math.Max(x1-x0, 2), height-20, x0+4, 33.0, esc(faultLabel(f.F, f.Nodes)),
			esc(fmt.Sprintf("%s %s–%s %s", faultLabel(f.F, f.Nodes), Seconds(f.Start), Seconds(f.End), f.Detail)))
	}
	step := niceStep(float64(hi-lo) / 6)
	digits := max(3, int(math.Ceil(-math.Log10(step/1e9))))
	for t := math.Ceil(float64(lo)/step) * step; t <= float64(hi); t += step {
		xt := x(int64(t))
		fmt.Fprintf(&b, `<line class="rk-cx-tick" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/><text class="rk-cx-time" x="%.1f" y="12">%s s</text>`,
			xt, xt, 16.0, height, xt, strconv.FormatFloat(t/1e9, 'f', digits, 64))
	}
	for i, o := range v.Ops {
		y := axisH + float64(i)*rowH
		end := o.Complete
		open := end < 0
		if open {
			end = hi
		}
		x0, x1 := x(o.Invoke), math.Max(x(end), x(o.Invoke)+3)
		cls := "rk-cx-op " + string(o.Type)
		if i == len(v.Ops)-1 {
			cls += " rk-cx-last"
		}
		who := fmt.Sprintf("process %d", o.Process)
		if o.Node != "" {
			who += " · " + o.Node
		}
		when := "invoked " + Seconds(o.Invoke)
		if open {
			when += ", outcome unknown"
		} else {
			when += ", completed " + Seconds(o.Complete)
		}
		fmt.Fprintf(&b, `<a href="#ev-%d" class="%s" data-event="%d"><title>%s — %s (%s)</title>`, o.Event, cls, o.Event, esc(o.Words), esc(who), esc(when))
		fmt.Fprintf(&b, `<text class="rk-cx-who" x="8" y="%.1f">%s</text>`, y+17, esc(who))
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="18" rx="3"/>`, x0, y+7, x1-x0)
		if open {
			fmt.Fprintf(&b, `<text class="rk-cx-words" x="%.1f" y="%.1f" text-anchor="end">?</text>`, x1-4, y+17)
		}
		// The words go right of the box, or left of it near the right edge.
		if x1+8+7*float64(len([]rune(o.Words))) < width {
			fmt.Fprintf(&b, `<text class="rk-cx-words" x="%.1f" y="%.1f">%s</text>`, x1+6, y+17, esc(o.Words))
		} else {
			fmt.Fprintf(&b, `<text class="rk-cx-words" x="%.1f" y="%.1f" text-anchor="end">%s</text>`, x0-6, y+17, esc(o.Words))
		}
		b.WriteString(`</a>`)
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// writeReadableHistory assembles history.html from Porcupine's page.
func writeReadableHistory(w io.Writer, page []byte, side historySide, header string) error {
	data, err := json.Marshal(side) // escapes <, > and &: safe inside <script>
	if err != nil {
		return err
	}
	page = bytes.Replace(page, []byte("<title>Porcupine</title>"), []byte("<title>raftkv history (Porcupine)</title>"), 1)
	headEnd, bodyStart, bodyEnd := []byte("</head>"), []byte("<body>"), []byte("</body>")
	i, j, k := bytes.Index(page, headEnd), bytes.Index(page, bodyStart), bytes.LastIndex(page, bodyEnd)
	if i < 0 || j < i || k < j {
		return errors.New("porcupine's page has no <head>, <body> where expected")
	}
	j += len(bodyStart)
	var b bytes.Buffer
	b.Write(page[:i])
	fmt.Fprintf(&b, "<style>%s</style>\n", historyCSS)
	b.Write(page[i:j])
	b.WriteString(header)
	b.Write(page[j:k])
	fmt.Fprintf(&b, "<script id=\"rk-data\" type=\"application/json\">%s</script>\n<script>%s</script>\n", data, historyJS)
	b.Write(page[k:])
	_, err = w.Write(b.Bytes())
	return err
}
