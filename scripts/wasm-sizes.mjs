// Where a wasm module's bytes go: its sections, and its code by crate (from the name
// section, so run it on the unstripped copy scripts/build-pkg keeps in
// target/pkg-audit/) with the largest functions.
//   node scripts/wasm-sizes.mjs target/pkg-audit/privrank_core/privrank_core_bg.wasm [TOP]
import { readFileSync } from 'node:fs';

const [file, topArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: node scripts/wasm-sizes.mjs MODULE.wasm [TOP]');
  process.exit(2);
}
const top = Number(topArg ?? 15);
const bytes = readFileSync(file);
let pos = 8;

function leb() {
  let result = 0;
  let shift = 0;
  for (;;) {
    const b = bytes[pos++];
    result += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (b < 0x80) return result;
  }
}
function name() {
  const len = leb();
  const s = bytes.toString('utf8', pos, pos + len);
  pos += len;
  return s;
}

const SECTIONS = ['custom', 'type', 'import', 'function', 'table', 'memory', 'global', 'export',
  'start', 'element', 'code', 'data', 'data count'];
const sections = [];
let importedFunctions = 0;
const bodies = []; // size of each defined function's body
const names = new Map();
while (pos < bytes.length) {
  const id = bytes[pos++];
  const size = leb();
  const end = pos + size;
  let label = SECTIONS[id] ?? `#${id}`;
  if (id === 0) {
    const start = pos;
    label = `custom "${name()}"`;
    if (label === 'custom "name"') {
      while (pos < end) {
        const sub = bytes[pos++];
        const subSize = leb();
        const subEnd = pos + subSize;
        if (sub === 1) {
          for (let n = leb(); n > 0; n--) names.set(leb(), name());
        }
        pos = subEnd;
      }
    }
    pos = start;
  } else if (id === 2) {
    for (let n = leb(); n > 0; n--) {
      name();
      name();
      const kind = bytes[pos++];
      if (kind === 0) { leb(); importedFunctions++; } else if (kind === 1) { pos++; const f = bytes[pos++]; leb(); if (f & 1) leb(); } else if (kind === 2) { const f = bytes[pos++]; leb(); if (f & 1) leb(); } else if (kind === 3) { pos++; pos++; } else { pos++; leb(); }
    }
  } else if (id === 10) {
    for (let n = leb(); n > 0; n--) {
      const len = leb();
      bodies.push(len);
      pos += len;
    }
  }
  sections.push({ label, size });
  pos = end;
}

const kb = (n) => `${(n / 1024).toFixed(1).padStart(9)} KiB`;
console.log(`${file}: ${bytes.length} bytes`);
for (const s of sections.sort((a, b) => b.size - a.size)) console.log(`  ${kb(s.size)}  ${s.label}`);
if (names.size === 0) {
  console.log('no name section: code by crate needs the unstripped module (target/pkg-audit/)');
  process.exit(0);
}

/** The crate a function belongs to: the first path segment of its demangled name. */
function crateOf(fn) {
  const m = fn.replace(/^[<&*\s]+(dyn |mut |const )?/, '').match(/^([A-Za-z_][A-Za-z0-9_]*)/);
  return m ? m[1] : '(other)';
}
const byCrate = new Map();
const functions = [];
bodies.forEach((size, i) => {
  const fn = names.get(importedFunctions + i) ?? `#${importedFunctions + i}`;
  functions.push({ fn, size });
  byCrate.set(crateOf(fn), (byCrate.get(crateOf(fn)) ?? 0) + size);
});
const code = bodies.reduce((a, b) => a + b, 0);
console.log(`code by crate (${bodies.length} functions, ${kb(code).trim()}):`);
for (const [crate, size] of [...byCrate].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`  ${kb(size)}  ${(100 * size / code).toFixed(1).padStart(5)}%  ${crate}`);
}
console.log(`largest functions:`);
for (const { fn, size } of functions.sort((a, b) => b.size - a.size).slice(0, top)) {
  console.log(`  ${kb(size)}  ${fn.slice(0, 150)}`);
}
