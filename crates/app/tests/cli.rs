//! The `tensor-trace` binary as a user runs it: what each command prints, and that bad input
//! ends in one `error:` line naming the file and the problem, a non-zero exit, no panic and no
//! partial output file.
//!
//! Needs SmolLM2-135M Q4_1 from `scripts/fetch-test-data`.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::TempFile;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tensor-trace"));
    c.env_remove("RUST_LOG");
    c
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `trace MODEL --prompt "The capital of France is" --out OUT --threads 2`, which must succeed;
/// its stdout.
fn trace_capital(model: &Path, out: &Path) -> String {
    let o = run(&[
        "trace",
        model.to_str().unwrap(),
        "--prompt",
        "The capital of France is",
        "--out",
        out.to_str().unwrap(),
        "--threads",
        "2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o)
}

/// A clean failure: exit 1, one `error: …` line on stderr containing every `parts`, no panic.
fn assert_fails(o: &Output, parts: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    for p in parts {
        assert!(lines[0].contains(p), "{:?} should mention {p:?}", lines[0]);
    }
}

#[test]
fn inspect_shows_metadata_and_tensors() {
    let model = common::smollm2_path();
    let o = run(&["inspect", model.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("272 (134,515,008 parameters"), "{out}");
    assert!(out.contains("llama.block_count"));
    assert!(out.contains("blk.0.attn_q.weight"));
    assert!(out.contains("q4_1"));

    let o = run(&["inspect", "--json", model.to_str().unwrap()]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("--json is JSON");
    assert_eq!(j["metadata"]["llama.block_count"], 30);
    assert_eq!(j["metadata"]["tokenizer.ggml.tokens"]["len"], 49152);
    assert_eq!(j["tensors"].as_array().unwrap().len(), 272);
    assert_eq!(j["file"], "SmolLM2-135M-Instruct.Q4_1.gguf");
}

#[test]
fn missing_truncated_and_corrupt_files_are_one_line_errors() {
    assert_fails(
        &run(&["inspect", "/no/such/model.gguf"]),
        &["/no/such/model.gguf", "No such file"],
    );

    let bytes = std::fs::read(common::smollm2_path()).unwrap();
    let cut = TempFile::new("truncated.gguf", &bytes[..20_000]);
    let o = run(&["trace", cut.0.to_str().unwrap(), "--prompt", "hi"]);
    assert_fails(&o, &["truncated.gguf", "byte"]);

    let mut bad = bytes[..64].to_vec();
    bad[..4].copy_from_slice(b"GGXF");
    let corrupt = TempFile::new("corrupt.gguf", &bad);
    assert_fails(
        &run(&["graph", corrupt.0.to_str().unwrap()]),
        &["corrupt.gguf", "not a GGUF file"],
    );
}

/// Outputs that cannot or must not be written are refused before any work; a directory or a
/// FIFO given as the model is named as such; absurd thread counts are refused by the parser.
#[test]
fn bad_outputs_and_inputs_are_refused_up_front() {
    let model = common::smollm2_path();
    let m = model.to_str().unwrap();
    let before = std::fs::metadata(&model).unwrap().len();
    assert_fails(
        &run(&["trace", m, "--prompt", "hi", "--out", m]),
        &["is the input", "another output name"],
    );
    assert_eq!(
        std::fs::metadata(&model).unwrap().len(),
        before,
        "the model is untouched"
    );
    assert_fails(
        &run(&[
            "trace",
            m,
            "--prompt",
            "hi",
            "--out",
            "/no/such/dir/x.ttrace",
        ]),
        &["/no/such/dir", "does not exist"],
    );
    assert_fails(
        &run(&["trace", m, "--prompt", "hi", "--out", "/dev/null"]),
        &["/dev/null", "not a regular file"],
    );
    let dir = std::env::temp_dir();
    assert_fails(
        &run(&["inspect", dir.to_str().unwrap()]),
        &["expected a GGUF model file, found a directory"],
    );
    let o = run(&["trace", m, "--prompt", "hi", "--threads", "100000"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("cores here"), "{}", stderr(&o));
    let o = run(&["graph", m, "--tokens", "0"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_fails(
        &run(&["serve", "--trace", m, "--no-open"]),
        &["is a GGUF model, not a run"],
    );
}

/// The logit lens reads a trace with a model file's weights: a model of another configuration
/// (here only the RoPE base differs) is refused, whatever its file name.
#[test]
fn lens_refuses_a_model_the_trace_was_not_made_with() {
    let out = TempFile::reserve("lens.ttrace");
    trace_capital(&common::smollm2_path(), &out.0);
    let other = TempFile::new(
        "rope.gguf",
        &common::smollm2_variant(|w| {
            for (k, v) in w.metadata.iter_mut() {
                if k == "llama.rope.freq_base" {
                    *v = tt_core::gguf::Value::F32(10_000.0);
                }
            }
        }),
    );
    assert_fails(
        &run(&[
            "lens",
            out.0.to_str().unwrap(),
            "--model",
            other.0.to_str().unwrap(),
        ]),
        &["was not traced with", "rope.gguf", "rope"],
    );
}

/// A tensor type id this build does not know: `inspect` still lists the file, and warns.
#[test]
fn inspect_warns_about_unknown_tensor_types() {
    let bytes = common::smollm2_variant(|w| {
        let t = w
            .tensors
            .iter_mut()
            .find(|t| t.name == "blk.0.attn_q.weight")
            .unwrap();
        t.type_id = 99;
    });
    let f = TempFile::new("type99.gguf", &bytes);
    let o = run(&["inspect", f.0.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("blk.0.attn_q.weight"));
    let err = stderr(&o);
    assert!(
        err.contains("warning: ")
            && err.contains("type99.gguf")
            && err.contains("1 tensor(s)")
            && err.contains("blk.0.attn_q.weight is type 99"),
        "{err}"
    );
}

#[test]
fn unsupported_architecture_is_refused() {
    let f = TempFile::new("gemma.gguf", &common::smollm2_as_arch("gemma3"));
    let out = TempFile::reserve("gemma.ttrace");
    let o = run(&[
        "trace",
        f.0.to_str().unwrap(),
        "--prompt",
        "hi",
        "--out",
        out.0.to_str().unwrap(),
    ]);
    assert_fails(
        &o,
        &["gemma.gguf", "architecture 'gemma3' is not supported"],
    );
    assert!(!out.0.exists());
}

#[test]
fn uncomputable_tensor_type_is_refused_without_an_output_file() {
    let f = TempFile::new("mxfp4.gguf", &common::smollm2_with_mxfp4());
    let out = TempFile::reserve("mxfp4.ttrace");
    let o = run(&[
        "trace",
        f.0.to_str().unwrap(),
        "--prompt",
        "hi",
        "--out",
        out.0.to_str().unwrap(),
    ]);
    assert_fails(&o, &["mxfp4.gguf", "blk.0.attn_q.weight", "mxfp4"]);
    assert!(!out.0.exists(), "no partial trace");
}

#[test]
fn bad_prompts_are_refused() {
    let model = common::smollm2_path();
    let m = model.to_str().unwrap();
    let out = TempFile::reserve("prompt.ttrace");
    let o = run(&["trace", m, "--prompt", "", "--out", out.0.to_str().unwrap()]);
    assert_fails(&o, &["the prompt is empty"]);
    let long = "word ".repeat(600);
    let o = run(&[
        "trace",
        m,
        "--prompt",
        &long,
        "--out",
        out.0.to_str().unwrap(),
    ]);
    assert_fails(
        &o,
        &["SmolLM2-135M-Instruct.Q4_1.gguf", "601 tokens", "512"],
    );
    assert!(!out.0.exists());
}

/// A model whose layer-3 attention norm holds a NaN: the run is traced to the end, the summary
/// names where NaN first appears, and the trace file (NaN sums, no finite min) reads back.
#[test]
fn a_nan_in_the_weights_is_traced_and_saved() {
    let bytes = common::smollm2_with_nan();
    let model = TempFile::new("nan-model.gguf", &bytes);
    let out = TempFile::reserve("nan.ttrace");
    let text = trace_capital(&model.0, &out.0);
    assert!(text.contains("NaN/Inf: "), "{text}");
    assert!(text.contains("attn_norm-3"), "{text}");
    assert!(
        text.contains("no prediction: the logits are NaN/Inf"),
        "{text}"
    );
    assert!(!text.contains("p = NaN"), "{text}");
    let t = tt_core::trace::read(&out.0).expect("a trace with NaN reads back");
    let norm = t
        .doc
        .tensors
        .iter()
        .find(|x| x.name == "attn_norm-3")
        .expect("attn_norm-3");
    let st = norm.stats.as_ref().unwrap();
    assert_eq!(st.nan, 5, "one NaN weight column, 5 tokens");
    assert!(st.sum.is_nan());
    let logits = t
        .doc
        .tensors
        .iter()
        .find(|x| x.name == "result_output")
        .unwrap();
    let st = logits.stats.as_ref().unwrap();
    assert_eq!(st.nan, st.n, "every logit is NaN");
    assert!(
        st.min.is_nan() && st.mean.is_nan(),
        "no finite value: no min, no mean"
    );
    // layers before the NaN are untouched
    let before = t.doc.tensors.iter().find(|x| x.name == "l_out-2").unwrap();
    assert_eq!(before.stats.as_ref().unwrap().nan, 0);
}

#[test]
fn trace_prints_tokens_prediction_and_nan_summary() {
    let model = common::smollm2_path();
    let out = TempFile::reserve("smollm2.ttrace");
    let text = trace_capital(&model, &out.0);
    assert!(text.contains("(5 tokens)"), "{text}");
    for (id, piece) in [(504, "\"The\""), (3575, "\" capital\""), (314, "\" is\"")] {
        assert!(
            text.lines()
                .any(|l| l.contains(&id.to_string()) && l.contains(piece)),
            "{id} {piece}: {text}"
        );
    }
    // llama.cpp's numbers for this prompt (testdata/reference/smollm2/tokens.md, FA on).
    let first = text
        .lines()
        .find(|l| l.trim_start().starts_with("1."))
        .expect("a top-5 list");
    assert!(
        first.contains("7042")
            && first.contains("\" Paris\"")
            && first.contains("p = 0.771771")
            && first.contains("logit = 17.7388"),
        "{first}"
    );
    assert_eq!(
        text.lines()
            .filter(
                |l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()) && l.contains("p = ")
            )
            .count(),
        5
    );
    assert!(
        text.contains("NaN/Inf: none in 936 computed tensors"),
        "{text}"
    );
    assert!(text.contains(&format!("trace written to {}", out.0.display())));

    // The file is a trace of this run.
    let t = tt_core::trace::read(&out.0).expect("the trace reads back");
    assert_eq!(
        t.doc.run.as_ref().unwrap().prompt,
        "The capital of France is"
    );
    assert_eq!(t.doc.nodes.len(), 936);
}

#[test]
fn graph_prints_a_table_or_the_document() {
    let o = run(&["graph", "--preset", "llama-3.2-1b", "--flash-attn", "off"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.starts_with("LLaMA 3.2 1B (llama, preset): "), "{text}");
    let row = text
        .lines()
        .find(|l| l.contains("kq_soft_max-0"))
        .expect("FA off has softmax nodes");
    assert!(
        row.contains("SOFT_MAX") && row.contains("attention"),
        "{row}"
    );
    let header = text.lines().nth(1).unwrap();
    for col in [
        "index", "name", "op", "type", "ne", "group", "layer", "sources",
    ] {
        assert!(header.contains(col), "{header}");
    }

    let model = common::smollm2_path();
    let o = run(&["graph", model.to_str().unwrap(), "--json"]);
    let doc: tt_core::trace::GraphDoc =
        serde_json::from_slice(&o.stdout).expect("--json is a GraphDoc");
    assert_eq!(
        doc.nodes.len(),
        936,
        "SmolLM2, 5 tokens, flash attention on: llama.cpp's 936 nodes"
    );
    assert_eq!(
        doc.model.file.as_deref(),
        Some("SmolLM2-135M-Instruct.Q4_1.gguf")
    );

    assert_fails(
        &run(&["graph", "--preset", "nope"]),
        &["unknown preset \"nope\""],
    );
}

#[test]
fn output_closed_early_is_not_an_error() {
    // `tensor-trace graph | head -1`
    let mut child = bin()
        .args(["graph", "--preset", "llama-3.1-405b"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("LLaMA 3.1 405B"));
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{err}");
    assert!(err.is_empty(), "{err}");
}

/// Starts `serve` with `args`, returns the child and the URL it printed.
fn serve(args: &[&str]) -> (std::process::Child, String, String) {
    let mut child = bin()
        .arg("serve")
        .args(args)
        .args(["--port", "0", "--no-open"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string();
    (child, url, line)
}

fn stop(mut child: std::process::Child) -> String {
    // SIGTERM: the server shuts down gracefully.
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the server did not stop"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    err
}

#[test]
fn serve_binds_localhost_by_default() {
    let (child, url, line) = serve(&[]);
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    assert!(
        line.contains("LLaMA 3.1 8B"),
        "no arguments: the 8B preset: {line}"
    );
    let err = stop(child);
    assert!(err.contains("stopping"), "{err}");
    assert!(!err.contains("warning"), "{err}");
}

#[test]
fn serve_on_another_address_warns() {
    let (child, _, _) = serve(&["--host", "0.0.0.0"]);
    let err = stop(child);
    assert!(err.contains("warning: listening on 0.0.0.0"), "{err}");
}

#[test]
fn serve_a_saved_trace() {
    let out = TempFile::reserve("served.ttrace");
    let model = common::smollm2_path();
    let o = run(&[
        "trace",
        model.to_str().unwrap(),
        "--prompt",
        "Hello",
        "--out",
        out.0.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (child, _, line) = serve(&["--trace", out.0.to_str().unwrap()]);
    assert!(line.contains("traced on \"Hello\""), "{line}");
    stop(child);
    assert!(Path::new(&out.0).exists());
}
