// The layout: a pure function from the graph to box positions and sizes, laid out so the scene
// reads like the model. World axes: data flows towards −z along the residual stream (x = 0, the
// spine); each layer is a segment of the spine; inside a layer, every group has its lane (an x
// position): the attention branch to the left (norm, attention, query, key, value, KV cache),
// the MLP branch to the right (norm, gate/SwiGLU/down, up). Within a lane, nodes advance in
// ranks (a node's rank is after its sources' and after the previous node of its lane), so
// parallel work — Q, K and V — sits side by side. Weights are thin slabs standing above the node
// that reads them; graph inputs (tokens, positions, masks) sit in their own lane before layer 0.
//
// Box sizes show the tensor's shape, log-scaled: x from ne0, y from ne1, z from ne2·ne3.
// No three.js here: the output is typed arrays the scene copies into instance matrices, and
// test/layout.test.ts checks every tensor is placed, lanes hold their groups, no boxes overlap
// and the result is deterministic.

import type { Group, TensorDoc } from '../api';
import type { GraphStore } from '../model/graph';

/** Distance between lane centres. Wider than the widest box (`extent(2^17)` ≈ 2.5). */
export const LANE = 3.4;
/** Gap between consecutive ranks of a slot, and between slots. */
const RANK_GAP = 0.7;
const SLOT_GAP = 4;
/** Thickness of a weight slab, and the gap between a node and the slab above it. */
export const SLAB = 0.12;
const SLAB_GAP = 0.5;

/** Edge length of a box side for a dimension of `n` elements: log-scaled, 0.3 for n = 1. */
export function extent(n: number): number {
  return 0.3 + 0.13 * Math.log2(Math.max(1, n));
}

/** Lane (in units of LANE) of a group; `ffnHalf`: the node comes after the layer's attention. */
export function laneOf(t: TensorDoc, ffnHalf: boolean): number {
  switch (t.group) {
    case 'residual':
    case 'embedding':
    case 'output':
      return 0;
    case 'norm':
      return ffnHalf ? 1 : -1;
    case 'attention':
      return -2;
    case 'query':
      return -3;
    case 'key':
      return -4;
    case 'value':
      return -5;
    case 'kv_cache':
      return -6;
    case 'input':
      return -7;
    case 'mlp':
      return t.name.startsWith('ffn_up') ? 3 : 2;
  }
}

/** The lanes a group may use (for tests and the legend). */
export const GROUP_LANES: Record<Group, readonly number[]> = {
  residual: [0],
  embedding: [0],
  output: [0],
  norm: [-1, 1],
  attention: [-2],
  query: [-3],
  key: [-4],
  value: [-5],
  kv_cache: [-6],
  input: [-7],
  mlp: [2, 3],
};

export interface SlotExtent {
  /** 0 = pre, 1 + l = layer l, nLayers + 1 = post. */
  index: number;
  /** z where the slot starts (larger) and ends (smaller): data flows towards −z. */
  zStart: number;
  zEnd: number;
}

export interface Layout {
  /** Box centres, xyz per tensor id. */
  position: Float32Array;
  /** Box sizes, xyz per tensor id. */
  size: Float32Array;
  slots: SlotExtent[];
  /** Tensor ids of each slot, and the bounds of their boxes (6 per slot), for picking. */
  slotIds: Int32Array[];
  slotBounds: Float32Array;
  /** Axis-aligned bounds of everything: [minx, miny, minz, maxx, maxy, maxz]. */
  bounds: [number, number, number, number, number, number];
}

/** Box size of a tensor. Weights are slabs: ne0 × ne1 facing the flow, SLAB thick. */
export function boxSize(t: TensorDoc): [number, number, number] {
  const [n0, n1, n2, n3] = t.ne;
  if (t.kind === 'weight') return [extent(n0), extent(n1), SLAB];
  return [extent(n0), extent(n1), extent(n2 * n3)];
}

