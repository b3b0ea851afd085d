//! The interop commands on a real trace, through the built binary: `trace` SmolLM2-135M Q4_1,
//! then `compare` it with llama.cpp's dump (`--check`: no node may diverge), `lens` it, and
//! `export` it for TransformerLens.
//!
//! Needs the model from `scripts/fetch-test-data` (in `$TENSOR_TRACE_DATA`, default
//! `~/.cache/tensor-trace`).

use std::path::PathBuf;
use std::process::{Command, Output};

fn model() -> PathBuf {
    let data = match std::env::var_os("TENSOR_TRACE_DATA") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
            .join(".cache/tensor-trace"),
    };
    let p = data.join("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        p.exists(),
        "{} is missing: run scripts/fetch-test-data (or set TENSOR_TRACE_DATA)",
        p.display()
    );
    p
}

fn reference(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/reference/smollm2")
        .join(name)
}

fn run(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tensor-trace"));
    for a in args {
        c.arg(a);
    }
    let o = c.output().expect("the binary runs");
    assert!(
        o.status.success(),
        "tensor-trace failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

#[test]
fn trace_then_compare_lens_and_export() {
    let dir = std::env::temp_dir().join(format!("tt-cli-smollm2-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let trace = dir.join("fa-off.ttrace");
    run(&[
        &"trace",
        &model(),
        &"--prompt",
        &"The capital of France is",
        &"--flash-attn",
        &"off",
        &"--threads",
        &"2",
        &"--out",
        &trace,
    ]);

    let o = run(&[
        &"compare",
        &trace,
        &reference("eval-callback-fa-off.log"),
        &"--check",
    ]);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(text.contains("1086 matched nodes, 0 diverged"), "{text}");
    assert!(text.contains("first difference: none"), "{text}");

    let o = run(&[&"lens", &trace, &"--model", &model(), &"--json"]);
    let lens: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let layers = lens["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 30);
    assert_eq!(layers[29]["top"][0]["text"], " Paris");
    assert_eq!(layers[29]["top"][0]["id"], 7042);

    let tl = dir.join("tl.safetensors");
    run(&[&"export", &trace, &"--format", &"tl", &"--out", &tl]);
    let bytes = std::fs::read(&tl).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
    assert_eq!(
        header["blocks.0.attn.hook_pattern"]["shape"],
        serde_json::json!([9, 5, 5])
    );
    assert_eq!(
        header["blocks.29.hook_resid_post"]["shape"],
        serde_json::json!([1, 576])
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
