//! The compute graph, mirroring ggml's: every tensor (weights, inputs, KV cache and computed
//! nodes) lives in one arena, and `build_forward_expand` orders the nodes exactly as ggml's
//! `ggml_build_forward_expand` does (depth-first over sources, left to right, post-order).
//!
//! Recording a node never computes anything (ggml: `ggml_mul_mat` records, `ggml_compute_forward_*`
//! computes). Each constructor applies ggml's shape rules, names the result as ggml does (views get
//! ` (view)`, ` (reshaped)`, ` (permuted)` … suffixes; nodes left unnamed become `node_<index>`
//! when added to the graph) and records, in the same call, the layer, the semantic group and the
//! source line that created it (`#[track_caller]`), so the viewer can show that exact line.
//!
//! Conventions (docs/CONVENTIONS.md): `ne` is ggml's shape, `ne[0]` the innermost, contiguous
//! dimension; `nb` are byte strides; `mul_mat(a, b)` computes `b · aᵀ` with result
//! `[a.ne1, b.ne1, b.ne2, b.ne3]`.

use std::panic::Location;

use serde::{Deserialize, Serialize};

use crate::dtype::GgmlType;
use crate::op::Op;

/// Index of a tensor in its [`Graph`]'s arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TensorId(pub u32);

impl TensorId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// What a tensor means in the model: the viewer groups and colours blocks by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    /// Token embedding lookup.
    Embedding,
    /// Query projection, its reshapes, RoPE and views.
    Query,
    /// Key projection, its reshapes and RoPE.
    Key,
    /// Value projection and its reshapes.
    Value,
    /// Scores, softmax, weighted sum (or the fused flash-attention node) and output projection.
    Attention,
    /// KV-cache tensors, writes into them and views read from them.
    KvCache,
    /// Feed-forward network: gate, up, activation, down.
    Mlp,
    /// The residual stream: the additions that carry the hidden state from layer to layer.
    Residual,
    /// RMS/layer norms and their weight multiplications.
    Norm,
    /// Final projection to logits.
    Output,
    /// Graph inputs: token ids, positions, masks, cache indices.
    Input,
}

impl Group {
    pub const ALL: [Group; 11] = [
        Group::Embedding,
        Group::Query,
        Group::Key,
        Group::Value,
        Group::Attention,
        Group::KvCache,
        Group::Mlp,
        Group::Residual,
        Group::Norm,
        Group::Output,
        Group::Input,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Group::Embedding => "embedding",
            Group::Query => "query",
            Group::Key => "key",
            Group::Value => "value",
            Group::Attention => "attention",
            Group::KvCache => "kv_cache",
            Group::Mlp => "mlp",
            Group::Residual => "residual",
            Group::Norm => "norm",
            Group::Output => "output",
            Group::Input => "input",
        }
    }
}

/// Where a leaf tensor's data comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Leaf {
    /// A model weight, read from the GGUF tensor of the same name.
    Weight,
    /// A graph input filled before each run (`inp_tokens`, `inp_pos`, `attn_inp_kq_mask`, …).
    Input(InputKind),
    /// A KV-cache buffer (`cache_k_l<il>`, `cache_v_l<il>`), zero at the start of a sequence.
    Cache,
}

/// The graph inputs llama.cpp sets in `llm_graph_input_*::set_input`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    /// i32 [n_tokens]: the prompt's token ids.
    Tokens,
    /// i32 [n_tokens]: each token's position.
    Positions,
    /// [n_kv, n_tokens_padded]: 0 where a token may attend a cell, -inf elsewhere.
    KqMask,
    /// i64 [n_tokens]: the cache cell each new K row goes to.
    KIdxs,
    /// i64 [n_tokens] (or [n_tokens·n_embd_v] when V is stored transposed): V destinations.
    VIdxs,
    /// i32 [n_outputs]: the rows whose logits are wanted.
    OutIds,
}

/// A Rust source position: where a node was recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceLoc {
    /// Path relative to the workspace root, as `file!()` gives it (`crates/models/src/llama.rs`).
    pub file: &'static str,
    pub line: u32,
    pub col: u32,
}

impl SourceLoc {
    fn from_caller(loc: &'static Location<'static>) -> SourceLoc {
        SourceLoc {
            file: loc.file(),
            line: loc.line(),
            col: loc.column(),
        }
    }
}

