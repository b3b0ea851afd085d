//! Node-by-node comparison of two graph documents that carry values: ours against an imported
//! llama.cpp log, flash attention on against off, two quantizations of one model.
//!
//! Nodes are matched by name and occurrence (`Qcur-0` #0 is the MUL_MAT, #1 the RESHAPE, #2
//! the ROPE). Unnamed nodes (`node_<i>`) are matched by op and source names instead, since
//! their index shifts whenever the graph above them changes. For each matched pair with equal
//! shapes the values both sides have are compared: every element when both have full values,
//! only the printed coordinates when one side is an imported log (the full side is then
//! rounded to the printed 4 decimals first, so identical computations compare equal). Metrics
//! are the maximum absolute difference, the maximum relative difference (relative to the
//! reference's scale: max |a| over the compared elements), the cosine similarity of the finite
//! values, and both sums. A node diverges when its largest difference exceeds
//! `abs_slack + rel · scale` (the slack is one printed unit, 1e-4, for printed comparisons, 0
//! otherwise) or when a non-finite value on one side is not matched on the other.
//!
//! `a` is the reference side throughout.

use std::collections::HashMap;

use serde::Serialize;
use thiserror::Error;

use crate::trace::{GraphDoc, TensorDoc};

/// Resolution of printed values (`%12.4f`).
pub const PRINTED_RESOLUTION: f64 = 1e-4;

/// Hyperparameters that must agree for two documents to be of the same model.
const SAME_MODEL_KEYS: [&str; 8] = [
    "embedding_length",
    "block_count",
    "attention.head_count",
    "attention.head_count_kv",
    "attention.key_length",
    "attention.value_length",
    "feed_forward_length",
    "vocab_size",
];

#[derive(Debug, Error)]
pub enum CompareError {
    #[error("different models: {what} is {a} in A but {b} in B")]
    DifferentModels { what: String, a: String, b: String },
    #[error("different prompts: A has tokens {a:?}, B has {b:?}")]
    DifferentTokens { a: Vec<u32>, b: Vec<u32> },
    #[error("{side} has no values to compare (neither captured values nor printed ones)")]
    NoValues { side: &'static str },
}

/// Captured values of a tensor as f32, dense in ggml order (ne0 fastest). `ne` is the stored
/// shape: the tensor's own when `complete`; otherwise only a part was kept, which is usable here
/// when it is a prefix of whole rows (`ne[0]` equal to the tensor's: a sample within a memory
/// budget, the used cells of a K cache). Other partial layouts are not compared.
#[derive(Clone, Debug, PartialEq)]
pub struct Values {
    pub ne: [i64; 4],
    pub data: Vec<f32>,
    pub complete: bool,
}

impl Values {
    /// The value at `[i0, i1, i2, i3]` of a tensor of shape `full`, if stored.
    pub fn at(&self, full: [i64; 4], c: [u64; 4]) -> Option<f32> {
        let ne = full.map(|n| n.max(0) as u64);
        if (0..4).any(|d| c[d] >= ne[d]) {
            return None;
        }
        if !self.complete && self.ne[0] != full[0] {
            return None;
        }
        let i = c[0] + ne[0] * (c[1] + ne[1] * (c[2] + ne[2] * c[3]));
        self.data.get(usize::try_from(i).ok()?).copied()
    }
}

/// Where a document's full values come from (a trace file's payload); imported logs have none.
pub trait ValueSource {
    fn values(&self, t: &TensorDoc) -> Option<Values>;
}

/// A document without full values (an imported log: only its printed previews).
pub struct NoValues;

impl ValueSource for NoValues {
    fn values(&self, _: &TensorDoc) -> Option<Values> {
        None
    }
}

/// A trace file's values, by the document's `values.key`.
impl ValueSource for crate::trace::Trace {
    fn values(&self, t: &TensorDoc) -> Option<Values> {
        let r = t.values.as_ref()?;
        let data = crate::trace::Trace::values(self, &r.key).ok()?;
        let n: i64 = r.ne.iter().product();
        (n == data.len() as i64).then_some(Values {
            ne: r.ne,
            data,
            complete: r.complete,
        })
    }
}

/// One side of a comparison: a document and where its full values are.
pub struct Side<'a> {
    pub doc: &'a GraphDoc,
    pub values: &'a dyn ValueSource,
}

