// The viewer application: loads the graph, wires the four layers together (model → layout →
// scene, interaction, panels) and runs the frame loop. Rendering happens only when something
// changed (camera, hover, filters), so an idle page costs nothing. Exposes `window.__tt`, a small
// hook the end-to-end tests use to find blocks on screen and read frame times.

import * as THREE from 'three';
import { api, ApiError, type GraphDoc, type Group, type TensorValues } from './api';
import { GraphStore } from './model/graph';
import { GroupFilter, Selection } from './model/state';
import { formatDeepLink, parseDeepLink } from './model/deeplink';
import { computeLayout, LANE, slotAtZ, type Layout } from './layout/layout';
import { GraphScene } from './scene/scene';
import { Labels } from './scene/labels';
import { createRenderer, rendererName } from './scene/renderer';
import { CameraRig } from './interaction/camera';
import { Picker } from './interaction/picker';
import { bindKeys } from './interaction/keys';
import { Card } from './panels/card';
import { CodePanel } from './panels/code';
import { h } from './panels/dom';
import { Messages } from './panels/errors';
import { Hud } from './panels/hud';
import { Legend } from './panels/legend';
import { Minimap } from './panels/minimap';
import { RunPanel } from './panels/run';
import { Search } from './panels/search';
import { renderAttention } from './panels/attention';
import { helpPanel } from './panels/help';
import { DiffPanel, diffRows } from './panels/diff';
import { DiffIndex } from './model/diff';

const errText = (e: unknown) => (e instanceof Error ? e.message : String(e));

interface Loaded {
  store: GraphStore;
  layout: Layout;
  visible: Uint8Array;
}

export class App {
  private renderer: THREE.WebGLRenderer;
  /** A software rasterizer: render at half resolution while the camera moves. */
  private software = false;
  private lastMoveAt = 0;
  private lowRes = false;
  private canvas: HTMLCanvasElement;
  private gscene = new GraphScene();
  private rig: CameraRig;
  private picker: Picker;
  private labels: Labels;
  private filter = new GroupFilter();
  private selection = new Selection();
  private g: Loaded | null = null;
  private preset: string | null = null;

  private messages = new Messages();
  private hud: Hud;
  private legend: Legend;
  private minimap: Minimap;
  private search: Search;
  private run: RunPanel;
  private hoverCard: Card;
  private pinnedCard: Card;
  private code = new CodePanel();
  private side: HTMLDivElement;
  private sideTitle = h('span', { class: 'grow mono' });
  private attnBox = h('div');
  private help = helpPanel();
  private loadingEl = h('div', { class: 'loading', text: 'loading graph…' });
  private valuesCache = new Map<number, Promise<TensorValues>>();
  /** Diff mode: the shown run compared with the server's `--compare B` (null: no diff). */
  private diff: DiffIndex | null = null;
  private diffPanel: DiffPanel;
  /** Removes the last diff error from the message area (a later diff may succeed). */
  private clearDiffError: () => void = () => {};

  private needsRender = true;
  private pointer = { x: 0, y: 0 };
  private pointerMoved = false;
  private last = performance.now();
  private frameTimes: number[] = [];
  private cpuTimes: number[] = [];
  private firstFrameMs: number | null = null;
  private loadStartMs = 0;
  private hashTimer = 0;
  private hashFromApp = '';

