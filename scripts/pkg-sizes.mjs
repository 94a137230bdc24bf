// Prints the raw, gzip (level 9) and brotli (quality 11) size of each file of pkg/:
// what a server precompressing its static files sends.
//   node scripts/pkg-sizes.mjs [FILE...]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import zlib from 'node:zlib';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..');

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

export function sizes(bytes) {
  return {
    raw: bytes.length,
    gzip: zlib.gzipSync(bytes, { level: 9 }).length,
    brotli: zlib.brotliCompressSync(bytes, {
      params: {
        [zlib.constants.BROTLI_PARAM_QUALITY]: 11,
        [zlib.constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
      },
    }).length,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const files = process.argv.length > 2
    ? process.argv.slice(2)
    : walk(join(root, 'pkg')).filter((f) => !f.endsWith('.md') && !f.endsWith('.d.ts')).sort();
  for (const file of files) {
    const s = sizes(readFileSync(file));
    const name = relative(root, resolve(file));
    console.error(`${name.padEnd(52)} ${String(s.raw).padStart(10)} raw ${String(s.gzip).padStart(9)} gzip ${String(s.brotli).padStart(9)} brotli`);
  }
}
