//! Executor tests on small hand-built graphs, checked against naive f64 arithmetic.

use super::*;
use crate::capture::{Capture, NoCapture};
use crate::graph::{Group, InputKind};
use crate::op::GluOp;

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    bytemuck::cast_slice(v).to_vec()
}

fn weight(g: &mut Graph, w: &mut MemoryWeights, name: &str, ne: [i64; 4], v: &[f32]) -> TensorId {
    w.insert(name, GgmlType::F32, ne.map(|n| n as u64), f32_bytes(v));
    g.new_leaf(name, Leaf::Weight, GgmlType::F32, ne, Group::Mlp)
}

fn values(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
            ((s >> 9) % 2000) as f32 / 1000.0 - 1.0
        })
        .collect()
}

fn no_progress() -> impl FnMut(usize, usize) {
    |_, _| {}
}

/// embd → rms_norm → ·norm weight → W1 → swiglu(gate, up) → W2 → + embd, against f64.
#[test]
fn a_small_mlp_matches_naive_arithmetic() {
    let (d, h, vocab) = (8usize, 16usize, 5usize);
    let mut g = Graph::new();
    let mut w = MemoryWeights::new();
    let table = values(d * vocab, 1);
    let (wg, wu, wd, nw) = (
        values(d * h, 2),
        values(d * h, 3),
        values(h * d, 4),
        values(d, 5),
    );
    let tok = weight(
        &mut g,
        &mut w,
        "tok",
        [d as i64, vocab as i64, 1, 1],
        &table,
    );
    let norm_w = weight(&mut g, &mut w, "norm", [d as i64, 1, 1, 1], &nw);
    let gate_w = weight(&mut g, &mut w, "gate", [d as i64, h as i64, 1, 1], &wg);
    let up_w = weight(&mut g, &mut w, "up", [d as i64, h as i64, 1, 1], &wu);
    let down_w = weight(&mut g, &mut w, "down", [h as i64, d as i64, 1, 1], &wd);
    let ids = g.new_leaf(
        "inp_tokens",
        Leaf::Input(InputKind::Tokens),
        GgmlType::I32,
        [3, 1, 1, 1],
        Group::Input,
    );
    let embd = g.get_rows(tok, ids);
    let n = g.rms_norm(embd, 1e-5);
    let x = g.mul(n, norm_w);
    let gate = g.mul_mat(gate_w, x);
    let up = g.mul_mat(up_w, x);
    let act = g.glu_split(GluOp::Swiglu, gate, up);
    let down = g.mul_mat(down_w, act);
    let out = g.add(down, embd);
    g.build_forward_expand(out);

    let tokens = [4i32, 0, 2];
    let mut ex = Executor::new(&g, &w, ExecOptions::default()).unwrap();
    ex.set_input_i32(ids, &tokens).unwrap();
    let mut cap = Capture::default();
    let report = ex.run(&mut cap, &mut no_progress()).unwrap();
    assert_eq!(report.nodes, 8);
    let got = ex.output_f32(out).unwrap();

    // every output is one thread's work: the thread count does not change a bit
    for n_threads in [1, 3] {
        let mut ex = Executor::new(&g, &w, ExecOptions { n_threads }).unwrap();
        ex.set_input_i32(ids, &tokens).unwrap();
        ex.run(&mut NoCapture, &mut no_progress()).unwrap();
        assert_eq!(ex.output_f32(out).unwrap(), got, "{n_threads} threads");
    }

    let mut worst = 0.0f64;
    for (t, &tk) in tokens.iter().enumerate() {
        let e: Vec<f64> = (0..d)
            .map(|i| f64::from(table[tk as usize * d + i]))
            .collect();
        let rms = (e.iter().map(|v| v * v).sum::<f64>() / d as f64 + 1e-5).sqrt();
        let xv: Vec<f64> = (0..d).map(|i| e[i] / rms * f64::from(nw[i])).collect();
        let a: Vec<f64> = (0..h)
            .map(|j| {
                let gj: f64 = (0..d).map(|i| f64::from(wg[j * d + i]) * xv[i]).sum();
                let uj: f64 = (0..d).map(|i| f64::from(wu[j * d + i]) * xv[i]).sum();
                gj / (1.0 + (-gj).exp()) * uj
            })
            .collect();
        for i in 0..d {
            let o: f64 = (0..h).map(|j| f64::from(wd[i * h + j]) * a[j]).sum::<f64>() + e[i];
            worst = worst.max((f64::from(got[t * d + i]) - o).abs());
        }
    }
    assert!(worst < 1e-5, "largest difference {worst}");

    // the capture saw every node; embd's sum is the f32 sum of its values in order
    let embd_stats = cap.get(embd).unwrap().stats.clone().unwrap();
    let (embd_vals, ne, complete) = cap.values(embd).unwrap();
    assert_eq!((ne, complete), ([d as i64, 3, 1, 1], true));
    assert_eq!(
        embd_stats.sum,
        f64::from(embd_vals.iter().fold(0.0f32, |s, &v| s + v))
    );
    // intermediate buffers were freed: never all eight results at once
    let all: usize = g.nodes.iter().map(|&n| g.get(n).n_bytes()).sum();
    assert!(
        report.peak_bytes < all + 12,
        "peak {} vs {all}",
        report.peak_bytes
    );
}

