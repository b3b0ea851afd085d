// Token pieces as the viewer shows them (attention headers, token strip).
import { describe, expect, it } from 'vitest';
import { showPiece } from '../src/panels/run';

describe('showPiece', () => {
  it('turns BPE and SentencePiece markers into spaces and newlines', () => {
    expect(showPiece('ĠParis')).toBe(' Paris');
    expect(showPiece('▁Paris')).toBe(' Paris');
    expect(showPiece('ĊĊ')).toBe('⏎⏎');
    expect(showPiece('a\nb\tc')).toBe('a⏎b⇥c');
    expect(showPiece('The')).toBe('The');
    // a non-breaking space would look like nothing at all
    expect(showPiece('\u00a0')).toBe('⍽');
  });
});
