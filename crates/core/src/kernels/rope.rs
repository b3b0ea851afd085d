//! ROPE: rotary position embedding (ggml-cpu `ops.cpp`, `ggml_compute_forward_rope_flt`, with
//! `ggml_rope_cache_init`, `rope_yarn` and `rotate_pairs`).
//!
//! For a token at position p, pair k of each head is rotated by the angle θₖ = p·base^(−2k/n_dims).
//! Like ggml, the angles are built by repeated multiplication (θ₀ = p, θₖ₊₁ = θₖ·base^(−2/n_dims)
//! in f32), not by a power per pair, and YaRN's corrections (`ext_factor`, `attn_factor`,
//! `freq_scale`) and the optional per-pair frequency divisors (src2) are applied the same way.
//! NORMAL mode (LLaMA) rotates adjacent pairs (2k, 2k+1); NEOX mode (Gemma, Qwen) rotates
//! (k, k + n_dims/2). Dimensions past n_dims are copied.
//!
//! ggml's C++ is compiled with floating-point contraction, so `x0·cos − x1·sin` is really
//! fma(x0, cos, −(x1·sin)); the rotation below writes those fused multiply-adds explicitly.

use rayon::prelude::*;

use super::{kernel_fn_here, KernelError, Src};
use crate::dtype::GgmlType;
use crate::graph::SourceLoc;
use crate::op::RopeParams;

const MODE_NORMAL: u32 = 0;
const MODE_NEOX: u32 = 2;

pub(super) const SOURCE: SourceLoc = kernel_fn_here!();
pub fn rope(
    x: &Src,
    pos: &Src,
    freq_factors: Option<&Src>,
    p: &RopeParams,
    dst: &mut [f32],
) -> Result<(), KernelError> {
    const OP: &str = "ROPE";
    if x.ty != GgmlType::F32 {
        return Err(KernelError::UnsupportedType {
            op: OP,
            what: "src0",
            ty: x.ty,
        });
    }
    if pos.ty != GgmlType::I32 {
        return Err(KernelError::UnsupportedType {
            op: OP,
            what: "positions",
            ty: pos.ty,
        });
    }
    x.require_contiguous_rows(OP, "src0")?;
    if p.mode != MODE_NORMAL && p.mode != MODE_NEOX {
        return Err(KernelError::UnsupportedParam {
            op: OP,
            what: "mode",
            value: p.mode.to_string(),
        });
    }
    // x, dst: [head_dim, n_head, n_tokens, ne3]; pos: [n_tokens]
    let [ne0, n_head, n_tokens, _] = x.ne;
    let n_dims = p.n_dims as usize;
    if !n_dims.is_multiple_of(2) || n_dims > ne0 {
        return Err(KernelError::Shape {
            op: OP,
            what: "n_dims (even, at most the head size)",
            expected: format!("even and <= {ne0}"),
            found: n_dims.to_string(),
        });
    }
    let factors: Option<Vec<f32>> = match freq_factors {
        Some(f) if f.ty != GgmlType::F32 => {
            return Err(KernelError::UnsupportedType {
                op: OP,
                what: "freq factors",
                ty: f.ty,
            })
        }
        Some(f) if f.ne[0] < n_dims / 2 => {
            return Err(KernelError::Shape {
                op: OP,
                what: "freq factors length",
                expected: format!(">= {}", n_dims / 2),
                found: f.ne[0].to_string(),
            })
        }
        Some(f) => Some((0..n_dims / 2).map(|i| f.f32_at([i, 0, 0, 0])).collect()),
        None => None,
    };
    let theta_scale = p.freq_base.powf(-2.0 / n_dims as f32);
    let corr_dims = yarn_corr_dims(n_dims, p.n_ctx_orig, p.freq_base, p.beta_fast, p.beta_slow);
    if ne0 == 0 || n_head == 0 {
        return Ok(());
    }
    let token_len = ne0 * n_head;
    // One task per (token, i3): build the cos/sin cache for the token's position, rotate every head.
    dst.par_chunks_mut(token_len)
        .enumerate()
        .for_each(|(t, out)| {
            let (i2, i3) = (t % n_tokens, t / n_tokens);
            let position = pos.index_at(i2, 0, 0) as f32;
            let cache = rope_cache(position, p, factors.as_deref(), corr_dims, ne0, theta_scale);
            for (i1, y) in out.chunks_exact_mut(ne0).enumerate() {
                let src = x.row_f32(i1, i2, i3);
                for i0 in (0..n_dims).step_by(2) {
                    let (cos, sin) = (cache[i0], cache[i0 + 1]);
                    // NORMAL: (i0, i0+1); NEOX: (i0/2, i0/2 + n_dims/2)
                    let (a, b) = if p.mode == MODE_NORMAL {
                        (i0, i0 + 1)
                    } else {
                        (i0 / 2, i0 / 2 + n_dims / 2)
                    };
                    let (x0, x1) = (src[a], src[b]);
                    // ggml's `x0*cos - x1*sin` and `x0*sin + x1*cos`, as GCC compiles them with
                    // FMA contraction (ops.cpp is C++, -ffp-contract=fast): the first product
                    // is fused. Verified against the printed RoPE sums, which plain mul/add miss.
                    y[a] = x0.mul_add(cos, -(x1 * sin));
                    y[b] = x0.mul_add(sin, x1 * cos);
                }
                y[n_dims..].copy_from_slice(&src[n_dims..]);
            }
        });
    Ok(())
}

