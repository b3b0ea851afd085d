//! Tests of the GGUF reader on files built in memory by the test writer: one test per rejection
//! class (named after it, asserting the message), truncation at every byte, split models on disk,
//! and property tests (random files round-trip; random corruption never panics).

use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::writer::{GgufWriter, TensorSpec};
use super::*;

fn open(bytes: Vec<u8>) -> Result<GgufFile, GgufError> {
    GgufFile::from_bytes("test.gguf", bytes)
}

/// The error message for `bytes`, which must be rejected.
fn rejection(bytes: Vec<u8>) -> String {
    match open(bytes) {
        Ok(f) => panic!("expected an error, the file opened: {f:?}"),
        Err(e) => e.to_string(),
    }
}

fn assert_contains(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "message {msg:?} lacks {p:?}");
    }
}

/// The position of the only occurrence of `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> usize {
    let hits: Vec<usize> = hay
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(hits.len(), 1, "{needle:?} should occur once");
    hits[0]
}

/// Replaces the only occurrence of `needle` with `with` (same length).
fn patch(bytes: &mut [u8], needle: &[u8], with: &[u8]) {
    assert_eq!(needle.len(), with.len());
    let at = find(bytes, needle);
    bytes[at..at + with.len()].copy_from_slice(with);
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn strings(items: &[&str]) -> Value {
    Value::Array(Array::String(items.iter().collect()))
}

/// A small file with every value type, empty and nested arrays, and three tensors whose data
/// ends exactly at the end of the file (so that every truncation loses something).
fn small_model() -> GgufWriter {
    GgufWriter::new()
        .kv("general.architecture", Value::String("llama".into()))
        .kv("t.u8", Value::U8(200))
        .kv("t.i8", Value::I8(-100))
        .kv("t.u16", Value::U16(60000))
        .kv("t.i16", Value::I16(-30000))
        .kv("t.u32", Value::U32(30))
        .kv("t.i32", Value::I32(-7))
        .kv("t.f32", Value::F32(1e-5))
        .kv("t.bool", Value::Bool(true))
        .kv("t.u64", Value::U64(u64::MAX))
        .kv("t.i64", Value::I64(i64::MIN))
        .kv("t.f64", Value::F64(0.25))
        .kv("t.strings", strings(&["<s>", "", "héllo"]))
        .kv("t.empty", Value::Array(Array::U8(vec![])))
        .kv("t.ints", Value::Array(Array::I32(vec![1, -2, 3])))
        .kv(
            "t.nested",
            Value::Array(Array::Array(vec![
                Array::U16(vec![1, 2]),
                Array::Array(vec![Array::String(["x"].iter().collect())]),
                Array::F64(vec![]),
            ])),
        )
        .tensor(
            "a",
            GgmlType::F32,
            &[4, 2],
            f32_bytes(&[0., 1., 2., 3., 4., 5., 6., 7.]),
        )
        .tensor("b", GgmlType::Q8_0, &[32], (0..34).collect())
        .tensor("c", GgmlType::F16, &[16], vec![7; 32])
}

#[test]
fn small_model_reads_back_every_value_type() {
    let w = small_model();
    let f = open(w.to_bytes()).unwrap();
    assert_eq!(f.version(), 3);
    assert_eq!(f.alignment(), 32);
    assert_eq!(f.metadata(), &w.metadata[..]);
    assert_eq!(f.get_str("general.architecture").unwrap(), Some("llama"));
    assert_eq!(f.get_u32("t.u32").unwrap(), Some(30));
    assert_eq!(f.get_f32("t.f32").unwrap(), Some(1e-5));
    assert_eq!(f.get_bool("t.bool").unwrap(), Some(true));
    assert_eq!(
        f.get_string_array("t.strings").unwrap(),
        Some(vec!["<s>", "", "héllo"])
    );
    assert_eq!(f.get_i32_array("t.ints").unwrap(), Some(vec![1, -2, 3]));
    assert_eq!(f.get_u32("missing").unwrap(), None);

    let names: Vec<&str> = f.tensors().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    let a = f.tensor("a").unwrap();
    assert_eq!(
        (a.ty, a.ne, a.n_dims, a.size, a.shard),
        (Ok(GgmlType::F32), [4, 2, 1, 1], 2, 32, 0)
    );
    assert_eq!(a.shape(), &[4, 2]);
    assert_eq!(
        f.tensor_data(a).unwrap(),
        &f32_bytes(&[0., 1., 2., 3., 4., 5., 6., 7.])[..]
    );
    let b = f.tensor("b").unwrap();
    assert_eq!(
        b.offset,
        a.offset + 32,
        "b follows a (32 bytes, already aligned)"
    );
    assert_eq!(f.tensor_data(b).unwrap(), &(0..34).collect::<Vec<u8>>()[..]);
    let c = f.tensor("c").unwrap();
    assert_eq!(c.offset, b.offset + 64, "b's 34 bytes are padded to 64");
    assert_eq!(
        c.offset + c.size,
        f.file_size(),
        "the last tensor ends the file"
    );
    assert_eq!(a.offset % 32, 0);
}

#[test]
fn version_2_files_are_read() {
    let mut w = small_model();
    w.version = 2;
    let f = open(w.to_bytes()).unwrap();
    assert_eq!(f.version(), 2);
    assert_eq!(f.tensors().len(), 3);
}

#[test]
fn custom_alignment_places_the_data_section_and_tensors() {
    let w = GgufWriter::new()
        .kv("general.alignment", Value::U32(64))
        .tensor("x", GgmlType::F32, &[3], f32_bytes(&[1., 2., 3.]))
        .tensor("y", GgmlType::F32, &[1], f32_bytes(&[4.]));
    let f = open(w.to_bytes()).unwrap();
    assert_eq!(f.alignment(), 64);
    let (x, y) = (f.tensor("x").unwrap(), f.tensor("y").unwrap());
    assert_eq!(x.offset % 64, 0);
    assert_eq!(y.offset, x.offset + 64);
    assert_eq!(f.tensor_data(y).unwrap(), &f32_bytes(&[4.])[..]);
}

#[test]
fn truncation_at_every_byte_is_an_error() {
    let bytes = small_model().to_bytes();
    assert!(open(bytes.clone()).is_ok());
    for n in 0..bytes.len() {
        let r = open(bytes[..n].to_vec());
        assert!(
            r.is_err(),
            "a file cut to {n} of {} bytes opened",
            bytes.len()
        );
    }
}

#[test]
fn truncated() {
    let msg = rejection(b"GGUF\x03\0\0\0\x01\0".to_vec());
    assert_contains(
        &msg,
        &["test.gguf: truncated at byte 8: expected 8 bytes for the tensor count, found 2"],
    );
    let msg = rejection(Vec::new());
    assert_contains(&msg, &["truncated at byte 0", "the magic", "found 0"]);
}

#[test]
fn truncated_inside_a_key_length() {
    let long_key = "k".repeat(20);
    let bytes = GgufWriter::new()
        .kv(&long_key, Value::U8(1))
        .kv("b", Value::U8(2))
        .to_bytes();
    // Entry #0 takes bytes 24..57 (8 + 20 + 4 + 1); cut 2 bytes into entry #1's key length.
    let msg = rejection(bytes[..59].to_vec());
    assert_contains(
        &msg,
        &["truncated at byte 57: expected 8 bytes for the length of metadata key #1, found 2"],
    );
}

#[test]
fn bad_magic() {
    let mut bytes = small_model().to_bytes();
    bytes[..4].copy_from_slice(b"GGML");
    let msg = rejection(bytes);
    assert_contains(
        &msg,
        &[
            "test.gguf: not a GGUF file",
            "expected the magic \"GGUF\" at byte 0",
            "found \"GGML\"",
        ],
    );
}

#[test]
fn big_endian() {
    let mut bytes = small_model().to_bytes();
    bytes[4..8].copy_from_slice(&3u32.to_be_bytes());
    let msg = rejection(bytes);
    assert_contains(
        &msg,
        &[
            "big-endian GGUF is not supported",
            "byte 4",
            "0x03000000",
            "3 with its bytes swapped",
        ],
    );
}

#[test]
fn version_1() {
    let mut bytes = small_model().to_bytes();
    bytes[4..8].copy_from_slice(&1u32.to_le_bytes());
    let msg = rejection(bytes);
    assert_contains(
        &msg,
        &[
            "unsupported GGUF version 1 at byte 4: expected 2 or 3",
            "GGUFv1 is no longer supported",
        ],
    );
}

#[test]
fn unknown_version() {
    for v in [0u32, 4, 0x1234_5678] {
        let mut bytes = small_model().to_bytes();
        bytes[4..8].copy_from_slice(&v.to_le_bytes());
        let msg = rejection(bytes);
        assert_contains(
            &msg,
            &[&format!(
                "unsupported GGUF version {v} at byte 4: expected 2 or 3"
            )],
        );
    }
}

#[test]
fn string_length_larger_than_file() {
    let mut bytes = small_model().to_bytes();
    bytes[24..32].copy_from_slice(&1_000_000u64.to_le_bytes());
    let msg = rejection(bytes);
    assert_contains(
        &msg,
        &[
            "at byte 24: the length of metadata key #0 is 1000000",
            "bytes remain in the file",
        ],
    );
}

#[test]
fn array_length_larger_than_file() {
    let w = GgufWriter::new().kv("big", Value::Array(Array::U64(vec![1, 2])));
    let mut bytes = w.to_bytes();
    // key "big": length at 24, bytes 32..35, value type 35..39, element type 39..43, count 43..51.
    bytes[43..51].copy_from_slice(&(1u64 << 29).to_le_bytes());
    let msg = rejection(bytes);
    assert_contains(
        &msg,
        &["at byte 43: the element count of array 'big' is 536870912, which needs at least 4294967296 bytes, but only 16 bytes remain"],
    );
}

#[test]
fn array_count_above_ggml_limit() {
    let w = GgufWriter::new().kv("big", Value::Array(Array::U8(vec![1])));
    let mut bytes = w.to_bytes();
    bytes[43..51].copy_from_slice(&(MAX_ARRAY_ELEMENTS + 1).to_le_bytes());
    let msg = rejection(bytes);
    assert_contains(&msg, &["at byte 43: the element count of array 'big' is 1073741825, more than the limit of 1073741824"]);
}

#[test]
fn metadata_count_larger_than_file() {
    let mut bytes = small_model().to_bytes();
    bytes[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
    let msg = rejection(bytes);
    assert_contains(
        &msg,
        &[
            "at byte 16: the metadata entry count is 18446744073709551615",
            "bytes remain in the file",
        ],
    );
}

#[test]
fn tensor_count_larger_than_file() {
    let mut bytes = small_model().to_bytes();
    bytes[8..16].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let msg = rejection(bytes);
    assert_contains(
        &msg,
        &[
            "at byte 8: the tensor count is 1099511627776",
            "bytes remain in the file",
        ],
    );
}

#[test]
fn invalid_utf8_in_key() {
    let mut bytes = small_model().to_bytes();
    patch(&mut bytes, b"t.u16", b"t.\xff16");
    let msg = rejection(bytes);
    assert_contains(&msg, &["metadata key #3 is not valid UTF-8"]);
}

#[test]
fn invalid_utf8_in_tensor_name() {
    let w = GgufWriter::new().tensor("tensor_q", GgmlType::F32, &[1], vec![0; 4]);
    let mut bytes = w.to_bytes();
    patch(&mut bytes, b"tensor_q", b"tensor_\xc3");
    let msg = rejection(bytes);
    assert_contains(
        &msg,
        &["at byte 24: the name of tensor #0 is not valid UTF-8"],
    );
}

/// Values are not rejected for invalid UTF-8 (ggml keeps raw bytes; vocabularies contain such
/// tokens): they are decoded lossily, and string arrays keep the original bytes.
#[test]
fn invalid_utf8_in_values_is_decoded_lossily() {
    let mut tokens = StringArray::default();
    tokens.push("ok");
    tokens.push_bytes(b"\xe4\xb8");
    let w = GgufWriter::new()
        .kv("s", Value::String("ab-XY".into()))
        .kv("tokens", Value::Array(Array::String(tokens)));
    let mut bytes = w.to_bytes();
    patch(&mut bytes, b"ab-XY", b"ab-\xffY");
    let f = open(bytes.clone()).unwrap();
    assert_eq!(f.get_str("s").unwrap(), Some("ab-\u{fffd}Y"));
    let Some(Array::String(t)) = f.get_array("tokens").unwrap() else {
        panic!("tokens is not a string array")
    };
    assert_eq!(t.get(1), Some("\u{fffd}"));
    assert_eq!(t.raw(1), Some(&b"\xe4\xb8"[..]));
    assert_eq!(t.repaired_indices().collect::<Vec<_>>(), vec![1]);
    // The token array round-trips byte for byte.
    let again = GgufWriter::from_file(&f).unwrap().to_bytes();
    assert_eq!(
        &again[find(&again, b"tokens")..],
        &bytes[find(&bytes, b"tokens")..]
    );
}

#[test]
fn empty_key() {
    let w = GgufWriter::new()
        .kv("a", Value::U8(1))
        .kv("", Value::U8(2))
        .kv("c", Value::U64(3));
    let msg = rejection(w.to_bytes());
    assert_contains(&msg, &["at byte 38: metadata key #1 is empty"]);
}

#[test]
fn duplicate_key() {
    let w = GgufWriter::new()
        .kv("a", Value::U8(1))
        .kv("b", Value::U8(2))
        .kv("a", Value::I32(3));
    let msg = rejection(w.to_bytes());
    assert_contains(
        &msg,
        &["at byte 52: duplicate metadata key 'a': entry #2 repeats entry #0"],
    );
}

#[test]
fn unknown_value_type() {
    let w = GgufWriter::new().kv("k", Value::U32(1));
    let mut bytes = w.to_bytes();
    // key length 24..32, key 32..33, type 33..37
    bytes[33..37].copy_from_slice(&13u32.to_le_bytes());
    let msg = rejection(bytes);
    assert_contains(
        &msg,
        &["at byte 33: expected a GGUF value type (0 to 12) for key 'k', found 13"],
    );

    let w = GgufWriter::new().kv("k", Value::Array(Array::U32(vec![])));
    let mut bytes = w.to_bytes();
    bytes[37..41].copy_from_slice(&99u32.to_le_bytes());
    let msg = rejection(bytes);
    assert_contains(&msg, &["at byte 37: expected a GGUF value type (0 to 12) for the elements of array 'k', found 99"]);
}

fn nested(levels: usize) -> Array {
    let mut a = Array::U8(vec![1]);
    for _ in 1..levels {
        a = Array::Array(vec![a]);
    }
    a
}

#[test]
fn nesting_too_deep() {
    let ok = GgufWriter::new().kv("deep", Value::Array(nested(MAX_ARRAY_DEPTH)));
    let f = open(ok.to_bytes()).unwrap();
    assert_eq!(f.get("deep"), Some(&Value::Array(nested(MAX_ARRAY_DEPTH))));

    let w = GgufWriter::new().kv("deep", Value::Array(nested(MAX_ARRAY_DEPTH + 1)));
    let msg = rejection(w.to_bytes());
    // key at 24..36, type 36..40, then 8 array headers of 12 bytes: the 9th starts at 136.
    assert_contains(
        &msg,
        &["at byte 136: the value of key 'deep' nests arrays deeper than 8 levels"],
    );
}

fn one_tensor(ne: &[u64], ty: u32, data: Vec<u8>) -> Vec<u8> {
    GgufWriter::new()
        .raw_tensor(TensorSpec {
            name: "w".into(),
            type_id: ty,
            ne: ne.to_vec(),
            data,
            offset: None,
        })
        .to_bytes()
}

#[test]
fn tensor_with_zero_dimensions() {
    let msg = rejection(one_tensor(&[], 0, vec![0; 4]));
    // name length 24..32, name 32..33, n_dims 33..37
    assert_contains(
        &msg,
        &["at byte 33: tensor 'w': expected 1 to 4 dimensions, found 0"],
    );
}

#[test]
fn tensor_with_five_dimensions() {
    let msg = rejection(one_tensor(&[1, 1, 1, 1, 1], 0, vec![0; 4]));
    assert_contains(
        &msg,
        &["at byte 33: tensor 'w': expected 1 to 4 dimensions, found 5"],
    );
}

#[test]
fn zero_dimension() {
    let msg = rejection(one_tensor(&[4, 0], 0, vec![]));
    assert_contains(
        &msg,
        &["at byte 45: tensor 'w': expected a positive size for dimension 1, found 0"],
    );
}

#[test]
fn negative_dimension() {
    let msg = rejection(one_tensor(&[u64::MAX], 0, vec![]));
    assert_contains(
        &msg,
        &["at byte 37: tensor 'w': expected a positive size for dimension 0, found 18446744073709551615 (which is -1 as ggml's signed int64)"],
    );
}

#[test]
fn element_count_overflow() {
    let msg = rejection(one_tensor(&[1 << 32, 1 << 31], 0, vec![]));
    assert_contains(&msg, &["at byte 33: tensor 'w' with shape [4294967296, 2147483648] is too large: its element count overflows"]);
}

#[test]
fn byte_size_overflow() {
    // 2^62 elements fit an i64, 2^62 f64 values (2^65 bytes) do not fit a usize.
    let msg = rejection(one_tensor(&[1 << 31, 1 << 31], GgmlType::F64.id(), vec![]));
    assert_contains(&msg, &["tensor 'w' with shape [2147483648, 2147483648] is too large: its size in bytes overflows"]);
}

#[test]
fn row_not_multiple_of_block_size() {
    let msg = rejection(one_tensor(&[33, 2], GgmlType::Q4_0.id(), vec![0; 36]));
    assert_contains(&msg, &["at byte 53: tensor 'w' of type q4_0 has 33 elements per row: expected a multiple of the block size 32"]);
}

#[test]
fn tensor_data_outside_file() {
    // Declares 16 f32 (64 bytes) but stores 4, padded to 32: the file ends 32 bytes early.
    let bytes = one_tensor(&[16], 0, vec![1; 4]);
    let size = bytes.len();
    let msg = rejection(bytes);
    assert_contains(
        &msg,
        &[&format!(
            "tensor 'w': data at bytes {}..{} lies outside the file ({size} bytes)",
            size - 32,
            size + 32
        )],
    );
}

#[test]
fn tensor_offset_far_past_the_end_is_a_gap() {
    let mut bytes = one_tensor(&[1], 0, vec![0; 4]);
    // name length 24..32, name 32..33, n_dims 33..37, ne 37..45, type 45..49, offset 49..57
    bytes[49..57].copy_from_slice(&(u64::MAX - 31).to_le_bytes());
    let msg = rejection(bytes);
    assert_contains(
        &msg,
        &[
            "tensor 'w': expected data offset 0",
            "found 18446744073709551584",
        ],
    );
}

#[test]
fn misaligned_offset() {
    let w = GgufWriter::new()
        .tensor("a", GgmlType::F32, &[1], vec![0; 4])
        .raw_tensor(TensorSpec {
            name: "b".into(),
            type_id: 0,
            ne: vec![1],
            data: vec![0; 4],
            offset: Some(36),
        });
    let msg = rejection(w.to_bytes());
    assert_contains(
        &msg,
        &["tensor 'b': expected a data offset that is a multiple of 32, found 36"],
    );
}

#[test]
fn overlapping_tensors() {
    let w = GgufWriter::new()
        .tensor("a", GgmlType::F32, &[16], vec![0; 64])
        .raw_tensor(TensorSpec {
            name: "b".into(),
            type_id: 0,
            ne: vec![1],
            data: vec![0; 4],
            offset: Some(32),
        });
    let msg = rejection(w.to_bytes());
    assert_contains(&msg, &["tensor 'b': data at offset 32 overlaps tensor 'a', whose data (padded) ends at offset 64"]);
}

#[test]
fn gap_between_tensors() {
    let w = GgufWriter::new()
        .tensor("a", GgmlType::F32, &[1], vec![0; 4])
        .raw_tensor(TensorSpec {
            name: "b".into(),
            type_id: 0,
            ne: vec![1],
            data: vec![0; 4],
            offset: Some(64),
        });
    let msg = rejection(w.to_bytes());
    assert_contains(&msg, &["tensor 'b': expected data offset 32", "found 64"]);
}

#[test]
fn alignment_zero() {
    let msg = rejection(
        GgufWriter::new()
            .kv("general.alignment", Value::U32(0))
            .to_bytes(),
    );
    assert_contains(&msg, &["test.gguf: general.alignment: expected a non-zero power of two of type u32, found u32 0"]);
}

#[test]
fn alignment_not_power_of_two() {
    let msg = rejection(
        GgufWriter::new()
            .kv("general.alignment", Value::U32(48))
            .to_bytes(),
    );
    assert_contains(
        &msg,
        &["general.alignment: expected a non-zero power of two of type u32, found u32 48"],
    );
}

#[test]
fn alignment_not_u32() {
    let msg = rejection(
        GgufWriter::new()
            .kv("general.alignment", Value::U64(64))
            .to_bytes(),
    );
    assert_contains(
        &msg,
        &["general.alignment: expected a non-zero power of two of type u32, found u64 64"],
    );
}

#[test]
fn duplicate_tensor_name() {
    let w = GgufWriter::new()
        .tensor("a", GgmlType::F32, &[1], vec![0; 4])
        .tensor("a", GgmlType::F32, &[1], vec![0; 4]);
    let msg = rejection(w.to_bytes());
    // first entry 24..57 (8 + 1 + 4 + 8 + 4 + 8 bytes)
    assert_contains(
        &msg,
        &["at byte 57: duplicate tensor name 'a': tensor #1 repeats tensor #0"],
    );
}

#[test]
fn tensor_name_too_long() {
    let ok = "n".repeat(MAX_TENSOR_NAME - 1);
    assert!(open(
        GgufWriter::new()
            .tensor(&ok, GgmlType::F32, &[1], vec![0; 4])
            .to_bytes()
    )
    .is_ok());
    let long = "n".repeat(MAX_TENSOR_NAME);
    let msg = rejection(
        GgufWriter::new()
            .tensor(&long, GgmlType::F32, &[1], vec![0; 4])
            .to_bytes(),
    );
    assert_contains(
        &msg,
        &["at byte 24: the name of tensor #0 is 64 bytes long: expected fewer than 64"],
    );
}

#[test]
fn vocab_only_file_with_zero_tensors_is_valid() {
    let w = GgufWriter::new()
        .kv("tokenizer.ggml.model", Value::String("gpt2".into()))
        .kv("tokenizer.ggml.tokens", strings(&["a", "b"]));
    let bytes = w.to_bytes();
    let f = open(bytes.clone()).unwrap();
    assert!(f.tensors().is_empty());
    assert_eq!(f.file_size(), bytes.len() as u64);
    assert_eq!(
        f.get_string_array("tokenizer.ggml.tokens").unwrap(),
        Some(vec!["a", "b"])
    );
}

#[test]
fn unknown_tensor_type_is_listed_but_its_data_errors() {
    let w = GgufWriter::new()
        .raw_tensor(TensorSpec {
            name: "odd".into(),
            type_id: 1000,
            ne: vec![64],
            data: vec![0; 64],
            offset: None,
        })
        .tensor("next", GgmlType::F32, &[2], f32_bytes(&[1., 2.]));
    let f = open(w.to_bytes()).unwrap();
    let odd = f.tensor("odd").unwrap();
    assert_eq!((odd.ty, odd.size), (Err(1000), 0));
    assert_eq!(odd.type_name(), "type 1000");
    let msg = f.tensor_data(odd).unwrap_err().to_string();
    assert_contains(
        &msg,
        &["test.gguf: tensor 'odd' has unknown ggml type id 1000"],
    );
    assert_eq!(
        f.tensor_data(f.tensor("next").unwrap()).unwrap(),
        &f32_bytes(&[1., 2.])[..]
    );
}

#[test]
fn tensor_data_rejects_foreign_tensors() {
    let f = open(small_model().to_bytes()).unwrap();
    let mut t = f.tensor("a").unwrap().clone();
    t.offset = f.file_size() - 4;
    let msg = f.tensor_data(&t).unwrap_err().to_string();
    assert_contains(
        &msg,
        &[
            "tensor 'a' (shard 0, offset",
            "is not a tensor of this file",
        ],
    );
}

#[test]
fn typed_getters_accept_fitting_integers_and_name_the_mismatch() {
    let f = open(small_model().to_bytes()).unwrap();
    assert_eq!(f.get_u32("t.u8").unwrap(), Some(200));
    assert_eq!(f.get_i32("t.i16").unwrap(), Some(-30000));
    assert_eq!(f.get_u64("t.u64").unwrap(), Some(u64::MAX));
    let msg = f.get_u32_array("t.ints").unwrap_err().to_string();
    assert_eq!(
        msg,
        "test.gguf: key t.ints: expected arr[u32], found arr[i32,3]"
    );
    let msg = f.get_u32("t.i32").unwrap_err().to_string();
    assert_eq!(msg, "test.gguf: key t.i32: expected u32, found i32 -7");
    let msg = f.get_u32("general.architecture").unwrap_err().to_string();
    assert_eq!(
        msg,
        "test.gguf: key general.architecture: expected u32, found str \"llama\""
    );
    let msg = f.get_f32("t.f64").unwrap_err().to_string();
    assert_eq!(
        msg,
        "test.gguf: key t.f64: expected f32, found f64 0.250000"
    );
    let msg = f.get_str("t.strings").unwrap_err().to_string();
    assert_eq!(
        msg,
        "test.gguf: key t.strings: expected str, found arr[str,3]"
    );
}

/// A scratch directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("tt-gguf-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Shard `no` of `count` as llama-gguf-split writes it: split.no (u16), split.count (u16), and
/// split.tensors.count (i32), with one f32 tensor named `t<no>`.
fn shard(no: u16, count: u16, total: i32) -> GgufWriter {
    let mut w = GgufWriter::new();
    if no == 0 {
        w = w.kv("general.architecture", Value::String("llama".into()));
    }
    w.kv("split.no", Value::U16(no))
        .kv("split.count", Value::U16(count))
        .kv("split.tensors.count", Value::I32(total))
        .tensor(
            &format!("t{no}"),
            GgmlType::F32,
            &[1],
            f32_bytes(&[f32::from(no)]),
        )
}

fn write_split(dir: &TempDir, shards: &[GgufWriter]) -> PathBuf {
    let n = shards.len();
    let paths: Vec<PathBuf> = shards
        .iter()
        .enumerate()
        .map(|(i, s)| dir.write(&format!("m-{:05}-of-{n:05}.gguf", i + 1), &s.to_bytes()))
        .collect();
    paths[0].clone()
}

#[test]
fn split_model_opens_as_one() {
    let dir = TempDir::new("split-ok");
    let first = write_split(&dir, &[shard(0, 3, 3), shard(1, 3, 3), shard(2, 3, 3)]);
    let f = GgufFile::open(&first).unwrap();
    assert_eq!(f.path(), first.as_path());
    assert_eq!(f.shard_paths().len(), 3);
    assert_eq!(f.get_str("general.architecture").unwrap(), Some("llama"));
    let names: Vec<(&str, usize)> = f
        .tensors()
        .iter()
        .map(|t| (t.name.as_str(), t.shard))
        .collect();
    assert_eq!(names, [("t0", 0), ("t1", 1), ("t2", 2)]);
    for (i, t) in f.tensors().iter().enumerate() {
        assert_eq!(f.tensor_data(t).unwrap(), &f32_bytes(&[i as f32])[..]);
    }
    let sizes: u64 = f
        .shard_paths()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert_eq!(f.file_size(), sizes);
}

#[test]
fn split_missing_shard() {
    let dir = TempDir::new("split-missing");
    let first = write_split(&dir, &[shard(0, 3, 3), shard(1, 3, 3), shard(2, 3, 3)]);
    std::fs::remove_file(dir.0.join("m-00002-of-00003.gguf")).unwrap();
    let msg = GgufFile::open(&first).unwrap_err().to_string();
    assert_contains(&msg, &["m-00002-of-00003.gguf: cannot open shard 2 of 3"]);
}

#[test]
fn split_mismatched_shard_number() {
    let dir = TempDir::new("split-no");
    let first = write_split(&dir, &[shard(0, 3, 3), shard(2, 3, 3), shard(2, 3, 3)]);
    let msg = GgufFile::open(&first).unwrap_err().to_string();
    assert_contains(
        &msg,
        &["m-00002-of-00003.gguf: split.no: expected 1, found u16 2"],
    );
}

#[test]
fn split_mismatched_shard_count() {
    let dir = TempDir::new("split-count");
    let first = write_split(&dir, &[shard(0, 2, 2), shard(1, 3, 2)]);
    let msg = GgufFile::open(&first).unwrap_err().to_string();
    assert_contains(
        &msg,
        &["m-00002-of-00002.gguf: split.count: expected 2, found u16 3"],
    );
}

#[test]
fn split_tensor_count_mismatch() {
    let dir = TempDir::new("split-tensors");
    let first = write_split(&dir, &[shard(0, 2, 5), shard(1, 2, 5)]);
    let msg = GgufFile::open(&first).unwrap_err().to_string();
    assert_contains(&msg, &["m-00001-of-00002.gguf: split.tensors.count: expected 2 (the tensors found in 2 shards), found 5"]);
}

#[test]
fn split_opened_from_a_later_shard() {
    let dir = TempDir::new("split-later");
    write_split(&dir, &[shard(0, 2, 2), shard(1, 2, 2)]);
    let msg = GgufFile::open(dir.0.join("m-00002-of-00002.gguf"))
        .unwrap_err()
        .to_string();
    assert_contains(
        &msg,
        &["this is shard 2 of 2 (split.no = 1): open the first shard"],
    );
}

#[test]
fn split_first_shard_badly_named() {
    let dir = TempDir::new("split-name");
    let p = dir.write("model.gguf", &shard(0, 2, 2).to_bytes());
    let msg = GgufFile::open(p).unwrap_err().to_string();
    assert_contains(
        &msg,
        &["model.gguf: split.count is 2, so the file name must end in '-00001-of-00002.gguf'"],
    );
}

#[test]
fn split_duplicate_tensor_across_shards() {
    let dir = TempDir::new("split-dup");
    let second = shard(1, 2, 2);
    let mut renamed = second.clone();
    renamed.tensors[0].name = "t0".into();
    let first = write_split(&dir, &[shard(0, 2, 2), renamed]);
    let msg = GgufFile::open(&first).unwrap_err().to_string();
    assert_contains(
        &msg,
        &[
            "m-00002-of-00002.gguf: tensor 't0' is also defined in",
            "m-00001-of-00002.gguf",
        ],
    );
}

#[test]
fn split_from_bytes_is_refused() {
    let msg = rejection(shard(0, 2, 2).to_bytes());
    assert_contains(
        &msg,
        &["split.count: expected at most 1 for a model opened from memory, found 2"],
    );
}

#[test]
fn open_reports_io_errors_with_the_path() {
    let msg = GgufFile::open(Path::new("/nonexistent/x.gguf"))
        .unwrap_err()
        .to_string();
    assert_contains(&msg, &["/nonexistent/x.gguf: cannot read the file"]);
}

// ---- property tests ----

fn leaf_array() -> impl Strategy<Value = Array> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..8).prop_map(Array::U8),
        prop::collection::vec(any::<i8>(), 0..8).prop_map(Array::I8),
        prop::collection::vec(any::<u16>(), 0..8).prop_map(Array::U16),
        prop::collection::vec(any::<i16>(), 0..8).prop_map(Array::I16),
        prop::collection::vec(any::<u32>(), 0..8).prop_map(Array::U32),
        prop::collection::vec(any::<i32>(), 0..8).prop_map(Array::I32),
        prop::collection::vec(any::<f32>(), 0..8).prop_map(Array::F32),
        prop::collection::vec(any::<bool>(), 0..8).prop_map(Array::Bool),
        prop::collection::vec(prop::collection::vec(any::<u8>(), 0..6), 0..8).prop_map(|v| {
            let mut a = StringArray::default();
            v.iter().for_each(|s| a.push_bytes(s));
            Array::String(a)
        }),
        prop::collection::vec(any::<u64>(), 0..8).prop_map(Array::U64),
        prop::collection::vec(any::<i64>(), 0..8).prop_map(Array::I64),
        prop::collection::vec(any::<f64>(), 0..8).prop_map(Array::F64),
    ]
}

