//! Hyperparameters of a LLaMA-family model, read from GGUF metadata with exactly the keys and
//! defaults llama.cpp uses (`llama_model_base::load_hparams` in src/llama-model.cpp and
//! `llama_model_llama::load_arch_hparams` in src/models/llama.cpp), plus the RoPE parameters the
//! context derives from them (`llama_context` constructor, src/llama-context.cpp).
//!
//! Keys are `<arch>.<name>` (`llama.embedding_length`). Required: `context_length`,
//! `embedding_length`, `block_count`, `attention.layer_norm_rms_epsilon`. Defaults when absent:
//! `feed_forward_length` 0 (which the weight table then contradicts), `attention.head_count` 0
//! (rejected below: a LLaMA needs heads), `attention.head_count_kv` = head_count,
//! `attention.key_length`/`value_length` = n_embd / n_head, `rope.dimension_count` = key_length
//! (and llama.cpp refuses a LLaMA where they differ), `rope.freq_base` 10000,
//! `rope.scaling.type` "linear", `rope.scaling.factor` (or the older `rope.scale_linear`) 0 →
//! freq_scale 1, `rope.scaling.original_context_length` = context_length,
//! `rope.scaling.attn_factor` 1. The vocabulary size is the length of `tokenizer.ggml.tokens`
//! (what llama.cpp checks the embedding's shape against), else `<arch>.vocab_size`.
//!
//! LLaMA 3.1/3.2 GGUFs carry no rope-scaling keys: their "llama3" scaling is baked into the
//! `rope_freqs.weight` tensor (see [`crate::presets::llama3_rope_freqs`]).

use tt_core::gguf::Value;
use tt_core::RopeParams;

use crate::error::ModelError;

/// Architectures with a graph builder, as `general.architecture` names them.
pub const SUPPORTED_ARCHS: &[&str] = &["llama"];

/// How RoPE frequencies are stretched for long contexts (`rope.scaling.type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopeScaling {
    /// `"none"`: frequencies never scaled (freq_scale forced to 1).
    None,
    /// `"linear"` (the default): positions multiplied by freq_scale.
    Linear,
    /// `"yarn"`: YaRN ramp between interpolation and extrapolation.
    Yarn,
}

impl RopeScaling {
    pub fn as_str(self) -> &'static str {
        match self {
            RopeScaling::None => "none",
            RopeScaling::Linear => "linear",
            RopeScaling::Yarn => "yarn",
        }
    }
}

/// The hyperparameters the LLaMA graph is built from. Counts are llama.cpp's names.
#[derive(Clone, Debug, PartialEq)]
pub struct HParams {
    /// `general.architecture`.
    pub arch: String,
    /// Context the model was trained with (the default context size, like llama.cpp's `-c 0`).
    pub n_ctx_train: u32,
    /// Width of the residual stream.
    pub n_embd: u32,
    pub n_layer: u32,
    /// Hidden width of the feed-forward network.
    pub n_ff: u32,
    /// Query heads.
    pub n_head: u32,
    /// Key/value heads (grouped-query attention when fewer than `n_head`).
    pub n_head_kv: u32,
    /// Size of one key head (d_k; queries have the same).
    pub n_embd_head_k: u32,
    /// Size of one value head.
    pub n_embd_head_v: u32,
    /// Dimensions of each head that RoPE rotates.
    pub n_rot: u32,
    pub n_vocab: u32,
    pub f_norm_rms_eps: f32,
    pub rope_freq_base: f32,
    /// 1 / `rope.scaling.factor` (1 when unscaled).
    pub rope_freq_scale: f32,
    pub rope_scaling: RopeScaling,
    /// `rope.scaling.original_context_length`, default `n_ctx_train`.
    pub n_ctx_orig_yarn: u32,
    /// `rope.scaling.attn_factor`, default 1.
    pub rope_attn_factor: f32,
}

/// A metadata lookup: a GGUF file, or its entries as `(key, value)` pairs (tests build those).
pub trait Metadata {
    fn value(&self, key: &str) -> Option<&Value>;
}

impl Metadata for tt_core::gguf::GgufFile {
    fn value(&self, key: &str) -> Option<&Value> {
        self.get(key)
    }
}

