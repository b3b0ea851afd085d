//! Tokenizers built from a GGUF file's `tokenizer.ggml.*` metadata, reproducing llama.cpp's
//! `llama_tokenize` / `llama_token_to_piece` / `llama_detokenize` (src/llama-vocab.cpp and
//! src/unicode.cpp) token for token: `"gpt2"` byte-level BPE with merge ranks and the
//! pre-tokenizer named by `tokenizer.ggml.pre`, `"llama"` SentencePiece BPE with scores and
//! `<0xXX>` byte fallback, and `"gemma4"` (SentencePiece-style BPE). Special tokens are cut out
//! of the raw text first, as llama.cpp's `tokenizer_st_partition` does.
//!
//! This is tensor-trace's own code rather than the `tokenizers` crate because the product is
//! llama.cpp's token ids, not Hugging Face's: llama.cpp splits GPT-2/LLaMA 3/Qwen text with
//! hand-written matchers and every other pre-tokenizer regex on a "category-collapsed" text,
//! classifies code points with its own Unicode table, orders SentencePiece merges by its own
//! priority queue and applies model-specific token attributes (`rstrip` for Phi-3, control
//! tokens found by name). Matching those corner cases through `tokenizers` would mean wrapping
//! it in the same amount of code, and it would add a large dependency tree (onig or its own
//! regex stack, rayon, serde models) to a 2-core build. Owned, it is about 1,500 lines plus
//! tables, with `fancy-regex` (already a workspace dependency) as its only engine, and it
//! passes every llama.cpp `test-tokenizer-0` suite of a supported vocabulary type, 14 of them
//! (see `tests/tokenizer_suites.rs`).
//!
//! ```text
//! VocabSpec (plain data from GGUF) ──Tokenizer::new──▶ Tokenizer
//!   tokenize(text) = partition special tokens → per raw fragment: SPM | (pre-tokenize → BPE)
//!   token_to_piece(id) / decode(ids) = per-token pieces → clean_spaces (BPE)
//! ```

mod bpe;
mod pretokenize;
mod spm;
mod unicode;
mod unicode_table;
mod vocab;

use std::collections::BTreeSet;

use thiserror::Error;
use tt_core::gguf::{Array, GgufError, GgufFile, Value};

use bpe::Bpe;
use pretokenize::PreConfig;
use spm::Spm;
use unicode::char_to_byte;
use vocab::{attr, Vocab};

