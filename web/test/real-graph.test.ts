// The viewer's pure layers on the real graphs llama.cpp computed (test/fixtures): the documents
// have exactly the fields api.ts declares, the layout places every tensor without overlaps and
// in its group's lane, and the store finds and steps through llama.cpp's node names.
import { describe, expect, it } from 'vitest';
import type { TensorDoc } from '../src/api';
import { GraphStore } from '../src/model/graph';
import { describe as explain } from '../src/model/describe';
import { computeLayout, GROUP_LANES, LANE } from '../src/layout/layout';
import { realGraph } from './real-graph';

/** Every TensorDoc field; the type makes tsc reject a missing or unknown key. */
const TENSOR_FIELDS: Record<keyof TensorDoc, true> = {
  id: true, name: true, op: true, params: true, kind: true, type: true, ne: true, nb: true, src: true,
  view_src: true, view_offs: true, layer: true, group: true, location: true, exec_index: true,
  flops: true, bytes_read: true, bytes_written: true, stats: true, values: true, printed: true,
};

for (const fa of ['on', 'off'] as const) {
  describe(`llama.cpp SmolLM2 graph, flash attention ${fa}`, () => {
    const doc = realGraph(fa);
    const store = new GraphStore(doc);
    const layout = computeLayout(store);

    it('has the fields api.ts mirrors, and no others', () => {
      const optional = new Set(['printed']);
      for (const t of doc.tensors) {
        const keys = Object.keys(t).sort();
        const want = Object.keys(TENSOR_FIELDS).filter((k) => !optional.has(k) || k in t).sort();
        expect(keys, t.name).toEqual(want);
      }
      expect(doc.nodes.length).toBe(fa === 'on' ? 936 : 1086);
    });

    it('places every tensor in its lane, without overlaps', () => {
      for (const t of doc.tensors) {
        for (let k = 0; k < 3; k++) expect(Number.isFinite(layout.position[3 * t.id + k])).toBe(true);
        if (t.kind === 'weight') continue;
        const lane = Math.round((layout.position[3 * t.id] / LANE) * 1000) / 1000;
        expect(GROUP_LANES[t.group], `${t.name} (${t.group})`).toContain(lane);
      }
      const n = store.size;
      const overlaps: string[] = [];
      for (let a = 0; a < n; a++)
        for (let b = a + 1; b < n; b++) {
          let meet = true;
          for (let k = 0; k < 3 && meet; k++)
            meet = Math.abs(layout.position[3 * a + k] - layout.position[3 * b + k]) < (layout.size[3 * a + k] + layout.size[3 * b + k]) / 2;
          if (meet) overlaps.push(`${store.tensor(a).name} / ${store.tensor(b).name}`);
        }
      expect(overlaps).toEqual([]);
    });

    it('has 30 layer slots, the embedding before and the logits after', () => {
      expect(store.nLayers).toBe(30);
      expect(store.slot(store.find('embd')!)).toEqual({ kind: 'pre' });
      expect(store.slot(store.find('result_output')!)).toEqual({ kind: 'post' });
      expect(layout.slots.length).toBe(32);
    });

    it('steps through layer 0 in llama.cpp order: Q, then V, then K', () => {
      const order: string[] = [];
      let id: number | undefined = store.find('attn_norm-0');
      while (id !== undefined && order.length < 8) {
        order.push(`${store.tensor(id).name}:${store.tensor(id).op}`);
        id = store.nextExec(id);
      }
      expect(order.slice(0, 7)).toEqual([
        'attn_norm-0:MUL',
        'Qcur-0:MUL_MAT',
        'Qcur-0:RESHAPE',
        'Qcur-0:ROPE',
        'Vcur-0:MUL_MAT',
        'Vcur-0:RESHAPE',
        'Kcur-0:MUL_MAT',
      ]);
    });

    it('describes the real nodes with their real shapes', () => {
      // the eval-callback log does not print weight types: the imported weight says what it has
      const q = store.find('Qcur-0')!;
      const wType = store.tensor(store.tensor(q).src[0]!).type;
      expect(explain(store, q)).toBe(
        `multiplies the 576×576 query weight (${wType}) by the normalized hidden state of 5 tokens → 576×5`,
      );
      expect(explain(store, store.find('result_output')!)).toMatch(/576×49152 token embedding table .* of 1 token → 49152$/);
    });
  });
}
