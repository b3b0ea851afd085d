// The page's message area: failed fetches, failed traces, server errors and unknown deep-link
// nodes appear here as clear text (never a blank or frozen screen). Messages can be dismissed.

import { h } from './dom';

export class Messages {
  readonly el = h('div', { class: 'errors', 'data-testid': 'messages', role: 'alert' });

  /** Shows an error; returns a function that removes it. */
  error(text: string): () => void {
    return this.add(text, 'error');
  }

  info(text: string): () => void {
    return this.add(text, 'error info');
  }

  private add(text: string, cls: string): () => void {
    for (const old of Array.from(this.el.children)) if (old.firstChild?.textContent === text) old.remove();
    const row = h('div', { class: cls }, h('div', { text }), h('button', { title: 'dismiss', text: '×' }));
    const remove = () => row.remove();
    row.querySelector('button')!.addEventListener('click', remove);
    this.el.append(row);
    return remove;
  }
}
