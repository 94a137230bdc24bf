// The storefront's privacy panel: what the page fetched, what it stored, what the
// ranker used. Everything here is computed in the page from the browser's own records
// (Resource Timing, privrank's IndexedDB history); nothing is sent anywhere.

const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  for (const child of children) if (child != null) node.append(child);
  return node;
};
export { el };

/** "12.3 kB" for a byte count. */
export function formatBytes(n) {
  if (!Number.isFinite(n)) return '—';
  if (n < 1000) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  return `${(n / 1e6).toFixed(1)} MB`;
}

/** What a request was for, by its path: the page's files, the demo data, the model,
 *  the ranker's code and the edge worker's routes are expected; anything else is
 *  flagged. */
export function classify(url) {
  const u = new URL(url, location.href);
  if (u.origin !== location.origin) return { what: 'OTHER ORIGIN', expected: false };
  const path = u.pathname;
  if (path.startsWith('/www/data/') && path.endsWith('.json')) return { what: 'demo data', expected: true };
  if (path.startsWith('/pkg/models/')) return { what: 'model', expected: true };
  if (path === '/edge/candidates') return { what: 'promotions (edge)', expected: true };
  // A noised report's body is shown whole under "Reports sent"; the estimates are read.
  if (path === '/edge/report') return { what: 'noised report (edge)', expected: true };
  if (path === '/edge/estimates') return { what: 'experiment results (edge)', expected: true };
  if (/^\/pkg\/(privrank\.js|privrank_(core|webgpu)(_bg\.wasm|\.js)|snippets\/)/.test(path)) return { what: 'ranker code', expected: true };
  if (path === '/www/' || /^\/www\/[\w-]+\.(html|js|css)$/.test(path)) return { what: 'page', expected: true };
  return { what: 'UNEXPECTED', expected: false };
}

/**
 * List every request of the page (navigation + resources, including those made before
 * this module ran: `buffered: true`) in `tbody`, with a running summary.
 */
export function watchNetwork({ tbody, summary, count }) {
  performance.setResourceTimingBufferSize?.(5000);
  const entries = [];
  const keys = new Set(); // an entry can be delivered twice (buffered, then observed)
  let scheduled = false;
  const render = () => {
    scheduled = false;
    let transferred = 0; // on the wire: compressed bodies plus headers (transferSize)
    let decoded = 0; // the same bodies once decompressed (decodedBodySize)
    let unexpected = 0;
    const byWhat = new Map();
    for (const entry of entries) {
      transferred += entry.transferSize || 0;
      decoded += entry.decodedBodySize || 0;
      const { what, expected } = classify(entry.name);
      if (!expected) unexpected += 1;
      byWhat.set(what, (byWhat.get(what) ?? 0) + 1);
    }
    count.textContent = String(entries.length);
    const parts = [...byWhat].map(([what, n]) => `${n} ${what}`).join(', ');
    summary.replaceChildren(
      unexpected
        ? el('span', { className: 'bad', textContent: `${unexpected} unexpected request${unexpected > 1 ? 's' : ''}!` })
        : el('span', { className: 'ok', textContent: 'Only page, data and model files, and the promotions by id.' }),
      ` ${parts}; ${formatBytes(transferred)} transferred (compressed, with headers), ` +
        `${formatBytes(decoded)} once decompressed.`,
    );
  };
  const add = (list) => {
    for (const entry of list) {
      const key = `${entry.entryType} ${entry.name} ${entry.startTime}`;
      if (keys.has(key)) continue;
      keys.add(key);
      entries.push(entry);
      const { what, expected } = classify(entry.name);
      const u = new URL(entry.name, location.href);
      const shown = u.origin === location.origin ? u.pathname + u.search : entry.name;
      const row = el('tr', { className: expected ? '' : 'unexpected' },
        el('td', { textContent: shown, title: `${entry.initiatorType}: ${entry.name}` }),
        el('td', { textContent: what }),
        // The body as transferred (compressed when the server compressed it), and its
        // decompressed size beside it when that differs.
        el('td', {
          textContent: entry.decodedBodySize && entry.decodedBodySize !== entry.encodedBodySize
            ? `${formatBytes(entry.encodedBodySize)} compressed (${formatBytes(entry.decodedBodySize)} decompressed)`
            : formatBytes(entry.encodedBodySize),
          title: `transferred: transferSize ${entry.transferSize} B (with headers; 0 = from the HTTP cache), ` +
            `encodedBodySize ${entry.encodedBodySize} B (the body as sent); decodedBodySize ${entry.decodedBodySize} B (decompressed)`,
        }));
      row.dataset.url = entry.name;
      row.dataset.what = what;
      row.dataset.transferSize = String(entry.transferSize);
      row.dataset.encodedBodySize = String(entry.encodedBodySize);
      row.dataset.decodedBodySize = String(entry.decodedBodySize);
      tbody.append(row);
    }
    if (!scheduled) {
      scheduled = true;
      queueMicrotask(render);
    }
  };
  for (const type of ['navigation', 'resource']) {
    try {
      new PerformanceObserver((list) => add(list.getEntries())).observe({ type, buffered: true });
    } catch {
      add(performance.getEntriesByType(type)); // a browser without PerformanceObserver types
    }
  }
  render();
  return entries;
}

