//! GLU: gated linear units, act(gate) ⊙ up (ggml-cpu `ops.cpp`, `ggml_compute_forward_swiglu_f32`
//! and siblings). llama.cpp's feed-forward block records one fused `ffn_swiglu-<il>` node with
//! src0 = gate, src1 = up; without src1 the gate and up halves share one row (`swapped` says
//! which half is the gate).
//!
//! SWIGLU uses ggml's SIMD exponential ([`super::vec::v_silu`]), not libm's, exactly as ggml's
//! AVX2 build does, so the activations match bit for bit. GEGLU goes through ggml's f16 GELU
//! table: the input is rounded to f16 and the table entry is gelu(x) rounded to f16.

use rayon::prelude::*;

use super::unary::gelu_table;
use super::vec::swiglu_row;
use super::{kernel_fn_here, KernelError, Src};
use crate::dtype::GgmlType;
use crate::graph::SourceLoc;
use crate::op::GluOp;

pub(super) const SOURCE: SourceLoc = kernel_fn_here!();
pub fn glu(
    op: GluOp,
    swapped: bool,
    a: &Src,
    b: Option<&Src>,
    dst: &mut [f32],
) -> Result<(), KernelError> {
    let name = "GLU";
    for (s, what) in [(Some(a), "src0"), (b, "src1")] {
        if let Some(s) = s {
            if s.ty != GgmlType::F32 {
                return Err(KernelError::UnsupportedType {
                    op: name,
                    what,
                    ty: s.ty,
                });
            }
            s.require_contiguous_rows(name, what)?;
        }
    }
    // Split form: gate a [n, rows], up b [n, rows]. Fused form: a [2n, rows], halves.
    let n = if b.is_some() { a.ne[0] } else { a.ne[0] / 2 };
    if n == 0 {
        return Ok(());
    }
    let act: fn(&mut [f32], &[f32], &[f32]) = match op {
        GluOp::Swiglu => swiglu_row,
        GluOp::Geglu => geglu_row,
        GluOp::Reglu => reglu_row,
        GluOp::GegluErf | GluOp::GegluQuick => {
            return Err(KernelError::UnsupportedParam {
                op: name,
                what: "glu op",
                value: format!("{op:?}"),
            })
        }
    };
    dst.par_chunks_mut(n).enumerate().for_each(|(r, y)| {
        let (i1, i2, i3) = (r % a.ne[1], r / a.ne[1] % a.ne[2], r / (a.ne[1] * a.ne[2]));
        let row = a.row_f32(i1, i2, i3);
        let (gate, up) = match b {
            Some(b) => (row, b.row_f32(i1, i2, i3)),
            None if swapped => (&row[n..2 * n], &row[..n]),
            None => (&row[..n], &row[n..2 * n]),
        };
        act(y, gate, up);
    });
    Ok(())
}

/// `ggml_vec_geglu_f32` with the f16 table: 0 below −10, x·u above 10, else table(x)·u.
fn geglu_row(y: &mut [f32], g: &[f32], u: &[f32]) {
    for ((yi, &x), &ui) in y.iter_mut().zip(g).zip(u) {
        *yi = if x <= -10.0 {
            0.0
        } else if x >= 10.0 {
            x * ui
        } else {
            gelu_table(x) * ui
        };
    }
}

/// `ggml_vec_reglu_f32`: relu(x)·u.
fn reglu_row(y: &mut [f32], g: &[f32], u: &[f32]) {
    for ((yi, &x), &ui) in y.iter_mut().zip(g).zip(u) {
        *yi = if x > 0.0 { x * ui } else { 0.0 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swiglu_is_silu_of_gate_times_up() {
        let g: Vec<f32> = (0..10).map(|i| i as f32 - 5.0).collect();
        let u: Vec<f32> = (0..10).map(|i| 0.5 + i as f32).collect();
        let (sg, su) = (
            Src::dense(bytemuck::cast_slice(&g), GgmlType::F32, [10, 1, 1, 1]),
            Src::dense(bytemuck::cast_slice(&u), GgmlType::F32, [10, 1, 1, 1]),
        );
        let mut y = vec![0.0; 10];
        glu(GluOp::Swiglu, false, &sg, Some(&su), &mut y).unwrap();
        for i in 0..10 {
            let x = f64::from(g[i]);
            let exact = x / (1.0 + (-x).exp()) * f64::from(u[i]);
            assert!(
                (f64::from(y[i]) - exact).abs() < 1e-5 * exact.abs().max(1.0),
                "{i}"
            );
        }
    }

    #[test]
    fn fused_form_splits_the_row() {
        let a = [1.0f32, -1.0, 2.0, 3.0]; // [4]: gate [1, -1], up [2, 3]
        let s = Src::dense(bytemuck::cast_slice(&a), GgmlType::F32, [4, 1, 1, 1]);
        let mut y = vec![0.0; 2];
        glu(GluOp::Reglu, false, &s, None, &mut y).unwrap();
        assert_eq!(y, [2.0, 0.0]);
        glu(GluOp::Reglu, true, &s, None, &mut y).unwrap();
        assert_eq!(y, [2.0, -3.0]);
    }
}
