//! The glue between the application and the libraries: opening a model, building its graph
//! document, tracing a prompt, reading and writing trace files, the presets, the logit lens.
//! The CLI commands and the HTTP handlers both go through here, so they behave alike.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;
use tt_core::capture::{Capture, Kept};
use tt_core::compare::{self, ValueSource};
use tt_core::exec::{ExecOptions, Executor};
use tt_core::gguf::GgufFile;
use tt_core::trace::{self, GraphDoc, RunInfo, TensorDoc, TokenInfo};
use tt_core::{Graph, Leaf, Op, TensorId};
use tt_models::tokenizer::Tokenizer;
use tt_models::{lens, presets, BuildOptions, ModelGraph, ModelSpec};

/// Preset served when nothing else is asked for.
pub const DEFAULT_PRESET: &str = presets::DEFAULT_ID;
/// Tokens in a model's graph built without a prompt (`graph MODEL`, `serve MODEL`): the 5 of
/// "The capital of France is" in SmolLM2, so the graph has the reference dumps' shapes.
pub const DEFAULT_GRAPH_TOKENS: u32 = 5;
/// Next tokens kept in a run's prediction.
pub const TOP_K: usize = 5;
/// Tokens per layer in the logit lens.
pub const LENS_TOP_K: usize = 5;

/// A GGUF model opened for graph building and tracing: the memory-mapped file, its
/// hyperparameters and weight table, and its tokenizer.
pub struct Model {
    path: PathBuf,
    gguf: GgufFile,
    spec: ModelSpec,
    tokenizer: Tokenizer,
}

/// What a trace asks for.
#[derive(Clone, Debug)]
pub struct TraceOptions {
    pub prompt: String,
    pub flash_attn: bool,
    pub threads: usize,
    /// Most bytes of captured values to hold.
    pub memory_budget: u64,
}

/// What a checked trace request will take.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub n_tokens: u32,
    /// Bytes of captured values (every computed tensor as f32, views that only relabel
    /// another tensor's bytes not counted twice); the executor's own buffers are far smaller.
    pub bytes: u64,
}

/// Progress of a running trace.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
    pub stage: &'static str,
}

/// A traced run: the graph document with its statistics, and the captured values.
pub struct Trace {
    pub doc: GraphDoc,
    pub values: Values,
}

/// Captured tensor values, by their key in the trace (`ValuesRef::key`): fresh from a run, or
/// read on demand from a trace file's memory map.
pub struct Values(Store);

enum Store {
    Captured {
        capture: Capture,
        /// Key → node, for every node whose values the capture owns.
        index: HashMap<String, TensorId>,
    },
    File(Box<trace::Trace>),
}

impl Values {
    fn captured(capture: Capture, graph: &Graph) -> Values {
        let index = trace::doc_ids(graph)
            .iter()
            .enumerate()
            .filter_map(|(i, doc_id)| {
                let (id, doc_id) = (TensorId(i as u32), (*doc_id)?);
                let own = matches!(capture.get(id)?.values, Some(Kept::Own { .. }));
                own.then(|| (Capture::key(doc_id, &graph.get(id).name), id))
            })
            .collect();
        Values(Store::Captured { capture, index })
    }

    /// The values stored under `key`, as f32 in ggml order.
    pub fn get(&self, key: &str) -> anyhow::Result<Vec<f32>> {
        match &self.0 {
            Store::Captured { capture, index } => {
                let id = index
                    .get(key)
                    .with_context(|| format!("no values are stored under {key:?}"))?;
                let (data, _, _) = capture
                    .values(*id)
                    .with_context(|| format!("no values are stored under {key:?}"))?;
                Ok(data.to_vec())
            }
            Store::File(t) => Ok(t.values(key)?),
        }
    }

