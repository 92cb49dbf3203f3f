package ui_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The browser tests drive Debian's chromium with chromedp against the pages
// served over a fake cluster and a fake store. They wait on data-*
// attributes (selectors and polls with deadlines), never on sleeps.

// chromiumPath finds a Chrome-compatible browser: $RAFTKV_CHROMIUM, then
// the usual names in PATH.
func chromiumPath() string {
	if p := os.Getenv("RAFTKV_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browser is the chromium shared by the browser tests of this package
// (started by the first test that needs it, stopped by TestMain); each
// test gets its own tab.
var browser struct {
	once   sync.Once
	ctx    context.Context
	cancel func()
	err    error
	path   string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if browser.cancel != nil {
		browser.cancel()
	}
	os.Exit(code)
}

// newBrowser opens a tab of a headless chromium for one test. Without
// chromium it fails in CI (CI=true) and skips elsewhere, saying what is
// missing.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	browser.once.Do(func() {
		browser.path = chromiumPath()
		if browser.path == "" {
			return
		}
		opts := append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(browser.path),
			chromedp.NoSandbox,
			chromedp.DisableGPU,
			chromedp.Headless,
			chromedp.WindowSize(1400, 1000),
		)
		actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		ctx, cancelCtx := chromedp.NewContext(actx)
		browser.ctx = ctx
		browser.cancel = func() {
			cancelCtx()
			cancelAlloc()
		}
		// The first Do starts the browser, bound to ctx (which has no
		// timeout).
		browser.err = chromedp.Do(ctx)
	})
	if browser.path == "" {
		msg := "browser tests need chromium: none found ($RAFTKV_CHROMIUM, chromium, chromium-browser or google-chrome in PATH); install it with `sudo ui/install-chromium.sh` (apt-get install chromium)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip("SKIP: " + msg)
	}
	if browser.err != nil {
		t.Fatalf("start %s: %v", browser.path, browser.err)
	}
	ctx, cancel := chromedp.NewContext(browser.ctx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return ctx
}

// setField sets a form field's value (select, input) and fails the test
// when the value is not one the field accepts.
func setField(sel, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) return 'missing'; e.value = %q; return e.value === %q ? 'ok' : 'rejected'; })()`, sel, value, value)
		res, err := chromedp.Evaluate[string](js)(ctx, t)
		if err != nil {
			return err
		}
		if res != "ok" {
			return fmt.Errorf("set %s to %q: %s", sel, value, res)
		}
		return nil
	})
}

// run runs actions with a deadline.
func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, actions...); err != nil {
		screenshot(t, ctx, "failed-"+what)
		t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript predicate until it is true (20s at most).
func waitFor(t *testing.T, ctx context.Context, what, predicate string) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err := chromedp.Run(tctx, chromedp.Poll[chromedp.Void](predicate,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil {
		screenshot(t, ctx, "failed-"+what)
		t.Fatalf("waiting for %s (%s): %v", what, predicate, err)
	}
}

// artifactsDir is $RAFTKV_ARTIFACTS or a fixed directory under the system
// temporary directory, kept after the test so the screenshots can be seen.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("RAFTKV_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "raftkv-ui-artifacts")
	}
	dir = filepath.Join(dir, "ui")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// screenshot saves a full-page PNG as a test artifact and logs its path.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	shot := chromedp.FullScreenshot(100)
	if strings.HasPrefix(name, "history") {
		// Porcupine's page is very wide: the viewport is enough.
		shot = chromedp.CaptureScreenshot()
	}
	png, err := chromedp.Run(tctx, shot)
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(artifactsDir(t), strings.ReplaceAll(t.Name(), "/", "_")+"-"+name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	t.Logf("screenshot: %s", path)
}

const leadersShown = `document.querySelectorAll('tr.member[data-role="leader"]').length`

func TestBrowserClusterShowsExactlyOneLeader(t *testing.T) {
	ctx := newBrowser(t)
	srv := newServer(t, false, "")
	run(t, ctx, "open page", chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#cluster[data-connected="true"][data-members="3"]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr.member[data-id="node2"][data-role="follower"]`)))
	if n := eval[int](t, ctx, leadersShown); n != 1 {
		t.Errorf("%d leaders shown, want 1", n)
	}
	if got := eval[string](t, ctx, `[document.getElementById('cluster').dataset.leader, document.getElementById('cluster').dataset.leaderCount].join()`); got != "node0,1" {
		t.Errorf("cluster data-leader,data-leader-count = %q, want node0,1", got)
	}
	if got := eval[string](t, ctx, `[...document.querySelectorAll('#ring g.ring-node')].map(g => g.dataset.id + ':' + g.dataset.role).join()`); got != "node0:leader,node1:follower,node2:follower" {
		t.Errorf("ring = %q", got)
	}
	// The leader's view of its followers (the fake reports match and next).
	waitFor(t, ctx, "progress table", `document.querySelectorAll('#progress tr.progress-row[data-next]').length === 2`)
	if got := eval[string](t, ctx, `document.querySelector('tr.member[data-id="node1"]').dataset.vote`); got != "node0" {
		t.Errorf("node1 vote = %q, want node0", got)
	}
	screenshot(t, ctx, "healthy")

	// An unreachable member is shown as such; the others keep one leader.
	if err := srv.Cluster.SetReachable("node2", false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "node2 unreachable", `document.querySelector('tr.member[data-id="node2"]').dataset.role === 'unreachable' &&
		document.querySelector('#ring g.ring-node[data-id="node2"]').dataset.role === 'unreachable' &&
		document.getElementById('cluster').dataset.unreachable === '1'`)
	if n := eval[int](t, ctx, leadersShown); n != 1 {
		t.Errorf("%d leaders shown with node2 unreachable, want 1", n)
	}
	screenshot(t, ctx, "node2-unreachable")
}

