//! Every way turning a model description (GGUF metadata and tensor table, or a preset) into a
//! graph can fail. Each message names the key or tensor at fault and says what was expected and
//! what was found, so a user can tell a broken file from an architecture we do not build yet.

use tt_core::GgmlType;

/// A model-level error: hyperparameters, the weight table, or the build options.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// `general.architecture` names an architecture without a graph builder here.
    #[error("architecture '{arch}' is not supported yet; supported: {}", supported.join(", "))]
    UnsupportedArch {
        arch: String,
        supported: &'static [&'static str],
    },

    /// A metadata key llama.cpp requires is absent.
    #[error("metadata key '{key}' is missing: llama.cpp requires it for this architecture")]
    MissingKey { key: String },

    /// A metadata key holds a value of the wrong type.
    #[error("metadata key '{key}': expected {expected}, found {found}")]
    KeyType {
        key: String,
        expected: &'static str,
        found: String,
    },

    /// A hyperparameter is present but unusable (zero, inconsistent with another, …).
    #[error("metadata key '{key}' = {found}: expected {expected}")]
    InvalidHParam {
        key: String,
        expected: String,
        found: String,
    },

    /// A feature llama.cpp builds differently that this builder does not reproduce yet.
    #[error("{what} is not supported yet")]
    Unsupported { what: String },

    /// A weight the architecture needs is not in the tensor table.
    #[error("weight '{name}' is missing: the {arch} architecture needs it")]
    MissingWeight { name: String, arch: String },

    /// A weight's shape differs from what the hyperparameters imply.
    #[error(
        "weight '{name}' has shape {}, expected {} (from the hyperparameters)",
        fmt_ne(found),
        fmt_ne(expected)
    )]
    WeightShape {
        name: String,
        expected: [i64; 4],
        found: [i64; 4],
    },

    /// A weight whose type the graph cannot accept (ggml would abort on it).
    #[error("weight '{name}' has type {found}, expected {expected}")]
    WeightType {
        name: String,
        expected: GgmlType,
        found: GgmlType,
    },

    /// A tensor whose ggml type id is not a ggml type.
    #[error("weight '{name}' has ggml type id {id}, which is not a ggml type")]
    UnknownWeightType { name: String, id: u32 },

    /// A dimension too large for ggml's signed 64-bit `ne`.
    #[error(
        "weight '{name}' has a dimension of {found}, more than ggml's limit of {}",
        i64::MAX
    )]
    WeightDim { name: String, found: u64 },

    /// Two tensors with the same name.
    #[error("weight '{name}' appears twice in the tensor table")]
    DuplicateWeight { name: String },

    /// A tensor the file has but this builder would ignore (llama.cpp would use it, or refuse
    /// the file): building without it would give a graph llama.cpp never computes.
    #[error("tensor '{name}' is not used by the {arch} graph built here ({why})")]
    UnexpectedWeight {
        name: String,
        arch: String,
        why: &'static str,
    },

    /// A graph needs at least one token.
    #[error("the prompt is empty: a graph needs at least one token")]
    EmptyPrompt,

    /// More tokens than context cells.
    #[error("the prompt has {n_tokens} tokens but the context has only {n_ctx} cells")]
    PromptTooLong { n_tokens: u32, n_ctx: u32 },

    /// More tokens than llama.cpp puts in one micro-batch: it would split them over several
    /// graphs.
    #[error(
        "the prompt has {n_tokens} tokens, more than one micro-batch of {n_ubatch}: llama.cpp \
         would compute it as several graphs, which is not supported yet"
    )]
    PromptOverUbatch { n_tokens: u32, n_ubatch: u32 },

    /// n_outputs outside 1..=n_tokens.
    #[error("{n_outputs} outputs requested for {n_tokens} tokens: expected 1 to {n_tokens}")]
    BadOutputs { n_outputs: u32, n_tokens: u32 },

    /// Token ids handed to the input filler do not match the graph.
    #[error("{found} token ids given for a graph built for {expected} tokens")]
    TokenCount { expected: u32, found: usize },

    /// Reading the GGUF metadata or tensor table failed.
    #[error(transparent)]
    Gguf(#[from] tt_core::gguf::GgufError),
}

/// A shape the way llama.cpp prints it: `[576, 192, 1, 1]`.
pub(crate) fn fmt_ne(ne: &[i64; 4]) -> String {
    format!("[{}, {}, {}, {}]", ne[0], ne[1], ne[2], ne[3])
}
