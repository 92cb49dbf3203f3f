package nodesource_test

import (
	"net"
	"net/http"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/gin-gonic/gin"

	"github.com/raftkv/raftkv/kvservice"
	"github.com/raftkv/raftkv/kvservice/api"
	"github.com/raftkv/raftkv/ui"
	"github.com/raftkv/raftkv/ui/internal/browsertest"
	"github.com/raftkv/raftkv/ui/nodesource"
)

func TestMain(m *testing.M) { browsertest.Main(m) }

// TestBrowserRealCluster serves the page from a real node (the UI mounted in
// front of kvservice's API handler, as the node server does) and drives it
// in chromium: one leader shown, a set read back through the KV console, a
// leadership transfer through the page.
func TestBrowserRealCluster(t *testing.T) {
	ctx := browsertest.New(t)
	srvs := startCluster(t)
	s0 := srvs[0]
	src, err := nodesource.New(nodesource.Config{Status: s0.Status, Members: s0.Members, Faults: s0.Faults})
	if err != nil {
		t.Fatal(err)
	}
	eng := gin.New()
	live := ui.Register(eng, src)
	defer live.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: ui.Mount(s0.Handler(), eng)}
	go hs.Serve(ln)
	defer hs.Close()
	url := "http://" + ln.Addr().String()

	browsertest.Run(t, ctx, "open page", chromedp.Navigate(url+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#cluster[data-connected="true"][data-members="3"]`)))
	browsertest.WaitFor(t, ctx, "one leader, all reachable", `(() => {
		const c = document.getElementById('cluster').dataset;
		return c.leaderCount === '1' && c.unreachable === '0' && c.leader !== '' &&
			document.querySelectorAll('tr.member[data-role="leader"]').length === 1 &&
			document.querySelectorAll('tr.member[data-role="follower"]').length === 2;
	})()`)
	// The election timers of GET /status: each follower's arc and its
	// "elapsed/timeout" text (a timeout in [500ms, 1000ms), the randomized
	// election timeout of these nodes); the leader's check-quorum round as
	// text, without an arc.
	browsertest.WaitFor(t, ctx, "election timers", `(() => {
		const fs = [...document.querySelectorAll('tr.member[data-role="follower"]')];
		const l = document.querySelector('tr.member[data-role="leader"]');
		const timer = (t) => { const m = /^(\d+)\/(\d+)ms$/.exec(t || ''); return m ? [Number(m[1]), Number(m[2])] : null; };
		return fs.length === 2 && fs.every(r => {
			const t = timer(r.dataset.timer);
			return t && t[1] >= 500 && t[1] < 1000 && t[0] < t[1] &&
				document.querySelector('#ring g.ring-node[data-id="' + r.dataset.id + '"] circle.timer') !== null;
		}) && l && (timer(l.dataset.timer) || [])[1] === 500 &&
			document.querySelector('#ring g.ring-node[data-id="' + l.dataset.id + '"] circle.timer') === null;
	})()`)
	browsertest.Screenshot(t, ctx, "real-cluster")

	// A follower cut off from the leader hears no heartbeat: its timer runs
	// (its arc shrinks) until it times out.
	var cut *kvservice.Server
	var cutName string
	for i, s := range srvs {
		if st := s.Status(); st.Role == "follower" && i != 0 {
			cut, cutName = s, st.ID
			break
		}
	}
	if cut == nil {
		t.Fatal("no follower other than node0")
	}
	leaderName := browsertest.Eval[string](t, ctx, `document.getElementById('cluster').dataset.leader`)
	if err := cut.SetNetworkFaults([]api.NetworkRule{{Peer: leaderName, Direction: "both", Drop: true}}); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitFor(t, ctx, cutName+"'s timer running", `(() => {
		const m = /^(\d+)\/(\d+)ms$/.exec(document.querySelector('tr.member[data-id="`+cutName+`"]').dataset.timer || '');
		return m !== null && Number(m[1]) >= 150 && Number(m[1]) < Number(m[2]);
	})()`)
	browsertest.Screenshot(t, ctx, "real-cluster-timer-running")
	cut.ClearNetworkFaults()
	browsertest.WaitFor(t, ctx, cutName+" hears the leader again", `(() => {
		const r = document.querySelector('tr.member[data-id="`+cutName+`"]');
		return r.dataset.role === 'follower' && r.dataset.leader !== '' && Number((r.dataset.timer || 'x').split('/')[0]) < 150 &&
			document.getElementById('cluster').dataset.leaderCount === '1';
	})()`)

	browsertest.Run(t, ctx, "set",
		browsertest.SetField(`#kv-op`, "set"),
		browsertest.SetField(`#kv-key`, "greeting"),
		browsertest.SetField(`#kv-value`, "hello"),
		chromedp.Click(chromedp.CSS(`#kv-submit`)),
		chromedp.WaitVisible(chromedp.CSS(`#kv-result[data-seq="1"][data-status="ok"]`)))
	browsertest.Run(t, ctx, "get",
		browsertest.SetField(`#kv-op`, "get"),
		chromedp.Click(chromedp.CSS(`#kv-submit`)),
		chromedp.WaitVisible(chromedp.CSS(`#kv-result[data-seq="2"][data-status="ok"][data-value="hello"]`)))

	leader := browsertest.Eval[string](t, ctx, `document.getElementById('cluster').dataset.leader`)
	target := "node1"
	if leader == target {
		target = "node2"
	}
	browsertest.Run(t, ctx, "transfer",
		browsertest.SetField(`#transfer-to`, target),
		chromedp.Click(chromedp.CSS(`#transfer-submit`)),
		chromedp.WaitVisible(chromedp.CSS(`#transfer-result[data-seq="1"]`)))
	if st := browsertest.Eval[string](t, ctx, `document.getElementById('transfer-result').dataset.status`); st != "ok" {
		t.Fatalf("transfer answer: %s", browsertest.Eval[string](t, ctx, `document.getElementById('transfer-result').textContent`))
	}
	browsertest.WaitFor(t, ctx, target+" leads", `document.getElementById('cluster').dataset.leader === '`+target+`' &&
		document.getElementById('cluster').dataset.leaderCount === '1'`)
	browsertest.Screenshot(t, ctx, "real-cluster-after-transfer")
}

// TestBrowserTokens: a node with tokens serves its page to anyone, but the
// live feed only to a token with the read role. Without one the page says
// so in words; once the token is set in the page's field, the feed
// connects and every member's status arrives (fetched with the node's own
// token).
func TestBrowserTokens(t *testing.T) {
	ctx := browsertest.New(t)
	toks := &api.Tokens{}
	const admin, reader = "admin-0123456789abcdef", "reader-0123456789abcdef"
	_ = toks.Add(admin, api.RoleAdmin)
	_ = toks.Add(reader, api.RoleRead)
	srvs := startCluster(t, func(c *kvservice.Config) { c.Tokens, c.NodeToken = toks, admin })
	url := "http://" + srvs[0].APIAddr() + "/"
	browsertest.Run(t, ctx, "open page", chromedp.Navigate(url))
	browsertest.WaitFor(t, ctx, "the page says a token is needed", `(() => {
		const c = document.getElementById('conn');
		return c.dataset.state === 'unauthorized' && c.textContent.includes('needs a token with role read');
	})()`)
	browsertest.Screenshot(t, ctx, "tokens-refused")
	browsertest.Run(t, ctx, "set the token",
		browsertest.SetField(`#api-token`, reader),
		chromedp.Click(chromedp.CSS(`#api-token-save`)))
	browsertest.WaitFor(t, ctx, "the feed connects with every member reachable", `(() => {
		const c = document.getElementById('cluster').dataset;
		return c.connected === 'true' && c.members === '3' && c.unreachable === '0' && c.leaderCount === '1';
	})()`)
	browsertest.Screenshot(t, ctx, "tokens-accepted")
}

// TestBrowserNodeDies: the page is served by a node that then dies. The
// page stops showing it as the leader and says in words that it lost it,
// moves to another member's page by itself, and there shows the dead node
// as unreachable with the reason in words and its "make leader" button
// disabled.
func TestBrowserNodeDies(t *testing.T) {
	ctx := browsertest.New(t)
	srvs := startCluster(t)
	// The page's node is the leader, the worst case for a frozen view.
	var page *kvservice.Server
	browsertest.Run(t, ctx, "open page", chromedp.Navigate("http://"+srvs[0].APIAddr()+"/"))
	browsertest.WaitFor(t, ctx, "one leader, all reachable", `(() => {
		const c = document.getElementById('cluster').dataset;
		return c.connected === 'true' && c.members === '3' && c.leaderCount === '1' && c.unreachable === '0';
	})()`)
	leader := browsertest.Eval[string](t, ctx, `document.getElementById('cluster').dataset.leader`)
	for _, s := range srvs {
		if s.Status().ID == leader {
			page = s
		}
	}
	if page == nil {
		t.Fatalf("leader %q is not one of the servers", leader)
	}
	browsertest.Run(t, ctx, "open the leader's page", chromedp.Navigate("http://"+page.APIAddr()+"/"))
	browsertest.WaitFor(t, ctx, "connected to the leader's page", `(() => {
		const c = document.getElementById('cluster').dataset;
		return c.connected === 'true' && c.leader === '`+leader+`' && document.getElementById('self').textContent === '`+leader+`';
	})()`)
	deadAddr := page.APIAddr()
	page.Close()

	browsertest.WaitAcrossNavigation(t, ctx, "the page moved to a live member", `(() => {
		const c = document.getElementById('cluster').dataset;
		const self = document.getElementById('self').textContent;
		return location.host !== '`+deadAddr+`' && c.connected === 'true' && self !== '' && self !== '`+leader+`';
	})()`)
	browsertest.WaitAcrossNavigation(t, ctx, "the dead node shown unreachable, in words, its button disabled", `(() => {
		const r = document.querySelector('tr.member[data-id="`+leader+`"]');
		return r && r.dataset.reachable === 'false' && r.dataset.role === 'unreachable' &&
			r.querySelector('.err').textContent.includes('connection refused: the node is down') &&
			!r.querySelector('.err').textContent.includes('dial tcp') &&
			r.querySelector('button.transfer').disabled && !r.querySelector('button.remove').disabled;
	})()`)
	browsertest.Screenshot(t, ctx, "node-died")
}

// TestBrowserLostNodeSaysSo: while no other member answers either, the page
// says plainly that it lost its node and no longer shows it as leader.
func TestBrowserLostNodeSaysSo(t *testing.T) {
	ctx := browsertest.New(t)
	srvs := startCluster(t)
	browsertest.Run(t, ctx, "open page", chromedp.Navigate("http://"+srvs[0].APIAddr()+"/"))
	browsertest.WaitFor(t, ctx, "connected", `document.getElementById('cluster').dataset.connected === 'true' &&
		document.getElementById('cluster').dataset.leaderCount === '1'`)
	for _, s := range srvs {
		s.Close()
	}
	browsertest.WaitFor(t, ctx, "the page says it lost its node", `(() => {
		const c = document.getElementById('conn');
		const cl = document.getElementById('cluster');
		return c.dataset.state === 'lost' && c.textContent.includes('node0') && c.textContent.includes('stopped answering') &&
			cl.dataset.leader === '' && cl.classList.contains('stale') &&
			document.getElementById('cluster-summary').textContent.startsWith('leader unknown');
	})()`)
	browsertest.Screenshot(t, ctx, "node-lost")
}
