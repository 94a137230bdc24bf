// scripts/serve.mjs over plain node:http (no browser, no built package needed):
// Content-Encoding negotiation, byte-exact bodies, Content-Length, HEAD, the --log
// line, uncompressed image types, a file changed between two requests, the CSP on
// every response, the refused paths and Hosts, and the --edge forwarding.
//   node --test tests/browser/serve.test.mjs
// Env: PRIVRANK_SERVE_ROOT (the directory served by the first server, default the
// repository); a second server serves a temporary directory the test writes to.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { REPO, ROOT, startServer } from './harness.mjs';

const tmp = mkdtempSync(join(tmpdir(), 'privrank-serve-'));
const logFile = join(tmp, 'requests.jsonl');
const scratchLog = join(tmp, 'scratch.jsonl');
const scratch = join(tmp, 'root'); // the second server's root
let server = null; // the repository (ROOT), through the harness
let scratchServer = null; // the temporary directory

// Real files of the served root: a model file (the student's vocabulary, if the root
// has the models) and a script of the demo (the root always holds www/).
const TOKENIZER = ['models/student/vocab.txt', 'pkg/models/student/vocab.txt']
  .find((f) => existsSync(join(ROOT, f)));
const SCRIPT = 'www/shop.js';


/** One request, no agent (so no keep-alive), the body as raw bytes. `ae` is the
 *  Accept-Encoding header; undefined sends none. */
