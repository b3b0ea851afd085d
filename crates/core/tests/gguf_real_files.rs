//! The GGUF reader on real files: the SmolLM2-135M Q4_1 model and llama.cpp's tokenizer suites
//! (vocab-only GGUF files). Checked against known facts of the model and, entry by entry,
//! against gguf-py's reading of the same files: `tests/fixtures/gguf-oracle.json`, made by
//! `scripts/gguf-dump-json --fixture` (see that script for the format).
//!
//! The files come from `scripts/fetch-test-data`; these tests fail, saying so, when they are
//! missing.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{json, Value as Json};
use sha2::{Digest, Sha256};
use tt_core::gguf::{Array, GgufFile, Value};
use tt_core::GgmlType;

fn data_dir() -> PathBuf {
    match std::env::var_os("TENSOR_TRACE_DATA") {
        Some(d) => PathBuf::from(d),
        None => {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/tensor-trace")
        }
    }
}

/// `rel` under the data directory; fails the test if it is not there.
fn require(rel: &str) -> PathBuf {
    let p = data_dir().join(rel);
    assert!(
        p.is_file(),
        "test data {} is missing: run scripts/fetch-test-data",
        p.display()
    );
    p
}

const SMOLLM2: &str = "smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";

#[test]
fn smollm2_has_the_known_header() {
    let f = GgufFile::open(require(SMOLLM2)).unwrap();
    assert_eq!(f.version(), 3);
    assert_eq!(
        f.tensors().len(),
        272,
        "30 layers x 9 tensors + token_embd + output_norm"
    );
    assert_eq!(f.get_str("general.architecture").unwrap(), Some("llama"));
    assert_eq!(f.get_u32("llama.block_count").unwrap(), Some(30));
    assert_eq!(f.get_u32("llama.embedding_length").unwrap(), Some(576));
    assert_eq!(
        f.get_f32("llama.attention.layer_norm_rms_epsilon").unwrap(),
        Some(1e-5)
    );
    assert_eq!(
        f.get_bool("tokenizer.ggml.add_bos_token").unwrap(),
        Some(false)
    );

    let emb = f.tensor("token_embd.weight").unwrap();
    assert_eq!(
        (emb.ty, emb.shape()),
        (Ok(GgmlType::Q8_0), &[576, 49152][..])
    );
    assert_eq!(emb.size, 49152 * 18 * 34);
    let data = f.tensor_data(emb).unwrap();
    assert_eq!(data.len() as u64, emb.size);
    let first_scale = half::f16::from_le_bytes([data[0], data[1]]).to_f32();
    assert!(
        first_scale.is_finite() && first_scale != 0.0,
        "first Q8_0 block scale {first_scale}"
    );

    let q = f.tensor("blk.0.attn_q.weight").unwrap();
    assert_eq!((q.ty, q.shape()), (Ok(GgmlType::Q4_1), &[576, 576][..]));
    assert_eq!(f.tensor_data(q).unwrap().len(), 576 * 18 * 20);
    let norm = f.tensor("output_norm.weight").unwrap();
    assert_eq!((norm.ty, norm.shape()), (Ok(GgmlType::F32), &[576][..]));

    let tokens = f
        .get_string_array("tokenizer.ggml.tokens")
        .unwrap()
        .unwrap();
    assert_eq!(tokens.len(), 49152);
    assert_eq!(
        &tokens[..3],
        ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    );
    let shown = f.get("tokenizer.ggml.tokens").unwrap().to_string();
    assert!(
        shown.starts_with(r#"["<|endoftext|>", "<|im_start|>", "#)
            && shown.ends_with("...] (49152 elements)")
    );
    assert_eq!(
        f.get("tokenizer.ggml.tokens").unwrap().type_name(),
        "arr[str,49152]"
    );
    assert_eq!(
        f.get_i32_array("tokenizer.ggml.token_type")
            .unwrap()
            .unwrap()
            .len(),
        49152
    );
}

/// Opening SmolLM2 (49152 + 48900 strings of vocabulary) takes milliseconds. Prints the timings;
/// asserts only a generous bound so that a loaded machine does not fail it.
#[test]
fn smollm2_opens_in_milliseconds() {
    let path = require(SMOLLM2);
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let f = GgufFile::open(&path).unwrap();
        times.push(t.elapsed());
        assert_eq!(f.tensors().len(), 272);
    }
    times.sort();
    eprintln!(
        "GgufFile::open(SmolLM2): min {:?}, median {:?}, max {:?}",
        times[0], times[2], times[4]
    );
    assert!(times[0].as_millis() < 1000, "opening took {:?}", times[0]);
}

