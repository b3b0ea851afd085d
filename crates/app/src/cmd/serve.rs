//! `tensor-trace serve`: the 3D viewer in the browser.
//!
//! What is shown at start: a saved trace (`--trace FILE`), a model traced on a prompt
//! (`MODEL --prompt TEXT`, computed before the server starts, with a progress bar), a model's
//! untraced graph (`MODEL`), or a preset's graph (the default: LLaMA 3.1 8B). With a model file,
//! the viewer can trace new prompts (POST /api/trace). Binds 127.0.0.1 unless `--host` says
//! otherwise, prints the URL on stdout and opens the browser unless `--no-open`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;

use tt_core::compare::Tolerance;

use super::compare::{load, Input};
use crate::cli::OnOff;
use crate::engine::{self, Model, TraceOptions};
use crate::progress;
use crate::server::{self, AppState, CompareWith, Current, Limits};

#[derive(Parser, Debug)]
pub struct Args {
    /// GGUF model to show and trace (LLaMA architecture)
    #[arg(value_name = "MODEL.gguf")]
    pub model: Option<PathBuf>,

    /// Trace this prompt before serving (needs MODEL)
    #[arg(long, requires = "model")]
    pub prompt: Option<String>,

    /// Flash attention for traces: one fused node (on, llama.cpp's CPU default) or separate
    /// KQ / softmax / KQV nodes with viewable attention weights (off)
    #[arg(long, value_enum, default_value_t = OnOff::On)]
    pub flash_attn: OnOff,

    /// Serve a saved run: a .ttrace file, a llama.cpp eval-callback log, or a graph JSON
    /// (`import --out FILE.json`)
    #[arg(long, value_name = "FILE", conflicts_with = "prompt")]
    pub trace: Option<PathBuf>,

    /// Diff mode: compare the shown run node by node with this one (a .ttrace, an
    /// eval-callback log or a graph JSON) and colour the graph by divergence
    #[arg(long, value_name = "B")]
    pub compare: Option<PathBuf>,

    /// With --compare: a node diverges when max |a-b| > REL × max |a|
    #[arg(long, value_name = "REL", default_value_t = Tolerance::default().rel, requires = "compare", allow_negative_numbers = true)]
    pub tolerance: f64,

    /// Preset graph to show when neither MODEL nor --trace is given (see /api/presets)
    #[arg(long, value_name = "NAME", conflicts_with_all = ["model", "trace"])]
    pub preset: Option<String>,

    /// Port to listen on (0: any free port)
    #[arg(long, default_value_t = server::DEFAULT_PORT)]
    pub port: u16,

    /// Address to listen on. Anything but a loopback address exposes the viewer, and the
    /// ability to start traces, to the network
    #[arg(long, default_value_t = server::DEFAULT_HOST)]
    pub host: IpAddr,

    /// Do not open the browser
    #[arg(long)]
    pub no_open: bool,

    /// Threads for computing traces (default: all cores)
    #[arg(long, value_parser = engine::parse_threads)]
    pub threads: Option<usize>,

