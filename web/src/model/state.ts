// Viewer state that is not the graph itself: which groups are shown, which tensor is selected
// or hovered. Listeners are told after each change; the scene and the panels subscribe. No
// three.js, no DOM.

import { GROUPS, type Group } from '../api';
import type { GraphStore } from './graph';

export type Listener = () => void;

/** Which groups are visible: show/hide one, or isolate one (show it alone). */
export class GroupFilter {
  private hidden = new Set<Group>();
  private listeners: Listener[] = [];

  onChange(l: Listener): void {
    this.listeners.push(l);
  }

  private emit(): void {
    for (const l of this.listeners) l();
  }

  isShown(g: Group): boolean {
    return !this.hidden.has(g);
  }

  set(g: Group, shown: boolean): void {
    if (shown === this.isShown(g)) return;
    if (shown) this.hidden.delete(g);
    else this.hidden.add(g);
    this.emit();
  }

  /** Show only `g`; isolating the group that is already alone shows everything again. */
  isolate(g: Group): void {
    const alone = this.isShown(g) && GROUPS.every((o) => o === g || !this.isShown(o));
    this.hidden = alone ? new Set() : new Set(GROUPS.filter((o) => o !== g));
    this.emit();
  }

  showAll(): void {
    this.hidden.clear();
    this.emit();
  }

  hiddenGroups(): Group[] {
    return GROUPS.filter((g) => this.hidden.has(g));
  }

  /** Whether tensor `id` of `store` is drawn. */
  visible(store: GraphStore, id: number): boolean {
    return !this.hidden.has(store.tensor(id).group);
  }
}

/** The selected and hovered tensor ids. */
export class Selection {
  selected: number | null = null;
  hovered: number | null = null;
  private listeners: Listener[] = [];

  onChange(l: Listener): void {
    this.listeners.push(l);
  }

  select(id: number | null): void {
    if (id === this.selected) return;
    this.selected = id;
    for (const l of this.listeners) l();
  }

  hover(id: number | null): void {
    if (id === this.hovered) return;
    this.hovered = id;
    for (const l of this.listeners) l();
  }
}
