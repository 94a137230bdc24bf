// The npm package's public API as pkg/README.md documents it, written as a strict
// TypeScript user would, against the declarations the package ships
// (pkg/privrank.d.ts). Never run: `tsc -p tests/types` only type-checks it
// (scripts/test). Each `@ts-expect-error` line is a misuse the declarations must
// refuse; tsc fails if one of them stops being an error.
import init, {
  checkReport,
  demoData,
  Embedder,
  estimates,
  pace,
  initSync,
  Ranker,
  webgpuAdapter,
  type Backend,
  type Candidate,
  type Creative,
  type DemoData,
  type Estimates,
  type EventKind,
  type Exploration,
  type FrequencyCap,
  type Interest,
  type ItemEmbedding,
  type LoadOptions,
  type ModelInfo,
  type NoisedReport,
  type Pacer,
  type PackedEmbedding,
  type Policy,
  type PrivrankError,
  type Ranked,
  type RankOptions,
  type Reason,
  type Related,
  type Report,
  type ShopperEvent,
  type Tally,
} from '../../pkg/privrank.js';

// --- init ---------------------------------------------------------------------------
await init();
await init({ module_or_path: new URL('privrank_core_bg.wasm', import.meta.url) });
declare const wasmModule: WebAssembly.Module;
initSync({ module: wasmModule });
initSync({ module: new Uint8Array(8) });

// --- webgpuAdapter: what 'auto' judges, a union on `kind` -----------------------------
const adapter = await webgpuAdapter();
if (adapter.kind === 'none') {
  const why: string = adapter.reason;
  // @ts-expect-error: no description without an adapter
  adapter.description;
} else {
  const what: string = adapter.description;
  const kind: 'software' | 'hardware' = adapter.kind;
}
const ranker0: Ranker = await Ranker.load();
const isRanker: boolean = ranker0 instanceof Ranker;

// --- Ranker.load --------------------------------------------------------------------
const progress: { file: string; loaded: number; total?: number; cached: boolean }[] = [];
const loadOptions: LoadOptions = {
  modelUrl: '/models/default.json',
  backend: 'auto',
  onProgress: ({ file, loaded, total, cached }) => progress.push({ file, loaded, total, cached }),
  storeName: 'privrank',
  retention: { maxEvents: 1000, maxAgeDays: 90 },
  maxCandidates: 1000,
  refresh: false,
  fetchTimeoutMs: 30_000,
  privacyBudget: 4,
  collector: '/edge/report',
};
const ranker: Ranker = await Ranker.load(loadOptions);
await Ranker.load();
await Ranker.load({ backend: 'webgpu' });
await Ranker.load({ backend: 'cpu', retention: { maxEvents: 10 } });
const backends: Backend[] = ['auto', 'webgpu', 'cpu'];
// @ts-expect-error: no such backend
await Ranker.load({ backend: 'tpu' });
// @ts-expect-error: a misspelt option (the library refuses it too: BadOptions)
await Ranker.load({ modelURL: '/models/default.json' });
// @ts-expect-error: the constructor is private; Ranker.load makes rankers
new Ranker();

// --- record -------------------------------------------------------------------------
const kinds: EventKind[] = ['view', 'click', 'cart', 'purchase', 'search', 'impression'];
const stored: ShopperEvent = await ranker.record({
  kind: 'view', itemId: '1', title: 'Toy Story (1995)', category: 'Animation',
});
await ranker.record({ kind: 'click', itemId: '1', title: 'Toy Story (1995)', ts: Date.now() });
await ranker.record({ kind: 'cart', itemId: '1', title: 'Toy Story (1995)' });
await ranker.record({ kind: 'purchase', itemId: '1', title: 'Toy Story (1995)', category: 'Animation' });
await ranker.record({ kind: 'search', title: 'pixar movies' }); // no itemId: the query is used
await ranker.record({ kind: 'impression', itemId: '588', title: 'Beauty and the Beast (1991)', campaign: 'spring' });
const kind: EventKind = stored.kind;
// @ts-expect-error: no such event kind
await ranker.record({ kind: 'teleport', itemId: '1', title: 'Toy Story (1995)' });
// @ts-expect-error: an event needs its title
await ranker.record({ kind: 'view', itemId: '1' });
// @ts-expect-error: a misspelt field (the library refuses it too: BadEvent)
await ranker.record({ kind: 'view', itemid: '1', title: 'Toy Story (1995)' });

