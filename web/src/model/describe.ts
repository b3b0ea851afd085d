// Plain-words description of what a node computes, with its real dimensions, for the hover
// card: "multiplies the 576×576 query weight (q4_1) by the normalized hidden state of 5 tokens
// → 576×5". Pure: reads the graph store only.

import type { TensorDoc } from '../api';
import { GraphStore, isView, shapeText } from './graph';

/** One line per op, as in crates/core/src/op.rs `Op::meaning`. */
export const OP_MEANING: Record<string, string> = {
  NONE: 'input data: a weight, a graph input or a cache buffer',
  GET_ROWS: 'looks up rows of a table by index',
  RMS_NORM: 'divides each row by its root mean square',
  NORM: 'normalizes each row to zero mean and unit variance',
  ADD: 'adds two tensors element by element (broadcasting the second)',
  MUL: 'multiplies two tensors element by element (broadcasting the second)',
  MUL_MAT: 'matrix product: each row of the second input dotted with each row of the first',
  SCALE: 'multiplies every element by a constant',
  RESHAPE: 'reinterprets the same data with a new shape (moves no data)',
  VIEW: "looks at part of a tensor's memory with its own shape and strides (moves no data)",
  PERMUTE: 'reorders dimensions by changing strides (moves no data)',
  TRANSPOSE: 'swaps the first two dimensions by changing strides (moves no data)',
  CONT: 'copies a strided tensor into contiguous memory',
  CPY: "copies (and converts) a tensor into another's memory",
  SET_ROWS: 'writes rows into a cache at given row indices',
  ROPE: 'rotates pairs of dimensions by an angle that grows with the token position',
  SOFT_MAX: 'scales, adds the mask, and turns each row into probabilities',
  FLASH_ATTN_EXT: 'fused attention: scores, mask, softmax and weighted sum of values in one pass',
  SWIGLU: 'gated linear unit: silu of the gate times the up projection',
  GEGLU: 'gated linear unit: gelu of the gate times the up projection',
  SILU: 'applies silu element by element',
  GELU: 'applies gelu element by element',
};

/** What a weight is, from its GGUF name. */
function weightRole(name: string): string {
  const roles: [RegExp, string][] = [
    [/attn_q\.weight$/, 'query weight'],
    [/attn_k\.weight$/, 'key weight'],
    [/attn_v\.weight$/, 'value weight'],
    [/attn_output\.weight$/, 'attention output weight'],
    [/ffn_gate\.weight$/, 'FFN gate weight'],
    [/ffn_up\.weight$/, 'FFN up weight'],
    [/ffn_down\.weight$/, 'FFN down weight'],
    [/^output\.weight$/, 'output (vocabulary) weight'],
    [/^token_embd\.weight$/, 'token embedding table'],
    [/norm\.weight$/, 'norm weight'],
  ];
  for (const [re, role] of roles) if (re.test(name)) return role;
  return `weight ${name}`;
}

