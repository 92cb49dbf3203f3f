// app.js: the live cluster page. State arrives over the WebSocket /ws as
// snapshots and events; the page only renders it. Controls call the node's
// HTTP API on the same origin. Everything a test needs is exposed as data-*
// attributes (see ui/doc.go).
'use strict';

const state = {
  snapshot: null,
  events: [],         // newest last
  termSeen: {},       // member -> {term, since (ms)} : when the UI first saw the member's current term
  ws: null,
  retry: 0,
  lost: null,         // {node, at}: the page's node stopped answering
};

const MAX_EVENTS = 200;
const cluster = document.getElementById('cluster');

// ---------- WebSocket feed ----------

function connect() {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  // A browser cannot set headers on a WebSocket: the token travels as a
  // second subprotocol (docs/security.md), base64url without padding.
  const token = apiToken();
  const protocols = token ? ['raftkv', 'raftkv.bearer.' + btoa(unescape(encodeURIComponent(token))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')] : undefined;
  const ws = new WebSocket(`${proto}//${location.host}/ws`, protocols);
  state.ws = ws;
  let opened = false;
  setConn('connecting');
  ws.onopen = () => { opened = true; state.retry = 0; state.lost = null; cluster.classList.remove('stale'); setConn('open'); };
  ws.onmessage = (m) => {
    let msg;
    try { msg = JSON.parse(m.data); } catch (e) { return; }
    if (msg.type === 'snapshot' && msg.snapshot) onSnapshot(msg.snapshot);
    else if (msg.type === 'event' && msg.event) onEvent(msg.event);
  };
  ws.onclose = () => {
    if (opened || state.lost) lostNode();
    else setConn('closed');
    // A refused handshake does not say why: ask the status endpoint, which
    // answers 401/403 in words when the token is missing or too weak.
    if (!opened) {
      api('GET', '/ui/api/status').then((r) => {
        if (r.status === 401 || r.status === 403) {
          const msg = (r.body && r.body.error && r.body.error.message) || 'the node refused the token';
          setConn('unauthorized');
          document.getElementById('conn').textContent = 'no access: ' + msg + ' — set an API token (top right)';
        }
      }).catch(() => {});
    }
    // Reconnect with a capped backoff; a new snapshot follows the reconnection.
    // After a few failed tries the page moves to another member it knows.
    if (state.lost && state.retry >= 2) moveToAnotherMember();
    const delay = Math.min(5000, 250 * 2 ** state.retry++);
    setTimeout(connect, delay);
  };
}

// lostNode: the node serving this page stopped answering. Say so plainly,
// and stop presenting its last figures as live: a dead leader must not
// keep being shown as the leader.
function lostNode() {
  const self = state.snapshot ? state.snapshot.self : location.host;
  if (!state.lost) state.lost = {node: self, at: new Date()};
  cluster.classList.add('stale');
  cluster.dataset.leader = '';
  cluster.dataset.leaderCount = '0';
  setConn('lost');
  document.getElementById('conn').textContent =
    `lost ${state.lost.node} (this page's node) at ${state.lost.at.toLocaleTimeString()}: it stopped answering; ` +
    'the figures below are as of then · reconnecting…';
  document.getElementById('cluster-summary').textContent =
    `leader unknown: ${state.lost.node} went away at ${state.lost.at.toLocaleTimeString()}`;
}

// moveToAnotherMember opens the page of the first other member that
// answers (its own UI; a page cannot read another origin's feed). The
// token goes along in the URL fragment, which never reaches a server, as
// localStorage is per origin.
let moving = false;
async function moveToAnotherMember() {
  if (moving || !state.snapshot) return;
  moving = true;
  try {
    const others = (state.snapshot.members || []).filter((m) => !m.self && m.api_addr);
    for (const m of others) {
      const base = memberURL(m.api_addr);
      try {
        const ctl = new AbortController();
        const timer = setTimeout(() => ctl.abort(), 2000);
        // no-cors: the answer is opaque, but it arriving at all means the
        // member is up.
        await fetch(base + '/healthz', {mode: 'no-cors', signal: ctl.signal, cache: 'no-store'});
        clearTimeout(timer);
      } catch (e) { continue; }
      const conn = document.getElementById('conn');
      conn.dataset.state = 'moving';
      conn.dataset.target = m.id;
      conn.textContent = `${state.lost.node} is down: moving to ${m.id} (${base})…`;
      const token = apiToken();
      location.assign(base + '/' + (token ? '#token=' + encodeURIComponent(token) : ''));
      return;
    }
  } finally { moving = false; }
}

// memberURL is the base URL of a member's API as this browser reaches it:
// an unspecified listen address (0.0.0.0, ::) means this page's host.
function memberURL(addr) {
  let host = addr, port = '';
  const i = addr.lastIndexOf(':');
  if (i > 0) { host = addr.slice(0, i); port = addr.slice(i + 1); }
  if (host === '' || host === '0.0.0.0' || host === '[::]' || host === '::') host = location.hostname;
  return `${location.protocol}//${host}${port ? ':' + port : ''}`;
}

function setConn(s) {
  const el = document.getElementById('conn');
  el.dataset.state = s;
  el.textContent = s === 'open' ? 'live' : s;
  el.title = s === 'open' ? 'connected to this node\'s live feed' : '';
  cluster.dataset.connected = String(s === 'open');
}

function onSnapshot(snap) {
  state.snapshot = snap;
  state.events = (snap.events || []).slice(-MAX_EVENTS);
  render();
}

function onEvent(ev) {
  state.events.push(ev);
  if (state.events.length > MAX_EVENTS) state.events.shift();
  renderEvents();
}

// ---------- derived state ----------

function nameOf(raftID) {
  if (!raftID) return '';
  const m = (state.snapshot?.members || []).find((x) => x.raft_id === raftID);
  return m ? m.id : `#${raftID}`;
}

// leaderView: the members reachable now that report role leader, and the
// one with the highest term (the others are stale leaders of older terms).
function leaderView(members) {
  const leaders = members.filter((m) => m.reachable && m.status && m.status.role === 'leader');
  let best = null;
  for (const m of leaders) if (!best || m.status.term > best.status.term) best = m;
  return {leaders, leader: best};
}

function maxTerm(members) {
  let t = 0;
  for (const m of members) if (m.status && m.status.term > t) t = m.status.term;
  return t;
}

function timerText(m, now) {
  const st = m.status;
  if (!st) return {text: '—', title: 'never reached'};
  if (st.election_timeout_ms > 0) {
    const el = st.election_elapsed_ms || 0; // omitted when 0
    const text = `${el}/${st.election_timeout_ms}ms`;
    // A leader does not time out: its timer is the check-quorum round, shown
    // as text only.
    if (st.role === 'leader') return {text, title: 'check-quorum round (elapsed/length)'};
    return {text, title: 'election timer: time since the leader was last heard (or the timer reset) / randomized election timeout',
      frac: Math.min(1, el / st.election_timeout_ms)};
  }
  if (st.leader_contact_ms > 0 || (st.leader && st.role !== 'leader')) {
    if (st.leader_contact_ms !== undefined && st.leader_contact_ms > 0) {
      return {text: `contact ${fmtAgo(st.leader_contact_ms)} ago`, title: 'time since the last message from the leader'};
    }
  }
  // Neither is reported by this node: show how long the UI has seen this term.
  const seen = state.termSeen[m.id];
  if (seen && seen.term === st.term) return {text: `term ${fmtAgo(now - seen.since)}`, title: 'time since the UI first saw this term (the node reports no election timer)'};
  return {text: '—', title: ''};
}

// ---------- rendering ----------

function render() {
  const snap = state.snapshot;
  if (!snap) return;
  const members = snap.members || [];
  const now = Date.now();
  for (const m of members) {
    if (!m.status) continue;
    const seen = state.termSeen[m.id];
    if (!seen || seen.term !== m.status.term) state.termSeen[m.id] = {term: m.status.term, since: now};
  }
  const {leaders, leader} = leaderView(members);
  const top = maxTerm(members);

  document.getElementById('self').textContent = snap.self;
  cluster.dataset.seq = String(snap.seq);
  cluster.dataset.leader = leader ? leader.id : '';
  cluster.dataset.leaderCount = String(leaders.length);
  cluster.dataset.term = String(top);
  cluster.dataset.members = String(members.length);
  cluster.dataset.unreachable = String(members.filter((m) => !m.reachable).length);
  document.getElementById('cluster-summary').textContent =
    `${members.length} members · term ${top} · leader ${leader ? leader.id : 'none'}` +
    (leaders.length > 1 ? ` · ${leaders.length} nodes claim leadership` : '');

  renderTable(members, leader, top, now);
  renderRing(members, leader, now);
  renderProgress(members, leader);
  renderSelects(members);
  renderFaults(snap, members);
  renderEvents();
}

function roleClass(m, top) {
  if (!m.reachable) return 'unreachable';
  const r = m.status ? m.status.role : 'unknown';
  if (r === 'leader' && m.status.term < top) return 'leader stale';
  return r;
}

// keyed keeps one element per id in container, in the given order: rows are
// updated in place, so buttons are not replaced under a pointer between the
// press and the release of a click.
function keyed(container, ids, create, update) {
  const have = new Map([...container.children].filter((e) => e.dataset.id).map((e) => [e.dataset.id, e]));
  const want = new Set(ids);
  for (const [id, e] of have) if (!want.has(id)) e.remove();
  // Clear placeholder rows (no data-id).
  for (const e of [...container.children]) if (!e.dataset.id) e.remove();
  let prev = null;
  for (const id of ids) {
    let e = have.get(id);
    if (!e) { e = create(id); e.dataset.id = id; }
    update(e);
    const expected = prev ? prev.nextElementSibling : container.firstElementChild;
    if (expected !== e) container.insertBefore(e, expected);
    prev = e;
  }
}

function setText(e, text, title) {
  const t = String(text);
  if (e.textContent !== t) e.textContent = t;
  if (title !== undefined && e.title !== title) e.title = title;
}

function renderTable(members, leader, top, now) {
  const tbody = document.querySelector('#members tbody');
  const byID = Object.fromEntries(members.map((m) => [m.id, m]));
  keyed(tbody, members.map((m) => m.id), (id) => {
    const tr = h('tr', {class: 'member'});
    for (let i = 0; i < 9; i++) tr.append(h('td'));
    tr.cells[0].append(h('b', {}, id), h('span', {class: 'tags'}), h('div', {class: 'err'}));
    tr.cells[1].className = 'role';
    tr.append(h('td', {class: 'actions'},
      h('button', {class: 'transfer', type: 'button', dataset: {target: id}, onclick: () => transfer(id)}, 'make leader'),
      h('button', {class: 'remove', type: 'button', dataset: {target: id}, onclick: () => removeMember(id)}, 'remove')));
    return tr;
  }, (tr) => {
    const m = byID[tr.dataset.id];
    const st = m.status || {};
    const timer = timerText(m, now);
    Object.assign(tr.dataset, {
      role: m.reachable ? (st.role || 'unknown') : 'unreachable',
      reachable: String(m.reachable), self: String(!!m.self),
      term: String(st.term ?? ''), vote: nameOf(st.vote), leader: st.leader || '',
      commit: String(st.commit ?? ''), applied: String(st.applied ?? ''), lastIndex: String(st.last_index ?? ''),
      lastRole: st.role || '', timer: timer.text,
    });
    tr.className = `member ${roleClass(m, top)}`;
    tr.title = m.error || '';
    const c = tr.cells;
    setText(c[0].querySelector('.tags'), (m.self ? ' this node' : '') + (m.voter ? '' : ' learner'));
    const stale = !m.reachable && m.status && m.last_seen ? ` (last seen ${fmtAgo(now - Date.parse(m.last_seen))} ago)` : '';
    setText(c[0].querySelector('.err'), m.reachable ? '' : `unreachable${stale}: ${m.error || ''}`);
    const stalePrefix = st.role === 'leader' && st.term < top ? ' (stale term)' : '';
    setText(c[1], m.reachable ? (st.role || '?') + stalePrefix : 'unreachable');
    setText(c[2], st.term ?? '—');
    setText(c[3], nameOf(st.vote) || '—');
    setText(c[4], st.leader || '—');
    setText(c[5], st.commit ?? '—');
    setText(c[6], st.applied ?? '—');
    setText(c[7], st.last_index ?? '—');
    setText(c[8], timer.text, timer.title);
    // A member that does not answer cannot take leadership; removing it
    // is exactly what an operator may want, so that stays enabled.
    const tb = tr.querySelector('button.transfer');
    tb.disabled = !m.reachable || !!(leader && leader.id === m.id);
    tb.title = !m.reachable ? `${m.id} is unreachable: it cannot take leadership` : '';
  });
}

function renderRing(members, leader, now) {
  const ring = document.getElementById('ring');
  const cx = 160, cy = 160, R = 112, r = 30;
  const n = Math.max(members.length, 1);
  const pos = {};
  members.forEach((m, i) => {
    const a = -Math.PI / 2 + (2 * Math.PI * i) / n;
    pos[m.id] = {x: cx + R * Math.cos(a), y: cy + R * Math.sin(a)};
  });
  const top = maxTerm(members);
  const parts = [svg('circle', {cx, cy, r: R, class: 'ring-track'})];
  if (leader) {
    const prog = progressOf(leader);
    for (const m of members) {
      if (m.id === leader.id || !pos[m.id]) continue;
      const p = prog[m.id];
      const a = pos[leader.id], b = pos[m.id];
      parts.push(svg('line', {x1: a.x, y1: a.y, x2: b.x, y2: b.y,
        class: `repl ${m.reachable ? '' : 'broken'}`, dataset: {from: leader.id, to: m.id}}));
      if (p) {
        parts.push(svg('text', {x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 - 4, class: 'repl-label'},
          `match ${p.match}${p.next ? ` next ${p.next}` : ''}`));
      }
    }
  }
  for (const m of members) {
    const {x, y} = pos[m.id];
    const st = m.status || {};
    const cls = roleClass(m, top);
    const g = svg('g', {class: `ring-node ${cls}`, dataset: {id: m.id, role: m.reachable ? (st.role || 'unknown') : 'unreachable'}});
    const t = timerText(m, now);
    if (t.frac !== undefined) {
      // RaftScope-style election timer: the arc shrinks as the timeout nears.
      const rr = r + 6, c = 2 * Math.PI * rr;
      g.append(svg('circle', {cx: x, cy: y, r: rr, class: 'timer',
        'stroke-dasharray': `${c * (1 - t.frac)} ${c}`, transform: `rotate(-90 ${x} ${y})`}));
    }
    g.append(svg('circle', {cx: x, cy: y, r, class: 'body'}));
    g.append(svg('text', {x, y: y - 3, class: 'name'}, m.id));
    g.append(svg('text', {x, y: y + 12, class: 'term'}, m.reachable ? `T${st.term ?? '?'}` : '✕'));
    g.append(svg('title', {}, `${m.id}: ${m.reachable ? st.role : 'unreachable'}${st.term !== undefined ? `, term ${st.term}` : ''}`));
    parts.push(g);
  }
  ring.replaceChildren(...parts);
}

// progressOf returns the leader's view of each member: {id: {match, next, state}}.
function progressOf(leader) {
  const st = leader.status || {};
  if (st.progress) return st.progress;
  const out = {};
  for (const m of st.members || []) if (m.match !== undefined) out[m.id] = {match: m.match};
  return out;
}

function renderProgress(members, leader) {
  const tbody = document.querySelector('#progress tbody');
  if (!leader) {
    tbody.replaceChildren(h('tr', {}, h('td', {colspan: 4, class: 'muted'}, 'no leader')));
    return;
  }
  const prog = progressOf(leader);
  const rows = Object.keys(prog).sort().filter((id) => id !== leader.id).map((id) => {
    const p = prog[id];
    return h('tr', {class: 'progress-row', dataset: {id, match: String(p.match), next: String(p.next || '')}},
      h('td', {}, id), h('td', {}, p.match), h('td', {}, p.next || '—'), h('td', {}, p.state || '—'));
  });
  if (rows.length === 0) rows.push(h('tr', {}, h('td', {colspan: 4, class: 'muted'}, `${leader.id} reports no follower progress`)));
  tbody.replaceChildren(...rows);
}

function fillSelect(sel, ids, first) {
  const cur = sel.value;
  const opts = first ? [first] : [];
  for (const id of ids) opts.push(h('option', {value: id}, id));
  sel.replaceChildren(...opts);
  if ([...sel.options].some((o) => o.value === cur)) sel.value = cur;
}

function renderSelects(members) {
  const ids = members.map((m) => m.id);
  fillSelect(document.getElementById('transfer-to'), ids, h('option', {value: ''}, 'most up-to-date follower'));
  fillSelect(document.getElementById('clock-member'), ids);
}

function renderFaults(snap, members) {
  const box = document.getElementById('faults');
  box.hidden = !snap.fault_injection;
  box.dataset.enabled = String(!!snap.fault_injection);
  if (!snap.fault_injection) return;
  const byID = Object.fromEntries(members.map((m) => [m.id, m]));
  keyed(document.getElementById('fault-members'), members.map((m) => m.id), (id) => h('div', {class: 'fault-member'},
    h('b', {}, id), ' ',
    h('button', {type: 'button', class: 'isolate', dataset: {target: id}, onclick: () => isolate(id)}, 'isolate'),
    h('button', {type: 'button', class: 'heal', dataset: {target: id}, onclick: () => heal([id])}, 'heal'),
    h('span', {class: 'muted desc'})), (div) => {
    const m = byID[div.dataset.id];
    const rules = m.status?.network_faults || [];
    const clock = m.status?.clock_fault;
    div.dataset.rules = String(rules.length);
    div.dataset.isolated = String(rules.length > 0 && rules.every((r) => r.drop));
    div.dataset.faultInjection = String(!!m.status?.fault_injection);
    for (const b of div.querySelectorAll('button')) {
      b.disabled = !m.reachable;
      b.title = m.reachable ? '' : `${m.id} is unreachable: its faults cannot be changed`;
    }
    const desc = rules.length ? ` ${rules.length} rule(s): ${rules.map((r) => `${r.peer}/${r.direction}${r.drop ? ' drop' : ''}${r.loss ? ` loss ${r.loss}` : ''}${r.delay_ms ? ` +${r.delay_ms}ms` : ''}`).join(', ')}` : ' no network faults';
    setText(div.querySelector('.desc'), desc + (clock ? ` · clock offset ${clock.offset_ms}ms rate ${clock.rate}` : ''));
  });
  renderPartitionSide(members);
}

function renderPartitionSide(members) {
  keyed(document.getElementById('partition-side'), members.map((m) => m.id), (id) =>
    h('label', {class: 'side'}, h('input', {type: 'checkbox', value: id}), ` ${id} `), () => {});
}

function renderEvents() {
  const ol = document.getElementById('events');
  const items = state.events.slice().reverse().map((ev) =>
    h('li', {class: 'event', dataset: {type: ev.type, term: String(ev.term), leader: ev.leader || ''}},
      h('time', {datetime: ev.time}, new Date(ev.time).toLocaleTimeString()), ' ',
      h('b', {}, ev.node), ' ', h('span', {class: `ev ${ev.type}`}, ev.type),
      ` term ${ev.term}`, ev.leader ? ` leader ${ev.leader}` : '', ev.role ? ` role ${ev.role}` : '',
      ev.index ? ` index ${ev.index}` : '', ev.detail ? ` — ${ev.detail}` : ''));
  ol.replaceChildren(...items);
  ol.dataset.count = String(state.events.length);
}

// ---------- controls ----------

document.getElementById('kv-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const pre = document.getElementById('kv-result');
  const op = document.getElementById('kv-op').value;
  const body = {operation: op, key: document.getElementById('kv-key').value};
  const value = document.getElementById('kv-value').value;
  if (op === 'set' || op === 'cas') body.value = value;
  if (op === 'cas') body.expected = document.getElementById('kv-expected').value;
  const mode = document.getElementById('kv-read-mode').value;
  if (op === 'get' && mode) body.read_mode = mode;
  pre.dataset.status = 'pending';
  try {
    const res = await api('POST', '/command', body);
    const b = res.body || {};
    showResult(pre, res, {op, key: body.key, value: b.value, found: b.found, succeeded: b.succeeded,
      code: b.error ? b.error.code : undefined});
  } catch (err) { showError(pre, err); }
});

async function transfer(id) {
  const pre = document.getElementById('transfer-result');
  pre.dataset.status = 'pending';
  try {
    const res = await api('POST', '/cluster/leader', {id});
    showResult(pre, res, {leader: res.body && res.body.leader});
  } catch (err) { showError(pre, err); }
}

document.getElementById('transfer-form').addEventListener('submit', (e) => {
  e.preventDefault();
  transfer(document.getElementById('transfer-to').value);
});

document.getElementById('add-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const pre = document.getElementById('member-result');
  pre.dataset.status = 'pending';
  try {
    const res = await api('POST', '/cluster/members', {
      id: document.getElementById('add-id').value,
      raft_addr: document.getElementById('add-raft').value,
      api_addr: document.getElementById('add-api').value,
      learner: document.getElementById('add-learner').checked,
    });
    showResult(pre, res);
  } catch (err) { showError(pre, err); }
});

