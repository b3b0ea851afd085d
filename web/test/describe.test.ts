// The hover card's plain-words line uses the real dimensions and types of the node's inputs.
import { describe as suite, expect, it } from 'vitest';
import { GraphStore } from '../src/model/graph';
import { describe } from '../src/model/describe';
import { llamaGraph, SMOLLM2 } from '../mock/llama-graph';

suite('describe', () => {
  const store = new GraphStore(llamaGraph({ ...SMOLLM2, n_layer: 2 }, 5, false));
  const d = (name: string) => describe(store, store.find(name)!);

  it('says which weight a MUL_MAT multiplies, with shapes and quant type', () => {
    expect(d('Qcur-0')).toBe('multiplies the 576×576 query weight (q4_1) by the normalized hidden state of 5 tokens → 576×5');
    expect(d('ffn_out-0')).toBe('multiplies the 1536×576 FFN down weight (q4_1) by the SwiGLU activation of 5 tokens → 576×5');
  });

  it('describes attention scores, views and the residual add', () => {
    expect(d('kq-1')).toContain('256 cache cells × 5 tokens × 9 heads');
    expect(d('Qcur-0 (view) (permuted)')).toBe('permutes Qcur-0 (view) (64×9×5) as 64×5×9 — moves no data');
    expect(d('ffn_inp-0')).toBe('adds attn_out-0 (576×5) to the residual stream embd → 576×5');
    expect(d('embd')).toBe('looks up 5 rows of token_embd.weight (576×49152, q8_0) by the indices in inp_tokens → 576×5');
  });
});
