//! Golden test: the LLaMA graph built from SmolLM2-135M's GGUF (metadata and tensor table only)
//! equals, node for node, what llama.cpp computed for the same 5-token prompt: same order, name,
//! op, type, shape, and the same two printed sources (name and shape). The reference is
//! llama-eval-callback's dump (testdata/reference/smollm2/eval-callback-fa-{off,on}.log).
//!
//! Needs the model from `scripts/fetch-test-data` (in `$TENSOR_TRACE_DATA`, default
//! `~/.cache/tensor-trace`) and the reference directory (`$TENSOR_TRACE_REFERENCE`, default
//! `testdata/reference` in the repository, a copy of the shared reference).

use std::path::PathBuf;
use std::time::Instant;

use tt_core::gguf::GgufFile;
use tt_core::llamacpp_log::{self, EvalLog};
use tt_core::Graph;
use tt_models::{BuildOptions, ModelGraph, ModelSpec};

fn data_dir() -> PathBuf {
    match std::env::var_os("TENSOR_TRACE_DATA") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
            .join(".cache/tensor-trace"),
    }
}

fn reference_dir() -> PathBuf {
    match std::env::var_os("TENSOR_TRACE_REFERENCE") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/reference"),
    }
}

fn smollm2() -> ModelSpec {
    let path = data_dir().join("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        path.exists(),
        "{} is missing: run scripts/fetch-test-data (or set TENSOR_TRACE_DATA)",
        path.display()
    );
    let file = GgufFile::open(&path).expect("the SmolLM2 GGUF opens");
    ModelSpec::from_gguf(&file).expect("SmolLM2 is a LLaMA we build")
}

fn reference(name: &str) -> EvalLog {
    let path = reference_dir().join("smollm2").join(name);
    assert!(
        path.exists(),
        "{} is missing: set TENSOR_TRACE_REFERENCE to the shared reference directory",
        path.display()
    );
    llamacpp_log::parse_file(&path).expect("the reference log parses")
}

/// One node as the eval callback prints it: `name = (type) OP(src0{ne}, src1{ne}) = {ne}`.
fn ours(g: &Graph, i: usize) -> String {
    let t = g.get(g.nodes[i]);
    let srcs: Vec<String> = t.src[..t.src.len().min(2)]
        .iter()
        .flatten()
        .map(|&s| format!("{}{:?}", g.get(s).name, g.get(s).ne))
        .collect();
    format!(
        "{} = ({}) {}({}) = {:?}",
        t.name,
        t.ty.name(),
        t.op.name(),
        srcs.join(", "),
        t.ne
    )
}

fn theirs(log: &EvalLog, i: usize) -> String {
    let n = &log.nodes[i];
    let srcs: Vec<String> = n.srcs.iter().map(|(s, ne)| format!("{s}{ne:?}")).collect();
    format!(
        "{} = ({}) {}({}) = {:?}",
        n.name,
        n.ty.name(),
        n.op,
        srcs.join(", "),
        n.ne
    )
}

/// Compares every node and reports how many matched, and the first difference with its
/// neighbourhood.
fn assert_same_nodes(mg: &ModelGraph, log: &EvalLog) {
    let g = &mg.graph;
    let n = g.nodes.len().min(log.nodes.len());
    let first_diff = (0..n).find(|&i| ours(g, i) != theirs(log, i));
    if let Some(i) = first_diff {
        let lo = i.saturating_sub(3);
        let ctx: Vec<String> = (lo..(i + 2).min(n))
            .map(|j| {
                format!(
                    "  #{j}\n    ours:   {}\n    theirs: {}",
                    ours(g, j),
                    theirs(log, j)
                )
            })
            .collect();
        panic!(
            "node {i} differs from llama.cpp (line {} of the log); {i} of {} nodes matched:\n{}",
            log.nodes[i].line,
            log.nodes.len(),
            ctx.join("\n")
        );
    }
    assert_eq!(
        g.nodes.len(),
        log.nodes.len(),
        "all {n} common nodes match, but the counts differ (ours {}, llama.cpp {})",
        g.nodes.len(),
        log.nodes.len()
    );
    eprintln!("{} of {} nodes match llama.cpp", n, log.nodes.len());
}

fn check(flash_attn: bool, log_name: &str, expected_nodes: usize) {
    let spec = smollm2();
    let log = reference(log_name);
    assert_eq!(log.nodes.len(), expected_nodes, "reference node count");
    let n_tokens = log.tokens.len() as u32;
    assert_eq!(n_tokens, 5, "the reference prompt is 5 tokens");
    let opts = BuildOptions {
        flash_attn,
        ..BuildOptions::new(n_tokens)
    };
    let t0 = Instant::now();
    let mg = spec.build_graph(&opts).expect("the SmolLM2 graph builds");
    eprintln!(
        "built {} nodes in {:.2} ms",
        mg.graph.nodes.len(),
        t0.elapsed().as_secs_f64() * 1e3
    );
    assert_same_nodes(&mg, &log);
    assert_eq!(mg.dims.n_ctx, 8192, "context = n_ctx_train");
    assert_eq!(mg.dims.n_kv, 256, "cells read: 5 rounded up to 256");
}

#[test]
fn graph_without_flash_attention_matches_llama_cpp() {
    check(false, "eval-callback-fa-off.log", 1086);
}

#[test]
fn graph_with_flash_attention_matches_llama_cpp() {
    check(true, "eval-callback-fa-on.log", 936);
}

#[test]
fn smollm2_hyperparameters_are_read_as_llama_cpp_reads_them() {
    let hp = smollm2().hparams;
    assert_eq!(hp.arch, "llama");
    assert_eq!(
        (hp.n_layer, hp.n_embd, hp.n_ff, hp.n_head, hp.n_head_kv),
        (30, 576, 1536, 9, 3)
    );
    assert_eq!((hp.n_embd_head_k, hp.n_embd_head_v, hp.n_rot), (64, 64, 64));
    assert_eq!((hp.n_vocab, hp.n_ctx_train), (49152, 8192));
    assert_eq!(hp.f_norm_rms_eps, 1e-5);
    assert_eq!(hp.rope_freq_base, 100000.0);
    let rope = hp.rope_params();
    assert_eq!((rope.mode, rope.freq_scale, rope.ext_factor), (0, 1.0, 0.0));
}

#[test]
fn smollm2_output_is_tied_to_the_token_embeddings() {
    let spec = smollm2();
    assert!(spec.weights.get("output.weight").is_none());
    let mg = spec.build_graph(&BuildOptions::new(5)).expect("builds");
    let out = mg.graph.get(mg.output);
    let w = mg
        .graph
        .get(out.src[0].expect("result_output has a weight"));
    assert_eq!(w.name, "token_embd.weight");
    assert_eq!(w.ty, tt_core::GgmlType::Q8_0);
}
