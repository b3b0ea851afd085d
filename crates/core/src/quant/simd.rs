//! The pieces every kernel shares: which code path this CPU takes, and the AVX2 register
//! arithmetic of ggml-cpu's x86 kernels written twice — once with `std::arch` intrinsics and once
//! as plain Rust over `[f32; 8]` "lanes" — so that the portable path rounds exactly like the
//! vector one.
//!
//! Why lanes: ggml's AVX2 dot products keep eight f32 partial sums in one `__m256` register, add
//! each block into them with a fused multiply-add, and fold the eight into one number only at the
//! end (`hsum_float_8`). Float addition is not associative, so a scalar loop that summed in
//! element order would differ from ggml in the last bits. The scalar kernels therefore keep the
//! same eight accumulators, feed lane `k` with the same integer partial sum (the products of
//! elements `4k..4k+4` of a 32-element chunk) and fold them in the same order.

use half::f16;
use std::sync::OnceLock;

/// Which implementation the quantized kernels run on this machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelPath {
    /// `std::arch` AVX2 + FMA + F16C kernels (the same instruction mix as ggml-cpu's x86 build).
    Avx2,
    /// Portable Rust that computes bit-identical results, slower.
    Scalar,
}

impl KernelPath {
    /// The path chosen for this CPU, detected once.
    pub fn detect() -> KernelPath {
        static PATH: OnceLock<KernelPath> = OnceLock::new();
        *PATH.get_or_init(|| {
            if avx2_fma_f16c_detected() {
                KernelPath::Avx2
            } else {
                KernelPath::Scalar
            }
        })
    }

    /// A short name for logs: `"avx2+fma+f16c"` or `"scalar"`.
    pub fn name(self) -> &'static str {
        match self {
            KernelPath::Avx2 => "avx2+fma+f16c",
            KernelPath::Scalar => "scalar",
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn avx2_fma_f16c_detected() -> bool {
    is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("f16c")
}

#[cfg(not(target_arch = "x86_64"))]
fn avx2_fma_f16c_detected() -> bool {
    false
}

/// True when the AVX2 kernels may run. Every `*_avx2` kernel is reached only through a check of
/// this function.
#[inline]
pub(crate) fn use_avx2() -> bool {
    KernelPath::detect() == KernelPath::Avx2
}

/// An f16 stored little-endian, as every ggml block stores its scales.
#[inline]
pub(crate) fn f16_le(bytes: [u8; 2]) -> f32 {
    f16::from_bits(u16::from_le_bytes(bytes)).to_f32()
}

/// f32 → f16 bytes, round to nearest even (what F16C's `_cvtss_sh(x, 0)` does; see the tests).
#[inline]
pub(crate) fn f16_le_from_f32(x: f32) -> [u8; 2] {
    f16::from_f32(x).to_bits().to_le_bytes()
}

/// `hsum_float_8`: fold eight lanes in ggml's order, `((a0+a4)+(a2+a6)) + ((a1+a5)+(a3+a7))`
/// (high half onto low half, then `movehl`, then `movehdup`).
#[inline]
pub(crate) fn hsum_lanes(a: &[f32; 8]) -> f32 {
    let r = [a[0] + a[4], a[1] + a[5], a[2] + a[6], a[3] + a[7]];
    hsum_lanes4(&r)
}

/// The last two steps of `hsum_float_8` on a four-lane `__m128`: `(r0+r2) + (r1+r3)`.
#[inline]
pub(crate) fn hsum_lanes4(r: &[f32; 4]) -> f32 {
    (r[0] + r[2]) + (r[1] + r[3])
}

/// `acc[k] = fma(d, v[k], acc[k])`: `_mm256_fmadd_ps(set1(d), cvtepi32_ps(v), acc)`.
#[inline]
pub(crate) fn fma_lanes(acc: &mut [f32; 8], d: f32, v: &[i32; 8]) {
    for (a, &x) in acc.iter_mut().zip(v) {
        *a = d.mul_add(x as f32, *a);
    }
}

/// One i8·i8 product as AVX2 computes it with `_mm256_sign_epi8`: `|x| · (y·sign(x))`, where
/// the sign flip wraps in 8 bits. This equals `x·y` except when `y == -128` and `x < 0` (then
/// `-y` wraps back to -128). `quantize_row` never produces -128 for finite input, so for real
/// activations it is the plain product; the scalar kernels use it so both paths agree on any
/// bytes.
#[inline]
pub(crate) fn mul_i8_signed(x: i8, y: i8) -> i32 {
    i32::from(x.unsigned_abs()) * i32::from(y.wrapping_mul(x.signum()))
}

/// The eight i32 lanes of one 32-element chunk: lane `k` is `Σ_{e in 4k..4k+4} x[e]·y[e]`, with
/// the product `mul` — ggml's `maddubs` + `madd(ones)` pair.
#[inline]
pub(crate) fn chunk_lanes<X: Copy>(
    x: &[X; 32],
    y: &[i8; 32],
    mul: impl Fn(X, i8) -> i32,
) -> [i32; 8] {
    let mut lanes = [0i32; 8];
    for (k, lane) in lanes.iter_mut().enumerate() {
        *lane = (4 * k..4 * k + 4).map(|e| mul(x[e], y[e])).sum();
    }
    lanes
}

/// The eight i32 lanes of a 256-value super-block (K-quants, IQ4_XS) as ggml's AVX2 kernels
/// build them: the block is walked in 32-value chunks and each chunk adds, to lane `k`,
/// `scale(e) · Σ q[e..e+4]·y[e..e+4]` for `e = 32c + 4k`. `scale(e)` is the sub-block scale of
/// element `e` (16 or 32 elements share one, so one group of four never straddles two).
#[inline]
pub(crate) fn superblock_lanes(
    q: &[i8; 256],
    y: &[i8; 256],
    scale: impl Fn(usize) -> i32,
    mul: impl Fn(i8, i8) -> i32,
) -> [i32; 8] {
    let mut lanes = [0i32; 8];
    for c in 0..8 {
        for (k, lane) in lanes.iter_mut().enumerate() {
            let e = 32 * c + 4 * k;
            let sum: i32 = (e..e + 4).map(|i| mul(q[i], y[i])).sum();
            *lane = lane.wrapping_add(scale(e).wrapping_mul(sum));
        }
    }
    lanes
}

/// A plain i8 product (the K-quant kernels multiply unsigned quants with `maddubs`, exactly).
#[inline]
pub(crate) fn mul_i8(x: i8, y: i8) -> i32 {
    i32::from(x) * i32::from(y)
}

/// The x86 halves of the shared arithmetic. Every function requires AVX2, FMA and F16C.
#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    use std::arch::x86_64::*;

    /// `hsum_float_8`: the sum of the eight lanes, in the order of [`super::hsum_lanes`].
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn hsum_float_8(x: __m256) -> f32 {
        let mut r = _mm256_extractf128_ps(x, 1);
        r = _mm_add_ps(r, _mm256_castps256_ps128(x));
        hsum_float_4(r)
    }

    /// The last two steps of `hsum_float_8` on a `__m128`.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn hsum_float_4(mut r: __m128) -> f32 {
        r = _mm_add_ps(r, _mm_movehl_ps(r, r));
        r = _mm_add_ss(r, _mm_movehdup_ps(r));
        _mm_cvtss_f32(r)
    }

