//! The built-in LLaMA 3.1/3.2 presets: published sizes, the graph's shapes and node counts, the
//! llama3 RoPE factors, and how fast a 405B graph builds (no file is involved anywhere).

use std::time::Instant;

use tt_core::{GgmlType, Graph, Group, Op, TensorId};
use tt_models::{presets, BuildOptions, ModelGraph};

fn build(id: &str, flash_attn: bool) -> ModelGraph {
    let spec = presets::get(id).unwrap_or_else(|| panic!("preset {id} exists"));
    let opts = BuildOptions {
        flash_attn,
        ..BuildOptions::new(presets::DEFAULT_PROMPT_TOKENS.len() as u32)
    };
    spec.build_graph(&opts).expect("preset graphs build")
}

/// Nodes named `name`, in execution order.
fn named<'g>(g: &'g Graph, name: &str) -> Vec<&'g tt_core::Tensor> {
    g.nodes
        .iter()
        .map(|&id| g.get(id))
        .filter(|t| t.name == name)
        .collect()
}

fn node_count(n_layer: usize, flash_attn: bool) -> usize {
    // embd; per layer 31 nodes with flash attention, 36 without (kq, kq_soft_max, kqv and its
    // permute and cont instead of one FLASH_ATTN_EXT and a reshape; V written transposed);
    // 2 GET_ROWS by out_ids in the last layer; norm, result_norm, result_output.
    let per_layer = if flash_attn { 31 } else { 36 };
    1 + n_layer * per_layer + 2 + 3
}

#[test]
fn presets_are_listed_default_first() {
    let ids: Vec<&str> = presets::list().iter().map(|p| p.id).collect();
    assert_eq!(
        ids,
        [
            "llama-3.1-8b",
            "llama-3.1-70b",
            "llama-3.1-405b",
            "llama-3.2-1b",
            "llama-3.2-3b"
        ]
    );
    assert_eq!(presets::DEFAULT_ID, ids[0]);
    assert!(presets::get("llama-2-7b").is_none());
    for p in presets::list() {
        let spec = presets::get(p.id).expect("listed presets exist");
        assert_eq!(spec.name, p.name);
    }
}

#[test]
fn parameter_counts_are_the_published_ones() {
    // Hugging Face parameter counts (safetensors metadata) of meta-llama/Llama-3.1-{8B,70B,
    // 405B} and Llama-3.2-{1B,3B}; the GGUF adds rope_freqs.weight (head_dim/2 values).
    for (id, published, head_dim) in [
        ("llama-3.1-8b", 8_030_261_248u64, 128),
        ("llama-3.1-70b", 70_553_706_496, 128),
        ("llama-3.1-405b", 405_853_388_800, 128),
        ("llama-3.2-1b", 1_235_814_400, 64),
        ("llama-3.2-3b", 3_212_749_824, 128),
    ] {
        let spec = presets::get(id).unwrap();
        assert_eq!(spec.weights.n_params(), published + head_dim / 2, "{id}");
        let types = spec.weights.types();
        assert_eq!(
            types.keys().copied().collect::<Vec<_>>(),
            [GgmlType::F32, GgmlType::BF16]
        );
    }
}

