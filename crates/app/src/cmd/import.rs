//! `tensor-trace import LOG [--out FILE]`: read the text `llama-eval-callback` printed (every
//! node llama.cpp computed, with a preview of its values and their sum) into a graph document,
//! saved as a `.ttrace` (the document, no value tensors) or as JSON (`--out x.json`), to view
//! it, compare it with a trace of ours, or export it.
//!
//! Errors name the line: a log cut off inside a node, a file that is not eval-callback output,
//! an empty file. Nothing is written unless the whole log was read.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use tt_core::llamacpp_import;
use tt_core::llamacpp_log;
use tt_core::trace::GraphDoc;

#[derive(Parser, Debug)]
pub struct Args {
    /// Output of `llama-eval-callback` (stdout and stderr, as saved)
    #[arg(value_name = "LOG")]
    pub log: PathBuf,

    /// Write the graph document: FILE.json as JSON, anything else as a .ttrace file
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if let Some(path) = &args.out {
        tt_core::outpath::check(path, &[&args.log])?;
    }
    let start = Instant::now();
    let doc = import(&args.log)?;
    let elapsed = start.elapsed();
    let mut out = std::io::stdout().lock();
    summary(&doc, &mut out)?;
    writeln!(out, "read in {:.1} ms", elapsed.as_secs_f64() * 1e3)?;
    if let Some(path) = &args.out {
        write_doc(path, &doc)?;
        writeln!(out, "written to {}", path.display())?;
    }
    out.flush()?;
    Ok(())
}

/// Parse and import a log file.
pub fn import(path: &Path) -> anyhow::Result<GraphDoc> {
    let log = llamacpp_log::parse_file(path).with_context(|| format!("{}", path.display()))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let doc = llamacpp_import::to_graph_doc(&log, name.as_deref())
        .with_context(|| format!("{}", path.display()))?;
    Ok(doc)
}

/// Write a document as JSON (`.json`) or as a trace without values, atomically.
pub fn write_doc(path: &Path, doc: &GraphDoc) -> anyhow::Result<()> {
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    if is_json {
        let bytes = serde_json::to_vec(doc).context("serializing the graph document")?;
        write_atomic(path, &bytes)
    } else {
        tt_core::trace::write(path, doc, &[]).with_context(|| format!("writing {}", path.display()))
    }
}

/// Write `bytes` to a temporary file next to `path`, then rename: never a partial `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    tt_core::outpath::check(path, &[])?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let result = std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .with_context(|| format!("writing {}", path.display()));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn summary(doc: &GraphDoc, out: &mut impl Write) -> anyhow::Result<()> {
    let h = &doc.model.hparams;
    let get = |k: &str| h.get(k).map_or("?".to_string(), |v| v.to_string());
    let run = doc.run.as_ref();
    writeln!(
        out,
        "{}: {} nodes computed by llama.cpp ({}), {} tensors in all",
        doc.model.name,
        doc.nodes.len(),
        match run.map(|r| r.flash_attn) {
            Some(true) => "flash attention on",
            Some(false) => "flash attention off",
            None => "no run",
        },
        doc.tensors.len()
    )?;
    writeln!(
        out,
        "model shape from the log: {} layers, n_embd {}, {} heads / {} KV heads of {}, n_ff {}, vocab {}",
        get("block_count"),
        get("embedding_length"),
        get("attention.head_count"),
        get("attention.head_count_kv"),
        get("attention.key_length"),
        get("feed_forward_length"),
        get("vocab_size"),
    )?;
    if let Some(r) = run {
        let ids: Vec<String> = r.tokens.iter().map(|t| t.id.to_string()).collect();
        // n_kv is known only when the log prints the attention's K view (FA off)
        let reads = if r.n_kv > 0 {
            format!(", attention reads {}", r.n_kv)
        } else {
            String::new()
        };
        let ctx = if r.n_ctx > 0 {
            format!("; context {} cells{reads}", r.n_ctx)
        } else {
            reads
        };
        writeln!(out, "tokens: [{}]{ctx}", ids.join(", "))?;
    }
    Ok(())
}
