//! Parser for the text `llama-eval-callback` prints: one record per computed graph node, in
//! execution order, with the node's name, type, op, its first two sources, its shape, a preview
//! of its values and their sum. This is how llama.cpp's own numbers get into tensor-trace
//! (import, compare, the faithfulness tests).
//!
//! A record, as printed by `common_debug_cb_eval` (common/debug.cpp; older builds print the same
//! fields from `ggml_debug` in examples/eval-callback):
//!
//! ```text
//! common_debug_cb_eval:   Qcur-0 = (f32)    MUL_MAT(blk.0.attn_q.weight{576, 576, 1, 1}, attn_norm-0{576, 5, 1, 1}}) = {576, 5, 1, 1}
//!     [                                   one block per i3 (never elided)
//!         [                               one block per i2
//!             [  0.1096,  0.0174, -0.0947,    ...,  0.0506,  0.1287,  0.0708  ],   one row per i1
//!             ...,                        elided rows
//!         ],
//!     ]
//!     sum = -7.908967                     printed after each i3 block
//! ```
//!
//! The header is `"%24s = (%s) %10s(%s{ne}, %s}) = {ne}"`: the name is right-aligned (names may
//! contain spaces: `Qcur-0 (view) (permuted)`), the second source is `name{ne}` or empty (hence
//! the stray `}` in `, })`). Along each of ne0, ne1, ne2 the printer shows every index when the
//! dimension has at most 6, otherwise the first 3 and the last 3 (`...` between); ne3 is never
//! elided. Values are `%12.4f` (so `nan`, `-nan`, `inf`, `-inf` appear as such). Tensors of a
//! quantized type get a header but no values. Current builds print the f32 sum of every element
//! walked through the strides, repeated after each i3 block; the old `ggml_debug` printer summed
//! only the printed values. The parser keeps the last `sum` line of a record.
//!
//! Any other line (stderr, llama.cpp's log, the prompt's token list) is skipped; line numbers
//! stay those of the file. The token ids `llama-eval-callback` prints before the graph
//! (`number of input tokens = 5` followed by one id per line) are picked up when present.

use std::path::Path;

use thiserror::Error;

use crate::dtype::GgmlType;

/// How many leading and trailing indices the printer shows along an elided dimension
/// (the `n` argument of `common_debug_print_tensor`).
pub const PREVIEW_N: usize = 3;

/// Errors reading an eval-callback log. Line numbers are 1-based lines of the file.
#[derive(Debug, Error)]
pub enum LogError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("empty file: expected llama-eval-callback output")]
    Empty,
    #[error(
        "no eval-callback lines found in {lines} lines: expected lines starting with \
         `common_debug_cb_eval:` or `ggml_debug:` (is this the output of llama-eval-callback?)"
    )]
    NoEvalLines { lines: usize },
    #[error("line {line}: malformed node header: {reason}")]
    BadHeader { line: usize, reason: String },
    #[error("line {line}: expected a printed value, found {found:?}")]
    BadValue { line: usize, found: String },
    #[error(
        "line {line}: node `{name}` is truncated (log cut off?): expected {expected}, found {found}"
    )]
    Truncated {
        line: usize,
        name: String,
        expected: String,
        found: String,
    },
    #[error("line {line}: node `{name}`: values do not fit its shape {ne:?}: {reason}")]
    Layout {
        line: usize,
        name: String,
        ne: [i64; 4],
        reason: String,
    },
}

/// The result type as printed: a ggml type name, or the raw text if this build does not know it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogType {
    Ggml(GgmlType),
    Raw(String),
}

impl LogType {
    fn parse(s: &str) -> LogType {
        GgmlType::from_name(s).map_or_else(|| LogType::Raw(s.to_string()), LogType::Ggml)
    }

    pub fn ggml(&self) -> Option<GgmlType> {
        match self {
            LogType::Ggml(t) => Some(*t),
            LogType::Raw(_) => None,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            LogType::Ggml(t) => t.name(),
            LogType::Raw(s) => s,
        }
    }

