// pkg/'s Embedder outside a browser (Node, as edge runtimes use it), on the small
// encoder: embed(texts) equals the independent NumPy reference's golden vectors
// (tests/fixtures/encoder_golden_paraphrase-minilm-l3-v2.json) within the native
// golden test's tolerance, and bad texts are typed errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PKG = join(ROOT, 'pkg', 'privrank_bg.wasm');
const missing = !existsSync(PKG);
if (missing && process.env.PRIVRANK_REQUIRE_PKG) {
  throw new Error(`${PKG} is missing: run \`bash scripts/build-pkg\` first`);
}
const skip = missing ? 'pkg/ is not built (bash scripts/build-pkg)' : false;
const MODEL = 'paraphrase-minilm-l3-v2';

test('Embedder.embed on the small encoder equals the NumPy golden vectors', { skip, timeout: 600_000 }, async () => {
  const { initSync, Embedder } = await import(join(ROOT, 'pkg', 'privrank.js'));
  initSync({ module: readFileSync(PKG) });
  const manifestText = readFileSync(join(ROOT, 'models', `${MODEL}.json`), 'utf8');
  const manifest = JSON.parse(manifestText);
  const files = {};
  for (const f of Object.values(manifest.files)) {
    files[f.name] = readFileSync(join(ROOT, '.cache', 'models', MODEL, f.name));
  }
  const embedder = Embedder.fromFiles(manifestText, files);
  const golden = JSON.parse(readFileSync(join(ROOT, 'tests', 'fixtures', `encoder_golden_${MODEL}.json`), 'utf8'));
  assert.equal(embedder.encoder, golden.weights_sha256);
  const got = await embedder.embed(golden.cases.map((c) => c.text));
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
  console.log(`Embedder.embed(${MODEL}) vs NumPy: ${golden.cases.length} texts, max |Δ|/‖ref‖ ${worst.toExponential(2)}`);
  assert.ok(worst <= 1e-4, `max |Δ|/‖ref‖ ${worst}`);

  await assert.rejects(embedder.embed(['ok', 3]), (e) => e.code === 'BadInput' && /first at index 1/.test(e.message));
  await assert.rejects(embedder.embed(Array(1001).fill('x')), (e) => e.code === 'TooManyInputs');
  await assert.rejects(embedder.embed('not an array'), (e) => e.code === 'BadInput');
});
