//! Q4_K: 256 weights in 4 bits, in 8 sub-blocks of 32 with a 6-bit scale and a 6-bit min each:
//! `x = d·sc·q − dmin·m`. The common "Q4_K_M" files are mostly this type.
//!
//! Element `64c + l` is the low nibble of `qs[32c + l]`, element `64c + 32 + l` the high nibble.
//! The eight scales and eight mins (6 bits each) are packed in 12 bytes, see [`scales_and_mins`].

use bytemuck::{Pod, Zeroable};

use super::q8::BlockQ8K;
use super::simd::{self, f16_le, fma_lanes, hsum_lanes, hsum_lanes4, mul_i8, superblock_lanes};

/// Q4_K: 144 bytes.
///
/// | bytes  | field    | meaning                                 |
/// |--------|----------|-----------------------------------------|
/// | 0..2   | `d`      | f16 super-block scale for the scales    |
/// | 2..4   | `dmin`   | f16 super-block scale for the mins      |
/// | 4..16  | `scales` | 8 scales + 8 mins, 6 bits each          |
/// | 16..144| `qs`     | 4-bit quants                            |
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct BlockQ4K {
    pub d: [u8; 2],
    pub dmin: [u8; 2],
    pub scales: [u8; 12],
    pub qs: [u8; 128],
}

/// Unpack the 6-bit scales and mins of Q4_K and Q5_K (ggml `get_scale_min_k4`). Bytes 0..4
/// hold scales 0..4 in their low 6 bits, bytes 4..8 mins 0..4; scales and mins 4..8 keep their
/// low 4 bits in the nibbles of bytes 8..12 and their top 2 bits in the top bits of bytes 0..8.
pub fn scales_and_mins(q: &[u8; 12]) -> ([u8; 8], [u8; 8]) {
    let mut sc = [0u8; 8];
    let mut m = [0u8; 8];
    for j in 0..8 {
        if j < 4 {
            sc[j] = q[j] & 63;
            m[j] = q[j + 4] & 63;
        } else {
            sc[j] = (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4);
            m[j] = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
        }
    }
    (sc, m)
}

impl BlockQ4K {
    pub fn d(&self) -> f32 {
        f16_le(self.d)
    }
    pub fn dmin(&self) -> f32 {
        f16_le(self.dmin)
    }
    /// The 256 quants in element order, each in 0..16.
    pub fn quants(&self) -> [i8; 256] {
        std::array::from_fn(|i| {
            let (c, half, l) = (i / 64, (i % 64) / 32, i % 32);
            ((self.qs[32 * c + l] >> (4 * half)) & 0x0F) as i8
        })
    }
}

/// `y = (d·sc)·q − dmin·m` per sub-block (products rounded, then the subtraction).
pub(super) fn dequantize_q4_k(x: &[BlockQ4K], y: &mut [f32]) {
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

/// The four i32 lanes of `Σ m·bsum` as the AVX2 kernels form them: `bsums` are first added in
/// pairs (one sum per 32-value sub-block, `hadd_epi16`, which wraps in 16 bits — never for sums
/// made by the quantizer), then lane `k` holds sub-blocks `2k` and `2k + 1` (`madd_epi16`).
pub(super) fn min_lanes(m: &[u8; 8], y: &BlockQ8K) -> [i32; 4] {
    let sub_sum = |t: usize| i32::from(y.bsum(2 * t).wrapping_add(y.bsum(2 * t + 1)));
    std::array::from_fn(|k| {
        i32::from(m[2 * k]) * sub_sum(2 * k) + i32::from(m[2 * k + 1]) * sub_sum(2 * k + 1)
    })
}

/// `ggml_vec_dot_q4_K_q8_K`: the quants go into eight FMA lanes (`d·d_y · Σ sc·q·y`), the mins
/// into a separate four-lane accumulator (`−dmin·d_y · Σ m·bsum`); the two are folded and
/// added at the end.
pub(super) fn vec_dot_q4_k_q8_k(x: &[BlockQ4K], y: &[BlockQ8K]) -> f32 {
    if simd::use_avx2() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `use_avx2` checked that the CPU has AVX2, FMA and F16C.
        unsafe {
            return avx2::vec_dot_q4_k_q8_k(x, y);
        }
    }
    vec_dot_q4_k_q8_k_scalar(x, y)
}

