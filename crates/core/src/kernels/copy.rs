//! CONT and CPY: copies through strides (ggml-cpu `ops.cpp`, `ggml_compute_forward_dup` and
//! `ggml_compute_forward_cpy`). CONT makes a strided view dense (llama.cpp's non-flash
//! `kqv_out-<il>` turns the permuted per-head outputs back into [n_embd, n_tokens]); CPY writes a
//! tensor into another tensor's memory, converting the element type (f32 → f16 rounds to nearest
//! even). Elements are taken in ggml order (ne0 fastest) on both sides.

use half::{bf16, f16};
use rayon::prelude::*;

use super::{kernel_fn_here, Dst, KernelError, Src};
use crate::dtype::GgmlType;
use crate::graph::SourceLoc;

pub(super) const CONT_SOURCE: SourceLoc = kernel_fn_here!();
pub fn cont(src: &Src, dst: &mut [u8]) -> Result<(), KernelError> {
    if src.ty.is_quantized() {
        return Err(KernelError::UnsupportedType {
            op: "CONT",
            what: "src0",
            ty: src.ty,
        });
    }
    let esize = src.ty.type_size();
    let row_bytes = src.ne[0] * esize;
    if row_bytes == 0 {
        return Ok(());
    }
    // src row r (in ggml order) is dst bytes [r·row_bytes, (r+1)·row_bytes): the dst shape may
    // differ (cont_2d), the element order does not.
    dst.par_chunks_mut(row_bytes)
        .enumerate()
        .for_each(|(r, out)| {
            let (i1, i2, i3) = (
                r % src.ne[1],
                r / src.ne[1] % src.ne[2],
                r / (src.ne[1] * src.ne[2]),
            );
            if src.rows_contiguous() {
                out.copy_from_slice(src.row_bytes(i1, i2, i3));
            } else {
                let base = src.row_offset(i1, i2, i3);
                for (i0, e) in out.chunks_exact_mut(esize).enumerate() {
                    let o = base + i0 * src.nb[0];
                    e.copy_from_slice(&src.data[o..o + esize]);
                }
            }
        });
    Ok(())
}

pub(super) const CPY_SOURCE: SourceLoc = kernel_fn_here!();
pub fn cpy(src: &Src, dst: &mut Dst) -> Result<(), KernelError> {
    for (ty, what) in [(src.ty, "src0"), (dst.ty, "destination")] {
        if !matches!(ty, GgmlType::F32 | GgmlType::F16 | GgmlType::BF16) {
            return Err(KernelError::UnsupportedType {
                op: "CPY",
                what,
                ty,
            });
        }
    }
    let n: usize = src.ne.iter().product();
    let dst_n: usize = dst.ne.iter().product();
    if n != dst_n {
        return Err(KernelError::Shape {
            op: "CPY",
            what: "element count",
            expected: n.to_string(),
            found: dst_n.to_string(),
        });
    }
    // element k of src (ggml order) goes to element k of dst (ggml order)
    for k in 0..n {
        let si = unravel(k, src.ne);
        let v = src.f32_at(si);
        let di = unravel(k, dst.ne);
        let ty = dst.ty;
        let bytes = dst.span_mut("CPY", di, 1)?;
        match ty {
            GgmlType::F16 => bytes.copy_from_slice(&f16::from_f32(v).to_le_bytes()),
            GgmlType::BF16 => bytes.copy_from_slice(&bf16::from_f32(v).to_le_bytes()),
            _ => bytes.copy_from_slice(&v.to_le_bytes()),
        }
    }
    Ok(())
}

/// The index (i0, i1, i2, i3) of the k-th element in ggml order.
fn unravel(k: usize, ne: [usize; 4]) -> [usize; 4] {
    [
        k % ne[0],
        k / ne[0] % ne[1],
        k / (ne[0] * ne[1]) % ne[2],
        k / (ne[0] * ne[1] * ne[2]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::AddrMap;

    #[test]
    fn cont_of_a_transposed_view_is_the_transpose() {
        let a = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]; // [3, 2]
                                                   // transposed view: ne [2, 3], nb [12, 4]
        let t = Src {
            data: bytemuck::cast_slice(&a),
            ty: GgmlType::F32,
            ne: [2, 3, 1, 1],
            nb: [12, 4, 12, 12],
        };
        let mut out = [0.0f32; 6];
        cont(&t, bytemuck::cast_slice_mut(&mut out)).unwrap();
        assert_eq!(out, [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    }

    #[test]
    fn cpy_converts_to_f16() {
        let a = [1.0f32, 0.1, -2.5];
        let s = Src::dense(bytemuck::cast_slice(&a), GgmlType::F32, [3, 1, 1, 1]);
        let mut buf = [0u8; 6];
        let mut d = Dst {
            data: &mut buf,
            map: AddrMap::Identity,
            offset: 0,
            ty: GgmlType::F16,
            ne: [3, 1, 1, 1],
            nb: [2, 6, 6, 6],
        };
        cpy(&s, &mut d).unwrap();
        let h: &[f16] = bytemuck::cast_slice(&buf);
        assert_eq!(
            h,
            [f16::from_f32(1.0), f16::from_f32(0.1), f16::from_f32(-2.5)]
        );
    }
}
