// common.js: small helpers shared by the live page and the runs browser.
'use strict';

// h builds an element: h('td', {class: 'x', dataset: {id: 'n1'}}, 'text', child...).
function h(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k === 'onclick') e.addEventListener('click', v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

// svg builds an SVG element.
function svg(tag, attrs, ...children) {
  const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === 'dataset') Object.assign(e.dataset, v);
    else e.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

// The API token (docs/security.md) lives in this browser's localStorage and
// goes with every API request as a bearer token; the header's token field
// sets it. An empty token sends none (a node without --token-file).
const tokenKey = 'raftkv.token';
function apiToken() {
  try { return localStorage.getItem(tokenKey) || ''; } catch (e) { return ''; }
}
function setAPIToken(t) {
  try {
    if (t) localStorage.setItem(tokenKey, t); else localStorage.removeItem(tokenKey);
  } catch (e) { /* storage disabled: the token lasts for this page only */ }
}
function mountTokenField() {
  const header = document.querySelector('header');
  if (!header) return;
  const input = h('input', {type: 'password', id: 'api-token', placeholder: 'API token', autocomplete: 'off', size: 18});
  input.value = apiToken();
  const save = h('button', {type: 'button', id: 'api-token-save'}, 'set token');
  save.addEventListener('click', () => { setAPIToken(input.value.trim()); save.textContent = input.value.trim() ? 'token set' : 'set token'; });
  header.append(h('span', {class: 'token'}, input, save));
}
document.addEventListener('DOMContentLoaded', mountTokenField);

// A page opened by another member's page (it moved here when its node
// died) brings the token in the URL fragment: keep it, then drop it from
// the address bar.
if (location.hash.startsWith('#token=')) {
  setAPIToken(decodeURIComponent(location.hash.slice('#token='.length)));
  history.replaceState(null, '', location.pathname + location.search);
}

// api sends a JSON request and resolves to {status, body} (body parsed when JSON).
async function api(method, url, body) {
  const init = {method, headers: {}};
  const token = apiToken();
  if (token) init.headers['Authorization'] = 'Bearer ' + token;
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(url, init);
  const text = await resp.text();
  let parsed = text;
  try { parsed = text ? JSON.parse(text) : null; } catch (e) { /* not JSON */ }
  return {status: resp.status, body: parsed};
}

// showResult writes an API answer into a <pre class="result"> and sets its
// data-status ("ok" for 2xx, "error" otherwise) and a growing data-seq so a
// test can wait for the answer of its own action.
function showResult(pre, res, extra) {
  const ok = res.status >= 200 && res.status < 300;
  pre.dataset.status = ok ? 'ok' : 'error';
  pre.dataset.http = String(res.status);
  for (const [k, v] of Object.entries(extra || {})) {
    if (v === undefined || v === null) delete pre.dataset[k];
    else pre.dataset[k] = String(v);
  }
  pre.textContent = `HTTP ${res.status}\n` + (typeof res.body === 'string' ? res.body : JSON.stringify(res.body, null, 2));
  pre.dataset.seq = String(Number(pre.dataset.seq || '0') + 1);
}

function showError(pre, err) {
  pre.dataset.status = 'error';
  pre.textContent = String(err);
  pre.dataset.seq = String(Number(pre.dataset.seq || '0') + 1);
}

function fmtAgo(ms) {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)}s`;
  return `${Math.floor(ms / 60000)}m${Math.round((ms % 60000) / 1000)}s`;
}

// fileURL is the address of one file of a harness run; runURL its run page.
function fileURL(id, name) { return `/runs/files/${id.split('/').map(encodeURIComponent).join('/')}/${name}`; }
function runURL(id, extra) { return `/runs/run?id=${encodeURIComponent(id)}${extra || ''}`; }
