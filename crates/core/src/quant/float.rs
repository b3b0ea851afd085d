//! The unquantized types: F32, F16 and BF16 rows — conversion from f32 (ggml-cpu's `from_float`
//! for F16/BF16 weights, whose `vec_dot_type` is their own type) and the dot products
//! `ggml_vec_dot_f32`, `ggml_vec_dot_f16`, `ggml_vec_dot_bf16`.
//!
//! Values are handled as little-endian byte arrays (`[u8; 4]`, `[u8; 2]`) so a row can be read
//! straight out of a file buffer whatever its alignment.
//!
//! The three dot products reduce differently in ggml's AVX2 build, and that is replicated:
//! - F32 and F16: 32 values per step in four 8-lane FMA accumulators, folded `(s0+s2)+(s1+s3)`,
//!   then the halves, then `hadd` twice (`GGML_F32x8_REDUCE`: `(t0+t1)+(t2+t3)`, not the
//!   `hsum_float_8` order); the tail (`n % 32`) is added one product at a time. F32 keeps the
//!   sum in f32 and fuses the tail (`sumf += x*y` contracted by GCC); F16 widens the folded sum
//!   to f64 (`ggml_float`) and adds the tail products there, rounding to f32 once at the end.
//!   For F32 the tail's fusion is a guess: GCC may instead vectorize that loop (products
//!   rounded, sums in order), so F32 rows whose length is not a multiple of 32 may differ from
//!   ggml in the last bit.
//! - BF16: four 8-lane accumulators of `x·y + c` (two instructions in the source, fused by
//!   GCC's `-ffp-contract=fast` — which changes nothing, a bf16·bf16 product is exact in f32),
//!   folded `(c1+c3)+(c2+c4)` then `hsum_float_8`, widened to f64 for the tail.

use half::{bf16, f16};

use super::simd::{self, hsum_lanes};

/// One f32 as stored in a row.
pub type F32Le = [u8; 4];
/// One f16 as stored in a row.
pub type F16Le = [u8; 2];
/// One bf16 as stored in a row.
pub type Bf16Le = [u8; 2];

fn f16_value(v: F16Le) -> f32 {
    f16::from_bits(u16::from_le_bytes(v)).to_f32()
}

fn bf16_value(v: Bf16Le) -> f32 {
    bf16::from_bits(u16::from_le_bytes(v)).to_f32()
}

// ---------------------------------------------------------------------------------------------
// Conversions
// ---------------------------------------------------------------------------------------------

pub(super) fn dequantize_f32(x: &[F32Le], y: &mut [f32]) {
    for (o, v) in y.iter_mut().zip(x) {
        *o = f32::from_le_bytes(*v);
    }
}

/// Exact widening.
pub(super) fn dequantize_f16(x: &[F16Le], y: &mut [f32]) {
    for (o, &v) in y.iter_mut().zip(x) {
        *o = f16_value(v);
    }
}

/// Exact widening (the bf16 bits become the top half of the f32).
pub(super) fn dequantize_bf16(x: &[Bf16Le], y: &mut [f32]) {
    for (o, &v) in y.iter_mut().zip(x) {
        *o = bf16_value(v);
    }
}

pub(super) fn quantize_row_f32(x: &[f32], y: &mut [F32Le]) {
    for (o, v) in y.iter_mut().zip(x) {
        *o = v.to_le_bytes();
    }
}

/// Round to nearest even, as `_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT)` does.
pub(super) fn quantize_row_f16(x: &[f32], y: &mut [F16Le]) {
    for (o, &v) in y.iter_mut().zip(x) {
        *o = f16::from_f32(v).to_bits().to_le_bytes();
    }
}

/// Round to nearest even, NaN forced quiet (`ggml_compute_fp32_to_bf16`).
pub(super) fn quantize_row_bf16(x: &[f32], y: &mut [Bf16Le]) {
    for (o, &v) in y.iter_mut().zip(x) {
        *o = bf16::from_f32(v).to_bits().to_le_bytes();
    }
}

