// Attention pattern of a `kq_soft_max-<il>` node (`GET /api/attention/{id}`): one heatmap per
// query head (rows = query tokens, columns = cache cells in use), grouped by the KV head that
// serves them under grouped-query attention (query head h reads KV head h / (n_head / n_head_kv)).

import type { Attention } from '../api';
import { h, sequential } from './dom';
import { showPiece } from './run';

export function renderAttention(a: Attention): HTMLElement {
  const group = Math.max(1, Math.floor(a.n_head / Math.max(1, a.n_head_kv)));
  const figs: HTMLElement[] = [];
  let bad = 0;
  a.heads.forEach((values, head) => {
    const rows = a.n_tokens;
    const cols = a.n_kv_used;
    const c = h('canvas', { width: cols, height: rows });
    const ctx = c.getContext('2d');
    if (ctx && rows * cols > 0) {
      const img = ctx.createImageData(cols, rows);
      for (let i = 0; i < rows * cols; i++) {
        const v = values[i];
        // NaN/Inf (null in JSON): bright green, never the colour of a zero weight
        const finite = typeof v === 'number' && Number.isFinite(v);
        if (!finite) bad++;
        img.data.set([...(finite ? sequential(v) : [0, 255, 0]), 255], 4 * i);
      }
      ctx.putImageData(img, 0, 0);
    }
    c.style.aspectRatio = `${cols} / ${rows}`;
    figs.push(
      h(
        'figure',
        { title: `query head ${head} reads KV head ${Math.floor(head / group)}` },
        c,
        h('figcaption', { text: `q${head} ← kv${Math.floor(head / group)}` }),
      ),
    );
  });
  return h(
    'div',
    { class: 'attn', 'data-testid': 'attention' },
    h('h3', { text: `attention, layer ${a.layer}` }),
    h(
      'div',
      { class: 'kv' },
      `${a.n_head} query heads share ${a.n_head_kv} KV heads (${group} each) · rows: ${a.n_tokens} query tokens · columns: ${a.n_kv_used} cache cells · `,
      a.tokens.map(showPiece).join(' | '),
    ),
    bad > 0 && h('div', { class: 'bad', text: `⚠ green: ${bad} attention weights are NaN/Inf` }),
    h('div', { class: 'heads' }, ...figs),
  );
}
