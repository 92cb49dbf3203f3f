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
  const v = r.complete ? (r.verdict || 'unknown') : 'incomplete';
  document.title = `${r.scenario} — ${v}`;
  document.getElementById('run-title').textContent = `${r.scenario} / ${r.stamp}`;
  const ve = document.getElementById('run-verdict');
  ve.textContent = v;
  ve.className = `v ${v}`;
  document.getElementById('run-meta').textContent = !r.complete ? `no results.json yet (the run is going on, or stopped before its check)${r.read_error ? ': ' + r.read_error : ''}` :
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
    frameReady = new Promise((resolve) => {
      frame.addEventListener('load', () => { frame.dataset.loaded = 'true'; resolve(frame.contentDocument); }, {once: true});
    });
    frame.src = fileURL(r.id, 'history.html');
    jumpBtn.disabled = false;
    document.getElementById('jump-link').href = runURL(r.id, '&jump=1') + '#history';
  } else {
    history.dataset.present = 'false';
    jumpBtn.dataset.state = 'unavailable';
    jumpNote.textContent = 'this run has no history.html';
  }
  runEl.dataset.loaded = 'true';
  if (params.get('jump') === '1' && frameReady) jumpToFirstError();
}

// errorPoints lists Porcupine's illegal linearization points (the red
// marks) that are drawn, left to right: the first is the first error.
function errorPoints(doc) {
  return [...doc.querySelectorAll('.linearization-invalid.linearization-point')]
    .filter((e) => !e.parentElement.classList.contains('hidden'))
    .sort((a, b) => Number(a.getAttribute('x1')) - Number(b.getAttribute('x1')));
}

// jumpToFirstError scrolls the history to its first illegal linearization
// point and selects it. It uses Porcupine's own "jump to first error" link
// when the page has one (it also highlights the partial linearization),
// and scrolls to the mark itself otherwise.
async function jumpToFirstError() {
  if (!frameReady) return;
  jumpBtn.dataset.state = 'pending';
  const doc = await frameReady;
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
  jumpNote.textContent = `first illegal linearization point at x=${Math.round(Number(target.getAttribute('x1')))} of ${points.length}`;
}

jumpBtn.addEventListener('click', jumpToFirstError);
loadRun();
