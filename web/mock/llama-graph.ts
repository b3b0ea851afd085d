// A development/test stand-in for the server's LLaMA graphs: builds a GraphDoc with the node
// structure llama.cpp builds for the `llama` architecture (names, ops, shapes and execution
// order as listed in testdata/reference/smollm2/graph-summary.md, flash attention on or
// off), for any hyperparameters. Used by the unit tests (a SmolLM2-shaped graph) and by the
// mock API of `vite --mode mock` (8B and 405B presets) until/unless the real server runs.
// Source locations and statistics are made up and `model.source` is "mock", so nothing here
// can pass for real data.

import type { GraphDoc, Group, Ne, Stats, TensorDoc, TensorKind } from '../src/api';

export interface LlamaShape {
  name: string;
  n_layer: number;
  n_embd: number;
  n_head: number;
  n_head_kv: number;
  n_ff: number;
  n_vocab: number;
  /** Weight type of the matrices (norms are f32). */
  wtype: string;
  /** Type of token_embd / output. */
  etype: string;
  tied: boolean;
  /** Llama 3 `rope_freqs.weight` frequency factors. */
  rope_freqs: boolean;
  n_ctx: number;
}

export const SMOLLM2: LlamaShape = {
  name: 'SmolLM2-135M-Instruct (mock)',
  n_layer: 30,
  n_embd: 576,
  n_head: 9,
  n_head_kv: 3,
  n_ff: 1536,
  n_vocab: 49152,
  wtype: 'q4_1',
  etype: 'q8_0',
  tied: true,
  rope_freqs: false,
  n_ctx: 8192,
};

export const LLAMA_8B: LlamaShape = {
  name: 'Llama 3.1 8B (mock)',
  n_layer: 32,
  n_embd: 4096,
  n_head: 32,
  n_head_kv: 8,
  n_ff: 14336,
  n_vocab: 128256,
  wtype: 'q4_K',
  etype: 'q6_K',
  tied: false,
  rope_freqs: true,
  n_ctx: 131072,
};

export const LLAMA_405B: LlamaShape = {
  ...LLAMA_8B,
  name: 'Llama 3.1 405B (mock)',
  n_layer: 126,
  n_embd: 16384,
  n_head: 128,
  n_head_kv: 8,
  n_ff: 53248,
};

/** Bytes per element (quantized types: block bytes / block elements). */
const BYTES: Record<string, number> = {
  f32: 4,
  f16: 2,
  i32: 4,
  i64: 8,
  q4_0: 18 / 32,
  q4_1: 20 / 32,
  q8_0: 34 / 32,
  q4_K: 144 / 256,
  q6_K: 210 / 256,
};

