//! The eval-callback log parser on llama.cpp's real dumps of SmolLM2-135M Q4_1
//! (testdata/reference/smollm2, copied from the team's reference set).

use std::path::PathBuf;
use std::time::Instant;

use tt_core::llamacpp_log::{self, LogError, LogFlavor, LogType};
use tt_core::GgmlType;

fn reference(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/reference/smollm2")
        .join(name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(reference(name)).expect("testdata/reference is part of the repo")
}

#[test]
fn fa_off_log_has_1086_nodes_and_exact_first_node() {
    let log = llamacpp_log::parse(&read("eval-callback-fa-off.log")).unwrap();
    assert_eq!(log.flavor, LogFlavor::Current);
    assert_eq!(log.nodes.len(), 1086);
    assert_eq!(log.tokens, vec![504, 3575, 282, 4649, 314]);
    assert_eq!(log.n_threads, Some(2));
    let n = &log.nodes[0];
    assert_eq!(n.name, "embd");
    assert_eq!(n.op, "GET_ROWS");
    assert_eq!(n.ty, LogType::Ggml(GgmlType::F32));
    assert_eq!(n.ne, [576, 5, 1, 1]);
    assert_eq!(n.sum, Some(-7.908967));
    assert_eq!(n.preview[0], ([0, 0, 0, 0], 0.1096));
    // Second row, last value: [575, 1].
    assert_eq!(n.preview[11], ([575, 1, 0, 0], 0.2451));
    assert_eq!(n.preview.len(), 30);

    // kq-0 [256, 5, 9, 1]: i2 elided to 0, 1, 2, 6, 7, 8.
    let kq = log.nodes.iter().find(|n| n.name == "kq-0").unwrap();
    assert_eq!(kq.ne, [256, 5, 9, 1]);
    assert_eq!(kq.preview.len(), 180);
    assert_eq!(kq.preview[0], ([0, 0, 0, 0], 32.0493));
    assert_eq!(kq.preview[90], ([0, 0, 6, 0], 28.5975));
    assert_eq!(
        kq.srcs[0],
        ("cache_k_l0 (view) (permuted)".to_string(), [64, 256, 3, 1])
    );
    assert_eq!(
        kq.srcs[1],
        ("Qcur-0 (view) (permuted)".to_string(), [64, 5, 9, 1])
    );

    // A name with two suffixes and a missing src1; the 960-row V write.
    let v = log
        .nodes
        .iter()
        .find(|n| n.name == "cache_v_l0 (reshaped) (view)")
        .unwrap();
    assert_eq!(v.op, "SET_ROWS");
    assert_eq!(v.ty, LogType::Ggml(GgmlType::F16));
    assert_eq!(v.ne, [1, 1572864, 1, 1]);
    assert_eq!(v.preview[3], ([0, 1572861, 0, 0], 0.0));
    let norm = &log.nodes[1];
    assert_eq!(norm.op, "RMS_NORM");
    assert_eq!(norm.srcs, vec![("embd".to_string(), [576, 5, 1, 1])]);

    let last = log.nodes.last().unwrap();
    assert_eq!(last.name, "result_output");
    assert_eq!(last.ne, [49152, 1, 1, 1]);
    assert_eq!(last.preview[0].1, 1.6181);
    assert_eq!(last.sum, Some(-90553.0));
}

#[test]
fn fa_on_log_has_936_nodes_and_the_fused_attention() {
    let log = llamacpp_log::parse(&read("eval-callback-fa-on.log")).unwrap();
    assert_eq!(log.nodes.len(), 936);
    let fa = &log.nodes[21];
    assert_eq!(fa.name, "node_21");
    assert_eq!(fa.op, "FLASH_ATTN_EXT");
    assert_eq!(fa.ne, [64, 9, 5, 1]);
    assert_eq!(log.nodes.last().unwrap().preview[0].1, 2.0051);
}

#[test]
fn parse_is_fast() {
    let text = read("eval-callback-fa-off.log");
    let lines = text.lines().count();
    // Best of 3, to keep a busy machine from failing the test.
    let best = (0..3)
        .map(|_| {
            let t = Instant::now();
            let log = llamacpp_log::parse(&text).unwrap();
            assert_eq!(log.nodes.len(), 1086);
            t.elapsed()
        })
        .min()
        .unwrap();
    eprintln!("parsed {lines} lines in {best:?}");
    assert!(
        best.as_millis() < 100,
        "{lines} lines took {best:?}, budget 100 ms"
    );
}

#[test]
fn truncated_reference_log_reports_the_cut_node() {
    let text = read("eval-callback-fa-off.log");
    // Cut in the middle of kq-0's values (its header is line 564).
    let cut: String = text.lines().take(570).map(|l| format!("{l}\n")).collect();
    match llamacpp_log::parse(&cut) {
        Err(LogError::Truncated { line, name, .. }) => {
            assert_eq!((line, name.as_str()), (564, "kq-0"));
        }
        other => panic!("expected Truncated, got {other:?}"),
    }
}

#[test]
fn missing_file_is_an_io_error_with_the_path() {
    let e = llamacpp_log::parse_file(&reference("no-such.log")).unwrap_err();
    assert!(matches!(e, LogError::Io { .. }));
    assert!(e.to_string().contains("no-such.log"), "{e}");
}