  constructor(private readonly root: HTMLElement) {
    this.canvas = h('canvas', { class: 'view', tabindex: 0, 'data-testid': 'canvas' });
    ({ renderer: this.renderer, software: this.software } = createRenderer(this.canvas));
    // opaque panels: blending them over a changing canvas costs every frame without a GPU
    document.body.classList.toggle('software-gl', this.software);
    this.rig = new CameraRig(this.canvas);
    this.picker = new Picker(this.canvas);
    const labelRoot = h('div', { class: 'labels' });
    this.labels = new Labels(labelRoot);
    const values = (id: number) => {
      let p = this.valuesCache.get(id);
      if (!p) {
        p = api.tensor(id);
        this.valuesCache.set(id, p);
        p.catch(() => this.valuesCache.delete(id));
      }
      return p;
    };
    this.hoverCard = new Card(true, values);
    this.pinnedCard = new Card(false, values);
    this.hud = new Hud({
      choosePreset: (id) => void this.load(id, true),
      focus: (id) => this.focus(id),
      startTrace: (prompt, fa) => void this.trace(prompt, fa),
      help: () => this.help.classList.toggle('hidden'),
      search: () => this.search.open(),
    });
    this.legend = new Legend(this.filter);
    this.minimap = new Minimap((s) => this.viewSlot(s, true));
    this.search = new Search((id) => this.focus(id));
    this.run = new RunPanel(() => api.lens());
    this.diffPanel = new DiffPanel({
      focus: (id) => this.focus(id),
      setColoring: () => this.applyDiffColors(),
    });
    this.side = h(
      'div',
      { class: 'panel side hidden', 'data-testid': 'side' },
      h('header', {}, this.sideTitle, h('button', { text: '×', title: 'close (Esc)', onclick: () => this.selection.select(null) })),
      h('div', { class: 'scroll' }, this.attnBox, this.pinnedCard.el),
      this.code.el,
    );
    root.append(
      this.canvas,
      labelRoot,
      this.loadingEl,
      this.hud.el,
      this.legend.el,
      this.minimap.el,
      this.side,
      this.run.el,
      this.diffPanel.el,
      this.hoverCard.el,
      this.search.el,
      this.help,
      this.messages.el,
    );

    this.filter.onChange(() => this.applyFilter());
    this.selection.onChange(() => this.onSelection());
    this.rig.onModeChange = (m) => this.messages.info(m === 'fly' ? 'free flight: WASD/QE move, drag to look, Shift faster, f to orbit again' : 'orbit mode');
    this.canvas.addEventListener('pointermove', (e) => {
      this.pointer = { x: e.clientX, y: e.clientY };
      this.pointerMoved = true;
    });
    this.installClick();
    bindKeys({
      rig: this.rig,
      step: (dir, flow) => this.step(dir, flow),
      layer: (n) => this.viewSlot(n + 1, true),
      reset: () => this.resetView(true),
      search: () => this.search.open(),
      escape: () => {
        this.help.classList.add('hidden');
        this.search.close();
        this.selection.select(null);
      },
      help: () => this.help.classList.toggle('hidden'),
      isTyping: () => this.search.isOpen || document.activeElement instanceof HTMLInputElement,
      message: (m) => this.messages.info(m),
    });
    window.addEventListener('resize', () => this.resize());
    window.addEventListener('hashchange', () => {
      if (location.hash !== this.hashFromApp) void this.applyHash();
    });
    this.resize();
    this.installHook();
    requestAnimationFrame((t) => this.frame(t));
  }

  /** Loads presets and the graph the link (or the server) names, then restores the link's view. */
  async start(): Promise<void> {
    const link = parseDeepLink(location.hash);
    for (const p of link.problems) this.messages.error(`link: ${p}`);
    api.presets().then(
      (list) => {
        this.hud.setPresets(list, this.preset);
      },
      (e) => this.messages.error(`presets: ${errText(e)}`),
    );
    if (await this.load(link.preset ?? null, false)) await this.applyHash();
    else if (link.preset !== undefined && (await this.load(null, false))) {
      this.messages.info(`showing the server's graph instead of preset "${link.preset}"`);
      this.writeHash();
    }
  }

  /** Fetches and shows a graph (`preset` null: the server's current one). */
  private async load(preset: string | null, userChoice: boolean): Promise<boolean> {
    this.loadStartMs = performance.now();
    this.loadingEl.style.display = '';
    this.loadingEl.textContent = preset ? `loading ${preset}…` : 'loading graph…';
    let doc: GraphDoc;
    try {
      doc = await api.graph(preset ?? undefined);
    } catch (e) {
      this.loadingEl.textContent = 'no graph loaded';
      this.messages.error(`could not load the graph: ${errText(e)}`);
      this.hud.setPreset(this.preset);
      return false;
    }
    this.preset = preset;
    this.hud.setPreset(preset);
    this.show(doc);
    if (userChoice) {
      this.resetView(false);
      this.writeHash();
    }
    return true;
  }