pub(super) fn vec_dot_q4_k_q8_k_scalar(x: &[BlockQ4K], y: &[BlockQ8K]) -> f32 {
    let mut acc = [0f32; 8];
    let mut acc_m = [0f32; 4];
    for (bx, by) in x.iter().zip(y) {
        let d = by.d() * bx.d();
        let dmin = -by.d() * bx.dmin();
        let (sc, m) = scales_and_mins(&bx.scales);

        for (a, p) in acc_m.iter_mut().zip(min_lanes(&m, by)) {
            *a = dmin.mul_add(p as f32, *a);
        }
        let scale = |e: usize| i32::from(sc[e / 32]);
        let sumi = superblock_lanes(&bx.quants(), &by.qs, scale, mul_i8);
        fma_lanes(&mut acc, d, &sumi);
    }
    hsum_lanes(&acc) + hsum_lanes4(&acc_m)
}

#[cfg(target_arch = "x86_64")]
pub(super) mod avx2 {
    use super::super::simd::x86::*;
    use super::{scales_and_mins, BlockQ4K, BlockQ8K};
    use std::arch::x86_64::*;

    /// `Σ m·bsum` as four i32 lanes: `madd(mins, hadd(bsums[0..8], bsums[8..16]))`.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn min_products(m: &[u8; 8], by: &BlockQ8K) -> __m128i {
        let mins = _mm_cvtepu8_epi16(_mm_loadl_epi64(m.as_ptr().cast()));
        let q8sums = _mm256_loadu_si256(by.bsums.as_ptr().cast());
        let q8s = _mm_hadd_epi16(
            _mm256_extracti128_si256::<0>(q8sums),
            _mm256_extracti128_si256::<1>(q8sums),
        );
        _mm_madd_epi16(mins, q8s)
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn vec_dot_q4_k_q8_k(x: &[BlockQ4K], y: &[BlockQ8K]) -> f32 {
        let m4 = _mm256_set1_epi8(0x0F);
        let mut acc = _mm256_setzero_ps();
        let mut acc_m = _mm_setzero_ps();

        for (bx, by) in x.iter().zip(y) {
            let d = by.d() * f16_le(bx.d);
            let dmin = -by.d() * f16_le(bx.dmin);
            let (sc, m) = scales_and_mins(&bx.scales);

            let prod = min_products(&m, by);
            acc_m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod), acc_m);

            let mut sumi = _mm256_setzero_si256();
            for j in 0..4 {
                let scale_l = _mm256_set1_epi16(i16::from(sc[2 * j]));
                let scale_h = _mm256_set1_epi16(i16::from(sc[2 * j + 1]));

                let q4bits = _mm256_loadu_si256(bx.qs.as_ptr().add(32 * j).cast());
                let q4l = _mm256_and_si256(q4bits, m4);
                let q4h = _mm256_and_si256(_mm256_srli_epi16::<4>(q4bits), m4);

                let q8l = _mm256_loadu_si256(by.qs.as_ptr().add(64 * j).cast());
                let p16l = _mm256_madd_epi16(scale_l, _mm256_maddubs_epi16(q4l, q8l));
                let q8h = _mm256_loadu_si256(by.qs.as_ptr().add(64 * j + 32).cast());
                let p16h = _mm256_madd_epi16(scale_h, _mm256_maddubs_epi16(q4h, q8h));

                sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p16l, p16h));
            }
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
        }
        hsum_float_8(acc) + hsum_float_4(acc_m)
    }
}
