//! llama.cpp's tokenizer conformance suites (`tests/test-tokenizer-0.cpp`) run against
//! `tt_models::tokenizer`, plus SmolLM2's prompt from the reference run.
//!
//! Each suite is `models/ggml-vocab-<name>.gguf` (a vocabulary-only GGUF) with `.inp` (test
//! texts separated by `\n__ggml_vocab_test__\n`) and `.out` (one line of space-separated ids
//! per text), fetched into `$DATA/vocab/` by `scripts/fetch-test-data`. As in
//! test-tokenizer-0, texts are tokenized with `add_special = false, parse_special = false`, and
//! every case must give exactly the expected ids.

use std::path::PathBuf;
use std::time::Instant;

use tt_core::gguf::GgufFile;
use tt_models::tokenizer::{Tokenizer, TokenizerError};

/// `${TENSOR_TRACE_DATA:-$HOME/.cache/tensor-trace}`.
fn data_dir() -> PathBuf {
    match std::env::var_os("TENSOR_TRACE_DATA") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/tensor-trace")
        }
    }
}

/// A data file, or a panic telling how to get it.
fn data_file(rel: &str) -> PathBuf {
    let p = data_dir().join(rel);
    assert!(
        p.is_file(),
        "{} is missing: run scripts/fetch-test-data (or set TENSOR_TRACE_DATA)",
        p.display()
    );
    p
}

fn load(name: &str) -> Tokenizer {
    let path = data_file(&format!("vocab/ggml-vocab-{name}.gguf"));
    let f = GgufFile::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let t0 = Instant::now();
    let t = Tokenizer::from_gguf(&f).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    eprintln!(
        "{name}: {} tokens, built in {:.1} ms",
        t.n_tokens(),
        t0.elapsed().as_secs_f64() * 1e3
    );
    t
}

/// The cases of a suite: (text, expected ids).
fn cases(name: &str) -> Vec<(String, Vec<u32>)> {
    let inp =
        std::fs::read_to_string(data_file(&format!("vocab/ggml-vocab-{name}.gguf.inp"))).unwrap();
    let out =
        std::fs::read_to_string(data_file(&format!("vocab/ggml-vocab-{name}.gguf.out"))).unwrap();
    // As test-tokenizer-0 reads it: a separator at the very end does not start another case.
    let mut texts: Vec<&str> = inp.split("\n__ggml_vocab_test__\n").collect();
    if inp.ends_with("\n__ggml_vocab_test__\n") {
        texts.pop();
    }
    let ids: Vec<Vec<u32>> = out
        .lines()
        .map(|l| l.split_whitespace().map(|t| t.parse().unwrap()).collect())
        .collect();
    assert_eq!(
        texts.len(),
        ids.len(),
        "{name}: .inp and .out disagree on the number of cases"
    );
    texts.into_iter().map(str::to_owned).zip(ids).collect()
}

