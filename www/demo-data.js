// The demo's shopper history and ad candidates: MovieLens-100k titles and item ids.
export const HISTORY = [
  { kind: 'view', itemId: '1', title: 'Toy Story (1995)', category: 'Animation' },
  { kind: 'click', itemId: '71', title: 'Lion King, The (1994)', category: 'Animation' },
  { kind: 'purchase', itemId: '95', title: 'Aladdin (1992)', category: 'Animation' },
];

export const CANDIDATES = [
  { id: '588', title: 'Beauty and the Beast (1991)', category: 'Animation', bid: 1.2, features: { popularity: 0.5, release_year: 0.89 } },
  { id: '50', title: 'Star Wars (1977)', category: 'Sci-Fi', bid: 0.9, features: { popularity: 1.0, release_year: 0.72 } },
  { id: '100', title: 'Fargo (1996)', category: 'Crime', bid: 1.0, features: { popularity: 0.87, release_year: 0.94 } },
  { id: '273', title: 'Heat (1995)', category: 'Action', bid: 1.5, features: { popularity: 0.12, release_year: 0.93 } },
];

/** The history with timestamps a minute apart, the last one now. */
export function timedHistory(now = Date.now()) {
  return HISTORY.map((event, i) => ({ ...event, ts: now - (HISTORY.length - 1 - i) * 60_000 }));
}

/** `#progress` text for an onProgress report. */
export function progressText({ file, loaded, total, cached }) {
  const mb = (n) => (n / 1e6).toFixed(1);
  if (cached) return `${file}: from the cache`;
  return total ? `${file}: ${mb(loaded)} / ${mb(total)} MB` : `${file}: ${mb(loaded)} MB`;
}