/// Divergence thresholds.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Tolerance {
    /// Allowed max abs difference relative to the reference's scale.
    pub rel: f64,
}

impl Default for Tolerance {
    fn default() -> Tolerance {
        Tolerance { rel: 1e-3 }
    }
}

/// What was compared for a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Every element both sides stored.
    Full,
    /// Only the coordinates llama.cpp printed.
    Printed,
    /// No common values; sums only.
    SumOnly,
    /// Shapes differ: nothing compared.
    ShapeMismatch,
    /// Nothing to compare.
    None,
}

/// The comparison of one matched node pair.
#[derive(Clone, Debug, Serialize)]
pub struct NodeDiff {
    pub name: String,
    /// Occurrence of this name (or unnamed key) on both sides, from 0.
    pub occurrence: u32,
    pub op_a: String,
    pub op_b: String,
    /// Tensor ids in each document (`GraphDoc::tensors` index).
    pub id_a: u32,
    pub id_b: u32,
    pub exec_a: u32,
    pub exec_b: u32,
    pub layer: Option<u32>,
    pub ne_a: [i64; 4],
    pub ne_b: [i64; 4],
    pub mode: Mode,
    /// Elements compared.
    pub n: u64,
    pub max_abs: f64,
    pub max_rel: f64,
    /// max |a| over the compared elements.
    pub scale: f64,
    /// Cosine similarity of the finite compared values (1 when both are all zero).
    pub cosine: Option<f64>,
    /// Positions where one side is NaN/Inf and the other is not the same.
    pub nonfinite_mismatch: u64,
    /// The sums (the one not printed rounded to 6 decimals when the other was printed).
    pub sum_a: Option<f64>,
    pub sum_b: Option<f64>,
    /// `[i0, i1, i2, i3]` of the largest difference.
    pub worst_at: Option<[u64; 4]>,
    /// Any difference at all: a compared value or the sums not equal.
    pub differs: bool,
    /// The difference exceeds the tolerance.
    pub diverged: bool,
}

/// A node present on one side only.
#[derive(Clone, Debug, Serialize)]
pub struct Unmatched {
    /// Tensor id in its document.
    pub id: u32,
    pub name: String,
    pub op: String,
    pub exec: u32,
    pub layer: Option<u32>,
}

/// The whole comparison.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub a: String,
    pub b: String,
    pub tolerance: Tolerance,
    /// Matched pairs in A's execution order.
    pub nodes: Vec<NodeDiff>,
    /// Index into `nodes` of the first pair that differs at all (values or sums).
    pub first_difference: Option<usize>,
    /// Index into `nodes` of the first diverged pair.
    pub first_divergence: Option<usize>,
    pub unmatched_a: Vec<Unmatched>,
    pub unmatched_b: Vec<Unmatched>,
}

/// Compare two documents; `a` is the reference.
pub fn compare(a: Side, b: Side, tol: Tolerance) -> Result<Report, CompareError> {
    same_model(a.doc, b.doc)?;
    let keys_a = node_keys(a.doc);
    let keys_b = node_keys(b.doc);
    let mut index_b: HashMap<(&str, u32), usize> = HashMap::new();
    for (i, k) in keys_b.iter().enumerate() {
        index_b.insert((k.0.as_str(), k.1), i);
    }
    let mut matched_b = vec![false; keys_b.len()];
    let mut nodes = Vec::new();
    let mut unmatched_a = Vec::new();
    let (mut any_a, mut any_b) = (false, false);
    for (ia, (key, occ)) in keys_a.iter().enumerate() {
        let ta = &a.doc.tensors[a.doc.nodes[ia] as usize];
        let Some(&ib) = index_b.get(&(key.as_str(), *occ)) else {
            unmatched_a.push(unmatched(ta));
            continue;
        };
        matched_b[ib] = true;
        let tb = &b.doc.tensors[b.doc.nodes[ib] as usize];
        let d = diff_node(ta, &a, tb, &b, *occ, tol);
        any_a |= has_values(ta, &a);
        any_b |= has_values(tb, &b);
        nodes.push(d);
    }
    if !nodes.is_empty() {
        if !any_a {
            return Err(CompareError::NoValues { side: "A" });
        }
        if !any_b {
            return Err(CompareError::NoValues { side: "B" });
        }
    }
    let unmatched_b = matched_b
        .iter()
        .enumerate()
        .filter(|(_, &m)| !m)
        .map(|(ib, _)| unmatched(&b.doc.tensors[b.doc.nodes[ib] as usize]))
        .collect();
    Ok(Report {
        a: label(a.doc),
        b: label(b.doc),
        tolerance: tol,
        first_difference: nodes.iter().position(|d| d.differs),
        first_divergence: nodes.iter().position(|d| d.diverged),
        nodes,
        unmatched_a,
        unmatched_b,
    })
}

