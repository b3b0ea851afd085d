//! ADD and MUL: element-wise with the second operand broadcast (ggml-cpu `binary-ops.cpp`,
//! `apply_binary_op`). `b` repeats over `a` in every dimension: a [576] norm weight multiplies each
//! row of a [576, n_tokens] hidden state. One f32 operation per element, nothing to round
//! differently.

use rayon::prelude::*;

use super::{kernel_fn_here, KernelError, Src};
use crate::dtype::GgmlType;
use crate::graph::SourceLoc;

pub(super) const ADD_SOURCE: SourceLoc = kernel_fn_here!();
pub fn add(a: &Src, b: &Src, dst: &mut [f32]) -> Result<(), KernelError> {
    binary("ADD", a, b, dst, |x, y| x + y)
}

pub(super) const MUL_SOURCE: SourceLoc = kernel_fn_here!();
pub fn mul(a: &Src, b: &Src, dst: &mut [f32]) -> Result<(), KernelError> {
    binary("MUL", a, b, dst, |x, y| x * y)
}

/// dst[i0, i1, i2, i3] = f(a[i0, i1, i2, i3], b[i0 % b.ne0, i1 % b.ne1, i2 % b.ne2, i3 % b.ne3]).
/// `a` [ne0, ne1, ne2, ne3] with contiguous rows, `b` any strides, `dst` dense like `a`.
fn binary(
    op: &'static str,
    a: &Src,
    b: &Src,
    dst: &mut [f32],
    f: impl Fn(f32, f32) -> f32 + Sync,
) -> Result<(), KernelError> {
    for (s, what) in [(a, "src0"), (b, "src1")] {
        if s.ty != GgmlType::F32 {
            return Err(KernelError::UnsupportedType { op, what, ty: s.ty });
        }
    }
    a.require_contiguous_rows(op, "src0")?;
    let ne0 = a.ne[0];
    if ne0 == 0 {
        return Ok(());
    }
    dst.par_chunks_mut(ne0).enumerate().for_each(|(r, out)| {
        // r = i1 + ne1·(i2 + ne2·i3)
        let (i1, i2, i3) = (r % a.ne[1], r / a.ne[1] % a.ne[2], r / (a.ne[1] * a.ne[2]));
        let x = a.row_f32(i1, i2, i3);
        let (j1, j2, j3) = (i1 % b.ne[1], i2 % b.ne[2], i3 % b.ne[3]);
        if b.rows_contiguous() {
            // b's row repeats along ne0 (a [576] weight: once per row)
            let y = b.row_f32(j1, j2, j3);
            for (o, (&xi, &yi)) in out.iter_mut().zip(x.iter().zip(y.iter().cycle())) {
                *o = f(xi, yi);
            }
        } else {
            for (i0, o) in out.iter_mut().enumerate() {
                *o = f(x[i0], b.f32_at([i0 % b.ne[0], j1, j2, j3]));
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mul_broadcasts_a_row_over_every_row() {
        let a: Vec<f32> = (0..6).map(|i| i as f32).collect(); // [3, 2]
        let b = [10.0f32, 100.0, 1000.0]; // [3]
        let (sa, sb) = (
            Src::dense(bytemuck::cast_slice(&a), GgmlType::F32, [3, 2, 1, 1]),
            Src::dense(bytemuck::cast_slice(&b), GgmlType::F32, [3, 1, 1, 1]),
        );
        let mut out = vec![0.0; 6];
        mul(&sa, &sb, &mut out).unwrap();
        assert_eq!(out, [0.0, 100.0, 2000.0, 30.0, 400.0, 5000.0]);
        add(&sa, &sb, &mut out).unwrap();
        assert_eq!(out, [10.0, 101.0, 1002.0, 13.0, 104.0, 1005.0]);
    }

    #[test]
    fn rejects_f16_operands() {
        let a = [0u8; 4];
        let s = Src::dense(&a, GgmlType::F16, [2, 1, 1, 1]);
        let err = add(&s, &s, &mut [0.0; 2]).unwrap_err();
        assert!(matches!(
            err,
            KernelError::UnsupportedType {
                ty: GgmlType::F16,
                ..
            }
        ));
    }
}
