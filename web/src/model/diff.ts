// Diff mode's model: the report of `GET /api/diff` (the shown run A compared node by node with
// the server's `--compare B`), indexed by A's tensor id, and the one rule that turns a node's
// difference into a colour. Pure: no DOM, no three.js, so the rule is unit-tested.

import type { DiffNode, DiffReport } from '../api';

/** How a node of A fares against B. */
export type DiffClass =
  /** Every compared value and the sums equal. */
  | 'equal'
  /** Differs, within the tolerance. */
  | 'within'
  /** Differs beyond the tolerance (or a NaN/Inf on one side only). */
  | 'diverged'
  /** Matched, but nothing could be compared (shapes differ, no values on a side). */
  | 'uncompared'
  /** A computed node B's graph does not have. */
  | 'unmatched'
  /** A weight, input or cache: not computed, so not compared. */
  | 'leaf';

/** Colours of the diff legend and the blocks (sRGB hex). */
export const DIFF_COLORS: Record<DiffClass, number> = {
  equal: 0x2e8b57,
  within: 0xd8c040,
  diverged: 0xe03c31,
  uncompared: 0x6a5acd,
  unmatched: 0x2a2f37,
  leaf: 0x4a5260,
};

export const DIFF_LABELS: Record<DiffClass, string> = {
  equal: 'equal',
  within: 'differs within tolerance',
  diverged: 'diverges',
  uncompared: 'not comparable',
  unmatched: 'only in this run',
  leaf: 'weight / input / cache (not compared)',
};

export function classify(d: DiffNode | undefined): DiffClass {
  if (!d) return 'unmatched';
  if (d.diverged) return 'diverged';
  if (d.mode === 'shape_mismatch' || d.mode === 'none') return 'uncompared';
  return d.differs ? 'within' : 'equal';
}

const lerp = (a: number, b: number, t: number) => Math.round(a + (b - a) * t);

function mix(c0: number, c1: number, t: number): number {
  const r = lerp((c0 >> 16) & 255, (c1 >> 16) & 255, t);
  const g = lerp((c0 >> 8) & 255, (c1 >> 8) & 255, t);
  const b = lerp(c0 & 255, c1 & 255, t);
  return (r << 16) | (g << 8) | b;
}

/**
 * A node's colour: its class colour, shaded by how far it is from the tolerance on a log scale
 * (within: from 1e-4 of the tolerance, green-yellow, up to the tolerance, yellow; diverged: from
 * the tolerance, orange, to 1000× it, red).
 */
export function diffColor(d: DiffNode | undefined, tolerance: number): number {
  const c = classify(d);
  if (!d || c === 'equal' || c === 'uncompared' || c === 'unmatched' || c === 'leaf') return DIFF_COLORS[c];
  const ratio = tolerance > 0 && d.max_rel !== null ? d.max_rel / tolerance : Infinity;
  if (c === 'within') {
    const t = Number.isFinite(ratio) && ratio > 0 ? Math.max(0, Math.min(1, (Math.log10(ratio) + 4) / 4)) : 0;
    return mix(0x8fbc5a, DIFF_COLORS.within, t);
  }
  const t = Number.isFinite(ratio) && ratio > 1 ? Math.min(1, Math.log10(ratio) / 3) : 1;
  return mix(0xf08a24, DIFF_COLORS.diverged, d.nonfinite_mismatch > 0 ? 1 : t);
}

/** The report, by A's tensor id. */
export class DiffIndex {
  readonly byId = new Map<number, DiffNode>();
  readonly counts: Record<DiffClass, number> = { equal: 0, within: 0, diverged: 0, uncompared: 0, unmatched: 0, leaf: 0 };
  private readonly nodeSet: Set<number>;
  /** A's tensor ids of the first node that differs at all / diverges, if any. */
  readonly firstDifference: number | null;
  readonly firstDivergence: number | null;
  /** Diverged nodes of A in execution order. */
  readonly diverged: number[] = [];

  constructor(
    readonly report: DiffReport,
    /** How the server names B (the file it was given). */
    readonly bName: string,
    /** A's computed nodes (the graph's `nodes`), for the unmatched count. */
    nodes: readonly number[],
  ) {
    for (const d of report.nodes) this.byId.set(d.id_a, d);
    this.nodeSet = new Set(nodes);
    for (const id of nodes) this.counts[classify(this.byId.get(id))]++;
    for (const d of report.nodes) if (d.diverged) this.diverged.push(d.id_a);
    this.firstDifference = report.first_difference === null ? null : (report.nodes[report.first_difference]?.id_a ?? null);
    this.firstDivergence = report.first_divergence === null ? null : (report.nodes[report.first_divergence]?.id_a ?? null);
  }

  get(id: number): DiffNode | undefined {
    return this.byId.get(id);
  }

  /** The class of any tensor of A: leaves (not in `nodes`) are never compared. */
  classOf(id: number): DiffClass {
    return this.nodeSet.has(id) ? classify(this.byId.get(id)) : 'leaf';
  }

  color(id: number): number {
    return this.nodeSet.has(id) ? diffColor(this.byId.get(id), this.report.tolerance.rel) : DIFF_COLORS.leaf;
  }
}