    /// Largest trace accepted, e.g. 512M, 8G
    #[arg(long, value_name = "SIZE", value_parser = engine::parse_size, default_value = "8G")]
    pub memory_budget: u64,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut limits = Limits {
        memory_budget: args.memory_budget,
        // On a loopback address, refuse requests addressed to other names (DNS rebinding).
        local_only: args.host.is_loopback(),
        ..Limits::default()
    };
    if let Some(t) = args.threads {
        limits.threads = t.max(1);
    }
    let model = match &args.model {
        Some(path) => {
            let sp = progress::spinner(&format!("loading {}", path.display()));
            let m = Model::open(path)?;
            sp.finish_and_clear();
            Some(Arc::new(m))
        }
        None => None,
    };
    let current = initial_graph(&args, model.as_deref(), &limits)?;
    let mut what = describe(&current);
    if let Some(path) = &args.trace {
        what = format!("{what} (read from {})", path.display());
    }
    let compare = match &args.compare {
        Some(path) => {
            let with = compare_with(path, args.tolerance, &current)?;
            what = format!("{what}, compared with {}", with.label);
            Some(with)
        }
        None => None,
    };
    let state = AppState::comparing(current, model, limits, compare);

    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let result = rt.block_on(async {
        let listener = server::bind(args.host, args.port).await?;
        let addr = listener
            .local_addr()
            .context("listening socket has no address")?;
        if !addr.ip().is_loopback() {
            eprintln!(
                "warning: listening on {}: anyone who can reach this machine can use the viewer \
                 and start traces",
                addr.ip()
            );
        }
        let host = if addr.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else if addr.is_ipv6() {
            format!("[{}]", addr.ip())
        } else {
            addr.ip().to_string()
        };
        let url = format!("http://{host}:{}/", addr.port());
        if !server::bundled() {
            eprintln!(
                "note: this binary was built without the web viewer (web/dist); \
                 the page at {url} says how to build it"
            );
        }
        println!("tensor-trace: serving {what} at {url}  (Ctrl-C to stop)");
        if !args.no_open {
            open_browser(&url);
        }
        server::serve(listener, state, shutdown_signal()).await
    });
    // A trace still computing on a blocking thread is abandoned, not waited for.
    rt.shutdown_background();
    result
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM: the server then finishes the requests in flight.
async fn shutdown_signal() {
    // A signal that cannot be watched never fires; the other still stops the server.
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    eprintln!("\nstopping");
}

/// The graph shown when the server starts.
fn initial_graph(args: &Args, model: Option<&Model>, limits: &Limits) -> anyhow::Result<Current> {
    if let Some(path) = &args.trace {
        let sp = progress::spinner(&format!("reading {}", path.display()));
        let input = load(path)?;
        sp.finish_and_clear();
        return Ok(match input {
            Input::Trace(t) => Current::traced(engine::Trace::from_file(t)),
            // an imported log or graph JSON: its printed values are in the document
            Input::Doc(doc) => Current::untraced(doc),
        });
    }
    match (model, &args.prompt) {
        (Some(m), Some(prompt)) => {
            let opts = TraceOptions {
                prompt: prompt.clone(),
                flash_attn: args.flash_attn.is_on(),
                threads: limits.threads,
                memory_budget: limits.memory_budget,
            };
            let plan = m.check(&opts)?;
            anyhow::ensure!(
                plan.bytes <= limits.memory_budget,
                "{}: tracing {} needs about {}, over the --memory-budget of {}",
                m.file_name(),
                engine::count(plan.n_tokens, "token"),
                engine::human_bytes(plan.bytes),
                engine::human_bytes(limits.memory_budget)
            );
            let trace = super::trace::run_with_progress(m, &opts)?;
            Ok(Current::traced(trace))
        }
        (Some(m), None) => Ok(Current::untraced(
            m.graph(engine::DEFAULT_GRAPH_TOKENS, args.flash_attn.is_on())?,
        )),
        (None, _) => {
            let id = args.preset.as_deref().unwrap_or(engine::DEFAULT_PRESET);
            Ok(Current::untraced(engine::preset_graph(id)?))
        }
    }
}

/// Reads the run to compare with and compares it once now, so a mismatch (another model,
/// another prompt) is reported before the server starts.
fn compare_with(
    path: &std::path::Path,
    tolerance: f64,
    current: &Current,
) -> anyhow::Result<CompareWith> {
    anyhow::ensure!(
        tolerance.is_finite() && tolerance >= 0.0,
        "--tolerance must be a non-negative number, got {tolerance}"
    );
    let sp = progress::spinner(&format!("comparing with {}", path.display()));
    let with = load(path).map(|input| {
        CompareWith::new(
            path.display().to_string(),
            input,
            Tolerance { rel: tolerance },
        )
    });
    // a model's untraced graph has nothing to compare yet: that waits for the first trace
    let report = match &with {
        Ok(w) if CompareWith::comparable(current) => Some(
            w.report(current)
                .with_context(|| format!("comparing the shown run with {}", path.display())),
        ),
        _ => None,
    };
    sp.finish_and_clear();
    let with = with?;
    let Some(report) = report.transpose()? else {
        eprintln!(
            "diff: the graph has no values yet; trace a prompt in the viewer to compare it with {}",
            path.display()
        );
        return Ok(with);
    };
    match report.first_divergence.map(|i| &report.nodes[i]) {
        Some(d) => eprintln!(
            "diff: {} nodes matched; first divergence beyond {tolerance} at `{}` ({})",
            report.nodes.len(),
            d.name,
            d.op_a
        ),
        None => eprintln!(
            "diff: {} nodes matched; none diverges beyond {tolerance}",
            report.nodes.len()
        ),
    }
    Ok(with)
}

fn describe(c: &Current) -> String {
    let m = &c.doc.model;
    match &c.doc.run {
        _ if m.source == "llama.cpp-log" => format!("the llama.cpp log {}", m.name),
        Some(run) => format!("{} traced on {:?}", m.name, run.prompt),
        None => format!("the graph of {}", m.name),
    }
}

/// Ask the desktop to open `url`; any failure is ignored (the URL is printed anyway).
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        return;
    } else {
        // Without a display, xdg-open could start a text browser inside this terminal.
        if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
            return;
        }
        "xdg-open"
    };
    let spawned = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if let Err(e) = spawned {
        tracing::debug!("could not run {opener}: {e}");
    }
}
