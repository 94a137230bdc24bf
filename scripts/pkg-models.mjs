// Copies the default model set into pkg/models/ (file names and hashes from the
// manifests, each copy checked against its SHA-256) and writes pkg/models/default.json
// pointing at the copies; sets pkg/package.json's version to Cargo.toml's.
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
const out = join(root, 'pkg', 'models');
const setPath = join(root, 'models', 'default.json');
const set = JSON.parse(readFileSync(setPath, 'utf8'));

function copyChecked(from, to, sha256) {
  const bytes = readFileSync(from);
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (sha256 && actual !== sha256) {
    throw new Error(`${from}: sha256 ${actual}, manifest says ${sha256} (run scripts/setup)`);
  }
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(from, to);
}

const packaged = {};
for (const [part, where] of Object.entries(set)) {
  const manifestPath = resolve(dirname(setPath), where.manifest);
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  const folder = basename(manifestPath, '.json');
  const files = part === 'encoder' ? Object.values(manifest.files) : [manifest.weights];
  for (const f of files) {
    copyChecked(resolve(dirname(setPath), where.files, f.name), join(out, folder, f.name), f.sha256);
  }
  copyChecked(manifestPath, join(out, folder, basename(manifestPath)));
  packaged[part] = { manifest: `${folder}/${basename(manifestPath)}`, files: `${folder}/` };
}
writeFileSync(join(out, 'default.json'), JSON.stringify(packaged, null, 2) + '\n');

const version = readFileSync(join(root, 'Cargo.toml'), 'utf8').match(/^version = "([^"]+)"/m)[1];
const pkgJson = join(root, 'pkg', 'package.json');
const pkg = JSON.parse(readFileSync(pkgJson, 'utf8'));
if (pkg.version !== version) {
  pkg.version = version;
  writeFileSync(pkgJson, JSON.stringify(pkg, null, 2) + '\n');
}
console.error(`pkg/models: ${Object.keys(packaged).join(' + ')}; package version ${version}`);
