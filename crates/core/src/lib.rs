//! tt-core: ggml in Rust. Types and quantization blocks, the GGUF reader, the graph IR that
//! mirrors ggml's nodes, the CPU kernels and the executor that captures every tensor.
//!
//! It knows nothing of LLaMA, tokenizers or HTTP (those live in `tt-models` and the app).

pub mod dtype;

pub use dtype::GgmlType;
