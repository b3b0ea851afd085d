//! The CPU kernels: one function per ggml op, each computing what ggml-cpu's
//! `ggml_compute_forward_<op>` computes, rounding where it rounds. These functions are what the
//! viewer's code panel shows, so each is written to be read: a `//!` paragraph saying which ggml
//! function it follows, shape comments in ggml order (docs/CONVENTIONS.md) and plain loops.
//! SIMD appears only in [`vec`](mod@vec), where ggml's own vector code fixes the order of additions.
//!
//! A kernel sees its sources as [`Src`] (bytes from the first element, type, shape, byte
//! strides: views are just different strides over someone else's bytes) and writes its result
//! into a dense f32 slice, or — for SET_ROWS and CPY, which write into another tensor's memory —
//! into a [`Dst`]. Kernels never capture anything (the executor hands each result to an observer
//! afterwards) and never allocate per element. They run on the current rayon pool; the executor
//! installs the pool sized by its `n_threads` option.
//!
//! [`kernel_source`] tells the code panel where each op's kernel is.

mod binary;
mod copy;
mod flash_attn;
mod get_rows;
mod glu;
mod mul_mat;
mod norm;
mod rope;
mod scale;
mod set_rows;
mod soft_max;
mod unary;
pub mod vec;

use half::f16;
use thiserror::Error;

use crate::dtype::GgmlType;
use crate::graph::SourceLoc;
use crate::op::Op;
use crate::quant::QuantError;

pub use binary::{add, mul};
pub use copy::{cont, cpy};
pub use flash_attn::flash_attn_ext;
pub use get_rows::get_rows;
pub use glu::glu;
pub use mul_mat::mul_mat;
pub use norm::{norm, rms_norm};
pub use rope::rope;
pub use scale::scale;
pub use set_rows::set_rows;
pub use soft_max::soft_max;
pub use unary::unary;

/// What a kernel cannot do with the tensors it was given.
#[derive(Clone, Debug, Error, PartialEq)]
pub enum KernelError {
    /// A source type (or combination) this kernel has no code for.
    #[error("{op}: {what} of type {ty} is not supported")]
    UnsupportedType {
        op: &'static str,
        what: &'static str,
        ty: GgmlType,
    },
    /// A source whose rows are not contiguous where the kernel (like ggml's) needs them to be.
    #[error("{op}: {what} must have contiguous rows (nb0 = {expected}), found nb0 = {found}")]
    NonContiguousRows {
        op: &'static str,
        what: &'static str,
        expected: usize,
        found: usize,
    },
    /// A row index (GET_ROWS, SET_ROWS) outside the table.
    #[error("{op}: row index {index} is outside 0..{rows}")]
    IndexOutOfRange {
        op: &'static str,
        index: i64,
        rows: usize,
    },
    /// A write outside the memory the executor allocated for a partially allocated KV cache.
    #[error(
        "{op}: write at byte {offset} of the cache falls outside the {window} bytes kept per \
         {period}-byte period (the cache is only allocated for the cells the graph uses)"
    )]
    OutsideAllocation {
        op: &'static str,
        offset: usize,
        period: usize,
        window: usize,
    },
    /// An op parameter this implementation does not handle (RoPE mode, …).
    #[error("{op}: {what} = {value} is not supported")]
    UnsupportedParam {
        op: &'static str,
        what: &'static str,
        value: String,
    },
    /// The quantization layer refused (a type without dot product, a bad row length).
    #[error("{op}: {source}")]
    Quant {
        op: &'static str,
        #[source]
        source: QuantError,
    },
    /// A shape relation the op requires does not hold.
    #[error("{op}: {what}: expected {expected}, found {found}")]
    Shape {
        op: &'static str,
        what: &'static str,
        expected: String,
        found: String,
    },
}

/// A source tensor as a kernel reads it: `data` starts at the tensor's first element (view offset
/// applied) and spans at least to its last one; `nb` are byte strides, so permuted and
/// transposed views read correctly without a copy.
///
/// The executor checks before running that `data` is long enough for `ne`/`nb` and aligned for
/// `ty`, so the accessors below index without further checks.
#[derive(Clone, Copy, Debug)]
pub struct Src<'a> {
    pub data: &'a [u8],
    pub ty: GgmlType,
    /// Shape, ggml order (`ne[0]` innermost).
    pub ne: [usize; 4],
    /// Byte strides.
    pub nb: [usize; 4],
}

