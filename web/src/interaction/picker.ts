// Picking inside the frame loop: the pointer position is recorded on move, and at most once per
// frame (only when the pointer or the camera moved) a ray from the camera is tested against the
// layout's axis-aligned boxes. No mesh raycasting: the layout already knows every box.

import * as THREE from 'three';
import { pickRay, type Layout } from '../layout/layout';

export class Picker {
  private ndc = new THREE.Vector2();
  private inside = false;
  private dirty = false;
  private ray = new THREE.Raycaster();

  constructor(dom: HTMLElement) {
    dom.addEventListener('pointermove', (e) => {
      const r = dom.getBoundingClientRect();
      this.ndc.set(((e.clientX - r.left) / r.width) * 2 - 1, -((e.clientY - r.top) / r.height) * 2 + 1);
      this.inside = true;
      this.dirty = true;
    });
    dom.addEventListener('pointerleave', () => {
      this.inside = false;
      this.dirty = true;
    });
  }

  /** Forces a new pick next frame (camera moved, filter changed). */
  invalidate(): void {
    this.dirty = true;
  }

  /**
   * The block under the pointer, or null; `undefined` when nothing changed since the last frame.
   */
  pick(camera: THREE.Camera, layout: Layout, visible: (id: number) => boolean): number | null | undefined {
    if (!this.dirty) return undefined;
    this.dirty = false;
    if (!this.inside) return null;
    return this.pickAt(this.ndc, camera, layout, visible);
  }

  pickAt(ndc: THREE.Vector2, camera: THREE.Camera, layout: Layout, visible: (id: number) => boolean): number | null {
    this.ray.setFromCamera(ndc, camera);
    const o = this.ray.ray.origin;
    const d = this.ray.ray.direction;
    return pickRay(layout, [o.x, o.y, o.z], [d.x, d.y, d.z], visible)?.id ?? null;
  }
}