  private show(doc: GraphDoc): void {
    if (doc.nodes.length === 0) this.messages.error(`the graph of ${doc.model.name} has no nodes: nothing to draw`);
    const store = new GraphStore(doc);
    const layout = computeLayout(store);
    this.g = { store, layout, visible: new Uint8Array(store.size) };
    this.valuesCache.clear();
    this.selection.select(null);
    this.selection.hover(null);
    this.fillVisible();
    this.gscene.setGraph(store, layout, (id) => this.g!.visible[id] === 1);
    const counts = new Map<Group, number>();
    for (const t of doc.tensors) counts.set(t.group, (counts.get(t.group) ?? 0) + 1);
    this.legend.setGroups(counts);
    this.minimap.setStore(store);
    this.search.setStore(store);
    this.hud.setDoc(doc);
    this.run.setDoc(doc);
    this.loadingEl.style.display = 'none';
    this.firstFrameMs = null;
    this.resetView(false);
    this.diff = null;
    this.applyDiffColors();
    // diff mode exists only for the server's own graph, not for a preset picked in the page
    if (this.preset === null) void this.loadDiff(store);
    else this.diffPanel.hide();
  }

  /** Asks the server for the comparison with `--compare B`; a 404 means diff mode is off. */
  private async loadDiff(store: GraphStore): Promise<void> {
    let d;
    this.clearDiffError();
    try {
      d = await api.diff();
    } catch (e) {
      this.diffPanel.hide();
      if (!(e instanceof ApiError && e.status === 404)) this.clearDiffError = this.messages.error(`diff: ${errText(e)}`);
      return;
    }
    if (this.g?.store !== store) return;
    this.diff = new DiffIndex(d.report, d.b_file, store.doc.nodes);
    this.diffPanel.show(this.diff, (id) => store.tensor(id).name);
    this.applyDiffColors();
  }

  /** Block colours and card rows for the diff state: by divergence when on, by group otherwise. */
  private applyDiffColors(): void {
    const d = this.diff && this.diffPanel.coloring ? this.diff : null;
    this.gscene.setColors(d ? (id) => d.color(id) : null);
    const rows = this.diff ? (id: number) => (this.diff ? diffRows(this.diff.get(id), this.diff.classOf(id)) : []) : null;
    this.hoverCard.setExtraRows(rows);
    this.pinnedCard.setExtraRows(rows);
    const sel = this.selection.selected;
    if (this.g && sel !== null) this.pinnedCard.show(this.g.store, sel);
    this.needsRender = true;
  }

  private fillVisible(): void {
    const g = this.g;
    if (!g) return;
    for (let id = 0; id < g.store.size; id++) g.visible[id] = this.filter.visible(g.store, id) ? 1 : 0;
  }

  private applyFilter(): void {
    const g = this.g;
    if (!g) return;
    this.fillVisible();
    this.gscene.updateVisibility((id) => g.visible[id] === 1);
    this.picker.invalidate();
    this.needsRender = true;
  }

  /** Camera looking at a box from behind-above along the flow. */
  private viewOf(id: number): { pos: THREE.Vector3; target: THREE.Vector3 } {
    const { layout } = this.g!;
    const p = layout.position;
    const s = layout.size;
    const target = new THREE.Vector3(p[3 * id], p[3 * id + 1], p[3 * id + 2]);
    const r = Math.max(s[3 * id], s[3 * id + 1], s[3 * id + 2]);
    const d = 3.5 + 2.2 * r;
    return { target, pos: target.clone().add(new THREE.Vector3(d * 0.55, d * 0.6, d * 1.0)) };
  }

  private viewSlot(slot: number, animate: boolean): void {
    const g = this.g;
    if (!g) return;
    const s = g.layout.slots[Math.max(0, Math.min(g.layout.slots.length - 1, slot))];
    const zMid = (s.zStart + s.zEnd) / 2;
    const len = Math.max(8, s.zStart - s.zEnd);
    const target = new THREE.Vector3(-1.5 * LANE, 0, zMid);
    const pos = target.clone().add(new THREE.Vector3(len * 0.55, len * 0.55, len * 0.75));
    if (animate) this.rig.flyTo(pos, target);
    else this.rig.jumpTo(pos, target);
  }

  /** The opening view: the embedding and the first layer. */
  private resetView(animate: boolean): void {
    const g = this.g;
    if (!g) return;
    const s0 = g.layout.slots[0];
    const s1 = g.layout.slots[Math.min(1, g.layout.slots.length - 1)];
    const target = new THREE.Vector3(-1.5 * LANE, 0, (s0.zStart + s1.zEnd) / 2 - 4);
    const pos = target.clone().add(new THREE.Vector3(22, 24, 34));
    if (animate) this.rig.flyTo(pos, target);
    else this.rig.jumpTo(pos, target);
  }