func TestBrowserShowsNewLeaderAfterTransfer(t *testing.T) {
	ctx := newBrowser(t)
	srv := newServer(t, false, "")
	run(t, ctx, "open page", chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`tr.member[data-id="node0"][data-role="leader"]`)))

	// The cluster changes leader by itself: the page follows.
	if _, err := srv.Cluster.TransferLeadership("node1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "node1 leads", `document.getElementById('cluster').dataset.leader === 'node1' &&
		document.querySelector('tr.member[data-id="node1"]').dataset.role === 'leader' &&
		document.querySelector('tr.member[data-id="node0"]').dataset.role === 'follower'`)
	if n := eval[int](t, ctx, leadersShown); n != 1 {
		t.Errorf("%d leaders shown, want 1", n)
	}
	waitFor(t, ctx, "leader-changed event", `[...document.querySelectorAll('#events li.event[data-type="leader-changed"]')].some(e => e.dataset.leader === 'node1')`)

	// The leadership control transfers it again, through POST /cluster/leader.
	run(t, ctx, "transfer to node2",
		chromedp.WaitReady(chromedp.CSS(`#transfer-to option[value="node2"]`)),
		setField(`#transfer-to`, "node2"),
		chromedp.Click(chromedp.CSS(`#transfer-submit`)),
		chromedp.WaitVisible(chromedp.CSS(`#transfer-result[data-status="ok"][data-leader="node2"]`)))
	waitFor(t, ctx, "node2 leads", `document.getElementById('cluster').dataset.leader === 'node2' &&
		document.querySelector('tr.member[data-id="node2"]').dataset.role === 'leader' &&
		Number(document.getElementById('cluster').dataset.term) === 3`)
	if n := eval[int](t, ctx, leadersShown); n != 1 {
		t.Errorf("%d leaders shown, want 1", n)
	}
	if got := srv.Cluster.Leader(); got != "node2" {
		t.Errorf("fake leader = %s, want node2", got)
	}
	screenshot(t, ctx, "after-transfer")
}

