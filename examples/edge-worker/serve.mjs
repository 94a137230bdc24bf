// Runs the edge worker locally in workerd (through miniflare) on 127.0.0.1.
//   node examples/edge-worker/serve.mjs [--port N]        (default 8787)
import { parseArgs } from 'node:util';
import { Miniflare } from 'miniflare';
import { options } from './config.mjs';

const { values } = parseArgs({ options: { port: { type: 'string', default: '8787' } } });
const mf = new Miniflare(options({ port: Number(values.port) }));
const url = await mf.ready;
console.log(`privrank edge worker: POST ${new URL('/embed', url)} (Ctrl-C to stop)`);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    await mf.dispose();
    process.exit(0);
  });
}
