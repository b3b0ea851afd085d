import { describe, expect, it } from 'vitest';
import type { DiffNode, DiffReport } from '../src/api';
import { classify, DIFF_COLORS, diffColor, DiffIndex } from '../src/model/diff';

function node(id: number, over: Partial<DiffNode> = {}): DiffNode {
  return {
    name: `n${id}`,
    occurrence: 0,
    op_a: 'ADD',
    op_b: 'ADD',
    id_a: id,
    id_b: id + 100,
    exec_a: id,
    exec_b: id,
    layer: 0,
    ne_a: [4, 1, 1, 1],
    ne_b: [4, 1, 1, 1],
    mode: 'full',
    n: 4,
    max_abs: 0,
    max_rel: 0,
    scale: 1,
    cosine: 1,
    nonfinite_mismatch: 0,
    sum_a: 1,
    sum_b: 1,
    worst_at: null,
    differs: false,
    diverged: false,
    ...over,
  };
}

const green = (c: number) => (c >> 8) & 255;

describe('diff classes and colours', () => {
  it('classifies by the report, not by re-deriving it', () => {
    expect(classify(undefined)).toBe('unmatched');
    expect(classify(node(1))).toBe('equal');
    expect(classify(node(1, { differs: true, max_rel: 1e-5 }))).toBe('within');
    expect(classify(node(1, { differs: true, diverged: true, max_rel: 0.5 }))).toBe('diverged');
    expect(classify(node(1, { mode: 'shape_mismatch', n: 0 }))).toBe('uncompared');
    // a NaN on one side only diverges whatever the mode
    expect(classify(node(1, { mode: 'none', diverged: true, nonfinite_mismatch: 3 }))).toBe('diverged');
  });

  it('shades diverged nodes redder the further past the tolerance, within ones yellower', () => {
    const tol = 1e-3;
    const at = (rel: number, diverged: boolean) => diffColor(node(1, { differs: true, diverged, max_rel: rel }), tol);
    expect(green(at(2e-3, true))).toBeGreaterThan(green(at(1, true)));
    expect(at(10, true)).toBe(DIFF_COLORS.diverged); // 1000× or more: the full red
    expect(at(1e-3, false)).toBe(DIFF_COLORS.within); // at the tolerance: the full yellow
    expect(at(1e-7, false)).not.toBe(at(1e-4, false));
    // no finite difference to scale by (null from JSON): the class colour's far end
    expect(diffColor(node(1, { differs: true, diverged: true, max_rel: null, nonfinite_mismatch: 1 }), tol)).toBe(DIFF_COLORS.diverged);
    expect(diffColor(undefined, tol)).toBe(DIFF_COLORS.unmatched);
    expect(diffColor(node(1), tol)).toBe(DIFF_COLORS.equal);
  });
});

describe('DiffIndex', () => {
  it('indexes by A id, counts classes over the computed nodes and finds the first nodes', () => {
    const report: DiffReport = {
      a: 'A',
      b: 'B',
      tolerance: { rel: 1e-3 },
      nodes: [node(2), node(3, { differs: true, max_rel: 1e-5 }), node(5, { differs: true, diverged: true, max_rel: 0.1 }), node(6, { differs: true, diverged: true, max_rel: 0.2 })],
      first_difference: 1,
      first_divergence: 2,
      unmatched_a: [{ id: 4, name: 'x', op: 'ADD', exec: 4, layer: 0 }],
      unmatched_b: [],
    };
    const d = new DiffIndex(report, 'b.ttrace', [2, 3, 4, 5, 6]);
    expect(d.counts).toEqual({ equal: 1, within: 1, diverged: 2, uncompared: 0, unmatched: 1, leaf: 0 });
    // a tensor outside `nodes` is a leaf: never compared, never "only in this run"
    expect(d.classOf(1)).toBe('leaf');
    expect(d.color(1)).toBe(DIFF_COLORS.leaf);
    expect(d.classOf(4)).toBe('unmatched');
    expect(d.firstDifference).toBe(3);
    expect(d.firstDivergence).toBe(5);
    expect(d.diverged).toEqual([5, 6]);
    expect(d.get(6)?.id_b).toBe(106);
    expect(d.color(4)).toBe(DIFF_COLORS.unmatched);
    const none = new DiffIndex({ ...report, first_difference: null, first_divergence: null }, 'b', []);
    expect(none.firstDivergence).toBeNull();
  });
});
