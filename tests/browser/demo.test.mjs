// End-to-end test of the demo storefront (www/index.html) in headless Chromium, CPU
// backend (--disable-gpu), served as `scripts/demo` serves it: the page server with the
// edge worker (workerd) behind POST /edge/*. The promotions arrive embedded, so the
// first ranking embeds nothing on the device; browse ten Sci-Fi movies, watch the ad
// slot move, open "why this ad", take screenshots, audit every request the browser made
// (and prove the audit catches a deliberate leak), watch the first slot's experiment send
// noised reports and get estimates back, "Forget me", and rank with no edge.
//   node --test --test-concurrency=1 tests/browser/demo.test.mjs
// Needs a built pkg/ and the generated demo data (www/data/catalog.json, candidates.json:
// `node scripts/demo-data.mjs`). Without the data it skips, unless PRIVRANK_REQUIRE_DEMO
// is set (then it fails). Screenshots go to target/e2e/.
// Env: CHROMIUM (default /usr/bin/chromium); PRIVRANK_SERVE_ROOT (default the repository).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM, LOAD_MS, QUIET, REPO, ROOT, TEST, startEdge, startServer } from './harness.mjs';

const SHOTS = join(REPO, 'target', 'e2e');
const RANK_MS = 120_000;

// The browsing session: the ten most-rated Sci-Fi movies that are not among the promoted
// candidates, in this order. Every 3rd one (2nd, 5th, 8th) is also added to the cart.
const GENRE = 'Sci-Fi';
const BROWSE = ['ml-222', 'ml-257', 'ml-195', 'ml-96', 'ml-176', 'ml-82', 'ml-135', 'ml-228', 'ml-179', 'ml-235'];
const CART_EVERY = 3;

const CATALOG = join(ROOT, 'www', 'data', 'catalog.json');
const CANDIDATES = join(ROOT, 'www', 'data', 'candidates.json');
const required = ![undefined, '', '0'].includes(process.env.PRIVRANK_REQUIRE_DEMO);
const SKIP = !existsSync(CATALOG) && !required
  ? 'www/data/catalog.json is missing: generate it with `node scripts/demo-data.mjs` (set PRIVRANK_REQUIRE_DEMO=1 to make this a failure)'
  : false;
if (SKIP) console.log(`demo.test.mjs: SKIPPED — ${SKIP}`);
const T = { ...TEST, skip: SKIP };

// ---------------------------------------------------------------- the network audit

const decode = (s) => {
  let out = s;
  for (let i = 0; i < 3; i++) { // undo up to three rounds of URL encoding
    try {
      const next = decodeURIComponent(out.replace(/\+/g, ' '));
      if (next === out) break;
      out = next;
    } catch {
      break;
    }
  }
  return out;
};
const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Where `secret` occurs in `text`: case-insensitively, and for item ids ("ml-50") only as
 *  a whole token, so that "ml-50" is not found inside "ml-500". */
function contains(text, secret) {
  if (!text || !secret) return false;
  if (/^ml-\d+$/.test(secret)) return new RegExp(`(?<![\\w-])${escapeRe(secret)}(?!\\d)`, 'i').test(text);
  return text.toLowerCase().includes(secret.toLowerCase());
}

/** The one request with a body the page may make: the promotions by their ids. */
const EDGE_PATH = '/edge/candidates';
const edgeBody = () => JSON.stringify({ ids: candidates.map((c) => c.id) });

/** Is `r` the candidate request with exactly the body the ad server's list dictates
 * (its ids, in its order, nothing else)? Its body is then known to hold no history,
 * even where a clicked promotion's id is also a history item. */
const isEdgeRequest = (r, origin) => r.method === 'POST' && r.url === `${origin}${EDGE_PATH}` &&
  r.body?.toString('utf8') === edgeBody();

/** The ad slot's experiment reports: POST /edge/report, whose body is a noised report
 * of the demo's experiment about one of the ad server's promotions (its labels, the
 * day, ε and the noised bit) and nothing else. */
const REPORT_PATH = '/edge/report';
const REPORT_KEYS = ['arm', 'campaign', 'clicked', 'creative', 'day', 'epsilon', 'experiment'];
function reportBody(r, origin) {
  if (r.method !== 'POST' || r.url !== `${origin}${REPORT_PATH}`) return null;
  let body;
  try {
    body = JSON.parse(r.body?.toString('utf8'));
  } catch {
    return null;
  }
  const ok = body !== null && typeof body === 'object' && Object.keys(body).sort().join() === REPORT_KEYS.join() &&
    body.experiment === 'demo-headline' && ['title', 'generated'].includes(body.arm) && body.creative === body.arm &&
    candidates.some((c) => String(c.id) === body.campaign) && /^\d{4}-\d{2}-\d{2}$/.test(body.day) &&
    body.epsilon === 0.5 && typeof body.clicked === 'boolean';
  return ok ? body : null;
}