/** Lays out every tensor of the store. Deterministic: depends only on the document. */
export function computeLayout(store: GraphStore): Layout {
  const n = store.size;
  const nSlots = store.nLayers + 2;
  const position = new Float32Array(3 * n);
  const size = new Float32Array(3 * n);
  const rank = new Int32Array(n).fill(-1);
  const placed = new Uint8Array(n);
  const weightHost = new Int32Array(n).fill(-1);

  // Per slot: last rank used in each lane, and the deepest box of each rank.
  const laneRank: Map<number, number>[] = Array.from({ length: nSlots }, () => new Map());
  const rankDepth: number[][] = Array.from({ length: nSlots }, () => []);
  const ffnHalf = new Uint8Array(n);
  const slotInFfn = new Uint8Array(nSlots);

  const lane = new Float32Array(n);
  const putInLane = (id: number, minRank: number): void => {
    const t = store.tensor(id);
    const s = store.slotIndex[id];
    const l = laneOf(t, slotInFfn[s] === 1);
    const r = Math.max(minRank, (laneRank[s].get(l) ?? -1) + 1);
    laneRank[s].set(l, r);
    rank[id] = r;
    lane[id] = l;
    ffnHalf[id] = slotInFfn[s];
    const sz = boxSize(t);
    size.set(sz, 3 * id);
    rankDepth[s][r] = Math.max(rankDepth[s][r] ?? 0, sz[2]);
    placed[id] = 1;
  };

  for (const id of store.doc.nodes) {
    const t = store.tensor(id);
    const s = store.slotIndex[id];
    let minRank = 0;
    for (const src of t.src) {
      if (src === null || src >= n) continue;
      const st = store.tensor(src);
      if (!placed[src]) {
        if (st.kind === 'weight') {
          weightHost[src] = id;
          size.set(boxSize(st), 3 * src);
          placed[src] = 1;
          continue;
        }
        if (st.kind !== 'node') putInLane(src, 0);
      }
      if (store.slotIndex[src] === s && rank[src] >= 0) minRank = Math.max(minRank, rank[src] + 1);
    }
    putInLane(id, minRank);
    // the first residual ADD of a layer ends its attention half
    if (t.group === 'residual' && t.op === 'ADD') slotInFfn[s] = 1;
  }
  // Leaves nothing reads (rare): into their lane at the end of their slot.
  for (const t of store.doc.tensors) {
    if (placed[t.id]) continue;
    if (t.kind === 'weight') {
      size.set(boxSize(t), 3 * t.id);
      placed[t.id] = 1;
      const s = store.slotIndex[t.id];
      const r = rankDepth[s].length;
      rankDepth[s][r] = SLAB;
      rank[t.id] = r;
      lane[t.id] = laneOf(t, false);
    } else putInLane(t.id, 0);
  }

  // Slots along −z, ranks inside each slot.
  const slots: SlotExtent[] = [];
  const rankZ: number[][] = [];
  let z = 0;
  for (let s = 0; s < nSlots; s++) {
    const depths = rankDepth[s];
    const zs: number[] = [];
    const zStart = z;
    for (let r = 0; r < depths.length; r++) {
      const d = depths[r] ?? 0;
      if (r > 0) z -= RANK_GAP;
      zs.push(z - d / 2);
      z -= d;
    }
    rankZ.push(zs);
    slots.push({ index: s, zStart, zEnd: z });
    z -= SLOT_GAP;
  }

  // Nodes and non-weight leaves at their (lane, rank); y = 0.
  for (let id = 0; id < n; id++) {
    if (weightHost[id] >= 0) continue;
    const s = store.slotIndex[id];
    position[3 * id] = lane[id] * LANE;
    position[3 * id + 1] = 0;
    position[3 * id + 2] = rankZ[s][rank[id]];
  }
  // Weights stacked above their first reader.
  const stackTop = new Float32Array(n);
  for (let id = 0; id < n; id++) {
    const host = weightHost[id];
    if (host < 0) continue;
    const hostTop = stackTop[host] || size[3 * host + 1] / 2;
    const h = size[3 * id + 1];
    position[3 * id] = position[3 * host];
    position[3 * id + 1] = hostTop + SLAB_GAP + h / 2;
    position[3 * id + 2] = position[3 * host + 2];
    stackTop[host] = hostTop + SLAB_GAP + h;
  }

  const bounds: Layout['bounds'] = [Infinity, Infinity, Infinity, -Infinity, -Infinity, -Infinity];
  const slotBounds = new Float32Array(6 * nSlots);
  for (let s = 0; s < nSlots; s++) slotBounds.set([Infinity, Infinity, Infinity, -Infinity, -Infinity, -Infinity], 6 * s);
  const members: number[][] = Array.from({ length: nSlots }, () => []);
  for (let id = 0; id < n; id++) {
    // a weight belongs where it stands: with its host
    const s = store.slotIndex[weightHost[id] >= 0 ? weightHost[id] : id];
    members[s].push(id);
    for (let k = 0; k < 3; k++) {
      const c = position[3 * id + k];
      const h = size[3 * id + k] / 2;
      bounds[k] = Math.min(bounds[k], c - h);
      bounds[k + 3] = Math.max(bounds[k + 3], c + h);
      slotBounds[6 * s + k] = Math.min(slotBounds[6 * s + k], c - h);
      slotBounds[6 * s + k + 3] = Math.max(slotBounds[6 * s + k + 3], c + h);
    }
  }
  if (n === 0) bounds.fill(0);
  return { position, size, slots, slotIds: members.map((m) => Int32Array.from(m)), slotBounds, bounds };
}

