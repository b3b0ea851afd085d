//! Unit tests of the quantization module: block sizes, errors, hand-computed quantizer cases,
//! the scalar path against the AVX2 path bit for bit, the kernels against a plain f64 dot
//! product of the dequantized rows, f16/bf16 rounding, and reference round trips (proptest).
//! Bit-exactness against gguf-py's numpy code is checked in `tests/quant_fixtures.rs`.

use super::*;
use bytemuck::{cast_slice, cast_slice_mut, Pod, Zeroable};
use half::f16;
use proptest::prelude::*;

/// A small deterministic generator (SplitMix64), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        z ^ (z >> 31)
    }
    /// Uniform in −1..1.
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    /// A finite f16 scale of either sign, magnitudes from ~1e-4 to ~4.
    fn f16_scale(&mut self) -> [u8; 2] {
        let mag = 2f32.powi((self.next() % 15) as i32 - 13) * (1.0 + self.unit().abs());
        let v = if self.next().is_multiple_of(2) {
            mag
        } else {
            -mag
        };
        f16::from_f32(v).to_bits().to_le_bytes()
    }
    /// Activations like a transformer's: mostly small, a few large outliers.
    fn activations(&mut self, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| {
                let v = self.unit();
                if self.next().is_multiple_of(37) {
                    v * 40.0
                } else {
                    v
                }
            })
            .collect()
    }
}

/// Random blocks of type `ty` (any bit pattern) with finite f16 scales.
fn random_row(ty: GgmlType, n: usize, rng: &mut Rng) -> Vec<u8> {
    let mut row = rng.bytes(row_bytes(ty, n).unwrap());
    fn fix<B: Pod>(row: &mut [u8], f: impl FnMut(&mut B)) {
        cast_slice_mut::<u8, B>(row).iter_mut().for_each(f);
    }
    match ty {
        GgmlType::F32 => fix(&mut row, |v: &mut [u8; 4]| *v = rng.unit().to_le_bytes()),
        GgmlType::F16 => fix(&mut row, |v: &mut [u8; 2]| *v = rng.f16_scale()),
        GgmlType::BF16 => fix(&mut row, |v: &mut [u8; 2]| {
            *v = ((rng.unit().to_bits() >> 16) as u16).to_le_bytes();
        }),
        GgmlType::Q4_0 => fix(&mut row, |b: &mut BlockQ4_0| b.d = rng.f16_scale()),
        GgmlType::Q4_1 => fix(&mut row, |b: &mut BlockQ4_1| {
            (b.d, b.m) = (rng.f16_scale(), rng.f16_scale())
        }),
        GgmlType::Q5_0 => fix(&mut row, |b: &mut BlockQ5_0| b.d = rng.f16_scale()),
        GgmlType::Q5_1 => fix(&mut row, |b: &mut BlockQ5_1| {
            (b.d, b.m) = (rng.f16_scale(), rng.f16_scale())
        }),
        GgmlType::Q8_0 => fix(&mut row, |b: &mut BlockQ8_0| b.d = rng.f16_scale()),
        GgmlType::Q8_1 => fix(&mut row, |b: &mut BlockQ8_1| {
            (b.d, b.s) = (rng.f16_scale(), rng.f16_scale())
        }),
        GgmlType::Q8_K => fix(&mut row, |b: &mut BlockQ8K| {
            b.d = (rng.unit() * 0.05).to_le_bytes()
        }),
        GgmlType::Q2_K => fix(&mut row, |b: &mut BlockQ2K| {
            (b.d, b.dmin) = (rng.f16_scale(), rng.f16_scale())
        }),
        GgmlType::Q3_K => fix(&mut row, |b: &mut BlockQ3K| b.d = rng.f16_scale()),
        GgmlType::Q4_K => fix(&mut row, |b: &mut BlockQ4K| {
            (b.d, b.dmin) = (rng.f16_scale(), rng.f16_scale())
        }),
        GgmlType::Q5_K => fix(&mut row, |b: &mut BlockQ5K| {
            (b.d, b.dmin) = (rng.f16_scale(), rng.f16_scale())
        }),
        GgmlType::Q6_K => fix(&mut row, |b: &mut BlockQ6K| b.d = rng.f16_scale()),
        GgmlType::IQ4_NL => fix(&mut row, |b: &mut BlockIq4Nl| b.d = rng.f16_scale()),
        GgmlType::IQ4_XS => fix(&mut row, |b: &mut BlockIq4Xs| b.d = rng.f16_scale()),
        other => panic!("no generator for {other}"),
    }
    row
}

