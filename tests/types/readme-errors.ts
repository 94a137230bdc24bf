// pkg/README.md, "Errors", the TypeScript example, verbatim (`ranker` and `candidates`
// from globals.d.ts).
import type { PrivrankError } from 'privrank';

try {
  await ranker.rank(candidates);
} catch (e) {
  const err = e as PrivrankError;
  if (err.code === 'BadCandidate') for (const d of err.details ?? []) console.warn(d.index, d.field, d.reason);
  else throw err;
}
