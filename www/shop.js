// The privrank demo storefront: a small MovieLens shop whose ad slot is ranked on this
// device. Views, add-to-cart and ad clicks are recorded with `ranker.record()` (stored
// in this browser's IndexedDB) and the ads are re-ranked after each of them. The
// promotions come ready embedded from the edge worker (POST /edge/candidates with
// their ids alone), so this device embeds only the shopper's own history items; with
// no worker (a plain `scripts/serve.mjs`) the page embeds the candidates itself.
//   /www/?backend=cpu|webgpu|auto   (default auto)
//   /www/?models=teacher              the all-MiniLM-L6-v2 teacher and its ranker instead of
//                                     the package's default (the distilled student)
//   /www/?arm=title|generated         this browser's experiment arm, chosen instead of
//                                     drawn (to show either headline)
// The first ad slot runs a two-arm creative experiment: this device's arm (ranker.arm)
// shows either the film's title or the headline variant `rank()` chose on this device
// among those a language model wrote on the ad server's side (the candidates'
// `creatives`, data/demo-creatives.json); each impression of that slot, clicked or
// not, becomes one noised report (ranker.report) that the library posts to the edge
// worker's collector (POST /edge/report), and the results box shows the collector's
// estimates (GET /edge/estimates). The privacy panel shows every report's whole body.
// For tests and the console: globalThis.privrank = { ranker, candidates }; document.body.dataset.status
// is loading → ranking → ready (ranking again after each event), or error.
import {
  el, watchNetwork, renderBars, renderHistory, interestProfile, renderProfile, renderEngine, formatBytes,
} from './privacy-panel.js';

const $ = (id) => document.getElementById(id);
const PAGE = 24; // cards per "Show more"
const AD_SLOTS = 3;
/** The first slot's experiment: which headline an ad gets. */
const EXPERIMENT = { salt: 'demo-headline', arms: [{ label: 'title' }, { label: 'generated' }] };
/** ε per report and per rolling day: 16 reports a day from this browser. */
const REPORT_EPSILON = 0.5;
const PRIVACY_BUDGET = 8;
const COLLECTOR = '/edge/report';
const ESTIMATES = `/edge/estimates?experiment=${EXPERIMENT.salt}`;

// Start listing requests first (buffered: the ones already made are included).
watchNetwork({ tbody: $('net').tBodies[0], summary: $('net-summary'), count: $('net-count') });

// ---------------------------------------------------------------- state and status

const state = {
  ranker: null,
  catalog: [],
  byId: new Map(),
  candidates: [],
  edge: null, // what the candidate request sent and got (the privacy panel shows it)
  genre: '',
  query: '',
  shown: PAGE,
  error: null,
  ranking: false, // the rank loop is running
  rankWanted: false, // an event was recorded since the last rank started
  lastMs: null,
  openWhy: new Set(), // ad ids whose "why this ad" is open
  current: null, // the item in the product dialog
  arm: null, // this device's arm of EXPERIMENT, or why there is none
  impression: null, // the first slot's ad while it is shown: {id, creative}
  reports: [], // what report() returned or why it refused, newest last
};

function updateStatus() {
  const status = state.error ? 'error' : !state.ranker ? 'loading' : state.ranking ? 'ranking' : 'ready';
  document.body.dataset.status = status;
  $('ad-slot').setAttribute('aria-busy', String(status !== 'ready'));
}

/** An Error with a `code`, like privrank's own. */
function demoError(code, message, hint) {
  return Object.assign(new Error(message), { code, hint });
}

const HINTS = {
  DemoDataMissing: 'Generate the demo data with `node scripts/demo-data.mjs` (bash scripts/demo does it), then reload.',
  PackageMissing: 'Build the npm package into pkg/ with `bash scripts/build-pkg`, then reload.',
  ModelFetch: 'The model files could not be downloaded: is pkg/models/ built and the server running?',
  BackendUnavailable: 'This browser offers no WebGPU adapter: try ?backend=cpu or ?backend=auto.',
  StorageQuota: 'The browser’s storage is full: free some space or use another profile.',
};

