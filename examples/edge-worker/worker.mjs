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
//   POST /report   body: one noised report as `ranker.report()` sends it (JSON or
//     text/plain, at most 4 KiB): {experiment, arm, creative?, campaign?, day,
//     epsilon, clicked}
//   → 202 {"counted": true}: added to the experiment's tallies in its Durable Object
//     (SQLite): per experiment, arm, creative, campaign, day and ε, a count of
//     reports and of noised clicks. Nothing else is stored: no IP, no header, no
//     time. More than RATE.burst reports from one client address in a short while
//     → 429 RateLimited (the address is held in this isolate's memory only).
//   GET /estimates?experiment=NAME
//   → 200 application/json: per arm and creative the debiased click rate with its
//     95% interval, reports and ε; per campaign the clicks they imply and, at the
//     campaign's bid in the bound catalog, its spend (`privrank::estimate`).
//   Pacing: a campaign named in the `CAMPAIGNS` binding ({"<campaign>": {"dailyBudget":
//     N}}) also has its reports counted in its own Durable Object, which keeps a PI
//     controller's state (`privrank::pacing`); `/candidates` attaches its multiplier
//     in [0, 1] to the campaign's candidates as `pacing`, and `rank()`'s 'ecpm'
//     objective ranks by ctr × bid × pacing.
//   Every route:
//   → 400 {"error": {code, message, details?}} for bad JSON or bad items,
//     413 for a body over the limit or more than 1000 items, 405/404/415 otherwise.
// The model files travel with the worker as Data modules; it makes no request.
import { DurableObject } from 'cloudflare:workers';
import { initSync, Embedder, checkReport, estimates, pace } from '../../pkg/privrank.js';
import wasm from '../../pkg/privrank_core_bg.wasm';
// The package's default encoder, the distilled student (4 MB of weights). Module
// imports are static, so its file names appear here once; `fromFiles` checks each
// against the manifest's names and hashes.
import manifest from '../../pkg/models/student/student.json';
import config from '../../pkg/models/student/config.json';
import tokenizer from '../../pkg/models/student/vocab.txt';
import weights from '../../pkg/models/student/model.quantized.safetensors';

const MAX_BODY_BYTES = 4 * 1024 * 1024;

let embedder;
let initialised = false;

/** The wasm, instantiated on the first request that needs it: workerd forbids
 * drawing random numbers at module scope, and the tokenizer's hash maps seed
 * themselves from crypto. */
function wasmReady() {
  if (!initialised) {
    initSync({ module: wasm });
    initialised = true;
  }
}

function getEmbedder() {
  if (!embedder) {
    wasmReady();
    embedder = Embedder.fromFiles(manifest, {
      'config.json': config,
      'vocab.txt': tokenizer,
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
  BadCandidate: 400, BadInput: 400, BadOptions: 400, TooManyInputs: 413, TooManyCandidates: 413,
};

/** Each route's method. */
const ROUTES = { '/embed': 'POST', '/candidates': 'POST', '/report': 'POST', '/estimates': 'GET' };
/** A report is a few labels and a bit; nothing honest comes near this. */
const MAX_REPORT_BYTES = 4 * 1024;
/** Reports one client address may send: a burst, then a steady rate. A device's
 * budget allows a few a day (privacyBudget / ε), so only floods meet it. */
const RATE = { burst: 30, perSecond: 0.5 };
/** Client address → {tokens, at}; memory only, cleared when it grows past this. */
const MAX_CLIENTS = 10_000;
const buckets = new Map();
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

/** Whether `client` may send another report now (a token bucket per address). */
function admit(client, now = Date.now()) {
  if (buckets.size > MAX_CLIENTS) buckets.clear();
  const bucket = buckets.get(client) ?? { tokens: RATE.burst, at: now };
  bucket.tokens = Math.min(RATE.burst, bucket.tokens + ((now - bucket.at) / 1000) * RATE.perSecond);
  bucket.at = now;
  buckets.set(client, bucket);
  if (bucket.tokens < 1) return false;
  bucket.tokens -= 1;
  return true;
}

/** One experiment's tallies, in SQLite: the unit a deployment scales by (one
 * object per experiment, each on its own thread and storage). */
export class Collector extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS tallies (
      experiment TEXT NOT NULL, arm TEXT NOT NULL, creative TEXT NOT NULL,
      campaign TEXT NOT NULL, day TEXT NOT NULL, epsilon REAL NOT NULL,
      reports INTEGER NOT NULL, clicked INTEGER NOT NULL,
      PRIMARY KEY (experiment, arm, creative, campaign, day, epsilon))`);
    // A paced campaign's object: its controller's state (one row).
    ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS pacer (
      id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT NOT NULL)`);
  }

  /** The campaign's pacing multiplier now, its controller moved on and stored
   * (`pace`: at most one change per 5 minutes, a new state each UTC day). */
  pacing(campaign) {
    const sql = this.ctx.storage.sql;
    const [row] = sql.exec('SELECT state FROM pacer').toArray();
    wasmReady();
    const state = pace(row ? JSON.parse(row.state) : null, this.tallies(), campaign, Date.now());
    sql.exec('INSERT INTO pacer (id, state) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET state = excluded.state',
      JSON.stringify(state));
    return state.multiplier;
  }

  /** Adds one report's tally (as `checkReport` made it). */
  add(t) {
    this.ctx.storage.sql.exec(
      `INSERT INTO tallies VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (experiment, arm, creative, campaign, day, epsilon) DO UPDATE
       SET reports = reports + excluded.reports, clicked = clicked + excluded.clicked`,
      t.experiment, t.arm, t.creative, t.campaign, t.day, t.epsilon, t.reports, t.clicked,
    );
  }

  tallies() {
    return this.ctx.storage.sql.exec(
      'SELECT experiment, arm, creative, campaign, day, epsilon, reports, clicked FROM tallies',
    ).toArray();
  }
}

