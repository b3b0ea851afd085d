// The one contract with the Rust side: types mirroring `tt_core::trace::GraphDoc`
// (crates/core/src/trace.rs) and the HTTP API of docs/API.md, field for field, plus
// the fetch helpers. Nothing here knows about three.js or the DOM; every helper throws an
// `ApiError` whose message is the server's `{error}` text, so the page can show it as is.

/** `GraphDoc.format`. */
export const FORMAT_NAME = 'tensor-trace-graph';
/** The `GraphDoc.version` this viewer reads. */
export const FORMAT_VERSION = 1;

/** Semantic group of a tensor (`tt_core::graph::Group`, snake_case). */
export type Group =
  | 'embedding'
  | 'query'
  | 'key'
  | 'value'
  | 'attention'
  | 'kv_cache'
  | 'mlp'
  | 'residual'
  | 'norm'
  | 'output'
  | 'input';

/** Every group, in the order the legend lists them. */
export const GROUPS: readonly Group[] = [
  'embedding',
  'norm',
  'query',
  'key',
  'value',
  'kv_cache',
  'attention',
  'residual',
  'mlp',
  'output',
  'input',
];

/** `TensorDoc.kind`. */
export type TensorKind = 'node' | 'weight' | 'input' | 'cache';

/** ggml shape, ne[0] innermost (contiguous). */
export type Ne = [number, number, number, number];

export interface Location {
  file: string;
  line: number;
  col: number;
}

/** JSON has no NaN/Inf: the server writes them as these strings. */
export type PrintedNum = number | 'nan' | 'inf' | '-inf';

/**
 * Statistics over every element, NaN/Inf counted but excluded from min/max/mean/std (which are
 * "nan" when no element is finite). JSON has no NaN: non-finite numbers come as strings.
 */
export interface Stats {
  n: number;
  min: PrintedNum;
  max: PrintedNum;
  mean: PrintedNum;
  std: PrintedNum;
  /** Sum of all elements, as llama.cpp's eval callback prints it. */
  sum: PrintedNum;
  nan: number;
  inf: number;
}


/**
 * What llama.cpp's eval callback printed for a tensor (imported logs only): values at element
 * coordinates (first/last 3 along ne0..ne2), rounded to 4 decimals, and the printed sum.
 */
export interface Printed {
  coords: [number, number, number, number][];
  values: PrintedNum[];
  sum: PrintedNum | null;
}

export interface ValuesRef {
  key: string;
  ne: Ne;
  complete: boolean;
}

/** One tensor: a leaf (weight, input, cache) or a computed node. */
export interface TensorDoc {
  id: number;
  name: string;
  /** ggml's printed op name (`MUL_MAT`, `SWIGLU`, `NONE` for leaves). */
  op: string;
  params: Record<string, unknown> | null;
  kind: TensorKind;
  /** ggml type name (`f32`, `q4_K`, …). */
  type: string;
  ne: Ne;
  /** Byte strides. */
  nb: Ne;
  /** Source ids by position (`null` where ggml has NULL). */
  src: (number | null)[];
  view_src: number | null;
  view_offs: number;
  layer: number | null;
  group: Group;
  location: Location | null;
  exec_index: number | null;
  flops: number;
  bytes_read: number;
  bytes_written: number;
  stats: Stats | null;
  values: ValuesRef | null;
  /** Only in graphs imported from a llama.cpp log; absent otherwise. */
  printed?: Printed;
}

export interface ModelInfo {
  name: string;
  architecture: string;
  /** `"gguf"`, `"preset"` or `"llama.cpp-log"`. */
  source: string;
  file: string | null;
  hparams: Record<string, unknown>;
  n_params: number;
  n_bytes: number;
}

export interface TokenInfo {
  id: number;
  piece: string;
  text: string;
}

export interface TopToken {
  id: number;
  piece: string;
  text: string;
  /** "nan"/"inf" when the logits were not finite (a run that overflowed). */
  logit: PrintedNum;
  prob: PrintedNum;
}

export interface RunInfo {
  prompt: string;
  tokens: TokenInfo[];
  flash_attn: boolean;
  n_ctx: number;
  n_kv: number;
  n_threads: number;
  top: TopToken[];
  compute_ms: number;
}

export interface GraphDoc {
  format: string;
  version: number;
  model: ModelInfo;
  run: RunInfo | null;
  /** Every tensor; `tensors[i].id == i`. */
  tensors: TensorDoc[];
  /** Node ids in execution order. */
  nodes: number[];
}

export interface Preset {
  id: string;
  name: string;
  description: string;
}

/** `GET /api/tensor/{id}`. */
export interface TensorValues {
  id: number;
  name: string;
  ne: Ne;
  stats: Stats;
  /** Over the finite values; min/max null when there is none. */
  histogram: { min: number | null; max: number | null; counts: number[] };
  heatmap: {
    rows: number;
    cols: number;
    /** rows × cols block means, row-major; null where a mean is NaN/Inf. */
    values: (number | null)[];
    row_label: string;
    col_label: string;
  };
  /** null where the value is NaN or ±Inf. */
  sample: (number | null)[];
}

/** `GET /api/attention/{id}` for a `kq_soft_max-<il>` node. */
export interface Attention {
  layer: number;
  n_head: number;
  n_head_kv: number;
  n_tokens: number;
  n_kv_used: number;
  tokens: string[];
  /** Per query head: n_tokens × n_kv_used probabilities, row-major (row = query token). */
  heads: (number | null)[][];
}