fn label(doc: &GraphDoc) -> String {
    let fa = doc
        .run
        .as_ref()
        .map(|r| if r.flash_attn { ", FA on" } else { ", FA off" })
        .unwrap_or("");
    format!("{} ({}{fa})", doc.model.name, doc.model.source)
}

fn unmatched(t: &TensorDoc) -> Unmatched {
    Unmatched {
        id: t.id,
        name: t.name.clone(),
        op: t.op.clone(),
        exec: t.exec_index.unwrap_or(0),
        layer: t.layer,
    }
}

fn has_values(t: &TensorDoc, side: &Side) -> bool {
    t.printed.is_some()
        || t.stats.is_some()
        || (t.values.is_some() && side.values.values(t).is_some())
}

/// Whether two models have the same shape (architecture and the [`SAME_MODEL_KEYS`]
/// hyperparameters): the test for comparing their runs, or for reading one's trace with the
/// other's weights.
pub fn same_shape(
    ma: &crate::trace::ModelInfo,
    mb: &crate::trace::ModelInfo,
) -> Result<(), CompareError> {
    if !ma.architecture.is_empty()
        && !mb.architecture.is_empty()
        && ma.architecture != mb.architecture
    {
        return Err(CompareError::DifferentModels {
            what: "the architecture".into(),
            a: ma.architecture.clone(),
            b: mb.architecture.clone(),
        });
    }
    for key in SAME_MODEL_KEYS {
        if let (Some(x), Some(y)) = (ma.hparams.get(key), mb.hparams.get(key)) {
            if x != y {
                return Err(CompareError::DifferentModels {
                    what: format!("`{key}`"),
                    a: x.to_string(),
                    b: y.to_string(),
                });
            }
        }
    }
    Ok(())
}

/// Whether two models have the same configuration: the same shape ([`same_shape`]), every
/// hyperparameter both list equal (RoPE base, norm epsilon, …), and the same parameter count
/// when both know it. The test for reading a trace with a model file's weights (the logit
/// lens): the file's name does not matter, its configuration does.
pub fn same_config(
    ma: &crate::trace::ModelInfo,
    mb: &crate::trace::ModelInfo,
) -> Result<(), CompareError> {
    same_shape(ma, mb)?;
    for (key, x) in &ma.hparams {
        if let Some(y) = mb.hparams.get(key) {
            if x != y {
                return Err(CompareError::DifferentModels {
                    what: format!("`{key}`"),
                    a: x.to_string(),
                    b: y.to_string(),
                });
            }
        }
    }
    if ma.n_params > 0 && mb.n_params > 0 && ma.n_params != mb.n_params {
        return Err(CompareError::DifferentModels {
            what: "the parameter count".into(),
            a: ma.n_params.to_string(),
            b: mb.n_params.to_string(),
        });
    }
    Ok(())
}

/// Refuse documents of different models (architecture, shape hyperparameters) or prompts.
fn same_model(a: &GraphDoc, b: &GraphDoc) -> Result<(), CompareError> {
    same_shape(&a.model, &b.model)?;
    let ids = |d: &GraphDoc| -> Vec<u32> {
        d.run
            .as_ref()
            .map(|r| r.tokens.iter().map(|t| t.id).collect())
            .unwrap_or_default()
    };
    let (ta, tb) = (ids(a), ids(b));
    if !ta.is_empty() && !tb.is_empty() && ta != tb {
        return Err(CompareError::DifferentTokens { a: ta, b: tb });
    }
    Ok(())
}

/// Matching key and occurrence of each node, in execution order.
fn node_keys(doc: &GraphDoc) -> Vec<(String, u32)> {
    let mut seen: HashMap<String, u32> = HashMap::new();
    doc.nodes
        .iter()
        .map(|&id| {
            let t = &doc.tensors[id as usize];
            let key = if is_unnamed(&t.name) {
                // `node_<i>`: the op and the first two source names (all the log prints).
                let srcs: Vec<&str> = t
                    .src
                    .iter()
                    .take(2)
                    .map(|s| s.map_or("", |s| doc.tensors[s as usize].name.as_str()))
                    .collect();
                format!("{}({})", t.op, srcs.join(", "))
            } else {
                t.name.clone()
            };
            let n = seen.entry(key.clone()).or_insert(0);
            *n += 1;
            (key, *n - 1)
        })
        .collect()
}

