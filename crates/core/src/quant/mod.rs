//! Quantization formats and the quantized dot products behind every MUL_MAT: ggml's block
//! layouts, their dequantizers, the activation quantizers ggml-cpu runs before a quantized
//! matrix multiplication, and the `vec_dot` kernels, reproduced bit for bit.
//!
//! How a quantized MUL_MAT works in ggml-cpu (and here): the weight rows stay in their file
//! format (say Q4_1). The f32 activations are first converted to the weight type's
//! *`vec_dot_type`* (Q4_1 → Q8_1, see [`vec_dot_type`]) by [`quantize_row`]; then every output
//! element is one [`vec_dot`] of a weight row with an activation row, integer products inside
//! each block, scaled and summed in f32.
//!
//! What "bit for bit" means, and how it is checked:
//! - Dequantization matches the numpy reference of the `gguf` Python package (and ggml's
//!   `dequantize_row_*`), on fixtures written by `scripts/gen-quant-fixtures.py`.
//! - The activation quantizers and dot products match ggml-cpu's x86 build with AVX2, FMA and
//!   F16C, the build of the reference run: the same integer partial sums per 8-lane register,
//!   the same fused multiply-adds, the same order of the final horizontal sum. On such a CPU
//!   the kernels here run `std::arch` intrinsics; elsewhere a portable path computes the same
//!   values (see `simd.rs` for the lane model, and the tests that compare the two).
//! - [`quantize_row_ref`] is ggml's *reference* quantizer (used to write model files, and
//!   implemented by gguf-py), which rounds differently from the activation quantizers.
//!
//! Where llama.cpp does not go through `vec_dot` (facts of the reference commit, x86 AVX2):
//! - llamafile's `tinyBLAS_Q0_AVX` takes Q8_0, Q4_0, Q5_0 and IQ4_NL MUL_MATs (SmolLM2's output
//!   projection is the Q8_0 `token_embd`). For Q8_0, Q4_0 and Q5_0 it performs, per output, the
//!   same block FMAs on the same lanes and the same final fold as `vec_dot`, so [`vec_dot`]
//!   reproduces it; for IQ4_NL it uses one accumulator where `vec_dot` uses two (even/odd
//!   blocks), so the last bits can differ.
//! - tinyBLAS F16 (K·Q with flash attention off) reduces differently from `ggml_vec_dot_f16`.
//! - Weights in the CPU "repack" buffer (Q4_0, Q4_K, IQ4_NL on AVX2) use interleaved GEMM
//!   kernels. Q4_1 — the reference model — is neither repacked nor taken by tinyBLAS.
//!
//! Compiler assumption: ggml's C is built as GNU C, where GCC fuses `a += b * c` into one FMA
//! (`-ffp-contract=fast`); the kernels here fuse the same statements (`mul_add`). Where `b·c`
//! is exact in f32 (Q4_1/Q5_1's `m·s` and BF16's products: f16·f16 and bf16·bf16) fusing
//! cannot change a bit; it can for Q5_K's min term, IQ4_NL's odd last block and the F32 tail,
//! which a clang build of ggml would round differently.
//!
//! Checked against llama.cpp itself: `tests/quant_smollm2.rs` recomputes SmolLM2's layer-0
//! `Qcur/Kcur/Vcur` (Q8_0 embeddings, Q8_1 activations, Q4_1 `vec_dot`) and matches the values
//! and f32 running sums of the reference eval-callback dump.
//!
//! Every row is a byte slice holding whole blocks; block structs ([`BlockQ4_1`], …) document
//! their byte layout and have alignment 1, so rows can come straight from a memory-mapped file.

mod float;
mod iq4;
mod q2_k;
mod q3_k;
mod q4;
mod q4_k;
mod q5;
mod q5_k;
mod q6_k;
mod q8;
mod simd;

use bytemuck::cast_slice;

use crate::dtype::GgmlType;

pub use float::{Bf16Le, F16Le, F32Le};
pub use iq4::{BlockIq4Nl, BlockIq4Xs, KVALUES_IQ4NL};
pub use q2_k::BlockQ2K;
pub use q3_k::BlockQ3K;
pub use q4::{BlockQ4_0, BlockQ4_1};
pub use q4_k::{scales_and_mins, BlockQ4K};
pub use q5::{BlockQ5_0, BlockQ5_1};
pub use q5_k::BlockQ5K;
pub use q6_k::BlockQ6K;
pub use q8::{BlockQ8K, BlockQ8_0, BlockQ8_1};
pub use simd::KernelPath;

