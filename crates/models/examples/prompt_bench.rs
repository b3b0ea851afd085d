//! Prompt-evaluation benchmark of the executor on SmolLM2-135M Q4_1 (not a timed test).
//!
//! ```text
//! cargo run --release -p tt-models --example prompt_bench            # the whole table
//! cargo run --release -p tt-models --example prompt_bench -- 64 capture 2   # one run
//! cargo run --release -p tt-models --example prompt_bench -- 64 profile 2   # time per op
//! ```
//!
//! Without arguments it runs every configuration — 16, 64 and 128 prompt tokens, with the
//! standard capture (stats for every node, values within the default 256 MiB budget) and
//! without any observer, 2 threads, flash attention on (llama.cpp's default) — each in a child
//! process of its own so that each peak-memory figure (`VmHWM`, the resident high-water mark,
//! which includes the memory-mapped weights that were touched) belongs to one run. Each child
//! runs the graph once to warm up (page in the weights) and reports the best of three timed
//! runs. The model comes from `scripts/fetch-test-data` (`$TENSOR_TRACE_DATA`).
//!
//! Figures: tokens per second of the node loop (kernels + observer) by wall time, and by the
//! process's CPU time per run divided by the threads (what the run costs with the cores to
//! itself: on a shared, loaded machine wall time also counts waiting for a core), the KV-cache
//! bytes actually allocated, the captured bytes, and VmHWM.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use tt_core::capture::{Capture, NoCapture, Observer, TensorView};
use tt_core::exec::{ExecOptions, Executor};
use tt_core::gguf::GgufFile;
use tt_core::{Graph, TensorId};
use tt_models::tokenizer::Tokenizer;
use tt_models::{BuildOptions, ModelSpec};

const TEXT: &str = "The capital of France is Paris. It is known for the Eiffel Tower, the Louvre \
    museum and its cafes along the Seine. Every year millions of visitors walk through its \
    streets, admire the architecture of Notre-Dame, climb the hill of Montmartre and taste \
    bread, cheese and wine from every region of the country. The city has been a centre of \
    art, science and politics for centuries, and its universities, libraries and theatres \
    still draw students and artists from all over the world.";

fn model_path() -> PathBuf {
    let data = match std::env::var_os("TENSOR_TRACE_DATA") {
        Some(d) => PathBuf::from(d),
        None => {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/tensor-trace")
        }
    };
    data.join("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        return table();
    }
    let n_tokens: usize = args[0].parse()?;
    let mode = args.get(1).map(String::as_str).unwrap_or("none");
    let n_threads: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(2);
    one_run(n_tokens, mode, n_threads)
}

/// Every configuration, each in its own process.
fn table() -> Result<(), Box<dyn std::error::Error>> {
    let exe = std::env::current_exe()?;
    println!(
        "| tokens | capture | tokens/s (wall) | ms (wall) | tokens/s (CPU time / threads) | CPU ms | KV cache | captured | peak RSS (VmHWM) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for n in [16, 64, 128] {
        for capture in ["none", "capture"] {
            let out = Command::new(&exe)
                .args([n.to_string(), capture.to_string(), "2".into()])
                .output()?;
            if !out.status.success() {
                return Err(String::from_utf8_lossy(&out.stderr).into_owned().into());
            }
            print!("{}", String::from_utf8_lossy(&out.stdout));
        }
    }
    let size = std::fs::metadata(model_path())?.len();
    println!("\nmodel file: {:.1} MiB", size as f64 / (1 << 20) as f64);
    Ok(())
}

/// Wall time between consecutive `observe` calls, i.e. each node's kernel, summed per op.
struct OpTimes {
    last: Instant,
    per_op: BTreeMap<&'static str, (usize, f64)>,
}

impl Observer for OpTimes {
    fn wants(&mut self, _: &Graph, _: TensorId) -> bool {
        true
    }
    fn observe(&mut self, g: &Graph, node: TensorId, _: &TensorView<'_>) {
        let now = Instant::now();
        let e = self.per_op.entry(g.get(node).op.name()).or_default();
        e.0 += 1;
        e.1 += (now - self.last).as_secs_f64() * 1e3;
        self.last = Instant::now();
    }
}

