//! SCALE: y = s·x + b (ggml-cpu `ops.cpp`, `ggml_compute_forward_scale_f32`). With b = 0 it is
//! one multiplication per element; otherwise ggml uses a fused multiply-add.

use rayon::prelude::*;

use super::{kernel_fn_here, KernelError, Src};
use crate::dtype::GgmlType;
use crate::graph::SourceLoc;

pub(super) const SOURCE: SourceLoc = kernel_fn_here!();
pub fn scale(x: &Src, s: f32, b: f32, dst: &mut [f32]) -> Result<(), KernelError> {
    if x.ty != GgmlType::F32 {
        return Err(KernelError::UnsupportedType {
            op: "SCALE",
            what: "src0",
            ty: x.ty,
        });
    }
    x.require_contiguous_rows("SCALE", "src0")?;
    let n = x.ne[0];
    if n == 0 {
        return Ok(());
    }
    // x, y: [n, rows]
    dst.par_chunks_mut(n).enumerate().for_each(|(r, y)| {
        let row = x.row_f32(r % x.ne[1], r / x.ne[1] % x.ne[2], r / (x.ne[1] * x.ne[2]));
        for (yi, &xi) in y.iter_mut().zip(row) {
            *yi = if b == 0.0 { xi * s } else { xi.mul_add(s, b) };
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_and_shifts() {
        let x = [1.0f32, -2.0, 4.0];
        let src = Src::dense(bytemuck::cast_slice(&x), GgmlType::F32, [3, 1, 1, 1]);
        let mut y = [0.0f32; 3];
        scale(&src, 0.5, 0.0, &mut y).unwrap();
        assert_eq!(y, [0.5, -1.0, 2.0]);
        scale(&src, 2.0, 1.0, &mut y).unwrap();
        assert_eq!(y, [3.0, -3.0, 9.0]);
    }
}
