//! The 8-bit blocks: Q8_0 (a weight format — SmolLM2 stores `token_embd` in it — and the
//! activation format for Q4_0/Q5_0/Q8_0/IQ4_NL weights), Q8_1 (activations for Q4_1/Q5_1: it
//! also carries `d·Σq`, so the weight's offset `m` costs one multiply per block) and Q8_K
//! (activations for the K-quants and IQ4_XS, 256 values with per-16 sums).
//!
//! The activation quantizers here are ggml-cpu's x86 `quantize_row_q8_0` / `quantize_row_q8_1`
//! (AVX2: `127/amax` multiplier, round half to even) and `quantize_row_q8_K_ref` (x86 calls the
//! reference). They differ from ggml's *reference* Q8_0/Q8_1 quantizers, which gguf-py's numpy
//! code implements (`1/d` multiplier, round half away from zero): [`quantize_q8_0_ref`] is that
//! one, used to make model files, never activations.

use bytemuck::{Pod, Zeroable};

use super::simd::{self, chunk_lanes, f16_le, f16_le_from_f32, fma_lanes, hsum_lanes};

/// Q8_0: 32 values, one f16 scale. 34 bytes, `x[i] = d · qs[i]`.
///
/// | bytes  | field | meaning                  |
/// |--------|-------|--------------------------|
/// | 0..2   | `d`   | f16 scale, little-endian |
/// | 2..34  | `qs`  | 32 × i8                  |
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct BlockQ8_0 {
    pub d: [u8; 2],
    pub qs: [i8; 32],
}

/// Q8_1: 32 values, f16 scale and f16 `s = d · Σ qs` (set by the quantizer). 36 bytes.
///
/// | bytes  | field | meaning                              |
/// |--------|-------|--------------------------------------|
/// | 0..2   | `d`   | f16 scale                            |
/// | 2..4   | `s`   | f16 `d · Σ qs[i]`                    |
/// | 4..36  | `qs`  | 32 × i8, `x[i] = d · qs[i]`          |
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct BlockQ8_1 {
    pub d: [u8; 2],
    pub s: [u8; 2],
    pub qs: [i8; 32],
}

/// Q8_K: 256 values, an f32 scale and the sum of each 16 quants. 292 bytes.
///
/// | bytes    | field   | meaning                                  |
/// |----------|---------|------------------------------------------|
/// | 0..4     | `d`     | f32 scale, little-endian                 |
/// | 4..260   | `qs`    | 256 × i8, `x[i] = d · qs[i]`             |
/// | 260..292 | `bsums` | 16 × i16 LE, `Σ qs[16j..16j+16]`         |
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct BlockQ8K {
    pub d: [u8; 4],
    pub qs: [i8; 256],
    pub bsums: [[u8; 2]; 16],
}

impl BlockQ8_0 {
    pub fn d(&self) -> f32 {
        f16_le(self.d)
    }
}

impl BlockQ8_1 {
    pub fn d(&self) -> f32 {
        f16_le(self.d)
    }
    pub fn s(&self) -> f32 {
        f16_le(self.s)
    }
}

impl BlockQ8K {
    pub fn d(&self) -> f32 {
        f32::from_le_bytes(self.d)
    }
    /// The sum of quants `16j..16j+16`.
    pub fn bsum(&self, j: usize) -> i16 {
        i16::from_le_bytes(self.bsums[j])
    }
}

// ---------------------------------------------------------------------------------------------
// Dequantization (gguf-py / ggml `dequantize_row_q8_0`)
// ---------------------------------------------------------------------------------------------

/// `y[i] = qs[i] · d`. `y.len() == 32 · x.len()`.
pub(super) fn dequantize_q8_0(x: &[BlockQ8_0], y: &mut [f32]) {
    for (b, out) in x.iter().zip(y.chunks_exact_mut(32)) {
        let d = b.d();
        for (o, &q) in out.iter_mut().zip(&b.qs) {
            *o = f32::from(q) * d;
        }
    }
}

/// `y[i] = qs[i] · d` (ggml has no Q8_1 dequantizer; this is the obvious one).
pub(super) fn dequantize_q8_1(x: &[BlockQ8_1], y: &mut [f32]) {
    for (b, out) in x.iter().zip(y.chunks_exact_mut(32)) {
        let d = b.d();
        for (o, &q) in out.iter_mut().zip(&b.qs) {
            *o = f32::from(q) * d;
        }
    }
}