const WEIGHT_TYPES: [GgmlType; 15] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q8_0,
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
    GgmlType::IQ4_NL,
    GgmlType::IQ4_XS,
];

#[test]
fn block_structs_have_ggml_sizes() {
    use std::mem::{align_of, size_of};
    let sizes = [
        (
            GgmlType::Q4_0,
            size_of::<BlockQ4_0>(),
            align_of::<BlockQ4_0>(),
        ),
        (
            GgmlType::Q4_1,
            size_of::<BlockQ4_1>(),
            align_of::<BlockQ4_1>(),
        ),
        (
            GgmlType::Q5_0,
            size_of::<BlockQ5_0>(),
            align_of::<BlockQ5_0>(),
        ),
        (
            GgmlType::Q5_1,
            size_of::<BlockQ5_1>(),
            align_of::<BlockQ5_1>(),
        ),
        (
            GgmlType::Q8_0,
            size_of::<BlockQ8_0>(),
            align_of::<BlockQ8_0>(),
        ),
        (
            GgmlType::Q8_1,
            size_of::<BlockQ8_1>(),
            align_of::<BlockQ8_1>(),
        ),
        (
            GgmlType::Q8_K,
            size_of::<BlockQ8K>(),
            align_of::<BlockQ8K>(),
        ),
        (
            GgmlType::Q2_K,
            size_of::<BlockQ2K>(),
            align_of::<BlockQ2K>(),
        ),
        (
            GgmlType::Q3_K,
            size_of::<BlockQ3K>(),
            align_of::<BlockQ3K>(),
        ),
        (
            GgmlType::Q4_K,
            size_of::<BlockQ4K>(),
            align_of::<BlockQ4K>(),
        ),
        (
            GgmlType::Q5_K,
            size_of::<BlockQ5K>(),
            align_of::<BlockQ5K>(),
        ),
        (
            GgmlType::Q6_K,
            size_of::<BlockQ6K>(),
            align_of::<BlockQ6K>(),
        ),
        (
            GgmlType::IQ4_NL,
            size_of::<BlockIq4Nl>(),
            align_of::<BlockIq4Nl>(),
        ),
        (
            GgmlType::IQ4_XS,
            size_of::<BlockIq4Xs>(),
            align_of::<BlockIq4Xs>(),
        ),
        (GgmlType::F32, size_of::<F32Le>(), align_of::<F32Le>()),
        (GgmlType::F16, size_of::<F16Le>(), align_of::<F16Le>()),
        (GgmlType::BF16, size_of::<Bf16Le>(), align_of::<Bf16Le>()),
    ];
    for (ty, size, align) in sizes {
        assert_eq!(size, ty.type_size(), "{ty}");
        assert_eq!(align, 1, "{ty} blocks must be readable at any offset");
    }
}

#[test]
fn vec_dot_types_follow_ggml_cpu() {
    use GgmlType::*;
    let expected = [
        (F32, F32),
        (F16, F16),
        (BF16, BF16),
        (Q4_0, Q8_0),
        (Q4_1, Q8_1),
        (Q5_0, Q8_0),
        (Q5_1, Q8_1),
        (Q8_0, Q8_0),
        (Q2_K, Q8_K),
        (Q3_K, Q8_K),
        (Q4_K, Q8_K),
        (Q5_K, Q8_K),
        (Q6_K, Q8_K),
        (IQ4_NL, Q8_0),
        (IQ4_XS, Q8_K),
    ];
    for (w, a) in expected {
        assert_eq!(vec_dot_type(w), Ok(a), "{w}");
        assert_eq!(DotKernel::new(w).unwrap().vec_dot_type(), a);
    }
}