async function removeMember(id) {
  const pre = document.getElementById('member-result');
  pre.dataset.status = 'pending';
  try {
    showResult(pre, await api('DELETE', `/cluster/members/${encodeURIComponent(id)}`), {removed: id});
  } catch (err) { showError(pre, err); }
}

// isolate cuts one member off: it drops all traffic to and from each peer.
async function isolate(id) {
  const peers = (state.snapshot?.members || []).map((m) => m.id).filter((p) => p !== id);
  const rules = peers.map((peer) => ({peer, direction: 'both', drop: true}));
  const pre = document.getElementById('fault-result');
  pre.dataset.status = 'pending';
  try {
    showResult(pre, await api('PUT', `/ui/api/members/${encodeURIComponent(id)}/fault/network`, {rules}), {action: 'isolate', target: id});
  } catch (err) { showError(pre, err); }
}

async function heal(ids) {
  const pre = document.getElementById('fault-result');
  pre.dataset.status = 'pending';
  const results = [];
  for (const id of ids) {
    try {
      results.push({id, ...(await api('DELETE', `/ui/api/members/${encodeURIComponent(id)}/fault/network`))});
    } catch (err) { results.push({id, status: 0, body: String(err)}); }
  }
  const worst = results.find((r) => r.status < 200 || r.status >= 300) || results[0] || {status: 200};
  showResult(pre, {status: worst.status, body: results}, {action: 'heal', target: ids.join(',')});
}

