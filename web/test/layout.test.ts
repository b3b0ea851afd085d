// The pure layout: every tensor placed, groups in their lanes, no two boxes overlapping,
// the same document always laid out the same way.
import { describe, expect, it } from 'vitest';
import { GraphStore } from '../src/model/graph';
import { computeLayout, extent, GROUP_LANES, LANE, pickRay } from '../src/layout/layout';
import { llamaGraph, SMOLLM2 } from '../mock/llama-graph';

const small = { ...SMOLLM2, n_layer: 4 };

for (const fa of [true, false]) {
  describe(`layout, flash attention ${fa ? 'on' : 'off'}`, () => {
    const store = new GraphStore(llamaGraph(small, 5, fa));
    const layout = computeLayout(store);
    const n = store.size;

    it('places every tensor at a finite position with a positive size', () => {
      for (let id = 0; id < n; id++)
        for (let k = 0; k < 3; k++) {
          expect(Number.isFinite(layout.position[3 * id + k]), `${store.tensor(id).name} pos`).toBe(true);
          expect(layout.size[3 * id + k], `${store.tensor(id).name} size`).toBeGreaterThan(0);
        }
    });

    it('keeps every non-weight tensor in its group lane', () => {
      for (const t of store.doc.tensors) {
        if (t.kind === 'weight') continue;
        const lane = Math.round((layout.position[3 * t.id] / LANE) * 1000) / 1000;
        expect(GROUP_LANES[t.group], `${t.name} (${t.group}) in lane ${lane}`).toContain(lane);
      }
    });

    it('stands each weight above the first node that reads it', () => {
      for (const t of store.doc.tensors) {
        if (t.kind !== 'weight') continue;
        const host = store.consumers[t.id][0];
        expect(layout.position[3 * t.id]).toBe(layout.position[3 * host]);
        expect(layout.position[3 * t.id + 2]).toBe(layout.position[3 * host + 2]);
        expect(layout.position[3 * t.id + 1]).toBeGreaterThan(layout.position[3 * host + 1]);
      }
    });

    it('overlaps no two boxes', () => {
      const overlaps: string[] = [];
      const order = [...Array(n).keys()].sort(
        (a, b) => layout.position[3 * a + 2] - layout.position[3 * b + 2],
      );
      // sweep along z: compare only boxes whose z-ranges can meet
      for (let i = 0; i < order.length; i++) {
        const a = order[i];
        for (let j = i + 1; j < order.length; j++) {
          const b = order[j];
          const za = layout.position[3 * a + 2] + layout.size[3 * a + 2] / 2;
          const zb = layout.position[3 * b + 2] - layout.size[3 * b + 2] / 2;
          if (zb >= za + 3) break;
          let meet = true;
          for (let k = 0; k < 3; k++) {
            const d = Math.abs(layout.position[3 * a + k] - layout.position[3 * b + k]);
            if (d >= (layout.size[3 * a + k] + layout.size[3 * b + k]) / 2) meet = false;
          }
          if (meet) overlaps.push(`${store.tensor(a).name} / ${store.tensor(b).name}`);
        }
      }
      expect(overlaps).toEqual([]);
    });

    it('flows towards -z: layer slots in order, each node after its in-slot sources', () => {
      for (let s = 1; s < layout.slots.length; s++)
        expect(layout.slots[s].zStart).toBeLessThan(layout.slots[s - 1].zEnd);
      for (const id of store.doc.nodes)
        for (const src of store.tensor(id).src) {
          if (src === null || store.tensor(src).kind !== 'node') continue;
          if (store.slotIndex[src] !== store.slotIndex[id]) continue;
          expect(layout.position[3 * id + 2], store.tensor(id).name).toBeLessThan(layout.position[3 * src + 2]);
        }
    });

    it('is deterministic', () => {
      const again = computeLayout(new GraphStore(llamaGraph(small, 5, fa)));
      expect(Array.from(again.position)).toEqual(Array.from(layout.position));
      expect(Array.from(again.size)).toEqual(Array.from(layout.size));
    });
  });
}

describe('box sizes', () => {
  it('are log-scaled from the shape', () => {
    expect(extent(1)).toBeCloseTo(0.3);
    expect(extent(1024) - extent(512)).toBeCloseTo(extent(2) - extent(1));
    const store = new GraphStore(llamaGraph(small, 5, true));
    const layout = computeLayout(store);
    const q = store.find('Qcur-0')!; // MUL_MAT [576, 5]
    expect(layout.size[3 * q]).toBeCloseTo(extent(576));
    expect(layout.size[3 * q + 1]).toBeCloseTo(extent(5));
    expect(layout.size[3 * q + 2]).toBeCloseTo(extent(1));
  });
});

describe('pickRay', () => {
  it('hits the nearest visible box along the ray, and skips hidden ones', () => {
    const store = new GraphStore(llamaGraph(small, 5, true));
    const layout = computeLayout(store);
    const id = store.find('ffn_gate-2')!;
    const [x, y, z] = [0, 1, 2].map((k) => layout.position[3 * id + k]);
    // straight down from high above
    const hit = pickRay(layout, [x, y + 100, z], [0, -1, 0], () => true);
    const w = store.tensor(hit!.id);
    expect(w.name).toBe('blk.2.ffn_gate.weight'); // the slab above is hit first
    const under = pickRay(layout, [x, y + 100, z], [0, -1, 0], (i) => store.tensor(i).kind !== 'weight');
    expect(under!.id).toBe(id);
    expect(pickRay(layout, [x, y + 100, z], [0, 1, 0], () => true)).toBeNull();
  });
});