// kv runs one command through the KV console and waits for its answer.
func kv(t *testing.T, ctx context.Context, seq int, op, key, value string) {
	t.Helper()
	run(t, ctx, fmt.Sprintf("kv %s %s", op, key),
		setField(`#kv-op`, op),
		setField(`#kv-key`, key),
		setField(`#kv-value`, value),
		chromedp.Click(chromedp.CSS(`#kv-submit`)),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#kv-result[data-seq="%d"]`, seq))))
}

func TestBrowserKVConsoleSetThenGet(t *testing.T) {
	ctx := newBrowser(t)
	// With a store, the page links to the runs browser.
	srv := newServer(t, false, makeStore(t))
	run(t, ctx, "open page", chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#cluster[data-connected="true"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#runs-link`)))

	kv(t, ctx, 1, "get", "color", "")
	if got := eval[string](t, ctx, `[document.getElementById('kv-result').dataset.status, document.getElementById('kv-result').dataset.found].join()`); got != "ok,false" {
		t.Errorf("get before set: status,found = %q, want ok,false", got)
	}
	kv(t, ctx, 2, "set", "color", "blue")
	if v, ok := srv.Cluster.Value("color"); !ok || v != "blue" {
		t.Fatalf("fake store color = %q, %v", v, ok)
	}
	kv(t, ctx, 3, "get", "color", "")
	got := eval[string](t, ctx, `(d => [d.status, d.found, d.value].join())(document.getElementById('kv-result').dataset)`)
	if got != "ok,true,blue" {
		t.Errorf("get after set: status,found,value = %q, want ok,true,blue", got)
	}
	// An error answer is shown as one.
	kv(t, ctx, 4, "get", "", "")
	if got := eval[string](t, ctx, `document.getElementById('kv-result').dataset.status`); got != "error" {
		t.Errorf("empty key: status %q, want error", got)
	}
	// The applied index moved on every member.
	waitFor(t, ctx, "applied index", `[...document.querySelectorAll('tr.member')].every(r => Number(r.dataset.applied) >= 2)`)
	screenshot(t, ctx, "kv")
}

func TestBrowserFaultControls(t *testing.T) {
	ctx := newBrowser(t)
	srv := newServer(t, true, "")
	run(t, ctx, "open page", chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#faults[data-enabled="true"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.fault-member[data-id="node1"] button.isolate`)),
		chromedp.Click(chromedp.CSS(`.fault-member[data-id="node1"] button.isolate`)),
		chromedp.WaitVisible(chromedp.CSS(`#fault-result[data-status="ok"][data-seq="1"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.fault-member[data-id="node1"][data-isolated="true"][data-rules="2"]`)))
	screenshot(t, ctx, "isolated")
	run(t, ctx, "heal all",
		chromedp.Click(chromedp.CSS(`#heal-all`)),
		chromedp.WaitVisible(chromedp.CSS(`#fault-result[data-status="ok"][data-seq="2"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.fault-member[data-id="node1"][data-rules="0"]`)))
	run(t, ctx, "clock",
		chromedp.WaitReady(chromedp.CSS(`#clock-member option[value="node2"]`)),
		setField(`#clock-member`, "node2"),
		setField(`#clock-offset`, "750"),
		chromedp.Click(chromedp.CSS(`#clock-set`)),
		chromedp.WaitVisible(chromedp.CSS(`#fault-result[data-status="ok"][data-seq="3"][data-target="node2"]`)))
	waitFor(t, ctx, "clock shown", `document.querySelector('.fault-member[data-id="node2"]').textContent.includes('offset 750ms')`)

	// Without fault injection the controls are hidden.
	off := newServer(t, false, "")
	run(t, ctx, "page without faults", chromedp.Navigate(off.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#cluster[data-connected="true"]`)),
		chromedp.WaitNotVisible(chromedp.CSS(`#faults`)))
}

// firstErrorInView reports whether the first illegal linearization point of
// the history frame is inside the frame's viewport.
const firstErrorInView = `(() => {
	const f = document.getElementById('history-frame');
	const d = f.contentDocument;
	const pts = [...d.querySelectorAll('.linearization-invalid.linearization-point')]
		.filter(e => !e.parentElement.classList.contains('hidden'))
		.sort((a, b) => Number(a.getAttribute('x1')) - Number(b.getAttribute('x1')));
	if (pts.length === 0) return false;
	const r = pts[0].getBoundingClientRect();
	return r.left >= 0 && r.right <= f.contentWindow.innerWidth && r.top >= 0 && r.bottom <= f.contentWindow.innerHeight;
})()`

func TestBrowserRunsJumpToFirstError(t *testing.T) {
	ctx := newBrowser(t)
	srv := newServer(t, false, makeStore(t))
	run(t, ctx, "runs list", chromedp.Navigate(srv.URL+"/runs/"),
		chromedp.WaitVisible(chromedp.CSS(`#runs[data-loaded="true"][data-count="3"]`)))
	got := eval[string](t, ctx, `[...document.querySelectorAll('tr.run')].map(r => r.dataset.scenario + ':' + r.dataset.verdict).join()`)
	if got != "crash-loop:incomplete,stale-reads:invalid,partition-majority:valid" {
		t.Errorf("runs = %q", got)
	}
	screenshot(t, ctx, "runs")

	// The run page of the invalid run: verdict, failing keys, history.
	run(t, ctx, "open invalid run",
		chromedp.Click(chromedp.CSS(`tr.run[data-verdict="invalid"] a.run-link`)),
		chromedp.WaitVisible(chromedp.CSS(`#run[data-loaded="true"][data-verdict="invalid"]`)),
		chromedp.WaitReady(chromedp.CSS(`#history-frame[data-loaded="true"]`)))
	if got := eval[string](t, ctx, `[...document.querySelectorAll('#run-keys code.key')].map(e => e.dataset.key).join()`); got != "k3,k7" {
		t.Errorf("keys shown = %q, want k3,k7 (failing, lost)", got)
	}
	if got := eval[string](t, ctx, `document.getElementById('history-frame').contentDocument.title`); got != "Porcupine" {
		t.Errorf("history frame title = %q", got)
	}
	// The first error is off screen to the right until the jump.
	if eval[bool](t, ctx, firstErrorInView) {
		t.Fatalf("the first error is already in view: the history is too narrow for this test to mean anything")
	}
	run(t, ctx, "jump", chromedp.Click(chromedp.CSS(`#jump`)),
		chromedp.WaitReady(chromedp.CSS(`#jump[data-state="done"]`)))
	waitFor(t, ctx, "first error in view", firstErrorInView)
	screenshot(t, ctx, "jumped")

	// The list's "first error" link opens the run and jumps by itself.
	run(t, ctx, "first-error link", chromedp.Navigate(srv.URL+"/runs/"),
		chromedp.WaitVisible(chromedp.CSS(`#runs[data-loaded="true"]`)),
		chromedp.Click(chromedp.CSS(`tr.run[data-verdict="invalid"] a.first-error`)),
		chromedp.WaitReady(chromedp.CSS(`#jump[data-state="done"]`)))
	waitFor(t, ctx, "first error in view after the link", firstErrorInView)

	// A valid run has no error to jump to.
	run(t, ctx, "valid run", chromedp.Navigate(srv.URL+"/runs/run?id="+validRun),
		chromedp.WaitVisible(chromedp.CSS(`#run[data-loaded="true"][data-verdict="valid"]`)),
		chromedp.WaitReady(chromedp.CSS(`#history-frame[data-loaded="true"]`)),
		chromedp.Click(chromedp.CSS(`#jump`)),
		chromedp.WaitReady(chromedp.CSS(`#jump[data-state="none"]`)))

	// history.html itself opens from the runs browser.
	run(t, ctx, "history.html", chromedp.Navigate(srv.URL+"/runs/files/"+invalidRun+"/history.html"),
		chromedp.WaitReady(chromedp.CSS(`#jump-link`)))
	if title := eval[string](t, ctx, `document.title`); title != "Porcupine" {
		t.Errorf("history.html title = %q", title)
	}
	screenshot(t, ctx, "history")
}
