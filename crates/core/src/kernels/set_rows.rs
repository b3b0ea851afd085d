//! SET_ROWS: write rows into a tensor at given row indices (ggml-cpu `ops.cpp`,
//! `ggml_compute_forward_set_rows_impl`). This is how llama.cpp stores new keys and values in the
//! KV cache: row i of the source goes to row `idx[i]` of the cache, converted to the cache type
//! (f32 → f16, round to nearest even). With flash attention off, V is stored transposed and the
//! "rows" are single elements (960 of them for 5 tokens × 192 channels).

use half::{bf16, f16};

use super::vec::f16_from_f32_row;
use super::{kernel_fn_here, Dst, KernelError, Src};
use crate::dtype::GgmlType;
use crate::graph::SourceLoc;

pub(super) const SOURCE: SourceLoc = kernel_fn_here!();
pub fn set_rows(rows: &Src, idx: &Src, dst: &mut Dst) -> Result<(), KernelError> {
    const OP: &str = "SET_ROWS";
    check(rows, idx, dst)?;
    // rows: [nc, nr, ne2, ne3]   idx: [nr, ne11, ne12]   dst: [nc, n_cells, ne2, ne3]
    let (nc, nr, dst_ty) = (rows.ne[0], rows.ne[1], dst.ty);
    let mut f16_row = vec![f16::ZERO; if dst.ty == GgmlType::F16 { nc } else { 0 }];
    for i3 in 0..rows.ne[3] {
        for i2 in 0..rows.ne[2] {
            for i in 0..nr {
                let target = idx.index_at(i, i2 % idx.ne[1], i3 % idx.ne[2]);
                if target < 0 || target as usize >= dst.ne[1] {
                    return Err(KernelError::IndexOutOfRange {
                        op: OP,
                        index: target,
                        rows: dst.ne[1],
                    });
                }
                let out = dst.span_mut(OP, [0, target as usize, i2, i3], nc)?;
                match (rows.ty, dst_ty) {
                    (GgmlType::F32, GgmlType::F16) => {
                        f16_from_f32_row(&mut f16_row, rows.row_f32(i, i2, i3));
                        out.copy_from_slice(bytemuck::cast_slice(&f16_row));
                    }
                    (GgmlType::F32, GgmlType::BF16) => {
                        for (o, &v) in out.chunks_exact_mut(2).zip(rows.row_f32(i, i2, i3)) {
                            o.copy_from_slice(&bf16::from_f32(v).to_le_bytes());
                        }
                    }
                    (GgmlType::F16, GgmlType::F32) => {
                        for (o, v) in out.chunks_exact_mut(4).zip(rows.row_f16(i, i2, i3)) {
                            o.copy_from_slice(&v.to_f32().to_le_bytes());
                        }
                    }
                    // same type: a plain copy
                    _ => out.copy_from_slice(rows.row_bytes(i, i2, i3)),
                }
            }
        }
    }
    Ok(())
}

fn check(rows: &Src, idx: &Src, dst: &Dst) -> Result<(), KernelError> {
    const OP: &str = "SET_ROWS";
    if !matches!(rows.ty, GgmlType::F32 | GgmlType::F16) {
        return Err(KernelError::UnsupportedType {
            op: OP,
            what: "rows",
            ty: rows.ty,
        });
    }
    if !matches!(idx.ty, GgmlType::I64 | GgmlType::I32) {
        return Err(KernelError::UnsupportedType {
            op: OP,
            what: "indices",
            ty: idx.ty,
        });
    }
    let ok = matches!(
        (rows.ty, dst.ty),
        (
            GgmlType::F32,
            GgmlType::F32 | GgmlType::F16 | GgmlType::BF16
        ) | (GgmlType::F16, GgmlType::F16 | GgmlType::F32)
    );
    if !ok {
        return Err(KernelError::UnsupportedType {
            op: OP,
            what: "destination",
            ty: dst.ty,
        });
    }
    rows.require_contiguous_rows(OP, "rows")?;
    if dst.nb[0] != dst.ty.type_size() {
        return Err(KernelError::NonContiguousRows {
            op: OP,
            what: "destination",
            expected: dst.ty.type_size(),
            found: dst.nb[0],
        });
    }
    if rows.ne[0] != dst.ne[0] || idx.ne[0] != rows.ne[1] {
        return Err(KernelError::Shape {
            op: OP,
            what: "row length / index count",
            expected: format!("{} / {}", dst.ne[0], rows.ne[1]),
            found: format!("{} / {}", rows.ne[0], idx.ne[0]),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::AddrMap;

    #[test]
    fn rows_land_at_their_indices_as_f16() {
        let rows = [1.0f32, 2.0, 3.0, 4.0]; // [2, 2]
        let idx = [3i64, 1];
        let (sr, si) = (
            Src::dense(bytemuck::cast_slice(&rows), GgmlType::F32, [2, 2, 1, 1]),
            Src::dense(bytemuck::cast_slice(&idx), GgmlType::I64, [2, 1, 1, 1]),
        );
        let mut cache = [0u8; 16]; // f16 [2, 4]
        let mut d = Dst {
            data: &mut cache,
            map: AddrMap::Identity,
            offset: 0,
            ty: GgmlType::F16,
            ne: [2, 4, 1, 1],
            nb: [2, 4, 16, 16],
        };
        set_rows(&sr, &si, &mut d).unwrap();
        let h: Vec<f32> = bytemuck::cast_slice::<u8, f16>(&cache)
            .iter()
            .map(|x| x.to_f32())
            .collect();
        assert_eq!(h, [0.0, 0.0, 3.0, 4.0, 0.0, 0.0, 1.0, 2.0]);
    }

    #[test]
    fn an_index_past_the_cache_is_an_error() {
        let rows = [1.0f32, 2.0];
        let idx = [4i64];
        let (sr, si) = (
            Src::dense(bytemuck::cast_slice(&rows), GgmlType::F32, [2, 1, 1, 1]),
            Src::dense(bytemuck::cast_slice(&idx), GgmlType::I64, [1, 1, 1, 1]),
        );
        let mut cache = [0u8; 16];
        let mut d = Dst {
            data: &mut cache,
            map: AddrMap::Identity,
            offset: 0,
            ty: GgmlType::F16,
            ne: [2, 4, 1, 1],
            nb: [2, 4, 16, 16],
        };
        assert_eq!(
            set_rows(&sr, &si, &mut d).unwrap_err(),
            KernelError::IndexOutOfRange {
                op: "SET_ROWS",
                index: 4,
                rows: 4
            }
        );
    }
}
