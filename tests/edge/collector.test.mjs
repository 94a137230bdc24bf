// The collector (issue 19) in the edge worker, in workerd through miniflare with its
// SQLite Durable Object persisted to a temporary folder: reports are checked and
// counted, estimates debias them (checked against this file's own arithmetic), bad
// reports get typed errors, floods are limited, and the stored rows hold labels and
// counts only: no address, no header, no time finer than the day.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Miniflare } from 'miniflare';
import { options, ROOT } from '../../examples/edge-worker/config.mjs';

const missing = !existsSync(join(ROOT, 'pkg', 'privrank_core_bg.wasm'));
if (missing && process.env.PRIVRANK_REQUIRE_PKG) {
  throw new Error('pkg/ is not built: run `bash scripts/build-pkg` first');
}
const skip = missing ? 'pkg/ is not built (bash scripts/build-pkg)' : false;

const tmp = mkdtempSync(join(tmpdir(), 'privrank-collector-'));
const persist = join(tmp, 'do');
const CATALOG = [
  { id: 'ad-1', title: 'Star Wars (1977)', bid: 0.5, campaign: 'spring' },
  { id: 'ad-2', title: 'Fargo (1996)', bid: 0.25 },
];
// Paced: `spring` (ad-1) on a budget its reports below overspend, ad-2 (its own
// campaign) on one nothing has touched.
const PACED = { spring: { dailyBudget: 1 }, 'ad-2': { dailyBudget: 1000 } };
// What a client sends beside its reports: none of it may be stored.
const SECRET = { ip: '203.0.113.77', agent: 'SecretAgent/9.9', cookie: 'sid=s3cr3t-c00kie' };

let mf;
let base;
const outbound = [];

before(async () => {
  if (skip) return;
  mf = new Miniflare(options({
    candidates: CATALOG,
    campaigns: PACED,
    persist,
    outboundService: (request) => {
      outbound.push(request.url);
      return new Response('no network for the edge worker', { status: 599 });
    },
  }));
  base = await mf.ready;
});

