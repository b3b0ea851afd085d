//! RMS_NORM and NORM over each row (ggml-cpu `ops.cpp`, `ggml_compute_forward_rms_norm_f32`
//! and `ggml_compute_forward_norm_f32`). No weight here: llama.cpp multiplies by the norm weight
//! in a separate MUL node (`attn_norm-<il>`).
//!
//! Precision as in ggml: squares are formed in f32 and summed in f64 (`ggml_float`), the mean is
//! rounded to f32, and the scale 1/√(mean + ε) is computed in f32.

use rayon::prelude::*;

use super::vec::hsum_movehl;
use super::{kernel_fn_here, KernelError, Src};
use crate::dtype::GgmlType;
use crate::graph::SourceLoc;

pub(super) const RMS_NORM_SOURCE: SourceLoc = kernel_fn_here!();
pub fn rms_norm(x: &Src, eps: f32, dst: &mut [f32]) -> Result<(), KernelError> {
    check("RMS_NORM", x)?;
    let n = x.ne[0];
    // every row: y = x / sqrt(mean(x²) + eps)          x, y: [n, rows]
    for_each_row(x, dst, |row, y| {
        let sum: f64 = row.iter().map(|&v| f64::from(v * v)).sum();
        let mean = (sum / n as f64) as f32;
        let scale = 1.0f32 / (mean + eps).sqrt();
        for (yi, &xi) in y.iter_mut().zip(row) {
            *yi = xi * scale;
        }
    });
    Ok(())
}

pub(super) const NORM_SOURCE: SourceLoc = kernel_fn_here!();
pub fn norm(x: &Src, eps: f32, dst: &mut [f32]) -> Result<(), KernelError> {
    check("NORM", x)?;
    let n = x.ne[0];
    // every row: y = (x - mean) / sqrt(var + eps)      x, y: [n, rows]
    for_each_row(x, dst, |row, y| {
        let sum: f64 = row.iter().map(|&v| f64::from(v)).sum();
        let mean = sum as f32 / n as f32;
        // ggml_vec_cvar_f32: centred values stored, squares folded 8 at a time in f32, then f64.
        let mut var = 0.0f64;
        let full = n / 8 * 8;
        for (yc, xc) in y[..full]
            .chunks_exact_mut(8)
            .zip(row[..full].chunks_exact(8))
        {
            let mut sq = [0.0f32; 8];
            for l in 0..8 {
                yc[l] = xc[l] - mean;
                sq[l] = yc[l] * yc[l];
            }
            var += f64::from(hsum_movehl(sq));
        }
        for (yi, &xi) in y[full..].iter_mut().zip(&row[full..]) {
            *yi = xi - mean;
            var += f64::from(*yi * *yi);
        }
        let variance = (var / n as f64) as f32;
        let scale = 1.0f32 / (variance + eps).sqrt();
        for yi in y.iter_mut() {
            *yi *= scale;
        }
    });
    Ok(())
}

fn check(op: &'static str, x: &Src) -> Result<(), KernelError> {
    if x.ty != GgmlType::F32 {
        return Err(KernelError::UnsupportedType {
            op,
            what: "src0",
            ty: x.ty,
        });
    }
    x.require_contiguous_rows(op, "src0")
}

/// Runs `f(input row, output row)` over all rows in parallel; `dst` is dense like `x`.
fn for_each_row(x: &Src, dst: &mut [f32], f: impl Fn(&[f32], &mut [f32]) + Sync) {
    let n = x.ne[0];
    if n == 0 {
        return;
    }
    dst.par_chunks_mut(n).enumerate().for_each(|(r, y)| {
        let (i1, i2, i3) = (r % x.ne[1], r / x.ne[1] % x.ne[2], r / (x.ne[1] * x.ne[2]));
        f(x.row_f32(i1, i2, i3), y);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rms_norm_gives_unit_root_mean_square() {
        let x = [3.0f32, 4.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]; // [4, 2]
        let s = Src::dense(bytemuck::cast_slice(&x), GgmlType::F32, [4, 2, 1, 1]);
        let mut y = [0.0f32; 8];
        rms_norm(&s, 0.0, &mut y).unwrap();
        // row 0: rms = sqrt(25/4) = 2.5
        assert_eq!(y, [1.2, 1.6, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]);
    }

    #[test]
    fn norm_centres_and_scales() {
        let x: Vec<f32> = (0..10).map(|i| i as f32).collect(); // [10]
        let s = Src::dense(bytemuck::cast_slice(&x), GgmlType::F32, [10, 1, 1, 1]);
        let mut y = [0.0f32; 10];
        norm(&s, 0.0, &mut y).unwrap();
        let mean: f32 = y.iter().sum::<f32>() / 10.0;
        let var: f32 = y.iter().map(|v| v * v).sum::<f32>() / 10.0;
        assert!(
            mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-5,
            "{mean} {var}"
        );
    }
}
