// run.js: one harness run: verdict, failing keys, artifacts, and Porcupine's
// history.html in a frame with a "jump to first error" control.
'use strict';

const params = new URLSearchParams(location.search);
const runID = params.get('id') || '';
const runEl = document.getElementById('run');
const frame = document.getElementById('history-frame');
const jumpBtn = document.getElementById('jump');
const jumpNote = document.getElementById('jump-note');
let frameReady = null; // a promise of the loaded frame's document

async function loadRun() {
  runEl.dataset.id = runID;
  const res = await api('GET', `/runs/api/run?id=${encodeURIComponent(runID)}`);
  if (res.status !== 200) {
    document.getElementById('run-title').textContent = `run ${runID}: ${res.body?.error?.message || 'HTTP ' + res.status}`;
    runEl.dataset.loaded = 'error';
    return;
  }
  const r = res.body;
  const v = r.complete ? (r.verdict || 'unknown') : r.running ? 'running' : 'incomplete';
  document.title = `${r.scenario} — ${v}`;
  document.getElementById('run-title').textContent = `${r.scenario} / ${r.stamp}`;
  const ve = document.getElementById('run-verdict');
  ve.textContent = v;
  ve.className = `v ${v}`;
  document.getElementById('run-meta').textContent = r.running ? 'running: the harness is writing history.jsonl; the verdict comes with results.json' :
    !r.complete ? `no results.json (the run stopped before its check)${r.read_error ? ': ' + r.read_error : ''}` :
    `expected ${r.expected || 'valid'} · seed ${r.seed ?? '?'} · backend ${r.backend || '?'} · ${r.ops} ops (${r.ok} ok, ${r.fail} fail, ${r.info} info) · ${r.faults} fault window(s)`;

  const keys = document.getElementById('run-keys');
  const keyList = (label, ks, cls) => ks && ks.length ?
    h('p', {class: cls}, `${label}: `, ks.map((k) => h('code', {class: 'key', dataset: {key: k}}, k))) : null;
  keys.replaceChildren(...[
    keyList('Not linearizable', r.failed_keys, 'failed-keys'),
    keyList('Undecided (checker timeout)', r.unknown_keys, 'unknown-keys'),
    keyList(`Lost writes (${r.lost_writes || 0})`, r.lost_write_keys, 'lost-keys'),
  ].filter(Boolean));
  const problems = [...(r.errors || []).map((e) => h('pre', {class: 'error'}, e)),
    ...(r.warnings || []).map((w) => h('p', {class: 'muted'}, `warning: ${w}`))];
  if (r.read_error) problems.push(h('pre', {class: 'error'}, r.read_error));
  document.getElementById('run-problems').replaceChildren(...problems);

  const files = r.files || [];
  document.getElementById('run-files').replaceChildren(...files.map((f) =>
    h('li', {}, h('a', {href: fileURL(r.id, f), class: 'file', dataset: {file: f}}, f))));
  document.getElementById('run-plots').replaceChildren(...['latency.png', 'throughput.png'].filter((f) => files.includes(f)).map((f) =>
    h('img', {src: fileURL(r.id, f), alt: f, class: f.replace('.png', '')})));

  runEl.dataset.verdict = v;
  runEl.dataset.failedKeys = String((r.failed_keys || []).length);

  const history = document.getElementById('history');
  if (files.includes('history.html')) {
    history.dataset.present = 'true';
    frame.hidden = false;
    frameReady = new Promise((resolve) => {
      frame.addEventListener('load', () => { frame.dataset.loaded = 'true'; resolve(frame.contentDocument); }, {once: true});
    });
    frame.src = fileURL(r.id, 'history.html');
    jumpBtn.disabled = false;
    document.getElementById('jump-link').href = runURL(r.id, '&jump=1') + '#history';
  } else {
    history.dataset.present = 'false';
    frame.hidden = true;
    jumpBtn.dataset.state = 'unavailable';
    jumpNote.textContent = 'this run has no history.html';
  }
  runEl.dataset.loaded = 'true';
  if (params.get('jump') === '1' && frameReady) jumpToFirstError();
  // A run without results.json is followed live from its history.jsonl.
  if (!r.complete && files.includes('history.jsonl')) live.start();
}

