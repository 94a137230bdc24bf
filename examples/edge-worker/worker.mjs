// An edge worker (workerd / Cloudflare Workers module syntax) that embeds ad catalogs
// near the user with the same wasm and model as the browser package:
//   POST /embed   body: [{id, title, category?, ...}]   (JSON, at most 4 MiB)
//   → 200 application/x-ndjson, one {"id", "encoder", "embedding"} line per item,
//     the format of `privrank embed-catalog`;
//   POST /candidates   body: the candidates `rank()` takes (JSON, at most 4 MiB), or
//     {"ids": [...]} naming candidates of the catalog the worker is deployed with
//     (the `CANDIDATES` binding: a JSON array of candidates), so that a page asks
//     for its promotions with their ids alone
//   → 200 application/json: the same candidates, every field kept, with `encoder`
//     and the packed `embedding` of each title and creative attached, so the device
//     embeds none of them. Embeddings are kept in the Cache API, keyed by encoder
//     hash and text: a text is embedded once per edge node. The response header
//     `x-privrank-embedded` counts the texts this request had to embed.
//   Either route:
//   → 400 {"error": {code, message, details?}} for bad JSON or bad items,
//     413 for a body over the limit or more than 1000 items, 405/404/415 otherwise.
// The model files travel with the worker as Data modules; it makes no request.
import { initSync, Embedder } from '../../pkg/privrank.js';
import wasm from '../../pkg/privrank_bg.wasm';
// The package's default encoder, the distilled student (4 MB of weights). Module
// imports are static, so its file names appear here once; `fromFiles` checks each
// against the manifest's names and hashes.
import manifest from '../../pkg/models/student/student.json';
import config from '../../pkg/models/student/config.json';
import tokenizer from '../../pkg/models/student/tokenizer.json';
import weights from '../../pkg/models/student/model.quantized.safetensors';

const MAX_BODY_BYTES = 4 * 1024 * 1024;

let embedder;

/** Built on the first request, not at module scope: workerd forbids drawing random
 * numbers there, and the tokenizer's hash maps seed themselves from crypto. */
function getEmbedder() {
  if (!embedder) {
    initSync({ module: wasm });
    embedder = Embedder.fromFiles(manifest, {
      'config.json': config,
      'tokenizer.json': tokenizer,
      'model.quantized.safetensors': weights,
    });
  }
  return embedder;
}

function problem(status, code, message, details, headers = {}) {
  const error = details ? { code, message, details } : { code, message };
  return new Response(JSON.stringify({ error }) + '\n', {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
  });
}

/** The body, or null once it passes `limit` bytes (read no further than that). */
async function readBody(request, limit) {
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > limit) return null;
  if (!request.body) return new Uint8Array();
  const reader = request.body.getReader();
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  const body = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    body.set(chunk, at);
    at += chunk.byteLength;
  }
  return body;
}

const STATUS = {
  BadCandidate: 400, BadInput: 400, TooManyInputs: 413, TooManyCandidates: 413,
};

const ROUTES = ['/embed', '/candidates'];
/** As many ids as `rank()` takes candidates. */
const MAX_IDS = 1000;

/** The bound catalog by id, built once per isolate. */
let catalog;
let catalogSource;

class RequestError extends Error {
  constructor(status, code, message, details) {
    super(message);
    Object.assign(this, { status, code, details });
  }
}

/** The candidates `{"ids": [...]}` names, in its order, from the `CANDIDATES`
 * binding. Every id that is not a string or number, or not in the catalog, is
 * listed in one error. */
