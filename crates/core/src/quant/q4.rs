//! Q4_0 and Q4_1: 32 weights in 4 bits each. Q4_0 is symmetric (`x = d·(q − 8)`), Q4_1 has an
//! offset (`x = d·q + m`). SmolLM2-135M's reference file is Q4_1, so `vec_dot_q4_1_q8_1` is the
//! kernel behind nearly every MUL_MAT in the reference run.
//!
//! Nibble order (both types): byte `j` of `qs` holds element `j` in its low nibble and element
//! `j + 16` in its high nibble.

use bytemuck::{Pod, Zeroable};

use super::q8::{BlockQ8_0, BlockQ8_1};
use super::simd::{self, chunk_lanes, f16_le, f16_le_from_f32, fma_lanes, hsum_lanes};

/// Q4_0: 32 values, f16 scale. 18 bytes, `x[j] = d·((qs[j] & 15) − 8)`,
/// `x[j+16] = d·((qs[j] >> 4) − 8)`.
///
/// | bytes | field | meaning           |
/// |-------|-------|-------------------|
/// | 0..2  | `d`   | f16 scale         |
/// | 2..18 | `qs`  | 16 bytes, nibbles |
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct BlockQ4_0 {
    pub d: [u8; 2],
    pub qs: [u8; 16],
}

/// Q4_1: 32 values, f16 scale and f16 minimum. 20 bytes, `x[j] = d·(qs[j] & 15) + m`,
/// `x[j+16] = d·(qs[j] >> 4) + m`.
///
/// | bytes | field | meaning           |
/// |-------|-------|-------------------|
/// | 0..2  | `d`   | f16 scale         |
/// | 2..4  | `m`   | f16 minimum       |
/// | 4..20 | `qs`  | 16 bytes, nibbles |
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct BlockQ4_1 {
    pub d: [u8; 2],
    pub m: [u8; 2],
    pub qs: [u8; 16],
}

impl BlockQ4_0 {
    pub fn d(&self) -> f32 {
        f16_le(self.d)
    }
    /// The 32 quants in element order, each in 0..16 (before the −8).
    pub fn nibbles(&self) -> [u8; 32] {
        std::array::from_fn(|i| {
            if i < 16 {
                self.qs[i] & 0x0F
            } else {
                self.qs[i - 16] >> 4
            }
        })
    }
}

impl BlockQ4_1 {
    pub fn d(&self) -> f32 {
        f16_le(self.d)
    }
    pub fn m(&self) -> f32 {
        f16_le(self.m)
    }
    /// The 32 quants in element order, each in 0..16.
    pub fn nibbles(&self) -> [u8; 32] {
        std::array::from_fn(|i| {
            if i < 16 {
                self.qs[i] & 0x0F
            } else {
                self.qs[i - 16] >> 4
            }
        })
    }
}

/// Two nibbles in one byte: element `j` low, element `j + 16` high.
fn pack_nibbles(q: &[u8; 32]) -> [u8; 16] {
    std::array::from_fn(|j| q[j] | (q[j + 16] << 4))
}

// ---------------------------------------------------------------------------------------------
// Dequantization (`dequantize_row_q4_0/1`, gguf-py `Q4_0/Q4_1.dequantize_blocks`)
// ---------------------------------------------------------------------------------------------

/// `y = d · (q − 8)`.
pub(super) fn dequantize_q4_0(x: &[BlockQ4_0], y: &mut [f32]) {
    for (b, out) in x.iter().zip(y.chunks_exact_mut(32)) {
        let d = b.d();
        for (o, q) in out.iter_mut().zip(b.nibbles()) {
            *o = d * f32::from(q as i8 - 8);
        }
    }
}

