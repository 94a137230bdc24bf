// The browser benchmark side by side: privrank (pkg/) and transformers.js on the same
// model (paraphrase-MiniLM-L3-v2: privrank's converted weights, transformers.js the
// ONNX export they were converted from) and the same 200 MovieLens titles, in the
// same headless Chromium, WASM vs WASM with one thread each; then transformers.js
// with 2 threads (the page is cross-origin isolated; privrank's wasm build has no
// threads), privrank's full rank(), and WebGPU vs WebGPU when the browser offers an
// adapter. Not part of the test suite.
//   node scripts/bench-browser.mjs [--runs 5] [--software-webgpu] [--pages visit,rank]
// Needs `bash scripts/setup` and `bash scripts/build-pkg`; installs the peer into
// bench/node_modules on first use (bench/package-lock.json). Prints a Markdown table
// and writes target/bench/browser.json and browser.md.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { CHROMIUM, QUIET, REPO, startServer } from '../tests/browser/harness.mjs';

const { values: opts } = parseArgs({ options: {
  runs: { type: 'string', default: '5' },
  'software-webgpu': { type: 'boolean', default: false },
  // Only these pages (comma-separated keys: privrank, transformers, transformers-2t,
  // rank, visit, student); the table then has only their rows.
  pages: { type: 'string' },
} });
const RUNS = Number(opts.runs);
const MODEL = 'paraphrase-minilm-l3-v2';
const OUT = join(REPO, 'target', 'bench');
mkdirSync(OUT, { recursive: true });

function need(path, fix) {
  if (!existsSync(join(REPO, path))) throw new Error(`${path} is missing: ${fix}`);
}
need('pkg/privrank_core_bg.wasm', 'run `bash scripts/build-pkg`');
need(`.cache/models/${MODEL}/model.safetensors`, 'run `bash scripts/setup`');

