//! The glue between the application and the libraries: opening a model, building its graph
//! document, tracing a prompt, reading and writing trace files, the presets, the logit lens.
//! The CLI commands and the HTTP handlers both go through here, so they behave alike.

use std::path::{Path, PathBuf};

use serde::Serialize;
use tt_core::gguf::GgufFile;
use tt_core::trace::GraphDoc;

/// Preset served when nothing else is asked for.
pub const DEFAULT_PRESET: &str = "llama-3.1-8b";
/// Tokens in a graph built without a prompt (`graph`, `serve MODEL`).
pub const DEFAULT_GRAPH_TOKENS: u32 = 5;

/// A GGUF model opened for graph building and tracing.
pub struct Model {
    path: PathBuf,
    gguf: GgufFile,
}

/// What a trace asks for.
#[derive(Clone, Debug)]
pub struct TraceOptions {
    pub prompt: String,
    pub flash_attn: bool,
    pub threads: usize,
}

/// What a checked trace request will take.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub n_tokens: u32,
    /// Memory the trace needs (captured values and working buffers), bytes.
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

/// Captured tensor values, by their key in the trace (`ValuesRef::key`).
pub struct Values {}

impl Values {
    /// The values stored under `key`, as f32 in ggml order.
    pub fn get(&self, key: &str) -> anyhow::Result<Vec<f32>> {
        anyhow::bail!("no values are stored under {key:?}")
    }
}

impl Model {
    pub fn open(path: &Path) -> anyhow::Result<Model> {
        let gguf = GgufFile::open(path)?;
        Ok(Model {
            path: path.to_path_buf(),
            gguf,
        })
    }

    /// The file name (no directories), as shown to the browser.
    pub fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    pub fn gguf(&self) -> &GgufFile {
        &self.gguf
    }

    /// The untraced graph for `n_tokens` tokens.
    pub fn graph(&self, _n_tokens: u32, _flash_attn: bool) -> anyhow::Result<GraphDoc> {
        anyhow::bail!(
            "{}: building graphs is not available in this build",
            self.file_name()
        )
    }

    /// Tokenizes the prompt and checks that it can be traced.
    pub fn check(&self, _opts: &TraceOptions) -> anyhow::Result<Plan> {
        anyhow::bail!(
            "{}: tracing is not available in this build",
            self.file_name()
        )
    }

    /// Runs the prompt, capturing every tensor; `progress` is called as nodes complete.
    pub fn trace(
        &self,
        _opts: &TraceOptions,
        _progress: &mut dyn FnMut(Progress),
    ) -> anyhow::Result<Trace> {
        anyhow::bail!(
            "{}: tracing is not available in this build",
            self.file_name()
        )
    }
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
    Vec::new()
}

/// The graph document of preset `id` with the default token count and flash attention on
/// (an [`UnknownPreset`] error if there is none).
pub fn preset_graph(id: &str) -> anyhow::Result<GraphDoc> {
    preset_graph_with(id, DEFAULT_GRAPH_TOKENS, true)
}

/// The graph document of preset `id` for `n_tokens` tokens.
pub fn preset_graph_with(id: &str, _n_tokens: u32, _flash_attn: bool) -> anyhow::Result<GraphDoc> {
    let known: Vec<String> = presets().into_iter().map(|p| p.id).collect();
    Err(UnknownPreset {
        id: id.to_string(),
        known: known.join(", "),
    }
    .into())
}

/// Reads a `.ttrace` file.
pub fn read_trace(path: &Path) -> anyhow::Result<Trace> {
    anyhow::bail!(
        "{}: reading traces is not available in this build",
        path.display()
    )
}

/// Writes a `.ttrace` file atomically: to a temporary name next to it, renamed when complete,
/// so a failure never leaves a partial file under the requested name.
pub fn write_trace(path: &Path, _trace: &Trace) -> anyhow::Result<()> {
    anyhow::bail!(
        "{}: writing traces is not available in this build",
        path.display()
    )
}

/// Where our kernel for an op is.
pub struct KernelRef {
    pub file: String,
    pub line: u32,
    pub fn_name: String,
}

/// Our CPU kernel for the op printed as `op` (`None` for leaves and views).
pub fn kernel_source(_op: &str) -> Option<KernelRef> {
    None
}

/// The logit lens: each layer's residual stream read through the final norm and output matrix.
#[derive(Debug, Serialize)]
pub struct Lens {
    pub layers: Vec<LensLayer>,
}

#[derive(Debug, Serialize)]
pub struct LensLayer {
    pub layer: u32,
    pub top: Vec<tt_core::trace::TopToken>,
}

/// The logit lens of a traced run.
pub fn logit_lens(
    _model: Option<&Model>,
    _doc: &GraphDoc,
    _values: &Values,
) -> anyhow::Result<Lens> {
    anyhow::bail!("the logit lens is not available in this build")
}

/// Parses a size such as `512M`, `8G`, `1.5G`, `1048576` (binary units).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
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