fn one_run(
    n_tokens: usize,
    mode: &str,
    n_threads: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let capture = mode == "capture";
    let path = model_path();
    if !path.exists() {
        return Err(format!("{} is missing: run scripts/fetch-test-data", path.display()).into());
    }
    let file = GgufFile::open(&path)?;
    let tokenizer = Tokenizer::from_gguf(&file)?;
    let ids = tokenizer.tokenize(TEXT, true, false)?;
    let tokens: Vec<i32> = ids
        .iter()
        .cycle()
        .take(n_tokens)
        .map(|&t| t as i32)
        .collect();

    let spec = ModelSpec::from_gguf(&file)?;
    let mg = spec.build_graph(&BuildOptions::new(n_tokens as u32))?;
    let mut ex = Executor::new(&mg.graph, &file, ExecOptions { n_threads })?;
    let input = mg.input_values(&tokens)?;
    let ins = &mg.inputs;
    ex.set_input_i32(ins.tokens, &input.tokens)?;
    ex.set_input_i32(ins.positions, &input.positions)?;
    ex.set_input_f32(ins.kq_mask, &input.kq_mask)?;
    ex.set_input_i64(ins.k_idxs, &input.k_idxs)?;
    ex.set_input_i64(ins.v_idxs, &input.v_idxs)?;
    ex.set_input_i32(ins.out_ids, &input.out_ids)?;

    if mode == "profile" {
        let mut times = OpTimes {
            last: Instant::now(),
            per_op: BTreeMap::new(),
        };
        ex.run(&mut NoCapture, &mut |_, _| {})?;
        times.last = Instant::now();
        ex.run(&mut times, &mut |_, _| {})?;
        let total: f64 = times.per_op.values().map(|v| v.1).sum();
        println!("| op | nodes | ms | share |\n|---|---|---|---|");
        for (op, (count, ms)) in &times.per_op {
            println!("| {op} | {count} | {ms:.1} | {:.0}% |", 100.0 * ms / total);
        }
        println!("| total | | {total:.1} | |");
        return Ok(());
    }
    let mut best = f64::INFINITY;
    let (mut cache_bytes, mut captured, mut cpu_ms) = (0, 0, 0.0);
    for i in 0..4 {
        // a fresh capture per run, as a real trace would have
        let (mut cap, mut none) = (Capture::default(), NoCapture);
        let observer: &mut dyn Observer = if capture { &mut cap } else { &mut none };
        let cpu0 = cpu_time_ms();
        let report = ex.run(observer, &mut |_, _| {})?;
        if i > 0 {
            best = best.min(report.compute_ms);
            cpu_ms += (cpu_time_ms() - cpu0) / 3.0;
        }
        cache_bytes = report.cache_bytes;
        captured = cap.used_bytes();
    }
    // On a machine shared with other work, wall time also counts waiting for a core; CPU time
    // per run divided by the threads is what the run costs with the cores to itself.
    let cpu_bound = cpu_ms / n_threads as f64;
    println!(
        "| {n_tokens} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} MiB | {:.1} MiB | {:.1} MiB |",
        if capture { "full" } else { "none" },
        n_tokens as f64 / (best / 1e3),
        best,
        n_tokens as f64 / (cpu_bound / 1e3),
        cpu_ms,
        cache_bytes as f64 / (1 << 20) as f64,
        captured as f64 / (1 << 20) as f64,
        vm_hwm_kib() as f64 / 1024.0,
    );
    Ok(())
}

/// CPU time (user + system) of the whole process so far, milliseconds (10 ms ticks).
fn cpu_time_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // fields after the parenthesized command name: utime and stime are the 12th and 13th
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| f.get(i)?.parse::<f64>().ok())
        .sum();
    ticks * 10.0
}

/// The process's peak resident set (`VmHWM` in /proc/self/status), KiB; 0 where unavailable.
fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}
