//! The operations a node can perform, one variant per ggml op, with the op's parameters
//! (ggml keeps them in `op_params`). The exhaustive matches here give every op its printed name
//! (exactly `ggml_op_desc`), a maths symbol and a one-line meaning; the viewer's hover card and
//! the code panel read from here.

use serde::{Deserialize, Serialize};

/// RoPE parameters (`ggml_rope_ext`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RopeParams {
    /// Number of leading dimensions of each head that are rotated.
    pub n_dims: u32,
    /// 0 = normal (pairs (2i, 2i+1), LLaMA), 2 = NeoX (pairs (i, i + n_dims/2)).
    pub mode: u32,
    pub n_ctx_orig: u32,
    pub freq_base: f32,
    pub freq_scale: f32,
    pub ext_factor: f32,
    pub attn_factor: f32,
    pub beta_fast: f32,
    pub beta_slow: f32,
}

/// Gated linear unit variants (`enum ggml_glu_op`), printed by their own name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum GluOp {
    Reglu,
    Geglu,
    Swiglu,
    GegluErf,
    GegluQuick,
}

/// Element-wise unary ops (`enum ggml_unary_op`), printed by their own name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UnaryOp {
    Silu,
    Gelu,
    GeluQuick,
    Tanh,
    Relu,
}

/// A node's operation and its parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", content = "params", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Op {
    /// A leaf: data set from outside the graph.
    None,
    /// Gather rows of src0 by the i32 indices in src1.
    GetRows,
    /// x / sqrt(mean(x²) + eps) over ne0.
    RmsNorm { eps: f32 },
    /// (x - mean) / sqrt(var + eps) over ne0.
    Norm { eps: f32 },
    /// src0 + src1 (src1 broadcast).
    Add,
    /// src0 ⊙ src1 (src1 broadcast).
    Mul,
    /// src1 · src0ᵀ: result [src0.ne1, src1.ne1, src1.ne2, src1.ne3].
    MulMat,
    /// s·x + b.
    Scale { s: f32, b: f32 },
    /// Same data, new shape.
    Reshape,
    /// Same data, new shape/strides/offset.
    View { offset: usize },
    /// Same data, dimensions reordered: source dim i becomes result dim axes[i].
    Permute { axes: [u8; 4] },
    /// Same data, ne0 and ne1 swapped.
    Transpose,
    /// Copy into a contiguous tensor.
    Cont,
    /// Copy src0 into src1's memory (type conversion included).
    Cpy,
    /// Write the rows of src0 into the destination at the row indices in src1.
    SetRows,
    /// Rotary position embedding by the positions in src1 (src2: optional frequency factors).
    Rope(RopeParams),
    /// softmax(scale·x + mask) over ne0 (ALiBi slope from max_bias).
    SoftMax { scale: f32, max_bias: f32 },
    /// Fused attention: softmax(scale·Q·Kᵀ + mask)·V.
    FlashAttnExt {
        scale: f32,
        max_bias: f32,
        logit_softcap: f32,
    },
    /// Gated linear unit: act(src0) ⊙ src1.
    Glu { op: GluOp, swapped: bool },
    /// Element-wise activation.
    Unary(UnaryOp),
}

