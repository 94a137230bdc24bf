// A seeded generator of the hostile values a page, an ad server or an HTTP client
// could hand the package: any JSON, deep nesting, huge strings, NaN and ±Infinity,
// BigInt, typed arrays, Symbols, functions, Maps, objects whose getters throw and
// Proxies that throw on every trap, plus valid candidates with one field replaced.
// Used by tests/edge/fuzz.test.mjs (Node) and tests/browser/pkg.test.mjs (a page).

/** mulberry32: a small deterministic PRNG, so a failing case can be replayed. */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = (r, list) => list[Math.floor(r() * list.length)];

/** `o[key] = v` as an own data property, even for `__proto__` or over a getter. */
function put(o, key, v) {
  Object.defineProperty(o, key, { value: v, enumerable: true, writable: true, configurable: true });
}

/** Field names the parsers read, and near misses, so objects hit real paths. */
const KEYS = ['id', 'title', 'category', 'bid', 'features', 'campaign', 'advertiser', 'kAnonymous',
  'prior', 'pacing', 'fallback', 'creatives', 'related', 'encoder', 'embedding', 'extras', 'text',
  'itemId', 'weight', 'int8', 'scale', 'popularity', 'release_year', 'kind', 'ts', 'advertizer',
  '__proto__', 'constructor', 'toJSON', '', '\u0000', '🦀'];

const STRINGS = ['', ' ', 'Toy Story (1995)', '\u0000', '\uD800', 'e\u0301', '🦀🦀', '\u202Eevil',
  '<script>', 'null', '1e309', '-0', 'ＡＢＣ', '漢字とかな', 'a'.repeat(1000)];

const NUMBERS = [0, -0, 1, -1, 0.5, NaN, Infinity, -Infinity, 1e300, -1e300, 2 ** 53, 2 ** 53 + 2,
  Number.MIN_VALUE, 4294967296, -2147483649];

function throwing() {
  const o = {};
  for (const k of ['id', 'title', 'bid']) {
    Object.defineProperty(o, k, { enumerable: true, get() { throw new Error(`getter ${k} throws`); } });
  }
  return o;
}

function hostileProxy() {
  const boom = () => { throw new Error('proxy trap throws'); };
  return new Proxy({}, { get: boom, has: boom, ownKeys: boom, getOwnPropertyDescriptor: boom, getPrototypeOf: boom });
}

/** A nest `depth` arrays (or objects) deep. */
function nested(depth, asObject) {
  let v = 1;
  for (let i = 0; i < depth; i++) v = asObject ? { k: v } : [v];
  return v;
}

/** Any value; `depth` bounds the ordinary (non-deliberate) nesting. */
export function value(r, depth = 0) {
  const roll = r();
  if (roll < 0.08) return pick(r, [null, undefined, true, false]);
  if (roll < 0.2) return pick(r, NUMBERS);
  if (roll < 0.32) return pick(r, STRINGS);
  if (roll < 0.36) return 'x'.repeat(Math.floor(r() * 300_000));
  if (roll < 0.39) return pick(r, [10n, -(2n ** 70n)]);
  if (roll < 0.42) return pick(r, [new Uint8Array(7), new Float32Array([1, NaN]), new ArrayBuffer(3)]);
  if (roll < 0.44) return pick(r, [Symbol('s'), () => 1, new Map([[1, 2]]), new Date(NaN), /re/]);
  if (roll < 0.47) return throwing();
  if (roll < 0.5) return hostileProxy();
  if (roll < 0.53) return nested(Math.floor(r() * 5000), r() < 0.5);
  if (depth > 4) return pick(r, STRINGS);
  if (roll < 0.75) return Array.from({ length: Math.floor(r() * 5) }, () => value(r, depth + 1));
  const o = {};
  for (let i = Math.floor(r() * 5); i > 0; i--) put(o, pick(r, KEYS), value(r, depth + 1));
  return o;
}

/** A valid candidate with one field (or the whole thing) replaced by anything. */
export function candidate(r, i) {
  const c = {
    id: `c-${i}`, title: pick(r, ['Alien (1979)', 'Fargo (1996)', 'Toy Story (1995)']),
    category: 'Sci-Fi', bid: 0.5, features: { popularity: 0.5 },
    creatives: [{ id: 'a', text: 'A creative' }], related: [{ itemId: 'm-1', weight: 0.5 }],
  };
  const roll = r();
  if (roll < 0.1) return value(r);
  if (roll < 0.85) put(c, pick(r, KEYS), value(r));
  return c;
}

/** A list for rank() or embedCatalog(): mostly candidates, sometimes anything. */
export function candidates(r) {
  if (r() < 0.1) return value(r);
  return Array.from({ length: Math.floor(r() * 6) }, (_, i) => candidate(r, i));
}

/** How a call ended: 'ok', a privrank error code, a JS error's name, or 'timeout'. */
export async function outcome(call, ms) {
  let timer;
  const deadline = new Promise((resolve) => { timer = setTimeout(() => resolve('timeout'), ms); });
  const ran = (async () => {
    try {
      await call();
      return 'ok';
    } catch (e) {
      return typeof e?.code === 'string' ? e.code : (e?.constructor?.name ?? typeof e);
    }
  })();
  const out = await Promise.race([ran, deadline]);
  clearTimeout(timer);
  return out;
}