/** A tiny deterministic PRNG so mock statistics are stable across runs. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

export function llamaGraph(m: LlamaShape, nTokens: number, flashAttn: boolean, traced = false): GraphDoc {
  const tensors: TensorDoc[] = [];
  const nodes: number[] = [];
  const head = m.n_embd / m.n_head;
  const kvDim = head * m.n_head_kv;
  const nKv = Math.max(256, Math.ceil(nTokens / 256) * 256);
  const rand = rng(42);
  let line = 40;

  const make = (
    name: string,
    op: string,
    kind: TensorKind,
    type: string,
    ne: number[],
    src: (number | null)[],
    group: Group,
    layer: number | null,
  ): number => {
    const id = tensors.length;
    const full = [...ne, 1, 1, 1].slice(0, 4) as Ne;
    const b = BYTES[type] ?? 4;
    const n = full[0] * full[1] * full[2] * full[3];
    const nb: Ne = [b, b * full[0], b * full[0] * full[1], b * full[0] * full[1] * full[2]];
    const isNode = kind === 'node';
    const view = ['RESHAPE', 'VIEW', 'PERMUTE', 'TRANSPOSE'].includes(op);
    let flops = 0;
    if (isNode && !view) {
      if (op === 'MUL_MAT') flops = 2 * tensors[src[0]!].ne[0] * n;
      else if (op === 'FLASH_ATTN_EXT') flops = 2 * n * nKv * 2;
      else flops = 4 * n;
    }
    const readBytes =
      isNode && !view
        ? src.reduce<number>((acc, s) => {
            if (s === null) return acc;
            const t = tensors[s];
            return acc + t.ne[0] * t.ne[1] * t.ne[2] * t.ne[3] * (BYTES[t.type] ?? 4);
          }, 0)
        : 0;
    let stats: Stats | null = null;
    if (traced && isNode) {
      const std = 0.2 + rand() * 3;
      const mean = (rand() - 0.5) * std;
      stats = {
        n,
        min: mean - 4 * std,
        max: mean + 4 * std,
        mean,
        std,
        sum: mean * n,
        nan: 0,
        inf: 0,
      };
    }
    tensors.push({
      id,
      name,
      op,
      params: null,
      kind,
      type,
      ne: full,
      nb,
      src,
      view_src: view ? src[0] : null,
      view_offs: 0,
      layer,
      group,
      location: isNode ? { file: 'crates/models/src/llama.rs', line: line++, col: 9 } : null,
      exec_index: isNode ? nodes.length : null,
      flops,
      bytes_read: readBytes,
      bytes_written: isNode && !view ? Math.round(n * b) : 0,
      stats,
      values: stats ? { key: `t${id}`, ne: full, complete: true } : null,
    });
    if (isNode) nodes.push(id);
    return id;
  };
  const leaf = (name: string, kind: TensorKind, type: string, ne: number[], group: Group, layer: number | null) =>
    make(name, 'NONE', kind, type, ne, [], group, layer);
  const node = (
    name: string,
    op: string,
    ne: number[],
    src: (number | null)[],
    group: Group,
    layer: number | null,
    type = 'f32',
  ) => make(name, op, 'node', type, ne, src, group, layer);

  /** SET_ROWS results are views of the cache they write into (ggml: view_src). */
  const writesInto = (id: number, dst: number) => {
    tensors[id].view_src = dst;
  };
  const T = nTokens;
  const tokEmbd = leaf('token_embd.weight', 'weight', m.etype, [m.n_embd, m.n_vocab], 'embedding', null);
  const inpTokens = leaf('inp_tokens', 'input', 'i32', [T], 'input', null);
  const inpPos = leaf('inp_pos', 'input', 'i32', [T], 'input', null);
  const kIdx = leaf('attn_inp_k_idxs', 'input', 'i64', [T], 'input', null);
  const vIdx = leaf('attn_inp_v_idxs', 'input', 'i64', [flashAttn ? T : T * kvDim], 'input', null);
  const mask = leaf('attn_inp_kq_mask', 'input', flashAttn ? 'f16' : 'f32', [nKv, T], 'input', null);
  const outIds = leaf('out_ids', 'input', 'i32', [1], 'input', null);
  const ropeFreqs = m.rope_freqs ? leaf('rope_freqs.weight', 'weight', 'f32', [head / 2], 'query', null) : null;

  let cur = node('embd', 'GET_ROWS', [m.n_embd, T], [tokEmbd, inpTokens], 'embedding', null);
  for (let il = 0; il < m.n_layer; il++) {
    const last = il === m.n_layer - 1;
    const w = (name: string, ne: number[], type = m.wtype, group: Group = 'attention') =>
      leaf(`blk.${il}.${name}.weight`, 'weight', type, ne, group, il);
    const inpL = cur;
    let x = node(`norm-${il}`, 'RMS_NORM', [m.n_embd, T], [inpL], 'norm', il);
    x = node(`attn_norm-${il}`, 'MUL', [m.n_embd, T], [x, w('attn_norm', [m.n_embd], 'f32', 'norm')], 'norm', il);
    let q = node(`Qcur-${il}`, 'MUL_MAT', [m.n_embd, T], [w('attn_q', [m.n_embd, m.n_embd], m.wtype, 'query'), x], 'query', il);
    q = node(`Qcur-${il}`, 'RESHAPE', [head, m.n_head, T], [q], 'query', il);
    q = node(`Qcur-${il}`, 'ROPE', [head, m.n_head, T], [q, inpPos, ropeFreqs], 'query', il);
    let v = node(`Vcur-${il}`, 'MUL_MAT', [kvDim, T], [w('attn_v', [m.n_embd, kvDim], m.wtype, 'value'), x], 'value', il);
    v = node(`Vcur-${il}`, 'RESHAPE', [head, m.n_head_kv, T], [v], 'value', il);
    let k = node(`Kcur-${il}`, 'MUL_MAT', [kvDim, T], [w('attn_k', [m.n_embd, kvDim], m.wtype, 'key'), x], 'key', il);
    k = node(`Kcur-${il}`, 'RESHAPE', [head, m.n_head_kv, T], [k], 'key', il);
    k = node(`Kcur-${il}`, 'ROPE', [head, m.n_head_kv, T], [k, inpPos, ropeFreqs], 'key', il);
    const cacheK = leaf(`cache_k_l${il}`, 'cache', 'f16', [kvDim, m.n_ctx], 'kv_cache', il);
    const cacheV = leaf(`cache_v_l${il}`, 'cache', 'f16', [kvDim, m.n_ctx], 'kv_cache', il);
    const kView = node(`Kcur-${il} (view)`, 'VIEW', [kvDim, T], [k], 'key', il);
    writesInto(node(`cache_k_l${il} (view)`, 'SET_ROWS', [kvDim, m.n_ctx], [kView, kIdx], 'kv_cache', il, 'f16'), cacheK);
    let kqv: number;
    if (flashAttn) {
      const vView = node(`Vcur-${il} (view)`, 'VIEW', [kvDim, T], [v], 'value', il);
      writesInto(node(`cache_v_l${il} (view)`, 'SET_ROWS', [kvDim, m.n_ctx], [vView, vIdx], 'kv_cache', il, 'f16'), cacheV);
      const qv = node(`Qcur-${il} (view)`, 'VIEW', [head, m.n_head, T], [q], 'query', il);
      const qp = node(`Qcur-${il} (view) (permuted)`, 'PERMUTE', [head, T, m.n_head], [qv], 'query', il);
      const kc = node(`cache_k_l${il} (view)`, 'VIEW', [head, m.n_head_kv, nKv], [cacheK], 'kv_cache', il, 'f16');
      const kp = node(`cache_k_l${il} (view) (permuted)`, 'PERMUTE', [head, nKv, m.n_head_kv], [kc], 'kv_cache', il, 'f16');
      const vc = node(`cache_v_l${il} (view)`, 'VIEW', [head, m.n_head_kv, nKv], [cacheV], 'kv_cache', il, 'f16');
      const vp = node(`cache_v_l${il} (view) (permuted)`, 'PERMUTE', [head, nKv, m.n_head_kv], [vc], 'kv_cache', il, 'f16');
      const fa = node(`node_${nodes.length}`, 'FLASH_ATTN_EXT', [head, m.n_head, T], [qp, kp, vp, mask], 'attention', il);
      kqv = node(`kqv_out-${il}`, 'RESHAPE', [m.n_embd, T], [fa], 'attention', il);
    } else {
      const vr = node(`Vcur-${il} (reshaped)`, 'RESHAPE', [kvDim, T], [v], 'value', il);
      const vr2 = node(`Vcur-${il} (reshaped) (reshaped)`, 'RESHAPE', [1, kvDim * T], [vr], 'value', il);
      const cvr = node(`cache_v_l${il} (reshaped)`, 'RESHAPE', [1, kvDim * m.n_ctx], [cacheV], 'kv_cache', il, 'f16');
      writesInto(node(`cache_v_l${il} (reshaped) (view)`, 'SET_ROWS', [1, kvDim * m.n_ctx], [vr2, vIdx], 'kv_cache', il, 'f16'), cvr);
      const vc = node(`cache_v_l${il} (view)`, 'VIEW', [nKv, m.n_head_kv, head], [cacheV], 'kv_cache', il, 'f16');
      const vp = node(`cache_v_l${il} (view) (permuted)`, 'PERMUTE', [nKv, head, m.n_head_kv], [vc], 'kv_cache', il, 'f16');
      const kc = node(`cache_k_l${il} (view)`, 'VIEW', [head, m.n_head_kv, nKv], [cacheK], 'kv_cache', il, 'f16');
      const kp = node(`cache_k_l${il} (view) (permuted)`, 'PERMUTE', [head, nKv, m.n_head_kv], [kc], 'kv_cache', il, 'f16');
      const qv = node(`Qcur-${il} (view)`, 'VIEW', [head, m.n_head, T], [q], 'query', il);
      const qp = node(`Qcur-${il} (view) (permuted)`, 'PERMUTE', [head, T, m.n_head], [qv], 'query', il);
      const kq = node(`kq-${il}`, 'MUL_MAT', [nKv, T, m.n_head], [kp, qp], 'attention', il);
      const sm = node(`kq_soft_max-${il}`, 'SOFT_MAX', [nKv, T, m.n_head], [kq, mask], 'attention', il);
      const o = node(`kqv-${il}`, 'MUL_MAT', [head, T, m.n_head], [vp, sm], 'attention', il);
      const op = node(`kqv-${il} (permuted)`, 'PERMUTE', [head, m.n_head, T], [o], 'attention', il);
      kqv = node(`kqv_out-${il}`, 'CONT', [m.n_embd, T], [op], 'attention', il);
    }
    let attn = node(`attn_out-${il}`, 'MUL_MAT', [m.n_embd, T], [w('attn_output', [m.n_embd, m.n_embd]), kqv], 'attention', il);
    let res = inpL;
    const Tl = last ? 1 : T;
    if (last) {
      attn = node(`node_${nodes.length}`, 'GET_ROWS', [m.n_embd, 1], [attn, outIds], 'attention', il);
      res = node(`node_${nodes.length}`, 'GET_ROWS', [m.n_embd, 1], [inpL, outIds], 'residual', il);
    }
    const ffnInp = node(`ffn_inp-${il}`, 'ADD', [m.n_embd, Tl], [attn, res], 'residual', il);
    x = node(`norm-${il}`, 'RMS_NORM', [m.n_embd, Tl], [ffnInp], 'norm', il);
    x = node(`ffn_norm-${il}`, 'MUL', [m.n_embd, Tl], [x, w('ffn_norm', [m.n_embd], 'f32', 'norm')], 'norm', il);
    const g = node(`ffn_gate-${il}`, 'MUL_MAT', [m.n_ff, Tl], [w('ffn_gate', [m.n_embd, m.n_ff], m.wtype, 'mlp'), x], 'mlp', il);
    const u = node(`ffn_up-${il}`, 'MUL_MAT', [m.n_ff, Tl], [w('ffn_up', [m.n_embd, m.n_ff], m.wtype, 'mlp'), x], 'mlp', il);
    const sw = node(`ffn_swiglu-${il}`, 'SWIGLU', [m.n_ff, Tl], [g, u], 'mlp', il);
    const down = node(`ffn_out-${il}`, 'MUL_MAT', [m.n_embd, Tl], [w('ffn_down', [m.n_ff, m.n_embd], m.wtype, 'mlp'), sw], 'mlp', il);
    cur = node(`l_out-${il}`, 'ADD', [m.n_embd, Tl], [down, ffnInp], 'residual', il);
  }
  let x = node('norm', 'RMS_NORM', [m.n_embd, 1], [cur], 'norm', null);
  x = node('result_norm', 'MUL', [m.n_embd, 1], [x, leaf('output_norm.weight', 'weight', 'f32', [m.n_embd], 'norm', null)], 'norm', null);
  const outW = m.tied ? tokEmbd : leaf('output.weight', 'weight', m.etype, [m.n_embd, m.n_vocab], 'output', null);
  node('result_output', 'MUL_MAT', [m.n_vocab, 1], [outW, x], 'output', null);

  // one made-up overflow, so the viewer's NaN/Inf flags can be seen
  const hot = tensors.find((t) => t.name === 'ffn_swiglu-3');
  if (traced && hot?.stats) Object.assign(hot.stats, { nan: 2, inf: 1 });
  return {
    format: 'tensor-trace-graph',
    version: 1,
    model: {
      name: m.name,
      architecture: 'llama',
      source: 'mock',
      file: null,
      hparams: {
        block_count: m.n_layer,
        embedding_length: m.n_embd,
        'attention.head_count': m.n_head,
        'attention.head_count_kv': m.n_head_kv,
        feed_forward_length: m.n_ff,
        vocab_size: m.n_vocab,
      },
      n_params: 0,
      n_bytes: 0,
    },
    run: traced
      ? {
          prompt: 'The capital of France is',
          tokens: ['The', ' capital', ' of', ' France', ' is'].slice(0, nTokens).map((text, i) => ({
            id: 100 + i,
            piece: text.replace(' ', 'Ġ'),
            text,
          })),
          flash_attn: flashAttn,
          n_ctx: m.n_ctx,
          n_kv: nKv,
          n_threads: 2,
          top: [
            { id: 1, piece: 'ĠParis', text: ' Paris', logit: 17, prob: 0.7 },
            { id: 2, piece: 'Ġthe', text: ' the', logit: 15, prob: 0.06 },
          ],
          compute_ms: 100,
        }
      : null,
    tensors,
    nodes,
  };
}
