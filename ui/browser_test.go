package ui_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/raftkv/raftkv/ui/internal/browsertest"
)

func TestMain(m *testing.M) { browsertest.Main(m) }

// The browser tests drive Debian's chromium with chromedp against the pages
// served over a fake cluster and a fake store. They wait on data-*
// attributes (selectors and polls with deadlines), never on sleeps.

const leadersShown = `document.querySelectorAll('tr.member[data-role="leader"]').length`

func TestBrowserClusterShowsExactlyOneLeader(t *testing.T) {
	ctx := browsertest.New(t)
	srv := newServer(t, false, "")
	browsertest.Run(t, ctx, "open page", chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#cluster[data-connected="true"][data-members="3"]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr.member[data-id="node2"][data-role="follower"]`)))
	if n := browsertest.Eval[int](t, ctx, leadersShown); n != 1 {
		t.Errorf("%d leaders shown, want 1", n)
	}
	if got := browsertest.Eval[string](t, ctx, `[document.getElementById('cluster').dataset.leader, document.getElementById('cluster').dataset.leaderCount].join()`); got != "node0,1" {
		t.Errorf("cluster data-leader,data-leader-count = %q, want node0,1", got)
	}
	if got := browsertest.Eval[string](t, ctx, `[...document.querySelectorAll('#ring g.ring-node')].map(g => g.dataset.id + ':' + g.dataset.role).join()`); got != "node0:leader,node1:follower,node2:follower" {
		t.Errorf("ring = %q", got)
	}
	// The leader's view of its followers (the fake reports match and next).
	browsertest.WaitFor(t, ctx, "progress table", `document.querySelectorAll('#progress tr.progress-row[data-next]').length === 2`)
	if got := browsertest.Eval[string](t, ctx, `document.querySelector('tr.member[data-id="node1"]').dataset.vote`); got != "node0" {
		t.Errorf("node1 vote = %q, want node0", got)
	}
	// An election timer, when a member reports one, is shown as text and
	// as an arc around its ring node.
	if err := srv.Cluster.SetElectionTimer("node1", 300, 1000); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitFor(t, ctx, "node1 timer", `document.querySelector('tr.member[data-id="node1"]').dataset.timer === '300/1000ms' &&
		document.querySelector('#ring g.ring-node[data-id="node1"] circle.timer') !== null &&
		document.querySelector('#ring g.ring-node[data-id="node2"] circle.timer') === null`)
	browsertest.Screenshot(t, ctx, "healthy")

	// An unreachable member is shown as such; the others keep one leader.
	if err := srv.Cluster.SetReachable("node2", false); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitFor(t, ctx, "node2 unreachable", `document.querySelector('tr.member[data-id="node2"]').dataset.role === 'unreachable' &&
		document.querySelector('#ring g.ring-node[data-id="node2"]').dataset.role === 'unreachable' &&
		document.getElementById('cluster').dataset.unreachable === '1'`)
	if n := browsertest.Eval[int](t, ctx, leadersShown); n != 1 {
		t.Errorf("%d leaders shown with node2 unreachable, want 1", n)
	}
	browsertest.Screenshot(t, ctx, "node2-unreachable")
}

func TestBrowserShowsNewLeaderAfterTransfer(t *testing.T) {
	ctx := browsertest.New(t)
	srv := newServer(t, false, "")
	browsertest.Run(t, ctx, "open page", chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`tr.member[data-id="node0"][data-role="leader"]`)))

	// The cluster changes leader by itself: the page follows.
	if _, err := srv.Cluster.TransferLeadership("node1"); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitFor(t, ctx, "node1 leads", `document.getElementById('cluster').dataset.leader === 'node1' &&
		document.querySelector('tr.member[data-id="node1"]').dataset.role === 'leader' &&
		document.querySelector('tr.member[data-id="node0"]').dataset.role === 'follower'`)
	if n := browsertest.Eval[int](t, ctx, leadersShown); n != 1 {
		t.Errorf("%d leaders shown, want 1", n)
	}
	browsertest.WaitFor(t, ctx, "leader-changed event", `[...document.querySelectorAll('#events li.event[data-type="leader-changed"]')].some(e => e.dataset.leader === 'node1')`)

	// The leadership control transfers it again, through POST /cluster/leader.
	browsertest.Run(t, ctx, "transfer to node2",
		chromedp.WaitReady(chromedp.CSS(`#transfer-to option[value="node2"]`)),
		browsertest.SetField(`#transfer-to`, "node2"),
		chromedp.Click(chromedp.CSS(`#transfer-submit`)),
		chromedp.WaitVisible(chromedp.CSS(`#transfer-result[data-status="ok"][data-leader="node2"]`)))
	browsertest.WaitFor(t, ctx, "node2 leads", `document.getElementById('cluster').dataset.leader === 'node2' &&
		document.querySelector('tr.member[data-id="node2"]').dataset.role === 'leader' &&
		Number(document.getElementById('cluster').dataset.term) === 3`)
	if n := browsertest.Eval[int](t, ctx, leadersShown); n != 1 {
		t.Errorf("%d leaders shown, want 1", n)
	}
	if got := srv.Cluster.Leader(); got != "node2" {
		t.Errorf("fake leader = %s, want node2", got)
	}
	browsertest.Screenshot(t, ctx, "after-transfer")
}