// ---------------------------------------------------------------------------------------------
// Dot products
// ---------------------------------------------------------------------------------------------

/// `GGML_F32x8_REDUCE` of four accumulators.
fn reduce_4x8(sum: [[f32; 8]; 4]) -> f32 {
    let s02: [f32; 8] = std::array::from_fn(|k| sum[0][k] + sum[2][k]);
    let s13: [f32; 8] = std::array::from_fn(|k| sum[1][k] + sum[3][k]);
    let s: [f32; 8] = std::array::from_fn(|k| s02[k] + s13[k]);
    let t: [f32; 4] = std::array::from_fn(|k| s[k] + s[k + 4]);
    (t[0] + t[1]) + (t[2] + t[3])
}

/// Four 8-lane FMA accumulators over the first `n & !31` values.
fn fma_4x8(n32: usize, x: impl Fn(usize) -> f32, y: impl Fn(usize) -> f32) -> [[f32; 8]; 4] {
    let mut sum = [[0f32; 8]; 4];
    for i in (0..n32).step_by(32) {
        for (j, s) in sum.iter_mut().enumerate() {
            for (k, lane) in s.iter_mut().enumerate() {
                let e = i + 8 * j + k;
                *lane = x(e).mul_add(y(e), *lane);
            }
        }
    }
    sum
}

/// `ggml_vec_dot_f32`.
pub(super) fn vec_dot_f32(x: &[F32Le], y: &[F32Le]) -> f32 {
    if simd::use_avx2() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `use_avx2` checked that the CPU has AVX2, FMA and F16C.
        unsafe {
            return avx2::vec_dot_f32(x, y);
        }
    }
    vec_dot_f32_scalar(x, y)
}

pub(super) fn vec_dot_f32_scalar(x: &[F32Le], y: &[F32Le]) -> f32 {
    let n = x.len().min(y.len());
    let n32 = n & !31;
    let (fx, fy) = (
        |i: usize| f32::from_le_bytes(x[i]),
        |i: usize| f32::from_le_bytes(y[i]),
    );
    let mut sumf = reduce_4x8(fma_4x8(n32, fx, fy));
    for i in n32..n {
        sumf = fx(i).mul_add(fy(i), sumf);
    }
    sumf
}

/// `ggml_vec_dot_f16`.
pub(super) fn vec_dot_f16(x: &[F16Le], y: &[F16Le]) -> f32 {
    if simd::use_avx2() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `use_avx2` checked that the CPU has AVX2, FMA and F16C.
        unsafe {
            return avx2::vec_dot_f16(x, y);
        }
    }
    vec_dot_f16_scalar(x, y)
}

pub(super) fn vec_dot_f16_scalar(x: &[F16Le], y: &[F16Le]) -> f32 {
    let n = x.len().min(y.len());
    let n32 = n & !31;
    let (fx, fy) = (|i: usize| f16_value(x[i]), |i: usize| f16_value(y[i]));
    let mut sumf = f64::from(reduce_4x8(fma_4x8(n32, fx, fy)));
    for i in n32..n {
        sumf += f64::from(fx(i) * fy(i));
    }
    sumf as f32
}

/// `ggml_vec_dot_bf16`.
pub(super) fn vec_dot_bf16(x: &[Bf16Le], y: &[Bf16Le]) -> f32 {
    if simd::use_avx2() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `use_avx2` checked that the CPU has AVX2, FMA and F16C.
        unsafe {
            return avx2::vec_dot_bf16(x, y);
        }
    }
    vec_dot_bf16_scalar(x, y)
}

pub(super) fn vec_dot_bf16_scalar(x: &[Bf16Le], y: &[Bf16Le]) -> f32 {
    let n = x.len().min(y.len());
    let n32 = n & !31;
    let (fx, fy) = (|i: usize| bf16_value(x[i]), |i: usize| bf16_value(y[i]));
    let c = fma_4x8(n32, fx, fy);
    let folded: [f32; 8] = std::array::from_fn(|k| (c[0][k] + c[2][k]) + (c[1][k] + c[3][k]));
    let mut sumf = f64::from(hsum_lanes(&folded));
    for i in n32..n {
        sumf += f64::from(fx(i) * fy(i));
    }
    sumf as f32
}