#[test]
fn llama_3_1_8b_graph_has_32_layers_of_the_right_shapes() {
    let n_tokens = 6;
    let mg = build("llama-3.1-8b", false);
    let g = &mg.graph;
    assert_eq!(g.nodes.len(), node_count(32, false));
    assert_eq!(g.nodes.len(), 1158);
    for il in 0..32 {
        let q = named(g, &format!("Qcur-{il}"));
        assert_eq!(q.len(), 3, "Qcur-{il}: MUL_MAT, RESHAPE, ROPE");
        assert_eq!(q[0].ne, [4096, n_tokens, 1, 1]);
        assert_eq!(q[2].ne, [128, 32, n_tokens, 1]);
        let k = named(g, &format!("Kcur-{il}"));
        assert_eq!(k[2].ne, [128, 8, n_tokens, 1]);
        let kq = named(g, &format!("kq-{il}"));
        assert_eq!(
            kq[0].ne,
            [256, n_tokens, 32, 1],
            "scores over n_kv = 256 cells"
        );
        let sm = named(g, &format!("kq_soft_max-{il}"));
        assert_eq!(
            sm[0].op,
            Op::SoftMax {
                scale: 1.0 / 128f32.sqrt(),
                max_bias: 0.0
            }
        );
        // The last layer's FFN runs on the one output row only.
        let rows = if il == 31 { 1 } else { n_tokens };
        let up = named(g, &format!("ffn_up-{il}"));
        assert_eq!(up[0].ne, [14336, rows, 1, 1]);
        let out = named(g, &format!("l_out-{il}"));
        assert_eq!(out[0].ne, [4096, rows, 1, 1]);
    }
    let cache = g.get(mg.cache[0].k);
    assert_eq!(
        (cache.name.as_str(), cache.ne),
        ("cache_k_l0", [1024, 131072, 1, 1])
    );
    let v_write = named(g, "cache_v_l0 (reshaped) (view)");
    assert_eq!(v_write[0].op, Op::SetRows);
    assert_eq!(g.get(v_write[0].src[1].unwrap()).ne, [6 * 1024, 1, 1, 1]);
    let mask = g.get(mg.inputs.kq_mask);
    assert_eq!((mask.ty, mask.ne), (GgmlType::F32, [256, n_tokens, 1, 1]));
    let logits = g.get(mg.output);
    assert_eq!(
        (logits.name.as_str(), logits.ne),
        ("result_output", [128256, 1, 1, 1])
    );
    assert_eq!(g.get(logits.src[0].unwrap()).name, "output.weight");
}

#[test]
fn every_rope_uses_the_llama3_frequency_factors() {
    let mg = build("llama-3.1-8b", true);
    let g = &mg.graph;
    assert_eq!(g.nodes.len(), node_count(32, true));
    let ropes: Vec<_> = g
        .nodes
        .iter()
        .map(|&id| g.get(id))
        .filter(|t| matches!(t.op, Op::Rope(_)))
        .collect();
    assert_eq!(ropes.len(), 64);
    for r in ropes {
        let f = g.get(r.src[2].expect("ROPE has frequency factors"));
        assert_eq!(
            (f.name.as_str(), f.ty, f.ne),
            ("rope_freqs.weight", GgmlType::F32, [64, 1, 1, 1])
        );
        let Op::Rope(p) = r.op else { unreachable!() };
        assert_eq!(
            (p.n_dims, p.mode, p.freq_base, p.freq_scale),
            (128, 0, 500000.0, 1.0)
        );
        assert_eq!(p.n_ctx_orig, 131072);
    }
    let fa = named(g, "node_21");
    assert_eq!(fa[0].op.name(), "FLASH_ATTN_EXT");
    assert_eq!(fa[0].ne, [128, 32, 6, 1]);
    assert_eq!(g.get(mg.inputs.kq_mask).ty, GgmlType::F16);
}

#[test]
fn llama3_rope_factors_match_the_converter() {
    // Computed independently with numpy in f32, following convert_hf_to_gguf.py.
    let f = presets::rope_freqs("llama-3.1-8b").unwrap();
    assert_eq!(f.len(), 64);
    assert!(
        f[..29].iter().all(|&x| x == 1.0),
        "high frequencies unscaled"
    );
    assert!(
        f[35..].iter().all(|&x| x == 8.0),
        "low frequencies scaled by 8"
    );
    let blend = [1.2074839, 1.5534146, 2.026313, 2.69453, 3.6842532, 5.257327];
    let worst = f[29..35]
        .iter()
        .zip(blend)
        .map(|(a, b)| (a - b).abs() / b)
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-6, "largest relative difference {worst:e}");

    let f = presets::rope_freqs("llama-3.2-1b").unwrap();
    assert_eq!(f.len(), 32);
    assert!(f[..15].iter().all(|&x| x == 1.0) && f[18..].iter().all(|&x| x == 32.0));
    let blend = [1.6513293, 3.2922628, 9.666731];
    let worst = f[15..18]
        .iter()
        .zip(blend)
        .map(|(a, b)| (a - b).abs() / b)
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-6, "largest relative difference {worst:e}");
}