after(async () => {
  await mf?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

const report = (overrides = {}) => ({
  experiment: 'headline', arm: 'a', creative: 'title', campaign: 'spring',
  day: '2026-12-06', epsilon: 1, clicked: false, ...overrides,
});

let client = 0;
/** POST /report from its own client address unless `ip` says otherwise. */
const send = (body, { ip = `198.51.100.${++client % 250}`, type = 'text/plain;charset=UTF-8', headers = {} } = {}) =>
  mf.dispatchFetch(new URL('/report', base), {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'content-type': type, 'cf-connecting-ip': ip, ...headers },
  });

const estimates = async (experiment) => {
  const res = await mf.dispatchFetch(new URL(`/estimates?experiment=${experiment}`, base));
  assert.equal(res.status, 200, await res.clone().text());
  return res.json();
};

/** Randomized response's debiasing, written here independently of the library. */
function debiased(yes, n, epsilon) {
  const p = Math.exp(epsilon) / (1 + Math.exp(epsilon));
  const r = yes / n;
  const q = (yes + 0.5) / (n + 1); // the rate the variance is taken at, off 0 and 1
  return { ctr: (r - (1 - p)) / (2 * p - 1), se: Math.sqrt(q * (1 - q) / n) / (2 * p - 1) };
}

test('reports are counted per labels, day and ε, and estimated as randomized response debiases them', { skip }, async () => {
  // Arm a: 40 reports, 14 said clicked; arm b: 30 reports, 20 said clicked.
  const sent = [
    ...Array.from({ length: 40 }, (_, i) => report({ clicked: i < 14 })),
    ...Array.from({ length: 30 }, (_, i) => report({ arm: 'b', creative: 'tagline', clicked: i < 20 })),
  ];
  for (const body of sent) {
    const res = await send(body);
    assert.equal(res.status, 202, await res.text());
  }
  const got = await estimates('headline');
  assert.equal(got.experiment, 'headline');
  assert.equal(got.arms.length, 2);
  for (const [arm, yes, n] of [['a', 14, 40], ['b', 20, 30]]) {
    const row = got.arms.find((r) => r.arm === arm);
    const want = debiased(yes, n, 1);
    assert.equal(row.reports, n);
    assert.deepEqual(row.epsilon, [1]);
    assert.ok(Math.abs(row.ctr - want.ctr) < 1e-12, `${arm}: ${row.ctr} vs ${want.ctr}`);
    assert.ok(Math.abs(row.low - Math.max(0, want.ctr - 1.959964 * want.se)) < 1e-6, `${arm} low ${row.low}`);
    assert.ok(Math.abs(row.high - Math.min(1, want.ctr + 1.959964 * want.se)) < 1e-6, `${arm} high ${row.high}`);
  }
  // The campaign: all 70 reports; clicks are the pooled rate times 70, spend at the
  // catalog's bid for `spring` (0.5).
  const [campaign] = got.campaigns;
  assert.equal(campaign.campaign, 'spring');
  assert.equal(campaign.reports, 70);
  const pooled = (40 * debiased(14, 40, 1).ctr + 30 * debiased(20, 30, 1).ctr);
  assert.ok(Math.abs(campaign.clicks - pooled) < 1e-9, `${campaign.clicks} vs ${pooled}`);
  assert.equal(campaign.bid, 0.5);
  assert.ok(Math.abs(campaign.spend - pooled * 0.5) < 1e-9);
  // Another experiment is another object and starts empty.
  assert.deepEqual((await estimates('other')).arms, []);
  assert.deepEqual(outbound, [], 'the collector fetched something');
});

test('bad reports get typed 400s; oversized bodies 413; other methods 405', { skip }, async () => {
  const cases = [
    ['{"experiment": ', 400, 'BadJson'],
    [report({ userId: 'u-1' }), 400, 'BadInput'],
    [report({ day: '2026-12-06T10:31:00Z' }), 400, 'BadInput'],
    [report({ day: '2026-02-30' }), 400, 'BadInput'],
    [report({ epsilon: 0 }), 400, 'BadInput'],
    [report({ epsilon: 9 }), 400, 'BadInput'],
    [report({ arm: 'has spaces and a long free text'.repeat(3) }), 400, 'BadInput'],
    [report({ clicked: 'yes' }), 400, 'BadInput'],
    [{ ...report(), experiment: undefined }, 400, 'BadInput'],
    [JSON.stringify(report()) + ' '.repeat(5000), 413, 'TooLarge'],
  ];
  for (const [body, status, code] of cases) {
    const res = await send(body);
    const text = await res.text();
    assert.equal(res.status, status, `${JSON.stringify(body).slice(0, 80)} → ${text}`);
    assert.equal(JSON.parse(text).error.code, code, text);
  }
  const get = await mf.dispatchFetch(new URL('/report', base));
  assert.equal(get.status, 405);
  const form = await send(report(), { type: 'application/x-www-form-urlencoded' });
  assert.equal(form.status, 415);
  const unnamed = await mf.dispatchFetch(new URL('/estimates', base));
  assert.equal(unnamed.status, 400);
  // None of the refused reports was counted.
  assert.deepEqual((await estimates('headline')).arms.map((a) => a.reports).sort(), [30, 40]);
});

test('a flood from one address is rate-limited; other addresses are not', { skip }, async () => {
  const statuses = [];
  for (let i = 0; i < 40; i++) statuses.push((await send(report({ experiment: 'flood' }), { ip: '192.0.2.1' })).status);
  const accepted = statuses.filter((s) => s === 202).length;
  assert.ok(accepted >= 30 && accepted <= 31, `${accepted} of 40 accepted`);
  assert.ok(statuses.slice(32).every((s) => s === 429), statuses.join(' '));
  const limited = await send(report({ experiment: 'flood' }), { ip: '192.0.2.1' });
  assert.equal(limited.status, 429);
  assert.equal((await limited.json()).error.code, 'RateLimited');
  assert.equal((await send(report({ experiment: 'flood' }), { ip: '192.0.2.2' })).status, 202);
});

test('pacing: /candidates attaches each paced campaign\'s multiplier; past its budget it is 0', { skip }, async () => {
  const today = new Date().toISOString().slice(0, 10);
  // 40 of today's impressions of spring, each saying "clicked" at ε = 8 (almost
  // always the truth): about 40 clicks at 0.5, against a budget of 1.
  for (let i = 0; i < 40; i++) {
    const res = await send(report({ experiment: 'pacing', day: today, epsilon: 8, clicked: true }));
    assert.equal(res.status, 202);
  }
  const res = await mf.dispatchFetch(new URL('/candidates', base), {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ids: ['ad-1', 'ad-2'] }),
  });
  const got = await res.json();
  assert.equal(res.status, 200, JSON.stringify(got));
  assert.equal(got[0].pacing, 0, 'spring spent its budget: paused for the day');
  // ad-2 has spent nothing: behind its curve, so open (unless the day is under five
  // minutes old, when the pacer has not moved yet and holds its start value of 1).
  assert.ok(got[1].pacing > 0 && got[1].pacing <= 1, `ad-2: ${got[1].pacing}`);
  // The same candidates rank by ctr × bid × pacing: spring's value is 0.
  assert.deepEqual(Object.keys(got[0]).filter((k) => !['embedding', 'encoder'].includes(k)).sort(),
    ['bid', 'campaign', 'id', 'pacing', 'title']);
});

