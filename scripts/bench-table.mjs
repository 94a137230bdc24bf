// Reads the runs written by scripts/bench-native (criterion estimates and the
// onnxruntime peer's JSON) and prints the side-by-side table: min / median / max
// over runs of each run's median batch latency, and the ratio privrank / peer
// (below 1: privrank is faster). Also writes native.json next to the runs.
//   node scripts/bench-table.mjs target/bench RUNS
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [dir, runsArg] = process.argv.slice(2);
const runs = Number(runsArg);
const read = (p) => JSON.parse(readFileSync(p, 'utf8'));
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const triple = (xs) => xs.length ? { min: Math.min(...xs), median: median(xs), max: Math.max(...xs) } : null;
const fmt = (t) => t ? `${t.min.toFixed(2)} / ${t.median.toFixed(2)} / ${t.max.toFixed(2)}` : '–';

// criterion: the median of its samples' per-iteration times, in ns.
const criterionMs = (run, id) => {
  const p = join(dir, `run-${run}`, `${id}.json`);
  return existsSync(p) ? read(p).median.point_estimate / 1e6 : null;
};
const peers = [];
for (let r = 1; r <= runs; r++) peers.push(read(join(dir, `run-${r}`, 'onnx_peer.json')));
const peerModel = peers[0].model;

const rows = [];
const models = ['paraphrase-minilm-l3-v2', 'all-minilm-l6-v2', 'student'];
for (const model of models) {
  for (const bs of [1, 16, 64]) {
    const ours = [];
    const theirs = [];
    for (let r = 1; r <= runs; r++) {
      const ms = criterionMs(r, `encoder_${model}/batch/${bs}`);
      if (ms !== null) ours.push(ms);
      if (model === peerModel) {
        const res = peers[r - 1].results.find((x) => x.batch_size === bs);
        if (res) theirs.push(res.total.p50_ms);
      }
    }
    if (!ours.length) continue;
    const o = triple(ours);
    const t = triple(theirs);
    // Sustained rate of the model's own arithmetic (benches/onnx_peer.py counts it).
    const mflop = model === peerModel ? peers[0].model_mflop_per_text : null;
    const gflops = (m) => (mflop && m ? (bs * mflop) / m.median : null);
    rows.push({ what: `encoder ${model}, batch ${bs}`, privrank_ms: o, peer_ms: t,
      ratio: t ? o.median / t.median : null, texts_per_s: (bs * 1000) / o.median,
      gflops: { privrank: gflops(o), peer: gflops(t) } });
  }
}
const rank = [];
for (let r = 1; r <= runs; r++) {
  const ms = criterionMs(r, 'rank/cached/100x50');
  if (ms !== null) rank.push(ms);
}
if (rank.length) rows.push({ what: 'rank 100 candidates × 50 events (embeddings cached)', privrank_ms: triple(rank), peer_ms: null, ratio: null, texts_per_s: null });

const p = peers[0];
console.log(`privrank (burn flex, CPU) vs onnxruntime ${p.onnxruntime} (${p.provider}, ${p.intra_op_threads} threads) on ${p.cpu_count} cores; ${p.texts.n} MovieLens titles; ${runs} runs.`);
console.log('Latency per batch in ms, min / median / max over runs (each run: criterion\'s median; the peer\'s p50 including tokenization and pooling).\n');
console.log('| benchmark | privrank ms | onnxruntime ms | privrank / onnxruntime | privrank texts/s | GFLOP/s, privrank / onnxruntime |');
console.log('|---|---|---|---|---|---|');
const rate = (g) => (g?.privrank ? `${g.privrank.toFixed(1)} / ${g.peer ? g.peer.toFixed(1) : '–'}` : '–');
for (const r of rows) {
  console.log(`| ${r.what} | ${fmt(r.privrank_ms)} | ${fmt(r.peer_ms)} | ${r.ratio === null ? '–' : r.ratio.toFixed(2)} | ${r.texts_per_s === null ? '–' : r.texts_per_s.toFixed(0)} | ${rate(r.gflops)} |`);
}
if (p.model_mflop_per_text) console.log(`\nGFLOP/s: batch × ${p.model_mflop_per_text} MFLOP (${peerModel}'s matrix products on a title's ${p.texts.mean_tokens} tokens on average, no padding; benches/onnx_peer.py) / median latency.`);

// The distilled student against its teacher, same texts and runs: speed-up = teacher
// median / student median (above 1: the student is faster).
const speedups = [];
for (const bs of [1, 16, 64]) {
  const find = (m) => rows.find((r) => r.what === `encoder ${m}, batch ${bs}`);
  const [t, s] = [find('all-minilm-l6-v2'), find('student')];
  if (t && s) speedups.push({ batch: bs, teacher_ms: t.privrank_ms, student_ms: s.privrank_ms, speedup: t.privrank_ms.median / s.privrank_ms.median });
}
if (speedups.length) {
  console.log('\nThe distilled student (models/student) against its teacher (all-MiniLM-L6-v2), privrank on both:\n');
  console.log('| batch | teacher ms | student ms | student speed-up (teacher / student) |');
  console.log('|---|---|---|---|');
  for (const r of speedups) console.log(`| ${r.batch} | ${fmt(r.teacher_ms)} | ${fmt(r.student_ms)} | ${r.speedup.toFixed(2)}× |`);
}
writeFileSync(join(dir, 'native.json'), JSON.stringify({ runs, peer: { model: peerModel, onnxruntime: p.onnxruntime, threads: p.intra_op_threads }, rows, student_vs_teacher: speedups }, null, 1) + '\n');
