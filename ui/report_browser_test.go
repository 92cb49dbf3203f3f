package ui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/raftkv/raftkv/checker"
	"github.com/raftkv/raftkv/harness"
	"github.com/raftkv/raftkv/ui/internal/browsertest"
)

// The report browser tests open the pages a harness run renders
// (index.html, history.html, timeline.html) in chromium, for invalid runs
// of the simulation's demonstration scenarios: they follow the first
// violation's links and check that each page lands on the violating
// operation, scrolled into view and marked.

// simRun runs a simulation scenario of harness/scenarios/sim through the
// harness (as `harness run` does) and serves its run directory.
func simRun(t *testing.T, file string, seed int64, want checker.Verdict) (string, harness.Outcome, *harness.Scenario) {
	t.Helper()
	sc, err := harness.LoadScenario(filepath.Join("..", "harness", "scenarios", "sim", file))
	if err != nil {
		t.Fatal(err)
	}
	r := &harness.Runner{Opts: harness.RunOptions{Store: t.TempDir(), Seed: seed, SeedSet: true}}
	out := r.Run(context.Background(), sc)
	if out.Err != nil || out.Verdict != want || (want == checker.Invalid) != (out.Results.FirstViolation() != nil) {
		t.Fatalf("%s seed %d: verdict %s, err %v: want %s (with a first violation if invalid)", file, seed, out.Verdict, out.Err, want)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(out.Dir)))
	t.Cleanup(srv.Close)
	return srv.URL, out, sc
}

// inView is a predicate: the element matching sel is rendered and lies
// inside the viewport below a sticky header of top px and right of a
// sticky column of left px (its left part, if it is wider than the room).
func inView(sel string, top, left string) string {
	return fmt.Sprintf(`(() => {
	const e = document.querySelector(%q);
	if (!e) return false;
	const r = e.getBoundingClientRect();
	if (r.width === 0 && r.height === 0) return false;
	const top = %s, left = %s;
	return r.top >= top - 1 && r.bottom <= innerHeight + 1 && r.left >= left - 1 && r.left < innerWidth &&
		(r.right <= innerWidth + 1 || r.width > innerWidth - left);
})()`, sel, top, left)
}

