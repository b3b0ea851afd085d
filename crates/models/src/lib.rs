//! Architectures, tokenizers and presets.
