// The browser benchmark, one library per page load; scripts/bench-browser.mjs drives it.
//   ?lib=privrank|transformers|rank|coldstart|visit  &model=paraphrase-minilm-l3-v2  &n=200  &threads=1
//   &device=wasm|webgpu (the encoders' backend; webgpu needs an adapter)
//   &own=1 (privrank: a model committed in its own folder, e.g. model=student)
// Texts: the first n titles of the fetched MovieLens-100k items (as benches/onnx_peer.py
// and benches/native.rs). Every batch is full, cycling through the texts. Writes the
// result as JSON into #out and sets body[data-status] to done or error.
const params = new URLSearchParams(location.search);
const LIB = params.get('lib') ?? 'privrank';
const MODEL = params.get('model') ?? 'paraphrase-minilm-l3-v2';
const N = Number(params.get('n') ?? 200);
const THREADS = Number(params.get('threads') ?? 1);
const DEVICE = params.get('device') ?? 'wasm';
const STORE = 'privrank-bench';
// `batches=1` (comma-separated) narrows a run to those sizes, e.g. to profile one.
const BATCHES = (params.get('batches') ?? '1,16,64').split(',').map(Number);
const WARMUP = 3;
const MIN_ITERS = 20;

const ms = () => performance.now();

// Long tasks on this page's main thread (over 50 ms), from navigation on: the
// `visit` pages report them (buffered, so tasks before this line count too).
const longTasks = [];
try {
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) longTasks.push({ start_ms: e.startTime, duration_ms: e.duration });
  }).observe({ type: 'longtask', buffered: true });
} catch { /* no Long Tasks API: reported as null below */ }
const sleep = (t) => new Promise((r) => setTimeout(r, t));

async function movielens() {
  const text = await (await fetch('/.cache/data/ml-100k/ml-100k.item')).text();
  const [header, ...rows] = text.trimEnd().split('\n');
  const col = Object.fromEntries(header.split('\t').map((h, i) => [h.split(':')[0], i]));
  return rows.map((line) => {
    const r = line.split('\t');
    return { id: r[col.item_id], title: r[col.movie_title].trim(), genres: r[col.class].split(' ').filter(Boolean).join(', ') };
  });
}

function stats(samples, batch) {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  return { min_ms: s[0], p50_ms: at(0.5), p95_ms: at(0.95), mean_ms: mean, texts_per_s: batch ? (batch * 1000) / mean : null, samples: s.length };
}

async function latency(embed, texts) {
  const out = [];
  for (const bs of BATCHES) {
    const batch = (i) => Array.from({ length: bs }, (_, j) => texts[(i * bs + j) % texts.length]);
    for (let i = 0; i < WARMUP; i++) await embed(batch(i));
    const iters = Math.max(MIN_ITERS, Math.ceil(texts.length / bs));
    const samples = [];
    for (let i = 0; i < iters; i++) {
      const b = batch(i);
      const t = ms();
      await embed(b);
      samples.push(ms() - t);
    }
    out.push({ batch_size: bs, ...stats(samples, bs) });
  }
  return out;
}

/** `Embedder.load` on the manifest at `manifestUrl` and its files under `filesUrl`. */
async function loadEmbedder(Embedder, manifestUrl, filesUrl, backend) {
  const manifestText = await (await fetch(manifestUrl)).text();
  const files = {};
  for (const f of Object.values(JSON.parse(manifestText).files)) {
    files[f.name] = await (await fetch(new URL(f.name, filesUrl))).arrayBuffer();
  }
  return Embedder.load(manifestText, files, { backend });
}

/** privrank's Embedder on the model's files, on the CPU (wasm) or WebGPU. */
async function privrank() {
  const t0 = ms();
  const { default: init, Embedder } = await import('../pkg/privrank.js');
  const wasm = await init();
  // A committed model (&own=1: the student) sits in its own folder, its files beside
  // its manifest; a fetched one in the set-up cache.
  const [manifest, files] = params.get('own') === '1'
    ? [`/models/${MODEL}/${MODEL}.json`, `/models/${MODEL}/`]
    : [`/models/${MODEL}.json`, `/.cache/models/${MODEL}/`];
  const embedder = await loadEmbedder(Embedder, new URL(manifest, location.href),
    new URL(files, location.href), DEVICE === 'webgpu' ? 'webgpu' : 'cpu');
  return { t0, embed: (texts) => embedder.embed(texts), wasmBytes: () => wasm.memory.buffer.byteLength, version: 'pkg/' };
}

