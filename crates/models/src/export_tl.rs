//! Export of a traced run's activations under TransformerLens hook names
//! (`blocks.3.attn.hook_q`, `blocks.3.hook_resid_post`, …) with TransformerLens shapes minus
//! the batch dimension (`[pos, d_model]`, `[pos, head, d_head]`, `[head, q_pos, k_pos]`), in a
//! safetensors file any numpy/torch code can load next to a `run_with_cache` result.
//!
//! The mapping from llama.cpp node names is documented, with its caveats, in docs/EXPORTS.md.
//! Every array is a reshape of a captured node's values except `hook_pattern`, which keeps only
//! the key cells in use (the prompt's `n_tokens` cells of the `n_kv` the attention reads).
//! llama.cpp keeps only the output rows after the last layer's attention, so the last layer's
//! later hooks and `ln_final` have fewer positions; the file's metadata lists, under
//! `positions`, the positions of every array that does not have all of them.

use std::collections::BTreeMap;
use std::path::Path;

use thiserror::Error;
use tt_core::compare::ValueSource;
use tt_core::trace::{GraphDoc, TensorDoc};

/// `__metadata__["format"]` of an exported file.
pub const FORMAT: &str = "tensor-trace/transformer-lens-activations";

#[derive(Debug, Error)]
pub enum ExportError {
    #[error("the graph has no `{what}`: not a traced transformer run")]
    NotATransformer { what: String },
    #[error("`{name}` has no complete captured values (the trace kept {found}); trace again with a larger --memory-budget")]
    MissingValues { name: String, found: String },
    #[error("`{name}`: expected {expected} values for {hook}, found {found}")]
    Size {
        name: String,
        hook: String,
        expected: usize,
        found: usize,
    },
    #[error("hyperparameter `{key}` missing from the graph document")]
    MissingHparam { key: String },
    #[error("writing {path}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("writing {path}: {message}")]
    Safetensors { path: String, message: String },
    #[error(transparent)]
    OutPath(#[from] tt_core::outpath::OutPathError),
}

/// One exported array: row-major `shape`.
#[derive(Clone, Debug, PartialEq)]
pub struct TlTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
    /// The node it comes from (`Qcur-3`, op).
    pub source: String,
    /// Token positions covered, when not all of them.
    pub positions: Option<Vec<usize>>,
}

/// The arrays of one run and the file metadata.
#[derive(Clone, Debug)]
pub struct TlExport {
    pub tensors: Vec<TlTensor>,
    pub metadata: BTreeMap<String, String>,
}

/// Dimensions read from the document's hyperparameters.
struct Dims {
    n_layer: u32,
    n_head: usize,
    n_head_kv: usize,
    d_head: usize,
    n_tokens: usize,
}

fn hparam(doc: &GraphDoc, key: &str) -> Result<usize, ExportError> {
    doc.model
        .hparams
        .get(key)
        .and_then(|v| v.as_u64())
        .map(|v| v as usize)
        .ok_or_else(|| ExportError::MissingHparam { key: key.into() })
}

/// What a hook's values look like, from the node's `[ne0, ne1, …]`.
#[derive(Clone, Copy)]
enum Kind {
    /// `[d, pos]` → `[pos, d]`.
    Rows,
    /// `[heads·d_head, pos]` or `[d_head, heads, pos]` → `[pos, heads, d_head]`.
    Heads { heads: usize },
    /// `[n_kv, q_pos, head]` → `[head, q_pos, k_pos < n_tokens]`.
    Pattern,
}

