//! tt-core: ggml in Rust. Types and quantization blocks, the GGUF reader, the graph IR that
//! mirrors ggml's nodes, the CPU kernels and the executor that captures every tensor.
//!
//! It knows nothing of LLaMA, tokenizers or HTTP (those live in `tt-models` and the app).

pub mod capture;
pub mod compare;
pub mod dot;
pub mod dtype;
pub mod exec;
pub mod gguf;
pub mod graph;
pub mod kernels;
pub mod llamacpp_import;
pub mod llamacpp_log;
pub mod op;
pub mod outpath;
pub mod quant;
mod record;
pub mod trace;

pub use dtype::GgmlType;
pub use graph::{Graph, Group, InputKind, Leaf, SourceLoc, Tensor, TensorId};
pub use op::{GluOp, Op, RopeParams, UnaryOp};
