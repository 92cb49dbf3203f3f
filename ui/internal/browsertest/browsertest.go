package browsertest

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

// chromiumPath finds a Chrome-compatible browser: $RAFTKV_CHROMIUM, then
// the usual names in PATH.
func ChromiumPath() string {
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

// Main runs the tests of a package and then stops the shared browser:
// call it from the package's TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if browser.cancel != nil {
		browser.cancel()
	}
	os.Exit(code)
}

// New opens a tab of a headless chromium for one test. Without
// chromium it fails in CI (CI=true) and skips elsewhere, saying what is
// missing.
func New(t *testing.T) context.Context {
	t.Helper()
	browser.once.Do(func() {
		browser.path = ChromiumPath()
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

// SetField sets a form field's value (select, input) and fails the test
// when the value is not one the field accepts.
func SetField(sel, value string) chromedp.Action[chromedp.Void] {
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

// Run runs actions with a deadline.
func Run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, actions...); err != nil {
		Screenshot(t, ctx, "failed-"+what)
		t.Fatalf("%s: %v", what, err)
	}
}

// Eval evaluates a JavaScript expression.
func Eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// WaitFor polls a JavaScript predicate until it is true (20s at most).
func WaitFor(t *testing.T, ctx context.Context, what, predicate string) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err := chromedp.Run(tctx, chromedp.Poll[chromedp.Void](predicate,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil {
		Screenshot(t, ctx, "failed-"+what)
		t.Fatalf("waiting for %s (%s): %v", what, predicate, err)
	}
}

// WaitAcrossNavigation is WaitFor for a predicate that becomes true on a
// page the current one navigates to by itself: a poll cut short by the
// navigation is started again on the new page, until 30s have passed.
func WaitAcrossNavigation(t *testing.T, ctx context.Context, what, predicate string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		pctx, cancel := context.WithDeadline(ctx, deadline)
		_, err = chromedp.Run(pctx, chromedp.Poll[chromedp.Void](predicate,
			chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(time.Until(deadline))))
		cancel()
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			break
		}
	}
	Screenshot(t, ctx, "failed-"+what)
	t.Fatalf("waiting for %s (%s): %v", what, predicate, err)
}

// ArtifactsDir is $RAFTKV_ARTIFACTS or a fixed directory under the system
// temporary directory, kept after the test so the screenshots can be seen.
func ArtifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("RAFTKV_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "raftkv-ui-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Screenshot saves a PNG of the viewport as a test artifact and logs its path.
func Screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	// The viewport (1400x1000) holds the pages' main content; a full-page
	// capture costs seconds more on a loaded machine (Porcupine's history
	// is thousands of pixels wide).
	shot := chromedp.CaptureScreenshot()
	png, err := chromedp.Run(tctx, shot)
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(ArtifactsDir(t), strings.ReplaceAll(t.Name(), "/", "_")+"-"+name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	t.Logf("screenshot: %s", path)
}