/// One tensor of the graph: a leaf (weight, input, cache) or a computed node.
#[derive(Clone, Debug)]
pub struct Tensor {
    /// llama.cpp's name: `Qcur-0`, `cache_k_l0 (view)`, `node_21`, `token_embd.weight`.
    pub name: String,
    pub ty: GgmlType,
    /// Shape, ggml order: ne[0] innermost.
    pub ne: [i64; 4],
    /// Byte strides: nb[0] = type size (or block size for quantized), nb[i] = byte step along i.
    pub nb: [usize; 4],
    /// `Op::None` for leaves.
    pub op: Op,
    /// Sources by position, as ggml's `src[]` (None where ggml has NULL, e.g. ROPE's freq factors).
    pub src: Vec<Option<TensorId>>,
    /// For views (VIEW, RESHAPE, PERMUTE, TRANSPOSE, SET_ROWS results): the tensor whose memory
    /// this one aliases, always a non-view tensor, and the byte offset into it.
    pub view_src: Option<TensorId>,
    pub view_offs: usize,
    /// Set for leaves.
    pub leaf: Option<Leaf>,
    /// Layer index (llama.cpp's `il`), `None` outside the layers.
    pub layer: Option<u32>,
    pub group: Group,
    /// The Rust line that recorded this tensor.
    pub location: Option<SourceLoc>,
}

impl Tensor {
    pub fn n_elements(&self) -> u64 {
        self.ne.iter().map(|&n| n as u64).product()
    }

    /// Bytes of the data this tensor spans, from its first to its last element.
    pub fn n_bytes(&self) -> usize {
        let blck = self.ty.block_size();
        if self.ne.contains(&0) {
            return 0;
        }
        let mut bytes = self.ty.type_size();
        bytes += (self.ne[0] as usize / blck - 1) * self.nb[0];
        for i in 1..4 {
            bytes += (self.ne[i] as usize - 1) * self.nb[i];
        }
        bytes
    }

    /// True when elements are laid out densely in ne order (ggml_is_contiguous).
    pub fn is_contiguous(&self) -> bool {
        contiguous_strides(self.ty, self.ne) == self.nb
    }

    pub fn is_leaf(&self) -> bool {
        self.leaf.is_some()
    }

    /// Number of dimensions as ggml prints them (trailing 1s dropped, at least 1).
    pub fn n_dims(&self) -> usize {
        (1..4).rev().find(|&i| self.ne[i] != 1).map_or(1, |i| i + 1)
    }
}

/// Dense strides for a shape (ggml_new_tensor_impl).
pub fn contiguous_strides(ty: GgmlType, ne: [i64; 4]) -> [usize; 4] {
    let mut nb = [0usize; 4];
    nb[0] = ty.type_size();
    nb[1] = nb[0] * (ne[0] as usize / ty.block_size());
    for i in 2..4 {
        nb[i] = nb[i - 1] * ne[i - 1] as usize;
    }
    nb
}

/// A graph under construction and, once expanded, its execution order.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    /// Arena of every tensor ever recorded (also those never reached by an expand).
    pub tensors: Vec<Tensor>,
    /// Computed nodes in execution order (ggml `cgraph->nodes`).
    pub nodes: Vec<TensorId>,
    /// Leaves reached by an expand, in visit order (ggml `cgraph->leafs`).
    pub leafs: Vec<TensorId>,
    visited: Vec<bool>,
    /// Layer stamped on tensors recorded from now on (the builder sets it per layer).
    current_layer: Option<u32>,
}

impl Graph {
    pub fn new() -> Graph {
        Graph::default()
    }

    pub fn get(&self, id: TensorId) -> &Tensor {
        &self.tensors[id.index()]
    }

    pub fn get_mut(&mut self, id: TensorId) -> &mut Tensor {
        &mut self.tensors[id.index()]
    }

    /// Layer stamped on the tensors recorded after this call.
    pub fn set_layer(&mut self, layer: Option<u32>) {
        self.current_layer = layer;
    }

    pub fn current_layer(&self) -> Option<u32> {
        self.current_layer
    }

    /// Record a leaf (weight, input or cache) with dense strides.
    #[track_caller]
    pub fn new_leaf(
        &mut self,
        name: impl Into<String>,
        leaf: Leaf,
        ty: GgmlType,
        ne: [i64; 4],
        group: Group,
    ) -> TensorId {
        let t = Tensor {
            name: name.into(),
            ty,
            ne,
            nb: contiguous_strides(ty, ne),
            op: Op::None,
            src: Vec::new(),
            view_src: None,
            view_offs: 0,
            leaf: Some(leaf),
            layer: self.current_layer,
            group,
            location: Some(SourceLoc::from_caller(Location::caller())),
        };
        self.push(t)
    }