#[cfg(target_arch = "x86_64")]
pub(super) mod avx2 {
    use super::super::simd::x86::hsum_float_8;
    use super::{bf16_value, f16_value, Bf16Le, F16Le, F32Le};
    use std::arch::x86_64::*;

    /// `GGML_F32x8_REDUCE` of four accumulators.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn reduce_4x8(sum: [__m256; 4]) -> f32 {
        let s02 = _mm256_add_ps(sum[0], sum[2]);
        let s13 = _mm256_add_ps(sum[1], sum[3]);
        let s = _mm256_add_ps(s02, s13);
        let t0 = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps::<1>(s));
        let t1 = _mm_hadd_ps(t0, t0);
        _mm_cvtss_f32(_mm_hadd_ps(t1, t1))
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn vec_dot_f32(x: &[F32Le], y: &[F32Le]) -> f32 {
        let n = x.len().min(y.len());
        let n32 = n & !31;
        let (px, py) = (x.as_ptr().cast::<f32>(), y.as_ptr().cast::<f32>());
        let mut sum = [_mm256_setzero_ps(); 4];
        for i in (0..n32).step_by(32) {
            for (j, s) in sum.iter_mut().enumerate() {
                let ax = _mm256_loadu_ps(px.add(i + 8 * j));
                let ay = _mm256_loadu_ps(py.add(i + 8 * j));
                *s = _mm256_fmadd_ps(ax, ay, *s);
            }
        }
        let mut sumf = reduce_4x8(sum);
        for i in n32..n {
            sumf = f32::from_le_bytes(x[i]).mul_add(f32::from_le_bytes(y[i]), sumf);
        }
        sumf
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn vec_dot_f16(x: &[F16Le], y: &[F16Le]) -> f32 {
        let n = x.len().min(y.len());
        let n32 = n & !31;
        let (px, py) = (x.as_ptr().cast::<u8>(), y.as_ptr().cast::<u8>());
        let mut sum = [_mm256_setzero_ps(); 4];
        for i in (0..n32).step_by(32) {
            for (j, s) in sum.iter_mut().enumerate() {
                let ax = _mm256_cvtph_ps(_mm_loadu_si128(px.add(2 * (i + 8 * j)).cast()));
                let ay = _mm256_cvtph_ps(_mm_loadu_si128(py.add(2 * (i + 8 * j)).cast()));
                *s = _mm256_fmadd_ps(ax, ay, *s);
            }
        }
        let mut sumf = f64::from(reduce_4x8(sum));
        for i in n32..n {
            sumf += f64::from(f16_value(x[i]) * f16_value(y[i]));
        }
        sumf as f32
    }

    /// bf16 → f32 for eight values: zero-extend to 32 bits and shift into the top half.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn load_bf16x8(p: *const u8) -> __m256 {
        let wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(p.cast()));
        _mm256_castsi256_ps(_mm256_slli_epi32::<16>(wide))
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn vec_dot_bf16(x: &[Bf16Le], y: &[Bf16Le]) -> f32 {
        let n = x.len().min(y.len());
        let n32 = n & !31;
        let (px, py) = (x.as_ptr().cast::<u8>(), y.as_ptr().cast::<u8>());
        let mut c = [_mm256_setzero_ps(); 4];
        for i in (0..n32).step_by(32) {
            for (j, cj) in c.iter_mut().enumerate() {
                let off = 2 * (i + 8 * j);
                *cj = _mm256_fmadd_ps(load_bf16x8(px.add(off)), load_bf16x8(py.add(off)), *cj);
            }
        }
        let folded = _mm256_add_ps(_mm256_add_ps(c[0], c[2]), _mm256_add_ps(c[1], c[3]));
        let mut sumf = f64::from(hsum_float_8(folded));
        for i in n32..n {
            sumf += f64::from(bf16_value(x[i]) * bf16_value(y[i]));
        }
        sumf as f32
    }
}
