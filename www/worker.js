// privrank in a dedicated module Worker, off the main thread.
//   new Worker(new URL('./worker.js', import.meta.url), { type: 'module' })
// Protocol: postMessage({id, method, args}) → {id, result} or
// {id, error: {code, message, details}}; while loading, {progress: {file, loaded, total}}.
// Methods: load(options) → {backend, modelInfo} (Ranker.load's options less onProgress;
// the first load wins); info(); record, rank, history, forget, embed (the Ranker's own,
// same arguments; they load with default options if load was not called); free().
// Calls run one at a time, in the order they arrive. A trap inside the package (a
// panic: the package rejects what was pending with code 'Internal' and closes its
// instance) is answered as {id, error: {code: 'Internal'}, closed: true} and this
// worker closes: the page starts a new one, which loads afresh (the history is in
// IndexedDB and survives). debugTrap() causes one, for the tests.
let ranker = null;
let loading = null;

function load(options = {}) {
  loading ??= import('../pkg/privrank.js')
    .then(async ({ default: init, Ranker }) => {
      await init();
      const onProgress = (progress) => self.postMessage({ progress });
      return (ranker = await Ranker.load({ ...options, onProgress }));
    })
    .catch((e) => {
      loading = null; // let a later call retry
      throw e;
    });
  return loading;
}

const info = (r) => ({ backend: r.backend, modelInfo: r.modelInfo });

const METHODS = {
  load: async (options) => info(await load(options)),
  debugTrap: async () => {
    await load();
    (await import('../pkg/privrank.js')).__privrankPanicForTests('a deliberate panic (debugTrap)');
  },
  info: async () => info(await load()),
  free: async () => {
    ranker?.free();
    ranker = loading = null;
  },
};
for (const name of ['record', 'rank', 'history', 'forget', 'embed']) {
  METHODS[name] = async (...args) => (await load())[name](...args);
}

async function handle({ id, method, args = [] } = {}) {
  try {
    if (!Object.hasOwn(METHODS, method)) {
      throw Object.assign(new Error(`unknown method ${JSON.stringify(method)}`), { code: 'BadMethod' });
    }
    self.postMessage({ id, result: await METHODS[method](...args) });
  } catch (e) {
    // A trap thrown straight out of wasm is a RuntimeError with no code.
    const trapped = e instanceof WebAssembly.RuntimeError || e?.code === 'Internal';
    const error = { code: trapped ? 'Internal' : e?.code ?? 'Error', message: String(e?.message ?? e) };
    if (e?.details !== undefined) error.details = e.details;
    // One message, so the page replaces this worker before its caller goes on.
    self.postMessage(trapped ? { id, error, closed: true } : { id, error });
    if (trapped) self.close();
  }
}

// Report Content Security Policy violations to the page, whose console shows them
// (a worker's own violations do not reach the page's console).
self.addEventListener('securitypolicyviolation', (e) => {
  self.postMessage({ violation: { blockedURI: e.blockedURI, directive: e.effectiveDirective } });
});

let queue = Promise.resolve();
self.onmessage = ({ data }) => {
  queue = queue.then(() => handle(data));
};
