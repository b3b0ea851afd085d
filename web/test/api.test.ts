// The graph document check: a document of another format or version is refused with a message
// that says what was expected and what was found.
import { describe, expect, it } from 'vitest';
import { checkGraphDoc } from '../src/api';
import { llamaGraph, SMOLLM2 } from '../mock/llama-graph';

describe('checkGraphDoc', () => {
  const good = llamaGraph({ ...SMOLLM2, n_layer: 1 }, 2, true);

  it('accepts a version-1 tensor-trace graph', () => {
    expect(checkGraphDoc(good)).toBe(good);
  });

  it('refuses other formats, versions and broken id order clearly', () => {
    expect(() => checkGraphDoc({ ...good, format: 'onnx' })).toThrow(/expected a "tensor-trace-graph" document, found format "onnx"/);
    expect(() => checkGraphDoc({ ...good, version: 2 })).toThrow(/expected graph format version 1, found 2/);
    expect(() => checkGraphDoc(null)).toThrow(/not a JSON object/);
    const swapped = { ...good, tensors: [good.tensors[1], good.tensors[0], ...good.tensors.slice(2)] };
    expect(() => checkGraphDoc(swapped)).toThrow(/tensors\[0\] has id 1; expected 0/);
  });
});
