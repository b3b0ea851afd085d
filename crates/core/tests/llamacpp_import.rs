//! Importing llama.cpp's reference dumps of SmolLM2-135M Q4_1 into graph documents.

use std::path::PathBuf;

use tt_core::graph::Group;
use tt_core::llamacpp_import::{self, SOURCE};
use tt_core::llamacpp_log;
use tt_core::trace::GraphDoc;
use tt_core::GgmlType;

fn import(name: &str) -> GraphDoc {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/reference/smollm2")
        .join(name);
    let log = llamacpp_log::parse_file(&path).unwrap();
    llamacpp_import::to_graph_doc(&log, Some(name)).unwrap()
}

fn node<'a>(doc: &'a GraphDoc, name: &str, op: &str) -> &'a tt_core::trace::TensorDoc {
    doc.nodes
        .iter()
        .map(|&i| &doc.tensors[i as usize])
        .find(|t| t.name == name && t.op == op)
        .unwrap_or_else(|| panic!("no {op} node named {name}"))
}

#[test]
fn fa_off_import_links_names_layers_and_hparams() {
    let doc = import("eval-callback-fa-off.log");
    assert_eq!(doc.nodes.len(), 1086);
    for (i, t) in doc.tensors.iter().enumerate() {
        assert_eq!(t.id as usize, i);
        for s in t.src.iter().flatten() {
            assert!(*s < t.id, "{}: source {s} is not earlier", t.name);
        }
    }
    assert_eq!(doc.model.source, SOURCE);
    let h = &doc.model.hparams;
    assert_eq!(h["embedding_length"], 576);
    assert_eq!(h["vocab_size"], 49152);
    assert_eq!(h["block_count"], 30);
    assert_eq!(h["attention.head_count"], 9);
    assert_eq!(h["attention.head_count_kv"], 3);
    assert_eq!(h["attention.key_length"], 64);
    assert_eq!(h["feed_forward_length"], 1536);
    let run = doc.run.as_ref().unwrap();
    assert!(!run.flash_attn);
    assert_eq!((run.n_ctx, run.n_kv, run.n_threads), (8192, 256, 2));
    let ids: Vec<u32> = run.tokens.iter().map(|t| t.id).collect();
    assert_eq!(ids, [504, 3575, 282, 4649, 314]);

    // embd = GET_ROWS(token_embd.weight, inp_tokens): two synthesized leaves.
    let embd = node(&doc, "embd", "GET_ROWS");
    let w = &doc.tensors[embd.src[0].unwrap() as usize];
    assert_eq!(
        (w.name.as_str(), w.kind.as_str(), w.ne),
        ("token_embd.weight", "weight", [576, 49152, 1, 1])
    );
    assert_eq!(w.params["type_known"], false);
    let toks = &doc.tensors[embd.src[1].unwrap() as usize];
    assert_eq!((toks.kind.as_str(), toks.ty), ("input", GgmlType::I32));
    let p = embd.printed.as_ref().unwrap();
    assert_eq!(p.sum, Some(-7.908967));
    assert_eq!((p.coords[0], p.values[0]), ([0, 0, 0, 0], 0.1096));
    assert_eq!(embd.group, Group::Embedding);

    // Qcur-0: MUL_MAT → RESHAPE → ROPE, each linked to the previous one of that name.
    let mm = node(&doc, "Qcur-0", "MUL_MAT");
    let rs = node(&doc, "Qcur-0", "RESHAPE");
    let rope = node(&doc, "Qcur-0", "ROPE");
    assert_eq!(rs.src[0], Some(mm.id));
    assert_eq!(rope.src[0], Some(rs.id));
    assert_eq!(rs.view_src, Some(mm.id));
    assert_eq!((rope.layer, rope.group), (Some(0), Group::Query));

    // The KV write is a view of the f16 cache leaf, which the attention's VIEW reads.
    let set = node(&doc, "cache_k_l0 (view)", "SET_ROWS");
    let cache = &doc.tensors[set.view_src.unwrap() as usize];
    assert_eq!(
        (cache.name.as_str(), cache.kind.as_str(), cache.ty),
        ("cache_k_l0", "cache", GgmlType::F16)
    );
    let view = node(&doc, "cache_k_l0 (view)", "VIEW");
    assert_eq!(view.src[0], Some(cache.id));
    assert_eq!(view.group, Group::KvCache);

    // The last layer's unnamed GET_ROWS: layer and group of their source.
    let g = node(&doc, "node_1073", "GET_ROWS");
    assert_eq!(g.layer, Some(29));
    let out = node(&doc, "result_output", "MUL_MAT");
    assert_eq!(
        doc.tensors[out.src[0].unwrap() as usize].id,
        w.id,
        "tied output"
    );
}

#[test]
fn fa_on_import_has_the_fused_attention_in_layer_0() {
    let doc = import("eval-callback-fa-on.log");
    assert_eq!(doc.nodes.len(), 936);
    assert!(doc.run.as_ref().unwrap().flash_attn);
    let fa = node(&doc, "node_21", "FLASH_ATTN_EXT");
    assert_eq!(
        (fa.layer, fa.group, fa.exec_index),
        (Some(0), Group::Attention, Some(21))
    );
    let q = &doc.tensors[fa.src[0].unwrap() as usize];
    assert_eq!(q.name, "Qcur-0 (view) (permuted)");
}

#[test]
fn imported_doc_survives_json_round_trip() {
    let doc = import("eval-callback-fa-on.log");
    let json = serde_json::to_string(&doc).unwrap();
    let back: GraphDoc = serde_json::from_str(&json).unwrap();
    assert_eq!(back.tensors.len(), doc.tensors.len());
    let (a, b) = (&doc.tensors[5], &back.tensors[5]);
    assert_eq!(a.printed, b.printed);
    assert!(json.contains("\"printed\""));
    // Tensors without printed values do not carry the key at all (format unchanged for them).
    let w = serde_json::to_value(
        &doc.tensors[doc.tensors.iter().position(|t| t.kind == "weight").unwrap()],
    )
    .unwrap();
    assert!(w.get("printed").is_none());
}

#[test]
fn printed_non_finite_values_round_trip_as_strings() {
    let text = "common_debug_cb_eval: x = (f32)        ADD(a{3, 1, 1, 1}, b{3, 1, 1, 1}}) = {3, 1, 1, 1}\n    [\n        [\n            [         nan,         inf,        -inf  ],\n        ],\n    ]\n    sum = nan\n";
    let doc = llamacpp_import::to_graph_doc(&llamacpp_log::parse(text).unwrap(), None).unwrap();
    let json = serde_json::to_string(&doc).unwrap();
    assert!(
        json.contains(r#""values":["nan","inf","-inf"],"sum":"nan""#),
        "{json}"
    );
    let back: GraphDoc = serde_json::from_str(&json).unwrap();
    let p = back.tensors[back.nodes[0] as usize]
        .printed
        .clone()
        .unwrap();
    assert!(
        p.values[0].is_nan() && p.values[1] == f32::INFINITY && p.values[2] == f32::NEG_INFINITY
    );
    assert!(p.sum.unwrap().is_nan());
}
