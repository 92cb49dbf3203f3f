// Package ui is raftkv's web UI: a live view of the cluster served by every
// node, and a browser of the harness's run directories. Both are plain
// JS/CSS/SVG files embedded in the binary (go:embed): no npm, no CDN, they
// work offline.
//
// # Live view
//
// Register(r, src) serves the page at / and its feed at /ws. The server
// owns all state: while at least one page is connected, a Live polls the
// local Source and every other member (in parallel, each fetch bounded by
// Options.MemberTimeout, so an unreachable member costs one timeout and is
// shown as unreachable with its last known status) and pushes a Snapshot
// every Options.Interval, plus each Event of the local node as it happens
// (an event also triggers an immediate snapshot). The page only renders.
// Members fetch each other's full status from StatusPath (progress with
// next indexes, timers, faults), falling back to the API's GET /status. The
// page's controls call the node's own API on the same origin (POST
// /command, POST /cluster/leader, POST|DELETE /cluster/members) and, for
// fault injection on a chosen member, PUT|DELETE
// /ui/api/members/:id/fault/network|clock, which Source.MemberRequest
// forwards.
//
// # Runs browser
//
// RegisterRuns(r, storeDir) lists store/<scenario>/<timestamp>/ runs from
// their results.json, shows one run (verdict, failing keys, artifacts,
// plots) with its Porcupine history.html in a frame and a "jump to first
// error" control, and serves run files read-only through os.Root, which
// refuses any path that leaves storeDir.
//
// A run without results.json whose history.jsonl changed within
// Runs.LiveWindow is running (RunSummary.Running). The list marks it and
// refreshes itself; its run page follows it live: it polls GET
// /runs/api/live?id=...&from=<offset> (Runs.Live), which reads only the
// complete lines after offset (at most Runs.MaxLiveChunk bytes; a line the
// harness is still writing waits for the next poll) and answers with the
// completions per second of run time and the nemesis start/stop events in
// them, keeping nothing between polls. The page adds them up, pairs the
// nemesis events into fault windows as histories.FaultWindows does, and
// draws an SVG chart of ok/fail/info per second with the windows shaded
// and labelled. When results.json appears it reads the rest and shows the
// finished run.
//
// # Wiring
//
// A node builds its Source with the nodesource sub-package and puts the UI
// in front of its API handler with Mount (the UI owns /, /ws, /ui/... and
// /runs...; everything else goes to the API):
//
//	src, _ := nodesource.New(nodesource.Config{Status: srv.Status,
//		Members: srv.Members, Faults: faultsOrNil,
//		Subscribe: node.Subscribe, RaftStatus: node.Status})
//	eng := gin.New()
//	live := ui.Register(eng, src)
//	if storeDir != "" {
//		ui.RegisterRuns(eng, storeDir)
//	}
//	httpServer.Handler = ui.Mount(apiHandler, eng)
//	defer live.Close()
//
// A runs-only server (harness serve) needs only RegisterRuns and, if it
// likes, a redirect from / to RunsPrefix+"/".
//
// # Contract for tests
//
// The pages expose their state as data-* attributes so tests wait on
// selectors, never on sleeps:
//
//   - #cluster: data-connected, data-seq (grows with each snapshot),
//     data-leader (the reachable leader of the highest term),
//     data-leader-count (reachable members claiming leadership), data-term,
//     data-members, data-unreachable.
//   - tr.member[data-id]: data-role ("unreachable" when unreachable),
//     data-term, data-vote, data-leader, data-commit, data-applied,
//     data-last-index, data-reachable, data-self, data-timer. The same
//     data-id and data-role on the ring's g.ring-node.
//   - pre.result (#kv-result, #transfer-result, #member-result,
//     #fault-result): data-status (idle, pending, ok, error), data-seq
//     (grows with each answer), data-http; #kv-result also data-value,
//     data-found, data-succeeded, data-code.
//   - #faults[data-enabled]; .fault-member[data-id]: data-rules,
//     data-isolated.
//   - #runs: data-loaded, data-count, data-running, data-refreshes
//     (grows with each refresh); tr.run: data-id, data-scenario,
//     data-verdict (a verdict, "running" or "incomplete").
//   - #run: data-loaded, data-verdict, data-failed-keys; #history-frame
//     data-loaded; #jump: data-state (idle, pending, done, none,
//     unavailable), data-x (a plain Porcupine page: the first illegal
//     linearization point) or data-event (a history.html of raftkv's
//     checker: the first violation's operation); #jump-note says it in
//     words.
//   - #live (a run without results.json): data-state (none, running,
//     stopped, finished), data-live-ops (completions read so far), data-ok,
//     data-fail, data-info, data-windows, data-offset, data-polls; in
//     #live-chart, g.fault-window: data-fault-window (the fault's name),
//     data-open, data-start, data-end (ns of run time).
package ui
