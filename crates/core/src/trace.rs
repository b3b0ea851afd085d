//! The graph document: the one versioned format shared by the trace file, `GET /api/graph`,
//! `graph --json`, imported llama.cpp logs and the viewer (web/src/api.ts mirrors these types).
//! docs/FORMAT.md documents it for other tools.
//!
//! A trace file (`.ttrace`) is a safetensors file: the graph document is stored as JSON in the
//! header's `__metadata__` under the key `"tensor-trace"`, and each captured tensor's values are
//! a tensor named by its `values.key`. Any safetensors reader can read the values.

mod file;

pub use file::{read, write, Trace, TraceError};

use serde::{Deserialize, Serialize};

use crate::dtype::GgmlType;
use crate::graph::{Graph, Group, Leaf, TensorId};
use crate::op::Op;

/// Name of the format in [`GraphDoc::format`].
pub const FORMAT_NAME: &str = "tensor-trace-graph";
/// Bumped on any incompatible change of [`GraphDoc`].
pub const FORMAT_VERSION: u32 = 1;
/// Key of the graph document in a trace file's safetensors `__metadata__`.
pub const METADATA_KEY: &str = "tensor-trace";

/// A whole graph, optionally with the run that computed it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GraphDoc {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// Always [`FORMAT_VERSION`] when written by this build.
    pub version: u32,
    pub model: ModelInfo,
    /// Present when the graph was computed on a prompt.
    pub run: Option<RunInfo>,
    /// Every tensor of the graph (leaves and nodes); `tensors[i].id == i`.
    pub tensors: Vec<TensorDoc>,
    /// Node ids in execution order.
    pub nodes: Vec<u32>,
}

/// What model the graph is of.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Display name (`general.name`, or the preset's name).
    pub name: String,
    /// `general.architecture` (`llama`).
    pub architecture: String,
    /// `"gguf"`, `"preset"` or `"llama.cpp-log"`.
    pub source: String,
    /// File name of the GGUF or log, if any (never a full path sent to a browser).
    pub file: Option<String>,
    /// Hyperparameters as named in GGUF metadata without the arch prefix
    /// (`block_count`, `embedding_length`, `attention.head_count`, …).
    pub hparams: serde_json::Map<String, serde_json::Value>,
    /// Total weight parameters.
    pub n_params: u64,
    /// Total weight bytes.
    pub n_bytes: u64,
}

/// The prompt run that produced the values.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RunInfo {
    pub prompt: String,
    pub tokens: Vec<TokenInfo>,
    pub flash_attn: bool,
    /// Context cells (KV cache size) as llama.cpp sizes it.
    pub n_ctx: u32,
    /// Cells the attention reads (padded to 256).
    pub n_kv: u32,
    pub n_threads: u32,
    /// Next-token prediction after the last prompt token, best first.
    pub top: Vec<TopToken>,
    /// Wall time of graph computation, milliseconds.
    pub compute_ms: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokenInfo {
    pub id: u32,
    /// Raw vocabulary piece (`ĠParis`).
    pub piece: String,
    /// Decoded text (` Paris`).
    pub text: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TopToken {
    pub id: u32,
    pub piece: String,
    pub text: String,
    /// `"nan"`/`"inf"` in JSON when not finite (a run that overflowed).
    #[serde(with = "nonfinite::scalar32")]
    pub logit: f32,
    /// Softmax over the whole vocabulary (computed in f64).
    #[serde(with = "nonfinite::scalar")]
    pub prob: f64,
}

/// True when a top-k list ranks nothing: every probability is NaN/Inf (the logits were), so
/// the listed tokens are the first ids, not a prediction.
pub fn no_prediction(top: &[TopToken]) -> bool {
    !top.is_empty() && top.iter().all(|t| !t.prob.is_finite())
}

/// One tensor: leaf or node.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TensorDoc {
    pub id: u32,
    pub name: String,
    /// ggml's printed op name (`MUL_MAT`, `SWIGLU`, `NONE` for leaves).
    pub op: String,
    /// Op parameters (`{"eps":1e-5}`, RoPE's, …), `null` when the op has none.
    pub params: serde_json::Value,
    /// `"node"`, `"weight"`, `"input"` or `"cache"`.
    pub kind: String,
    #[serde(rename = "type")]
    pub ty: GgmlType,
    /// ggml shape, ne[0] innermost.
    pub ne: [i64; 4],
    /// Byte strides.
    pub nb: [u64; 4],
    /// Source tensor ids by position (`null` where ggml has NULL).
    pub src: Vec<Option<u32>>,
    pub view_src: Option<u32>,
    pub view_offs: u64,
    pub layer: Option<u32>,
    pub group: Group,
    /// Rust source line that recorded it (`crates/models/src/llama.rs`, line, col).
    pub location: Option<Location>,
    /// Position in execution order (nodes only).
    pub exec_index: Option<u32>,
    /// Floating-point operations to compute this node (0 for views and leaves).
    pub flops: u64,
    /// Bytes read (sources) and written (result) by the kernel.
    pub bytes_read: u64,
    pub bytes_written: u64,
    /// Value statistics when traced.
    pub stats: Option<Stats>,
    /// Where the values are, when captured.
    pub values: Option<ValuesRef>,
    /// The values llama.cpp's eval callback printed for this tensor (imported logs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub printed: Option<Printed>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Location {
    pub file: String,
    pub line: u32,
    pub col: u32,
}

