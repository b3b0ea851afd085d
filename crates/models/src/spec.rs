//! A model as plain data: hyperparameters plus a weight table (names, types, shapes; no bytes).
//! Both a GGUF file and a preset become a [`ModelSpec`], and a graph is built from that alone,
//! so a 405B model's graph takes milliseconds and needs no file.

use tt_core::trace::ModelInfo;

use crate::error::ModelError;
use crate::hparams::{HParams, SUPPORTED_ARCHS};
use crate::llama;
use crate::model_graph::{BuildOptions, ModelGraph};
use crate::weights::WeightTable;

/// Where a model description came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelSource {
    /// A GGUF file; `file` is its file name (no directories).
    Gguf { file: String },
    /// A built-in preset (see [`crate::presets`]).
    Preset { id: String },
}

/// Everything a graph is built from.
#[derive(Clone, Debug)]
pub struct ModelSpec {
    /// Display name (`general.name`, or the preset's name).
    pub name: String,
    pub source: ModelSource,
    pub hparams: HParams,
    pub weights: WeightTable,
}

impl ModelSpec {
    /// A spec whose weight table has been checked against its hyperparameters.
    pub fn new(
        name: impl Into<String>,
        source: ModelSource,
        hparams: HParams,
        weights: WeightTable,
    ) -> Result<ModelSpec, ModelError> {
        let spec = ModelSpec {
            name: name.into(),
            source,
            hparams,
            weights,
        };
        spec.validate()?;
        Ok(spec)
    }

    /// The spec of a GGUF file: its metadata and tensor table (no tensor bytes are read).
    pub fn from_gguf(file: &tt_core::gguf::GgufFile) -> Result<ModelSpec, ModelError> {
        let hparams = HParams::from_metadata(file)?;
        let weights = WeightTable::from_gguf(file)?;
        let file_name = file
            .path()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = match file.get_str("general.name")? {
            Some(n) if !n.is_empty() => n.to_string(),
            _ => file_name.clone(),
        };
        ModelSpec::new(
            name,
            ModelSource::Gguf { file: file_name },
            hparams,
            weights,
        )
    }

    /// Checks that every weight the architecture needs is present with the shape the
    /// hyperparameters imply, and that nothing it would ignore is there.
    pub fn validate(&self) -> Result<(), ModelError> {
        match self.hparams.arch.as_str() {
            "llama" => llama::LlamaWeights::check(&self.hparams, &self.weights).map(|_| ()),
            other => Err(unsupported(other)),
        }
    }

    /// Builds the graph llama.cpp builds for one micro-batch of `opts.n_tokens` tokens.
    pub fn build_graph(&self, opts: &BuildOptions) -> Result<ModelGraph, ModelError> {
        match self.hparams.arch.as_str() {
            "llama" => llama::build(&self.hparams, &self.weights, opts),
            other => Err(unsupported(other)),
        }
    }

    /// The model part of a graph document.
    pub fn model_info(&self) -> ModelInfo {
        let (source, file) = match &self.source {
            ModelSource::Gguf { file } => ("gguf", Some(file.clone())),
            ModelSource::Preset { .. } => ("preset", None),
        };
        ModelInfo {
            name: self.name.clone(),
            architecture: self.hparams.arch.clone(),
            source: source.to_string(),
            file,
            hparams: self.hparams.to_json(),
            n_params: self.weights.n_params(),
            n_bytes: self.weights.n_bytes(),
        }
    }
}

fn unsupported(arch: &str) -> ModelError {
    ModelError::UnsupportedArch {
        arch: arch.to_string(),
        supported: SUPPORTED_ARCHS,
    }
}