function candidatesById(ids, bound) {
  if (!Array.isArray(bound)) {
    throw new RequestError(400, 'BadInput',
      'this worker has no candidate catalog (the CANDIDATES binding): send the candidates themselves');
  }
  if (catalogSource !== bound) {
    catalog = new Map(bound.map((c) => [String(c?.id), c]));
    catalogSource = bound;
  }
  if (!Array.isArray(ids) || ids.length === 0) {
    throw new RequestError(400, 'BadInput', '"ids" must be a non-empty array of candidate ids');
  }
  if (ids.length > MAX_IDS) {
    throw new RequestError(413, 'TooManyCandidates', `${ids.length} ids, at most ${MAX_IDS}`);
  }
  const details = [];
  const found = ids.map((id, index) => {
    const known = (typeof id === 'string' || typeof id === 'number') && catalog.get(String(id));
    if (!known) {
      details.push({ index, field: `ids[${index}]`, reason: `no candidate with id ${JSON.stringify(id)} in this worker's catalog` });
    }
    return known;
  });
  if (details.length) {
    throw new RequestError(400, 'BadInput', `${details.length} of ${ids.length} ids are not in the catalog`, details);
  }
  return found;
}
// Cache keys must be URLs; this host is never fetched (`.invalid` cannot resolve).
const CACHE_HOST = 'https://embeddings.privrank.invalid';

async function cacheKey(encoder, text) {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  const hex = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
  return `${CACHE_HOST}/${encoder}/${hex}`;
}

/** Candidates with their packed embeddings attached: cached texts from the Cache
 * API, the rest embedded in one call and cached. Returns [candidates, embedded]. */
async function readyCandidates(items) {
  const e = getEmbedder();
  const texts = e.candidateTexts(items);
  const cache = await caches.open('privrank-embeddings');
  const keys = await Promise.all(texts.map((t) => cacheKey(e.encoder, t)));
  const hits = await Promise.all(keys.map((key) => cache.match(key)));
  const packed = {};
  const missing = [];
  for (const [i, text] of texts.entries()) {
    if (hits[i]) packed[text] = await hits[i].json();
    else missing.push(i);
  }
  if (missing.length) {
    const fresh = await e.embedPacked(missing.map((i) => texts[i]));
    const puts = missing.map((i, j) => {
      packed[texts[i]] = fresh[j];
      const body = new Response(JSON.stringify(fresh[j]), {
        headers: { 'content-type': 'application/json', 'cache-control': 'max-age=31536000' },
      });
      return cache.put(keys[i], body);
    });
    // Awaited, not left to waitUntil: the next request for these texts must hit.
    await Promise.all(puts);
  }
  return [e.attachEmbeddings(items, packed), missing.length];
}

export default {
  async fetch(request, env) {
    const { pathname } = new URL(request.url);
    if (!ROUTES.includes(pathname)) {
      return problem(404, 'NotFound', 'the routes are POST /embed and POST /candidates');
    }
    if (request.method !== 'POST') {
      return problem(405, 'MethodNotAllowed', `use POST ${pathname}`, undefined, { allow: 'POST' });
    }
    const type = request.headers.get('content-type');
    if (type && !/^application\/json\b/i.test(type)) {
      return problem(415, 'UnsupportedMediaType', `expected application/json, got ${type}`);
    }
    const body = await readBody(request, MAX_BODY_BYTES);
    if (body === null) {
      return problem(413, 'TooLarge', `the body is over the limit of ${MAX_BODY_BYTES} bytes`);
    }
    let items;
    try {
      items = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
    } catch (e) {
      return problem(400, 'BadJson', `the body is not JSON: ${e.message}`);
    }
    try {
      if (pathname === '/candidates') {
        const named = items !== null && typeof items === 'object' && !Array.isArray(items) && 'ids' in items;
        const [ready, embedded] = await readyCandidates(named ? candidatesById(items.ids, env?.CANDIDATES) : items);
        return new Response(JSON.stringify(ready), {
          headers: {
            'content-type': 'application/json; charset=utf-8',
            'x-privrank-embedded': String(embedded),
          },
        });
      }
      const lines = await getEmbedder().embedCatalog(items);
      const text = lines.map((line) => JSON.stringify(line)).join('\n') + '\n';
      return new Response(text, { headers: { 'content-type': 'application/x-ndjson' } });
    } catch (e) {
      const status = e instanceof RequestError ? e.status : STATUS[e?.code] ?? 500;
      return problem(status, e?.code ?? 'Internal', e?.message ?? String(e), e?.details);
    }
  },
};
