//! Interop on a real run of SmolLM2-135M Q4_1 ("The capital of France is"): our trace written
//! to a `.ttrace`, read back, compared node by node with llama.cpp's own eval-callback dump;
//! the logit lens (its last layer must be the model's prediction); the TransformerLens export
//! read back by Python's `safetensors` and by Rust.
//!
//! Needs the model from `scripts/fetch-test-data` (in `$TENSOR_TRACE_DATA`, default
//! `~/.cache/tensor-trace`) and, for the Python read-back, `pip install safetensors numpy`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};
use tt_core::capture::Capture;
use tt_core::compare::{self, NoValues, Side, Tolerance, ValueSource};
use tt_core::exec::{ExecOptions, Executor};
use tt_core::gguf::GgufFile;
use tt_core::trace::{self, GraphDoc, RunInfo, TokenInfo};
use tt_core::{llamacpp_import, llamacpp_log};
use tt_models::export_tl;
use tt_models::lens;
use tt_models::tokenizer::Tokenizer;
use tt_models::{BuildOptions, HParams, ModelSpec};

fn model_path() -> PathBuf {
    let data = match std::env::var_os("TENSOR_TRACE_DATA") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
            .join(".cache/tensor-trace"),
    };
    let path = data.join("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        path.exists(),
        "{} is missing: run scripts/fetch-test-data (or set TENSOR_TRACE_DATA)",
        path.display()
    );
    path
}

fn out_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("tt-interop-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

struct Run {
    trace_path: PathBuf,
    /// result_output, [n_vocab]
    logits: Vec<f32>,
}

/// Trace the prompt (FA on or off) into a .ttrace file, once per setting.
fn traced(flash_attn: bool) -> &'static Run {
    static ON: OnceLock<Run> = OnceLock::new();
    static OFF: OnceLock<Run> = OnceLock::new();
    let cell = if flash_attn { &ON } else { &OFF };
    cell.get_or_init(|| {
        let file = GgufFile::open(model_path()).expect("the SmolLM2 GGUF opens");
        let tokenizer = Tokenizer::from_gguf(&file).unwrap();
        let ids = tokenizer
            .tokenize("The capital of France is", true, false)
            .unwrap();
        let tokens: Vec<i32> = ids.iter().map(|&t| t as i32).collect();
        let spec = ModelSpec::from_gguf(&file).unwrap();
        let mut opts = BuildOptions::new(tokens.len() as u32);
        opts.flash_attn = flash_attn;
        let mg = spec.build_graph(&opts).unwrap();
        let g = &mg.graph;
        let mut ex = Executor::new(g, &file, ExecOptions::default()).unwrap();
        let input = mg.input_values(&tokens).unwrap();
        let ins = &mg.inputs;
        ex.set_input_i32(ins.tokens, &input.tokens).unwrap();
        ex.set_input_i32(ins.positions, &input.positions).unwrap();
        ex.set_input_f32(ins.kq_mask, &input.kq_mask).unwrap();
        ex.set_input_i64(ins.k_idxs, &input.k_idxs).unwrap();
        ex.set_input_i64(ins.v_idxs, &input.v_idxs).unwrap();
        ex.set_input_i32(ins.out_ids, &input.out_ids).unwrap();
        let mut cap = Capture::default();
        ex.run(&mut cap, &mut |_, _| {}).unwrap();
        let logits = ex.output_f32(mg.output).unwrap();

        let mut doc = GraphDoc::from_graph(g, spec.model_info());
        cap.fill_doc(g, &mut doc);
        doc.run = Some(RunInfo {
            prompt: "The capital of France is".into(),
            tokens: ids
                .iter()
                .map(|&id| TokenInfo {
                    id,
                    piece: String::new(),
                    text: String::new(),
                })
                .collect(),
            flash_attn,
            ..Default::default()
        });
        let path = out_dir().join(if flash_attn {
            "fa-on.ttrace"
        } else {
            "fa-off.ttrace"
        });
        trace::write(&path, &doc, &cap.trace_values(g)).unwrap();
        Run {
            trace_path: path,
            logits,
        }
    })
}

fn reference(name: &str) -> GraphDoc {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/reference/smollm2")
        .join(name);
    llamacpp_import::to_graph_doc(&llamacpp_log::parse_file(&path).unwrap(), Some(name)).unwrap()
}