/// `y[i] = d · qs[i]` (`dequantize_row_q8_K`).
pub(super) fn dequantize_q8_k(x: &[BlockQ8K], y: &mut [f32]) {
    for (b, out) in x.iter().zip(y.chunks_exact_mut(256)) {
        let d = b.d();
        for (o, &q) in out.iter_mut().zip(&b.qs) {
            *o = d * f32::from(q);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Activation quantizers (ggml-cpu `from_float`)
// ---------------------------------------------------------------------------------------------

/// `max(|x|)` over 32 values in the AVX2 kernel's order: four 8-lane `max_ps`, then the halves,
/// then `movehl`, then `movehdup`. `max_ps(a, b)` returns `b` when either is NaN; with that rule
/// NaN inputs give the same (odd) result on both paths.
fn amax_32(x: &[f32; 32]) -> f32 {
    let max_ps = |a: f32, b: f32| if a > b { a } else { b };
    let mut lanes: [f32; 8] = std::array::from_fn(|k| x[k].abs());
    for v in 1..4 {
        for k in 0..8 {
            lanes[k] = max_ps(lanes[k], x[8 * v + k].abs());
        }
    }
    let m4: [f32; 4] = std::array::from_fn(|k| max_ps(lanes[4 + k], lanes[k]));
    let m2 = [max_ps(m4[0], m4[2]), max_ps(m4[1], m4[3])];
    max_ps(m2[0], m2[1])
}

/// `_mm256_cvtps_epi32` of an already-rounded value: out-of-range and NaN give `i32::MIN`.
fn cvtps_epi32(v: f32) -> i32 {
    if v.is_nan() || !(-2_147_483_648.0..2_147_483_648.0).contains(&v) {
        i32::MIN
    } else {
        v as i32
    }
}

/// `packs_epi32` then `packs_epi16`: saturate an i32 to i8.
fn saturate_i8(v: i32) -> i8 {
    v.clamp(-128, 127) as i8
}

/// ggml-cpu x86 `quantize_row_q8_0` (AVX2): `d = amax/127` stored as f16, `q = round_even(x ·
/// 127/amax)`. Note the multiplier is `127/amax`, not `1/d`, and ties go to even — both differ
/// from the reference quantizer.
pub(super) fn quantize_row_q8_0(x: &[f32], y: &mut [BlockQ8_0]) {
    if simd::use_avx2() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `use_avx2` checked that the CPU has AVX2, FMA and F16C.
        unsafe {
            return avx2::quantize_row_q8_0(x, y);
        }
    }
    quantize_row_q8_0_scalar(x, y)
}

pub(super) fn quantize_row_q8_0_scalar(x: &[f32], y: &mut [BlockQ8_0]) {
    for (xb, b) in x.chunks_exact(32).zip(y.iter_mut()) {
        let xb: &[f32; 32] = xb.try_into().expect("chunks_exact(32)");
        let amax = amax_32(xb);
        let d = amax / 127.0;
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        b.d = f16_le_from_f32(d);
        for (q, &v) in b.qs.iter_mut().zip(xb) {
            *q = saturate_i8(cvtps_epi32((v * id).round_ties_even()));
        }
    }
}

/// ggml-cpu x86 `quantize_row_q8_1` (AVX2): as Q8_0, plus `s = f16(d · Σ q)` where the sum is
/// over the rounded i32 values before they are narrowed to i8.
pub(super) fn quantize_row_q8_1(x: &[f32], y: &mut [BlockQ8_1]) {
    if simd::use_avx2() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `use_avx2` checked that the CPU has AVX2, FMA and F16C.
        unsafe {
            return avx2::quantize_row_q8_1(x, y);
        }
    }
    quantize_row_q8_1_scalar(x, y)
}

pub(super) fn quantize_row_q8_1_scalar(x: &[f32], y: &mut [BlockQ8_1]) {
    for (xb, b) in x.chunks_exact(32).zip(y.iter_mut()) {
        let xb: &[f32; 32] = xb.try_into().expect("chunks_exact(32)");
        let amax = amax_32(xb);
        let d = amax / 127.0;
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        b.d = f16_le_from_f32(d);
        let mut sum = 0i32;
        for (q, &v) in b.qs.iter_mut().zip(xb) {
            let i = cvtps_epi32((v * id).round_ties_even());
            sum = sum.wrapping_add(i);
            *q = saturate_i8(i);
        }
        b.s = f16_le_from_f32(d * sum as f32);
    }
}

/// ggml's `nearest_int`: round half to even by adding 1.5·2²³ and reading the mantissa bits.
/// Exact for |v| < 2²², which the Q8_K quantizer guarantees (|v| ≤ 127).
fn nearest_int(v: f32) -> i32 {
    let bits = (v + 12_582_912.0).to_bits() as i32;
    (bits & 0x007f_ffff) - 0x0040_0000
}

/// `quantize_row_q8_K_ref` (what ggml-cpu's x86 `quantize_row_q8_K` calls): `max` is the value
/// with the largest magnitude (first one wins), `q = min(127, nearest_int(-127/max · x))`,
/// `d = 1/iscale`. An all-zero block gets `d = 0`, zero quants and zero sums (ggml leaves the
/// sums untouched there; they are multiplied by `d = 0` in every dot product).
pub(super) fn quantize_row_q8_k(x: &[f32], y: &mut [BlockQ8K]) {
    for (xb, b) in x.chunks_exact(256).zip(y.iter_mut()) {
        let mut amax = 0.0f32;
        let mut max = 0.0f32;
        for &v in xb {
            if v.abs() > amax {
                amax = v.abs();
                max = v;
            }
        }
        if amax == 0.0 {
            *b = BlockQ8K::zeroed();
            continue;
        }
        let iscale = -127.0 / max;
        for (q, &v) in b.qs.iter_mut().zip(xb) {
            *q = nearest_int(iscale * v).min(127) as i8;
        }
        for (j, sum) in b.bsums.iter_mut().enumerate() {
            let s: i32 = b.qs[16 * j..16 * j + 16]
                .iter()
                .map(|&q| i32::from(q))
                .sum();
            *sum = (s as i16).to_le_bytes();
        }
        b.d = (1.0 / iscale).to_le_bytes();
    }
}

// ---------------------------------------------------------------------------------------------
// Reference quantizer (model files; gguf-py `Q8_0.quantize_blocks`)
// ---------------------------------------------------------------------------------------------

/// `quantize_row_q8_0_ref`: `d = amax/127`, `q = roundf(x · 1/d)` (half away from zero).
pub(super) fn quantize_q8_0_ref(x: &[f32], y: &mut [BlockQ8_0]) {
    for (xb, b) in x.chunks_exact(32).zip(y.iter_mut()) {
        let amax = xb.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        b.d = f16_le_from_f32(d);
        for (q, &v) in b.qs.iter_mut().zip(xb) {
            *q = (v * id).round() as i8;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Q8_0 · Q8_0 (`ggml_vec_dot_q8_0_q8_0`)
// ---------------------------------------------------------------------------------------------

/// Σ over blocks of `d_x·d_y · Σ qx·qy`, accumulated like the AVX2 kernel.
pub(super) fn vec_dot_q8_0_q8_0(x: &[BlockQ8_0], y: &[BlockQ8_0]) -> f32 {
    if simd::use_avx2() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `use_avx2` checked that the CPU has AVX2, FMA and F16C.
        unsafe {
            return avx2::vec_dot_q8_0_q8_0(x, y);
        }
    }
    vec_dot_q8_0_q8_0_scalar(x, y)
}

/// [`vec_dot_q8_0_q8_0`] of one weight row with four activation rows at once, each result
/// bit-identical to the single-row kernel. `None` without AVX2.
pub(super) fn vec_dot_q8_0_q8_0_x4(x: &[BlockQ8_0], y: [&[BlockQ8_0]; 4]) -> Option<[f32; 4]> {
    if simd::use_avx2() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `use_avx2` checked that the CPU has AVX2, FMA and F16C.
        unsafe {
            return Some(avx2::vec_dot_q8_0_q8_0_x4(x, y));
        }
    }
    None
}

pub(super) fn vec_dot_q8_0_q8_0_scalar(x: &[BlockQ8_0], y: &[BlockQ8_0]) -> f32 {
    let mut acc = [0f32; 8];
    for (bx, by) in x.iter().zip(y) {
        let d = bx.d() * by.d();
        let lanes = chunk_lanes(&bx.qs, &by.qs, simd::mul_i8_signed);
        fma_lanes(&mut acc, d, &lanes);
    }
    hsum_lanes(&acc)
}

#[cfg(target_arch = "x86_64")]
pub(super) mod avx2 {
    use super::super::simd::x86::*;
    use super::{BlockQ8_0, BlockQ8_1};
    use std::arch::x86_64::*;

    /// Round 32 floats (four registers) to i32 with `127/amax` scaling. Stores the f16 scale in
    /// `d_out` and returns the unrounded f32 scale with the i32 vectors.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn scale_round_32(x: &[f32], d_out: &mut [u8; 2]) -> (f32, [__m256i; 4]) {
        let p = x.as_ptr();
        let v = [
            _mm256_loadu_ps(p),
            _mm256_loadu_ps(p.add(8)),
            _mm256_loadu_ps(p.add(16)),
            _mm256_loadu_ps(p.add(24)),
        ];
        let sign_bit = _mm256_set1_ps(-0.0);
        let mut max_abs = _mm256_andnot_ps(sign_bit, v[0]);
        max_abs = _mm256_max_ps(max_abs, _mm256_andnot_ps(sign_bit, v[1]));
        max_abs = _mm256_max_ps(max_abs, _mm256_andnot_ps(sign_bit, v[2]));
        max_abs = _mm256_max_ps(max_abs, _mm256_andnot_ps(sign_bit, v[3]));
        let mut max4 = _mm_max_ps(
            _mm256_extractf128_ps(max_abs, 1),
            _mm256_castps256_ps128(max_abs),
        );
        max4 = _mm_max_ps(max4, _mm_movehl_ps(max4, max4));
        max4 = _mm_max_ss(max4, _mm_movehdup_ps(max4));
        let max_scalar = _mm_cvtss_f32(max4);

        let d = max_scalar / 127.0;
        *d_out = f16_le_from_f32(d);
        let id = if max_scalar != 0.0 {
            127.0 / max_scalar
        } else {
            0.0
        };
        let mul = _mm256_set1_ps(id);
        let i = [
            scale_round_8(v[0], mul),
            scale_round_8(v[1], mul),
            scale_round_8(v[2], mul),
            scale_round_8(v[3], mul),
        ];
        (d, i)
    }

    /// `cvtps_epi32(round_ps(v · mul, nearest))`: ties to even.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn scale_round_8(v: __m256, mul: __m256) -> __m256i {
        const NEAREST: i32 = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
        _mm256_cvtps_epi32(_mm256_round_ps::<NEAREST>(_mm256_mul_ps(v, mul)))
    }

    /// Narrow four i32 vectors to 32 i8 in element order.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn pack_i8(i: [__m256i; 4], out: &mut [i8; 32]) {
        // packs works per 128-bit half, so the 4-byte groups come out as 0 4 1 5 2 6 3 7.
        let a = _mm256_packs_epi32(i[0], i[1]);
        let b = _mm256_packs_epi32(i[2], i[3]);
        let packed = _mm256_packs_epi16(a, b);
        let perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
        _mm256_storeu_si256(
            out.as_mut_ptr().cast(),
            _mm256_permutevar8x32_epi32(packed, perm),
        );
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn quantize_row_q8_0(x: &[f32], y: &mut [BlockQ8_0]) {
        for (xb, b) in x.chunks_exact(32).zip(y.iter_mut()) {
            let (_, i) = scale_round_32(xb, &mut b.d);
            pack_i8(i, &mut b.qs);
        }
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn quantize_row_q8_1(x: &[f32], y: &mut [BlockQ8_1]) {
        for (xb, b) in x.chunks_exact(32).zip(y.iter_mut()) {
            let (d, i) = scale_round_32(xb, &mut b.d);
            let sum = hsum_i32_8(_mm256_add_epi32(
                _mm256_add_epi32(i[0], i[1]),
                _mm256_add_epi32(i[2], i[3]),
            ));
            b.s = f16_le_from_f32(d * sum as f32);
            pack_i8(i, &mut b.qs);
        }
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn vec_dot_q8_0_q8_0(x: &[BlockQ8_0], y: &[BlockQ8_0]) -> f32 {
        let mut acc = _mm256_setzero_ps();
        for (bx, by) in x.iter().zip(y) {
            let [dx, dy] = f16x2(bx.d, by.d);
            let d = _mm256_set1_ps(dx * dy);
            let q = mul_sum_i8_pairs_float(load32(&bx.qs), load32(&by.qs));
            acc = _mm256_fmadd_ps(d, q, acc);
        }
        hsum_float_8(acc)
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn vec_dot_q8_0_q8_0_x4(x: &[BlockQ8_0], y: [&[BlockQ8_0]; 4]) -> [f32; 4] {
        let nb = y.iter().fold(x.len(), |n, yc| n.min(yc.len()));
        let mut acc = [_mm256_setzero_ps(); 4];
        for (i, bx) in x.iter().enumerate().take(nb) {
            let qx = load32(&bx.qs);
            for c in 0..4 {
                let by = &y[c][i];
                let [dx, dy] = f16x2(bx.d, by.d);
                let q = mul_sum_i8_pairs_float(qx, load32(&by.qs));
                acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(dx * dy), q, acc[c]);
            }
        }
        [
            hsum_float_8(acc[0]),
            hsum_float_8(acc[1]),
            hsum_float_8(acc[2]),
            hsum_float_8(acc[3]),
        ]
    }
}