function showError(e) {
  const code = e?.code ?? e?.name ?? 'Error';
  const message = e?.message ?? String(e);
  console.error(`privrank demo: ${code}: ${message}`);
  if (!state.error) state.error = { code, message };
  $('error-code').textContent = code;
  $('error-message').textContent = message;
  $('error-hint').textContent = e?.hint ?? HINTS[code] ?? '';
  $('error').hidden = false;
  $('error').dataset.code = code;
  document.body.dataset.code = code;
  $('load').hidden = true;
  $('ads-state').textContent = `Ranking unavailable (${code}).`;
  if (!state.ranker) $('backend').textContent = 'not loaded';
  updateStatus();
}
addEventListener('unhandledrejection', (event) => showError(event.reason));
addEventListener('error', (event) => showError(event.error ?? { message: event.message }));

// Every ranker call goes through this queue, one at a time, in order; it starts once the
// model has loaded, so a click made while loading is recorded afterwards.
let loaded;
const ready = new Promise((resolve) => { loaded = resolve; });
let tail = ready;
function serial(task) {
  const run = tail.then(task);
  tail = run.catch(() => {});
  return run;
}

// ---------------------------------------------------------------- recording events

/** Record one event for a catalog item, then refresh the panel and re-rank. */
function record(kind, item) {
  const event = { kind, itemId: item.id, title: item.title, category: item.category, ts: Date.now() };
  serial(async () => {
    await state.ranker.record(event);
    await refreshPanel();
  }).catch(showError);
  requestRank();
}

// ---------------------------------------------------------------- ranking

// Ranks run one at a time, after every event recorded before them; events recorded while
// a rank runs are ranked again once it ends (several at once, in one rank).

function requestRank() {
  state.rankWanted = true;
  $('ads-state').textContent = 'ranking…';
  if (!state.ranking) rankLoop();
  updateStatus();
}

async function rankLoop() {
  state.ranking = true;
  try {
    while (state.rankWanted && !state.error) {
      state.rankWanted = false;
      await serial(rankNow); // queued after the records made so far
    }
  } catch (e) {
    showError(e);
  } finally {
    state.ranking = false;
    updateStatus();
  }
}

/** Lets the browser paint ("ranking…") before the CPU is busy ranking. */
const nextPaint = () => new Promise((resolve) => {
  requestAnimationFrame(() => setTimeout(resolve, 0));
  setTimeout(resolve, 100); // a hidden tab has no animation frames
});

async function rankNow() {
  await nextPaint();
  const t0 = performance.now();
  // A model set whose encoder differs from the edge's (?models=teacher) embeds the
  // candidates here instead of failing; the panel's count shows it.
  const ranked = await state.ranker.rank(state.candidates, { k: AD_SLOTS, explain: true, onEncoderMismatch: 'embed' });
  state.lastMs = performance.now() - t0;
  renderAds(ranked);
  renderEngine(state.ranker, state.lastMs);
  renderDeviceWork(state.ranker.debugCounters());
  const events = await refreshPanel();
  $('ads-state').textContent = events.length
    ? `Ranked ${state.candidates.length} promotions against your ${events.length} recorded events in ${Math.round(state.lastMs)} ms, on this device.`
    : `Ranked ${state.candidates.length} promotions in ${Math.round(state.lastMs)} ms. No history yet: browse a little and watch the ads change.`;
}

const candidateById = () => new Map(state.candidates.map((c) => [String(c.id), c]));

function genresOf(item) {
  return state.byId.get(String(item.id))?.genres ?? (item.category ?? '').split(/\s*,\s*/).filter(Boolean);
}

/** The first slot's headline in this device's arm: the title, or the generated
 * variant `rank()` chose for this shopper (`ranked.creative`), with the title after
 * it so the shopper knows what is advertised. Returns [text, creative id]. */