    /// Whether the printer shows values for this type: `Some(false)` for quantized types,
    /// `None` when the type is unknown.
    fn has_values(&self) -> Option<bool> {
        self.ggml().map(|t| !t.is_quantized())
    }
}

/// Which program printed the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFlavor {
    /// `common_debug_cb_eval:` lines (llama.cpp's common/debug.cpp, current builds).
    Current,
    /// `ggml_debug:` lines (examples/eval-callback before the move to common/).
    Legacy,
}

/// One computed node as printed.
#[derive(Clone, Debug, PartialEq)]
pub struct LogNode {
    /// llama.cpp's name (`Qcur-0`, `cache_k_l0 (view)`, `node_21`).
    pub name: String,
    pub ty: LogType,
    /// ggml's op name (`MUL_MAT`, `SWIGLU`).
    pub op: String,
    /// The printed sources: src0 always, src1 when the node has one (name and ne).
    pub srcs: Vec<(String, [i64; 4])>,
    /// Result shape, ggml order (ne[0] innermost).
    pub ne: [i64; 4],
    /// The printed values with their element coordinates `[i0, i1, i2, i3]`, in print order.
    pub preview: Vec<([usize; 4], f32)>,
    /// The printed `sum`; `None` for quantized results (the printer shows no values for them).
    pub sum: Option<f64>,
    /// 1-based line of the header in the file.
    pub line: usize,
}

/// A parsed log.
#[derive(Clone, Debug)]
pub struct EvalLog {
    pub flavor: LogFlavor,
    /// Nodes in execution order.
    pub nodes: Vec<LogNode>,
    /// Prompt token ids, when the log lists them (`number of input tokens = N`).
    pub tokens: Vec<u32>,
    /// Threads of the run, when the log has llama.cpp's `system_info: n_threads = N` line.
    pub n_threads: Option<u32>,
    /// Lines in the file.
    pub n_lines: usize,
}

const CURRENT_PREFIX: &str = "common_debug_cb_eval:";
const LEGACY_PREFIX: &str = "ggml_debug:";

/// Largest log read: an eval-callback log prints a few values per node, so even a 405B
/// model's run is far smaller.
pub const MAX_LOG_BYTES: u64 = 1 << 30;

/// Read and parse a log file.
pub fn parse_file(path: &Path) -> Result<EvalLog, LogError> {
    let io = |source| LogError::Io {
        path: path.display().to_string(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "expected a log file, found a directory or special file",
        )));
    }
    if meta.len() > MAX_LOG_BYTES {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "{} bytes is more than any eval-callback log (at most {MAX_LOG_BYTES})",
                meta.len()
            ),
        )));
    }
    let text = std::fs::read(path).map_err(io)?;
    parse(&String::from_utf8_lossy(&text))
}

/// Parse the text of a log.
pub fn parse(text: &str) -> Result<EvalLog, LogError> {
    if text.trim().is_empty() {
        return Err(LogError::Empty);
    }
    let mut nodes: Vec<LogNode> = Vec::new();
    let mut open: Option<Open> = None;
    let mut flavor = None;
    let mut tokens = Tokens::default();
    let mut n_lines = 0;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        n_lines = line_no;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let header = if let Some(rest) = line.strip_prefix(CURRENT_PREFIX) {
            Some((LogFlavor::Current, rest))
        } else {
            line.strip_prefix(LEGACY_PREFIX)
                .map(|rest| (LogFlavor::Legacy, rest))
        };
        if let Some((fl, rest)) = header {
            if let Some(o) = open.take() {
                nodes.push(o.finish()?);
            }
            flavor.get_or_insert(fl);
            let node = parse_header(rest, line_no)?;
            open = Some(Open::new(node));
            continue;
        }
        let trimmed = line.trim();
        match open.as_mut() {
            Some(o) => o.feed(trimmed, line_no)?,
            None if nodes.is_empty() => tokens.feed(trimmed),
            None => {}
        }
    }
    if let Some(o) = open.take() {
        nodes.push(o.finish()?);
    }
    let Some(flavor) = flavor else {
        return Err(LogError::NoEvalLines { lines: n_lines });
    };
    Ok(EvalLog {
        flavor,
        nodes,
        tokens: tokens.ids,
        n_threads: tokens.n_threads,
        n_lines,
    })
}

