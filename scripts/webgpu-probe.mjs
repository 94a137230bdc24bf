// Does this machine's headless Chromium offer a WebGPU adapter? Tries flag sets in
// turn and prints what each gives. WebGPU needs a secure context, so a blank page is
// served from 127.0.0.1 (port 0) by this script; nothing else is contacted.
//   node scripts/webgpu-probe.mjs
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:http';

const server = createServer((_, res) => res.end('<!doctype html><title>probe</title>'));
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const url = `http://127.0.0.1:${server.address().port}/`;

const QUIET = ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];
const VARIANTS = {
  'default (--disable-gpu)': ['--disable-gpu'],
  'unsafe-webgpu + vulkan (lavapipe)': ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-angle=vulkan'],
  'unsafe-webgpu + swiftshader': ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader', '--enable-unsafe-swiftshader'],
  'unsafe-webgpu + swiftshader + vulkan': ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-webgpu-adapter=swiftshader', '--enable-unsafe-swiftshader'],
};

const results = {};
for (const [name, flags] of Object.entries(VARIANTS)) {
  const dir = mkdtempSync(join(tmpdir(), 'privrank-probe-'));
  let ctx;
  try {
    ctx = await chromium.launchPersistentContext(dir, {
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args: [...QUIET, ...flags],
    });
    const page = await ctx.newPage();
    await page.goto(url);
    results[name] = await page.evaluate(async () => {
      if (!('gpu' in navigator)) return { gpu: false };
      const adapter = await navigator.gpu.requestAdapter();
      if (!adapter) return { gpu: true, adapter: null };
      const info = adapter.info || {};
      return { gpu: true, adapter: { vendor: info.vendor, architecture: info.architecture, description: info.description, isFallback: adapter.isFallbackAdapter } };
    });
  } catch (e) {
    results[name] = { error: String(e).split('\n')[0] };
  } finally {
    await ctx?.close();
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`${name}: ${JSON.stringify(results[name])}`);
}
server.close();
