//! The quantization kernels on real data against llama.cpp: layer 0 of SmolLM2-135M Q4_1 on the
//! reference prompt. The token embeddings (Q8_0 rows, dequantized), their RMS norm, and the
//! three Q4_1 projections `Qcur-0`, `Kcur-0`, `Vcur-0` (activations quantized to Q8_1, then
//! `vec_dot_q4_1_q8_1`) must reproduce the values and the f32 running `sum` that llama.cpp's
//! eval callback printed (`testdata/reference/smollm2/eval-callback-fa-on.log`). The printed
//! sum has 6 decimals, finer than one f32 ulp at these magnitudes, so a single differing bit in
//! any of the 2880 values would almost surely show.
//!
//! Needs the model: run `scripts/fetch-test-data` (it goes to
//! `${TENSOR_TRACE_DATA:-$HOME/.cache/tensor-trace}/smollm2/`).

use std::path::{Path, PathBuf};

use tt_core::gguf::GgufFile;
use tt_core::llamacpp_log::{self, LogNode};
use tt_core::quant::{dequantize_row, row_bytes, DotKernel};
use tt_core::GgmlType;

const N_EMBD: usize = 576;

fn model_path() -> PathBuf {
    let data = std::env::var_os("TENSOR_TRACE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/tensor-trace")
        });
    let path = data.join("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        path.is_file(),
        "{} is missing: run scripts/fetch-test-data",
        path.display()
    );
    path
}

fn reference_node<'a>(nodes: &'a [LogNode], name: &str, op: &str) -> &'a LogNode {
    nodes
        .iter()
        .find(|n| n.name == name && n.op == op)
        .unwrap_or_else(|| panic!("no {op} node named {name} in the reference log"))
}

/// f32 values of a tensor stored as F32.
fn f32_tensor(f: &GgufFile, name: &str) -> Vec<f32> {
    let t = f.tensor(name).unwrap_or_else(|| panic!("no tensor {name}"));
    f.tensor_data(t)
        .expect("tensor data")
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Checks `values` ([ne0, ne1] row-major, ne0 contiguous) against what llama.cpp printed: each
/// previewed value to its 4 printed decimals, and the f32 running sum (in ggml's element order)
/// to its 6. Reports the largest preview difference.
fn assert_matches(node: &LogNode, values: &[f32]) {
    let ne0 = node.ne[0] as usize;
    let mut max_diff = 0f32;
    for &([i0, i1, _, _], printed) in &node.preview {
        let v = values[i1 * ne0 + i0];
        max_diff = max_diff.max((v - printed).abs());
        assert!(
            (v - printed).abs() <= 5e-5,
            "{} [{i0}, {i1}]: ours {v}, llama.cpp printed {printed:.4}",
            node.name
        );
    }
    let mut sum = 0f32;
    for &v in values {
        sum += v;
    }
    let printed = node.sum.expect("f32 node has a sum");
    assert_eq!(
        format!("{sum:.6}"),
        format!("{printed:.6}"),
        "{}: running sum differs from llama.cpp's (largest preview difference {max_diff:e})",
        node.name
    );
}

#[test]
fn layer_0_q4_1_projections_match_llama_cpp() {
    let log_path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/reference/smollm2/eval-callback-fa-on.log");
    let log = llamacpp_log::parse_file(&log_path).expect("reference log parses");
    let f = GgufFile::open(model_path()).expect("model opens");
    let tokens: Vec<usize> = log.tokens.iter().map(|&t| t as usize).collect();
    assert_eq!(tokens, [504, 3575, 282, 4649, 314]);

    // embd = GET_ROWS(token_embd.weight (Q8_0), tokens)  // [n_embd, n_tokens]
    let te = f.tensor("token_embd.weight").expect("token_embd");
    assert_eq!(te.ty, Ok(GgmlType::Q8_0));
    let te_data = f.tensor_data(te).expect("token_embd data");
    let row_len = row_bytes(GgmlType::Q8_0, N_EMBD).unwrap();
    let mut embd = vec![0f32; N_EMBD * tokens.len()];
    for (out, &id) in embd.chunks_exact_mut(N_EMBD).zip(&tokens) {
        dequantize_row(
            GgmlType::Q8_0,
            &te_data[id * row_len..(id + 1) * row_len],
            out,
        )
        .unwrap();
    }
    assert_matches(reference_node(&log.nodes, "embd", "GET_ROWS"), &embd);

    // norm-0 = RMS_NORM(embd), with ggml_compute_forward_rms_norm_f32's arithmetic: squares
    // rounded to f32 and summed in f64, mean rounded to f32, scale = 1/sqrt(mean + eps).
    let eps = f
        .get_f32("llama.attention.layer_norm_rms_epsilon")
        .unwrap()
        .expect("rms eps");
    let mut norm = embd.clone();
    for row in norm.chunks_exact_mut(N_EMBD) {
        let sum: f64 = row.iter().map(|&v| f64::from(v * v)).sum();
        let mean = (sum / N_EMBD as f64) as f32;
        let scale = 1.0 / (mean + eps).sqrt();
        row.iter_mut().for_each(|v| *v *= scale);
    }
    assert_matches(reference_node(&log.nodes, "norm-0", "RMS_NORM"), &norm);

    // attn_norm-0 = norm-0 · blk.0.attn_norm.weight (broadcast over tokens)
    let w_norm = f32_tensor(&f, "blk.0.attn_norm.weight");
    let attn_norm: Vec<f32> = norm
        .iter()
        .enumerate()
        .map(|(i, &v)| v * w_norm[i % N_EMBD])
        .collect();
    assert_matches(reference_node(&log.nodes, "attn_norm-0", "MUL"), &attn_norm);

    // The projections: attn_norm-0 quantized to Q8_1 once, then one vec_dot per output.
    let kernel = DotKernel::new(GgmlType::Q4_1).unwrap();
    let (w_len, a_len) = kernel.row_bytes(N_EMBD).unwrap();
    let mut acts = vec![0u8; a_len * tokens.len()];
    for (a, x) in acts
        .chunks_exact_mut(a_len)
        .zip(attn_norm.chunks_exact(N_EMBD))
    {
        kernel.quantize_row(x, a).unwrap();
    }
    for (node, weight) in [
        ("Qcur-0", "blk.0.attn_q.weight"),
        ("Kcur-0", "blk.0.attn_k.weight"),
        ("Vcur-0", "blk.0.attn_v.weight"),
    ] {
        let w = f.tensor(weight).expect("projection weight");
        assert_eq!(w.ty, Ok(GgmlType::Q4_1), "{weight}");
        let rows = w.ne[1] as usize;
        let data = f.tensor_data(w).expect("weight data");
        let mut out = vec![0f32; rows * tokens.len()]; // [rows, n_tokens]
        for (o, a) in out.chunks_exact_mut(rows).zip(acts.chunks_exact(a_len)) {
            kernel
                .vec_dot_rows(N_EMBD, &data[..rows * w_len], a, o)
                .unwrap();
        }
        assert_matches(reference_node(&log.nodes, node, "MUL_MAT"), &out);
    }
}