impl Metadata for [(String, Value)] {
    fn value(&self, key: &str) -> Option<&Value> {
        self.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

/// Typed reads of one model's metadata, with messages naming the key.
struct Reader<'m, M: Metadata + ?Sized> {
    meta: &'m M,
    arch: &'m str,
}

impl<M: Metadata + ?Sized> Reader<'_, M> {
    fn key(&self, name: &str) -> String {
        format!("{}.{name}", self.arch)
    }

    fn u32_opt(&self, key: &str) -> Result<Option<u32>, ModelError> {
        match self.meta.value(key) {
            None => Ok(None),
            Some(v) => v
                .to_int::<u32>()
                .map(Some)
                .ok_or_else(|| ModelError::KeyType {
                    key: key.to_string(),
                    expected: "an unsigned 32-bit integer",
                    found: describe(v),
                }),
        }
    }

    fn u32_req(&self, name: &str) -> Result<u32, ModelError> {
        let key = self.key(name);
        self.u32_opt(&key)?.ok_or(ModelError::MissingKey { key })
    }

    /// A count that may be given per layer (`get_key_or_arr`): a scalar, or an array of
    /// `n_layer` values. Per-layer values that differ are not built here.
    fn per_layer(&self, name: &str, n_layer: u32) -> Result<Option<u32>, ModelError> {
        let key = self.key(name);
        let Some(Value::Array(a)) = self.meta.value(&key) else {
            return self.u32_opt(&key);
        };
        let values: Vec<u32> = match a.to_ints::<u32>() {
            Some(Ok(v)) => v,
            _ => {
                return Err(ModelError::KeyType {
                    key,
                    expected: "an unsigned 32-bit integer or an array of them",
                    found: format!("arr[{},{}]", a.element_type(), a.len()),
                })
            }
        };
        if values.len() != n_layer as usize {
            return Err(ModelError::InvalidHParam {
                key,
                expected: format!("one value per layer ({n_layer})"),
                found: format!("{} values", values.len()),
            });
        }
        match values.split_first() {
            Some((&first, rest)) if rest.iter().all(|&v| v == first) => Ok(Some(first)),
            _ => Err(ModelError::Unsupported {
                what: format!("a different '{key}' per layer"),
            }),
        }
    }

    fn f32_opt(&self, name: &str) -> Result<Option<f32>, ModelError> {
        let key = self.key(name);
        match self.meta.value(&key) {
            None => Ok(None),
            Some(Value::F32(x)) => Ok(Some(*x)),
            Some(v) => Err(ModelError::KeyType {
                key,
                expected: "a 32-bit float",
                found: describe(v),
            }),
        }
    }

    fn str_opt(&self, key: &str) -> Result<Option<&str>, ModelError> {
        match self.meta.value(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(ModelError::KeyType {
                key: key.to_string(),
                expected: "a string",
                found: describe(v),
            }),
        }
    }
}

/// A value's type and, for scalars, the value: `f32 0.5`, `str "x"`, `arr[u32,30]`.
fn describe(v: &Value) -> String {
    match v {
        Value::Array(_) => v.type_name(),
        Value::String(s) => format!("str {s:?}"),
        _ => format!("{} {v}", v.type_name()),
    }
}