// --- rank -----------------------------------------------------------------------------
const packed: PackedEmbedding = { int8: 'AAAA', scale: 0.01 };
const creatives: Creative[] = [
  { id: 'headline', text: 'A tale as old as time' },
  { id: 'banner', text: 'Now on Blu-ray', embedding: packed },
];
const related: Related[] = [{ itemId: '1', weight: 0.4 }, { itemId: '71', weight: 0.1 }];
const candidates: Candidate[] = [
  {
    id: '588', title: 'Beauty and the Beast (1991)', category: 'Animation', bid: 1.2,
    features: { popularity: 0.5, release_year: 0.89 },
    campaign: 'spring', advertiser: 'disney', kAnonymous: true, prior: 0.02, pacing: 0.8,
    creatives, related,
    extras: { price: 9.99, image: '/img/588.jpg', link: '/item/588' },
  },
  // Embedded at the edge: the device runs no encoder for it.
  {
    id: '50', title: 'Star Wars (1977)', category: 'Sci-Fi',
    encoder: ranker.modelInfo.encoderHash, embedding: packed,
    creatives: [{ id: 'c1', text: 'May the Force be with you', embedding: packed }],
  },
  { id: 'house', title: 'Our store', fallback: true },
];
const caps: FrequencyCap[] = [
  { scope: 'ad', window: 'day', max: 3 },
  { scope: 'campaign', window: 'week', max: 10 },
  { scope: 'ad', window: 'hour', max: 1 },
];
const explorations: Exploration[] = [
  { kind: 'greedy' },
  { kind: 'epsilonGreedy', epsilon: 0.1 },
  { kind: 'thompson', strength: 1 },
];
const policy: Policy = {
  caps, requireKAnonymous: true, diversity: 0.7, maxPerAdvertiser: 1, maxPerCampaign: 2,
  coldStartEvents: 5,
};
const options: RankOptions = {
  k: 3, explain: true, objective: 'ecpm', now: Date.now(), policy, onEncoderMismatch: 'embed',
};
const ranked: Ranked[] = await ranker.rank(candidates, options);
await ranker.rank(candidates);
await ranker.rank(candidates, { objective: 'ctr', onEncoderMismatch: 'error' });
await ranker.rank(candidates, { k: 2, policy: { exploration: explorations[2], seed: 7 } });
for (const r of ranked) {
  const id: string = r.id;
  const score: number = r.score;
  const ctr: number = r.ctr;
  const propensity: number | undefined = r.propensity;
  const fallback: boolean | undefined = r.fallback;
  const creative: string | undefined = r.creative;
  for (const reason of r.reasons ?? []) {
    const why: Reason = reason;
    const line: string = `${why.itemId} ${why.title} ${why.kind} ${why.weight.toFixed(2)}`;
  }
}
// @ts-expect-error: a candidate needs its title
await ranker.rank([{ id: '1' }]);
// @ts-expect-error: a misspelt field (the library refuses it too: BadCandidate)
await ranker.rank([{ id: '1', title: 'x', advertizer: 'disney' }]);
// @ts-expect-error: no such option
await ranker.rank(candidates, { topK: 3 });
// @ts-expect-error: no such objective
await ranker.rank(candidates, { objective: 'cpm' });
// @ts-expect-error: no such exploration
await ranker.rank(candidates, { policy: { exploration: { kind: 'ucb', c: 2 } } });
// @ts-expect-error: caps have scope 'ad' or 'campaign'
await ranker.rank(candidates, { policy: { caps: [{ scope: 'user', window: 'day', max: 1 }] } });
// @ts-expect-error: a packed embedding is { int8, scale }, not numbers
await ranker.rank([{ id: '1', title: 'x', encoder: 'h', embedding: [0.1, 0.2] }]);
// @ts-expect-error: the result has `reasons`, not `reason`
ranked[0].reason;