/// The activations of a traced run under TransformerLens names.
pub fn tl_activations(doc: &GraphDoc, values: &dyn ValueSource) -> Result<TlExport, ExportError> {
    let embd = find(doc, "embd", &["GET_ROWS"], 0).ok_or_else(|| ExportError::NotATransformer {
        what: "embd (token embedding) node".into(),
    })?;
    let n_embd = hparam(doc, "embedding_length")?;
    let n_head = hparam(doc, "attention.head_count")?;
    let dims = Dims {
        n_layer: hparam(doc, "block_count")? as u32,
        n_head,
        n_head_kv: hparam(doc, "attention.head_count_kv")?,
        d_head: hparam(doc, "attention.key_length").unwrap_or(n_embd / n_head.max(1)),
        n_tokens: embd.ne[1].max(0) as usize,
    };
    let mut out = Vec::new();
    let mut add = |hook: String, t: Option<&TensorDoc>, kind: Kind| -> Result<(), ExportError> {
        match t {
            Some(t) => {
                out.push(convert(&hook, t, values, kind, &dims)?);
                Ok(())
            }
            None => Ok(()),
        }
    };
    add("hook_embed".into(), Some(embd), Kind::Rows)?;
    let heads = Kind::Heads { heads: dims.n_head };
    let kv_heads = Kind::Heads {
        heads: dims.n_head_kv,
    };
    for il in 0..dims.n_layer {
        let b = format!("blocks.{il}");
        let n = |s: &str| format!("{s}-{il}");
        let pre = if il == 0 {
            Some(embd)
        } else {
            find(doc, &format!("l_out-{}", il - 1), &["ADD"], 0)
        };
        if find(doc, &n("Qcur"), &["MUL_MAT"], 0).is_none() {
            return Err(ExportError::NotATransformer {
                what: format!("Qcur-{il} node (layer {il})"),
            });
        }
        add(format!("{b}.hook_resid_pre"), pre, Kind::Rows)?;
        add(
            format!("{b}.ln1.hook_normalized"),
            find(doc, &n("norm"), &["RMS_NORM"], 0),
            Kind::Rows,
        )?;
        add(
            format!("{b}.attn.hook_q"),
            find(doc, &n("Qcur"), &["MUL_MAT"], 0),
            heads,
        )?;
        add(
            format!("{b}.attn.hook_k"),
            find(doc, &n("Kcur"), &["MUL_MAT"], 0),
            kv_heads,
        )?;
        add(
            format!("{b}.attn.hook_v"),
            find(doc, &n("Vcur"), &["MUL_MAT"], 0),
            kv_heads,
        )?;
        add(
            format!("{b}.attn.hook_rot_q"),
            find(doc, &n("Qcur"), &["ROPE"], 0),
            heads,
        )?;
        add(
            format!("{b}.attn.hook_rot_k"),
            find(doc, &n("Kcur"), &["ROPE"], 0),
            kv_heads,
        )?;
        add(
            format!("{b}.attn.hook_pattern"),
            find(doc, &n("kq_soft_max"), &["SOFT_MAX"], 0),
            Kind::Pattern,
        )?;
        add(
            format!("{b}.attn.hook_z"),
            find(doc, &n("kqv_out"), &["CONT", "RESHAPE"], 0),
            heads,
        )?;
        add(
            format!("{b}.hook_attn_out"),
            find(doc, &n("attn_out"), &["MUL_MAT"], 0),
            Kind::Rows,
        )?;
        add(
            format!("{b}.hook_resid_mid"),
            find(doc, &n("ffn_inp"), &["ADD"], 0),
            Kind::Rows,
        )?;
        add(
            format!("{b}.ln2.hook_normalized"),
            find(doc, &n("norm"), &["RMS_NORM"], 1),
            Kind::Rows,
        )?;
        add(
            format!("{b}.mlp.hook_pre"),
            find(doc, &n("ffn_gate"), &["MUL_MAT"], 0),
            Kind::Rows,
        )?;
        add(
            format!("{b}.mlp.hook_pre_linear"),
            find(doc, &n("ffn_up"), &["MUL_MAT"], 0),
            Kind::Rows,
        )?;
        add(
            format!("{b}.mlp.hook_post"),
            find(doc, &n("ffn_swiglu"), &["SWIGLU"], 0),
            Kind::Rows,
        )?;
        add(
            format!("{b}.hook_mlp_out"),
            find(doc, &n("ffn_out"), &["MUL_MAT"], 0),
            Kind::Rows,
        )?;
        add(
            format!("{b}.hook_resid_post"),
            find(doc, &n("l_out"), &["ADD"], 0),
            Kind::Rows,
        )?;
    }
    add(
        "ln_final.hook_normalized".into(),
        find(doc, "norm", &["RMS_NORM"], 0),
        Kind::Rows,
    )?;

    let mut metadata = BTreeMap::new();
    metadata.insert("format".into(), FORMAT.into());
    metadata.insert("model".into(), doc.model.name.clone());
    metadata.insert("n_tokens".into(), dims.n_tokens.to_string());
    if let Some(run) = &doc.run {
        let ids: Vec<u32> = run.tokens.iter().map(|t| t.id).collect();
        metadata.insert(
            "tokens".into(),
            serde_json::to_string(&ids).unwrap_or_default(),
        );
        metadata.insert("flash_attn".into(), run.flash_attn.to_string());
    }
    let positions: BTreeMap<&str, &Vec<usize>> = out
        .iter()
        .filter_map(|t| t.positions.as_ref().map(|p| (t.name.as_str(), p)))
        .collect();
    metadata.insert(
        "positions".into(),
        serde_json::to_string(&positions).unwrap_or_default(),
    );
    let sources: BTreeMap<&str, &str> = out
        .iter()
        .map(|t| (t.name.as_str(), t.source.as_str()))
        .collect();
    metadata.insert(
        "sources".into(),
        serde_json::to_string(&sources).unwrap_or_default(),
    );
    Ok(TlExport {
        tensors: out,
        metadata,
    })
}

