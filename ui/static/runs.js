// runs.js: the list of harness runs, from GET /runs/api/runs. The list
// refreshes itself (every 3s, or ?refresh=<ms>) so that running runs show
// up, and turn into finished ones, without a reload.
'use strict';

const listParams = new URLSearchParams(location.search);
const refreshMs = Math.max(100, Number(listParams.get('refresh')) || 3000);
const table = document.getElementById('runs');
const filter = document.getElementById('filter');
let runs = [];
let listError = '';

function verdictOf(r) { return r.complete ? (r.verdict || 'unknown') : r.running ? 'running' : 'incomplete'; }

function draw() {
  const q = filter.value.trim().toLowerCase();
  const shown = runs.filter((r) => !q || r.scenario.toLowerCase().includes(q) || verdictOf(r).includes(q));
  const rows = shown.map((r) => {
    const v = verdictOf(r);
    const has = (f) => (r.files || []).includes(f);
    return h('tr', {class: `run${r.running ? ' running' : ''}`, dataset: {id: r.id, scenario: r.scenario, verdict: v}},
      h('td', {}, r.time ? r.time.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : r.stamp),
      h('td', {}, h('a', {href: runURL(r.id), class: 'run-link'}, r.scenario), h('div', {class: 'muted'}, r.stamp)),
      h('td', {}, h('span', {class: `v ${v}`}, v)),
      h('td', {}, r.complete ? (r.expected || 'valid') : '—'),
      h('td', {}, r.complete ? r.ops : '—'),
      h('td', {}, r.complete ? `${r.ok} / ${r.fail} / ${r.info}` : r.running ? h('a', {href: runURL(r.id)}, 'live view') : (r.read_error || 'no results.json')),
      h('td', {}, r.complete ? r.faults : '—'),
      h('td', {class: 'keys'}, (r.failed_keys || []).slice(0, 5).map((k) => h('code', {}, k)),
        (r.failed_keys || []).length > 5 ? `+${r.failed_keys.length - 5}` : '',
        v === 'invalid' && has('history.html') ? h('a', {href: runURL(r.id, '&jump=1') + '#history', class: 'first-error'}, 'first error') : null),
      h('td', {}, ['index.html', 'history.html', 'timeline.html', 'history.jsonl'].filter(has).map((f) =>
        h('a', {href: fileURL(r.id, f), class: `file ${f.replace('.', '-')}`, style: 'margin-right:.5em'}, f.replace(/\.html$/, '')))),
    );
  });
  table.querySelector('tbody').replaceChildren(...rows);
  table.dataset.count = String(shown.length);
  table.dataset.running = String(runs.filter((r) => r.running).length);
  const running = runs.filter((r) => r.running).length;
  document.getElementById('runs-summary').textContent = listError ||
    `${shown.length} of ${runs.length} runs${running ? ` · ${running} running` : ''}`;
}

async function loadRuns() {
  try {
    const res = await api('GET', '/runs/api/runs');
    if (res.status === 200) {
      runs = (res.body && res.body.runs) || [];
      listError = '';
    } else {
      listError = `error: HTTP ${res.status}`;
    }
  } catch (err) {
    listError = `error: ${err.message}`;
  }
  draw();
  table.dataset.loaded = 'true';
  table.dataset.refreshes = String(Number(table.dataset.refreshes || '0') + 1);
  setTimeout(loadRuns, refreshMs);
}

filter.addEventListener('input', draw);
loadRuns();