    /// Every tensor of values this run owns, as [`trace::write`] takes them.
    fn entries(&self) -> anyhow::Result<Vec<Entry<'_>>> {
        match &self.0 {
            Store::Captured { capture, index } => {
                let mut v: Vec<Entry<'_>> = index
                    .iter()
                    .filter_map(|(k, &id)| {
                        let (data, ne, _) = capture.values(id)?;
                        Some((k.clone(), ne, data))
                    })
                    .collect();
                v.sort_by(|a, b| a.0.cmp(&b.0));
                Ok(v)
            }
            Store::File(_) => anyhow::bail!("this trace was read from a file, which holds it"),
        }
    }
}

/// Key, shape (ggml order) and data of one tensor of values.
type Entry<'a> = (String, [i64; 4], &'a [f32]);

impl ValueSource for Values {
    fn values(&self, t: &TensorDoc) -> Option<compare::Values> {
        let r = t.values.as_ref()?;
        let data = self.get(&r.key).ok()?;
        let n: i64 = r.ne.iter().product();
        (n == data.len() as i64).then_some(compare::Values {
            ne: r.ne,
            data,
            complete: r.complete,
        })
    }
}

impl Model {
    /// Opens a GGUF file and checks it describes a model whose graph we build.
    pub fn open(path: &Path) -> anyhow::Result<Model> {
        Model::from_gguf(path, GgufFile::open(path)?)
    }

    /// A model from an already opened GGUF (`path` names it in messages).
    pub fn from_gguf(path: &Path, gguf: GgufFile) -> anyhow::Result<Model> {
        let shown = path.display().to_string();
        let spec = ModelSpec::from_gguf(&gguf).with_context(|| shown.clone())?;
        let tokenizer =
            Tokenizer::from_gguf(&gguf).with_context(|| format!("{shown}: the tokenizer"))?;
        Ok(Model {
            path: path.to_path_buf(),
            gguf,
            spec,
            tokenizer,
        })
    }

    /// The file name (no directories), as shown to the browser.
    pub fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// Token ids of a prompt, as llama-eval-callback tokenizes it (BOS if the vocabulary asks
    /// for it, special tokens written in the text parsed).
    pub fn tokenize(&self, prompt: &str) -> anyhow::Result<Vec<u32>> {
        anyhow::ensure!(
            !prompt.is_empty(),
            "{}: the prompt is empty",
            self.file_name()
        );
        self.tokenizer
            .tokenize(prompt, true, true)
            .with_context(|| format!("{}: tokenizing the prompt", self.file_name()))
    }

    fn build(&self, n_tokens: u32, flash_attn: bool) -> anyhow::Result<ModelGraph> {
        let opts = BuildOptions {
            flash_attn,
            ..BuildOptions::new(n_tokens)
        };
        self.spec
            .build_graph(&opts)
            .with_context(|| self.file_name())
    }

    /// The untraced graph for `n_tokens` tokens.
    pub fn graph(&self, n_tokens: u32, flash_attn: bool) -> anyhow::Result<GraphDoc> {
        let mg = self.build(n_tokens, flash_attn)?;
        Ok(GraphDoc::from_graph(&mg.graph, self.spec.model_info()))
    }

    /// Tokenizes the prompt and checks that it can be traced (not empty, not longer than the
    /// context or a micro-batch); says how much memory the capture will take.
    pub fn check(&self, opts: &TraceOptions) -> anyhow::Result<Plan> {
        let tokens = self.tokenize(&opts.prompt)?;
        let n_tokens = u32::try_from(tokens.len()).context("the prompt is too long")?;
        let mg = self.build(n_tokens, opts.flash_attn)?;
        Ok(Plan {
            n_tokens,
            bytes: capture_bytes(&mg),
        })
    }

