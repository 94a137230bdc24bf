// The worker demo's page side: the same steps as minimal.js, each a message to worker.js.
import { CANDIDATES, timedHistory, progressText } from './demo-data.js';

const $ = (id) => document.getElementById(id);
const pending = new Map();
let nextId = 0;
let worker = start();

/** Call a worker method; rejects with an Error carrying the worker's code and details. */
export function call(method, ...args) {
  return new Promise((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve, reject });
    worker.postMessage({ id, method, args });
  });
}

/** A worker and its handlers. One that closes after a trap is replaced by a new one,
 * which loads the package afresh on its first call. */
function start() {
  const w = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  w.onmessage = onMessage;
  w.onerror = onError;
  return w;
}

function onMessage({ data }) {
  if (data.closed) {
    // Replaced before the caller hears of the error, so its next call goes to the new
    // worker; calls the old one had queued are lost with it.
    worker = start();
    const error = Object.assign(new Error('the worker closed after an internal error'), { code: 'Internal' });
    for (const [id, { reject }] of pending) if (id !== data.id) reject(error);
    for (const id of [...pending.keys()]) if (id !== data.id) pending.delete(id);
  }
  if (data.progress) return void ($('progress').textContent = progressText(data.progress));
  if (data.violation) {
    const { blockedURI, directive } = data.violation;
    return console.error(`worker: Content Security Policy (${directive}) blocked ${blockedURI}`);
  }
  const waiting = pending.get(data.id);
  pending.delete(data.id);
  if (data.error) waiting?.reject(Object.assign(new Error(data.error.message), data.error));
  else waiting?.resolve(data.result);
}

// A worker that fails to start (its script or pkg/ missing) only fires `error`.
function onError(event) {
  const error = Object.assign(new Error(event.message || 'worker failed to start'), { code: 'WorkerError' });
  for (const { reject } of pending.values()) reject(error);
  pending.clear();
}
globalThis.privrankWorker = { call }; // for the console (and the browser tests)

try {
  const backend = new URLSearchParams(location.search).get('backend') ?? 'auto';
  const loaded = await call('load', { backend });
  $('backend').textContent = loaded.backend;
  $('info').textContent = JSON.stringify(loaded.modelInfo, null, 2);
  for (const event of timedHistory()) await call('record', event);
  const ranked = await call('rank', CANDIDATES, { k: CANDIDATES.length, explain: true });
  $('out').textContent = JSON.stringify(ranked, null, 2);
  document.body.dataset.status = 'done';
} catch (e) {
  $('out').textContent = `${e.code ?? e.name}: ${e.message}`;
  document.body.dataset.code = e.code ?? '';
  document.body.dataset.status = 'error';
}