/// Picks up `number of input tokens = N` and the N id lines after it, and the thread count
/// (log prefixes allowed).
#[derive(Default)]
struct Tokens {
    ids: Vec<u32>,
    pending: usize,
    n_threads: Option<u32>,
}

impl Tokens {
    fn feed(&mut self, line: &str) {
        const KEY: &str = "number of input tokens = ";
        const THREADS: &str = "system_info: n_threads = ";
        if let Some(p) = line.find(THREADS) {
            let rest = &line[p + THREADS.len()..];
            let digits = rest.split(|c: char| !c.is_ascii_digit()).next();
            self.n_threads = digits.and_then(|d| d.parse().ok());
            return;
        }
        if let Some(p) = line.find(KEY) {
            if let Ok(n) = line[p + KEY.len()..].trim().parse::<usize>() {
                self.ids.clear();
                self.pending = n;
            }
            return;
        }
        if self.pending == 0 {
            return;
        }
        // `0.00.506.493 I   504`: the id is the last word.
        if let Some(id) = line
            .split_whitespace()
            .last()
            .and_then(|w| w.parse::<u32>().ok())
        {
            self.ids.push(id);
            self.pending -= 1;
        }
    }
}

/// Parse `"%24s = (%s) %10s(%s{ne}, %s}) = {ne}"` (everything after the `func:` prefix).
fn parse_header(rest: &str, line: usize) -> Result<LogNode, LogError> {
    let bad = |reason: &str| LogError::BadHeader {
        line,
        reason: reason.to_string(),
    };
    // Result shape: the text after the last " = {".
    let eq = rest
        .rfind(" = {")
        .ok_or_else(|| bad("no ` = {ne}` result shape at the end"))?;
    let ne = parse_ne(&rest[eq + 3..]).ok_or_else(|| bad("result shape is not `{a, b, c, d}`"))?;
    // `NAME = (TYPE) OP(SRC0{ne}, SRC1})`
    let head = &rest[..eq];
    let head = head
        .strip_suffix("})")
        .ok_or_else(|| bad("sources do not end with `})`"))?;
    let name_end = head
        .find(" = (")
        .ok_or_else(|| bad("no ` = (type)` after the name"))?;
    let name = head[..name_end].trim_start().to_string();
    let after = &head[name_end + 4..];
    let ty_end = after
        .find(')')
        .ok_or_else(|| bad("type not closed by `)`"))?;
    let ty = LogType::parse(&after[..ty_end]);
    let after = &after[ty_end + 1..];
    let paren = after
        .find('(')
        .ok_or_else(|| bad("no `(` after the op name"))?;
    let op = after[..paren].trim().to_string();
    if op.is_empty() {
        return Err(bad("empty op name"));
    }
    let args = &after[paren + 1..];
    // src0 is `name{ne}` followed by ", "; its name may contain anything but a shape.
    let (src0, src1) = split_sources(args).ok_or_else(|| bad("src0 is not `name{a, b, c, d}`"))?;
    let mut srcs = vec![src0];
    if !src1.is_empty() {
        let open = src1
            .rfind('{')
            .ok_or_else(|| bad("src1 is not `name{a, b, c, d}`"))?;
        let ne1 = parse_ne(&src1[open..]).ok_or_else(|| bad("src1 shape is not `{a, b, c, d}`"))?;
        srcs.push((src1[..open].to_string(), ne1));
    }
    Ok(LogNode {
        name,
        ty,
        op,
        srcs,
        ne,
        preview: Vec::new(),
        sum: None,
        line,
    })
}

