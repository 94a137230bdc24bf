// A seeded fuzz of the package's entry points in Node, as an edge worker calls them
// (issue 20): Embedder.embedCatalog / candidateTexts / attachEmbeddings and the
// collector's checkReport / estimates / pace get hostile values (tests/fuzz/values.mjs).
// Every call must settle within its deadline with a result or a typed error (a
// privrank code), never trap, and a normal call must still work afterwards.
//   node --test tests/edge/fuzz.test.mjs        FUZZ_RUNS=N for a longer run
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { candidates, outcome, rng, value } from '../fuzz/values.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PKG = join(ROOT, 'pkg', 'privrank_core_bg.wasm');
const missing = !existsSync(PKG);
if (missing && process.env.PRIVRANK_REQUIRE_PKG) throw new Error(`${PKG} is missing: run \`bash scripts/build-pkg\` first`);
const skip = missing ? 'pkg/ is not built (bash scripts/build-pkg)' : false;
const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
const SEED = Number(process.env.FUZZ_SEED ?? 20261206);
const CLEAN = /^(ok|Bad\w+|TooMany\w+|EncoderMismatch)$/;

async function setup() {
  const pkg = await import(join(ROOT, 'pkg', 'privrank.js'));
  pkg.initSync({ module: readFileSync(PKG) });
  const dir = join(ROOT, 'models', 'student');
  const manifest = readFileSync(join(dir, 'student.json'), 'utf8');
  const files = {};
  for (const f of Object.values(JSON.parse(manifest).files)) files[f.name] = readFileSync(join(dir, f.name));
  return { pkg, embedder: pkg.Embedder.fromFiles(manifest, files) };
}

test(`${RUNS} hostile inputs per entry point settle, typed, and leave the instance working`, { skip, timeout: 600_000 }, async () => {
  const { pkg, embedder } = await setup();
  const r = rng(SEED);
  const report = { experiment: 'e', arm: 'a', day: '2026-12-06', epsilon: 1, clicked: true };
  const calls = {
    embedCatalog: () => embedder.embedCatalog(candidates(r)),
    candidateTexts: () => embedder.candidateTexts(candidates(r)),
    attachEmbeddings: () => embedder.attachEmbeddings(candidates(r), value(r)),
    checkReport: () => pkg.checkReport(r() < 0.5 ? value(r) : { ...report, [Object.keys(report)[Math.floor(r() * 5)]]: value(r) }),
    estimates: () => pkg.estimates(value(r), [value(r)], value(r)),
    pace: () => pkg.pace(value(r), value(r), value(r), value(r)),
  };
  const seen = {};
  const bad = [];
  for (const [name, call] of Object.entries(calls)) {
    seen[name] = {};
    for (let i = 0; i < RUNS; i++) {
      const got = await outcome(call, 10_000);
      seen[name][got] = (seen[name][got] ?? 0) + 1;
      if (!CLEAN.test(got)) bad.push(`${name} #${i}: ${got}`);
      if (bad.length > 10) break;
    }
  }
  console.log(`fuzz (seed ${SEED}, ${RUNS} per entry point): ${JSON.stringify(seen)}`);
  assert.deepEqual(bad, [], 'calls that trapped, hung or threw untyped');
  // Still a working instance: a normal call gives the normal answer.
  const [line] = await embedder.embedCatalog([{ id: 'm-1', title: 'Toy Story (1995)' }]);
  assert.equal(line.id, 'm-1');
  assert.equal(line.embedding.length, embedder.dim);
  assert.equal(pkg.checkReport(report).reports, 1);
});