/** What an activation is, from the name of the node that produced it. */
function activationRole(t: TensorDoc): string {
  const base = t.name.replace(/-\d+$/, '').replace(/ \(.*$/, '');
  const roles: Record<string, string> = {
    attn_norm: 'normalized hidden state',
    ffn_norm: 'normalized hidden state',
    result_norm: 'final normalized hidden state',
    kqv_out: 'attention output',
    ffn_swiglu: 'SwiGLU activation',
    embd: 'token embeddings',
    l_out: 'layer output',
    ffn_inp: 'residual stream',
  };
  return roles[base] ?? t.name;
}

const fmtDims = (t: TensorDoc) => `${shapeText(t.ne)}`;

/** The plain-words line for tensor `id`. */
export function describe(store: GraphStore, id: number): string {
  const t = store.tensor(id);
  const src = t.src.map((s) => (s === null ? undefined : store.tensor(s)));
  const [a, b] = src;
  const out = fmtDims(t);
  if (t.kind === 'weight')
    return `${weightRole(t.name)}: ${shapeText(t.ne)} ${t.type} values read from the model file`;
  if (t.kind === 'input') return `graph input ${t.name} (${shapeText(t.ne)} ${t.type}), set before each run`;
  if (t.kind === 'cache') return `KV cache buffer ${t.name}: ${shapeText(t.ne)} ${t.type} (rows = cache cells)`;
  if (isView(t) && a) {
    const what = { RESHAPE: 'reinterprets', VIEW: 'views', PERMUTE: 'permutes', TRANSPOSE: 'transposes' }[t.op];
    return `${what} ${a.name} (${fmtDims(a)}) as ${out} — moves no data`;
  }
  switch (t.op) {
    case 'MUL_MAT':
      if (a && b && a.kind === 'weight')
        return `multiplies the ${shapeText(a.ne)} ${weightRole(a.name)} (${a.type}) by the ${activationRole(b)} of ${b.ne[1]} token${b.ne[1] === 1 ? '' : 's'} → ${out}`;
      if (a && b && t.name.startsWith('kq-'))
        return `attention scores: K (${fmtDims(a)}) · Q (${fmtDims(b)}) → ${out} (${t.ne[0]} cache cells × ${t.ne[1]} tokens × ${t.ne[2]} heads)`;
      if (a && b && t.name.startsWith('kqv-'))
        return `weighted sum of values: V (${fmtDims(a)}) · softmax (${fmtDims(b)}) → ${out}`;
      if (a && b) return `matrix product of ${a.name} (${fmtDims(a)}) and ${b.name} (${fmtDims(b)}) → ${out}`;
      break;
    case 'RMS_NORM':
    case 'NORM':
      return `${t.op === 'RMS_NORM' ? 'divides each of the' : 'normalizes each of the'} ${t.ne[1]} rows of ${t.ne[0]} values ${t.op === 'RMS_NORM' ? 'by its root mean square' : 'to zero mean, unit variance'}${eps(t)} → ${out}`;
    case 'MUL':
      if (b && b.kind === 'weight')
        return `scales each of the ${t.ne[1]} rows element-wise by the ${shapeText(b.ne)} ${b.name} → ${out}`;
      break;
    case 'ADD':
      if (a && b && t.group === 'residual')
        return `adds ${a.name} (${fmtDims(a)}) to the residual stream ${b.name} → ${out}`;
      break;
    case 'GET_ROWS':
      if (a && b)
        return `looks up ${b.ne[0]} row${b.ne[0] === 1 ? '' : 's'} of ${a.name} (${fmtDims(a)}, ${a.type}) by the indices in ${b.name} → ${out}`;
      break;
    case 'ROPE':
      return `rotates dimension pairs of ${t.ne[1]} heads × ${t.ne[2]} tokens (head dim ${t.ne[0]}) by position-dependent angles → ${out}`;
    case 'SOFT_MAX':
      return `turns each of the ${t.ne[1] * t.ne[2] * t.ne[3]} score rows (${t.ne[0]} cache cells; ${t.ne[1]} tokens × ${t.ne[2]} heads) into probabilities${scale(t)}, masked cells → 0`;
    case 'FLASH_ATTN_EXT':
      if (a && b)
        return `fused attention: ${a.ne[2]} query heads over ${b.ne[2]} KV heads, ${a.ne[1]} tokens × ${b.ne[1]} cache cells, head dim ${a.ne[0]}: softmax(QKᵀ${scale(t, ' · ')})·V → ${out}`;
      break;
    case 'SWIGLU':
      if (a && b) return `silu(${a.name}) ⊙ ${b.name}, ${fmtDims(a)} each → ${out}`;
      break;
    case 'SET_ROWS':
      if (a && b) return `writes ${a.ne[1]} row${a.ne[1] === 1 ? '' : 's'} of ${a.ne[0]} values into the ${t.type} cache (${out}) at the cells in ${b.name}`;
      break;
    case 'CONT':
      if (a) return `copies ${a.name} (${fmtDims(a)}, strided) into contiguous memory → ${out}`;
      break;
  }
  return `${OP_MEANING[t.op] ?? t.op} → ${out}`;
}

function eps(t: TensorDoc): string {
  const e = t.params && typeof t.params === 'object' ? (t.params as Record<string, unknown>).eps : undefined;
  return typeof e === 'number' ? ` (eps ${e})` : '';
}

function scale(t: TensorDoc, prefix = ' after scaling by '): string {
  const s = t.params && typeof t.params === 'object' ? (t.params as Record<string, unknown>).scale : undefined;
  return typeof s === 'number' ? `${prefix}${s}` : '';
}