/** A horizontal bar chart: rows of {label, value, text?, attrs?}; bars relative to `max`. */
export function renderBars(container, rows, { max = Math.max(1e-9, ...rows.map((r) => r.value)), empty = '' } = {}) {
  if (!rows.length) {
    container.replaceChildren(el('p', { className: 'muted', textContent: empty }));
    return;
  }
  container.replaceChildren(...rows.map((r) => {
    const row = el('div', { className: 'bar' },
      el('span', { className: 'label', textContent: r.label, title: r.title ?? r.label }),
      el('span', { className: 'track' }, el('span', { className: 'fill' })),
      el('span', { className: 'value', textContent: r.text ?? r.value.toFixed(2) }));
    row.querySelector('.fill').style.width = `${Math.max(0, Math.min(1, r.value / max)) * 100}%`;
    row.setAttribute('role', 'img');
    row.setAttribute('aria-label', `${r.label}: ${r.text ?? r.value.toFixed(2)}`);
    for (const [k, v] of Object.entries(r.attrs ?? {})) row.dataset[k] = v;
    return row;
  }));
}

/** The stored history, newest first. */
export function renderHistory(list, events) {
  list.replaceChildren(...[...events].reverse().map((e) => {
    const when = new Date(e.ts);
    const item = el('li', {},
      el('span', { className: 'kind', textContent: e.kind }), ' ',
      el('span', { className: 'title', textContent: e.title }),
      el('time', { dateTime: when.toISOString(), textContent: when.toLocaleTimeString() }));
    item.dataset.kind = e.kind;
    if (e.itemId != null) item.dataset.itemId = String(e.itemId);
    return item;
  }));
}

export const KIND_WEIGHT = { view: 1, click: 2, cart: 3, purchase: 4, search: 0.5 };
export const HALF_LIFE_MS = 60 * 60 * 1000;

/**
 * Interest profile: for each genre, the sum over history events of the item's genres
 * (from the catalog, else the event's category) × kind weight × 0.5^(age / half-life),
 * as shares of the total, largest first.
 */
export function interestProfile(events, itemsById, now = Date.now()) {
  const scores = new Map();
  let total = 0;
  for (const e of events) {
    const genres = itemsById.get(String(e.itemId))?.genres ??
      (e.category ? e.category.split(/\s*,\s*/).filter(Boolean) : []);
    if (!genres.length) continue;
    const w = (KIND_WEIGHT[e.kind] ?? 1) * 0.5 ** (Math.max(0, now - e.ts) / HALF_LIFE_MS);
    for (const g of genres) scores.set(g, (scores.get(g) ?? 0) + w / genres.length);
    total += w;
  }
  return [...scores].map(([genre, score]) => ({ genre, share: score / total }))
    .sort((a, b) => b.share - a.share || a.genre.localeCompare(b.genre));
}

export function renderProfile(container, profile, top = 8) {
  renderBars(container, profile.slice(0, top).map(({ genre, share }) => ({
    label: genre, value: share, text: `${Math.round(share * 100)}%`, attrs: { genre },
  })), { empty: 'No history yet, so no profile.' });
}

/** Backend, fallback reason, latency of the last ranking. */
export function renderEngine(ranker, lastMs) {
  const info = ranker?.modelInfo ?? {};
  const $ = (id) => document.getElementById(id);
  $('backend').textContent = ranker ? `${ranker.backend}${info.adapter ? ` — ${info.adapter}` : ''}` : '—';
  $('fallback').textContent = info.fallbackReason ?? 'none';
  if (lastMs != null) $('latency').textContent = `${Math.round(lastMs)} ms`;
  $('encoder').textContent = info.encoder ?? '—';
}
