//! IQ4_NL and IQ4_XS: 4-bit indices into a fixed non-linear table of 16 values
//! ([`KVALUES_IQ4NL`], denser near zero, where weights are). IQ4_NL is a 32-value block with an
//! f16 scale (`x = d·kvalue[q]`); IQ4_XS is a 256-value super-block with a 6-bit scale per 32
//! (`x = d·(ls − 32)·kvalue[q]`).
//!
//! Nibble order in each 32-value (sub-)block as Q4_0: byte `j` holds element `j` (low nibble)
//! and `j + 16` (high nibble).

use bytemuck::{Pod, Zeroable};

use super::q8::{BlockQ8K, BlockQ8_0};
use super::simd::{
    self, chunk_lanes, f16_le, fma_lanes, hsum_lanes, mul_i8_signed, superblock_lanes,
};

/// The IQ4 code book (`kvalues_iq4nl`).
pub const KVALUES_IQ4NL: [i8; 16] = [
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];

/// IQ4_NL: 18 bytes, `x[j] = d·K[qs[j] & 15]`, `x[j+16] = d·K[qs[j] >> 4]`.
///
/// | bytes | field | meaning                   |
/// |-------|-------|---------------------------|
/// | 0..2  | `d`   | f16 scale                 |
/// | 2..18 | `qs`  | 16 bytes, nibble indices  |
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct BlockIq4Nl {
    pub d: [u8; 2],
    pub qs: [u8; 16],
}

/// IQ4_XS: 136 bytes.
///
/// | bytes  | field      | meaning                                             |
/// |--------|------------|-----------------------------------------------------|
/// | 0..2   | `d`        | f16 super-block scale                               |
/// | 2..4   | `scales_h` | u16 LE, bits `2i..2i+2` = high bits of scale `i`    |
/// | 4..8   | `scales_l` | nibble `i % 2` of byte `i / 2` = low bits of scale `i` |
/// | 8..136 | `qs`       | 8 sub-blocks × 16 bytes of nibble indices           |
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct BlockIq4Xs {
    pub d: [u8; 2],
    pub scales_h: [u8; 2],
    pub scales_l: [u8; 4],
    pub qs: [u8; 128],
}

/// The 32 table values of one 32-value (sub-)block, in element order.
fn lookup(qs: &[u8; 16]) -> [i8; 32] {
    std::array::from_fn(|i| {
        let nibble = if i < 16 {
            qs[i] & 0x0F
        } else {
            qs[i - 16] >> 4
        };
        KVALUES_IQ4NL[usize::from(nibble)]
    })
}

impl BlockIq4Nl {
    pub fn d(&self) -> f32 {
        f16_le(self.d)
    }
    /// The 32 table values in element order.
    pub fn values(&self) -> [i8; 32] {
        lookup(&self.qs)
    }
}

impl BlockIq4Xs {
    pub fn d(&self) -> f32 {
        f16_le(self.d)
    }
    /// The eight sub-block scales, in −32..32.
    pub fn scales(&self) -> [i16; 8] {
        let sh = u16::from_le_bytes(self.scales_h);
        std::array::from_fn(|i| {
            let low = (self.scales_l[i / 2] >> (4 * (i % 2))) & 0x0F;
            let high = ((sh >> (2 * i)) & 3) as u8;
            i16::from(low | (high << 4)) - 32
        })
    }
    /// The 256 table values in element order.
    pub fn values(&self) -> [i8; 256] {
        let mut v = [0i8; 256];
        for (sub, out) in v.chunks_exact_mut(32).enumerate() {
            let qs: &[u8; 16] = self.qs[16 * sub..16 * sub + 16]
                .try_into()
                .expect("16 bytes");
            out.copy_from_slice(&lookup(qs));
        }
        v
    }
}

/// `y = d·K[q]`.
pub(super) fn dequantize_iq4_nl(x: &[BlockIq4Nl], y: &mut [f32]) {
    for (b, out) in x.iter().zip(y.chunks_exact_mut(32)) {
        let d = b.d();
        for (o, v) in out.iter_mut().zip(b.values()) {
            *o = d * f32::from(v);
        }
    }
}