  /** Selects a block and flies to it. */
  private focus(id: number, animate = true): void {
    const g = this.g;
    if (!g) return;
    if (g.visible[id] !== 1) this.filter.set(g.store.tensor(id).group, true);
    this.selection.select(id);
    const v = this.viewOf(id);
    if (animate) this.rig.flyTo(v.pos, v.target);
    else this.rig.jumpTo(v.pos, v.target);
  }

  private step(dir: 1 | -1, flow: boolean): void {
    const g = this.g;
    if (!g) return;
    const cur = this.selection.selected ?? this.selection.hovered;
    let next: number | undefined;
    if (cur === null) next = dir > 0 ? g.store.doc.nodes[0] : g.store.doc.nodes[g.store.doc.nodes.length - 1];
    else if (flow) next = dir > 0 ? g.store.nextFlow(cur) : g.store.prevFlow(cur);
    else next = dir > 0 ? g.store.nextExec(cur) : g.store.prevExec(cur);
    if (next !== undefined) this.focus(next);
  }

  private onSelection(): void {
    const g = this.g;
    const id = this.selection.selected;
    this.gscene.setHighlight(id, this.selection.hovered);
    this.needsRender = true;
    if (!g) return;
    this.minimap.setSelected(id === null ? -1 : g.store.slotIndex[id]);
    if (id === null) {
      this.side.classList.add('hidden');
      this.rig.setShift(0);
      this.writeHash();
      return;
    }
    const t = g.store.tensor(id);
    this.side.classList.remove('hidden');
    // keep what the camera looks at in the part of the canvas the side panel leaves free
    this.rig.setShift(Math.round((this.root.clientWidth - this.side.getBoundingClientRect().left) / 2));
    this.sideTitle.textContent = `${t.name} · ${t.op}`;
    this.pinnedCard.show(g.store, id);
    this.attnBox.replaceChildren();
    if (t.name.startsWith('kq_soft_max-') && g.store.doc.run) {
      this.attnBox.replaceChildren(h('div', { class: 'attn muted', text: 'loading attention…' }));
      api.attention(id).then(
        (a) => this.selection.selected === id && this.attnBox.replaceChildren(renderAttention(a)),
        (e) => this.selection.selected === id && this.attnBox.replaceChildren(h('div', { class: 'attn muted', text: errText(e) })),
      );
    }
    this.code.loading();
    api.code(id).then(
      (refs) => this.selection.selected === id && void this.code.show(refs),
      (e) => this.selection.selected === id && this.code.error(`code: ${errText(e)}`),
    );
    this.writeHash();
  }

  private installClick(): void {
    let down: { x: number; y: number } | null = null;
    this.canvas.addEventListener('pointerdown', (e) => (down = { x: e.clientX, y: e.clientY }));
    this.canvas.addEventListener('pointerup', (e) => {
      if (!down || Math.hypot(e.clientX - down.x, e.clientY - down.y) > 5 || !this.g) return;
      down = null;
      const id = this.pickAtClient(e.clientX, e.clientY);
      if (id !== null) this.focus(id);
    });
  }

  private pickAtClient(x: number, y: number): number | null {
    const g = this.g;
    if (!g) return null;
    const r = this.canvas.getBoundingClientRect();
    const ndc = new THREE.Vector2(((x - r.left) / r.width) * 2 - 1, -((y - r.top) / r.height) * 2 + 1);
    return this.picker.pickAt(ndc, this.rig.camera, g.layout, (id) => g.visible[id] === 1);
  }

  private async trace(prompt: string, flashAttn: boolean): Promise<void> {
    if (prompt.trim().length === 0) {
      this.messages.error('type a prompt to trace first');
      return;
    }
    try {
      await api.startTrace(prompt, flashAttn);
    } catch (e) {
      this.messages.error(`trace: ${errText(e)}`);
      return;
    }
    for (;;) {
      await new Promise((r) => setTimeout(r, 300));
      let s;
      try {
        s = await api.traceStatus();
      } catch (e) {
        this.messages.error(`trace status: ${errText(e)}`);
        return;
      }
      this.hud.setStatus(s);
      if (s.state === 'failed') {
        this.messages.error(`trace failed: ${s.error ?? 'no reason given'}`);
        return;
      }
      if (s.state === 'done' || s.state === 'idle') break;
    }
    this.preset = null;
    // the same node in the new run, when it has one (compare a node across prompts)
    const g = this.g;
    const sel = this.selection.selected;
    const keep = g && sel !== null ? g.store.refOf(sel) : undefined;
    if (!(await this.load(null, keep === undefined))) return;
    const id = keep === undefined ? undefined : this.g?.store.find(keep);
    if (id !== undefined) this.focus(id, false);
    else if (keep !== undefined) this.resetView(false);
    this.writeHash();
  }

