//! The vocabulary as the tokenizers read it: token texts, scores, attributes and the text → id
//! map (llama.cpp's `id_to_token` / `token_to_id`), plus [`StrIndex`], the hash index used for
//! both token texts and merge lines.

use std::hash::{BuildHasher, RandomState};

/// Token attribute bits (llama.cpp's `llama_token_attr`).
pub(super) mod attr {
    pub const UNKNOWN: u16 = 1 << 0;
    pub const UNUSED: u16 = 1 << 1;
    pub const NORMAL: u16 = 1 << 2;
    pub const CONTROL: u16 = 1 << 3;
    pub const USER_DEFINED: u16 = 1 << 4;
    pub const BYTE: u16 = 1 << 5;
    pub const LSTRIP: u16 = 1 << 7;
    pub const RSTRIP: u16 = 1 << 8;

    /// The attribute of a GGUF `tokenizer.ggml.token_type` value.
    pub fn from_token_type(t: i32) -> u16 {
        match t {
            1 => NORMAL,
            2 => UNKNOWN,
            3 => CONTROL,
            4 => USER_DEFINED,
            5 => UNUSED,
            6 => BYTE,
            // 0 (undefined) and anything unknown: no attribute at all.
            _ => 0,
        }
    }
}

/// A hash index over strings stored elsewhere (token texts, merge lines): open addressing on
/// their positions, so a 128k-token vocabulary costs one `Vec<u64>` instead of 128k key copies.
/// Each slot keeps the upper half of the key's hash next to the position, so probing rarely
/// touches a string it does not want. Keys are hashed with std's randomly keyed SipHash, so a
/// crafted vocabulary cannot make lookups quadratic.
#[derive(Debug)]
pub(super) struct StrIndex {
    /// `hash >> 32 << 32 | (position + 1)` per slot, 0 if empty; a power of two, at most half
    /// full.
    slots: Vec<u64>,
    hasher: RandomState,
}

impl StrIndex {
    /// Indexes the strings `key(0..n)`. For equal strings the last position wins if
    /// `last_wins`, else the first.
    pub fn new<'a>(n: usize, key: impl Fn(usize) -> &'a str, last_wins: bool) -> StrIndex {
        let mut index = StrIndex {
            slots: vec![0; (2 * n).next_power_of_two().max(2)],
            hasher: RandomState::new(),
        };
        for pos in 0..n {
            let k = key(pos);
            let (mut i, tag) = index.start(k);
            let entry = tag | (pos as u64 + 1);
            loop {
                let slot = index.slots[i];
                if slot == 0 {
                    index.slots[i] = entry;
                    break;
                }
                if slot & TAG_MASK == tag && key(position(slot)) == k {
                    if last_wins {
                        index.slots[i] = entry;
                    }
                    break;
                }
                i = (i + 1) & (index.slots.len() - 1);
            }
        }
        index
    }

    /// The first slot to probe for `s`, and its tag.
    fn start(&self, s: &str) -> (usize, u64) {
        let h = self.hasher.hash_one(s.as_bytes());
        (h as usize & (self.slots.len() - 1), h & TAG_MASK)
    }

    /// The position of `s`; `key` must be the function the index was built with.
    pub fn get<'a>(&self, s: &str, key: impl Fn(usize) -> &'a str) -> Option<u32> {
        let (mut i, tag) = self.start(s);
        loop {
            let slot = self.slots[i];
            if slot == 0 {
                return None;
            }
            if slot & TAG_MASK == tag && key(position(slot)) == s {
                return Some(position(slot) as u32);
            }
            i = (i + 1) & (self.slots.len() - 1);
        }
    }
}

/// The hash bits a [`StrIndex`] slot keeps.
const TAG_MASK: u64 = 0xFFFF_FFFF_0000_0000;

/// The string position a non-empty [`StrIndex`] slot holds.
fn position(slot: u64) -> usize {
    (slot & 0xFFFF_FFFF) as usize - 1
}

/// Token texts and their properties, indexed by token id.
#[derive(Debug)]
pub(super) struct Vocab {
    pub texts: Vec<String>,
    pub scores: Vec<f32>,
    pub attrs: Vec<u16>,
    /// Text → id. For duplicated texts the last id wins (llama.cpp's map does the same, then
    /// refuses the vocabulary with an assertion; here it is accepted).
    ids: StrIndex,
}

impl Vocab {
    /// Builds the vocabulary; `scores` and `attrs` have one entry per text.
    pub fn new(texts: Vec<String>, scores: Vec<f32>, attrs: Vec<u16>) -> Vocab {
        let ids = StrIndex::new(texts.len(), |i| &texts[i], true);
        Vocab {
            texts,
            scores,
            attrs,
            ids,
        }
    }

    pub fn len(&self) -> usize {
        self.texts.len()
    }

    /// The id of a token text.
    pub fn id(&self, text: &str) -> Option<u32> {
        self.ids.get(text, |i| &self.texts[i])
    }

    /// The id of the `<0xXX>` byte token for every byte.
    pub fn hex_byte_ids(&self) -> [Option<u32>; 256] {
        std::array::from_fn(|b| self.id(&format!("<0x{b:02X}>")))
    }

    /// The id of the one-byte token for every byte (only ASCII bytes can be a token text).
    pub fn raw_byte_ids(&self) -> [Option<u32>; 256] {
        std::array::from_fn(|b| {
            u8::try_from(b)
                .ok()
                .filter(u8::is_ascii)
                .and_then(|b| self.id(char::from(b).encode_utf8(&mut [0; 4])))
        })
    }
}