/// Statistics over every element of a tensor (walked through its strides, like llama.cpp's
/// printer), NaN and Inf excluded from min/max/mean/std but counted. With no finite element,
/// min/max/mean/std are NaN. Non-finite numbers are written as the JSON strings `"nan"`,
/// `"inf"`, `"-inf"` (JSON has no NaN), so a run that overflowed reads back as it was.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub n: u64,
    #[serde(with = "nonfinite::scalar")]
    pub min: f64,
    #[serde(with = "nonfinite::scalar")]
    pub max: f64,
    #[serde(with = "nonfinite::scalar")]
    pub mean: f64,
    #[serde(with = "nonfinite::scalar")]
    pub std: f64,
    /// Sum of all elements as llama.cpp's eval callback prints it (f32, in order: NaN or ±Inf
    /// when an element is, or when the f32 sum overflows).
    #[serde(with = "nonfinite::scalar")]
    pub sum: f64,
    pub nan: u64,
    pub inf: u64,
}

/// What llama.cpp's eval callback printed for a tensor: the first and last 3 indices along ne0,
/// ne1 and ne2 (every index of a dimension of at most 6; ne3 never elided) and the sum.
/// Values are rounded to 4 decimals (`%12.4f`); non-finite numbers are the JSON strings
/// `"nan"`, `"inf"`, `"-inf"`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Printed {
    /// Element coordinates `[i0, i1, i2, i3]` (ggml order) of each printed value.
    pub coords: Vec<[u64; 4]>,
    #[serde(with = "nonfinite::vec")]
    pub values: Vec<f32>,
    /// The printed `sum = …` (f32 sum over every element); `None` for quantized tensors.
    #[serde(default, with = "nonfinite::option")]
    pub sum: Option<f64>,
}

/// JSON has no NaN or infinity: these write them as strings and read them back.
mod nonfinite {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// A number as written: `T` is f32 for values (so 0.1096 stays `0.1096`), f64 for sums.
    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Num<T> {
        F(T),
        S(String),
    }

    fn to_num<T: Into<f64> + Copy>(v: T) -> Num<T> {
        let x: f64 = v.into();
        if x.is_nan() {
            Num::S("nan".into())
        } else if x.is_infinite() {
            Num::S(if x > 0.0 { "inf" } else { "-inf" }.into())
        } else {
            Num::F(v)
        }
    }

    fn from_num<E: serde::de::Error>(n: Num<f64>) -> Result<f64, E> {
        match n {
            Num::F(v) => Ok(v),
            Num::S(s) => match s.as_str() {
                "nan" => Ok(f64::NAN),
                "inf" => Ok(f64::INFINITY),
                "-inf" => Ok(f64::NEG_INFINITY),
                _ => Err(E::custom(format!(
                    "expected a number, \"nan\", \"inf\" or \"-inf\", found {s:?}"
                ))),
            },
        }
    }

    pub mod vec {
        use super::*;

        pub fn serialize<S: Serializer>(v: &[f32], s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(v.iter().map(|&x| to_num(x)))
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f32>, D::Error> {
            Vec::<Num<f64>>::deserialize(d)?
                .into_iter()
                .map(|n| from_num(n).map(|v| v as f32))
                .collect()
        }
    }

    pub mod scalar {
        use super::*;

        pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
            to_num(*v).serialize(s)
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
            from_num(Num::<f64>::deserialize(d)?)
        }
    }

    pub mod scalar32 {
        use super::*;

        pub fn serialize<S: Serializer>(v: &f32, s: S) -> Result<S::Ok, S::Error> {
            to_num(*v).serialize(s)
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
            from_num(Num::<f64>::deserialize(d)?).map(|v| v as f32)
        }
    }

    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
            v.map(to_num).serialize(s)
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
            Option::<Num<f64>>::deserialize(d)?
                .map(from_num)
                .transpose()
        }
    }
}

/// Pointer to a captured tensor's values in the trace payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValuesRef {
    /// Tensor name in the safetensors payload.
    pub key: String,
    /// Shape of what was stored, ggml order (ne[0] innermost); equals `ne` when complete.
    pub ne: [i64; 4],
    /// False when only a part was kept (memory budget, or only the cache cells in use).
    pub complete: bool,
}