/// Every vocab suite is a valid GGUF file with a tokenizer and no tensors.
#[test]
fn vocab_suites_open_with_zero_tensors() {
    let dir = data_dir().join("vocab");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}: run scripts/fetch-test-data", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "gguf"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "only {} vocab files in {}: run scripts/fetch-test-data",
        files.len(),
        dir.display()
    );
    for p in files {
        let f = GgufFile::open(&p).unwrap();
        assert!(f.tensors().is_empty(), "{}", p.display());
        assert!(
            f.get_str("tokenizer.ggml.model").unwrap().is_some(),
            "{}",
            p.display()
        );
        let tokens = f.get_array("tokenizer.ggml.tokens").unwrap().unwrap();
        assert!(
            tokens.len() > 1000,
            "{}: {} tokens",
            p.display(),
            tokens.len()
        );
    }
}

/// Our reading of every file in the oracle fixture equals gguf-py's, entry by entry.
#[test]
fn headers_match_gguf_py() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gguf-oracle.json");
    let text = std::fs::read_to_string(&fixture).unwrap();
    let oracle: Vec<Json> = serde_json::from_str(&text).unwrap();
    assert!(oracle.len() > 1);
    let mut mismatches = Vec::new();
    let mut compared = (0, 0);
    for expected in &oracle {
        let rel = expected["file"].as_str().unwrap();
        let f = GgufFile::open(require(rel)).unwrap();
        let ours = compact_dump(&f, rel);
        for field in ["file", "file_size", "version", "alignment"] {
            if ours[field] != expected[field] {
                mismatches.push(format!(
                    "{rel}: {field}: ours {}, gguf-py {}",
                    ours[field], expected[field]
                ));
            }
        }
        for list in ["metadata", "tensors"] {
            let (a, b) = (
                ours[list].as_array().unwrap(),
                expected[list].as_array().unwrap(),
            );
            if a.len() != b.len() {
                mismatches.push(format!(
                    "{rel}: {list}: ours has {}, gguf-py {}",
                    a.len(),
                    b.len()
                ));
            }
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                if x != y {
                    mismatches.push(format!("{rel}: {list} #{i}: ours {x}, gguf-py {y}"));
                }
            }
        }
        compared.0 += f.metadata().len();
        compared.1 += f.tensors().len();
    }
    eprintln!(
        "compared {} files: {} metadata entries, {} tensors; {} mismatches",
        oracle.len(),
        compared.0,
        compared.1,
        mismatches.len()
    );
    assert!(
        mismatches.is_empty(),
        "{} mismatches, first ones:\n{}",
        mismatches.len(),
        mismatches[..mismatches.len().min(10)].join("\n")
    );
}

/// The compact dump `scripts/gguf-dump-json --fixture` makes, from our reader.
fn compact_dump(f: &GgufFile, rel: &str) -> Json {
    let metadata: Vec<Json> = f
        .metadata()
        .iter()
        .map(|(k, v)| {
            let value = match v {
                Value::Array(a) => array_summary(a),
                v => scalar(v),
            };
            json!([k, v.type_name(), value])
        })
        .collect();
    let tensors: Vec<Json> = f
        .tensors()
        .iter()
        .map(|t| {
            json!({
                "name": t.name,
                "type": t.ty.map_or_else(|id| id, GgmlType::id),
                "ne": t.shape(),
                "offset": t.offset,
                "size": t.size,
            })
        })
        .collect();
    json!({
        "file": rel,
        "file_size": f.file_size(),
        "version": f.version(),
        "alignment": f.alignment(),
        "metadata": metadata,
        "tensors": tensors,
    })
}

fn scalar(v: &Value) -> Json {
    match v {
        Value::U8(x) => json!(x),
        Value::I8(x) => json!(x),
        Value::U16(x) => json!(x),
        Value::I16(x) => json!(x),
        Value::U32(x) => json!(x),
        Value::I32(x) => json!(x),
        Value::U64(x) => json!(x),
        Value::I64(x) => json!(x),
        Value::F32(x) => json!(format!("0x{:08x}", x.to_bits())),
        Value::F64(x) => json!(format!("0x{:016x}", x.to_bits())),
        Value::Bool(x) => json!(x),
        Value::String(s) => json!(s),
        Value::Array(_) => json!("nested"),
    }
}

