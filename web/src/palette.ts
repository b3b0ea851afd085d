// The one palette table: group → colour and display name. The scene colours blocks and the
// legend draws swatches from here, so the two can never disagree.

import type { Group } from './api';

export interface GroupStyle {
  /** sRGB hex colour. */
  color: number;
  label: string;
}

export const PALETTE: Record<Group, GroupStyle> = {
  embedding: { color: 0xf2c14e, label: 'embedding' },
  norm: { color: 0x9aa5b1, label: 'norms' },
  query: { color: 0x4e9af2, label: 'query' },
  key: { color: 0x3ccfcf, label: 'key' },
  value: { color: 0x7b6cf6, label: 'value' },
  kv_cache: { color: 0xc678dd, label: 'KV cache' },
  attention: { color: 0xf25f5c, label: 'attention' },
  residual: { color: 0xf5f5f5, label: 'residual stream' },
  mlp: { color: 0x5cc66b, label: 'MLP' },
  output: { color: 0xff9f43, label: 'output / logits' },
  input: { color: 0x8d6e63, label: 'inputs' },
};

export function cssColor(g: Group): string {
  return `#${PALETTE[g].color.toString(16).padStart(6, '0')}`;
}