/// Errors of building or running a tokenizer.
#[derive(Debug, Error)]
pub enum TokenizerError {
    #[error(transparent)]
    Gguf(#[from] GgufError),
    #[error("GGUF key `{key}` is missing")]
    MissingKey { key: &'static str },
    #[error("GGUF key `{key}` has type {found}, expected {expected}")]
    KeyType {
        key: &'static str,
        expected: &'static str,
        found: String,
    },
    #[error("`{key}` has {found} entries, expected at least {expected} (one per token)")]
    ArrayLength {
        key: &'static str,
        expected: usize,
        found: usize,
    },
    #[error("the vocabulary has no tokens")]
    EmptyVocab,
    #[error("tokenizer model `{model}` is not supported (supported: llama, gpt2, gemma4)")]
    UnsupportedModel { model: String },
    #[error("pre-tokenizer `{pre}` is not supported")]
    UnsupportedPre { pre: String },
    #[error("pre-tokenizer regex `{regex}`: {reason}")]
    Regex { regex: String, reason: String },
    #[error("byte {byte:#04x} has no token (no `<0xXX>` byte fallback in the vocabulary)")]
    NoByteToken { byte: u8 },
    #[error("the vocabulary must add a {which} token but has none")]
    NoSpecialToken { which: &'static str },
    #[error("token id {id} is out of range (vocabulary of {n_tokens})")]
    TokenOutOfRange { id: u32, n_tokens: usize },
}

/// Special token ids as stored in GGUF (`tokenizer.ggml.*_token_id`); `None` = key absent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpecialIds {
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub eot: Option<u32>,
    pub eom: Option<u32>,
    pub unk: Option<u32>,
    pub sep: Option<u32>,
    pub pad: Option<u32>,
    pub mask: Option<u32>,
    pub fim_pre: Option<u32>,
    pub fim_suf: Option<u32>,
    pub fim_mid: Option<u32>,
    pub fim_pad: Option<u32>,
    pub fim_rep: Option<u32>,
    pub fim_sep: Option<u32>,
}

/// Everything a tokenizer is built from, as plain data: the `tokenizer.ggml.*` metadata
/// (plus `general.name`, which llama.cpp uses for model-specific token attributes).
/// Optional keys that are absent are `None` / empty; defaults are applied by [`Tokenizer::new`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VocabSpec {
    /// `tokenizer.ggml.model`: `"llama"` (SentencePiece), `"gpt2"` (BPE), `"gemma4"`, ….
    pub model: String,
    /// `tokenizer.ggml.pre`: the BPE pre-tokenizer name.
    pub pre: Option<String>,
    /// `tokenizer.ggml.tokens`, by id (lossy UTF-8, as the GGUF reader gives them).
    pub tokens: Vec<String>,
    /// `tokenizer.ggml.scores` (empty if absent: every score is 0).
    pub scores: Vec<f32>,
    /// `tokenizer.ggml.token_type` (empty if absent: every token is normal).
    pub token_types: Vec<i32>,
    /// `tokenizer.ggml.merges`, `"left right"` in rank order.
    pub merges: Vec<String>,
    pub special: SpecialIds,
    /// `tokenizer.ggml.add_bos_token`.
    pub add_bos: Option<bool>,
    /// `tokenizer.ggml.add_eos_token`.
    pub add_eos: Option<bool>,
    /// `tokenizer.ggml.add_space_prefix`.
    pub add_space_prefix: Option<bool>,
    /// `general.name`.
    pub name: Option<String>,
}

const KEY_MODEL: &str = "tokenizer.ggml.model";
const KEY_TOKENS: &str = "tokenizer.ggml.tokens";
const KEY_SCORES: &str = "tokenizer.ggml.scores";
const KEY_TOKEN_TYPE: &str = "tokenizer.ggml.token_type";
const KEY_MERGES: &str = "tokenizer.ggml.merges";

impl VocabSpec {
    /// Reads the tokenizer metadata of a GGUF file.
    pub fn from_gguf(f: &GgufFile) -> Result<VocabSpec, TokenizerError> {
        let model = f
            .get_str(KEY_MODEL)?
            .ok_or(TokenizerError::MissingKey { key: KEY_MODEL })?
            .to_owned();
        let strings = |key| -> Result<Option<Vec<String>>, TokenizerError> {
            Ok(f.get_string_array(key)?
                .map(|v| v.into_iter().map(str::to_owned).collect()))
        };
        // Vocabulary-less models ("none", "no_vocab") have no token list; the tokenizer then
        // reports the model type as unsupported.
        let tokens = match strings(KEY_TOKENS)? {
            Some(t) => t,
            None if matches!(model.as_str(), "none" | "no_vocab") => Vec::new(),
            None => return Err(TokenizerError::MissingKey { key: KEY_TOKENS }),
        };
        let merges = match strings(KEY_MERGES)? {
            Some(m) => m,
            None if matches!(model.as_str(), "gpt2" | "gemma4") => {
                return Err(TokenizerError::MissingKey { key: KEY_MERGES })
            }
            None => Vec::new(),
        };
        // llama.cpp accepts f32 or i32 scores.
        let scores = match f.get(KEY_SCORES) {
            None => Vec::new(),
            Some(Value::Array(Array::F32(v))) => v.clone(),
            Some(Value::Array(Array::I32(v))) => v.iter().map(|&x| x as f32).collect(),
            Some(other) => {
                return Err(TokenizerError::KeyType {
                    key: KEY_SCORES,
                    expected: "arr[f32] or arr[i32]",
                    found: other.type_name(),
                })
            }
        };
        let token_types = f.get_i32_array(KEY_TOKEN_TYPE)?.unwrap_or_default();
        let id = |key: &str| f.get_u32(&format!("tokenizer.ggml.{key}_token_id"));
        let n = tokens.len();
        // The deprecated prefix/suffix/middle keys are read after the fim ones and win when valid.
        let deprecated = |old: &str, new: &str| -> Result<Option<u32>, TokenizerError> {
            let old = id(old)?.filter(|&i| (i as usize) < n);
            Ok(old.or(id(new)?))
        };
        let special = SpecialIds {
            bos: id("bos")?,
            eos: id("eos")?,
            eot: id("eot")?,
            eom: id("eom")?,
            unk: id("unknown")?,
            sep: id("seperator")?,
            pad: id("padding")?,
            mask: id("mask")?,
            fim_pre: deprecated("prefix", "fim_pre")?,
            fim_suf: deprecated("suffix", "fim_suf")?,
            fim_mid: deprecated("middle", "fim_mid")?,
            fim_pad: id("fim_pad")?,
            fim_rep: id("fim_rep")?,
            fim_sep: id("fim_sep")?,
        };
        Ok(VocabSpec {
            pre: f.get_str("tokenizer.ggml.pre")?.map(str::to_owned),
            tokens,
            scores,
            token_types,
            merges,
            special,
            add_bos: f.get_bool("tokenizer.ggml.add_bos_token")?,
            add_eos: f.get_bool("tokenizer.ggml.add_eos_token")?,
            add_space_prefix: f.get_bool("tokenizer.ggml.add_space_prefix")?,
            name: f.get_str("general.name")?.map(str::to_owned),
            model,
        })
    }
}

/// The algorithm of a vocabulary.
#[derive(Debug)]
enum Kind {
    Spm(Spm),
    Bpe(Bpe),
}

/// A raw-text fragment (byte range of the input) or a special token cut out of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fragment {
    Text(usize, usize),
    Token(u32),
}

