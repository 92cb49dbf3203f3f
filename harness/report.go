package harness

import (
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/raftkv/raftkv/checker"
)

var indexTmpl = template.Must(template.New("index").Funcs(template.FuncMap{
	"dur":  func(ns int64) string { return time.Duration(ns).Round(time.Millisecond).String() },
	"pct":  func(f float64) string { return fmt.Sprintf("%.0f%%", 100*f) },
	"ms":   func(d time.Duration) string { return d.Round(100 * time.Microsecond).String() },
	"secs": checker.Seconds,
	"last": func(ops []checker.ViolationOp) int { return len(ops) - 1 },
	"join": func(xs []string) string { return strings.Join(xs, ", ") },
}).Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>{{.R.Scenario}} — {{.R.Verdict}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#222}
.v{display:inline-block;padding:.2em .6em;border-radius:.3em;color:#fff;font-weight:bold}
.valid{background:#2a7d2e}.invalid{background:#b3261e}.unknown{background:#8a6d00}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f3f3f3}code,pre{background:#f6f6f6}pre{padding:.5em;overflow:auto}
img{max-width:100%;border:1px solid #ddd;margin:.5em 0}
</style></head><body>
<h1>{{.R.Scenario}} <span class="v {{.R.Verdict}}">{{.R.Verdict}}</span></h1>
<p>Expected: <b>{{if .R.Expected}}{{.R.Expected}}{{else}}valid{{end}}</b>
{{if .Matches}}— as expected.{{else}}— <b>not what the scenario expects</b>.{{end}}
Seed <code>{{.R.Seed}}</code>, backend <code>{{.R.Backend}}</code>.</p>
{{with .R.Shrink}}<h2 id="shrunk-from">Shrunk from</h2>
<p>This run is <code>harness shrink</code>'s smallest invalid case of <a class="shrunk-from" href="{{$.ShrinkFrom}}">{{.From}}</a>
(seed <code>{{.Seed}}</code>, {{.Trials}} trial runs{{if .SameFailure}}, each kept only if every check that failed the original still failed{{end}}{{if .Exhausted}}; the search ran out of trials, so a smaller case may exist{{end}}).
Replay: <code>{{.Replay}}</code></p>
<table class="shrink-size"><tr><th></th><th>original</th><th>shrunk</th></tr>
<tr><td>duration</td><td>{{.Original.Duration}}</td><td>{{.Shrunk.Duration}}</td></tr>
<tr><td>clients</td><td>{{.Original.Clients}}</td><td>{{.Shrunk.Clients}}</td></tr>
<tr><td>keys</td><td>{{.Original.Keys}}</td><td>{{.Shrunk.Keys}}</td></tr>
<tr><td>fault steps</td><td>{{len .Original.Steps}}</td><td>{{len .Shrunk.Steps}}</td></tr>
<tr><td>failed checks</td><td>{{join .Original.Failed}}</td><td>{{join .Shrunk.Failed}}</td></tr>
</table>
<table class="shrink-schedule"><tr><th>original schedule</th><th>shrunk schedule</th></tr>
{{range .Rows}}<tr><td>{{with .Original}}at {{.At}}, hold {{.Hold}}: <code>{{.Fault}}</code>{{end}}</td><td>{{with .Shrunk}}at {{.At}}, hold {{.Hold}}: <code>{{.Fault}}</code>{{else}}—{{end}}</td></tr>
{{else}}<tr><td colspan="2">no fault steps</td></tr>{{end}}</table>{{end}}
{{with .R.Linearizability}}{{with .Violations}}<h2 id="first-violation">First violation</h2>
{{with index . 0}}<p class="first"><b>{{.Sentence}}</b>{{if not .Minimal}} (shrinking ran out of time: some of these operations may not be needed){{end}}</p>
{{with index .Ops (last .Ops)}}<p>See it <a class="fv-timeline" href="timeline.html#ev-{{.Event}}">in the timeline</a> and <a class="fv-history" href="history.html#ev-{{.Event}}">in the linearizability history</a>.</p>{{end}}{{end}}
{{range $i, $v := .}}{{if $i}}<p>Key <code>{{$v.Key}}</code>: {{$v.Sentence}}</p>{{end}}
<table><tr><th>key {{$v.Key}}</th><th>process</th><th>node</th><th>invoked</th><th>completed</th><th>outcome</th><th>see</th></tr>
{{range $v.Ops}}<tr><td>{{.Words}}</td><td>{{.Process}}</td><td>{{.Node}}</td><td>{{secs .Invoke}}</td><td>{{if lt .Complete 0}}never{{else}}{{secs .Complete}}{{end}}</td><td>{{.Type}}</td>
<td><a href="timeline.html#ev-{{.Event}}">timeline</a> · <a href="history.html#ev-{{.Event}}">history (key {{.Key}})</a></td></tr>{{end}}
{{with $v.Faults}}<tr><td colspan="7">faults active: {{range $i, $f := .}}{{if $i}}; {{end}}<code>{{$f.F}}</code> {{secs $f.Start}}–{{secs $f.End}}{{with $f.Nodes}} on {{join .}}{{end}}{{end}}</td></tr>{{else}}<tr><td colspan="7">no fault active</td></tr>{{end}}
</table>{{end}}{{end}}{{end}}
{{if .R.Reasons}}<ul>{{range .R.Reasons}}<li><b>{{.}}</b></li>{{end}}</ul>{{end}}
<p>{{.R.Ops}} operations: {{.R.OK}} ok, {{.R.Fail}} fail, {{.R.Info}} info; {{.R.Faults}} fault window(s). Checked in {{.R.Elapsed}}.</p>
<h2>Artifacts</h2>
<ul>{{range .Links}}<li><a href="{{.Href}}">{{.Name}}</a>{{if .Note}} — {{.Note}}{{end}}</li>{{end}}</ul>
<h2>Checks</h2>
<table><tr><th>check</th><th>verdict</th><th>detail</th></tr>
{{with .R.Linearizability}}<tr><td>linearizability (Porcupine)</td><td><span class="v {{.Verdict}}">{{.Verdict}}</span></td>
<td>{{.Ops}} ops over {{.Keys}} keys{{if .FailedKeys}}; not linearizable: {{range .FailedKeys}}<code>{{.}}</code> {{end}}{{end}}{{if .UnknownKeys}}; undecided (timeout): {{range .UnknownKeys}}<code>{{.}}</code> {{end}}{{end}}{{if .Error}}; error: {{.Error}}{{end}}</td></tr>{{end}}
{{with .R.LostWrites}}<tr><td>lost writes</td><td><span class="v {{.Verdict}}">{{.Verdict}}</span></td>
<td>{{.AcknowledgedWrites}} acknowledged writes, {{.KeysChecked}} keys checked, {{.LostWrites}} lost{{if .Error}}; {{.Error}}{{end}}</td></tr>{{end}}
{{with .R.Convergence}}<tr><td>convergence</td><td><span class="v {{.Verdict}}">{{.Verdict}}</span></td>
<td>{{.Message}}{{range .Nodes}}<br><code>{{.Node}}</code> applied {{.Applied}} hash <code>{{.StateHash}}</code>{{end}}</td></tr>{{end}}
{{with .R.LogAgreement}}<tr><td>committed log agreement</td><td><span class="v {{.Verdict}}">{{.Verdict}}</span></td>
<td>{{.Message}}{{range .Violations}}<br><b>{{.Kind}}</b>: {{.Message}}{{if gt .Indexes 1}} ({{.Indexes}} indexes){{end}}{{end}}
{{range .Nodes}}<br><code>{{.Node}}</code> commit {{.Commit}}{{if .SnapshotIndex}}, snapshot at {{.SnapshotIndex}}{{end}}{{if .Count}}, holds {{.First}}–{{.Last}} ({{.Count}} entries){{end}}{{if .Error}}, <b>not read</b>: {{.Error}}{{end}}{{end}}</td></tr>{{end}}
{{with .R.NodeHealth}}<tr><td>node health</td><td><span class="v {{.Verdict}}">{{.Verdict}}</span></td>
<td>{{.Message}}{{range .Events}}<details><summary><code>{{.Node}}</code> {{.Kind}} at {{dur .Time}}{{if .Status}} ({{.Status}}){{end}}{{if .Message}}: {{.Message}}{{end}}{{if .Log}} — <a href="{{.Log}}">{{.Log}}</a>{{end}}</summary>{{if .Detail}}<pre>{{range .Detail}}{{.}}
{{end}}</pre>{{end}}</details>{{end}}</td></tr>{{end}}
</table>
{{if .R.Warnings}}<h3>Warnings</h3><ul>{{range .R.Warnings}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{if .R.Errors}}<h3>Errors</h3>{{range .R.Errors}}<pre>{{.}}</pre>{{end}}{{end}}
{{if .R.Availability}}<h2>Availability by fault window</h2>
<table><tr><th>window</th><th>nodes</th><th>from</th><th>to</th><th>ops</th><th>ok</th><th>fail</th><th>info</th><th>ok rate</th><th>p50</th><th>p99</th></tr>
{{range .R.Availability}}<tr><td title="{{.Detail}}">{{.Name}}</td><td>{{range .Nodes}}{{.}} {{end}}</td><td>{{dur .Start}}</td><td>{{dur .End}}</td>
<td>{{.Ops}}</td><td>{{.OK}}</td><td>{{.Fail}}</td><td>{{.Info}}</td><td>{{pct .OKRate}}</td><td>{{ms .LatencyP50}}</td><td>{{ms .LatencyP99}}</td></tr>{{end}}
</table>{{end}}
{{if .HasLatency}}<h2>Latency</h2><img src="latency.png" alt="latency">{{end}}
{{if .HasThroughput}}<h2>Throughput</h2><img src="throughput.png" alt="throughput">{{end}}
</body></html>
`))

type link struct{ Name, Href, Note string }

// WriteIndex writes index.html: the verdict, the first violation (the
// shrunk counterexample of each non-linearizable key, in words, with links
// to the operations in timeline.html), the checks, availability per
// fault window, the plots and links to every artifact present in dir.
func WriteIndex(dir string, r *Results) error {
	exists := func(name string) bool {
		_, err := os.Stat(filepath.Join(dir, name))
		return err == nil
	}
	var links []link
	for _, a := range []link{
		{"history.html", "history.html", "Porcupine visualization (linearizations, where it broke)"},
		{"timeline.html", "timeline.html", "timeline of every operation by client slot, with fault windows and the violations marked"},
		{"results.json", "results.json", "verdicts and details"},
		{"history.jsonl", "history.jsonl", "the history (source of truth)"},
		{"history.edn", "history.edn", "the history in Jepsen's EDN"},
		{"scenario.yaml", "scenario.yaml", "the scenario as run (seed included)"},
		{ShrunkFile, ShrunkFile, "the smallest invalid case harness shrink found from this run"},
		{ShrinkFile, ShrinkFile, "what harness shrink did: original and shrunk schedule, trials, replay command"},
		{"nodes.json", "nodes.json", "final node states"},
		{LogsFile, LogsFile, "every node's committed log read from its data after the run: [index, term, hash] per entry"},
		{NodeEventsFile, NodeEventsFile, "every exit and panic of the node processes, planned ones included"},
		{"sim.json", "sim.json", "simulation: seed, history hash, network drawn, final configuration, raft-level violations"},
		{"sim-trace.log", "sim-trace.log", "simulation trace: starts, crashes, roles, membership changes, faults"},
		{"latency.png", "latency.png", ""},
		{"throughput.png", "throughput.png", ""},
	} {
		if exists(a.Href) {
			links = append(links, a)
		}
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "logs", "*.log"))
	sort.Strings(logs)
	for _, l := range logs {
		rel, _ := filepath.Rel(dir, l)
		links = append(links, link{Name: rel, Href: rel, Note: "node log"})
	}
	expected := r.Expected
	if expected == "" {
		expected = "valid"
	}
	f, err := os.Create(filepath.Join(dir, "index.html"))
	if err != nil {
		return fmt.Errorf("harness: index: %w", err)
	}
	shrinkFrom := ""
	if r.Shrink != nil {
		shrinkFrom = shrinkFromLink(dir, r.Shrink)
	}
	err = indexTmpl.Execute(f, map[string]any{
		"R": r, "Links": links, "Matches": string(r.Verdict) == expected, "ShrinkFrom": shrinkFrom,
		"HasLatency": exists("latency.png"), "HasThroughput": exists("throughput.png"),
	})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("harness: index: %w", err)
	}
	return nil
}

// FirstViolation is the counterexample of the non-linearizable key whose
// violation ends first, or nil when linearizability found none.
func (r *Results) FirstViolation() *checker.Violation {
	if r == nil || r.Linearizability == nil || len(r.Linearizability.Violations) == 0 {
		return nil
	}
	return &r.Linearizability.Violations[0]
}

// PrintFirstViolation writes the first violation in words and where to see
// it in the run directory dir, or nothing when there is none.
func PrintFirstViolation(w io.Writer, dir string, r *Results) {
	v := r.FirstViolation()
	if v == nil {
		return
	}
	fmt.Fprintf(w, "first violation: %s\n", v.Sentence)
	last := v.Ops[len(v.Ops)-1]
	fmt.Fprintf(w, "  see %s#ev-%d and %s#ev-%d (key %s)\n", filepath.Join(dir, "timeline.html"), last.Event, filepath.Join(dir, "history.html"), last.Event, v.Key)
}