function headlineOf(ad, ranked) {
  const title = ad.title ?? String(ad.id);
  if (state.arm?.label !== 'generated') return [title, 'title'];
  const chosen = (ad.creatives ?? []).find((c) => c.id === ranked.creative);
  return chosen ? [`${chosen.text} — ${title}`, chosen.id] : [title, 'title'];
}

function renderAds(ranked) {
  // The first slot's impression ends when another ad takes it: not clicked.
  const cands = candidateById();
  const top = ranked[0] ? String(ranked[0].id) : null;
  const topCreative = top ? headlineOf(cands.get(top) ?? { id: top }, ranked[0])[1] : null;
  // A new ad, or the same ad with another headline, is a new impression.
  if (state.impression && (state.impression.id !== top || state.impression.creative !== topCreative)) {
    endImpression(false);
  }
  if (top && !state.impression) state.impression = { id: top, creative: topCreative };
  $('ads').replaceChildren(...ranked.map((r, i) => {
    const c = cands.get(String(r.id));
    const item = state.byId.get(String(r.id)) ?? c;
    const whyId = `why-${i}`;
    const open = state.openWhy.has(String(r.id));
    const toggle = el('button', { type: 'button', className: 'why-toggle', textContent: 'Why this ad?' });
    toggle.dataset.action = 'why';
    toggle.setAttribute('aria-expanded', String(open));
    toggle.setAttribute('aria-controls', whyId);
    const why = el('div', { className: 'why', id: whyId, hidden: !open });
    const reasons = r.reasons ?? [];
    if (reasons.length) {
      why.append(el('p', { className: 'muted', textContent: 'The ranker attended most to these items of your history:' }));
      const bars = el('div', { className: 'bars' });
      renderBars(bars, reasons.map((reason) => ({
        label: `${reason.title} (${reason.kind})`, value: reason.weight, text: reason.weight.toFixed(2),
        attrs: { reasonItemId: String(reason.itemId ?? ''), reasonKind: reason.kind },
      })), { max: 1 });
      why.append(bars);
    } else {
      why.append(el('p', { className: 'muted', textContent: 'No history yet: this ad is ranked on what it is alone (its title, genres, popularity and year).' }));
    }
    const headline = i === 0 ? headlineOf(c ?? item ?? { id: r.id }, r)[0] : (c?.title ?? String(r.id));
    const title = el('button', { type: 'button', className: 'link', textContent: headline });
    title.dataset.action = 'ad-click';
    const chips = el('p', { className: 'chips' }, ...genresOf(item ?? {}).map((g) => el('span', {
      className: `chip${g === state.genre ? ' hit' : ''}`, textContent: g,
    })));
    const li = el('li', { className: 'ad' },
      el('div', { className: 'ad-head' }, title,
        el('span', { className: 'ctr', textContent: `CTR ${(r.ctr * 100).toFixed(1)}%`, title: `score ${r.score}` })),
      chips, toggle, why);
    li.dataset.adId = String(r.id);
    li.dataset.rank = String(i + 1);
    if (i === 0) li.dataset.creative = topCreative;
    return li;
  }));
}

$('ads').addEventListener('click', (event) => {
  const button = event.target.closest('button[data-action]');
  const ad = button?.closest('[data-ad-id]');
  if (!ad) return;
  const id = ad.dataset.adId;
  if (button.dataset.action === 'why') {
    const why = ad.querySelector('.why');
    why.hidden = !why.hidden;
    button.setAttribute('aria-expanded', String(!why.hidden));
    if (why.hidden) state.openWhy.delete(id);
    else state.openWhy.add(id);
  } else if (button.dataset.action === 'ad-click') {
    if (state.impression?.id === id) endImpression(true);
    const item = state.byId.get(id) ?? candidateById().get(id);
    record('click', item);
    openProduct(item, { recordView: false, note: 'You clicked an ad: recorded as a click, on this device only.' });
  }
});

// ---------------------------------------------------------------- the experiment

/** Report the first slot's impression: clicked or not, noised on the device and sent
 * by the library to the collector. A spent budget or an absent collector is shown in
 * the panel; neither stops the shop. */