/// Runs a suite; panics listing every failing case.
fn run_suite(name: &str) {
    let t = load(name);
    let cases = cases(name);
    let mut failures = Vec::new();
    let t0 = Instant::now();
    for (text, expected) in &cases {
        let got = t
            .tokenize(text, false, false)
            .unwrap_or_else(|e| panic!("{name}: {text:?}: {e}"));
        if &got != expected {
            let pieces = |ids: &[u32]| -> Vec<String> {
                ids.iter()
                    .map(|&i| format!("{i}:{:?}", t.token_piece(i).unwrap_or("?")))
                    .collect()
            };
            failures.push(format!(
                "  {text:?}\n    expected {:?}\n    got      {:?}",
                pieces(expected),
                pieces(&got)
            ));
        }
    }
    eprintln!(
        "{name}: {}/{} cases match ({:.1} ms)",
        cases.len() - failures.len(),
        cases.len(),
        t0.elapsed().as_secs_f64() * 1e3
    );
    assert!(
        failures.is_empty(),
        "{name}: {} of {} cases differ from llama.cpp:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// One test per suite. The first five are the ones llama.cpp's CMake runs; the others are every
/// other suite in `models/` with `.inp`/`.out` whose vocabulary type this crate supports (not
/// `bert-bge`, a WordPiece vocabulary; see `unsupported_vocab_types_are_reported`).
macro_rules! suites {
    ($($test:ident => $name:literal,)*) => {
        $(
            #[test]
            fn $test() {
                run_suite($name);
            }
        )*
    };
}

suites! {
    suite_llama_bpe => "llama-bpe",
    suite_llama_spm => "llama-spm",
    suite_gpt_2 => "gpt-2",
    suite_qwen2 => "qwen2",
    suite_phi_3 => "phi-3",
    suite_qwen35 => "qwen35",
    suite_command_r => "command-r",
    suite_deepseek_coder => "deepseek-coder",
    suite_deepseek_llm => "deepseek-llm",
    suite_falcon => "falcon",
    suite_gemma_4 => "gemma-4",
    suite_mpt => "mpt",
    suite_refact => "refact",
    suite_starcoder => "starcoder",
}

#[test]
fn llama_bpe_adds_bos_and_parses_special_tokens() {
    let t = load("llama-bpe");
    // test-tokenizer-0's reference: "Hello world" = [9906, 1917]; LLaMA 3 adds BOS 128000.
    assert_eq!(t.bos(), Some(128000));
    assert!(t.add_bos());
    assert_eq!(
        t.tokenize("Hello world", true, false).unwrap(),
        [128000, 9906, 1917]
    );
    assert_eq!(
        t.tokenize("<|begin_of_text|>Hello world", false, true)
            .unwrap(),
        [128000, 9906, 1917]
    );
    let plain = t
        .tokenize("<|begin_of_text|>Hello world", false, false)
        .unwrap();
    assert!(
        !plain.contains(&128000),
        "control token parsed without parse_special: {plain:?}"
    );
    assert_eq!(t.decode(&plain).unwrap(), "<|begin_of_text|>Hello world");
}

#[test]
fn phi_3_special_tokens_swallow_following_whitespace() {
    // llama.cpp gives Phi-3's special tokens `rstrip` (by general.name); "<|user|>" is id 32010.
    let t = load("phi-3");
    let ids = t.tokenize("<|user|>\n Hi", false, true).unwrap();
    assert_eq!(ids[0], 32010);
    assert_eq!(&ids[1..], t.tokenize("Hi", false, false).unwrap());
}

#[test]
fn smollm2_prompt_matches_llama_tokenize() {
    let path = data_file("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
    let f = GgufFile::open(&path).unwrap();
    let t = Tokenizer::from_gguf(&f).unwrap();
    assert!(!t.add_bos(), "SmolLM2's GGUF sets add_bos_token = false");
    // llama-tokenize: add_special and parse_special both on (see reference/smollm2/tokens.md).
    let ids = t.tokenize("The capital of France is", true, true).unwrap();
    assert_eq!(ids, [504, 3575, 282, 4649, 314]);
    assert_eq!(t.token_piece(3575), Some("Ġcapital"));
    assert_eq!(t.token_to_piece(3575).unwrap(), b" capital");
    assert_eq!(t.token_piece(7042), Some("ĠParis"));
    assert_eq!(t.decode(&ids).unwrap(), "The capital of France is");
}

#[test]
fn smollm2_chat_markers_are_special_only_when_parsed() {
    let f = GgufFile::open(data_file("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")).unwrap();
    let t = Tokenizer::from_gguf(&f).unwrap();
    let parsed = t
        .tokenize("<|im_start|>user\nHi<|im_end|>", false, true)
        .unwrap();
    let im_start = parsed[0];
    assert_eq!(t.token_piece(im_start), Some("<|im_start|>"));
    assert_eq!(t.token_piece(*parsed.last().unwrap()), Some("<|im_end|>"));
    let plain = t
        .tokenize("<|im_start|>user\nHi<|im_end|>", false, false)
        .unwrap();
    assert!(
        !plain.contains(&im_start),
        "control tokens must not be parsed: {plain:?}"
    );
    assert_eq!(t.decode(&parsed).unwrap(), "<|im_start|>user\nHi<|im_end|>");
}

#[test]
fn unsupported_vocab_types_are_reported() {
    let f = GgufFile::open(data_file("vocab/ggml-vocab-bert-bge.gguf")).unwrap();
    assert!(matches!(
        Tokenizer::from_gguf(&f),
        Err(TokenizerError::UnsupportedModel { model }) if model == "bert"
    ));
}

/// 10 kB of mixed text must tokenize in well under 50 ms (llama.cpp's own speed class).
#[test]
fn tokenizing_10_kb_is_fast() {
    let t = load("llama-bpe");
    let sample: String = cases("llama-bpe")
        .into_iter()
        .map(|(text, _)| text)
        .collect::<Vec<_>>()
        .join(" ");
    let mut text = String::new();
    while text.len() < 10_000 {
        text.push_str(&sample);
    }
    let text: String = text.chars().take(10_000).collect();
    let t0 = Instant::now();
    let ids = t.tokenize(&text, true, false).unwrap();
    let ms = t0.elapsed().as_secs_f64() * 1e3;
    eprintln!(
        "llama-bpe: {} bytes -> {} tokens in {ms:.2} ms",
        text.len(),
        ids.len()
    );
    assert!(ms < 50.0, "10 kB took {ms:.1} ms");
}