// errorPoints lists Porcupine's illegal linearization points (the red
// marks) that are drawn, left to right: the first is the first error.
function errorPoints(doc) {
  return [...doc.querySelectorAll('.linearization-invalid.linearization-point')]
    .filter((e) => !e.parentElement.classList.contains('hidden'))
    .sort((a, b) => Number(a.getAttribute('x1')) - Number(b.getAttribute('x1')));
}

// jumpToFirstError scrolls the history to its first error and says in
// words what it is. A history.html rendered by raftkv's checker names its
// first violation and jumps to it itself (window.raftkvHistory); for a
// plain Porcupine page the first illegal linearization point is scrolled
// to and selected with Porcupine's own "jump to first error" link (it also
// highlights the partial linearization), and the operation it falls on is
// named.
async function jumpToFirstError() {
  if (!frameReady) return;
  jumpBtn.dataset.state = 'pending';
  const doc = await frameReady;
  const rk = doc.defaultView && doc.defaultView.raftkvHistory;
  if (rk && rk.first !== null && rk.first !== undefined) {
    rk.jumpTo(rk.first);
    frame.scrollIntoView({block: 'start'});
    jumpBtn.dataset.state = 'done';
    jumpBtn.dataset.event = String(rk.first);
    jumpNote.textContent = `first violation: ${rk.sentence}`;
    return;
  }
  const points = errorPoints(doc);
  if (points.length === 0) {
    jumpBtn.dataset.state = 'none';
    jumpNote.textContent = 'no illegal linearization point is drawn in this history';
    return;
  }
  const target = points[0];
  const link = doc.querySelector('#jump-link');
  if (link && !link.classList.contains('inactive')) {
    link.dispatchEvent(new MouseEvent('click', {bubbles: true}));
  }
  // Scroll without animation too, so that the end state does not depend on
  // how long a smooth scroll takes.
  target.scrollIntoView({behavior: 'instant', inline: 'center', block: 'center'});
  frame.scrollIntoView({block: 'start'});
  target.classList.add('raftkv-first-error');
  jumpBtn.dataset.state = 'done';
  jumpBtn.dataset.x = target.getAttribute('x1');
  const op = operationAt(doc, target);
  jumpNote.textContent = (op ? `first error: ${op.text} (row ${op.row}) cannot come next in any order of the operations before it` :
    'first error marked') + ` — ${points.length} illegal linearization point(s) drawn`;
}

// operationAt finds the operation box of Porcupine's drawing that an
// illegal linearization point falls on: its description and row.
function operationAt(doc, point) {
  const x = Number(point.getAttribute('x1'));
  const y = (Number(point.getAttribute('y1')) + Number(point.getAttribute('y2'))) / 2;
  const num = (e, a) => Number(e.getAttribute(a));
  const box = [...doc.querySelectorAll('rect.target-rect')].find((r) =>
    x >= num(r, 'x') - 1 && x <= num(r, 'x') + num(r, 'width') + 1 && y >= num(r, 'y') && y <= num(r, 'y') + num(r, 'height'));
  if (!box) return null;
  const cx = num(box, 'x') + num(box, 'width') / 2, cy = num(box, 'y') + num(box, 'height') / 2;
  const text = [...doc.querySelectorAll('text.history-text')].find((t) =>
    Math.abs(num(t, 'x') - cx) < 1 && Math.abs(num(t, 'y') - cy) < 1);
  // Porcupine's rows: 10 px of padding, then 30 px boxes 15 px apart.
  return text ? {text: text.textContent, row: Math.round((num(box, 'y') - 10) / 45)} : null;
}

// ---------- live view of a running run ----------

