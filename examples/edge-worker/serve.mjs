// Runs the edge worker locally in workerd (through miniflare) on 127.0.0.1.
//   node examples/edge-worker/serve.mjs [--port N] [--candidates FILE]
// --port: default 8787; 0 picks a free one. --candidates: a JSON file of candidates
// (an array, or {"candidates": [...]} as `privrank demo-data` writes it), bound as
// the catalog `POST /candidates {"ids": [...]}` serves. Prints
// `privrank edge worker: <url>` once listening (scripts/demo reads that line).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Miniflare } from 'miniflare';
import { options } from './config.mjs';

const { values } = parseArgs({
  options: { port: { type: 'string', default: '8787' }, candidates: { type: 'string' } },
});
let candidates;
if (values.candidates) {
  try {
    const parsed = JSON.parse(readFileSync(values.candidates, 'utf8'));
    candidates = Array.isArray(parsed) ? parsed : parsed?.candidates;
    if (!Array.isArray(candidates)) throw new Error('expected an array or {"candidates": [...]}');
  } catch (e) {
    console.error(`privrank edge worker: --candidates ${values.candidates}: ${e.message}`);
    process.exit(2);
  }
}
const mf = new Miniflare(options({ port: Number(values.port), candidates }));
const url = await mf.ready;
console.log(`privrank edge worker: ${url.origin}/ (POST /embed, /candidates, /report; GET /estimates${candidates ? `; ${candidates.length} candidates bound` : ''}; Ctrl-C to stop)`);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    await mf.dispose();
    process.exit(0);
  });
}
