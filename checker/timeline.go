package checker

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/raftkv/raftkv/histories"
)

// Timeline limits: beyond them the timeline draws the first operations
// (by invocation) and says how many it left out.
const (
	MaxTimelineOps       = 20000
	MaxTimelineProcesses = 128
	timelineMaxHeight    = 40000.0 // px
	timelineMinHeight    = 600.0
	timelineColWidth     = 130
	timelineAxisWidth    = 90
	timelineHeaderHeight = 28
)

// WriteTimeline writes a self-contained Jepsen-style timeline (plain
// HTML/CSS, no scripts or external resources): one column per process,
// time flowing down, each operation a box from its invocation to its
// completion, colored by outcome (ok blue, fail pink, info orange; an
// operation that never completed runs to the end), with its description
// and details in a tooltip. Fault windows are shaded bands across all
// columns, labelled with the fault and its nodes; point faults are lines.
// Large histories are capped at MaxTimelineOps operations and
// MaxTimelineProcesses columns.
func WriteTimeline(w io.Writer, events []histories.Event) error {
	pairs, _ := histories.Pair(events) // draw what pairs; the checkers report the rest
	first, last := histories.Bounds(events)
	span := float64(max(last-first, 1))

	total := len(pairs)
	if len(pairs) > MaxTimelineOps {
		pairs = pairs[:MaxTimelineOps]
	}
	cols, headers := timelineColumns(pairs, last)
	var drawn []histories.Op
	for _, p := range pairs {
		if _, ok := cols[p.Process]; ok {
			drawn = append(drawn, p)
		}
	}
	height := math.Min(timelineMaxHeight, math.Max(timelineMinHeight, 28*float64(len(drawn))/float64(max(len(headers), 1))))
	y := func(t int64) float64 { return timelineHeaderHeight + float64(t-first)/span*height }
	width := timelineAxisWidth + timelineColWidth*max(len(headers), 1)

	bw := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }
	p("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>raftkv timeline</title>\n<style>%s</style></head><body>\n", timelineCSS)
	p("<h1>History timeline</h1>\n<p class=\"summary\">%d operations over %s", total, fmtDur(last-first))
	if len(drawn) < total {
		p(" — showing the first %d operations", len(drawn))
		if len(drawn) < len(pairs) {
			p(" of the processes that fit in %d columns", MaxTimelineProcesses)
		}
	}

	p(".</p>\n<p class=\"legend\"><span class=\"op ok\">ok</span> <span class=\"op fail\">fail</span> <span class=\"op info\">info</span> <span class=\"fault-key\">fault window</span> Time flows down; hover a box for details.</p>\n")
	p("<div class=\"tl\" style=\"width:%dpx;height:%.0fpx\">\n", width, height+timelineHeaderHeight+20)

	// Time axis.
	step := niceStep(span / (height / 80))
	for t := 0.0; t <= span; t += step {
		top := timelineHeaderHeight + t/span*height
		p("<div class=\"tick\" style=\"top:%.1fpx;width:%dpx\"><span>%s</span></div>\n", top, width, fmtDur(int64(t)))
	}
	// Fault windows and point faults, under the operations.
	for i, win := range histories.FaultWindows(events) {
		top, bottom := y(win.Start), y(win.End)
		label := win.F
		if len(win.Nodes) > 0 {
			label += " [" + strings.Join(win.Nodes, " ") + "]"
		}
		title := fmt.Sprintf("%s\n%s – %s", label, fmtDur(win.Start-first), fmtDur(win.End-first))
		if win.Detail != "" {
			title += "\n" + win.Detail
		}
		if win.Open {
			title += "\n(still active at the end)"
		}
		p("<div class=\"fault f%d\" style=\"top:%.1fpx;height:%.1fpx;left:%dpx;width:%dpx\" title=\"%s\"><span>%s</span></div>\n",
			i%4, top, math.Max(bottom-top, 2), timelineAxisWidth, width-timelineAxisWidth, html.EscapeString(title), html.EscapeString(label))
	}
	for _, e := range events {
		if e.Kind == histories.KindNemesis && e.Type == histories.Info {
			label := e.F
			if len(e.Nodes) > 0 {
				label += " [" + strings.Join(e.Nodes, " ") + "]"
			}
			p("<div class=\"point\" style=\"top:%.1fpx;left:%dpx;width:%dpx\" title=\"%s\"><span>%s</span></div>\n",
				y(e.Time), timelineAxisWidth, width-timelineAxisWidth, html.EscapeString(label+"\n"+e.Detail), html.EscapeString(label))
		}
	}
	// Column headers.
	for i, h := range headers {
		p("<div class=\"head\" style=\"left:%dpx;width:%dpx\" title=\"%s\">%s</div>\n", timelineAxisWidth+i*timelineColWidth, timelineColWidth-6, html.EscapeString(h), html.EscapeString(h))
	}
	// Operations.
	for _, op := range drawn {
		end := last
		if op.Complete != nil {
			end = op.Complete.Time
		}
		top, bottom := y(op.Invoke.Time), y(end)
		typ := op.Type()
		p("<div class=\"op %s\" id=\"ev-%d\" style=\"left:%dpx;top:%.1fpx;height:%.1fpx;width:%dpx\" title=\"%s\">%s</div>\n",
			typ, op.InvokeIndex, timelineAxisWidth+cols[op.Process]*timelineColWidth+2, top, math.Max(bottom-top, 2), timelineColWidth-10,
			html.EscapeString(opTitle(op, first)), html.EscapeString(opLabel(op)))
	}
	p("</div>\n</body></html>\n")
	return bw.Flush()
}

