// The edge worker (examples/edge-worker) in workerd through miniflare, on 127.0.0.1:
// its embeddings equal the native CLI's for the committed catalog (the fixture
// tests/cli.rs holds the CLI to), bad requests get JSON errors with the right HTTP
// status, and the worker makes no outbound request.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Miniflare } from 'miniflare';
import { options, ROOT } from '../../examples/edge-worker/config.mjs';

const PKG = join(ROOT, 'pkg', 'privrank_core_bg.wasm');
const missing = !existsSync(PKG);
if (missing && process.env.PRIVRANK_REQUIRE_PKG) {
  throw new Error(`${PKG} is missing: run \`bash scripts/build-pkg\` first`);
}
const skip = missing ? 'pkg/ is not built (bash scripts/build-pkg)' : false;

const lines = (text) => text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
const CATALOG = lines(readFileSync(join(ROOT, 'tests/fixtures/catalog.jsonl'), 'utf8'));
const EXPECTED = lines(readFileSync(join(ROOT, 'tests/fixtures/catalog_embeddings.jsonl'), 'utf8'));

let mf;
let base;
const outbound = [];

before(async () => {
  if (skip) return;
  mf = new Miniflare(options({
    // The catalog POST /candidates {"ids"} serves.
    candidates: CATALOG,
    // Anything the worker fetches would land here: it must fetch nothing.
    outboundService: (request) => {
      outbound.push(request.url);
      return new Response('no network for the edge worker', { status: 599 });
    },
  }));
  base = await mf.ready;
  assert.equal(base.hostname, '127.0.0.1');
});

after(async () => {
  await mf?.dispose();
});

const post = (body, headers = { 'content-type': 'application/json' }) =>
  mf.dispatchFetch(new URL('/embed', base), { method: 'POST', body, headers });

test('POST /embed: the native CLI\'s vectors for the committed catalog', { skip }, async () => {
  const started = performance.now();
  const res = await post(JSON.stringify(CATALOG));
  const text = await res.text();
  assert.equal(res.status, 200, text);
  assert.match(res.headers.get('content-type'), /application\/x-ndjson/);
  const got = lines(text);
  assert.equal(got.length, EXPECTED.length);
  let worst = 0;
  for (const [g, w] of got.map((g, i) => [g, EXPECTED[i]])) {
    assert.equal(g.id, w.id);
    assert.equal(g.encoder, w.encoder);
    assert.equal(g.embedding.length, w.embedding.length);
    for (let i = 0; i < g.embedding.length; i++) {
      worst = Math.max(worst, Math.abs(g.embedding[i] - w.embedding[i]));
    }
  }
  console.log(`edge vs native CLI: ${got.length} items, max |Δ| ${worst.toExponential(2)}, ` +
    `first request ${(performance.now() - started).toFixed(0)} ms (includes building the model)`);
  assert.ok(worst <= 1e-4, `max |Δ| ${worst}`);
});

test('bad JSON → 400 with a JSON error', { skip }, async () => {
  const res = await post('[{"id": "a", "title": ');
  assert.equal(res.status, 400);
  const { error } = await res.json();
  assert.equal(error.code, 'BadJson');
  assert.match(error.message, /not JSON/);
});

test('bad items → 400 naming every bad field', { skip }, async () => {
  const res = await post(JSON.stringify([{ id: 'a' }, { id: 'b', title: 'ok' }, 7]));
  assert.equal(res.status, 400);
  const { error } = await res.json();
  assert.equal(error.code, 'BadCandidate');
  assert.deepEqual(error.details.map((d) => [d.index, d.field]), [[0, 'title'], [2, '']]);
  const empty = await post('[]');
  assert.equal(empty.status, 400);
  assert.equal((await empty.json()).error.code, 'BadInput');
  const notList = await post('{"id": "a", "title": "x"}');
  assert.equal(notList.status, 400);
  // 100,000 nested arrays (200 kB): refused at the library's depth limit, not a stack
  // overflow (a wasm trap, which would leave the worker's isolate unusable).
  const deep = '['.repeat(100_000) + ']'.repeat(100_000);
  for (const path of ['/embed', '/candidates']) {
    const res = await mf.dispatchFetch(new URL(path, base), {
      method: 'POST', body: deep, headers: { 'content-type': 'application/json' },
    });
    const text = await res.text();
    assert.equal(res.status, 400, `${path}: ${text}`);
    const { error: e } = JSON.parse(text);
    assert.equal(e.code, 'BadInput', text);
    assert.match(e.message, /deeper than 32 levels/, text);
  }
  // The worker still answers after it.
  assert.equal((await post(JSON.stringify([CATALOG[0]]))).status, 200);
});

test('a 5 MB body → 413; 1001 items → 413', { skip }, async () => {
  const big = JSON.stringify([{ id: 'a', title: 'x'.repeat(5 * 1024 * 1024) }]);
  const res = await post(big);
  assert.equal(res.status, 413);
  assert.equal((await res.json()).error.code, 'TooLarge');
  const many = Array.from({ length: 1001 }, (_, i) => ({ id: `${i}`, title: 't' }));
  const res2 = await post(JSON.stringify(many));
  assert.equal(res2.status, 413);
  assert.equal((await res2.json()).error.code, 'TooManyInputs');
});

