//! Architectures, tokenizers and presets: everything that knows what a LLaMA is. A model
//! becomes a [`ModelSpec`] (hyperparameters + weight table, from a GGUF or a preset) and a
//! [`ModelGraph`] is built from that alone, node for node as llama.cpp builds it.

pub mod error;
pub mod export_tl;
pub mod hparams;
pub mod lens;
mod llama;
pub mod model_graph;
pub mod presets;
pub mod spec;
pub mod tokenizer;
pub mod weights;

pub use error::ModelError;
pub use hparams::{HParams, RopeScaling, SUPPORTED_ARCHS};
pub use model_graph::{
    BuildOptions, GraphDims, GraphInputs, InputValues, KvCacheLayer, ModelGraph,
};
pub use spec::{ModelSource, ModelSpec};
pub use weights::{WeightInfo, WeightTable};
