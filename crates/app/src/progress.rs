//! Progress bars on stderr (indicatif), drawn only when stderr is a terminal so that logs and
//! pipes stay clean.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar of `total` steps labelled `stage`; hidden when stderr is not a terminal.
pub fn bar(total: u64, stage: &str) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(Some(total), target());
    pb.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} {elapsed_precise}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb.set_message(stage.to_string());
    pb
}

/// A spinner for work of unknown length; hidden when stderr is not a terminal.
pub fn spinner(stage: &str) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(None, target());
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("valid template"),
    );
    pb.set_message(stage.to_string());
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb
}

fn target() -> ProgressDrawTarget {
    if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    }
}
