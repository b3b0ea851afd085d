//! The executor: runs a [`Graph`]'s nodes in order on the CPU, as ggml's CPU backend does, and
//! shows every result to an [`Observer`] (ggml's eval callback).
//!
//! Memory plan:
//! - every non-view tensor has its own buffer; a view (VIEW, RESHAPE, PERMUTE, TRANSPOSE, and the
//!   results of SET_ROWS and CPY) aliases its `view_src` at `view_offs` with its own strides;
//! - weights are read in place from a [`WeightSource`] (for a [`GgufFile`], straight from the
//!   memory map, no copy);
//! - inputs are set by the caller with a typed setter per input leaf ([`Executor::set_input_i32`],
//!   …) before [`Executor::run`];
//! - a computed node's buffer is allocated just before it runs and freed after the last node
//!   that reads it (or a view of it), unless it is a graph output or was asked for with
//!   [`Executor::keep`]; observers copy what they want to keep, so memory stays bounded. Freed
//!   buffers are reused by later nodes of the same size (every layer repeats the same shapes)
//!   without zeroing: every kernel writes every element of its dense result;
//! - a KV cache keeps its logical shape (`[n_embd_gqa, n_ctx]`, 8192 cells for SmolLM2) but only
//!   the cells the graph touches are allocated: the executor finds, from the views that read it
//!   and the rows SET_ROWS writes, the smallest *windowed* layout (of every `period` logical
//!   bytes keep the first `window`: a prefix of rows for K, the first cells of every channel row
//!   for a V cache stored transposed) and remaps those views' strides to it. Observers still see
//!   the whole logical tensor: the unallocated part reads as the zeros it is in llama.cpp.
//!
//! Kernels run on a rayon pool of `n_threads` threads ([`ExecOptions`]); nodes run one after the
//! other, as in ggml with an eval callback. Nothing here panics on bad input: unknown weight
//! types, missing weights, wrong sizes and unset inputs are [`ExecError`]s naming the tensor.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use half::f16;
use thiserror::Error;

use crate::capture::{Layout, Observer, Origin, TensorView};
use crate::dtype::GgmlType;
use crate::gguf::GgufFile;
use crate::graph::{Graph, Leaf, Tensor, TensorId};
use crate::kernels::{self, AddrMap, Dst, KernelError, Src};
use crate::op::Op;
use crate::quant::{dequantize_row, DotKernel};

/// Where the executor gets weights: the bytes of a named tensor in ggml layout.
pub trait WeightSource: Sync {
    /// The weight called `name`, or `None` if there is none.
    fn weight(&self, name: &str) -> Result<Option<WeightData<'_>>, BoxError>;
}

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A weight's type, shape (ggml order) and bytes.
#[derive(Clone, Copy, Debug)]
pub struct WeightData<'a> {
    pub ty: GgmlType,
    pub ne: [u64; 4],
    pub bytes: &'a [u8],
}

impl WeightSource for GgufFile {
    fn weight(&self, name: &str) -> Result<Option<WeightData<'_>>, BoxError> {
        let Some(t) = self.tensor(name) else {
            return Ok(None);
        };
        let bytes = self.tensor_data(t)?;
        let ty = t.ty.map_err(|id| format!("unknown ggml type id {id}"))?;
        Ok(Some(WeightData {
            ty,
            ne: t.ne,
            bytes,
        }))
    }
}

/// Weights held in memory, by name (tests, synthetic models).
#[derive(Clone, Debug, Default)]
pub struct MemoryWeights {
    map: HashMap<String, (GgmlType, [u64; 4], Vec<u8>)>,
}

impl MemoryWeights {
    pub fn new() -> MemoryWeights {
        MemoryWeights::default()
    }

    pub fn insert(&mut self, name: impl Into<String>, ty: GgmlType, ne: [u64; 4], bytes: Vec<u8>) {
        self.map.insert(name.into(), (ty, ne, bytes));
    }
}

impl WeightSource for MemoryWeights {
    fn weight(&self, name: &str) -> Result<Option<WeightData<'_>>, BoxError> {
        Ok(self.map.get(name).map(|(ty, ne, bytes)| WeightData {
            ty: *ty,
            ne: *ne,
            bytes,
        }))
    }
}

/// Executor settings.
#[derive(Clone, Copy, Debug)]
pub struct ExecOptions {
    /// Threads of the kernel pool (llama.cpp's `-t`).
    pub n_threads: usize,
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions { n_threads: 2 }
    }
}