/// Split `SRC0{a, b, c, d}, SRC1{a, b, c, d}` (SRC1 may be empty) at
/// the first `{shape}, ` that is a valid shape.
fn split_sources(args: &str) -> Option<((String, [i64; 4]), &str)> {
    let mut from = 0;
    while let Some(p) = args[from..].find('{') {
        let open = from + p;
        if let Some(close) = args[open..].find("}, ") {
            let close = open + close;
            if let Some(ne) = parse_ne(&args[open..=close]) {
                return Some(((args[..open].to_string(), ne), &args[close + 3..]));
            }
        }
        from = open + 1;
    }
    None
}

/// `{a, b, c, d}` → ne (non-negative).
fn parse_ne(s: &str) -> Option<[i64; 4]> {
    let inner = s.trim().strip_prefix('{')?.strip_suffix('}')?;
    let mut ne = [0i64; 4];
    let mut parts = inner.split(',');
    for slot in &mut ne {
        let v: i64 = parts.next()?.trim().parse().ok()?;
        if v < 0 {
            return None;
        }
        *slot = v;
    }
    parts.next().is_none().then_some(ne)
}

/// A printed number: `%12.4f` or `%f` output, including glibc's `nan`, `-nan`, `inf`, `-inf`.
fn parse_number(s: &str) -> Option<f64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let v = match body {
        "nan" | "NAN" => f64::NAN,
        "inf" | "INF" => f64::INFINITY,
        _ => {
            if !body.starts_with(|c: char| c.is_ascii_digit()) {
                return None;
            }
            body.parse::<f64>().ok()?
        }
    };
    Some(if neg { -v } else { v })
}

/// Indices the printer shows along one dimension of size `ne`, as the `k`-th printed one.
fn printed_index(ne: usize, k: usize) -> usize {
    if ne > 2 * PREVIEW_N && k >= PREVIEW_N {
        ne - 2 * PREVIEW_N + k
    } else {
        k
    }
}

/// How many indices the printer shows along a dimension of size `ne` (ne3 is never elided).
fn printed_len(ne: usize, dim: usize) -> usize {
    if dim == 3 || ne <= 2 * PREVIEW_N {
        ne
    } else {
        2 * PREVIEW_N
    }
}

/// Element coordinates `[i0, i1, i2, i3]` the eval-callback printer shows for a tensor of shape
/// `ne`, in print order. Lazy: a huge ne3 costs nothing until iterated.
pub fn preview_coords(ne: [i64; 4]) -> PreviewCoords {
    let ne = ne.map(|n| n.max(0) as usize);
    let lens = [0, 1, 2, 3].map(|d| printed_len(ne[d], d));
    PreviewCoords {
        ne,
        lens,
        k: [0; 4],
        done: lens.contains(&0),
    }
}

/// Iterator returned by [`preview_coords`].
#[derive(Clone, Debug)]
pub struct PreviewCoords {
    ne: [usize; 4],
    lens: [usize; 4],
    /// Odometer over printed positions, k[0] fastest.
    k: [usize; 4],
    done: bool,
}

impl PreviewCoords {
    /// Number of coordinates left, saturating (ne3 is not elided and may be large).
    pub fn remaining(&self) -> u64 {
        if self.done {
            return 0;
        }
        let l = self.lens.map(|x| x as u64);
        let total = l[0]
            .saturating_mul(l[1])
            .saturating_mul(l[2])
            .saturating_mul(l[3]);
        let k = self.k.map(|x| x as u64);
        let pos = k[0] + l[0] * (k[1] + l[1] * (k[2] + l[2] * k[3]));
        total.saturating_sub(pos)
    }
}

impl Iterator for PreviewCoords {
    type Item = [usize; 4];

    fn next(&mut self) -> Option<[usize; 4]> {
        if self.done {
            return None;
        }
        let c = [0, 1, 2, 3].map(|d| printed_index(self.ne[d], self.k[d]));
        for d in 0..4 {
            self.k[d] += 1;
            if self.k[d] < self.lens[d] {
                return Some(c);
            }
            self.k[d] = 0;
        }
        self.done = true;
        Some(c)
    }
}