/// The `occ`-th node (execution order) named `name` with one of `ops`.
fn find<'d>(doc: &'d GraphDoc, name: &str, ops: &[&str], occ: usize) -> Option<&'d TensorDoc> {
    doc.nodes
        .iter()
        .map(|&i| &doc.tensors[i as usize])
        .filter(|t| t.name == name && ops.contains(&t.op.as_str()))
        .nth(occ)
}

fn convert(
    hook: &str,
    t: &TensorDoc,
    values: &dyn ValueSource,
    kind: Kind,
    d: &Dims,
) -> Result<TlTensor, ExportError> {
    let v = values
        .values(t)
        .filter(|v| v.complete)
        .ok_or_else(|| ExportError::MissingValues {
            name: t.name.clone(),
            found: match &t.values {
                Some(r) => format!("{:?} of {:?}", r.ne, t.ne),
                None => "nothing".into(),
            },
        })?;
    let n_el: usize = t.ne.iter().map(|&n| n.max(0) as usize).product();
    let size = |expected: usize| -> Result<(), ExportError> {
        if v.data.len() == expected && n_el == expected {
            Ok(())
        } else {
            Err(ExportError::Size {
                name: t.name.clone(),
                hook: hook.into(),
                expected,
                found: v.data.len(),
            })
        }
    };
    let (shape, data, pos) = match kind {
        Kind::Rows => {
            // [d, pos] (ne order) is row-major [pos, d] already.
            let (w, rows) = (t.ne[0] as usize, (n_el / (t.ne[0].max(1) as usize)));
            size(w * rows)?;
            (vec![rows, w], v.data, rows)
        }
        Kind::Heads { heads } => {
            let rows = n_el / (heads * d.d_head).max(1);
            size(rows * heads * d.d_head)?;
            (vec![rows, heads, d.d_head], v.data, rows)
        }
        Kind::Pattern => {
            // [n_kv, n_q, n_head] → [n_head, n_q, n_used]: cells ≥ n_tokens are empty (masked).
            let (n_kv, n_q, n_h) = (t.ne[0] as usize, t.ne[1] as usize, t.ne[2] as usize);
            size(n_kv * n_q * n_h)?;
            let used = d.n_tokens.min(n_kv);
            let mut data = Vec::with_capacity(n_h * n_q * used);
            for row in v.data.chunks_exact(n_kv) {
                data.extend_from_slice(&row[..used]);
            }
            (vec![n_h, n_q, used], data, n_q)
        }
    };
    // Rows kept by llama.cpp's out_ids are the last ones (the prompt's last tokens).
    let positions = (pos < d.n_tokens).then(|| (d.n_tokens - pos..d.n_tokens).collect());
    Ok(TlTensor {
        name: hook.to_string(),
        shape,
        data,
        source: format!("{} ({})", t.name, t.op),
        positions,
    })
}

/// Write the export as safetensors (f32), atomically: a temporary file renamed at the end, so
/// a failure leaves no partial file.
pub fn write_safetensors(path: &Path, export: &TlExport) -> Result<(), ExportError> {
    use safetensors::tensor::{Dtype, TensorView};
    tt_core::outpath::check(path, &[])?;
    let shown = path.display().to_string();
    let bytes: Vec<Vec<u8>> = export
        .tensors
        .iter()
        .map(|t| t.data.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let mut views = Vec::with_capacity(export.tensors.len());
    for (t, b) in export.tensors.iter().zip(&bytes) {
        let view = TensorView::new(Dtype::F32, t.shape.clone(), b).map_err(|e| {
            ExportError::Safetensors {
                path: shown.clone(),
                message: format!("{}: {e}", t.name),
            }
        })?;
        views.push((t.name.as_str(), view));
    }
    let meta: std::collections::HashMap<String, String> =
        export.metadata.clone().into_iter().collect();
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = safetensors::serialize_to_file(views, Some(meta), &tmp)
        .map_err(|e| ExportError::Safetensors {
            path: shown.clone(),
            message: e.to_string(),
        })
        .and_then(|()| {
            std::fs::rename(&tmp, path).map_err(|source| ExportError::Write {
                path: shown.clone(),
                source,
            })
        });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
