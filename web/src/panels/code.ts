// The code panel: read-only CodeMirror (Rust or C++ highlighting, line numbers) showing, for the
// selected node, the exact source line that built it, the kernel that computes its op, and where
// llama.cpp does the same (from `GET /api/code/{id}`). CodeMirror is loaded on first use so the
// first frame does not wait for it.

import type { CodeRefs } from '../api';
import { h } from './dom';

type Tab = 'ours' | 'kernel' | 'llama_cpp';

interface Editor {
  show(text: string, line: number, lang: 'rust' | 'cpp'): void;
}


export class CodePanel {
  readonly el: HTMLDivElement;
  private tabs: HTMLDivElement;
  private where: HTMLDivElement;
  private body: HTMLDivElement;
  /** Created once, on first use (the import is asynchronous: keep the promise, not the editor). */
  private editor: Promise<Editor> | null = null;
  private refs: CodeRefs | null = null;
  private tab: Tab = 'ours';

  constructor() {
    this.tabs = h('div', { class: 'tabs' });
    this.where = h('div', { class: 'where mono', 'data-testid': 'code-where' });
    this.body = h('div', { class: 'code', 'data-testid': 'code' });
    this.el = h('div', { class: 'code-panel' }, this.tabs, this.where, this.body);
  }

  loading(): void {
    this.refs = null;
    this.tabs.replaceChildren();
    this.where.textContent = 'loading code…';
  }

  error(msg: string): void {
    this.refs = null;
    this.tabs.replaceChildren();
    this.where.textContent = msg;
    this.body.replaceChildren();
    this.editor = null;
  }

  async show(refs: CodeRefs): Promise<void> {
    this.refs = refs;
    // a graph read from a llama.cpp log was not built by our code: start at what there is
    this.tab = refs.ours ? 'ours' : refs.kernel ? 'kernel' : refs.llama_cpp ? 'llama_cpp' : 'ours';
    await this.render();
  }

  private async render(): Promise<void> {
    const refs = this.refs;
    if (!refs) return;
    const tabs: [Tab, string, boolean][] = [
      ['ours', 'built here', refs.ours !== null],
      ['kernel', refs.kernel ? `kernel ${refs.kernel.fn_name}` : 'kernel', refs.kernel !== null],
      ['llama_cpp', 'llama.cpp', refs.llama_cpp !== null],
    ];
    this.tabs.replaceChildren(
      ...tabs.map(([id, label, enabled]) =>
        h('button', {
          class: id === this.tab ? 'on' : '',
          disabled: !enabled,
          'data-tab': id,
          text: label,
          onclick: () => {
            this.tab = id;
            void this.render();
          },
        }),
      ),
    );
    if (this.tab === 'llama_cpp') {
      const r = refs.llama_cpp!;
      this.where.textContent = `${r.file}:${r.line} · ${r.function}`;
      this.editor = null;
      this.body.replaceChildren(
        h('div', { class: 'note' }, h('div', { class: 'mono', text: `llama.cpp ${r.file}, line ${r.line}, in ${r.function}()` }), h('p', { text: r.note })),
      );
      return;
    }
    const src = this.tab === 'ours' ? refs.ours : refs.kernel;
    if (!src) {
      this.where.textContent = 'this graph was read from a llama.cpp log: no line of ours built it, and its op has no kernel here';
      this.editor = null;
      this.body.replaceChildren();
      return;
    }
    this.where.textContent = `${src.file}:${src.line}${'fn_name' in src ? ` · ${src.fn_name}` : ''}`;
    if (!this.editor) {
      this.body.replaceChildren();
      const body = this.body;
      this.editor = import('./editor').then((mod) => new mod.ReadOnlyEditor(body));
    }
    const editor = await this.editor;
    if (this.refs !== refs) return;
    editor.show(src.text, src.line, src.file.endsWith('.rs') ? 'rust' : 'cpp');
  }
}