    /// The sum of eight i32 lanes (`hsum_i32_8`, wrapping).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn hsum_i32_8(a: __m256i) -> i32 {
        let sum128 = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
        let hi64 = _mm_unpackhi_epi64(sum128, sum128);
        let sum64 = _mm_add_epi32(hi64, sum128);
        let hi32 = _mm_shuffle_epi32(sum64, 0b10_11_00_01);
        _mm_cvtsi128_si32(_mm_add_epi32(sum64, hi32))
    }

    /// u8 × i8 products, summed in fours into eight f32 lanes (`mul_sum_us8_pairs_float`).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn mul_sum_us8_pairs_float(ax: __m256i, sy: __m256i) -> __m256 {
        let dot = _mm256_maddubs_epi16(ax, sy);
        _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_set1_epi16(1), dot))
    }

    /// i8 × i8 products summed in fours, as i16 pairs (`mul_add_epi8`): `maddubs(|x|, y·sign(x))`.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn mul_add_epi8(x: __m256i, y: __m256i) -> __m256i {
        _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x))
    }

    /// i8 × i8 products, summed in fours into eight f32 lanes (`mul_sum_i8_pairs_float`).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn mul_sum_i8_pairs_float(x: __m256i, y: __m256i) -> __m256 {
        mul_sum_us8_pairs_float(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x))
    }

    /// 16 bytes of packed nibbles → 32 bytes in 0..16: low nibbles in the low half, high
    /// nibbles in the high half (`bytes_from_nibbles_32`).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn bytes_from_nibbles_32(qs: &[u8; 16]) -> __m256i {
        let tmp = _mm_loadu_si128(qs.as_ptr().cast());
        let bytes = _mm256_set_m128i(_mm_srli_epi16(tmp, 4), tmp);
        _mm256_and_si256(_mm256_set1_epi8(0x0F), bytes)
    }

    /// 32 bits → 32 bytes, 0xFF where the bit is set (`bytes_from_bits_32`).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn bytes_from_bits_32(qh: &[u8; 4]) -> __m256i {
        let x32 = i32::from_le_bytes(*qh);
        let shuf_mask = _mm256_set_epi64x(
            0x0303030303030303,
            0x0202020202020202,
            0x0101010101010101,
            0x0000000000000000,
        );
        let bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(x32), shuf_mask);
        let bit_mask = _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe);
        _mm256_cmpeq_epi8(_mm256_or_si256(bytes, bit_mask), _mm256_set1_epi64x(-1))
    }

    /// `q >> 2c` on 16-bit lanes: selects the `c`-th 2-bit field of every byte once masked
    /// with 3 (the bits shifted in from the neighbouring byte land above the mask).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn shift_right_2c(q: __m256i, c: usize) -> __m256i {
        match c {
            0 => q,
            1 => _mm256_srli_epi16::<2>(q),
            2 => _mm256_srli_epi16::<4>(q),
            _ => _mm256_srli_epi16::<6>(q),
        }
    }

    /// 32 bytes at `p` as one vector.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn load32<T>(p: &[T; 32]) -> __m256i
    where
        T: Copy,
    {
        debug_assert_eq!(std::mem::size_of::<T>(), 1);
        _mm256_loadu_si256(p.as_ptr().cast())
    }

    /// f16 bits → f32 with F16C (`_cvtsh_ss`), exact.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn f16_le(bytes: [u8; 2]) -> f32 {
        f16x2(bytes, [0; 2])[0]
    }

    /// Two f16 → two f32 with one F16C conversion.
    ///
    /// The two halves are packed into one 32-bit integer on purpose: converting a lone 16-bit
    /// load lets LLVM insert it into whatever register is at hand (`vpinsrw`), which chains
    /// every block of a dot product onto the previous block's accumulator.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn f16x2(a: [u8; 2], b: [u8; 2]) -> [f32; 2] {
        let bits = u32::from_le_bytes([a[0], a[1], b[0], b[1]]);
        let v = _mm_cvtph_ps(_mm_cvtsi32_si128(bits as i32));
        [_mm_cvtss_f32(v), _mm_cvtss_f32(_mm_movehdup_ps(v))]
    }

    /// Four f16 (two pairs, as Q4_1/Q5_1/Q8_1 store `d` next to `m` or `s`) → four f32.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn f16x4(a: [[u8; 2]; 2], b: [[u8; 2]; 2]) -> [f32; 4] {
        let lo = u32::from_le_bytes([a[0][0], a[0][1], a[1][0], a[1][1]]);
        let hi = u32::from_le_bytes([b[0][0], b[0][1], b[1][0], b[1][1]]);
        let v = _mm_cvtph_ps(_mm_cvtsi64_si128(
            (u64::from(lo) | (u64::from(hi) << 32)) as i64,
        ));
        std::mem::transmute::<__m128, [f32; 4]>(v)
    }

    /// f32 → f16 bits with F16C, round to nearest even (`_cvtss_sh(x, 0)`).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn f16_le_from_f32(x: f32) -> [u8; 2] {
        let h = _mm_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(_mm_set_ss(x));
        (_mm_cvtsi128_si32(h) as u16).to_le_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hsum_lanes_folds_in_ggml_order() {
        // 1e8 + 1 - 1e8 loses the 1 in f32 when added left to right, so the order is visible.
        let a = [1e8, 1.0, 0.0, 0.0, -1e8, 0.0, 0.0, 0.0];
        // (a0 + a4) = 0 first, then + a1 = 1.
        assert_eq!(hsum_lanes(&a), 1.0);
        let b = [1e8, 0.0, 1.0, 0.0, 0.0, 0.0, -1e8, 0.0];
        // (a0+a4) + (a2+a6) = 1e8 + (1 - 1e8) = 1e8 - 1e8 = 0 in f32.
        assert_eq!(hsum_lanes(&b), 0.0);
    }

    #[test]
    fn sign_trick_product_matches_plain_product_except_at_minus_128() {
        for x in i8::MIN..=i8::MAX {
            for y in i8::MIN..=i8::MAX {
                let plain = i32::from(x) * i32::from(y);
                let avx = mul_i8_signed(x, y);
                if y == -128 && x < 0 {
                    assert_eq!(avx, -plain, "x={x} y={y}");
                } else {
                    assert_eq!(avx, plain, "x={x} y={y}");
                }
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn vector_helpers_match_their_scalar_twins() {
        use std::arch::x86_64::*;
        if !use_avx2() {
            return;
        }
        let lanes = [3.5f32, -1e7, 0.25, 1e-3, 7.0, 1e7, -2.0, 0.125];
        let v = unsafe { _mm256_loadu_ps(lanes.as_ptr()) };
        assert_eq!(
            unsafe { x86::hsum_float_8(v) }.to_bits(),
            hsum_lanes(&lanes).to_bits()
        );

        let x: [i8; 32] = std::array::from_fn(|i| (i as i8).wrapping_mul(37).wrapping_sub(100));
        let y: [i8; 32] = std::array::from_fn(|i| (i as i8).wrapping_mul(-53).wrapping_add(7));
        let got = unsafe {
            let r = x86::mul_sum_i8_pairs_float(x86::load32(&x), x86::load32(&y));
            let mut out = [0f32; 8];
            _mm256_storeu_ps(out.as_mut_ptr(), r);
            out
        };
        let want = chunk_lanes(&x, &y, mul_i8_signed);
        assert_eq!(got, want.map(|v| v as f32));

        for bits in [0x0000u16, 0x3c00, 0x7bff, 0x0001, 0x8400, 0xfbff] {
            let b = bits.to_le_bytes();
            assert_eq!(unsafe { x86::f16_le(b) }.to_bits(), f16_le(b).to_bits());
        }
    }
}