/**
 * Audit the requests a browser made: `requests` are {url, method, headers, body (Buffer or
 * null)}, `secrets` strings that must not leave the page (item ids, titles, event JSON),
 * `origin` the local server's. Returns findings (strings); none means nothing leaked.
 * Checked: the origin; the method (GET/HEAD only, but for the candidate request and the
 * experiment's reports) and the absence of a body (the candidate request's must be its
 * ids exactly, a report's a noised report of the demo's experiment); the URL (raw and
 * decoded), the header names and values and the body for every secret.
 */
export function audit(requests, secrets, origin) {
  const findings = [];
  for (const raw of requests) {
    const known = isEdgeRequest(raw, origin) || reportBody(raw, origin) !== null;
    const r = known ? { ...raw, method: 'GET', body: null } : raw;
    const what = `${r.method} ${r.url}`;
    let url;
    try {
      url = new URL(r.url);
    } catch {
      findings.push(`${what}: unparseable URL`);
      continue;
    }
    const local = url.protocol === 'data:' || url.protocol === 'blob:'; // never leave the page
    if (!local && url.origin !== origin) findings.push(`${what}: goes to ${url.origin}, not the local server ${origin}`);
    if (r.method !== 'GET' && r.method !== 'HEAD') findings.push(`${what}: method ${r.method} (only GET/HEAD)`);
    const body = r.body && r.body.length ? r.body.toString('utf8') : '';
    if (body) findings.push(`${what}: has a ${r.body.length}-byte body`);
    const headers = Object.entries(r.headers ?? {}).map(([k, v]) => `${k}: ${v}`).join('\n');
    const places = {
      URL: r.url,
      'decoded URL': decode(r.url),
      headers,
      'decoded headers': decode(headers),
      body,
      'decoded body': decode(body),
    };
    for (const secret of secrets) {
      for (const [where, text] of Object.entries(places)) {
        if (contains(text, secret)) {
          findings.push(`${what}: ${where} contains ${JSON.stringify(secret.length > 80 ? `${secret.slice(0, 80)}…` : secret)}`);
          break; // one finding per secret and request
        }
      }
    }
  }
  return findings;
}

/** The same over the server's --log lines ({method, url, status, bytes} JSON). */
function auditLog(lines, secrets) {
  const findings = [];
  for (const line of lines) {
    const { method, url } = JSON.parse(line);
    const edge = method === 'POST' && (url === EDGE_PATH || url === REPORT_PATH);
    if (method !== 'GET' && method !== 'HEAD' && !edge) findings.push(`server log: ${line}: method ${method}`);
    for (const secret of secrets) {
      if (contains(line, secret) || contains(decode(line), secret)) findings.push(`server log: ${line}: contains ${JSON.stringify(secret.slice(0, 80))}`);
    }
  }
  return findings;
}

/** Secrets of a history: each event's id, title and JSON. */
const secretsOf = (events) => [...new Set(events.flatMap((e) => [String(e.itemId), e.title, JSON.stringify(e)]))];

// ---------------------------------------------------------------- harness

const tmp = mkdtempSync(join(tmpdir(), 'privrank-demo-'));
const logFile = join(tmp, 'requests.jsonl');
let server = null; // {child, url, origin}
let edgeWorker = null; // {child, url}
let context = null;
let page = null;
const recorded = []; // promises of {url, method, headers, body}
const responses = []; // promises of {url, status, headers}
const websockets = [];
const violations = [];
const problems = []; // page errors and console errors
let leaking = false;
const shared = {}; // what one test leaves the next
let catalog;
let byId;
let candidates;

const serverLog = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').filter(Boolean) : []);

const expectErrors = new WeakSet(); // pages meant to fail
function watchPage(p) {
  p.on('websocket', (ws) => websockets.push(ws.url()));
  p.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  p.on('console', (m) => {
    if (expectErrors.has(p)) return;
    if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
    const leakAnswer = leaking && /Failed to load resource: the server responded with a status of 40[45]/.test(m.text());
    if (m.type() === 'error' && !leakAnswer) problems.push(`console.error: ${m.text()}`);
  });
}

async function launch() {
  const ctx = await chromium.launchPersistentContext(join(tmp, 'profile'), {
    executablePath: CHROMIUM, headless: true, args: [...QUIET, '--disable-gpu'],
    viewport: { width: 1280, height: 900 },
  });
  // The context sees every request of its pages and of their dedicated workers.
  ctx.on('request', (request) => {
    recorded.push((async () => ({
      url: request.url(),
      method: request.method(),
      headers: await request.allHeaders().catch(() => request.headers()),
      body: request.postDataBuffer(),
    }))());
  });
  ctx.on('response', (response) => {
    responses.push((async () => ({
      url: response.url(), status: response.status(),
      headers: await response.allHeaders().catch(() => response.headers()),
    }))());
  });
  ctx.on('page', watchPage);
  for (const p of ctx.pages()) watchPage(p);
  return ctx;
}