// kv runs one command through the KV console and waits for its answer.
func kv(t *testing.T, ctx context.Context, seq int, op, key, value string) {
	t.Helper()
	browsertest.Run(t, ctx, fmt.Sprintf("kv %s %s", op, key),
		browsertest.SetField(`#kv-op`, op),
		browsertest.SetField(`#kv-key`, key),
		browsertest.SetField(`#kv-value`, value),
		chromedp.Click(chromedp.CSS(`#kv-submit`)),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#kv-result[data-seq="%d"]`, seq))))
}

func TestBrowserKVConsoleSetThenGet(t *testing.T) {
	ctx := browsertest.New(t)
	// With a store, the page links to the runs browser.
	srv := newServer(t, false, makeStore(t))
	browsertest.Run(t, ctx, "open page", chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#cluster[data-connected="true"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#runs-link`)))

	kv(t, ctx, 1, "get", "color", "")
	if got := browsertest.Eval[string](t, ctx, `[document.getElementById('kv-result').dataset.status, document.getElementById('kv-result').dataset.found].join()`); got != "ok,false" {
		t.Errorf("get before set: status,found = %q, want ok,false", got)
	}
	kv(t, ctx, 2, "set", "color", "blue")
	if v, ok := srv.Cluster.Value("color"); !ok || v != "blue" {
		t.Fatalf("fake store color = %q, %v", v, ok)
	}
	kv(t, ctx, 3, "get", "color", "")
	got := browsertest.Eval[string](t, ctx, `(d => [d.status, d.found, d.value].join())(document.getElementById('kv-result').dataset)`)
	if got != "ok,true,blue" {
		t.Errorf("get after set: status,found,value = %q, want ok,true,blue", got)
	}
	// An error answer is shown as one.
	kv(t, ctx, 4, "get", "", "")
	if got := browsertest.Eval[string](t, ctx, `document.getElementById('kv-result').dataset.status`); got != "error" {
		t.Errorf("empty key: status %q, want error", got)
	}
	// The applied index moved on every member.
	browsertest.WaitFor(t, ctx, "applied index", `[...document.querySelectorAll('tr.member')].every(r => Number(r.dataset.applied) >= 2)`)
	browsertest.Screenshot(t, ctx, "kv")
}

func TestBrowserFaultControls(t *testing.T) {
	ctx := browsertest.New(t)
	srv := newServer(t, true, "")
	browsertest.Run(t, ctx, "open page", chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#faults[data-enabled="true"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.fault-member[data-id="node1"] button.isolate`)),
		chromedp.Click(chromedp.CSS(`.fault-member[data-id="node1"] button.isolate`)),
		chromedp.WaitVisible(chromedp.CSS(`#fault-result[data-status="ok"][data-seq="1"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.fault-member[data-id="node1"][data-isolated="true"][data-rules="2"]`)))
	browsertest.Screenshot(t, ctx, "isolated")
	browsertest.Run(t, ctx, "heal all",
		chromedp.Click(chromedp.CSS(`#heal-all`)),
		chromedp.WaitVisible(chromedp.CSS(`#fault-result[data-status="ok"][data-seq="2"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.fault-member[data-id="node1"][data-rules="0"]`)))
	browsertest.Run(t, ctx, "partition {node2} | {node0 node1}",
		chromedp.Click(chromedp.CSS(`#partition-side input[value="node2"]`)),
		chromedp.Click(chromedp.CSS(`#partition-submit`)),
		chromedp.WaitVisible(chromedp.CSS(`#fault-result[data-status="ok"][data-action="partition"][data-target="node2"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.fault-member[data-id="node2"][data-rules="2"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.fault-member[data-id="node0"][data-rules="1"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.fault-member[data-id="node1"][data-rules="1"]`)))
	if got := browsertest.Eval[string](t, ctx, `document.querySelector('.fault-member[data-id="node0"] .desc').textContent`); got != " 1 rule(s): node2/both drop" {
		t.Errorf("node0 rules shown as %q", got)
	}
	browsertest.Run(t, ctx, "heal all again",
		chromedp.Click(chromedp.CSS(`#heal-all`)),
		chromedp.WaitVisible(chromedp.CSS(`#fault-result[data-status="ok"][data-action="heal"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.fault-member[data-id="node2"][data-rules="0"]`)))
	seq := browsertest.Eval[string](t, ctx, `document.getElementById('fault-result').dataset.seq`)
	browsertest.Run(t, ctx, "clock",
		chromedp.WaitReady(chromedp.CSS(`#clock-member option[value="node2"]`)),
		browsertest.SetField(`#clock-member`, "node2"),
		browsertest.SetField(`#clock-offset`, "750"),
		chromedp.Click(chromedp.CSS(`#clock-set`)),
		chromedp.WaitVisible(chromedp.CSS(`#fault-result[data-status="ok"][data-action="clock"][data-target="node2"]:not([data-seq="`+seq+`"])`)))
	browsertest.WaitFor(t, ctx, "clock shown", `document.querySelector('.fault-member[data-id="node2"]').textContent.includes('offset 750ms')`)

	// Without fault injection the controls are hidden.
	off := newServer(t, false, "")
	browsertest.Run(t, ctx, "page without faults", chromedp.Navigate(off.URL+"/"),
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
	ctx := browsertest.New(t)
	srv := newServer(t, false, makeStore(t))
	browsertest.Run(t, ctx, "runs list", chromedp.Navigate(srv.URL+"/runs/"),
		chromedp.WaitVisible(chromedp.CSS(`#runs[data-loaded="true"][data-count="3"]`)))
	got := browsertest.Eval[string](t, ctx, `[...document.querySelectorAll('tr.run')].map(r => r.dataset.scenario + ':' + r.dataset.verdict).join()`)
	if got != "crash-loop:incomplete,stale-reads:invalid,partition-majority:valid" {
		t.Errorf("runs = %q", got)
	}
	browsertest.Screenshot(t, ctx, "runs")

	// The run page of the invalid run: verdict, failing keys, history.
	browsertest.Run(t, ctx, "open invalid run",
		chromedp.Click(chromedp.CSS(`tr.run[data-verdict="invalid"] a.run-link`)),
		chromedp.WaitVisible(chromedp.CSS(`#run[data-loaded="true"][data-verdict="invalid"]`)),
		chromedp.WaitReady(chromedp.CSS(`#history-frame[data-loaded="true"]`)))
	if got := browsertest.Eval[string](t, ctx, `[...document.querySelectorAll('#run-keys code.key')].map(e => e.dataset.key).join()`); got != "k3,k7" {
		t.Errorf("keys shown = %q, want k3,k7 (failing, lost)", got)
	}
	if got := browsertest.Eval[string](t, ctx, `document.getElementById('history-frame').contentDocument.title`); got != "Porcupine" {
		t.Errorf("history frame title = %q", got)
	}
	// The first error is off screen to the right until the jump.
	if browsertest.Eval[bool](t, ctx, firstErrorInView) {
		t.Fatalf("the first error is already in view: the history is too narrow for this test to mean anything")
	}
	browsertest.Run(t, ctx, "jump", chromedp.Click(chromedp.CSS(`#jump`)),
		chromedp.WaitReady(chromedp.CSS(`#jump[data-state="done"]`)))
	browsertest.WaitFor(t, ctx, "first error in view", firstErrorInView)
	// The note names the operation the first error falls on, in words.
	if note := browsertest.Eval[string](t, ctx, `document.getElementById('jump-note').textContent`); !strings.HasPrefix(note, "first error: get() → 3 (row 0) cannot come next") {
		t.Errorf("jump note %q", note)
	}
	browsertest.Screenshot(t, ctx, "jumped")

	// The list's "first error" link opens the run and jumps by itself.
	browsertest.Run(t, ctx, "first-error link", chromedp.Navigate(srv.URL+"/runs/"),
		chromedp.WaitVisible(chromedp.CSS(`#runs[data-loaded="true"]`)),
		chromedp.Click(chromedp.CSS(`tr.run[data-verdict="invalid"] a.first-error`)),
		chromedp.WaitReady(chromedp.CSS(`#jump[data-state="done"]`)))
	browsertest.WaitFor(t, ctx, "first error in view after the link", firstErrorInView)

	// A valid run has no error to jump to.
	browsertest.Run(t, ctx, "valid run", chromedp.Navigate(srv.URL+"/runs/run?id="+validRun),
		chromedp.WaitVisible(chromedp.CSS(`#run[data-loaded="true"][data-verdict="valid"]`)),
		chromedp.WaitReady(chromedp.CSS(`#history-frame[data-loaded="true"]`)),
		chromedp.Click(chromedp.CSS(`#jump`)),
		chromedp.WaitReady(chromedp.CSS(`#jump[data-state="none"]`)))

	// history.html itself opens from the runs browser.
	browsertest.Run(t, ctx, "history.html", chromedp.Navigate(srv.URL+"/runs/files/"+invalidRun+"/history.html"),
		chromedp.WaitReady(chromedp.CSS(`#jump-link`)))
	if title := browsertest.Eval[string](t, ctx, `document.title`); title != "Porcupine" {
		t.Errorf("history.html title = %q", title)
	}
	browsertest.Screenshot(t, ctx, "history")
}

// TestBrowserStaleLeaderAndMembership shows a deposed leader that still
// claims leadership in an old term (as in a partition before it steps down)
// and changes the membership through the page.
func TestBrowserStaleLeaderAndMembership(t *testing.T) {
	ctx := browsertest.New(t)
	srv := newServer(t, false, "")
	if _, err := srv.Cluster.TransferLeadership("node1"); err != nil { // term 2
		t.Fatal(err)
	}
	if err := srv.Cluster.SetRole("node2", "leader", 1); err != nil {
		t.Fatal(err)
	}
	browsertest.Run(t, ctx, "open page", chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#cluster[data-connected="true"][data-leader-count="2"]`)))
	if got := browsertest.Eval[string](t, ctx, `(c => [c.leader, c.term].join())(document.getElementById('cluster').dataset)`); got != "node1,2" {
		t.Errorf("cluster leader,term = %q, want node1,2 (the leader of the highest term)", got)
	}
	if !browsertest.Eval[bool](t, ctx, `document.querySelector('tr.member[data-id="node2"]').classList.contains('stale') &&
		!document.querySelector('tr.member[data-id="node1"]').classList.contains('stale') &&
		document.querySelector('#ring g.ring-node[data-id="node2"]').classList.contains('stale')`) {
		t.Errorf("the stale leader node2 is not marked stale")
	}
	browsertest.Screenshot(t, ctx, "stale-leader")

	browsertest.Run(t, ctx, "add node3",
		browsertest.SetField(`#add-id`, "node3"),
		browsertest.SetField(`#add-raft`, "127.0.0.1:7003"),
		browsertest.SetField(`#add-api`, "127.0.0.1:8003"),
		chromedp.Click(chromedp.CSS(`#add-learner`)),
		chromedp.Click(chromedp.CSS(`#add-submit`)),
		chromedp.WaitVisible(chromedp.CSS(`#member-result[data-status="ok"][data-seq="1"]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr.member[data-id="node3"][data-role="learner"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#cluster[data-members="4"]`)))
	browsertest.WaitFor(t, ctx, "conf change event", `[...document.querySelectorAll('#events li.event[data-type="conf-change-applied"]')].some(e => e.textContent.includes('add node3'))`)
	browsertest.Run(t, ctx, "remove node3",
		chromedp.Click(chromedp.CSS(`tr.member[data-id="node3"] button.remove`)),
		chromedp.WaitVisible(chromedp.CSS(`#member-result[data-status="ok"][data-seq="2"][data-removed="node3"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#cluster[data-members="3"]`)))
	if n := browsertest.Eval[int](t, ctx, `document.querySelectorAll('tr.member[data-id="node3"]').length`); n != 0 {
		t.Errorf("node3 still shown")
	}
}