// partition splits the cluster into side and the rest: each member drops
// all traffic to and from the members of the other side (PUT replaces a
// member's rules, so this also heals any earlier partition).
async function partition(side) {
  const all = (state.snapshot?.members || []).map((m) => m.id);
  const inSide = new Set(side);
  const pre = document.getElementById('fault-result');
  pre.dataset.status = 'pending';
  const results = [];
  for (const id of all) {
    const other = all.filter((p) => inSide.has(p) !== inSide.has(id));
    const rules = other.map((peer) => ({peer, direction: 'both', drop: true}));
    try {
      results.push({id, ...(await api('PUT', `/ui/api/members/${encodeURIComponent(id)}/fault/network`, {rules}))});
    } catch (err) { results.push({id, status: 0, body: String(err)}); }
  }
  const worst = results.find((r) => r.status < 200 || r.status >= 300) || results[0] || {status: 200};
  showResult(pre, {status: worst.status, body: results}, {action: 'partition', target: side.join(',')});
}

document.getElementById('partition-submit').addEventListener('click', () => {
  const side = [...document.querySelectorAll('#partition-side input:checked')].map((e) => e.value);
  const pre = document.getElementById('fault-result');
  const n = (state.snapshot?.members || []).length;
  if (side.length === 0 || side.length === n) {
    showResult(pre, {status: 400, body: 'choose some members, not all'}, {action: 'partition'});
    return;
  }
  partition(side);
});

