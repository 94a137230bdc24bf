// Where a bench page's time goes: loads www/bench.html with the given query in headless
// Chromium under the DevTools CPU profiler and prints the functions with the most
// self time (wasm functions by their Rust names: pkg/ keeps the name section). Writes
// the full profile to target/bench/<name>.cpuprofile (open it in DevTools). Not part
// of the test suite.
//   node scripts/profile-browser.mjs [--query lib=rank] [--top 30]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { CHROMIUM, QUIET, REPO, startServer } from '../tests/browser/harness.mjs';

const { values: opts } = parseArgs({ options: {
  query: { type: 'string', default: 'lib=rank' },
  top: { type: 'string', default: '30' },
} });
const out = join(REPO, 'target', 'bench');
mkdirSync(out, { recursive: true });
const tmp = mkdtempSync(join(tmpdir(), 'privrank-profile-'));
const server = await startServer(join(tmp, 'requests.jsonl'));
const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...QUIET, '--disable-gpu'] });
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
  await cdp.send('Profiler.start');
  await page.goto(new URL(`/www/bench.html?${opts.query}`, server.url).href);
  await page.waitForSelector('body[data-status="done"], body[data-status="error"]', { state: 'attached', timeout: 600_000 });
  const { profile } = await cdp.send('Profiler.stop');
  const status = await page.evaluate(() => document.body.dataset.status);
  if (status !== 'done') throw new Error(await page.evaluate(() => document.getElementById('out').textContent));
  const file = join(out, `${opts.query.replace(/[^a-z0-9]+/gi, '-')}.cpuprofile`);
  writeFileSync(file, JSON.stringify(profile));

  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    const name = byId.get(id).callFrame.functionName || '(anonymous)';
    self.set(name, (self.get(name) ?? 0) + ms);
    total += ms;
  });
  console.log(`${opts.query}: ${total.toFixed(0)} ms sampled; top self time (${file}):`);
  for (const [name, ms] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(opts.top))) {
    console.log(`${ms.toFixed(0).padStart(8)} ms ${(100 * ms / total).toFixed(1).padStart(5)}%  ${name.replace(/::h[0-9a-f]{16}$/, '').slice(0, 140)}`);
  }
} finally {
  await browser.close();
  server.child.kill();
  rmSync(tmp, { recursive: true, force: true });
}