fn array() -> impl Strategy<Value = Array> {
    leaf_array().prop_recursive(3, 16, 4, |inner| {
        prop::collection::vec(inner, 0..4).prop_map(Array::Array)
    })
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<u8>().prop_map(Value::U8),
        any::<i8>().prop_map(Value::I8),
        any::<u16>().prop_map(Value::U16),
        any::<i16>().prop_map(Value::I16),
        any::<u32>().prop_map(Value::U32),
        any::<i32>().prop_map(Value::I32),
        any::<f32>().prop_map(Value::F32),
        any::<bool>().prop_map(Value::Bool),
        any::<String>().prop_map(Value::String),
        any::<u64>().prop_map(Value::U64),
        any::<i64>().prop_map(Value::I64),
        any::<f64>().prop_map(Value::F64),
        array().prop_map(Value::Array),
    ]
}

const PROP_TYPES: [GgmlType; 6] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::Q4_0,
    GgmlType::Q8_0,
    GgmlType::Q4_K,
    GgmlType::I8,
];

/// A tensor of a random known type and shape, with random bytes of the right size.
fn tensor_spec() -> impl Strategy<Value = (usize, Vec<u64>)> {
    (0..PROP_TYPES.len(), prop::collection::vec(1u64..4, 1..=4))
}

