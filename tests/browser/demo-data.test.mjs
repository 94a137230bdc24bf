// The demo's data through the npm package (scripts/demo-data.mjs → `demoData`) is the
// native CLI's (`privrank demo-data`) byte for byte: one library function, two
// launchers, and scripts/demo uses the one that needs no native build. Malformed
// MovieLens files are a typed error naming file and line, and leave www/data alone.
//   node --test tests/browser/demo-data.test.mjs
// Needs pkg/, the MovieLens download and target/debug/privrank (built by the native
// tests); skips without them unless PRIVRANK_REQUIRE_DEMO is set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from './harness.mjs';

const DATA = join(process.env.PRIVRANK_CACHE ?? join(REPO, '.cache'), 'data', 'ml-100k');
const CLI = join(REPO, 'target', 'debug', 'privrank');
const needs = [join(REPO, 'pkg', 'privrank_core_bg.wasm'), join(DATA, 'ml-100k.inter'), CLI];
const missing = needs.filter((p) => !existsSync(p));
const required = ![undefined, '', '0'].includes(process.env.PRIVRANK_REQUIRE_DEMO);
if (missing.length && required) throw new Error(`missing: ${missing.join(', ')}`);
const T = { timeout: 120_000, skip: missing.length ? `missing: ${missing.join(', ')}` : false };

function run(cmd, args) {
  const out = spawnSync(cmd, args, { cwd: REPO, encoding: 'utf8' });
  if (out.error) throw out.error;
  return out;
}

test('the package writes the same demo files as the native CLI', T, () => {
  const dir = mkdtempSync(join(tmpdir(), 'privrank-demo-data-'));
  try {
    const viaPkg = run(process.execPath, ['scripts/demo-data.mjs', '--data-dir', DATA, '--out', join(dir, 'pkg')]);
    assert.equal(viaPkg.status, 0, viaPkg.stderr);
    assert.match(viaPkg.stderr, /1682 movies, 36 promotions in 18 genres/);
    const viaCli = run(CLI, ['demo-data', '--data-dir', DATA, '--out', join(dir, 'cli')]);
    assert.equal(viaCli.status, 0, viaCli.stderr);
    const names = readdirSync(join(dir, 'cli')).sort();
    assert.deepEqual(names, ['candidates.json', 'catalog.json']);
    assert.deepEqual(readdirSync(join(dir, 'pkg')).sort(), names, 'no temporary files left behind');
    for (const name of names) {
      const [a, b] = ['pkg', 'cli'].map((d) => readFileSync(join(dir, d, name), 'utf8'));
      assert.ok(a === b, `${name} differs between the package and the CLI`);
    }
    const { candidates } = JSON.parse(readFileSync(join(dir, 'pkg', 'candidates.json'), 'utf8'));
    assert.equal(candidates.length, 36);
    assert.ok(candidates.every((c) => c.related.length > 0 && Object.keys(c.features).length === 2));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a malformed ratings file is a BadData error naming its line, and nothing is written', T, () => {
  const dir = mkdtempSync(join(tmpdir(), 'privrank-demo-bad-'));
  try {
    const data = join(dir, 'ml-100k');
    cpSync(DATA, data, { recursive: true });
    const inter = readFileSync(join(data, 'ml-100k.inter'), 'utf8').split('\n');
    inter[2] = inter[2].replace(/\t[0-9.]+\t(?=[0-9.]+$)/, '\tfive\t');
    writeFileSync(join(data, 'ml-100k.inter'), inter.join('\n'));
    const out = join(dir, 'out');
    const bad = run(process.execPath, ['scripts/demo-data.mjs', '--data-dir', data, '--out', out]);
    assert.equal(bad.status, 1, bad.stderr);
    assert.match(bad.stderr, /^demo-data: BadData: .*ml-100k\.inter.*3.*rating/m);
    assert.ok(!existsSync(out), 'no output folder for failed data');
    const perGenre = run(process.execPath, ['scripts/demo-data.mjs', '--per-genre', '0', '--out', out]);
    assert.equal(perGenre.status, 1);
    assert.match(perGenre.stderr, /--per-genre must be a positive integer/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