fn is_unnamed(name: &str) -> bool {
    name.strip_prefix("node_")
        .is_some_and(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
}

/// The tensor's sum and whether it is a printed one (`%f`, 6 decimals).
fn sum_of(t: &TensorDoc) -> Option<(f64, bool)> {
    match (&t.stats, &t.printed) {
        (Some(s), _) => Some((s.sum, false)),
        (None, Some(p)) => p.sum.map(|s| (s, true)),
        (None, None) => None,
    }
}

/// Both sums, the exact one rounded like `%f` when the other was printed.
fn sums(ta: &TensorDoc, tb: &TensorDoc) -> (Option<f64>, Option<f64>) {
    let round = |(v, printed): (f64, bool), other_printed: bool| {
        if other_printed && !printed && v.is_finite() {
            format!("{v:.6}").parse().unwrap_or(v)
        } else {
            v
        }
    };
    match (sum_of(ta), sum_of(tb)) {
        (Some(a), Some(b)) => (Some(round(a, b.1)), Some(round(b, a.1))),
        (a, b) => (a.map(|a| a.0), b.map(|b| b.0)),
    }
}

/// `v` as `%12.4f` prints it, read back.
fn round_printed(v: f32) -> f32 {
    if !v.is_finite() {
        return v;
    }
    format!("{v:.4}").parse().unwrap_or(v)
}

fn diff_node(
    ta: &TensorDoc,
    a: &Side,
    tb: &TensorDoc,
    b: &Side,
    occurrence: u32,
    tol: Tolerance,
) -> NodeDiff {
    let mut d = NodeDiff {
        name: ta.name.clone(),
        occurrence,
        op_a: ta.op.clone(),
        op_b: tb.op.clone(),
        id_a: ta.id,
        id_b: tb.id,
        exec_a: ta.exec_index.unwrap_or(0),
        exec_b: tb.exec_index.unwrap_or(0),
        layer: ta.layer.or(tb.layer),
        ne_a: ta.ne,
        ne_b: tb.ne,
        mode: Mode::None,
        n: 0,
        max_abs: 0.0,
        max_rel: 0.0,
        scale: 0.0,
        cosine: None,
        nonfinite_mismatch: 0,
        sum_a: None,
        sum_b: None,
        worst_at: None,
        differs: false,
        diverged: false,
    };
    (d.sum_a, d.sum_b) = sums(ta, tb);
    if ta.ne != tb.ne {
        d.mode = Mode::ShapeMismatch;
        return d;
    }
    let va = ta.values.as_ref().and_then(|_| a.values.values(ta));
    let vb = tb.values.as_ref().and_then(|_| b.values.values(tb));
    let mut acc = Acc::default();
    match (&va, &vb) {
        (Some(x), Some(y)) => {
            d.mode = Mode::Full;
            let ne = ta.ne.map(|n| n.max(0) as u64);
            for i3 in 0..ne[3] {
                for i2 in 0..ne[2] {
                    for i1 in 0..ne[1] {
                        for i0 in 0..ne[0] {
                            let c = [i0, i1, i2, i3];
                            if let (Some(p), Some(q)) = (x.at(ta.ne, c), y.at(tb.ne, c)) {
                                acc.add(c, p, q);
                            }
                        }
                    }
                }
            }
        }
        _ => {
            // At least one side printed only: compare at the printed coordinates.
            let printed = ta.printed.as_ref().or(tb.printed.as_ref());
            if let Some(p) = printed {
                d.mode = Mode::Printed;
                let lookup = |t: &TensorDoc, v: &Option<Values>, c: [u64; 4]| -> Option<f32> {
                    if let Some(v) = v {
                        return v.at(t.ne, c).map(round_printed);
                    }
                    let p = t.printed.as_ref()?;
                    let i = p.coords.iter().position(|&pc| pc == c)?;
                    p.values.get(i).copied()
                };
                for &c in &p.coords {
                    if let (Some(x), Some(y)) = (lookup(ta, &va, c), lookup(tb, &vb, c)) {
                        acc.add(c, x, y);
                    }
                }
            }
        }
    }
    if acc.n == 0 && d.mode != Mode::ShapeMismatch {
        d.mode = if d.sum_a.is_some() && d.sum_b.is_some() {
            Mode::SumOnly
        } else {
            Mode::None
        };
    }
    d.n = acc.n;
    d.max_abs = acc.max_abs;
    d.scale = acc.scale;
    d.max_rel = if acc.max_abs == 0.0 {
        0.0
    } else if acc.scale > 0.0 {
        acc.max_abs / acc.scale
    } else {
        f64::INFINITY
    };
    d.cosine = acc.cosine();
    d.nonfinite_mismatch = acc.nonfinite_mismatch;
    if acc.nonfinite_mismatch > 0 {
        // a NaN/Inf against a number is no small difference: the finite pairs' metrics would
        // read as a perfect match (JSON writes these as null)
        d.max_abs = f64::INFINITY;
        d.max_rel = f64::INFINITY;
        d.cosine = None;
    }
    d.worst_at = acc.worst_at;
    let slack = if d.mode == Mode::Printed {
        // Both sides rounded to 4 decimals can differ by one unit in the last place.
        PRINTED_RESOLUTION * 1.000_001
    } else {
        0.0
    };
    let sums_differ = match (d.sum_a, d.sum_b) {
        (Some(x), Some(y)) => x != y && !(x.is_nan() && y.is_nan()),
        _ => false,
    };
    d.differs = match d.mode {
        Mode::Full | Mode::Printed => {
            acc.max_abs > 0.0 || acc.nonfinite_mismatch > 0 || sums_differ
        }
        Mode::SumOnly => sums_differ,
        Mode::ShapeMismatch | Mode::None => false,
    };
    d.diverged = match d.mode {
        Mode::Full | Mode::Printed => {
            acc.nonfinite_mismatch > 0 || acc.max_abs > slack + tol.rel * acc.scale
        }
        Mode::SumOnly => match (d.sum_a, d.sum_b) {
            // a non-finite sum on one side only (or NaN against Inf) diverges
            (Some(x), Some(y)) if !x.is_finite() || !y.is_finite() => sums_differ,
            (Some(x), Some(y)) => (x - y).abs() > tol.rel * x.abs().max(y.abs()),
            _ => false,
        },
        Mode::ShapeMismatch | Mode::None => false,
    };
    d
}

/// Running metrics over compared value pairs.
#[derive(Default)]
struct Acc {
    n: u64,
    max_abs: f64,
    scale: f64,
    dot: f64,
    na: f64,
    nb: f64,
    nonfinite_mismatch: u64,
    worst_at: Option<[u64; 4]>,
}

impl Acc {
    fn add(&mut self, c: [u64; 4], x: f32, y: f32) {
        self.n += 1;
        let (x, y) = (x as f64, y as f64);
        if !x.is_finite() || !y.is_finite() {
            let same = (x.is_nan() && y.is_nan()) || x == y;
            if !same {
                self.nonfinite_mismatch += 1;
                if self.worst_at.is_none() {
                    self.worst_at = Some(c);
                }
            }
            return;
        }
        self.scale = self.scale.max(x.abs());
        let e = (x - y).abs();
        if e > self.max_abs {
            self.max_abs = e;
            self.worst_at = Some(c);
        }
        self.dot += x * y;
        self.na += x * x;
        self.nb += y * y;
    }

    fn cosine(&self) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        Some(match (self.na > 0.0, self.nb > 0.0) {
            (false, false) => 1.0,
            (true, true) => self.dot / (self.na.sqrt() * self.nb.sqrt()),
            _ => 0.0,
        })
    }
}

