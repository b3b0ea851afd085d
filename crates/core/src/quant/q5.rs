//! Q5_0 and Q5_1: 32 weights in 5 bits each — a nibble in `qs` (same order as Q4: byte `j` holds
//! elements `j` and `j + 16`) plus a fifth bit in the 32-bit `qh`, bit `i` for element `i`.
//! Q5_0 is symmetric (`x = d·(q − 16)`), Q5_1 has an offset (`x = d·q + m`).

use bytemuck::{Pod, Zeroable};

use super::q4::signed_absmax;
use super::q8::{BlockQ8_0, BlockQ8_1};
use super::simd::{self, chunk_lanes, f16_le, f16_le_from_f32, fma_lanes, hsum_lanes};

/// Q5_0: 22 bytes, `x[i] = d·(q[i] − 16)` with `q[i] = nibble(i) | bit(qh, i) << 4`.
///
/// | bytes | field | meaning                        |
/// |-------|-------|--------------------------------|
/// | 0..2  | `d`   | f16 scale                      |
/// | 2..6  | `qh`  | u32 LE, bit `i` = 5th bit of i |
/// | 6..22 | `qs`  | 16 bytes, low nibbles          |
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct BlockQ5_0 {
    pub d: [u8; 2],
    pub qh: [u8; 4],
    pub qs: [u8; 16],
}

/// Q5_1: 24 bytes, `x[i] = d·q[i] + m` with `q[i] = nibble(i) | bit(qh, i) << 4`.
///
/// | bytes | field | meaning                        |
/// |-------|-------|--------------------------------|
/// | 0..2  | `d`   | f16 scale                      |
/// | 2..4  | `m`   | f16 minimum                    |
/// | 4..8  | `qh`  | u32 LE, bit `i` = 5th bit of i |
/// | 8..24 | `qs`  | 16 bytes, low nibbles          |
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct BlockQ5_1 {
    pub d: [u8; 2],
    pub m: [u8; 2],
    pub qh: [u8; 4],
    pub qs: [u8; 16],
}

/// The 32 five-bit quants in element order, each in 0..32.
fn quants(qh: [u8; 4], qs: &[u8; 16]) -> [u8; 32] {
    let qh = u32::from_le_bytes(qh);
    std::array::from_fn(|i| {
        let nibble = if i < 16 {
            qs[i] & 0x0F
        } else {
            qs[i - 16] >> 4
        };
        nibble | ((((qh >> i) & 1) as u8) << 4)
    })
}

/// Inverse of [`quants`].
fn pack(q: &[u8; 32]) -> ([u8; 4], [u8; 16]) {
    let qh = (0..32).fold(0u32, |h, i| h | (u32::from(q[i] >> 4) & 1) << i);
    let qs = std::array::from_fn(|j| (q[j] & 0x0F) | ((q[j + 16] & 0x0F) << 4));
    (qh.to_le_bytes(), qs)
}

impl BlockQ5_0 {
    pub fn d(&self) -> f32 {
        f16_le(self.d)
    }
    /// The 32 quants in element order, each in 0..32 (before the −16).
    pub fn quants(&self) -> [u8; 32] {
        quants(self.qh, &self.qs)
    }
}

impl BlockQ5_1 {
    pub fn d(&self) -> f32 {
        f16_le(self.d)
    }
    pub fn m(&self) -> f32 {
        f16_le(self.m)
    }
    /// The 32 quants in element order, each in 0..32.
    pub fn quants(&self) -> [u8; 32] {
        quants(self.qh, &self.qs)
    }
}

// ---------------------------------------------------------------------------------------------
// Dequantization
// ---------------------------------------------------------------------------------------------

/// `y = d · (q − 16)`.
pub(super) fn dequantize_q5_0(x: &[BlockQ5_0], y: &mut [f32]) {
    for (b, out) in x.iter().zip(y.chunks_exact_mut(32)) {
        let d = b.d();
        for (o, q) in out.iter_mut().zip(b.quants()) {
            *o = d * f32::from(q as i8 - 16);
        }
    }
}

