//! `tensor-trace export TRACE --format tl|dot|json --out FILE`: a run in other tools' formats.
//!
//! - `tl`: activations under TransformerLens hook names and shapes, as safetensors
//!   (docs/EXPORTS.md has the mapping and its caveats); needs a trace with values.
//! - `dot`: the graph for Graphviz, whole or one layer (`--layer N`).
//! - `json`: the graph document (docs/FORMAT.md).
//!
//! The input may also be an eval-callback log or a graph document for `dot` and `json`. Output
//! files are written under a temporary name and renamed when complete.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, ValueEnum};

use super::compare::load;
use super::import::write_atomic;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// TransformerLens activations (safetensors)
    Tl,
    /// Graphviz
    Dot,
    /// Graph document
    Json,
}

#[derive(Parser, Debug)]
pub struct Args {
    /// A .ttrace file (or, for dot and json, an eval-callback log or graph document JSON)
    #[arg(value_name = "TRACE")]
    pub trace: PathBuf,

    #[arg(long, value_enum)]
    pub format: Format,

    #[arg(long, short, value_name = "FILE")]
    pub out: PathBuf,

    /// Only this layer's nodes (dot)
    #[arg(long, value_name = "N")]
    pub layer: Option<u32>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.layer.is_none() || args.format == Format::Dot,
        "--layer applies to --format dot only"
    );
    tt_core::outpath::check(&args.out, &[&args.trace])?;
    let input = load(&args.trace)?;
    let doc = input.doc();
    match args.format {
        Format::Tl => {
            input.require_values(&args.trace, "the TransformerLens export")?;
            let export = tt_models::export_tl::tl_activations(doc, input.values())
                .with_context(|| format!("exporting {}", args.trace.display()))?;
            tt_models::export_tl::write_safetensors(&args.out, &export)?;
            println!(
                "{} TransformerLens activations written to {}",
                export.tensors.len(),
                args.out.display()
            );
        }
        Format::Dot => {
            if let Some(l) = args.layer {
                anyhow::ensure!(
                    doc.tensors.iter().any(|t| t.layer == Some(l)),
                    "the graph has no layer {l}"
                );
            }
            write_atomic(&args.out, tt_core::dot::to_dot(doc, args.layer).as_bytes())?;
            println!("graph written to {}", args.out.display());
        }
        Format::Json => {
            write_atomic(&args.out, &serde_json::to_vec(doc)?)?;
            println!("graph document written to {}", args.out.display());
        }
    }
    Ok(())
}