impl Op {
    /// The op's name exactly as ggml prints it (`ggml_op_desc`): GLU and UNARY ops print their
    /// sub-op (`SWIGLU`, `SILU`).
    pub fn name(&self) -> &'static str {
        match self {
            Op::None => "NONE",
            Op::GetRows => "GET_ROWS",
            Op::RmsNorm { .. } => "RMS_NORM",
            Op::Norm { .. } => "NORM",
            Op::Add => "ADD",
            Op::Mul => "MUL",
            Op::MulMat => "MUL_MAT",
            Op::Scale { .. } => "SCALE",
            Op::Reshape => "RESHAPE",
            Op::View { .. } => "VIEW",
            Op::Permute { .. } => "PERMUTE",
            Op::Transpose => "TRANSPOSE",
            Op::Cont => "CONT",
            Op::Cpy => "CPY",
            Op::SetRows => "SET_ROWS",
            Op::Rope(_) => "ROPE",
            Op::SoftMax { .. } => "SOFT_MAX",
            Op::FlashAttnExt { .. } => "FLASH_ATTN_EXT",
            Op::Glu { op, .. } => match op {
                GluOp::Reglu => "REGLU",
                GluOp::Geglu => "GEGLU",
                GluOp::Swiglu => "SWIGLU",
                GluOp::GegluErf => "GEGLU_ERF",
                GluOp::GegluQuick => "GEGLU_QUICK",
            },
            Op::Unary(u) => match u {
                UnaryOp::Silu => "SILU",
                UnaryOp::Gelu => "GELU",
                UnaryOp::GeluQuick => "GELU_QUICK",
                UnaryOp::Tanh => "TANH",
                UnaryOp::Relu => "RELU",
            },
        }
    }

    /// A short maths symbol for the op, for labels.
    pub fn symbol(&self) -> &'static str {
        match self {
            Op::None => "·",
            Op::GetRows => "E[ids]",
            Op::RmsNorm { .. } => "x/rms(x)",
            Op::Norm { .. } => "(x−μ)/σ",
            Op::Add => "a+b",
            Op::Mul => "a⊙b",
            Op::MulMat => "B·Aᵀ",
            Op::Scale { .. } => "s·x",
            Op::Reshape => "⇄",
            Op::View { .. } => "▭",
            Op::Permute { .. } => "⤨",
            Op::Transpose => "ᵀ",
            Op::Cont => "⇶",
            Op::Cpy => "→",
            Op::SetRows => "C[ids]←x",
            Op::Rope(_) => "RoPE",
            Op::SoftMax { .. } => "softmax",
            Op::FlashAttnExt { .. } => "softmax(QKᵀ)V",
            Op::Glu { op, .. } => match op {
                GluOp::Reglu => "relu(g)⊙u",
                GluOp::Geglu | GluOp::GegluErf | GluOp::GegluQuick => "gelu(g)⊙u",
                GluOp::Swiglu => "silu(g)⊙u",
            },
            Op::Unary(u) => match u {
                UnaryOp::Silu => "silu",
                UnaryOp::Gelu | UnaryOp::GeluQuick => "gelu",
                UnaryOp::Tanh => "tanh",
                UnaryOp::Relu => "relu",
            },
        }
    }

    /// One line saying what the op computes, in plain words.
    pub fn meaning(&self) -> &'static str {
        match self {
            Op::None => "input data: a weight, a graph input or a cache buffer",
            Op::GetRows => "looks up rows of a table by index",
            Op::RmsNorm { .. } => "divides each row by its root mean square",
            Op::Norm { .. } => "normalizes each row to zero mean and unit variance",
            Op::Add => "adds two tensors element by element (broadcasting the second)",
            Op::Mul => "multiplies two tensors element by element (broadcasting the second)",
            Op::MulMat => {
                "matrix product: each row of the second input dotted with each row of the first"
            }
            Op::Scale { .. } => "multiplies every element by a constant",
            Op::Reshape => "reinterprets the same data with a new shape (moves no data)",
            Op::View { .. } => {
                "looks at part of a tensor's memory with its own shape and strides (moves no data)"
            }
            Op::Permute { .. } => "reorders dimensions by changing strides (moves no data)",
            Op::Transpose => "swaps the first two dimensions by changing strides (moves no data)",
            Op::Cont => "copies a strided tensor into contiguous memory",
            Op::Cpy => "copies (and converts) a tensor into another's memory",
            Op::SetRows => "writes rows into a cache at given row indices",
            Op::Rope(_) => {
                "rotates pairs of dimensions by an angle that grows with the token position"
            }
            Op::SoftMax { .. } => "scales, adds the mask, and turns each row into probabilities",
            Op::FlashAttnExt { .. } => {
                "fused attention: scores, mask, softmax and weighted sum of values in one pass"
            }
            Op::Glu { .. } => "gated linear unit: activation of the gate times the up projection",
            Op::Unary(_) => "applies an activation function element by element",
        }
    }

    /// Ops that compute nothing: the result aliases its source's memory
    /// (ggml_op_is_empty; the CPU backend skips them).
    pub fn is_view(&self) -> bool {
        matches!(
            self,
            Op::Reshape | Op::View { .. } | Op::Permute { .. } | Op::Transpose
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_ggml_op_desc() {
        assert_eq!(Op::MulMat.name(), "MUL_MAT");
        assert_eq!(
            Op::Glu {
                op: GluOp::Swiglu,
                swapped: false
            }
            .name(),
            "SWIGLU"
        );
        assert_eq!(Op::Unary(UnaryOp::Silu).name(), "SILU");
        assert_eq!(
            Op::FlashAttnExt {
                scale: 0.125,
                max_bias: 0.0,
                logit_softcap: 0.0
            }
            .name(),
            "FLASH_ATTN_EXT"
        );
    }

    #[test]
    fn serializes_with_name_and_params() {
        let j = serde_json::to_value(Op::SoftMax {
            scale: 0.125,
            max_bias: 0.0,
        })
        .unwrap();
        assert_eq!(j["op"], "SOFT_MAX");
        assert_eq!(j["params"]["scale"], 0.125);
    }
}
