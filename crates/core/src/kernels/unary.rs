//! Element-wise activations (ggml-cpu `unary-ops.cpp` / `vec.h`): SILU with ggml's SIMD
//! exponential, GELU and GELU_QUICK through ggml's f16 lookup tables (input rounded to f16, the
//! table holds the activation rounded to f16), TANH and RELU.

use half::f16;
use rayon::prelude::*;

use super::vec::silu_row;
use super::{kernel_fn_here, KernelError, Src};
use crate::dtype::GgmlType;
use crate::graph::SourceLoc;
use crate::op::UnaryOp;

const GELU_COEF_A: f32 = 0.044715;
const GELU_QUICK_COEF: f32 = -1.702;
const SQRT_2_OVER_PI: f32 = 0.797_884_6;

pub(super) const SOURCE: SourceLoc = kernel_fn_here!();
pub fn unary(op: UnaryOp, x: &Src, dst: &mut [f32]) -> Result<(), KernelError> {
    if x.ty != GgmlType::F32 {
        return Err(KernelError::UnsupportedType {
            op: "UNARY",
            what: "src0",
            ty: x.ty,
        });
    }
    x.require_contiguous_rows("UNARY", "src0")?;
    let n = x.ne[0];
    if n == 0 {
        return Ok(());
    }
    // x, y: [n, rows]
    dst.par_chunks_mut(n).enumerate().for_each(|(r, y)| {
        let row = x.row_f32(r % x.ne[1], r / x.ne[1] % x.ne[2], r / (x.ne[1] * x.ne[2]));
        match op {
            UnaryOp::Silu => silu_row(y, row),
            UnaryOp::Gelu => map(y, row, |v| {
                if v <= -10.0 {
                    0.0
                } else if v >= 10.0 {
                    v
                } else {
                    gelu_table(v)
                }
            }),
            UnaryOp::GeluQuick => map(y, row, gelu_quick_table),
            UnaryOp::Tanh => map(y, row, f32::tanh),
            UnaryOp::Relu => map(y, row, relu),
        }
    });
    Ok(())
}

fn map(y: &mut [f32], x: &[f32], f: impl Fn(f32) -> f32) {
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi = f(xi);
    }
}

fn relu(x: f32) -> f32 {
    if x > 0.0 {
        x
    } else {
        0.0
    }
}

/// `ggml_gelu_f32`: the tanh approximation.
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + (SQRT_2_OVER_PI * x * (1.0 + GELU_COEF_A * x * x)).tanh())
}

/// ggml's `ggml_table_gelu_f16[f16(x)]`, widened: the entry for the f16 nearest to x.
pub(super) fn gelu_table(x: f32) -> f32 {
    let h = f16::from_f32(x).to_f32();
    f16::from_f32(gelu(h)).to_f32()
}

/// ggml's `ggml_table_gelu_quick_f16[f16(x)]`: x·σ(1.702·x) at the nearest f16, rounded to f16.
fn gelu_quick_table(x: f32) -> f32 {
    let h = f16::from_f32(x).to_f32();
    f16::from_f32(h * (1.0 / (1.0 + (GELU_QUICK_COEF * h).exp()))).to_f32()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activations_have_their_known_values() {
        let x = [-20.0f32, -1.0, 0.0, 0.5, 3.0, 20.0];
        let s = Src::dense(bytemuck::cast_slice(&x), GgmlType::F32, [6, 1, 1, 1]);
        let mut y = [0.0f32; 6];
        unary(UnaryOp::Relu, &s, &mut y).unwrap();
        assert_eq!(y, [0.0, 0.0, 0.0, 0.5, 3.0, 20.0]);
        unary(UnaryOp::Gelu, &s, &mut y).unwrap();
        assert_eq!(y[0], 0.0);
        assert_eq!(y[5], 20.0);
        // gelu(3) ≈ 2.99636, rounded to f16 (step 2^-9 near 3)
        assert!((y[4] - 2.996_36).abs() < 2e-3, "{}", y[4]);
        unary(UnaryOp::Silu, &s, &mut y).unwrap();
        assert!((y[1] - (-0.268_941_42)).abs() < 1e-6, "{}", y[1]);
    }
}
