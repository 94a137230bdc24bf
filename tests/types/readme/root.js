// README.md, "The npm package (`pkg/`)", verbatim (`candidates` from ../globals.d.ts).
import init, { Ranker } from 'privrank';
await init();
const ranker = await Ranker.load({ backend: 'auto', onProgress: (p) => console.log(p) });
await ranker.record({ kind: 'view', itemId: '1', title: 'Toy Story (1995)', category: 'Animation' });
const ranked = await ranker.rank(candidates, { k: 3, explain: true }); // [{id, score, ctr, reasons}]
