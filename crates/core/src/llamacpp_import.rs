//! Turns a parsed `llama-eval-callback` log into a [`GraphDoc`], so llama.cpp's own run can be
//! viewed, compared and exported like one of ours.
//!
//! What the log gives is kept as is: nodes in execution order with their names, printed op
//! names, result types and shapes, the printed values (`TensorDoc::printed`) and sums. Links:
//! each printed source is resolved to the latest earlier tensor with the same name and shape
//! (llama.cpp reuses names: `Qcur-0` is the MUL_MAT, then the RESHAPE, then the ROPE); a source
//! no node produced becomes a synthesized leaf (`token_embd.weight`, `inp_tokens`,
//! `cache_k_l0`). Layers and groups are inferred from llama.cpp's graph-callback vocabulary
//! (`Qcur-<il>`, `ffn_out-<il>`, `cache_k_l<il>`, `blk.<il>.*`), which all of its architectures
//! share, so nothing here is LLaMA-specific.
//!
//! What the log does not give is not invented: op parameters are `null`, strides are dense,
//! view offsets 0, FLOPs and bytes 0; only the first two sources are printed (FLASH_ATTN_EXT's
//! V and mask, SOFT_MAX's sinks are absent); leaf types are known only where a view of the leaf
//! was printed (the KV cache) or the input's type is fixed by llama.cpp (token ids, positions,
//! row indices); other leaves (weights) are marked `params: {"type_known": false}` with type
//! f32. The hyperparameters that the shapes determine are filled in (`embedding_length`,
//! `block_count`, head counts and sizes, `feed_forward_length`, `vocab_size`); the
//! architecture is left empty.

use std::collections::HashMap;

use thiserror::Error;

use crate::dtype::GgmlType;
use crate::graph::{contiguous_strides, Group};
use crate::llamacpp_log::{EvalLog, LogNode};
use crate::trace::{
    GraphDoc, ModelInfo, Printed, RunInfo, TensorDoc, TokenInfo, FORMAT_NAME, FORMAT_VERSION,
};

/// `ModelInfo::source` of an imported log.
pub const SOURCE: &str = "llama.cpp-log";

#[derive(Debug, Error)]
pub enum ImportError {
    #[error(
        "line {line}: node `{name}` has type {found:?}, which is not a ggml type this build knows"
    )]
    UnknownType {
        line: usize,
        name: String,
        found: String,
    },
    #[error("the log has no nodes")]
    NoNodes,
}

/// Build the graph document of a parsed log. `file` is the log's file name (no directory).
pub fn to_graph_doc(log: &EvalLog, file: Option<&str>) -> Result<GraphDoc, ImportError> {
    if log.nodes.is_empty() {
        return Err(ImportError::NoNodes);
    }
    let mut b = Builder::default();
    for (exec, node) in log.nodes.iter().enumerate() {
        b.add_node(node, exec as u32)?;
    }
    let hparams = infer_hparams(&b.tensors);
    let n_params = b
        .tensors
        .iter()
        .filter(|t| t.kind == "weight")
        .map(|t| t.ne.iter().map(|&n| n as u64).product::<u64>())
        .sum();
    let find_leaf = |pred: &dyn Fn(&TensorDoc) -> bool| {
        b.tensors
            .iter()
            .find(|t| t.kind != "node" && pred(t))
            .map(|t| t.ne)
    };
    let n_ctx = find_leaf(&|t| t.name.starts_with("cache_k_l")).map_or(0, |ne| ne[1] as u32);
    let n_kv = find_leaf(&|t| t.name.ends_with("kq_mask")).map_or(0, |ne| ne[0] as u32);
    let run = RunInfo {
        prompt: String::new(),
        tokens: log
            .tokens
            .iter()
            .map(|&id| TokenInfo {
                id,
                piece: String::new(),
                text: String::new(),
            })
            .collect(),
        flash_attn: b.tensors.iter().any(|t| t.op == "FLASH_ATTN_EXT"),
        n_ctx,
        n_kv,
        n_threads: log.n_threads.unwrap_or(0),
        top: Vec::new(),
        compute_ms: 0.0,
    };
    Ok(GraphDoc {
        format: FORMAT_NAME.to_string(),
        version: FORMAT_VERSION,
        model: ModelInfo {
            name: file.unwrap_or("llama.cpp log").to_string(),
            architecture: String::new(),
            source: SOURCE.to_string(),
            file: file.map(str::to_string),
            hparams,
            n_params,
            n_bytes: 0,
        },
        run: Some(run),
        nodes: b.nodes,
        tensors: b.tensors,
    })
}

