// The npm package's entry point (scripts/build-pkg copies it to pkg/privrank.js and
// fills in the add-on's hash). Two builds of the same crate sit behind it:
//
// - the CPU core, `privrank_core.js` + `privrank_core_bg.wasm`: everything, on
//   burn's CPU backend. `init()` loads it; most devices never load anything else.
// - the WebGPU add-on, `privrank_webgpu.js` + `privrank_webgpu_bg.wasm`: the same
//   library with burn's wgpu backend. It is downloaded, checked against the SHA-256
//   below and instantiated only when a `Ranker` or `Embedder` is loaded with
//   `backend: 'webgpu'`, or with `'auto'` where the browser offers a hardware
//   adapter (`webgpuAdapter()`; software renderers such as SwiftShader do not count).
//
// Both open the same IndexedDB history and Cache API models, so which one a page
// gets changes nothing it stores. This file only chooses; every decision about the
// models themselves (parity probe, timing, fallback reasons) is the library's.

import initCore, * as core from './privrank_core.js';

export * from './privrank_core.js';

/** SHA-256 of `privrank_webgpu_bg.wasm`, written by scripts/build-pkg. */
const WEBGPU_ADDON_SHA256 = '@WEBGPU_ADDON_SHA256@';

/** Loads the CPU core (`privrank_core_bg.wasm` next to this file unless told otherwise). */
export default function init(moduleOrPath) {
  return initCore(moduleOrPath);
}

/** The add-on's download and instantiation, once per page or worker. */
let addon;
/** The add-on's module, once instantiated. */
let webgpu;

function addonError(message) {
  const error = new Error(`WebGPU add-on: ${message}`);
  error.name = 'PrivrankError';
  error.code = 'BackendUnavailable';
  return error;
}

async function fetchAddon() {
  const url = new URL('privrank_webgpu_bg.wasm', import.meta.url);
  let bytes;
  try {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    bytes = await response.arrayBuffer();
  } catch (e) {
    throw addonError(`could not fetch ${url.href}: ${e.message}`);
  }
  if (!globalThis.crypto?.subtle) {
    throw addonError('cannot be verified outside a secure context (crypto.subtle is missing)');
  }
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  const hex = Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
  if (hex !== WEBGPU_ADDON_SHA256) {
    throw addonError(`${url.href} has SHA-256 ${hex}, not the ${WEBGPU_ADDON_SHA256} this package was built with`);
  }
  const module = await import('./privrank_webgpu.js');
  await module.default({ module_or_path: bytes });
  webgpu = module;
  return module;
}

function loadAddon() {
  addon ??= fetchAddon().catch((e) => {
    addon = undefined; // a failed download may be retried by a later load
    throw e;
  });
  return addon;
}

/**
 * The build that serves `backend`: the add-on where WebGPU will run ('webgpu' with
 * any adapter; 'auto' with a hardware one), the core otherwise. Without an adapter
 * nothing is downloaded: the core's load says why ('webgpu': `BackendUnavailable`;
 * 'auto': `modelInfo.fallbackReason`).
 */
async function buildFor(backend, auto) {
  const wanted = backend === 'webgpu' || (auto && (backend === undefined || backend === 'auto'));
  if (!wanted) return core;
  const { kind } = await core.webgpuAdapter();
  return (backend === 'webgpu' ? kind !== 'none' : kind === 'hardware') ? loadAddon() : core;
}

function backendOf(options) {
  return options !== null && typeof options === 'object' ? options.backend : undefined;
}

function isInstance(name, value) {
  return value instanceof core[name] || (webgpu !== undefined && value instanceof webgpu[name]);
}

/** Ranks ad candidates against the shopper's history, on this device. */
export class Ranker extends core.Ranker {
  static async load(options) {
    return (await buildFor(backendOf(options), true)).Ranker.load(options);
  }

  static [Symbol.hasInstance](value) {
    return isInstance('Ranker', value);
  }
}

/** Embeds catalogs: on the CPU unless `Embedder.load` asks for `backend: 'webgpu'`. */
export class Embedder extends core.Embedder {
  static async load(manifest, files, options) {
    return (await buildFor(backendOf(options), false)).Embedder.load(manifest, files, options);
  }

  static [Symbol.hasInstance](value) {
    return isInstance('Embedder', value);
  }
}