/// A tokenizer: text ↔ token ids exactly as llama.cpp computes them for the same GGUF.
#[derive(Debug)]
pub struct Tokenizer {
    kind: Kind,
    vocab: Vocab,
    bos: Option<u32>,
    eos: Option<u32>,
    add_bos: bool,
    add_eos: bool,
    add_space_prefix: bool,
    clean_spaces: bool,
    escape_whitespaces: bool,
    /// Control, user-defined and unknown tokens, longest text first: what
    /// `tokenizer_st_partition` looks for in raw text.
    special_tokens: Vec<u32>,
}

/// Token texts that llama.cpp treats as end-of-generation (and therefore control) tokens.
const EOG_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<｜end▁of▁sentence｜>",
    "[e~[",
];

/// For each special id llama.cpp looks up by text when the GGUF does not set it: the texts it
/// accepts. The token found is made a control token.
const AUTO_DETECTED: [&[&str]; 8] = [
    // eot
    &[
        "<|eot_id|>",
        "<|im_end|>",
        "<|end|>",
        "<end_of_turn>",
        "<|endoftext|>",
        "<|end_of_text|>",
        "<EOT>",
        "_<EOT>",
        "[EOT]",
        "<｜end▁of▁sentence｜>",
        "<end_of_utterance>",
    ],
    // eom
    &["<|eom_id|>"],
    // fim_pre
    &[
        "<|fim_prefix|>",
        "<fim-prefix>",
        "<fim_prefix>",
        "<｜fim▁begin｜>",
        "<PRE>",
        "▁<PRE>",
        "<|code_prefix|>",
        "<|prefix|>",
    ],
    // fim_suf
    &[
        "<|fim_suffix|>",
        "<fim-suffix>",
        "<fim_suffix>",
        "<｜fim▁hole｜>",
        "<SUF>",
        "▁<SUF>",
        "<|code_suffix|>",
        "<|suffix|>",
    ],
    // fim_mid
    &[
        "<|fim_middle|>",
        "<fim-middle>",
        "<fim_middle>",
        "<｜fim▁end｜>",
        "<MID>",
        "▁<MID>",
        "<|code_middle|>",
        "<|middle|>",
    ],
    // fim_pad
    &["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"],
    // fim_rep
    &[
        "<|fim_repo|>",
        "<|repo_name|>",
        "<fim-repo>",
        "<REPO>",
        "<reponame>",
    ],
    // fim_sep
    &["<|file_sep|>"],
];

impl Tokenizer {
    /// Builds the tokenizer of a GGUF file.
    pub fn from_gguf(f: &GgufFile) -> Result<Tokenizer, TokenizerError> {
        Tokenizer::new(VocabSpec::from_gguf(f)?)
    }