    /// Record a computed node. `view` is `Some((base, offset))` for ops whose result aliases
    /// another tensor's memory; the base is resolved to the underlying non-view tensor like
    /// `ggml_new_tensor_impl` does. The group and layer default to the first source's group and
    /// the current layer; callers refine them with [`Graph::cb`] / [`Graph::set_group`].
    #[allow(clippy::too_many_arguments)]
    pub fn new_node(
        &mut self,
        op: Op,
        ty: GgmlType,
        ne: [i64; 4],
        nb: Option<[usize; 4]>,
        src: Vec<Option<TensorId>>,
        view: Option<(TensorId, usize)>,
        name: String,
        location: &'static Location<'static>,
    ) -> TensorId {
        let (view_src, view_offs) = match view {
            Some((base, offs)) => {
                let b = self.get(base);
                match b.view_src {
                    Some(root) => (Some(root), b.view_offs + offs),
                    None => (Some(base), offs),
                }
            }
            None => (None, 0),
        };
        let group = src
            .first()
            .copied()
            .flatten()
            .map_or(Group::Input, |s| self.get(s).group);
        let t = Tensor {
            name,
            ty,
            ne,
            nb: nb.unwrap_or_else(|| contiguous_strides(ty, ne)),
            op,
            src,
            view_src,
            view_offs,
            leaf: None,
            layer: self.current_layer,
            group,
            location: Some(SourceLoc::from_caller(location)),
        };
        self.push(t)
    }

    fn push(&mut self, t: Tensor) -> TensorId {
        let id = TensorId(self.tensors.len() as u32);
        self.tensors.push(t);
        self.visited.push(false);
        id
    }

    /// ggml_set_name.
    pub fn set_name(&mut self, id: TensorId, name: impl Into<String>) {
        self.get_mut(id).name = name.into();
    }

    pub fn set_group(&mut self, id: TensorId, group: Group) {
        self.get_mut(id).group = group;
    }

    /// llama.cpp's graph callback `cb(t, name, il)`: names the tensor `"<name>-<il>"` (plain
    /// `"<name>"` when `il` is `None`), stamps the layer, and gives it `group`.
    pub fn cb(&mut self, id: TensorId, name: &str, il: Option<u32>, group: Group) {
        let t = self.get_mut(id);
        t.name = match il {
            Some(il) => format!("{name}-{il}"),
            None => name.to_string(),
        };
        t.layer = il;
        t.group = group;
    }

    /// ggml_build_forward_expand: append every not-yet-visited ancestor of `id`, sources first,
    /// left to right, then `id` itself. Unnamed nodes are named `node_<index>`, unnamed leaves
    /// `leaf_<index>` at that moment (ggml_visit_parents_graph).
    pub fn build_forward_expand(&mut self, id: TensorId) {
        // Iterative post-order DFS (graphs of 100+ layers would overflow a recursive one).
        let mut stack: Vec<(TensorId, usize)> = vec![(id, 0)];
        if self.visited[id.index()] {
            return;
        }
        self.visited[id.index()] = true;
        while let Some(&mut (cur, ref mut next_src)) = stack.last_mut() {
            let srcs = &self.tensors[cur.index()].src;
            let mut pushed = None;
            while *next_src < srcs.len() {
                let s = srcs[*next_src];
                *next_src += 1;
                if let Some(s) = s {
                    if !self.visited[s.index()] {
                        pushed = Some(s);
                        break;
                    }
                }
            }
            match pushed {
                Some(s) => {
                    self.visited[s.index()] = true;
                    stack.push((s, 0));
                }
                None => {
                    stack.pop();
                    self.append(cur);
                }
            }
        }
    }

    fn append(&mut self, id: TensorId) {
        let is_leaf = self.get(id).op == Op::None;
        let list_len = if is_leaf {
            self.leafs.len()
        } else {
            self.nodes.len()
        };
        let t = self.get_mut(id);
        if t.name.is_empty() {
            t.name = if is_leaf {
                format!("leaf_{list_len}")
            } else {
                format!("node_{list_len}")
            };
        }
        if is_leaf {
            self.leafs.push(id);
        } else {
            self.nodes.push(id);
        }
    }

    /// Position of a node in execution order.
    pub fn exec_index(&self, id: TensorId) -> Option<usize> {
        self.nodes.iter().position(|&n| n == id)
    }
}