/// What went wrong, naming the tensor.
#[derive(Debug, Error)]
pub enum ExecError {
    #[error("weight {tensor:?} is not in the model file")]
    MissingWeight { tensor: String },
    #[error("weight {tensor:?}: expected {expected}, the file has {found}")]
    WeightMismatch {
        tensor: String,
        expected: String,
        found: String,
    },
    #[error("weight {tensor:?} could not be read")]
    WeightRead {
        tensor: String,
        #[source]
        source: BoxError,
    },
    #[error("{tensor:?} has type {ty}, which {op} cannot compute (node {node:?})")]
    UnsupportedWeight {
        tensor: String,
        ty: GgmlType,
        op: &'static str,
        node: String,
        #[source]
        source: Box<KernelError>,
    },
    #[error("input {tensor:?} was not set before run")]
    InputNotSet { tensor: String },
    #[error("{tensor:?} is not an input leaf")]
    NotAnInput { tensor: String },
    #[error("input {tensor:?}: expected {expected}, got {found}")]
    InputMismatch {
        tensor: String,
        expected: String,
        found: String,
    },
    #[error("{tensor:?} spans bytes up to {needed} of {root:?}, which has {available}")]
    ViewOutOfBounds {
        tensor: String,
        root: String,
        needed: usize,
        available: usize,
    },
    #[error("{tensor:?} is a computed tensor with non-dense strides {nb:?}")]
    NotDense { tensor: String, nb: [usize; 4] },
    #[error("{tensor:?} has no data now (not computed yet, freed after use, or a partially allocated cache view read by a kernel)")]
    NoData { tensor: String },
    #[error("node {index} {node:?} ({op})")]
    Kernel {
        index: usize,
        node: String,
        op: &'static str,
        #[source]
        source: Box<KernelError>,
    },
    #[error("could not start the thread pool: {0}")]
    ThreadPool(String),
}

/// Figures of one run.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunReport {
    /// Wall time of the node loop (kernels and observer, including its end-of-run work),
    /// milliseconds.
    pub compute_ms: f64,
    /// Nodes executed (views included).
    pub nodes: usize,
    /// Largest total of executor-owned buffers (inputs, caches, node results, spare buffers kept
    /// for reuse) at any time.
    pub peak_bytes: usize,
    /// Bytes allocated for KV caches (only the cells in use).
    pub cache_bytes: usize,
    /// Logical size of the KV caches (what llama.cpp allocates).
    pub cache_logical_bytes: usize,
}

/// A byte buffer aligned for any element type (8 bytes).
#[derive(Debug, Default)]
struct AlignedBuf {
    words: Vec<u64>,
    len: usize,
}

impl AlignedBuf {
    fn zeroed(len: usize) -> AlignedBuf {
        AlignedBuf {
            words: vec![0; len.div_ceil(8)],
            len,
        }
    }

    fn copy_of(bytes: &[u8]) -> AlignedBuf {
        let mut b = AlignedBuf::zeroed(bytes.len());
        b.bytes_mut().copy_from_slice(bytes);
        b
    }

    fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.words)[..self.len]
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut(&mut self.words)[..self.len]
    }
}

#[derive(Debug, Default)]
enum Store<'a> {
    #[default]
    Empty,
    Weight(&'a [u8]),
    Owned(AlignedBuf),
}

impl Store<'_> {
    fn bytes(&self) -> Option<&[u8]> {
        match self {
            Store::Empty => None,
            Store::Weight(b) => Some(b),
            Store::Owned(b) => Some(b.bytes()),
        }
    }
}

/// Where a tensor's elements are in its root buffer (physical offset and strides).
#[derive(Clone, Copy, Debug)]
enum Place {
    Strided {
        root: TensorId,
        offset: usize,
        nb: [usize; 4],
    },
    /// A contiguous span of a windowed cache that the window layout cannot express with strides
    /// (the whole-cache SET_ROWS result, a reshape of the whole cache): observable, not readable
    /// by kernels.
    Windowed {
        root: TensorId,
        start: usize,
        len: usize,
        period: usize,
        window: usize,
    },
}

impl Place {
    fn root(&self) -> TensorId {
        match *self {
            Place::Strided { root, .. } | Place::Windowed { root, .. } => root,
        }
    }
}

/// Runs one graph. Create it once (weights are bound and checked), set the inputs, [`run`].
///
/// [`run`]: Executor::run
pub struct Executor<'a> {
    graph: &'a Graph,
    pool: Arc<rayon::ThreadPool>,
    stores: Vec<Store<'a>>,
    input_set: Vec<bool>,
    /// Writes into each root so far (observers compare views by it).
    versions: Vec<u64>,
    /// Execution index of the last node reading each root (`None`: never read by a node).
    last_use: Vec<Option<usize>>,
    keep: Vec<bool>,
    /// Read by a kernel (not merely observed, not a write destination).
    read_by_kernel: Vec<bool>,
    places: Vec<Place>,
    cache_maps: Vec<AddrMap>,
    live_bytes: usize,
    peak_bytes: usize,
    /// Freed buffers kept for reuse, and their bytes.
    spare: Vec<AlignedBuf>,
    spare_bytes: usize,
}

