// history.js runs after Porcupine's render(data) in history.html (written by
// checker.WriteVisualization) and adds what Porcupine's drawing lacks: a
// time axis, row labels that stay in view, fault windows as named bands,
// the counterexample's operations outlined, and it opens the page at the
// first violation (or at #ev-N, an invocation's index in the history).
// Porcupine's own data and drawing stay the source: positions are read
// from its SVG, times from its data and from #rk-data.
'use strict';
(() => {
  const S = JSON.parse(document.getElementById('rk-data').textContent);
  const canvasDiv = document.getElementById('canvas');
  const svg = canvasDiv && canvasDiv.querySelector('svg');
  const where = document.getElementById('rk-where');
  const first = S.violations && S.violations.length ? S.violations[0] : null;
  const firstEvent = first ? first.ops[first.ops.length - 1].event : null;
  window.raftkvHistory = {first: firstEvent, sentence: first ? first.sentence : '', jumpTo: () => false};
  if (!svg || typeof data === 'undefined') { // eslint-disable-line no-undef
    document.body.dataset.rkReady = 'true';
    return;
  }
  const pdata = data; // eslint-disable-line no-undef
  const NS = 'http://www.w3.org/2000/svg';
  // Porcupine's layout constants (visualization/index.js).
  const PADDING = 10, BOX_HEIGHT = 30, BOX_SPACE = 15;
  const P = pdata.Partitions.length; // annotations are "partition" P
  const W = Number(svg.getAttribute('width')), H = Number(svg.getAttribute('height'));
  const rows = Math.round((H - 2 * PADDING + BOX_SPACE) / (BOX_HEIGHT + BOX_SPACE));
  const tags = [...new Set(pdata.Annotations.map((a) => a.Tag).filter((t) => t))].sort();
  const realRows = rows - tags.length;
  const divider = svg.querySelector('line.divider');
  const t0x = divider ? Number(divider.getAttribute('x1')) : 60;

  const el = (tag, attrs, parent) => {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (parent) parent.append(e);
    return e;
  };
  const secs = (ns) => (ns / 1e9).toFixed(3) + ' s';

  // Porcupine's boxes: its invisible hover targets carry partition and index.
  const rects = new Map();
  for (const r of svg.querySelectorAll('rect.target-rect')) {
    rects.set(r.dataset.partition + ':' + r.dataset.index, r);
  }
  const box = (r) => ({x: Number(r.getAttribute('x')), y: Number(r.getAttribute('y')),
    w: Number(r.getAttribute('width')), h: Number(r.getAttribute('height'))});

  // Operations by history event, and (x, time) pairs for the axis.
  const byEvent = new Map();
  const pairs = [];
  pdata.Partitions.forEach((part, p) => part.History.forEach((h, i) => {
    const r = rects.get(p + ':' + i);
    if (!r) return;
    const b = box(r);
    const call = Number(h.OriginalStart), ret = Number(h.OriginalEnd);
    pairs.push([b.x, call]);
    if (ret < S.infinity) pairs.push([b.x + b.w, ret]);
    const op = S.ops[h.ClientId + ':' + h.OriginalStart];
    if (op) byEvent.set(op.event, {rect: r, b, op, call, ret, desc: h.Description});
  }));
  (S.notes || []).forEach((n, i) => {
    const r = rects.get(P + ':' + i);
    if (!r) return;
    const b = box(r);
    pairs.push([b.x, n.start]);
    if (n.end < S.infinity && n.end > n.start) pairs.push([b.x + b.w, n.end]);
    if (n.event >= 0) {
      byEvent.set(n.event, {rect: r, b, op: S.ops[pdata.Annotations[i].ClientId + ':' + n.start], call: n.start, ret: n.end, desc: n.label});
    }
  });
  pairs.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < pairs.length; i++) pairs[i][1] = Math.max(pairs[i][1], pairs[i - 1][1]);
  // timeAt interpolates Porcupine's warped x back to a run time.
  function timeAt(x) {
    if (pairs.length === 0) return 0;
    let lo = 0, hi = pairs.length - 1;
    if (x <= pairs[0][0]) return pairs[0][1];
    if (x >= pairs[hi][0]) return pairs[hi][1];
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (pairs[mid][0] <= x) lo = mid; else hi = mid;
    }
    const [x0, t0] = pairs[lo], [x1, t1] = pairs[hi];
    return x1 === x0 ? t0 : t0 + (t1 - t0) * (x - x0) / (x1 - x0);
  }

  // Layout: the axis sticks to the top, the row labels to the left.
  const wrap = document.createElement('div');
  wrap.id = 'rk-hist';
  canvasDiv.before(wrap);
  const axisDiv = document.createElement('div');
  axisDiv.id = 'rk-axis';
  const AXIS_H = 40;
  const axis = el('svg', {width: W, height: AXIS_H}, axisDiv);
  const lanes = document.createElement('div');
  lanes.id = 'rk-lanes';
  lanes.style.width = Math.max(t0x - 2, 40) + 'px';
  lanes.style.height = H + 'px';
  lanes.style.marginBottom = -H + 'px';
  // A bar above the axis keeps the first violation's words and what is
  // marked in view: the page opens scrolled to the violation, past the
  // header that says it.
  const bar = document.createElement('div');
  bar.id = 'rk-bar';
  const barWhere = document.createElement('span');
  barWhere.id = 'rk-bar-where';
  if (first) {
    const p = document.createElement('p');
    const b = document.createElement('b');
    b.textContent = `First violation (key ${first.key}): `;
    const up = document.createElement('button');
    up.type = 'button';
    up.textContent = '↑ counterexample';
    up.title = 'the counterexample drawn on its own, at the top of the page';
    up.addEventListener('click', () => scrollTo(0, 0));
    p.append(b, first.sentence, ' ', up);
    bar.append(p);
  }
  bar.append(barWhere);
  wrap.append(bar, axisDiv, lanes, canvasDiv);
  // The axis sticks right below the bar, whose height changes with what
  // is marked and with the window's width.
  const stackAxis = () => { axisDiv.style.top = bar.offsetHeight + 'px'; };
  stackAxis();
  new ResizeObserver(stackAxis).observe(bar);
  for (let r = 0; r < rows; r++) {
    const d = document.createElement('div');
    d.style.top = (PADDING + r * (BOX_HEIGHT + BOX_SPACE) + 2) + 'px';
    d.dataset.row = r;
    if (r < realRows && S.clients && S.clients[r]) {
      const c = S.clients[r];
      d.className = 'rk-client';
      d.title = `process ${c.process}, client slot ${c.slot}`;
      const b = document.createElement('b');
      b.textContent = 'p' + c.process;
      const s = document.createElement('span');
      s.textContent = 'slot ' + c.slot;
      d.append(b, s);
    } else {
      d.className = 'rk-tag';
      const b = document.createElement('b');
      b.textContent = r >= realRows ? tags[r - realRows] : String(r);
      d.append(b);
    }
    lanes.append(d);
  }
  el('text', {x: 4, y: 13, class: 'rk-time'}, axis).textContent = 'time →';
  let lastLabel = '';
  for (let x = t0x; x < W; x += 150) {
    el('line', {x1: x, x2: x, y1: 16, y2: 24, class: 'rk-tick'}, axis);
    // Porcupine spaces events evenly, so marks far apart may fall at the
    // same millisecond: only the first says it.
    const label = secs(timeAt(x));
    if (label !== lastLabel) el('text', {x: x + 3, y: 15, class: 'rk-time'}, axis).textContent = label;
    lastLabel = label;
  }

  // Fault windows: bands across every row, named in the sticky axis
  // (repeated along a long band so a name is in view wherever it is).
  const bg = svg.querySelector('g');
  const bands = el('g', {class: 'rk-bands'});
  bg.after(bands);
  (S.notes || []).forEach((n, i) => {
    const r = rects.get(P + ':' + i);
    if (!r || (n.kind !== 'fault' && n.kind !== 'point')) return;
    const b = box(r);
    if (n.kind === 'point') {
      el('line', {x1: b.x, x2: b.x, y1: 0, y2: H, class: 'rk-point'}, bands);
      el('text', {x: b.x + 3, y: 36, class: 'rk-fault-name', 'data-fault': i}, axis).textContent = n.label;
      return;
    }
    el('rect', {x: b.x, y: 0, width: Math.max(b.w, 2), height: H, class: 'rk-band', 'data-fault': i}, bands);
    el('line', {x1: b.x, x2: b.x, y1: 0, y2: H, class: 'rk-band-edge'}, bands);
    el('line', {x1: b.x + b.w, x2: b.x + b.w, y1: 0, y2: H, class: 'rk-band-edge'}, bands);
    el('rect', {x: b.x, y: 26, width: Math.max(b.w, 2), height: 14, class: 'rk-fault-mark'}, axis);
    for (let x = b.x; x < b.x + Math.max(b.w, 1); x += 900) {
      const t = el('text', {x: x + 3, y: 37, class: 'rk-fault-name', 'data-fault': i}, axis);
      t.textContent = `${n.label} ${secs(n.start)}–${secs(n.end)}`;
    }
  });

  // The counterexamples' operations, outlined in the full history.
  const marks = el('g', {class: 'rk-marks'}, svg);
  for (const v of S.violations || []) {
    for (const o of v.ops) {
      const e = byEvent.get(o.event);
      if (!e) continue;
      el('rect', {x: e.b.x - 3, y: e.b.y - 3, width: e.b.w + 6, height: e.b.h + 6, rx: 5, class: 'rk-violation', 'data-event': o.event}, marks);
    }
  }

  let selected = null;
  // jumpTo scrolls to the operation invoked at history event ev, marks it
  // and selects it in Porcupine's drawing (which shows its partial
  // linearization and the states around it).
  function jumpTo(ev) {
    const e = byEvent.get(ev);
    if (!e) {
      where.textContent = `operation #ev-${ev} is not drawn here (it is not an operation of the keys shown)`;
      return false;
    }
    for (const old of svg.querySelectorAll('.rk-target')) old.remove();
    const t = el('rect', {x: e.b.x - 6, y: e.b.y - 6, width: e.b.w + 12, height: e.b.h + 12, rx: 6, class: 'rk-target', 'data-event': ev}, marks);
    const r = t.getBoundingClientRect();
    // Centre the start of the box (an operation whose outcome is unknown
    // runs to the end of the page) in the part the labels leave free.
    const free = innerWidth - t0x;
    const cx = r.left + scrollX + Math.min(r.width / 2, free / 3);
    scrollTo(Math.max(cx - t0x - free / 2, 0), Math.max(r.top + scrollY + r.height / 2 - innerHeight / 2, 0));
    if (selected !== ev) {
      const rr = e.rect.getBoundingClientRect();
      const x = rr.left + Math.min(rr.width / 2, 40), y = rr.top + rr.height / 2;
      // Porcupine fills its tooltip on mousemove (the states before and
      // after the operation) and keeps it shown once clicked.
      for (const type of ['mouseover', 'mousemove', 'click']) {
        e.rect.dispatchEvent(new MouseEvent(type, {bubbles: true, clientX: x, clientY: y}));
      }
      // It places the tooltip at the event's pageX/pageY, which a
      // synthetic event leaves unscrolled: put it beside the box.
      const tip = canvasDiv.querySelector('.tooltip');
      if (tip) {
        tip.style.left = Math.min(rr.right + scrollX + 12, scrollX + innerWidth - tip.offsetWidth - 12) + 'px';
        tip.style.top = (rr.bottom + scrollY + 12) + 'px';
      }
      selected = ev;
    }
    const v = (S.violations || []).find((x) => x.ops.some((o) => o.event === ev));
    const o = v && v.ops.find((x) => x.event === ev);
    const words = o ? o.words : (e.op ? e.op.words : e.desc);
    const key = o ? o.key : (e.op ? e.op.key : '');
    const who = o ? `process ${o.process}${o.node ? ' via ' + o.node : ''}` : '';
    const when = `invoked ${secs(e.call)}` + (e.ret < S.infinity ? `, completed ${secs(e.ret)}` : ', outcome unknown');
    where.textContent = barWhere.textContent = `Marked: ${words}${key ? ' (key ' + key + ')' : ''}${who ? ', ' + who : ''}, ${when}` +
      (v ? (o === v.ops[v.ops.length - 1] ? ' — the last operation of the violation' : ' — part of the violation') : '');
    document.body.dataset.rkTarget = String(ev);
    return true;
  }
  window.raftkvHistory.jumpTo = jumpTo;

  function followHash() {
    const m = /^#ev-(\d+)$/.exec(location.hash);
    if (m) return jumpTo(Number(m[1]));
    return firstEvent !== null && jumpTo(firstEvent);
  }
  document.getElementById('rk-jump').addEventListener('click', () => {
    if (firstEvent === null) return;
    history.replaceState(null, '', '#ev-' + firstEvent);
    jumpTo(firstEvent);
  });
  for (const a of document.querySelectorAll('#rk-cx a')) {
    a.addEventListener('click', (ev) => {
      ev.preventDefault();
      const n = Number(a.dataset.event);
      history.replaceState(null, '', '#ev-' + n);
      jumpTo(n);
    });
  }
  addEventListener('hashchange', followHash);
  followHash();
  // The browser may scroll to the fragment once the page has loaded; the
  // jump is done again then, so the page ends where it means.
  addEventListener('load', () => { followHash(); document.body.dataset.rkReady = 'true'; });
  if (document.readyState === 'complete') document.body.dataset.rkReady = 'true';
})();
