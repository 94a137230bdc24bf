// pkg/README.md, "Quick start", verbatim: checked as JavaScript (checkJs) against
// pkg/privrank.d.ts, as an editor checks a page that imports the package.
import init, { Ranker } from 'privrank';

await init(); // fetches privrank_core_bg.wasm next to privrank.js
const ranker = await Ranker.load({
  onProgress: ({ file, loaded, total, cached }) => console.log(file, loaded, total, cached),
});

// Whenever the shopper does something worth remembering:
await ranker.record({ kind: 'view', itemId: '1', title: 'Toy Story (1995)', category: 'Animation' });

// When the ad server sends candidates:
const ranked = await ranker.rank([
  { id: '588', title: 'Beauty and the Beast (1991)', category: 'Animation', bid: 1.2,
    features: { popularity: 0.5, release_year: 0.89 } },
  { id: '50', title: 'Star Wars (1977)', category: 'Sci-Fi', bid: 0.9,
    features: { popularity: 1.0, release_year: 0.72 } },
], { k: 1, explain: true });
// e.g. [{ id: '588', score: 0.83, ctr: 0.83, reasons: [{ itemId: '1', title: 'Toy Story (1995)', kind: 'view', weight: 1 }] }]