/// A K-style cache [4, 1024] f16: three rows written, an 8-cell view read by MUL_MAT. Only the
/// 8 cells are allocated; the SET_ROWS node still reports on all 1024 rows.
#[test]
fn a_k_cache_allocates_only_the_cells_in_use() {
    let mut g = Graph::new();
    let w = MemoryWeights::new();
    let cache = g.new_leaf(
        "cache_k_l0",
        Leaf::Cache,
        GgmlType::F16,
        [4, 1024, 1, 1],
        Group::KvCache,
    );
    let k = g.new_leaf(
        "k",
        Leaf::Input(InputKind::Tokens),
        GgmlType::F32,
        [4, 3, 1, 1],
        Group::Key,
    );
    let idx = g.new_leaf(
        "k_idxs",
        Leaf::Input(InputKind::KIdxs),
        GgmlType::I64,
        [3, 1, 1, 1],
        Group::Input,
    );
    let q = g.new_leaf(
        "q",
        Leaf::Input(InputKind::Tokens),
        GgmlType::F32,
        [4, 2, 1, 1],
        Group::Query,
    );
    let written = g.set_rows(cache, k, idx);
    g.build_forward_expand(written);
    let view = g.view(cache, [4, 8, 1, 1], [2, 8, 64, 64], 0);
    let kq = g.mul_mat(view, q);
    g.build_forward_expand(kq);

    let kv = values(12, 7);
    let qv = values(8, 8);
    let mut ex = Executor::new(&g, &w, ExecOptions::default()).unwrap();
    ex.set_input_f32(k, &kv).unwrap();
    ex.set_input_i64(idx, &[0, 1, 2]).unwrap();
    ex.set_input_f32(q, &qv).unwrap();
    let mut cap = Capture::default();
    let report = ex.run(&mut cap, &mut no_progress()).unwrap();
    assert_eq!(
        (report.cache_bytes, report.cache_logical_bytes),
        (8 * 8, 1024 * 8)
    );

    // K is stored as f16, and the query is converted to f16 (the f16 dot product's type)
    let rounded: Vec<f32> = kv.iter().map(|&v| f16::from_f32(v).to_f32()).collect();
    let q16: Vec<f32> = qv.iter().map(|&v| f16::from_f32(v).to_f32()).collect();
    let got = ex.output_f32(kq).unwrap();
    for t in 0..2 {
        for c in 0..8 {
            let expect: f32 = if c < 3 {
                (0..4).map(|i| rounded[c * 4 + i] * q16[t * 4 + i]).sum()
            } else {
                0.0
            };
            assert!(
                (got[t * 8 + c] - expect).abs() < 1e-6,
                "t{t} c{c}: {} vs {expect}",
                got[t * 8 + c]
            );
        }
    }
    let s = cap.get(written).unwrap().stats.clone().unwrap();
    assert_eq!(s.n, 4096);
    assert_eq!(s.sum, f64::from(rounded.iter().fold(0.0f32, |a, &v| a + v)));
    assert_eq!(ex.output_f32(written).unwrap().len(), 4096);
}

