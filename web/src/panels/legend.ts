// The group legend: one row per group present in the graph, coloured from the palette;
// clicking the name shows/hides the group, "only" isolates it. Also lists the keyboard keys.

import type { Group } from '../api';
import { GROUPS } from '../api';
import type { GroupFilter } from '../model/state';
import { cssColor, PALETTE } from '../palette';
import { h } from './dom';

export class Legend {
  readonly el = h('div', { class: 'panel legend', 'data-testid': 'legend' });
  private present: Group[] = [];

  constructor(private readonly filter: GroupFilter) {
    filter.onChange(() => this.render());
  }

  setGroups(counts: Map<Group, number>): void {
    this.present = GROUPS.filter((g) => (counts.get(g) ?? 0) > 0);
    this.counts = counts;
    this.render();
  }

  private counts = new Map<Group, number>();

  private render(): void {
    const rows = this.present.map((g) =>
      h(
        'div',
        { class: `row${this.filter.isShown(g) ? '' : ' off'}`, 'data-group': g },
        h('input', {
          type: 'checkbox',
          checked: this.filter.isShown(g),
          title: `show/hide ${PALETTE[g].label}`,
          onchange: (e: Event) => this.filter.set(g, (e.target as HTMLInputElement).checked),
        }),
        h('span', { class: 'sw', style: `background:${cssColor(g)}` }),
        h('span', { class: 'name', text: PALETTE[g].label, onclick: () => this.filter.set(g, !this.filter.isShown(g)) }),
        h('span', { class: 'muted', text: String(this.counts.get(g) ?? 0) }),
        h('button', { class: 'iso', title: `show only ${PALETTE[g].label}`, text: 'only', onclick: () => this.filter.isolate(g) }),
      ),
    );
    this.el.replaceChildren(
      h('h3', { text: 'groups' }),
      ...rows,
      h('button', { class: 'iso', text: 'show all', onclick: () => this.filter.showAll() }),
      h(
        'div',
        { class: 'keys' },
        'solid = computes · translucent = view (moves no data) · dark slab = weight · ',
        h('b', { text: '?' }),
        ' keys',
      ),
    );
  }
}
