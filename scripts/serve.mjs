// Static file server for the demo (www/) and the browser tests: 127.0.0.1 only (and
// only to Host 127.0.0.1 or localhost), no caching, cross-origin isolated, the CSP the
// npm package documents on every response. No npm deps.
//   node scripts/serve.mjs [--root DIR] [--port N] [--log FILE] [--edge URL]
// --edge: POST /edge/<route> (and GET /edge/estimates) is forwarded to <URL>/<route> (the edge worker,
// examples/edge-worker), as a CDN routes a path of the shop's own site to its
// worker: the page reaches the worker from its own origin, under connect-src 'self'.
// Prints `privrank: serving <root> at http://127.0.0.1:<port>/` once listening.
// --log appends one JSON line {method, url, status, bytes, encoding} per request,
// written before the response is sent (the tests count model downloads with it):
// `bytes` is the body as sent (compressed if it was; 0 for HEAD), `encoding` its
// Content-Encoding ("br", "gzip" or "identity").
// Responses are compressed the way a CDN would send them (see COMPRESSIBLE and
// QUALITY below), so the privacy panel's byte counts are honest transfer sizes.
import { createServer } from 'node:http';
import { createReadStream, appendFileSync, realpathSync, statSync, existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import zlib from 'node:zlib';

const { values: opts } = parseArgs({
  options: {
    root: { type: 'string' }, port: { type: 'string', default: '0' }, log: { type: 'string' }, edge: { type: 'string' },
  },
});
let edge = null;
if (opts.edge) {
  try {
    edge = new URL(opts.edge);
  } catch {
    console.error(`privrank: bad --edge ${opts.edge}`);
    process.exit(2);
  }
}
/** The edge worker's own body limit, plus one byte so that it sees (and refuses) more. */
const EDGE_BODY_LIMIT = 4 * 1024 * 1024 + 1;
const root = realpathSync(resolve(opts.root ?? fileURLToPath(new URL('..', import.meta.url))));
const port = Number(opts.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`privrank: bad --port ${opts.port}`);
  process.exit(2);
}

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.safetensors': 'application/octet-stream',
  '.bin': 'application/octet-stream',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
};
// Sent on every response, whatever its type or status (www/*.html repeat it in a
// <meta>, less frame-ancestors, which only a header can carry).
const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'; " +
  "worker-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
const COMMON = {
  'Content-Security-Policy': CSP,
  'Cache-Control': 'no-store',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Content-Type-Options': 'nosniff',
};

function log(method, url, status, bytes, encoding = 'identity') {
  if (opts.log) appendFileSync(opts.log, JSON.stringify({ method, url, status, bytes, encoding }) + '\n');
}

// ------------------------------------------------------------------ compression
/** Types worth compressing: text, wasm and model weights (png/ico are compressed already). */
const COMPRESSIBLE = new Set(['.html', '.js', '.mjs', '.json', '.css', '.wasm', '.safetensors', '.bin',
  '.svg', '.txt', '.md', '.ts']);
/** Bodies smaller than this go out as they are (the headers cost more than the saving). */
const MIN_COMPRESS = 1024;
// Quality levels, measured with node:zlib on this repository's files (2-core machine,
// busy; one run each):
//   pkg/privrank_bg.wasm, 24.0 MB:  gzip -6 5.27 MB (21.9%) 0.38 s | gzip -9 5.25 MB 0.52 s
//     br 4 4.16 MB (17.3%) 0.33 s | br 5 3.91 MB 0.53 s | br 6 3.84 MB (16.0%) 0.78 s
//     br 8 3.76 MB 2.0 s | br 9 3.74 MB (15.5%) 3.0 s | br 11 3.25 MB (13.5%) 42.8 s
//   model.quantized.safetensors, 4.6 MB: ~85% at every level (int8 weights); br 6 0.09 s
//   tokenizer.json, 466 kB: gzip -6 41.0% | br 6 38.2% 0.03 s | br 9 37.3% 0.08 s
//     (the student's vocab.txt, the same tokens, is 232 kB)
// Brotli 11 is what a CDN uses for assets it precompresses, but 43 s before the first
// byte of the wasm is too long for a dev server; brotli 6 is within 2.5 points of it
// and within 0.5 point of 9 at a quarter of 9's time (CDNs compressing on the fly use
// 4-6). gzip -6 is zlib's default and what CDNs send; -9 saves 0.3% for 40% more time.
const QUALITY = { br: 6, gzip: 6 };
const brotli = promisify(zlib.brotliCompress);
const gzip = promisify(zlib.gzip);
const COMPRESS = {
  br: (buf) => brotli(buf, { params: {
    [zlib.constants.BROTLI_PARAM_QUALITY]: QUALITY.br,
    [zlib.constants.BROTLI_PARAM_SIZE_HINT]: buf.length,
  } }),
  gzip: (buf) => gzip(buf, { level: QUALITY.gzip }),
};