document.getElementById('heal-all').addEventListener('click', () =>
  heal((state.snapshot?.members || []).map((m) => m.id)));

document.getElementById('clock-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const id = document.getElementById('clock-member').value;
  const pre = document.getElementById('fault-result');
  pre.dataset.status = 'pending';
  const body = {
    offset_ms: Number(document.getElementById('clock-offset').value),
    rate: Number(document.getElementById('clock-rate').value),
    strobe_delta_ms: Number(document.getElementById('clock-strobe-delta').value),
    strobe_period_ms: Number(document.getElementById('clock-strobe-period').value),
  };
  try {
    showResult(pre, await api('PUT', `/ui/api/members/${encodeURIComponent(id)}/fault/clock`, body), {action: 'clock', target: id});
  } catch (err) { showError(pre, err); }
});

document.getElementById('clock-reset').addEventListener('click', async () => {
  const id = document.getElementById('clock-member').value;
  const pre = document.getElementById('fault-result');
  try {
    showResult(pre, await api('DELETE', `/ui/api/members/${encodeURIComponent(id)}/fault/clock`), {action: 'clock-reset', target: id});
  } catch (err) { showError(pre, err); }
});

// Keep "time since" columns moving between snapshots.
setInterval(() => { if (state.snapshot) renderTable(state.snapshot.members || [], leaderView(state.snapshot.members || []).leader, maxTerm(state.snapshot.members || []), Date.now()); }, 1000);

// The runs browser is there only when the node was started with a store.
api('GET', '/runs/api/runs').then((res) => {
  document.getElementById('runs-link').hidden = res.status !== 200;
}, () => { document.getElementById('runs-link').hidden = true; });

connect();