#[derive(Default)]
struct Builder {
    tensors: Vec<TensorDoc>,
    nodes: Vec<u32>,
    /// Tensor ids by name, in creation order (the latest wins among equal shapes).
    by_name: HashMap<String, Vec<u32>>,
}

impl Builder {
    fn push(&mut self, mut t: TensorDoc) -> u32 {
        let id = self.tensors.len() as u32;
        t.id = id;
        self.by_name.entry(t.name.clone()).or_default().push(id);
        self.tensors.push(t);
        id
    }

    /// The latest tensor called `name` with shape `ne`.
    fn resolve(&self, name: &str, ne: [i64; 4]) -> Option<u32> {
        self.by_name
            .get(name)?
            .iter()
            .rev()
            .copied()
            .find(|&id| self.tensors[id as usize].ne == ne)
    }

    fn add_node(&mut self, node: &LogNode, exec: u32) -> Result<(), ImportError> {
        let ty = node.ty.ggml().ok_or_else(|| ImportError::UnknownType {
            line: node.line,
            name: node.name.clone(),
            found: node.ty.name().to_string(),
        })?;
        let is_view = matches!(
            node.op.as_str(),
            "VIEW" | "RESHAPE" | "PERMUTE" | "TRANSPOSE"
        );
        let mut src = Vec::with_capacity(node.srcs.len());
        for (i, (name, ne)) in node.srcs.iter().enumerate() {
            let id = match self.resolve(name, *ne) {
                Some(id) => id,
                // A view shares its source's type: the one way the log reveals a leaf's type.
                None => self.push(leaf(name, *ne, (i == 0 && is_view).then_some(ty))),
            };
            src.push(Some(id));
        }
        // SET_ROWS returns a view of its destination, which is not among its printed sources
        // (src0 = the rows, src1 = the indices) but is named by it: `cache_k_l0 (view)` writes
        // into `cache_k_l0`, `cache_v_l0 (reshaped) (view)` into `cache_v_l0 (reshaped)`.
        let set_rows_dst = match (node.op.as_str(), node.name.strip_suffix(" (view)")) {
            ("SET_ROWS", Some(dst)) => Some(match self.resolve(dst, node.ne) {
                Some(id) => id,
                None => self.push(leaf(dst, node.ne, Some(ty))),
            }),
            _ => None,
        };
        let src0 = src[0].map(|s| &self.tensors[s as usize]);
        let view_base = if is_view {
            src0.map(|s| s.id)
        } else {
            set_rows_dst
        };
        let view_src = view_base.map(|b| self.tensors[b as usize].view_src.unwrap_or(b));
        let (layer, group) = match classify(&node.name) {
            Some((layer, group)) => (layer, group),
            None => {
                // Unnamed (`node_<i>`) or unknown: the fused attention is attention; anything
                // else belongs where its first source does.
                let group = if node.op == "FLASH_ATTN_EXT" {
                    Group::Attention
                } else {
                    src0.map_or(Group::Input, |s| s.group)
                };
                (src0.and_then(|s| s.layer), group)
            }
        };
        let layer = layer.or_else(|| src0.and_then(|s| s.layer));
        let id = self.push(TensorDoc {
            id: 0,
            name: node.name.clone(),
            op: node.op.clone(),
            params: serde_json::Value::Null,
            kind: "node".into(),
            ty,
            ne: node.ne,
            nb: dense(ty, node.ne),
            src,
            view_src,
            view_offs: 0,
            layer,
            group,
            location: None,
            exec_index: Some(exec),
            flops: 0,
            bytes_read: 0,
            bytes_written: 0,
            stats: None,
            values: None,
            printed: Some(Printed {
                coords: node
                    .preview
                    .iter()
                    .map(|(c, _)| c.map(|i| i as u64))
                    .collect(),
                values: node.preview.iter().map(|&(_, v)| v).collect(),
                sum: node.sum,
            }),
        });
        self.nodes.push(id);
        Ok(())
    }
}

