//! `tensor-trace compare A B`: node-by-node comparison of two runs — a trace of ours, a
//! llama.cpp eval-callback log, or a graph document as JSON, in any combination (ours against
//! llama.cpp, flash attention on against off, two quantizations). Prints where the runs first
//! differ and first diverge beyond the tolerance, a table around it, and the nodes found on one
//! side only; `--json` writes the whole report.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Parser;
use tt_core::compare::{self, NoValues, Side, Tolerance, ValueSource};
use tt_core::trace::GraphDoc;

#[derive(Parser, Debug)]
pub struct Args {
    /// The reference run: .ttrace, eval-callback log, or graph document JSON
    #[arg(value_name = "A")]
    pub a: PathBuf,

    /// The run compared with it
    #[arg(value_name = "B")]
    pub b: PathBuf,

    /// A node diverges when max |a-b| > REL × max |a| (+ 1e-4 for printed values)
    #[arg(long, value_name = "REL", default_value_t = Tolerance::default().rel, allow_negative_numbers = true)]
    pub tolerance: f64,

    /// Every matched node in the table, not just those around the first difference
    #[arg(long)]
    pub all: bool,

    /// Rows shown before and after the first difference
    #[arg(long, default_value_t = 5)]
    pub context: usize,

    /// Write the full report as JSON to FILE (`-` for stdout, instead of the table)
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Exit with an error when a node diverges (for scripts and CI)
    #[arg(long)]
    pub check: bool,
}

/// A run read from disk: a trace file (document + values) or a document alone.
pub enum Input {
    Trace(tt_core::trace::Trace),
    Doc(GraphDoc),
}

impl Input {
    pub fn doc(&self) -> &GraphDoc {
        match self {
            Input::Trace(t) => &t.doc,
            Input::Doc(d) => d,
        }
    }

    pub fn values(&self) -> &dyn ValueSource {
        match self {
            Input::Trace(t) => t,
            Input::Doc(_) => &NoValues,
        }
    }
}

impl Input {
    /// Refuses a run without captured values (an imported llama.cpp log, as a log, a graph
    /// JSON or a .ttrace written by `import`): `what` needs every element, not a printed few.
    pub fn require_values(&self, path: &Path, what: &str) -> anyhow::Result<()> {
        let imported = self.doc().model.source == "llama.cpp-log";
        anyhow::ensure!(
            matches!(self, Input::Trace(_)) && !imported,
            "{}: {what} needs a trace with captured values (a .ttrace from `tensor-trace trace`); \
             this is {}",
            path.display(),
            if imported {
                "a llama.cpp log, which holds only the few values llama.cpp printed"
            } else {
                "a graph document without values"
            }
        );
        Ok(())
    }
}

/// Open a trace, an eval-callback log or a graph document JSON, by its content.
pub fn load(path: &Path) -> anyhow::Result<Input> {
    let meta = std::fs::metadata(path).with_context(|| format!("opening {}", path.display()))?;
    anyhow::ensure!(
        meta.is_file(),
        "{}: expected a .ttrace, an eval-callback log or a graph JSON file, found a {}",
        path.display(),
        if meta.is_dir() {
            "directory"
        } else {
            "special file (device, FIFO or socket)"
        }
    );
    let mut head = [0u8; 9];
    let n = {
        use std::io::Read;
        let mut f =
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let mut n = 0;
        while n < head.len() {
            match f
                .read(&mut head[n..])
                .with_context(|| format!("reading {}", path.display()))?
            {
                0 => break,
                k => n += k,
            }
        }
        n
    };
    if n >= 4 && &head[..4] == b"GGUF" {
        anyhow::bail!(
            "{} is a GGUF model, not a run: expected a .ttrace, a llama.cpp eval-callback log \
             or a graph JSON (trace the model first: `tensor-trace trace {} --prompt …`)",
            path.display(),
            path.display()
        );
    }
    // safetensors: an 8-byte little-endian header length, then the JSON header.
    if n == 9 && head[8] == b'{' {
        let t = tt_core::trace::read(path)
            .with_context(|| format!("reading trace {}", path.display()))?;
        return Ok(Input::Trace(t));
    }
    let first = head[..n].iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'{') {
        anyhow::ensure!(
            meta.len() <= 1 << 30,
            "{}: {} bytes is larger than any graph document (at most 1 GiB)",
            path.display(),
            meta.len()
        );
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let doc: GraphDoc = serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: not a graph document", path.display()))?;
        return Ok(Input::Doc(doc));
    }
    Ok(Input::Doc(super::import::import(path)?))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.tolerance.is_finite() && args.tolerance >= 0.0,
        "--tolerance must be a non-negative number, got {}",
        args.tolerance
    );
    if let Some(p) = args.json.as_ref().filter(|p| p.as_os_str() != "-") {
        tt_core::outpath::check(p, &[&args.a, &args.b])?;
    }
    let a = load(&args.a)?;
    let b = load(&args.b)?;
    let report = compare::compare(
        Side {
            doc: a.doc(),
            values: a.values(),
        },
        Side {
            doc: b.doc(),
            values: b.values(),
        },
        Tolerance {
            rel: args.tolerance,
        },
    )
    .with_context(|| format!("comparing {} with {}", args.a.display(), args.b.display()))?;
    match &args.json {
        Some(p) if p.as_os_str() == "-" => {
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
        other => {
            if let Some(p) = other {
                let bytes = serde_json::to_vec_pretty(&report)?;
                super::import::write_atomic(p, &bytes)?;
            }
            let mut out = std::io::stdout().lock();
            out.write_all(report.table(args.all, args.context).as_bytes())?;
            out.flush()?;
        }
    }
    if args.check {
        if let Some(d) = report.first_divergence.map(|i| &report.nodes[i]) {
            anyhow::ensure!(
                d.nonfinite_mismatch == 0,
                "`{}` (layer {}) diverges: {} values are NaN/Inf on one side only",
                d.name,
                d.layer.map_or("-".into(), |l| l.to_string()),
                d.nonfinite_mismatch
            );
            if d.mode == compare::Mode::SumOnly {
                anyhow::bail!(
                    "`{}` (layer {}) diverges: sums {} / {} (only sums were compared)",
                    d.name,
                    d.layer.map_or("-".into(), |l| l.to_string()),
                    d.sum_a.map_or("-".into(), |x| x.to_string()),
                    d.sum_b.map_or("-".into(), |x| x.to_string()),
                );
            }
            anyhow::bail!(
                "`{}` (layer {}) diverges: max abs {:.3e}, max rel {:.3e} > {}",
                d.name,
                d.layer.map_or("-".into(), |l| l.to_string()),
                d.max_abs,
                d.max_rel,
                args.tolerance
            );
        }
    }
    Ok(())
}