impl HParams {
    /// Reads the hyperparameters of a model from its metadata, as llama.cpp does for the
    /// architectures in [`SUPPORTED_ARCHS`].
    pub fn from_metadata<M: Metadata + ?Sized>(meta: &M) -> Result<HParams, ModelError> {
        let arch_key = "general.architecture";
        let arch = match meta.value(arch_key) {
            None => {
                return Err(ModelError::MissingKey {
                    key: arch_key.to_string(),
                })
            }
            Some(Value::String(s)) => s.as_str(),
            Some(v) => {
                return Err(ModelError::KeyType {
                    key: arch_key.to_string(),
                    expected: "a string",
                    found: describe(v),
                })
            }
        };
        if !SUPPORTED_ARCHS.contains(&arch) {
            return Err(ModelError::UnsupportedArch {
                arch: arch.to_string(),
                supported: SUPPORTED_ARCHS,
            });
        }
        let r = Reader { meta, arch };

        let n_ctx_train = r.u32_req("context_length")?;
        let n_embd = r.u32_req("embedding_length")?;
        let n_layer = r.u32_req("block_count")?;
        if n_layer == 0 || n_layer > MAX_LAYERS {
            return Err(ModelError::InvalidHParam {
                key: r.key("block_count"),
                expected: format!("1 to {MAX_LAYERS} layers (llama.cpp's LLAMA_MAX_LAYERS)"),
                found: n_layer.to_string(),
            });
        }
        let n_expert = r.u32_opt(&r.key("expert_count"))?.unwrap_or(0);
        if n_expert > 0 {
            return Err(ModelError::Unsupported {
                what: format!(
                    "a mixture-of-experts {arch} ({}.expert_count = {n_expert})",
                    arch
                ),
            });
        }
        let n_ff = r.per_layer("feed_forward_length", n_layer)?.unwrap_or(0);
        let n_head = r.per_layer("attention.head_count", n_layer)?.unwrap_or(0);
        if n_head == 0 {
            return Err(ModelError::InvalidHParam {
                key: r.key("attention.head_count"),
                expected: "at least one attention head".to_string(),
                found: "0 (or absent)".to_string(),
            });
        }
        let n_head_kv = r
            .per_layer("attention.head_count_kv", n_layer)?
            .unwrap_or(n_head);
        if n_head_kv == 0 || n_head % n_head_kv != 0 {
            return Err(ModelError::InvalidHParam {
                key: r.key("attention.head_count_kv"),
                expected: format!("a divisor of attention.head_count ({n_head})"),
                found: n_head_kv.to_string(),
            });
        }

        let rope_freq_base = r.f32_opt("rope.freq_base")?.unwrap_or(10000.0);
        let scaling_key = r.key("rope.scaling.type");
        let rope_scaling = match r.str_opt(&scaling_key)?.unwrap_or("linear") {
            "none" => RopeScaling::None,
            "linear" => RopeScaling::Linear,
            "yarn" => RopeScaling::Yarn,
            "longrope" => {
                return Err(ModelError::Unsupported {
                    what: format!("rope scaling 'longrope' ({scaling_key})"),
                })
            }
            other => {
                return Err(ModelError::InvalidHParam {
                    key: scaling_key,
                    expected: "one of none, linear, yarn, longrope".to_string(),
                    found: format!("{other:?}"),
                })
            }
        };
        let rope_factor = match r.f32_opt("rope.scaling.factor")? {
            Some(f) => f,
            None => r.f32_opt("rope.scale_linear")?.unwrap_or(0.0),
        };
        let rope_freq_scale = if rope_factor == 0.0 {
            1.0
        } else {
            1.0 / rope_factor
        };
        let n_ctx_orig_yarn = r
            .u32_opt(&r.key("rope.scaling.original_context_length"))?
            .unwrap_or(n_ctx_train);
        let rope_attn_factor = r.f32_opt("rope.scaling.attn_factor")?.unwrap_or(1.0);

        let n_embd_head_k = r
            .u32_opt(&r.key("attention.key_length"))?
            .unwrap_or(n_embd / n_head);
        let n_embd_head_v = r
            .u32_opt(&r.key("attention.value_length"))?
            .unwrap_or(n_embd / n_head);
        let n_rot = r
            .u32_opt(&r.key("rope.dimension_count"))?
            .unwrap_or(n_embd_head_k);
        // llama.cpp: "invalid n_rot" for LLaMA; the graph also asserts head_k == head_v == n_rot.
        if n_rot != n_embd_head_k {
            return Err(ModelError::InvalidHParam {
                key: r.key("rope.dimension_count"),
                expected: format!("{n_embd_head_k} (the key head size), as llama.cpp requires"),
                found: n_rot.to_string(),
            });
        }
        if n_embd_head_v != n_embd_head_k {
            return Err(ModelError::InvalidHParam {
                key: r.key("attention.value_length"),
                expected: format!(
                    "{n_embd_head_k} (the key head size), as the LLaMA graph requires"
                ),
                found: n_embd_head_v.to_string(),
            });
        }
        if n_embd_head_k == 0 || n_rot % 2 != 0 {
            return Err(ModelError::InvalidHParam {
                key: r.key("attention.key_length"),
                expected: "a positive, even head size".to_string(),
                found: n_embd_head_k.to_string(),
            });
        }

        let f_norm_rms_eps = r
            .f32_opt("attention.layer_norm_rms_epsilon")?
            .ok_or_else(|| ModelError::MissingKey {
                key: r.key("attention.layer_norm_rms_epsilon"),
            })?;

        let tokens_key = "tokenizer.ggml.tokens";
        let n_vocab = match meta.value(tokens_key) {
            Some(Value::Array(a)) => u32::try_from(a.len()).ok(),
            Some(v) => {
                return Err(ModelError::KeyType {
                    key: tokens_key.to_string(),
                    expected: "an array of strings",
                    found: describe(v),
                })
            }
            None => r.u32_opt(&r.key("vocab_size"))?,
        };
        let n_vocab = match n_vocab {
            Some(n) if n > 0 => n,
            _ => {
                return Err(ModelError::MissingKey {
                    key: format!("{tokens_key}' or '{}", r.key("vocab_size")),
                })
            }
        };

        Ok(HParams {
            arch: arch.to_string(),
            n_ctx_train,
            n_embd,
            n_layer,
            n_ff,
            n_head,
            n_head_kv,
            n_embd_head_k,
            n_embd_head_v,
            n_rot,
            n_vocab,
            f_norm_rms_eps,
            rope_freq_base,
            rope_freq_scale,
            rope_scaling,
            n_ctx_orig_yarn,
            rope_attn_factor,
        })
    }