/// Ours against llama.cpp's dump through `compare`: the same graph node for node, and every
/// printed value and sum equal (the engine reproduces ggml's arithmetic; smollm2_numbers.rs).
fn ours_vs_llama_cpp(flash_attn: bool) {
    let run = traced(flash_attn);
    let ours = trace::read(&run.trace_path).unwrap();
    let log = reference(if flash_attn {
        "eval-callback-fa-on.log"
    } else {
        "eval-callback-fa-off.log"
    });
    let r = compare::compare(
        Side {
            doc: &ours.doc,
            values: &ours,
        },
        Side {
            doc: &log,
            values: &NoValues,
        },
        Tolerance::default(),
    )
    .unwrap();
    println!("{}", r.table(false, 3));
    let n_log = if flash_attn { 936 } else { 1086 };
    assert_eq!(
        r.nodes.len(),
        n_log,
        "every node of llama.cpp's graph is matched"
    );
    assert!(r.unmatched_a.is_empty() && r.unmatched_b.is_empty());
    assert!(r.nodes.iter().all(|d| d.ne_a == d.ne_b && d.op_a == d.op_b));
    // Where our kept values are a part that is not a prefix of rows (a KV cache allocated only
    // for the cells in use, seen through a permuted or transposed view), only the sums compare.
    let sum_only: Vec<&str> = r
        .nodes
        .iter()
        .filter(|d| d.mode == compare::Mode::SumOnly)
        .map(|d| d.name.as_str())
        .collect();
    println!(
        "sums only: {} nodes, e.g. {:?}",
        sum_only.len(),
        &sum_only[..sum_only.len().min(4)]
    );
    assert!(
        sum_only.iter().all(|n| n.starts_with("cache_")),
        "{sum_only:?}"
    );
    assert!(r
        .nodes
        .iter()
        .all(|d| matches!(d.mode, compare::Mode::Printed | compare::Mode::SumOnly)));
    let worst = r
        .nodes
        .iter()
        .max_by(|a, b| a.max_rel.total_cmp(&b.max_rel))
        .unwrap();
    let compared: u64 = r.nodes.iter().map(|d| d.n).sum();
    println!(
        "FA {}: {compared} printed values and {} sums compared; largest difference at `{}`: {:e}",
        if flash_attn { "on" } else { "off" },
        r.nodes.len(),
        worst.name,
        worst.max_abs
    );
    if let Some(d) = r.first_difference.map(|i| &r.nodes[i]) {
        panic!(
            "`{}` #{} (layer {:?}) differs from llama.cpp: max abs {:e}, sums {:?} vs {:?}",
            d.name, d.occurrence, d.layer, d.max_abs, d.sum_a, d.sum_b
        );
    }
}

#[test]
fn ours_equals_llama_cpp_fa_on() {
    ours_vs_llama_cpp(true);
}

#[test]
fn ours_equals_llama_cpp_fa_off() {
    ours_vs_llama_cpp(false);
}

#[test]
fn logit_lens_last_layer_is_the_prediction() {
    let run = traced(true);
    let t = trace::read(&run.trace_path).unwrap();
    let file = GgufFile::open(model_path()).unwrap();
    let hp = HParams::from_metadata(&file).unwrap();
    let tok = Tokenizer::from_gguf(&file).unwrap();
    let layers = lens::logit_lens(&hp, &file, Some(&tok), &t.doc, &t, 5, 2).unwrap();
    assert_eq!(layers.len(), 30);
    let want = lens::top_k(&run.logits, 5, Some(&tok));
    let last = &layers[29];
    for (a, b) in last.top.iter().zip(&want) {
        assert_eq!(
            (a.id, a.logit.to_bits()),
            (b.id, b.logit.to_bits()),
            "lens at layer 29 vs result_output"
        );
    }
    assert_eq!(last.top[0].text, " Paris");
    assert_eq!(last.top[0].piece, "ĠParis");
    for l in &layers {
        let cells: Vec<String> = l
            .top
            .iter()
            .map(|t| format!("{:?} {:.2}", t.text, t.prob))
            .collect();
        println!("layer {:>2}: {}", l.layer, cells.join("  "));
    }
    // Early layers do not predict Paris yet.
    assert_ne!(layers[0].top[0].id, last.top[0].id);
}

fn sha(data: &[f32]) -> String {
    let mut h = Sha256::new();
    for x in data {
        h.update(x.to_le_bytes());
    }
    format!("{:x}", h.finalize())
}

