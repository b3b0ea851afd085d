//! Shared by the app's integration tests: where the test model is, and broken variants of it.

#![allow(dead_code)] // each test binary uses its own part

use std::path::PathBuf;

use tt_core::gguf::writer::GgufWriter;
use tt_core::gguf::{GgufFile, Value};
use tt_core::GgmlType;

/// SmolLM2-135M-Instruct Q4_1 in the test data cache; fails with the fix when missing.
pub fn smollm2_path() -> PathBuf {
    let data = std::env::var_os("TENSOR_TRACE_DATA").map_or_else(
        || {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
                .join(".cache/tensor-trace")
        },
        PathBuf::from,
    );
    let p = data.join("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        p.exists(),
        "{} is missing: run scripts/fetch-test-data (it fetches the test model into $TENSOR_TRACE_DATA)",
        p.display()
    );
    p
}

/// SmolLM2 rewritten by `edit`, as file bytes.
pub fn smollm2_variant(edit: impl FnOnce(&mut GgufWriter)) -> Vec<u8> {
    let f = GgufFile::open(smollm2_path()).expect("SmolLM2 opens");
    let mut w = GgufWriter::from_file(&f).expect("SmolLM2 copies");
    edit(&mut w);
    w.to_bytes()
}

/// SmolLM2 with `blk.0.attn_q.weight` in MXFP4, a type our MUL_MAT cannot compute (the bytes
/// are zeros of the right size, so only the type is wrong).
pub fn smollm2_with_mxfp4() -> Vec<u8> {
    smollm2_variant(|w| {
        let t = w
            .tensors
            .iter_mut()
            .find(|t| t.name == "blk.0.attn_q.weight")
            .expect("SmolLM2 has blk.0.attn_q.weight");
        let ty = GgmlType::MXFP4;
        let n: u64 = t.ne.iter().product();
        t.type_id = ty.id();
        t.data = vec![0; (n as usize / ty.block_size()) * ty.type_size()];
    })
}

/// SmolLM2 with one NaN in layer 3's attention norm weight (element 2), so NaN appears at
/// `attn_norm-3` and spreads from there.
pub fn smollm2_with_nan() -> Vec<u8> {
    smollm2_variant(|w| {
        let t = w
            .tensors
            .iter_mut()
            .find(|t| t.name == "blk.3.attn_norm.weight")
            .expect("SmolLM2 has blk.3.attn_norm.weight");
        assert_eq!(t.type_id, GgmlType::F32.id());
        t.data[8..12].copy_from_slice(&f32::NAN.to_le_bytes());
    })
}

/// SmolLM2 claiming another architecture.
pub fn smollm2_as_arch(arch: &str) -> Vec<u8> {
    smollm2_variant(|w| {
        for (k, v) in w.metadata.iter_mut() {
            if k == "general.architecture" {
                *v = Value::String(arch.to_string());
            }
        }
    })
}

/// A file in the temporary directory, removed when dropped.
pub struct TempFile(pub PathBuf);

impl TempFile {
    pub fn new(name: &str, bytes: &[u8]) -> TempFile {
        let p =
            std::env::temp_dir().join(format!("tensor-trace-test-{}-{name}", std::process::id()));
        std::fs::write(&p, bytes).expect("temp file written");
        TempFile(p)
    }

    /// A path in the temporary directory that does not exist yet.
    pub fn reserve(name: &str) -> TempFile {
        let p =
            std::env::temp_dir().join(format!("tensor-trace-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        TempFile(p)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