/// A V cache stored transposed (flash attention off): [4 channels, 64 cells] seen as 256 single
/// elements, written one element per (channel, cell), read as [8 cells, 4 channels]. Only the
/// first 8 cells of each channel row are allocated.
#[test]
fn a_transposed_v_cache_keeps_a_window_per_channel() {
    let mut g = Graph::new();
    let w = MemoryWeights::new();
    let cache = g.new_leaf(
        "cache_v_l0",
        Leaf::Cache,
        GgmlType::F16,
        [4, 64, 1, 1],
        Group::KvCache,
    );
    let v = g.new_leaf(
        "v",
        Leaf::Input(InputKind::Tokens),
        GgmlType::F32,
        [4, 3, 1, 1],
        Group::Value,
    );
    let idx = g.new_leaf(
        "v_idxs",
        Leaf::Input(InputKind::VIdxs),
        GgmlType::I64,
        [12, 1, 1, 1],
        Group::Input,
    );
    let p = g.new_leaf(
        "p",
        Leaf::Input(InputKind::Tokens),
        GgmlType::F32,
        [8, 2, 1, 1],
        Group::Attention,
    );
    let flat_v = g.reshape(v, [1, 12, 1, 1]);
    let flat_cache = g.reshape(cache, [1, 256, 1, 1]);
    let written = g.set_rows(flat_cache, flat_v, idx);
    g.build_forward_expand(written);
    // [8 cells, 4 channels]: cell stride 2 bytes, channel stride 64 cells · 2 bytes
    let view = g.view(cache, [8, 4, 1, 1], [2, 128, 512, 512], 0);
    let out = g.mul_mat(view, p);
    g.build_forward_expand(out);

    let vv = values(12, 11);
    let pv = values(16, 12);
    // element (channel c, token t) goes to cell t of channel row c
    let dest: Vec<i64> = (0..3)
        .flat_map(|t| (0..4).map(move |c| c * 64 + t))
        .collect();
    let mut ex = Executor::new(&g, &w, ExecOptions::default()).unwrap();
    ex.set_input_f32(v, &vv).unwrap();
    ex.set_input_i64(idx, &dest).unwrap();
    ex.set_input_f32(p, &pv).unwrap();
    let mut cap = Capture::default();
    let report = ex.run(&mut cap, &mut no_progress()).unwrap();
    assert_eq!(
        report.cache_bytes,
        4 * 8 * 2,
        "8 cells of each of the 4 channel rows"
    );

    let got = ex.output_f32(out).unwrap();
    for t in 0..2 {
        for c in 0..4 {
            let h = |x: f32| f16::from_f32(x).to_f32();
            let expect: f32 = (0..3)
                .map(|cell| h(vv[cell * 4 + c]) * h(pv[t * 8 + cell]))
                .sum();
            assert!((got[t * 4 + c] - expect).abs() < 1e-5, "t{t} c{c}");
        }
    }
    let s = cap.get(written).unwrap().stats.clone().unwrap();
    assert_eq!(s.n, 256);
    // stored values: the kept window, 8 cells × 4 channel rows
    let (_, ne, complete) = cap.values(written).unwrap();
    assert_eq!((ne, complete), ([8, 4, 1, 1], false));
}

#[test]
fn a_weight_type_without_kernel_is_named_in_the_error() {
    let mut g = Graph::new();
    let mut w = MemoryWeights::new();
    w.insert(
        "blk.0.attn_q.weight",
        GgmlType::IQ2_XXS,
        [256, 2, 1, 1],
        vec![0; 2 * 66],
    );
    let a = g.new_leaf(
        "blk.0.attn_q.weight",
        Leaf::Weight,
        GgmlType::IQ2_XXS,
        [256, 2, 1, 1],
        Group::Query,
    );
    let x = g.new_leaf(
        "x",
        Leaf::Input(InputKind::Tokens),
        GgmlType::F32,
        [256, 1, 1, 1],
        Group::Input,
    );
    let q = g.mul_mat(a, x);
    g.cb(q, "Qcur", Some(0), Group::Query);
    g.build_forward_expand(q);
    let err = Executor::new(&g, &w, ExecOptions::default())
        .err()
        .expect("iq2_xxs has no dot product here");
    let msg = err.to_string();
    assert!(
        msg.contains("blk.0.attn_q.weight") && msg.contains("iq2_xxs") && msg.contains("Qcur-0"),
        "{msg}"
    );
}

