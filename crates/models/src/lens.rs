//! The logit lens: what each layer would predict if it were the last. For every layer `L`, the
//! residual stream after the layer (`l_out-L`, at the last prompt position) goes through the
//! model's own final part — RMS norm with `output_norm.weight`, then the output matrix
//! (`output.weight`, or `token_embd.weight` when the output is tied) — and the top tokens of
//! the resulting logits are reported. At the last layer this is exactly the model's prediction.
//!
//! The final part is recorded as a small graph with the same recording constructors and run by
//! the same executor and kernels as a trace (names `norm`, `result_norm`, `result_output` as in
//! llama.cpp), so the numbers match the traced run's: at the last layer, the lens's logits are
//! the trace's `result_output` bit for bit. All layers go through the graph at once, one row
//! each; every kernel involved works row by row, so batching changes nothing.

use thiserror::Error;
use tt_core::capture::NoCapture;
use tt_core::compare::ValueSource;
use tt_core::exec::{
    BoxError, ExecError, ExecOptions, Executor, MemoryWeights, WeightData, WeightSource,
};
use tt_core::trace::{GraphDoc, TensorDoc, TopToken};
use tt_core::{GgmlType, Graph, Group, Leaf};

use crate::hparams::HParams;
use crate::tokenizer::Tokenizer;

/// Name of the leaf that carries the residual rows into the lens graph.
const RESID: &str = "lens_resid";

#[derive(Debug, Error)]
pub enum LensError {
    #[error("the trace has no `{name}` node: is it a traced run of this model?")]
    MissingNode { name: String },
    #[error("`{name}` has no complete captured values (kept: {found})")]
    MissingValues { name: String, found: String },
    #[error("`{name}`: expected shape [{expected}, …], found {found:?}")]
    Shape {
        name: String,
        expected: u32,
        found: [i64; 4],
    },
    #[error("weight `{name}` is not in the model")]
    MissingWeight { name: String },
    #[error("weight `{name}`: expected {expected}, found {found}")]
    WeightShape {
        name: String,
        expected: String,
        found: String,
    },
    #[error("weight read failed")]
    Weight(#[source] BoxError),
    #[error("running the lens graph")]
    Exec(#[from] ExecError),
}

/// One layer's prediction at the last position.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LensLayer {
    pub layer: u32,
    /// Best first; `prob` is the softmax over the whole vocabulary (f64).
    pub top: Vec<TopToken>,
}

/// Serves the residual rows as a weight next to the model's weights, so the lens graph reads
/// everything through one [`WeightSource`].
struct WithResid<'a> {
    base: &'a dyn WeightSource,
    resid: MemoryWeights,
}

impl WeightSource for WithResid<'_> {
    fn weight(&self, name: &str) -> Result<Option<WeightData<'_>>, BoxError> {
        if name == RESID {
            self.resid.weight(name)
        } else {
            self.base.weight(name)
        }
    }
}

/// The logit lens of a traced run: for each layer, the top `k` tokens at the last position.
/// `values` gives the trace's captured values; `weights` the model's (a GGUF file).
pub fn logit_lens(
    hp: &HParams,
    weights: &dyn WeightSource,
    tokenizer: Option<&Tokenizer>,
    doc: &GraphDoc,
    values: &dyn ValueSource,
    k: usize,
    n_threads: usize,
) -> Result<Vec<LensLayer>, LensError> {
    let n_embd = hp.n_embd as usize;
    // [n_embd, n_layer]: layer L's residual at the last position in column L.
    let mut rows = Vec::with_capacity(n_embd * hp.n_layer as usize);
    for il in 0..hp.n_layer {
        rows.extend_from_slice(&last_position(
            doc,
            values,
            &format!("l_out-{il}"),
            hp.n_embd,
        )?);
    }
    let logits = final_part(hp, weights, rows, n_threads)?;
    let n_vocab = logits.len() / hp.n_layer as usize;
    Ok(logits
        .chunks_exact(n_vocab)
        .enumerate()
        .map(|(il, row)| LensLayer {
            layer: il as u32,
            top: top_k(row, k, tokenizer),
        })
        .collect())
}

/// The last captured node called `name` (ADD, the residual) and its last column.
fn last_position(
    doc: &GraphDoc,
    values: &dyn ValueSource,
    name: &str,
    n_embd: u32,
) -> Result<Vec<f32>, LensError> {
    let t: &TensorDoc = doc
        .nodes
        .iter()
        .rev()
        .map(|&i| &doc.tensors[i as usize])
        .find(|t| t.name == name)
        .ok_or_else(|| LensError::MissingNode {
            name: name.to_string(),
        })?;
    if t.ne[0] != n_embd as i64 || t.ne[2] != 1 || t.ne[3] != 1 || t.ne[1] < 1 {
        return Err(LensError::Shape {
            name: name.to_string(),
            expected: n_embd,
            found: t.ne,
        });
    }
    let v = values
        .values(t)
        .filter(|v| v.complete)
        .ok_or_else(|| LensError::MissingValues {
            name: name.to_string(),
            found: match &t.values {
                Some(r) => format!("{:?} of {:?}", r.ne, t.ne),
                None => "none".into(),
            },
        })?;
    let n = n_embd as usize;
    let last = t.ne[1] as usize - 1;
    v.data
        .get(last * n..(last + 1) * n)
        .map(<[f32]>::to_vec)
        .ok_or_else(|| LensError::MissingValues {
            name: name.to_string(),
            found: format!("{} values", v.data.len()),
        })
}