  private async applyHash(): Promise<void> {
    const link = parseDeepLink(location.hash);
    if ((link.preset ?? null) !== this.preset && !(await this.load(link.preset ?? null, false))) return;
    const g = this.g;
    if (!g) return;
    if (link.camera) {
      const [x, y, z] = link.camera.position;
      const [tx, ty, tz] = link.camera.target;
      this.rig.jumpTo(new THREE.Vector3(x, y, z), new THREE.Vector3(tx, ty, tz));
    }
    if (link.node !== undefined) {
      const id = g.store.find(link.node);
      if (id === undefined) {
        this.messages.error(
          `the link names node "${link.node}", which is not in this graph (${g.store.doc.model.name}); nothing is selected`,
        );
        this.selection.select(null);
      } else if (link.camera) this.selection.select(id);
      else this.focus(id, false);
    }
  }

  /** Writes selection and camera into the URL hash (debounced; no history entries). */
  private writeHash(): void {
    clearTimeout(this.hashTimer);
    this.hashTimer = window.setTimeout(() => {
      const g = this.g;
      if (!g) return;
      const sel = this.selection.selected;
      const hash = formatDeepLink({
        preset: this.preset ?? undefined,
        node: sel === null ? undefined : g.store.refOf(sel),
        camera: this.rig.link(),
      });
      this.hashFromApp = hash;
      history.replaceState(null, '', hash || location.pathname + location.search);
    }, 250);
  }

  /**
   * On a software rasterizer the cost is per pixel: while the camera moves, draw a quarter of
   * the pixels (half resolution) so flight stays fluid; once it rests, draw full resolution.
   */
  private adaptResolution(moved: boolean, now: number): void {
    if (moved) this.lastMoveAt = now;
    const low = now - this.lastMoveAt < 150;
    if (low === this.lowRes) return;
    this.lowRes = low;
    this.renderer.setPixelRatio(low ? 0.5 : 1);
    this.renderer.setSize(this.root.clientWidth, this.root.clientHeight, false);
    this.needsRender = true;
  }

  private resize(): void {
    const w = this.root.clientWidth;
    const hgt = this.root.clientHeight;
    this.renderer.setSize(w, hgt, false);
    this.rig.resize(w, hgt);
    this.needsRender = true;
  }

  private frame(now: number): void {
    requestAnimationFrame((t) => this.frame(t));
    const dt = Math.min(0.1, (now - this.last) / 1000);
    const interval = now - this.last;
    this.last = now;
    const g = this.g;
    if (!g) return;
    const t0 = performance.now();
    const moved = this.rig.tick(dt);
    if (moved) {
      this.picker.invalidate();
      this.writeHash();
    }
    const hit = this.picker.pick(this.rig.camera, g.layout, (id) => g.visible[id] === 1);
    if (hit !== undefined && hit !== this.selection.hovered) {
      this.selection.hover(hit);
      this.gscene.setHighlight(this.selection.selected, hit);
      this.needsRender = true;
    }
    // the selected block's card is pinned in the side panel: no second copy under the pointer
    if (this.selection.hovered !== null && this.selection.hovered !== this.selection.selected && !this.rig.flying) {
      if (this.hoverCard.show(g.store, this.selection.hovered) || this.pointerMoved)
        this.hoverCard.moveTo(this.pointer.x, this.pointer.y);
    } else this.hoverCard.hide();
    this.pointerMoved = false;
    if (this.software) this.adaptResolution(moved, now);
    if (!moved && !this.needsRender) return;
    this.needsRender = false;
    this.minimap.setHere(slotAtZ(g.layout, this.rig.orbit.target.z));
    this.gscene.setViewDistance(this.rig.camera, this.rig.camera.position.distanceTo(this.rig.orbit.target));
    this.labels.update(g.store, g.layout, this.rig.camera, (id) => g.visible[id] === 1, this.root.clientWidth, this.root.clientHeight);
    this.renderer.render(this.gscene.scene, this.rig.camera);
    const cpu = performance.now() - t0;
    if (this.firstFrameMs === null) {
      this.firstFrameMs = performance.now();
      console.info(`first frame at ${this.firstFrameMs.toFixed(0)} ms (graph load started at ${this.loadStartMs.toFixed(0)} ms)`);
    } else {
      this.frameTimes.push(interval);
      this.cpuTimes.push(cpu);
      if (this.frameTimes.length > 2000) {
        this.frameTimes.shift();
        this.cpuTimes.shift();
      }
    }
  }

