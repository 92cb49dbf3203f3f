package checker

import (
	"fmt"
	"image/color"
	"math"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/raftkv/raftkv/histories"
)

// Plot size.
const (
	plotWidth  = 28 * vg.Centimeter
	plotHeight = 14 * vg.Centimeter
)

var (
	opColors = map[string]color.Color{
		histories.OpGet:    color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
		histories.OpPut:    color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
		histories.OpDelete: color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
		histories.OpCas:    color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	}
	outcomeColors = map[histories.Type]color.Color{
		histories.OK:   color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
		histories.Fail: color.RGBA{R: 0xe3, G: 0x77, B: 0xc2, A: 0xff},
		histories.Info: color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	}
	outcomeGlyphs = map[histories.Type]draw.GlyphDrawer{
		histories.OK:   draw.CircleGlyph{},
		histories.Fail: draw.CrossGlyph{},
		histories.Info: draw.TriangleGlyph{},
	}
	faultFill  = color.NRGBA{R: 0xff, G: 0x5a, B: 0x3c, A: 0x38}
	faultText  = color.RGBA{R: 0xaa, G: 0x22, B: 0x22, A: 0xff}
	minLatency = 1e-6 // ms: a log axis cannot show 0
)

// PlotLatency writes a scatter plot of operation latency (ms, log scale)
// against invocation time (s), one series per operation type and outcome
// (color by type, glyph by outcome: ok circle, fail cross, info
// triangle; operations that never completed are not drawn), with fault
// windows shaded and labelled. The format follows path's extension (.png,
// .svg, ...).
func PlotLatency(path string, events []histories.Event) error {
	pairs, _ := histories.Pair(events)
	first, last := histories.Bounds(events)
	p := plot.New()
	p.Title.Text = "Latency"
	p.X.Label.Text = "time (s)"
	p.Y.Label.Text = "latency (ms)"
	faults := newFaultBands(events, first)
	p.Add(faults)

	type series struct {
		f   string
		typ histories.Type
	}
	pts := make(map[series]plotter.XYs)
	for _, op := range pairs {
		if op.Complete == nil {
			continue
		}
		s := series{op.F, op.Type()}
		lat := math.Max(float64(op.Complete.Time-op.Invoke.Time)/1e6, minLatency)
		pts[s] = append(pts[s], plotter.XY{X: seconds(op.Invoke.Time, first), Y: lat})
	}
	keys := make([]series, 0, len(pts))
	for s := range pts {
		keys = append(keys, s)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].f != keys[j].f {
			return keys[i].f < keys[j].f
		}
		return keys[i].typ < keys[j].typ
	})
	for _, s := range keys {
		sc, err := plotter.NewScatter(pts[s])
		if err != nil {
			return fmt.Errorf("checker: latency plot: %w", err)
		}
		sc.Color = opColor(s.f)
		sc.Radius = vg.Points(1.6)
		sc.Shape = outcomeGlyphs[s.typ]
		p.Add(sc)
		p.Legend.Add(fmt.Sprintf("%s %s", s.f, s.typ), sc)
	}
	if len(keys) > 0 {
		// Explicit bounds: gonum pads an empty range (all latencies equal)
		// to below zero, which a log axis cannot draw.
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, xys := range pts {
			for _, xy := range xys {
				lo, hi = math.Min(lo, xy.Y), math.Max(hi, xy.Y)
			}
		}
		p.Y.Min, p.Y.Max = lo/2, hi*2
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	} else {
		p.Title.Text += " (no completed operations)"
	}
	return savePlot(p, faults, first, last, path)
}