    /// Width of all key heads together: a K-cache row.
    pub fn n_embd_k_gqa(&self) -> u32 {
        self.n_embd_head_k * self.n_head_kv
    }

    /// Width of all value heads together: a V-cache row.
    pub fn n_embd_v_gqa(&self) -> u32 {
        self.n_embd_head_v * self.n_head_kv
    }

    /// The ROPE op parameters llama.cpp's context derives (`cparams.yarn_*`, `rope_freq_*`):
    /// mode 0 (LLaMA rotates adjacent pairs), YaRN's extrapolation mix only for `yarn`, beta
    /// fast/slow 32/1 (`llama_hparams` defaults; LLaMA reads no override).
    pub fn rope_params(&self) -> RopeParams {
        let freq_scale = if self.rope_scaling == RopeScaling::None {
            1.0
        } else {
            self.rope_freq_scale
        };
        let ext_factor = if self.rope_scaling == RopeScaling::Yarn {
            1.0f32
        } else {
            0.0
        };
        let mut attn_factor = 1.0f32;
        if ext_factor != 0.0 {
            let factor = 1.0 / freq_scale;
            let mscale = if factor <= 1.0 {
                1.0
            } else {
                0.1 * factor.ln() + 1.0
            };
            // llama.cpp cancels the magnitude scaling ggml's YaRN kernel applies itself.
            attn_factor = mscale * (1.0 / (1.0 + 0.1 * factor.ln()));
        }
        attn_factor *= self.rope_attn_factor;
        RopeParams {
            n_dims: self.n_rot,
            mode: 0,
            n_ctx_orig: self.n_ctx_orig_yarn,
            freq_base: self.rope_freq_base,
            freq_scale,
            ext_factor,
            attn_factor,
            beta_fast: 32.0,
            beta_slow: 1.0,
        }
    }

    /// The hyperparameters as GGUF names them without the arch prefix, for
    /// [`tt_core::trace::ModelInfo::hparams`].
    pub fn to_json(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        let mut put = |k: &str, v: serde_json::Value| {
            m.insert(k.to_string(), v);
        };
        put("context_length", self.n_ctx_train.into());
        put("embedding_length", self.n_embd.into());
        put("block_count", self.n_layer.into());
        put("feed_forward_length", self.n_ff.into());
        put("attention.head_count", self.n_head.into());
        put("attention.head_count_kv", self.n_head_kv.into());
        put("attention.key_length", self.n_embd_head_k.into());
        put("attention.value_length", self.n_embd_head_v.into());
        put(
            "attention.layer_norm_rms_epsilon",
            self.f_norm_rms_eps.into(),
        );
        put("rope.dimension_count", self.n_rot.into());
        put("rope.freq_base", self.rope_freq_base.into());
        put("rope.scaling.type", self.rope_scaling.as_str().into());
        put("rope.scaling.factor", (1.0 / self.rope_freq_scale).into());
        put(
            "rope.scaling.original_context_length",
            self.n_ctx_orig_yarn.into(),
        );
        put("vocab_size", self.n_vocab.into());
        m
    }
}

/// llama.cpp's LLAMA_MAX_LAYERS.
const MAX_LAYERS: u32 = 512;

#[cfg(test)]
mod tests {
    use tt_core::gguf::{Array, Value};

    use super::*;