/// `y = d·q + m` (product rounded, then the add).
pub(super) fn dequantize_q5_1(x: &[BlockQ5_1], y: &mut [f32]) {
    for (b, out) in x.iter().zip(y.chunks_exact_mut(32)) {
        let (d, m) = (b.d(), b.m());
        for (o, q) in out.iter_mut().zip(b.quants()) {
            *o = d * f32::from(q) + m;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reference quantizers (`quantize_row_q5_0_ref`, `quantize_row_q5_1_ref`)
// ---------------------------------------------------------------------------------------------

/// `d = max/−16`, `q = min(31, trunc(x/d + 16.5))`.
pub(super) fn quantize_q5_0_ref(x: &[f32], y: &mut [BlockQ5_0]) {
    for (xb, b) in x.chunks_exact(32).zip(y.iter_mut()) {
        let d = signed_absmax(xb) / -16.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        b.d = f16_le_from_f32(d);
        let q: [u8; 32] = std::array::from_fn(|j| ((xb[j] * id + 16.5) as i8).min(31) as u8);
        (b.qh, b.qs) = pack(&q);
    }
}

/// `d = (max − min)/31`, `m = min`, `q = trunc((x − min)/d + 0.5)` (ggml does not clip here;
/// the largest value lands on 31 up to rounding, and we clip like gguf-py does).
pub(super) fn quantize_q5_1_ref(x: &[f32], y: &mut [BlockQ5_1]) {
    for (xb, b) in x.chunks_exact(32).zip(y.iter_mut()) {
        let min = xb.iter().fold(f32::MAX, |a, &v| if v < a { v } else { a });
        let max = xb.iter().fold(-f32::MAX, |a, &v| if v > a { v } else { a });
        let d = (max - min) / 31.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        b.d = f16_le_from_f32(d);
        b.m = f16_le_from_f32(min);
        let q: [u8; 32] = std::array::from_fn(|j| (((xb[j] - min) * id + 0.5) as u8).min(31));
        (b.qh, b.qs) = pack(&q);
    }
}

// ---------------------------------------------------------------------------------------------
// Dot products
// ---------------------------------------------------------------------------------------------

/// `ggml_vec_dot_q5_0_q8_0`: per block `d_x·d_y · Σ (q−16)·y` into eight FMA lanes.
pub(super) fn vec_dot_q5_0_q8_0(x: &[BlockQ5_0], y: &[BlockQ8_0]) -> f32 {
    if simd::use_avx2() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `use_avx2` checked that the CPU has AVX2, FMA and F16C.
        unsafe {
            return avx2::vec_dot_q5_0_q8_0(x, y);
        }
    }
    vec_dot_q5_0_q8_0_scalar(x, y)
}

pub(super) fn vec_dot_q5_0_q8_0_scalar(x: &[BlockQ5_0], y: &[BlockQ8_0]) -> f32 {
    let mut acc = [0f32; 8];
    for (bx, by) in x.iter().zip(y) {
        let d = bx.d() * by.d();
        let q = bx.quants().map(|q| q as i8 - 16);
        let lanes = chunk_lanes(&q, &by.qs, simd::mul_i8_signed);
        fma_lanes(&mut acc, d, &lanes);
    }
    hsum_lanes(&acc)
}

/// `ggml_vec_dot_q5_1_q8_1`: like Q4_1 — eight FMA lanes of `d_x·d_y·Σ q·y` plus a scalar
/// `Σ m·s` (one fused multiply-add per block; see `vec_dot_q4_1_q8_1`).
pub(super) fn vec_dot_q5_1_q8_1(x: &[BlockQ5_1], y: &[BlockQ8_1]) -> f32 {
    if simd::use_avx2() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `use_avx2` checked that the CPU has AVX2, FMA and F16C.
        unsafe {
            return avx2::vec_dot_q5_1_q8_1(x, y);
        }
    }
    vec_dot_q5_1_q8_1_scalar(x, y)
}

pub(super) fn vec_dot_q5_1_q8_1_scalar(x: &[BlockQ5_1], y: &[BlockQ8_1]) -> f32 {
    let mut acc = [0f32; 8];
    let mut summs = 0f32;
    for (bx, by) in x.iter().zip(y) {
        summs = bx.m().mul_add(by.s(), summs);
        let d = bx.d() * by.d();
        let lanes = chunk_lanes(&bx.quants(), &by.qs, |q, y| i32::from(q) * i32::from(y));
        fma_lanes(&mut acc, d, &lanes);
    }
    hsum_lanes(&acc) + summs
}

#[cfg(target_arch = "x86_64")]
pub(super) mod avx2 {
    use super::super::simd::x86::*;
    use super::{BlockQ5_0, BlockQ5_1, BlockQ8_0, BlockQ8_1};
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn vec_dot_q5_0_q8_0(x: &[BlockQ5_0], y: &[BlockQ8_0]) -> f32 {
        let mut acc = _mm256_setzero_ps();
        for (bx, by) in x.iter().zip(y) {
            let [dx, dy] = f16x2(bx.d, by.d);
            let d = _mm256_set1_ps(dx * dy);
            // A clear 5th bit turns the nibble into nibble − 16 (0xF0 | nibble as i8).
            let hi =
                _mm256_andnot_si256(bytes_from_bits_32(&bx.qh), _mm256_set1_epi8(0xF0u8 as i8));
            let qx = _mm256_or_si256(bytes_from_nibbles_32(&bx.qs), hi);
            let q = mul_sum_i8_pairs_float(qx, load32(&by.qs));
            acc = _mm256_fmadd_ps(d, q, acc);
        }
        hsum_float_8(acc)
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn vec_dot_q5_1_q8_1(x: &[BlockQ5_1], y: &[BlockQ8_1]) -> f32 {
        let mut acc = _mm256_setzero_ps();
        let mut summs = 0f32;
        for (bx, by) in x.iter().zip(y) {
            let [dx, m, dy, s] = f16x4([bx.d, bx.m], [by.d, by.s]);
            summs = m.mul_add(s, summs);
            let hi = _mm256_and_si256(bytes_from_bits_32(&bx.qh), _mm256_set1_epi8(0x10));
            let qx = _mm256_or_si256(bytes_from_nibbles_32(&bx.qs), hi);
            let q = mul_sum_us8_pairs_float(qx, load32(&by.qs));
            acc = _mm256_fmadd_ps(q, _mm256_set1_ps(dx * dy), acc);
        }
        hsum_float_8(acc) + summs
    }
}