/** Wait until the page says ready (or error), with the page's state in the failure. */
async function waitReady(p, what, timeout = RANK_MS) {
  try {
    // A selector, not waitForFunction: it needs no eval under the page's CSP.
    await p.waitForSelector('body[data-status="ready"], body[data-status="error"]', { state: 'attached', timeout });
  } catch {
    throw new Error(`${what}: not ready within ${timeout / 1000} s: ${JSON.stringify(await pageState(p).catch(String))}\n${problems.join('\n')}`);
  }
  const s = await pageState(p);
  assert.equal(s.status, 'ready', `${what}: ${JSON.stringify(s)}\n${problems.join('\n')}`);
  return s;
}

const pageState = (p) => p.evaluate(() => ({
  status: document.body.dataset.status,
  error: document.getElementById('error')?.hidden ? null : document.getElementById('error')?.textContent.trim(),
  load: document.getElementById('load-text')?.textContent,
  ads: document.getElementById('ads-state')?.textContent,
}));

/** The ad slot, best first: [{id, title, genres}] with genres from the catalog. */
async function ads(p) {
  const ids = await p.locator('#ads [data-ad-id]').evaluateAll((nodes) => nodes.map((n) => n.dataset.adId));
  return ids.map((id) => ({ id, title: byId.get(id)?.title, genres: byId.get(id)?.genres ?? [] }));
}
const inGenre = (list) => list.filter((a) => a.genres.includes(GENRE)).length;
const showAds = (list) => list.map((a) => `${a.title} [${a.genres.join(', ')}]`).join(' | ');

before(async () => {
  if (SKIP) return;
  const missing = ['pkg/privrank.js', 'pkg/privrank_core_bg.wasm', 'pkg/models/default.json', 'www/index.html',
    'www/data/catalog.json', 'www/data/candidates.json'].filter((f) => !existsSync(join(ROOT, f)));
  if (missing.length) {
    throw new Error(`not built: ${missing.join(', ')} missing under ${ROOT}; build pkg/ (bash scripts/build-pkg) and the demo data (node scripts/demo-data.mjs)`);
  }
  catalog = JSON.parse(readFileSync(CATALOG, 'utf8'));
  candidates = JSON.parse(readFileSync(CANDIDATES, 'utf8')).candidates;
  byId = new Map(catalog.items.map((item) => [String(item.id), item]));
  for (const id of BROWSE) {
    assert.ok(byId.get(id)?.genres.includes(GENRE), `${id} is not a ${GENRE} movie of the catalog; update BROWSE`);
  }
  mkdirSync(SHOTS, { recursive: true });
  edgeWorker = await startEdge(CANDIDATES);
  server = await startServer(logFile, ROOT, { edge: edgeWorker.url });
  context = await launch();
});

after(async () => {
  await context?.close().catch(() => {});
  if (server) process.kill(server.child.pid);
  if (edgeWorker) process.kill(edgeWorker.child.pid);
  rmSync(tmp, { recursive: true, force: true });
});

/** The default encoder's weights file, as the package's model set names it. */
function defaultWeightsFile() {
  const models = join(ROOT, 'pkg', 'models');
  const set = JSON.parse(readFileSync(join(models, 'default.json'), 'utf8'));
  return JSON.parse(readFileSync(join(models, set.encoder.manifest), 'utf8')).files.weights.name;
}

// ---------------------------------------------------------------- tests

