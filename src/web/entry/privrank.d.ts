// The package's entry point: the CPU core's API. The WebGPU add-on has the same API
// and is loaded behind it (see privrank.js).
export * from './privrank_core.js';
export { default } from './privrank_core.js';
