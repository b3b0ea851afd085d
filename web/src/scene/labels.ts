// Text labels for the blocks near the camera: a small pool of DOM elements re-positioned every
// frame over the canvas (only the nearest few dozen are shown, so 4000 nodes cost nothing), plus
// one "layer N" label at the start of each visible layer.

import * as THREE from 'three';
import type { GraphStore } from '../model/graph';
import { shapeText } from '../model/graph';
import { LANE, type Layout } from '../layout/layout';

const POOL = 40;
/** Labels farther than this (world units) are not shown. */
const MAX_DIST = 60;
/** "layer N" labels at most this far. */
const SLOT_DIST = 260;

/**
 * Reserves a w×h screen box centred at (x, y) unless it meets one already taken
 * (`taken`: x0, y0, x1, y1 per box). Returns whether it was free.
 */
function claim(taken: number[], x: number, y: number, w: number, h: number): boolean {
  const box = [x - w / 2, y - h / 2, x + w / 2, y + h / 2];
  for (let i = 0; i < taken.length; i += 4)
    if (box[0] < taken[i + 2] && box[2] > taken[i] && box[1] < taken[i + 3] && box[3] > taken[i + 1]) return false;
  taken.push(...box);
  return true;
}

export class Labels {
  private pool: HTMLDivElement[] = [];
  private slotPool: HTMLDivElement[] = [];
  private v = new THREE.Vector3();
  private cand: { id: number; d: number }[] = [];

  constructor(root: HTMLElement) {
    for (let i = 0; i < POOL; i++) {
      const el = document.createElement('div');
      el.className = 'label';
      el.style.display = 'none';
      root.appendChild(el);
      this.pool.push(el);
    }
    for (let i = 0; i < 12; i++) {
      const el = document.createElement('div');
      el.className = 'label slot-label';
      el.style.display = 'none';
      root.appendChild(el);
      this.slotPool.push(el);
    }
  }

  private text(store: GraphStore, id: number): string {
    const t = store.tensor(id);
    if (t.kind === 'weight') return `${t.name} · ${t.type}`;
    if (t.kind !== 'node') return `${t.name} · ${shapeText(t.ne)}`;
    return `${t.name} · ${t.op} ${shapeText(t.ne)}`;
  }

  update(
    store: GraphStore,
    layout: Layout,
    camera: THREE.PerspectiveCamera,
    visible: (id: number) => boolean,
    width: number,
    height: number,
  ): void {
    const cam = camera.position;
    const p = layout.position;
    const cand = this.cand;
    cand.length = 0;
    const max2 = MAX_DIST * MAX_DIST;
    for (let id = 0; id < store.size; id++) {
      const dx = p[3 * id] - cam.x;
      const dy = p[3 * id + 1] - cam.y;
      const dz = p[3 * id + 2] - cam.z;
      const d = dx * dx + dy * dy + dz * dz;
      if (d < max2 && visible(id)) cand.push({ id, d });
    }
    cand.sort((a, b) => a.d - b.d);
    // x0, y0, x1, y1 of each placed label; layer labels first, they matter most for orientation
    const taken: number[] = [];
    this.updateSlots(store, layout, camera, width, height, taken);
    let used = 0;
    for (const { id, d } of cand) {
      if (used >= POOL) break;
      this.v.set(p[3 * id], p[3 * id + 1] + layout.size[3 * id + 1] / 2, p[3 * id + 2]).project(camera);
      if (this.v.z > 1 || this.v.x < -1 || this.v.x > 1 || this.v.y < -1 || this.v.y > 1) continue;
      const x = ((this.v.x + 1) / 2) * width;
      const y = ((1 - this.v.y) / 2) * height;
      const text = this.text(store, id);
      // skip labels that would cover a nearer one (estimated 6.2 px per character)
      if (!claim(taken, x, y - 9, text.length * 6.2 + 8, 18)) continue;
      const el = this.pool[used++];
      el.style.display = '';
      el.style.transform = `translate(-50%, -100%) translate(${x.toFixed(1)}px, ${(y - 2).toFixed(1)}px)`;
      el.style.opacity = String(Math.max(0.35, 1 - Math.sqrt(d) / MAX_DIST));
      if (el.textContent !== text) el.textContent = text;
    }
    for (let i = used; i < POOL; i++) this.pool[i].style.display = 'none';
  }

  /** "layer N" at the start of each nearby layer, beside the attention lanes. */
  private updateSlots(
    store: GraphStore,
    layout: Layout,
    camera: THREE.PerspectiveCamera,
    width: number,
    height: number,
    taken: number[],
  ): void {
    let used = 0;
    const floor = layout.bounds[1];
    const x = -7 * LANE;
    const near = layout.slots
      .map((s) => ({ s, d: Math.hypot(x - camera.position.x, floor - camera.position.y, s.zStart - camera.position.z) }))
      .filter(({ d }) => d <= SLOT_DIST)
      .sort((a, b) => a.d - b.d);
    for (const { s } of near) {
      if (used >= this.slotPool.length) break;
      this.v.set(x, floor, s.zStart).project(camera);
      if (this.v.z > 1 || Math.abs(this.v.x) > 1 || Math.abs(this.v.y) > 1) continue;
      const px = ((this.v.x + 1) / 2) * width;
      const py = ((1 - this.v.y) / 2) * height;
      const name = s.index === 0 ? 'embedding' : s.index === store.nLayers + 1 ? 'output' : `layer ${s.index - 1}`;
      if (!claim(taken, px, py, name.length * 8 + 12, 22)) continue;
      const el = this.slotPool[used++];
      el.style.display = '';
      el.style.transform = `translate(-50%, -50%) translate(${px.toFixed(1)}px, ${py.toFixed(1)}px)`;
      if (el.textContent !== name) el.textContent = name;
    }
    for (let i = used; i < this.slotPool.length; i++) this.slotPool[i].style.display = 'none';
  }
}