    /// Runs the prompt, capturing every tensor; `progress` is called as nodes complete.
    pub fn trace(
        &self,
        opts: &TraceOptions,
        progress: &mut dyn FnMut(Progress),
    ) -> anyhow::Result<Trace> {
        let file = self.file_name();
        let tokens = self.tokenize(&opts.prompt)?;
        let ids: Vec<i32> = tokens
            .iter()
            .map(|&t| i32::try_from(t))
            .collect::<Result<_, _>>()
            .context("a token id does not fit in i32")?;
        let mg = self.build(ids.len() as u32, opts.flash_attn)?;
        let total = mg.graph.nodes.len() as u64;
        progress(Progress {
            done: 0,
            total,
            stage: "load",
        });
        let mut ex = Executor::new(
            &mg.graph,
            &self.gguf,
            ExecOptions {
                n_threads: opts.threads.max(1),
            },
        )
        .with_context(|| file.clone())?;
        let input = mg.input_values(&ids).with_context(|| file.clone())?;
        let ins = &mg.inputs;
        ex.set_input_i32(ins.tokens, &input.tokens)?;
        ex.set_input_i32(ins.positions, &input.positions)?;
        ex.set_input_f32(ins.kq_mask, &input.kq_mask)?;
        ex.set_input_i64(ins.k_idxs, &input.k_idxs)?;
        ex.set_input_i64(ins.v_idxs, &input.v_idxs)?;
        ex.set_input_i32(ins.out_ids, &input.out_ids)?;
        ex.keep(mg.output);
        let budget = usize::try_from(opts.memory_budget).unwrap_or(usize::MAX);
        let mut capture = Capture::new(budget);
        let report = ex
            .run(&mut capture, &mut |done, total| {
                progress(Progress {
                    done: done as u64,
                    total: total as u64,
                    stage: "compute",
                })
            })
            .with_context(|| format!("{file}: computing the graph"))?;
        tracing::info!(
            nodes = report.nodes,
            compute_ms = report.compute_ms,
            captured = capture.used_bytes(),
            estimated = capture_bytes(&mg),
            peak = report.peak_bytes,
            "{file}: traced"
        );
        // [n_vocab, 1]: the last token's logits.
        let logits = ex.output_f32(mg.output)?;
        let top = lens::top_k(&logits, TOP_K, Some(&self.tokenizer));
        let mut doc = GraphDoc::from_graph(&mg.graph, self.spec.model_info());
        capture.fill_doc(&mg.graph, &mut doc);
        doc.run = Some(RunInfo {
            prompt: opts.prompt.clone(),
            tokens: tokens.iter().map(|&id| self.token_info(id)).collect(),
            flash_attn: opts.flash_attn,
            n_ctx: mg.dims.n_ctx,
            n_kv: mg.dims.n_kv,
            n_threads: opts.threads.max(1) as u32,
            top,
            compute_ms: report.compute_ms,
        });
        let values = Values::captured(capture, &mg.graph);
        Ok(Trace { doc, values })
    }

    fn token_info(&self, id: u32) -> TokenInfo {
        TokenInfo {
            id,
            piece: self
                .tokenizer
                .token_piece(id)
                .unwrap_or_default()
                .to_string(),
            text: self
                .tokenizer
                .token_to_piece(id)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default(),
        }
    }
}

/// Bytes of f32 values a full capture of `mg` holds: every node once, except RESHAPEs (they
/// share their source's copy) and whole-cache views (only the `n_kv` cells the graph touches
/// are allocated, and kept, of the `n_ctx`).
fn capture_bytes(mg: &ModelGraph) -> u64 {
    let g = &mg.graph;
    let (n_kv, n_ctx) = (u64::from(mg.dims.n_kv), u64::from(mg.dims.n_ctx.max(1)));
    g.nodes
        .iter()
        .map(|&id| {
            let t = g.get(id);
            let whole_cache = t.view_src.is_some_and(|r| {
                let root = g.get(r);
                root.leaf == Some(Leaf::Cache) && root.n_elements() == t.n_elements()
            });
            let n = if whole_cache {
                t.n_elements() / n_ctx * n_kv
            } else if t.op == Op::Reshape {
                0
            } else {
                t.n_elements()
            };
            n * 4
        })
        .sum()
}