/// Freed buffers kept for reuse at most (a layer's worth of distinct sizes).
const SPARE_BUFFERS: usize = 32;

impl<'a> Executor<'a> {
    /// Bind the graph's weights from `weights` and check that every node can be computed.
    pub fn new(
        graph: &'a Graph,
        weights: &'a dyn WeightSource,
        options: ExecOptions,
    ) -> Result<Executor<'a>, ExecError> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(options.n_threads.max(1))
            .build()
            .map_err(|e| ExecError::ThreadPool(e.to_string()))?;
        let n = graph.tensors.len();
        let mut ex = Executor {
            graph,
            pool: Arc::new(pool),
            stores: (0..n).map(|_| Store::Empty).collect(),
            input_set: vec![false; n],
            versions: vec![0; n],
            last_use: vec![None; n],
            keep: vec![false; n],
            read_by_kernel: vec![false; n],
            places: (0..n)
                .map(|i| Place::Strided {
                    root: TensorId(i as u32),
                    offset: 0,
                    nb: [0; 4],
                })
                .collect(),
            cache_maps: vec![AddrMap::Identity; n],
            live_bytes: 0,
            peak_bytes: 0,
            spare: Vec::new(),
            spare_bytes: 0,
        };
        for &leaf in &graph.leafs {
            if graph.get(leaf).leaf == Some(Leaf::Weight) {
                ex.bind_weight(leaf, weights)?;
            }
        }
        for &node in &graph.nodes {
            let t = graph.get(node);
            if t.view_src.is_none() && !t.op.is_view() && !t.is_contiguous() {
                return Err(ExecError::NotDense {
                    tensor: t.name.clone(),
                    nb: t.nb,
                });
            }
            ex.check_weight_types(node)?;
        }
        ex.plan_liveness();
        Ok(ex)
    }

    fn root(&self, id: TensorId) -> TensorId {
        self.graph.get(id).view_src.unwrap_or(id)
    }

    fn bind_weight(
        &mut self,
        id: TensorId,
        weights: &'a dyn WeightSource,
    ) -> Result<(), ExecError> {
        let t = self.graph.get(id);
        let w = weights
            .weight(&t.name)
            .map_err(|source| ExecError::WeightRead {
                tensor: t.name.clone(),
                source,
            })?
            .ok_or_else(|| ExecError::MissingWeight {
                tensor: t.name.clone(),
            })?;
        let ne = t.ne.map(|n| n as u64);
        if w.ty != t.ty || w.ne != ne {
            return Err(ExecError::WeightMismatch {
                tensor: t.name.clone(),
                expected: format!("{} {:?}", t.ty, ne),
                found: format!("{} {:?}", w.ty, w.ne),
            });
        }
        if w.bytes.len() != t.n_bytes() {
            return Err(ExecError::WeightMismatch {
                tensor: t.name.clone(),
                expected: format!("{} bytes", t.n_bytes()),
                found: format!("{} bytes", w.bytes.len()),
            });
        }
        // f32/f16 rows are read as slices: they must be aligned (GGUF aligns tensors to 32)
        let align = if w.ty.is_quantized() {
            1
        } else {
            w.ty.type_size()
        };
        self.stores[id.index()] = if (w.bytes.as_ptr() as usize).is_multiple_of(align) {
            Store::Weight(w.bytes)
        } else {
            Store::Owned(AlignedBuf::copy_of(w.bytes))
        };
        Ok(())
    }

    /// A weight of a type the node's kernel cannot compute is an error now, naming both.
    fn check_weight_types(&self, node: TensorId) -> Result<(), ExecError> {
        let t = self.graph.get(node);
        if t.op.is_view() {
            return Ok(()); // a reshaped weight is checked by the op that reads it
        }
        for (pos, s) in t.src.iter().enumerate() {
            let Some(s) = *s else { continue };
            let w = self.graph.get(s);
            if w.leaf != Some(Leaf::Weight) {
                continue;
            }
            let check = match (&t.op, pos) {
                (Op::MulMat, 0) => {
                    DotKernel::new(w.ty)
                        .map(|_| ())
                        .map_err(|source| KernelError::Quant {
                            op: "MUL_MAT",
                            source,
                        })
                }
                (Op::GetRows, 0) => {
                    dequantize_row(w.ty, &[], &mut []).map_err(|source| KernelError::Quant {
                        op: "GET_ROWS",
                        source,
                    })
                }
                _ if w.ty != GgmlType::F32 => Err(KernelError::UnsupportedType {
                    op: t.op.name(),
                    what: "weight",
                    ty: w.ty,
                }),
                _ => Ok(()),
            };
            check.map_err(|source| ExecError::UnsupportedWeight {
                tensor: w.name.clone(),
                ty: w.ty,
                op: t.op.name(),
                node: t.name.clone(),
                source: Box::new(source),
            })?;
        }
        Ok(())
    }

    /// Last reader of every root; graph outputs (nodes nobody reads) are kept.
    fn plan_liveness(&mut self) {
        let g = self.graph;
        let mut consumed = vec![false; g.tensors.len()];
        for (i, &id) in g.nodes.iter().enumerate() {
            let t = g.get(id);
            for (pos, s) in t.src.iter().enumerate() {
                let Some(s) = *s else { continue };
                consumed[s.index()] = true;
                let r = self.root(s);
                self.last_use[r.index()] = Some(i);
                let dst_only = matches!((&t.op, pos), (Op::SetRows, 2) | (Op::Cpy, 1));
                if !t.op.is_view() && !dst_only {
                    self.read_by_kernel[s.index()] = true;
                }
            }
            let r = self.root(id);
            self.last_use[r.index()] = Some(self.last_use[r.index()].map_or(i, |u| u.max(i)));
        }
        for &id in &g.nodes {
            if !consumed[id.index()] {
                let r = self.root(id);
                self.keep[r.index()] = true;
            }
        }
    }

    /// Keep `id`'s data after the run (to read it with [`Executor::output_f32`]).
    pub fn keep(&mut self, id: TensorId) {
        let r = self.root(id);
        self.keep[r.index()] = true;
    }

    fn input_leaf(&self, id: TensorId, ty: &[GgmlType], n: usize) -> Result<&'a Tensor, ExecError> {
        let t = self
            .graph
            .tensors
            .get(id.index())
            .ok_or_else(|| ExecError::NotAnInput {
                tensor: format!("#{}", id.0),
            })?;
        if !matches!(t.leaf, Some(Leaf::Input(_))) {
            return Err(ExecError::NotAnInput {
                tensor: t.name.clone(),
            });
        }
        if !ty.contains(&t.ty) {
            return Err(ExecError::InputMismatch {
                tensor: t.name.clone(),
                expected: format!("{} values", t.ty),
                found: format!("{:?} values", ty),
            });
        }
        if t.n_elements() != n as u64 {
            return Err(ExecError::InputMismatch {
                tensor: t.name.clone(),
                expected: format!("{} elements", t.n_elements()),
                found: format!("{n} elements"),
            });
        }
        Ok(t)
    }

    fn store_input(&mut self, id: TensorId, bytes: &[u8]) {
        self.stores[id.index()] = Store::Owned(AlignedBuf::copy_of(bytes));
        self.input_set[id.index()] = true;
        self.versions[id.index()] += 1;
    }

    /// Set an i32 input (`inp_tokens`, `inp_pos`, `out_ids`).
    pub fn set_input_i32(&mut self, id: TensorId, values: &[i32]) -> Result<(), ExecError> {
        self.input_leaf(id, &[GgmlType::I32], values.len())?;
        self.store_input(id, bytemuck::cast_slice(values));
        Ok(())
    }

    /// Set an i64 input (`attn_inp_k_idxs`, `attn_inp_v_idxs`).
    pub fn set_input_i64(&mut self, id: TensorId, values: &[i64]) -> Result<(), ExecError> {
        self.input_leaf(id, &[GgmlType::I64], values.len())?;
        self.store_input(id, bytemuck::cast_slice(values));
        Ok(())
    }

    /// Set a float input (`attn_inp_kq_mask`), converted to the leaf's type (f32, or f16
    /// rounded to nearest even, as llama.cpp fills the flash-attention mask).
    pub fn set_input_f32(&mut self, id: TensorId, values: &[f32]) -> Result<(), ExecError> {
        let t = self.input_leaf(id, &[GgmlType::F32, GgmlType::F16], values.len())?;
        if t.ty == GgmlType::F16 {
            let h: Vec<f16> = values.iter().map(|&v| f16::from_f32(v)).collect();
            self.store_input(id, bytemuck::cast_slice(&h));
        } else {
            self.store_input(id, bytemuck::cast_slice(values));
        }
        Ok(())
    }

    /// Compute every node in order, showing each to `observer` (if it wants it) and reporting
    /// progress as `progress(done, total)`.
    pub fn run(
        &mut self,
        observer: &mut dyn Observer,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<RunReport, ExecError> {
        let start = Instant::now();
        let g = self.graph;
        for &leaf in &g.leafs {
            let t = g.get(leaf);
            if matches!(t.leaf, Some(Leaf::Input(_))) && !self.input_set[leaf.index()] {
                return Err(ExecError::InputNotSet {
                    tensor: t.name.clone(),
                });
            }
        }
        // a fresh run: computed buffers from an earlier run go, caches start at zero
        for &id in &g.nodes {
            if g.get(id).view_src.is_none() {
                self.release(id);
            }
        }
        self.live_bytes = self
            .stores
            .iter()
            .map(|s| if let Store::Owned(b) = s { b.len } else { 0 })
            .sum();
        self.peak_bytes = self.live_bytes + self.spare_bytes;
        let (cache_bytes, cache_logical_bytes) = self.plan_caches()?;
        self.plan_places()?;

        let total = g.nodes.len();
        for (i, &id) in g.nodes.iter().enumerate() {
            let wants = observer.wants(g, id);
            self.compute(i, id)?;
            if wants {
                let view = self.view(id)?;
                observer.observe(g, id, &view);
            }
            self.free_after(i);
            progress(i + 1, total);
        }
        observer.end_of_run();
        Ok(RunReport {
            compute_ms: start.elapsed().as_secs_f64() * 1e3,
            nodes: total,
            peak_bytes: self.peak_bytes,
            cache_bytes,
            cache_logical_bytes,
        })
    }

    /// Free `id`'s buffer; keep it for reuse (nodes of a layer have the same sizes as the last
    /// layer's), up to [`SPARE_BUFFERS`].
    fn release(&mut self, id: TensorId) {
        if let Store::Owned(b) = std::mem::take(&mut self.stores[id.index()]) {
            self.live_bytes -= b.len;
            if self.spare.len() < SPARE_BUFFERS {
                self.spare_bytes += b.words.len() * 8;
                self.spare.push(b);
            }
        }
    }

    /// Give `id` a buffer of `len` bytes: a spare one of the same size if `zeroed` is not
    /// needed (kernels write every byte of a dense result), else fresh zeros.
    fn allocate(&mut self, id: TensorId, len: usize, zeroed: bool) {
        self.release(id);
        let words = len.div_ceil(8);
        let reuse = if zeroed {
            None
        } else {
            self.spare.iter().position(|b| b.words.len() == words)
        };
        let buf = match reuse {
            Some(i) => {
                let mut b = self.spare.swap_remove(i);
                self.spare_bytes -= b.words.len() * 8;
                b.len = len;
                b
            }
            None => AlignedBuf::zeroed(len),
        };
        self.stores[id.index()] = Store::Owned(buf);
        self.live_bytes += len;
        self.peak_bytes = self.peak_bytes.max(self.live_bytes + self.spare_bytes);
    }

    fn free_after(&mut self, i: usize) {
        let g = self.graph;
        for s in g
            .get(g.nodes[i])
            .src
            .iter()
            .flatten()
            .copied()
            .chain([g.nodes[i]])
        {
            let r = self.root(s);
            let computed = g.get(r).leaf.is_none();
            if computed && !self.keep[r.index()] && self.last_use[r.index()] == Some(i) {
                self.release(r);
            }
        }
    }

    /// Choose and allocate the windowed layout of every KV cache; returns (allocated, logical)
    /// bytes.
    fn plan_caches(&mut self) -> Result<(usize, usize), ExecError> {
        let g = self.graph;
        let mut users: HashMap<TensorId, Vec<TensorId>> = HashMap::new();
        for &id in &g.nodes {
            if let Some(r) = g.get(id).view_src {
                if g.get(r).leaf == Some(Leaf::Cache) {
                    users.entry(r).or_default().push(id);
                }
            }
        }
        let (mut allocated, mut logical) = (0, 0);
        for &leaf in &g.leafs {
            let c = g.get(leaf);
            if c.leaf != Some(Leaf::Cache) {
                continue;
            }
            let users = users.remove(&leaf).unwrap_or_default();
            let len = c.n_bytes();
            let cells_period = c.ne[1] as usize * c.ty.type_size();
            let mut best = (len, AddrMap::Identity);
            for period in [len, cells_period] {
                if period == 0 || !len.is_multiple_of(period) {
                    continue;
                }
                if let Some(window) = self.cache_window(&users, period)? {
                    let bytes = len / period * window;
                    if bytes < best.0 {
                        best = (bytes, AddrMap::Windowed { period, window });
                    }
                }
            }
            self.cache_maps[leaf.index()] = best.1;
            self.allocate(leaf, best.0, true);
            self.versions[leaf.index()] += 1;
            allocated += best.0;
            logical += len;
        }
        Ok((allocated, logical))
    }

    /// The window needed if the cache is split into `period`-byte periods, or `None` if some
    /// user cannot live with that layout.
    fn cache_window(&self, users: &[TensorId], period: usize) -> Result<Option<usize>, ExecError> {
        let g = self.graph;
        let mut window = 0;
        for &u in users {
            let t = g.get(u);
            if t.op == Op::SetRows {
                // SET_ROWS results are observed as windowed spans: they must be contiguous,
                // and no kernel may read them whole
                if !t.is_contiguous() || self.read_by_kernel[u.index()] {
                    return Ok(None);
                }
                let Some(end) = self.set_rows_extent(u, period)? else {
                    return Ok(None);
                };
                window = window.max(end);
            } else if let Some(end) = in_period_end(t, period) {
                window = window.max(end);
            } else if self.read_by_kernel[u.index()] || !t.is_contiguous() {
                return Ok(None);
            }
        }
        Ok(Some(window))
    }

    /// The largest in-period end of the rows this SET_ROWS writes (indices read from its index
    /// input, which is set before the run); `None` if a row would straddle a period.
    fn set_rows_extent(&self, node: TensorId, period: usize) -> Result<Option<usize>, ExecError> {
        let t = self.graph.get(node);
        let (Some(rows), Some(idx)) = (
            t.src.first().copied().flatten(),
            t.src.get(1).copied().flatten(),
        ) else {
            return Ok(Some(0));
        };
        let idx_t = self.graph.get(idx);
        let idx_src = self.src_logical(idx)?;
        let rows_t = self.graph.get(rows);
        let row_bytes = rows_t.ne[0] as usize * t.ty.type_size() / t.ty.block_size();
        let mut end = 0;
        for i3 in 0..rows_t.ne[3] as usize {
            for i2 in 0..rows_t.ne[2] as usize {
                for i in 0..rows_t.ne[1] as usize {
                    let i1 =
                        idx_src.index_at(i, i2 % idx_t.ne[1] as usize, i3 % idx_t.ne[2] as usize);
                    if i1 < 0 || i1 >= t.ne[1] {
                        continue; // the kernel reports it
                    }
                    let o = t.view_offs + i1 as usize * t.nb[1] + i2 * t.nb[2] + i3 * t.nb[3];
                    let within = o % period + row_bytes;
                    if within > period {
                        return Ok(None);
                    }
                    end = end.max(within);
                }
            }
        }
        Ok(Some(end))
    }

    /// A non-cache tensor read through its logical strides (inputs, before places exist).
    fn src_logical(&self, id: TensorId) -> Result<Src<'_>, ExecError> {
        let t = self.graph.get(id);
        let r = self.root(id);
        let data = self.stores[r.index()]
            .bytes()
            .ok_or_else(|| ExecError::NoData {
                tensor: t.name.clone(),
            })?;
        let needed = t.view_offs + t.n_bytes();
        if needed > data.len() {
            return Err(ExecError::ViewOutOfBounds {
                tensor: t.name.clone(),
                root: self.graph.get(r).name.clone(),
                needed,
                available: data.len(),
            });
        }
        Ok(Src {
            data: &data[t.view_offs..],
            ty: t.ty,
            ne: t.ne.map(|n| n as usize),
            nb: t.nb,
        })
    }

    /// Physical place of every tensor, and a bounds check of every strided one.
    fn plan_places(&mut self) -> Result<(), ExecError> {
        let g = self.graph;
        for &id in g.nodes.iter().chain(&g.leafs) {
            let t = g.get(id);
            let root = self.root(id);
            let place = match self.cache_maps[root.index()] {
                AddrMap::Identity => Place::Strided {
                    root,
                    offset: t.view_offs,
                    nb: t.nb,
                },
                AddrMap::Windowed { period, window } => {
                    let strided = t.op != Op::SetRows
                        && id != root
                        && in_period_end(t, period).is_some_and(|e| e <= window);
                    if strided {
                        let mut nb = t.nb;
                        for (d, n) in nb.iter_mut().enumerate() {
                            if t.ne[d] > 1 && n.is_multiple_of(period) {
                                *n = *n / period * window;
                            }
                        }
                        Place::Strided {
                            root,
                            offset: t.view_offs / period * window + t.view_offs % period,
                            nb,
                        }
                    } else {
                        Place::Windowed {
                            root,
                            start: t.view_offs,
                            len: t.n_bytes(),
                            period,
                            window,
                        }
                    }
                }
            };
            if let Place::Strided { offset, nb, .. } = place {
                let available = self.root_len(root);
                let needed = if t.n_elements() == 0 {
                    0
                } else {
                    offset + span(t.ty, t.ne, nb)
                };
                if needed > available {
                    return Err(ExecError::ViewOutOfBounds {
                        tensor: t.name.clone(),
                        root: g.get(root).name.clone(),
                        needed,
                        available,
                    });
                }
            }
            self.places[id.index()] = place;
        }
        Ok(())
    }

    /// Size of a root's buffer: what is there, or what a computed node will get.
    fn root_len(&self, root: TensorId) -> usize {
        match (
            &self.stores[root.index()],
            self.graph.get(root).leaf.is_some(),
        ) {
            (Store::Empty, false) => self.graph.get(root).n_bytes(),
            (s, _) => s.bytes().map_or(0, <[u8]>::len),
        }
    }

    fn src(&self, id: TensorId) -> Result<Src<'_>, ExecError> {
        let t = self.graph.get(id);
        let no_data = || ExecError::NoData {
            tensor: t.name.clone(),
        };
        let Place::Strided { root, offset, nb } = self.places[id.index()] else {
            return Err(no_data());
        };
        let data = self.stores[root.index()].bytes().ok_or_else(no_data)?;
        Ok(Src {
            data: &data[offset..],
            ty: t.ty,
            ne: t.ne.map(|n| n as usize),
            nb,
        })
    }

    fn view(&self, id: TensorId) -> Result<TensorView<'_>, ExecError> {
        let t = self.graph.get(id);
        let no_data = || ExecError::NoData {
            tensor: t.name.clone(),
        };
        let place = self.places[id.index()];
        let root = place.root();
        let data = self.stores[root.index()].bytes().ok_or_else(no_data)?;
        let (layout, offset) = match place {
            Place::Strided { offset, nb, .. } => (
                Layout::Strided {
                    data: &data[offset..],
                    nb,
                },
                offset,
            ),
            Place::Windowed {
                start,
                len,
                period,
                window,
                ..
            } => (
                Layout::Windowed {
                    data,
                    start,
                    len,
                    period,
                    window,
                },
                start,
            ),
        };
        Ok(TensorView {
            ty: t.ty,
            ne: t.ne.map(|n| n as usize),
            layout,
            origin: Origin {
                root,
                offset,
                version: self.versions[root.index()],
            },
        })
    }

    /// Run node `id`'s kernel (views: nothing to do).
    fn compute(&mut self, index: usize, id: TensorId) -> Result<(), ExecError> {
        let g = self.graph;
        let t = g.get(id);
        if t.op.is_view() {
            return Ok(());
        }
        let kernel_err = |source| ExecError::Kernel {
            index,
            node: t.name.clone(),
            op: t.op.name(),
            source: Box::new(source),
        };
        let src_id = |i: usize| {
            t.src
                .get(i)
                .copied()
                .flatten()
                .ok_or_else(|| kernel_err(missing_src(t, i)))
        };
        let root = self.root(id);
        if root == id {
            self.allocate(id, t.n_bytes(), false);
        }
        // the destination buffer leaves the store while the kernel borrows the others
        let mut out = std::mem::take(&mut self.stores[root.index()]);
        let result = (|| -> Result<(), ExecError> {
            let Store::Owned(buf) = &mut out else {
                return Err(ExecError::NoData {
                    tensor: g.get(root).name.clone(),
                });
            };
            let pool = Arc::clone(&self.pool);
            match t.op {
                Op::SetRows | Op::Cpy => {
                    let mut dst = Dst {
                        data: buf.bytes_mut(),
                        map: self.cache_maps[root.index()],
                        offset: t.view_offs,
                        ty: t.ty,
                        ne: t.ne.map(|n| n as usize),
                        nb: t.nb,
                    };
                    let a = self.src(src_id(0)?)?;
                    if t.op == Op::SetRows {
                        let idx = self.src(src_id(1)?)?;
                        kernels::set_rows(&a, &idx, &mut dst).map_err(kernel_err)
                    } else {
                        kernels::cpy(&a, &mut dst).map_err(kernel_err)
                    }
                }
                Op::Cont => {
                    let a = self.src(src_id(0)?)?;
                    pool.install(|| kernels::cont(&a, buf.bytes_mut()))
                        .map_err(kernel_err)
                }
                _ => {
                    if t.ty != GgmlType::F32 {
                        return Err(kernel_err(KernelError::UnsupportedType {
                            op: t.op.name(),
                            what: "result",
                            ty: t.ty,
                        }));
                    }
                    let srcs: Vec<Option<Src>> = t
                        .src
                        .iter()
                        .map(|s| s.map(|s| self.src(s)).transpose())
                        .collect::<Result<_, _>>()?;
                    let dst: &mut [f32] = bytemuck::cast_slice_mut(buf.bytes_mut());
                    pool.install(|| run_f32_kernel(t, &srcs, dst))
                        .map_err(kernel_err)
                }
            }
        })();
        self.stores[root.index()] = out;
        self.versions[root.index()] += 1;
        result
    }

    /// A kept tensor's values as f32 in ggml order (whole logical tensor; a windowed cache view
    /// reads zeros where nothing is allocated).
    pub fn output_f32(&self, id: TensorId) -> Result<Vec<f32>, ExecError> {
        let view = self.view(id)?;
        let mut out = Vec::with_capacity(view.n_elements() as usize);
        view.for_each_run(|run| match run {
            crate::capture::Run::Values(v) => out.extend_from_slice(v),
            crate::capture::Run::Zeros(n) => out.extend(std::iter::repeat_n(0.0, n as usize)),
        });
        Ok(out)
    }
}

