// privrank in a dedicated module Worker, off the main thread.
//   new Worker(new URL('./worker.js', import.meta.url), { type: 'module' })
// Protocol: postMessage({id, method, args}) → {id, result} or
// {id, error: {code, message, details}}; while loading, {progress: {file, loaded, total}}.
// Methods: load(options) → {backend, modelInfo} (Ranker.load's options less onProgress;
// the first load wins); info(); record, rank, history, forget, embed (the Ranker's own,
// same arguments; they load with default options if load was not called); free().
// Calls run one at a time, in the order they arrive.
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
    const error = { code: e?.code ?? 'Error', message: String(e?.message ?? e) };
    if (e?.details !== undefined) error.details = e.details;
    self.postMessage({ id, error });
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
