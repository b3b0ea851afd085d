//! MUL_MAT: dst = b · aᵀ, every row of `b` dotted with every row of `a` (ggml-cpu `ggml-cpu.c`,
//! `ggml_compute_forward_mul_mat`, and llamafile's `llamafile_sgemm`, which ggml tries first).
//!
//! `a` is usually a weight [n_in, n_out] in its file format (Q4_1, Q8_0, …) and `b` the
//! activations [n_in, n_tokens] in f32; the result is [n_out, n_tokens]. As in ggml:
//!
//! 1. Each row of `b` is converted **once** to the weight type's `vec_dot_type` (Q4_1 → Q8_1,
//!    Q8_0 → Q8_0, K-quants → Q8_K, f16 → f16): the f32 activations are themselves quantized,
//!    and that rounding is part of llama.cpp's numbers.
//! 2. Every output is one dot product of a weight row with a converted activation row: the
//!    type's `vec_dot` ([`DotKernel`]), integer products inside each block.
//! 3. For f16 and f32 `a` with at least two columns, ggml hands the product to llamafile's
//!    tinyBLAS instead, which sums each output in one 8-lane register
//!    ([`dot_f16_tinyblas`]): the non-flash attention's `kq` and `kqv` (f16 KV cache) go there.
//!
//! Dims 2 and 3 broadcast: `a` has n_head_kv matrices, `b` n_head, and query head h uses K head
//! h / (n_head / n_head_kv) (grouped-query attention). `a` may be a strided view (the permuted
//! K and V cache views), as long as its rows are contiguous.
//!
//! Work is split over chunks of `a`'s rows (at least 16, about 1024 dot products per chunk);
//! each weight row is dotted with every activation row in turn ([`DotKernel::vec_dot_cols`]
//! takes four columns at a time for Q4_1 and Q8_0), so it is read from memory once.
//!
//! llamafile's quantized kernel (`tinyBLAS_Q0_AVX`, Q8_0/Q4_0/Q5_0/IQ4_NL weights with ≥ 2
//! columns) forms the same block products on the same lanes as the type's `vec_dot` for Q8_0,
//! Q4_0 and Q5_0, so going through `vec_dot` gives its bits; for IQ4_NL the last bits can
//! differ (see [`crate::quant`]).

use half::f16;
use rayon::prelude::*;

use super::vec::{dot_f16_tinyblas, dot_f32_tinyblas, f16_from_f32_row};
use super::{kernel_fn_here, KernelError, Src};
use crate::dtype::GgmlType;
use crate::graph::SourceLoc;
use crate::quant::DotKernel;

const OP: &str = "MUL_MAT";

/// The activations as the dot products read them.
enum Converted<'a> {
    /// One row per (i11, i12, i13), in the `vec_dot_type`, `row_len` bytes each.
    Blocks { data: Vec<u8>, row_len: usize },
    /// f16 rows for tinyBLAS.
    F16(Vec<f16>),
    /// `b` used as it is (already the right type).
    AsIs(&'a Src<'a>),
}

