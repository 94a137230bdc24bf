// pkg/'s Embedder outside a browser (Node, as edge runtimes use it), on the small
// encoder, fp32 and int8, and on the distilled student: embed(texts) equals the
// independent NumPy reference's golden vectors (tests/fixtures/encoder_golden_*.json)
// within the native golden test's tolerance; bad texts and options are typed errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PKG = join(ROOT, 'pkg', 'privrank_core_bg.wasm');
const missing = !existsSync(PKG);
if (missing && process.env.PRIVRANK_REQUIRE_PKG) {
  throw new Error(`${PKG} is missing: run \`bash scripts/build-pkg\` first`);
}
const skip = missing ? 'pkg/ is not built (bash scripts/build-pkg)' : false;
/** Where a model's manifest and files are: a committed model sits in its own folder
 *  (models/student/student.json, files beside it), a fetched one in the set-up cache. */
function modelPaths(model) {
  const own = join(ROOT, 'models', model, `${model}.json`);
  return existsSync(own)
    ? { manifest: own, dir: join(ROOT, 'models', model) }
    : { manifest: join(ROOT, 'models', `${model}.json`), dir: join(ROOT, '.cache', 'models', model) };
}

/** The Embedder on a model's files, made by `make` (fromFiles or load). */
async function embedder(model, make) {
  const mod = await import(join(ROOT, 'pkg', 'privrank.js'));
  mod.initSync({ module: readFileSync(PKG) });
  const { manifest, dir } = modelPaths(model);
  const manifestText = readFileSync(manifest, 'utf8');
  const files = {};
  for (const f of Object.values(JSON.parse(manifestText).files)) {
    files[f.name] = readFileSync(join(dir, f.name));
  }
  return make(mod.Embedder, manifestText, files);
}

/** Every golden case through embed(), against the reference within the native test's
 *  tolerance; returns the worst |Δ|/‖ref‖. */
async function checkGolden(model, e) {
  const golden = JSON.parse(readFileSync(join(ROOT, 'tests', 'fixtures', `encoder_golden_${model}.json`), 'utf8'));
  assert.equal(e.encoder, golden.weights_sha256);
  const got = await e.embed(golden.cases.map((c) => c.text));
  assert.equal(got.length, golden.cases.length);
  let worst = 0;
  for (const [i, c] of golden.cases.entries()) {
    assert.ok(got[i] instanceof Float32Array);
    assert.equal(got[i].length, c.embedding.length);
    const norm = Math.hypot(...c.embedding);
    for (let j = 0; j < c.embedding.length; j++) {
      worst = Math.max(worst, Math.abs(got[i][j] - c.embedding[j]) / Math.max(norm, 1));
    }
  }
  console.log(`Embedder.embed(${model}) vs NumPy: ${golden.cases.length} texts, max |Δ|/‖ref‖ ${worst.toExponential(2)}`);
  assert.ok(worst <= 1e-4, `max |Δ|/‖ref‖ ${worst}`);
}

test('Embedder.embed on the small encoder equals the NumPy golden vectors', { skip, timeout: 600_000 }, async () => {
  const model = 'paraphrase-minilm-l3-v2';
  const e = await embedder(model, (E, m, f) => E.fromFiles(m, f));
  await checkGolden(model, e);
  await assert.rejects(e.embed(['ok', 3]), (err) => err.code === 'BadInput' && /first at index 1/.test(err.message));
  await assert.rejects(e.embed(Array(1001).fill('x')), (err) => err.code === 'TooManyInputs');
  await assert.rejects(e.embed('not an array'), (err) => err.code === 'BadInput');
});

test('the int8 weight file, dequantized in wasm, equals its NumPy golden vectors', { skip, timeout: 600_000 }, async () => {
  const model = 'paraphrase-minilm-l3-v2-int8';
  await checkGolden(model, await embedder(model, (E, m, f) => E.load(m, f, { backend: 'cpu' })));
});

test('the distilled student (int4 vocabulary, int8 layers) equals its NumPy golden vectors in wasm', { skip, timeout: 600_000 }, async () => {
  const model = 'student';
  await checkGolden(model, await embedder(model, (E, m, f) => E.fromFiles(m, f)));
});

test('the bilingual student (CJK characters appended to the vocabulary) equals its NumPy golden vectors in wasm', { skip, timeout: 600_000 }, async () => {
  const model = 'student-zh';
  await checkGolden(model, await embedder(model, (E, m, f) => E.fromFiles(m, f)));
});

test('Embedder.load refuses WebGPU where there is none, and unknown options', { skip, timeout: 600_000 }, async () => {
  const model = 'paraphrase-minilm-l3-v2-int8';
  await assert.rejects(embedder(model, (E, m, f) => E.load(m, f, { backend: 'webgpu' })),
    (err) => err.code === 'BackendUnavailable');
  await assert.rejects(embedder(model, (E, m, f) => E.load(m, f, { backend: 'tpu' })),
    (err) => err.code === 'BadOptions');
  await assert.rejects(embedder(model, (E, m, f) => E.load(m, f, { bakend: 'cpu' })),
    (err) => err.code === 'BadOptions' && /bakend/.test(err.message));
});
