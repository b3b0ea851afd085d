// The graph store: a GraphDoc plus the indexes every other layer needs (who consumes a tensor,
// which layer slot it sits in, names), and the questions the viewer asks of the graph — find a
// node by name or id, search, step along the data flow. Pure TypeScript: no three.js, no DOM, so
// it is unit-tested directly (test/graph.test.ts).

import type { GraphDoc, TensorDoc } from '../api';

/** Ops that move no data: the result aliases its source's memory (ggml_op_is_empty). */
export const VIEW_OPS: ReadonlySet<string> = new Set(['RESHAPE', 'VIEW', 'PERMUTE', 'TRANSPOSE']);

export function isView(t: TensorDoc): boolean {
  return t.kind === 'node' && VIEW_OPS.has(t.op);
}

/** A position along the model: before the first layer, inside layer `layer`, or after the last. */
export type Slot = { kind: 'pre' } | { kind: 'layer'; layer: number } | { kind: 'post' };

export interface SearchHit {
  id: number;
  /** Why it matched, for the result list. */
  reason: string;
  score: number;
}

/** ne as ggml prints it, trailing 1s dropped: `576×5`, `64×9×5`. */
export function shapeText(ne: readonly number[]): string {
  let n = ne.length;
  while (n > 1 && ne[n - 1] === 1) n--;
  return ne.slice(0, n).join('×');
}

export class GraphStore {
  readonly doc: GraphDoc;
  /** consumers[id]: ids of the nodes that read tensor `id` (as a source), in execution order. */
  readonly consumers: number[][];
  /** slotIndex[id]: 0 = pre, 1 + l = layer l, nLayers + 1 = post. */
  readonly slotIndex: Int32Array;
  readonly nLayers: number;
  /** execPos[id]: position in `doc.nodes`, -1 for leaves. */
  readonly execPos: Int32Array;
  private readonly byName = new Map<string, number[]>();

  constructor(doc: GraphDoc) {
    this.doc = doc;
    const n = doc.tensors.length;
    this.execPos = new Int32Array(n).fill(-1);
    doc.nodes.forEach((id, i) => (this.execPos[id] = i));
    this.consumers = Array.from({ length: n }, () => []);
    for (const id of doc.nodes) {
      const seen = new Set<number>();
      for (const s of doc.tensors[id].src) {
        if (s !== null && s < n && !seen.has(s)) {
          seen.add(s);
          this.consumers[s].push(id);
        }
      }
    }
    for (const t of doc.tensors) {
      const list = this.byName.get(t.name);
      if (list) list.push(t.id);
      else this.byName.set(t.name, [t.id]);
    }
    let maxLayer = -1;
    for (const t of doc.tensors) if (t.layer !== null && t.layer > maxLayer) maxLayer = t.layer;
    this.nLayers = maxLayer + 1;
    this.slotIndex = this.computeSlots();
  }

  private computeSlots(): Int32Array {
    const { doc, nLayers } = this;
    const slots = new Int32Array(doc.tensors.length).fill(-1);
    const post = nLayers + 1;
    let seenLayer = false;
    for (const id of doc.nodes) {
      const t = doc.tensors[id];
      if (t.layer !== null) {
        seenLayer = true;
        slots[id] = 1 + t.layer;
      } else slots[id] = seenLayer ? post : 0;
    }
    for (const t of doc.tensors) {
      if (slots[t.id] >= 0) continue;
      if (t.kind === 'input') slots[t.id] = 0;
      else if (t.layer !== null) slots[t.id] = 1 + t.layer;
      else {
        const c = this.consumers[t.id];
        slots[t.id] = c.length > 0 ? slots[c[0]] : 0;
      }
    }
    return slots;
  }

  get size(): number {
    return this.doc.tensors.length;
  }

  tensor(id: number): TensorDoc {
    return this.doc.tensors[id];
  }

  slot(id: number): Slot {
    const s = this.slotIndex[id];
    if (s === 0) return { kind: 'pre' };
    if (s === this.nLayers + 1) return { kind: 'post' };
    return { kind: 'layer', layer: s - 1 };
  }

  /** All ids with this exact name (one name can be several nodes: `Qcur-0` is 3). */
  idsNamed(name: string): readonly number[] {
    return this.byName.get(name) ?? [];
  }