#[test]
fn errors_name_the_type_and_the_lengths() {
    let err = dequantize_row(GgmlType::IQ2_XXS, &[0; 66], &mut [0.0; 256]).unwrap_err();
    assert_eq!(
        err,
        QuantError::Unsupported {
            ty: GgmlType::IQ2_XXS,
            op: QuantOp::Dequantize
        }
    );
    assert!(err.to_string().contains("iq2_xxs"), "{err}");

    let err = vec_dot(GgmlType::TQ1_0, 256, &[], &[]).unwrap_err();
    assert!(err.to_string().contains("tq1_0"), "{err}");

    let err = dequantize_row(GgmlType::Q4_1, &[0; 19], &mut [0.0; 32]).unwrap_err();
    assert_eq!(
        err,
        QuantError::WrongLength {
            ty: GgmlType::Q4_1,
            what: "source row",
            n: 32,
            expected: 20,
            found: 19
        }
    );
    let err = dequantize_row(GgmlType::Q4_K, &[0; 144], &mut [0.0; 100]).unwrap_err();
    assert_eq!(
        err,
        QuantError::PartialBlock {
            ty: GgmlType::Q4_K,
            n: 100,
            block_size: 256
        }
    );

    let err = quantize_row(GgmlType::Q4_1, &[0.0; 32], &mut [0; 20]).unwrap_err();
    assert_eq!(
        err,
        QuantError::Unsupported {
            ty: GgmlType::Q4_1,
            op: QuantOp::QuantizeActivations
        }
    );
    let err = quantize_row_ref(GgmlType::Q4_K, &[0.0; 256], &mut [0; 144]).unwrap_err();
    assert_eq!(
        err,
        QuantError::Unsupported {
            ty: GgmlType::Q4_K,
            op: QuantOp::QuantizeReference
        }
    );

    let k = DotKernel::new(GgmlType::Q4_1).unwrap();
    let err = k.vec_dot(64, &[0; 40], &[0; 71]).unwrap_err();
    assert_eq!(
        err,
        QuantError::WrongLength {
            ty: GgmlType::Q8_1,
            what: "activation row",
            n: 64,
            expected: 72,
            found: 71
        }
    );
    let err = k
        .vec_dot_rows(32, &[0; 50], &[0; 36], &mut [0.0; 3])
        .unwrap_err();
    assert_eq!(
        err,
        QuantError::WrongLength {
            ty: GgmlType::Q4_1,
            what: "weight rows",
            n: 32,
            expected: 60,
            found: 50
        }
    );
    let err = k.vec_dot(usize::MAX - 31, &[], &[]).unwrap_err();
    assert!(matches!(err, QuantError::RowTooLarge { .. }), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Activation quantizers, hand-computed
// ---------------------------------------------------------------------------------------------

/// With `amax = 127` the AVX2 quantizer's scale is exactly 1, so `q = round_half_even(x)`.
/// The reference quantizer rounds half away from zero: 2.5 → 3 and −0.5 → −1 there.
#[test]
fn q8_0_activations_round_half_to_even() {
    let mut x = [0.0f32; 32];
    x[..6].copy_from_slice(&[127.0, 2.5, -0.5, 3.5, -2.5, 0.49]);
    let mut a = [0u8; 34];
    quantize_row(GgmlType::Q8_0, &x, &mut a).unwrap();
    let b: &BlockQ8_0 = &cast_slice(&a)[0];
    assert_eq!(b.d(), 1.0);
    assert_eq!(&b.qs[..6], &[127, 2, 0, 4, -2, 0]);

    quantize_row_ref(GgmlType::Q8_0, &x, &mut a).unwrap();
    let r: &BlockQ8_0 = &cast_slice(&a)[0];
    assert_eq!(r.d(), 1.0);
    assert_eq!(&r.qs[..6], &[127, 3, -1, 4, -3, 0]);
}

/// `s = f16(d · Σ q)`, with `d` the unrounded `amax/127`.
#[test]
fn q8_1_activations_carry_the_scaled_sum() {
    let x: Vec<f32> = (0..32).map(|i| i as f32 - 10.0).collect(); // amax = 21
    let mut a = [0u8; 36];
    quantize_row(GgmlType::Q8_1, &x, &mut a).unwrap();
    let b: &BlockQ8_1 = &cast_slice(&a)[0];
    let d = 21.0f32 / 127.0;
    assert_eq!(b.d, f16::from_f32(d).to_bits().to_le_bytes());
    let id = 127.0f32 / 21.0;
    let q: Vec<i32> = x
        .iter()
        .map(|v| (v * id).round_ties_even() as i32)
        .collect();
    assert_eq!(b.qs.iter().map(|&v| i32::from(v)).collect::<Vec<_>>(), q);
    let sum: i32 = q.iter().sum();
    assert_eq!(b.s, f16::from_f32(d * sum as f32).to_bits().to_le_bytes());
}

/// `max` is the value of largest magnitude (here −2), `iscale = −127/max = 63.5`, quants round
/// half to even (`nearest_int`): 1·63.5 → 64, 0.5·63.5 = 31.75 → 32; `d = 1/iscale`.
#[test]
fn q8_k_activations_follow_the_reference() {
    let mut x = [0.0f32; 256];
    x[0] = 1.0;
    x[1] = -2.0;
    x[2] = 0.5;
    x[17] = 2.0; // same magnitude as −2 but later: does not become `max`
    let mut a = vec![0u8; 292];
    quantize_row(GgmlType::Q8_K, &x, &mut a).unwrap();
    let b: &BlockQ8K = &cast_slice(&a)[0];
    assert_eq!(b.d(), 1.0 / 63.5);
    assert_eq!(&b.qs[..3], &[64, -127, 32]);
    assert_eq!(b.qs[17], 127);
    assert_eq!(b.bsum(0), 64 - 127 + 32);
    assert_eq!(b.bsum(1), 127);

    // All zeros: d = 0, no quants, no sums.
    quantize_row(GgmlType::Q8_K, &[0.0; 256], &mut a).unwrap();
    assert!(a.iter().all(|&v| v == 0));
}

#[test]
fn f16_and_bf16_activations_round_to_nearest_even() {
    // 1 + 2^-11 is halfway between two f16 values: ties to the even one, 1.0.
    // 1 + 3·2^-11 is halfway between 1 + 2^-10 and 1 + 2^-9: ties up to the even mantissa.
    let x = [1.0 + 2f32.powi(-11), 1.0 + 3.0 * 2f32.powi(-11)];
    let mut h = [0u8; 4];
    quantize_row(GgmlType::F16, &x, &mut h).unwrap();
    assert_eq!(u16::from_le_bytes([h[0], h[1]]), 0x3c00);
    assert_eq!(u16::from_le_bytes([h[2], h[3]]), 0x3c02);

    // bf16 keeps 8 mantissa bits: 1 + 2^-8 ties to 1.0, 1 + 3·2^-8 ties to 1 + 2^-6.
    let x = [1.0 + 2f32.powi(-8), 1.0 + 3.0 * 2f32.powi(-8)];
    quantize_row(GgmlType::BF16, &x, &mut h).unwrap();
    assert_eq!(u16::from_le_bytes([h[0], h[1]]), 0x3f80);
    assert_eq!(u16::from_le_bytes([h[2], h[3]]), 0x3f82);
}

/// `ggml_compute_fp32_to_bf16`, written from its definition: quiet NaNs, otherwise add
/// `0x7fff + lsb` and truncate.
fn ggml_bf16_bits(x: f32) -> u16 {
    let u = x.to_bits();
    if u & 0x7fff_ffff > 0x7f80_0000 {
        return ((u >> 16) | 64) as u16;
    }
    ((u as u64 + 0x7fff + u64::from((u >> 16) & 1)) >> 16) as u16
}

#[test]
fn half_crate_rounds_like_ggml_and_f16c() {
    let mut rng = Rng(7);
    let mut bits: Vec<u32> = (0..200_000).map(|_| rng.next() as u32).collect();
    bits.extend([
        0,
        0x8000_0000,
        0x7f80_0000,
        0xff80_0000,
        0x7fc0_0000,
        0x7f80_0001,
        0x0000_0001,
        0x477f_f000,
    ]);
    for &b in &bits {
        let x = f32::from_bits(b);
        assert_eq!(
            half::bf16::from_f32(x).to_bits(),
            ggml_bf16_bits(x),
            "bf16 of {b:#010x}"
        );
        #[cfg(target_arch = "x86_64")]
        if simd::use_avx2() {
            let f16c = unsafe { simd::x86::f16_le_from_f32(x) };
            let soft = f16::from_f32(x).to_bits().to_le_bytes();
            if x.is_nan() {
                assert!(f16::from_bits(u16::from_le_bytes(f16c)).is_nan());
                assert!(f16::from_bits(u16::from_le_bytes(soft)).is_nan());
            } else {
                assert_eq!(f16c, soft, "f16 of {b:#010x}");
            }
        }
    }
    // Every f16 widens to the same f32 through F16C and through `half`.
    #[cfg(target_arch = "x86_64")]
    if simd::use_avx2() {
        for h in 0..=u16::MAX {
            let f16c = unsafe { simd::x86::f16_le(h.to_le_bytes()) };
            let soft = simd::f16_le(h.to_le_bytes());
            assert!(
                f16c.to_bits() == soft.to_bits() || (f16c.is_nan() && soft.is_nan()),
                "{h:#06x}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Scalar path = AVX2 path
// ---------------------------------------------------------------------------------------------

/// Row lengths that cover one block, odd block counts (IQ4_NL's tail) and SmolLM2's sizes.
fn lengths(ty: GgmlType) -> Vec<usize> {
    match ty.block_size().max(vec_dot_type(ty).unwrap().block_size()) {
        1 => vec![1, 7, 31, 32, 33, 64, 100, 576],
        32 => vec![32, 64, 96, 160, 576, 1536],
        _ => vec![256, 512, 768, 1536],
    }
}

#[cfg(target_arch = "x86_64")]
fn avx2_kernel(ty: GgmlType) -> fn(&[u8], &[u8]) -> f32 {
    use GgmlType::*;
    match ty {
        F32 => |w, a| unsafe { float::avx2::vec_dot_f32(cast_slice(w), cast_slice(a)) },
        F16 => |w, a| unsafe { float::avx2::vec_dot_f16(cast_slice(w), cast_slice(a)) },
        BF16 => |w, a| unsafe { float::avx2::vec_dot_bf16(cast_slice(w), cast_slice(a)) },
        Q4_0 => |w, a| unsafe { q4::avx2::vec_dot_q4_0_q8_0(cast_slice(w), cast_slice(a)) },
        Q4_1 => |w, a| unsafe { q4::avx2::vec_dot_q4_1_q8_1(cast_slice(w), cast_slice(a)) },
        Q5_0 => |w, a| unsafe { q5::avx2::vec_dot_q5_0_q8_0(cast_slice(w), cast_slice(a)) },
        Q5_1 => |w, a| unsafe { q5::avx2::vec_dot_q5_1_q8_1(cast_slice(w), cast_slice(a)) },
        Q8_0 => |w, a| unsafe { q8::avx2::vec_dot_q8_0_q8_0(cast_slice(w), cast_slice(a)) },
        Q2_K => |w, a| unsafe { q2_k::avx2::vec_dot_q2_k_q8_k(cast_slice(w), cast_slice(a)) },
        Q3_K => |w, a| unsafe { q3_k::avx2::vec_dot_q3_k_q8_k(cast_slice(w), cast_slice(a)) },
        Q4_K => |w, a| unsafe { q4_k::avx2::vec_dot_q4_k_q8_k(cast_slice(w), cast_slice(a)) },
        Q5_K => |w, a| unsafe { q5_k::avx2::vec_dot_q5_k_q8_k(cast_slice(w), cast_slice(a)) },
        Q6_K => |w, a| unsafe { q6_k::avx2::vec_dot_q6_k_q8_k(cast_slice(w), cast_slice(a)) },
        IQ4_NL => |w, a| unsafe { iq4::avx2::vec_dot_iq4_nl_q8_0(cast_slice(w), cast_slice(a)) },
        IQ4_XS => |w, a| unsafe { iq4::avx2::vec_dot_iq4_xs_q8_k(cast_slice(w), cast_slice(a)) },
        other => panic!("no AVX2 kernel for {other}"),
    }
}

fn scalar_kernel(ty: GgmlType) -> fn(&[u8], &[u8]) -> f32 {
    use GgmlType::*;
    match ty {
        F32 => |w, a| float::vec_dot_f32_scalar(cast_slice(w), cast_slice(a)),
        F16 => |w, a| float::vec_dot_f16_scalar(cast_slice(w), cast_slice(a)),
        BF16 => |w, a| float::vec_dot_bf16_scalar(cast_slice(w), cast_slice(a)),
        Q4_0 => |w, a| q4::vec_dot_q4_0_q8_0_scalar(cast_slice(w), cast_slice(a)),
        Q4_1 => |w, a| q4::vec_dot_q4_1_q8_1_scalar(cast_slice(w), cast_slice(a)),
        Q5_0 => |w, a| q5::vec_dot_q5_0_q8_0_scalar(cast_slice(w), cast_slice(a)),
        Q5_1 => |w, a| q5::vec_dot_q5_1_q8_1_scalar(cast_slice(w), cast_slice(a)),
        Q8_0 => |w, a| q8::vec_dot_q8_0_q8_0_scalar(cast_slice(w), cast_slice(a)),
        Q2_K => |w, a| q2_k::vec_dot_q2_k_q8_k_scalar(cast_slice(w), cast_slice(a)),
        Q3_K => |w, a| q3_k::vec_dot_q3_k_q8_k_scalar(cast_slice(w), cast_slice(a)),
        Q4_K => |w, a| q4_k::vec_dot_q4_k_q8_k_scalar(cast_slice(w), cast_slice(a)),
        Q5_K => |w, a| q5_k::vec_dot_q5_k_q8_k_scalar(cast_slice(w), cast_slice(a)),
        Q6_K => |w, a| q6_k::vec_dot_q6_k_q8_k_scalar(cast_slice(w), cast_slice(a)),
        IQ4_NL => |w, a| iq4::vec_dot_iq4_nl_q8_0_scalar(cast_slice(w), cast_slice(a)),
        IQ4_XS => |w, a| iq4::vec_dot_iq4_xs_q8_k_scalar(cast_slice(w), cast_slice(a)),
        other => panic!("no scalar kernel for {other}"),
    }
}

/// Every kernel, scalar against AVX2, bit for bit: weights are random bytes (with finite
/// scales); activations are either quantized from f32 or random bytes too (which includes the
/// −128 quants the quantizer never makes).
#[cfg(target_arch = "x86_64")]
#[test]
fn scalar_and_avx2_dot_products_are_bit_identical() {
    if !simd::use_avx2() {
        eprintln!("no AVX2/FMA/F16C on this CPU: nothing to compare");
        return;
    }
    let mut rng = Rng(42);
    for ty in WEIGHT_TYPES {
        let dot_ty = vec_dot_type(ty).unwrap();
        for n in lengths(ty) {
            for trial in 0..20 {
                let w = random_row(ty, n, &mut rng);
                let a = if trial % 2 == 0 {
                    let mut a = vec![0u8; row_bytes(dot_ty, n).unwrap()];
                    quantize_row(dot_ty, &rng.activations(n), &mut a).unwrap();
                    a
                } else {
                    random_row(dot_ty, n, &mut rng)
                };
                let v = avx2_kernel(ty)(&w, &a);
                let s = scalar_kernel(ty)(&w, &a);
                assert_eq!(
                    v.to_bits(),
                    s.to_bits(),
                    "{ty} n={n} trial {trial}: avx2 {v} scalar {s}"
                );
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn scalar_and_avx2_activation_quantizers_are_bit_identical() {
    if !simd::use_avx2() {
        return;
    }
    let mut rng = Rng(3);
    let mut inputs: Vec<Vec<f32>> = (0..200).map(|_| rng.activations(256)).collect();
    // Exact ties after scaling (amax = 127 → id = 1), zeros, a lone NaN and an infinity.
    inputs.push(
        (0..256)
            .map(|i| {
                if i % 32 == 31 {
                    127.0
                } else {
                    (i % 32) as f32 * 0.5 - 8.0
                }
            })
            .collect(),
    );
    inputs.push(vec![0.0; 256]);
    inputs.push(
        (0..256)
            .map(|i| if i == 5 { f32::NAN } else { i as f32 })
            .collect(),
    );
    inputs.push(
        (0..256)
            .map(|i| if i == 9 { f32::INFINITY } else { -(i as f32) })
            .collect(),
    );
    for x in &inputs {
        let (mut v, mut s) = ([BlockQ8_0::zeroed(); 8], [BlockQ8_0::zeroed(); 8]);
        unsafe { q8::avx2::quantize_row_q8_0(x, &mut v) };
        q8::quantize_row_q8_0_scalar(x, &mut s);
        assert_eq!(v, s);
        let (mut v, mut s) = ([BlockQ8_1::zeroed(); 8], [BlockQ8_1::zeroed(); 8]);
        unsafe { q8::avx2::quantize_row_q8_1(x, &mut v) };
        q8::quantize_row_q8_1_scalar(x, &mut s);
        assert_eq!(v, s);
    }
}

// ---------------------------------------------------------------------------------------------
// The kernels compute dot products
// ---------------------------------------------------------------------------------------------

/// `vec_dot(w, quantize(a))` against the f64 dot product of the dequantized rows (for Q8_1 the
/// kernel uses the f16 `s` for the offset term, hence a tolerance, stated relative to
/// `Σ |w|·|a|`).
#[test]
fn kernels_agree_with_the_dequantized_dot_product() {
    let mut rng = Rng(11);
    for ty in WEIGHT_TYPES {
        let k = DotKernel::new(ty).unwrap();
        let dot_ty = k.vec_dot_type();
        for n in lengths(ty) {
            let w = random_row(ty, n, &mut rng);
            let (_, a_len) = k.row_bytes(n).unwrap();
            let mut a = vec![0u8; a_len];
            k.quantize_row(&rng.activations(n), &mut a).unwrap();

            let (mut wf, mut af) = (vec![0f32; n], vec![0f32; n]);
            dequantize_row(ty, &w, &mut wf).unwrap();
            dequantize_row(dot_ty, &a, &mut af).unwrap();
            let exact: f64 = wf
                .iter()
                .zip(&af)
                .map(|(&x, &y)| f64::from(x) * f64::from(y))
                .sum();
            let scale: f64 = wf
                .iter()
                .zip(&af)
                .map(|(&x, &y)| f64::from(x * y).abs())
                .sum();

            let got = f64::from(k.vec_dot(n, &w, &a).unwrap());
            let tol = 2e-3 * scale + 1e-6;
            assert!(
                (got - exact).abs() <= tol,
                "{ty} n={n}: kernel {got}, f64 {exact}, |Δ| {} > {tol}",
                (got - exact).abs()
            );
        }
    }
}

#[test]
fn vec_dot_rows_is_vec_dot_per_row() {
    let mut rng = Rng(5);
    let ty = GgmlType::Q4_1;
    let k = DotKernel::new(ty).unwrap();
    let n = 576;
    let (w_len, a_len) = k.row_bytes(n).unwrap();
    let w = random_row(ty, n * 5, &mut rng);
    assert_eq!(w.len(), 5 * w_len);
    let mut a = vec![0u8; a_len];
    k.quantize_row(&rng.activations(n), &mut a).unwrap();
    let mut out = [0f32; 5];
    k.vec_dot_rows(n, &w, &a, &mut out).unwrap();
    for (r, o) in out.iter().enumerate() {
        let one = vec_dot(ty, n, &w[r * w_len..(r + 1) * w_len], &a).unwrap();
        assert_eq!(o.to_bits(), one.to_bits());
    }
}

/// The four-column kernels give each column the bits of the single-column kernel, for every
/// type (most types loop over `vec_dot`; Q4_1 and Q8_0 have their own AVX2 kernel).
#[test]
fn vec_dot_cols_is_vec_dot_per_column() {
    let mut rng = Rng(9);
    for ty in WEIGHT_TYPES {
        let k = DotKernel::new(ty).unwrap();
        let n = *lengths(ty).last().unwrap();
        let (_, a_len) = k.row_bytes(n).unwrap();
        let w = random_row(ty, n, &mut rng);
        for cols in [1, 3, 4, 7, 9] {
            let mut a = vec![0u8; cols * a_len];
            for col in a.chunks_exact_mut(a_len) {
                k.quantize_row(&rng.activations(n), col).unwrap();
            }
            let mut out = vec![0f32; cols];
            k.vec_dot_cols(n, &w, &a, &mut out).unwrap();
            for (c, col) in a.chunks_exact(a_len).enumerate() {
                let one = k.vec_dot(n, &w, col).unwrap();
                assert_eq!(
                    out[c].to_bits(),
                    one.to_bits(),
                    "{ty} n={n} column {c} of {cols}"
                );
            }
        }
    }
}

/// Q8_0 · Q8_0 by hand: one block of d = 0.5 with quants 1..=32 against d = 2 with all ones:
/// 0.5·2·Σ i = 528.
#[test]
fn q8_0_dot_by_hand() {
    let w = BlockQ8_0 {
        d: f16::from_f32(0.5).to_bits().to_le_bytes(),
        qs: std::array::from_fn(|i| i as i8 + 1),
    };
    let a = BlockQ8_0 {
        d: f16::from_f32(2.0).to_bits().to_le_bytes(),
        qs: [1; 32],
    };
    let got = vec_dot(
        GgmlType::Q8_0,
        32,
        bytemuck::bytes_of(&w),
        bytemuck::bytes_of(&a),
    )
    .unwrap();
    assert_eq!(got, 528.0);
}

// ---------------------------------------------------------------------------------------------
// Reference quantizers: round trips within half a step (proptest)
// ---------------------------------------------------------------------------------------------

/// Blocks of 32 values at one random magnitude (1e-3..1e3), so scales stay normal f16 numbers.
fn block_values() -> impl Strategy<Value = Vec<f32>> {
    (-3i32..=3, prop::collection::vec(-1.0f32..1.0, 32)).prop_map(|(e, v)| {
        let scale = 10f32.powi(e);
        v.into_iter().map(|x| x * scale).collect()
    })
}

/// The error bound of one dequantized value: half a step of the f32 scale `d` the quantizer
/// used (a full step where the symmetric formats clip their top code), plus what rounding `d`
/// (and `m`) to f16 for storage moves the value (`|q|·|d − d_f16| + |m − m_f16|`), plus f32
/// rounding slack.
fn round_trip_bound(half_steps: f32, d: f32, d16: f32, q: f32, m: f32, m16: f32) -> f32 {
    half_steps * 0.5 * d.abs()
        + q.abs() * (d - d16).abs()
        + (m - m16).abs()
        + 1e-6 * (d.abs() * 64.0 + m.abs())
}

fn check_round_trip(ty: GgmlType, x: &[f32]) -> Result<(), TestCaseError> {
    let mut q = vec![0u8; row_bytes(ty, x.len()).unwrap()];
    quantize_row_ref(ty, x, &mut q).unwrap();
    let mut y = vec![0f32; x.len()];
    dequantize_row(ty, &q, &mut y).unwrap();

    let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let signed_max = q4::signed_absmax(x);
    let (min, max) = x
        .iter()
        .fold((f32::MAX, -f32::MAX), |(a, b), &v| (a.min(v), b.max(v)));
    let r16 = |v: f32| f16::from_f32(v).to_f32();
    for (i, (&xi, &yi)) in x.iter().zip(&y).enumerate() {
        let bound = match ty {
            // x = d·q, d = amax/127, |q| ≤ 127.
            GgmlType::Q8_0 => {
                let d = amax / 127.0;
                round_trip_bound(1.0, d, r16(d), 127.0, 0.0, 0.0)
            }
            // x = d·(q − 8) with d = max/−8: the opposite extreme (x·id > 7.5) is clipped to
            // code 15, one full step away.
            GgmlType::Q4_0 | GgmlType::Q5_0 => {
                let levels = if ty == GgmlType::Q4_0 { 8.0 } else { 16.0 };
                let d = signed_max / -levels;
                let id = if d != 0.0 { 1.0 / d } else { 0.0 };
                let clipped = (xi * id + levels + 0.5) as i32 > 2 * levels as i32 - 1;
                round_trip_bound(if clipped { 2.0 } else { 1.0 }, d, r16(d), levels, 0.0, 0.0)
            }
            // x = d·q + min, d = (max − min)/levels.
            GgmlType::Q4_1 | GgmlType::Q5_1 => {
                let levels = if ty == GgmlType::Q4_1 { 15.0 } else { 31.0 };
                let d = (max - min) / levels;
                round_trip_bound(1.0, d, r16(d), levels, min, r16(min))
            }
            other => unreachable!("{other}"),
        };
        prop_assert!(
            (xi - yi).abs() <= bound,
            "{ty} element {i}: x {xi} → {yi}, |Δ| {} > bound {bound}",
            (xi - yi).abs()
        );
    }
    Ok(())
}

proptest! {
    #[test]
    fn q8_0_round_trip_within_half_a_step(x in block_values()) {
        check_round_trip(GgmlType::Q8_0, &x)?;
    }

    #[test]
    fn q4_0_round_trip_within_half_a_step(x in block_values()) {
        check_round_trip(GgmlType::Q4_0, &x)?;
    }

    #[test]
    fn q4_1_round_trip_within_half_a_step(x in block_values()) {
        check_round_trip(GgmlType::Q4_1, &x)?;
    }

    #[test]
    fn q5_0_round_trip_within_half_a_step(x in block_values()) {
        check_round_trip(GgmlType::Q5_0, &x)?;
    }

    #[test]
    fn q5_1_round_trip_within_half_a_step(x in block_values()) {
        check_round_trip(GgmlType::Q5_1, &x)?;
    }
}