pub(super) const SOURCE: SourceLoc = kernel_fn_here!();
pub fn mul_mat(a: &Src, b: &Src, dst: &mut [f32]) -> Result<(), KernelError> {
    let quant = |source| KernelError::Quant { op: OP, source };
    a.require_contiguous_rows(OP, "src0")?;
    b.require_contiguous_rows(OP, "src1")?;
    check_shapes(a, b)?;
    // a: [k, m, ne02, ne03]   b: [k, n, ne12, ne13]   dst: [m, n, ne12, ne13]
    let [k, m, ne02, ne03] = a.ne;
    let [_, n, ne12, ne13] = b.ne;
    let dot = DotKernel::new(a.ty).map_err(quant)?;
    let tinyblas = uses_tinyblas(a, b, dot.vec_dot_type());

    // 1. convert every row of b once
    let conv = if tinyblas && a.ty == GgmlType::F16 {
        let mut h = vec![f16::ZERO; k * b.n_rows()];
        for (r, out) in h.chunks_exact_mut(k.max(1)).enumerate() {
            let (i11, i12, i13) = (r % n, r / n % ne12, r / (n * ne12));
            match b.ty {
                GgmlType::F16 => out.copy_from_slice(b.row_f16(i11, i12, i13)),
                _ => f16_from_f32_row(out, b.row_f32(i11, i12, i13)),
            }
        }
        Converted::F16(h)
    } else if b.ty == dot.vec_dot_type() {
        Converted::AsIs(b)
    } else if b.ty == GgmlType::F32 {
        let (_, row_len) = dot.row_bytes(k).map_err(quant)?;
        let mut data = vec![0u8; row_len * b.n_rows()];
        if row_len > 0 {
            data.par_chunks_mut(row_len)
                .enumerate()
                .try_for_each(|(r, out)| {
                    let (i11, i12, i13) = (r % n, r / n % ne12, r / (n * ne12));
                    dot.quantize_row(b.row_f32(i11, i12, i13), out)
                })
                .map_err(quant)?;
        }
        Converted::Blocks { data, row_len }
    } else {
        return Err(KernelError::UnsupportedType {
            op: OP,
            what: "src1",
            ty: b.ty,
        });
    };
    // 2. dot products. A job is a chunk of a's rows in one matrix; it dots each of its rows with
    //    every activation row of that matrix (the weight row stays in cache, the activations
    //    are read in order) and yields [rows × n] results.
    let (r2, r3) = (ne12 / ne02, ne13 / ne03);
    let rows_per_chunk = (1024 / n.max(1)).clamp(16, 1024);
    let chunks_per_matrix = m.div_ceil(rows_per_chunk);
    let n_matrices = ne12 * ne13;
    let parts: Vec<Vec<f32>> = (0..n_matrices * chunks_per_matrix)
        .into_par_iter()
        .map(|job| -> Result<Vec<f32>, KernelError> {
            let (mat, chunk) = (job / chunks_per_matrix, job % chunks_per_matrix);
            let (i12, i13) = (mat % ne12, mat / ne12);
            let (i02, i03) = (i12 / r2, i13 / r3);
            let rows = chunk * rows_per_chunk..((chunk + 1) * rows_per_chunk).min(m);
            let first_col = n * mat; // index of activation row (0, i12, i13)
            let mut out = vec![0.0f32; rows.len() * n];
            for (o, i01) in out.chunks_exact_mut(n.max(1)).zip(rows) {
                let w = a.row_bytes(i01, i02, i03);
                match &conv {
                    Converted::Blocks { data, row_len } => {
                        let cols = &data[first_col * row_len..(first_col + n) * row_len];
                        dot.vec_dot_cols(k, w, cols, o).map_err(quant)?;
                    }
                    Converted::F16(h) => {
                        for (c, oc) in o.iter_mut().enumerate() {
                            let act = &h[(first_col + c) * k..(first_col + c + 1) * k];
                            *oc = dot_f16_tinyblas(bytemuck::cast_slice(w), act);
                        }
                    }
                    Converted::AsIs(b) => {
                        for (i11, oc) in o.iter_mut().enumerate() {
                            let act = b.row_bytes(i11, i12, i13);
                            *oc = if tinyblas {
                                dot_f32_tinyblas(bytemuck::cast_slice(w), bytemuck::cast_slice(act))
                            } else {
                                dot.vec_dot(k, w, act).map_err(quant)?
                            };
                        }
                    }
                }
            }
            Ok(out)
        })
        .collect::<Result<_, _>>()?;

    // 3. scatter: row r of part (mat, chunk) is dst[r0 + r] of every column i11 of matrix mat
    for (job, part) in parts.iter().enumerate() {
        let (mat, chunk) = (job / chunks_per_matrix, job % chunks_per_matrix);
        let r0 = chunk * rows_per_chunk;
        for (r, row) in part.chunks_exact(n.max(1)).enumerate() {
            for (i11, &v) in row.iter().enumerate() {
                dst[(mat * n + i11) * m + r0 + r] = v;
            }
        }
    }
    Ok(())
}

