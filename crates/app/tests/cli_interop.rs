//! The interop commands end to end, through the built binary: `import`, `compare`, `export`,
//! `lens` on llama.cpp's reference dumps (testdata/reference/smollm2), and their refusals of bad
//! input (clear message, the line where it applies, nonzero exit, no output file).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tensor-trace"))
}

fn reference(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/reference/smollm2")
        .join(name)
}

/// A path in a directory of its own (tests run in parallel; the stray-file check looks there).
fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tt-cli-interop-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

fn run(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let mut c = bin();
    for a in args {
        c.arg(a);
    }
    c.output().expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Fails with `what` in stderr, nonzero exit, and leaves `out` (if any) absent.
fn assert_refused(o: &Output, what: &str, out: Option<&Path>) {
    assert!(
        !o.status.success(),
        "expected failure, got success: {}",
        stdout(o)
    );
    assert!(
        stderr(o).contains(what),
        "stderr lacks {what:?}: {}",
        stderr(o)
    );
    if let Some(p) = out {
        assert!(!p.exists(), "{} was written", p.display());
        let dir = p.parent().unwrap();
        let stray: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
            .collect();
        assert!(stray.is_empty(), "temporary files left: {stray:?}");
    }
}

#[test]
fn import_reads_both_reference_logs() {
    for (name, nodes) in [
        ("eval-callback-fa-off.log", 1086),
        ("eval-callback-fa-on.log", 936),
    ] {
        let out = tmp(&format!("{name}.json"));
        let o = run(&[&"import", &reference(name), &"--out", &out]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(
            stdout(&o).contains(&format!("{nodes} nodes computed by llama.cpp")),
            "{}",
            stdout(&o)
        );
        let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
        assert_eq!(doc["nodes"].as_array().unwrap().len(), nodes);
        assert_eq!(doc["model"]["source"], "llama.cpp-log");
        std::fs::remove_file(&out).unwrap();
    }
}

#[test]
fn import_writes_a_trace_file_that_compare_reads() {
    let out = tmp("fa-on.ttrace");
    let o = run(&[
        &"import",
        &reference("eval-callback-fa-on.log"),
        &"--out",
        &out,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // A trace of an imported log against the log itself: identical.
    let o = run(&[&"compare", &out, &reference("eval-callback-fa-on.log")]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("936 matched nodes, 0 diverged"),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("first difference: none"),
        "{}",
        stdout(&o)
    );
    std::fs::remove_file(&out).unwrap();
}

#[test]
fn compare_fa_on_vs_off_names_the_attention_output() {
    let json = tmp("fa.json");
    let o = run(&[
        &"compare",
        &reference("eval-callback-fa-on.log"),
        &reference("eval-callback-fa-off.log"),
        &"--json",
        &json,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("first difference: `kqv_out-0` #0 (RESHAPE in A, CONT in B; layer 0)"),
        "{text}"
    );
    assert!(text.contains("first divergence: `attn_out-0`"), "{text}");
    assert!(
        text.contains("node_21") && text.contains("FLASH_ATTN_EXT"),
        "{text}"
    );
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let fd = report["first_difference"].as_u64().unwrap() as usize;
    assert_eq!(report["nodes"][fd]["name"], "kqv_out-0");
    std::fs::remove_file(&json).unwrap();

    let o = run(&[
        &"compare",
        &reference("eval-callback-fa-on.log"),
        &reference("eval-callback-fa-off.log"),
        &"--check",
    ]);
    assert_refused(&o, "`attn_out-0` (layer 0) diverges", None);
}

#[test]
fn truncated_log_is_refused_with_its_line() {
    let text = std::fs::read_to_string(reference("eval-callback-fa-off.log")).unwrap();
    let cut: String = text.lines().take(570).map(|l| format!("{l}\n")).collect();
    let log = tmp("cut.log");
    std::fs::write(&log, cut).unwrap();
    let out = tmp("cut.json");
    let o = run(&[&"import", &log, &"--out", &out]);
    assert_refused(&o, "line 564: node `kq-0` is truncated", Some(&out));
}

#[test]
fn other_programs_and_empty_files_are_refused() {
    let other = tmp("other.log");
    std::fs::write(
        &other,
        "main: build = 1 (abc)\nllama_model_loader: loaded meta data\n",
    )
    .unwrap();
    let out = tmp("other.json");
    assert_refused(
        &run(&[&"import", &other, &"--out", &out]),
        "no eval-callback lines found",
        Some(&out),
    );
    let empty = tmp("empty.log");
    std::fs::write(&empty, "").unwrap();
    assert_refused(
        &run(&[&"import", &empty, &"--out", &out]),
        "empty file",
        Some(&out),
    );
    assert_refused(&run(&[&"import", &tmp("missing.log")]), "missing.log", None);
}

#[test]
fn different_models_are_refused() {
    let doc = tmp("other-model.json");
    let o = run(&[
        &"import",
        &reference("eval-callback-fa-on.log"),
        &"--out",
        &doc,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&doc).unwrap()).unwrap();
    v["model"]["hparams"]["embedding_length"] = 2048.into();
    std::fs::write(&doc, serde_json::to_vec(&v).unwrap()).unwrap();
    let json = tmp("diff.json");
    let o = run(&[
        &"compare",
        &reference("eval-callback-fa-on.log"),
        &doc,
        &"--json",
        &json,
    ]);
    assert_refused(
        &o,
        "different models: `embedding_length` is 576 in A but 2048 in B",
        Some(&json),
    );
}

#[test]
fn export_dot_and_json_of_a_log_and_no_tl_without_values() {
    let dot = tmp("layer0.dot");
    let o = run(&[
        &"export",
        &reference("eval-callback-fa-off.log"),
        &"--format",
        &"dot",
        &"--layer",
        &"0",
        &"--out",
        &dot,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&dot).unwrap();
    assert!(text.starts_with("digraph"));
    assert!(text.contains("kq_soft_max-0\\nSOFT_MAX 256×5×9"), "{text}");
    assert!(!text.contains("Qcur-1"));
    let json = tmp("doc.json");
    let o = run(&[
        &"export",
        &reference("eval-callback-fa-on.log"),
        &"--format",
        &"json",
        &"--out",
        &json,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(v["nodes"].as_array().unwrap().len(), 936);

    let tl = tmp("log.safetensors");
    let o = run(&[
        &"export",
        &reference("eval-callback-fa-off.log"),
        &"--format",
        &"tl",
        &"--out",
        &tl,
    ]);
    assert_refused(
        &o,
        "this is a llama.cpp log, which holds only the few values llama.cpp printed",
        Some(&tl),
    );
    let o = run(&[
        &"export",
        &reference("eval-callback-fa-off.log"),
        &"--format",
        &"dot",
        &"--layer",
        &"99",
        &"--out",
        &dot,
    ]);
    assert_refused(&o, "no layer 99", None);
    let o = run(&[
        &"lens",
        &reference("eval-callback-fa-off.log"),
        &"--model",
        &"x.gguf",
    ]);
    assert_refused(&o, "needs a trace with captured values", None);
}
