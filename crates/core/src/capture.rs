//! Capture: what the executor shows an observer after each node, and the standard observer that
//! keeps statistics and values for the viewer and the trace file.
//!
//! This is ggml's eval callback (`ggml_backend_sched_eval_callback`): the executor first asks
//! [`Observer::wants`] ("do you want this node?"), computes the node, then calls
//! [`Observer::observe`] with a [`TensorView`] of its data. Kernels never see an observer, so they
//! stay pure.
//!
//! [`Capture`] is the standard observer. For every node it computes [`Stats`] over the whole
//! logical tensor — the `sum` exactly as llama.cpp's `common_debug_print_tensor` computes it: an
//! f32 accumulator, elements in ggml order (ne0 fastest) through the strides — and keeps the
//! values as f32 while a memory budget lasts; past it, the stats and the first rows. The stats
//! of values kept whole are computed from the copy at the end of the run, all nodes in
//! parallel ([`Observer::end_of_run`]), so the node loop only copies. A view that
//! only re-labels bytes already kept (a RESHAPE, or a VIEW of a whole contiguous tensor) shares
//! the earlier copy instead of a second one: same bytes, same order, only `ne` differs, and the
//! executor tells when the bytes were last written so a later write cannot be missed.
//!
//! A KV cache is allocated only for the cells the graph uses ([`crate::exec`]); a view of the
//! whole cache (the SET_ROWS node, `[192, 8192]` for SmolLM2) still reports statistics over all
//! 8192 rows, the unallocated ones counting as the zeros they are in llama.cpp; its stored
//! values are the allocated part only (`complete: false`).

use std::collections::HashMap;

use half::slice::HalfFloatSliceExt;
use half::{bf16, f16};
use rayon::prelude::*;

use crate::dtype::GgmlType;
use crate::graph::{Graph, TensorId};
use crate::trace::{doc_ids, GraphDoc, Stats, ValuesRef};

