//! ggml-cpu's vector routines whose rounding shows in llama.cpp's numbers, matched to its
//! x86 AVX2 + FMA + F16C build (the reference logs come from such a build).
//!
//! Float addition is not associative: llamafile's tinyBLAS (which ggml-cpu uses for f16 and f32
//! matrix products of two or more columns) keeps one 8-lane accumulator per output and folds it
//! in a fixed order, the softmax sums 8 exponentials at a time in f32 and then in f64. To get the
//! same bits, each routine here follows the same lanes and the same fold. Most are written once
//! as plain Rust over `[f32; 8]` lanes; the hot f16 ones (FLASH_ATTN_EXT's accumulator and the
//! f16 MUL_MAT of the non-flash attention) also have a `std::arch` version, chosen at run time,
//! and a test checks that both give identical bits. ggml's own dot products (`ggml_vec_dot_*`)
//! live with the other `vec_dot` kernels in [`crate::quant`].
//!
//! `ggml_v_expf` (the SIMD exponential behind SILU, SWIGLU and SOFT_MAX) is not libm's `expf`:
//! it is a polynomial approximation with up to ~1.5 ulp error. [`v_expf`] reproduces it lane by
//! lane, so activations match ggml's to the bit. Where ggml calls libm (`expf` in the online
//! softmax of flash attention, the tail elements of a row), Rust's `f32::exp` calls the same
//! libm.

use half::f16;
use half::slice::HalfFloatSliceExt;

use crate::quant::KernelPath;

/// True when this CPU has AVX2, FMA and F16C (detected once, shared with [`crate::quant`]); the
/// `std::arch` paths run only then.
pub fn simd_available() -> bool {
    KernelPath::detect() == KernelPath::Avx2
}

// ggml_v_expf's constants (ARM optimized-routines' expf): 1.5·2²³ (round-to-integer shifter),
// log2(e), ln2 split in a high and a low part, and the polynomial coefficients.
const SHIFTER: u32 = 0x4b40_0000;
const LOG2E: u32 = 0x3fb8_aa3b;
const LN2_LO: u32 = 0x35bf_be8e;
const LN2_HI: u32 = 0x3f31_7200;
const C4: u32 = 0x3c07_2010;
const C3: u32 = 0x3d2b_9f17;
const C2: u32 = 0x3e2a_af33;
const C1: u32 = 0x3eff_fedb;
const C0: u32 = 0x3f7f_fff6;

fn c(bits: u32) -> f32 {
    f32::from_bits(bits)
}

/// One lane of ggml's `ggml_v_expf` (AVX2 version): eˣ as n = round(x·log2 e), b = x − n·ln 2,
/// eˣ = 2ⁿ·(1 + p(b)), with the same fused multiply-adds and the same handling of |n| > 126
/// (scaling in two steps) and |n| > 192 (overflow to ∞ or underflow to 0).
#[inline(always)]
pub fn v_expf(x: f32) -> f32 {
    let r = c(SHIFTER);
    let z = x.mul_add(c(LOG2E), r);
    let n = z - r;
    let b = (-n).mul_add(c(LN2_LO), (-n).mul_add(c(LN2_HI), x));
    let e = z.to_bits() << 23;
    let k = f32::from_bits(e.wrapping_add(1.0f32.to_bits()));
    let u = b * b;
    let j = c(C4)
        .mul_add(b, c(C3))
        .mul_add(u, c(C2).mul_add(b, c(C1)))
        .mul_add(u, c(C0) * b);
    if n.abs() <= 126.0 || n.is_nan() {
        return j.mul_add(k, k);
    }
    let g: u32 = if n <= 0.0 { 0x8200_0000 } else { 0 };
    let s1 = f32::from_bits(g.wrapping_add(0x7f00_0000));
    let s2 = f32::from_bits(e.wrapping_sub(g));
    if n.abs() > 192.0 {
        s1 * s1
    } else {
        s2.mul_add(j, s2) * s1
    }
}

/// One lane of `ggml_v_silu`: x / (1 + v_expf(−x)).
#[inline(always)]
pub fn v_silu(x: f32) -> f32 {
    x / (1.0 + v_expf(0.0 - x))
}