/** transformers.js (its bundled onnxruntime-web, wasm files served locally). */
async function transformers() {
  const t0 = ms();
  const T = await import('/bench/node_modules/@huggingface/transformers/dist/transformers.js');
  const { env, AutoTokenizer, AutoModel } = T;
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = '/.cache/bench/hf/';
  env.useBrowserCache = false;
  // The default turns the wasm factory into a blob: URL, which the page's CSP refuses.
  env.useWasmCache = false;
  const ort = env.backends.onnx;
  ort.wasm.numThreads = THREADS;
  ort.wasm.proxy = false;
  const dist = '/bench/node_modules/onnxruntime-web/dist/';
  ort.wasm.wasmPaths = { mjs: `${dist}ort-wasm-simd-threaded.asyncify.mjs`, wasm: `${dist}ort-wasm-simd-threaded.asyncify.wasm` };
  const config = await (await fetch(`/.cache/bench/hf/${MODEL}/privrank-bench.json`)).json();
  const tokenizer = await AutoTokenizer.from_pretrained(MODEL);
  const model = await AutoModel.from_pretrained(MODEL, { dtype: 'fp32', device: DEVICE });
  const embed = async (texts) => {
    const inputs = tokenizer(texts, { padding: true, truncation: true, max_length: config.max_tokens });
    const out = await model(inputs);
    const pooled = out[config.pooled_output];
    const dim = pooled.dims[1];
    return Array.from({ length: texts.length }, (_, i) => pooled.data.slice(i * dim, (i + 1) * dim));
  };
  return { t0, embed, wasmBytes: () => null, version: T.env.version };
}

/** The WebGPU adapter's description when the page runs on WebGPU. */
async function adapter() {
  if (DEVICE !== 'webgpu') return null;
  const a = await navigator.gpu?.requestAdapter();
  if (!a) return null;
  const info = a.info ?? {};
  return [info.vendor, info.architecture, info.description].filter(Boolean).join(' ');
}

async function memory(wasmBytes) {
  const out = { js_heap_bytes: performance.memory?.usedJSHeapSize ?? null, wasm_memory_bytes: wasmBytes() };
  if (crossOriginIsolated && performance.measureUserAgentSpecificMemory) {
    try {
      out.page_bytes = (await performance.measureUserAgentSpecificMemory()).bytes;
    } catch (e) {
      out.page_bytes_error = String(e);
    }
  }
  return out;
}

async function encoderBench(load) {
  const items = await movielens();
  const texts = items.slice(0, N).map((i) => i.title);
  const lib = await load();
  const first = await lib.embed([texts[0]]);
  const cold_start_ms = ms() - lib.t0;
  const results = await latency(lib.embed, texts);
  const probe = await lib.embed(texts.slice(0, 3));
  return {
    lib: LIB, model: MODEL, device: DEVICE, adapter: await adapter(), threads: LIB === 'privrank' ? 1 : THREADS, version: lib.version, n: texts.length,
    cold_start_ms, dim: first[0].length, results,
    probe: probe.map((v) => Array.from(v)),
    memory: await memory(lib.wasmBytes),
  };
}

/** The package's default encoder as an `Embedder`: what the edge worker runs. */
async function defaultEmbedder(Embedder) {
  const base = new URL('../pkg/models/', location.href);
  const set = await (await fetch(new URL('default.json', base))).json();
  return loadEmbedder(Embedder, new URL(set.encoder.manifest, base), new URL(set.encoder.files, base), 'cpu');
}

/** privrank's full rank(): 100 candidates against 50 history events (default models). */
async function rankBench() {
  const items = await movielens();
  const t0 = ms();
  const { default: init, Ranker, Embedder } = await import('../pkg/privrank.js');
  const wasm = await init();
  // Each run is a fresh browser context: the store starts empty, and the coldstart
  // page opened next in the same context finds this history and the cached models.
  const ranker = await Ranker.load({ backend: 'cpu', storeName: STORE });
  const now = Date.now();
  for (const [k, item] of items.slice(0, 50).entries()) {
    await ranker.record({ kind: 'view', itemId: item.id, title: item.title, category: item.genres, ts: now - k * 3_600_000 });
  }
  const window = (w) => items.slice(50 + w * 100, 150 + w * 100).map((i) => ({ id: i.id, title: i.title, category: i.genres }));
  const ready_ms = ms() - t0;
  // Uncached: candidates never embedded before (a new window of the catalog each time).
  const uncached = [];
  for (let w = 0; w < 10; w++) {
    const t = ms();
    await ranker.rank(window(w), { k: 10 });
    uncached.push(ms() - t);
  }
  // Cached: the same 100 candidates again (their embeddings are kept in memory).
  const cached = [];
  for (let i = 0; i < 30; i++) {
    const t = ms();
    await ranker.rank(window(0), { k: 10 });
    cached.push(ms() - t);
  }
  // Edge-embedded: new candidates (the six windows of the catalog not ranked above:
  // items 1050–1649) with the embeddings
  // the edge worker attaches, made beforehand by the same wasm's Embedder exactly as
  // the worker makes them (untimed); the timed call is the device's first rank() of
  // them, which must run its encoder on none.
  const embedder = await defaultEmbedder(Embedder);
  const edge = [];
  for (let w = 10; w < 16; w++) {
    const candidates = window(w);
    const texts = embedder.candidateTexts(candidates);
    const packed = await embedder.embedPacked(texts);
    const attached = embedder.attachEmbeddings(candidates, Object.fromEntries(texts.map((t, i) => [t, packed[i]])));
    const before = ranker.debugCounters().textsEncoded;
    const t = ms();
    await ranker.rank(attached, { k: 10 });
    edge.push(ms() - t);
    const encoded = ranker.debugCounters().textsEncoded - before;
    if (encoded !== 0) throw new Error(`edge-embedded candidates: the device embedded ${encoded} texts`);
  }
  await sleep(0);
  const result = {
    lib: 'rank', backend: ranker.backend, history: 50, candidates: 100, ready_ms,
    cached: stats(cached, null), uncached: stats(uncached, null), edge: stats(edge, null),
    memory: await memory(() => wasm.memory.buffer.byteLength),
  };
  return result;
}

