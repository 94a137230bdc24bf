// Static file server for the demo (www/) and the browser tests: 127.0.0.1 only,
// no caching, cross-origin isolated, the CSP the npm package documents. No npm deps.
//   node scripts/serve.mjs [--root DIR] [--port N] [--log FILE]
// Prints `privrank: serving <root> at http://127.0.0.1:<port>/` once listening.
// --log appends one JSON line {method, url, status, bytes} per request, written
// before the response is sent (the tests count model downloads with it).
import { createServer } from 'node:http';
import { createReadStream, appendFileSync, realpathSync, statSync, existsSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: opts } = parseArgs({
  options: { root: { type: 'string' }, port: { type: 'string', default: '0' }, log: { type: 'string' } },
});
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
const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'; " +
  "worker-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:";
const COMMON = {
  'Cache-Control': 'no-store',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Content-Type-Options': 'nosniff',
};

function log(method, url, status, bytes) {
  if (opts.log) appendFileSync(opts.log, JSON.stringify({ method, url, status, bytes }) + '\n');
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
  // Refuse `..` (and .git) outright, before any normalisation.
  const parts = path.split(/[\\/]/);
  if (parts.some((p) => p === '..' || p === '.git')) return { status: 403 };
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
  return { status: 200, file, size: stat.size };
}

const server = createServer((req, res) => {
  const url = req.url ?? '/';
  const send = (status, headers = {}, body = '') => {
    const bytes = req.method === 'HEAD' ? 0 : Buffer.byteLength(body);
    log(req.method, url, status, bytes);
    res.writeHead(status, { ...COMMON, 'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': Buffer.byteLength(body), ...headers });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
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
  const headers = {
    ...COMMON,
    'Content-Type': TYPES[ext] ?? 'application/octet-stream',
    'Content-Length': found.size,
  };
  // HTML gets the CSP; so do scripts, since a module Worker takes its policy from
  // its own script's response, not from the page.
  if (ext === '.html' || ext === '.js' || ext === '.mjs') headers['Content-Security-Policy'] = CSP;
  log(req.method, url, 200, req.method === 'HEAD' ? 0 : found.size);
  res.writeHead(200, headers);
  if (req.method === 'HEAD') return res.end();
  const stream = createReadStream(found.file);
  stream.on('error', () => res.destroy());
  res.on('close', () => stream.destroy());
  stream.pipe(res);
});

server.listen(port, '127.0.0.1', () => {
  const url = `http://127.0.0.1:${server.address().port}/`;
  console.log(`privrank: serving ${root} at ${url}`);
  if (existsSync(join(root, 'www', 'index.html'))) console.log(`privrank: the demo storefront is at ${url}www/`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
