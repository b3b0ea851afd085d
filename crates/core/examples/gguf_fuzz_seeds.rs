//! Writes small GGUF files made with the test writer into a directory, as seeds for the `gguf`
//! fuzz target: one per shape of file the reader handles (every value type, nested and empty
//! arrays, vocab-only, version 2 with a custom alignment, an unknown tensor type, split keys).
//! Run by `scripts/make-fuzz-seeds`:
//!
//! ```text
//! cargo run -p tt-core --features test-writer --example gguf_fuzz_seeds -- fuzz/seeds-data/gguf
//! ```

use std::path::PathBuf;

use tt_core::gguf::writer::{GgufWriter, TensorSpec};
use tt_core::gguf::{Array, StringArray, Value};
use tt_core::GgmlType;

fn every_value_type() -> GgufWriter {
    GgufWriter::new()
        .kv("general.architecture", Value::String("llama".into()))
        .kv("u8", Value::U8(1))
        .kv("i8", Value::I8(-1))
        .kv("u16", Value::U16(2))
        .kv("i16", Value::I16(-2))
        .kv("u32", Value::U32(3))
        .kv("i32", Value::I32(-3))
        .kv("f32", Value::F32(0.5))
        .kv("bool", Value::Bool(true))
        .kv("str", Value::String("héllo".into()))
        .kv("u64", Value::U64(4))
        .kv("i64", Value::I64(-4))
        .kv("f64", Value::F64(0.25))
        .kv(
            "arr.str",
            Value::Array(Array::String(["a", "", "ccc"].into_iter().collect())),
        )
        .kv("arr.f32", Value::Array(Array::F32(vec![1.0, -2.0])))
        .kv("arr.empty", Value::Array(Array::I64(vec![])))
        .kv(
            "arr.nested",
            Value::Array(Array::Array(vec![
                Array::U8(vec![1, 2]),
                Array::Array(vec![Array::Bool(vec![true])]),
            ])),
        )
        .tensor("f32", GgmlType::F32, &[4, 2], vec![0; 32])
        .tensor("q8_0", GgmlType::Q8_0, &[32], vec![1; 34])
        .tensor("f16", GgmlType::F16, &[16], vec![2; 32])
}

fn vocab_only() -> GgufWriter {
    let mut tokens = StringArray::default();
    for i in 0..300 {
        tokens.push(&format!("tok{i}"));
    }
    tokens.push_bytes(b"\xe4\xb8");
    GgufWriter::new()
        .kv("general.architecture", Value::String("llama".into()))
        .kv("tokenizer.ggml.model", Value::String("llama".into()))
        .kv("tokenizer.ggml.tokens", Value::Array(Array::String(tokens)))
        .kv(
            "tokenizer.ggml.scores",
            Value::Array(Array::F32((0..301).map(|i| -(i as f32)).collect())),
        )
        .kv(
            "tokenizer.ggml.token_type",
            Value::Array(Array::I32(vec![1; 301])),
        )
}

fn version2_aligned64() -> GgufWriter {
    let mut w = GgufWriter::new()
        .kv("general.alignment", Value::U32(64))
        .tensor("q4_0", GgmlType::Q4_0, &[64, 2], vec![3; 72])
        .tensor("q4_K", GgmlType::Q4_K, &[256], vec![4; 144])
        .raw_tensor(TensorSpec {
            name: "unknown".into(),
            type_id: 99,
            ne: vec![8],
            data: vec![5; 8],
            offset: None,
        })
        .tensor("after", GgmlType::I8, &[3], vec![6; 3]);
    w.version = 2;
    w
}

fn split_shard() -> GgufWriter {
    GgufWriter::new()
        .kv("split.no", Value::U16(0))
        .kv("split.count", Value::U16(1))
        .kv("split.tensors.count", Value::I32(1))
        .tensor("t", GgmlType::BF16, &[2, 2, 2, 2], vec![7; 32])
}

fn main() -> std::io::Result<()> {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: gguf_fuzz_seeds OUTPUT_DIR");
        std::process::exit(2);
    };
    std::fs::create_dir_all(&dir)?;
    let seeds = [
        ("writer-every-value-type.gguf", every_value_type()),
        ("writer-vocab-only.gguf", vocab_only()),
        ("writer-v2-align64-unknown-type.gguf", version2_aligned64()),
        ("writer-split-keys.gguf", split_shard()),
    ];
    for (name, w) in seeds {
        let bytes = w.to_bytes();
        std::fs::write(dir.join(name), &bytes)?;
        println!("{name}: {} bytes", bytes.len());
    }
    Ok(())
}