/// `y = (d·(ls − 32))·K[q]`.
pub(super) fn dequantize_iq4_xs(x: &[BlockIq4Xs], y: &mut [f32]) {
    for (b, out) in x.iter().zip(y.chunks_exact_mut(256)) {
        let d = b.d();
        let scales = b.scales();
        let values = b.values();
        for (i, o) in out.iter_mut().enumerate() {
            let dl = d * f32::from(scales[i / 32]);
            *o = dl * f32::from(values[i]);
        }
    }
}

/// `ggml_vec_dot_iq4_nl_q8_0`: blocks are taken in pairs, even blocks into one set of eight FMA
/// lanes and odd blocks into another; the two sets are added lane by lane and folded. With an
/// odd number of blocks the last one is added after the fold by plain C arithmetic
/// (`sumf += d * sumi`, a fused multiply-add under GCC, with ordinary i8 products).
pub(super) fn vec_dot_iq4_nl_q8_0(x: &[BlockIq4Nl], y: &[BlockQ8_0]) -> f32 {
    if simd::use_avx2() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `use_avx2` checked that the CPU has AVX2, FMA and F16C.
        unsafe {
            return avx2::vec_dot_iq4_nl_q8_0(x, y);
        }
    }
    vec_dot_iq4_nl_q8_0_scalar(x, y)
}

/// The odd last block of `vec_dot_iq4_nl_q8_0`, as ggml's scalar tail computes it.
fn iq4_nl_tail(sumf: f32, bx: &BlockIq4Nl, by: &BlockQ8_0) -> f32 {
    let d = by.d() * bx.d();
    let sumi: i32 = bx
        .values()
        .iter()
        .zip(&by.qs)
        .map(|(&v, &q)| i32::from(v) * i32::from(q))
        .sum();
    d.mul_add(sumi as f32, sumf)
}

pub(super) fn vec_dot_iq4_nl_q8_0_scalar(x: &[BlockIq4Nl], y: &[BlockQ8_0]) -> f32 {
    let pairs = x.len().min(y.len()) / 2;
    let mut accum = [[0f32; 8]; 2];
    for ib in 0..2 * pairs {
        let (bx, by) = (&x[ib], &y[ib]);
        let lanes = chunk_lanes(&bx.values(), &by.qs, mul_i8_signed);
        fma_lanes(&mut accum[ib % 2], by.d() * bx.d(), &lanes);
    }
    let summed: [f32; 8] = std::array::from_fn(|k| accum[0][k] + accum[1][k]);
    let mut sumf = hsum_lanes(&summed);
    for (bx, by) in x.iter().zip(y).skip(2 * pairs) {
        sumf = iq4_nl_tail(sumf, bx, by);
    }
    sumf
}

/// `ggml_vec_dot_iq4_xs_q8_K`: per super-block the eight sub-blocks are summed as integers
/// (`ls · Σ K[q]·y` in eight lanes) and added with one FMA of `d·d_y`.
pub(super) fn vec_dot_iq4_xs_q8_k(x: &[BlockIq4Xs], y: &[BlockQ8K]) -> f32 {
    if simd::use_avx2() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `use_avx2` checked that the CPU has AVX2, FMA and F16C.
        unsafe {
            return avx2::vec_dot_iq4_xs_q8_k(x, y);
        }
    }
    vec_dot_iq4_xs_q8_k_scalar(x, y)
}

pub(super) fn vec_dot_iq4_xs_q8_k_scalar(x: &[BlockIq4Xs], y: &[BlockQ8K]) -> f32 {
    let mut acc = [0f32; 8];
    for (bx, by) in x.iter().zip(y) {
        let scales = bx.scales();
        let scale = |e: usize| i32::from(scales[e / 32]);
        let sumi = superblock_lanes(&bx.values(), &by.qs, scale, mul_i8_signed);
        fma_lanes(&mut acc, bx.d() * by.d(), &sumi);
    }
    hsum_lanes(&acc)
}

#[cfg(target_arch = "x86_64")]
pub(super) mod avx2 {
    use super::super::simd::x86::*;
    use super::{iq4_nl_tail, BlockIq4Nl, BlockIq4Xs, BlockQ8K, BlockQ8_0, KVALUES_IQ4NL};
    use std::arch::x86_64::*;

