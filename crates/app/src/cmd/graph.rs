//! `tensor-trace graph MODEL|--preset NAME`: the compute graph llama.cpp would build, as a table
//! of nodes in execution order (index, name, op, type, shape, sources, group, layer), or with
//! `--json` the graph document (docs/FORMAT.md).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use tt_core::trace::GraphDoc;

use crate::cli::OnOff;
use crate::engine::{self, Model};

#[derive(Parser, Debug)]
pub struct Args {
    /// GGUF model
    #[arg(value_name = "MODEL.gguf")]
    pub model: Option<PathBuf>,

    /// A built-in model shape instead of a file (default: llama-3.1-8b)
    #[arg(long, value_name = "NAME", conflicts_with = "model")]
    pub preset: Option<String>,

    /// Fused flash-attention node (on) or separate KQ / softmax / KQV nodes (off)
    #[arg(long, value_enum, default_value_t = OnOff::On)]
    pub flash_attn: OnOff,

    /// Tokens in the micro-batch the graph is built for (default: 5 for a model, a preset's
    /// default prompt length for a preset)
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub tokens: Option<u32>,

    /// Print the graph document as JSON instead of a table
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let fa = args.flash_attn.is_on();
    let doc = match &args.model {
        Some(path) => {
            Model::open(path)?.graph(args.tokens.unwrap_or(engine::DEFAULT_GRAPH_TOKENS), fa)?
        }
        None => {
            let id = args.preset.as_deref().unwrap_or(engine::DEFAULT_PRESET);
            engine::preset_graph_with(id, args.tokens, fa)?
        }
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if args.json {
        serde_json::to_writer(&mut out, &doc).context("writing to stdout")?;
        writeln!(out)?;
    } else {
        print_table(&doc, &mut out)?;
    }
    out.flush()?;
    Ok(())
}

/// `[576, 5, 1, 1]` → `576×5`, trailing 1s dropped as ggml prints dims.
fn shape(ne: &[i64; 4]) -> String {
    let n = (1..4).rev().find(|&i| ne[i] != 1).map_or(1, |i| i + 1);
    ne[..n]
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("×")
}

fn print_table(doc: &GraphDoc, out: &mut impl Write) -> std::io::Result<()> {
    let m = &doc.model;
    writeln!(
        out,
        "{} ({}, {}): {} nodes, {} tensors",
        m.name,
        m.architecture,
        m.source,
        doc.nodes.len(),
        doc.tensors.len()
    )?;
    let name_of = |id: u32| {
        doc.tensors
            .get(id as usize)
            .map_or_else(|| format!("#{id}"), |t| t.name.clone())
    };
    let name_w = doc
        .nodes
        .iter()
        .filter_map(|&id| doc.tensors.get(id as usize))
        .map(|t| t.name.chars().count())
        .max()
        .unwrap_or(4)
        .min(40);
    writeln!(
        out,
        "{:>5}  {:<name_w$}  {:<14}  {:<5}  {:<16}  {:<10}  {:>5}  sources",
        "index", "name", "op", "type", "ne", "group", "layer"
    )?;
    for (i, &id) in doc.nodes.iter().enumerate() {
        let Some(t) = doc.tensors.get(id as usize) else {
            continue;
        };
        let srcs: Vec<String> = t
            .src
            .iter()
            .map(|s| s.map_or_else(|| "-".to_string(), name_of))
            .collect();
        writeln!(
            out,
            "{i:>5}  {:<name_w$}  {:<14}  {:<5}  {:<16}  {:<10}  {:>5}  {}",
            t.name,
            t.op,
            t.ty.name(),
            shape(&t.ne),
            t.group.as_str(),
            t.layer.map_or_else(|| "-".to_string(), |l| l.to_string()),
            srcs.join(", ")
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_drop_trailing_ones() {
        assert_eq!(shape(&[576, 5, 1, 1]), "576×5");
        assert_eq!(shape(&[64, 5, 9, 1]), "64×5×9");
        assert_eq!(shape(&[1, 1, 1, 1]), "1");
        assert_eq!(shape(&[4, 1, 1, 2]), "4×1×1×2");
    }
}
