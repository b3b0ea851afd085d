//! Comparing llama.cpp's own runs: the FA-on and FA-off reference dumps of SmolLM2-135M Q4_1
//! are bit-identical up to layer 0's attention and differ from there on.

use std::path::PathBuf;

use tt_core::compare::{self, CompareError, NoValues, Side, Tolerance};
use tt_core::llamacpp_import;
use tt_core::llamacpp_log;
use tt_core::trace::GraphDoc;

fn import(name: &str) -> GraphDoc {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/reference/smollm2")
        .join(name);
    let log = llamacpp_log::parse_file(&path).unwrap();
    llamacpp_import::to_graph_doc(&log, Some(name)).unwrap()
}

fn side(doc: &GraphDoc) -> Side<'_> {
    Side {
        doc,
        values: &NoValues,
    }
}

#[test]
fn fa_on_vs_off_diverges_at_layer_0_attention() {
    let on = import("eval-callback-fa-on.log");
    let off = import("eval-callback-fa-off.log");
    let r = compare::compare(side(&on), side(&off), Tolerance::default()).unwrap();
    println!("{}", r.table(false, 3));
    // Everything before the attention output is identical to the printed digit, sums included.
    let fd = r.first_difference.expect("FA on and off differ");
    for d in &r.nodes[..fd] {
        assert!(!d.differs, "{} differs before the attention", d.name);
    }
    // The first matched node that differs is the attention output: RESHAPE of the fused
    // FLASH_ATTN_EXT (node_21) with FA on, CONT of the permuted KQV with FA off.
    let first = &r.nodes[fd];
    assert_eq!((first.name.as_str(), first.layer), ("kqv_out-0", Some(0)));
    assert_eq!(
        (first.op_a.as_str(), first.op_b.as_str()),
        ("RESHAPE", "CONT")
    );
    assert_ne!(first.sum_a, first.sum_b);
    // Beyond the 1e-3 relative tolerance from the attention's output projection on.
    let div = &r.nodes[r.first_divergence.unwrap()];
    assert_eq!(div.name, "attn_out-0");
    // The fused node and the separate KQ / softmax / KQV nodes exist on one side only.
    assert!(r
        .unmatched_a
        .iter()
        .any(|u| u.op == "FLASH_ATTN_EXT" && u.name == "node_21"));
    let only_off: Vec<&str> = r
        .unmatched_b
        .iter()
        .filter(|u| u.layer == Some(0))
        .map(|u| u.name.as_str())
        .collect();
    assert!(
        only_off.contains(&"kq-0") && only_off.contains(&"kq_soft_max-0"),
        "{only_off:?}"
    );
    // The final logits differ visibly (2.0051 vs 1.6181 at index 0).
    let logits = r.nodes.iter().find(|d| d.name == "result_output").unwrap();
    assert!(logits.diverged);
    // At least the difference at index 0; the largest printed one is elsewhere.
    assert!(
        logits.max_abs >= 0.387 - 1e-6,
        "logits max abs diff {}",
        logits.max_abs
    );
    // The unnamed GET_ROWS of the last layer are matched by op and sources despite new indices.
    let g = r
        .nodes
        .iter()
        .find(|d| d.op_a == "GET_ROWS" && d.name.starts_with("node_"))
        .unwrap();
    assert_ne!(g.exec_a, g.exec_b);
}

#[test]
fn identical_logs_do_not_diverge() {
    let on = import("eval-callback-fa-on.log");
    let r = compare::compare(side(&on), side(&on), Tolerance::default()).unwrap();
    assert_eq!(r.nodes.len(), 936);
    assert!(r.first_divergence.is_none());
    assert!(r
        .nodes
        .iter()
        .all(|d| d.max_abs == 0.0 && d.cosine.is_some_and(|c| (c - 1.0).abs() < 1e-12)));
}

#[test]
fn different_models_are_refused() {
    let on = import("eval-callback-fa-on.log");
    let mut other = on.clone();
    other
        .model
        .hparams
        .insert("embedding_length".into(), 4096.into());
    let e = compare::compare(side(&on), side(&other), Tolerance::default()).unwrap_err();
    assert!(matches!(e, CompareError::DifferentModels { .. }));
    assert!(e.to_string().contains("embedding_length"), "{e}");
}
