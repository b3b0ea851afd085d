//! Byte-pair encoding with merge ranks (llama.cpp's `llm_tokenizer_bpe_session`): the text is
//! pre-tokenized into words, each word starts as one symbol per character, and the adjacent pair
//! with the lowest merge rank (leftmost on ties) is merged until no pair has a rank.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::pretokenize::{PreConfig, PreTokenizer};
use super::vocab::{StrIndex, Vocab};
use super::TokenizerError;

/// A symbol of the word being merged: a byte range of the word, linked to its neighbours.
#[derive(Clone, Copy, Debug)]
struct Symbol {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

/// A candidate merge of the symbols `left` and `right`, whose lengths summed to `size` when it
/// was queued (a different sum later means one of them changed and the candidate is stale).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Bigram {
    rank: u32,
    left: usize,
    right: usize,
    size: usize,
}

impl Ord for Bigram {
    /// The heap pops the lowest rank first, then the leftmost pair.
    fn cmp(&self, other: &Bigram) -> Ordering {
        other
            .rank
            .cmp(&self.rank)
            .then_with(|| other.left.cmp(&self.left))
    }
}

impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Bigram) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The BPE tokenizer of one vocabulary.
#[derive(Debug)]
pub(super) struct Bpe {
    config: PreConfig,
    pre: PreTokenizer,
    /// `tokenizer.ggml.merges`; the rank of a merge is its position.
    merges: Vec<String>,
    /// `"left right"` → rank (the first of duplicated merges wins, as in llama.cpp).
    ranks: StrIndex,
    /// Fallback ids for the bytes of a symbol that is not a token.
    byte_ids: [Option<u32>; 256],
}

impl Bpe {
    pub fn new(
        config: PreConfig,
        merges: Vec<String>,
        vocab: &Vocab,
    ) -> Result<Bpe, TokenizerError> {
        let pre = PreTokenizer::new(config.regexes, config.byte_encode)?;
        let ranks = StrIndex::new(merges.len(), |r| merge_key(&merges[r]), false);
        let byte_ids = if config.byte_encode {
            vocab.raw_byte_ids()
        } else {
            vocab.hex_byte_ids()
        };
        Ok(Bpe {
            config,
            pre,
            merges,
            ranks,
            byte_ids,
        })
    }

    /// Appends the tokens of `text` (one raw-text fragment) to `out`.
    pub fn tokenize(
        &self,
        vocab: &Vocab,
        text: &str,
        out: &mut Vec<u32>,
    ) -> Result<(), TokenizerError> {
        let mut words = Vec::new();
        self.pre.split(text, &mut words)?;
        let mut session = Session::default();
        for word in &words {
            self.word(vocab, word, out, &mut session);
        }
        Ok(())
    }

    fn word(&self, vocab: &Vocab, word: &str, out: &mut Vec<u32>, s: &mut Session) {
        let whole = (self.config.ignore_merges
            || (self.config.whole_newline_words && word.bytes().all(|b| b == b'\n')))
        .then(|| vocab.id(word))
        .flatten();
        if let Some(id) = whole {
            out.push(id);
            return;
        }

        s.symbols.clear();
        s.queue.clear();
        let n = word.chars().count();
        for (i, (start, c)) in word.char_indices().enumerate() {
            s.symbols.push(Symbol {
                start,
                len: c.len_utf8(),
                prev: i.checked_sub(1),
                next: (i + 1 < n).then_some(i + 1),
            });
        }
        for i in 1..s.symbols.len() {
            self.queue_pair(word, s, i - 1, i);
        }
        while let Some(b) = s.queue.pop() {
            let (l, r) = (s.symbols[b.left], s.symbols[b.right]);
            if l.len == 0 || r.len == 0 || l.len + r.len != b.size {
                continue;
            }
            s.symbols[b.left].len += r.len;
            s.symbols[b.right].len = 0;
            s.symbols[b.left].next = r.next;
            if let Some(next) = r.next {
                s.symbols[next].prev = Some(b.left);
            }
            if let Some(prev) = l.prev {
                self.queue_pair(word, s, prev, b.left);
            }
            if let Some(next) = r.next {
                self.queue_pair(word, s, b.left, next);
            }
        }

        for sym in s.symbols.iter().filter(|sym| sym.len > 0) {
            let piece = &word[sym.start..sym.start + sym.len];
            match vocab.id(piece) {
                Some(id) => out.push(id),
                // Not a token: its bytes one by one, skipping bytes without a token.
                None => out.extend(piece.bytes().filter_map(|b| self.byte_ids[usize::from(b)])),
            }
        }
    }

    fn queue_pair(&self, word: &str, s: &mut Session, left: usize, right: usize) {
        let (l, r) = (s.symbols[left], s.symbols[right]);
        s.key.clear();
        s.key.push_str(&word[l.start..l.start + l.len]);
        s.key.push(' ');
        s.key.push_str(&word[r.start..r.start + r.len]);
        if let Some(rank) = self.ranks.get(&s.key, |r| merge_key(&self.merges[r])) {
            s.queue.push(Bigram {
                rank,
                left,
                right,
                size: l.len + r.len,
            });
        }
    }
}

/// The pair a merge line stands for, as `"left right"`: llama.cpp splits the line at the first
/// space after its first byte, so that is the line itself; a line without such a space is the
/// pair ("", "").
fn merge_key(line: &str) -> &str {
    if line
        .as_bytes()
        .get(1..)
        .is_some_and(|rest| rest.contains(&b' '))
    {
        line
    } else {
        " "
    }
}

/// Buffers reused from word to word.
#[derive(Default)]
struct Session {
    symbols: Vec<Symbol>,
    queue: BinaryHeap<Bigram>,
    key: String,
}
