//! `tensor-trace`: trace a GGUF model's real ggml compute graph and fly through it in 3D.
//!
//! `main → run → Result<ExitCode>`: every error reaches here and is printed with its whole cause
//! chain on one line (`error: model.gguf: truncated at byte 1234: …`), exit status 1.

use std::process::ExitCode;

use clap::Parser;
use tensor_trace::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tensor_trace::logging::init(cli.verbose);
    match cli.run() {
        Ok(code) => code,
        // `tensor-trace graph … | head`: the reader left; that is not an error.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", message(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes joined by ": ", skipping a cause whose text the message already
/// contains (some errors print their source inline).
fn message(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
    }
    msg
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        let io = c.downcast_ref::<std::io::Error>().map(std::io::Error::kind);
        // serde_json wraps the writer's error in its own
        let json = c
            .downcast_ref::<serde_json::Error>()
            .and_then(serde_json::Error::io_error_kind);
        io.or(json) == Some(std::io::ErrorKind::BrokenPipe)
    })
}