/** `GET /api/code/{id}`. */
export interface CodeRefs {
  /** null for a graph that came from elsewhere (an imported llama.cpp log). */
  ours: { file: string; line: number; text: string } | null;
  kernel: { file: string; line: number; fn_name: string; text: string } | null;
  llama_cpp: { file: string; function: string; line: number; note: string } | null;
}

export type TraceState = 'idle' | 'running' | 'done' | 'failed';

/** `GET /api/trace/status`. */
export interface TraceStatus {
  state: TraceState;
  /** Number of the last job started (0: none yet). */
  job: number;
  progress: { done: number; total: number; stage: string };
  error?: string;
}

/** `GET /api/lens`. */
export interface Lens {
  layers: { layer: number; top: TopToken[] }[];
}

/** One matched node pair of `GET /api/diff` (`tt_core::compare::NodeDiff`). */
export interface DiffNode {
  name: string;
  occurrence: number;
  op_a: string;
  op_b: string;
  id_a: number;
  id_b: number;
  exec_a: number;
  exec_b: number;
  layer: number | null;
  ne_a: Ne;
  ne_b: Ne;
  /** What was compared: every element, llama.cpp's printed ones, sums only, or nothing. */
  mode: 'full' | 'printed' | 'sum_only' | 'shape_mismatch' | 'none';
  n: number;
  /** null when nothing finite was compared (JSON has no NaN). */
  max_abs: number | null;
  max_rel: number | null;
  scale: number | null;
  cosine: number | null;
  nonfinite_mismatch: number;
  sum_a: number | null;
  sum_b: number | null;
  worst_at: [number, number, number, number] | null;
  differs: boolean;
  diverged: boolean;
}

export interface DiffUnmatched {
  id: number;
  name: string;
  op: string;
  exec: number;
  layer: number | null;
}

/** `tt_core::compare::Report`, as `tensor-trace compare --json` writes it. */
export interface DiffReport {
  a: string;
  b: string;
  tolerance: { rel: number };
  /** Matched pairs in A's execution order. */
  nodes: DiffNode[];
  /** Indexes into `nodes`. */
  first_difference: number | null;
  first_divergence: number | null;
  unmatched_a: DiffUnmatched[];
  unmatched_b: DiffUnmatched[];
}

/** `GET /api/diff`: the shown run (A) against the server's `--compare B`. */
export interface Diff {
  /** B as given on the server's command line. */
  b_file: string;
  report: DiffReport;
}

/** A failed API call: HTTP status (0 when the server could not be reached) and a clear message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

async function request<T>(path: string, init?: RequestInit): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, `cannot reach the tensor-trace server (${path}): ${String(e)}`);
  }
  const text = await res.text();
  let body: unknown = undefined;
  try {
    body = text.length > 0 ? JSON.parse(text) : undefined;
  } catch {
    if (res.ok) throw new ApiError(res.status, `${path}: the server sent invalid JSON`);
  }
  if (!res.ok) {
    const msg =
      body && typeof body === 'object' && 'error' in body
        ? String((body as { error: unknown }).error)
        : `${res.status} ${res.statusText}`;
    throw new ApiError(res.status, `${path}: ${msg}`);
  }
  return body as T;
}

/** Checks the document is a graph this viewer reads; throws a clear error otherwise. */
export function checkGraphDoc(doc: unknown): GraphDoc {
  if (!doc || typeof doc !== 'object') throw new ApiError(0, 'the graph is not a JSON object');
  const d = doc as Partial<GraphDoc>;
  if (d.format !== FORMAT_NAME)
    throw new ApiError(0, `expected a "${FORMAT_NAME}" document, found format ${JSON.stringify(d.format)}`);
  if (d.version !== FORMAT_VERSION)
    throw new ApiError(0, `expected graph format version ${FORMAT_VERSION}, found ${String(d.version)}`);
  if (!Array.isArray(d.tensors) || !Array.isArray(d.nodes))
    throw new ApiError(0, 'the graph has no tensors/nodes arrays');
  d.tensors.forEach((t, i) => {
    if (t.id !== i) throw new ApiError(0, `tensors[${i}] has id ${t.id}; expected ${i}`);
  });
  return d as GraphDoc;
}

export const api = {
  graph: async (preset?: string): Promise<GraphDoc> =>
    checkGraphDoc(
      await request<unknown>(preset ? `/api/graph?preset=${encodeURIComponent(preset)}` : '/api/graph'),
    ),
  presets: (): Promise<Preset[]> => request('/api/presets'),
  tensor: (id: number): Promise<TensorValues> => request(`/api/tensor/${id}`),
  attention: (id: number): Promise<Attention> => request(`/api/attention/${id}`),
  code: (id: number): Promise<CodeRefs> => request(`/api/code/${id}`),
  startTrace: (prompt: string, flashAttn: boolean): Promise<{ job: number }> =>
    request('/api/trace', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt, flash_attn: flashAttn }),
    }),
  traceStatus: (): Promise<TraceStatus> => request('/api/trace/status'),
  lens: (): Promise<Lens> => request('/api/lens'),
  diff: (): Promise<Diff> => request('/api/diff'),
};