#[test]
fn llama_3_2_ties_the_output_to_the_token_embeddings() {
    for (id, head) in [("llama-3.2-1b", 64), ("llama-3.2-3b", 128)] {
        let spec = presets::get(id).unwrap();
        assert!(spec.weights.get("output.weight").is_none(), "{id}");
        let mg = build(id, true);
        let g = &mg.graph;
        let logits = g.get(mg.output);
        assert_eq!(
            g.get(logits.src[0].unwrap()).name,
            "token_embd.weight",
            "{id}"
        );
        assert_eq!(named(g, "Qcur-0")[2].ne[0], head, "{id}");
    }
}

#[test]
fn every_node_has_a_group_layer_and_location() {
    let mg = build("llama-3.1-8b", false);
    let g = &mg.graph;
    let group_of = |name: &str| named(g, name)[0].group;
    assert_eq!(group_of("embd"), Group::Embedding);
    assert_eq!(group_of("attn_norm-3"), Group::Norm);
    assert_eq!(group_of("Qcur-3 (view) (permuted)"), Group::Query);
    assert_eq!(group_of("Kcur-3 (view)"), Group::Key);
    assert_eq!(group_of("Vcur-3 (reshaped) (reshaped)"), Group::Value);
    assert_eq!(group_of("cache_k_l3 (view)"), Group::KvCache);
    assert_eq!(group_of("cache_v_l3 (view) (permuted)"), Group::KvCache);
    assert_eq!(group_of("kq_soft_max-3"), Group::Attention);
    assert_eq!(group_of("kqv_out-3"), Group::Attention);
    assert_eq!(group_of("ffn_inp-3"), Group::Residual);
    assert_eq!(group_of("ffn_swiglu-3"), Group::Mlp);
    assert_eq!(group_of("l_out-3"), Group::Residual);
    assert_eq!(group_of("result_norm"), Group::Norm);
    assert_eq!(group_of("result_output"), Group::Output);
    for (i, &id) in g.nodes.iter().enumerate() {
        let t = g.get(id);
        assert_ne!(
            t.group,
            Group::Input,
            "node {i} '{}' has no group of its own",
            t.name
        );
        let loc = t.location.expect("every node is located");
        assert!(
            loc.file.ends_with("crates/models/src/llama.rs"),
            "node {i} '{}' at {}",
            t.name,
            loc.file
        );
        let in_layer = !matches!(
            t.name.as_str(),
            "embd" | "norm" | "result_norm" | "result_output"
        );
        assert_eq!(
            t.layer.is_some(),
            in_layer,
            "node {i} '{}' layer {:?}",
            t.name,
            t.layer
        );
    }
    let last: Vec<TensorId> = g
        .nodes
        .iter()
        .copied()
        .filter(|&id| g.get(id).layer == Some(31))
        .collect();
    assert_eq!(last.len(), 36 + 2);
}

#[test]
fn a_405b_graph_builds_in_milliseconds() {
    let spec = presets::get("llama-3.1-405b").unwrap();
    let opts = BuildOptions::new(6);
    let t0 = Instant::now();
    let mg = spec.build_graph(&opts).unwrap();
    let ms = t0.elapsed().as_secs_f64() * 1e3;
    eprintln!(
        "llama-3.1-405b: {} nodes, {} tensors in {ms:.1} ms",
        mg.graph.nodes.len(),
        mg.graph.tensors.len()
    );
    assert_eq!(mg.graph.nodes.len(), node_count(126, true));
    assert_eq!(mg.graph.nodes.len(), 3912);
    assert!(ms < 1000.0, "building took {ms:.1} ms");
}