func TestBrowserReportFirstViolation(t *testing.T) {
	for _, c := range []struct {
		file string
		seed int64
	}{
		{"stale-reads.yaml", 3},
		{"lease-clock-skew.yaml", 3},
	} {
		t.Run(c.file, func(t *testing.T) {
			url, out, sc := simRun(t, c.file, c.seed, checker.Invalid)
			v := out.Results.FirstViolation()
			ev := v.Ops[len(v.Ops)-1].Event
			t.Logf("first violation: %s", v.Sentence)
			ctx := browsertest.New(t)

			browsertest.Run(t, ctx, "index", chromedp.Navigate(url+"/index.html"),
				chromedp.WaitVisible(chromedp.CSS(`#first-violation`)),
				chromedp.WaitVisible(chromedp.CSS(`a.fv-timeline`)))
			if got := browsertest.Eval[string](t, ctx, `document.querySelector('p.first b').textContent`); got != v.Sentence {
				t.Errorf("index.html names %q, want %q", got, v.Sentence)
			}
			browsertest.Screenshot(t, ctx, "index")

			// The timeline: the link lands on the violating operation,
			// scrolled into view below the lane headers and marked.
			// (Waiting for an element of the new page lets the navigation finish
			// before polling.)
			browsertest.Run(t, ctx, "timeline link", chromedp.Click(chromedp.CSS(`a.fv-timeline`)),
				chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"] #heads`)))
			browsertest.WaitFor(t, ctx, "timeline at the violation",
				fmt.Sprintf(`document.body.dataset.ready === 'true' && document.body.dataset.target === '%d'`, ev))
			target := fmt.Sprintf(`#ev-%d.target.violation`, ev)
			browsertest.WaitFor(t, ctx, "violating operation in view", inView(target, "26", "0"))
			browsertest.Screenshot(t, ctx, "timeline")
			// At the zoom of the jump the read's box is a few pixels tall:
			// its badge says what it is.
			badge := browsertest.Eval[string](t, ctx, fmt.Sprintf(`getComputedStyle(document.querySelector('#ev-%d.violation.last'), '::after').content`, ev))
			if want := fmt.Sprintf(`"violation: %s"`, v.Ops[len(v.Ops)-1].Words); badge != want {
				t.Errorf("the violating read's badge says %s, want %s", badge, want)
			}
			if n := browsertest.Eval[int](t, ctx, `document.querySelectorAll('#heads .head').length`); n != sc.Clients {
				t.Errorf("timeline has %d lanes, want the concurrency %d", n, sc.Clients)
			}
			if n := browsertest.Eval[int](t, ctx, `document.querySelectorAll('.violation').length`); n != len(v.Ops) && len(out.Results.Linearizability.Violations) == 1 {
				t.Errorf("%d operations marked as violating, want %d", n, len(v.Ops))
			}
			// Every fault window's label is on screen when its band is.
			faults := browsertest.Eval[int](t, ctx, `timeline.faults.length`)
			if faults == 0 {
				t.Fatal("the run has no fault window")
			}
			for i := range faults {
				browsertest.Eval[bool](t, ctx, fmt.Sprintf(`(() => {
					const f = timeline.faults[%d], tl = document.getElementById('tl');
					scrollTo(0, tl.getBoundingClientRect().top + scrollY + timeline.Y((f.start + f.end) / 2) - innerHeight / 2);
					return true;
				})()`, i))
				label := fmt.Sprintf(`.fault-label[data-fault="%d"]`, i)
				browsertest.WaitFor(t, ctx, fmt.Sprintf("fault %d label in view", i), inView(label, "26", "0"))
				if i == 0 {
					browsertest.Screenshot(t, ctx, "timeline-fault")
				}
			}

			// The history: the same link target in Porcupine's view, with
			// the row labels and the time axis still in view.
			browsertest.Run(t, ctx, "index again", chromedp.Navigate(url+"/index.html"),
				chromedp.WaitVisible(chromedp.CSS(`a.fv-history`)),
				chromedp.Click(chromedp.CSS(`a.fv-history`)),
				chromedp.WaitVisible(chromedp.CSS(`body[data-rk-ready="true"] #rk-axis`)))
			browsertest.WaitFor(t, ctx, "history at the violation",
				fmt.Sprintf(`document.body.dataset.rkReady === 'true' && document.body.dataset.rkTarget === '%d'`, ev))
			mark := fmt.Sprintf(`.rk-target[data-event="%d"]`, ev)
			axisBottom := `document.getElementById('rk-axis').getBoundingClientRect().bottom`
			lanesRight := `document.getElementById('rk-lanes').getBoundingClientRect().right`
			browsertest.WaitFor(t, ctx, "violating operation in view in history.html", inView(mark, axisBottom, lanesRight))
			if n := browsertest.Eval[int](t, ctx, `document.querySelectorAll('#rk-cx a.rk-cx-op').length`); n != len(v.Ops) {
				t.Errorf("the counterexample draws %d operations, want %d", n, len(v.Ops))
			}
			if got := browsertest.Eval[string](t, ctx, `document.getElementById('rk-caption').textContent`); got != fmt.Sprintf("First violation (key %s): %s", v.Key, v.Sentence) {
				t.Errorf("history caption %q", got)
			}
			// The first violation's words stay in view above the axis,
			// which does not hide under them.
			if got := browsertest.Eval[string](t, ctx, `document.querySelector('#rk-bar p').textContent`); !strings.Contains(got, v.Sentence) {
				t.Errorf("history.html's bar says %q, want the first violation", got)
			}
			browsertest.WaitFor(t, ctx, "the bar in view above the axis", `(() => {
				const b = document.getElementById('rk-bar').getBoundingClientRect(), a = document.getElementById('rk-axis').getBoundingClientRect();
				return b.top >= 0 && b.top <= 20 && b.height > 0 && a.top >= b.bottom - 1;
			})()`)
			browsertest.Screenshot(t, ctx, "history")
			// Scrolled to the far right and down, the row labels and the
			// time axis are still on screen.
			browsertest.Eval[bool](t, ctx, `(scrollTo(document.documentElement.scrollWidth, document.documentElement.scrollHeight), true)`)
			browsertest.WaitFor(t, ctx, "row labels and time axis in view when scrolled",
				`scrollX > 0 && document.getElementById('rk-lanes').getBoundingClientRect().left === 0 &&
				document.querySelector('#rk-lanes .rk-client').getBoundingClientRect().right > 0 &&
				document.getElementById('rk-axis').getBoundingClientRect().top >= 0 &&
				document.getElementById('rk-axis').getBoundingClientRect().bottom <= innerHeight`)

			// The runs browser's jump says the first violation in words.
			if c.file == "stale-reads.yaml" {
				store := filepath.Dir(filepath.Dir(out.Dir))
				id, err := filepath.Rel(store, out.Dir)
				if err != nil {
					t.Fatal(err)
				}
				runs := newServer(t, false, store)
				browsertest.Run(t, ctx, "run page", chromedp.Navigate(runs.URL+"/runs/run?id="+filepath.ToSlash(id)),
					chromedp.WaitVisible(chromedp.CSS(`#run[data-loaded="true"][data-verdict="invalid"]`)),
					chromedp.WaitReady(chromedp.CSS(`#history-frame[data-loaded="true"]`)),
					chromedp.Click(chromedp.CSS(`#jump`)),
					chromedp.WaitReady(chromedp.CSS(fmt.Sprintf(`#jump[data-state="done"][data-event="%d"]`, ev))))
				if got := browsertest.Eval[string](t, ctx, `document.getElementById('jump-note').textContent`); got != "first violation: "+v.Sentence {
					t.Errorf("run page jump note %q", got)
				}
				browsertest.WaitFor(t, ctx, "violation in view in the run page's frame", `(() => {
					const f = document.getElementById('history-frame'), d = f.contentDocument;
					const e = d.querySelector('.rk-target[data-event="`+fmt.Sprint(ev)+`"]');
					if (!e) return false;
					const r = e.getBoundingClientRect();
					return r.left >= 0 && r.left < f.contentWindow.innerWidth && r.top >= 0 && r.bottom <= f.contentWindow.innerHeight;
				})()`)
			}

			// Without a fragment, history.html opens at the first violation.
			browsertest.Run(t, ctx, "history without fragment", chromedp.Navigate(url+"/history.html"),
				chromedp.WaitVisible(chromedp.CSS(`body[data-rk-ready="true"] #rk-axis`)))
			browsertest.WaitFor(t, ctx, "history opens at the violation",
				fmt.Sprintf(`document.body.dataset.rkReady === 'true' && document.body.dataset.rkTarget === '%d'`, ev))
			browsertest.WaitFor(t, ctx, "violating operation in view without fragment", inView(mark, axisBottom, lanesRight))
		})
	}
}

// TestBrowserReportValidRun: the pages of a valid run have nothing to jump
// to, open at the start and still draw their lanes, axis and fault bands.
func TestBrowserReportValidRun(t *testing.T) {
	url, _, sc := simRun(t, "partitions.yaml", 3, checker.Valid)
	ctx := browsertest.New(t)
	browsertest.Run(t, ctx, "timeline", chromedp.Navigate(url+"/timeline.html"),
		chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"] #heads`)))
	if got := browsertest.Eval[string](t, ctx, `[document.querySelectorAll('#heads .head').length, document.querySelectorAll('.violation').length, document.getElementById('jump').disabled, scrollY, timeline.faults.length > 0].join()`); got != fmt.Sprintf("%d,0,true,0,true", sc.Clients) {
		t.Errorf("valid timeline: lanes, violations, jump disabled, scrollY, has faults = %s", got)
	}
	browsertest.Run(t, ctx, "history", chromedp.Navigate(url+"/history.html"),
		chromedp.WaitVisible(chromedp.CSS(`body[data-rk-ready="true"] #rk-axis`)))
	if got := browsertest.Eval[string](t, ctx, `[document.body.dataset.rkTarget === undefined, scrollY, document.getElementById('rk-jump').disabled, document.querySelectorAll('#rk-lanes .rk-client').length > 0, document.querySelectorAll('#rk-axis .rk-time').length > 1, document.querySelectorAll('.rk-band').length > 0].join()`); got != "true,0,true,true,true,true" {
		t.Errorf("valid history: no target, scrollY, jump disabled, row labels, axis, fault bands = %s", got)
	}
}

// bigRun is a simulated scenario sized for a run of over 100k operations
// (123,490 with seed 1) that still simulates and checks in about ten
// seconds: many clients over many keys, since each client runs one
// operation at a time and the network's latency, not the rate cap,
// bounds the throughput; a few light fault windows (one node isolated at
// a time) so that the timeline has bands to draw without slowing the
// linearizability check.
const bigRun = `name: sim-100k
backend: sim
nodes: 3
duration: 15s
clients: 32
rate: 20000
keys: 64
max_clients_per_key: 2
read_mode: linearizable
request_timeout: 1s
write_attempts: 1
node: {election_timeout: 300ms, heartbeat_interval: 30ms}
nemesis:
  interval: 3s
  hold: 1s
  faults: [partition-isolate-one]
recovery: 1s
expect: valid
`

// TestBrowserTimelineOf100kOperations renders the timeline of a simulated
// run of over 100k operations, made by the harness as `harness run
// --backend sim` does, and checks that the page is ready, zooms out to
// the whole run and jumps to an operation within generous deadlines. The
// harness is built and run as a separate binary without -race: the same
// simulation in this (race-instrumented) test process takes minutes.
func TestBrowserTimelineOf100kOperations(t *testing.T) {
	ctx := browsertest.New(t) // skips before building when there is no chromium
	dir := t.TempDir()

	start := time.Now()
	bin := filepath.Join(dir, "harness")
	// go test puts its own GOROOT/bin first in PATH, so this is the go that
	// runs the test; CGO_ENABLED=0 as in make build, whose packages the
	// build cache then already has.
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "github.com/raftkv/raftkv/cmd/harness")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/harness: %v\n%s", err, out)
	}
	t.Logf("harness built in %v", time.Since(start).Round(time.Millisecond))

	scenario := filepath.Join(dir, "sim-100k.yaml")
	if err := os.WriteFile(scenario, []byte(bigRun), 0o644); err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(dir, "store")
	start = time.Now()
	run := exec.CommandContext(t.Context(), bin, "run", "--backend", "sim", "--seed", "1", "--store", store, scenario)
	if out, err := run.CombinedOutput(); err != nil {
		t.Fatalf("harness run: %v\n%s", err, out)
	}
	t.Logf("harness run (simulation, check, report) took %v", time.Since(start).Round(time.Millisecond))
	runDir := filepath.Join(store, "sim-100k", "latest")
	b, err := os.ReadFile(filepath.Join(runDir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res harness.Results
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	sc, err := harness.LoadScenario(filepath.Join(runDir, "scenario.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops < 100_000 {
		t.Fatalf("the run has %d operations, want at least 100,000 (resize bigRun)", res.Ops)
	}
	if res.Faults == 0 {
		t.Errorf("the run has no fault window")
	}
	t.Logf("%d operations (%d ok, %d fail, %d info), %d fault windows, verdict %s", res.Ops, res.OK, res.Fail, res.Info, res.Faults, res.Verdict)

	srv := httptest.NewServer(http.FileServer(http.Dir(runDir)))
	t.Cleanup(srv.Close)
	start = time.Now()
	browsertest.Run(t, ctx, "open", chromedp.Navigate(srv.URL+"/timeline.html"))
	waitLong(t, ctx, "timeline ready", `document.body.dataset.ready === 'true'`)
	t.Logf("%d-operation timeline ready %v after navigation (the page's script took %s ms)", res.Ops,
		time.Since(start).Round(time.Millisecond), browsertest.Eval[string](t, ctx, `document.body.dataset.renderMs`))
	if n := browsertest.Eval[int](t, ctx, `document.querySelectorAll('#heads .head').length`); n != sc.Clients {
		t.Errorf("%d lanes, want the concurrency %d", n, sc.Clients)
	}

	// The whole run on one screen draws every operation in one frame.
	frames := browsertest.Eval[string](t, ctx, `document.body.dataset.frames`)
	start = time.Now()
	browsertest.Run(t, ctx, "fit", chromedp.Click(chromedp.CSS(`#zoom-fit`)))
	waitLong(t, ctx, "whole run drawn", fmt.Sprintf(`document.body.dataset.frames !== %q && Number(document.body.dataset.drawn) === %d`, frames, res.Ops))
	t.Logf("whole run drawn in %v", time.Since(start).Round(time.Millisecond))
	browsertest.Screenshot(t, ctx, "fit")

	// An operation in the middle, by its anchor (its invocation's index in
	// the history). The page's data has it: reading the 30 MB history in
	// this race-instrumented process would take several seconds.
	ev := browsertest.Eval[int](t, ctx, `(() => {
		const o = JSON.parse(document.getElementById('data').textContent).ops;
		return o.event[o.event.length >> 1];
	})()`)
	start = time.Now()
	browsertest.Run(t, ctx, "jump", chromedp.Navigate(fmt.Sprintf("%s/timeline.html#ev-%d", srv.URL, ev)),
		chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"] #heads`)))
	waitLong(t, ctx, "operation in the middle", fmt.Sprintf(`document.body.dataset.target === '%d'`, ev))
	browsertest.WaitFor(t, ctx, "target in view", inView(fmt.Sprintf(`#ev-%d.target`, ev), "26", "0"))
	t.Logf("jumped to #ev-%d in %v", ev, time.Since(start).Round(time.Millisecond))
	browsertest.Screenshot(t, ctx, "middle")
}

// waitLong polls a JavaScript predicate for up to a minute: long enough
// for a loaded two-core machine, short of hiding a page that hangs.
func waitLong(t *testing.T, ctx context.Context, what, predicate string) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 70*time.Second)
	defer cancel()
	_, err := chromedp.Run(tctx, chromedp.Poll[chromedp.Void](predicate,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(60*time.Second)))
	if err != nil {
		browsertest.Screenshot(t, ctx, "failed-"+what)
		t.Fatalf("waiting for %s (%s): %v", what, predicate, err)
	}
}