function endImpression(clicked) {
  const shown = state.impression;
  state.impression = null;
  if (!shown || !state.arm?.label) return;
  const options = {
    // The arm, not the variant: which angle this device chose follows from its
    // history, and only the noised click bit is covered by the ε budget.
    experiment: EXPERIMENT.salt, arm: state.arm.label, creative: state.arm.label,
    campaign: shown.id, epsilon: REPORT_EPSILON,
  };
  serial(async () => {
    try {
      const out = await state.ranker.report(clicked, options);
      state.reports.push({ ...out, ok: true });
    } catch (e) {
      if (!['PrivacyBudgetSpent', 'ReportNotSent'].includes(e?.code)) throw e;
      state.reports.push({ ok: false, code: e.code, message: e.message });
    }
    renderReports();
    await refreshEstimates();
  }).catch(showError);
}

/** The privacy panel's reports: each one's whole body, as the collector got it. */
function renderReports() {
  $('report-count').textContent = String(state.reports.filter((r) => r.ok).length);
  $('arm').textContent = state.arm?.label
    ? `${state.arm.label} (${state.arm.label === 'generated' ? 'a generated headline chosen on this device, before the title' : 'the plain title'})`
    : `none: ${state.arm?.why ?? 'not assigned yet'}`;
  const last = state.reports.at(-1);
  if (last) $('budget').textContent = last.ok ? `${last.spent} of ${last.total} ε spent today` : last.message;
  $('reports').replaceChildren(...state.reports.slice().reverse().map((r) => {
    const li = el('li', {}, r.ok
      ? el('pre', { className: 'edge-body', textContent: JSON.stringify(r.report) })
      : el('p', { className: 'muted', textContent: `not sent (${r.code})` }));
    li.dataset.sent = String(r.ok);
    return li;
  }));
}

/** The results box: the collector's estimates for the experiment, as it answers them. */
async function refreshEstimates() {
  let got;
  try {
    const response = await fetch(ESTIMATES);
    got = await response.json();
    if (!response.ok) throw new Error(got?.error?.message ?? `HTTP ${response.status}`);
  } catch (e) {
    $('estimates-state').textContent = `No estimates: the collector did not answer (${e.message}).`;
    return;
  }
  const pct = (x) => `${(x * 100).toFixed(1)}%`;
  $('estimates').tBodies[0].replaceChildren(...got.arms.map((a) => {
    const row = el('tr', {},
      el('th', { scope: 'row', textContent: a.arm }),
      // The estimate is unbiased, so on few reports it can leave [0, 1]; shown clipped.
      el('td', { textContent: pct(Math.min(1, Math.max(0, a.ctr))) }),
      el('td', { textContent: `${pct(a.low)} – ${pct(a.high)}` }),
      el('td', { textContent: String(a.reports) }),
      el('td', { textContent: a.epsilon.join(', ') }));
    row.dataset.arm = a.arm;
    row.dataset.reports = String(a.reports);
    return row;
  }));
  const total = got.arms.reduce((n, a) => n + a.reports, 0);
  $('estimates-state').textContent = total
    ? `${total} reports from every browser that reported today and before; each said "clicked" truthfully only with probability ${(1 / (1 + Math.exp(-REPORT_EPSILON))).toFixed(2)}.`
    : 'No reports yet.';
}

// The impression still shown when the page goes away: keepalive lets the report
// outlive the page.
addEventListener('pagehide', () => endImpression(false));

// ---------------------------------------------------------------- privacy panel

/** Show the stored history, the interest profile and the cart. Runs inside serial(). */
async function refreshPanel() {
  const events = await state.ranker.history();
  $('history-count').textContent = String(events.length);
  renderHistory($('history'), events);
  renderProfile($('profile'), interestProfile(events, state.byId));
  $('cart-count').textContent = String(events.filter((e) => e.kind === 'cart').length);
  const seen = new Set(events.map((e) => String(e.itemId)));
  for (const card of $('products').children) card.classList.toggle('in-history', seen.has(card.dataset.itemId));
  return events;
}

