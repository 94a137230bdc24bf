// Model loading in the browser is a transaction with bounds: a bad response is never
// cached, a stalled download fails within `fetchTimeoutMs`, a body whose length
// disagrees with the manifest is refused, the package's own manifests are pinned —
// and a good load afterwards still works.
//   node --test tests/browser/loading.test.mjs
// Needs a built pkg/. Responses are replaced with Playwright routes; everything else
// comes from scripts/serve.mjs on 127.0.0.1.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM, QUIET, ROOT, TEST, startServer } from './harness.mjs';

const tmp = mkdtempSync(join(tmpdir(), 'privrank-loading-'));
let server = null;
let context = null;
let page = null;

/** Ranker.load with these options in the page: {ok, backend} or {code, message, ms}. */
async function load(options) {
  return page.evaluate(async (options) => {
    const { default: init, Ranker } = await import('/pkg/privrank.js');
    await init();
    const started = performance.now();
    try {
      const ranker = await Ranker.load({ backend: 'cpu', storeName: 'loading', ...options });
      return { ok: true, backend: ranker.backend };
    } catch (e) {
      return { code: e.code, message: e.message, ms: performance.now() - started };
    }
  }, options);
}

/** Start from an empty model cache, as a first visit does. */
const clearCache = () => page.evaluate(() => caches.delete('privrank-models-v1'));

before(async () => {
  for (const f of ['pkg/privrank.js', 'pkg/privrank_core_bg.wasm', 'pkg/models/default.json']) {
    if (!existsSync(join(ROOT, f))) throw new Error(`not built: ${f} is missing; build pkg/ first`);
  }
  server = await startServer(join(tmp, 'requests.jsonl'));
  context = await chromium.launchPersistentContext(join(tmp, 'profile'), {
    executablePath: CHROMIUM, headless: true, args: [...QUIET, '--disable-gpu'],
  });
  // A page of the server's origin that loads nothing itself.
  await context.route('**/loading-test.html', (route) => route.fulfill({
    status: 200, contentType: 'text/html', body: '<!doctype html><title>loading</title>',
  }));
  page = await context.newPage();
  await page.goto(new URL('/loading-test.html', server.url).href);
});

after(async () => {
  if (context) await context.close().catch(() => {});
  if (server) process.kill(server.child.pid);
  rmSync(tmp, { recursive: true, force: true });
});

test('a captive-portal page served once as the manifest is not cached: the next load works', TEST, async () => {
  await clearCache();
  let served = 0;
  await context.route('**/pkg/models/default.json', async (route) => {
    if (served++ > 0) return route.fallback();
    return route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><p>Sign in to the Wi-Fi</p>' });
  });
  const first = await load({});
  assert.equal(first.code, 'BadModel', JSON.stringify(first));
  const second = await load({});
  assert.ok(second.ok, `the second load failed: ${JSON.stringify(second)}`);
  assert.equal(served, 2, 'the second load asked the server again');
  await context.unroute('**/pkg/models/default.json');
  // Cached now (a good set), so a third load works without the network's manifest.
  assert.ok((await load({})).ok);
});

test('a cached manifest that no longer parses is a miss, not a permanent failure', TEST, async () => {
  const url = new URL('/pkg/models/default.json', server.url).href;
  await page.evaluate(async (url) => {
    const cache = await caches.open('privrank-models-v1');
    await cache.put(url, new Response('<html>truncated'));
  }, url);
  const got = await load({});
  assert.ok(got.ok, `a corrupt cached manifest broke the load: ${JSON.stringify(got)}`);
});

test('a download that stalls fails within fetchTimeoutMs, and the next load works', TEST, async () => {
  await clearCache();
  const stalled = [];
  await context.route('**/pkg/models/student/vocab.txt', (route) => { stalled.push(route); });
  const got = await load({ fetchTimeoutMs: 1500 });
  assert.equal(got.code, 'ModelFetch', JSON.stringify(got));
  assert.match(got.message, /nothing arrived for 1\.5 s/);
  assert.ok(got.ms < 20_000, `took ${got.ms} ms`);
  assert.equal(stalled.length, 1);
  await context.unroute('**/pkg/models/student/vocab.txt');
  for (const route of stalled) await route.abort().catch(() => {});
  assert.ok((await load({})).ok, 'the load after the stall failed');
  console.log(`stalled download refused after ${Math.round(got.ms)} ms (fetchTimeoutMs 1500)`);
});

test('a body longer than the manifest declares is refused before its hash is read', TEST, async () => {
  await clearCache();
  const real = readFileSync(join(ROOT, 'pkg/models/ranker/ranker.safetensors'));
  const manifest = JSON.parse(readFileSync(join(ROOT, 'pkg/models/ranker/ranker.json'), 'utf8'));
  assert.equal(manifest.weights.bytes, real.length, 'pkg/ ships the manifest with the length');
  await context.route('**/pkg/models/ranker/ranker.safetensors', (route) => route.fulfill({
    status: 200, contentType: 'application/octet-stream', body: Buffer.concat([real, Buffer.alloc(1000)]),
  }));
  const got = await load({});
  assert.equal(got.code, 'ModelFetch', JSON.stringify(got));
  assert.match(got.message, new RegExp(`${real.length + 1000} bytes; the manifest declares ${real.length}`));
  await context.unroute('**/pkg/models/ranker/ranker.safetensors');
  assert.ok((await load({})).ok, 'the load after the long body failed');
});

test('fetchTimeoutMs outside [1, 600000] is BadOptions', TEST, async () => {
  for (const fetchTimeoutMs of [0, 600_001]) {
    const got = await load({ fetchTimeoutMs });
    assert.equal(got.code, 'BadOptions', `${fetchTimeoutMs}: ${JSON.stringify(got)}`);
  }
});

test('the package\'s own set is pinned: another encoder manifest is refused, cached or downloaded', TEST, async () => {
  await clearCache();
  const path = '**/pkg/models/student/student.json';
  const original = readFileSync(join(ROOT, 'pkg/models/student/student.json'), 'utf8');
  // The same manifest, one byte longer: a server that changed it.
  await context.route(path, (route) => route.fulfill({ status: 200, contentType: 'application/json', body: `${original}\n` }));
  const pinned = await load({});
  assert.equal(pinned.code, 'ModelHashMismatch', JSON.stringify(pinned));
  assert.match(pinned.message, /pinned default manifest/);
  // Named by the page, the same set is the page's business: the changed manifest loads.
  const named = await load({ modelUrl: '/pkg/models/default.json' });
  assert.ok(named.ok, JSON.stringify(named));
  await context.unroute(path);
  // The changed copy is now in the cache under the same URL: for the default set it is
  // a miss, and the real one is fetched.
  const again = await load({});
  assert.ok(again.ok, JSON.stringify(again));
});