/**
 * The Content-Encoding to send for an Accept-Encoding header: "br" or "gzip", whichever
 * the client gives the higher q-value (br on a tie), else "identity". q=0 refuses a
 * coding; `*` stands for any coding the header does not name; x-gzip is gzip. No header
 * (or an empty one) means identity. Identity is the fallback even where the client
 * refuses it: sending something beats a 406 for a demo.
 */
function negotiate(header) {
  if (!header) return 'identity';
  const q = new Map();
  for (const item of String(header).split(',')) {
    const [name, ...params] = item.trim().toLowerCase().split(';').map((p) => p.trim());
    if (!name) continue;
    let weight = 1;
    for (const param of params) {
      const m = /^q\s*=\s*([0-9.]+)$/.exec(param);
      if (m) weight = Number(m[1]);
    }
    if (!Number.isFinite(weight)) weight = 0;
    const coding = name === 'x-gzip' ? 'gzip' : name;
    q.set(coding, Math.max(q.get(coding) ?? 0, weight)); // a repeated coding: its best q
  }
  const of = (coding) => q.get(coding) ?? q.get('*') ?? 0;
  const br = of('br');
  const gz = of('gzip');
  if (br > 0 && br >= gz) return 'br';
  if (gz > 0) return 'gzip';
  return 'identity';
}

/** Compressed bodies, one entry per (file, encoding): {mtimeMs, size, body: Promise<Buffer>}.
 *  A request for a file whose mtime or size has changed compresses it again and
 *  replaces the entry, so the cache holds at most one version of each file. Concurrent
 *  first requests share the one promise. */
const compressed = new Map();

function compressedBody(file, stat, encoding) {
  const key = `${encoding}\0${file}`;
  const hit = compressed.get(key);
  if (hit && hit.mtimeMs === stat.mtimeMs && hit.size === stat.size) return hit.body;
  const entry = { mtimeMs: stat.mtimeMs, size: stat.size, body: null };
  entry.body = readFile(file).then((raw) => COMPRESS[encoding](raw));
  // A failure is not cached: the next request tries again.
  entry.body.catch(() => { if (compressed.get(key) === entry) compressed.delete(key); });
  compressed.set(key, entry);
  return entry.body;
}

/** Map a request path to a file under root, or an HTTP status explaining why not. */
function locate(rawPath) {
  let path;
  try {
    path = decodeURIComponent(rawPath);
  } catch {
    return { status: 400 };
  }
  if (!path.startsWith('/') || path.includes('\0')) return { status: 400 };
  // `//host` and `/\host` are other sites to a browser: a redirect to one would be an
  // open redirect, so neither an empty segment nor a backslash is a path here.
  if (path.includes('//') || path.includes('\\')) return { status: 400 };
  // Refuse `..` (and .git, in any case: some file systems fold it) outright, before
  // any normalisation.
  const parts = path.split('/');
  if (parts.some((p) => p === '..' || p.toLowerCase() === '.git')) return { status: 403 };
  // Symlinks are followed wherever they point (a build may link pkg/models to
  // models/); what cannot happen is a URL naming a path outside root.
  let file = join(root, ...parts);
  let stat;
  try {
    stat = statSync(file);
  } catch {
    return { status: 404 };
  }
  if (stat.isDirectory()) {
    if (!path.endsWith('/')) return { status: 301, location: rawPath + '/' };
    if (existsSync(join(file, 'index.html'))) {
      file = join(file, 'index.html');
      stat = statSync(file);
    } else if (path === '/' && existsSync(join(root, 'www', 'index.html'))) {
      return { status: 302, location: '/www/' }; // the demo
    } else {
      return { status: 404 };
    }
  }
  if (!stat.isFile()) return { status: 404 };
  return { status: 200, file, size: stat.size, stat };
}

