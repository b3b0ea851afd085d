//! GET_ROWS: gather rows of a table by index (ggml-cpu `ops.cpp`, `ggml_compute_forward_get_rows`
//! and `…_get_rows_q`). The token embedding `embd` is GET_ROWS(token_embd.weight, inp_tokens):
//! each token id picks one row of the (often quantized) table, decoded to f32 with the type's
//! dequantizer. The last layer also uses it to keep only the rows whose logits are wanted.

use rayon::prelude::*;

use super::{kernel_fn_here, KernelError, Src};
use crate::dtype::GgmlType;
use crate::graph::SourceLoc;
use crate::quant::dequantize_row;

pub(super) const SOURCE: SourceLoc = kernel_fn_here!();
pub fn get_rows(table: &Src, ids: &Src, dst: &mut [f32]) -> Result<(), KernelError> {
    const OP: &str = "GET_ROWS";
    if ids.ty != GgmlType::I32 {
        return Err(KernelError::UnsupportedType {
            op: OP,
            what: "indices",
            ty: ids.ty,
        });
    }
    table.require_contiguous_rows(OP, "table")?;
    // table: [n, n_rows, ne02, ne03]   ids: [ne10, ne11, ne12]   dst: [n, ne10, ne11, ne12]
    let n = table.ne[0];
    if n == 0 {
        return Ok(());
    }
    dst.par_chunks_mut(n).enumerate().try_for_each(|(i, out)| {
        let (i10, i11, i12) = (
            i % ids.ne[0],
            i / ids.ne[0] % ids.ne[1],
            i / (ids.ne[0] * ids.ne[1]),
        );
        let row = ids.index_at(i10, i11, i12);
        if row < 0 || row as usize >= table.ne[1] {
            return Err(KernelError::IndexOutOfRange {
                op: OP,
                index: row,
                rows: table.ne[1],
            });
        }
        let bytes = table.row_bytes(row as usize, i11, i12);
        dequantize_row(table.ty, bytes, out).map_err(|source| KernelError::Quant { op: OP, source })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::f16;

    #[test]
    fn picks_and_widens_rows() {
        let table: Vec<f16> = (0..6).map(|i| f16::from_f32(i as f32 * 0.5)).collect(); // [2, 3]
        let ids = [2i32, 0, 2];
        let (st, si) = (
            Src::dense(bytemuck::cast_slice(&table), GgmlType::F16, [2, 3, 1, 1]),
            Src::dense(bytemuck::cast_slice(&ids), GgmlType::I32, [3, 1, 1, 1]),
        );
        let mut out = [0.0f32; 6];
        get_rows(&st, &si, &mut out).unwrap();
        assert_eq!(out, [2.0, 2.5, 0.0, 0.5, 2.0, 2.5]);
        let bad = [3i32];
        let sb = Src::dense(bytemuck::cast_slice(&bad), GgmlType::I32, [1, 1, 1, 1]);
        assert_eq!(
            get_rows(&st, &sb, &mut out[..2]).unwrap_err(),
            KernelError::IndexOutOfRange {
                op: "GET_ROWS",
                index: 3,
                rows: 3
            }
        );
    }
}