/// What was asked of a type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuantOp {
    Dequantize,
    /// f32 activations → the `vec_dot_type` ([`quantize_row`]).
    QuantizeActivations,
    /// f32 → blocks with ggml's reference quantizer ([`quantize_row_ref`]).
    QuantizeReference,
    VecDot,
}

impl std::fmt::Display for QuantOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            QuantOp::Dequantize => "dequantization",
            QuantOp::QuantizeActivations => "activation quantization",
            QuantOp::QuantizeReference => "reference quantization",
            QuantOp::VecDot => "vec_dot",
        })
    }
}

/// Errors of the quantization API. Nothing here panics on bad input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantError {
    #[error("{op} is not implemented for type {ty}")]
    Unsupported { ty: GgmlType, op: QuantOp },
    #[error("{ty}: a row of {n} elements is not a whole number of {block_size}-element blocks")]
    PartialBlock {
        ty: GgmlType,
        n: usize,
        block_size: usize,
    },
    #[error("{ty}: a row of {n} elements does not fit in memory")]
    RowTooLarge { ty: GgmlType, n: usize },
    #[error("{ty}: {what} has {found} bytes, expected {expected} for {n} elements per row")]
    WrongLength {
        ty: GgmlType,
        what: &'static str,
        n: usize,
        expected: usize,
        found: usize,
    },
}

/// Bytes in one row of `n` elements of `ty`.
pub fn row_bytes(ty: GgmlType, n: usize) -> Result<usize, QuantError> {
    let block_size = ty.block_size();
    if !n.is_multiple_of(block_size) {
        return Err(QuantError::PartialBlock { ty, n, block_size });
    }
    (n / block_size)
        .checked_mul(ty.type_size())
        .ok_or(QuantError::RowTooLarge { ty, n })
}

fn expect_len(
    ty: GgmlType,
    what: &'static str,
    n: usize,
    expected: usize,
    found: usize,
) -> Result<(), QuantError> {
    if expected == found {
        Ok(())
    } else {
        Err(QuantError::WrongLength {
            ty,
            what,
            n,
            expected,
            found,
        })
    }
}

