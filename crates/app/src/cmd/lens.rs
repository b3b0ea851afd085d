//! `tensor-trace lens TRACE --model MODEL.gguf`: the logit lens of a traced run — for every
//! layer, the tokens the model would predict at the last position if that layer were the last
//! (its residual through the final norm and the output matrix, computed by our kernels).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use tt_core::gguf::GgufFile;
use tt_models::lens;
use tt_models::tokenizer::Tokenizer;
use tt_models::HParams;

use super::compare::load;

#[derive(Parser, Debug)]
pub struct Args {
    /// A .ttrace file of a run of MODEL
    #[arg(value_name = "TRACE")]
    pub trace: PathBuf,

    /// The GGUF model the trace was made with (its final norm and output weights)
    #[arg(long, value_name = "MODEL.gguf")]
    pub model: PathBuf,

    /// Tokens per layer
    #[arg(long, default_value_t = 5)]
    pub top: usize,

    /// Threads to compute with
    #[arg(long, default_value_t = 2)]
    pub threads: usize,

    /// Print JSON (`{layers: [{layer, top: [{id, piece, text, logit, prob}]}]}`)
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(args.top > 0, "--top must be at least 1");
    let input = load(&args.trace)?;
    input.require_values(&args.trace, "the logit lens")?;
    let gguf =
        GgufFile::open(&args.model).with_context(|| format!("opening {}", args.model.display()))?;
    let hp = HParams::from_metadata(&gguf).with_context(|| format!("{}", args.model.display()))?;
    // another model's norm and output weights would give confident nonsense (or NaN)
    let info = tt_core::trace::ModelInfo {
        architecture: hp.arch.clone(),
        hparams: hp.to_json(),
        ..Default::default()
    };
    tt_core::compare::same_config(&input.doc().model, &info).with_context(|| {
        format!(
            "{} was not traced with {}",
            args.trace.display(),
            args.model.display()
        )
    })?;
    let tok = Tokenizer::from_gguf(&gguf).ok();
    let layers = lens::logit_lens(
        &hp,
        &gguf,
        tok.as_ref(),
        input.doc(),
        input.values(),
        args.top,
        args.threads,
    )
    .with_context(|| {
        format!(
            "logit lens of {} with {}",
            args.trace.display(),
            args.model.display()
        )
    })?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &serde_json::json!({ "layers": layers }))?;
        writeln!(out)?;
    } else {
        for l in &layers {
            // NaN logits rank nothing: tokens 0..k would look like a prediction
            if tt_core::trace::no_prediction(&l.top) {
                writeln!(
                    out,
                    "layer {:>3}: no prediction (the logits are NaN/Inf)",
                    l.layer
                )?;
                continue;
            }
            let cells: Vec<String> = l
                .top
                .iter()
                .map(|t| format!("{:?} {:.3} ({:.1}%)", t.text, t.logit, t.prob * 100.0))
                .collect();
            writeln!(out, "layer {:>3}: {}", l.layer, cells.join("  "))?;
        }
    }
    out.flush()?;
    Ok(())
}