impl<'a> Src<'a> {
    /// A dense tensor over `data` (strides from the shape).
    pub fn dense(data: &'a [u8], ty: GgmlType, ne: [usize; 4]) -> Src<'a> {
        let mut nb = [0usize; 4];
        nb[0] = ty.type_size();
        nb[1] = nb[0] * (ne[0] / ty.block_size());
        nb[2] = nb[1] * ne[1];
        nb[3] = nb[2] * ne[2];
        Src { data, ty, ne, nb }
    }

    /// Number of rows (ne1·ne2·ne3).
    pub fn n_rows(&self) -> usize {
        self.ne[1] * self.ne[2] * self.ne[3]
    }

    /// Byte offset of element (0, i1, i2, i3).
    pub fn row_offset(&self, i1: usize, i2: usize, i3: usize) -> usize {
        i1 * self.nb[1] + i2 * self.nb[2] + i3 * self.nb[3]
    }

    /// True when each row's elements (or blocks) are adjacent: nb0 is the type size.
    pub fn rows_contiguous(&self) -> bool {
        self.nb[0] == self.ty.type_size()
    }

    /// True when the whole tensor is dense in ne order (ggml_is_contiguous).
    pub fn is_contiguous(&self) -> bool {
        self.nb == Src::dense(self.data, self.ty, self.ne).nb
    }

    /// Fails unless rows are contiguous (what ggml asserts for most ops).
    pub fn require_contiguous_rows(
        &self,
        op: &'static str,
        what: &'static str,
    ) -> Result<(), KernelError> {
        if self.rows_contiguous() {
            Ok(())
        } else {
            Err(KernelError::NonContiguousRows {
                op,
                what,
                expected: self.ty.type_size(),
                found: self.nb[0],
            })
        }
    }

    /// The raw bytes of row (i1, i2, i3) (rows must be contiguous): ne0 elements or blocks.
    pub fn row_bytes(&self, i1: usize, i2: usize, i3: usize) -> &'a [u8] {
        let start = self.row_offset(i1, i2, i3);
        let len = self.ne[0] / self.ty.block_size() * self.ty.type_size();
        &self.data[start..start + len]
    }

    /// Row (i1, i2, i3) of an f32 tensor with contiguous rows.
    pub fn row_f32(&self, i1: usize, i2: usize, i3: usize) -> &'a [f32] {
        bytemuck::cast_slice(self.row_bytes(i1, i2, i3))
    }

    /// Row (i1, i2, i3) of an f16 tensor with contiguous rows.
    pub fn row_f16(&self, i1: usize, i2: usize, i3: usize) -> &'a [f16] {
        bytemuck::cast_slice(self.row_bytes(i1, i2, i3))
    }

    /// Element (i0, i1, i2, i3) of a float tensor (f32, f16 or bf16), as f32, through the strides.
    pub fn f32_at(&self, i: [usize; 4]) -> f32 {
        let o = i[0] * self.nb[0] + self.row_offset(i[1], i[2], i[3]);
        let b = &self.data[o..];
        match self.ty {
            GgmlType::F16 => f16::from_le_bytes([b[0], b[1]]).to_f32(),
            GgmlType::BF16 => half::bf16::from_le_bytes([b[0], b[1]]).to_f32(),
            _ => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        }
    }

    /// Element (i0, i1, i2) of an integer index tensor (i32 or i64), widened to i64.
    pub fn index_at(&self, i0: usize, i1: usize, i2: usize) -> i64 {
        let o = i0 * self.nb[0] + self.row_offset(i1, i2, 0);
        let b = &self.data[o..];
        match self.ty {
            GgmlType::I64 => i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
            _ => i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        }
    }
}

/// How a destination's logical byte offsets map to its memory. The executor allocates a KV cache
/// only for the cells the graph touches: of every `period` logical bytes it keeps the first
/// `window` (a prefix of rows for a K cache; the first cells of every channel row for a V cache
/// stored transposed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddrMap {
    /// Memory is laid out exactly as the logical tensor.
    Identity,
    /// Logical offset `o` lives at `(o / period) · window + o % period`, if `o % period < window`.
    Windowed { period: usize, window: usize },
}

impl AddrMap {
    /// Physical offset of the logical byte range `[o, o + len)`, which must stay in one window.
    pub fn map(&self, o: usize, len: usize) -> Option<usize> {
        match *self {
            AddrMap::Identity => Some(o),
            AddrMap::Windowed { period, window } => {
                let within = o % period;
                (within + len <= window).then_some(o / period * window + within)
            }
        }
    }
}

/// A destination that lives in another tensor's memory (SET_ROWS into a KV cache, CPY into a
/// view): `data` is the whole root buffer, `offset` the logical byte offset of element 0.
#[derive(Debug)]
pub struct Dst<'a> {
    pub data: &'a mut [u8],
    pub map: AddrMap,
    pub offset: usize,
    pub ty: GgmlType,
    /// Shape, ggml order.
    pub ne: [usize; 4],
    /// Logical byte strides.
    pub nb: [usize; 4],
}

impl Dst<'_> {
    /// The bytes of `len` elements starting at element (i0, i1, i2, i3).
    pub fn span_mut(
        &mut self,
        op: &'static str,
        i: [usize; 4],
        len: usize,
    ) -> Result<&mut [u8], KernelError> {
        let o = self.offset
            + i[0] * self.nb[0]
            + i[1] * self.nb[1]
            + i[2] * self.nb[2]
            + i[3] * self.nb[3];
        let bytes = len * self.ty.type_size() / self.ty.block_size();
        let (period, window) = match self.map {
            AddrMap::Identity => (self.data.len(), self.data.len()),
            AddrMap::Windowed { period, window } => (period, window),
        };
        let outside = KernelError::OutsideAllocation {
            op,
            offset: o,
            period,
            window,
        };
        let p = self.map.map(o, bytes).ok_or(outside.clone())?;
        self.data.get_mut(p..p + bytes).ok_or(outside)
    }
}

