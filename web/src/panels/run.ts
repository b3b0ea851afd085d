// The traced run along the bottom: the prompt's tokens as a strip, the top-5 next tokens, and
// the logit lens (`GET /api/lens`: what each layer's residual stream would predict).

import type { GraphDoc, Lens } from '../api';
import { h } from './dom';

/**
 * Shows a token readably: byte-level BPE's space and newline markers (Ġ, Ċ) and SentencePiece's
 * space (▁) become a space and ⏎; real newlines and tabs become ⏎ and ⇥.
 */
export function showPiece(text: string): string {
  return text.replace(/[Ġ▁]/g, ' ').replace(/Ċ|\n/g, '⏎').replace(/\t/g, '⇥').replace(/\u00a0/g, '⍽');
}

export class RunPanel {
  readonly el = h('div', { class: 'panel run hidden', 'data-testid': 'run' });
  private lensBox = h('div', { class: 'lens' });

  constructor(private readonly loadLens: () => Promise<Lens>) {}

  setDoc(doc: GraphDoc): void {
    const run = doc.run;
    if (!run) {
      this.el.classList.add('hidden');
      return;
    }
    this.el.classList.remove('hidden');
    this.lensBox.replaceChildren();
    const tokens = h(
      'div',
      { class: 'tokens', 'data-testid': 'tokens', title: `prompt: ${run.prompt}` },
      ...run.tokens.map((t, i) =>
        h('span', { class: 'tok', title: `id ${t.id}, piece ${t.piece}` }, showPiece(t.text || t.piece || `#${t.id}`), h('sub', { text: String(i) })),
      ),
    );
    // logits that are NaN rank nothing: say so instead of listing arbitrary tokens
    const noPrediction = run.top.length > 0 && run.top.every((t) => typeof t.prob !== 'number');
    const top = h(
      'div',
      { class: 'top5', 'data-testid': 'top5' },
      run.top.length > 0 && h('span', { class: 'muted', text: 'next:' }),
      noPrediction && h('span', { class: 'bad', text: 'no prediction: the logits are NaN/Inf' }),
      ...(noPrediction ? [] : run.top.slice(0, 5)).map((t) =>
        h('span', { title: `id ${t.id}, logit ${typeof t.logit === 'number' ? t.logit.toFixed(4) : t.logit}` }, h('b', { class: 'tok', text: showPiece(t.text) }), h('span', { class: 'p', text: typeof t.prob === 'number' ? ` ${(t.prob * 100).toFixed(1)}%` : ` ${t.prob}` })),
      ),
    );
    const lensBtn = h('button', {
      text: 'logit lens',
      onclick: () => {
        if (this.lensBox.childElementCount > 0) {
          this.lensBox.replaceChildren();
          return;
        }
        this.lensBox.replaceChildren(h('span', { class: 'muted', text: 'loading…' }));
        this.loadLens().then(
          (lens) => this.showLens(lens),
          (e: unknown) => this.lensBox.replaceChildren(h('span', { class: 'muted', text: e instanceof Error ? e.message : String(e) })),
        );
      },
    });
    this.el.replaceChildren(
      h('span', {
        class: 'muted',
        text: `${run.tokens.length} tokens${run.flash_attn ? ' · flash attn' : ''}${run.compute_ms > 0 ? ` · ${run.compute_ms.toFixed(0)} ms` : ''}`,
      }),
      tokens,
      top,
      lensBtn,
      this.lensBox,
    );
  }

  private showLens(lens: Lens): void {
    this.lensBox.replaceChildren(
      h(
        'table',
        {},
        h(
          'tbody',
          {},
          ...lens.layers.map((l) =>
            l.top.length > 0 && l.top.every((t) => typeof t.prob !== 'number')
              ? h('tr', {}, h('td', { class: 'muted', text: `L${l.layer}` }), h('td', { class: 'bad', colspan: 3, text: 'no prediction: the logits are NaN/Inf' }))
              : h(
                  'tr',
                  {},
                  h('td', { class: 'muted', text: `L${l.layer}` }),
                  // each token in a box, so a space or a newline token is visible
                  ...l.top.slice(0, 3).map((t) =>
                    h('td', { title: `id ${t.id}` }, h('span', { class: 'tok', text: showPiece(t.text) }), ` ${typeof t.prob === 'number' ? `${(t.prob * 100).toFixed(0)}%` : t.prob}`),
                  ),
                ),
          ),
        ),
      ),
    );
  }
}
