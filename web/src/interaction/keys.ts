// Keyboard: `]`/`[` next/previous node in execution order, `}`/`{` follow the data down/up
// stream, `g` then a number (Enter or a pause) jumps to that layer, `r`/Home resets the view,
// Ctrl-K or `/` searches, `f` toggles free flight, WASD/QE move (Shift faster), Esc closes.

import type { CameraRig } from './camera';

export interface KeyActions {
  rig: CameraRig;
  step(dir: 1 | -1, flow: boolean): void;
  layer(n: number): void;
  reset(): void;
  search(): void;
  escape(): void;
  help(): void;
  /** True while the user types in an input (keys go there, not to the scene). */
  isTyping(): boolean;
  message(text: string): void;
}

export function bindKeys(a: KeyActions): void {
  let layerDigits: string | null = null;
  let layerTimer = 0;
  const commitLayer = () => {
    if (layerDigits !== null && layerDigits.length > 0) a.layer(Number(layerDigits));
    layerDigits = null;
  };
  window.addEventListener('keydown', (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'k') {
      e.preventDefault();
      a.search();
      return;
    }
    if (a.isTyping()) return;
    if (layerDigits !== null) {
      if (/^\d$/.test(e.key)) {
        layerDigits += e.key;
        clearTimeout(layerTimer);
        layerTimer = window.setTimeout(commitLayer, 1200);
        a.message(`go to layer ${layerDigits}…`);
        return;
      }
      clearTimeout(layerTimer);
      if (e.key === 'Enter') {
        commitLayer();
        return;
      }
      layerDigits = null;
    }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (a.rig.key(e, true)) return;
    switch (e.key) {
      case ']':
        a.step(1, false);
        break;
      case '[':
        a.step(-1, false);
        break;
      case '}':
        a.step(1, true);
        break;
      case '{':
        a.step(-1, true);
        break;
      case 'g':
        layerDigits = '';
        a.message('go to layer: type its number, then Enter');
        break;
      case 'r':
      case 'Home':
        a.reset();
        break;
      case '/':
        e.preventDefault();
        a.search();
        break;
      case 'f':
        a.rig.setMode(a.rig.mode === 'orbit' ? 'fly' : 'orbit');
        break;
      case '?':
        a.help();
        break;
      case 'Escape':
        a.escape();
        break;
      default:
        return;
    }
    e.preventDefault();
  });
  window.addEventListener('keyup', (e) => a.rig.key(e, false));
  window.addEventListener('blur', () => a.rig.releaseKeys());
}