/// The kernels that write a dense f32 result.
fn run_f32_kernel(t: &Tensor, s: &[Option<Src>], dst: &mut [f32]) -> Result<(), KernelError> {
    let src = |i: usize| {
        s.get(i)
            .and_then(Option::as_ref)
            .ok_or_else(|| missing_src(t, i))
    };
    match t.op {
        Op::GetRows => kernels::get_rows(src(0)?, src(1)?, dst),
        Op::RmsNorm { eps } => kernels::rms_norm(src(0)?, eps, dst),
        Op::Norm { eps } => kernels::norm(src(0)?, eps, dst),
        Op::Add => kernels::add(src(0)?, src(1)?, dst),
        Op::Mul => kernels::mul(src(0)?, src(1)?, dst),
        Op::MulMat => kernels::mul_mat(src(0)?, src(1)?, dst),
        Op::Scale { s, b } => kernels::scale(src(0)?, s, b, dst),
        Op::Rope(p) => kernels::rope(src(0)?, src(1)?, src(2).ok(), &p, dst),
        Op::SoftMax { scale, max_bias } => {
            kernels::soft_max(src(0)?, src(1).ok(), scale, max_bias, dst)
        }
        Op::FlashAttnExt {
            scale,
            max_bias,
            logit_softcap,
        } => kernels::flash_attn_ext(
            src(0)?,
            src(1)?,
            src(2)?,
            src(3).ok(),
            scale,
            max_bias,
            logit_softcap,
            dst,
        ),
        Op::Glu { op, swapped } => kernels::glu(op, swapped, src(0)?, src(1).ok(), dst),
        Op::Unary(op) => kernels::unary(op, src(0)?, dst),
        Op::None
        | Op::Reshape
        | Op::View { .. }
        | Op::Permute { .. }
        | Op::Transpose
        | Op::Cont
        | Op::Cpy
        | Op::SetRows => Err(KernelError::UnsupportedParam {
            op: t.op.name(),
            what: "dispatch",
            value: "not an f32 kernel".into(),
        }),
    }
}