/// Where an op's kernel is in this crate's source, for the code panel: the line of its `fn`.
/// View ops (RESHAPE, VIEW, PERMUTE, TRANSPOSE) and leaves have no kernel.
pub fn kernel_source(op: &Op) -> Option<SourceLoc> {
    Some(match op {
        Op::None | Op::Reshape | Op::View { .. } | Op::Permute { .. } | Op::Transpose => {
            return None
        }
        Op::GetRows => get_rows::SOURCE,
        Op::RmsNorm { .. } => norm::RMS_NORM_SOURCE,
        Op::Norm { .. } => norm::NORM_SOURCE,
        Op::Add => binary::ADD_SOURCE,
        Op::Mul => binary::MUL_SOURCE,
        Op::MulMat => mul_mat::SOURCE,
        Op::Scale { .. } => scale::SOURCE,
        Op::Cont => copy::CONT_SOURCE,
        Op::Cpy => copy::CPY_SOURCE,
        Op::SetRows => set_rows::SOURCE,
        Op::Rope(_) => rope::SOURCE,
        Op::SoftMax { .. } => soft_max::SOURCE,
        Op::FlashAttnExt { .. } => flash_attn::SOURCE,
        Op::Glu { .. } => glu::SOURCE,
        Op::Unary(_) => unary::SOURCE,
    })
}

/// The [`SourceLoc`] of the line after the macro call: place it directly above a kernel's `fn`.
macro_rules! kernel_fn_here {
    () => {
        $crate::graph::SourceLoc {
            file: file!(),
            line: line!() + 1,
            col: 1,
        }
    };
}
pub(crate) use kernel_fn_here;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::{GluOp, RopeParams, UnaryOp};

    /// Every kernel_source points at a line that declares a `fn` (the code panel shows it).
    #[test]
    fn kernel_sources_point_at_functions() {
        let rope = RopeParams {
            n_dims: 64,
            mode: 0,
            n_ctx_orig: 0,
            freq_base: 10000.0,
            freq_scale: 1.0,
            ext_factor: 0.0,
            attn_factor: 1.0,
            beta_fast: 32.0,
            beta_slow: 1.0,
        };
        let ops = [
            Op::GetRows,
            Op::RmsNorm { eps: 1e-5 },
            Op::Norm { eps: 1e-5 },
            Op::Add,
            Op::Mul,
            Op::MulMat,
            Op::Scale { s: 1.0, b: 0.0 },
            Op::Cont,
            Op::Cpy,
            Op::SetRows,
            Op::Rope(rope),
            Op::SoftMax {
                scale: 1.0,
                max_bias: 0.0,
            },
            Op::FlashAttnExt {
                scale: 1.0,
                max_bias: 0.0,
                logit_softcap: 0.0,
            },
            Op::Glu {
                op: GluOp::Swiglu,
                swapped: false,
            },
            Op::Unary(UnaryOp::Silu),
        ];
        let files: &[(&str, &str)] = &[
            ("binary.rs", include_str!("binary.rs")),
            ("copy.rs", include_str!("copy.rs")),
            ("flash_attn.rs", include_str!("flash_attn.rs")),
            ("get_rows.rs", include_str!("get_rows.rs")),
            ("glu.rs", include_str!("glu.rs")),
            ("mul_mat.rs", include_str!("mul_mat.rs")),
            ("norm.rs", include_str!("norm.rs")),
            ("rope.rs", include_str!("rope.rs")),
            ("scale.rs", include_str!("scale.rs")),
            ("set_rows.rs", include_str!("set_rows.rs")),
            ("soft_max.rs", include_str!("soft_max.rs")),
            ("unary.rs", include_str!("unary.rs")),
        ];
        for op in ops {
            let loc = kernel_source(&op).expect("computing ops have a kernel");
            let (_, text) = files
                .iter()
                .find(|(f, _)| loc.file.ends_with(f))
                .unwrap_or_else(|| panic!("{}: unexpected file {}", op.name(), loc.file));
            let line = text.lines().nth(loc.line as usize - 1).unwrap_or("");
            assert!(
                line.trim_start().starts_with("pub fn "),
                "{}: line {} of {} is {line:?}",
                op.name(),
                loc.line,
                loc.file
            );
        }
        assert_eq!(kernel_source(&Op::Reshape), None);
    }

    #[test]
    fn windowed_map_keeps_the_head_of_each_period() {
        let m = AddrMap::Windowed {
            period: 100,
            window: 10,
        };
        assert_eq!(m.map(205, 4), Some(25));
        assert_eq!(m.map(208, 4), None, "crosses the window end");
        assert_eq!(AddrMap::Identity.map(7, 3), Some(7));
    }
}
