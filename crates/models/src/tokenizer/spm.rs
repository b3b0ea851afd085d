//! SentencePiece BPE with scores (llama.cpp's `llm_tokenizer_spm_session`): the text (spaces
//! already escaped to `▁`) starts as one symbol per character, and the adjacent pair whose
//! concatenation is the token with the highest score (leftmost on ties) is merged until no pair
//! is a token. Symbols left that are not tokens fall back to their bytes' `<0xXX>` tokens.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::vocab::Vocab;
use super::TokenizerError;

/// A symbol: a byte range of the text, linked to its neighbours.
#[derive(Clone, Copy, Debug)]
struct Symbol {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

/// A candidate merge; `size` is the summed length when queued (see `bpe::Bigram`).
#[derive(Clone, Copy, Debug)]
struct Bigram {
    score: f32,
    left: usize,
    right: usize,
    size: usize,
}

impl Ord for Bigram {
    /// The heap pops the highest score first, then the leftmost pair. Scores compare as C++
    /// floats do (-0.0 == 0.0); NaN, which no vocabulary has, compares equal to everything.
    fn cmp(&self, other: &Bigram) -> Ordering {
        self.score
            .partial_cmp(&other.score)
            .unwrap_or(Ordering::Equal)
            .then_with(|| other.left.cmp(&self.left))
    }
}

impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Bigram) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Bigram {
    fn eq(&self, other: &Bigram) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Bigram {}

/// The SentencePiece tokenizer of one vocabulary.
#[derive(Debug)]
pub(super) struct Spm {
    /// llama.cpp's `byte_to_token`: the `<0xXX>` token, else the one-byte token.
    byte_ids: [Option<u32>; 256],
}

impl Spm {
    pub fn new(vocab: &Vocab) -> Spm {
        let hex = vocab.hex_byte_ids();
        let raw = vocab.raw_byte_ids();
        Spm {
            byte_ids: std::array::from_fn(|b| hex[b].or(raw[b])),
        }
    }

    /// Appends the tokens of `text` (escaped, with its space prefix) to `out`. Fails if a
    /// character is not in the vocabulary and one of its bytes has no token (llama.cpp throws).
    pub fn tokenize(
        &self,
        vocab: &Vocab,
        text: &str,
        out: &mut Vec<u32>,
    ) -> Result<(), TokenizerError> {
        let n = text.chars().count();
        let mut symbols: Vec<Symbol> = text
            .char_indices()
            .enumerate()
            .map(|(i, (start, c))| Symbol {
                start,
                len: c.len_utf8(),
                prev: i.checked_sub(1),
                next: (i + 1 < n).then_some(i + 1),
            })
            .collect();
        let mut queue = BinaryHeap::new();
        let mut key = String::new();
        let mut queue_pair =
            |symbols: &[Symbol], queue: &mut BinaryHeap<Bigram>, left: usize, right: usize| {
                let (l, r) = (symbols[left], symbols[right]);
                key.clear();
                key.push_str(&text[l.start..l.start + l.len + r.len]);
                if let Some(id) = vocab.id(&key) {
                    queue.push(Bigram {
                        score: vocab.scores[id as usize],
                        left,
                        right,
                        size: l.len + r.len,
                    });
                }
            };
        for i in 1..symbols.len() {
            queue_pair(&symbols, &mut queue, i - 1, i);
        }
        while let Some(b) = queue.pop() {
            let (l, r) = (symbols[b.left], symbols[b.right]);
            if l.len == 0 || r.len == 0 || l.len + r.len != b.size {
                continue;
            }
            symbols[b.left].len += r.len;
            symbols[b.right].len = 0;
            symbols[b.left].next = r.next;
            if let Some(next) = r.next {
                symbols[next].prev = Some(b.left);
            }
            if let Some(prev) = l.prev {
                queue_pair(&symbols, &mut queue, prev, b.left);
            }
            if let Some(next) = r.next {
                queue_pair(&symbols, &mut queue, b.left, next);
            }
        }

        // Every merged symbol is a token (a pair is queued only if it is one), so llama.cpp's
        // `rev_merge` re-segmentation never applies: a symbol is a token or a single character.
        for sym in symbols.iter().filter(|sym| sym.len > 0) {
            let piece = &text[sym.start..sym.start + sym.len];
            if let Some(id) = vocab.id(piece) {
                out.push(id);
                continue;
            }
            for b in piece.bytes() {
                let id =
                    self.byte_ids[usize::from(b)].ok_or(TokenizerError::NoByteToken { byte: b })?;
                out.push(id);
            }
        }
        Ok(())
    }
}
