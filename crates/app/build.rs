//! Build script of the `tensor-trace` binary: makes the two folders it embeds trackable.
//!
//! The binary embeds the web bundle (`web/dist`, built by `npm run build`) and the workspace's
//! own Rust sources (`crates/**/*.rs`, shown in the code panel). `include_bytes!` notices edits to
//! files that existed at the last build, but not files that were added or removed, so this
//! script asks Cargo to re-run (and the crate to re-embed) whenever anything under either folder
//! changes. A fresh clone has no `web/dist` yet: the folder is created empty so the binary still
//! builds, and its `/` page then says how to build the bundle.

use std::path::Path;

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let root = Path::new(&manifest).join("../..");
    let dist = root.join("web/dist");
    if !dist.exists() {
        if let Err(e) = std::fs::create_dir_all(&dist) {
            println!(
                "cargo:warning=could not create {} ({e}); the viewer will not be embedded",
                dist.display()
            );
        }
    }
    println!("cargo:rerun-if-changed={}", dist.display());
    println!("cargo:rerun-if-changed={}", root.join("crates").display());
    println!("cargo:rerun-if-changed=build.rs");
}
