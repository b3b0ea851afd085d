//! Q6_K: 256 weights in 6 bits (4 in `ql`, 2 in `qh`), in 16 sub-blocks of 16 with a signed
//! 8-bit scale each: `x = d·sc·(q − 32)`. Common for `output.weight` in K-quant files.
//!
//! In half `h` (128 elements), with `l` in 0..32: element `128h + l` is the low nibble of
//! `ql[64h + l]`, `+32` the low nibble of `ql[64h + 32 + l]`, `+64` the high nibble of
//! `ql[64h + l]`, `+96` the high nibble of `ql[64h + 32 + l]`; their top two bits are bits
//! `0..2`, `2..4`, `4..6`, `6..8` of `qh[32h + l]`.

use bytemuck::{Pod, Zeroable};

use super::q8::BlockQ8K;
use super::simd::{self, f16_le, fma_lanes, hsum_lanes, mul_i8, superblock_lanes};

/// Q6_K: 210 bytes.
///
/// | bytes    | field    | meaning                   |
/// |----------|----------|---------------------------|
/// | 0..128   | `ql`     | low 4 bits                |
/// | 128..192 | `qh`     | high 2 bits               |
/// | 192..208 | `scales` | 16 × i8, one per 16 values|
/// | 208..210 | `d`      | f16 super-block scale     |
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct BlockQ6K {
    pub ql: [u8; 128],
    pub qh: [u8; 64],
    pub scales: [i8; 16],
    pub d: [u8; 2],
}

impl BlockQ6K {
    pub fn d(&self) -> f32 {
        f16_le(self.d)
    }
    /// The 256 quants in element order, each in 0..64 (before the −32).
    pub fn quants(&self) -> [i8; 256] {
        std::array::from_fn(|i| {
            let (h, c, l) = (i / 128, (i % 128) / 32, i % 32);
            let low_byte = self.ql[64 * h + 32 * (c % 2) + l];
            let low = (low_byte >> (4 * (c / 2))) & 0x0F;
            let high = (self.qh[32 * h + l] >> (2 * c)) & 3;
            (low | (high << 4)) as i8
        })
    }
}

/// `y = (d·sc)·(q − 32)`.
pub(super) fn dequantize_q6_k(x: &[BlockQ6K], y: &mut [f32]) {
    for (b, out) in x.iter().zip(y.chunks_exact_mut(256)) {
        let d = b.d();
        let q = b.quants();
        for (i, o) in out.iter_mut().enumerate() {
            let dl = d * f32::from(b.scales[i / 16]);
            *o = dl * f32::from(q[i] - 32);
        }
    }
}

/// `ggml_vec_dot_q6_K_q8_K`: the kernel multiplies the unsigned `q` (0..64) and takes the −32
/// back through the sums: lane `k` gets `Σ sc·q·y − 32·(sc₂ₖ·bsum₂ₖ + sc₂ₖ₊₁·bsum₂ₖ₊₁)`, then one
/// FMA per super-block.
pub(super) fn vec_dot_q6_k_q8_k(x: &[BlockQ6K], y: &[BlockQ8K]) -> f32 {
    if simd::use_avx2() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `use_avx2` checked that the CPU has AVX2, FMA and F16C.
        unsafe {
            return avx2::vec_dot_q6_k_q8_k(x, y);
        }
    }
    vec_dot_q6_k_q8_k_scalar(x, y)
}

pub(super) fn vec_dot_q6_k_q8_k_scalar(x: &[BlockQ6K], y: &[BlockQ8K]) -> f32 {
    let mut acc = [0f32; 8];
    for (bx, by) in x.iter().zip(y) {
        let d = by.d() * bx.d();
        let sc = |i: usize| i32::from(bx.scales[i]);
        let scale = |e: usize| sc(e / 16);
        let mut sumi = superblock_lanes(&bx.quants(), &by.qs, scale, mul_i8);
        for (k, lane) in sumi.iter_mut().enumerate() {
            let offset = sc(2 * k) * i32::from(by.bsum(2 * k))
                + sc(2 * k + 1) * i32::from(by.bsum(2 * k + 1));
            *lane = lane.wrapping_sub(offset << 5);
        }
        fma_lanes(&mut acc, d, &sumi);
    }
    hsum_lanes(&acc)
}

#[cfg(target_arch = "x86_64")]
pub(super) mod avx2 {
    use super::super::simd::x86::*;
    use super::{BlockQ6K, BlockQ8K};
    use std::arch::x86_64::*;

    /// i16 scale `lo` in the low half, `hi` in the high half (ggml: `get_scale_shuffle`).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn scale_pair(lo: i8, hi: i8) -> __m256i {
        _mm256_set_m128i(_mm_set1_epi16(i16::from(hi)), _mm_set1_epi16(i16::from(lo)))
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn vec_dot_q6_k_q8_k(x: &[BlockQ6K], y: &[BlockQ8K]) -> f32 {
        let m3 = _mm256_set1_epi8(3);
        let m15 = _mm256_set1_epi8(15);
        let mut acc = _mm256_setzero_ps();

        for (bx, by) in x.iter().zip(y) {
            let d = by.d() * f16_le(bx.d);

            let q8sums = _mm256_loadu_si256(by.bsums.as_ptr().cast());
            let scales_16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(bx.scales.as_ptr().cast()));
            let q8sclsub = _mm256_slli_epi32::<5>(_mm256_madd_epi16(q8sums, scales_16));

            let mut sumi = _mm256_setzero_si256();
            for j in 0..2 {
                let q4bits1 = _mm256_loadu_si256(bx.ql.as_ptr().add(64 * j).cast());
                let q4bits2 = _mm256_loadu_si256(bx.ql.as_ptr().add(64 * j + 32).cast());
                let q4bits_h = _mm256_loadu_si256(bx.qh.as_ptr().add(32 * j).cast());

                let q4h_0 = _mm256_slli_epi16::<4>(_mm256_and_si256(q4bits_h, m3));
                let q4h_1 =
                    _mm256_slli_epi16::<2>(_mm256_and_si256(q4bits_h, _mm256_set1_epi8(12)));
                let q4h_2 = _mm256_and_si256(q4bits_h, _mm256_set1_epi8(48));
                let q4h_3 =
                    _mm256_srli_epi16::<2>(_mm256_and_si256(q4bits_h, _mm256_set1_epi8(-64)));

                let q4 = [
                    _mm256_or_si256(_mm256_and_si256(q4bits1, m15), q4h_0),
                    _mm256_or_si256(_mm256_and_si256(q4bits2, m15), q4h_1),
                    _mm256_or_si256(
                        _mm256_and_si256(_mm256_srli_epi16::<4>(q4bits1), m15),
                        q4h_2,
                    ),
                    _mm256_or_si256(
                        _mm256_and_si256(_mm256_srli_epi16::<4>(q4bits2), m15),
                        q4h_3,
                    ),
                ];

                let mut p = [_mm256_setzero_si256(); 4];
                for (c, pc) in p.iter_mut().enumerate() {
                    let q8 = _mm256_loadu_si256(by.qs.as_ptr().add(128 * j + 32 * c).cast());
                    let s = 8 * j + 2 * c;
                    let scale = scale_pair(bx.scales[s], bx.scales[s + 1]);
                    *pc = _mm256_madd_epi16(scale, _mm256_maddubs_epi16(q4[c], q8));
                }
                sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p[0], p[1]));
                sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p[2], p[3]));
            }
            sumi = _mm256_sub_epi32(sumi, q8sclsub);
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
        }
        hsum_float_8(acc)
    }
}
