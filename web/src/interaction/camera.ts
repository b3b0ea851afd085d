// Camera control: orbit (three.js OrbitControls) and free flight (WASD/QE to move, mouse drag
// to look, Shift to go faster; `f` toggles the mode), plus smooth fly-to animations. Movement is
// integrated in `tick(dt)`, called from the frame loop, so it is frame-rate independent.

import * as THREE from 'three';
import { OrbitControls } from 'three/examples/jsm/controls/OrbitControls.js';
import type { Camera as CameraLink } from '../model/deeplink';

export type CameraMode = 'orbit' | 'fly';

interface Flight {
  fromPos: THREE.Vector3;
  fromTarget: THREE.Vector3;
  toPos: THREE.Vector3;
  toTarget: THREE.Vector3;
  t: number;
  duration: number;
}

const MOVE_KEYS = new Set(['KeyW', 'KeyA', 'KeyS', 'KeyD', 'KeyQ', 'KeyE']);

export class CameraRig {
  readonly camera: THREE.PerspectiveCamera;
  readonly orbit: OrbitControls;
  mode: CameraMode = 'orbit';
  /** World units per second in flight (×5 with Shift). */
  speed = 12;
  private keys = new Set<string>();
  private shift = false;
  private flight: Flight | null = null;
  private looking: { x: number; y: number } | null = null;
  private changed = true;
  onModeChange: (m: CameraMode) => void = () => {};

  constructor(dom: HTMLElement) {
    this.camera = new THREE.PerspectiveCamera(55, 1, 0.05, 20000);
    this.orbit = new OrbitControls(this.camera, dom);
    this.orbit.enableDamping = false;
    this.orbit.screenSpacePanning = true;
    this.orbit.addEventListener('change', () => (this.changed = true));
    dom.addEventListener('pointerdown', (e) => {
      if (this.mode === 'fly' && e.button === 0) this.looking = { x: e.clientX, y: e.clientY };
    });
    window.addEventListener('pointerup', () => (this.looking = null));
    dom.addEventListener('pointermove', (e) => {
      if (!this.looking) return;
      this.look((e.clientX - this.looking.x) * 0.004, (e.clientY - this.looking.y) * 0.004);
      this.looking = { x: e.clientX, y: e.clientY };
    });
  }

  setMode(m: CameraMode): void {
    this.mode = m;
    this.orbit.enabled = m === 'orbit';
    this.onModeChange(m);
  }

  /** Keyboard state for flight; returns true when the key was a movement key. */
  key(e: KeyboardEvent, down: boolean): boolean {
    this.shift = e.shiftKey;
    if (!MOVE_KEYS.has(e.code)) return false;
    if (down) this.keys.add(e.code);
    else this.keys.delete(e.code);
    this.flight = null;
    return true;
  }

  releaseKeys(): void {
    this.keys.clear();
  }

  /** Turns the view: yaw around world up, pitch around the camera's right axis. */
  private look(dx: number, dy: number): void {
    const dir = new THREE.Vector3().subVectors(this.orbit.target, this.camera.position);
    const dist = dir.length();
    const sph = new THREE.Spherical().setFromVector3(dir);
    sph.theta -= dx;
    sph.phi = Math.min(Math.PI - 0.05, Math.max(0.05, sph.phi + dy));
    dir.setFromSpherical(sph).setLength(dist);
    this.orbit.target.copy(this.camera.position).add(dir);
    this.camera.lookAt(this.orbit.target);
    this.changed = true;
  }

  /** Advances flight movement and fly-to animations. Returns true when the view changed. */
  tick(dt: number): boolean {
    if (this.flight) {
      const f = this.flight;
      f.t = Math.min(1, f.t + dt / f.duration);
      const e = f.t < 0.5 ? 4 * f.t ** 3 : 1 - (-2 * f.t + 2) ** 3 / 2;
      this.camera.position.lerpVectors(f.fromPos, f.toPos, e);
      this.orbit.target.lerpVectors(f.fromTarget, f.toTarget, e);
      this.camera.lookAt(this.orbit.target);
      if (f.t >= 1) this.flight = null;
      this.changed = true;
    }
    if (this.keys.size > 0) {
      const fwd = new THREE.Vector3().subVectors(this.orbit.target, this.camera.position).normalize();
      const right = new THREE.Vector3().crossVectors(fwd, this.camera.up).normalize();
      const move = new THREE.Vector3();
      if (this.keys.has('KeyW')) move.add(fwd);
      if (this.keys.has('KeyS')) move.sub(fwd);
      if (this.keys.has('KeyD')) move.add(right);
      if (this.keys.has('KeyA')) move.sub(right);
      if (this.keys.has('KeyE')) move.y += 1;
      if (this.keys.has('KeyQ')) move.y -= 1;
      if (move.lengthSq() > 0) {
        move.normalize().multiplyScalar(this.speed * (this.shift ? 5 : 1) * dt);
        this.camera.position.add(move);
        this.orbit.target.add(move);
        this.camera.lookAt(this.orbit.target);
        this.changed = true;
      }
    }
    if (this.mode === 'orbit' && !this.flight) this.orbit.update();
    const c = this.changed;
    this.changed = false;
    return c;
  }

  /** Animates the camera to look at `target` from `position`. */
  flyTo(position: THREE.Vector3, target: THREE.Vector3, duration = 0.7): void {
    this.flight = {
      fromPos: this.camera.position.clone(),
      fromTarget: this.orbit.target.clone(),
      toPos: position.clone(),
      toTarget: target.clone(),
      t: 0,
      duration,
    };
  }

  /** Moves at once (deep links, reset). */
  jumpTo(position: THREE.Vector3, target: THREE.Vector3): void {
    this.flight = null;
    this.camera.position.copy(position);
    this.orbit.target.copy(target);
    this.camera.lookAt(target);
    this.orbit.update();
    this.changed = true;
  }

  get flying(): boolean {
    return this.flight !== null;
  }

  link(): CameraLink {
    const p = this.camera.position;
    const t = this.orbit.target;
    return { position: [p.x, p.y, p.z], target: [t.x, t.y, t.z] };
  }

  private size = { w: 1, h: 1 };
  private shiftPx = 0;

  resize(w: number, h: number): void {
    this.size = { w, h };
    this.camera.aspect = w / Math.max(1, h);
    this.applyShift();
  }

  /**
   * Moves the point the camera looks at `px` pixels to the left of the canvas centre (a panel
   * covers the right side), by offsetting the projection: picking and labels follow.
   */
  setShift(px: number): void {
    if (px === this.shiftPx) return;
    this.shiftPx = px;
    this.applyShift();
  }

  private applyShift(): void {
    const { w, h } = this.size;
    if (this.shiftPx !== 0) this.camera.setViewOffset(w, h, this.shiftPx, 0, w, h);
    else this.camera.clearViewOffset();
    this.camera.updateProjectionMatrix();
    this.changed = true;
  }
}