    /// 16 bytes of nibble indices → 32 table values (low nibbles in the low half).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn lookup_32(values128: __m128i, qs: *const u8) -> __m256i {
        let m4b = _mm_set1_epi8(0x0F);
        let q4bits = _mm_loadu_si128(qs.cast());
        let lo = _mm_shuffle_epi8(values128, _mm_and_si128(q4bits, m4b));
        let hi = _mm_shuffle_epi8(values128, _mm_and_si128(_mm_srli_epi16::<4>(q4bits), m4b));
        _mm256_set_m128i(hi, lo)
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn vec_dot_iq4_nl_q8_0(x: &[BlockIq4Nl], y: &[BlockQ8_0]) -> f32 {
        let values128 = _mm_loadu_si128(KVALUES_IQ4NL.as_ptr().cast());
        let mone = _mm256_set1_epi16(1);
        let pairs = x.len().min(y.len()) / 2;
        let mut accum1 = _mm256_setzero_ps();
        let mut accum2 = _mm256_setzero_ps();
        for p in 0..pairs {
            let (x1, x2, y1, y2) = (&x[2 * p], &x[2 * p + 1], &y[2 * p], &y[2 * p + 1]);
            let q4b_1 = lookup_32(values128, x1.qs.as_ptr());
            let q4b_2 = lookup_32(values128, x2.qs.as_ptr());
            let p_1 = _mm256_madd_epi16(mul_add_epi8(q4b_1, load32(&y1.qs)), mone);
            let p_2 = _mm256_madd_epi16(mul_add_epi8(q4b_2, load32(&y2.qs)), mone);
            let [dy1, dx1] = f16x2(y1.d, x1.d);
            let [dy2, dx2] = f16x2(y2.d, x2.d);
            accum1 = _mm256_fmadd_ps(_mm256_set1_ps(dy1 * dx1), _mm256_cvtepi32_ps(p_1), accum1);
            accum2 = _mm256_fmadd_ps(_mm256_set1_ps(dy2 * dx2), _mm256_cvtepi32_ps(p_2), accum2);
        }
        let mut sumf = hsum_float_8(_mm256_add_ps(accum1, accum2));
        for (bx, by) in x.iter().zip(y).skip(2 * pairs) {
            sumf = iq4_nl_tail(sumf, bx, by);
        }
        sumf
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn vec_dot_iq4_xs_q8_k(x: &[BlockIq4Xs], y: &[BlockQ8K]) -> f32 {
        let values128 = _mm_loadu_si128(KVALUES_IQ4NL.as_ptr().cast());
        let mut accum = _mm256_setzero_ps();
        for (bx, by) in x.iter().zip(y) {
            let scales = bx.scales();
            let mut sumi1 = _mm256_setzero_si256();
            let mut sumi2 = _mm256_setzero_si256();
            for ib in (0..8).step_by(2) {
                let q4b_1 = lookup_32(values128, bx.qs.as_ptr().add(16 * ib));
                let q4b_2 = lookup_32(values128, bx.qs.as_ptr().add(16 * ib + 16));
                let q8b_1 = _mm256_loadu_si256(by.qs.as_ptr().add(32 * ib).cast());
                let q8b_2 = _mm256_loadu_si256(by.qs.as_ptr().add(32 * ib + 32).cast());
                let p16_1 = mul_add_epi8(q4b_1, q8b_1);
                let p16_2 = mul_add_epi8(q4b_2, q8b_2);
                let p_1 = _mm256_madd_epi16(p16_1, _mm256_set1_epi16(scales[ib]));
                let p_2 = _mm256_madd_epi16(p16_2, _mm256_set1_epi16(scales[ib + 1]));
                sumi1 = _mm256_add_epi32(p_1, sumi1);
                sumi2 = _mm256_add_epi32(p_2, sumi2);
            }
            let d = f16_le(bx.d) * by.d();
            accum = _mm256_fmadd_ps(
                _mm256_set1_ps(d),
                _mm256_cvtepi32_ps(_mm256_add_epi32(sumi1, sumi2)),
                accum,
            );
        }
        hsum_float_8(accum)
    }
}