/// The record being read: header seen, values and sum accumulating.
struct Open {
    node: LogNode,
    coords: PreviewCoords,
    /// Whether the printer shows values for this type (unknown type: whatever comes).
    has_values: Option<bool>,
}

impl Open {
    fn new(node: LogNode) -> Open {
        Open {
            coords: preview_coords(node.ne),
            has_values: node.ty.has_values(),
            node,
        }
    }

    fn layout(&self, line: usize, reason: String) -> LogError {
        LogError::Layout {
            line,
            name: self.node.name.clone(),
            ne: self.node.ne,
            reason,
        }
    }

    /// One line after the header. Lines that are not part of a value block are skipped.
    fn feed(&mut self, t: &str, line: usize) -> Result<(), LogError> {
        if let Some(v) = t.strip_prefix("sum = ") {
            let v = v.trim();
            let sum = parse_number(v).ok_or_else(|| LogError::BadValue {
                line,
                found: v.to_string(),
            })?;
            self.node.sum = Some(sum);
            return Ok(());
        }
        // A value row: `[ v, v, v,    ..., v, v, v  ],` (structure lines `[`, `],`, `]`,
        // `...,` carry no values and are implied by the shape).
        let Some(row) = t.strip_prefix('[').and_then(|r| r.strip_suffix("],")) else {
            return Ok(());
        };
        if self.has_values == Some(false) {
            return Err(self.layout(
                line,
                format!("values printed for a {} tensor", self.node.ty.name()),
            ));
        }
        let mut n_in_row = 0usize;
        let mut last_i0 = None;
        for item in row.split(',') {
            let item = item.trim();
            if item.is_empty() || item == "..." {
                continue;
            }
            let v = parse_number(item).ok_or_else(|| LogError::BadValue {
                line,
                found: item.to_string(),
            })?;
            let c = self.coords.next().ok_or_else(|| {
                self.layout(
                    line,
                    "more values than the printer shows for this shape".into(),
                )
            })?;
            if n_in_row == 0 && c[0] != 0 {
                return Err(self.layout(line, format!("row starts at i0 = {}", c[0])));
            }
            n_in_row += 1;
            last_i0 = Some(c[0]);
            self.node.preview.push((c, v as f32));
        }
        let ne0 = self.node.ne[0] as usize;
        match last_i0 {
            Some(i0) if i0 + 1 == ne0 => Ok(()),
            Some(i0) => Err(self.layout(
                line,
                format!("row ends at i0 = {i0}, expected {}", ne0.saturating_sub(1)),
            )),
            None => Ok(()),
        }
    }