#[test]
fn missing_and_mismatched_weights_and_unset_inputs_are_errors() {
    let mut g = Graph::new();
    let mut w = MemoryWeights::new();
    let a = g.new_leaf("w", Leaf::Weight, GgmlType::F32, [2, 2, 1, 1], Group::Mlp);
    let x = g.new_leaf(
        "x",
        Leaf::Input(InputKind::Tokens),
        GgmlType::F32,
        [2, 1, 1, 1],
        Group::Input,
    );
    let y = g.mul_mat(a, x);
    g.build_forward_expand(y);
    assert!(matches!(
        Executor::new(&g, &w, ExecOptions::default()),
        Err(ExecError::MissingWeight { .. })
    ));
    w.insert("w", GgmlType::F32, [2, 3, 1, 1], vec![0; 24]);
    assert!(matches!(
        Executor::new(&g, &w, ExecOptions::default()),
        Err(ExecError::WeightMismatch { .. })
    ));
    w.insert(
        "w",
        GgmlType::F32,
        [2, 2, 1, 1],
        f32_bytes(&[1.0, 2.0, 3.0, 4.0]),
    );
    let mut ex = Executor::new(&g, &w, ExecOptions::default()).unwrap();
    assert!(matches!(
        ex.run(&mut NoCapture, &mut no_progress()),
        Err(ExecError::InputNotSet { .. })
    ));
    assert!(matches!(
        ex.set_input_f32(x, &[1.0]),
        Err(ExecError::InputMismatch { .. })
    ));
    assert!(matches!(
        ex.set_input_i32(x, &[1, 2]),
        Err(ExecError::InputMismatch { .. })
    ));
    assert!(matches!(
        ex.set_input_f32(a, &[1.0; 4]),
        Err(ExecError::NotAnInput { .. })
    ));
    ex.set_input_f32(x, &[1.0, 1.0]).unwrap();
    let mut seen = Vec::new();
    ex.run(&mut NoCapture, &mut |i, n| seen.push((i, n)))
        .unwrap();
    assert_eq!(seen, [(1, 1)]);
    assert_eq!(ex.output_f32(y).unwrap(), [3.0, 7.0]);
}

#[test]
fn a_row_index_outside_the_cache_is_a_node_error() {
    let mut g = Graph::new();
    let w = MemoryWeights::new();
    let cache = g.new_leaf(
        "cache_k_l0",
        Leaf::Cache,
        GgmlType::F16,
        [2, 4, 1, 1],
        Group::KvCache,
    );
    let k = g.new_leaf(
        "k",
        Leaf::Input(InputKind::Tokens),
        GgmlType::F32,
        [2, 1, 1, 1],
        Group::Key,
    );
    let idx = g.new_leaf(
        "k_idxs",
        Leaf::Input(InputKind::KIdxs),
        GgmlType::I64,
        [1, 1, 1, 1],
        Group::Input,
    );
    let s = g.set_rows(cache, k, idx);
    g.build_forward_expand(s);
    let mut ex = Executor::new(&g, &w, ExecOptions::default()).unwrap();
    ex.set_input_f32(k, &[1.0, 2.0]).unwrap();
    ex.set_input_i64(idx, &[9]).unwrap();
    let err = ex.run(&mut NoCapture, &mut no_progress()).unwrap_err();
    let ExecError::Kernel { source, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(
        **source,
        KernelError::IndexOutOfRange {
            op: "SET_ROWS",
            index: 9,
            rows: 4
        }
    );
}

/// When a kernel reads the whole SET_ROWS result, the cache cannot be windowed: it is
/// allocated whole, and the reader sees every row.
#[test]
fn a_cache_read_whole_by_a_kernel_is_allocated_whole() {
    let mut g = Graph::new();
    let w = MemoryWeights::new();
    let cache = g.new_leaf(
        "cache",
        Leaf::Cache,
        GgmlType::F32,
        [2, 64, 1, 1],
        Group::KvCache,
    );
    let rows = g.new_leaf(
        "rows",
        Leaf::Input(InputKind::Tokens),
        GgmlType::F32,
        [2, 1, 1, 1],
        Group::Key,
    );
    let idx = g.new_leaf(
        "idx",
        Leaf::Input(InputKind::KIdxs),
        GgmlType::I64,
        [1, 1, 1, 1],
        Group::Input,
    );
    let written = g.set_rows(cache, rows, idx);
    let doubled = g.scale(written, 2.0);
    g.build_forward_expand(doubled);
    let mut ex = Executor::new(&g, &w, ExecOptions::default()).unwrap();
    ex.set_input_f32(rows, &[1.5, -2.0]).unwrap();
    ex.set_input_i64(idx, &[63]).unwrap();
    let report = ex.run(&mut NoCapture, &mut no_progress()).unwrap();
    assert_eq!(report.cache_bytes, report.cache_logical_bytes);
    let out = ex.output_f32(doubled).unwrap();
    assert_eq!(&out[126..], &[3.0, -4.0]);
    assert!(out[..126].iter().all(|&v| v == 0.0));
}
