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
/** Flags that keep Chromium off the network on a closed machine (and let it run as root). */
export const QUIET = ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

/** Start scripts/serve.mjs serving `root` (default ROOT), logging each request to
 * `logFile`; resolves to {child, url, origin} once it prints its address. */
export async function startServer(logFile, root = ROOT) {
  const child = spawn(process.execPath,
    [join(REPO, 'scripts', 'serve.mjs'), '--root', root, '--port', '0', '--log', logFile],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`scripts/serve.mjs exited with ${code}`)));
  });
  child.stdout.resume();
  const match = /^privrank: serving .+ at (http:\/\/127\.0\.0\.1:\d+\/)$/.exec(line);
  if (!match) {
    process.kill(child.pid);
    throw new Error(`unexpected first line from scripts/serve.mjs: ${line}`);
  }
  return { child, url: match[1], origin: new URL(match[1]).origin };
}