    /// Builds a tokenizer, applying llama.cpp's defaults and attribute rules
    /// (`llama_vocab::impl::load`).
    pub fn new(spec: VocabSpec) -> Result<Tokenizer, TokenizerError> {
        // Vocabulary type and pre-tokenizer.
        let pre_config = match spec.model.as_str() {
            "llama" => None,
            "gpt2" => Some(PreConfig::for_name(spec.pre.as_deref()).ok_or_else(|| {
                TokenizerError::UnsupportedPre {
                    pre: spec.pre.clone().unwrap_or_default(),
                }
            })?),
            // llama.cpp forces the pre-tokenizer of this model type.
            "gemma4" => PreConfig::for_name(Some("gemma4")),
            other => {
                return Err(TokenizerError::UnsupportedModel {
                    model: other.to_owned(),
                })
            }
        };

        let n = spec.tokens.len();
        if n == 0 {
            return Err(TokenizerError::EmptyVocab);
        }
        for (key, len) in [
            (KEY_SCORES, spec.scores.len()),
            (KEY_TOKEN_TYPE, spec.token_types.len()),
        ] {
            if len != 0 && len < n {
                return Err(TokenizerError::ArrayLength {
                    key,
                    expected: n,
                    found: len,
                });
            }
        }

        let mut texts = spec.tokens;
        for (i, t) in texts.iter_mut().enumerate().filter(|(_, t)| t.is_empty()) {
            *t = format!("[EMPTY_{i}]");
        }
        let scores = if spec.scores.is_empty() {
            vec![0.0; n]
        } else {
            spec.scores[..n].to_vec()
        };
        let attrs = if spec.token_types.is_empty() {
            vec![attr::NORMAL; n]
        } else {
            spec.token_types[..n]
                .iter()
                .map(|&t| attr::from_token_type(t))
                .collect()
        };
        let mut vocab = Vocab::new(texts, scores, attrs);

        // Default special ids of the vocabulary type; the GGUF values replace them when in range.
        let valid = |id: u32| (id as usize) < n;
        let (bos_default, eos_default) = match (spec.model.as_str(), &pre_config) {
            ("llama", _) => (Some(1), Some(2)),
            ("gpt2", Some(c)) if c.no_default_bos => (None, Some(11)),
            ("gpt2", _) => (Some(11), Some(11)),
            _ => (None, None),
        };
        let pick = |default: Option<u32>, from_gguf: Option<u32>| {
            from_gguf
                .filter(|&i| valid(i))
                .or(default.filter(|&i| valid(i)))
        };
        let sp = &spec.special;
        let bos = pick(bos_default, sp.bos);
        let eos = pick(eos_default, sp.eos);

        let (bos_default_on, add_space_default, clean_spaces, escape_whitespaces) =
            match &pre_config {
                None => (true, true, false, true),
                Some(c) => (c.add_bos, false, c.clean_spaces, c.escape_whitespaces),
            };
        let add_bos = spec.add_bos.unwrap_or(bos_default_on)
            || pre_config.as_ref().is_some_and(|c| c.force_add_bos);
        let add_eos = spec.add_eos.unwrap_or(false);
        let add_space_prefix = spec.add_space_prefix.unwrap_or(add_space_default);

        apply_attribute_rules(&mut vocab, sp, eos, n);
        let mut special_tokens: Vec<u32> = (0u32..)
            .zip(&vocab.attrs)
            .filter(|&(_, &a)| a & (attr::CONTROL | attr::USER_DEFINED | attr::UNKNOWN) != 0)
            .map(|(id, _)| id)
            .collect();
        special_tokens.sort_by_key(|&id| std::cmp::Reverse(vocab.texts[id as usize].len()));
        apply_model_attributes(
            &mut vocab,
            &special_tokens,
            spec.pre.as_deref(),
            spec.name.as_deref(),
        );

        let kind = match pre_config {
            None => Kind::Spm(Spm::new(&vocab)),
            Some(config) => Kind::Bpe(Bpe::new(config, spec.merges, &vocab)?),
        };
        Ok(Tokenizer {
            kind,
            vocab,
            bos,
            eos,
            add_bos,
            add_eos,
            add_space_prefix,
            clean_spaces,
            escape_whitespaces,
            special_tokens,
        })
    }

    /// Number of tokens in the vocabulary.
    pub fn n_tokens(&self) -> usize {
        self.vocab.len()
    }

    /// The beginning-of-sequence token.
    pub fn bos(&self) -> Option<u32> {
        self.bos
    }

    /// The end-of-sequence token.
    pub fn eos(&self) -> Option<u32> {
        self.eos
    }

    /// Whether `tokenize(.., add_special = true, ..)` starts with BOS.
    pub fn add_bos(&self) -> bool {
        self.add_bos
    }

    /// Whether `tokenize(.., add_special = true, ..)` ends with EOS.
    pub fn add_eos(&self) -> bool {
        self.add_eos
    }

