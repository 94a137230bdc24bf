// pkg/README.md, "In a Web Worker", the page, verbatim (`candidates` from ../globals.d.ts).
// page
const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
worker.postMessage({ id: 1, method: 'rank', args: [candidates, { k: 3 }] });
export {};
