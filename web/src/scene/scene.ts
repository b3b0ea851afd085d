// The three.js scene: one InstancedMesh per block kind (computed nodes, views, weights, other
// leaves) and run of CHUNK layers — so runs of layers outside the view are culled whole — data-flow edges as one LineSegments, translucent floor tiles marking the layers, the
// residual spine, and outline boxes for the hovered and selected blocks with their edges lit.
// Positions and sizes come from the pure layout; colours from the palette table. Nothing here
// handles input or the DOM panels.

import * as THREE from 'three';
import type { GraphStore } from '../model/graph';
import { isView } from '../model/graph';
import type { Layout } from '../layout/layout';
import { LANE } from '../layout/layout';
import { PALETTE } from '../palette';

/** Block kinds, one InstancedMesh each. */
export type BlockKind = 'compute' | 'view' | 'weight' | 'leaf';

export function blockKind(store: GraphStore, id: number): BlockKind {
  const t = store.tensor(id);
  if (t.kind === 'weight') return 'weight';
  if (t.kind !== 'node') return 'leaf';
  return isView(t) ? 'view' : 'compute';
}

interface KindMesh {
  mesh: THREE.InstancedMesh;
  /** Tensor id of each instance. */
  ids: Int32Array;
  kind: BlockKind;
}

const HIDDEN = new THREE.Matrix4().makeScale(0, 0, 0);

/**
 * A unit box whose faces carry a fixed shade (top brightest, bottom darkest) as vertex colours.
 * With MeshBasicMaterial this reads as lit without any per-pixel lighting — the cheapest shading
 * there is, which matters on software rasterizers (the per-instance colour multiplies it).
 */
function shadedBox(): THREE.BoxGeometry {
  const box = new THREE.BoxGeometry(1, 1, 1);
  // BoxGeometry's face order: +x, −x, +y, −y, +z, −z; 4 vertices each
  const shade = [0.72, 0.62, 1.0, 0.45, 0.86, 0.55];
  const colors = new Float32Array(24 * 3);
  for (let v = 0; v < 24; v++) colors.fill(shade[Math.floor(v / 4)], 3 * v, 3 * v + 3);
  box.setAttribute('color', new THREE.BufferAttribute(colors, 3));
  return box;
}
/** Layer slots per instanced mesh: small enough to cull, large enough to keep draw calls few. */
const CHUNK = 4;

export class GraphScene {
  readonly scene = new THREE.Scene();
  private kinds = new Map<string, KindMesh>();
  /** instanceOf[id] = index in its kind's mesh. */
  private instanceOf = new Int32Array(0);
  private edges: THREE.LineSegments | null = null;
  private focusEdges: THREE.LineSegments;
  private hoverBox: THREE.LineSegments;
  private selectBox: THREE.LineSegments;
  private statics = new THREE.Group();
  /** Red outlines around tensors whose values hold NaN or Inf. */
  private badBoxes: THREE.LineSegments | null = null;
  private store: GraphStore | null = null;
  private layout: Layout | null = null;

  constructor() {
    this.scene.background = new THREE.Color(0x0d1117);
    this.scene.fog = new THREE.Fog(0x0d1117, 100, 400);
    const boxEdges = new THREE.EdgesGeometry(new THREE.BoxGeometry(1, 1, 1));
    this.hoverBox = new THREE.LineSegments(boxEdges, new THREE.LineBasicMaterial({ color: 0xffffff }));
    this.selectBox = new THREE.LineSegments(boxEdges, new THREE.LineBasicMaterial({ color: 0xffe066 }));
    this.hoverBox.visible = this.selectBox.visible = false;
    this.focusEdges = new THREE.LineSegments(
      new THREE.BufferGeometry(),
      new THREE.LineBasicMaterial({ color: 0xffe066, transparent: true, opacity: 0.9 }),
    );
    this.scene.add(this.hoverBox, this.selectBox, this.focusEdges, this.statics);
  }

