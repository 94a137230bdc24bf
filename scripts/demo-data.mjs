// The demo's data, www/data/catalog.json and candidates.json, from the MovieLens-100k
// download through the npm package's `demoData` (the library's `data::demo`, which
// `privrank demo-data` also runs): scripts/demo needs pkg/ only, not a native build.
//   node scripts/demo-data.mjs [--out www/data] [--data-dir DIR] [--per-genre N]
// Paths are relative to the working directory, like the CLI's; the data folder
// defaults to the set-up cache ($PRIVRANK_CACHE or .cache, then data/ml-100k).
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(new URL('..', import.meta.url).pathname);
const { values: args } = parseArgs({
  options: {
    out: { type: 'string', default: 'www/data' },
    'data-dir': { type: 'string', default: join(process.env.PRIVRANK_CACHE || '.cache', 'data', 'ml-100k') },
    'per-genre': { type: 'string' },
  },
});

function fail(message) {
  console.error(`demo-data: ${message}`);
  process.exit(1);
}

let perGenre;
if (args['per-genre'] !== undefined) {
  perGenre = Number(args['per-genre']);
  if (!Number.isInteger(perGenre) || perGenre < 1) fail(`--per-genre must be a positive integer, not ${args['per-genre']}`);
}
const wasm = join(root, 'pkg', 'privrank_core_bg.wasm');
if (!existsSync(wasm)) fail(`${wasm} is missing: run \`bash scripts/build-pkg\` first`);
const texts = ['inter', 'item', 'user'].map((ext) => {
  const path = join(args['data-dir'], `ml-100k.${ext}`);
  if (!existsSync(path)) fail(`${path} is missing: run \`bash scripts/setup\` to fetch the datasets`);
  return readFileSync(path, 'utf8');
});

const pkg = await import(pathToFileURL(join(root, 'pkg', 'privrank.js')).href);
pkg.initSync({ module: readFileSync(wasm) });
let data;
try {
  data = pkg.demoData(...texts, perGenre);
} catch (e) {
  fail(`${e.code ?? e.name}: ${e.message}`);
}
mkdirSync(args.out, { recursive: true });
for (const [name, text] of Object.entries(data.files)) {
  // Written beside, then renamed: a page never reads half a file.
  const path = join(args.out, name);
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}
console.error(
  `privrank: wrote ${Object.keys(data.files).join(' and ')} in ${args.out} ` +
    `(${data.movies} movies, ${data.promotions} promotions in ${data.genres} genres, with \`related\` lists)`,
);
