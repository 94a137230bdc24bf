// Miniflare options for the edge worker, shared by `serve.mjs` and the tests, so both
// run exactly what a deployment would: the worker, the wasm and the model as modules.
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Options for `new Miniflare(...)`; `port: 0` picks a free port on 127.0.0.1.
 * `candidates`: the catalog `POST /candidates {"ids"}` looks ids up in (the
 * `CANDIDATES` binding; a deployment sets it as a JSON variable); its bids price
 * the collector's campaigns. `campaigns`: the paced campaigns (`CAMPAIGNS`,
 * {"<campaign>": {"dailyBudget": N}}). `persist`: a folder for the collector's
 * SQLite files (default: memory only). */
export function options({ port = 0, outboundService, candidates, campaigns, persist } = {}) {
  return {
    modules: true,
    modulesRoot: ROOT,
    scriptPath: fileURLToPath(new URL('./worker.mjs', import.meta.url)),
    // Rules are tried in order; wasm-bindgen's output is ES modules, the model files
    // are bytes (ArrayBuffer) for `Embedder.fromFiles`.
    modulesRules: [
      { type: 'ESModule', include: ['**/*.js', '**/*.mjs'] },
      { type: 'CompiledWasm', include: ['**/*.wasm'] },
      { type: 'Data', include: ['**/*.json', '**/*.txt', '**/*.safetensors'] },
    ],
    compatibilityDate: '2026-04-01',
    // The collector: one Durable Object per experiment, with SQLite storage, as
    // wrangler.toml declares it for a deployment.
    durableObjects: { COLLECTOR: { className: 'Collector', useSQLite: true } },
    ...(persist ? { durableObjectsPersist: persist } : {}),
    host: '127.0.0.1',
    port,
    ...(outboundService ? { outboundService } : {}),
    bindings: {
      ...(candidates ? { CANDIDATES: candidates } : {}),
      ...(campaigns ? { CAMPAIGNS: campaigns } : {}),
    },
  };
}
