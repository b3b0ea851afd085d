// The layer index: one bar per slot (embedding, layer 0…N−1, output), the one under the
// camera lit, the selected node's slot marked; click a bar to fly to that layer.

import type { GraphStore } from '../model/graph';
import { h } from './dom';

export class Minimap {
  readonly el = h('div', { class: 'panel minimap', 'data-testid': 'minimap' });
  private bars: HTMLDivElement[] = [];
  private tip = h('div', { class: 'where', 'data-testid': 'where' });
  private here = -1;
  private sel = -1;

  constructor(private readonly jump: (slot: number) => void) {}

  static slotName(store: GraphStore, s: number): string {
    if (s === 0) return 'embedding';
    if (s === store.nLayers + 1) return 'output';
    return `layer ${s - 1}`;
  }

  setStore(store: GraphStore): void {
    this.bars = Array.from({ length: store.nLayers + 2 }, (_, s) =>
      h('div', { class: 'slot', title: Minimap.slotName(store, s), 'data-slot': s, onclick: () => this.jump(s) }),
    );
    this.el.replaceChildren(...this.bars, this.tip);
    this.here = this.sel = -1;
    this.names = (s) => Minimap.slotName(store, s);
  }

  private names: (s: number) => string = String;

  /** The slot the camera looks at. */
  setHere(slot: number): void {
    if (slot === this.here) return;
    this.bars[this.here]?.classList.remove('here');
    this.here = slot;
    const bar = this.bars[slot];
    if (!bar) return;
    bar.classList.add('here');
    this.tip.textContent = this.names(slot);
    this.tip.style.top = `${bar.offsetTop - 4}px`;
  }

  setSelected(slot: number): void {
    this.bars[this.sel]?.classList.remove('sel');
    this.sel = slot;
    this.bars[slot]?.classList.add('sel');
  }
}
