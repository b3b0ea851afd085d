//! `tensor-trace trace MODEL --prompt TEXT`: run a prompt through the model on the CPU,
//! capturing every tensor, and save the trace (`.ttrace`, docs/FORMAT.md).
//!
//! Prints the prompt's tokens, the five most likely next tokens, a NaN/Inf summary (every
//! tensor that has any is listed with its counts) and where the trace was written. The file is
//! written under a temporary name and renamed when complete: a failed run leaves no file.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Parser;

use crate::cli::OnOff;
use crate::engine::{self, Model, Trace, TraceOptions};
use crate::progress;

#[derive(Parser, Debug)]
pub struct Args {
    /// GGUF model (LLaMA architecture)
    #[arg(value_name = "MODEL.gguf")]
    pub model: PathBuf,

    /// The prompt, as raw text (no chat template)
    #[arg(long)]
    pub prompt: String,

    /// Fused flash-attention node (on, llama.cpp's CPU default) or separate KQ / softmax / KQV
    /// nodes (off)
    #[arg(long, value_enum, default_value_t = OnOff::On)]
    pub flash_attn: OnOff,

    /// Where to write the trace (default: <model name>.ttrace in the current directory)
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Threads to compute with (default: all cores)
    #[arg(long, value_parser = engine::parse_threads)]
    pub threads: Option<usize>,

    /// Largest trace accepted, e.g. 512M, 8G
    #[arg(long, value_name = "SIZE", value_parser = engine::parse_size, default_value = "8G")]
    pub memory_budget: u64,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let out_path = args.out.clone().unwrap_or_else(|| default_out(&args.model));
    // before the work: a trace that cannot be saved is not started
    tt_core::outpath::check(&out_path, &[&args.model])?;
    let model = {
        let sp = progress::spinner(&format!("loading {}", args.model.display()));
        let m = Model::open(&args.model)?;
        sp.finish_and_clear();
        m
    };
    let opts = TraceOptions {
        prompt: args.prompt.clone(),
        flash_attn: args.flash_attn.is_on(),
        threads: args
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1),
        memory_budget: args.memory_budget,
    };
    let plan = model.check(&opts)?;
    anyhow::ensure!(
        plan.bytes <= args.memory_budget,
        "{}: tracing {} needs about {}, over the --memory-budget of {}",
        model.file_name(),
        engine::count(plan.n_tokens, "token"),
        engine::human_bytes(plan.bytes),
        engine::human_bytes(args.memory_budget)
    );
    let trace = run_with_progress(&model, &opts)?;
    engine::write_trace(&out_path, &trace)?;

    let mut out = std::io::stdout().lock();
    report(&trace, &mut out)?;
    writeln!(out, "trace written to {}", out_path.display())?;
    out.flush()?;
    Ok(())
}

/// `models/SmolLM2.Q4_1.gguf` → `SmolLM2.Q4_1.ttrace` (in the current directory).
fn default_out(model: &Path) -> PathBuf {
    let stem = model
        .file_stem()
        .map_or_else(|| "trace".into(), |s| s.to_string_lossy().into_owned());
    PathBuf::from(format!("{stem}.ttrace"))
}

/// Runs the trace with a progress bar on stderr (hidden when stderr is not a terminal).
pub fn run_with_progress(model: &Model, opts: &TraceOptions) -> anyhow::Result<Trace> {
    let pb = progress::bar(0, "trace");
    let result = model.trace(opts, &mut |p| {
        if pb.length() != Some(p.total) {
            pb.set_length(p.total);
        }
        pb.set_message(p.stage);
        pb.set_position(p.done);
    });
    pb.finish_and_clear();
    result
}

/// Tokens, top-5 and the NaN/Inf summary.
fn report(trace: &Trace, out: &mut impl Write) -> std::io::Result<()> {
    let doc = &trace.doc;
    if let Some(run) = &doc.run {
        writeln!(
            out,
            "prompt: {:?} ({})",
            run.prompt,
            engine::count(run.tokens.len() as u64, "token")
        )?;
        for (i, t) in run.tokens.iter().enumerate() {
            writeln!(out, "  {i:>4}  {:>7}  {:?}", t.id, t.text)?;
        }
        writeln!(
            out,
            "next token (flash attention {}, {}, {:.0} ms):",
            if run.flash_attn { "on" } else { "off" },
            engine::count(run.n_threads, "thread"),
            run.compute_ms
        )?;
        // NaN logits rank nothing: listing tokens 0..4 would look like a prediction
        if tt_core::trace::no_prediction(&run.top) {
            writeln!(
                out,
                "  no prediction: the logits are NaN/Inf (see where they first appear below)"
            )?;
        }
        let ranked = run.top.iter().filter(|t| t.prob.is_finite());
        for (rank, t) in ranked.take(5).enumerate() {
            writeln!(
                out,
                "  {}. {:>7}  {:<20}  p = {:.6}  logit = {:.4}",
                rank + 1,
                t.id,
                format!("{:?}", t.text),
                t.prob,
                t.logit
            )?;
        }
    }
    let flagged: Vec<_> = doc
        .nodes
        .iter()
        .filter_map(|&id| doc.tensors.get(id as usize))
        .filter_map(|t| {
            let s = t.stats.as_ref()?;
            (s.nan > 0 || s.inf > 0).then_some((t, s))
        })
        .collect();
    let traced = doc
        .nodes
        .iter()
        .filter_map(|&id| doc.tensors.get(id as usize))
        .filter(|t| t.stats.is_some())
        .count();
    if flagged.is_empty() {
        writeln!(out, "NaN/Inf: none in {traced} computed tensors")?;
    } else {
        let (nan, inf) = flagged
            .iter()
            .fold((0, 0), |(n, i), (_, s)| (n + s.nan, i + s.inf));
        writeln!(
            out,
            "NaN/Inf: {} of {traced} computed tensors have some ({nan} NaN, {inf} Inf in all):",
            flagged.len()
        )?;
        // where it starts is what matters; the viewer's NaN/Inf button walks all of them
        const SHOWN: usize = 20;
        for (t, s) in flagged.iter().take(SHOWN) {
            writeln!(
                out,
                "  {:>5}  {:<32}  {:>10} NaN  {:>10} Inf  of {}",
                t.exec_index.map_or_else(|| "-".into(), |i| i.to_string()),
                t.name,
                s.nan,
                s.inf,
                s.n
            )?;
        }
        if flagged.len() > SHOWN {
            writeln!(
                out,
                "  … and {} more (every one is in the trace: `tensor-trace serve --trace FILE`)",
                flagged.len() - SHOWN
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_output_is_the_model_stem_in_the_current_directory() {
        assert_eq!(
            default_out(Path::new("/data/models/SmolLM2-135M-Instruct.Q4_1.gguf")),
            PathBuf::from("SmolLM2-135M-Instruct.Q4_1.ttrace")
        );
    }
}