  /** `window.__tt`: what the end-to-end tests need to drive the viewer like a person would. */
  private installHook(): void {
    const median = (xs: number[]) => {
      if (xs.length === 0) return null;
      const s = [...xs].sort((a, b) => a - b);
      return s[Math.floor(s.length / 2)];
    };
    const p95 = (xs: number[]) => {
      if (xs.length === 0) return null;
      const s = [...xs].sort((a, b) => a - b);
      return s[Math.floor(s.length * 0.95)];
    };
    const hook = {
      ready: () => this.g !== null && this.firstFrameMs !== null,
      /** A screen point (CSS px) where picking hits the named block, or null when none does. */
      project: (ref: string) => {
        const g = this.g;
        if (!g) return null;
        const id = g.store.find(ref);
        if (id === undefined) return null;
        const p = g.layout.position;
        const s = g.layout.size;
        const r = this.canvas.getBoundingClientRect();
        const v = new THREE.Vector3();
        for (const fx of [0, -0.3, 0.3])
          for (const fy of [0, -0.3, 0.3, 0.45, -0.45]) {
            v.set(p[3 * id] + fx * s[3 * id], p[3 * id + 1] + fy * s[3 * id + 1], p[3 * id + 2] + s[3 * id + 2] / 2).project(this.rig.camera);
            const x = r.left + ((v.x + 1) / 2) * r.width;
            const y = r.top + ((1 - v.y) / 2) * r.height;
            if (this.pickAtClient(x, y) === id) return { x, y, id };
          }
        return null;
      },
      find: (ref: string) => this.g?.store.find(ref) ?? null,
      focus: (ref: string) => {
        const id = this.g?.store.find(ref);
        if (id !== undefined) this.focus(id, false);
        return id ?? null;
      },
      /** Moves the camera to look at a block without selecting it. */
      view: (ref: string) => {
        const id = this.g?.store.find(ref);
        if (id === undefined) return null;
        const v = this.viewOf(id);
        this.rig.jumpTo(v.pos, v.target);
        return id;
      },
      messages: () => Array.from(this.messages.el.children).map((e) => e.firstChild?.textContent ?? ''),
      flying: () => this.rig.flying,
      selected: () => this.selection.selected,
      visibleCounts: () => (this.g ? this.gscene.visibleCounts((id) => this.g!.visible[id] === 1) : {}),
      camera: () => this.rig.link(),
      frameStats: () => ({
        firstFrameMs: this.firstFrameMs,
        loadStartMs: this.loadStartMs,
        frames: this.frameTimes.length,
        medianFrameMs: median(this.frameTimes),
        p95FrameMs: p95(this.frameTimes),
        medianCpuMs: median(this.cpuTimes),
        renderer: rendererName(this.renderer.getContext()),
      }),
      /**
       * Renders the current view `n` times, each time reading a pixel back so the GPU (or the
       * software rasterizer) must finish the frame first: ms per frame.
       */
      renderMs: (n: number) => {
        const gl = this.renderer.getContext();
        const px = new Uint8Array(4);
        const t0 = performance.now();
        for (let i = 0; i < n; i++) {
          this.renderer.render(this.gscene.scene, this.rig.camera);
          gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, px);
        }
        return (performance.now() - t0) / n;
      },
      resetFrameStats: () => {
        this.frameTimes = [];
        this.cpuTimes = [];
      },
      diff: () =>
        this.diff
          ? {
              coloring: this.diffPanel.coloring,
              counts: this.diff.counts,
              firstDivergence: this.diff.firstDivergence,
              firstDifference: this.diff.firstDifference,
            }
          : null,
      graph: () => (this.g ? { model: this.g.store.doc.model.name, nodes: this.g.store.doc.nodes.length, tensors: this.g.store.size, traced: this.g.store.doc.run !== null } : null),
    };
    (window as unknown as { __tt: typeof hook }).__tt = hook;
  }

}

