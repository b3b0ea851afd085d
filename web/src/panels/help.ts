// The keys overlay (`?`).

import { h } from './dom';

const KEYS: [string, string][] = [
  ['drag / wheel', 'orbit / zoom (right-drag pans)'],
  ['f', 'toggle free flight (drag to look)'],
  ['W A S D Q E', 'move; Shift = faster'],
  ['click', 'select a block, fly to it, open its code'],
  ['] / [', 'next / previous node in execution order'],
  ['} / {', 'follow the data downstream / upstream'],
  ['g 12 Enter', 'go to layer 12'],
  ['r / Home', 'reset the view'],
  ['Ctrl-K or /', 'search by name, op or layer'],
  ['Esc', 'close / deselect'],
];

export function helpPanel(): HTMLDivElement {
  return h(
    'div',
    { class: 'panel help hidden', 'data-testid': 'help' },
    h('h3', { text: 'keys' }),
    h('table', {}, h('tbody', {}, ...KEYS.map(([k, v]) => h('tr', {}, h('td', { class: 'mono', text: k }), h('td', { text: v }))))),
  );
}
