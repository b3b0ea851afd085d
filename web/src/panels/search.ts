// Search (Ctrl-K or /): by name, op or layer (`attn_out-3`, `mul_mat`, `layer 5 swiglu`);
// arrows pick, Enter flies to the node. Matching is the graph store's; this is only the box.

import type { GraphStore, SearchHit } from '../model/graph';
import { shapeText } from '../model/graph';
import { h } from './dom';

export class Search {
  readonly el: HTMLDivElement;
  private input: HTMLInputElement;
  private list: HTMLOListElement;
  private hits: SearchHit[] = [];
  private active = 0;
  private store: GraphStore | null = null;

  constructor(private readonly go: (id: number) => void) {
    this.input = h('input', { placeholder: 'search name, op or layer (e.g. "layer 3 mul_mat")', 'data-testid': 'search-input' });
    this.list = h('ol', { 'data-testid': 'search-results' });
    this.el = h('div', { class: 'panel search hidden', 'data-testid': 'search' }, this.input, this.list);
    this.input.addEventListener('input', () => this.update());
    this.input.addEventListener('keydown', (e) => {
      if (e.key === 'ArrowDown') this.move(1);
      else if (e.key === 'ArrowUp') this.move(-1);
      else if (e.key === 'Enter') this.choose(this.active);
      else if (e.key === 'Escape') this.close();
      else return;
      e.preventDefault();
      e.stopPropagation();
    });
    this.input.addEventListener('blur', () => setTimeout(() => this.close(), 150));
  }

  setStore(store: GraphStore): void {
    this.store = store;
  }

  get isOpen(): boolean {
    return !this.el.classList.contains('hidden');
  }

  open(): void {
    this.el.classList.remove('hidden');
    this.input.select();
    this.input.focus();
    this.update();
  }

  close(): void {
    this.el.classList.add('hidden');
  }

  private move(d: number): void {
    if (this.hits.length === 0) return;
    this.active = (this.active + d + this.hits.length) % this.hits.length;
    this.render();
  }

  private choose(i: number): void {
    const hit = this.hits[i];
    if (!hit) return;
    this.close();
    this.go(hit.id);
  }

  private update(): void {
    this.hits = this.store ? this.store.search(this.input.value, 40) : [];
    this.active = 0;
    this.render();
  }

  private render(): void {
    const store = this.store;
    if (!store) return;
    this.list.replaceChildren(
      ...this.hits.map((hit, i) => {
        const t = store.tensor(hit.id);
        return h(
          'li',
          { class: i === this.active ? 'on' : '', onmousedown: () => this.choose(i) },
          h('span', { class: 'mono', text: t.name }),
          h('span', { class: 'muted', text: `${t.op} [${shapeText(t.ne)}]` }),
          h('span', { class: 'why', text: hit.reason }),
        );
      }),
    );
    if (this.input.value.trim().length > 0 && this.hits.length === 0)
      this.list.replaceChildren(h('li', { class: 'muted', text: 'no match' }));
  }
}
