//! Q3_K: 256 weights in 3 bits (2 low bits in `qs`, the high bit in `hmask`), in 16 sub-blocks
//! of 16 with a signed 6-bit scale each: `x = d·(sc − 32)·q`, `q` in −4..4.
//!
//! Element `128h + 32j + l` takes bits `2j..2j+2` of `qs[32h + l]` and bit `4h + j` of
//! `hmask[l]`; a *clear* high bit subtracts 4. The sixteen 6-bit scales are packed in 12 bytes:
//! the low 4 bits of scale `i` are nibble `i / 8` of byte `i % 8`, the high 2 bits are bits
//! `2·(i / 4)..` of byte `8 + i % 4`.

use bytemuck::{Pod, Zeroable};

use super::q8::BlockQ8K;
use super::simd::{self, f16_le, fma_lanes, hsum_lanes, mul_i8, superblock_lanes};

/// Q3_K: 110 bytes.
///
/// | bytes   | field    | meaning                                  |
/// |---------|----------|------------------------------------------|
/// | 0..32   | `hmask`  | high bits, bit `b` of byte `l` → element `32b + l` |
/// | 32..96  | `qs`     | low 2 bits, four per byte                |
/// | 96..108 | `scales` | sixteen 6-bit scales (offset by 32)      |
/// | 108..110| `d`      | f16 super-block scale                    |
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct BlockQ3K {
    pub hmask: [u8; 32],
    pub qs: [u8; 64],
    pub scales: [u8; 12],
    pub d: [u8; 2],
}

impl BlockQ3K {
    pub fn d(&self) -> f32 {
        f16_le(self.d)
    }

    /// The sixteen sub-block scales, in −32..32.
    pub fn scales(&self) -> [i8; 16] {
        let s = &self.scales;
        std::array::from_fn(|i| {
            let low = if i < 8 { s[i] & 0x0F } else { s[i - 8] >> 4 };
            let high = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
            (low | (high << 4)) as i8 - 32
        })
    }

    /// The 256 quants in element order, each in −4..4.
    pub fn quants(&self) -> [i8; 256] {
        std::array::from_fn(|i| {
            let (h, j, l) = (i / 128, (i % 128) / 32, i % 32);
            let low = ((self.qs[32 * h + l] >> (2 * j)) & 3) as i8;
            let high_set = (self.hmask[l] >> (4 * h + j)) & 1 == 1;
            if high_set {
                low
            } else {
                low - 4
            }
        })
    }
}

/// `y = (d·sc)·q` (gguf-py: `dl * q`).
pub(super) fn dequantize_q3_k(x: &[BlockQ3K], y: &mut [f32]) {
    for (b, out) in x.iter().zip(y.chunks_exact_mut(256)) {
        let d = b.d();
        let scales = b.scales();
        let q = b.quants();
        for (i, o) in out.iter_mut().enumerate() {
            let dl = d * f32::from(scales[i / 16]);
            *o = dl * f32::from(q[i]);
        }
    }
}

/// `ggml_vec_dot_q3_K_q8_K`: per super-block one FMA of `d·d_y` times the eight integer lanes
/// `Σ sc·q·y`.
pub(super) fn vec_dot_q3_k_q8_k(x: &[BlockQ3K], y: &[BlockQ8K]) -> f32 {
    if simd::use_avx2() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `use_avx2` checked that the CPU has AVX2, FMA and F16C.
        unsafe {
            return avx2::vec_dot_q3_k_q8_k(x, y);
        }
    }
    vec_dot_q3_k_q8_k_scalar(x, y)
}

pub(super) fn vec_dot_q3_k_q8_k_scalar(x: &[BlockQ3K], y: &[BlockQ8K]) -> f32 {
    let mut acc = [0f32; 8];
    for (bx, by) in x.iter().zip(y) {
        let d = by.d() * bx.d();
        let scales = bx.scales();
        let scale = |e: usize| i32::from(scales[e / 16]);
        let sumi = superblock_lanes(&bx.quants(), &by.qs, scale, mul_i8);
        fma_lanes(&mut acc, d, &sumi);
    }
    hsum_lanes(&acc)
}

#[cfg(target_arch = "x86_64")]
pub(super) mod avx2 {
    use super::super::q2_k::avx2::scale_shuffle_pair;
    use super::super::simd::x86::*;
    use super::{BlockQ3K, BlockQ8K};
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn vec_dot_q3_k_q8_k(x: &[BlockQ3K], y: &[BlockQ8K]) -> f32 {
        let m3 = _mm256_set1_epi8(3);
        let mut acc = _mm256_setzero_ps();

        for (bx, by) in x.iter().zip(y) {
            let d = by.d() * f16_le(bx.d);

            let scales128 = _mm_loadu_si128(bx.scales().as_ptr().cast());
            let all_scales = _mm256_cvtepi8_epi16(scales128);
            let l_scales = _mm256_extracti128_si256::<0>(all_scales);
            let h_scales = _mm256_extracti128_si256::<1>(all_scales);
            let scales = [
                _mm256_set_m128i(l_scales, l_scales),
                _mm256_set_m128i(h_scales, h_scales),
            ];

            let hbits = _mm256_loadu_si256(bx.hmask.as_ptr().cast());
            let mut sumi = _mm256_setzero_si256();
            for (j, scales_j) in scales.iter().enumerate() {
                let q3bits = _mm256_loadu_si256(bx.qs.as_ptr().add(32 * j).cast());
                let q8 = by.qs.as_ptr().add(128 * j);
                let mut p = [_mm256_setzero_si256(); 4];
                for (c, pc) in p.iter_mut().enumerate() {
                    let bit = 4 * j + c;
                    let q3l = _mm256_and_si256(shift_right_2c(q3bits, c), m3);
                    // 4 where the high bit is clear, 0 where it is set.
                    let q3h = high_bit_offset(hbits, bit);
                    let q8c = _mm256_loadu_si256(q8.add(32 * c).cast());
                    // Σ (q3l − q3h)·y, as two unsigned products and a subtraction.
                    let p16 = _mm256_sub_epi16(
                        _mm256_maddubs_epi16(q3l, q8c),
                        _mm256_maddubs_epi16(q3h, q8c),
                    );
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

    /// Bytes of 4 where bit `bit` of `hbits` is clear, 0 where it is set.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn high_bit_offset(hbits: __m256i, bit: usize) -> __m256i {
        let mask = _mm256_set1_epi8((1u8 << bit) as i8);
        let clear = _mm256_cmpeq_epi8(_mm256_and_si256(hbits, mask), _mm256_setzero_si256());
        _mm256_and_si256(clear, _mm256_set1_epi8(4))
    }
}
