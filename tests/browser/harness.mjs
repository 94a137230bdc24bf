// Shared by the Playwright tests in this folder: where things are, how Chromium is
// started quietly, and the local server (scripts/serve.mjs on 127.0.0.1, port 0).
// Env: CHROMIUM (default /usr/bin/chromium); PRIVRANK_SERVE_ROOT (the directory served,
// default the repository: it must hold www/ and pkg/).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const ROOT = process.env.PRIVRANK_SERVE_ROOT ?? REPO;
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
/** The first load downloads ~90 MB of model files and compiles a large wasm module. */
export const LOAD_MS = 300_000;
export const TEST = { timeout: 600_000 };
/** Flags that keep Chromium off the network on a closed machine (and let it run as root),
 * and keep its own browser UI off the CPU the page is timed on: headless Chromium 156
 * preloads the omnibox popup's WebUI in a renderer of its own, which in traces of a
 * return visit kept one of this machine's two cores busy for 0.8 s (1.6 s of CPU
 * against the page's 0.8 s), while the page loaded. */
export const QUIET = ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
  '--disable-features=PreloadTopChromeWebUI,WebUIOmniboxPopup,WebUIOmniboxFullPopup,WebUIOmniboxAimPopup'];

/** Run `node script ...args` and resolve to {child, url} once its first line, which
 * `pattern` must match, gives its address (the pattern's first group). */
async function startNode(script, args, pattern) {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
  child.stdout.resume();
  const match = pattern.exec(line);
  if (!match) {
    process.kill(child.pid);
    throw new Error(`unexpected first line from ${script}: ${line}`);
  }
  return { child, url: match[1] };
}

/** Start scripts/serve.mjs serving `root` (default ROOT), logging each request to
 * `logFile`, POST /edge/* going to `edge` when given; resolves to {child, url,
 * origin} once it prints its address. */
export async function startServer(logFile, root = ROOT, { edge } = {}) {
  const { child, url } = await startNode(join(REPO, 'scripts', 'serve.mjs'),
    ['--root', root, '--port', '0', '--log', logFile, ...(edge ? ['--edge', edge] : [])],
    /^privrank: serving .+ at (http:\/\/127\.0\.0\.1:\d+\/)$/);
  return { child, url, origin: new URL(url).origin };
}

/** Start the edge worker (examples/edge-worker/serve.mjs, workerd) on a free port with
 * `candidates` (a file) as its catalog; resolves to {child, url}. */
export function startEdge(candidates) {
  return startNode(join(REPO, 'examples', 'edge-worker', 'serve.mjs'), ['--port', '0', '--candidates', candidates],
    /^privrank edge worker: (http:\/\/127\.0\.0\.1:\d+\/) /);
}