$('forget').addEventListener('click', () => {
  state.openWhy.clear();
  serial(() => state.ranker.forget()).catch(showError);
  requestRank(); // refreshes the panel too
});

// ---------------------------------------------------------------- the shop

const COLORS = ['#2f5fd0', '#8a3ffc', '#d12771', '#1e7b34', '#b35c00', '#0072c3', '#6f6f6f', '#a2191f', '#005d5d'];
const colorOf = (genre) => COLORS[[...genre].reduce((h, ch) => (h * 31 + ch.charCodeAt(0)) >>> 0, 7) % COLORS.length];
const normalise = (s) => s.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();

function matches() {
  const q = normalise(state.query.trim());
  return state.catalog.filter((item) => (!state.genre || item.genres.includes(state.genre)) &&
    (!q || item.search.includes(q)));
}

function renderShelves() {
  const counts = new Map();
  for (const item of state.catalog) for (const g of item.genres) counts.set(g, (counts.get(g) ?? 0) + 1);
  const genres = [...counts.keys()].filter((g) => g !== 'unknown').sort();
  const button = (genre, label) => {
    const b = el('button', { type: 'button', textContent: label });
    b.dataset.genre = genre;
    b.setAttribute('aria-pressed', String(state.genre === genre));
    return b;
  };
  $('shelves').replaceChildren(button('', `All (${state.catalog.length})`),
    ...genres.map((g) => button(g, `${g} (${counts.get(g)})`)));
}

function card(item) {
  const initials = item.title.replace(/\(\d{4}\)$/, '').replace(/^(The|A|An) /, '').split(/\s+/)
    .filter((w) => /\w/.test(w)).slice(0, 2).map((w) => w.replace(/\W/g, '')[0] ?? '').join('').toUpperCase();
  const poster = el('div', { className: 'poster', textContent: initials, ariaHidden: 'true' });
  poster.style.background = colorOf(item.genres[0] ?? '');
  const view = el('button', { type: 'button', className: 'link', textContent: item.title });
  view.dataset.action = 'view';
  const cart = el('button', { type: 'button', textContent: 'Add to cart' });
  cart.dataset.action = 'cart';
  cart.setAttribute('aria-label', `Add ${item.title} to cart`);
  const node = el('article', { className: 'card' }, poster,
    el('h3', {}, view),
    el('p', { className: 'meta', textContent: `${item.year ?? 'year unknown'} · ${item.ratings} ratings` }),
    el('p', { className: 'chips' }, ...item.genres.map((g) => el('span', { className: `chip${g === state.genre ? ' hit' : ''}`, textContent: g }))),
    el('div', { className: 'actions' }, cart));
  node.dataset.itemId = item.id;
  return node;
}

function renderProducts() {
  const found = matches();
  const shown = found.slice(0, state.shown);
  $('products').replaceChildren(...shown.map(card));
  $('result-count').textContent = `${found.length} movie${found.length === 1 ? '' : 's'}` +
    `${state.genre ? ` in ${state.genre}` : ''}${state.query ? ` matching “${state.query}”` : ''}` +
    (found.length > shown.length ? `, showing the ${shown.length} most rated` : '');
  $('more').hidden = found.length <= shown.length;
  $('products').setAttribute('aria-busy', 'false');
}

$('shelves').addEventListener('click', (event) => {
  const b = event.target.closest('button[data-genre]');
  if (!b) return;
  state.genre = b.dataset.genre;
  state.shown = PAGE;
  for (const other of $('shelves').children) other.setAttribute('aria-pressed', String(other === b));
  renderProducts();
});
$('search').addEventListener('input', () => {
  state.query = $('search').value;
  state.shown = PAGE;
  renderProducts();
});
$('search-form').addEventListener('submit', (event) => event.preventDefault());
$('more').addEventListener('click', () => {
  state.shown += PAGE;
  renderProducts();
});