/// `y = d·q + m`, the product rounded before the add (no FMA), as numpy and ggml-base do.
pub(super) fn dequantize_q4_1(x: &[BlockQ4_1], y: &mut [f32]) {
    for (b, out) in x.iter().zip(y.chunks_exact_mut(32)) {
        let (d, m) = (b.d(), b.m());
        for (o, q) in out.iter_mut().zip(b.nibbles()) {
            *o = d * f32::from(q) + m;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reference quantizers (`quantize_row_q4_0_ref`, `quantize_row_q4_1_ref`)
// ---------------------------------------------------------------------------------------------

/// The value with the largest magnitude (first one on ties), as the reference quantizers pick it.
pub(super) fn signed_absmax(x: &[f32]) -> f32 {
    let (mut amax, mut max) = (0.0f32, 0.0f32);
    for &v in x {
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    max
}

/// `d = max/−8`, `q = min(15, trunc(x/d + 8.5))`: the value of largest magnitude maps to 0 and
/// its opposite would map to 16, which is clipped to 15.
pub(super) fn quantize_q4_0_ref(x: &[f32], y: &mut [BlockQ4_0]) {
    for (xb, b) in x.chunks_exact(32).zip(y.iter_mut()) {
        let d = signed_absmax(xb) / -8.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        b.d = f16_le_from_f32(d);
        let q: [u8; 32] = std::array::from_fn(|j| ((xb[j] * id + 8.5) as i8).min(15) as u8);
        b.qs = pack_nibbles(&q);
    }
}

/// `d = (max − min)/15`, `m = min`, `q = min(15, trunc((x − min)/d + 0.5))`.
pub(super) fn quantize_q4_1_ref(x: &[f32], y: &mut [BlockQ4_1]) {
    for (xb, b) in x.chunks_exact(32).zip(y.iter_mut()) {
        let min = xb.iter().fold(f32::MAX, |a, &v| if v < a { v } else { a });
        let max = xb.iter().fold(-f32::MAX, |a, &v| if v > a { v } else { a });
        let d = (max - min) / 15.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        b.d = f16_le_from_f32(d);
        b.m = f16_le_from_f32(min);
        let q: [u8; 32] = std::array::from_fn(|j| (((xb[j] - min) * id + 0.5) as i8).min(15) as u8);
        b.qs = pack_nibbles(&q);
    }
}

// ---------------------------------------------------------------------------------------------
// Dot products
// ---------------------------------------------------------------------------------------------

/// `ggml_vec_dot_q4_0_q8_0`: per block `d_x·d_y · Σ (q−8)·y` into eight FMA lanes.
pub(super) fn vec_dot_q4_0_q8_0(x: &[BlockQ4_0], y: &[BlockQ8_0]) -> f32 {
    if simd::use_avx2() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `use_avx2` checked that the CPU has AVX2, FMA and F16C.
        unsafe {
            return avx2::vec_dot_q4_0_q8_0(x, y);
        }
    }
    vec_dot_q4_0_q8_0_scalar(x, y)
}

pub(super) fn vec_dot_q4_0_q8_0_scalar(x: &[BlockQ4_0], y: &[BlockQ8_0]) -> f32 {
    let mut acc = [0f32; 8];
    for (bx, by) in x.iter().zip(y) {
        let d = bx.d() * by.d();
        let q = bx.nibbles().map(|n| n as i8 - 8);
        let lanes = chunk_lanes(&q, &by.qs, simd::mul_i8_signed);
        fma_lanes(&mut acc, d, &lanes);
    }
    hsum_lanes(&acc)
}

/// `ggml_vec_dot_q4_1_q8_1`: `Σ d_x·d_y·Σ q·y` in eight FMA lanes, plus `Σ m·s` in one scalar
/// (the Q8_1 `s = d_y·Σ y` makes the offset cheap: `Σ (d_x·q + m)·d_y·y = d_x·d_y·Σ q·y + m·s`).
///
/// ggml writes `summs += m*s` in C; GCC (`-std=gnu11`, so `-ffp-contract=fast`) compiles it to
/// one fused multiply-add, which is what `mul_add` does here. (It makes no difference: `m` and
/// `s` are f16, so their product is exact in f32 and fused or not rounds once.)
pub(super) fn vec_dot_q4_1_q8_1(x: &[BlockQ4_1], y: &[BlockQ8_1]) -> f32 {
    if simd::use_avx2() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `use_avx2` checked that the CPU has AVX2, FMA and F16C.
        unsafe {
            return avx2::vec_dot_q4_1_q8_1(x, y);
        }
    }
    vec_dot_q4_1_q8_1_scalar(x, y)
}

/// [`vec_dot_q4_1_q8_1`] of one weight row with four activation rows at once, each result
/// bit-identical to the single-row kernel (four independent accumulators; the weight block is
/// unpacked once and the four FMA chains overlap). `None` without AVX2.
pub(super) fn vec_dot_q4_1_q8_1_x4(x: &[BlockQ4_1], y: [&[BlockQ8_1]; 4]) -> Option<[f32; 4]> {
    if simd::use_avx2() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `use_avx2` checked that the CPU has AVX2, FMA and F16C.
        unsafe {
            return Some(avx2::vec_dot_q4_1_q8_1_x4(x, y));
        }
    }
    None
}

pub(super) fn vec_dot_q4_1_q8_1_scalar(x: &[BlockQ4_1], y: &[BlockQ8_1]) -> f32 {
    let mut acc = [0f32; 8];
    let mut summs = 0f32;
    for (bx, by) in x.iter().zip(y) {
        summs = bx.m().mul_add(by.s(), summs);
        let d = bx.d() * by.d();
        let lanes = chunk_lanes(&bx.nibbles(), &by.qs, |q, y| i32::from(q) * i32::from(y));
        fma_lanes(&mut acc, d, &lanes);
    }
    hsum_lanes(&acc) + summs
}

#[cfg(target_arch = "x86_64")]
pub(super) mod avx2 {
    use super::super::simd::x86::*;
    use super::{BlockQ4_0, BlockQ4_1, BlockQ8_0, BlockQ8_1};
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn vec_dot_q4_0_q8_0(x: &[BlockQ4_0], y: &[BlockQ8_0]) -> f32 {
        let mut acc = _mm256_setzero_ps();
        for (bx, by) in x.iter().zip(y) {
            let [dx, dy] = f16x2(bx.d, by.d);
            let d = _mm256_set1_ps(dx * dy);
            // [0..16) → [−8..8)
            let qx = _mm256_sub_epi8(bytes_from_nibbles_32(&bx.qs), _mm256_set1_epi8(8));
            let q = mul_sum_i8_pairs_float(qx, load32(&by.qs));
            acc = _mm256_fmadd_ps(d, q, acc);
        }
        hsum_float_8(acc)
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn vec_dot_q4_1_q8_1(x: &[BlockQ4_1], y: &[BlockQ8_1]) -> f32 {
        let mut acc = _mm256_setzero_ps();
        let mut summs = 0f32;
        for (bx, by) in x.iter().zip(y) {
            let [d0, m, d1, s] = f16x4([bx.d, bx.m], [by.d, by.s]);
            summs = m.mul_add(s, summs);
            let d0d1 = _mm256_set1_ps(d0 * d1);
            let xy = mul_sum_us8_pairs_float(bytes_from_nibbles_32(&bx.qs), load32(&by.qs));
            acc = _mm256_fmadd_ps(d0d1, xy, acc);
        }
        hsum_float_8(acc) + summs
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn vec_dot_q4_1_q8_1_x4(x: &[BlockQ4_1], y: [&[BlockQ8_1]; 4]) -> [f32; 4] {
        let nb = y.iter().fold(x.len(), |n, yc| n.min(yc.len()));
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut summs = [0f32; 4];
        for (i, bx) in x.iter().enumerate().take(nb) {
            let qx = bytes_from_nibbles_32(&bx.qs);
            for c in 0..4 {
                let by = &y[c][i];
                let [d0, m, d1, s] = f16x4([bx.d, bx.m], [by.d, by.s]);
                summs[c] = m.mul_add(s, summs[c]);
                let xy = mul_sum_us8_pairs_float(qx, load32(&by.qs));
                acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(d0 * d1), xy, acc[c]);
            }
        }
        [
            hsum_float_8(acc[0]) + summs[0],
            hsum_float_8(acc[1]) + summs[1],
            hsum_float_8(acc[2]) + summs[2],
            hsum_float_8(acc[3]) + summs[3],
        ]
    }
}