/// The type the activations are converted to before a dot product with weights of type `ty`
/// (ggml-cpu `type_traits_cpu[ty].vec_dot_type`).
pub fn vec_dot_type(ty: GgmlType) -> Result<GgmlType, QuantError> {
    use GgmlType::*;
    Ok(match ty {
        F32 => F32,
        F16 => F16,
        BF16 => BF16,
        Q4_0 | Q5_0 | Q8_0 | IQ4_NL => Q8_0,
        Q4_1 | Q5_1 => Q8_1,
        Q2_K | Q3_K | Q4_K | Q5_K | Q6_K | IQ4_XS => Q8_K,
        _ => {
            return Err(QuantError::Unsupported {
                ty,
                op: QuantOp::VecDot,
            })
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Dequantization
// ---------------------------------------------------------------------------------------------

type DequantizeFn = fn(&[u8], &mut [f32]);

fn dequantize_fn(ty: GgmlType) -> Option<DequantizeFn> {
    use GgmlType::*;
    // Rows are validated before the call, so every `cast_slice` sees whole blocks.
    Some(match ty {
        F32 => |s, d| float::dequantize_f32(cast_slice(s), d),
        F16 => |s, d| float::dequantize_f16(cast_slice(s), d),
        BF16 => |s, d| float::dequantize_bf16(cast_slice(s), d),
        Q4_0 => |s, d| q4::dequantize_q4_0(cast_slice(s), d),
        Q4_1 => |s, d| q4::dequantize_q4_1(cast_slice(s), d),
        Q5_0 => |s, d| q5::dequantize_q5_0(cast_slice(s), d),
        Q5_1 => |s, d| q5::dequantize_q5_1(cast_slice(s), d),
        Q8_0 => |s, d| q8::dequantize_q8_0(cast_slice(s), d),
        Q8_1 => |s, d| q8::dequantize_q8_1(cast_slice(s), d),
        Q8_K => |s, d| q8::dequantize_q8_k(cast_slice(s), d),
        Q2_K => |s, d| q2_k::dequantize_q2_k(cast_slice(s), d),
        Q3_K => |s, d| q3_k::dequantize_q3_k(cast_slice(s), d),
        Q4_K => |s, d| q4_k::dequantize_q4_k(cast_slice(s), d),
        Q5_K => |s, d| q5_k::dequantize_q5_k(cast_slice(s), d),
        Q6_K => |s, d| q6_k::dequantize_q6_k(cast_slice(s), d),
        IQ4_NL => |s, d| iq4::dequantize_iq4_nl(cast_slice(s), d),
        IQ4_XS => |s, d| iq4::dequantize_iq4_xs(cast_slice(s), d),
        _ => return None,
    })
}

/// Decode one row: `dst.len()` elements from `src`, which must be exactly one row of that many
/// elements of `ty`. Bit-identical to gguf-py's `gguf.quants.dequantize` and to ggml's
/// `dequantize_row_*` (which ggml-cpu's GET_ROWS uses).
pub fn dequantize_row(ty: GgmlType, src: &[u8], dst: &mut [f32]) -> Result<(), QuantError> {
    let f = dequantize_fn(ty).ok_or(QuantError::Unsupported {
        ty,
        op: QuantOp::Dequantize,
    })?;
    let n = dst.len();
    expect_len(ty, "source row", n, row_bytes(ty, n)?, src.len())?;
    f(src, dst);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Quantization
// ---------------------------------------------------------------------------------------------

type QuantizeFn = fn(&[f32], &mut [u8]);

/// ggml-cpu's `from_float` for the `vec_dot_type`s.
fn quantize_activations_fn(ty: GgmlType) -> Option<QuantizeFn> {
    use GgmlType::*;
    Some(match ty {
        F32 => |s, d| float::quantize_row_f32(s, bytemuck::cast_slice_mut(d)),
        F16 => |s, d| float::quantize_row_f16(s, bytemuck::cast_slice_mut(d)),
        BF16 => |s, d| float::quantize_row_bf16(s, bytemuck::cast_slice_mut(d)),
        Q8_0 => |s, d| q8::quantize_row_q8_0(s, bytemuck::cast_slice_mut(d)),
        Q8_1 => |s, d| q8::quantize_row_q8_1(s, bytemuck::cast_slice_mut(d)),
        Q8_K => |s, d| q8::quantize_row_q8_k(s, bytemuck::cast_slice_mut(d)),
        _ => return None,
    })
}

/// ggml's reference quantizers (`quantize_row_*_ref`, gguf-py's `quantize`).
fn quantize_ref_fn(ty: GgmlType) -> Option<QuantizeFn> {
    use GgmlType::*;
    Some(match ty {
        F32 => |s, d| float::quantize_row_f32(s, bytemuck::cast_slice_mut(d)),
        F16 => |s, d| float::quantize_row_f16(s, bytemuck::cast_slice_mut(d)),
        BF16 => |s, d| float::quantize_row_bf16(s, bytemuck::cast_slice_mut(d)),
        Q4_0 => |s, d| q4::quantize_q4_0_ref(s, bytemuck::cast_slice_mut(d)),
        Q4_1 => |s, d| q4::quantize_q4_1_ref(s, bytemuck::cast_slice_mut(d)),
        Q5_0 => |s, d| q5::quantize_q5_0_ref(s, bytemuck::cast_slice_mut(d)),
        Q5_1 => |s, d| q5::quantize_q5_1_ref(s, bytemuck::cast_slice_mut(d)),
        Q8_0 => |s, d| q8::quantize_q8_0_ref(s, bytemuck::cast_slice_mut(d)),
        _ => return None,
    })
}

fn run_quantize(
    f: QuantizeFn,
    ty: GgmlType,
    src: &[f32],
    dst: &mut [u8],
) -> Result<(), QuantError> {
    let n = src.len();
    expect_len(ty, "destination row", n, row_bytes(ty, n)?, dst.len())?;
    f(src, dst);
    Ok(())
}

/// Convert one row of f32 activations to `dot_ty` (a [`vec_dot_type`]: F32, F16, BF16, Q8_0,
/// Q8_1 or Q8_K) exactly as ggml-cpu's x86 AVX2 build does before a MUL_MAT. `dst` must be one
/// row of `src.len()` elements of `dot_ty`.
pub fn quantize_row(dot_ty: GgmlType, src: &[f32], dst: &mut [u8]) -> Result<(), QuantError> {
    let f = quantize_activations_fn(dot_ty).ok_or(QuantError::Unsupported {
        ty: dot_ty,
        op: QuantOp::QuantizeActivations,
    })?;
    run_quantize(f, dot_ty, src, dst)
}

/// Quantize one row with ggml's reference quantizer, the one that writes model files and that
/// gguf-py implements (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0). For Q8_0 this is *not*
/// what activations go through: see [`quantize_row`].
pub fn quantize_row_ref(ty: GgmlType, src: &[f32], dst: &mut [u8]) -> Result<(), QuantError> {
    let f = quantize_ref_fn(ty).ok_or(QuantError::Unsupported {
        ty,
        op: QuantOp::QuantizeReference,
    })?;
    run_quantize(f, ty, src, dst)
}

// ---------------------------------------------------------------------------------------------
// Dot products
// ---------------------------------------------------------------------------------------------

type VecDotFn = fn(&[u8], &[u8]) -> f32;

fn vec_dot_fn(ty: GgmlType) -> Option<VecDotFn> {
    use GgmlType::*;
    Some(match ty {
        F32 => |w, a| float::vec_dot_f32(cast_slice(w), cast_slice(a)),
        F16 => |w, a| float::vec_dot_f16(cast_slice(w), cast_slice(a)),
        BF16 => |w, a| float::vec_dot_bf16(cast_slice(w), cast_slice(a)),
        Q4_0 => |w, a| q4::vec_dot_q4_0_q8_0(cast_slice(w), cast_slice(a)),
        Q4_1 => |w, a| q4::vec_dot_q4_1_q8_1(cast_slice(w), cast_slice(a)),
        Q5_0 => |w, a| q5::vec_dot_q5_0_q8_0(cast_slice(w), cast_slice(a)),
        Q5_1 => |w, a| q5::vec_dot_q5_1_q8_1(cast_slice(w), cast_slice(a)),
        Q8_0 => |w, a| q8::vec_dot_q8_0_q8_0(cast_slice(w), cast_slice(a)),
        Q2_K => |w, a| q2_k::vec_dot_q2_k_q8_k(cast_slice(w), cast_slice(a)),
        Q3_K => |w, a| q3_k::vec_dot_q3_k_q8_k(cast_slice(w), cast_slice(a)),
        Q4_K => |w, a| q4_k::vec_dot_q4_k_q8_k(cast_slice(w), cast_slice(a)),
        Q5_K => |w, a| q5_k::vec_dot_q5_k_q8_k(cast_slice(w), cast_slice(a)),
        Q6_K => |w, a| q6_k::vec_dot_q6_k_q8_k(cast_slice(w), cast_slice(a)),
        IQ4_NL => |w, a| iq4::vec_dot_iq4_nl_q8_0(cast_slice(w), cast_slice(a)),
        IQ4_XS => |w, a| iq4::vec_dot_iq4_xs_q8_k(cast_slice(w), cast_slice(a)),
        _ => return None,
    })
}

type VecDotX4Fn = fn(&[u8], [&[u8]; 4]) -> Option<[f32; 4]>;

/// Kernels that take one weight row and four activation rows at once (the hot types of the
/// reference model); each result is bit-identical to the single-row kernel.
fn vec_dot_x4_fn(ty: GgmlType) -> Option<VecDotX4Fn> {
    Some(match ty {
        GgmlType::Q4_1 => |w, a| q4::vec_dot_q4_1_q8_1_x4(cast_slice(w), a.map(cast_slice)),
        GgmlType::Q8_0 => |w, a| q8::vec_dot_q8_0_q8_0_x4(cast_slice(w), a.map(cast_slice)),
        _ => return None,
    })
}

/// A weight type's CPU traits, resolved once (ggml-cpu's `type_traits_cpu[ty]`): its
/// `vec_dot_type`, the activation quantizer for it and the dot-product kernel. Use it in a
/// matrix multiplication to skip the per-call type dispatch.
#[derive(Clone, Copy, Debug)]
pub struct DotKernel {
    ty: GgmlType,
    dot_ty: GgmlType,
    quantize: QuantizeFn,
    vec_dot: VecDotFn,
    vec_dot_x4: Option<VecDotX4Fn>,
}

impl DotKernel {
    /// The kernel for weights of type `ty`, or `Unsupported`.
    pub fn new(ty: GgmlType) -> Result<DotKernel, QuantError> {
        let unsupported = QuantError::Unsupported {
            ty,
            op: QuantOp::VecDot,
        };
        let dot_ty = vec_dot_type(ty)?;
        let quantize = quantize_activations_fn(dot_ty).ok_or(unsupported.clone())?;
        let vec_dot = vec_dot_fn(ty).ok_or(unsupported)?;
        Ok(DotKernel {
            ty,
            dot_ty,
            quantize,
            vec_dot,
            vec_dot_x4: vec_dot_x4_fn(ty),
        })
    }

    /// The weight type.
    pub fn weight_type(&self) -> GgmlType {
        self.ty
    }

    /// The activation type of the dot product.
    pub fn vec_dot_type(&self) -> GgmlType {
        self.dot_ty
    }

    /// [`quantize_row`] into this kernel's `vec_dot_type`.
    pub fn quantize_row(&self, src: &[f32], dst: &mut [u8]) -> Result<(), QuantError> {
        run_quantize(self.quantize, self.dot_ty, src, dst)
    }

    /// Byte sizes of one weight row and one activation row of `n` elements.
    pub fn row_bytes(&self, n: usize) -> Result<(usize, usize), QuantError> {
        Ok((row_bytes(self.ty, n)?, row_bytes(self.dot_ty, n)?))
    }

    /// One weight row `w` · one activation row `a` (in `vec_dot_type`), `n` elements each.
    pub fn vec_dot(&self, n: usize, w: &[u8], a: &[u8]) -> Result<f32, QuantError> {
        let (w_len, a_len) = self.row_bytes(n)?;
        expect_len(self.ty, "weight row", n, w_len, w.len())?;
        expect_len(self.dot_ty, "activation row", n, a_len, a.len())?;
        Ok((self.vec_dot)(w, a))
    }

    /// `out[r] = w_r · a` for `out.len()` consecutive weight rows in `w` (each `n` elements, no
    /// padding between rows) and one activation row `a`: the inner loop of a MUL_MAT.
    pub fn vec_dot_rows(
        &self,
        n: usize,
        w: &[u8],
        a: &[u8],
        out: &mut [f32],
    ) -> Result<(), QuantError> {
        let (w_len, a_len) = self.row_bytes(n)?;
        let rows_len = w_len
            .checked_mul(out.len())
            .ok_or(QuantError::RowTooLarge { ty: self.ty, n })?;
        expect_len(self.ty, "weight rows", n, rows_len, w.len())?;
        expect_len(self.dot_ty, "activation row", n, a_len, a.len())?;
        if w_len == 0 {
            out.fill(0.0);
            return Ok(());
        }
        for (o, row) in out.iter_mut().zip(w.chunks_exact(w_len)) {
            *o = (self.vec_dot)(row, a);
        }
        Ok(())
    }

    /// `out[c] = w · a_c` for one weight row `w` and `out.len()` consecutive activation rows in
    /// `a` (each `n` elements, no padding): one output row's worth of a MUL_MAT column block.
    /// Same bits as calling [`DotKernel::vec_dot`] per column; for Q4_1 and Q8_0 on AVX2 the
    /// columns are taken four at a time, which overlaps their accumulation chains.
    pub fn vec_dot_cols(
        &self,
        n: usize,
        w: &[u8],
        a: &[u8],
        out: &mut [f32],
    ) -> Result<(), QuantError> {
        let (w_len, a_len) = self.row_bytes(n)?;
        let cols_len = a_len
            .checked_mul(out.len())
            .ok_or(QuantError::RowTooLarge { ty: self.dot_ty, n })?;
        expect_len(self.ty, "weight row", n, w_len, w.len())?;
        expect_len(self.dot_ty, "activation rows", n, cols_len, a.len())?;
        if a_len == 0 {
            out.fill(0.0);
            return Ok(());
        }
        let mut c = 0;
        if let Some(x4) = self.vec_dot_x4 {
            while c + 4 <= out.len() {
                let col = |k: usize| &a[(c + k) * a_len..(c + k + 1) * a_len];
                match x4(w, [col(0), col(1), col(2), col(3)]) {
                    Some(four) => out[c..c + 4].copy_from_slice(&four),
                    None => break,
                }
                c += 4;
            }
        }
        for (o, col) in out[c..].iter_mut().zip(a[c * a_len..].chunks_exact(a_len)) {
            *o = (self.vec_dot)(w, col);
        }
        Ok(())
    }
}

/// One weight row `w` (type `ty`) · one activation row `a` (type `vec_dot_type(ty)`), `n`
/// elements each, as ggml-cpu's `type_traits_cpu[ty].vec_dot` computes it.
pub fn vec_dot(ty: GgmlType, n: usize, w: &[u8], a: &[u8]) -> Result<f32, QuantError> {
    DotKernel::new(ty)?.vec_dot(n, w, a)
}

#[cfg(test)]
mod tests;
