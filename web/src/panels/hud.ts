// The top bar: model name, preset selector (`GET /api/presets`, loads `GET /api/graph?preset=`),
// and the trace box (`POST /api/trace`, then polls `/api/trace/status` showing progress and
// errors) — enabled when the server has a GGUF model loaded.

import type { GraphDoc, Preset, TraceStatus } from '../api';
import { h } from './dom';

export interface HudActions {
  choosePreset(id: string | null): void;
  focus(id: number): void;
  startTrace(prompt: string, flashAttn: boolean): void;
  help(): void;
  search(): void;
}

export class Hud {
  readonly el: HTMLDivElement;
  private model = h('span', { class: 'model', 'data-testid': 'model-name' });
  private presets = h('select', { title: 'graph to show', 'data-testid': 'presets' });
  private prompt = h('input', { name: 'prompt', placeholder: 'prompt to trace', 'data-testid': 'prompt' });
  private fa = h('input', { type: 'checkbox', checked: true, title: 'flash attention' });
  private run = h('button', { type: 'submit', text: 'trace', 'data-testid': 'trace' });
  private bar = h('div');
  private status = h('span', { class: 'muted', 'data-testid': 'trace-status' });
  private bad = h('button', { class: 'bad', 'data-testid': 'nan-inf', title: 'fly to the next tensor holding NaN or Inf (shift: the previous one)' });
  private badIds: number[] = [];
  /** Index in `badIds` of the tensor last flown to (-1: none yet). */
  private badAt = -1;

  constructor(private readonly actions: HudActions) {
    const form = h(
      'form',
      {
        onsubmit: (e: Event) => {
          e.preventDefault();
          this.actions.startTrace(this.prompt.value, this.fa.checked);
        },
      },
      this.prompt,
      h('label', { title: 'flash attention' }, this.fa, ' FA'),
      this.run,
      h('div', { class: 'progress' }, this.bar),
      this.status,
    );
    // click: the next tensor with NaN/Inf in execution order; shift-click: the previous one
    this.bad.addEventListener('click', (e: MouseEvent) => {
      const n = this.badIds.length;
      if (n === 0) return;
      this.badAt = this.badAt < 0 ? 0 : (this.badAt + (e.shiftKey ? n - 1 : 1)) % n;
      this.actions.focus(this.badIds[this.badAt]);
      this.bad.textContent = `⚠ ${this.badAt + 1}/${n} with NaN/Inf`;
    });
    this.presets.addEventListener('change', () => this.actions.choosePreset(this.presets.value || null));
    this.el = h(
      'div',
      { class: 'panel hud' },
      h('span', { class: 'title', text: 'tensor-trace' }),
      this.model,
      this.presets,
      this.bad,
      h('span', { class: 'spacer' }),
      form,
      h('button', { text: 'search ⌘K', onclick: () => this.actions.search() }),
      h('button', { text: '?', title: 'keys', onclick: () => this.actions.help() }),
    );
  }

  setPresets(list: Preset[], current: string | null): void {
    this.presets.replaceChildren(
      h('option', { value: '', text: 'server graph' }),
      ...list.map((p) => h('option', { value: p.id, title: p.description, text: p.name })),
    );
    this.presets.value = current ?? '';
  }

  setPreset(id: string | null): void {
    this.presets.value = id ?? '';
  }

  setDoc(doc: GraphDoc): void {
    const m = doc.model;
    const nodes = doc.nodes.length;
    this.model.textContent = `${m.name} · ${m.source}${m.file ? ` ${m.file}` : ''} · ${nodes} nodes, ${doc.tensors.length - nodes} leaves${doc.run ? ' · traced' : ''}`;
    // the mock API (vite --mode mock) traces too, with made-up values
    // traced values with NaN or Inf: say how many, and fly to them on click
    this.badIds = doc.nodes.filter((id) => {
      const s = doc.tensors[id].stats;
      return s !== null && s.nan + s.inf > 0;
    });
    this.badAt = -1;
    this.bad.textContent = `⚠ ${this.badIds.length} with NaN/Inf`;
    this.bad.style.display = this.badIds.length > 0 ? '' : 'none';
    // the next trace uses the attention path of the graph on show unless the user says otherwise
    this.fa.checked = doc.run?.flash_attn ?? doc.tensors.some((t) => t.op === 'FLASH_ATTN_EXT');
    const canTrace = m.source === 'gguf' || m.source === 'mock';
    this.prompt.disabled = this.run.disabled = !canTrace;
    this.prompt.title = canTrace ? '' : 'start the server with a GGUF model file to trace a prompt';
  }

  setStatus(s: TraceStatus): void {
    const { done, total, stage } = s.progress;
    this.bar.style.width = total > 0 ? `${(100 * done) / total}%` : '0';
    this.status.textContent =
      s.state === 'running' ? `${stage} ${done}/${total}` : s.state === 'failed' ? 'failed' : s.state === 'done' ? 'done' : '';
    this.run.disabled = s.state === 'running';
  }
}
