//! Code point classes and the GPT-2 byte ↔ character mapping, as llama.cpp's `src/unicode.cpp`
//! defines them. The classes come from llama.cpp's own table (`unicode_table.rs`), so that
//! `\p{L}`, `\p{N}`, `\s` … mean exactly what they mean in llama.cpp, whatever Unicode version
//! the Rust toolchain ships.

use super::unicode_table::{RANGE_FLAGS, RANGE_STARTS, WHITESPACE};

/// The class bits of one code point (llama.cpp's `unicode_cpt_flags`). Exactly one category bit
/// is set for every code point; `CptFlags::NONE` (no bit at all) stands for "past the end of the
/// text", which the hand-written splitters use as a sentinel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct CptFlags(u16);

impl CptFlags {
    /// Past the end of the text: no class at all.
    pub const NONE: CptFlags = CptFlags(0);
    /// `\p{N}`.
    pub const NUMBER: u16 = 0x0002;
    /// `\p{L}`.
    pub const LETTER: u16 = 0x0004;
    /// `\p{M}`.
    pub const ACCENT_MARK: u16 = 0x0010;
    /// `\p{P}`.
    pub const PUNCTUATION: u16 = 0x0020;
    /// `\p{S}`. (The other category bits, 0x0001 unassigned, 0x0008 `\p{Z}` and 0x0080
    /// `\p{C}`, are named by no pre-tokenizer.)
    pub const SYMBOL: u16 = 0x0040;
    /// `\s`, independent of the category.
    pub const WHITESPACE: u16 = 0x0100;

    /// The classes of `c`.
    pub fn of(c: char) -> CptFlags {
        let cpt = u32::from(c);
        // RANGE_STARTS[0] == 0, so the partition point is at least 1.
        let i = RANGE_STARTS.partition_point(|&start| start <= cpt) - 1;
        let mut bits = u16::from(RANGE_FLAGS[i]);
        if WHITESPACE.binary_search(&cpt).is_ok() {
            bits |= CptFlags::WHITESPACE;
        }
        CptFlags(bits)
    }

    /// The classes of `c`, or [`CptFlags::NONE`] past the end.
    pub fn of_opt(c: Option<char>) -> CptFlags {
        c.map_or(CptFlags::NONE, CptFlags::of)
    }

    /// The category bit alone (without `WHITESPACE`).
    pub fn category(self) -> u16 {
        self.0 & 0x00FF
    }

    /// True for every code point of the text (false only for [`CptFlags::NONE`]).
    pub fn is_some(self) -> bool {
        self.0 != 0
    }

    pub fn is_letter(self) -> bool {
        self.0 & CptFlags::LETTER != 0
    }

    pub fn is_number(self) -> bool {
        self.0 & CptFlags::NUMBER != 0
    }

    pub fn is_accent_mark(self) -> bool {
        self.0 & CptFlags::ACCENT_MARK != 0
    }

    pub fn is_whitespace(self) -> bool {
        self.0 & CptFlags::WHITESPACE != 0
    }
}

/// True if byte `b` is one of GPT-2's "printable" bytes, which stand for themselves:
/// `!`..=`~`, `¡`..=`¬`, `®`..=`ÿ`.
const fn is_printable_byte(b: u8) -> bool {
    matches!(b, 0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF)
}

/// GPT-2's byte → character table: printable bytes map to the same code point, the other 68
/// bytes (in ascending order) to U+0100, U+0101, … So every byte has a visible character and
/// byte-level BPE can work on text.
const BYTE_TO_CHAR: [char; 256] = {
    let mut table = ['\0'; 256];
    let mut n = 0u32;
    let mut b = 0usize;
    while b < 256 {
        let cpt = if is_printable_byte(b as u8) {
            b as u32
        } else {
            n += 1;
            255 + n
        };
        table[b] = match char::from_u32(cpt) {
            Some(c) => c,
            None => '\0',
        };
        b += 1;
    }
    table
};

/// The character GPT-2's byte-level encoding uses for byte `b` (`' '` → `'Ġ'`, `'\n'` → `'Ċ'`).
pub(super) fn byte_to_char(b: u8) -> char {
    BYTE_TO_CHAR[usize::from(b)]
}

/// The byte a GPT-2 byte-level character stands for, or `None` for any other character.
pub(super) fn char_to_byte(c: char) -> Option<u8> {
    let cpt = u32::from(c);
    if let Ok(b) = u8::try_from(cpt) {
        if is_printable_byte(b) {
            return Some(b);
        }
    }
    if !(0x100..0x100 + 68).contains(&cpt) {
        return None;
    }
    // The n-th non-printable byte.
    let n = (cpt - 0x100) as usize;
    (0u8..=255).filter(|&b| !is_printable_byte(b)).nth(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpt2_byte_mapping_round_trips() {
        assert_eq!(byte_to_char(b' '), 'Ġ');
        assert_eq!(byte_to_char(b'\n'), 'Ċ');
        assert_eq!(byte_to_char(b'a'), 'a');
        assert_eq!(byte_to_char(0xAD), 'Ń');
        for b in 0..=255u8 {
            assert_eq!(char_to_byte(byte_to_char(b)), Some(b), "byte {b:#04x}");
        }
        assert_eq!(char_to_byte('€'), None);
        assert_eq!(char_to_byte(' '), None);
    }

    #[test]
    fn classes_follow_llama_cpp_table() {
        assert!(CptFlags::of('a').is_letter());
        assert!(CptFlags::of('é').is_letter());
        assert!(CptFlags::of('7').is_number());
        assert!(CptFlags::of('٣').is_number());
        assert!(CptFlags::of(' ').is_whitespace());
        assert_eq!(CptFlags::of(' ').category(), 0x0008);
        assert!(CptFlags::of('\u{3000}').is_whitespace());
        assert!(!CptFlags::of('\u{200B}').is_whitespace());
        assert_eq!(CptFlags::of('$').category(), CptFlags::SYMBOL);
        assert_eq!(CptFlags::of('!').category(), CptFlags::PUNCTUATION);
        assert_eq!(CptFlags::of('\u{301}').category(), CptFlags::ACCENT_MARK);
        assert_eq!(CptFlags::of('\u{10FFFF}').category(), 0x0001);
        assert!(!CptFlags::NONE.is_some());
    }
}