// The peer, pinned by bench/package-lock.json; its install scripts (onnxruntime-node's
// binary download, sharp) are not needed in a browser and are skipped.
if (!existsSync(join(REPO, 'bench/node_modules/@huggingface/transformers/package.json'))) {
  console.error('bench: installing the peer (transformers.js) into bench/node_modules');
  execFileSync('npm', ['ci', '--prefix', join(REPO, 'bench'), '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], { stdio: 'inherit' });
}

// transformers.js's local model folder: the same ONNX file the weights came from, the
// same tokenizer, and a config naming the architecture.
const manifest = JSON.parse(readFileSync(join(REPO, 'models', `${MODEL}.json`), 'utf8'));
const src = join(REPO, '.cache', 'models', MODEL);
const hf = join(REPO, '.cache', 'bench', 'hf', MODEL);
mkdirSync(join(hf, 'onnx'), { recursive: true });
copyFileSync(join(src, manifest.files.config.name), join(hf, 'config.json'));
copyFileSync(join(src, manifest.files.tokenizer.name), join(hf, 'tokenizer.json'));
writeFileSync(join(hf, 'tokenizer_config.json'), JSON.stringify({
  tokenizer_class: 'BertTokenizer', do_lower_case: true, model_max_length: manifest.max_tokens,
  pad_token: '[PAD]', unk_token: '[UNK]', cls_token: '[CLS]', sep_token: '[SEP]', mask_token: '[MASK]',
}));
// Made again each run: a link left by a checkout elsewhere may point at nothing.
rmSync(join(hf, 'onnx', 'model.onnx'), { force: true });
symlinkSync(join(src, manifest.source.convert.input.name), join(hf, 'onnx', 'model.onnx'));
// The export pools in the graph; its pooled output is the float [batch, hidden] one.
const pooled = execFileSync(join(REPO, '.cache/venv/bin/python'), ['-c',
  'import sys, onnxruntime as o; s = o.InferenceSession(sys.argv[1]); ' +
  'print([x.name for x in s.get_outputs() if x.type == "tensor(float)" and len(x.shape) == 2][0])',
  join(hf, 'onnx', 'model.onnx')]).toString().trim();
writeFileSync(join(hf, 'privrank-bench.json'), JSON.stringify({ pooled_output: pooled, max_tokens: manifest.max_tokens }));

// The `visit` pages' candidates, as the edge worker sends them: 20 MovieLens titles
// with their packed embeddings, made by the package's Embedder (as the worker makes
// them) from the default encoder's files in pkg/models/.
{
  const pkg = await import(join(REPO, 'pkg', 'privrank.js'));
  pkg.initSync({ module: readFileSync(join(REPO, 'pkg', 'privrank_core_bg.wasm')) });
  const set = JSON.parse(readFileSync(join(REPO, 'pkg', 'models', 'default.json'), 'utf8'));
  const manifestPath = join(REPO, 'pkg', 'models', set.encoder.manifest);
  const manifestText = readFileSync(manifestPath, 'utf8');
  const files = {};
  for (const f of Object.values(JSON.parse(manifestText).files)) {
    files[f.name] = readFileSync(join(REPO, 'pkg', 'models', set.encoder.files, f.name));
  }
  const embedder = pkg.Embedder.fromFiles(manifestText, files);
  const [header, ...rows] = readFileSync(join(REPO, '.cache/data/ml-100k/ml-100k.item'), 'utf8').trimEnd().split('\n');
  const col = Object.fromEntries(header.split('\t').map((h, i) => [h.split(':')[0], i]));
  const candidates = rows.slice(300, 320).map((line) => {
    const r = line.split('\t');
    return { id: r[col.item_id], title: r[col.movie_title].trim(), category: r[col.class].split(' ').filter(Boolean).join(', ') };
  });
  const texts = embedder.candidateTexts(candidates);
  const packed = await embedder.embedPacked(texts);
  const attached = embedder.attachEmbeddings(candidates, Object.fromEntries(texts.map((t, i) => [t, packed[i]])));
  mkdirSync(join(REPO, '.cache', 'bench'), { recursive: true });
  writeFileSync(join(REPO, '.cache', 'bench', 'edge-candidates.json'), JSON.stringify(attached));
}

const tmp = mkdtempSync(join(tmpdir(), 'privrank-bench-'));
const server = await startServer(join(tmp, 'requests.jsonl'));

/** Each page `RUNS` times, each load in a fresh context (nothing cached from the
 *  previous library or run); returns one object per run keyed by page. */
async function measure(browser, pages, label) {
  const out = [];
  for (let r = 1; r <= RUNS; r++) {
    const run = {};
    for (const p of pages) {
      const context = await browser.newContext();
      // `then`: pages opened afterwards in the same context (same Cache API and
      // IndexedDB), as a shopper's next visit.
      for (const [key, query] of [[p.key, p.query], ...Object.entries(p.then ?? {})]) {
        const page = await context.newPage();
        const errors = [];
        page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
        await page.goto(new URL(`/www/bench.html?${query}`, server.url).href);
        await page.waitForSelector('body[data-status="done"], body[data-status="error"]', { state: 'attached', timeout: 600_000 });
        const status = await page.evaluate(() => document.body.dataset.status);
        const text = await page.evaluate(() => document.getElementById('out').textContent);
        await page.close();
        if (status !== 'done') throw new Error(`${label} ${key}, run ${r}: ${text}\n${errors.join('\n')}`);
        run[key] = JSON.parse(text);
        console.error(`bench: ${label} run ${r}/${RUNS} ${key} done`);
      }
      await context.close();
    }
    out.push(run);
  }
  return out;
}

// WASM vs WASM: the GPU off, so neither library can reach for it.
const PAGES = [
  { key: 'privrank', query: `lib=privrank&model=${MODEL}` },
  { key: 'transformers', query: `lib=transformers&model=${MODEL}&threads=1` },
  { key: 'transformers-2t', query: `lib=transformers&model=${MODEL}&threads=2` },
  { key: 'rank', query: 'lib=rank', then: { coldstart: 'lib=coldstart' } },
  { key: 'visit', query: 'lib=visit', then: { revisit: 'lib=visit' } },
  // The default student (2 layers, quantized) on the same texts: no peer runs it.
  { key: 'student', query: 'lib=privrank&model=student&own=1' },
].filter((p) => !opts.pages || opts.pages.split(',').includes(p.key));
const has = (key) => PAGES.some((p) => p.key === key);
// WebGPU vs WebGPU, when this browser offers an adapter (on a machine without a GPU,
// Chromium's is SwiftShader: a CPU emulation of a GPU, reported as such).
const GPU_PAGES = [
  { key: 'privrank', query: `lib=privrank&model=${MODEL}&device=webgpu` },
  { key: 'transformers', query: `lib=transformers&model=${MODEL}&threads=1&device=webgpu` },
];
let runs;
let gpuRuns = null;
let gpuAdapter = null;
let skipped = null;
let version;
const launch = (flags) => chromium.launch({
  executablePath: CHROMIUM, headless: true,
  args: [...QUIET, ...flags, '--enable-precise-memory-info', '--enable-blink-features=ForceEagerMeasureMemory'],
});
try {
  const browser = await launch(['--disable-gpu']);
  version = `Chromium ${browser.version()}`;
  try {
    runs = await measure(browser, PAGES, 'wasm');
  } finally {
    await browser.close();
  }
  const gpu = has('privrank') && has('transformers') ? await launch(['--enable-unsafe-webgpu', '--enable-features=Vulkan']) : null;
  if (!gpu) skipped = 'not asked for (--pages)';
  else try {
    const page = await gpu.newPage();
    await page.goto(new URL('/www/minimal.html', server.url).href);
    gpuAdapter = await page.evaluate(async () => {
      const a = await navigator.gpu?.requestAdapter();
      if (!a) return null;
      const info = a.info ?? {};
      return [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || 'unnamed adapter';
    });
    await page.close();
    // SwiftShader emulates a GPU on the CPU: on it privrank's first WebGPU page had
    // not finished after 10 minutes (every new shape is compiled and autotuned in
    // the emulator), so it is measured only when asked for.
    const software = /swiftshader/i.test(gpuAdapter ?? '');
    if (!gpuAdapter) skipped = 'this browser offered no WebGPU adapter';
    else if (software && !opts['software-webgpu']) skipped = `the only adapter is ${gpuAdapter} (a CPU emulation; --software-webgpu measures it anyway)`;
    else gpuRuns = await measure(gpu, GPU_PAGES, 'webgpu');
    if (skipped) console.error(`bench: WebGPU rows skipped: ${skipped}`);
  } finally {
    await gpu.close();
  }
} finally {
  server.child.kill();
  rmSync(tmp, { recursive: true, force: true });
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const triple = (xs) => ({ min: Math.min(...xs), median: median(xs), max: Math.max(...xs) });
const fmt = (t, d = 1) => `${t.min.toFixed(d)} / ${t.median.toFixed(d)} / ${t.max.toFixed(d)}`;
const cos = (a, b) => { let d = 0, x = 0, y = 0; for (let i = 0; i < a.length; i++) { d += a[i] * b[i]; x += a[i] * a[i]; y += b[i] * b[i]; } return d / Math.sqrt(x * y); };
const agreement = !(has('privrank') && has('transformers')) ? NaN : Math.min(...runs.flatMap((r) => r.privrank.probe.map((v, i) => cos(v, r.transformers.probe[i]))));

const lines = [];
const say = (s = '') => lines.push(s);
if (has('privrank') && has('transformers') && has('transformers-2t')) {
say(`${version}, headless, WASM on the CPU (--disable-gpu); model ${MODEL}; ${runs[0].privrank.n} MovieLens titles; ${RUNS} runs, each library in a fresh page.`);
say(`transformers.js ${runs[0].transformers.version} (onnxruntime-web inside). Min cosine between the two libraries' embeddings of the probe texts: ${agreement.toFixed(6)}.`);
say('Milliseconds, min / median / max over runs (each run: the p50 of its batches). Ratio: privrank / transformers.js (below 1: privrank is faster).');
say();
say('| measure | privrank (1 thread) | transformers.js (1 thread) | ratio | transformers.js (2 threads) |');
say('|---|---|---|---|---|');
const row = (label, get) => {
  const [a, b, c] = ['privrank', 'transformers', 'transformers-2t'].map((k) => triple(runs.map((r) => get(r[k]))));
  say(`| ${label} | ${fmt(a)} | ${fmt(b)} | ${(a.median / b.median).toFixed(2)} | ${fmt(c)} |`);
};
row('cold start to first embedding', (x) => x.cold_start_ms);
for (const bs of [1, 16, 64]) {
  row(`warm batch ${bs}, p50`, (x) => x.results.find((y) => y.batch_size === bs).p50_ms);
  row(`warm batch ${bs}, p95`, (x) => x.results.find((y) => y.batch_size === bs).p95_ms);
}
// The model's arithmetic per title (benches/onnx_peer.py counts it on the same
// titles): batch × that / latency is each library's sustained rate.
const flops = JSON.parse(execFileSync(join(REPO, '.cache/venv/bin/python'),
  [join(REPO, 'benches/onnx_peer.py'), '--flops', '--model', join(REPO, 'models', `${MODEL}.json`), '--n', String(runs[0].privrank.n)], { encoding: 'utf8' }));
const gflops = (key, bs) => (bs * flops.model_mflop_per_text) / median(runs.map((r) => r[key].results.find((y) => y.batch_size === bs).p50_ms));
say(`| sustained GFLOP/s at batch 1 / 16 / 64 (medians) | ${[1, 16, 64].map((bs) => gflops('privrank', bs).toFixed(1)).join(' / ')} | ${[1, 16, 64].map((bs) => gflops('transformers', bs).toFixed(1)).join(' / ')} | | ${[1, 16, 64].map((bs) => gflops('transformers-2t', bs).toFixed(1)).join(' / ')} |`);
const mb = (b) => (b == null ? '–' : `${(b / 1048576).toFixed(0)} MB`);
say(`| page memory after the run (measureUserAgentSpecificMemory), median | ${mb(median(runs.map((r) => r.privrank.memory.page_bytes ?? NaN)))} | ${mb(median(runs.map((r) => r.transformers.memory.page_bytes ?? NaN)))} | | ${mb(median(runs.map((r) => r['transformers-2t'].memory.page_bytes ?? NaN)))} |`);
say(`| JS heap after the run, median | ${mb(median(runs.map((r) => r.privrank.memory.js_heap_bytes)))} | ${mb(median(runs.map((r) => r.transformers.memory.js_heap_bytes)))} | | ${mb(median(runs.map((r) => r['transformers-2t'].memory.js_heap_bytes)))} |`);
say(`| privrank wasm memory, median | ${mb(median(runs.map((r) => r.privrank.memory.wasm_memory_bytes)))} | | | |`);
say();
say(`GFLOP/s: batch × ${flops.model_mflop_per_text} MFLOP (the model's matrix products on a title's ${flops.mean_tokens} tokens on average, no padding; \`benches/onnx_peer.py --flops\`) / median p50.`);
say();
}
if (has('rank')) {
say(`privrank rank(): 100 candidates × 50 history events, default models (${runs[0].rank.backend}):`);
say();
say('| measure | ms, min / median / max over runs |');
say('|---|---|');
say(`| load + record 50 events | ${fmt(triple(runs.map((r) => r.rank.ready_ms)))} |`);
say(`| rank, candidate embeddings cached (p50) | ${fmt(triple(runs.map((r) => r.rank.cached.p50_ms)), 2)} |`);
say(`| rank, candidate embeddings cached (p95) | ${fmt(triple(runs.map((r) => r.rank.cached.p95_ms)), 2)} |`);
say(`| rank, 100 new candidates to embed (p50) | ${fmt(triple(runs.map((r) => r.rank.uncached.p50_ms)))} |`);
say(`| first rank() of 100 edge-embedded candidates (p50; the device embeds none) | ${fmt(triple(runs.map((r) => r.rank.edge.p50_ms)), 2)} |`);
say();
say('Cold start of a returning shopper: a new page in the same browser context (models in the Cache API, the 50 events in IndexedDB); from the first script to the first result:');
say();
say('| measure | ms, min / median / max over runs |');
say('|---|---|');
say(`| import + init + Ranker.load (Cache API) | ${fmt(triple(runs.map((r) => r.coldstart.load_ms)))} |`);
say(`| first rank(), 100 candidates embedded | ${fmt(triple(runs.map((r) => r.coldstart.first_rank_ms)))} |`);
say(`| total | ${fmt(triple(runs.map((r) => r.coldstart.total_ms)))} |`);
}
// privrank's encoder pages without the peer's (--pages): its own rows.
const alone = [['privrank', MODEL], ['student', 'student (2 layers, int4 vocabulary, int8 layers)']]
  .filter(([key]) => has(key) && !(key === 'privrank' && has('transformers')));
if (alone.length) {
  say();
  say(`privrank's encoder, 1 thread, WASM, the same ${runs[0][alone[0][0]].n} titles; ms, min / median / max over runs (each run: the p50 of its batches):`);
  say();
  say(`| measure | ${alone.map(([, label]) => label).join(' | ')} |`);
  say(`|---|${alone.map(() => '---').join('|')}|`);
  const line = (label, get) => say(`| ${label} | ${alone.map(([key]) => fmt(triple(runs.map((r) => get(r[key]))))).join(' | ')} |`);
  line('cold start to first embedding', (x) => x.cold_start_ms);
  for (const bs of [1, 16, 64]) line(`warm batch ${bs}, p50`, (x) => x.results.find((y) => y.batch_size === bs).p50_ms);
}
if (has('visit')) {
  say();
  say(`A storefront visit, default models and backend (${runs[0].visit.backend}), on localhost (no network latency): from navigation to the first ranking of ${runs[0].visit.candidates} edge-embedded candidates. First visit: a fresh browser context (nothing cached; three events recorded before ranking). Return visit: a new page in the same context (models from the Cache API, history in IndexedDB). Long tasks: the main thread's tasks over 50 ms, from the page's first script to the ranking.`);
  say();
  say('| measure | first visit, ms | return visit, ms |');
  say('|---|---|---|');
  const both = (label, get, d = 1) => say(`| ${label} | ${fmt(triple(runs.map((r) => get(r.visit))), d)} | ${fmt(triple(runs.map((r) => get(r.revisit))), d)} |`);
  both('navigation to first ranking', (x) => x.first_rank_ms);
  both('of which: navigation to the page script', (x) => x.script_start_ms);
  both('import + init (the CPU core)', (x) => x.init_ms);
  both('Ranker.load', (x) => x.load_ms);
  both('record (first visit) + rank()', (x) => x.rank_ms);
  both('longest main-thread task', (x) => x.longest_task_ms);
  both('tasks over 50 ms (count)', (x) => x.long_tasks?.length ?? NaN, 0);
  const code = runs[0].visit.code_bytes.map((c) => `${c.file} ${c.body} bytes`).join(', ');
  say();
  say(`Code a first visit fetched (decoded sizes): ${code}.`);
}
if (gpuRuns) {
  const software = /swiftshader/i.test(gpuAdapter) ? ' — SwiftShader is Chromium\'s CPU emulation of a GPU, so these rows measure the emulator, not a GPU' : '';
  say();
  say(`WebGPU vs WebGPU (\`--enable-unsafe-webgpu\`), adapter: ${gpuAdapter}${software}. Same model, texts and runs:`);
  say();
  say('| measure | privrank (WebGPU) | transformers.js (WebGPU) | ratio |');
  say('|---|---|---|---|');
  const gpuRow = (label, get) => {
    const [a, b] = ['privrank', 'transformers'].map((k) => triple(gpuRuns.map((r) => get(r[k]))));
    say(`| ${label} | ${fmt(a)} | ${fmt(b)} | ${(a.median / b.median).toFixed(2)} |`);
  };
  gpuRow('cold start to first embedding', (x) => x.cold_start_ms);
  for (const bs of [1, 16, 64]) {
    gpuRow(`warm batch ${bs}, p50`, (x) => x.results.find((y) => y.batch_size === bs).p50_ms);
    gpuRow(`warm batch ${bs}, p95`, (x) => x.results.find((y) => y.batch_size === bs).p95_ms);
  }
  const gpuAgreement = Math.min(...gpuRuns.flatMap((r) => r.privrank.probe.map((v, i) => cos(v, r.transformers.probe[i]))));
  say();
  say(`Min cosine between the two libraries' WebGPU embeddings of the probe texts: ${gpuAgreement.toFixed(6)}.`);
} else {
  say();
  say(`WebGPU vs WebGPU: skipped, ${skipped}.`);
}
const md = lines.join('\n') + '\n';
process.stdout.write(md);
writeFileSync(join(OUT, 'browser.md'), md);
writeFileSync(join(OUT, 'browser.json'), JSON.stringify({ chromium: version, model: MODEL, runs, webgpu: { adapter: gpuAdapter, runs: gpuRuns } }, null, 1) + '\n');
