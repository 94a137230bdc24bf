// The privacy budget and experiment arms are sound on the device (issue 19): the
// budget belongs to the origin (not to a name the page passes), concurrent reports
// and two pages of one origin cannot overspend it, forget() and a new storeName do
// not reset it, and arms are bounded (16 arms, 4 experiments a rolling day); a
// report goes to the collector named at load and carries nothing else.
//   node --test tests/browser/privacy.test.mjs
// A fresh browser profile, so the origin's ledger starts empty.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM, QUIET, ROOT, TEST, startServer } from './harness.mjs';

const missing = !existsSync(join(ROOT, 'pkg', 'privrank_core_bg.wasm'));
if (missing && process.env.PRIVRANK_REQUIRE_PKG) throw new Error('pkg/ is not built: run `bash scripts/build-pkg`');
const T = { ...TEST, skip: missing ? 'pkg/ is not built (bash scripts/build-pkg)' : false };

const tmp = mkdtempSync(join(tmpdir(), 'privrank-privacy-'));
let server;
let context;
const pages = [];

/** A page of the server's origin with privrank initialised and a Ranker loaded. */
async function openPage(storeName, budget) {
  const page = await context.newPage();
  await page.goto(new URL('/privacy-test.html', server.url).href);
  await page.evaluate(async ({ storeName, budget }) => {
    const { default: init, Ranker } = await import('/pkg/privrank.js');
    await init();
    globalThis.ranker = await Ranker.load({ backend: 'cpu', storeName, privacyBudget: budget });
    globalThis.Ranker = Ranker;
  }, { storeName, budget });
  pages.push(page);
  return page;
}

/** `n` reports at once: how many were answered, and the codes of the refusals. */
const burst = (page, n) => page.evaluate(async (n) => {
  const settled = await Promise.allSettled(Array.from({ length: n }, () => globalThis.ranker.report(true, { epsilon: 1, experiment: 'e', arm: 'a' })));
  return {
    answered: settled.filter((s) => s.status === 'fulfilled').length,
    refused: settled.filter((s) => s.status === 'rejected').map((s) => s.reason.code),
  };
}, n);

before(async () => {
  if (missing) return;
  server = await startServer(join(tmp, 'requests.jsonl'));
  context = await chromium.launchPersistentContext(join(tmp, 'profile'), {
    executablePath: CHROMIUM, headless: true, args: [...QUIET, '--disable-gpu'],
  });
  await context.route('**/privacy-test.html', (route) => route.fulfill({
    status: 200, contentType: 'text/html', body: '<!doctype html><title>privacy</title>',
  }));
});

after(async () => {
  await context?.close();
  server?.child.kill();
  rmSync(tmp, { recursive: true, force: true });
});

test('20 concurrent reports against a daily budget of 4 give exactly 4', T, async () => {
  const page = await openPage('a', 4);
  const got = await burst(page, 20);
  assert.equal(got.answered, 4, JSON.stringify(got));
  assert.ok(got.refused.every((c) => c === 'PrivacyBudgetSpent'), JSON.stringify(got.refused));
});

test('forget(), a new storeName and a page-chosen site do not reset the budget', T, async () => {
  const page = pages[0] ?? assert.fail('no first page');
  const out = await page.evaluate(async () => {
    const code = (p) => p.then(() => 'answered', (e) => e.code);
    await globalThis.ranker.forget();
    const afterForget = await code(globalThis.ranker.report(true, { epsilon: 1, experiment: 'e', arm: 'a' }));
    const other = await globalThis.Ranker.load({ backend: 'cpu', storeName: 'another-store', privacyBudget: 4 });
    const newStore = await code(other.report(true, { epsilon: 1, experiment: 'e', arm: 'a' }));
    const site = await code(globalThis.ranker.report(true, { epsilon: 1, experiment: 'e', arm: 'a', site: 'somewhere-else' }));
    const budget = await code(globalThis.ranker.report(true, { epsilon: 1, experiment: 'e', arm: 'a', budget: 100 }));
    const tooMuch = await code(globalThis.Ranker.load({ backend: 'cpu', storeName: 'x', privacyBudget: 9 }));
    return { afterForget, newStore, site, budget, tooMuch };
  });
  assert.deepEqual(out, {
    afterForget: 'PrivacyBudgetSpent',
    newStore: 'PrivacyBudgetSpent',
    site: 'BadOptions',
    budget: 'BadOptions',
    tooMuch: 'BadOptions',
  });
});

test('two pages of one origin reporting at once share one budget', T, async () => {
  // A fresh origin's worth of budget: the charges above are in this profile's
  // ledger for a rolling day, so raise the total by what two pages may add.
  const first = await openPage('b', 8);
  const second = await openPage('c', 8);
  const [a, b] = await Promise.all([burst(first, 10), burst(second, 10)]);
  // 4 were spent in the first test; a total of 8 leaves 4 for both pages together.
  assert.equal(a.answered + b.answered, 4, `${JSON.stringify(a)} ${JSON.stringify(b)}`);
});

