//! Q5_K: Q4_K plus a fifth bit per weight: `x = d·sc·q − dmin·m`, `q` in 0..32.
//!
//! Element `64c + 32s + l` (`s` = 0 low nibble, 1 high nibble) is nibble `s` of `qs[32c + l]`
//! with bit `2c + s` of `qh[l]` on top. Scales and mins are packed as in Q4_K.

use bytemuck::{Pod, Zeroable};

use super::q4_k::{min_lanes, scales_and_mins};
use super::q8::BlockQ8K;
use super::simd::{self, f16_le, fma_lanes, hsum_lanes, mul_i8, superblock_lanes};

/// Q5_K: 176 bytes.
///
/// | bytes   | field    | meaning                                   |
/// |---------|----------|-------------------------------------------|
/// | 0..2    | `d`      | f16 super-block scale for the scales      |
/// | 2..4    | `dmin`   | f16 super-block scale for the mins        |
/// | 4..16   | `scales` | 8 scales + 8 mins, 6 bits each (as Q4_K)  |
/// | 16..48  | `qh`     | fifth bits, bit `b` of byte `l` → element `32b + l` |
/// | 48..176 | `qs`     | low 4 bits                                |
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct BlockQ5K {
    pub d: [u8; 2],
    pub dmin: [u8; 2],
    pub scales: [u8; 12],
    pub qh: [u8; 32],
    pub qs: [u8; 128],
}

impl BlockQ5K {
    pub fn d(&self) -> f32 {
        f16_le(self.d)
    }
    pub fn dmin(&self) -> f32 {
        f16_le(self.dmin)
    }
    /// The 256 quants in element order, each in 0..32.
    pub fn quants(&self) -> [i8; 256] {
        std::array::from_fn(|i| {
            let (sub, l) = (i / 32, i % 32);
            let (c, s) = (sub / 2, sub % 2);
            let low = (self.qs[32 * c + l] >> (4 * s)) & 0x0F;
            let high = (self.qh[l] >> sub) & 1;
            (low | (high << 4)) as i8
        })
    }
}

/// `y = (d·sc)·q − dmin·m` per sub-block.
pub(super) fn dequantize_q5_k(x: &[BlockQ5K], y: &mut [f32]) {
    for (b, out) in x.iter().zip(y.chunks_exact_mut(256)) {
        let (d, dmin) = (b.d(), b.dmin());
        let (sc, m) = scales_and_mins(&b.scales);
        let q = b.quants();
        for (i, o) in out.iter_mut().enumerate() {
            let dl = d * f32::from(sc[i / 32]);
            let ml = dmin * f32::from(m[i / 32]);
            *o = dl * f32::from(q[i]) - ml;
        }
    }
}

/// `ggml_vec_dot_q5_K_q8_K`: quants in eight FMA lanes; the mins are summed as one integer per
/// super-block and added to a scalar with one fused multiply-add (`summs += dmin * Σ m·bsum`,
/// contracted by GCC).
pub(super) fn vec_dot_q5_k_q8_k(x: &[BlockQ5K], y: &[BlockQ8K]) -> f32 {
    if simd::use_avx2() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `use_avx2` checked that the CPU has AVX2, FMA and F16C.
        unsafe {
            return avx2::vec_dot_q5_k_q8_k(x, y);
        }
    }
    vec_dot_q5_k_q8_k_scalar(x, y)
}

pub(super) fn vec_dot_q5_k_q8_k_scalar(x: &[BlockQ5K], y: &[BlockQ8K]) -> f32 {
    let mut acc = [0f32; 8];
    let mut summs = 0f32;
    for (bx, by) in x.iter().zip(y) {
        let d = by.d() * bx.d();
        let dmin = -by.d() * bx.dmin();
        let (sc, m) = scales_and_mins(&bx.scales);

        let mins: i32 = min_lanes(&m, by).iter().sum();
        summs = dmin.mul_add(mins as f32, summs);

        let scale = |e: usize| i32::from(sc[e / 32]);
        let sumi = superblock_lanes(&bx.quants(), &by.qs, scale, mul_i8);
        fma_lanes(&mut acc, d, &sumi);
    }
    hsum_lanes(&acc) + summs
}

#[cfg(target_arch = "x86_64")]
pub(super) mod avx2 {
    use super::super::q4_k::avx2::min_products;
    use super::super::simd::x86::*;
    use super::{scales_and_mins, BlockQ5K, BlockQ8K};
    use std::arch::x86_64::*;

    /// 16 where bit `bit` of each byte of `hbits` is set, else 0.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn fifth_bit(hbits: __m256i, bit: usize) -> __m256i {
        let mask = _mm256_set1_epi8((1u8 << bit) as i8);
        let set = _mm256_cmpeq_epi8(_mm256_and_si256(hbits, mask), mask);
        _mm256_and_si256(set, _mm256_set1_epi8(16))
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn vec_dot_q5_k_q8_k(x: &[BlockQ5K], y: &[BlockQ8K]) -> f32 {
        let m4 = _mm256_set1_epi8(0x0F);
        let mut acc = _mm256_setzero_ps();
        let mut summs = 0f32;

        for (bx, by) in x.iter().zip(y) {
            let d = by.d() * f16_le(bx.d);
            let dmin = -by.d() * f16_le(bx.dmin);
            let (sc, m) = scales_and_mins(&bx.scales);

            let prod = min_products(&m, by);
            let zero = _mm_setzero_si128();
            let total = _mm_hadd_epi32(_mm_hadd_epi32(prod, zero), zero);
            summs = dmin.mul_add(_mm_cvtsi128_si32(total) as f32, summs);

            let hbits = _mm256_loadu_si256(bx.qh.as_ptr().cast());
            let mut sumi = _mm256_setzero_si256();
            for j in 0..4 {
                let scale_0 = _mm256_set1_epi16(i16::from(sc[2 * j]));
                let scale_1 = _mm256_set1_epi16(i16::from(sc[2 * j + 1]));

                let q5bits = _mm256_loadu_si256(bx.qs.as_ptr().add(32 * j).cast());
                let q5_0 = _mm256_add_epi8(_mm256_and_si256(q5bits, m4), fifth_bit(hbits, 2 * j));
                let q5_1 = _mm256_add_epi8(
                    _mm256_and_si256(_mm256_srli_epi16::<4>(q5bits), m4),
                    fifth_bit(hbits, 2 * j + 1),
                );

                let q8_0 = _mm256_loadu_si256(by.qs.as_ptr().add(64 * j).cast());
                let q8_1 = _mm256_loadu_si256(by.qs.as_ptr().add(64 * j + 32).cast());
                let p16_0 = _mm256_madd_epi16(scale_0, _mm256_maddubs_epi16(q5_0, q8_0));
                let p16_1 = _mm256_madd_epi16(scale_1, _mm256_maddubs_epi16(q5_1, q8_1));

                sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p16_0, p16_1));
            }
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
        }
        hsum_float_8(acc) + summs
    }
}
