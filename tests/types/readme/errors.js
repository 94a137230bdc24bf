// pkg/README.md, "Errors", verbatim (`ranker` and `candidates` from ../globals.d.ts).
try {
  await ranker.rank(candidates);
} catch (e) {
  if (e.code === 'BadCandidate') for (const d of e.details) console.warn(d.index, d.field, d.reason);
  else throw e;
}
export {};
