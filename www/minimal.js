// Main-thread demo: load the ranker, record three events, rank four candidates.
// ?backend=cpu|webgpu|auto picks the backend (default auto).
import { CANDIDATES, timedHistory, progressText } from './demo-data.js';

const $ = (id) => document.getElementById(id);
const backend = new URLSearchParams(location.search).get('backend') ?? 'auto';

try {
  // A dynamic import, so that a missing or broken pkg/ is reported on the page too.
  const { default: init, Ranker } = await import('../pkg/privrank.js');
  await init();
  const ranker = await Ranker.load({
    backend,
    onProgress: (progress) => { $('progress').textContent = progressText(progress); },
  });
  globalThis.privrank = { ranker }; // for the console (and the browser tests)
  $('backend').textContent = ranker.backend;
  $('info').textContent = JSON.stringify(ranker.modelInfo, null, 2);
  for (const event of timedHistory()) await ranker.record(event);
  const ranked = await ranker.rank(CANDIDATES, { k: CANDIDATES.length, explain: true });
  $('out').textContent = JSON.stringify(ranked, null, 2);
  document.body.dataset.status = 'done';
} catch (e) {
  $('out').textContent = `${e?.code ?? e?.name ?? 'Error'}: ${e?.message ?? e}`;
  document.body.dataset.code = e?.code ?? '';
  document.body.dataset.status = 'error';
}
