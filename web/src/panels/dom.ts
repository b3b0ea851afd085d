// Tiny DOM helpers shared by the panels (no framework: the panels are few and simple).

type Attrs = Record<string, string | number | boolean | ((e: Event) => void) | undefined>;

/** Creates an element with attributes (`on…` keys become listeners) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Node | string | null | undefined | false)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.slice(2).toLowerCase(), v);
    else if (k === 'class') el.className = String(v);
    else if (k === 'text') el.textContent = String(v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

/** 1234567 → "1.23 M". */
export function si(n: number, unit = ''): string {
  const a = Math.abs(n);
  const [d, s] =
    a >= 1e12 ? [1e12, 'T'] : a >= 1e9 ? [1e9, 'G'] : a >= 1e6 ? [1e6, 'M'] : a >= 1e3 ? [1e3, 'k'] : [1, ''];
  const v = n / d;
  return `${d === 1 ? String(Math.round(v * 100) / 100) : v.toFixed(2)} ${s}${unit}`.trim();
}

/** Bytes with binary units. */
export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(2)} ${units[i]}`;
}

/** Compact float for statistics; the server's "nan"/"inf" strings as they are, null as —. */
export function num(v: number | string | null): string {
  if (v === null) return '—';
  if (typeof v === 'string') return v;
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(3);
  return String(Math.round(v * 1e4) / 1e4);
}

/** Diverging blue-white-red colour for v in [-1, 1] (for heatmaps). */
export function diverging(v: number): [number, number, number] {
  const t = Math.max(-1, Math.min(1, v));
  if (t < 0) return [Math.round(255 * (1 + t)), Math.round(255 * (1 + t)), 255];
  return [255, Math.round(255 * (1 - t)), Math.round(255 * (1 - t))];
}

/** Sequential dark-to-yellow colour for v in [0, 1] (for probabilities). */
export function sequential(v: number): [number, number, number] {
  const t = Math.max(0, Math.min(1, v));
  return [Math.round(20 + 235 * t), Math.round(20 + 204 * Math.sqrt(t)), Math.round(60 + 42 * (1 - t))];
}