    /// SmolLM2-135M's metadata (the keys llama.cpp reads), with a 4-token vocabulary.
    fn smollm2() -> Vec<(String, Value)> {
        let mut m: Vec<(String, Value)> = vec![
            ("general.architecture".into(), Value::String("llama".into())),
            ("llama.context_length".into(), Value::U32(8192)),
            ("llama.embedding_length".into(), Value::U32(576)),
            ("llama.block_count".into(), Value::U32(30)),
            ("llama.feed_forward_length".into(), Value::U32(1536)),
            ("llama.attention.head_count".into(), Value::U32(9)),
            ("llama.attention.head_count_kv".into(), Value::U32(3)),
            (
                "llama.attention.layer_norm_rms_epsilon".into(),
                Value::F32(1e-5),
            ),
            ("llama.rope.freq_base".into(), Value::F32(100000.0)),
            ("llama.rope.dimension_count".into(), Value::U32(64)),
        ];
        let tokens = ["a", "b", "c", "d"].into_iter().collect();
        m.push((
            "tokenizer.ggml.tokens".into(),
            Value::Array(Array::String(tokens)),
        ));
        m
    }

    fn set(m: &mut Vec<(String, Value)>, key: &str, v: Value) {
        m.retain(|(k, _)| k != key);
        m.push((key.to_string(), v));
    }

    fn remove(m: &mut Vec<(String, Value)>, key: &str) {
        m.retain(|(k, _)| k != key);
    }

    fn err(m: &[(String, Value)]) -> String {
        HParams::from_metadata(m).unwrap_err().to_string()
    }

    #[test]
    fn reads_keys_and_applies_llama_cpp_defaults() {
        let hp = HParams::from_metadata(smollm2().as_slice()).unwrap();
        assert_eq!((hp.n_layer, hp.n_embd, hp.n_ff), (30, 576, 1536));
        assert_eq!((hp.n_head, hp.n_head_kv), (9, 3));
        assert_eq!((hp.n_embd_head_k, hp.n_embd_head_v, hp.n_rot), (64, 64, 64));
        assert_eq!(
            hp.n_vocab, 4,
            "vocabulary = length of tokenizer.ggml.tokens"
        );
        assert_eq!((hp.n_embd_k_gqa(), hp.n_embd_v_gqa()), (192, 192));
        assert_eq!(hp.rope_scaling, RopeScaling::Linear);
        assert_eq!(hp.rope_freq_scale, 1.0);
        assert_eq!(
            hp.n_ctx_orig_yarn, 8192,
            "original context defaults to n_ctx_train"
        );

        let mut m = smollm2();
        remove(&mut m, "llama.attention.head_count_kv");
        remove(&mut m, "llama.rope.freq_base");
        remove(&mut m, "llama.rope.dimension_count");
        remove(&mut m, "tokenizer.ggml.tokens");
        set(&mut m, "llama.vocab_size", Value::U32(49152));
        let hp = HParams::from_metadata(m.as_slice()).unwrap();
        assert_eq!(hp.n_head_kv, 9, "KV heads default to the query heads");
        assert_eq!(hp.rope_freq_base, 10000.0);
        assert_eq!(hp.n_rot, 64, "n_rot defaults to the head size");
        assert_eq!(hp.n_vocab, 49152);
    }

    #[test]
    fn unsupported_architecture_is_named() {
        let mut m = smollm2();
        set(
            &mut m,
            "general.architecture",
            Value::String("qwen2".into()),
        );
        assert_eq!(
            err(&m),
            "architecture 'qwen2' is not supported yet; supported: llama"
        );
    }

    #[test]
    fn missing_required_keys_are_named() {
        for key in [
            "general.architecture",
            "llama.context_length",
            "llama.embedding_length",
            "llama.block_count",
            "llama.attention.layer_norm_rms_epsilon",
        ] {
            let mut m = smollm2();
            remove(&mut m, key);
            assert_eq!(
                err(&m),
                format!(
                    "metadata key '{key}' is missing: llama.cpp requires it for this architecture"
                )
            );
        }
        let mut m = smollm2();
        remove(&mut m, "tokenizer.ggml.tokens");
        assert_eq!(
            err(&m),
            "metadata key 'tokenizer.ggml.tokens' or 'llama.vocab_size' is missing: llama.cpp \
             requires it for this architecture"
        );
    }

