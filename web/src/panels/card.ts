// The tensor card: name, op and what it computes in plain words with the real dimensions,
// input/output shapes and types, FLOPs, bytes, group and layer; when the graph was traced, the
// value statistics (NaN/Inf flagged), a histogram (uPlot) and a small heatmap from
// `GET /api/tensor/{id}`. One instance floats under the pointer (hover), one is pinned in the
// side panel for the selected block.

import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { TensorValues } from '../api';
import type { GraphStore } from '../model/graph';
import { isView, shapeText } from '../model/graph';
import { describe } from '../model/describe';
import { cssColor, PALETTE } from '../palette';
import { bytes, diverging, h, num, si } from './dom';

export type ValuesSource = (id: number) => Promise<TensorValues>;

export class Card {
  readonly el: HTMLDivElement;
  private shown: number | null = null;
  private at: { x: number; y: number } | null = null;
  private plot: uPlot | null = null;
  /** More rows for every card (diff mode's comparison with B); null: none. */
  private extraRows: ((id: number) => HTMLElement[]) | null = null;

  constructor(
    floating: boolean,
    private readonly values: ValuesSource,
  ) {
    this.el = h('div', { class: `card${floating ? ' panel floating' : ''}`, 'data-testid': floating ? 'hover-card' : 'pinned-card' });
    if (floating) this.el.style.display = 'none';
  }

  /** Adds rows to every card shown from now on (and redraws the shown one on its next show). */
  setExtraRows(f: ((id: number) => HTMLElement[]) | null): void {
    this.extraRows = f;
    this.shown = null;
  }

  hide(): void {
    this.shown = null;
    this.el.style.display = 'none';
  }

  /** Places a floating card near the pointer, inside the window. */
  moveTo(x: number, y: number): void {
    this.at = { x, y };
    const w = this.el.offsetWidth || 360;
    const hgt = this.el.offsetHeight || 200;
    const left = x + 18 + w > window.innerWidth ? x - 18 - w : x + 18;
    const top = Math.max(4, Math.min(window.innerHeight - hgt - 4, y + 12));
    this.el.style.left = `${left}px`;
    this.el.style.top = `${top}px`;
  }