/// One built-in model shape (no file needed).
#[derive(Clone, Debug, Serialize)]
pub struct PresetInfo {
    pub id: String,
    pub name: String,
    pub description: String,
}

/// A preset id that does not exist.
#[derive(Debug, thiserror::Error)]
#[error("unknown preset {id:?}; known presets: {known}")]
pub struct UnknownPreset {
    pub id: String,
    pub known: String,
}

pub fn presets() -> Vec<PresetInfo> {
    presets::list()
        .iter()
        .map(|p| PresetInfo {
            id: p.id.to_string(),
            name: p.name.to_string(),
            description: p.description.to_string(),
        })
        .collect()
}

/// The graph document of preset `id` for its default prompt with flash attention on (an
/// [`UnknownPreset`] error if there is none).
pub fn preset_graph(id: &str) -> anyhow::Result<GraphDoc> {
    preset_graph_with(id, None, true)
}

/// The graph document of preset `id` for `n_tokens` tokens (default: its default prompt's).
pub fn preset_graph_with(
    id: &str,
    n_tokens: Option<u32>,
    flash_attn: bool,
) -> anyhow::Result<GraphDoc> {
    let spec = presets::get(id).ok_or_else(|| UnknownPreset {
        id: id.to_string(),
        known: presets::list()
            .iter()
            .map(|p| p.id)
            .collect::<Vec<_>>()
            .join(", "),
    })?;
    let opts = BuildOptions {
        flash_attn,
        ..BuildOptions::new(n_tokens.unwrap_or(presets::DEFAULT_PROMPT_TOKENS.len() as u32))
    };
    let mg = spec
        .build_graph(&opts)
        .with_context(|| format!("preset {id}"))?;
    Ok(GraphDoc::from_graph(&mg.graph, spec.model_info()))
}

/// Reads a `.ttrace` file.
pub fn read_trace(path: &Path) -> anyhow::Result<Trace> {
    Ok(Trace::from_file(trace::read(path)?))
}

impl Trace {
    /// A trace read from a file: its values stay in the file's memory map.
    pub fn from_file(t: trace::Trace) -> Trace {
        Trace {
            doc: t.doc.clone(),
            values: Values(Store::File(Box::new(t))),
        }
    }
}

/// Writes a `.ttrace` file atomically (a temporary name next to it, renamed when complete), so
/// a failure never leaves a partial file under the requested name.
pub fn write_trace(path: &Path, t: &Trace) -> anyhow::Result<()> {
    trace::write(path, &t.doc, &t.values.entries()?)?;
    Ok(())
}

/// Where our kernel for an op is.
pub struct KernelRef {
    pub file: String,
    pub line: u32,
    pub fn_name: String,
}

/// The op of a tensor document: its printed name and parameters back into an [`Op`] (GLU and
/// unary ops print their sub-op's name, so their variant is tried by its serde tag).
fn op_of(t: &TensorDoc) -> Option<Op> {
    [t.op.as_str(), "GLU", "UNARY"].iter().find_map(|tag| {
        let v = serde_json::json!({ "op": tag, "params": t.params });
        serde_json::from_value::<Op>(v)
            .ok()
            .filter(|op| op.name() == t.op)
    })
}

/// Our CPU kernel for a tensor's op (`None` for leaves and views, which compute nothing).
pub fn kernel_source(t: &TensorDoc) -> Option<KernelRef> {
    let loc = tt_core::kernels::kernel_source(&op_of(t)?)?;
    let line_text = crate::sources::line(loc.file, loc.line).unwrap_or_default();
    let fn_name = line_text
        .split("fn ")
        .nth(1)
        .and_then(|rest| rest.split(['(', '<']).next())
        .unwrap_or_default()
        .to_string();
    Some(KernelRef {
        file: loc.file.to_string(),
        line: loc.line,
        fn_name,
    })
}

/// The logit lens: each layer's residual stream read through the final norm and output matrix.
#[derive(Debug, Serialize)]
pub struct Lens {
    pub layers: Vec<lens::LensLayer>,
}

