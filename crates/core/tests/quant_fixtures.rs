//! `tt_core::quant` against gguf-py's numpy reference, bit for bit, on the fixtures that
//! `scripts/gen-quant-fixtures.py` wrote to `tests/fixtures/quant/` (see that script for how to
//! regenerate them): every dequantizer, every reference quantizer gguf-py has, and how ggml-cpu's
//! AVX2 Q8_0 activation quantizer differs from the reference one.

use std::path::{Path, PathBuf};

use tt_core::quant::{dequantize_row, quantize_row, quantize_row_ref, BlockQ8_0};
use tt_core::GgmlType;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/quant")
}

fn read(name: &str) -> Vec<u8> {
    let path = dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run scripts/gen-quant-fixtures.py)",
            path.display()
        )
    })
}

fn read_f32(name: &str) -> Vec<f32> {
    read(name)
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

struct Fixture {
    ty: GgmlType,
    bytes: Vec<u8>,
    expected: Vec<f32>,
    /// Bytes of `bytes` that are random blocks; the rest came from `gguf.quants.quantize`.
    random_bytes: usize,
    /// The values gguf-py quantized into `bytes[random_bytes..]`.
    quantized_from: Option<Vec<f32>>,
}

fn fixtures() -> Vec<Fixture> {
    let manifest: serde_json::Value =
        serde_json::from_slice(&read("manifest.json")).expect("manifest.json is JSON");
    let types = manifest["types"].as_array().expect("manifest lists types");
    types
        .iter()
        .map(|t| {
            let name = t["type"].as_str().expect("type name");
            let ty = GgmlType::from_name(name).unwrap_or_else(|| panic!("unknown type {name}"));
            let fixture = Fixture {
                ty,
                bytes: read(t["bytes"].as_str().expect("bytes file")),
                expected: read_f32(t["dequantized"].as_str().expect("dequantized file")),
                random_bytes: t["random_bytes"].as_u64().expect("random_bytes") as usize,
                quantized_from: t["quantized_from"].as_str().map(read_f32),
            };
            assert_eq!(
                fixture.expected.len() as u64,
                t["elements"].as_u64().expect("elements"),
                "{name}"
            );
            fixture
        })
        .collect()
}

#[test]
fn fixtures_cover_every_type_of_the_brief() {
    let names: Vec<&str> = fixtures().iter().map(|f| f.ty.name()).collect();
    for want in [
        "f32", "f16", "bf16", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q2_K", "q3_K", "q4_K",
        "q5_K", "q6_K", "iq4_nl", "iq4_xs",
    ] {
        assert!(names.contains(&want), "no fixture for {want}");
    }
}

/// Every dequantized value has the f32 bit pattern numpy produced.
#[test]
fn dequantize_matches_gguf_numpy_bit_for_bit() {
    for f in fixtures() {
        let mut got = vec![0f32; f.expected.len()];
        dequantize_row(f.ty, &f.bytes, &mut got).unwrap_or_else(|e| panic!("{}: {e}", f.ty));
        let mismatches: Vec<usize> = (0..got.len())
            .filter(|&i| got[i].to_bits() != f.expected[i].to_bits())
            .collect();
        let max_diff = got
            .iter()
            .zip(&f.expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        if let Some(&i) = mismatches.first() {
            panic!(
                "{}: {} of {} values differ from numpy (largest difference {max_diff:e}); first at {i}: {} vs {}",
                f.ty,
                mismatches.len(),
                got.len(),
                got[i],
                f.expected[i]
            );
        }
    }
}

/// `quantize_row_ref` writes the same bytes as `gguf.quants.quantize`.
#[test]
fn reference_quantizers_match_gguf_numpy_bytes() {
    let mut checked = 0;
    for f in fixtures() {
        let Some(x) = &f.quantized_from else { continue };
        let want = &f.bytes[f.random_bytes..];
        let mut got = vec![0u8; want.len()];
        quantize_row_ref(f.ty, x, &mut got).unwrap_or_else(|e| panic!("{}: {e}", f.ty));
        let first = got.iter().zip(want).position(|(a, b)| a != b);
        assert!(
            first.is_none(),
            "{}: byte {} differs (block {}): ours {:#04x}, gguf {:#04x}",
            f.ty,
            first.unwrap_or(0),
            first.unwrap_or(0) / f.ty.type_size(),
            got[first.unwrap_or(0)],
            want[first.unwrap_or(0)]
        );
        checked += 1;
    }
    assert_eq!(
        checked, 7,
        "F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 have quantization fixtures"
    );
}

/// ggml-cpu's AVX2 `quantize_row_q8_0` (what activations go through) and the reference
/// quantizer gguf-py implements agree on every scale, and on every quant except at rounding
/// ties: AVX2 multiplies by `127/amax` and rounds half to even, the reference multiplies by
/// `1/d` and rounds half away from zero. The fixture's last block is made of exact ties.
#[test]
fn q8_0_activation_quantizer_differs_from_the_reference_only_at_ties() {
    let f = fixtures()
        .into_iter()
        .find(|f| f.ty == GgmlType::Q8_0)
        .expect("q8_0 fixture");
    let x = f
        .quantized_from
        .as_ref()
        .expect("q8_0 quantization fixture");
    let reference: &[BlockQ8_0] = bytemuck::cast_slice(&f.bytes[f.random_bytes..]);
    let mut bytes = vec![0u8; f.bytes.len() - f.random_bytes];
    quantize_row(GgmlType::Q8_0, x, &mut bytes).unwrap();
    let ours: &[BlockQ8_0] = bytemuck::cast_slice(&bytes);

    let mut differences = 0;
    for (b, ((o, r), xb)) in ours
        .iter()
        .zip(reference)
        .zip(x.chunks_exact(32))
        .enumerate()
    {
        assert_eq!(o.d, r.d, "block {b}: scales differ");
        let amax = xb.iter().fold(0f32, |m, v| m.max(v.abs()));
        for (i, ((&qo, &qr), &v)) in o.qs.iter().zip(&r.qs).zip(xb).enumerate() {
            if qo == qr {
                continue;
            }
            differences += 1;
            let scaled = (v * 127.0 / amax).abs();
            let distance_to_tie = (scaled.fract() - 0.5).abs();
            assert!(
                (i16::from(qo) - i16::from(qr)).abs() == 1 && distance_to_tie < 1e-4,
                "block {b} element {i}: x = {v}, ours {qo}, reference {qr}, not a rounding tie"
            );
        }
    }
    // The tie block holds 127 (so the scale is 1) and −15.5, −14.5, …, 14.5: a tie differs
    // exactly when rounding away from zero gives an odd integer, 16 of the 30.
    assert!(
        differences >= 16,
        "expected the tie block to show the rounding difference, saw {differences}"
    );
}