  /** Shows tensor `id`; returns true when the content changed. */
  show(store: GraphStore, id: number): boolean {
    this.el.style.display = '';
    if (this.shown === id) return false;
    this.shown = id;
    this.plot?.destroy();
    this.plot = null;
    const t = store.tensor(id);
    const slot = store.slot(id);
    const where = slot.kind === 'layer' ? `layer ${slot.layer}` : slot.kind === 'pre' ? 'before layer 0' : 'after the last layer';
    const srcRows = t.src.map((s, i) => {
      if (s === null) return null;
      const st = store.tensor(s);
      return h('tr', {}, h('td', { text: `src${i}` }), h('td', { class: 'mono', text: `${st.name} [${shapeText(st.ne)}] ${st.type}` }));
    });
    const stats = t.stats;
    const bad = stats ? stats.nan + stats.inf : 0;
    const rows: (HTMLElement | null)[] = [
      ...srcRows,
      h('tr', {}, h('td', { text: 'result' }), h('td', { class: 'mono', text: `[${shapeText(t.ne)}] ${t.type} · ${t.kind}` })),
      t.kind === 'node'
        ? h(
            'tr',
            {},
            h('td', { text: 'cost' }),
            h('td', {
              text: isView(t)
                ? 'none: a view moves no data'
                : t.flops + t.bytes_read + t.bytes_written === 0
                  ? 'not known for this graph'
                  : `${si(t.flops, 'FLOP')} · read ${bytes(t.bytes_read)} · wrote ${bytes(t.bytes_written)}`,
            }),
          )
        : null,
      h(
        'tr',
        {},
        h('td', { text: 'group' }),
        h('td', {}, h('span', { class: 'chip', style: `background:${cssColor(t.group)}` }), `${PALETTE[t.group].label} · ${where}`),
      ),
      t.location ? h('tr', {}, h('td', { text: 'built at' }), h('td', { class: 'mono', text: `${t.location.file}:${t.location.line}` })) : null,
    ];
    if (stats) {
      rows.push(
        h('tr', {}, h('td', { text: 'min / max' }), h('td', { class: 'mono', text: `${num(stats.min)} / ${num(stats.max)}` })),
        h('tr', {}, h('td', { text: 'mean ± std' }), h('td', { class: 'mono', text: `${num(stats.mean)} ± ${num(stats.std)}` })),
        h('tr', {}, h('td', { text: 'sum' }), h('td', { class: 'mono', text: `${num(stats.sum)} (${si(stats.n)} values)` })),
        h(
          'tr',
          {},
          h('td', { text: 'NaN / Inf' }),
          h('td', { class: bad > 0 ? 'bad' : 'mono', 'data-testid': 'naninf', text: bad > 0 ? `⚠ ${stats.nan} NaN, ${stats.inf} Inf` : '0 / 0' }),
        ),
      );
    }
    if (t.printed) {
      const shown = t.printed.values.slice(0, 6).map((v) => (typeof v === 'number' ? num(v) : v));
      rows.push(
        h('tr', {}, h('td', { text: 'llama.cpp sum' }), h('td', { class: 'mono', text: t.printed.sum === null ? '—' : String(t.printed.sum) })),
        h('tr', {}, h('td', { text: 'printed' }), h('td', { class: 'mono', text: `${shown.join(', ')}${t.printed.values.length > 6 ? ', …' : ''}` })),
      );
    }
    if (this.extraRows) rows.push(...this.extraRows(id));
    const extra = h('div', { class: 'values' });
    this.el.replaceChildren(
      h('div', { class: 'name', 'data-testid': 'card-name', text: t.name }),
      h('div', {}, h('span', { class: 'op', text: t.op }), h('span', { class: 'muted', text: `  id ${t.id}${t.exec_index !== null ? ` · #${t.exec_index} in execution order` : ''}` })),
      h('div', { class: 'what', 'data-testid': 'card-what', text: describe(store, id) }),
      h('table', {}, h('tbody', {}, ...rows)),
      extra,
    );
    if (stats || t.values) this.loadValues(id, extra);
    return true;
  }

  private loadValues(id: number, into: HTMLElement): void {
    into.replaceChildren(h('div', { class: 'hint', text: 'loading values…' }));
    this.values(id).then(
      (v) => {
        if (this.shown !== id) return;
        into.replaceChildren();
        this.histogram(v, into);
        this.heatmap(v, into);
        // the card grew: keep it inside the window
        if (this.at && this.el.classList.contains('floating')) this.moveTo(this.at.x, this.at.y);
      },
      (e: unknown) => {
        if (this.shown !== id) return;
        into.replaceChildren(h('div', { class: 'hint', text: `values: ${e instanceof Error ? e.message : String(e)}` }));
      },
    );
  }

  private histogram(v: TensorValues, into: HTMLElement): void {
    const { min, max, counts } = v.histogram;
    // no finite value (all NaN/Inf): nothing to draw
    if (counts.length === 0 || min === null || max === null) return;
    const step = (max - min) / counts.length || 1;
    const xs = counts.map((_, i) => min + (i + 0.5) * step);
    const box = h('div', { class: 'hist', 'data-testid': 'histogram' });
    into.append(box);
    const width = Math.max(200, (this.el.clientWidth || 360) - 20);
    this.plot = new uPlot(
      {
        width,
        height: 90,
        legend: { show: false },
        cursor: { show: false },
        scales: { x: { time: false } },
        axes: [
          { stroke: '#8b949e', grid: { show: false }, size: 24, font: '10px sans-serif', ticks: { show: false } },
          { show: false },
        ],
        series: [
          {},
          { stroke: '#58a6ff', fill: 'rgba(88,166,255,0.45)', paths: uPlot.paths.bars!({ size: [1, 100] }), points: { show: false } },
        ],
      },
      [xs, counts],
      box,
    );
  }

  private heatmap(v: TensorValues, into: HTMLElement): void {
    const { rows, cols, values, row_label, col_label } = v.heatmap;
    if (rows * cols === 0 || values.length < rows * cols) return;
    const c = h('canvas', { class: 'heat', 'data-testid': 'heatmap', width: cols, height: rows });
    const ctx = c.getContext('2d');
    if (!ctx) return;
    const img = ctx.createImageData(cols, rows);
    let scale = 0;
    let bad = 0;
    for (const x of values) if (typeof x === 'number' && Number.isFinite(x)) scale = Math.max(scale, Math.abs(x));
    values.forEach((x, i) => {
      // a cell whose mean is NaN/Inf (null in JSON): bright green, named in the hint
      const finite = typeof x === 'number' && Number.isFinite(x);
      if (!finite) bad++;
      const [r, g, b] = finite ? diverging(scale > 0 ? x / scale : 0) : [0, 255, 0];
      img.data.set([r, g, b, 255], 4 * i);
    });
    ctx.putImageData(img, 0, 0);
    c.style.height = `${Math.min(120, Math.max(24, (rows / cols) * 340))}px`;
    const badText = bad > 0 ? `; green: ${bad === values.length ? 'every cell' : bad === 1 ? '1 cell' : `${bad} cells`} holding NaN/Inf` : '';
    into.append(c, h('div', { class: 'hint', text: `heatmap: ${rows} ${row_label} × ${cols} ${col_label} (block means, ±${num(scale)}${badText})` }));
  }
}
