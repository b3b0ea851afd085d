//! SOFT_MAX: softmax(scale·x + slope·mask) over each row (ggml-cpu `ops.cpp`,
//! `ggml_compute_forward_soft_max_f32`). In llama.cpp's non-flash attention this is
//! `kq_soft_max-<il>`: the scores of each query against every cache cell, scaled by 1/√d,
//! masked (−∞ for cells a token must not see) and normalized.
//!
//! Precision as in ggml: the exponentials come from ggml's SIMD `v_expf` and are summed eight at a
//! time in f32, then in f64; the row is multiplied by 1/Σ computed in f64 and rounded to f32.

use rayon::prelude::*;

use super::vec::exp_sum_row;
use super::{kernel_fn_here, KernelError, Src};
use crate::dtype::GgmlType;
use crate::graph::SourceLoc;

pub(super) const SOURCE: SourceLoc = kernel_fn_here!();
pub fn soft_max(
    x: &Src,
    mask: Option<&Src>,
    scale: f32,
    max_bias: f32,
    dst: &mut [f32],
) -> Result<(), KernelError> {
    const OP: &str = "SOFT_MAX";
    if x.ty != GgmlType::F32 {
        return Err(KernelError::UnsupportedType {
            op: OP,
            what: "src0",
            ty: x.ty,
        });
    }
    x.require_contiguous_rows(OP, "src0")?;
    if let Some(m) = mask {
        if m.ty != GgmlType::F32 && m.ty != GgmlType::F16 {
            return Err(KernelError::UnsupportedType {
                op: OP,
                what: "mask",
                ty: m.ty,
            });
        }
        if m.ne[0] != x.ne[0] || m.ne[1] < x.ne[1] {
            return Err(KernelError::Shape {
                op: OP,
                what: "mask shape",
                expected: format!("[{}, >= {}]", x.ne[0], x.ne[1]),
                found: format!("[{}, {}]", m.ne[0], m.ne[1]),
            });
        }
    }
    // x, dst: [n_kv, n_tokens, n_head, ne3]; mask: [n_kv, n_tokens_padded, ne12, ne13]
    let n = x.ne[0];
    if n == 0 {
        return Ok(());
    }
    let n_head = x.ne[2] as u32;
    let n_head_log2 = if n_head == 0 {
        0
    } else {
        1u32 << n_head.ilog2()
    };
    let m0 = 2f32.powf(-max_bias / n_head_log2 as f32);
    let m1 = 2f32.powf(-(max_bias / 2.0) / n_head_log2 as f32);

    dst.par_chunks_mut(n).enumerate().for_each(|(r, y)| {
        let (i1, i2, i3) = (r % x.ne[1], r / x.ne[1] % x.ne[2], r / (x.ne[1] * x.ne[2]));
        // ALiBi slope of head i2 (1 when max_bias = 0)
        let h = i2 as u32;
        let slope = if max_bias > 0.0 {
            if h < n_head_log2 {
                m0.powf((h + 1) as f32)
            } else {
                m1.powf((2 * (h - n_head_log2) + 1) as f32)
            }
        } else {
            1.0
        };
        // w = scale·x + slope·mask
        let mut w: Vec<f32> = x.row_f32(i1, i2, i3).iter().map(|&v| v * scale).collect();
        if let Some(m) = mask {
            let (j2, j3) = (i2 % m.ne[2], i3 % m.ne[3]);
            for (i0, wi) in w.iter_mut().enumerate() {
                *wi += slope * m.f32_at([i0, i1, j2, j3]);
            }
        }
        // ggml's MAX(max, v): a NaN score propagates
        let max = w
            .iter()
            .fold(f32::NEG_INFINITY, |m, &v| if m > v { m } else { v });
        let sum = exp_sum_row(y, &w, max);
        let inv = (1.0 / sum) as f32;
        for yi in y.iter_mut() {
            *yi *= inv;
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_cells_get_zero_and_rows_sum_to_one() {
        let x = [1.0f32, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0]; // [4, 2]
        let mask = [
            0.0f32,
            0.0,
            f32::NEG_INFINITY,
            f32::NEG_INFINITY,
            0.0,
            0.0,
            0.0,
            0.0,
        ];
        let (sx, sm) = (
            Src::dense(bytemuck::cast_slice(&x), GgmlType::F32, [4, 2, 1, 1]),
            Src::dense(bytemuck::cast_slice(&mask), GgmlType::F32, [4, 2, 1, 1]),
        );
        let mut y = [0.0f32; 8];
        soft_max(&sx, Some(&sm), 0.5, 0.0, &mut y).unwrap();
        assert_eq!(&y[2..4], &[0.0, 0.0]);
        let e = 0.5f64.exp();
        assert!((f64::from(y[0]) - 1.0 / (1.0 + e)).abs() < 1e-6);
        let total: f32 = y[4..].iter().sum();
        assert!((total - 1.0).abs() < 1e-6);
    }
}