/// Dense byte strides; for a shape that is not whole blocks, zeros (never panics).
fn dense(ty: GgmlType, ne: [i64; 4]) -> [u64; 4] {
    if !(ne[0] as usize).is_multiple_of(ty.block_size()) {
        return [0; 4];
    }
    contiguous_strides(ty, ne).map(|n| n as u64)
}

/// A synthesized leaf for a source no printed node produced.
fn leaf(name: &str, ne: [i64; 4], view_type: Option<GgmlType>) -> TensorDoc {
    let (kind, fixed_type) = leaf_kind(name);
    let ty = view_type.or(fixed_type);
    let (layer, group) = classify(name).unwrap_or((None, Group::Input));
    TensorDoc {
        id: 0,
        name: name.to_string(),
        op: "NONE".into(),
        params: if ty.is_some() {
            serde_json::Value::Null
        } else {
            serde_json::json!({ "type_known": false })
        },
        kind: kind.into(),
        ty: ty.unwrap_or(GgmlType::F32),
        ne,
        nb: dense(ty.unwrap_or(GgmlType::F32), ne),
        src: Vec::new(),
        view_src: None,
        view_offs: 0,
        layer,
        group,
        location: None,
        exec_index: None,
        flops: 0,
        bytes_read: 0,
        bytes_written: 0,
        stats: None,
        values: None,
        printed: None,
    }
}

/// Leaf kind and, for llama.cpp's graph inputs, the type llama.cpp always gives them.
fn leaf_kind(name: &str) -> (&'static str, Option<GgmlType>) {
    if name.starts_with("cache_") {
        return ("cache", None);
    }
    let is_weight = name.ends_with(".weight")
        || name.ends_with(".bias")
        || name.starts_with("blk.")
        || name.starts_with("token_embd")
        || name.starts_with("output");
    if is_weight {
        return ("weight", None);
    }
    // llm_graph_input_*: ids and positions are i32, cache row indices i64.
    let ty = match name {
        "inp_tokens" | "inp_pos" | "out_ids" => Some(GgmlType::I32),
        _ if name.ends_with("_k_idxs") || name.ends_with("_v_idxs") => Some(GgmlType::I64),
        _ => None,
    };
    ("input", ty)
}

/// Layer and group of a llama.cpp tensor name, `None` when the name says nothing
/// (`node_<i>`, unknown names).
fn classify(name: &str) -> Option<(Option<u32>, Group)> {
    // Weights: `blk.<il>.<what>.weight`, `token_embd.weight`, `output_norm.weight`, `output.weight`.
    if let Some(rest) = name.strip_prefix("blk.") {
        let (il, what) = rest.split_once('.')?;
        let il = il.parse().ok();
        return Some((il, weight_group(what)));
    }
    if name.starts_with("token_embd") {
        return Some((None, Group::Embedding));
    }
    if name.starts_with("output_norm") {
        return Some((None, Group::Norm));
    }
    if name.starts_with("output.") {
        return Some((None, Group::Output));
    }
    // Views keep their base's meaning: `Qcur-0 (view) (permuted)`, `cache_v_l0 (reshaped)`.
    let base = name.split(" (").next().unwrap_or(name);
    if let Some(rest) = base
        .strip_prefix("cache_k_l")
        .or_else(|| base.strip_prefix("cache_v_l"))
    {
        return Some((rest.parse().ok(), Group::KvCache));
    }
    let (stem, layer) = match base.rsplit_once('-') {
        Some((stem, il)) if !il.is_empty() && il.bytes().all(|b| b.is_ascii_digit()) => {
            (stem, il.parse().ok())
        }
        _ => (base, None),
    };
    let group = match stem {
        "embd" | "inp_embd" | "inp_scaled" => Group::Embedding,
        "Qcur" | "q" => Group::Query,
        "Kcur" | "k" => Group::Key,
        "Vcur" | "v" => Group::Value,
        "kq" | "kq_soft_max" | "kq_soft_max_ext" | "kqv" | "kqv_out" | "kqv_wo" | "attn_out"
        | "wo" => Group::Attention,
        "norm" | "attn_norm" | "ffn_norm" | "result_norm" | "attn_post_norm" | "ffn_post_norm" => {
            Group::Norm
        }
        "ffn_inp" | "l_out" => Group::Residual,
        "result_output" => Group::Output,
        _ if stem.starts_with("ffn_") => Group::Mlp,
        _ if stem.starts_with("inp_") || stem.contains("_inp_") || stem == "out_ids" => {
            Group::Input
        }
        _ => return None,
    };
    Some((layer, group))
}