/// Whether ggml's x86 AVX2 build hands this product to llamafile's tinyBLAS f16/f32 kernel:
/// at least two columns, k a multiple of 8, m a multiple of 4, and either f16·f16 (b converted
/// to f16 first when it is f32) or f32·f32 with a contiguous b.
fn uses_tinyblas(a: &Src, b: &Src, dot_ty: GgmlType) -> bool {
    let sizes_ok = b.ne[1] >= 2 && a.ne[0].is_multiple_of(8) && a.ne[1].is_multiple_of(4);
    let types_ok = match a.ty {
        GgmlType::F16 => dot_ty == GgmlType::F16 && matches!(b.ty, GgmlType::F16 | GgmlType::F32),
        GgmlType::F32 => b.ty == GgmlType::F32 && b.is_contiguous(),
        _ => false,
    };
    sizes_ok && types_ok
}

fn check_shapes(a: &Src, b: &Src) -> Result<(), KernelError> {
    let ok = a.ne[0] == b.ne[0]
        && a.ne[2] > 0
        && a.ne[3] > 0
        && b.ne[2].is_multiple_of(a.ne[2])
        && b.ne[3].is_multiple_of(a.ne[3]);
    if ok {
        Ok(())
    } else {
        Err(KernelError::Shape {
            op: OP,
            what: "operand shapes (a.ne0 = b.ne0, b.ne2/ne3 multiples of a's)",
            expected: format!("[{}, ·, k·{}, k·{}]", a.ne[0], a.ne[2], a.ne[3]),
            found: format!("{:?}", b.ne),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f16s(v: &[f32]) -> Vec<f16> {
        v.iter().map(|&x| f16::from_f32(x)).collect()
    }

    /// A [2, 3] weight times two activation rows: the result is [3, 2], row j = W·x_j.
    #[test]
    fn f32_product_is_b_times_a_transposed() {
        let w = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]; // rows (1,2), (3,4), (5,6)
        let x = [1.0f32, 1.0, 0.0, 2.0]; // rows (1,1), (0,2)
        let (sa, sb) = (
            Src::dense(bytemuck::cast_slice(&w), GgmlType::F32, [2, 3, 1, 1]),
            Src::dense(bytemuck::cast_slice(&x), GgmlType::F32, [2, 2, 1, 1]),
        );
        let mut out = [0.0f32; 6];
        mul_mat(&sa, &sb, &mut out).unwrap();
        assert_eq!(out, [3.0, 7.0, 11.0, 4.0, 8.0, 12.0]);
    }

    /// GQA broadcast: 2 query heads share 1 K head; an f16 K with f32 queries (tinyBLAS path:
    /// k = 8, m = 4, n = 2).
    #[test]
    fn f16_keys_broadcast_over_query_heads() {
        let kv: Vec<f32> = (0..32).map(|i| (i % 5) as f32 - 2.0).collect(); // [8, 4, 1]
        let q: Vec<f32> = (0..32)
            .map(|i| ((i * 7) % 11) as f32 * 0.25 - 1.0)
            .collect(); // [8, 2, 2]
        let kh = f16s(&kv);
        let (sa, sb) = (
            Src::dense(bytemuck::cast_slice(&kh), GgmlType::F16, [8, 4, 1, 1]),
            Src::dense(bytemuck::cast_slice(&q), GgmlType::F32, [8, 2, 2, 1]),
        );
        let mut out = [0.0f32; 16]; // [4, 2, 2]
        mul_mat(&sa, &sb, &mut out).unwrap();
        for h in 0..2 {
            for t in 0..2 {
                for c in 0..4 {
                    let exact: f32 = (0..8).map(|i| kv[c * 8 + i] * q[(h * 2 + t) * 8 + i]).sum();
                    assert_eq!(out[(h * 2 + t) * 4 + c], exact, "h{h} t{t} c{c}");
                }
            }
        }
    }

    #[test]
    fn mismatched_inner_sizes_are_an_error() {
        let w = [0.0f32; 6];
        let sa = Src::dense(bytemuck::cast_slice(&w), GgmlType::F32, [3, 2, 1, 1]);
        let sb = Src::dense(bytemuck::cast_slice(&w), GgmlType::F32, [2, 3, 1, 1]);
        assert!(matches!(
            mul_mat(&sa, &sb, &mut [0.0; 6]),
            Err(KernelError::Shape { .. })
        ));
    }
}