// --- the other members ----------------------------------------------------------------
const events: ShopperEvent[] = await ranker.history();
const forgotten: void = await ranker.forget();
const vectors: Float32Array[] = await ranker.embed(['Toy Story (1995)', 'pixar movies']);
const interests: Interest[] = await ranker.interests();
await ranker.interests({ halfLifeDays: 7, k: 5 });
const tags: string[] = interests.map(({ tag, weight }) => `${tag}: ${weight}`);
const arm: string = await ranker.arm({ salt: 'exp-1', arms: [{ label: 'a' }, { label: 'b', weight: 2 }] });
const report: Report = await ranker.report(true, { experiment: 'headline', arm });
await ranker.report(false, { experiment: 'headline', arm, creative: 'tagline', campaign: 'spring', epsilon: 1 });
// @ts-expect-error: a report says what it is about
await ranker.report(false);
// @ts-expect-error: the budget is the origin's; a page cannot name another
await ranker.report(false, { experiment: 'headline', arm, epsilon: 1, site: 'https://shop.example' });
const { report: sentBody, sent, spent, total }: { report: NoisedReport; sent: boolean; spent: number; total: number } = report;
const { clicked, day, epsilon }: { clicked: boolean; day: string; epsilon: number } = sentBody;
const counted: Tally = checkReport(sentBody);
const summary: Estimates = estimates('headline', [counted], { spring: 0.5 });
const first: number = summary.arms[0].ctr + summary.arms[0].low + summary.campaigns[0].clicks;
const pacer: Pacer = pace(null, [counted], { campaign: 'spring', bid: 0.5, dailyBudget: 100 }, Date.now());
const next: number = pace(pacer, [counted], { campaign: 'spring', bid: 0.5, dailyBudget: 100 }, Date.now()).multiplier;
// @ts-expect-error: a paced campaign has a daily budget
pace(null, [], { campaign: 'spring', bid: 0.5 }, Date.now());
const textsEncoded: number = ranker.debugCounters().textsEncoded;
const backend: string = ranker.backend;
const info: ModelInfo = ranker.modelInfo;
const described: string = [
  info.encoder, info.encoderHash, info.ranker, info.dim, info.maxHistory,
  info.candidateFeatures.join(), info.storeName, info.modelUrl, info.backend, info.adapter,
].join(' ');
// Absent values are null (the object is JSON), not undefined.
const fallbackReason: string | null = info.fallbackReason;
const parity: (number | null)[] = [info.parityCosine, info.cpuMs, info.gpuMs];
// @ts-expect-error: null when WebGPU was neither asked for nor tried
const reasonText: string = info.fallbackReason;
// @ts-expect-error: modelInfo is read-only
ranker.modelInfo = info;
// @ts-expect-error: interests options are { halfLifeDays, k }
await ranker.interests({ halfLife: 7 });
ranker.free();

// --- Embedder -------------------------------------------------------------------------
declare const manifestText: string;
declare const config: ArrayBuffer;
declare const tokenizer: Uint8Array;
declare const weights: ArrayBuffer;
const files = {
  'config.json': config,
  'vocab.txt': tokenizer,
  'model.quantized.safetensors': weights,
};
const embedder: Embedder = Embedder.fromFiles(manifestText, files);
Embedder.fromFiles(new TextEncoder().encode(manifestText), files);
await Embedder.load(manifestText, files);
await Embedder.load(manifestText, files, { backend: 'webgpu' });
const onGpu: Embedder = await Embedder.load(manifestText, files, { backend: 'cpu' });
const lines: ItemEmbedding[] = await embedder.embedCatalog([
  { id: '588', title: 'Beauty and the Beast (1991)', category: 'Animation' },
]);
for (const { id, encoder, embedding } of lines) {
  const dims: number = embedding.length + id.length + encoder.length;
}
const texts: string[] = embedder.candidateTexts(candidates);
const packedTexts: PackedEmbedding[] = await embedder.embedPacked(texts);
const byText: Record<string, PackedEmbedding> = Object.fromEntries(texts.map((t, i) => [t, packedTexts[i]]));
const ready: Candidate[] = embedder.attachEmbeddings(candidates, byText);
await ranker.rank(ready, { k: 3 });
const free: Float32Array[] = await embedder.embed(['a sentence', 'another']);
const hash: string = embedder.encoder;
const dim: number = embedder.dim;
embedder.free();
// @ts-expect-error: Embedder.load offers 'cpu' or 'webgpu', no 'auto'
await Embedder.load(manifestText, files, { backend: 'auto' });
// @ts-expect-error: the files are bytes, not URLs
Embedder.fromFiles(manifestText, { 'config.json': '/models/student/config.json' });

// --- demoData -------------------------------------------------------------------------
const demo: DemoData = demoData('inter', 'item', 'user', 2);
demoData('inter', 'item', 'user');
const catalogJson: string = demo.files['catalog.json'] + demo.files['candidates.json'];
const counts: number = demo.movies + demo.promotions + demo.genres;

// --- errors ---------------------------------------------------------------------------
// (readme-errors.ts is the README's way of catching them.)
declare const thrown: PrivrankError;
const message: string = thrown.message;
// Every code pkg/README.md's table lists, and no other.
const codes: Record<PrivrankError['code'], true> = {
  BadOptions: true, BadEvent: true, BadCandidate: true, TooManyCandidates: true, BadInput: true,
  TooManyInputs: true, ModelFetch: true, ModelHashMismatch: true, BadModel: true,
  ModelMismatch: true, BackendUnavailable: true, BackendError: true, StorageQuota: true,
  StorageError: true, BadData: true, EncoderMismatch: true, PrivacyBudgetSpent: true,
  ArmLimit: true, ReportNotSent: true, Internal: true,
};
const details: { index: number; field: string; reason: string }[] | undefined = thrown.details;
// @ts-expect-error: no such code (the comparison can never be true)
if (thrown.code === 'BadCandidates') throw thrown;
// @ts-expect-error: details name the candidate by `index`
thrown.details?.[0].candidate;

export {};