/// What Python's safetensors sees: {name: [shape, sha256 of the little-endian f32 bytes]}.
fn python_view(path: &Path) -> serde_json::Value {
    let script = r#"
import sys, json, hashlib
import numpy as np
from safetensors.numpy import load_file
from safetensors import safe_open
t = load_file(sys.argv[1])
with safe_open(sys.argv[1], framework="np") as f:
    meta = f.metadata()
out = {k: [list(v.shape), str(v.dtype), hashlib.sha256(np.ascontiguousarray(v).astype('<f4').tobytes()).hexdigest()] for k, v in t.items()}
print(json.dumps({"tensors": out, "metadata": meta}))
"#;
    let o = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(path)
        .output()
        .expect("python3 runs");
    assert!(
        o.status.success(),
        "python3 could not read the export (pip install safetensors numpy): {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn transformer_lens_export_round_trips_through_python() {
    let run = traced(false);
    let t = trace::read(&run.trace_path).unwrap();
    let export = export_tl::tl_activations(&t.doc, &t).unwrap();
    let path = out_dir().join("tl.safetensors");
    export_tl::write_safetensors(&path, &export).unwrap();

    // 1 + 30 layers × 17 hooks + ln_final
    assert_eq!(export.tensors.len(), 1 + 30 * 17 + 1);
    let by_name = |n: &str| {
        export
            .tensors
            .iter()
            .find(|t| t.name == n)
            .unwrap_or_else(|| panic!("no {n}"))
    };
    assert_eq!(by_name("hook_embed").shape, [5, 576]);
    assert_eq!(by_name("blocks.0.attn.hook_q").shape, [5, 9, 64]);
    assert_eq!(by_name("blocks.0.attn.hook_k").shape, [5, 3, 64]);
    assert_eq!(by_name("blocks.0.attn.hook_rot_k").shape, [5, 3, 64]);
    assert_eq!(by_name("blocks.0.attn.hook_pattern").shape, [9, 5, 5]);
    assert_eq!(by_name("blocks.0.attn.hook_z").shape, [5, 9, 64]);
    assert_eq!(by_name("blocks.0.mlp.hook_post").shape, [5, 1536]);
    assert_eq!(by_name("blocks.29.hook_attn_out").shape, [5, 576]);
    let last = by_name("blocks.29.hook_resid_post");
    assert_eq!(
        (last.shape.as_slice(), last.positions.as_deref()),
        (&[1usize, 576][..], Some(&[4usize][..]))
    );

    // Semantics, not just shapes: hook_q[p, h, d] is Qcur-0[h·64 + d, p]; the pattern is a
    // causal softmax over the 5 used cells.
    let q_node = t
        .doc
        .nodes
        .iter()
        .map(|&i| &t.doc.tensors[i as usize])
        .find(|n| n.name == "Qcur-0" && n.op == "MUL_MAT")
        .unwrap();
    let q = ValueSource::values(&t, q_node).unwrap().data;
    let hq = by_name("blocks.0.attn.hook_q");
    let (p, h, d) = (3usize, 7usize, 11usize);
    assert_eq!(hq.data[(p * 9 + h) * 64 + d], q[p * 576 + h * 64 + d]);
    let pat = by_name("blocks.0.attn.hook_pattern");
    for h in 0..9 {
        for qp in 0..5 {
            let row = &pat.data[(h * 5 + qp) * 5..(h * 5 + qp + 1) * 5];
            let s: f32 = row.iter().sum();
            assert!((s - 1.0).abs() < 1e-5, "pattern row sums to {s}");
            assert!(row[qp + 1..].iter().all(|&x| x == 0.0), "causal");
        }
    }
    assert_eq!(
        by_name("blocks.0.hook_resid_pre").data,
        by_name("hook_embed").data
    );
    assert_eq!(
        by_name("blocks.1.hook_resid_pre").data,
        by_name("blocks.0.hook_resid_post").data
    );

    // Python sees the same names, shapes and bytes.
    let py = python_view(&path);
    let tensors = py["tensors"].as_object().unwrap();
    assert_eq!(tensors.len(), export.tensors.len());
    for t in &export.tensors {
        let v = &tensors[&t.name];
        let shape: Vec<usize> = v[0]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(shape, t.shape, "{}", t.name);
        assert_eq!(v[1], "float32");
        assert_eq!(
            v[2].as_str().unwrap(),
            sha(&t.data),
            "{}: values differ",
            t.name
        );
    }
    let meta = &py["metadata"];
    assert_eq!(meta["format"], export_tl::FORMAT);
    let positions: serde_json::Value =
        serde_json::from_str(meta["positions"].as_str().unwrap()).unwrap();
    assert_eq!(
        positions["ln_final.hook_normalized"],
        serde_json::json!([4])
    );
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn flash_attention_traces_have_no_pattern_hook() {
    let run = traced(true);
    let t = trace::read(&run.trace_path).unwrap();
    let export = export_tl::tl_activations(&t.doc, &t).unwrap();
    assert!(export
        .tensors
        .iter()
        .all(|t| !t.name.ends_with("hook_pattern")));
    assert_eq!(export.tensors.len(), 1 + 30 * 16 + 1);
}

#[test]
fn imported_logs_cannot_be_exported_to_transformer_lens() {
    let log = reference("eval-callback-fa-off.log");
    let e = export_tl::tl_activations(&log, &NoValues).unwrap_err();
    assert!(e.to_string().contains("no complete captured values"), "{e}");
}