$('products').addEventListener('click', (event) => {
  const button = event.target.closest('button[data-action]');
  const item = state.byId.get(button?.closest('[data-item-id]')?.dataset.itemId);
  if (!item) return;
  if (button.dataset.action === 'view') openProduct(item);
  else if (button.dataset.action === 'cart') record('cart', item);
});

function openProduct(item, { recordView = true, note = '' } = {}) {
  state.current = item;
  $('product').dataset.itemId = item.id;
  $('product-title').textContent = item.title;
  $('product-meta').textContent = `${item.year ?? 'Year unknown'} · ${item.ratings ?? '?'} MovieLens ratings`;
  $('product-genres').replaceChildren(...genresOf(item).map((g) => el('span', { className: 'chip', textContent: g })));
  $('product-note').textContent = note || 'Viewing this recorded a “view” in your on-device history.';
  if (!$('product').open) $('product').showModal();
  if (recordView) record('view', item);
}

$('product-cart').addEventListener('click', () => {
  if (state.current) record('cart', state.current);
  $('product').close();
});

// ---------------------------------------------------------------- start

async function fetchJson(url) {
  let response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw demoError('DemoDataMissing', `could not fetch ${url}: ${e.message}`);
  }
  if (!response.ok) throw demoError('DemoDataMissing', `${url}: HTTP ${response.status}`);
  try {
    return await response.json();
  } catch (e) {
    throw demoError('DemoDataMissing', `${url} is not valid JSON: ${e.message}`);
  }
}

const EDGE_CANDIDATES = '/edge/candidates';

/** The ad server's candidates, ready embedded by the edge worker, asked for by their
 * ids alone: the request body is `{"ids": [...]}` and nothing else, whatever the
 * history holds. Returns what the privacy panel shows: the body sent and either the
 * candidates (`ready`) or why the page embeds them itself (`fallback`). */