  /** Replaces the displayed graph. */
  setGraph(store: GraphStore, layout: Layout, visible: (id: number) => boolean): void {
    this.store = store;
    this.layout = layout;
    for (const k of this.kinds.values()) {
      this.scene.remove(k.mesh);
      k.mesh.dispose();
    }
    this.kinds.clear();
    this.statics.clear();

    const byKind = new Map<string, { kind: BlockKind; ids: number[] }>();
    for (let id = 0; id < store.size; id++) {
      const kind = blockKind(store, id);
      const key = `${kind}-${Math.floor(store.slotIndex[id] / CHUNK)}`;
      if (!byKind.has(key)) byKind.set(key, { kind, ids: [] });
      byKind.get(key)!.ids.push(id);
    }
    this.instanceOf = new Int32Array(store.size);
    const box = shadedBox();
    const materials: Record<BlockKind, THREE.Material> = {
      compute: new THREE.MeshBasicMaterial({ vertexColors: true }),
      view: new THREE.MeshBasicMaterial({ vertexColors: true, transparent: true, opacity: 0.28, depthWrite: false }),
      weight: new THREE.MeshBasicMaterial({ vertexColors: true }),
      leaf: new THREE.MeshBasicMaterial({ vertexColors: true, transparent: true, opacity: 0.6 }),
    };
    for (const [key, { kind, ids }] of byKind) {
      const mesh = new THREE.InstancedMesh(box, materials[kind], ids.length);
      mesh.name = `blocks-${key}`;
      ids.forEach((id, i) => (this.instanceOf[id] = i));
      this.kinds.set(key, { mesh, ids: Int32Array.from(ids), kind });
      this.scene.add(mesh);
    }
    this.setColors(null);
    this.buildStatics(layout);
    this.buildBadBoxes(store, layout);
    this.updateVisibility(visible);
  }

  /** Floor tiles under each layer and the residual spine. */
  private buildStatics(layout: Layout): void {
    const tiles = new THREE.InstancedMesh(
      new THREE.PlaneGeometry(1, 1).rotateX(-Math.PI / 2),
      // opaque, pre-blended with the background: large blended quads are costly in software
      new THREE.MeshBasicMaterial({ color: 0xffffff, depthWrite: false }),
      layout.slots.length,
    );
    const m = new THREE.Matrix4();
    const floorY = layout.bounds[1] - 0.3;
    const x0 = -7.6 * LANE;
    const x1 = 3.6 * LANE;
    const tint = new THREE.Color();
    layout.slots.forEach((s, i) => {
      const depth = s.zStart - s.zEnd + 2;
      m.makeScale(x1 - x0, 1, depth).setPosition((x0 + x1) / 2, floorY, (s.zStart + s.zEnd) / 2);
      tiles.setMatrixAt(i, m);
      // 6% of blue / white over the background, blended in sRGB by hand
      tint.setHex(i % 2 === 0 ? 0x121a2c : 0x1a1e24);
      tiles.setColorAt(i, tint);
    });
    tiles.frustumCulled = false;
    tiles.renderOrder = -1;
    tiles.name = 'layer-tiles';
    const z0 = layout.slots[0].zStart;
    const z1 = layout.slots[layout.slots.length - 1].zEnd;
    const spineGeo = new THREE.BufferGeometry().setFromPoints([
      new THREE.Vector3(0, floorY + 0.01, z0 + 1),
      new THREE.Vector3(0, floorY + 0.01, z1 - 1),
    ]);
    const spine = new THREE.Line(spineGeo, new THREE.LineBasicMaterial({ color: 0xf5f5f5 }));
    spine.name = 'spine';
    this.statics.add(tiles, spine);
  }

