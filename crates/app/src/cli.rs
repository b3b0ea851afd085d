//! The command line: one subcommand per file in `cmd/`, each with its own clap `Args` struct
//! and `run(args) -> anyhow::Result<()>`. To add one, add a variant here and a line in
//! [`Cli::run`]. With no subcommand, `tensor-trace` is `tensor-trace serve`.

use std::process::ExitCode;

use clap::{ArgAction, Parser, Subcommand, ValueEnum};

use crate::cmd;

#[derive(Parser, Debug)]
#[command(
    name = "tensor-trace",
    version,
    about = "Build a GGUF model's real ggml compute graph, run it on the CPU capturing every \
             tensor, and fly through it in a 3D viewer",
    after_help = "With no command, serves the viewer of the built-in LLaMA 3.1 8B graph \
                  (the same as `tensor-trace serve`)."
)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug, -vvv trace; RUST_LOG overrides)
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the 3D viewer of a preset graph, a model, a traced prompt or a saved trace
    Serve(cmd::serve::Args),
    /// Show a GGUF file's metadata and tensor table
    Inspect(cmd::inspect::Args),
    /// Print the compute graph of a model or preset as a table (or the graph document as JSON)
    Graph(cmd::graph::Args),
    /// Run a prompt through a model, capturing every tensor into a .ttrace file
    Trace(cmd::trace::Args),
    /// Read llama.cpp's eval-callback output (llama-eval-callback) into a graph document
    Import(cmd::import::Args),
    /// Compare two runs node by node (traces, eval-callback logs, graph documents)
    Compare(cmd::compare::Args),
    /// Export a run: TransformerLens activations, Graphviz, or the graph document
    Export(cmd::export::Args),
    /// The logit lens of a traced run: each layer's prediction at the last position
    Lens(cmd::lens::Args),
}

impl Cli {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let command = self
            .command
            .unwrap_or_else(|| Command::Serve(cmd::serve::Args::parse_from(["serve"])));
        match command {
            Command::Serve(a) => cmd::serve::run(a)?,
            Command::Inspect(a) => cmd::inspect::run(a)?,
            Command::Graph(a) => cmd::graph::run(a)?,
            Command::Trace(a) => cmd::trace::run(a)?,
            Command::Import(a) => cmd::import::run(a)?,
            Command::Compare(a) => cmd::compare::run(a)?,
            Command::Export(a) => cmd::export::run(a)?,
            Command::Lens(a) => cmd::lens::run(a)?,
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// `--flash-attn on|off`: the fused attention node, or the separate KQ, softmax, KQV nodes.
/// `on` is what llama.cpp's default `auto` picks on the CPU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    #[default]
    On,
    Off,
}

impl OnOff {
    pub fn is_on(self) -> bool {
        self == OnOff::On
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_arguments_means_serve_on_localhost() {
        let cli = Cli::try_parse_from(["tensor-trace"]).unwrap();
        assert!(cli.command.is_none());
        let serve = cmd::serve::Args::parse_from(["serve"]);
        assert_eq!(serve.host, crate::server::DEFAULT_HOST);
        assert_eq!(serve.port, crate::server::DEFAULT_PORT);
        assert!(serve.model.is_none() && serve.trace.is_none());
    }

    #[test]
    fn flash_attn_parses_on_and_off() {
        let cli = Cli::try_parse_from([
            "tensor-trace",
            "graph",
            "--preset",
            "x",
            "--flash-attn",
            "off",
        ])
        .unwrap();
        match cli.command {
            Some(Command::Graph(g)) => assert_eq!(g.flash_attn, OnOff::Off),
            other => panic!("parsed as {other:?}"),
        }
        assert!(Cli::try_parse_from(["tensor-trace", "graph", "--flash-attn", "maybe"]).is_err());
    }
}