fn weight_group(what: &str) -> Group {
    match what.split('.').next().unwrap_or(what) {
        "attn_q" => Group::Query,
        "attn_k" => Group::Key,
        "attn_v" => Group::Value,
        "attn_output" => Group::Attention,
        w if w.ends_with("_norm") => Group::Norm,
        w if w.starts_with("ffn_") => Group::Mlp,
        _ => Group::Attention,
    }
}

/// The hyperparameters the printed shapes determine, GGUF names without the arch prefix.
fn infer_hparams(tensors: &[TensorDoc]) -> serde_json::Map<String, serde_json::Value> {
    let mut h = serde_json::Map::new();
    let node = |name: &str, op: &str| {
        tensors
            .iter()
            .find(|t| t.kind == "node" && t.name == name && t.op == op)
            .map(|t| t.ne)
    };
    if let Some(t) = tensors.iter().find(|t| t.name == "token_embd.weight") {
        h.insert("embedding_length".into(), t.ne[0].into());
        h.insert("vocab_size".into(), t.ne[1].into());
    }
    let n_layer = tensors.iter().filter_map(|t| t.layer).max();
    if let Some(n) = n_layer {
        h.insert("block_count".into(), (n + 1).into());
    }
    // Per-head shapes from layer 0's reshapes: [head_dim, n_head, n_tokens].
    if let Some(ne) = node("Qcur-0", "RESHAPE") {
        h.insert("attention.head_count".into(), ne[1].into());
        h.insert("attention.key_length".into(), ne[0].into());
    }
    if let Some(ne) = node("Kcur-0", "RESHAPE") {
        h.insert("attention.head_count_kv".into(), ne[1].into());
    }
    if let Some(ne) = node("Vcur-0", "RESHAPE") {
        h.insert("attention.value_length".into(), ne[0].into());
    }
    if let Some(ne) = node("ffn_up-0", "MUL_MAT").or_else(|| node("ffn_gate-0", "MUL_MAT")) {
        h.insert("feed_forward_length".into(), ne[0].into());
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_llama_cpp_names() {
        assert_eq!(classify("Qcur-0"), Some((Some(0), Group::Query)));
        assert_eq!(
            classify("Qcur-12 (view) (permuted)"),
            Some((Some(12), Group::Query))
        );
        assert_eq!(
            classify("cache_v_l3 (reshaped) (view)"),
            Some((Some(3), Group::KvCache))
        );
        assert_eq!(
            classify("kq_soft_max-29"),
            Some((Some(29), Group::Attention))
        );
        assert_eq!(classify("ffn_swiglu-1"), Some((Some(1), Group::Mlp)));
        assert_eq!(classify("ffn_inp-1"), Some((Some(1), Group::Residual)));
        assert_eq!(classify("norm"), Some((None, Group::Norm)));
        assert_eq!(classify("result_output"), Some((None, Group::Output)));
        assert_eq!(classify("attn_inp_kq_mask"), Some((None, Group::Input)));
        assert_eq!(classify("blk.7.attn_k.weight"), Some((Some(7), Group::Key)));
        assert_eq!(
            classify("blk.7.ffn_norm.weight"),
            Some((Some(7), Group::Norm))
        );
        assert_eq!(classify("node_21"), None);
    }
}
