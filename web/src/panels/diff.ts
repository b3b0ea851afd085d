// Diff mode's panel, shown when the server compares the shown run with another
// (`serve --compare B`, `GET /api/diff`): which runs, the tolerance, the first node that differs
// and the first that diverges (click to fly there), how many nodes fall in each class with the
// colours the blocks take, and a switch between diff colours and group colours.

import type { DiffNode } from '../api';
import { classify, DIFF_COLORS, DIFF_LABELS, type DiffClass, type DiffIndex } from '../model/diff';
import { h, num } from './dom';

const hex = (c: number) => `#${c.toString(16).padStart(6, '0')}`;

export interface DiffActions {
  focus(id: number): void;
  /** Diff colours on (true) or group colours (false). */
  setColoring(on: boolean): void;
}

export class DiffPanel {
  readonly el = h('div', { class: 'panel diff hidden', 'data-testid': 'diff' });
  private toggle = h('input', { type: 'checkbox', checked: true, 'data-testid': 'diff-toggle' });
  private next = 0;

  constructor(private readonly actions: DiffActions) {
    this.toggle.addEventListener('change', () => this.actions.setColoring(this.toggle.checked));
  }

  get coloring(): boolean {
    return this.toggle.checked;
  }

  hide(): void {
    this.el.classList.add('hidden');
  }

  show(d: DiffIndex, name: (id: number) => string): void {
    this.next = 0;
    const r = d.report;
    const jump = (label: string, id: number | null, testid: string) =>
      h(
        'div',
        { class: 'row' },
        h('span', { class: 'muted', text: `${label}: ` }),
        id === null
          ? h('span', { 'data-testid': testid, text: 'none' })
          : h('button', { class: 'link mono', 'data-testid': testid, text: name(id), title: 'fly there', onclick: () => this.actions.focus(id) }),
      );
    const order: DiffClass[] = ['equal', 'within', 'diverged', 'uncompared', 'unmatched'];
    // diverged blocks run from orange (just past the tolerance) to red (1000× past it)
    const swatch = (c: DiffClass) =>
      c === 'diverged' ? 'background:linear-gradient(90deg,#f08a24,#e03c31)' : c === 'within' ? 'background:linear-gradient(90deg,#8fbc5a,#d8c040)' : `background:${hex(DIFF_COLORS[c])}`;
    const rows = order
      .filter((c) => d.counts[c] > 0)
      .map((c) =>
        h(
          'div',
          { class: 'row', 'data-class': c },
          h('span', { class: 'sw', style: swatch(c) }),
          h('span', { class: 'grow', text: DIFF_LABELS[c] }),
          h('span', { class: 'muted', text: String(d.counts[c]) }),
        ),
      );
    const nextBtn =
      d.diverged.length > 0
        ? h('button', {
            text: `next diverged ▸ (${d.diverged.length})`,
            'data-testid': 'diff-next',
            onclick: () => {
              this.actions.focus(d.diverged[this.next % d.diverged.length]);
              this.next++;
            },
          })
        : null;
    const parts: (HTMLElement | null)[] = [
      h(
        'h3',
        {},
        h('label', { title: 'colour blocks by divergence instead of by group' }, this.toggle, ' diff'),
        h('span', {
          class: 'fold',
          title: 'fold / unfold this panel',
          'data-testid': 'diff-fold',
          text: this.el.classList.contains('collapsed') ? '▸' : '▾',
          onclick: (e: Event) => {
            const folded = this.el.classList.toggle('collapsed');
            (e.target as HTMLElement).textContent = folded ? '▸' : '▾';
          },
        }),
      ),
      h('div', { class: 'muted', title: r.a, text: `A (shown): ${r.a}` }),
      h('div', { class: 'muted', title: `${d.bName}: ${r.b}`, text: `B: ${d.bName}` }),
      h('div', { class: 'muted wrap', text: `diverges when max |a−b| > ${r.tolerance.rel} × max |a|` }),
      jump('first difference', d.firstDifference, 'diff-first-difference'),
      jump('first divergence', d.firstDivergence, 'diff-first-divergence'),
      h('div', { 'data-testid': 'diff-counts' }, ...rows),
      r.unmatched_b.length > 0 ? h('div', { class: 'muted', text: `${r.unmatched_b.length} nodes only in B` }) : null,
      nextBtn,
    ];
    this.el.replaceChildren(...parts.filter((p): p is HTMLElement => p !== null));
    this.el.classList.remove('hidden');
  }
}

/** The card's rows for a node in diff mode. */
export function diffRows(d: DiffNode | undefined, c: DiffClass = classify(d)): HTMLElement[] {
  const row = (k: string, v: string, cls = 'mono') => h('tr', {}, h('td', { text: k }), h('td', { class: cls, text: v }));
  if (!d) return [row('vs B', DIFF_LABELS[c], 'muted')];
  const what =
    d.mode === 'full'
      ? `${d.n} values`
      : d.mode === 'printed'
        ? `${d.n} printed values`
        : d.mode === 'sum_only'
          ? 'sums only'
          : d.mode === 'shape_mismatch'
            ? `shapes differ: B is [${d.ne_b.join(', ')}]`
            : 'no values';
  const rows = [
    h(
      'tr',
      {},
      h('td', { text: 'vs B' }),
      h('td', { 'data-testid': 'diff-class' }, h('span', { class: 'chip', style: `background:${hex(DIFF_COLORS[c])}` }), `${DIFF_LABELS[c]} (${what})`),
    ),
  ];
  if (d.max_abs !== null && d.n > 0)
    rows.push(row('max |a−b|', `${num(d.max_abs)} · rel ${d.max_rel === null ? '—' : num(d.max_rel)} · cos ${d.cosine === null ? '—' : d.cosine.toFixed(6)}`));
  if (d.sum_a !== null || d.sum_b !== null) rows.push(row('sums A / B', `${d.sum_a === null ? '—' : num(d.sum_a)} / ${d.sum_b === null ? '—' : num(d.sum_b)}`));
  if (d.nonfinite_mismatch > 0) rows.push(row('NaN/Inf', `${d.nonfinite_mismatch} on one side only`, 'bad'));
  if (d.op_b !== d.op_a) rows.push(row('op in B', d.op_b));
  return rows;
}