/// `ggml_rope_cache_init`: cos and sin (times the YaRN magnitude) for every pair, interleaved.
fn rope_cache(
    position: f32,
    p: &RopeParams,
    factors: Option<&[f32]>,
    corr_dims: [f32; 2],
    ne0: usize,
    theta_scale: f32,
) -> Vec<f32> {
    let mut cache = vec![0.0f32; ne0 + ne0 % 2];
    let mut theta = position;
    for i0 in (0..ne0).step_by(2) {
        let ff = factors.and_then(|f| f.get(i0 / 2).copied()).unwrap_or(1.0);
        let (cos, sin) = rope_yarn(theta / ff, p, corr_dims, i0);
        cache[i0] = cos;
        cache[i0 + 1] = sin;
        theta *= theta_scale;
    }
    cache
}

/// `rope_yarn`: interpolate the angle between extrapolated and interpolated frequencies by the
/// YaRN ramp, and scale the magnitude.
fn rope_yarn(theta_extrap: f32, p: &RopeParams, corr_dims: [f32; 2], i0: usize) -> (f32, f32) {
    let theta_interp = p.freq_scale * theta_extrap;
    let mut theta = theta_interp;
    let mut mscale = p.attn_factor;
    if p.ext_factor != 0.0 {
        let ramp_mix = yarn_ramp(corr_dims[0], corr_dims[1], i0) * p.ext_factor;
        // contracted like the rotation below (first product fused)
        theta = theta_interp.mul_add(1.0 - ramp_mix, theta_extrap * ramp_mix);
        mscale *= 0.1f32.mul_add((1.0 / p.freq_scale).ln(), 1.0);
    }
    (theta.cos() * mscale, theta.sin() * mscale)
}

fn yarn_ramp(low: f32, high: f32, i0: usize) -> f32 {
    let y = ((i0 / 2) as f32 - low) / (high - low).max(0.001);
    1.0 - y.clamp(0.0, 1.0)
}

/// `ggml_rope_yarn_corr_dims`: the first and last dimension the YaRN ramp spans.
fn yarn_corr_dims(
    n_dims: usize,
    n_ctx_orig: u32,
    base: f32,
    beta_fast: f32,
    beta_slow: f32,
) -> [f32; 2] {
    let corr_dim = |n_rot: f32| {
        n_dims as f32 * (n_ctx_orig as f32 / (n_rot * 2.0 * std::f32::consts::PI)).ln()
            / (2.0 * base.ln())
    };
    let start = corr_dim(beta_fast).floor();
    let end = corr_dim(beta_slow).ceil();
    [start.max(0.0), end.min(n_dims as f32 - 1.0)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(mode: u32) -> RopeParams {
        RopeParams {
            n_dims: 4,
            mode,
            n_ctx_orig: 8192,
            freq_base: 100.0,
            freq_scale: 1.0,
            ext_factor: 0.0,
            attn_factor: 1.0,
            beta_fast: 32.0,
            beta_slow: 1.0,
        }
    }

    #[test]
    fn rotates_pairs_by_position_times_frequency() {
        // one head of 6 dims (4 rotated), tokens at positions 0 and 2
        let x: Vec<f32> = [1.0, 0.0, 1.0, 0.0, 7.0, 8.0].repeat(2);
        let pos = [0i32, 2];
        let (sx, sp) = (
            Src::dense(bytemuck::cast_slice(&x), GgmlType::F32, [6, 1, 2, 1]),
            Src::dense(bytemuck::cast_slice(&pos), GgmlType::I32, [2, 1, 1, 1]),
        );
        let mut y = vec![0.0; 12];
        rope(&sx, &sp, None, &params(MODE_NORMAL), &mut y).unwrap();
        assert_eq!(&y[..6], &x[..6], "position 0 is the identity");
        // pair 0: angle 2; pair 1: angle 2·100^(-1/2) = 0.2
        assert!((y[6] - 2f32.cos()).abs() < 1e-6 && (y[7] - 2f32.sin()).abs() < 1e-6);
        assert!((y[8] - 0.2f32.cos()).abs() < 1e-6 && (y[9] - 0.2f32.sin()).abs() < 1e-6);
        assert_eq!(&y[10..], &[7.0, 8.0]);

        rope(&sx, &sp, None, &params(MODE_NEOX), &mut y).unwrap();
        // NEOX pairs (0, 2) and (1, 3): x0 = 1, x2 = 1 rotated by 2
        assert!((y[6] - (2f32.cos() - 2f32.sin())).abs() < 1e-6);
        assert!((y[8] - (2f32.sin() + 2f32.cos())).abs() < 1e-6);
    }

    #[test]
    fn rejects_unknown_modes() {
        let x = [0.0f32; 4];
        let pos = [0i32];
        let sx = Src::dense(bytemuck::cast_slice(&x), GgmlType::F32, [4, 1, 1, 1]);
        let sp = Src::dense(bytemuck::cast_slice(&pos), GgmlType::I32, [1, 1, 1, 1]);
        let err = rope(&sx, &sp, None, &params(8), &mut [0.0; 4]).unwrap_err();
        assert!(matches!(
            err,
            KernelError::UnsupportedParam { what: "mode", .. }
        ));
    }
}