fn random_file() -> impl Strategy<Value = GgufWriter> {
    (
        2u32..=3,
        prop::option::of(prop::sample::select(vec![1u32, 8, 32, 64, 256])),
        prop::collection::vec(("[a-z.]{0,12}", value()), 0..8),
        prop::collection::vec(tensor_spec(), 0..5),
        any::<u64>(),
    )
        .prop_map(|(version, alignment, kvs, tensors, seed)| {
            let mut w = GgufWriter {
                version,
                metadata: Vec::new(),
                tensors: Vec::new(),
            };
            if let Some(a) = alignment {
                w = w.kv("general.alignment", Value::U32(a));
            }
            for (i, (key, v)) in kvs.into_iter().enumerate() {
                w = w.kv(&format!("k{i}.{key}"), v);
            }
            let mut state = seed;
            for (i, (ty, mut ne)) in tensors.into_iter().enumerate() {
                let ty = PROP_TYPES[ty];
                ne[0] *= ty.block_size() as u64;
                let size = ty.row_size(ne[0]).unwrap_or(0) * ne[1..].iter().product::<u64>();
                let data = (0..size)
                    .map(|_| {
                        state = state
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        (state >> 56) as u8
                    })
                    .collect();
                w = w.tensor(&format!("tensor.{i}"), ty, &ne, data);
            }
            w
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random metadata and tensors, written and read back, are identical: re-writing the parsed
    /// file gives the same bytes (floats compared by bits, NaNs included).
    #[test]
    fn random_files_round_trip(w in random_file()) {
        let bytes = w.to_bytes();
        let f = open(bytes.clone()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(f.version(), w.version);
        prop_assert_eq!(f.metadata().len(), w.metadata.len());
        prop_assert_eq!(f.tensors().len(), w.tensors.len());
        for (t, spec) in f.tensors().iter().zip(&w.tensors) {
            prop_assert_eq!(&t.name, &spec.name);
            prop_assert_eq!(t.shape(), &spec.ne[..]);
            prop_assert_eq!(t.ty.map(GgmlType::id), Ok(spec.type_id));
            prop_assert_eq!(f.tensor_data(t).unwrap(), &spec.data[..]);
            prop_assert_eq!(t.offset % u64::from(f.alignment()), 0);
        }
        let again = GgufWriter::from_file(&f).map_err(|e| TestCaseError::fail(e.to_string()))?.to_bytes();
        prop_assert!(again == bytes, "re-written file differs");
    }

    /// Overwriting a few random bytes of a valid file never panics (it may or may not open).
    #[test]
    fn random_corruption_never_panics(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)
    ) {
        let mut bytes = small_model().to_bytes();
        for (at, b) in edits {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        if let Ok(f) = open(bytes) {
            for t in f.tensors() {
                let _ = f.tensor_data(t);
            }
            for (_, v) in f.metadata() {
                let _ = (v.to_string(), format!("{v:#}"), v.type_name());
            }
        }
    }
}