/// ggml's eval callback, split in its two questions.
pub trait Observer {
    /// Asked before `node` runs: should its data be shown to [`Observer::observe`]?
    fn wants(&mut self, graph: &Graph, node: TensorId) -> bool;
    /// Called right after `node` has been computed (views: when their turn comes).
    fn observe(&mut self, graph: &Graph, node: TensorId, data: &TensorView<'_>);
    /// Called once after the last node (work an observer deferred can be finished here).
    fn end_of_run(&mut self) {}
}

/// An observer that wants nothing: run without capture.
pub struct NoCapture;

impl Observer for NoCapture {
    fn wants(&mut self, _: &Graph, _: TensorId) -> bool {
        false
    }
    fn observe(&mut self, _: &Graph, _: TensorId, _: &TensorView<'_>) {}
}

/// A node's data as the executor holds it, readable in ggml element order.
#[derive(Clone, Copy, Debug)]
pub struct TensorView<'a> {
    pub ty: GgmlType,
    /// Shape, ggml order.
    pub ne: [usize; 4],
    pub(crate) layout: Layout<'a>,
    /// Which bytes these are: the root buffer, the offset in it and how many times that buffer
    /// had been written when this view was taken. Equal origins and lengths mean equal data.
    pub(crate) origin: Origin,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Origin {
    pub root: TensorId,
    pub offset: usize,
    pub version: u64,
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum Layout<'a> {
    /// Elements at `data[i0·nb0 + i1·nb1 + i2·nb2 + i3·nb3]`.
    Strided { data: &'a [u8], nb: [usize; 4] },
    /// A contiguous span of a partially allocated cache: logical bytes `[start, start + len)`, of
    /// which, in every `period`, only the first `window` bytes exist (in `data`, back to back);
    /// the rest are zeros.
    Windowed {
        data: &'a [u8],
        start: usize,
        len: usize,
        period: usize,
        window: usize,
    },
}

/// A run of consecutive elements in ggml order: values, or zeros that were never allocated.
pub enum Run<'b> {
    Values(&'b [f32]),
    Zeros(u64),
}

impl TensorView<'_> {
    pub fn n_elements(&self) -> u64 {
        self.ne.iter().map(|&n| n as u64).product()
    }

    /// True when the view holds every element in memory (not a partially allocated cache).
    pub fn is_complete(&self) -> bool {
        matches!(self.layout, Layout::Strided { .. })
    }

    /// Every element in ggml order (ne0 fastest), as f32 runs (integers widened like llama.cpp's
    /// printer). Quantized tensors yield nothing.
    pub fn for_each_run(&self, mut f: impl FnMut(Run<'_>)) {
        if self.ty.is_quantized() {
            return;
        }
        let esize = self.ty.type_size();
        let mut scratch = vec![0.0f32; self.ne[0]];
        match self.layout {
            Layout::Strided { data, nb } => {
                for i3 in 0..self.ne[3] {
                    for i2 in 0..self.ne[2] {
                        for i1 in 0..self.ne[1] {
                            let base = i1 * nb[1] + i2 * nb[2] + i3 * nb[3];
                            let row = &data[base..];
                            if nb[0] == esize && self.ty == GgmlType::F32 {
                                f(Run::Values(bytemuck::cast_slice(&row[..self.ne[0] * 4])));
                            } else if nb[0] == esize && self.ty == GgmlType::F16 {
                                widen_f16(&row[..self.ne[0] * 2], &mut scratch);
                                f(Run::Values(&scratch));
                            } else {
                                for (i0, s) in scratch.iter_mut().enumerate() {
                                    let o = base + i0 * nb[0];
                                    *s = to_f32(self.ty, &data[o..o + esize]);
                                }
                                f(Run::Values(&scratch));
                            }
                        }
                    }
                }
            }
            Layout::Windowed {
                data,
                start,
                len,
                period,
                window,
            } => {
                // walk the logical span period by period: the kept head, then the zeros
                let mut o = start;
                let end = start + len;
                let mut chunk = Vec::new();
                while o < end {
                    let within = o % period;
                    let stop = (o - within + period).min(end);
                    if within < window {
                        let kept_end = (o - within + window).min(stop);
                        let p = o / period * window + within;
                        let bytes = &data[p..p + (kept_end - o)];
                        chunk.resize(bytes.len() / esize, 0.0);
                        if self.ty == GgmlType::F16 {
                            widen_f16(bytes, &mut chunk);
                        } else {
                            for (c, e) in chunk.iter_mut().zip(bytes.chunks_exact(esize)) {
                                *c = to_f32(self.ty, e);
                            }
                        }
                        f(Run::Values(&chunk));
                        if stop > kept_end {
                            f(Run::Zeros(((stop - kept_end) / esize) as u64));
                        }
                    } else {
                        f(Run::Zeros(((stop - o) / esize) as u64));
                    }
                    o = stop;
                }
            }
        }
    }

    /// Element `i` (ggml order) as f32; zero where a partially allocated cache has no memory.
    pub fn get_f32(&self, i: [usize; 4]) -> f32 {
        let esize = self.ty.type_size();
        match self.layout {
            Layout::Strided { data, nb } => {
                let o = i[0] * nb[0] + i[1] * nb[1] + i[2] * nb[2] + i[3] * nb[3];
                to_f32(self.ty, &data[o..o + esize])
            }
            Layout::Windowed {
                data,
                start,
                period,
                window,
                ..
            } => {
                let flat = i[0] + self.ne[0] * (i[1] + self.ne[1] * (i[2] + self.ne[2] * i[3]));
                let o = start + flat * esize;
                if o % period + esize <= window {
                    let p = o / period * window + o % period;
                    to_f32(self.ty, &data[p..p + esize])
                } else {
                    0.0
                }
            }
        }
    }

    /// Statistics over every element (see [`Stats`]); `None` for quantized tensors, which
    /// llama.cpp does not print either.
    pub fn stats(&self) -> Option<Stats> {
        if self.ty.is_quantized() {
            return None;
        }
        let mut acc = StatsAcc::default();
        self.for_each_run(|run| match run {
            Run::Values(v) => acc.values(v),
            Run::Zeros(n) => acc.zeros(n),
        });
        Some(acc.finish())
    }

    /// The values that exist in memory, as f32, with the shape they have: the whole tensor
    /// (ggml order) when complete; for a partially allocated cache, the kept window of each
    /// period, `[window elements, periods]`.
    pub fn stored_values(&self) -> (Vec<f32>, [i64; 4]) {
        match self.layout {
            Layout::Strided { .. } => {
                let mut out = Vec::with_capacity(self.n_elements() as usize);
                self.for_each_run(|run| {
                    if let Run::Values(v) = run {
                        out.extend_from_slice(v);
                    }
                });
                (out, self.ne.map(|n| n as i64))
            }
            Layout::Windowed {
                data,
                start,
                len,
                period,
                window,
            } => {
                let esize = self.ty.type_size();
                let (first, last) = (start / period, (start + len).div_ceil(period));
                let bytes = &data[first * window..(last * window).min(data.len())];
                let out: Vec<f32> = bytes
                    .chunks_exact(esize)
                    .map(|e| to_f32(self.ty, e))
                    .collect();
                (out, [(window / esize) as i64, (last - first) as i64, 1, 1])
            }
        }
    }
}

/// f16 bytes → f32 (F16C when available; exact).
fn widen_f16(bytes: &[u8], out: &mut [f32]) {
    let h: &[f16] = bytemuck::cast_slice(bytes);
    h.convert_to_f32_slice(&mut out[..h.len()]);
}

fn to_f32(ty: GgmlType, b: &[u8]) -> f32 {
    match ty {
        GgmlType::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        GgmlType::F16 => f16::from_le_bytes([b[0], b[1]]).to_f32(),
        GgmlType::BF16 => bf16::from_le_bytes([b[0], b[1]]).to_f32(),
        GgmlType::I32 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32,
        GgmlType::I64 => {
            i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
        }
        GgmlType::I16 => i16::from_le_bytes([b[0], b[1]]) as f32,
        GgmlType::I8 => b[0] as i8 as f32,
        GgmlType::F64 => {
            f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
        }
        _ => f32::NAN,
    }
}

/// Running statistics: llama.cpp's f32 sum in walk order, and f64 moments over finite values.
#[derive(Default)]
struct StatsAcc {
    n: u64,
    sum_f32: f32,
    finite: u64,
    sum: f64,
    sum_sq: f64,
    min: f64,
    max: f64,
    nan: u64,
    inf: u64,
}

impl StatsAcc {
    fn values(&mut self, v: &[f32]) {
        self.n += v.len() as u64;
        // One pass: llama.cpp's sum is a single f32 accumulator in order (a serial chain of
        // additions); the moments ride along in eight independent lanes, which the CPU
        // overlaps with that chain. They assume finite values; a NaN or ∞ shows up in their
        // sums, and then the slower exact pass below counts and skips them.
        let (mut lo, mut hi) = ([f32::INFINITY; 8], [f32::NEG_INFINITY; 8]);
        let (mut sum, mut sq) = ([0.0f64; 8], [0.0f64; 8]);
        let chunks = v.chunks_exact(8);
        let tail = chunks.remainder();
        for c in chunks {
            for &x in c {
                self.sum_f32 += x;
            }
            for l in 0..8 {
                let x = c[l];
                lo[l] = lo[l].min(x);
                hi[l] = hi[l].max(x);
                sum[l] += f64::from(x);
                sq[l] += f64::from(x) * f64::from(x);
            }
        }
        for (l, &x) in tail.iter().enumerate() {
            self.sum_f32 += x;
            lo[l] = lo[l].min(x);
            hi[l] = hi[l].max(x);
            sum[l] += f64::from(x);
            sq[l] += f64::from(x) * f64::from(x);
        }
        let (s, q): (f64, f64) = (sum.iter().sum(), sq.iter().sum());
        if !(s.is_finite() && q.is_finite()) {
            return self.values_with_non_finite(v);
        }
        if !v.is_empty() {
            let mn = lo.iter().fold(f32::INFINITY, |a, &b| a.min(b));
            let mx = hi.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
            self.merge(f64::from(mn), f64::from(mx), v.len() as u64, s, q);
        }
    }

    /// The moments when `v` holds NaN or ∞ (its f32 sum is already counted).
    fn values_with_non_finite(&mut self, v: &[f32]) {
        let (mut mn, mut mx, mut n, mut s, mut q) =
            (f64::INFINITY, f64::NEG_INFINITY, 0u64, 0.0, 0.0);
        for &x in v {
            if x.is_nan() {
                self.nan += 1;
            } else if x.is_infinite() {
                self.inf += 1;
            } else {
                let d = f64::from(x);
                mn = mn.min(d);
                mx = mx.max(d);
                n += 1;
                s += d;
                q += d * d;
            }
        }
        if n > 0 {
            self.merge(mn, mx, n, s, q);
        }
    }

    fn merge(&mut self, mn: f64, mx: f64, n: u64, s: f64, q: f64) {
        if self.finite == 0 || mn < self.min {
            self.min = mn;
        }
        if self.finite == 0 || mx > self.max {
            self.max = mx;
        }
        self.finite += n;
        self.sum += s;
        self.sum_sq += q;
    }

    fn zeros(&mut self, n: u64) {
        if n == 0 {
            return;
        }
        self.n += n;
        // adding +0.0 changes an f32 sum only when it is −0.0
        self.sum_f32 += 0.0;
        if self.finite == 0 || self.min > 0.0 {
            self.min = 0.0;
        }
        if self.finite == 0 || self.max < 0.0 {
            self.max = 0.0;
        }
        self.finite += n;
    }

    fn finish(self) -> Stats {
        // no finite element: nothing to take a min, max, mean or spread of
        if self.finite == 0 {
            return Stats {
                n: self.n,
                min: f64::NAN,
                max: f64::NAN,
                mean: f64::NAN,
                std: f64::NAN,
                sum: f64::from(self.sum_f32),
                nan: self.nan,
                inf: self.inf,
            };
        }
        let mean = self.sum / self.finite as f64;
        let var = (self.sum_sq / self.finite as f64 - mean * mean).max(0.0);
        Stats {
            n: self.n,
            min: self.min,
            max: self.max,
            mean,
            std: var.sqrt(),
            sum: f64::from(self.sum_f32),
            nan: self.nan,
            inf: self.inf,
        }
    }
}

/// Statistics of a slice of values, computed like a captured tensor's: llama.cpp's f32 sum in
/// order, min/max/mean/std over the finite values, NaN and ∞ counted.
pub fn stats_of(values: &[f32]) -> Stats {
    let mut acc = StatsAcc::default();
    acc.values(values);
    acc.finish()
}

/// Default memory budget for kept values: 256 MiB of f32.
pub const DEFAULT_BUDGET_BYTES: usize = 256 << 20;

/// Elements kept of a tensor once the budget is spent (whole rows, at least one).
pub const SAMPLE_ELEMENTS: usize = 4096;

/// What [`Capture`] kept of one node.
#[derive(Clone, Debug)]
pub struct Captured {
    pub stats: Option<Stats>,
    pub values: Option<Kept>,
}

/// Kept values of a node.
#[derive(Clone, Debug)]
pub enum Kept {
    /// Values owned here: `data` has the shape `ne` (ggml order); `complete` is false for a
    /// sample or a partially allocated cache.
    Own {
        data: Vec<f32>,
        ne: [i64; 4],
        complete: bool,
    },
    /// The same bytes as an earlier node's complete values (a RESHAPE, a whole VIEW): read that
    /// node's data with this node's shape `ne`.
    SameAs { node: TensorId, ne: [i64; 4] },
}

/// The standard observer: stats for every node, values within a budget.
#[derive(Debug)]
pub struct Capture {
    budget: usize,
    used: usize,
    entries: HashMap<TensorId, Captured>,
    by_origin: HashMap<(Origin, u64), TensorId>,
    /// Nodes whose stats are computed at the end of the run.
    pending: Vec<TensorId>,
}

impl Default for Capture {
    fn default() -> Self {
        Capture::new(DEFAULT_BUDGET_BYTES)
    }
}

impl Capture {
    /// Keep values until `budget_bytes` of f32 are held, then only stats and a sample.
    pub fn new(budget_bytes: usize) -> Capture {
        Capture {
            budget: budget_bytes,
            used: 0,
            entries: HashMap::new(),
            by_origin: HashMap::new(),
            pending: Vec::new(),
        }
    }

    /// Bytes of values held.
    pub fn used_bytes(&self) -> usize {
        self.used
    }

    pub fn get(&self, id: TensorId) -> Option<&Captured> {
        self.entries.get(&id)
    }

    /// The node's values as f32, resolving [`Kept::SameAs`]: (data, shape, complete).
    pub fn values(&self, id: TensorId) -> Option<(&[f32], [i64; 4], bool)> {
        match &self.entries.get(&id)?.values {
            Some(Kept::Own { data, ne, complete }) => Some((data, *ne, *complete)),
            Some(Kept::SameAs { node, ne }) => match &self.entries.get(node)?.values {
                Some(Kept::Own { data, .. }) => Some((data, *ne, true)),
                _ => None,
            },
            None => None,
        }
    }

    /// The key of a node's values in a trace file (unique per document id).
    pub fn key(doc_id: u32, name: &str) -> String {
        format!("{doc_id:05}:{name}")
    }

    /// Fill `doc`'s stats and values references for every captured node of `graph`.
    pub fn fill_doc(&self, graph: &Graph, doc: &mut GraphDoc) {
        let ids = doc_ids(graph);
        for (&id, c) in &self.entries {
            let Some(doc_id) = ids[id.index()] else {
                continue;
            };
            let Some(d) = doc.tensors.get_mut(doc_id as usize) else {
                continue;
            };
            d.stats = c.stats.clone();
            d.values = match &c.values {
                Some(Kept::Own { ne, complete, .. }) => Some(ValuesRef {
                    key: Capture::key(doc_id, &graph.get(id).name),
                    ne: *ne,
                    complete: *complete,
                }),
                Some(Kept::SameAs { node, ne }) => ids[node.index()].map(|o| ValuesRef {
                    key: Capture::key(o, &graph.get(*node).name),
                    ne: *ne,
                    complete: true,
                }),
                None => None,
            };
        }
    }

    /// The owned values to write in a trace file: (key, shape in ggml order, data).
    pub fn trace_values<'s>(&'s self, graph: &Graph) -> Vec<(String, [i64; 4], &'s [f32])> {
        let ids = doc_ids(graph);
        let mut out: Vec<_> = self
            .entries
            .iter()
            .filter_map(|(&id, c)| match (&c.values, ids[id.index()]) {
                (Some(Kept::Own { data, ne, .. }), Some(doc_id)) => Some((
                    Capture::key(doc_id, &graph.get(id).name),
                    *ne,
                    data.as_slice(),
                )),
                _ => None,
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

impl Observer for Capture {
    fn wants(&mut self, _: &Graph, _: TensorId) -> bool {
        true
    }

    fn end_of_run(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        let own: Vec<(TensorId, Stats)> = pending
            .par_iter()
            .filter_map(|id| match &self.entries.get(id)?.values {
                Some(Kept::Own { data, .. }) => {
                    let mut acc = StatsAcc::default();
                    acc.values(data);
                    Some((*id, acc.finish()))
                }
                _ => None,
            })
            .collect();
        for (id, st) in own {
            if let Some(c) = self.entries.get_mut(&id) {
                c.stats = Some(st);
            }
        }
        for id in pending {
            if let Some(Captured {
                values: Some(Kept::SameAs { node, .. }),
                ..
            }) = self.entries.get(&id)
            {
                let st = self.entries.get(node).and_then(|c| c.stats.clone());
                if let Some(c) = self.entries.get_mut(&id) {
                    c.stats = st;
                }
            }
        }
    }

    fn observe(&mut self, graph: &Graph, node: TensorId, data: &TensorView<'_>) {
        let n = data.n_elements() as usize;
        let bytes = n * data.ty.type_size() / data.ty.block_size();
        let key = (data.origin, bytes as u64);
        // a view of bytes already kept, in the same order: share them
        let contiguous =
            matches!(data.layout, Layout::Strided { nb, .. } if nb == dense_nb(data.ty, data.ne));
        let is_view = graph
            .tensors
            .get(node.index())
            .is_some_and(|t| t.op.is_view());
        let earlier = self
            .by_origin
            .get(&key)
            .copied()
            .filter(|_| is_view && contiguous);
        // complete values kept whole get their stats at the end of the run, all nodes in
        // parallel (the same numbers: same values, same order); the rest now, from the view
        let mut stats = None;
        let values = if let Some(earlier) = earlier {
            self.pending.push(node);
            Some(Kept::SameAs {
                node: earlier,
                ne: data.ne.map(|n| n as i64),
            })
        } else if data.ty.is_quantized() {
            None
        } else if self.used + n * 4 <= self.budget {
            let (v, ne) = data.stored_values();
            self.used += v.len() * 4;
            let complete = data.is_complete();
            if complete && contiguous {
                self.by_origin.insert(key, node);
            }
            if complete {
                self.pending.push(node);
            } else {
                stats = data.stats();
            }
            Some(Kept::Own {
                data: v,
                ne,
                complete,
            })
        } else {
            stats = data.stats();
            let (mut v, ne) = data.stored_values();
            let row = (ne[0] as usize).max(1);
            let keep = if row >= SAMPLE_ELEMENTS {
                SAMPLE_ELEMENTS
            } else {
                SAMPLE_ELEMENTS / row * row
            };
            v.truncate(keep.min(v.len()));
            let shape = if row >= SAMPLE_ELEMENTS {
                [v.len() as i64, 1, 1, 1]
            } else {
                [ne[0], (v.len() / row) as i64, 1, 1]
            };
            self.used += v.len() * 4;
            Some(Kept::Own {
                data: v,
                ne: shape,
                complete: false,
            })
        };
        self.entries.insert(node, Captured { stats, values });
    }
}

fn dense_nb(ty: GgmlType, ne: [usize; 4]) -> [usize; 4] {
    let mut nb = [0usize; 4];
    nb[0] = ty.type_size();
    nb[1] = nb[0] * (ne[0] / ty.block_size());
    nb[2] = nb[1] * ne[1];
    nb[3] = nb[2] * ne[2];
    nb
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view<'a>(data: &'a [u8], ty: GgmlType, ne: [usize; 4], nb: [usize; 4]) -> TensorView<'a> {
        TensorView {
            ty,
            ne,
            layout: Layout::Strided { data, nb },
            origin: Origin {
                root: TensorId(0),
                offset: 0,
                version: 1,
            },
        }
    }

    /// The sum is an f32 accumulation in ggml order, not a float-exact sum.
    #[test]
    fn sum_is_llama_cpp_f32_walk() {
        let v = [1.0e8f32, 1.0, -1.0e8, 1.0];
        let s = view(
            bytemuck::cast_slice(&v),
            GgmlType::F32,
            [4, 1, 1, 1],
            [4, 16, 16, 16],
        )
        .stats()
        .unwrap();
        // 1e8 + 1 rounds back to 1e8 in f32; then -1e8 gives 0, then +1
        assert_eq!(s.sum, 1.0);
        assert_eq!((s.min, s.max, s.mean), (-1.0e8, 1.0e8, 0.5));
    }

    /// A tensor with no finite element has no min, max, mean or spread (not zeros), and its
    /// statistics survive JSON (the trace document) as the strings "nan"/"inf".
    #[test]
    fn all_nan_stats_are_nan_and_round_trip_through_json() {
        let s = stats_of(&[f32::NAN, f32::INFINITY, f32::NAN]);
        assert_eq!((s.n, s.nan, s.inf), (3, 2, 1));
        assert!(s.min.is_nan() && s.max.is_nan() && s.mean.is_nan() && s.std.is_nan());
        assert!(s.sum.is_nan());
        let json = serde_json::to_string(&s).unwrap();
        assert!(
            json.contains(r#""min":"nan""#) && json.contains(r#""sum":"nan""#),
            "{json}"
        );
        let back: Stats = serde_json::from_str(&json).unwrap();
        assert!(back.min.is_nan() && back.sum.is_nan());
        assert_eq!((back.n, back.nan, back.inf), (3, 2, 1));

        let inf = stats_of(&[1.0, f32::INFINITY]);
        assert_eq!((inf.min, inf.max, inf.mean), (1.0, 1.0, 1.0));
        assert_eq!(inf.sum, f64::INFINITY);
        let back: Stats = serde_json::from_str(&serde_json::to_string(&inf).unwrap()).unwrap();
        assert_eq!(back.sum, f64::INFINITY);
        assert_eq!(back.max, 1.0);
    }

    /// A sum read back from JSON is the sum written, to the last bit (a diff of a live run
    /// against its own saved trace must find nothing).
    #[test]
    fn sums_round_trip_through_json_exactly() {
        for sum in [
            973.157_348_632_812_5f64,
            0.1,
            -90553.0,
            1e-30,
            3.402_823_466e38,
        ] {
            let s = Stats {
                n: 1,
                sum,
                ..Default::default()
            };
            let back: Stats = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
            assert_eq!(back.sum.to_bits(), sum.to_bits(), "{sum}");
        }
    }

    #[test]
    fn nan_and_inf_are_counted_not_averaged() {
        let v = [1.0f32, f32::NAN, f32::NEG_INFINITY, 3.0];
        let s = view(
            bytemuck::cast_slice(&v),
            GgmlType::F32,
            [4, 1, 1, 1],
            [4, 16, 16, 16],
        )
        .stats()
        .unwrap();
        assert_eq!(
            (s.nan, s.inf, s.min, s.max, s.mean, s.std),
            (1, 1, 1.0, 3.0, 2.0, 1.0)
        );
        assert!(s.sum.is_nan());
    }

    /// A windowed cache view: 2 periods of 4 f16, 2 kept per period; stats over all 8.
    #[test]
    fn windowed_views_count_the_missing_cells_as_zeros() {
        let kept: Vec<f16> = [1.0f32, 2.0, 3.0, -4.0]
            .iter()
            .map(|&x| f16::from_f32(x))
            .collect();
        let t = TensorView {
            ty: GgmlType::F16,
            ne: [8, 1, 1, 1],
            layout: Layout::Windowed {
                data: bytemuck::cast_slice(&kept),
                start: 0,
                len: 16,
                period: 8,
                window: 4,
            },
            origin: Origin {
                root: TensorId(0),
                offset: 0,
                version: 1,
            },
        };
        let s = t.stats().unwrap();
        assert_eq!((s.n, s.sum, s.min, s.max), (8, 2.0, -4.0, 3.0));
        assert_eq!(s.mean, 0.25);
        let (v, ne) = t.stored_values();
        assert_eq!((v, ne), (vec![1.0, 2.0, 3.0, -4.0], [2, 2, 1, 1]));
    }

    #[test]
    fn strided_views_walk_in_ggml_order() {
        let v = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]; // [3, 2] seen transposed: [2, 3]
        let t = view(
            bytemuck::cast_slice(&v),
            GgmlType::F32,
            [2, 3, 1, 1],
            [12, 4, 24, 24],
        );
        assert_eq!(t.stored_values().0, [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    }

    #[test]
    fn over_budget_keeps_stats_and_a_sample() {
        let v: Vec<f32> = (0..10_000).map(|i| i as f32).collect();
        let g = Graph::new();
        let mut c = Capture::new(16);
        let t = view(
            bytemuck::cast_slice(&v),
            GgmlType::F32,
            [100, 100, 1, 1],
            [4, 400, 40_000, 40_000],
        );
        c.observe(&g, TensorId(3), &t);
        let got = c.get(TensorId(3)).unwrap();
        assert_eq!(got.stats.as_ref().unwrap().n, 10_000);
        match &got.values {
            Some(Kept::Own { data, ne, complete }) => {
                assert_eq!((data.len(), *ne, *complete), (4000, [100, 40, 1, 1], false));
            }
            other => panic!("{other:?}"),
        }
    }
}