    /// Close the record at the next header or the end of the file.
    fn finish(self) -> Result<LogNode, LogError> {
        let left = self.coords.remaining();
        let got = self.node.preview.len();
        // Unknown type: values are expected only if some were printed.
        let printed = self.has_values.unwrap_or(got > 0);
        let truncated = |expected: String, found: String| LogError::Truncated {
            line: self.node.line,
            name: self.node.name.clone(),
            expected,
            found,
        };
        if printed && left > 0 {
            return Err(truncated(
                format!("{} printed values", (got as u64).saturating_add(left)),
                format!("{got}"),
            ));
        }
        if printed && got > 0 && self.node.sum.is_none() {
            return Err(truncated(
                "a `sum = …` line after the values".into(),
                "none".into(),
            ));
        }
        Ok(self.node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coords(ne: [i64; 4]) -> Vec<[usize; 4]> {
        preview_coords(ne).collect()
    }

    #[test]
    fn preview_coords_follow_the_printer() {
        // ne0 = 576 > 6: 0, 1, 2, 573, 574, 575; ne1 = 5 ≤ 6: all.
        let c = coords([576, 5, 1, 1]);
        assert_eq!(c.len(), 30);
        assert_eq!(c[0], [0, 0, 0, 0]);
        assert_eq!(c[3], [573, 0, 0, 0]);
        assert_eq!(c[6], [0, 1, 0, 0]);
        assert_eq!(c[29], [575, 4, 0, 0]);
        // 7 elements: the middle one is elided.
        let c: Vec<usize> = coords([7, 1, 1, 1]).iter().map(|c| c[0]).collect();
        assert_eq!(c, [0, 1, 2, 4, 5, 6]);
        let c: Vec<usize> = coords([6, 1, 1, 1]).iter().map(|c| c[0]).collect();
        assert_eq!(c, [0, 1, 2, 3, 4, 5]);
        // ne3 is never elided.
        assert_eq!(coords([1, 1, 1, 9]).len(), 9);
        assert_eq!(coords([256, 5, 9, 1]).len(), 6 * 5 * 6);
        assert_eq!(preview_coords([256, 5, 9, 1]).remaining(), 180);
        assert!(coords([0, 5, 1, 1]).is_empty());
    }

    const ONE: &str = "\
common_debug_cb_eval:                     embd = (f32)   GET_ROWS(token_embd.weight{576, 49152, 1, 1}, inp_tokens{5, 1, 1, 1}}) = {7, 2, 1, 1}
    [
        [
            [      0.1096,          nan,      -0.0947,    ...,         inf,         -inf,         -nan  ],
            [     -0.0131,      -0.1444,       0.0450,    ...,       0.0849,      -0.0425,       0.2451  ],
        ],
    ]
    sum = -7.908967
";

    #[test]
    fn parses_header_values_and_specials() {
        let log = parse(ONE).unwrap();
        assert_eq!(log.flavor, LogFlavor::Current);
        let n = &log.nodes[0];
        assert_eq!(n.name, "embd");
        assert_eq!(n.ty, LogType::Ggml(GgmlType::F32));
        assert_eq!(n.op, "GET_ROWS");
        assert_eq!(
            n.srcs,
            vec![
                ("token_embd.weight".to_string(), [576, 49152, 1, 1]),
                ("inp_tokens".to_string(), [5, 1, 1, 1])
            ]
        );
        assert_eq!(n.ne, [7, 2, 1, 1]);
        assert_eq!(n.preview.len(), 12);
        assert_eq!(n.preview[0], ([0, 0, 0, 0], 0.1096));
        assert!(n.preview[1].1.is_nan());
        assert_eq!(n.preview[3], ([4, 0, 0, 0], f32::INFINITY));
        assert_eq!(n.preview[4].1, f32::NEG_INFINITY);
        assert!(n.preview[5].1.is_nan());
        assert_eq!(n.preview[11], ([6, 1, 0, 0], 0.2451));
        assert_eq!(n.sum, Some(-7.908967));
        assert_eq!(n.line, 1);
    }

    #[test]
    fn names_with_spaces_missing_src1_and_legacy_prefix() {
        let text = "\
some stderr line
ggml_debug: Vcur-0 (reshaped) (reshaped) = (f32)    RESHAPE(Vcur-0 (reshaped){192, 5, 1, 1}, }) = {1, 2, 1, 1}
    [
        [
load_tensors: interleaved log line
            [     -0.0298  ],
            [      0.0157  ],
        ],
    ]
    sum = 0.849982
ggml_debug: (copy of Kcur-0) = (q8_0)        CPY(Kcur-0{64, 3, 5, 1}, cache_k_l0 (view){192, 5, 1, 1}}) = {192, 5, 1, 1}
ggml_debug:      x = (f32)   RMS_NORM(embd{576, 5, 1, 1}, }) = {1, 1, 1, 1}
    [
        [
            [      1.0000  ],
        ],
    ]
    sum = 1.000000
";
        let log = parse(text).unwrap();
        assert_eq!(log.flavor, LogFlavor::Legacy);
        assert_eq!(log.nodes.len(), 3);
        let n = &log.nodes[0];
        assert_eq!(n.name, "Vcur-0 (reshaped) (reshaped)");
        assert_eq!(
            n.srcs,
            vec![("Vcur-0 (reshaped)".to_string(), [192, 5, 1, 1])]
        );
        assert_eq!(
            n.preview,
            vec![([0, 0, 0, 0], -0.0298), ([0, 1, 0, 0], 0.0157)]
        );
        assert_eq!(n.line, 2);
        let c = &log.nodes[1];
        assert_eq!(c.name, "(copy of Kcur-0)");
        assert_eq!(c.srcs[1].0, "cache_k_l0 (view)");
        assert!(
            c.preview.is_empty() && c.sum.is_none(),
            "quantized: no values"
        );
        assert_eq!(log.nodes[2].srcs.len(), 1);
        assert_eq!(log.nodes[2].line, 12);
    }

    #[test]
    fn several_i3_blocks_each_with_a_sum() {
        let text = "\
common_debug_cb_eval: t = (f32)        ADD(a{2, 1, 1, 2}, b{2, 1, 1, 2}}) = {2, 1, 1, 2}
    [
        [
            [      1.0000,       2.0000  ],
        ],
    ]
    sum = 10.000000
    [
        [
            [      3.0000,       4.0000  ],
        ],
    ]
    sum = 10.000000
";
        let n = &parse(text).unwrap().nodes[0];
        assert_eq!(n.preview[3], ([1, 0, 0, 1], 4.0));
        assert_eq!(n.sum, Some(10.0));
    }

    #[test]
    fn token_ids_are_picked_up() {
        let text =
            format!("0.00.1 I number of input tokens = 2\n0.00.2 I   504\n0.00.3 I   3575\n{ONE}");
        assert_eq!(parse(&text).unwrap().tokens, vec![504, 3575]);
    }

    #[test]
    fn truncated_record_names_its_header_line() {
        let cut: String = ONE.lines().take(4).map(|l| format!("{l}\n")).collect();
        let e = parse(&format!("noise\n{cut}")).unwrap_err();
        match &e {
            LogError::Truncated { line, name, .. } => {
                assert_eq!((*line, name.as_str()), (2, "embd"))
            }
            other => panic!("expected Truncated, got {other}"),
        }
        assert!(e.to_string().contains("line 2"), "{e}");
        // Values complete but the sum line missing.
        let no_sum: String = ONE.lines().take(7).map(|l| format!("{l}\n")).collect();
        assert!(matches!(
            parse(&no_sum),
            Err(LogError::Truncated { line: 1, .. })
        ));
        // A header directly followed by the next header.
        let two = format!("{}\n{ONE}", ONE.lines().next().unwrap());
        assert!(matches!(
            parse(&two),
            Err(LogError::Truncated { line: 1, .. })
        ));
    }

    #[test]
    fn other_programs_and_empty_files_are_rejected() {
        assert!(matches!(parse(""), Err(LogError::Empty)));
        assert!(matches!(parse("  \n\n"), Err(LogError::Empty)));
        let e = parse("main: build = 1\nllama_model_load: loaded\n").unwrap_err();
        assert!(matches!(e, LogError::NoEvalLines { lines: 2 }));
        assert!(e.to_string().contains("no eval-callback lines found"));
    }

    #[test]
    fn malformed_lines_give_their_line_number() {
        let bad_header =
            "x\ncommon_debug_cb_eval: embd = (f32) GET_ROWS(a{1, 1, 1, 1}, }) = {1, 1}\n";
        assert!(matches!(
            parse(bad_header),
            Err(LogError::BadHeader { line: 2, .. })
        ));
        let bad_value = ONE.replace("0.0450", "0.0x50");
        assert!(matches!(
            parse(&bad_value),
            Err(LogError::BadValue { line: 5, .. })
        ));
        let extra = ONE.replace("0.2451  ]", "0.2451,       1.0000  ]");
        assert!(matches!(
            parse(&extra),
            Err(LogError::Layout { line: 5, .. })
        ));
        let short_row = ONE.replace(",       0.2451  ]", "  ]");
        assert!(matches!(
            parse(&short_row),
            Err(LogError::Layout { line: 5, .. })
        ));
    }
}
