// The placement policy in the browser: frequency caps counted from impressions
// stored in IndexedDB, the k-anonymity gate with its house-ad fallback, and
// forget() erasing impressions with the rest of the history (so caps reset).
// Uses www/minimal.html's Ranker (globalThis.privrank.ranker) on the CPU backend.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM, LOAD_MS, QUIET, ROOT, TEST, startServer } from './harness.mjs';

const missing = !existsSync(join(ROOT, 'pkg', 'privrank_core_bg.wasm'));
if (missing && process.env.PRIVRANK_REQUIRE_PKG) throw new Error('pkg/ is not built: run `bash scripts/build-pkg`');
const T = { ...TEST, skip: missing ? 'pkg/ is not built (bash scripts/build-pkg)' : false };

const tmp = mkdtempSync(join(tmpdir(), 'privrank-policy-'));
let server;
let context;
let page;

before(async () => {
  if (missing) return;
  server = await startServer(join(tmp, 'requests.jsonl'));
  context = await chromium.launchPersistentContext(join(tmp, 'profile'), {
    executablePath: CHROMIUM, headless: true, args: [...QUIET, '--disable-gpu'],
  });
  page = await context.newPage();
  await page.goto(new URL('/www/minimal.html?backend=cpu', server.url).href);
  await page.waitForSelector('body[data-status="done"], body[data-status="error"]', { state: 'attached', timeout: LOAD_MS });
  assert.equal(await page.evaluate(() => document.body.dataset.status), 'done');
});

after(async () => {
  await context?.close();
  server?.child.kill();
  rmSync(tmp, { recursive: true, force: true });
});

/** Run in the page: rank the given candidates with a policy; ids in order. */
const rankIds = (candidates, policy, k = 3) => page.evaluate(async ({ candidates, policy, k }) => {
  const ranked = await globalThis.privrank.ranker.rank(candidates, { k, policy });
  return ranked.map((r) => ({ id: r.id, fallback: r.fallback ?? false }));
}, { candidates, policy, k });

const CANDIDATES = [
  { id: 'ad-1', title: 'Beauty and the Beast (1991)', category: 'Animation', campaign: 'spring' },
  { id: 'ad-2', title: 'Star Wars (1977)', category: 'Sci-Fi', campaign: 'spring' },
  { id: 'ad-3', title: 'Fargo (1996)', category: 'Crime' },
  { id: 'house', title: 'privrank video store gift card', fallback: true },
];

test('caps: the fourth impression in an hour is not shown; forget() resets the count', T, async () => {
  const cap = { caps: [{ scope: 'ad', window: 'hour', max: 3 }] };
  const plain = (await rankIds(CANDIDATES, cap)).map((r) => r.id);
  const top = plain[0];
  assert.ok(!plain.includes('house'), 'the house ad is held back while others may show');
  for (let i = 0; i < 3; i++) {
    assert.ok((await rankIds(CANDIDATES, cap)).some((r) => r.id === top), `shown after ${i} impressions`);
    await page.evaluate((id) => globalThis.privrank.ranker.record({ kind: 'impression', itemId: id, title: id }), top);
  }
  const capped = (await rankIds(CANDIDATES, cap)).map((r) => r.id);
  console.log(`plain ${plain.join(', ')}; after 3 impressions of ${top}: ${capped.join(', ')}`);
  assert.ok(!capped.includes(top), `${top} is capped: ${capped}`);

  // Impressions are stored with the history and never reach the ranker's reasons.
  const stored = await page.evaluate(() => globalThis.privrank.ranker.history());
  assert.equal(stored.filter((e) => e.kind === 'impression').length, 3);
  const reasons = await page.evaluate(async (c) => (await globalThis.privrank.ranker.rank(c, { explain: true }))
    .flatMap((r) => r.reasons ?? []).map((x) => x.kind), CANDIDATES);
  assert.ok(!reasons.includes('impression'), reasons.join());

  await page.evaluate(() => globalThis.privrank.ranker.forget());
  assert.deepEqual(await page.evaluate(() => globalThis.privrank.ranker.history()), []);
  const after = (await rankIds(CANDIDATES, cap)).map((r) => r.id);
  assert.ok(after.includes(top), `after forget() ${top} may be shown again: ${after}`);
});

test('k-anonymity: only vouched ads, else the house ad', T, async () => {
  const gate = { requireKAnonymous: true };
  const vouched = CANDIDATES.map((c) => ({ ...c, kAnonymous: c.id === 'ad-3' }));
  assert.deepEqual(await rankIds(vouched, gate), [{ id: 'ad-3', fallback: false }]);
  assert.deepEqual(await rankIds(CANDIDATES, gate), [{ id: 'house', fallback: true }]);
  const err = await page.evaluate(async (c) => {
    try {
      await globalThis.privrank.ranker.rank(c, { policy: { requireKAnonymus: true } });
      return null;
    } catch (e) {
      return { code: e.code, message: e.message };
    }
  }, CANDIDATES);
  assert.equal(err?.code, 'BadOptions', JSON.stringify(err));
  assert.match(err.message, /requireKAnonymus/);
});

