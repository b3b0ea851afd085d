//! Q2_K: 256 weights in 2 bits, in 16 sub-blocks of 16 with a 4-bit scale and a 4-bit min each,
//! both scaled by f16 super-block factors: `x = d·sc·q − dmin·m`.
//!
//! Element order: the block is two halves of 128; in half `h`, element `128h + 32j + l` is bits
//! `2j..2j+2` of `qs[32h + l]`. Sub-block `i` (elements `16i..16i+16`) uses `scales[i]`:
//! scale in the low nibble, min in the high one.

use bytemuck::{Pod, Zeroable};

use super::q8::BlockQ8K;
use super::simd::{self, f16_le, fma_lanes, hsum_lanes, mul_i8, superblock_lanes};

/// Q2_K: 84 bytes.
///
/// | bytes  | field    | meaning                                   |
/// |--------|----------|-------------------------------------------|
/// | 0..16  | `scales` | per 16 values: scale (low 4) · min (high 4) |
/// | 16..80 | `qs`     | 2-bit quants, four per byte               |
/// | 80..82 | `d`      | f16 super-block scale for the scales      |
/// | 82..84 | `dmin`   | f16 super-block scale for the mins        |
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct BlockQ2K {
    pub scales: [u8; 16],
    pub qs: [u8; 64],
    pub d: [u8; 2],
    pub dmin: [u8; 2],
}

impl BlockQ2K {
    pub fn d(&self) -> f32 {
        f16_le(self.d)
    }
    pub fn dmin(&self) -> f32 {
        f16_le(self.dmin)
    }
    /// The 256 quants in element order, each in 0..4.
    pub fn quants(&self) -> [i8; 256] {
        std::array::from_fn(|i| {
            let (h, j, l) = (i / 128, (i % 128) / 32, i % 32);
            ((self.qs[32 * h + l] >> (2 * j)) & 3) as i8
        })
    }
}

/// `y = (d·sc)·q − dmin·m` per sub-block (gguf-py: `dl * qs - ml`; products rounded).
pub(super) fn dequantize_q2_k(x: &[BlockQ2K], y: &mut [f32]) {
    for (b, out) in x.iter().zip(y.chunks_exact_mut(256)) {
        let (d, dmin) = (b.d(), b.dmin());
        let q = b.quants();
        for (i, o) in out.iter_mut().enumerate() {
            let sc = b.scales[i / 16];
            let dl = d * f32::from(sc & 0x0F);
            let ml = dmin * f32::from(sc >> 4);
            *o = dl * f32::from(q[i]) - ml;
        }
    }
}

/// `ggml_vec_dot_q2_K_q8_K`. Per super-block, two FMAs into eight lanes: first the mins
/// (`−dmin·d_y · Σ m·bsum`, lane `k` holding sub-blocks `2k` and `2k+1`), then the quants
/// (`d·d_y · Σ sc·q·y`).
pub(super) fn vec_dot_q2_k_q8_k(x: &[BlockQ2K], y: &[BlockQ8K]) -> f32 {
    if simd::use_avx2() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `use_avx2` checked that the CPU has AVX2, FMA and F16C.
        unsafe {
            return avx2::vec_dot_q2_k_q8_k(x, y);
        }
    }
    vec_dot_q2_k_q8_k_scalar(x, y)
}

pub(super) fn vec_dot_q2_k_q8_k_scalar(x: &[BlockQ2K], y: &[BlockQ8K]) -> f32 {
    let mut acc = [0f32; 8];
    for (bx, by) in x.iter().zip(y) {
        let d = by.d() * bx.d();
        let dmin = -by.d() * bx.dmin();

        let min = |i: usize| i32::from(bx.scales[i] >> 4);
        let mins: [i32; 8] = std::array::from_fn(|k| {
            min(2 * k) * i32::from(by.bsum(2 * k)) + min(2 * k + 1) * i32::from(by.bsum(2 * k + 1))
        });
        fma_lanes(&mut acc, dmin, &mins);

        let scale = |e: usize| i32::from(bx.scales[e / 16] & 0x0F);
        let sumi = superblock_lanes(&bx.quants(), &by.qs, scale, mul_i8);
        fma_lanes(&mut acc, d, &sumi);
    }
    hsum_lanes(&acc)
}

#[cfg(target_arch = "x86_64")]
pub(super) mod avx2 {
    use super::super::simd::x86::*;
    use super::{BlockQ2K, BlockQ8K};
    use std::arch::x86_64::*;

    /// Shuffle control that spreads i16 scale `2c` over the low half and `2c + 1` over the
    /// high half of a register holding eight i16 scales in each half (`get_scale_shuffle_q3k`).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn scale_shuffle_pair(c: i16) -> __m256i {
        let lo = ((4 * c + 1) << 8) | (4 * c);
        let hi = ((4 * c + 3) << 8) | (4 * c + 2);
        _mm256_set_m128i(_mm_set1_epi16(hi), _mm_set1_epi16(lo))
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn vec_dot_q2_k_q8_k(x: &[BlockQ2K], y: &[BlockQ8K]) -> f32 {
        let m3 = _mm256_set1_epi8(3);
        let m4 = _mm_set1_epi8(0x0F);
        let mut acc = _mm256_setzero_ps();

        for (bx, by) in x.iter().zip(y) {
            let y_d = by.d();
            let d = y_d * f16_le(bx.d);
            let dmin = -y_d * f16_le(bx.dmin);

            let mins_and_scales = _mm_loadu_si128(bx.scales.as_ptr().cast());
            let scales8 = _mm_and_si128(mins_and_scales, m4);
            let mins8 = _mm_and_si128(_mm_srli_epi16(mins_and_scales, 4), m4);
            let mins = _mm256_cvtepi8_epi16(mins8);
            let prod = _mm256_madd_epi16(mins, _mm256_loadu_si256(by.bsums.as_ptr().cast()));
            acc = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(prod), acc);

            let all_scales = _mm256_cvtepi8_epi16(scales8);
            let l_scales = _mm256_extracti128_si256::<0>(all_scales);
            let h_scales = _mm256_extracti128_si256::<1>(all_scales);
            let scales = [
                _mm256_set_m128i(l_scales, l_scales),
                _mm256_set_m128i(h_scales, h_scales),
            ];

            let mut sumi = _mm256_setzero_si256();
            for (j, scales_j) in scales.iter().enumerate() {
                let q2bits = _mm256_loadu_si256(bx.qs.as_ptr().add(32 * j).cast());
                let q8 = by.qs.as_ptr().add(128 * j);
                let mut p = [_mm256_setzero_si256(); 4];
                for (c, pc) in p.iter_mut().enumerate() {
                    let q2 = _mm256_and_si256(shift_right_2c(q2bits, c), m3);
                    let q8c = _mm256_loadu_si256(q8.add(32 * c).cast());
                    let p16 = _mm256_maddubs_epi16(q2, q8c);
                    let sc = _mm256_shuffle_epi8(*scales_j, scale_shuffle_pair(c as i16));
                    *pc = _mm256_madd_epi16(sc, p16);
                }
                let p01 = _mm256_add_epi32(p[0], p[1]);
                let p23 = _mm256_add_epi32(p[2], p[3]);
                sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p01, p23));
            }
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
        }
        hsum_float_8(acc)
    }
}
