//! Architectures, tokenizers and presets.

pub mod tokenizer;
