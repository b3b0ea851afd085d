//! Built-in models that need no file: Meta's LLaMA 3.1 (8B, 70B, 405B) and 3.2 (1B, 3B), with
//! the hyperparameters of their published Hugging Face `config.json` and the weight table a GGUF
//! conversion of them has (`convert_hf_to_gguf.py --outtype bf16`): matrices in the published
//! dtype bf16, norms and `rope_freqs.weight` in f32 (the converter keeps 1-D tensors f32).
//!
//! All five use "llama3" RoPE scaling (base 500000, low/high frequency factors 1 and 4, original
//! context 8192; factor 8 for 3.1, 32 for 3.2). A GGUF stores no rope-scaling keys for it: the
//! converter bakes it into `rope_freqs.weight`, one factor per rotated pair, which ggml's ROPE
//! divides the frequencies by ([`llama3_rope_freqs`]). The 3.2 models tie the output matrix to
//! the token embeddings (no `output.weight`).
//!
//! A preset has no tokenizer, so a graph of one uses [`DEFAULT_PROMPT`]: the 6 tokens
//! [`DEFAULT_PROMPT_TOKENS`] of `<|begin_of_text|>The capital of France is` in the LLaMA 3
//! vocabulary (the same sentence as the SmolLM2 reference, with LLaMA 3's BOS token).

use tt_core::GgmlType;

use crate::hparams::{HParams, RopeScaling};
use crate::spec::{ModelSource, ModelSpec};
use crate::weights::WeightTable;

/// What the preset list shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PresetInfo {
    /// Stable id (`llama-3.1-8b`).
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
}

/// The preset shown when none is chosen.
pub const DEFAULT_ID: &str = "llama-3.1-8b";

/// The prompt of a preset graph, with its special BOS token written out.
pub const DEFAULT_PROMPT: &str = "<|begin_of_text|>The capital of France is";

/// [`DEFAULT_PROMPT`] in the LLaMA 3 vocabulary: `<|begin_of_text|>`, `The`, ` capital`, ` of`,
/// ` France`, ` is`.
pub const DEFAULT_PROMPT_TOKENS: [i32; 6] = [128000, 791, 6864, 315, 9822, 374];

/// LLaMA 3's "llama3" RoPE scaling (`rope_scaling` in config.json).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Llama3RopeScaling {
    pub factor: f32,
    pub low_freq_factor: f32,
    pub high_freq_factor: f32,
    pub original_context: u32,
}

/// One preset: its card and the numbers of its config.json.
struct Preset {
    info: PresetInfo,
    n_layer: u32,
    n_embd: u32,
    n_head: u32,
    n_head_kv: u32,
    n_ff: u32,
    /// Output tied to the token embeddings.
    tied: bool,
    rope_factor: f32,
}

// Shared by the whole LLaMA 3.1/3.2 family.
const N_VOCAB: u32 = 128256;
const N_CTX_TRAIN: u32 = 131072;
const ROPE_BASE: f32 = 500000.0;
const RMS_EPS: f32 = 1e-5;

const PRESETS: &[Preset] = &[
    Preset {
        info: PresetInfo {
            id: "llama-3.1-8b",
            name: "LLaMA 3.1 8B",
            description: "32 layers, width 4096, 32 query / 8 KV heads, FFN 14336, 128k context",
        },
        n_layer: 32,
        n_embd: 4096,
        n_head: 32,
        n_head_kv: 8,
        n_ff: 14336,
        tied: false,
        rope_factor: 8.0,
    },
    Preset {
        info: PresetInfo {
            id: "llama-3.1-70b",
            name: "LLaMA 3.1 70B",
            description: "80 layers, width 8192, 64 query / 8 KV heads, FFN 28672, 128k context",
        },
        n_layer: 80,
        n_embd: 8192,
        n_head: 64,
        n_head_kv: 8,
        n_ff: 28672,
        tied: false,
        rope_factor: 8.0,
    },
    Preset {
        info: PresetInfo {
            id: "llama-3.1-405b",
            name: "LLaMA 3.1 405B",
            description: "126 layers, width 16384, 128 query / 8 KV heads, FFN 53248, 128k context",
        },
        n_layer: 126,
        n_embd: 16384,
        n_head: 128,
        n_head_kv: 8,
        n_ff: 53248,
        tied: false,
        rope_factor: 8.0,
    },
    Preset {
        info: PresetInfo {
            id: "llama-3.2-1b",
            name: "LLaMA 3.2 1B",
            description:
                "16 layers, width 2048, 32 query / 8 KV heads of 64, FFN 8192, tied output",
        },
        n_layer: 16,
        n_embd: 2048,
        n_head: 32,
        n_head_kv: 8,
        n_ff: 8192,
        tied: true,
        rope_factor: 32.0,
    },
    Preset {
        info: PresetInfo {
            id: "llama-3.2-3b",
            name: "LLaMA 3.2 3B",
            description: "28 layers, width 3072, 24 query / 8 KV heads, FFN 8192, tied output",
        },
        n_layer: 28,
        n_embd: 3072,
        n_head: 24,
        n_head_kv: 8,
        n_ff: 8192,
        tied: true,
        rope_factor: 32.0,
    },
];

/// Every preset, the default first.
pub fn list() -> &'static [PresetInfo] {
    static INFOS: std::sync::OnceLock<Vec<PresetInfo>> = std::sync::OnceLock::new();
    INFOS.get_or_init(|| PRESETS.iter().map(|p| p.info).collect())
}