test('arms: at most 16 per experiment, 4 experiments a rolling day, forget() keeps the count', T, async () => {
  const page = pages[0] ?? assert.fail('no first page');
  const out = await page.evaluate(async () => {
    const code = (p) => p.then((v) => v, (e) => e.code);
    const arms = (n) => Array.from({ length: n }, (_, i) => ({ label: `arm-${i}` }));
    const r = globalThis.ranker;
    const seventeen = await code(r.arm({ salt: 'wide', arms: arms(17) }));
    const four = [];
    for (const salt of ['e1', 'e2', 'e3', 'e4']) four.push(await code(r.arm({ salt, arms: arms(16) })));
    const fifth = await code(r.arm({ salt: 'e5', arms: arms(2) }));
    const again = await code(r.arm({ salt: 'e2', arms: arms(16) }));
    await r.forget();
    const afterForget = await code(r.arm({ salt: 'e6', arms: arms(2) }));
    return { seventeen, four, fifth, again, afterForget };
  });
  assert.equal(out.seventeen, 'BadOptions');
  assert.ok(out.four.every((a) => /^arm-\d+$/.test(a)), JSON.stringify(out.four));
  assert.equal(out.fifth, 'ArmLimit');
  assert.match(out.again, /^arm-\d+$/, 'an experiment already joined stays assignable');
  assert.equal(out.afterForget, 'ArmLimit', 'forget() does not reset the count');
});

test('a report goes to the collector named at load: the noised bit, labels and day, keepalive, no cookie, no referrer', T, async () => {
  // Its own profile: the ledger above is spent.
  const own = await chromium.launchPersistentContext(join(tmp, 'profile-send'), {
    executablePath: CHROMIUM, headless: true, args: [...QUIET, '--disable-gpu'],
  });
  try {
    const origin = new URL(server.url).origin;
    await own.addCookies([{ name: 'sid', value: 'shopper-42', url: origin }]);
    const received = [];
    let answer = 202;
    await own.route('**/collector/report', async (route) => {
      const request = route.request();
      received.push({ method: request.method(), body: request.postData(), headers: await request.allHeaders() });
      await route.fulfill({ status: answer, contentType: 'application/json', body: '{"counted":true}' });
    });
    await own.route((url) => url.pathname === '/privacy-test.html', (route) => route.fulfill({
      status: 200, contentType: 'text/html', body: '<!doctype html><title>privacy</title>',
    }));
    const page = await own.newPage();
    await page.goto(new URL('/privacy-test.html?user=42', server.url).href);
    const load = (collector) => page.evaluate(async (collector) => {
      const { default: init, Ranker } = await import('/pkg/privrank.js');
      await init();
      // What the library hands fetch, seen by a spy.
      const inits = [];
      const real = globalThis.fetch;
      globalThis.fetch = (input, init) => {
        if (String(input).includes('/collector/')) inits.push({ url: String(input), init: { ...init, headers: { ...init.headers } } });
        return real(input, init);
      };
      globalThis.inits = inits;
      try {
        globalThis.ranker = await Ranker.load({ backend: 'cpu', storeName: 'send', privacyBudget: 8, collector });
        return 'loaded';
      } catch (e) {
        return e.code;
      }
    }, collector);
    assert.equal(await load('javascript:alert(1)'), 'BadOptions');
    assert.equal(await load('/collector/report'), 'loaded');
    await page.evaluate(() => globalThis.ranker.record({ kind: 'view', itemId: 'm-1', title: 'Secret Title (1999)' }));
    const out = await page.evaluate(() => globalThis.ranker.report(true, {
      experiment: 'headline', arm: 'b', creative: 'tagline', campaign: 'spring', epsilon: 2,
    }));
    assert.equal(out.sent, true);
    assert.equal(received.length, 1);
    const [{ method, body, headers }] = received;
    assert.equal(method, 'POST');
    // The body is the returned report, exactly, and nothing else.
    assert.deepEqual(JSON.parse(body), out.report);
    assert.deepEqual(Object.keys(out.report).sort(), ['arm', 'campaign', 'clicked', 'creative', 'day', 'epsilon', 'experiment']);
    assert.equal(out.report.day, new Date().toISOString().slice(0, 10));
    assert.ok(!body.includes('Secret') && !body.includes('m-1'), body);
    assert.equal(headers.cookie, undefined, 'the cookie went along');
    assert.equal(headers.referer, undefined, 'the page URL went along');
    assert.match(headers['content-type'], /^text\/plain/);
    const [{ init }] = await page.evaluate(() => globalThis.inits);
    assert.equal(init.keepalive, true);
    assert.equal(init.credentials, 'omit');
    // A collector that fails: the report is refused as not sent, and its ε is spent.
    answer = 500;
    const failed = await page.evaluate(() => globalThis.ranker.report(false, { experiment: 'headline', arm: 'b', epsilon: 2 })
      .then(() => null, (e) => ({ code: e.code, message: e.message })));
    assert.equal(failed?.code, 'ReportNotSent', JSON.stringify(failed));
    assert.match(failed.message, /HTTP 500.*ε is spent/);
    answer = 202;
    const third = await page.evaluate(() => globalThis.ranker.report(false, { experiment: 'headline', arm: 'b', epsilon: 2 }));
    assert.equal(third.spent, 6, 'the failed report\'s ε is charged');
  } finally {
    await own.close();
  }
});