test('the stored rows are labels and counts only: no address, no header, no time', { skip }, async () => {
  const res = await send(report({ experiment: 'audit', clicked: true }), {
    ip: SECRET.ip, headers: { 'user-agent': SECRET.agent, cookie: SECRET.cookie, referer: 'https://shop.example/p/1?u=42' },
  });
  assert.equal(res.status, 202);
  await mf.dispose();
  mf = null;
  const files = [];
  const walk = (dir) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else files.push(path);
    }
  };
  walk(persist);
  const databases = files.filter((f) => f.endsWith('.sqlite'));
  assert.ok(databases.length >= 1, `no SQLite files in ${files.join(', ')}`);
  for (const file of files) {
    const bytes = readFileSync(file).toString('latin1');
    for (const secret of [...Object.values(SECRET), '198.51.100.', '192.0.2.', 'shop.example']) {
      assert.ok(!bytes.includes(secret), `${file} holds ${secret}`);
    }
  }
  // Every table and row, read with Python's sqlite3 (another SQLite reader).
  const dump = (file) => JSON.parse(execFileSync('python3', ['-c', `
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
print(json.dumps({t: {"columns": [c[1] for c in db.execute(f"PRAGMA table_info('{t}')")],
                      "rows": db.execute(f"SELECT * FROM '{t}'").fetchall()} for t in tables}))
`, file]));
  const dumps = databases.map(dump);
  // The audit experiment's own object holds that one report's tally, and nothing else.
  const audited = dumps.find((d) => d.tallies?.rows.length && d.tallies.rows.every((r) => r[0] === 'audit'));
  assert.ok(audited, 'the audit report is in no experiment database of its own');
  assert.deepEqual(audited.tallies.rows, [['audit', 'a', 'title', 'spring', '2026-12-06', 1, 1, 1]]);
  // Every object's tables: tallies and the pacer's state, with these columns only;
  // workerd's own bookkeeping tables (e.g. _cf_KV) hold nothing that was sent.
  for (const [i, d] of dumps.entries()) {
    // miniflare's own metadata.sqlite (alarms) aside, each file is one object's.
    if (databases[i].endsWith('metadata.sqlite')) {
      assert.ok(!JSON.stringify(d).includes(SECRET.ip));
      continue;
    }
    assert.deepEqual(Object.keys(d).filter((t) => !t.startsWith('_cf_')).sort(), ['pacer', 'tallies'], databases[i]);
    assert.deepEqual(d.tallies.columns,
      ['experiment', 'arm', 'creative', 'campaign', 'day', 'epsilon', 'reports', 'clicked']);
    assert.deepEqual(d.pacer.columns, ['id', 'state']);
    for (const { state } of d.pacer.rows.map(([, state]) => ({ state: JSON.parse(state) }))) {
      assert.deepEqual(Object.keys(state).sort(), ['day', 'integral', 'multiplier', 'spent', 'target', 'updatedMs']);
    }
    const text = JSON.stringify(d);
    for (const secret of [...Object.values(SECRET), '198.51.100.', '192.0.2.']) {
      assert.ok(!text.includes(secret), `a table holds ${secret}`);
    }
  }
});