/// The model of a preset, or `None` for an unknown id.
pub fn get(id: &str) -> Option<ModelSpec> {
    let p = PRESETS.iter().find(|p| p.info.id == id)?;
    let hparams = p.hparams();
    let weights = p.weights(&hparams);
    let source = ModelSource::Preset { id: id.to_string() };
    let spec = ModelSpec::new(p.info.name, source, hparams, weights);
    Some(spec.expect("preset weight tables match their hyperparameters (tested)"))
}

/// The values of a preset's `rope_freqs.weight`, or `None` for an unknown id.
pub fn rope_freqs(id: &str) -> Option<Vec<f32>> {
    let p = PRESETS.iter().find(|p| p.info.id == id)?;
    Some(llama3_rope_freqs(
        p.head_dim(),
        ROPE_BASE,
        &p.rope_scaling(),
    ))
}

/// LLaMA 3's RoPE frequency factors, as `convert_hf_to_gguf.py` computes `rope_freqs.weight`
/// (in f32, like its torch code). For each rotated pair i of a head of `head_dim`: the
/// frequency is base^(−2i/head_dim) and its wavelength 2π/frequency; wavelengths shorter than
/// original_context/high_freq_factor keep factor 1, longer than original_context/low_freq_factor
/// get `factor`, and in between the factor blends smoothly:
/// 1 / ((1 − s)/factor + s) with s = (original_context/wavelength − low) / (high − low).
/// ggml's ROPE divides each pair's frequency by its factor.
pub fn llama3_rope_freqs(head_dim: u32, base: f32, s: &Llama3RopeScaling) -> Vec<f32> {
    let orig = s.original_context as f32;
    let low_wavelen = orig / s.low_freq_factor;
    let high_wavelen = orig / s.high_freq_factor;
    (0..head_dim / 2)
        .map(|i| {
            let freq = 1.0 / base.powf((2 * i) as f32 / head_dim as f32);
            let wavelen = 2.0 * std::f32::consts::PI / freq;
            if wavelen < high_wavelen {
                1.0
            } else if wavelen > low_wavelen {
                s.factor
            } else {
                let smooth =
                    (orig / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
                1.0 / ((1.0 - smooth) / s.factor + smooth)
            }
        })
        .collect()
}

impl Preset {
    fn head_dim(&self) -> u32 {
        // 3.2 1B has heads of 64 (2048 / 32); the others 128.
        self.n_embd / self.n_head
    }

    fn rope_scaling(&self) -> Llama3RopeScaling {
        Llama3RopeScaling {
            factor: self.rope_factor,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_context: 8192,
        }
    }

    /// The hyperparameters llama.cpp reads from a GGUF conversion: no rope-scaling keys (the
    /// scaling lives in rope_freqs.weight), so linear with factor 1.
    fn hparams(&self) -> HParams {
        let head = self.head_dim();
        HParams {
            arch: "llama".to_string(),
            n_ctx_train: N_CTX_TRAIN,
            n_embd: self.n_embd,
            n_layer: self.n_layer,
            n_ff: self.n_ff,
            n_head: self.n_head,
            n_head_kv: self.n_head_kv,
            n_embd_head_k: head,
            n_embd_head_v: head,
            n_rot: head,
            n_vocab: N_VOCAB,
            f_norm_rms_eps: RMS_EPS,
            rope_freq_base: ROPE_BASE,
            rope_freq_scale: 1.0,
            rope_scaling: RopeScaling::Linear,
            n_ctx_orig_yarn: N_CTX_TRAIN,
            rope_attn_factor: 1.0,
        }
    }

    /// The tensor table of a bf16 GGUF conversion.
    fn weights(&self, hp: &HParams) -> WeightTable {
        let (embd, vocab, ff) = (hp.n_embd as i64, hp.n_vocab as i64, hp.n_ff as i64);
        let q = (hp.n_embd_head_k * hp.n_head) as i64;
        let kv = hp.n_embd_k_gqa() as i64;
        let mut t = WeightTable::new();
        let mut add = |name: String, ty: GgmlType, ne: [i64; 2]| {
            t.insert(name, ty, [ne[0], ne[1], 1, 1])
                .expect("preset weight names are unique");
        };
        let (bf16, f32) = (GgmlType::BF16, GgmlType::F32);
        add("rope_freqs.weight".into(), f32, [hp.n_rot as i64 / 2, 1]);
        add("token_embd.weight".into(), bf16, [embd, vocab]);
        for il in 0..hp.n_layer {
            let n = |s: &str| format!("blk.{il}.{s}.weight");
            add(n("attn_norm"), f32, [embd, 1]);
            add(n("attn_q"), bf16, [embd, q]);
            add(n("attn_k"), bf16, [embd, kv]);
            add(n("attn_v"), bf16, [embd, kv]);
            add(n("attn_output"), bf16, [q, embd]);
            add(n("ffn_norm"), f32, [embd, 1]);
            add(n("ffn_gate"), bf16, [embd, ff]);
            add(n("ffn_up"), bf16, [embd, ff]);
            add(n("ffn_down"), bf16, [ff, embd]);
        }
        add("output_norm.weight".into(), f32, [embd, 1]);
        if !self.tied {
            add("output.weight".into(), bf16, [embd, vocab]);
        }
        t
    }
}