async function edgeCandidates(candidates) {
  const body = JSON.stringify({ ids: candidates.map((c) => c.id) });
  const sent = { body };
  let response;
  try {
    response = await fetch(EDGE_CANDIDATES, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  } catch (e) {
    return { ...sent, fallback: `no edge worker answered (${e.message})` };
  }
  let ready;
  try {
    ready = await response.json();
  } catch {
    ready = null;
  }
  if (!response.ok) {
    const why = ready?.error ? `${ready.error.code}: ${ready.error.message}` : `HTTP ${response.status}`;
    return { ...sent, fallback: `the edge worker is not running or refused (${why})` };
  }
  const same = Array.isArray(ready) && ready.length === candidates.length &&
    ready.every((c, i) => String(c?.id) === String(candidates[i].id) && c.embedding && c.encoder);
  if (!same) return { ...sent, fallback: 'the edge worker answered with other candidates than asked for' };
  return { ...sent, ready, embeddedAtEdge: response.headers.get('x-privrank-embedded') ?? 'an unknown number of' };
}

/** The privacy panel's "Promotions" box: the candidate request's body, as sent. */
function renderEdge(edge) {
  $('edge-body').textContent = edge.body;
  $('edge-bytes').textContent = formatBytes(new TextEncoder().encode(edge.body).length);
  const box = $('edge-box');
  box.dataset.source = edge.ready ? 'edge' : 'device';
  $('edge-result').textContent = edge.ready
    ? `The edge worker answered with the ${edge.ready.length} promotions, each with its embedding attached ` +
      `(encoder ${edge.ready[0].encoder.slice(0, 12)}…; the worker embedded ${edge.embeddedAtEdge} new texts for this request, the rest came from its cache).`
    : `Not from the edge: ${edge.fallback}. The promotions from candidates.json are embedded on this device.`;
}

/** How many texts this device's encoder has embedded since the model loaded. */
function renderDeviceWork({ textsEncoded }) {
  $('device-embedded').textContent = String(textsEncoded);
}

async function loadData() {
  const [catalog, candidates] = await Promise.all([fetchJson('./data/catalog.json'), fetchJson('./data/candidates.json')]);
  if (!Array.isArray(catalog?.items) || !Array.isArray(candidates?.candidates) || !candidates.candidates.length) {
    throw demoError('DemoDataMissing', 'www/data/catalog.json or candidates.json has an unexpected shape');
  }
  state.catalog = catalog.items.map((item) => ({
    ...item,
    id: String(item.id),
    genres: item.genres ?? (item.category ?? '').split(/\s*,\s*/).filter(Boolean),
    search: normalise(`${item.title} ${item.category ?? ''}`),
  }));
  state.byId = new Map(state.catalog.map((item) => [item.id, item]));
  if (catalog.source) $('data-source').title = catalog.source;
  $('catalog-count').textContent = state.catalog.length.toLocaleString('en');
  // The shop first: the edge worker embeds the promotions and their creatives, which
  // takes a moment the shelves need not wait for.
  renderShelves();
  renderProducts();
  state.edge = await edgeCandidates(candidates.candidates);
  renderEdge(state.edge);
  state.candidates = state.edge.ready ?? candidates.candidates;
  $('candidate-count').textContent = String(state.candidates.length);
}

function progressRow(file) {
  const id = `progress-${file.replace(/[^\w-]/g, '_')}`;
  let row = document.getElementById(id);
  if (!row) {
    row = el('li', { id }, el('span', { textContent: file }), el('progress', { max: 1, value: 0 }), el('span'));
    row.querySelector('progress').setAttribute('aria-label', `download of ${file}`);
    $('progress').append(row);
  }
  return row;
}

function onProgress({ file, loaded: done, total, cached }) {
  const row = progressRow(file);
  const [, bar, text] = row.children;
  if (cached) {
    bar.max = 1;
    bar.value = 1;
    text.textContent = 'from the cache';
  } else if (total) {
    bar.max = total;
    bar.value = done;
    text.textContent = `${formatBytes(done)} / ${formatBytes(total)}`;
  } else {
    bar.removeAttribute('value');
    text.textContent = formatBytes(done);
  }
  $('load-text').textContent = cached ? `${file} from the cache` : `Downloading the model (once; then it is cached in this browser): ${file}`;
}

/** The model sets the demo offers: the package's own default, or the teacher's set from
 * the repository (its 90 MB weights come from the set-up script's cache). */
const MODEL_SETS = { default: undefined, teacher: new URL('../models/teacher.json', location.href).href };

async function main() {
  const params = new URLSearchParams(location.search);
  const backend = params.get('backend') ?? 'auto';
  const models = params.get('models') ?? 'default';
  if (!(models in MODEL_SETS)) throw demoError('BadOptions', `unknown ?models=${models} (default or teacher)`);
  const data = loadData();
  data.catch(showError); // at once, without waiting for the model
  $('load-text').textContent = `Loading privrank (backend: ${backend})…`;
  let pkg;
  try {
    pkg = await import('../pkg/privrank.js'); // dynamic, so that a missing pkg/ is shown on the page
  } catch (e) {
    throw demoError('PackageMissing', `could not import ../pkg/privrank.js: ${e.message}`);
  }
  await pkg.default();
  const modelUrl = MODEL_SETS[models];
  const ranker = await pkg.Ranker.load({
    backend, onProgress, privacyBudget: PRIVACY_BUDGET, collector: COLLECTOR, ...(modelUrl ? { modelUrl } : {}),
  });
  // For the console and the browser tests: the ranker, and the candidates the page
  // ranks (edge-embedded when the worker answered).
  globalThis.privrank = { ranker, get candidates() { return state.candidates; } };
  await data;
  state.ranker = ranker;
  try {
    const forced = EXPERIMENT.arms.find((a) => a.label === params.get('arm'));
    state.arm = { label: forced ? forced.label : await ranker.arm(EXPERIMENT) };
  } catch (e) {
    if (e?.code !== 'ArmLimit') throw e;
    state.arm = { why: e.message };
  }
  renderReports();
  refreshEstimates();
  renderEngine(ranker, null);
  $('forget').disabled = false;
  $('load').hidden = true;
  loaded();
  requestRank(); // also fills the panel
}

main().catch(showError);