    /// Token ids of `text`, as llama.cpp's `llama_tokenize(vocab, text, add_special,
    /// parse_special)`: `add_special` adds BOS/EOS as the vocabulary asks; `parse_special` lets
    /// control tokens written in the text (`<|im_start|>`) become those tokens (user-defined
    /// tokens always do). Fails only where llama.cpp would abort: a needed BOS/EOS or byte
    /// token is missing, or a pre-tokenizer regex gives up.
    pub fn tokenize(
        &self,
        text: &str,
        add_special: bool,
        parse_special: bool,
    ) -> Result<Vec<u32>, TokenizerError> {
        let fragments = self.partition(text, parse_special);
        let mut out = Vec::with_capacity(text.len() / 3 + 2);
        if add_special && self.add_bos {
            out.push(
                self.bos
                    .ok_or(TokenizerError::NoSpecialToken { which: "BOS" })?,
            );
        }
        match &self.kind {
            Kind::Spm(spm) => {
                // A space is prefixed to the first fragment and to each one after a special token.
                let mut prev_special = true;
                let mut buf = String::new();
                for f in fragments {
                    match f {
                        Fragment::Text(s, e) => {
                            buf.clear();
                            if self.add_space_prefix && prev_special {
                                buf.push('▁');
                            }
                            escape_spaces(&text[s..e], &mut buf);
                            spm.tokenize(&self.vocab, &buf, &mut out)?;
                            prev_special = false;
                        }
                        Fragment::Token(id) => {
                            out.push(id);
                            prev_special = true;
                        }
                    }
                }
            }
            Kind::Bpe(bpe) => {
                let mut buf = String::new();
                for f in fragments {
                    match f {
                        Fragment::Text(s, e) if self.escape_whitespaces => {
                            buf.clear();
                            escape_spaces(&text[s..e], &mut buf);
                            bpe.tokenize(&self.vocab, &buf, &mut out)?;
                        }
                        Fragment::Text(s, e) => bpe.tokenize(&self.vocab, &text[s..e], &mut out)?,
                        Fragment::Token(id) => out.push(id),
                    }
                }
            }
        }
        if add_special && self.add_eos {
            out.push(
                self.eos
                    .ok_or(TokenizerError::NoSpecialToken { which: "EOS" })?,
            );
        }
        Ok(out)
    }

    /// Cuts special tokens out of `text` (llama.cpp's `tokenizer_st_partition`): for each special
    /// token, longest first, every occurrence in every remaining raw fragment, left to right.
    /// Control and unknown tokens only count if `parse_special`. Tokens with `lstrip`/`rstrip`
    /// swallow the ASCII whitespace before/after them.
    fn partition(&self, text: &str, parse_special: bool) -> Vec<Fragment> {
        let mut fragments = Vec::new();
        if text.is_empty() {
            return fragments;
        }
        fragments.push(Fragment::Text(0, text.len()));
        let bytes = text.as_bytes();
        let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r');
        for &id in &self.special_tokens {
            let a = self.vocab.attrs[id as usize];
            if !parse_special && a & (attr::CONTROL | attr::UNKNOWN) != 0 {
                continue;
            }
            let pattern = &*self.vocab.texts[id as usize];
            if !fragments
                .iter()
                .any(|f| matches!(*f, Fragment::Text(s, e) if text[s..e].contains(pattern)))
            {
                continue;
            }
            let mut next = Vec::with_capacity(fragments.len() + 2);
            for f in fragments {
                let Fragment::Text(s, e) = f else {
                    next.push(f);
                    continue;
                };
                let mut base = s;
                while let Some(rel) = text[base..e].find(pattern) {
                    let m = base + rel;
                    let mut left_end = m;
                    if a & attr::LSTRIP != 0 {
                        while left_end > base && is_space(bytes[left_end - 1]) {
                            left_end -= 1;
                        }
                    }
                    if left_end > base {
                        next.push(Fragment::Text(base, left_end));
                    }
                    next.push(Fragment::Token(id));
                    base = m + pattern.len();
                    if a & attr::RSTRIP != 0 {
                        while base < e && is_space(bytes[base]) {
                            base += 1;
                        }
                    }
                }
                if base < e {
                    next.push(Fragment::Text(base, e));
                }
            }
            fragments = next;
        }
        fragments
    }

    /// The token's text as stored in the vocabulary (`ĠParis`, `▁Paris`, `<0x0A>`, `<s>`).
    pub fn token_piece(&self, id: u32) -> Option<&str> {
        self.vocab.texts.get(id as usize).map(|t| &**t)
    }

    /// The bytes the token stands for (` Paris`, `\n`, `<s>`), as llama.cpp's
    /// `llama_token_to_piece(.., lstrip = 0, special = true)`. A byte token may be part of a
    /// UTF-8 sequence, hence bytes.
    pub fn token_to_piece(&self, id: u32) -> Result<Vec<u8>, TokenizerError> {
        let mut out = Vec::new();
        self.piece_into(id, &mut out)?;
        Ok(out)
    }

