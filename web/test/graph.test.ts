// The graph store: lookup, slots, search, stepping along the data flow, group filters.
import { describe, expect, it } from 'vitest';
import { GraphStore, shapeText } from '../src/model/graph';
import { GroupFilter } from '../src/model/state';
import { llamaGraph, SMOLLM2 } from '../mock/llama-graph';

const store = new GraphStore(llamaGraph({ ...SMOLLM2, n_layer: 3 }, 5, true));
const id = (name: string) => {
  const i = store.find(name);
  if (i === undefined) throw new Error(`no ${name}`);
  return i;
};

describe('GraphStore', () => {
  it('finds by name (first in execution order) and by id', () => {
    const q = store.idsNamed('Qcur-1');
    expect(q.length).toBe(3); // MUL_MAT, RESHAPE, ROPE
    expect(store.tensor(id('Qcur-1')).op).toBe('MUL_MAT');
    expect(store.find(String(q[2]))).toBe(q[2]);
    expect(store.find('no-such-node')).toBeUndefined();
    expect(store.find('999999')).toBeUndefined();
    expect(store.refOf(q[1])).toBe(String(q[1]));
    expect(store.refOf(id('attn_out-1'))).toBe('attn_out-1');
  });

  it('assigns slots: embedding before layer 0, final norm after the last layer', () => {
    expect(store.nLayers).toBe(3);
    expect(store.slot(id('embd'))).toEqual({ kind: 'pre' });
    expect(store.slot(id('l_out-2'))).toEqual({ kind: 'layer', layer: 2 });
    expect(store.slot(id('result_output'))).toEqual({ kind: 'post' });
    expect(store.slot(id('inp_pos'))).toEqual({ kind: 'pre' });
    expect(store.slot(id('blk.1.attn_q.weight'))).toEqual({ kind: 'layer', layer: 1 });
  });

  it('steps along execution order', () => {
    const mm = id('Qcur-0');
    const reshape = store.nextExec(mm)!;
    expect(store.tensor(reshape).op).toBe('RESHAPE');
    expect(store.prevExec(reshape)).toBe(mm);
    expect(store.prevExec(store.doc.nodes[0])).toBeUndefined();
    expect(store.nextExec(store.doc.nodes[store.doc.nodes.length - 1])).toBeUndefined();
    // a weight steps to the node that reads it
    expect(store.nextExec(id('blk.0.attn_q.weight'))).toBe(mm);
  });

  it('follows the data: downstream to the first reader, upstream to the activation', () => {
    const norm = id('attn_norm-0');
    expect(store.nextFlow(norm)).toBe(id('Qcur-0'));
    // MUL_MAT's main input is the activation (src1), not the weight (src0)
    expect(store.prevFlow(id('Qcur-0'))).toBe(norm);
    expect(store.prevFlow(id('ffn_inp-0'))).toBe(id('attn_out-0'));
    expect(store.nextFlow(id('result_output'))).toBeUndefined();
  });

  it('searches by name, op and layer', () => {
    const exact = store.search('attn_out-2');
    expect(store.tensor(exact[0].id).name).toBe('attn_out-2');
    const swiglu = store.search('swiglu');
    expect(swiglu.map((h) => store.tensor(h.id).name)).toEqual(['ffn_swiglu-0', 'ffn_swiglu-1', 'ffn_swiglu-2']);
    const fa = store.search('flash_attn_ext');
    expect(fa.length).toBe(3);
    expect(fa.every((h) => store.tensor(h.id).op === 'FLASH_ATTN_EXT')).toBe(true);
    const l1mm = store.search('layer 1 mul_mat');
    expect(l1mm.length).toBe(7); // q, k, v, o, gate, up, down
    expect(l1mm.every((h) => store.tensor(h.id).layer === 1)).toBe(true);
    expect(store.search('l2').every((h) => store.tensor(h.id).layer === 2)).toBe(true);
    expect(store.search('   ')).toEqual([]);
    expect(store.search('zzz-nothing')).toEqual([]);
  });

  it('finds the entry node of a layer', () => {
    expect(store.tensor(store.layerEntry(1)!).name).toBe('norm-1');
    expect(store.layerEntry(7)).toBeUndefined();
  });

  it('formats shapes like ggml without trailing 1s', () => {
    expect(shapeText([576, 5, 1, 1])).toBe('576×5');
    expect(shapeText([64, 9, 5, 1])).toBe('64×9×5');
    expect(shapeText([1, 1, 1, 1])).toBe('1');
  });
});

describe('GroupFilter', () => {
  it('shows, hides and isolates groups', () => {
    const f = new GroupFilter();
    let changes = 0;
    f.onChange(() => changes++);
    const gate = id('ffn_gate-0');
    expect(f.visible(store, gate)).toBe(true);
    f.set('mlp', false);
    expect(f.visible(store, gate)).toBe(false);
    expect(f.visible(store, id('Qcur-0'))).toBe(true);
    f.isolate('query');
    expect(f.visible(store, id('Qcur-0'))).toBe(true);
    expect(f.visible(store, id('attn_out-0'))).toBe(false);
    expect(f.hiddenGroups().length).toBe(10);
    f.isolate('query'); // isolating again shows all
    expect(f.hiddenGroups()).toEqual([]);
    expect(changes).toBe(3);
  });
});