impl Report {
    /// Matched pairs that diverged.
    pub fn diverged(&self) -> impl Iterator<Item = &NodeDiff> {
        self.nodes.iter().filter(|d| d.diverged)
    }

    /// A readable table: a summary, then the rows around the first divergence (`context`
    /// rows before it, the divergent row, and `context` after), or every row when `all`.
    pub fn table(&self, all: bool, context: usize) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let n_div = self.diverged().count();
        let _ = writeln!(s, "A: {}\nB: {}", self.a, self.b);
        let _ = writeln!(
            s,
            "{} matched nodes, {} diverged (tolerance: max |a-b| > {:e} × max |a|{}), {} only in A, {} only in B",
            self.nodes.len(),
            n_div,
            self.tolerance.rel,
            if self.nodes.iter().any(|d| d.mode == Mode::Printed) {
                " + 1e-4 for printed values"
            } else {
                ""
            },
            self.unmatched_a.len(),
            self.unmatched_b.len()
        );
        for (what, at) in [
            ("first difference", self.first_difference),
            ("first divergence", self.first_divergence),
        ] {
            match at.map(|i| &self.nodes[i]) {
                Some(d) => {
                    let _ = writeln!(
                        s,
                        "{what}: `{}` #{} ({} in A, {} in B; layer {}), A node {} / B node {}: max abs {:.3e}, max rel {:.3e}, cosine {}, sums {} / {}",
                        d.name,
                        d.occurrence,
                        d.op_a,
                        d.op_b,
                        d.layer.map_or("-".to_string(), |l| l.to_string()),
                        d.exec_a,
                        d.exec_b,
                        d.max_abs,
                        d.max_rel,
                        match (d.cosine, d.nonfinite_mismatch) {
                            (_, n) if n > 0 => format!("- ({n} values NaN/Inf on one side only)"),
                            (Some(c), _) => format!("{c:.6}"),
                            (None, _) => "-".into(),
                        },
                        d.sum_a.map_or("-".into(), |x| format!("{x:.6}")),
                        d.sum_b.map_or("-".into(), |x| format!("{x:.6}")),
                    );
                }
                None => {
                    let _ = writeln!(s, "{what}: none");
                }
            }
        }
        let rows: Vec<usize> = if all {
            (0..self.nodes.len()).collect()
        } else {
            let f = self.first_difference.or(self.first_divergence).unwrap_or(0);
            (f.saturating_sub(context)..(f + context + 1).min(self.nodes.len())).collect()
        };
        let _ = writeln!(
            s,
            "\n{:>5} {:>5}  {:<34} {:<15} {:>5} {:<8} {:>6} {:>10} {:>10} {:>9} {:>14} {:>14}",
            "A#",
            "B#",
            "name",
            "op",
            "layer",
            "mode",
            "n",
            "max_abs",
            "max_rel",
            "cosine",
            "sum A",
            "sum B"
        );
        for i in rows {
            let d = &self.nodes[i];
            let op = if d.op_a == d.op_b {
                d.op_a.clone()
            } else {
                format!("{}/{}", d.op_a, d.op_b)
            };
            let name = if d.occurrence > 0 {
                format!("{} #{}", d.name, d.occurrence)
            } else {
                d.name.clone()
            };
            let mode = match d.mode {
                Mode::Full => "full",
                Mode::Printed => "printed",
                Mode::SumOnly => "sum",
                Mode::ShapeMismatch => "shape≠",
                Mode::None => "-",
            };
            let f = |x: Option<f64>| x.map_or("-".to_string(), |x| format!("{x:.6}"));
            let _ = writeln!(
                s,
                "{:>5} {:>5}  {:<34} {:<15} {:>5} {:<8} {:>6} {:>10.3e} {:>10.3e} {:>9} {:>14} {:>14}{}",
                d.exec_a,
                d.exec_b,
                name,
                op,
                d.layer.map_or("-".to_string(), |l| l.to_string()),
                mode,
                d.n,
                d.max_abs,
                d.max_rel,
                d.cosine.map_or("-".into(), |c| format!("{c:.6}")),
                f(d.sum_a),
                f(d.sum_b),
                if d.diverged {
                    "  <- diverged"
                } else if d.differs {
                    "  <- differs"
                } else {
                    ""
                }
            );
        }
        for (side, list) in [("A", &self.unmatched_a), ("B", &self.unmatched_b)] {
            if list.is_empty() {
                continue;
            }
            let _ = writeln!(s, "\nonly in {side} ({}):", list.len());
            let shown = if all { list.len() } else { list.len().min(20) };
            for u in &list[..shown] {
                let _ = writeln!(
                    s,
                    "{:>5}  {:<34} {:<15} layer {}",
                    u.exec,
                    u.name,
                    u.op,
                    u.layer.map_or("-".to_string(), |l| l.to_string())
                );
            }
            if shown < list.len() {
                let _ = writeln!(s, "  … {} more (--all lists them)", list.len() - shown);
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llamacpp_import::to_graph_doc;
    use crate::llamacpp_log::parse;
    use crate::trace::ValuesRef;

    /// A two-node document: `x` [3, 2] printed `1 2 3 / 4 5 6`, `y` [1, 1] printed `0`.
    fn doc() -> GraphDoc {
        let text = "\
common_debug_cb_eval: x = (f32)        ADD(a{3, 2, 1, 1}, b{3, 2, 1, 1}}) = {3, 2, 1, 1}
    [
        [
            [      1.0000,       2.0000,       3.0000  ],
            [      4.0000,       5.0000,       6.0000  ],
        ],
    ]
    sum = 21.000000
common_debug_cb_eval: y = (f32)      SCALE(x{3, 2, 1, 1}, }) = {1, 1, 1, 1}
    [
        [
            [      0.0000  ],
        ],
    ]
    sum = 0.000000
";
        to_graph_doc(&parse(text).unwrap(), None).unwrap()
    }

    /// Full values by tensor name.
    struct Map(HashMap<String, Values>);

    impl ValueSource for Map {
        fn values(&self, t: &TensorDoc) -> Option<Values> {
            self.0.get(&t.name).cloned()
        }
    }

    /// `doc` with full values for `x` (stored shape `ne`).
    fn with_values(data: Vec<f32>, ne: [i64; 4], complete: bool) -> (GraphDoc, Map) {
        let mut d = doc();
        for t in &mut d.tensors {
            t.printed = None;
            t.values = (t.name == "x").then(|| ValuesRef {
                key: "x".into(),
                ne,
                complete,
            });
        }
        let mut m = HashMap::new();
        m.insert("x".to_string(), Values { ne, data, complete });
        (d, Map(m))
    }

    #[test]
    fn full_values_give_max_diff_position_and_cosine() {
        let (a, va) = with_values(vec![1., 2., 3., 4., 5., 6.], [3, 2, 1, 1], true);
        let (b, vb) = with_values(vec![1., 2., 3., 4., 5.5, 6.], [3, 2, 1, 1], true);
        let r = compare(
            Side {
                doc: &a,
                values: &va,
            },
            Side {
                doc: &b,
                values: &vb,
            },
            Tolerance::default(),
        )
        .unwrap();
        let x = &r.nodes[0];
        assert_eq!((x.mode, x.n), (Mode::Full, 6));
        assert_eq!(x.max_abs, 0.5);
        assert_eq!(x.scale, 6.0);
        assert_eq!(x.worst_at, Some([1, 1, 0, 0]));
        assert!(x.diverged && x.differs);
        let cos = x.cosine.unwrap();
        let expect = 93.5 / (91f64.sqrt() * 96.25f64.sqrt());
        assert!((cos - expect).abs() < 1e-12, "{cos} vs {expect}");
        assert_eq!(r.first_divergence, Some(0));
    }

    #[test]
    fn non_finite_values_match_only_themselves() {
        let (a, va) = with_values(
            vec![f32::NAN, 2., f32::INFINITY, 4., 5., 6.],
            [3, 2, 1, 1],
            true,
        );
        let (b, vb) = with_values(
            vec![f32::NAN, 2., f32::INFINITY, 4., 5., 6.],
            [3, 2, 1, 1],
            true,
        );
        let same = compare(
            Side {
                doc: &a,
                values: &va,
            },
            Side {
                doc: &b,
                values: &vb,
            },
            Tolerance::default(),
        )
        .unwrap();
        assert!(!same.nodes[0].differs);
        let (c, vc) = with_values(vec![1., 2., f32::INFINITY, 4., 5., 6.], [3, 2, 1, 1], true);
        let r = compare(
            Side {
                doc: &a,
                values: &va,
            },
            Side {
                doc: &c,
                values: &vc,
            },
            Tolerance::default(),
        )
        .unwrap();
        assert_eq!(r.nodes[0].nonfinite_mismatch, 1);
        assert_eq!(r.nodes[0].worst_at, Some([0, 0, 0, 0]));
        assert!(r.nodes[0].diverged);
        // the finite pairs agree, but the node is not a "perfect match"
        assert_eq!(r.nodes[0].max_abs, f64::INFINITY);
        assert_eq!(r.nodes[0].cosine, None);
        let table = r.table(true, 0);
        assert!(
            table.contains("1 values NaN/Inf on one side only"),
            "{table}"
        );
    }

    /// Sum-only nodes (cache writes) with a NaN sum on one side diverge.
    #[test]
    fn a_non_finite_sum_on_one_side_diverges() {
        let mut a = doc();
        let mut b = doc();
        for (d, sum) in [(&mut a, 5.5), (&mut b, f64::NAN)] {
            for t in &mut d.tensors {
                t.printed = None;
                t.stats = Some(crate::trace::Stats {
                    n: 6,
                    sum,
                    ..Default::default()
                });
            }
        }
        let r = compare(
            Side {
                doc: &a,
                values: &NoValues,
            },
            Side {
                doc: &b,
                values: &NoValues,
            },
            Tolerance::default(),
        )
        .unwrap();
        assert_eq!(r.nodes[0].mode, Mode::SumOnly);
        assert!(r.nodes[0].differs && r.nodes[0].diverged);
    }

    #[test]
    fn a_row_prefix_is_compared_where_stored() {
        let (a, va) = with_values(vec![1., 2., 3., 4., 5., 6.], [3, 2, 1, 1], true);
        // Only the first row kept; the second row's difference cannot be seen.
        let (b, vb) = with_values(vec![1., 2., 3.], [3, 1, 1, 1], false);
        let r = compare(
            Side {
                doc: &a,
                values: &va,
            },
            Side {
                doc: &b,
                values: &vb,
            },
            Tolerance::default(),
        )
        .unwrap();
        assert_eq!((r.nodes[0].n, r.nodes[0].max_abs), (3, 0.0));
    }

    #[test]
    fn full_values_are_rounded_like_the_printer_against_a_log() {
        let log = doc();
        let (ours, v) = with_values(vec![1.00004, 2., 3., 4., 5., 6.00006], [3, 2, 1, 1], true);
        let r = compare(
            Side {
                doc: &ours,
                values: &v,
            },
            Side {
                doc: &log,
                values: &NoValues,
            },
            Tolerance::default(),
        )
        .unwrap();
        let x = &r.nodes[0];
        assert_eq!((x.mode, x.n), (Mode::Printed, 6));
        // 1.00004 prints as 1.0000 (equal); 6.00006 as 6.0001 (one printed unit).
        assert!((x.max_abs - 1e-4).abs() < 1e-6, "{}", x.max_abs);
        assert!(x.differs && !x.diverged);
    }

    #[test]
    fn an_exact_sum_is_rounded_like_the_printer_against_a_log() {
        let log = doc();
        let (mut ours, v) = with_values(vec![1., 2., 3., 4., 5., 6.], [3, 2, 1, 1], true);
        for t in &mut ours.tensors {
            if t.name == "x" {
                t.stats = Some(crate::trace::Stats {
                    n: 6,
                    sum: 21.000_000_4,
                    ..Default::default()
                });
            }
        }
        let r = compare(
            Side {
                doc: &ours,
                values: &v,
            },
            Side {
                doc: &log,
                values: &NoValues,
            },
            Tolerance::default(),
        )
        .unwrap();
        let x = &r.nodes[0];
        assert_eq!((x.sum_a, x.sum_b), (Some(21.0), Some(21.0)));
        assert!(!x.differs);
        assert_eq!(r.first_difference, None);
    }

    #[test]
    fn documents_without_values_are_refused() {
        let mut a = doc();
        for t in &mut a.tensors {
            t.printed = None;
        }
        let b = doc();
        let e = compare(
            Side {
                doc: &a,
                values: &NoValues,
            },
            Side {
                doc: &b,
                values: &NoValues,
            },
            Tolerance::default(),
        )
        .unwrap_err();
        assert!(matches!(e, CompareError::NoValues { side: "A" }));
    }

    #[test]
    fn different_prompts_are_refused() {
        let mut a = doc();
        let mut b = doc();
        a.run.as_mut().unwrap().tokens = vec![crate::trace::TokenInfo {
            id: 1,
            piece: String::new(),
            text: String::new(),
        }];
        b.run.as_mut().unwrap().tokens = vec![crate::trace::TokenInfo {
            id: 2,
            piece: String::new(),
            text: String::new(),
        }];
        let e = compare(
            Side {
                doc: &a,
                values: &NoValues,
            },
            Side {
                doc: &b,
                values: &NoValues,
            },
            Tolerance::default(),
        )
        .unwrap_err();
        assert!(matches!(e, CompareError::DifferentTokens { .. }), "{e}");
    }
}