// live polls GET /runs/api/live for the complete lines the harness added
// to history.jsonl since the last poll, adds them up per second of run
// time, pairs nemesis start/stop events into fault windows (as
// histories.FaultWindows does: by fault name; a start of an active fault
// joins its window; a stop of no active fault is ignored) and redraws the
// chart. When results.json appears it reads what is left and switches the
// page to the finished run.
const live = {
  el: document.getElementById('live'),
  started: false,
  offset: 0,
  buckets: new Map(), // second -> {ok, fail, info}
  windows: [],        // {f, detail, nodes, start, end (null while open)}
  open: new Map(),    // f -> index in windows
  lastTime: 0,
  totals: {ok: 0, fail: 0, info: 0},
  polls: 0,
  // Bounds on what the page keeps (a run is minutes long; these are hours).
  maxBuckets: 7200,
  maxWindows: 1000,
  interval: Math.max(100, Number(params.get('poll')) || 1000),

  start() {
    if (this.started) return;
    this.started = true;
    this.el.hidden = false;
    this.poll();
  },

  async poll() {
    let c;
    try {
      const res = await api('GET', `/runs/api/live?id=${encodeURIComponent(runID)}&from=${this.offset}`);
      if (res.status !== 200) throw new Error(res.body?.error?.message || `HTTP ${res.status}`);
      c = res.body;
    } catch (err) {
      document.getElementById('live-status').textContent = `· poll failed: ${err.message}`;
      this.el.dataset.error = String(err.message);
      setTimeout(() => this.poll(), 5 * this.interval);
      return;
    }
    delete this.el.dataset.error;
    this.merge(c);
    this.draw(c);
    if (c.more) { this.poll(); return; }
    if (c.complete) {
      // results.json is written after the whole history: all of it is read.
      this.el.dataset.state = 'finished';
      document.getElementById('live-status').textContent = '· finished';
      loadRun();
      return;
    }
    this.el.dataset.state = c.running ? 'running' : 'stopped';
    document.getElementById('live-status').textContent = c.running ? '· running' : '· not written to for a while (no results.json)';
    setTimeout(() => this.poll(), c.running ? this.interval : 5 * this.interval);
  },

  merge(c) {
    this.polls++;
    this.offset = c.offset;
    this.lastTime = Math.max(this.lastTime, c.last_time || 0);
    if (c.header) this.header = c.header;
    for (const b of c.buckets || []) {
      const cur = this.buckets.get(b.s) || {ok: 0, fail: 0, info: 0};
      cur.ok += b.ok; cur.fail += b.fail; cur.info += b.info;
      this.buckets.set(b.s, cur);
      this.totals.ok += b.ok; this.totals.fail += b.fail; this.totals.info += b.info;
    }
    if (this.buckets.size > this.maxBuckets) {
      const keys = [...this.buckets.keys()].sort((a, b) => a - b);
      for (const k of keys.slice(0, keys.length - this.maxBuckets)) this.buckets.delete(k);
    }
    for (const n of c.nemesis || []) {
      if (n.type === 'start') {
        if (this.open.has(n.f)) continue;
        this.open.set(n.f, this.windows.length);
        this.windows.push({f: n.f, detail: n.detail || '', nodes: n.nodes || [], start: n.time, end: null});
      } else if (n.type === 'stop' && this.open.has(n.f)) {
        this.windows[this.open.get(n.f)].end = n.time;
        this.open.delete(n.f);
      }
    }
    if (this.windows.length > this.maxWindows) {
      const drop = this.windows.length - this.maxWindows;
      this.windows.splice(0, drop);
      for (const [f, i] of this.open) this.open.set(f, i - drop);
    }
  },

  draw(c) {
    const d = this.el.dataset;
    const ops = this.totals.ok + this.totals.fail + this.totals.info;
    d.liveOps = String(ops);
    d.ok = String(this.totals.ok); d.fail = String(this.totals.fail); d.info = String(this.totals.info);
    d.windows = String(this.windows.length);
    d.offset = String(this.offset);
    d.polls = String(this.polls);
    const secs = this.lastTime / 1e9;
    const last = this.buckets.get(Math.floor(secs) - 1);
    const rate = last ? last.ok + last.fail + last.info : 0;
    const h0 = this.header;
    document.getElementById('live-meta').textContent =
      `${h0 ? `${h0.scenario || '?'} · ${h0.backend || '?'} backend · seed ${h0.seed} · ` : ''}` +
      `${secs.toFixed(1)}s of run time · ${ops} ops completed (${this.totals.ok} ok, ${this.totals.fail} fail, ${this.totals.info} info) · ` +
      `${rate} ops/s in the last full second · ${this.windows.length} fault window(s), ${this.open.size} active` +
      `${c.partial ? ` · ${c.partial} bytes of a line being written` : ''}`;

    const W = 960, H = 250, L = 44, R = 10, T = 22, B = 22;
    const w = W - L - R, hh = H - T - B;
    const keys = [...this.buckets.keys()];
    const first = keys.length ? Math.min(...keys) : 0;
    const end = Math.max(Math.ceil(secs), first + 10);
    let peak = 1;
    for (const b of this.buckets.values()) peak = Math.max(peak, b.ok, b.fail, b.info);
    const ystep = niceCeil(peak / 4), ymax = 4 * ystep;
    const x = (s) => L + ((s - first) / (end - first)) * w;
    const y = (v) => T + hh - (v / ymax) * hh;
    const parts = [];
    for (let i = 0; i <= 4; i++) {
      const v = ystep * i, yy = y(v);
      parts.push(svg('line', {x1: L, x2: W - R, y1: yy, y2: yy, class: 'grid'}));
      parts.push(svg('text', {x: L - 4, y: yy + 3, 'text-anchor': 'end'}, String(+v.toPrecision(3))));
    }
    const step = niceCeil((end - first) / 10);
    for (let s = Math.ceil(first / step) * step; s <= end; s += step) {
      parts.push(svg('text', {x: x(s), y: H - 6, 'text-anchor': 'middle'}, `${s}s`));
    }
    for (const win of this.windows) {
      const s0 = Math.max(win.start / 1e9, first), s1 = (win.end ?? this.lastTime) / 1e9;
      if (s1 < first) continue;
      const x0 = x(s0), x1 = Math.max(x(s1), x0 + 1);
      parts.push(svg('g', {class: `fault-window${win.end === null ? ' open' : ''}`,
        dataset: {faultWindow: win.f, open: String(win.end === null), start: String(win.start), end: String(win.end ?? '')}},
        svg('rect', {x: x0, y: T, width: x1 - x0, height: hh}),
        svg('text', {x: x0 + 3, y: T - 6}, win.f),
        svg('title', {}, `${win.f}${win.detail ? ': ' + win.detail : ''} (${(win.start / 1e9).toFixed(1)}s – ${win.end === null ? 'now' : (win.end / 1e9).toFixed(1) + 's'})`)));
    }
    for (const kind of ['ok', 'fail', 'info']) {
      const pts = [];
      // Up to the second being written (the chart's right part is for
      // what comes next).
      for (let s = first; s < Math.max(Math.ceil(secs), first + 1); s++) {
        const b = this.buckets.get(s);
        // A bucket's count is drawn at the middle of its second.
        pts.push(`${x(s + 0.5).toFixed(1)},${y(b ? b[kind] : 0).toFixed(1)}`);
      }
      parts.push(svg('polyline', {points: pts.join(' '), class: kind}));
    }
    parts.push(svg('line', {x1: L, x2: L, y1: T, y2: T + hh, class: 'axis'}));
    parts.push(svg('line', {x1: L, x2: W - R, y1: T + hh, y2: T + hh, class: 'axis'}));
    document.getElementById('live-chart').replaceChildren(...parts);
  },
};

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
function niceCeil(v) {
  if (v <= 1) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

jumpBtn.addEventListener('click', jumpToFirstError);
loadRun();