const server = createServer(async (req, res) => {
  const url = req.url ?? '/';
  const send = (status, headers = {}, body = '') => {
    const bytes = req.method === 'HEAD' ? 0 : Buffer.byteLength(body);
    log(req.method, url, status, bytes);
    res.writeHead(status, { ...COMMON, 'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': Buffer.byteLength(body), ...headers });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
  try {
    await respond(req, res, url, send);
  } catch (e) {
    // Nothing may crash the server or leave a request hanging.
    console.error(`privrank: ${req.method} ${url}: ${e?.stack ?? e}`);
    if (!res.headersSent) {
      try { return send(500, {}, 'internal server error\n'); } catch { /* fall through */ }
    }
    res.destroy();
  }
});

/** The request body, or null past `limit` bytes. */
async function readBody(req, limit) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** The worker's routes read with GET (its answers only); every other is a POST. */
const EDGE_GETS = new Set(['/edge/estimates']);

/** POST /edge/<route> (GET /edge/estimates) → the edge worker's /<route>; its answer
 * relayed as it is. */
async function forward(req, res, url, send) {
  const method = EDGE_GETS.has(url.split('?')[0]) ? 'GET' : 'POST';
  if (req.method !== method) return send(405, { Allow: method }, 'method not allowed\n');
  const body = method === 'POST' ? await readBody(req, EDGE_BODY_LIMIT) : undefined;
  if (body === null) return send(413, {}, 'request body too large\n');
  const target = new URL(url.slice('/edge'.length), edge);
  let answer;
  try {
    answer = await fetch(target, method === 'GET' ? {} : {
      method, body,
      headers: { 'content-type': req.headers['content-type'] ?? 'application/octet-stream' },
    });
  } catch (e) {
    console.error(`privrank: the edge worker at ${edge.origin} did not answer: ${e?.cause?.message ?? e?.message ?? e}`);
    return send(502, {}, 'the edge worker did not answer\n');
  }
  const out = Buffer.from(await answer.arrayBuffer());
  const headers = { ...COMMON, 'Content-Type': answer.headers.get('content-type') ?? 'application/octet-stream',
    'Content-Length': out.length };
  const embedded = answer.headers.get('x-privrank-embedded');
  if (embedded !== null) headers['x-privrank-embedded'] = embedded;
  log(req.method, url, answer.status, out.length);
  res.writeHead(answer.status, headers);
  res.end(out);
}

/** The Host names this server answers to. Any other is refused, so a page on a
 * domain an attacker points at 127.0.0.1 (DNS rebinding) cannot read it. */
const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost']);

function localHost(header) {
  if (!header) return false;
  return LOCAL_HOSTS.has(header.replace(/:\d+$/, '').toLowerCase());
}

async function respond(req, res, url, send) {
  if (!localHost(req.headers.host)) return send(421, {}, 'this server answers to 127.0.0.1 and localhost only\n');
  if (edge && url.startsWith('/edge/')) return forward(req, res, url, send);
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return send(405, { Allow: 'GET, HEAD' }, 'method not allowed\n');
  }
  const found = locate(url.split(/[?#]/, 1)[0]);
  if (found.status === 301 || found.status === 302) {
    return send(found.status, { Location: found.location }, `see ${found.location}\n`);
  }
  if (found.status !== 200) {
    const text = { 400: 'bad request', 403: 'forbidden', 404: 'not found' }[found.status];
    return send(found.status, {}, `${text}\n`);
  }
  const ext = extname(found.file).toLowerCase();
  // COMMON carries the CSP: scripts need it as well as pages, since a module Worker
  // takes its policy from its own script's response, not from the page.
  const headers = {
    ...COMMON,
    'Content-Type': TYPES[ext] ?? 'application/octet-stream',
    'Content-Length': found.size,
  };
  // Range is ignored (every answer is the whole body), so no Accept-Ranges.
  if (COMPRESSIBLE.has(ext)) {
    headers.Vary = 'Accept-Encoding';
    const encoding = found.size >= MIN_COMPRESS ? negotiate(req.headers['accept-encoding']) : 'identity';
    if (encoding !== 'identity') {
      let body = null;
      try {
        body = await compressedBody(found.file, found.stat, encoding);
      } catch (e) {
        console.error(`privrank: compressing ${found.file} (${encoding}) failed, sending it uncompressed: ${e?.message ?? e}`);
      }
      // A body that does not shrink goes out as it is (as a CDN would send it).
      if (body && body.length < found.size) {
        headers['Content-Encoding'] = encoding;
        headers['Content-Length'] = body.length;
        log(req.method, url, 200, req.method === 'HEAD' ? 0 : body.length, encoding);
        res.writeHead(200, headers);
        return res.end(req.method === 'HEAD' ? undefined : body);
      }
    }
  }
  log(req.method, url, 200, req.method === 'HEAD' ? 0 : found.size, 'identity');
  res.writeHead(200, headers);
  if (req.method === 'HEAD') return res.end();
  const stream = createReadStream(found.file);
  stream.on('error', () => res.destroy());
  res.on('close', () => stream.destroy());
  stream.pipe(res);
}

server.listen(port, '127.0.0.1', () => {
  const url = `http://127.0.0.1:${server.address().port}/`;
  console.log(`privrank: serving ${root} at ${url}`);
  if (existsSync(join(root, 'www', 'index.html'))) console.log(`privrank: the demo storefront is at ${url}www/`);
  if (edge) console.log(`privrank: POST /edge/* goes to the edge worker at ${edge.origin}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