fn raw_string(bytes: &[u8]) -> Json {
    match std::str::from_utf8(bytes) {
        Ok(s) => json!(s),
        Err(_) => json!({ "hex": bytes.iter().map(|b| format!("{b:02x}")).collect::<String>() }),
    }
}

/// `{"len", "head" (3 elements), "sha256" of the elements as GGUF encodes them}`.
fn array_summary(a: &Array) -> Json {
    let mut h = Sha256::new();
    let mut head = Vec::new();
    macro_rules! numbers {
        ($v:expr, $wrap:expr) => {
            for (i, x) in $v.iter().enumerate() {
                h.update(x.to_le_bytes());
                if i < 3 {
                    head.push(scalar(&$wrap(*x)));
                }
            }
        };
    }
    match a {
        Array::U8(v) => numbers!(v, Value::U8),
        Array::I8(v) => numbers!(v, Value::I8),
        Array::U16(v) => numbers!(v, Value::U16),
        Array::I16(v) => numbers!(v, Value::I16),
        Array::U32(v) => numbers!(v, Value::U32),
        Array::I32(v) => numbers!(v, Value::I32),
        Array::F32(v) => numbers!(v, Value::F32),
        Array::U64(v) => numbers!(v, Value::U64),
        Array::I64(v) => numbers!(v, Value::I64),
        Array::F64(v) => numbers!(v, Value::F64),
        Array::Bool(v) => {
            for (i, &b) in v.iter().enumerate() {
                h.update([u8::from(b)]);
                if i < 3 {
                    head.push(json!(b));
                }
            }
        }
        Array::String(v) => {
            for i in 0..v.len() {
                let raw = v.raw(i).unwrap();
                h.update((raw.len() as u64).to_le_bytes());
                h.update(raw);
                if i < 3 {
                    head.push(raw_string(raw));
                }
            }
        }
        Array::Array(_) => return json!("nested arrays are not in the fixture"),
    }
    let digest: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    json!({ "len": a.len(), "head": head, "sha256": digest })
}

/// The whole-file fuzz seeds (`scripts/make-fuzz-seeds`) open: `smollm2-mini.gguf` is written by
/// gguf-py's GGUFWriter, so this also checks that writer against our reader; the `head-*` seeds
/// are cut at 8 KB and must be rejected as truncated. Seeds cut from model files are not
/// committed: they are made here when missing (fuzz/seeds-data, git-ignored).
#[test]
fn fuzz_seeds_open_or_are_truncated() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let data_dir = root.join("fuzz/seeds-data/gguf");
    if !data_dir.join("smollm2-mini.gguf").is_file() {
        let status = std::process::Command::new(root.join("scripts/make-fuzz-seeds"))
            .arg("--data-only")
            .status()
            .expect("run scripts/make-fuzz-seeds (needs python3 with gguf and numpy)");
        assert!(
            status.success(),
            "scripts/make-fuzz-seeds --data-only failed: run scripts/fetch-test-data first"
        );
    }
    let mini = GgufFile::open(data_dir.join("smollm2-mini.gguf")).unwrap();
    assert_eq!(mini.get_str("general.architecture").unwrap(), Some("llama"));
    assert_eq!(mini.get_u32("llama.block_count").unwrap(), Some(30));
    assert_eq!(
        mini.get_array("tokenizer.ggml.tokens")
            .unwrap()
            .map(Array::len),
        Some(16)
    );
    let names: Vec<&str> = mini.tensors().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names.len(), 11, "{names:?}");
    let q = mini.tensor("blk.0.attn_q.weight").unwrap();
    assert_eq!((q.ty, q.shape()), (Ok(GgmlType::Q4_1), &[576, 1][..]));
    for t in mini.tensors() {
        assert_eq!(mini.tensor_data(t).unwrap().len() as u64, t.size);
    }

    let mut heads = 0;
    // writer-*.gguf are there too once scripts/fuzz-smoke has made them
    for entry in std::fs::read_dir(&data_dir).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let r = GgufFile::open(&p);
        if name.starts_with("head-") {
            heads += 1;
            let msg = r.unwrap_err().to_string();
            assert!(
                msg.contains("remain in the file") || msg.contains("truncated"),
                "{name}: {msg}"
            );
        } else {
            assert!(r.is_ok(), "{name}: {}", r.unwrap_err());
        }
    }
    assert!(heads > 10);
}