function get(base, path, { ae, method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    // The path as it is, not resolved against `base` (`//www` stays a path).
    const { hostname, port } = new URL(base);
    const req = request({
      hostname, port, path, method, agent: false,
      headers: { ...(ae === undefined ? {} : { 'Accept-Encoding': ae }), ...headers },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.setTimeout(60_000, () => req.destroy(new Error(`${method} ${path}: no answer in 60 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** The body as the client reads it after undoing Content-Encoding. */
function decoded(res) {
  const enc = res.headers['content-encoding'];
  if (enc === 'br') return brotliDecompressSync(res.body);
  if (enc === 'gzip') return gunzipSync(res.body);
  assert.equal(enc, undefined, `unexpected Content-Encoding ${enc}`);
  return res.body;
}

/** The last --log line for `method path`. */
function logged(file, method, path) {
  const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const hits = lines.filter((l) => l.method === method && l.url === path);
  assert.ok(hits.length, `no ${method} ${path} in the server log: ${JSON.stringify(lines.slice(-5))}`);
  return hits.at(-1);
}

/** Asserts a compressed answer: the encoding, Vary, Content-Length = the compressed
 *  body, smaller than the file, decoding to the file byte for byte, and the log line. */
function assertCompressed(res, file, encoding, log, path) {
  assert.equal(res.status, 200);
  assert.equal(res.headers['content-encoding'], encoding, `Content-Encoding for ${path}`);
  assert.match(res.headers.vary ?? '', /accept-encoding/i, `Vary on ${path}`);
  assert.equal(Number(res.headers['content-length']), res.body.length, `Content-Length of ${path} is the compressed length`);
  assert.ok(res.body.length < file.length, `${path}: ${res.body.length} B sent for a ${file.length} B file`);
  assert.ok(decoded(res).equals(file), `${path} decodes to the file, byte for byte`);
  assert.deepEqual(logged(log, 'GET', path), { method: 'GET', url: path, status: 200, bytes: res.body.length, encoding },
    `the --log line of ${path} has the bytes sent and the encoding`);
}

function assertIdentity(res, file, log, path, { vary = true } = {}) {
  assert.equal(res.status, 200);
  assert.equal(res.headers['content-encoding'], undefined, `no Content-Encoding for ${path}`);
  if (vary) assert.match(res.headers.vary ?? '', /accept-encoding/i, `Vary on ${path}`);
  else assert.equal(res.headers.vary, undefined, `no Vary on ${path}`);
  assert.equal(Number(res.headers['content-length']), file.length);
  assert.ok(res.body.equals(file), `${path} is the file, byte for byte`);
  assert.deepEqual(logged(log, 'GET', path), { method: 'GET', url: path, status: 200, bytes: file.length, encoding: 'identity' });
}

before(async () => {
  mkdirSync(scratch);
  server = await startServer(logFile);
  scratchServer = await startServer(scratchLog, scratch);
});

after(() => {
  for (const s of [server, scratchServer]) if (s) process.kill(s.child.pid);
  rmSync(tmp, { recursive: true, force: true });
});

test('br when offered, gzip when only gzip, identity when neither', async (t) => {
  const paths = [SCRIPT, TOKENIZER].filter(Boolean);
  if (!TOKENIZER) t.diagnostic(`no models/student/vocab.txt under ${ROOT}: only ${SCRIPT}`);
  for (const rel of paths) {
    const path = `/${rel}`;
    const file = readFileSync(join(ROOT, rel));
    // What Chromium sends.
    assertCompressed(await get(server.url, path, { ae: 'gzip, deflate, br, zstd' }), file, 'br', logFile, path);
    assertCompressed(await get(server.url, path, { ae: 'br' }), file, 'br', logFile, path);
    assertCompressed(await get(server.url, path, { ae: '*' }), file, 'br', logFile, path);
    assertCompressed(await get(server.url, path, { ae: 'gzip' }), file, 'gzip', logFile, path);
    assertCompressed(await get(server.url, path, { ae: 'gzip, deflate' }), file, 'gzip', logFile, path);
    assertCompressed(await get(server.url, path, { ae: 'br;q=0, *' }), file, 'gzip', logFile, path);
    assertCompressed(await get(server.url, path, { ae: 'br;q=0.5, gzip;q=0.8' }), file, 'gzip', logFile, path);
    assertCompressed(await get(server.url, path, { ae: 'gzip;q=1, *;q=0' }), file, 'gzip', logFile, path);
    assertIdentity(await get(server.url, path, { ae: 'identity' }), file, logFile, path);
    assertIdentity(await get(server.url, path, { ae: 'br;q=0, gzip;q=0' }), file, logFile, path);
    assertIdentity(await get(server.url, path, { ae: '*;q=0, identity' }), file, logFile, path);
    assertIdentity(await get(server.url, path, { ae: 'deflate' }), file, logFile, path);
    assertIdentity(await get(server.url, path), file, logFile, path); // no Accept-Encoding at all
    // Range is ignored: still the whole (compressed) body.
    assertCompressed(await get(server.url, path, { ae: 'br', headers: { Range: 'bytes=0-9' } }), file, 'br', logFile, path);
  }
});

test('the rest of the headers are unchanged by compression', async () => {
  const res = await get(server.url, `/${SCRIPT}`, { ae: 'br' });
  assert.equal(res.headers['content-type'], 'text/javascript; charset=utf-8');
  assert.equal(res.headers['cache-control'], 'no-store');
  assert.equal(res.headers['cross-origin-opener-policy'], 'same-origin');
  assert.equal(res.headers['cross-origin-embedder-policy'], 'require-corp');
  assert.match(res.headers['content-security-policy'] ?? '', /wasm-unsafe-eval/);
  const missing = await get(server.url, '/www/no-such-file.js', { ae: 'br' });
  assert.equal(missing.status, 404);
  assert.equal(missing.headers['content-encoding'], undefined);
  assert.deepEqual(logged(logFile, 'GET', '/www/no-such-file.js'),
    { method: 'GET', url: '/www/no-such-file.js', status: 404, bytes: missing.body.length, encoding: 'identity' });
});

test('HEAD: the headers of GET, no body, 0 bytes logged', async () => {
  const path = `/${SCRIPT}`;
  for (const ae of ['br', 'gzip', 'identity']) {
    const full = await get(server.url, path, { ae });
    const head = await get(server.url, path, { ae, method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0, `HEAD ${ae}: no body`);
    for (const h of ['content-length', 'content-encoding', 'content-type', 'vary', 'content-security-policy']) {
      assert.equal(head.headers[h], full.headers[h], `HEAD ${ae}: ${h}`);
    }
    assert.deepEqual(logged(logFile, 'HEAD', path),
      { method: 'HEAD', url: path, status: 200, bytes: 0, encoding: ae === 'identity' ? 'identity' : ae });
  }
});

test('images and tiny files go out uncompressed', async () => {
  // The repository has no .png or .ico, so the test makes them (random bytes: a real
  // image would not shrink either).
  const png = randomBytes(8192);
  const ico = randomBytes(4096);
  const tiny = Buffer.from('{"tiny": true}\n');
  writeFileSync(join(scratch, 'image.png'), png);
  writeFileSync(join(scratch, 'favicon.ico'), ico);
  writeFileSync(join(scratch, 'tiny.json'), tiny);
  assertIdentity(await get(scratchServer.url, '/image.png', { ae: 'br, gzip' }), png, scratchLog, '/image.png', { vary: false });
  assertIdentity(await get(scratchServer.url, '/favicon.ico', { ae: 'br, gzip' }), ico, scratchLog, '/favicon.ico', { vary: false });
  assertIdentity(await get(scratchServer.url, '/tiny.json', { ae: 'br, gzip' }), tiny, scratchLog, '/tiny.json');
});

test('a file changed between two requests is served fresh', async () => {
  const path = '/changing.json';
  const file = join(scratch, 'changing.json');
  const version = (n, pad = 0) => Buffer.from(JSON.stringify({ version: n, items: Array.from({ length: 400 + pad }, (_, i) => `item ${i} of version ${n}`) }));
  for (const ae of ['br', 'gzip']) {
    const v1 = version(1);
    writeFileSync(file, v1);
    assertCompressed(await get(scratchServer.url, path, { ae }), v1, ae, scratchLog, path);
    assertCompressed(await get(scratchServer.url, path, { ae }), v1, ae, scratchLog, path); // from the cache
    const v2 = version(2, 50); // another size
    writeFileSync(file, v2);
    assertCompressed(await get(scratchServer.url, path, { ae }), v2, ae, scratchLog, path);
    // The same size, another mtime.
    const v3 = version(3, 50);
    assert.equal(v3.length, v2.length);
    writeFileSync(file, v3);
    const t = new Date(Date.now() + (ae === 'br' ? 5_000 : 10_000));
    utimesSync(file, t, t);
    assertCompressed(await get(scratchServer.url, path, { ae }), v3, ae, scratchLog, path);
  }
  rmSync(file);
  assert.equal((await get(scratchServer.url, path, { ae: 'br' })).status, 404, 'a removed file is not served from the cache');
});

test('concurrent first requests for one file all get the whole body', async () => {
  const file = randomBytes(1 << 20).toString('base64'); // 1.4 MB of text: compressible, not trivially
  writeFileSync(join(scratch, 'big.txt'), file);
  const bytes = Buffer.from(file);
  const answers = await Promise.all(Array.from({ length: 8 }, (_, i) =>
    get(scratchServer.url, '/big.txt', { ae: i % 2 ? 'gzip' : 'br' })));
  for (const [i, res] of answers.entries()) {
    assert.equal(res.headers['content-encoding'], i % 2 ? 'gzip' : 'br');
    assert.equal(Number(res.headers['content-length']), res.body.length);
    assert.ok(res.body.length < bytes.length);
    assert.ok(decoded(res).equals(bytes), `answer ${i} decodes to the file`);
  }
});

test('the wasm module and the weights are sent compressed, if the root has them', async (t) => {
  const rels = ['pkg/privrank_core_bg.wasm', 'pkg/models/student/model.quantized.safetensors']
    .filter((f) => existsSync(join(ROOT, f)));
  if (!rels.length) return t.skip(`no built pkg/ under ${ROOT}`);
  for (const rel of rels) {
    const file = readFileSync(join(ROOT, rel));
    const res = await get(server.url, `/${rel}`, { ae: 'gzip, deflate, br, zstd' });
    assertCompressed(res, file, 'br', logFile, `/${rel}`);
    t.diagnostic(`${rel}: ${file.length} B, ${res.body.length} B as br (${(100 * res.body.length / file.length).toFixed(1)}%)`);
  }
});

/** The policy's directives by name. */
const directives = (csp) => new Map(csp.split(';').map((d) => d.trim()).filter(Boolean)
  .map((d) => [d.split(/\s+/)[0], d]));

test('the CSP goes out on every response; the pages repeat it in a <meta>', async () => {
  const answers = await Promise.all(['/www/', `/${SCRIPT}`, '/www/shop.css', '/www/no-such-file', '/..%2f', '//www']
    .map((path) => get(server.url, path)));
  const header = answers[0].headers['content-security-policy'];
  const policy = directives(header);
  assert.equal(policy.get('frame-ancestors'), "frame-ancestors 'none'");
  assert.equal(policy.get('base-uri'), "base-uri 'none'");
  assert.equal(policy.get('form-action'), "form-action 'self'");
  assert.equal(policy.get('connect-src'), "connect-src 'self'");
  for (const res of answers) assert.equal(res.headers['content-security-policy'], header, `status ${res.status}`);
  // The <meta> fallback: the same directives but frame-ancestors (a header-only one).
  for (const page of ['index.html', 'minimal.html', 'worker.html', 'bench.html']) {
    const html = readFileSync(join(REPO, 'www', page), 'utf8');
    const meta = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(html);
    assert.ok(meta, `www/${page} has a CSP <meta>`);
    const expected = new Map(policy);
    expected.delete('frame-ancestors');
    assert.deepEqual(directives(meta[1]), expected, `www/${page}'s <meta> is the header's policy`);
  }
});

test('no open redirect, no .git in any case, no other Host', async () => {
  // `//host` and `/\host` would send a browser to another site.
  for (const path of ['//www', '//evil.example/www', '/\\evil.example', '/%5Cevil.example', '/www//']) {
    const res = await get(server.url, path);
    assert.equal(res.status, 400, path);
    assert.equal(res.headers.location, undefined, `${path}: no Location`);
  }
  assert.equal((await get(server.url, '/www')).headers.location, '/www/', 'the one redirect stays on this site');
  for (const path of ['/.git/config', '/.GIT/config', '/.Git/HEAD', '/www/../README.md']) {
    assert.equal((await get(server.url, path)).status, 403, path);
  }
  // DNS rebinding: a page on evil.example resolving to 127.0.0.1 gets nothing.
  for (const host of ['evil.example', 'evil.example:8080', '127.0.0.1.evil.example']) {
    assert.equal((await get(server.url, `/${SCRIPT}`, { headers: { Host: host } })).status, 421, host);
  }
  const port = new URL(server.url).port;
  assert.equal((await get(server.url, `/${SCRIPT}`, { headers: { Host: `localhost:${port}` } })).status, 200);
});

test('--edge: POST /edge/<route> reaches the worker and its answer comes back as it is', async () => {
  const seen = [];
  const fake = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, type: req.headers['content-type'], body: Buffer.concat(chunks).toString() });
      res.writeHead(req.url === '/candidates' || req.url.startsWith('/estimates?') ? 200 : 404,
        { 'content-type': 'application/json', 'x-privrank-embedded': '3', 'set-cookie': 'tracker=1' });
      res.end(JSON.stringify({ answer: req.url }));
    });
  });
  await new Promise((resolve) => fake.listen(0, '127.0.0.1', resolve));
  const edgeLog = join(tmp, 'edge.jsonl');
  const proxy = await startServer(edgeLog, scratch, { edge: `http://127.0.0.1:${fake.address().port}/` });
  try {
    const body = JSON.stringify({ ids: ['a', 'b'] });
    const res = await get(proxy.url, '/edge/candidates', { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(res.body), { answer: '/candidates' });
    assert.equal(res.headers['x-privrank-embedded'], '3');
    assert.equal(res.headers['set-cookie'], undefined, "the worker's other headers stay behind");
    assert.match(res.headers['content-security-policy'], /frame-ancestors 'none'/);
    assert.deepEqual(seen, [{ method: 'POST', url: '/candidates', type: 'application/json', body }]);
    assert.deepEqual(logged(edgeLog, 'POST', '/edge/candidates'),
      { method: 'POST', url: '/edge/candidates', status: 200, bytes: res.body.length, encoding: 'identity' });
    assert.equal((await get(proxy.url, '/edge/other', { method: 'POST', body: '{}' })).status, 404, "the worker's status");
    assert.equal((await get(proxy.url, '/edge/candidates')).status, 405, 'GET is not forwarded');
    assert.equal(seen.length, 2);
    // The estimates are read with GET, query and all, and nothing else is.
    const estimates = await get(proxy.url, '/edge/estimates?experiment=demo-headline');
    assert.equal(estimates.status, 200);
    assert.deepEqual(seen.at(-1), { method: 'GET', url: '/estimates?experiment=demo-headline', type: undefined, body: '' });
    assert.equal((await get(proxy.url, '/edge/estimates', { method: 'POST', body: '{}' })).status, 405);
    assert.equal(seen.length, 3);
    const big = 'x'.repeat(4 * 1024 * 1024 + 2);
    assert.equal((await get(proxy.url, '/edge/candidates', { method: 'POST', body: big })).status, 413, 'over the limit: not forwarded');
    assert.equal(seen.length, 3);
    await new Promise((resolve) => fake.close(resolve));
    assert.equal((await get(proxy.url, '/edge/candidates', { method: 'POST', body })).status, 502, 'no worker: 502');
  } finally {
    process.kill(proxy.child.pid);
    fake.close();
  }
  // Without --edge there is nothing to forward to: a POST is refused as before.
  assert.equal((await get(server.url, '/edge/candidates', { method: 'POST', body: '{}' })).status, 405);
});