test('other methods, routes and content types are refused', { skip }, async () => {
  const get = await mf.dispatchFetch(new URL('/embed', base));
  assert.equal(get.status, 405);
  assert.equal(get.headers.get('allow'), 'POST');
  assert.equal((await mf.dispatchFetch(new URL('/other', base))).status, 404);
  assert.equal((await post('x', { 'content-type': 'text/plain' })).status, 415);
});

const postTo = (path, body) => mf.dispatchFetch(new URL(path, base), {
  method: 'POST', body, headers: { 'content-type': 'application/json' },
});

/** A packed embedding back to numbers, independently of the wasm's own decoder. */
function unpack({ int8, scale }) {
  const bytes = Buffer.from(int8, 'base64');
  return Array.from(new Int8Array(bytes.buffer, bytes.byteOffset, bytes.length), (c) => c * scale);
}

test('POST /candidates: ready-embedded candidates, within half an int8 step of the CLI', { skip }, async () => {
  // The worker's cache starts empty (a fresh Miniflare); one creative is added so
  // creatives are embedded too.
  const items = CATALOG.map((c) => ({ ...c }));
  items[0] = { ...items[0], creatives: [{ id: 'a', text: 'Free delivery this week' }] };
  const res = await postTo('/candidates', JSON.stringify(items));
  const text = await res.text();
  assert.equal(res.status, 200, text);
  const got = JSON.parse(text);
  assert.equal(got.length, items.length);
  let worst = 0;
  for (const [i, g] of got.entries()) {
    const w = EXPECTED[i];
    assert.equal(g.id, items[i].id);
    assert.equal(g.title, items[i].title);
    assert.equal(g.encoder, w.encoder);
    assert.equal(g.embedding.int8.length, 512);
    const v = unpack(g.embedding);
    for (let k = 0; k < v.length; k++) {
      worst = Math.max(worst, Math.abs(v[k] - w.embedding[k]) - g.embedding.scale / 2);
    }
  }
  assert.ok(worst <= 1e-4, `beyond half a step by ${worst}`);
  assert.ok(got[0].creatives[0].embedding.int8.length === 512);
  const embedded = Number(res.headers.get('x-privrank-embedded'));
  assert.equal(embedded, new Set(items.map((c) => c.title)).size + 1, 'each distinct text once');

  // The same candidates again: every text comes from the edge cache.
  const again = await postTo('/candidates', JSON.stringify(items));
  assert.equal(again.status, 200);
  assert.equal(again.headers.get('x-privrank-embedded'), '0');
  assert.deepEqual(await again.json(), got);
  console.log(`/candidates: ${got.length} candidates, ${embedded} texts embedded, then 0 (cache); ` +
    `${Math.round(text.length / got.length)} bytes per candidate`);
});

test('POST /candidates: bad candidates → 400 naming each field, too many → 413', { skip }, async () => {
  const res = await postTo('/candidates', JSON.stringify([{ id: 'a' }, { id: 'b', title: 'ok', creatives: [{ id: 'c' }] }]));
  assert.equal(res.status, 400);
  const { error } = await res.json();
  assert.equal(error.code, 'BadCandidate');
  assert.deepEqual(error.details.map((d) => [d.index, d.field]), [[0, 'title'], [1, 'creatives[0].text']]);
  const many = Array.from({ length: 1001 }, (_, i) => ({ id: `${i}`, title: 't' }));
  assert.equal((await postTo('/candidates', JSON.stringify(many))).status, 413);
  assert.equal((await postTo('/candidates', '[')).status, 400);
});

test('POST /candidates {"ids"}: the bound catalog\'s candidates, the same as sending them', { skip }, async () => {
  const ids = [CATALOG[2].id, CATALOG[0].id];
  const res = await postTo('/candidates', JSON.stringify({ ids }));
  const text = await res.text();
  assert.equal(res.status, 200, text);
  const got = JSON.parse(text);
  const sent = await (await postTo('/candidates', JSON.stringify([CATALOG[2], CATALOG[0]]))).json();
  assert.deepEqual(got, sent, 'by id = the candidates themselves, in the order asked');

  const unknown = await postTo('/candidates', JSON.stringify({ ids: [CATALOG[0].id, 'no-such-ad', { id: 1 }] }));
  assert.equal(unknown.status, 400);
  const { error } = await unknown.json();
  assert.equal(error.code, 'BadInput');
  assert.deepEqual(error.details.map((d) => d.field), ['ids[1]', 'ids[2]'], JSON.stringify(error));
  for (const body of [{ ids: [] }, { ids: 'a' }]) {
    const r = await postTo('/candidates', JSON.stringify(body));
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal((await r.json()).error.code, 'BadInput');
  }
  const many = await postTo('/candidates', JSON.stringify({ ids: Array.from({ length: 1001 }, () => CATALOG[0].id) }));
  assert.equal(many.status, 413);
});

test('POST /candidates {"ids"} without a bound catalog → 400 saying so', { skip }, async () => {
  const bare = new Miniflare(options());
  try {
    const url = await bare.ready;
    const res = await bare.dispatchFetch(new URL('/candidates', url), {
      method: 'POST', body: JSON.stringify({ ids: ['a'] }), headers: { 'content-type': 'application/json' },
    });
    assert.equal(res.status, 400);
    const { error } = await res.json();
    assert.equal(error.code, 'BadInput');
    assert.match(error.message, /CANDIDATES/);
  } finally {
    await bare.dispose();
  }
});

test('the worker made no outbound request', { skip }, () => {
  assert.deepEqual(outbound, []);
});