impl TensorDoc {
    /// The document of one graph tensor, without stats or values.
    pub fn from_graph(g: &Graph, id: TensorId, exec_index: Option<u32>) -> TensorDoc {
        let t = g.get(id);
        let params = match serde_json::to_value(t.op) {
            Ok(serde_json::Value::Object(mut m)) => m.remove("params").unwrap_or_default(),
            _ => serde_json::Value::Null,
        };
        let kind = match &t.leaf {
            None => "node",
            Some(Leaf::Weight) => "weight",
            Some(Leaf::Input(_)) => "input",
            Some(Leaf::Cache) => "cache",
        };
        let (flops, bytes_read, bytes_written) = cost(g, id);
        TensorDoc {
            id: id.0,
            name: t.name.clone(),
            op: t.op.name().to_string(),
            params,
            kind: kind.to_string(),
            ty: t.ty,
            ne: t.ne,
            nb: t.nb.map(|n| n as u64),
            src: t.src.iter().map(|s| s.map(|s| s.0)).collect(),
            view_src: t.view_src.map(|s| s.0),
            view_offs: t.view_offs as u64,
            layer: t.layer,
            group: t.group,
            location: t.location.map(|l| Location {
                file: l.file.to_string(),
                line: l.line,
                col: l.col,
            }),
            exec_index,
            flops,
            bytes_read,
            bytes_written,
            stats: None,
            values: None,
            printed: None,
        }
    }
}

/// FLOPs, bytes read and bytes written by one node's kernel (leaves and views: zero).
pub fn cost(g: &Graph, id: TensorId) -> (u64, u64, u64) {
    let t = g.get(id);
    if t.is_leaf() || t.op.is_view() {
        return (0, 0, 0);
    }
    let n = t.n_elements();
    // SET_ROWS's src[2] is its destination (ggml keeps it as a source): not read.
    let n_read = if t.op == Op::SetRows { 2 } else { t.src.len() };
    let src_bytes: u64 = t.src[..n_read.min(t.src.len())]
        .iter()
        .flatten()
        .map(|&s| g.get(s).n_bytes() as u64)
        .sum();
    let out = t.n_bytes() as u64;
    let flops = match t.op {
        Op::MulMat => {
            let k = g.get(t.src[0].expect("mul_mat has src0")).ne[0] as u64;
            2 * k * n
        }
        Op::FlashAttnExt { .. } => {
            let q = g.get(t.src[0].expect("flash_attn has q"));
            let k = g.get(t.src[1].expect("flash_attn has k"));
            let (d, n_q, heads, n_kv) = (
                q.ne[0] as u64,
                q.ne[1] as u64,
                q.ne[2] as u64,
                k.ne[1] as u64,
            );
            // scores, softmax (≈5 per score), weighted sum
            heads * n_q * n_kv * (2 * d + 5 + 2 * t.ne[0] as u64)
        }
        Op::SoftMax { .. } => 5 * n,
        Op::RmsNorm { .. } | Op::Norm { .. } => 4 * n,
        Op::Rope(_) => 6 * n,
        Op::Glu { .. } => 6 * n,
        Op::Unary(_) => 4 * n,
        Op::Add | Op::Mul | Op::Scale { .. } => n,
        Op::SetRows => {
            let rows = g.get(t.src[0].expect("set_rows has src0"));
            rows.n_elements()
        }
        _ => 0,
    };
    // SET_ROWS writes only the given rows, not the whole destination.
    let written = if t.op == Op::SetRows {
        let rows = g.get(t.src[0].expect("set_rows has src0"));
        rows.n_elements() * t.ty.type_size() as u64 / t.ty.block_size() as u64
    } else {
        out
    };
    (flops, src_bytes, written)
}

impl GraphDoc {
    /// The document of a graph's reachable tensors (leaves and nodes, arena order kept), no run.
    pub fn from_graph(g: &Graph, model: ModelInfo) -> GraphDoc {
        let new_id = doc_ids(g);
        let mut exec = vec![None; g.tensors.len()];
        for (i, &id) in g.nodes.iter().enumerate() {
            exec[id.index()] = Some(i as u32);
        }
        let remap = |id: u32| new_id[id as usize];
        let mut tensors = Vec::new();
        for (i, doc_id) in new_id.iter().enumerate() {
            let Some(doc_id) = *doc_id else { continue };
            let mut d = TensorDoc::from_graph(g, TensorId(i as u32), exec[i]);
            d.id = doc_id;
            d.src = d.src.iter().map(|s| s.and_then(remap)).collect();
            d.view_src = d.view_src.and_then(remap);
            tensors.push(d);
        }
        let nodes = g.nodes.iter().filter_map(|id| new_id[id.index()]).collect();
        GraphDoc {
            format: FORMAT_NAME.to_string(),
            version: FORMAT_VERSION,
            model,
            run: None,
            tensors,
            nodes,
        }
    }
}

/// The document id of each graph tensor: tensors reached by `build_forward_expand` (nodes and
/// leaves) are numbered densely in arena order; unreached ones are `None`.
pub fn doc_ids(g: &Graph) -> Vec<Option<u32>> {
    let mut keep = vec![false; g.tensors.len()];
    for &id in g.nodes.iter().chain(g.leafs.iter()) {
        keep[id.index()] = true;
    }
    let mut next = 0u32;
    keep.iter()
        .map(|&k| {
            k.then(|| {
                next += 1;
                next - 1
            })
        })
        .collect()
}