    /// Appends the piece of `id` (special tokens rendered) to `out`.
    fn piece_into(&self, id: u32, out: &mut Vec<u8>) -> Result<(), TokenizerError> {
        let text = self
            .vocab
            .texts
            .get(id as usize)
            .ok_or(TokenizerError::TokenOutOfRange {
                id,
                n_tokens: self.vocab.len(),
            })?;
        let a = self.vocab.attrs[id as usize];
        if a & (attr::UNKNOWN | attr::CONTROL | attr::USER_DEFINED) != 0 {
            out.extend_from_slice(text.as_bytes());
        } else if a & attr::NORMAL != 0 {
            match &self.kind {
                Kind::Bpe(_) if !self.escape_whitespaces => decode_byte_level(text, out),
                _ => out.extend_from_slice(text.replace('▁', " ").as_bytes()),
            }
        } else if a & attr::BYTE != 0 {
            // llama.cpp parses the two characters after "<0x" with strtol.
            let hex = text.get(3..).unwrap_or_default();
            let digits: String = hex
                .chars()
                .take(2)
                .take_while(char::is_ascii_hexdigit)
                .collect();
            out.push(u8::from_str_radix(&digits, 16).unwrap_or(0));
        }
        Ok(())
    }

    /// The text of `ids`, as llama.cpp's `common_detokenize(ctx, ids, special = true)`: the
    /// pieces concatenated, the space prefix of the first piece removed if the vocabulary adds
    /// one, and for BPE vocabularies the "clean up tokenization spaces" passes. Invalid UTF-8
    /// (an incomplete byte sequence) becomes U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> Result<String, TokenizerError> {
        let mut out = Vec::new();
        for (i, &id) in ids.iter().enumerate() {
            let start = out.len();
            self.piece_into(id, &mut out)?;
            if i == 0 && self.add_space_prefix && out.get(start) == Some(&b' ') {
                out.remove(start);
            }
        }
        if self.clean_spaces {
            clean_up_spaces(&mut out);
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

/// Appends `text` with every space replaced by `▁` (llama.cpp's `llama_escape_whitespace`).
fn escape_spaces(text: &str, out: &mut String) {
    for c in text.chars() {
        out.push(if c == ' ' { '▁' } else { c });
    }
}

/// Decodes a GPT-2 byte-level token text (llama.cpp's `llama_decode_text`): each character is
/// the byte it stands for; a character that stands for no byte is written as
/// `[UNK_BYTE_0x<its UTF-8 in hex><the whole token text>]`.
fn decode_byte_level(text: &str, out: &mut Vec<u8>) {
    for c in text.chars() {
        match char_to_byte(c) {
            Some(b) => out.push(b),
            None => {
                out.extend_from_slice(b"[UNK_BYTE_0x");
                for b in c.encode_utf8(&mut [0; 4]).bytes() {
                    out.extend_from_slice(format!("{b:02x}").as_bytes());
                }
                out.extend_from_slice(text.as_bytes());
                out.push(b']');
            }
        }
    }
}

/// llama.cpp's `clean_spaces` passes over detokenized bytes, done in place the same way:
/// remove the space before `?!.,`; turn `" ' "` into `'`; remove the space before `'s`, `'m`,
/// `'re`, `'ve`.
fn clean_up_spaces(text: &mut Vec<u8>) {
    // Pass 1: " ?", " !", " .", " ,".
    let n = text.len();
    let mut total = usize::from(n > 0);
    for i in 1..n {
        let x = text[i];
        if text[i - 1] == b' ' && matches!(x, b'?' | b'!' | b'.' | b',') {
            total -= 1;
        }
        text[total] = x;
        total += 1;
    }
    // Pass 2: a single apostrophe between spaces.
    let n = total;
    total = usize::from(n > 0);
    let mut i = 1;
    while i < n {
        let x = text[i];
        if x == b'\'' && i + 1 < n && text[i - 1] == b' ' && text[i + 1] == b' ' {
            total -= 1;
            i += 1;
            text[i] = 0;
        }
        text[total] = x;
        total += 1;
        i += 1;
    }
    // Pass 3: contractions.
    let n = total;
    total = usize::from(n > 0);
    for i in 1..n {
        let x = text[i];
        if text[i - 1] == b' ' && x == b'\'' && i + 1 < n {
            let x1 = text[i + 1];
            let remove = match x1 {
                b't' | b'd' => false,
                b's' | b'm' => true,
                _ => i + 2 < n && matches!((x1, text[i + 2]), (b'r', b'e') | (b'v', b'e')),
            };
            if remove {
                total -= 1;
            }
        }
        text[total] = x;
        total += 1;
    }
    text.truncate(total);
}

/// llama.cpp's attribute rules after loading: control tokens found by name (EOT, EOM, FIM and
/// end-of-generation texts), `unused` control tokens, gpt-oss's always-rendered tokens, and the
/// end-of-generation exceptions of o200k-harmony/solar-open (`<|end|>`) and Gemma 4/PLaMo (`</s>`).
fn apply_attribute_rules(vocab: &mut Vocab, sp: &SpecialIds, eos: Option<u32>, n: usize) {
    let valid = |id: &u32| (*id as usize) < n;
    // llama.cpp takes the first match in its hash map's order; the lowest id is taken here
    // (vocabularies have at most one of these texts in practice).
    let by_text = |vocab: &Vocab, names: &[&str]| names.iter().filter_map(|t| vocab.id(t)).min();
    let from_gguf = [
        sp.eot, sp.eom, sp.fim_pre, sp.fim_suf, sp.fim_mid, sp.fim_pad, sp.fim_rep, sp.fim_sep,
    ];
    let mut found = [None; 8];
    for (k, names) in AUTO_DETECTED.iter().enumerate() {
        found[k] = from_gguf[k].filter(valid);
        if found[k].is_none() {
            if let Some(id) = by_text(vocab, names) {
                vocab.attrs[id as usize] |= attr::CONTROL;
                found[k] = Some(id);
            }
        }
    }
    let [eot, eom, _, _, _, fim_pad, fim_rep, fim_sep] = found;

    for (a, text) in vocab.attrs.iter_mut().zip(&vocab.texts) {
        if *a & attr::CONTROL != 0 && text.contains("unused") {
            *a |= attr::UNUSED;
        }
    }

    let mut eog: BTreeSet<u32> = [fim_pad, fim_rep, fim_sep].into_iter().flatten().collect();
    let eog_ids: Vec<u32> = EOG_TEXTS.iter().filter_map(|t| vocab.id(t)).collect();
    for id in eog_ids {
        eog.insert(id);
        vocab.attrs[id as usize] |= attr::CONTROL;
    }
    let always_rendered: Vec<u32> = ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"]
        .iter()
        .filter_map(|t| vocab.id(t))
        .collect();
    for id in always_rendered {
        vocab.attrs[id as usize] = attr::USER_DEFINED;
    }
    eog.extend([eos, eot, eom].into_iter().flatten());

    let eog_text = |text: &str| {
        eog.iter()
            .copied()
            .find(|&id| &*vocab.texts[id as usize] == text)
    };
    let has = |text: &str| eog_text(text).is_some();
    if let Some(end) = eog_text("<|end|>") {
        let call = has("<|call|>") || has("<|calls|>");
        if call && (has("<|return|>") || has("<|flush|>")) {
            vocab.attrs[end as usize] = attr::USER_DEFINED;
        }
    }
    if let Some(s) = eog_text("</s>") {
        if has("<|tool_response>") || has("<|plamo:eos|>") {
            vocab.attrs[s as usize] = attr::NORMAL;
        }
    }
}

/// llama.cpp's per-model token attributes (set after the special-token list is built):
/// `lstrip` on the mask token of jina-v2 and ModernBERT, `rstrip` on Phi-3's special tokens.
fn apply_model_attributes(
    vocab: &mut Vocab,
    special_tokens: &[u32],
    pre: Option<&str>,
    name: Option<&str>,
) {
    let name = name.unwrap_or_default().to_lowercase();
    let pre = pre.unwrap_or_default();
    let set = |vocab: &mut Vocab, text: &str, bit: u16, on: bool| {
        if let Some(id) = vocab.id(text) {
            let a = &mut vocab.attrs[id as usize];
            *a = if on { *a | bit } else { *a & !bit };
        }
    };
    if ["jina-v2-de", "jina-v2-es", "jina-v2-code"]
        .iter()
        .any(|p| pre.contains(p))
    {
        set(vocab, "<mask>", attr::LSTRIP, true);
    } else if name.contains("phi-3") || name.contains("phi3") {
        for &id in special_tokens {
            vocab.attrs[id as usize] |= attr::RSTRIP;
        }
        set(vocab, "</s>", attr::RSTRIP, true);
        for t in ["<unk>", "<s>", "<|endoftext|>"] {
            set(vocab, t, attr::RSTRIP, false);
        }
    } else if name.contains("modern-bert") {
        set(vocab, "[MASK]", attr::LSTRIP, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A byte-level BPE vocabulary over "a", "b", "c" and " ".
    fn tiny_bpe() -> VocabSpec {
        VocabSpec {
            model: "gpt2".into(),
            pre: Some("gpt-2".into()),
            tokens: ["a", "b", "c", "Ġ", "ab", "Ġa", "Ġab", "abc", "<|x|>"]
                .map(String::from)
                .to_vec(),
            token_types: vec![1, 1, 1, 1, 1, 1, 1, 1, 3],
            merges: ["Ġ a", "a b", "Ġa b", "ab c"].map(String::from).to_vec(),
            ..VocabSpec::default()
        }
    }

    #[test]
    fn bpe_merges_by_rank() {
        let t = Tokenizer::new(tiny_bpe()).unwrap();
        assert_eq!(t.tokenize("abc ab", false, false).unwrap(), [7, 6]);
        // (Ġ, a) has the lowest rank, then (Ġa, b); (Ġab, c) is not a merge.
        assert_eq!(t.tokenize(" abc", false, false).unwrap(), [6, 2]);
        assert_eq!(t.decode(&[6, 2]).unwrap(), " abc");
        assert_eq!(t.token_to_piece(3).unwrap(), b" ");
        assert_eq!(t.token_piece(6), Some("Ġab"));
    }

    #[test]
    fn control_tokens_are_parsed_only_when_asked() {
        let t = Tokenizer::new(tiny_bpe()).unwrap();
        assert_eq!(t.tokenize("ab<|x|>c", false, true).unwrap(), [4, 8, 2]);
        // Without parse_special the text is plain BPE; "<", "|", ">" are not tokens and vanish.
        assert_eq!(t.tokenize("ab<|x|>c", false, false).unwrap(), [4, 2]);
        // gpt2 defaults: BOS = EOS = 11 is out of range here, so no BOS.
        assert_eq!(t.bos(), None);
        assert!(matches!(
            Tokenizer::new(VocabSpec {
                add_bos: Some(true),
                ..tiny_bpe()
            })
            .unwrap()
            .tokenize("a", true, false),
            Err(TokenizerError::NoSpecialToken { which: "BOS" })
        ));
    }

    fn tiny_spm() -> VocabSpec {
        let mut tokens: Vec<String> = ["<unk>", "<s>", "</s>", "▁", "▁a", "b", "▁ab"]
            .map(String::from)
            .to_vec();
        let mut types = vec![2, 3, 3, 1, 1, 1, 1];
        let mut scores = vec![0.0, 0.0, 0.0, -1.0, -2.0, -3.0, -1.5];
        for b in 0..=255u8 {
            tokens.push(format!("<0x{b:02X}>"));
            types.push(6);
            scores.push(0.0);
        }
        VocabSpec {
            model: "llama".into(),
            tokens,
            scores,
            token_types: types,
            ..VocabSpec::default()
        }
    }

    #[test]
    fn spm_merges_by_score_with_byte_fallback() {
        let t = Tokenizer::new(tiny_spm()).unwrap();
        assert!(t.add_bos());
        // "▁ab" then "é" is not a token: its two UTF-8 bytes.
        let ids = t.tokenize("abé", true, false).unwrap();
        assert_eq!(ids, [1, 6, 7 + 0xC3, 7 + 0xA9]);
        assert_eq!(t.decode(&ids[1..]).unwrap(), "abé");
        assert_eq!(t.decode(&ids).unwrap(), "<s> abé");
        assert_eq!(t.tokenize("", true, false).unwrap(), [1]);
    }

    #[test]
    fn clean_spaces_passes_match_llama_cpp() {
        let mut s = b"a , b ' c it 's they 're don 't".to_vec();
        clean_up_spaces(&mut s);
        assert_eq!(String::from_utf8(s).unwrap(), "a, b'c it's they're don 't");
    }

    #[test]
    fn unknown_model_is_an_error() {
        let spec = VocabSpec {
            model: "bert".into(),
            ..tiny_bpe()
        };
        assert!(matches!(
            Tokenizer::new(spec),
            Err(TokenizerError::UnsupportedModel { .. })
        ));
        let spec = VocabSpec {
            pre: Some("no-such-pre".into()),
            ..tiny_bpe()
        };
        assert!(matches!(
            Tokenizer::new(spec),
            Err(TokenizerError::UnsupportedPre { .. })
        ));
    }
}
