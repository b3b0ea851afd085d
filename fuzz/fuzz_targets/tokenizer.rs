//! Fuzz target: a small vocabulary and a text, both from the input, through
//! `tt_models::tokenizer`. Building must succeed, tokenizing must return ids in range (or a
//! pre-tokenizer regex giving up), every id must have a piece and decode; and where llama.cpp's
//! rules make it so, decoding gives back the text exactly.
//!
//! Input: byte 0 = options (bit 0: SentencePiece instead of byte-level BPE; bit 1: add_special;
//! bit 2: parse_special; bits 3..8: the BPE pre-tokenizer), then extra tokens separated by 0x00
//! (each: a type selector byte, then its text), then 0xFF, then the text. The vocabulary always
//! has a token for every byte, so nothing is ever dropped.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tt_models::tokenizer::{Tokenizer, TokenizerError, VocabSpec};

/// Pre-tokenizers whose detokenization keeps spaces as they are (`clean_spaces` off), so text
/// round-trips; then some that clean them up.
const ROUND_TRIP_PRES: [&str; 12] = [
    "qwen2",
    "qwen35",
    "smollm",
    "command-r",
    "deepseek-llm",
    "deepseek-coder",
    "deepseek-v3",
    "gpt-4o",
    "tekken",
    "poro-chat",
    "seed-coder",
    "bailingmoe",
];
const OTHER_PRES: [&str; 8] = [
    "default",
    "gpt-2",
    "llama-bpe",
    "falcon",
    "starcoder",
    "mpt",
    "bloom",
    "chameleon",
];

/// GPT-2's byte → character mapping (printable bytes stand for themselves, the others for
/// U+0100 onwards).
fn byte_char(b: u8) -> char {
    let printable = |x: u8| matches!(x, 0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF);
    if printable(b) {
        char::from(b)
    } else {
        let n = (0..b).filter(|&x| !printable(x)).count() as u32;
        char::from_u32(0x100 + n).unwrap_or('?')
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&options, rest)) = data.split_first() else {
        return;
    };
    let spm = options & 1 != 0;
    let add_special = options & 2 != 0;
    let parse_special = options & 4 != 0;
    let pre_index = usize::from(options >> 3) % (ROUND_TRIP_PRES.len() + OTHER_PRES.len());
    let pre = ROUND_TRIP_PRES
        .iter()
        .chain(&OTHER_PRES)
        .nth(pre_index)
        .copied();
    let (vocab_part, text) = match rest.iter().position(|&b| b == 0xFF) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (&[][..], rest),
    };
    let text = String::from_utf8_lossy(text);

    let mut tokens: Vec<String> = Vec::new();
    let mut types: Vec<i32> = Vec::new();
    if spm {
        for t in ["<unk>", "<s>", "</s>"] {
            tokens.push(t.into());
        }
        types.extend([2, 3, 3]);
        for b in 0..=255u8 {
            tokens.push(format!("<0x{b:02X}>"));
            types.push(6);
        }
        tokens.push("▁".into());
        types.push(1);
    } else {
        for b in 0..=255u8 {
            tokens.push(byte_char(b).to_string());
            types.push(1);
        }
    }
    // Extra tokens: normal, control or user-defined.
    let mut merges = Vec::new();
    let mut has_special = false;
    for raw in vocab_part.split(|&b| b == 0).take(64) {
        let Some((&sel, body)) = raw.split_first() else {
            continue;
        };
        let t: String = String::from_utf8_lossy(body).chars().take(16).collect();
        if t.is_empty() {
            continue;
        }
        let ty = [1, 3, 4][usize::from(sel) % 3];
        has_special |= ty != 1;
        // A merge of the token's first character with the rest (it need not be a token).
        let mut chars = t.chars();
        if let Some(first) = chars.next() {
            let rest: String = chars.collect();
            if !rest.is_empty() {
                merges.push(format!("{first} {rest}"));
            }
        }
        tokens.push(t);
        types.push(ty);
    }
    let n_tokens = tokens.len();
    let scores = (0..n_tokens).map(|i| -(i as f32) / 8.0).collect();
    let spec = VocabSpec {
        model: if spm { "llama" } else { "gpt2" }.into(),
        pre: (!spm).then(|| pre.unwrap_or("default").to_owned()),
        tokens,
        scores,
        token_types: types,
        merges,
        ..VocabSpec::default()
    };
    let tok = Tokenizer::new(spec).expect("a well-formed vocabulary must build");

    let ids = match tok.tokenize(&text, add_special, parse_special) {
        Ok(ids) => ids,
        Err(TokenizerError::Regex { .. }) => return,
        Err(e) => panic!("tokenize failed: {e}"),
    };
    for &id in &ids {
        assert!((id as usize) < n_tokens, "id {id} out of range");
        tok.token_to_piece(id).expect("every id has a piece");
        assert!(tok.token_piece(id).is_some());
    }
    let decoded = tok.decode(&ids).expect("ids from tokenize decode");

    // Round trip: no BOS/EOS, no special tokens in the vocabulary (they decode to their raw
    // text, and after one SentencePiece adds a space prefix that decoding keeps), no `▁` in a
    // SentencePiece text (it decodes to a space), and spaces left as they are.
    let plain = !add_special
        && !parse_special
        && !has_special
        && !(spm && text.contains('▁'))
        && (spm || pre_index < ROUND_TRIP_PRES.len());
    if plain {
        assert_eq!(decoded, text, "round trip failed: ids {ids:?}");
    }
});