test('the storefront loads the model, shows its data source and ranks the ad slot (CPU)', T, async () => {
  page = await context.newPage();
  const t0 = Date.now();
  const response = await page.goto(new URL('/www/', server.url).href);
  // The demo's Content Security Policy: only its own origin may be contacted, and
  // WebAssembly compiles without allowing eval.
  const csp = (await response.allHeaders())['content-security-policy'] ?? '';
  assert.match(csp, /(^|;)\s*connect-src 'self'\s*(;|$)/, csp);
  assert.match(csp, /script-src 'self' 'wasm-unsafe-eval'/, csp);
  assert.doesNotMatch(csp, /'unsafe-eval'/, csp);
  await waitReady(page, '/www/ (first load)', LOAD_MS);
  console.log(`first load (model download + wasm compile + first rank): ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  const shown = await page.evaluate(() => ({
    notice: document.getElementById('notice').textContent.replace(/\s+/g, ' '),
    backend: globalThis.privrank?.ranker?.backend,
    fallback: globalThis.privrank?.ranker?.modelInfo?.fallbackReason,
    backendShown: document.getElementById('backend').textContent,
    latency: document.getElementById('latency').textContent,
    progress: [...document.querySelectorAll('#progress li')].map((li) => li.textContent),
    products: document.querySelectorAll('#products [data-item-id]').length,
    shelves: [...document.querySelectorAll('#shelves [data-genre]')].map((b) => b.dataset.genre),
    history: document.querySelectorAll('#history li').length,
    edgeSource: document.getElementById('edge-box').dataset.source,
    edgeBody: document.getElementById('edge-body').textContent,
    deviceEmbedded: document.getElementById('device-embedded').textContent,
    counters: globalThis.privrank.ranker.debugCounters(),
  }));
  assert.match(shown.notice, /MovieLens 100K, GroupLens Research, University of Minnesota — for research use/);
  assert.match(shown.notice, /stays on this device/i);
  assert.equal(shown.backend, 'cpu', 'with --disable-gpu the CPU backend runs');
  assert.match(shown.backendShown, /^cpu/);
  assert.ok(shown.fallback, 'auto without an adapter says why it fell back');
  assert.match(shown.latency, /^\d+ ms$/);
  const weightsFile = defaultWeightsFile();
  assert.ok(shown.progress.some((t) => t.includes(weightsFile)), `download progress of ${weightsFile}: ${shown.progress}`);
  assert.ok(shown.products > 0 && shown.shelves.includes(GENRE), 'the shop shows products and genre shelves');
  assert.equal(shown.history, 0, 'a fresh profile has no history');
  console.log(`backend ${shown.backend} (${shown.fallback}); first rank ${shown.latency}`);
  // The promotions came from the edge worker, asked for by id, and arrived embedded:
  // the first ranking ran the device's encoder on none of them.
  assert.equal(shown.edgeSource, 'edge', 'the promotions came from the edge worker');
  assert.equal(shown.edgeBody, edgeBody(), 'the panel shows the candidate request\'s body: the ids alone');
  assert.deepEqual(shown.counters, { textsEncoded: 0, encoderBuilt: false }, 'the first ranking embedded no candidate on the device, nor built the encoder');
  assert.equal(shown.deviceEmbedded, '0');
  const edgeRequests = (await Promise.all(recorded)).filter((r) => new URL(r.url).pathname === EDGE_PATH);
  assert.equal(edgeRequests.length, 1, 'one candidate request');
  assert.ok(isEdgeRequest(edgeRequests[0], server.origin),
    `the candidate request is a POST whose body is the candidate ids only: ${edgeRequests[0].method} ${edgeRequests[0].body}`);
  await page.waitForSelector(`#net tbody tr[data-url="${server.origin}${EDGE_PATH}"]`, { state: 'attached', timeout: 10_000 });

  const before = await ads(page);
  assert.equal(before.length, 3, 'three ads');
  const candidateIds = new Set(candidates.map((c) => String(c.id)));
  for (const ad of before) assert.ok(candidateIds.has(ad.id) && ad.title, `ad ${ad.id} is a candidate of the catalog`);
  shared.before = before;
  console.log(`ads before browsing: ${showAds(before)}`);
});

test(`browsing ten ${GENRE} movies re-ranks the ads toward ${GENRE}`, T, async () => {
  assert.ok(shared.before, 'the storefront did not load');
  await page.click(`#shelves button[data-genre="${GENRE}"]`);
  assert.equal(await page.getAttribute(`#shelves button[data-genre="${GENRE}"]`, 'aria-pressed'), 'true');
  const shelf = await page.locator('#products [data-item-id]').evaluateAll((n) => n.map((x) => x.dataset.itemId));
  assert.ok(shelf.length > 0 && shelf.every((id) => byId.get(id).genres.includes(GENRE)), 'the shelf shows only its genre');

  const t0 = Date.now();
  const steps = [];
  for (const [i, id] of BROWSE.entries()) {
    const item = byId.get(id);
    await page.fill('#search', item.title);
    await page.click(`#products [data-item-id="${id}"] button[data-action="view"]`);
    await page.waitForSelector(`#product[open][data-item-id="${id}"]`);
    if (i % CART_EVERY === 1) await page.click('#product-cart');
    else await page.click('#product-close');
    await waitReady(page, `after browsing ${item.title}`);
    const now = await ads(page);
    steps.push(now);
    console.log(`  ${String(i + 1).padStart(2)}. ${i % CART_EVERY === 1 ? 'view+cart' : 'view     '} ${item.title.padEnd(36)} → ads: ${now.map((a) => a.title).join(' | ')}`);
  }
  await page.fill('#search', '');
  const seconds = (Date.now() - t0) / 1000;

  const history = await page.evaluate(() => globalThis.privrank.ranker.history());
  const expected = BROWSE.flatMap((id, i) => (i % CART_EVERY === 1 ? [['view', id], ['cart', id]] : [['view', id]]));
  assert.deepEqual(history.map((e) => [e.kind, e.itemId]), expected, 'the history is what was browsed, in order');
  for (const e of history) {
    const item = byId.get(e.itemId);
    assert.deepEqual({ title: e.title, category: e.category }, { title: item.title, category: item.category },
      'events carry the catalog title and category (the ranker was trained on that text)');
  }
  const panel = await page.locator('#history li').evaluateAll((n) => n.map((x) => [x.dataset.kind, x.dataset.itemId]));
  assert.deepEqual(panel, [...expected].reverse(), 'the history panel lists the history, newest first');
  assert.equal(await page.textContent('#cart-count'), String(expected.filter(([k]) => k === 'cart').length));
  const profile = await page.locator('#profile [data-genre]').evaluateAll((n) => n.map((x) => x.dataset.genre));
  assert.equal(profile[0], GENRE, `the interest profile is led by ${GENRE}: ${profile}`);
  // The device embedded the history's items (a cart of a viewed item is the same text)
  // and still no promotion.
  const work = await page.evaluate(() => ({
    counters: globalThis.privrank.ranker.debugCounters(), shown: document.getElementById('device-embedded').textContent,
  }));
  assert.deepEqual(work, { counters: { textsEncoded: BROWSE.length, encoderBuilt: true }, shown: String(BROWSE.length) },
    'the device embedded the browsed items only');

  const before = shared.before;
  const afterAds = await ads(page);
  console.log(`browsed ${BROWSE.length} ${GENRE} movies (${history.length} events) in ${seconds.toFixed(1)} s, re-ranked after each`);
  console.log(`ads before: ${showAds(before)}  (${inGenre(before)}/3 ${GENRE})`);
  console.log(`ads after:  ${showAds(afterAds)}  (${inGenre(afterAds)}/3 ${GENRE})`);
  console.log(`interest profile: ${profile.slice(0, 5).join(', ')}`);
  assert.notDeepEqual(afterAds.map((a) => a.id), before.map((a) => a.id), 'the ad slot changed');
  assert.ok(inGenre(afterAds) > inGenre(before), `more ${GENRE} ads after browsing ${GENRE} (${inGenre(before)} → ${inGenre(afterAds)})`);
  assert.ok(inGenre(afterAds) >= 2, `at least 2 of 3 ads are ${GENRE} after browsing ${GENRE}`);
  shared.history = history;
  shared.after = afterAds;
});

test('"why this ad" names items of the browsing history; screenshots; CJK renders', T, async () => {
  assert.ok(shared.after, 'browsing did not run');
  await page.screenshot({ path: join(SHOTS, 'storefront.png'), fullPage: true });

  const first = page.locator('#ads li[data-rank="1"]');
  await first.locator('button[data-action="why"]').click();
  assert.equal(await first.locator('button[data-action="why"]').getAttribute('aria-expanded'), 'true');
  await first.locator('.why').waitFor({ state: 'visible' });
  const reasons = await first.locator('.why [data-reason-item-id]').evaluateAll((rows) => rows.map((r) => ({
    itemId: r.dataset.reasonItemId, kind: r.dataset.reasonKind, label: r.querySelector('.label').textContent,
    width: r.querySelector('.fill').style.width,
  })));
  const browsedTitles = BROWSE.map((id) => byId.get(id).title);
  console.log(`why "${shared.after[0].title}": ${reasons.map((r) => `${r.label} ${r.width}`).join('; ')}`);
  assert.ok(reasons.length > 0, 'the first ad has reasons');
  for (const r of reasons) {
    assert.ok(BROWSE.includes(r.itemId), `reason ${JSON.stringify(r)} is a browsed item`);
    assert.ok(browsedTitles.some((t) => r.label.startsWith(t)), `reason ${JSON.stringify(r)} shows a browsed title`);
    assert.ok(['view', 'cart'].includes(r.kind));
    assert.match(r.width, /^\d+(\.\d+)?%$/);
  }
  await first.screenshot({ path: join(SHOTS, 'why-this-ad.png') });
  await page.locator('#privacy').screenshot({ path: join(SHOTS, 'privacy-panel.png') });

  // The subtitle is Chinese: two different characters in the page's font must draw two
  // different, non-empty glyphs (missing-glyph boxes would be identical).
  assert.ok(await page.isVisible('#subtitle'), 'the Chinese subtitle is visible');
  const cjk = await page.evaluate(() => {
    const style = getComputedStyle(document.getElementById('subtitle'));
    const draw = (ch) => {
      const canvas = document.createElement('canvas');
      canvas.width = canvas.height = 48;
      const g = canvas.getContext('2d');
      g.font = `40px ${style.fontFamily}`;
      g.fillStyle = '#000';
      g.textBaseline = 'top';
      g.fillText(ch, 4, 4);
      return g.getImageData(0, 0, 48, 48).data;
    };
    const a = draw('端');
    const b = draw('序');
    let inkA = 0;
    let inkB = 0;
    let diff = 0;
    for (let i = 3; i < a.length; i += 4) {
      inkA += a[i] > 0;
      inkB += b[i] > 0;
      diff += a[i] !== b[i];
    }
    return { font: style.fontFamily, inkA, inkB, diff, text: document.getElementById('subtitle').textContent };
  });
  console.log(`CJK: "${cjk.text}" in ${cjk.font}: ink ${cjk.inkA}/${cjk.inkB} px, ${cjk.diff} px differ`);
  assert.ok(cjk.inkA > 20 && cjk.inkB > 20, `CJK glyphs are drawn: ${JSON.stringify(cjk)}`);
  assert.ok(cjk.diff > 20, `two CJK characters draw differently (no missing-glyph boxes): ${JSON.stringify(cjk)}`);

  // The same page on a narrow (phone) screen.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(SHOTS, 'storefront-narrow.png'), fullPage: false });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 1, `no horizontal scrolling on a 390 px screen (overflow ${overflow} px)`);
  await page.setViewportSize({ width: 1280, height: 900 });
  console.log(`screenshots: ${SHOTS}/{storefront,why-this-ad,privacy-panel,storefront-narrow}.png`);
});

test('clicking an ad records a click (on the device) and re-ranks', T, async () => {
  assert.ok(shared.after, 'browsing did not run');
  const ad = shared.after[0];
  await page.click('#ads li[data-rank="1"] button[data-action="ad-click"]');
  await page.waitForSelector(`#product[open][data-item-id="${ad.id}"]`);
  await page.click('#product-close');
  await waitReady(page, 'after an ad click');
  const history = await page.evaluate(() => globalThis.privrank.ranker.history());
  const last = history.at(-1);
  assert.deepEqual([last.kind, last.itemId, last.title], ['click', ad.id, ad.title]);
  assert.equal(history.length, shared.history.length + 1, 'an ad click records one event (no view)');
  shared.history = history;
  console.log(`ad click recorded; ads now: ${showAds(await ads(page))}`);
});

test('the first slot\'s experiment: impressions leave as noised reports, and the collector\'s estimates come back', T, async () => {
  assert.ok(shared.history, 'browsing did not run');
  // The click above ended the first slot's impression: its report is in the panel.
  await page.waitForSelector('#reports li[data-sent="true"]', { state: 'attached', timeout: 10_000 });
  await waitReady(page, 'after the reports');
  const panel = await page.evaluate(() => ({
    arm: document.getElementById('arm').textContent,
    bodies: [...document.querySelectorAll('#reports li[data-sent="true"] pre')].map((p) => p.textContent).reverse(),
    count: document.getElementById('report-count').textContent,
  }));
  const sent = (await Promise.all(recorded)).filter((r) => new URL(r.url).pathname === REPORT_PATH);
  const bodies = sent.map((r) => reportBody(r, server.origin));
  console.log(`experiment: arm ${panel.arm}; ${sent.length} reports sent, e.g. ${sent[0]?.body}`);
  assert.ok(sent.length >= 1, 'no report was sent');
  assert.ok(bodies.every(Boolean), `a report request is not a noised report alone: ${sent.map((r) => r.body).join(' ')}`);
  // The panel shows every report's whole body, as it went out.
  assert.equal(panel.count, String(sent.length));
  assert.deepEqual(panel.bodies.map((b) => JSON.parse(b)), bodies);
  assert.ok(bodies.some((b) => b.campaign === shared.after[0].id), 'the clicked ad\'s impression was reported');
  assert.ok(bodies.every((b) => b.arm === panel.arm.split(' ')[0]), 'every report names this browser\'s arm');
  // The collector counted them all and answers estimates for the arm.
  await page.waitForSelector(`#estimates tbody tr[data-reports="${sent.length}"]`, { state: 'attached', timeout: 10_000 });
  const row = await page.evaluate(() => [...document.querySelectorAll('#estimates tbody tr')].map((tr) => tr.textContent));
  console.log(`estimates shown: ${row.join(' | ')}`);
});

test('network audit: every request went to the local server, as GET, carrying nothing of the history', T, async () => {
  assert.ok(shared.history, 'browsing did not run');
  const requests = await Promise.all(recorded);
  const secrets = secretsOf(shared.history);
  assert.ok(secrets.length >= 20, `secrets: ${secrets.length}`);
  const findings = audit(requests, secrets, server.origin);
  assert.deepEqual(findings, [], 'audit findings');
  assert.deepEqual(websockets, [], 'WebSockets opened');
  assert.deepEqual(violations, [], 'Content Security Policy violations');
  assert.deepEqual(problems, [], 'page errors');
  const setCookie = (await Promise.all(responses)).filter((r) => 'set-cookie' in r.headers);
  assert.deepEqual(setCookie.map((r) => r.url), [], 'responses setting cookies');

  // The server saw the same: only GET/HEAD, no secret; and nothing the browser hooks missed.
  const log = serverLog();
  assert.deepEqual(auditLog(log, secrets), [], 'server log findings');
  const seen = new Set(requests.map((r) => { const u = new URL(r.url); return u.pathname + u.search; }));
  const unseen = log.map((l) => JSON.parse(l)).filter((e) => !seen.has(e.url) && e.url !== '/favicon.ico');
  assert.deepEqual(unseen, [], 'requests the server logged that the browser hooks missed');

  // What was fetched: the page, its data, the package and the model: nothing else.
  const paths = [...new Set(requests.map((r) => new URL(r.url).pathname))].sort();
  const other = paths.filter((p) => !/^\/www\/([\w-]+\.(html|js|css))?$/.test(p) && !/^\/www\/data\/[\w-]+\.json$/.test(p) &&
    !p.startsWith('/pkg/') && ![EDGE_PATH, REPORT_PATH, '/edge/estimates'].includes(p));
  assert.deepEqual(other, [], 'requests for anything but page files, demo data, pkg/, the candidate request and the experiment');
  // The privacy panel lists the same requests and flags none of them.
  const panel = await page.locator('#net tbody tr').evaluateAll((rows) => rows.map((r) => ({
    url: r.dataset.url, what: r.dataset.what, unexpected: r.classList.contains('unexpected'),
    size: Number(r.dataset.encodedBodySize), decoded: Number(r.dataset.decodedBodySize),
  })));
  assert.deepEqual(panel.filter((r) => r.unexpected), [], 'requests the privacy panel flags');
  for (const path of ['/www/data/catalog.json', '/www/data/candidates.json', '/pkg/privrank_core_bg.wasm', '/pkg/models/default.json', EDGE_PATH]) {
    assert.ok(panel.some((r) => new URL(r.url).pathname === path && r.size > 0), `the privacy panel lists ${path} with its size`);
  }
  // Its sizes are honest: the server compresses (Chromium offers br), so the panel shows
  // the body as transferred, the same count as the server's log, smaller than the file
  // for the big compressible ones; and the decompressed size is the file's size.
  const logged = log.map((l) => JSON.parse(l));
  for (const path of ['/www/data/catalog.json', '/pkg/privrank_core_bg.wasm']) {
    const size = statSync(join(ROOT, path)).size;
    const rows = panel.filter((r) => new URL(r.url).pathname === path);
    assert.ok(rows.some((r) => r.decoded === size && r.size > 0 && r.size < size),
      `the privacy panel shows ${path} (${size} B) compressed: ${JSON.stringify(rows)}`);
    assert.ok(rows.some((r) => logged.some((e) => new URL(e.url, 'http://x').pathname === path && e.method === 'GET' && e.status === 200 &&
      e.encoding !== 'identity' && e.bytes === r.size)),
    `the server log has ${path} compressed, at the size the panel shows: ${JSON.stringify(logged.filter((e) => new URL(e.url, 'http://x').pathname === path))}`);
  }
  const summary = await page.locator('#net-summary').textContent();
  assert.match(summary, /transferred \(compressed/, `the privacy panel's summary: ${summary}`);
  console.log(`audit: ${requests.length} requests, ${paths.length} distinct paths, ${secrets.length} secrets, ` +
    `${log.length} server log lines, ${panel.length} rows in the privacy panel: no findings`);
});

test('the audit catches a deliberate leak (POST of the history, GET pixel with a title)', T, async () => {
  assert.ok(shared.history, 'browsing did not run');
  const title = shared.history[0].title;
  const from = recorded.length;
  const logFrom = serverLog().length;
  leaking = true; // the console will show the server's 405 and 404
  const statuses = await page.evaluate(async (t) => {
    const post = await fetch('/collect', { method: 'POST', body: JSON.stringify(await globalThis.privrank.ranker.history()) });
    const pixel = await fetch(`/pixel?t=${encodeURIComponent(t)}`);
    // Read the answers: Resource Timing (the privacy panel) lists a fetch once its body is read.
    await post.text();
    await pixel.text();
    return [post.status, pixel.status];
  }, title);
  const leaked = await Promise.all(recorded.slice(from));
  const findings = audit(leaked, secretsOf(shared.history), server.origin);
  const brief = [...findings.filter((f) => !f.includes(' body contains ')), ...findings.filter((f) => f.includes(' body contains ')).slice(0, 3)];
  console.log(`leak: server answered ${statuses}; ${findings.length} audit findings, among them:\n    ${brief.join('\n    ')}`);
  assert.ok(findings.some((f) => f.startsWith(`POST ${server.origin}/collect: method POST`)), 'the POST is caught');
  assert.ok(findings.some((f) => f.startsWith(`POST ${server.origin}/collect: body contains`)), 'the history in its body is caught');
  assert.ok(findings.some((f) => f.startsWith(`GET ${server.origin}/pixel?`) && f.includes('decoded URL contains')), 'the title in the pixel URL is caught');
  const logFindings = auditLog(serverLog().slice(logFrom), secretsOf(shared.history));
  assert.ok(logFindings.some((f) => f.includes('/collect') && f.includes('method POST')), `server log: ${logFindings}`);
  assert.ok(logFindings.some((f) => f.includes('/pixel')), `server log: ${logFindings}`);
  // The privacy panel flags both too.
  await page.waitForSelector('#net tr.unexpected[data-url*="/pixel"]', { state: 'attached', timeout: 10_000 });
  const flagged = await page.locator('#net tr.unexpected').evaluateAll((rows) => rows.map((r) => new URL(r.dataset.url).pathname));
  assert.deepEqual(flagged.sort(), ['/collect', '/pixel'], 'the privacy panel flags the leak');
});

test('"Forget me" erases the history, for good', T, async () => {
  assert.ok(shared.history, 'browsing did not run');
  await page.click('#forget');
  await waitReady(page, 'after Forget me');
  assert.equal(await page.locator('#history li').count(), 0, 'the history panel is empty');
  await page.reload();
  await waitReady(page, 'reload after Forget me', LOAD_MS);
  const got = await page.evaluate(async () => ({
    history: await globalThis.privrank.ranker.history(),
    panel: document.querySelectorAll('#history li').length,
    count: document.getElementById('history-count').textContent,
    cart: document.getElementById('cart-count').textContent,
    profile: document.querySelectorAll('#profile [data-genre]').length,
  }));
  assert.deepEqual(got, { history: [], panel: 0, count: '0', cart: '0', profile: 0 });
  const adsNow = await ads(page);
  console.log(`after Forget me + reload: history empty; ads: ${showAds(adsNow)}`);
  assert.deepEqual(adsNow.map((a) => a.id), shared.before.map((a) => a.id), 'the ads are those of an empty history again');
  assert.deepEqual(problems, [], 'page errors');
});

test('the generated arm shows the headline variant rank() chose for this history', T, async () => {
  const p = await context.newPage();
  await p.goto(new URL('/www/?arm=generated', server.url).href);
  await waitReady(p, '/www/?arm=generated', LOAD_MS);
  // The same browser's history (a fresh one after "Forget me": browse two films).
  for (const id of BROWSE.slice(0, 2)) {
    await p.fill('#search', byId.get(id).title);
    await p.click(`#products [data-item-id="${id}"] button[data-action="view"]`);
    await p.waitForSelector(`#product[open][data-item-id="${id}"]`);
    await p.click('#product-close');
    await waitReady(p, `after viewing ${id}`);
  }
  const shown = await p.evaluate(async () => {
    const first = document.querySelector('#ads li[data-rank="1"]');
    // What the page ranked (edge-embedded promotions), ranked again by the library.
    const ranked = await globalThis.privrank.ranker.rank(globalThis.privrank.candidates, { k: 3 });
    return {
      id: first.dataset.adId, creative: first.dataset.creative,
      text: first.querySelector('button[data-action="ad-click"]').textContent,
      ranked: ranked[0], arm: document.getElementById('arm').textContent,
    };
  });
  const offered = candidates.find((c) => String(c.id) === shown.id)?.creatives ?? [];
  console.log(`generated arm: first slot ${shown.id} shows ${JSON.stringify(shown.text)} (variant ${shown.creative} of ${offered.length})`);
  assert.match(shown.arm, /^generated/);
  assert.equal(shown.ranked.id, shown.id, 'the page shows rank()\'s first ad');
  if (offered.length) {
    const chosen = offered.find((c) => c.id === shown.ranked.creative);
    assert.ok(chosen, `rank() chose one of the offered variants: ${JSON.stringify(shown.ranked)}`);
    assert.equal(shown.creative, chosen.id);
    assert.ok(shown.text.startsWith(chosen.text), `${shown.text} starts with ${chosen.text}`);
  } else {
    assert.equal(shown.creative, 'title');
  }
  await p.close();
});

test('with no edge worker the page embeds the promotions itself, and says so', T, async () => {
  const p = await context.newPage();
  expectErrors.add(p); // the console reports the 502
  await p.route(`**${EDGE_PATH}`, (route) => route.fulfill({ status: 502, contentType: 'text/plain', body: 'no edge worker' }));
  await p.goto(new URL('/www/', server.url).href);
  await waitReady(p, '/www/ without an edge worker', LOAD_MS);
  const shown = await p.evaluate(() => ({
    source: document.getElementById('edge-box').dataset.source,
    result: document.getElementById('edge-result').textContent,
    counters: globalThis.privrank.ranker.debugCounters(),
    ads: document.querySelectorAll('#ads [data-ad-id]').length,
  }));
  console.log(`no edge: ${shown.result} (${shown.counters.textsEncoded} texts embedded on the device)`);
  assert.equal(shown.source, 'device');
  assert.match(shown.result, /HTTP 502/);
  assert.equal(shown.ads, 3, 'the ad slot is still ranked');
  assert.ok(shown.counters.textsEncoded >= candidates.length, `the device embedded the promotions: ${JSON.stringify(shown.counters)}`);
  await p.close();
});

test('errors are shown on the page with their code (backend=webgpu without an adapter)', T, async () => {
  const p = await context.newPage();
  expectErrors.add(p);
  await p.goto(new URL('/www/?backend=webgpu', server.url).href);
  await p.waitForSelector('body[data-status="error"], body[data-status="ready"]', { state: 'attached', timeout: LOAD_MS });
  // The error can come before the catalog has arrived; the shop must come all the same.
  await p.waitForSelector('#products [data-item-id]', { state: 'attached', timeout: LOAD_MS });
  const shown = await p.evaluate(() => ({
    status: document.body.dataset.status,
    visible: !document.getElementById('error').hidden,
    code: document.getElementById('error-code').textContent,
    message: document.getElementById('error-message').textContent,
    hint: document.getElementById('error-hint').textContent,
    products: document.querySelectorAll('#products [data-item-id]').length,
  }));
  console.log(`?backend=webgpu: ${shown.code}: ${shown.message} (hint: ${shown.hint})`);
  assert.deepEqual([shown.status, shown.visible, shown.code], ['error', true, 'BackendUnavailable']);
  assert.ok(shown.message.length > 0 && shown.hint.length > 0, 'a message and a hint');
  assert.ok(shown.products > 0, 'the shop is still shown (never a blank page)');
  await p.screenshot({ path: join(SHOTS, 'error.png') });
  await p.close();
});