const timelineCSS = `
.op:target{outline:3px solid #d00;z-index:5;scroll-margin:40vh}
body{font-family:system-ui,sans-serif;margin:16px;color:#222}
h1{font-size:20px;margin:0 0 6px}
.summary,.legend{font-size:13px;margin:4px 0}
.legend .op{position:static;display:inline-block;padding:1px 8px;height:auto}
.fault-key{background:rgba(255,90,60,.18);padding:1px 8px;border:1px dashed #d55}
.tl{position:relative;border-top:1px solid #ccc;margin-top:8px}
.tick{position:absolute;left:0;border-top:1px solid #eee;font-size:10px;color:#888}
.tick span{position:absolute;left:2px;top:-6px;background:#fff}
.head{position:absolute;top:0;height:22px;font-size:12px;font-weight:600;text-align:center;background:#f4f4f4;border:1px solid #ddd;line-height:22px;z-index:3}
.fault{position:absolute;border-top:1px dashed #d55;border-bottom:1px dashed #d55;z-index:0}
.fault span{position:absolute;right:4px;top:1px;font-size:11px;color:#a22;font-weight:600}
.f0{background:rgba(255,90,60,.14)}.f1{background:rgba(160,80,255,.12)}.f2{background:rgba(40,160,90,.12)}.f3{background:rgba(230,170,0,.14)}
.point{position:absolute;border-top:2px solid #c33;z-index:1}
.point span{position:absolute;right:4px;top:-14px;font-size:11px;color:#c33}
.op{position:absolute;box-sizing:border-box;font-size:10px;line-height:11px;overflow:hidden;white-space:nowrap;text-overflow:ellipsis;padding:0 3px;border-radius:2px;z-index:2;border:1px solid rgba(0,0,0,.25)}
.op:hover{z-index:4;outline:2px solid #333}
.ok{background:#6db6fe}.fail{background:#feb5da}.info{background:#ffaa26}
`

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

func opTitle(op histories.Op, first int64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s — %s\nprocess %d", opLabel(op), op.Type(), op.Process)
	if op.Invoke.Node != "" {
		fmt.Fprintf(&b, ", node %s", op.Invoke.Node)
	}
	fmt.Fprintf(&b, "\ninvoked %s", fmtDur(op.Invoke.Time-first))
	if op.Complete != nil {
		fmt.Fprintf(&b, "\ncompleted %s (%s)", fmtDur(op.Complete.Time-first), fmtDur(op.Complete.Time-op.Invoke.Time))
		if op.Complete.Error != "" {
			fmt.Fprintf(&b, "\nerror: %s", op.Complete.Error)
		}
	} else {
		b.WriteString("\nnever completed")
	}
	return b.String()
}

func fmtDur(ns int64) string {
	return time.Duration(ns).Round(time.Microsecond).String()
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

// timelineColumns gives each process a column. When there are more
// processes than MaxTimelineProcesses (a Jepsen-style harness retires a
// process after an info and continues with a new one), processes share
// lanes: a process takes the first lane whose previous process finished
// before it started. Processes that fit in no lane are left out.
func timelineColumns(ops []histories.Op, last int64) (map[int]int, []string) {
	type life struct {
		proc       int
		start, end int64
	}
	lives := make(map[int]*life)
	var order []*life
	for _, op := range ops {
		end := last
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
	cols := make(map[int]int, len(order))
	if len(order) <= MaxTimelineProcesses {
		sort.Slice(order, func(i, j int) bool { return order[i].proc < order[j].proc })
		headers := make([]string, len(order))
		for i, l := range order {
			cols[l.proc] = i
			headers[i] = fmt.Sprintf("process %d", l.proc)
		}
		return cols, headers
	}
	sort.Slice(order, func(i, j int) bool { return order[i].start < order[j].start })
	var laneEnd []int64
	var laneProcs [][]int
	for _, l := range order {
		lane := -1
		for i, e := range laneEnd {
			if e < l.start {
				lane = i
				break
			}
		}
		if lane < 0 {
			if len(laneEnd) == MaxTimelineProcesses {
				continue
			}
			lane = len(laneEnd)
			laneEnd = append(laneEnd, 0)
			laneProcs = append(laneProcs, nil)
		}
		laneEnd[lane] = l.end
		laneProcs[lane] = append(laneProcs[lane], l.proc)
		cols[l.proc] = lane
	}
	headers := make([]string, len(laneProcs))
	for i, ps := range laneProcs {
		h := fmt.Sprintf("process %d", ps[0])
		if len(ps) > 1 {
			h = fmt.Sprintf("processes %d, %d", ps[0], ps[1])
		}
		if len(ps) > 2 {
			h += ", …"
		}
		headers[i] = h
	}
	return cols, headers
}