// PlotThroughput writes completed operations per second against time (s),
// one line per outcome (ok, fail, info), bucketed by completion time, with
// fault windows shaded and labelled.
func PlotThroughput(path string, events []histories.Event) error {
	pairs, _ := histories.Pair(events)
	first, last := histories.Bounds(events)
	p := plot.New()
	p.Title.Text = "Throughput"
	p.X.Label.Text = "time (s)"
	p.Y.Label.Text = "operations / s"
	faults := newFaultBands(events, first)
	p.Add(faults)

	span := float64(max(last-first, 1))
	bucket := math.Max(niceStep(span/60), 1e6) // ns, at least 1 ms
	n := int(span/bucket) + 1
	counts := make(map[histories.Type][]float64)
	for _, typ := range []histories.Type{histories.OK, histories.Fail, histories.Info} {
		counts[typ] = make([]float64, n)
	}
	for _, op := range pairs {
		if op.Complete == nil {
			continue
		}
		i := min(int(float64(op.Complete.Time-first)/bucket), n-1)
		counts[op.Type()][i]++
	}
	for _, typ := range []histories.Type{histories.OK, histories.Fail, histories.Info} {
		xys := make(plotter.XYs, n)
		for i, c := range counts[typ] {
			xys[i] = plotter.XY{X: (float64(i) + 0.5) * bucket / 1e9, Y: c / (bucket / 1e9)}
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return fmt.Errorf("checker: throughput plot: %w", err)
		}
		l.Color = outcomeColors[typ]
		l.Width = vg.Points(1.2)
		p.Add(l)
		p.Legend.Add(string(typ), l)
	}
	p.Y.Min = 0
	return savePlot(p, faults, first, last, path)
}

func savePlot(p *plot.Plot, faults *faultBands, first, last int64, path string) error {
	if len(faults.windows)+len(faults.points) > 0 {
		p.Legend.Add("fault", faults)
	}
	p.Legend.Top = true
	p.X.Min = 0
	p.X.Max = math.Max(p.X.Max, seconds(last, first))
	p.Add(plotter.NewGrid())
	if err := p.Save(plotWidth, plotHeight, path); err != nil {
		return fmt.Errorf("checker: save plot: %w", err)
	}
	return nil
}

func opColor(f string) color.Color {
	if c, ok := opColors[f]; ok {
		return c
	}
	return color.Gray{Y: 0x60}
}

func seconds(t, first int64) float64 { return float64(t-first) / 1e9 }

// faultBands draws fault windows as shaded vertical bands across the
// whole data area (and point faults as lines), each labelled at the top.
type faultBands struct {
	windows []histories.Window
	points  []histories.Event
	first   int64
}

func newFaultBands(events []histories.Event, first int64) *faultBands {
	fb := &faultBands{windows: histories.FaultWindows(events), first: first}
	for _, e := range events {
		if e.Kind == histories.KindNemesis && e.Type == histories.Info {
			fb.points = append(fb.points, e)
		}
	}
	return fb
}

// Plot implements plot.Plotter.
func (fb *faultBands) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	clamp := func(x vg.Length) vg.Length { return max(c.Min.X, min(c.Max.X, x)) }
	sty := p.Legend.TextStyle
	sty.Font.Size = vg.Points(8)
	sty.Color = faultText
	sty.XAlign = draw.XLeft
	sty.YAlign = draw.YTop
	lineH := sty.Height("X")
	for i, w := range fb.windows {
		x0, x1 := clamp(trX(seconds(w.Start, fb.first))), clamp(trX(seconds(w.End, fb.first)))
		if x1-x0 < 1 {
			x1 = x0 + 1
		}
		c.FillPolygon(faultFill, []vg.Point{{X: x0, Y: c.Min.Y}, {X: x1, Y: c.Min.Y}, {X: x1, Y: c.Max.Y}, {X: x0, Y: c.Max.Y}})
		c.FillText(sty, vg.Point{X: x0 + 2, Y: c.Max.Y - 2 - vg.Length(i%4)*lineH}, w.F)
	}
	for i, e := range fb.points {
		x := clamp(trX(seconds(e.Time, fb.first)))
		c.StrokeLine2(draw.LineStyle{Color: faultText, Width: vg.Points(0.8), Dashes: []vg.Length{vg.Points(2), vg.Points(2)}}, x, c.Min.Y, x, c.Max.Y)
		c.FillText(sty, vg.Point{X: x + 2, Y: c.Min.Y + vg.Length(1+i%3)*lineH}, e.F)
	}
}

// Thumbnail implements plot.Thumbnailer for the legend.
func (fb *faultBands) Thumbnail(c *draw.Canvas) {
	c.FillPolygon(faultFill, []vg.Point{{X: c.Min.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Max.Y}, {X: c.Min.X, Y: c.Max.Y}})
}