/// ggml's scalar `ggml_silu_f32` (libm expf), used for the elements after the last full 8.
#[inline(always)]
fn silu_libm(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

/// `ggml_vec_swiglu_f32`: y = silu(g) · u, eight lanes at a time with [`v_silu`], the tail with
/// libm.
pub fn swiglu_row(y: &mut [f32], g: &[f32], u: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    if simd_available() {
        // SAFETY: the CPU has AVX2, FMA and F16C (checked above).
        unsafe { swiglu_row_fma(y, g, u) };
        return;
    }
    swiglu_row_lanes(y, g, u);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn swiglu_row_fma(y: &mut [f32], g: &[f32], u: &[f32]) {
    swiglu_row_lanes(y, g, u);
}

#[inline(always)]
fn swiglu_row_lanes(y: &mut [f32], g: &[f32], u: &[f32]) {
    let full = y.len() / 8 * 8;
    for i in 0..full {
        y[i] = v_silu(g[i]) * u[i];
    }
    for i in full..y.len() {
        y[i] = silu_libm(g[i]) * u[i];
    }
}

/// `ggml_vec_silu_f32`: y = silu(x), eight lanes at a time with [`v_silu`], the tail with libm.
pub fn silu_row(y: &mut [f32], x: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    if simd_available() {
        // SAFETY: the CPU has AVX2, FMA and F16C (checked above).
        unsafe { silu_row_fma(y, x) };
        return;
    }
    silu_row_lanes(y, x);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn silu_row_fma(y: &mut [f32], x: &[f32]) {
    silu_row_lanes(y, x);
}

#[inline(always)]
fn silu_row_lanes(y: &mut [f32], x: &[f32]) {
    let full = y.len() / 8 * 8;
    for i in 0..full {
        y[i] = v_silu(x[i]);
    }
    for i in full..y.len() {
        y[i] = silu_libm(x[i]);
    }
}

/// `ggml_vec_soft_max_f32`: y = exp(x − max) and returns Σy. Eight at a time: [`v_expf`] per lane,
/// the eight folded in f32 as `(l0+l4 + l2+l6) + (l1+l5 + l3+l7)` and added to an f64 sum; the
/// tail with libm expf, added in f64.
pub fn exp_sum_row(y: &mut [f32], x: &[f32], max: f32) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if simd_available() {
        // SAFETY: the CPU has AVX2, FMA and F16C (checked above).
        return unsafe { exp_sum_row_fma(y, x, max) };
    }
    exp_sum_row_lanes(y, x, max)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn exp_sum_row_fma(y: &mut [f32], x: &[f32], max: f32) -> f64 {
    exp_sum_row_lanes(y, x, max)
}

#[inline(always)]
fn exp_sum_row_lanes(y: &mut [f32], x: &[f32], max: f32) -> f64 {
    let mut sum = 0.0f64;
    let full = y.len() / 8 * 8;
    for (yc, xc) in y[..full].chunks_exact_mut(8).zip(x[..full].chunks_exact(8)) {
        let mut lanes = [0.0f32; 8];
        for l in 0..8 {
            lanes[l] = v_expf(xc[l] - max);
            yc[l] = lanes[l];
        }
        sum += f64::from(hsum_movehl(lanes));
    }
    for i in full..y.len() {
        let v = (x[i] - max).exp();
        sum += f64::from(v);
        y[i] = v;
    }
    sum
}

/// Fold of eight lanes as `_mm_add_ps(high, low)`, `movehl`, `movehdup` do it (tinyBLAS `hsum`,
/// the softmax sum): (l0+l4 + l2+l6) + (l1+l5 + l3+l7).
#[inline(always)]
pub fn hsum_movehl(v: [f32; 8]) -> f32 {
    let t = [v[4] + v[0], v[5] + v[1], v[6] + v[2], v[7] + v[3]];
    (t[0] + t[2]) + (t[1] + t[3])
}

/// llamafile tinyBLAS's f16 dot product (AVX2, `tinyBLAS<8, __m256, __m256, ggml_fp16_t, …>`):
/// one 8-lane accumulator fed by fused multiply-adds, folded with [`hsum_movehl`]. Needs
/// `len % 8 == 0` (tinyBLAS declines otherwise).
pub fn dot_f16_tinyblas(x: &[f16], y: &[f16]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if simd_available() {
        // SAFETY: the CPU has AVX2, FMA and F16C (checked above).
        return unsafe { avx2::dot_f16_tinyblas(x, y) };
    }
    dot_f16_tinyblas_lanes(x, y)
}

fn dot_f16_tinyblas_lanes(x: &[f16], y: &[f16]) -> f32 {
    let mut acc = [0.0f32; 8];
    for (xc, yc) in x.chunks_exact(8).zip(y.chunks_exact(8)) {
        for l in 0..8 {
            acc[l] = xc[l].to_f32().mul_add(yc[l].to_f32(), acc[l]);
        }
    }
    hsum_movehl(acc)
}

/// llamafile tinyBLAS's f32 dot product (AVX2): as [`dot_f16_tinyblas`] on f32 data.
pub fn dot_f32_tinyblas(x: &[f32], y: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if simd_available() {
        // SAFETY: the CPU has AVX2, FMA and F16C (checked above).
        return unsafe { dot_f32_tinyblas_fma(x, y) };
    }
    dot_f32_tinyblas_lanes(x, y)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn dot_f32_tinyblas_fma(x: &[f32], y: &[f32]) -> f32 {
    dot_f32_tinyblas_lanes(x, y)
}

#[inline(always)]
fn dot_f32_tinyblas_lanes(x: &[f32], y: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    for (xc, yc) in x.chunks_exact(8).zip(y.chunks_exact(8)) {
        for l in 0..8 {
            acc[l] = xc[l].mul_add(yc[l], acc[l]);
        }
    }
    hsum_movehl(acc)
}

/// `acc[j] += Σₖ x[k]·a[k][j]` with `a` row-major `[x.len()][acc.len()]`, as ggml's `simd_gemm`
/// computes each output: one chain of fused multiply-adds in k order, starting from `acc[j]`.
/// (FLASH_ATTN_EXT's tiled kernel: the scores of a tile, then the weighted sum of V.)
pub fn acc_rows_fma(acc: &mut [f32], x: &[f32], a: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    if simd_available() {
        // SAFETY: the CPU has AVX2, FMA and F16C (checked above).
        unsafe { acc_rows_fma_avx2(acc, x, a) };
        return;
    }
    acc_rows_fma_lanes(acc, x, a);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn acc_rows_fma_avx2(acc: &mut [f32], x: &[f32], a: &[f32]) {
    acc_rows_fma_lanes(acc, x, a);
}

#[inline(always)]
fn acc_rows_fma_lanes(acc: &mut [f32], x: &[f32], a: &[f32]) {
    let n = acc.len();
    for (&xk, row) in x.iter().zip(a.chunks_exact(n)) {
        for (c, &akj) in acc.iter_mut().zip(row) {
            *c = akj.mul_add(xk, *c);
        }
    }
}

/// `ggml_vec_mad_f16`: y = f16(y + x·v) element by element, the multiply-add fused and rounded
/// to f16 after every call — the f16 accumulator of flash attention.
pub fn mad_f16(y: &mut [f16], x: &[f16], v: f32) {
    #[cfg(target_arch = "x86_64")]
    if simd_available() {
        // SAFETY: the CPU has AVX2, FMA and F16C (checked above).
        unsafe { avx2::mad_f16(y, x, v) };
        return;
    }
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi = f16::from_f32(xi.to_f32().mul_add(v, yi.to_f32()));
    }
}

/// `ggml_vec_scale_f16`: y = f16(y·v).
pub fn scale_f16(y: &mut [f16], v: f32) {
    #[cfg(target_arch = "x86_64")]
    if simd_available() {
        // SAFETY: the CPU has AVX2, FMA and F16C (checked above).
        unsafe { avx2::scale_f16(y, v) };
        return;
    }
    for yi in y.iter_mut() {
        *yi = f16::from_f32(yi.to_f32() * v);
    }
}

/// f32 → f16, round to nearest even (`ggml_cpu_fp32_to_fp16`, F16C `vcvtps2ph` with mode 0).
pub fn f16_from_f32_row(dst: &mut [f16], src: &[f32]) {
    dst.convert_from_f32_slice(src);
}

/// f16 → f32 (exact).
pub fn f32_from_f16_row(dst: &mut [f32], src: &[f16]) {
    src.convert_to_f32_slice(dst);
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    //! `std::arch` versions of the f16 routines; each computes exactly what its `_lanes` twin
    //! computes (same lanes, same fused multiply-adds, same fold).

    use half::f16;
    use std::arch::x86_64::*;

    /// Eight f16 at `p` widened to f32.
    ///
    /// # Safety
    /// `p` must point to 8 readable f16; AVX2/F16C must be available.
    #[inline(always)]
    unsafe fn load8(p: *const f16) -> __m256 {
        // SAFETY: the caller guarantees 16 readable bytes at p (unaligned load is allowed).
        unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p.cast())) }
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn dot_f16_tinyblas(x: &[f16], y: &[f16]) -> f32 {
        let n = x.len().min(y.len()) / 8 * 8;
        let mut acc = _mm256_setzero_ps();
        let mut i = 0;
        while i < n {
            // SAFETY: i + 8 <= n, within both slices.
            let (a, b) = unsafe { (load8(x.as_ptr().add(i)), load8(y.as_ptr().add(i))) };
            acc = _mm256_fmadd_ps(a, b, acc);
            i += 8;
        }
        let t = _mm_add_ps(_mm256_extractf128_ps::<1>(acc), _mm256_castps256_ps128(acc));
        let t = _mm_add_ps(t, _mm_movehl_ps(t, t));
        _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)))
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn mad_f16(y: &mut [f16], x: &[f16], v: f32) {
        let n = y.len().min(x.len());
        let np = n / 8 * 8;
        let vv = _mm256_set1_ps(v);
        let mut i = 0;
        while i < np {
            // SAFETY: i + 8 <= n, within both slices; stores 16 bytes into y[i..i + 8].
            unsafe {
                let ax = load8(x.as_ptr().add(i));
                let ay = load8(y.as_ptr().add(i));
                let r = _mm256_fmadd_ps(ax, vv, ay);
                _mm_storeu_si128(y.as_mut_ptr().add(i).cast(), _mm256_cvtps_ph::<0>(r));
            }
            i += 8;
        }
        for k in np..n {
            y[k] = f16::from_f32(x[k].to_f32().mul_add(v, y[k].to_f32()));
        }
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn scale_f16(y: &mut [f16], v: f32) {
        let np = y.len() / 8 * 8;
        let vv = _mm256_set1_ps(v);
        let mut i = 0;
        while i < np {
            // SAFETY: i + 8 <= len; loads and stores 16 bytes of y[i..i + 8].
            unsafe {
                let r = _mm256_mul_ps(load8(y.as_ptr().add(i)), vv);
                _mm_storeu_si128(y.as_mut_ptr().add(i).cast(), _mm256_cvtps_ph::<0>(r));
            }
            i += 8;
        }
        for yi in &mut y[np..] {
            *yi = f16::from_f32(yi.to_f32() * v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pseudo_random(n: usize, seed: u32, scale: f32) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                ((s >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * scale
            })
            .collect()
    }

    fn halves(v: &[f32]) -> Vec<f16> {
        v.iter().map(|&x| f16::from_f32(x)).collect()
    }

    #[test]
    fn v_expf_is_close_to_exp_and_handles_the_extremes() {
        let mut worst = 0.0f64;
        for i in -8000..8000 {
            let x = i as f32 / 100.0;
            let ours = f64::from(v_expf(x));
            let exact = f64::from(x).exp();
            worst = worst.max(((ours - exact) / exact).abs());
        }
        assert!(worst < 4e-7, "relative error {worst}");
        assert_eq!(v_expf(f32::NEG_INFINITY), 0.0);
        assert_eq!(v_expf(-200.0), 0.0);
        assert_eq!(v_expf(100.0), f32::INFINITY);
        assert_eq!(v_expf(0.0), 1.0);
        assert!(v_expf(f32::NAN).is_nan());
        // exp(-100) ≈ 3.7e-44 is subnormal (the two-step scaling path): within 2 of the
        // smallest subnormal steps
        let sub = f64::from(v_expf(-100.0));
        let step = f64::from(f32::from_bits(1));
        assert!((sub - (-100.0f64).exp()).abs() <= 2.0 * step, "{sub}");
    }

    /// The exact bits of ggml_v_expf for a few inputs, as computed by ggml's AVX2 code.
    #[test]
    fn v_expf_differs_from_libm_like_ggml() {
        // The approximation is not correctly rounded: some inputs differ from libm by an ulp.
        let differ = (0..2000)
            .map(|i| -10.0 + i as f32 * 0.01)
            .filter(|&x| v_expf(x) != x.exp())
            .count();
        assert!(differ > 0, "v_expf should not be libm's expf");
    }

    #[test]
    fn simd_and_lane_versions_agree_bit_for_bit() {
        if !simd_available() {
            return;
        }
        for (n, seed) in [(64, 1), (256, 2), (37, 3), (8, 4), (200, 5)] {
            let x = halves(&pseudo_random(n, seed, 4.0));
            let y = halves(&pseudo_random(n, seed + 100, 4.0));
            assert_eq!(
                dot_f16_tinyblas(&x, &y).to_bits(),
                dot_f16_tinyblas_lanes(&x, &y).to_bits(),
                "tinyblas n={n}"
            );
            let mut a = x.clone();
            let mut b = x.clone();
            mad_f16(&mut a, &y, 0.3712);
            for (bi, yi) in b.iter_mut().zip(&y) {
                *bi = f16::from_f32(yi.to_f32().mul_add(0.3712, bi.to_f32()));
            }
            assert_eq!(a, b, "mad n={n}");
            let mut c = x.clone();
            scale_f16(&mut c, 0.7371);
            let lanes: Vec<f16> = x
                .iter()
                .map(|v| f16::from_f32(v.to_f32() * 0.7371))
                .collect();
            assert_eq!(c, lanes, "scale n={n}");
            let xf = pseudo_random(n, seed, 30.0);
            let mut y1 = vec![0.0; n];
            let mut y2 = vec![0.0; n];
            let s1 = exp_sum_row(&mut y1, &xf, 3.0);
            let s2 = exp_sum_row_lanes(&mut y2, &xf, 3.0);
            assert_eq!((s1, &y1), (s2, &y2), "exp_sum n={n}");
        }
    }

    #[test]
    fn dot_products_are_close_to_f64() {
        let xf = pseudo_random(256, 7, 2.0);
        let yf = pseudo_random(256, 8, 2.0);
        let (x, y) = (halves(&xf), halves(&yf));
        let exact: f64 = x
            .iter()
            .zip(&y)
            .map(|(a, b)| f64::from(a.to_f32()) * f64::from(b.to_f32()))
            .sum();
        let got = dot_f16_tinyblas(&x, &y);
        assert!((f64::from(got) - exact).abs() < 1e-4, "{got} vs {exact}");
        let exact32: f64 = xf
            .iter()
            .zip(&yf)
            .map(|(a, b)| f64::from(*a) * f64::from(*b))
            .sum();
        let got = dot_f32_tinyblas(&xf, &yf);
        assert!(
            (f64::from(got) - exact32).abs() < 1e-4,
            "{got} vs {exact32}"
        );
    }

    #[test]
    fn softmax_sum_and_silu_are_right() {
        let x = pseudo_random(20, 9, 6.0);
        let mut y = vec![0.0; 20];
        let s = exp_sum_row(&mut y, &x, 1.0);
        let exact: f64 = x.iter().map(|&v| (f64::from(v) - 1.0).exp()).sum();
        assert!((s - exact).abs() / exact < 1e-6);
        let mut out = vec![0.0; 20];
        silu_row(&mut out, &x);
        for (o, v) in out.iter().zip(&x) {
            let exact = f64::from(*v) / (1.0 + (-f64::from(*v)).exp());
            assert!((f64::from(*o) - exact).abs() < 1e-6, "{o} vs {exact}");
        }
    }
}