  private buildBadBoxes(store: GraphStore, layout: Layout): void {
    if (this.badBoxes) {
      this.scene.remove(this.badBoxes);
      this.badBoxes.geometry.dispose();
      this.badBoxes = null;
    }
    const edges = new THREE.EdgesGeometry(new THREE.BoxGeometry(1, 1, 1)).getAttribute('position');
    const pos: number[] = [];
    for (const t of store.doc.tensors) {
      if (!t.stats || t.stats.nan + t.stats.inf === 0) continue;
      const i = 3 * t.id;
      for (let v = 0; v < edges.count; v++)
        for (let k = 0; k < 3; k++)
          pos.push(layout.position[i + k] + edges.getComponent(v, k) * (layout.size[i + k] + 0.25));
    }
    if (pos.length === 0) return;
    const geo = new THREE.BufferGeometry();
    geo.setAttribute('position', new THREE.Float32BufferAttribute(pos, 3));
    this.badBoxes = new THREE.LineSegments(geo, new THREE.LineBasicMaterial({ color: 0xff3b3b }));
    this.badBoxes.name = 'nan-inf';
    this.badBoxes.frustumCulled = false;
    this.scene.add(this.badBoxes);
  }

  /**
   * Colours every block: by its group (`colorOf` null), or by `colorOf(id)` (diff mode). Weights
   * are drawn darker either way.
   */
  setColors(colorOf: ((id: number) => number) | null): void {
    const store = this.store;
    if (!store) return;
    const color = new THREE.Color();
    for (const { mesh, ids, kind } of this.kinds.values()) {
      ids.forEach((id, i) => {
        color.setHex(colorOf ? colorOf(id) : PALETTE[store.tensor(id).group].color);
        if (kind === 'weight') color.multiplyScalar(0.55);
        mesh.setColorAt(i, color);
      });
      if (mesh.instanceColor) mesh.instanceColor.needsUpdate = true;
    }
  }

  /** Re-applies the group filter: hidden blocks get a zero matrix, edges are rebuilt. */
  updateVisibility(visible: (id: number) => boolean): void {
    const { store, layout } = this;
    if (!store || !layout) return;
    const m = new THREE.Matrix4();
    for (const { mesh, ids } of this.kinds.values()) {
      ids.forEach((id, i) => {
        if (!visible(id)) {
          mesh.setMatrixAt(i, HIDDEN);
          return;
        }
        const p = layout.position;
        const s = layout.size;
        m.makeScale(s[3 * id], s[3 * id + 1], s[3 * id + 2]).setPosition(p[3 * id], p[3 * id + 1], p[3 * id + 2]);
        mesh.setMatrixAt(i, m);
      });
      mesh.instanceMatrix.needsUpdate = true;
      if (mesh.instanceColor) mesh.instanceColor.needsUpdate = true;
      // the culling sphere covers this chunk's shown instances
      mesh.computeBoundingSphere();
    }
    this.buildEdges(visible);
  }