/// Runs `norm → result_norm → result_output` on the columns of `rows` ([n_embd, n]); returns
/// the logits [n_vocab, n] (ggml order: one row of n_vocab per column).
fn final_part(
    hp: &HParams,
    weights: &dyn WeightSource,
    rows: Vec<f32>,
    n_threads: usize,
) -> Result<Vec<f32>, LensError> {
    let n_embd = hp.n_embd as i64;
    let n = rows.len() as i64 / n_embd;
    let norm_w = weight(weights, "output_norm.weight")?;
    let expect = |name: &str, w: &WeightData, ok: bool, what: String| {
        if ok {
            Ok(())
        } else {
            Err(LensError::WeightShape {
                name: name.into(),
                expected: what,
                found: format!("{} {:?}", w.ty, w.ne),
            })
        }
    };
    expect(
        "output_norm.weight",
        &norm_w,
        norm_w.ty == GgmlType::F32 && norm_w.ne == [n_embd as u64, 1, 1, 1],
        format!("f32 [{n_embd}]"),
    )?;
    // Tied output: llama.cpp falls back to the token embedding when there is no output.weight.
    let (out_name, out_w) = match weights.weight("output.weight").map_err(LensError::Weight)? {
        Some(w) => ("output.weight", w),
        None => ("token_embd.weight", weight(weights, "token_embd.weight")?),
    };
    expect(
        out_name,
        &out_w,
        out_w.ne[0] == n_embd as u64 && out_w.ne[2] == 1 && out_w.ne[3] == 1 && out_w.ne[1] > 0,
        format!("[{n_embd}, n_vocab]"),
    )?;

    let mut resid = MemoryWeights::new();
    let bytes: Vec<u8> = rows.iter().flat_map(|x| x.to_le_bytes()).collect();
    resid.insert(RESID, GgmlType::F32, [n_embd as u64, n as u64, 1, 1], bytes);
    let source = WithResid {
        base: weights,
        resid,
    };

    let mut g = Graph::new();
    // [n_embd, n]
    let x = g.new_leaf(
        RESID,
        Leaf::Weight,
        GgmlType::F32,
        [n_embd, n, 1, 1],
        Group::Residual,
    );
    let w_norm = g.new_leaf(
        "output_norm.weight",
        Leaf::Weight,
        norm_w.ty,
        [n_embd, 1, 1, 1],
        Group::Norm,
    );
    let w_out = g.new_leaf(
        out_name,
        Leaf::Weight,
        out_w.ty,
        out_w.ne.map(|v| v as i64),
        Group::Output,
    );
    let cur = g.rms_norm(x, hp.f_norm_rms_eps);
    g.cb(cur, "norm", None, Group::Norm);
    let cur = g.mul(cur, w_norm);
    g.cb(cur, "result_norm", None, Group::Norm);
    // [n_vocab, n]
    let logits = g.mul_mat(w_out, cur);
    g.cb(logits, "result_output", None, Group::Output);
    g.build_forward_expand(logits);

    let mut ex = Executor::new(&g, &source, ExecOptions { n_threads })?;
    ex.keep(logits);
    ex.run(&mut NoCapture, &mut |_, _| {})?;
    Ok(ex.output_f32(logits)?)
}

fn weight<'w>(weights: &'w dyn WeightSource, name: &str) -> Result<WeightData<'w>, LensError> {
    weights
        .weight(name)
        .map_err(LensError::Weight)?
        .ok_or_else(|| LensError::MissingWeight {
            name: name.to_string(),
        })
}

/// The `k` largest logits, best first (ties: lower id first), with the softmax over the whole
/// row computed in f64.
pub fn top_k(logits: &[f32], k: usize, tokenizer: Option<&Tokenizer>) -> Vec<TopToken> {
    let max = logits
        .iter()
        .copied()
        .filter(|x| !x.is_nan())
        .fold(f32::NEG_INFINITY, f32::max) as f64;
    let denom: f64 = logits.iter().map(|&x| (x as f64 - max).exp()).sum();
    let mut idx: Vec<u32> = (0..logits.len() as u32).collect();
    let key = |i: &u32| logits[*i as usize];
    let k = k.min(idx.len());
    if k == 0 {
        return Vec::new();
    }
    let cmp = |a: &u32, b: &u32| key(b).total_cmp(&key(a)).then(a.cmp(b));
    idx.select_nth_unstable_by(k - 1, cmp);
    idx.truncate(k);
    idx.sort_by(cmp);
    idx.into_iter()
        .map(|id| {
            let logit = logits[id as usize];
            let piece = tokenizer
                .and_then(|t| t.token_piece(id))
                .unwrap_or_default()
                .to_string();
            let text = tokenizer
                .and_then(|t| t.token_to_piece(id).ok())
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            TopToken {
                id,
                piece,
                text,
                logit,
                prob: (logit as f64 - max).exp() / denom,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_orders_by_logit_and_normalizes() {
        let top = top_k(&[0.0, 2.0, 1.0, 2.0], 3, None);
        let ids: Vec<u32> = top.iter().map(|t| t.id).collect();
        assert_eq!(ids, [1, 3, 2]);
        let z = 2.0 * 2f64.exp() + 1f64.exp() + 1.0;
        assert!((top[0].prob - 2f64.exp() / z).abs() < 1e-12);
        assert!(top_k(&[], 5, None).is_empty());
    }
}
