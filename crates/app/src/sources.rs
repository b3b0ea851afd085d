//! The workspace's own Rust sources, compiled into the binary for the code panel.
//!
//! Every `crates/**/*.rs` file of the tree being built is embedded (rust-embed with
//! `debug-embed`, so debug builds embed too) under its workspace-relative path — the same path
//! `#[track_caller]` records in a node's location (`crates/models/src/llama.rs`). The panel can
//! therefore never show code that differs from what was compiled, and no request ever reaches
//! the filesystem: a path is only a key into this table. build.rs makes Cargo re-embed when a
//! file is added or removed.

use rust_embed::Embed;

#[derive(Embed)]
#[folder = "../../crates/"]
#[prefix = "crates/"]
#[include = "*/src/**/*.rs"]
#[include = "*/tests/**/*.rs"]
#[include = "*/benches/**/*.rs"]
#[include = "*/build.rs"]
struct Sources;

/// The text of an embedded source file, by workspace-relative path (`crates/core/src/op.rs`).
/// `None` for anything that is not one of the embedded files.
pub fn get(path: &str) -> Option<String> {
    let file = Sources::get(path)?;
    Some(String::from_utf8_lossy(&file.data).into_owned())
}

/// Paths of every embedded source file, sorted.
pub fn list() -> Vec<String> {
    let mut v: Vec<String> = Sources::iter().map(|p| p.into_owned()).collect();
    v.sort();
    v
}

/// The 1-based line `line` of an embedded file, trimmed (for tests and messages).
pub fn line(path: &str, line: u32) -> Option<String> {
    let text = get(path)?;
    let idx = (line as usize).checked_sub(1)?;
    text.lines().nth(idx).map(|l| l.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_file_is_embedded_under_its_workspace_path() {
        let me = get(file!()).expect("sources.rs is embedded under file!()");
        assert!(me.contains("fn this_file_is_embedded_under_its_workspace_path"));
        let here = line!();
        assert_eq!(
            line(file!(), here).as_deref(),
            Some("let here = line!();"),
            "line numbers agree with the compiled file"
        );
    }

    #[test]
    fn every_crate_is_embedded_and_nothing_else() {
        let all = list();
        for want in [
            "crates/core/src/graph.rs",
            "crates/core/src/trace.rs",
            "crates/app/src/main.rs",
            "crates/models/src/lib.rs",
        ] {
            assert!(all.iter().any(|p| p == want), "{want} missing from {all:?}");
        }
        assert!(all
            .iter()
            .all(|p| p.starts_with("crates/") && p.ends_with(".rs")));
        assert!(get("crates/app/Cargo.toml").is_none());
        assert!(get("../../etc/passwd").is_none());
        assert!(get("/etc/passwd").is_none());
    }
}