fn missing_src(t: &Tensor, i: usize) -> KernelError {
    KernelError::Shape {
        op: t.op.name(),
        what: "sources",
        expected: format!("src[{i}]"),
        found: "none".into(),
    }
}

/// Bytes from a tensor's first element to the end of its last one, for strides `nb`.
fn span(ty: GgmlType, ne: [i64; 4], nb: [usize; 4]) -> usize {
    let mut bytes = ty.type_size();
    bytes += (ne[0] as usize / ty.block_size()).saturating_sub(1) * nb[0];
    for d in 1..4 {
        bytes += (ne[d] as usize).saturating_sub(1) * nb[d];
    }
    bytes
}

/// If `t`'s elements all fall at `offset % period + (parts of strides below period)`, with every
/// other stride a multiple of `period`, the end of that in-period span; else `None`.
fn in_period_end(t: &Tensor, period: usize) -> Option<usize> {
    let mut end = t.view_offs % period + t.ty.type_size();
    for d in 0..4 {
        let n = t.ne[d] as usize;
        if n > 1 && !t.nb[d].is_multiple_of(period) {
            let count = if d == 0 { n / t.ty.block_size() } else { n };
            end += (count - 1) * t.nb[d];
        }
    }
    (end <= period).then_some(end)
}

#[cfg(test)]
mod tests;
