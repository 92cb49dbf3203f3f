// timeline.js draws timeline.html (written by checker.WriteTimeline) from
// the JSON in #data. Only what is on screen is drawn: a fixed canvas is
// repainted for the visible time range on every scroll or zoom, so the
// cost of a frame does not grow with the history. The few things a person
// or a test needs to find (lane headers, fault labels, the violations'
// operations, the #ev-N target) are DOM elements over the canvas.
'use strict';
(() => {
  const started = performance.now();
  const D = JSON.parse(document.getElementById('data').textContent);
  const O = D.ops;
  const n = O.inv.length;
  const AXIS = 80; // px: time labels
  const HEAD = 26; // px: sticky lane headers (#heads)
  const TOP = HEAD + 12; // px: where time 0 is, below the headers
  const PAD = 40; // px below the last event
  const MAX_HEIGHT = 15e6; // px: browsers stop laying out taller elements
  const tl = document.getElementById('tl');
  const heads = document.getElementById('heads');
  const canvas = document.getElementById('canvas');
  const tip = document.getElementById('tip');
  const ctx = canvas.getContext('2d');
  const span = Math.max(D.last, 1);
  const nLanes = Math.max(D.lanes.length, 1);

  // evIndex: history event index -> operation index.
  const evIndex = new Map();
  for (let i = 0; i < n; i++) evIndex.set(O.event[i], i);

  // Operations are ordered by invocation. Boxes longer than LONG are kept
  // apart and always tested; the others are found by binary search, since
  // one that ends after t0 was invoked after t0 - LONG.
  const durs = new Float64Array(n);
  for (let i = 0; i < n; i++) durs[i] = O.end[i] - O.inv[i];
  const sortedDurs = Float64Array.from(durs).sort();
  const LONG = n ? Math.max(sortedDurs[Math.floor(0.99 * (n - 1))], 1) : 1;
  const longOps = [];
  for (let i = 0; i < n; i++) if (durs[i] > LONG) longOps.push(i);
  const median = n ? Math.max(sortedDurs[Math.floor(n / 2)], 1) : span;

  function lowerBound(t) {
    let lo = 0, hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (O.inv[mid] < t) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  // visible calls f(i) for every operation whose box meets [t0, t1].
  function visible(t0, t1, f) {
    for (let i = lowerBound(t0 - LONG); i < n && O.inv[i] <= t1; i++) {
      if (durs[i] <= LONG && O.end[i] >= t0) f(i);
    }
    for (const i of longOps) if (O.inv[i] <= t1 && O.end[i] >= t0) f(i);
  }

  // ---- layout: k is the scale in px per ns ----
  let laneW = 150;
  let k = 1;
  const kFit = () => Math.max(innerHeight - HEAD - 120, 200) / span;
  const kMax = () => Math.max(MAX_HEIGHT / span, kFit());
  const kMin = () => Math.min(kFit(), MAX_HEIGHT / span);
  const Y = (t) => TOP + t * k; // #tl coordinates
  const X = (lane) => AXIS + lane * laneW;

  function layout() {
    laneW = Math.max(28, Math.min(220, Math.floor((innerWidth - AXIS - 40) / nLanes)));
    tl.style.width = (AXIS + nLanes * laneW) + 'px';
    tl.style.height = (TOP + span * k + PAD) + 'px';
    heads.replaceChildren();
    const ax = document.createElement('div');
    ax.className = 'axis-head';
    ax.textContent = 'time';
    heads.append(ax);
    D.lanes.forEach((procs, i) => {
      const h = document.createElement('div');
      h.className = 'head';
      h.dataset.lane = i;
      h.style.left = X(i) + 'px';
      h.style.width = laneW + 'px';
      const name = D.jepsenThreads ? `thread ${i}` : `slot ${i}`;
      const list = procs.slice(0, 4).map((p) => 'p' + p).join(' ') + (procs.length > 4 ? ' …' : '');
      h.textContent = laneW > 90 ? `${name} · ${list}` : name;
      h.title = `${name}: process${procs.length > 1 ? 'es' : ''} ${procs.join(', ')}` +
        (D.jepsenThreads ? ' (process mod ' + nLanes + ')' : '');
      heads.append(h);
    });
    for (const el of tl.querySelectorAll('.violation, .target')) placeOp(el);
    document.getElementById('zoom-label').textContent = `100 px = ${fmt(100 / k)}`;
    document.body.dataset.lanes = String(D.lanes.length);
  }

  function placeOp(el) {
    const i = evIndex.get(Number(el.dataset.event));
    if (i === undefined) { el.hidden = true; return; }
    const top = Y(O.inv[i]);
    el.style.top = top + 'px';
    el.style.height = Math.max(Y(O.end[i]) - top, 4) + 'px';
    el.style.left = (X(O.lane[i]) + 1) + 'px';
    el.style.width = (laneW - 2) + 'px';
  }

  function fmt(ns) {
    const a = Math.abs(ns);
    if (a === 0) return '0 s';
    if (a >= 1e9) return (ns / 1e9).toFixed(a >= 1e10 ? 1 : 3) + ' s';
    if (a >= 1e6) return (ns / 1e6).toFixed(a >= 1e7 ? 1 : 2) + ' ms';
    if (a >= 1e3) return (ns / 1e3).toFixed(1) + ' µs';
    return Math.round(ns) + ' ns';
  }

  function niceStep(raw) {
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
    return 10 * p;
  }

  // ---- labels of faults: DOM, placed where their band is on screen ----
  const faultLabels = D.faults.map((f, i) => {
    const el = document.createElement('div');
    el.className = 'fault-label';
    el.dataset.fault = i;
    el.textContent = f.label;
    el.title = `${f.label}\n${fmt(f.start)} – ${fmt(f.end)}${f.open ? ' (still active at the end)' : ''}${f.detail ? '\n' + f.detail : ''}`;
    tl.append(el);
    return el;
  });
  const pointLabels = D.points.map((p, i) => {
    const el = document.createElement('div');
    el.className = 'point-label';
    el.dataset.point = i;
    el.textContent = p.label;
    el.title = `${p.label} at ${fmt(p.start)}${p.detail ? '\n' + p.detail : ''}`;
    tl.append(el);
    return el;
  });
  // Each violating operation carries its words beside it: at the zoom of
  // a jump its box is often a few pixels tall, too thin for the canvas to
  // write in, and the words are what says why it is marked.
  for (const el of tl.querySelectorAll('.violation')) {
    const v = D.violations[Number(el.dataset.violation)];
    if (v && Number(el.dataset.event) === v.events[v.events.length - 1]) el.classList.add('last');
    const i = evIndex.get(Number(el.dataset.event));
    if (i !== undefined) el.dataset.words = O.label[i];
  }

  const bandColors = ['rgba(255,90,60,.14)', 'rgba(160,80,255,.12)', 'rgba(40,160,90,.13)', 'rgba(230,170,0,.15)'];
  const boxColors = {o: '#6db6fe', f: '#feb5da', i: '#ffaa26'};
  let drawn = []; // operations drawn in the last frame, for hovering
  let frames = 0;

  function draw() {
    const dpr = devicePixelRatio || 1;
    const vw = document.documentElement.clientWidth, vh = innerHeight;
    if (canvas.width !== Math.round(vw * dpr) || canvas.height !== Math.round(vh * dpr)) {
      canvas.width = Math.round(vw * dpr);
      canvas.height = Math.round(vh * dpr);
      canvas.style.width = vw + 'px';
      canvas.style.height = vh + 'px';
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, vw, vh);
    const r = tl.getBoundingClientRect();
    const top = Math.max(0, -r.top), bottom = Math.min(r.height, vh - r.top);
    const t0 = Math.max(0, (top - TOP) / k), t1 = Math.min(span, (bottom - TOP) / k);
    const width = AXIS + nLanes * laneW;
    drawn = [];
    ctx.save();
    ctx.translate(r.left, r.top);
    ctx.beginPath();
    ctx.rect(0, top + HEAD, width, Math.max(bottom - top - HEAD, 0));
    ctx.clip();
    // Fault bands under everything.
    D.faults.forEach((f, i) => {
      if (f.end < t0 || f.start > t1) return;
      const y0 = Y(f.start), y1 = Math.max(Y(f.end), y0 + 2);
      ctx.fillStyle = bandColors[i % bandColors.length];
      ctx.fillRect(AXIS, y0, width - AXIS, y1 - y0);
      ctx.strokeStyle = '#d55';
      ctx.setLineDash([4, 3]);
      ctx.beginPath();
      ctx.moveTo(AXIS, y0); ctx.lineTo(width, y0);
      ctx.moveTo(AXIS, y1); ctx.lineTo(width, y1);
      ctx.stroke();
      ctx.setLineDash([]);
    });
    // Time grid and labels.
    const step = niceStep(90 / k);
    ctx.font = '10px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    for (let t = Math.ceil(t0 / step) * step; t <= t1 + step; t += step) {
      const y = Y(t);
      ctx.fillStyle = '#eee';
      ctx.fillRect(AXIS, y, width - AXIS, 1);
      ctx.fillStyle = '#777';
      ctx.fillText(fmt(t), 4, y);
    }
    ctx.fillStyle = '#ddd';
    for (let l = 0; l <= nLanes; l++) ctx.fillRect(X(l), top, 1, bottom - top);
    // Point faults.
    ctx.fillStyle = '#c33';
    for (const p of D.points) if (p.start >= t0 && p.start <= t1) ctx.fillRect(AXIS, Y(p.start), width - AXIS, 2);
    // Operations.
    ctx.font = '10px system-ui, sans-serif';
    ctx.textBaseline = 'top';
    const charW = 5.6;
    visible(t0, t1, (i) => {
      drawn.push(i);
      const x = X(O.lane[i]) + 2, w = laneW - 4;
      const y = Y(O.inv[i]), h = Math.max(Y(O.end[i]) - y, 2);
      ctx.fillStyle = boxColors[O.type[i]] || '#ccc';
      ctx.fillRect(x, y, w, h);
      if (h >= 4) {
        ctx.strokeStyle = 'rgba(0,0,0,.3)';
        if (O.cmp[i] < 0) ctx.setLineDash([3, 2]);
        ctx.strokeRect(x + 0.5, y + 0.5, w - 1, h - 1);
        ctx.setLineDash([]);
      }
      if (h >= 12 && w > 24) {
        let s = O.label[i];
        const fit = Math.floor((w - 6) / charW);
        if (s.length > fit) s = s.slice(0, Math.max(fit - 1, 0)) + '…';
        ctx.fillStyle = '#111';
        ctx.fillText(s, x + 3, y + 1);
      }
    });
    ctx.restore();
    // Fault and point labels: at the top of their band, or at the top of
    // the screen while the band runs on below it.
    const labelW = 280;
    const slots = Math.max(Math.floor((width - AXIS - 8) / labelW), 1);
    D.faults.forEach((f, i) => {
      const el = faultLabels[i];
      if (f.end < t0 || f.start > t1) { el.style.display = 'none'; return; }
      const y0 = Y(f.start), y1 = Math.max(Y(f.end), y0 + 2);
      el.style.display = '';
      el.style.top = Math.max(y0 + 2, Math.min(top + HEAD + 4, y1 - 18)) + 'px';
      el.style.left = (AXIS + 6 + (f.slot % slots) * labelW) + 'px';
      el.style.maxWidth = (labelW - 12) + 'px';
    });
    D.points.forEach((p, i) => {
      const el = pointLabels[i];
      if (p.start < t0 || p.start > t1) { el.style.display = 'none'; return; }
      el.style.display = '';
      el.style.top = (Y(p.start) - 16) + 'px';
      el.style.left = (width - 200) + 'px';
    });
    frames++;
    document.body.dataset.frames = String(frames);
    document.body.dataset.drawn = String(drawn.length);
  }

  let pending = false;
  function redraw() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; draw(); });
  }

  // setZoom changes the scale keeping the time at viewport height fy
  // (a fraction) where it is.
  function setZoom(nk, fy = 0.5) {
    nk = Math.min(Math.max(nk, kMin()), kMax());
    const r = tl.getBoundingClientRect();
    const anchorY = innerHeight * fy;
    const t = (anchorY - r.top - TOP) / k;
    const docTop = r.top + scrollY;
    k = nk;
    layout();
    scrollTo(scrollX, docTop + TOP + t * k - anchorY);
    draw();
  }

  // jumpTo scrolls to the operation invoked at history event ev, zoomed so
  // that it (and the other events of its group, e.g. its counterexample)
  // can be read, and marks it as the target.
  function jumpTo(ev, group) {
    const i = evIndex.get(ev);
    const note = document.getElementById('note') || document.createElement('p');
    note.id = 'note';
    if (i === undefined) {
      note.textContent = `operation ev-${ev} is not in this timeline`;
      document.getElementById('top').append(note);
      return false;
    }
    note.remove();
    const ids = (group && group.length ? group : [ev]).map((e) => evIndex.get(e)).filter((j) => j !== undefined);
    let from = Infinity, to = -Infinity, minDur = Infinity;
    for (const j of ids) {
      from = Math.min(from, O.inv[j]); to = Math.max(to, O.end[j]);
      minDur = Math.min(minDur, Math.max(durs[j], 1));
    }
    const room = innerHeight - HEAD;
    const want = Math.min(Math.max(0.5 * room / Math.max(to - from, 1), 16 / minDur), 0.8 * room / Math.max(to - from, 1));
    k = Math.min(Math.max(want, kMin()), kMax());
    layout();
    let el = document.getElementById('ev-' + ev);
    if (!el) {
      el = document.createElement('div');
      el.id = 'ev-' + ev;
      el.dataset.event = ev;
      tl.append(el);
    }
    for (const old of tl.querySelectorAll('.target')) {
      old.classList.remove('target');
      if (!old.classList.contains('violation')) old.remove();
    }
    el.classList.add('target');
    placeOp(el);
    const r = tl.getBoundingClientRect();
    const docTop = r.top + scrollY, docLeft = r.left + scrollX;
    const mid = (from + to) / 2;
    const laneX = X(O.lane[i]) + laneW / 2;
    scrollTo(Math.max(docLeft + laneX - innerWidth / 2, 0), docTop + TOP + mid * k - HEAD - room / 2);
    document.body.dataset.target = String(ev);
    draw();
    return true;
  }

  function jumpFirst() {
    const v = D.violations[0];
    if (!v) return;
    const ev = v.events[v.events.length - 1];
    if (location.hash !== '#ev-' + ev) history.replaceState(null, '', '#ev-' + ev);
    jumpTo(ev, v.events);
  }

  function followHash() {
    const m = /^#ev-(\d+)$/.exec(location.hash);
    if (!m) return false;
    const ev = Number(m[1]);
    const v = D.violations.find((x) => x.events.includes(ev));
    return jumpTo(ev, v ? v.events : null);
  }

  // ---- hovering and clicking ----
  function opAt(clientX, clientY) {
    const r = tl.getBoundingClientRect();
    const x = clientX - r.left, y = clientY - r.top;
    const lane = Math.floor((x - AXIS) / laneW);
    const t = (y - TOP) / k;
    const slack = 3 / k; // thin boxes are drawn at least 2 px tall
    let best = -1;
    for (const i of drawn) {
      if (O.lane[i] === lane && O.inv[i] - slack <= t && t <= O.end[i] + slack && (best < 0 || durs[i] < durs[best])) best = i;
    }
    return best;
  }

  function describe(i) {
    const type = {o: 'ok', f: 'fail', i: 'info'}[O.type[i]];
    let s = `${O.label[i]} — ${type}\nprocess ${O.proc[i]}`;
    if (O.node[i] >= 0) s += `, node ${D.nodes[O.node[i]]}`;
    s += `\ninvoked ${fmt(O.inv[i])}`;
    s += O.cmp[i] >= 0 ? `\ncompleted ${fmt(O.cmp[i])} (took ${fmt(O.cmp[i] - O.inv[i])})` : '\nnever completed';
    if (D.errors && D.errors[i]) s += `\nerror: ${D.errors[i]}`;
    const v = D.violations.find((x) => x.events.includes(O.event[i]));
    if (v) s += `\n\nviolation on key ${v.key}: ${v.sentence}`;
    return s + `\n\n#ev-${O.event[i]}`;
  }

  tl.addEventListener('mousemove', (e) => {
    const i = opAt(e.clientX, e.clientY);
    if (i < 0) { tip.hidden = true; return; }
    tip.textContent = describe(i);
    tip.hidden = false;
    tip.style.left = Math.min(e.clientX + 16, innerWidth - tip.offsetWidth - 8) + 'px';
    tip.style.top = Math.min(e.clientY + 16, innerHeight - tip.offsetHeight - 8) + 'px';
  });
  tl.addEventListener('mouseleave', () => { tip.hidden = true; });
  tl.addEventListener('click', (e) => {
    const i = opAt(e.clientX, e.clientY);
    if (i >= 0) history.replaceState(null, '', '#ev-' + O.event[i]);
  });
  addEventListener('wheel', (e) => {
    if (!e.ctrlKey) return;
    e.preventDefault();
    setZoom(k * (e.deltaY < 0 ? 1.25 : 0.8), e.clientY / innerHeight);
  }, {passive: false});
  addEventListener('keydown', (e) => {
    if (e.target.tagName === 'INPUT') return;
    if (e.key === '+' || e.key === '=') setZoom(k * 2);
    if (e.key === '-') setZoom(k / 2);
  });
  document.getElementById('zoom-in').addEventListener('click', () => setZoom(k * 2));
  document.getElementById('zoom-out').addEventListener('click', () => setZoom(k / 2));
  document.getElementById('zoom-fit').addEventListener('click', () => { setZoom(kFit()); scrollTo(scrollX, tl.getBoundingClientRect().top + scrollY); draw(); });
  document.getElementById('jump').addEventListener('click', jumpFirst);
  addEventListener('scroll', redraw, {passive: true});
  addEventListener('resize', () => { layout(); redraw(); });
  addEventListener('hashchange', followHash);
  // The browser may scroll to the fragment itself once the page has
  // loaded; the jump is done again then, so the page ends where it means.
  addEventListener('load', followHash);

  // A box of the median operation is about 14 px tall at first.
  k = Math.min(Math.max(14 / median, kMin()), kMax());
  layout();
  if (!followHash()) draw();
  document.body.dataset.ready = 'true';
  document.body.dataset.renderMs = String(Math.round(performance.now() - started));
  // The API tests and people use from the console.
  window.timeline = {jumpTo, jumpFirst, setZoom, get scale() { return k; }, Y, faults: D.faults, lanes: D.lanes.length};
})();
