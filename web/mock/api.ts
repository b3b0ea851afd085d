// A mock of the tensor-trace HTTP API (docs/API.md) as a Vite plugin, for developing
// the viewer without the Rust server: `npx vite --mode mock` / `npx vite preview --mode mock`
// (`TT_MOCK_GRAPH=test/fixtures/smollm2-fa-off.json.gz` serves a real imported graph).
// Graphs come from mock/llama-graph.ts; tensor values, attention and code are synthetic and the
// graph says `model.source = "mock"`. The e2e suite runs against the real binary, not this.

import type { Connect, Plugin } from 'vite';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Attention, GraphDoc, TraceStatus } from '../src/api';
import { LLAMA_405B, LLAMA_8B, llamaGraph, SMOLLM2 } from './llama-graph.ts';

const PRESETS = [
  { id: 'llama-3.1-8b', name: 'Llama 3.1 8B', shape: LLAMA_8B },
  { id: 'llama-3.1-405b', name: 'Llama 3.1 405B', shape: LLAMA_405B },
  { id: 'smollm2-135m', name: 'SmolLM2 135M', shape: SMOLLM2 },
];

const FAKE_SOURCE = Array.from({ length: 400 }, (_, i) => `// mock source line ${i + 1}`).join('\n');

function json(res: ServerResponse, status: number, body: unknown): void {
  res.statusCode = status;
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(body));
}

function mockApi(): Connect.NextHandleFunction {
  const cache = new Map<string, GraphDoc>();
  const presetGraph = (id: string): GraphDoc | undefined => {
    const p = PRESETS.find((q) => q.id === id);
    if (!p) return undefined;
    if (!cache.has(id)) cache.set(id, llamaGraph(p.shape, 5, true));
    return cache.get(id);
  };
  // TT_MOCK_GRAPH=file.json[.gz]: serve that graph document (e.g. a test fixture) as the current one
  const file = process.env.TT_MOCK_GRAPH;
  let current: GraphDoc = file
    ? (JSON.parse((file.endsWith('.gz') ? gunzipSync(readFileSync(file)) : readFileSync(file)).toString('utf8')) as GraphDoc)
    : presetGraph('llama-3.1-8b')!;
  let status: TraceStatus = { state: 'idle', job: 0, progress: { done: 0, total: 0, stage: '' } };

  return (req: IncomingMessage, res: ServerResponse, next: () => void) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    if (!path.startsWith('/api/')) return next();
    const idMatch = /^\/api\/(tensor|attention|code)\/(\d+)$/.exec(path);
    if (path === '/api/graph') {
      const preset = url.searchParams.get('preset');
      if (preset === null) return json(res, 200, current);
      const g = presetGraph(preset);
      return g ? json(res, 200, g) : json(res, 404, { error: `unknown preset "${preset}"` });
    }
    if (path === '/api/presets')
      return json(
        res,
        200,
        PRESETS.map((p) => ({ id: p.id, name: p.name, description: `${p.shape.n_layer} layers (mock)` })),
      );
    if (idMatch) {
      const id = Number(idMatch[2]);
      const t = current.tensors[id];
      if (!t) return json(res, 404, { error: `no tensor ${id}` });
      if (idMatch[1] === 'code')
        return json(res, 200, {
          ours: { file: 'crates/models/src/llama.rs', line: t.location?.line ?? 1, text: FAKE_SOURCE },
          kernel: { file: 'crates/core/src/kernels/mock.rs', line: 10, fn_name: `forward_${t.op.toLowerCase()}`, text: FAKE_SOURCE },
          llama_cpp: { file: 'src/models/llama.cpp', function: 'llm_build_llama', line: 50, note: 'mock reference' },
        });
      if (!t.stats) return json(res, 404, { error: `tensor ${t.name} has no captured values` });
      if (idMatch[1] === 'tensor') {
        const counts = Array.from({ length: 64 }, (_, i) => Math.round(1000 * Math.exp(-(((i - 32) / 10) ** 2))));
        const rows = Math.min(64, t.ne[1]);
        const cols = Math.min(128, t.ne[0]);
        const values = Array.from({ length: rows * cols }, (_, i) => Math.sin(i * 0.37) * Number(t.stats!.std));
        return json(res, 200, {
          id,
          name: t.name,
          ne: t.ne,
          stats: t.stats,
          histogram: { min: t.stats.min, max: t.stats.max, counts },
          heatmap: { rows, cols, values, row_label: 'ne1', col_label: 'ne0' },
          sample: values.slice(0, 16),
        });
      }
      if (!t.name.startsWith('kq_soft_max-')) return json(res, 404, { error: `${t.name} is not an attention softmax` });
      const nHead = t.ne[2];
      const nTok = t.ne[1];
      const nKv = current.run?.tokens.length ?? nTok;
      const heads = Array.from({ length: nHead }, (_, h) => {
        const v: number[] = [];
        for (let q = 0; q < nTok; q++) {
          const row = Array.from({ length: nKv }, (_, k) => (k <= q ? Math.exp(-Math.abs(q - k - (h % 3))) : 0));
          const s = row.reduce((a, b) => a + b, 0);
          v.push(...row.map((x) => x / s));
        }
        return v;
      });
      const a: Attention = {
        layer: t.layer ?? 0,
        n_head: nHead,
        n_head_kv: Number(current.model.hparams['attention.head_count_kv'] ?? nHead),
        n_tokens: nTok,
        n_kv_used: nKv,
        tokens: current.run?.tokens.map((x) => x.text) ?? [],
        heads,
      };
      return json(res, 200, a);
    }
    if (path === '/api/source') return json(res, 404, { error: 'not an embedded source file' });
    if (path === '/api/trace/status') return json(res, 200, status);
    if (path === '/api/lens') {
      if (!current.run) return json(res, 404, { error: 'no trace: run a prompt first' });
      return json(res, 200, {
        layers: Array.from({ length: 30 }, (_, l) => ({ layer: l, top: current.run!.top.slice(0, 3) })),
      });
    }
    if (path === '/api/trace' && req.method === 'POST') {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        let prompt = '';
        let fa = true;
        try {
          const b = JSON.parse(body) as { prompt?: string; flash_attn?: boolean };
          prompt = b.prompt ?? '';
          fa = b.flash_attn ?? true;
        } catch {
          return json(res, 400, { error: 'body is not JSON' });
        }
        if (prompt.trim().length === 0) return json(res, 400, { error: 'the prompt is empty' });
        if (status.state === 'running') return json(res, 409, { error: 'a trace is already running' });
        const total = 30;
        status = { state: 'running', job: status.job + 1, progress: { done: 0, total, stage: 'computing' } };
        const timer = setInterval(() => {
          status.progress.done += 3;
          if (status.progress.done >= total) {
            clearInterval(timer);
            current = llamaGraph(SMOLLM2, 5, fa, true);
            status = { state: 'done', job: status.job, progress: { done: total, total, stage: 'done' } };
          }
        }, 100);
        json(res, 200, { job: 1 });
      });
      return;
    }
    return json(res, 404, { error: `no such endpoint ${path}` });
  };
}

export function mockApiPlugin(): Plugin {
  return {
    name: 'tensor-trace-mock-api',
    configureServer(server) {
      server.middlewares.use(mockApi());
    },
    configurePreviewServer(server) {
      server.middlewares.use(mockApi());
    },
  };
}