  /**
   * Data-flow edges between visible tensors. Edges from leaves into another layer (positions,
   * masks, shared weights read by every layer) are left out: they would tie every layer to the
   * start; the focus edges show them for the selected block.
   */
  private buildEdges(visible: (id: number) => boolean): void {
    const { store, layout } = this;
    if (!store || !layout) return;
    if (this.edges) {
      this.scene.remove(this.edges);
      this.edges.geometry.dispose();
    }
    const pos: number[] = [];
    const col: number[] = [];
    const c = new THREE.Color();
    const p = layout.position;
    for (const id of store.doc.nodes) {
      if (!visible(id)) continue;
      const t = store.tensor(id);
      // a computing node whose result lives in another tensor's memory (SET_ROWS into the KV
      // cache) writes into it: draw that flow too
      const dst = t.view_src;
      if (dst !== null && !isView(t) && !t.src.includes(dst) && visible(dst) && store.slotIndex[dst] === store.slotIndex[id]) {
        pos.push(p[3 * id], p[3 * id + 1], p[3 * id + 2], p[3 * dst], p[3 * dst + 1], p[3 * dst + 2]);
        c.setHex(PALETTE[t.group].color).multiplyScalar(0.35);
        col.push(c.r, c.g, c.b);
        c.setHex(PALETTE[store.tensor(dst).group].color);
        col.push(c.r, c.g, c.b);
      }
      for (const s of t.src) {
        if (s === null || !visible(s)) continue;
        const leaf = store.tensor(s).kind !== 'node';
        if (leaf && store.slotIndex[s] !== store.slotIndex[id]) continue;
        pos.push(p[3 * s], p[3 * s + 1], p[3 * s + 2], p[3 * id], p[3 * id + 1], p[3 * id + 2]);
        // dim at the source, the reader's colour at the reader: the gradient shows the direction
        c.setHex(PALETTE[store.tensor(s).group].color).multiplyScalar(0.35);
        col.push(c.r, c.g, c.b);
        c.setHex(PALETTE[t.group].color);
        col.push(c.r, c.g, c.b);
      }
    }
    const geo = new THREE.BufferGeometry();
    geo.setAttribute('position', new THREE.Float32BufferAttribute(pos, 3));
    geo.setAttribute('color', new THREE.Float32BufferAttribute(col, 3));
    this.edges = new THREE.LineSegments(
      geo,
      new THREE.LineBasicMaterial({ vertexColors: true, transparent: true, opacity: 0.7 }),
    );
    this.edges.name = 'edges';
    this.edges.frustumCulled = false;
    this.scene.add(this.edges);
  }

  private placeBox(box: THREE.LineSegments, id: number | null): void {
    const layout = this.layout;
    if (id === null || !layout) {
      box.visible = false;
      return;
    }
    box.visible = true;
    const pad = 0.12;
    box.position.set(layout.position[3 * id], layout.position[3 * id + 1], layout.position[3 * id + 2]);
    box.scale.set(layout.size[3 * id] + pad, layout.size[3 * id + 1] + pad, layout.size[3 * id + 2] + pad);
  }

  /** Outlines the hovered and selected blocks and lights the selected block's edges. */
  setHighlight(selected: number | null, hovered: number | null): void {
    this.placeBox(this.selectBox, selected);
    this.placeBox(this.hoverBox, hovered !== selected ? hovered : null);
    const { store, layout } = this;
    const pos: number[] = [];
    if (store && layout && selected !== null) {
      const p = layout.position;
      const link = (a: number, b: number) =>
        pos.push(p[3 * a], p[3 * a + 1], p[3 * a + 2], p[3 * b], p[3 * b + 1], p[3 * b + 2]);
      for (const s of store.tensor(selected).src) if (s !== null) link(s, selected);
      for (const c of store.consumers[selected]) link(selected, c);
    }
    this.focusEdges.geometry.dispose();
    const geo = new THREE.BufferGeometry();
    geo.setAttribute('position', new THREE.Float32BufferAttribute(pos, 3));
    this.focusEdges.geometry = geo;
    this.focusEdges.frustumCulled = false;
  }

  /**
   * Fades and clips what is far away, relative to how far the camera is from what it looks at:
   * close up, only a few layers around you are drawn (cheap on a software rasterizer with 126
   * layers); zoomed out, everything is.
   */
  setViewDistance(camera: THREE.PerspectiveCamera, distance: number): void {
    const far = Math.max(260, distance * 8);
    const fog = this.scene.fog as THREE.Fog;
    if (Math.abs(fog.far - far) < 1) return;
    fog.near = far * 0.35;
    fog.far = far;
    camera.far = far * 1.05;
    camera.updateProjectionMatrix();
  }

  /** Number of instances drawn (not hidden) per kind, for the test hook. */
  visibleCounts(visible: (id: number) => boolean): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [key, { ids }] of this.kinds) {
      const kind = key.replace(/-\d+$/, '');
      out[kind] = (out[kind] ?? 0) + Array.from(ids).filter((id) => visible(id)).length;
    }
    return out;
  }
}