/** Cold start as a returning shopper meets it: a new page whose model files are in the
 *  Cache API and whose history is in IndexedDB (left by the rank page in the same
 *  browser context). Timed: import + init + Ranker.load + the first rank() of 100
 *  candidates (new to this page, so they are embedded). */
async function coldStart() {
  const items = await movielens();
  const candidates = items.slice(50, 150).map((i) => ({ id: i.id, title: i.title, category: i.genres }));
  const t0 = ms();
  const { default: init, Ranker } = await import('../pkg/privrank.js');
  await init();
  const ranker = await Ranker.load({ backend: 'cpu', storeName: STORE });
  const load_ms = ms() - t0;
  await ranker.rank(candidates, { k: 10 });
  const total_ms = ms() - t0;
  const history = (await ranker.history()).length;
  if (history !== 50) throw new Error(`coldstart expected the rank page's 50 events, found ${history}`);
  return { lib: 'coldstart', backend: ranker.backend, history, candidates: candidates.length, load_ms, first_rank_ms: total_ms - load_ms, total_ms };
}

/** A storefront's visit as the shopper meets it, timed from navigation (performance
 *  timeOrigin) to the first ranking: import + init + `Ranker.load` (default models,
 *  default backend) + `rank()` of 20 candidates as the edge worker sends them, with
 *  their embeddings (written by scripts/bench-browser.mjs through the same package's
 *  Embedder), fetched while the models load. A first visit (empty store) records the
 *  three events a shopper's first clicks would; a return visit finds them. Reports
 *  every long task (> 50 ms) on this main thread meanwhile. */
async function visit() {
  const candidatesFetched = fetch('/.cache/bench/edge-candidates.json').then((r) => r.json());
  const t0 = ms();
  const { default: init, Ranker } = await import('../pkg/privrank.js');
  await init();
  const init_done = ms();
  const ranker = await Ranker.load({ storeName: STORE });
  const loaded = ms();
  const first = (await ranker.history()).length === 0;
  if (first) {
    const items = (await candidatesFetched).slice(0, 3);
    for (const [k, c] of items.entries()) await ranker.record({ kind: 'view', itemId: `seen-${c.id}`, title: c.title, category: c.category, ts: Date.now() - k * 60_000 });
  }
  const candidates = await candidatesFetched;
  const before = ranker.debugCounters().textsEncoded;
  const ranked = await ranker.rank(candidates, { k: 5 });
  const done = ms();
  if (ranked.length !== 5) throw new Error(`visit: ranked ${ranked.length}`);
  if (ranker.debugCounters().textsEncoded - before !== 0) throw new Error('visit: the device embedded edge-embedded candidates');
  await sleep(100); // let the observer deliver the last task
  const during = longTasks.filter((t) => t.start_ms + t.duration_ms >= t0);
  return {
    lib: 'visit', first, backend: ranker.backend, candidates: candidates.length,
    script_start_ms: t0, init_ms: init_done - t0, load_ms: loaded - init_done, rank_ms: done - loaded,
    first_rank_ms: done,
    long_tasks: PerformanceObserver.supportedEntryTypes?.includes('longtask') ? during : null,
    longest_task_ms: Math.max(0, ...during.map((t) => t.duration_ms)),
    code_bytes: performance.getEntriesByType('resource')
      .filter((e) => /\/pkg\/[^/]*\.(js|wasm)$/.test(e.name))
      .map((e) => ({ file: e.name.replace(/^.*\/pkg\//, ''), transfer: e.transferSize, body: e.decodedBodySize })),
  };
}

const out = document.getElementById('out');
try {
  const result = LIB === 'rank' ? await rankBench() : LIB === 'coldstart' ? await coldStart()
    : LIB === 'visit' ? await visit() : await encoderBench(LIB === 'transformers' ? transformers : privrank);
  out.textContent = JSON.stringify(result, null, 1);
  document.body.dataset.status = 'done';
} catch (e) {
  out.textContent = `${e?.code ?? e?.name ?? 'Error'}: ${e?.message ?? e}\n${e?.stack ?? ''}`;
  document.body.dataset.status = 'error';
}