const collector = (env, experiment) => {
  if (!env?.COLLECTOR) {
    throw new RequestError(404, 'NotFound', 'this worker has no collector (the COLLECTOR Durable Object binding)');
  }
  return env.COLLECTOR.get(env.COLLECTOR.idFromName(experiment));
};

/** A candidate's campaign: the one it names, or itself (its id). */
const campaignOf = (c) => (c?.campaign ?? c?.id) == null ? null : String(c.campaign ?? c.id);

/** A campaign's cost per click: the bid of its candidates in `list` (the bound
 * catalog; the highest bid if they differ). */
function bids(list) {
  const out = {};
  for (const c of Array.isArray(list) ? list : []) {
    const campaign = campaignOf(c);
    if (campaign !== null && Number.isFinite(c?.bid)) {
      out[campaign] = Math.max(out[campaign] ?? 0, c.bid);
    }
  }
  return out;
}

/** The paced campaigns (`CAMPAIGNS`: {"<campaign>": {"dailyBudget": N}}), checked. */
function pacedCampaigns(env) {
  const bound = env?.CAMPAIGNS ?? {};
  for (const [name, c] of Object.entries(bound)) {
    if (!(Number.isFinite(c?.dailyBudget) && c.dailyBudget > 0)) {
      throw new RequestError(500, 'BadConfig', `CAMPAIGNS.${name}.dailyBudget must be a positive number`);
    }
  }
  return bound;
}

/** Each candidate of a paced campaign with its campaign's multiplier as `pacing`.
 * The bid that prices its clicks is the catalog's, else the highest in `list`; a
 * paced campaign with no bid anywhere is not paced. */
async function attachPacing(list, env) {
  const paced = pacedCampaigns(env);
  const prices = { ...bids(list), ...bids(env?.CANDIDATES) };
  const names = [...new Set(list.map(campaignOf))].filter((c) => Object.hasOwn(paced, c) && c in prices);
  if (!names.length) return list;
  const multipliers = Object.fromEntries(await Promise.all(names.map(async (name) => [name,
    await collector(env, `campaign/${name}`).pacing({ campaign: name, bid: prices[name], dailyBudget: paced[name].dailyBudget })])));
  return list.map((c) => (campaignOf(c) in multipliers ? { ...c, pacing: multipliers[campaignOf(c)] } : c));
}

async function report(request, env) {
  const client = request.headers.get('cf-connecting-ip') ?? 'unknown';
  if (!admit(client)) {
    return problem(429, 'RateLimited', 'too many reports from this address; try again later', undefined, { 'retry-after': String(Math.ceil(1 / RATE.perSecond)) });
  }
  const body = await readBody(request, MAX_REPORT_BYTES);
  if (body === null) {
    return problem(413, 'TooLarge', `a report is at most ${MAX_REPORT_BYTES} bytes`);
  }
  let value;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch (e) {
    return problem(400, 'BadJson', `the body is not JSON: ${e.message}`);
  }
  wasmReady();
  const tally = checkReport(value);
  const paced = tally.campaign && Object.hasOwn(pacedCampaigns(env), tally.campaign);
  // Labels hold no '/', so a campaign's object never shares an experiment's name.
  await Promise.all([
    collector(env, tally.experiment).add(tally),
    paced ? collector(env, `campaign/${tally.campaign}`).add(tally) : null,
  ]);
  return new Response(JSON.stringify({ counted: true }) + '\n', {
    status: 202,
    headers: { 'content-type': 'application/json; charset=utf-8', 'access-control-allow-origin': '*' },
  });
}

async function answerEstimates(url, env) {
  const experiment = url.searchParams.get('experiment');
  if (!experiment) {
    throw new RequestError(400, 'BadInput', 'name the experiment: GET /estimates?experiment=NAME');
  }
  wasmReady();
  const tallies = await collector(env, experiment).tallies();
  const out = estimates(experiment, tallies, bids(env?.CANDIDATES));
  return new Response(JSON.stringify(out) + '\n', {
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
  });
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const { pathname } = url;
    const method = ROUTES[pathname];
    if (!method) {
      return problem(404, 'NotFound', `the routes are ${Object.entries(ROUTES).map(([p, m]) => `${m} ${p}`).join(', ')}`);
    }
    if (request.method !== method) {
      return problem(405, 'MethodNotAllowed', `use ${method} ${pathname}`, undefined, { allow: method });
    }
    const type = request.headers.get('content-type');
    const types = pathname === '/report' ? /^(application\/json|text\/plain)\b/i : /^application\/json\b/i;
    if (method === 'POST' && type && !types.test(type)) {
      return problem(415, 'UnsupportedMediaType', `expected application/json, got ${type}`);
    }
    try {
      if (pathname === '/report') return await report(request, env);
      if (pathname === '/estimates') return await answerEstimates(url, env);
    } catch (e) {
      return failure(e);
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
        const [embeddedList, embedded] = await readyCandidates(named ? candidatesById(items.ids, env?.CANDIDATES) : items);
        const ready = await attachPacing(embeddedList, env);
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
      return failure(e);
    }
  },
};

/** A thrown error as its JSON answer: privrank's codes and RequestErrors keep theirs. */
function failure(e) {
  const status = e instanceof RequestError ? e.status : STATUS[e?.code] ?? 500;
  return problem(status, e?.code ?? 'Internal', e?.message ?? String(e), e?.details);
}
