// runs.js: the list of harness runs, from GET /runs/api/runs.
'use strict';


function verdictOf(r) { return r.complete ? (r.verdict || 'unknown') : 'incomplete'; }

async function loadRuns() {
  const table = document.getElementById('runs');
  const res = await api('GET', '/runs/api/runs');
  const runs = (res.body && res.body.runs) || [];
  const filter = document.getElementById('filter');
  const draw = () => {
    const q = filter.value.trim().toLowerCase();
    const shown = runs.filter((r) => !q || r.scenario.toLowerCase().includes(q) || verdictOf(r).includes(q));
    const rows = shown.map((r) => {
      const v = verdictOf(r);
      const has = (f) => (r.files || []).includes(f);
      return h('tr', {class: 'run', dataset: {id: r.id, scenario: r.scenario, verdict: v}},
        h('td', {}, r.time ? r.time.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : r.stamp),
        h('td', {}, h('a', {href: runURL(r.id), class: 'run-link'}, r.scenario), h('div', {class: 'muted'}, r.stamp)),
        h('td', {}, h('span', {class: `v ${v}`}, v)),
        h('td', {}, r.complete ? (r.expected || 'valid') : '—'),
        h('td', {}, r.complete ? r.ops : '—'),
        h('td', {}, r.complete ? `${r.ok} / ${r.fail} / ${r.info}` : (r.read_error || 'no results.json')),
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
    document.getElementById('runs-summary').textContent = `${shown.length} of ${runs.length} runs`;
  };
  filter.addEventListener('input', draw);
  draw();
  table.dataset.loaded = 'true';
  if (res.status !== 200) document.getElementById('runs-summary').textContent = `error: HTTP ${res.status}`;
}

loadRuns();
