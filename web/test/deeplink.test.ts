// Deep links: parse what the page writes, and report what it cannot read instead of throwing.
import { describe, expect, it } from 'vitest';
import { formatDeepLink, parseDeepLink } from '../src/model/deeplink';

describe('deep links', () => {
  it('round-trips node, camera and preset', () => {
    const hash = formatDeepLink({
      preset: 'llama-3.1-8b',
      node: 'Qcur-0 (view) (permuted)',
      camera: { position: [1.234, -2, 3], target: [0, 0, -10.5] },
    });
    const link = parseDeepLink(hash);
    expect(link.problems).toEqual([]);
    expect(link.node).toBe('Qcur-0 (view) (permuted)');
    expect(link.preset).toBe('llama-3.1-8b');
    expect(link.camera).toEqual({ position: [1.23, -2, 3], target: [0, 0, -10.5] });
  });

  it('reads the contract form #node=<name or id>&cam=…', () => {
    const link = parseDeepLink('#node=42&cam=1,2,3,4,5,6');
    expect(link.node).toBe('42');
    expect(link.camera).toEqual({ position: [1, 2, 3], target: [4, 5, 6] });
  });

  it('reports a bad camera and unknown fields without throwing', () => {
    const link = parseDeepLink('#node=x&cam=1,2,nope&zoom=3');
    expect(link.node).toBe('x');
    expect(link.camera).toBeUndefined();
    expect(link.problems.length).toBe(2);
    expect(link.problems[0]).toContain('1,2,nope');
    expect(link.problems[1]).toContain('zoom');
  });

  it('is empty for an empty hash', () => {
    expect(parseDeepLink('')).toEqual({ problems: [] });
    expect(parseDeepLink('#')).toEqual({ problems: [] });
    expect(formatDeepLink({})).toBe('');
  });
});
