// pkg/README.md, "In a Web Worker", the worker, verbatim.
// worker.js
import init, { Ranker } from 'privrank';
const ready = init().then(() => Ranker.load());
self.onmessage = async ({ data: { id, method, args } }) => {
  try {
    const ranker = await ready;
    self.postMessage({ id, result: await ranker[method](...args) });
  } catch (e) {
    self.postMessage({ id, error: { code: e.code, message: e.message, details: e.details } });
  }
};