/** The slot index whose z-range contains `z` (nearest slot when between slots). */
export function slotAtZ(layout: Layout, z: number): number {
  let best = 0;
  let bestDist = Infinity;
  for (const s of layout.slots) {
    const d = z > s.zStart ? z - s.zStart : z < s.zEnd ? s.zEnd - z : 0;
    if (d < bestDist) {
      bestDist = d;
      best = s.index;
    }
  }
  return best;
}

/** Entry distance of a ray into an axis-aligned box (centre ± half), or -1 when it misses. */
function slab(
  lo: (k: number) => number,
  hi: (k: number) => number,
  origin: readonly number[],
  inv: readonly number[],
  tmaxIn: number,
): number {
  let tmin = 0;
  let tmax = tmaxIn;
  for (let k = 0; k < 3; k++) {
    let t1 = (lo(k) - origin[k]) * inv[k];
    let t2 = (hi(k) - origin[k]) * inv[k];
    if (t1 > t2) [t1, t2] = [t2, t1];
    if (t1 > tmin) tmin = t1;
    if (t2 < tmax) tmax = t2;
    if (tmin > tmax) return -1;
  }
  return tmin;
}

/**
 * Nearest box hit by a ray, by slab tests on the axis-aligned boxes (no meshes needed): first
 * against each slot's bounds, then against the boxes of the slots the ray crosses.
 * `visible(id)` filters hidden boxes. Returns the id and distance, or null.
 */
export function pickRay(
  layout: Layout,
  origin: readonly [number, number, number],
  dir: readonly [number, number, number],
  visible: (id: number) => boolean,
): { id: number; distance: number } | null {
  const { position, size, slotBounds, slotIds } = layout;
  const inv = [1 / dir[0], 1 / dir[1], 1 / dir[2]];
  let best: { id: number; distance: number } | null = null;
  for (let s = 0; s < slotIds.length; s++) {
    const b = 6 * s;
    const reach = best ? best.distance : Infinity;
    if (slab((k) => slotBounds[b + k], (k) => slotBounds[b + 3 + k], origin, inv, reach) < 0) continue;
    for (const id of slotIds[s]) {
      const i = 3 * id;
      const t = slab(
        (k) => position[i + k] - size[i + k] / 2,
        (k) => position[i + k] + size[i + k] / 2,
        origin,
        inv,
        best ? best.distance : Infinity,
      );
      if (t >= 0 && visible(id)) best = { id, distance: t };
    }
  }
  return best;
}
