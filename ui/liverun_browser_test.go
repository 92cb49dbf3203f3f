package ui_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/raftkv/raftkv/histories"
	"github.com/raftkv/raftkv/ui/internal/browsertest"
)

// liveOps reads the number of completions the run page has counted.
const liveOps = `Number(document.getElementById('live').dataset.liveOps)`

// TestBrowserRunningRun follows runs as the harness writes them: the list
// marks running runs and refreshes itself; the run page of a running run
// draws its completions and fault windows as events are appended (a line
// cut in two included) and turns into the finished run when results.json
// is written.
func TestBrowserRunningRun(t *testing.T) {
	ctx := browsertest.New(t)
	store := makeStore(t)
	srv := newServer(t, false, store)

	// Run A is running when the list opens.
	const runA = "sim-partition/20260105T100000.000Z"
	a := newHistoryFile(t, store, runA)
	a.op(0, 0.1, histories.OK)
	browsertest.Run(t, ctx, "runs list", chromedp.Navigate(srv.URL+"/runs/?refresh=200"),
		chromedp.WaitReady(chromedp.CSS(`#runs[data-loaded="true"]`)),
		chromedp.WaitReady(chromedp.CSS(`tr.run[data-id="`+runA+`"][data-verdict="running"]`)))
	if got := browsertest.Eval[string](t, ctx, `document.querySelector('tr.run[data-id="`+incompleteRun+`"]').dataset.verdict`); got != "incomplete" {
		t.Errorf("the stopped run is shown %q, want incomplete", got)
	}
	// Run B starts: the list shows it without a reload; A finishes.
	b := newHistoryFile(t, store, liveRun)
	b.op(0, 0.2, histories.OK)
	browsertest.WaitFor(t, ctx, "run B listed as running", `document.querySelector('tr.run[data-id="`+liveRun+`"][data-verdict="running"]') !== null`)
	browsertest.Screenshot(t, ctx, "runs-list")
	writeJSON(t, filepath.Join(store, runA, "results.json"), map[string]any{"scenario": "sim-partition", "verdict": "valid", "ops": 1, "ok": 1})
	browsertest.WaitFor(t, ctx, "run A finished in the list", `document.querySelector('tr.run[data-id="`+runA+`"][data-verdict="valid"]') !== null`)

	// Run B's page, followed live.
	browsertest.Run(t, ctx, "running run page", chromedp.Navigate(srv.URL+"/runs/run?poll=150&id="+liveRun),
		chromedp.WaitReady(chromedp.CSS(`#run[data-loaded="true"][data-verdict="running"]`)),
		chromedp.WaitReady(chromedp.CSS(`#live[data-state="running"][data-live-ops="1"]`)))
	b.op(1, 0.6, histories.OK)
	b.op(2, 1.1, histories.Fail)
	b.nemesis(histories.Start, 1.2, "partition-halves")
	b.op(3, 1.5, histories.Info)
	browsertest.WaitFor(t, ctx, "ops growing and an open fault window", liveOps+` === 4 &&
		document.querySelector('#live-chart [data-fault-window="partition-halves"][data-open="true"]') !== null`)
	for i := range 12 {
		typ := histories.OK
		if i%5 == 4 {
			typ = histories.Fail
		}
		b.op(i%4, 1.6+0.15*float64(i), typ)
	}
	b.nemesis(histories.Stop, 3.0, "partition-halves")
	b.op(0, 3.2, histories.OK)
	b.nemesis(histories.Start, 3.5, "kill-leader")
	b.op(1, 3.9, histories.OK)
	// The harness is in the middle of writing a line.
	b.raw(`{"kind":"op","type":"ok","time":4000000000,"process":2,"f":"get","ke`)
	browsertest.WaitFor(t, ctx, "closed and open windows", liveOps+` === 18 &&
		document.querySelector('#live-chart [data-fault-window="partition-halves"][data-open="false"]') !== null &&
		document.querySelector('#live-chart [data-fault-window="kill-leader"][data-open="true"]') !== null &&
		document.getElementById('live').dataset.windows === '2'`)
	if got := browsertest.Eval[string](t, ctx, `(d => [d.ok, d.fail, d.info].join())(document.getElementById('live').dataset)`); got != "14,3,1" {
		t.Errorf("ok,fail,info = %q, want 14,3,1", got)
	}
	browsertest.Screenshot(t, ctx, "running")

	// The line is finished, the fault healed, the run checked.
	b.raw(`y":"k"}` + "\n")
	b.nemesis(histories.Stop, 4.2, "kill-leader")
	writeJSON(t, filepath.Join(store, liveRun, "results.json"), map[string]any{
		"scenario": "sim-partition", "verdict": "valid", "ops": 19, "ok": 15, "fail": 3, "info": 1, "faults": 2})
	browsertest.Run(t, ctx, "finished view",
		chromedp.WaitReady(chromedp.CSS(`#live[data-state="finished"]`)),
		chromedp.WaitReady(chromedp.CSS(`#run[data-verdict="valid"]`)))
	if got := browsertest.Eval[int](t, ctx, liveOps); got != 19 {
		t.Errorf("live ops after the end = %d, want 19", got)
	}
	if n := browsertest.Eval[int](t, ctx, `document.querySelectorAll('#live-chart [data-fault-window][data-open="false"]').length`); n != 2 {
		t.Errorf("%d closed fault windows, want 2", n)
	}
	if meta := browsertest.Eval[string](t, ctx, `document.getElementById('run-meta').textContent`); !strings.Contains(meta, "19 ops") || !strings.Contains(meta, "2 fault window") {
		t.Errorf("finished run meta = %q", meta)
	}
	browsertest.Screenshot(t, ctx, "finished")
}