/// Why there is no logit lens for the current graph.
#[derive(Debug, thiserror::Error)]
pub enum LensUnavailable {
    #[error("the logit lens needs the model's weights: start the server with the GGUF file the trace was made from (`tensor-trace serve MODEL.gguf --trace FILE`)")]
    NoModel,
    #[error("the trace was not made with the loaded model {model:?}: {why}")]
    OtherModel { model: String, why: String },
}

/// The logit lens of a traced run of `model`.
pub fn logit_lens(
    model: Option<&Model>,
    doc: &GraphDoc,
    values: &Values,
    threads: usize,
) -> anyhow::Result<Lens> {
    let model = model.ok_or(LensUnavailable::NoModel)?;
    // by configuration, not file name: a copy or a renamed file is the same model
    if let Err(e) = compare::same_config(&doc.model, &model.spec.model_info()) {
        return Err(LensUnavailable::OtherModel {
            model: model.file_name(),
            why: e
                .to_string()
                .replace(" in A ", " in the trace ")
                .replace(" in B", " in the model"),
        }
        .into());
    }
    let layers = lens::logit_lens(
        &model.spec.hparams,
        &model.gguf,
        Some(&model.tokenizer),
        doc,
        values,
        LENS_TOP_K,
        threads,
    )?;
    Ok(Lens { layers })
}

/// Parses a size such as `512M`, `8G`, `1.5G`, `1048576` (binary units).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    // a plain number of bytes, exponent included (`1e9`)
    if let Ok(x) = t.parse::<f64>() {
        if !(x.is_finite() && x >= 0.0 && x <= u64::MAX as f64) {
            return Err(format!("size out of range: {s:?}"));
        }
        return Ok(x as u64);
    }
    let (num, mult) = match t.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => {
            let unit = t[i..].trim().to_ascii_uppercase();
            let m: u64 = match unit.trim_end_matches("IB").trim_end_matches('B') {
                "" => 1,
                "K" => 1 << 10,
                "M" => 1 << 20,
                "G" => 1 << 30,
                "T" => 1 << 40,
                _ => return Err(format!("unknown size unit in {s:?} (use K, M, G or T)")),
            };
            (&t[..i], m)
        }
        None => (t, 1),
    };
    let x: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("expected a size like 512M or 8G, found {s:?}"))?;
    if !(x.is_finite() && x >= 0.0) || x * mult as f64 > u64::MAX as f64 {
        return Err(format!("size out of range: {s:?}"));
    }
    Ok((x * mult as f64) as u64)
}

/// `--threads N`: from 1 to 4 × the cores of this machine (more only adds contention, and a
/// typo like 100000 would try to start that many threads).
pub fn parse_threads(s: &str) -> Result<usize, String> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let max = 4 * cores;
    let n: usize = s
        .trim()
        .parse()
        .map_err(|_| format!("expected a number of threads, found {s:?}"))?;
    if n == 0 || n > max {
        return Err(format!(
            "expected 1 to {max} threads (4 × the {cores} cores here), found {n}"
        ));
    }
    Ok(n)
}

/// `n` and the noun, plural when `n` is not 1: `count(1, "token")` → "1 token".
pub fn count(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// 1536 → "1.5 KiB".
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut x = n as f64;
    let mut u = 0;
    while x >= 1024.0 && u + 1 < UNITS.len() {
        x /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{x:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("8G"), Ok(8 << 30));
        assert_eq!(parse_size("8GiB"), Ok(8 << 30));
        assert_eq!(parse_size("1.5k"), Ok(1536));
        assert_eq!(parse_size("100"), Ok(100));
        assert!(parse_size("8X").is_err());
        assert!(parse_size("-1G").is_err());
        assert!(parse_size("").is_err());
    }

    #[test]
    fn bytes_print_in_binary_units() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(8 << 30), "8.0 GiB");
    }
}