  /** A deep-link or search reference: a decimal id, or a name (its first tensor in execution order). */
  find(ref: string): number | undefined {
    const trimmed = ref.trim();
    if (/^\d+$/.test(trimmed)) {
      const id = Number(trimmed);
      return id < this.size ? id : undefined;
    }
    const ids = this.byName.get(trimmed);
    if (!ids || ids.length === 0) return undefined;
    return [...ids].sort((a, b) => this.orderKey(a) - this.orderKey(b))[0];
  }

  /** How to refer to a tensor in a link: its name when unique, else its id. */
  refOf(id: number): string {
    const name = this.tensor(id).name;
    return this.idsNamed(name).length === 1 ? name : String(id);
  }

  /** Execution position for nodes; leaves sort just before their first consumer. */
  private orderKey(id: number): number {
    const p = this.execPos[id];
    if (p >= 0) return p;
    const c = this.consumers[id];
    return c.length > 0 ? this.execPos[c[0]] - 0.5 : Number.MAX_SAFE_INTEGER;
  }

  /** The next node in execution order (`]`), or undefined at the end. A leaf steps to its first consumer. */
  nextExec(id: number): number | undefined {
    const p = this.execPos[id];
    if (p < 0) return this.consumers[id][0];
    return this.doc.nodes[p + 1];
  }

  /** The previous node in execution order (`[`), or undefined at the start. */
  prevExec(id: number): number | undefined {
    const p = this.execPos[id];
    if (p <= 0) return undefined;
    return this.doc.nodes[p - 1];
  }

  /** Follow the data downstream (`}`): the first node that reads this tensor. */
  nextFlow(id: number): number | undefined {
    return this.consumers[id][0];
  }

  /**
   * Follow the data upstream (`{`): the main input — the first source that is a computed node
   * (for MUL_MAT that is the activation, not the weight), else the first source at all.
   */
  prevFlow(id: number): number | undefined {
    const srcs = this.tensor(id).src.filter((s): s is number => s !== null);
    return srcs.find((s) => this.tensor(s).kind === 'node') ?? srcs[0];
  }

  /** The first node of layer `layer` in execution order. */
  layerEntry(layer: number): number | undefined {
    return this.doc.nodes.find((id) => this.slotIndex[id] === layer + 1);
  }

  /**
   * Search by name, op or layer. `layer 5` / `l5` / `L5` lists layer 5's nodes; an op name
   * (`mul_mat`) lists nodes with that op; anything else matches names (exact > prefix > substring).
   * Several words narrow the result (`l5 mul_mat`, `ffn 3`). Best first, at most `limit`.
   */
  search(query: string, limit = 50): SearchHit[] {
    const words = query.trim().toLowerCase().split(/\s+/).filter((w) => w.length > 0);
    if (words.length === 0) return [];
    // "layer 5" → one word "l5"
    const merged: string[] = [];
    for (let i = 0; i < words.length; i++) {
      if ((words[i] === 'layer' || words[i] === 'l') && i + 1 < words.length && /^\d+$/.test(words[i + 1])) {
        merged.push(`l${words[i + 1]}`);
        i++;
      } else merged.push(words[i].replace(/^layer(\d+)$/, 'l$1'));
    }
    const hits: SearchHit[] = [];
    for (const t of this.doc.tensors) {
      let score = 0;
      const reasons: string[] = [];
      const name = t.name.toLowerCase();
      const op = t.op.toLowerCase();
      let ok = true;
      for (const w of merged) {
        const layerMatch = /^l(\d+)$/.exec(w);
        if (layerMatch && !name.includes(w)) {
          if (t.layer === Number(layerMatch[1])) {
            score += 1;
            reasons.push(`layer ${t.layer}`);
            continue;
          }
          ok = false;
          break;
        }
        if (name === w) {
          score += 100;
          reasons.push('name');
        } else if (op === w) {
          score += 20;
          reasons.push(`op ${t.op}`);
        } else if (name.startsWith(w)) {
          score += 50;
          reasons.push('name');
        } else if (name.includes(w)) {
          score += 10;
          reasons.push('name');
        } else if (/^\d+$/.test(w) && t.layer === Number(w)) {
          score += 1;
          reasons.push(`layer ${t.layer}`);
        } else {
          ok = false;
          break;
        }
      }
      if (!ok) continue;
      // computed nodes before leaves, earlier before later
      if (t.kind === 'node') score += 0.5;
      hits.push({ id: t.id, reason: [...new Set(reasons)].join(', '), score });
    }
    hits.sort((a, b) => b.score - a.score || this.orderKey(a.id) - this.orderKey(b.id));
    return hits.slice(0, limit);
  }
}