    #[test]
    fn wrong_types_say_expected_and_found() {
        let mut m = smollm2();
        set(&mut m, "llama.block_count", Value::String("thirty".into()));
        assert_eq!(
            err(&m),
            "metadata key 'llama.block_count': expected an unsigned 32-bit integer, found str \"thirty\""
        );
        let mut m = smollm2();
        set(&mut m, "llama.rope.freq_base", Value::U32(10000));
        assert_eq!(
            err(&m),
            "metadata key 'llama.rope.freq_base': expected a 32-bit float, found u32 10000"
        );
        let mut m = smollm2();
        set(&mut m, "llama.embedding_length", Value::I32(-576));
        assert_eq!(
            err(&m),
            "metadata key 'llama.embedding_length': expected an unsigned 32-bit integer, found i32 -576"
        );
    }

    #[test]
    fn inconsistent_values_are_refused() {
        let mut m = smollm2();
        set(&mut m, "llama.rope.dimension_count", Value::U32(32));
        assert_eq!(
            err(&m),
            "metadata key 'llama.rope.dimension_count' = 32: expected 64 (the key head size), as \
             llama.cpp requires"
        );
        let mut m = smollm2();
        set(&mut m, "llama.attention.head_count_kv", Value::U32(4));
        assert_eq!(
            err(&m),
            "metadata key 'llama.attention.head_count_kv' = 4: expected a divisor of \
             attention.head_count (9)"
        );
        let mut m = smollm2();
        set(&mut m, "llama.block_count", Value::U32(0));
        assert_eq!(
            err(&m),
            "metadata key 'llama.block_count' = 0: expected 1 to 512 layers (llama.cpp's LLAMA_MAX_LAYERS)"
        );
    }

    #[test]
    fn per_layer_arrays_must_be_uniform() {
        let mut m = smollm2();
        set(
            &mut m,
            "llama.attention.head_count_kv",
            Value::Array(Array::U32(vec![3; 30])),
        );
        assert_eq!(HParams::from_metadata(m.as_slice()).unwrap().n_head_kv, 3);

        let mut per_layer = vec![1536u32; 30];
        per_layer[7] = 1024;
        set(
            &mut m,
            "llama.feed_forward_length",
            Value::Array(Array::U32(per_layer)),
        );
        assert_eq!(
            err(&m),
            "a different 'llama.feed_forward_length' per layer is not supported yet"
        );

        set(
            &mut m,
            "llama.feed_forward_length",
            Value::Array(Array::U32(vec![1536; 29])),
        );
        assert_eq!(
            err(&m),
            "metadata key 'llama.feed_forward_length' = 29 values: expected one value per layer (30)"
        );
    }

    #[test]
    fn features_not_built_are_refused() {
        let mut m = smollm2();
        set(&mut m, "llama.expert_count", Value::U32(8));
        assert_eq!(
            err(&m),
            "a mixture-of-experts llama (llama.expert_count = 8) is not supported yet"
        );
        let mut m = smollm2();
        set(
            &mut m,
            "llama.rope.scaling.type",
            Value::String("longrope".into()),
        );
        assert_eq!(
            err(&m),
            "rope scaling 'longrope' (llama.rope.scaling.type) is not supported yet"
        );
    }

    #[test]
    fn rope_parameters_follow_the_scaling_type() {
        let mut m = smollm2();
        set(
            &mut m,
            "llama.rope.scaling.type",
            Value::String("linear".into()),
        );
        set(&mut m, "llama.rope.scaling.factor", Value::F32(4.0));
        let p = HParams::from_metadata(m.as_slice()).unwrap().rope_params();
        assert_eq!(
            (p.freq_scale, p.ext_factor, p.attn_factor),
            (0.25, 0.0, 1.0)
        );

        set(
            &mut m,
            "llama.rope.scaling.type",
            Value::String("none".into()),
        );
        let p = HParams::from_metadata(m.as_slice()).unwrap().rope_params();
        assert_eq!(p.freq_scale, 1.0, "scaling 'none' never scales");

        set(
            &mut m,
            "llama.rope.scaling.type",
            Value::String("yarn".into()),
        );
        set(
            &mut m,
            "llama.rope.scaling.original_context_length",
            Value::U32(2048),
        );
        let p = HParams::from_metadata(m.as_slice()).unwrap().rope_params();
        assert_eq!(
            (p.ext_factor, p.n_ctx_orig, p.beta_fast, p.beta_slow),
            (1.0, 2048, 32.0, 1.0)
        );
        // mscale(4) · 1/(1 + 0.1·ln 4): the two cancel.
        assert!(
            (p.attn_factor - 1.0).abs() < 1e-6,
            "attn_factor {}",
            p.attn_factor
        );
    }
}