test('interests, experiment arms and private reports stay on the device', T, async () => {
  const out = await page.evaluate(async () => {
    const r = globalThis.privrank.ranker;
    await r.forget();
    const now = Date.now();
    await r.record({ kind: 'view', itemId: 'm1', title: 'Alien (1979)', category: 'Horror, Sci-Fi', ts: now - 1000 });
    await r.record({ kind: 'cart', itemId: 'm2', title: 'Aliens (1986)', category: 'Action, Sci-Fi', ts: now });
    await r.record({ kind: 'impression', itemId: 'ad-9', title: 'ad', category: 'Comedy', ts: now });
    const interests = await r.interests({ k: 3 });
    const experiment = { salt: 'checkout-2026', arms: [{ label: 'control' }, { label: 'new' }] };
    const arms = [await r.arm(experiment), await r.arm(experiment)];
    // The budget is configured at load (ε per rolling day) and belongs to the
    // origin: this page's first reports.
    const { Ranker } = await import('../pkg/privrank.js');
    const reporter = await Ranker.load({ backend: 'cpu', storeName: 'reports', privacyBudget: 3 });
    const reports = [];
    let refused = null;
    try {
      for (let i = 0; i < 5; i++) reports.push(await reporter.report(true, { epsilon: 1, experiment: 'e', arm: 'a' }));
    } catch (e) {
      refused = { code: e.code, message: e.message };
    }
    await reporter.forget();
    let afterForget = null;
    try {
      await reporter.report(true, { epsilon: 1, experiment: 'e', arm: 'a' });
    } catch (e) {
      afterForget = e.code;
    }
    let bad = null;
    try {
      await r.arm({ salt: 's', arms: [] });
    } catch (e) {
      bad = e.code;
    }
    return { interests, arms, reports, refused, afterForget, bad };
  });
  // Sci-Fi is in both items (view 1 + cart 3, split over two tags each): 2 of 4.
  assert.equal(out.interests[0].tag, 'Sci-Fi');
  assert.ok(Math.abs(out.interests[0].weight - 0.5) < 1e-6, JSON.stringify(out.interests));
  assert.ok(!out.interests.some((t) => t.tag === 'Comedy'), 'impressions are not interests');
  assert.ok(['control', 'new'].includes(out.arms[0]) && out.arms[0] === out.arms[1], out.arms.join());
  assert.equal(out.reports.length, 3, 'a budget of 3 pays for three reports of ε = 1');
  assert.deepEqual(out.reports.map((x) => x.spent), [1, 2, 3]);
  assert.ok(out.reports.every((x) => x.total === 3));
  // No collector at load: each report is returned, exactly what would be sent, and
  // not sent.
  for (const { report, sent } of out.reports) {
    assert.equal(sent, false);
    assert.deepEqual(Object.keys(report).sort(), ['arm', 'clicked', 'day', 'epsilon', 'experiment']);
    assert.equal(typeof report.clicked, 'boolean');
    assert.equal(report.day, new Date().toISOString().slice(0, 10));
  }
  assert.equal(out.refused?.code, 'PrivacyBudgetSpent', JSON.stringify(out.refused));
  assert.equal(out.afterForget, 'PrivacyBudgetSpent', 'forget() does not refill the budget');
  assert.equal(out.bad, 'BadOptions');
});

test('creatives: the one closest to the history is shown', T, async () => {
  const out = await page.evaluate(async () => {
    const r = globalThis.privrank.ranker;
    await r.forget();
    const promo = {
      id: 'promo', title: 'Weekend movie sale',
      creatives: [{ id: 'romance', text: 'Love stories for two' }, { id: 'scifi', text: 'Space monsters and starships' }],
    };
    const cold = (await r.rank([promo]))[0].creative;
    await r.record({ kind: 'view', itemId: 'm1', title: 'Alien (1979)', category: 'Horror, Sci-Fi' });
    await r.record({ kind: 'cart', itemId: 'm2', title: 'Star Trek: First Contact (1996)', category: 'Action, Sci-Fi' });
    const warm = (await r.rank([promo]))[0].creative;
    let bad = null;
    try {
      await r.rank([{ ...promo, creatives: [{ id: 'x', text: 'y' }, { id: 'x', text: 'z' }] }]);
    } catch (e) {
      bad = { code: e.code, message: e.message };
    }
    await r.forget();
    return { cold, warm, bad };
  });
  assert.equal(out.cold, 'romance', 'without history: the server\'s first creative');
  assert.equal(out.warm, 'scifi');
  assert.equal(out.bad?.code, 'BadCandidate');
  assert.match(out.bad.message, /creatives\[1\]\.id/);
});
