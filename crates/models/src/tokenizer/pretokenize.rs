//! BPE pre-tokenization: splitting text into words before merges, as llama.cpp's
//! `unicode_regex_split` does it.
//!
//! A pre-tokenizer is a list of regexes applied one after the other; each splits every current
//! piece further, and both the matches and the text between them become pieces. llama.cpp runs
//! the most common regexes (GPT-2's, LLaMA 3's, Qwen 2's, Qwen 3.5's, "split at newlines") with
//! hand-written matchers, reproduced here in [`Pieces`] — their results differ from a regex
//! engine's in corner cases, and those corner cases are what the conformance suites test. Every
//! other regex goes through `std::regex` on a *collapsed* text: each non-ASCII code point becomes
//! one placeholder per category (letter, number, punctuation, mark, symbol, other) or `\v` for
//! whitespace, and `\p{L}` in the regex becomes `[<letter placeholder>A-Za-z]`. This module does
//! the same collapse and runs the rewritten regex with `fancy-regex` (which, like ECMAScript,
//! picks the first alternative that matches and supports look-ahead). Regexes without `\p{..}`
//! run on the real code points, with non-ASCII whitespace turned into `\v` first.

use std::collections::HashMap;

use super::unicode::{byte_to_char, CptFlags};
use super::TokenizerError;

/// How a `tokenizer.ggml.pre` name configures the BPE tokenizer (llama.cpp's pre-type switch in
/// `llama_vocab::impl::load` and `llm_tokenizer_bpe`'s constructor).
#[derive(Clone, Debug)]
pub(super) struct PreConfig {
    /// The splitting regexes, applied in order.
    pub regexes: &'static [&'static str],
    /// Whole words found in the vocabulary are emitted without running merges.
    pub ignore_merges: bool,
    /// Default of `add_bos` before the GGUF key overrides it.
    pub add_bos: bool,
    /// BOS is added even if the GGUF key says not to (llama.cpp's Gemma 4 workaround).
    pub force_add_bos: bool,
    /// Detokenization removes spaces before `?!.,` and some apostrophes.
    pub clean_spaces: bool,
    /// Words are byte-encoded GPT-2 style (false: raw UTF-8 with `<0xXX>` byte tokens).
    pub byte_encode: bool,
    /// Spaces become `▁` before tokenization (SentencePiece-style BPE).
    pub escape_whitespaces: bool,
    /// The BOS id defaults to none instead of 11.
    pub no_default_bos: bool,
    /// Words made only of newlines are looked up whole first (Gemma 4).
    pub whole_newline_words: bool,
}

const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
const LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const LLAMA3_ORIGINAL: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN35: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const NEWLINES: &str = r"[^\n]+|[\n]+";
const DEFAULT: &[&str] = &[r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", r"[0-9][0-9][0-9]"];
const STARCODER: &[&str] = &[r"\p{N}", GPT2];
const DEEPSEEK_LLM: &[&str] = &[
    r"[\r\n]",
    // Written with escapes: several of these letters have canonical equivalents (U+1FD3,
    // U+2126, U+212A …) that an editor could silently normalize, reversing a range.
    "\\s?[A-Za-z\u{B5}\u{C0}-\u{D6}\u{D8}-\u{F6}\u{F8}-\u{1BA}\u{1BC}-\u{1BF}\
     \u{1C4}-\u{293}\u{295}-\u{2AF}\u{370}-\u{373}\u{376}\u{377}\u{37B}-\u{37D}\u{37F}\
     \u{386}\u{388}-\u{38A}\u{38C}\u{38E}-\u{3A1}\u{3A3}-\u{3F5}\u{3F7}-\u{481}\
     \u{48A}-\u{52F}\u{531}-\u{556}\u{10A0}-\u{10C5}\u{13A0}-\u{13F5}\u{13F8}-\u{13FD}\
     \u{1C90}-\u{1CBA}\u{1CBD}-\u{1CBF}\u{1D00}-\u{1D2B}\u{1D6B}-\u{1D77}\
     \u{1D79}-\u{1D9A}\u{1E00}-\u{1F15}\u{1F18}-\u{1F1D}\u{1F20}-\u{1F45}\
     \u{1F48}-\u{1F4D}\u{1F50}-\u{1F57}\u{1F59}\u{1F5B}\u{1F5D}\u{1F5F}-\u{1F7D}\
     \u{1F80}-\u{1FB4}\u{1FB6}-\u{1FBC}\u{1FBE}\u{1FC2}-\u{1FC4}\u{1FC6}-\u{1FCC}\
     \u{1FD0}-\u{1FD3}\u{1FD6}-\u{1FDB}\u{1FE0}-\u{1FEC}\u{1FF2}-\u{1FF4}\
     \u{1FF6}-\u{1FFC}\u{2102}\u{2107}\u{210A}-\u{2113}\u{2115}\u{2119}-\u{211D}\u{2124}\
     \u{2126}\u{2128}\u{212A}-\u{212D}\u{212F}-\u{2134}\u{2139}\u{213C}-\u{213F}\
     \u{2145}-\u{2149}\u{214E}\u{2183}\u{2184}\u{2C00}-\u{2C7B}\u{2C7E}-\u{2CE4}\
     \u{2CEB}-\u{2CEE}\u{2CF2}\u{2CF3}\u{A640}-\u{A66D}\u{A680}-\u{A69B}\u{A722}-\u{A76F}\
     \u{A771}-\u{A787}\u{A78B}-\u{A78E}\u{AB70}-\u{ABBF}\u{FB00}-\u{FB06}\
     \u{FB13}-\u{FB17}\u{FF21}-\u{FF3A}\u{FF41}-\u{FF5A}\u{10400}-\u{1044F}\
     \u{104B0}-\u{104D3}\u{104D8}-\u{104FB}\u{10C80}-\u{10CB2}\u{10CC0}-\u{10CF2}\
     \u{118A0}-\u{118DF}\u{1E900}-\u{1E943}]+",
    r"\s?[!-/:-~！-／：-～‘-‟　-。]+",
    r"\s+$",
    r"[一-龥ࠀ-一가-퟿]+",
    r"\p{N}+",
];
const DEEPSEEK3: &[&str] = &[
    r"\p{N}{1,3}",
    r"[一-龥぀-ゟ゠-ヿ]+",
    r##"[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"##,
];
const DEEPSEEK_CODER: &[&str] = &[
    r"[\r\n]",
    r"\s?\p{L}+",
    r"\s?\p{P}+",
    r"[一-龥ࠀ-一가-퟿]+",
    r"\p{N}",
];
const FALCON: &[&str] = &[r"[\p{P}\$\+<=>\^~\|`]+", GPT2, r"[0-9][0-9][0-9]"];
const BLOOM: &[&str] = &[r" ?[^(\s|.,!?…。，、।۔،)]+"];
const VIKING: &[&str] = &[r" ?[^(\s|.,!?…。，、।۔،)]+", r"\p{N}"];
const TEKKEN: &str = r"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const GPT4O: &str = r"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const CHAMELEON: &[&str] = &[
    r"<sentinel:[0-9]+>",
    r"(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z",
    r"([\t\n]|    |  )",
    r"\p{N}",
    r"[\p{P}!-/:-@\[-`{-~]",
    GPT2,
];
const SEED_CODER: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+";
const BAILINGMOE: &str = r"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+";

impl PreConfig {
    /// The configuration for a `tokenizer.ggml.pre` value (`None` = key absent), or `None` if
    /// llama.cpp does not know the name or it needs a splitter this crate does not implement.
    pub fn for_name(pre: Option<&str>) -> Option<PreConfig> {
        let base = PreConfig {
            regexes: DEFAULT,
            ignore_merges: false,
            add_bos: false,
            force_add_bos: false,
            clean_spaces: true,
            byte_encode: true,
            escape_whitespaces: false,
            no_default_bos: false,
            whole_newline_words: false,
        };
        let keep_spaces = |regexes| PreConfig {
            regexes,
            clean_spaces: false,
            ..base.clone()
        };
        let with = |regexes| PreConfig {
            regexes,
            ..base.clone()
        };
        let Some(pre) = pre else {
            return Some(base);
        };
        Some(match pre {
            "default" => base,
            "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral"
            | "midm-2.0" | "lfm2" | "jina-v5-nano" => PreConfig {
                regexes: &[LLAMA3],
                ignore_merges: true,
                add_bos: true,
                ..base
            },
            "dbrx" | "smaug-bpe" => with(&[LLAMA3]),
            "jais-2" => return None,
            "deepseek-llm" => keep_spaces(DEEPSEEK_LLM),
            "deepseek-coder" => keep_spaces(DEEPSEEK_CODER),
            "deepseek-v3" | "hunyuan-dense" | "hy_v4" | "joyai-llm" => keep_spaces(DEEPSEEK3),
            "falcon" => with(FALCON),
            "mpt" | "gpt-2" | "phi-2" | "jina-es" | "jina-de" | "gigachat" | "jina-v2-es"
            | "jina-v2-de" | "a.x-4.0" | "mellum" | "modern-bert" | "jina-v1-en"
            | "jina-v2-code" | "roberta-bpe" | "olmo" | "exaone4" | "jais" => with(&[GPT2]),
            "trillion" | "granite-docling" => keep_spaces(&[GPT2]),
            "starcoder" | "refact" | "codeshell" | "exaone" | "minerva-7b" | "mellum2" => {
                with(STARCODER)
            }
            "command-r" | "smollm" => keep_spaces(STARCODER),
            "qwen2" | "deepseek-r1-qwen" | "kormo" | "f2llmv2" | "hunyuan" | "solar-open"
            | "grok-2" => keep_spaces(&[QWEN2]),
            "megrez" | "stablelm2" => with(&[QWEN2]),
            "qwen35" => keep_spaces(&[QWEN35]),
            "laguna" => keep_spaces(&[NEWLINES, QWEN2]),
            "poro-chat" => keep_spaces(BLOOM),
            "bloom" | "gpt3-finnish" => with(BLOOM),
            "viking" => keep_spaces(VIKING),
            "chatglm-bpe" => PreConfig {
                regexes: &[LLAMA3],
                no_default_bos: true,
                ..base
            },
            "glm4" | "glm5" => PreConfig {
                regexes: &[LLAMA3],
                no_default_bos: true,
                ignore_merges: true,
                ..base
            },
            "tekken" => PreConfig {
                regexes: &[TEKKEN],
                clean_spaces: false,
                ignore_merges: true,
                add_bos: true,
                ..base
            },
            "chameleon" => PreConfig {
                regexes: CHAMELEON,
                add_bos: true,
                clean_spaces: false,
                ..base
            },
            "gpt-4o" | "llama4" | "kanana2" | "talkie" | "minimax-m2" => keep_spaces(&[GPT4O]),
            "seed-coder" => keep_spaces(&[SEED_CODER]),
            "bailingmoe" | "bailingmoe2" | "llada-moe" => keep_spaces(&[BAILINGMOE]),
            "gemma4" | "granite-embed-multi-311m" => PreConfig {
                regexes: &[NEWLINES],
                byte_encode: false,
                escape_whitespaces: true,
                add_bos: true,
                force_add_bos: true,
                whole_newline_words: pre == "gemma4",
                ..base
            },
            "sarvam-moe" => PreConfig {
                regexes: &[NEWLINES],
                byte_encode: false,
                escape_whitespaces: true,
                clean_spaces: false,
                ..base
            },
            _ => return None,
        })
    }
}

/// One step of a pre-tokenizer.
#[derive(Debug)]
enum Splitter {
    /// llama.cpp's hand-written GPT-2 matcher.
    Gpt2,
    /// llama.cpp's hand-written LLaMA 3 matcher (`\p{N}{1,3}`), or Qwen 2's (`\p{N}`).
    Llama3 { max_digits: usize },
    /// llama.cpp's hand-written Qwen 3.5 matcher (marks join letters).
    Qwen35,
    /// Runs of newlines and runs of anything else.
    Newlines,
    /// A regex run by `fancy-regex`, on the collapsed text if `collapsed`.
    Regex {
        re: Box<fancy_regex::Regex>,
        collapsed: bool,
    },
}

/// A list of splitters plus whether words are byte-encoded afterwards.
#[derive(Debug)]
pub(super) struct PreTokenizer {
    splitters: Vec<Splitter>,
    byte_encode: bool,
}

/// The placeholder a non-ASCII code point of `category` becomes in the collapsed text
/// (llama.cpp uses the bytes 0xD0..=0xD5; private-use characters serve the same purpose here).
fn placeholder(category: u16) -> char {
    match category {
        CptFlags::NUMBER => '\u{E0D1}',
        CptFlags::LETTER => '\u{E0D2}',
        CptFlags::PUNCTUATION => '\u{E0D3}',
        CptFlags::ACCENT_MARK => '\u{E0D4}',
        CptFlags::SYMBOL => '\u{E0D5}',
        _ => '\u{E0D0}',
    }
}

/// The `\p{..}` names llama.cpp collapses, and the category each stands for (`\p{Lu}` and the
/// other letter subsets all collapse to "letter").
const CATEGORY_NAMES: [(&str, u16); 10] = [
    ("N", CptFlags::NUMBER),
    ("L", CptFlags::LETTER),
    ("P", CptFlags::PUNCTUATION),
    ("M", CptFlags::ACCENT_MARK),
    ("S", CptFlags::SYMBOL),
    ("Lu", CptFlags::LETTER),
    ("Ll", CptFlags::LETTER),
    ("Lt", CptFlags::LETTER),
    ("Lm", CptFlags::LETTER),
    ("Lo", CptFlags::LETTER),
];

/// ECMAScript `\s` on the (collapsed) text: `\t \n \v \f \r` and space.
const WS_MEMBERS: &str = r"\x{9}-\x{D}\x{20}";

/// Class members (for inside `[..]`) of a collapsed category: its placeholder and the ASCII
/// characters of that category.
fn category_members(category: u16) -> String {
    let mut out = format!(r"\x{{{:X}}}", u32::from(placeholder(category)));
    for b in 0u8..128 {
        if CptFlags::of(char::from(b)).category() == category {
            out.push_str(&format!(r"\x{{{b:X}}}"));
        }
    }
    out
}

/// A literal character, escaped so it means itself inside and outside a class.
fn literal(c: char) -> String {
    format!(r"\x{{{:X}}}", u32::from(c))
}

/// Rewrites one of llama.cpp's regexes (ECMAScript syntax as `std::regex` reads it) into a
/// `fancy-regex` pattern over the collapsed text (if it uses `\p{..}`) or the real text.
/// Returns the pattern and whether it runs on the collapsed text.
fn translate(expr: &str) -> Result<(String, bool), String> {
    let collapsed = CATEGORY_NAMES
        .iter()
        .any(|(name, _)| expr.contains(&format!(r"\p{{{name}}}")));
    if collapsed && !expr.is_ascii() {
        return Err("regex mixes unicode categories and non-ASCII characters".into());
    }
    let chars: Vec<char> = expr.chars().collect();
    let mut out = String::with_capacity(expr.len() * 2);
    let mut in_class = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        if c == '\\' {
            let Some(&e) = chars.get(i) else {
                return Err("regex ends with a backslash".into());
            };
            i += 1;
            match e {
                'p' => {
                    let rest: String = chars[i..].iter().collect();
                    let name = rest
                        .strip_prefix('{')
                        .and_then(|r| r.split_once('}'))
                        .map(|(name, _)| name.to_owned())
                        .ok_or("malformed \\p{..}")?;
                    let category = CATEGORY_NAMES
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map(|&(_, cat)| cat)
                        .ok_or_else(|| format!("unsupported class \\p{{{name}}}"))?;
                    i += name.chars().count() + 2;
                    let members = category_members(category);
                    if in_class {
                        out.push_str(&members);
                    } else {
                        out.push_str(&format!("[{members}]"));
                    }
                }
                's' if in_class => out.push_str(WS_MEMBERS),
                's' => out.push_str(&format!("[{WS_MEMBERS}]")),
                'S' if !in_class => out.push_str(&format!("[^{WS_MEMBERS}]")),
                'd' if in_class => out.push_str("0-9"),
                'd' => out.push_str("[0-9]"),
                'D' if !in_class => out.push_str("[^0-9]"),
                'w' if in_class => out.push_str("0-9A-Za-z_"),
                'w' => out.push_str("[0-9A-Za-z_]"),
                'W' if !in_class => out.push_str("[^0-9A-Za-z_]"),
                'r' => out.push_str(&literal('\r')),
                'n' => out.push_str(&literal('\n')),
                't' => out.push_str(&literal('\t')),
                'f' => out.push_str(&literal('\u{C}')),
                'v' => out.push_str(&literal('\u{B}')),
                'x' | 'u' => {
                    let n = if e == 'x' { 2 } else { 4 };
                    let hex: String = chars
                        .get(i..i + n)
                        .ok_or("short hex escape")?
                        .iter()
                        .collect();
                    let cpt = u32::from_str_radix(&hex, 16).map_err(|_| "bad hex escape")?;
                    let ch = char::from_u32(cpt).ok_or("bad hex escape")?;
                    out.push_str(&literal(ch));
                    i += n;
                }
                e if e.is_ascii_alphanumeric() => {
                    return Err(format!("unsupported escape \\{e}"));
                }
                e => out.push_str(&literal(e)),
            }
        } else if in_class {
            match c {
                ']' => {
                    in_class = false;
                    out.push(']');
                }
                '-' => out.push('-'),
                c => out.push_str(&literal(c)),
            }
        } else {
            match c {
                '[' => {
                    in_class = true;
                    out.push('[');
                    if chars.get(i) == Some(&'^') {
                        out.push('^');
                        i += 1;
                    }
                }
                '.' => out.push_str(r"[^\x{A}\x{D}\x{2028}\x{2029}]"),
                c if c.is_ascii() => out.push(c),
                c => out.push_str(&literal(c)),
            }
        }
    }
    if in_class {
        return Err("unterminated character class".into());
    }
    Ok((out, collapsed))
}

impl PreTokenizer {
    /// Compiles the splitters for `regexes` (llama.cpp's exact strings select its hand-written
    /// matchers).
    pub fn new(regexes: &[&str], byte_encode: bool) -> Result<PreTokenizer, TokenizerError> {
        let splitters = regexes
            .iter()
            .map(|&expr| {
                Ok(match expr {
                    GPT2 => Splitter::Gpt2,
                    LLAMA3 | LLAMA3_ORIGINAL => Splitter::Llama3 { max_digits: 3 },
                    QWEN2 => Splitter::Llama3 { max_digits: 1 },
                    QWEN35 => Splitter::Qwen35,
                    NEWLINES => Splitter::Newlines,
                    _ => {
                        let bad = |reason: String| TokenizerError::Regex {
                            regex: expr.to_owned(),
                            reason,
                        };
                        let (pattern, collapsed) = translate(expr).map_err(bad)?;
                        let re =
                            fancy_regex::Regex::new(&pattern).map_err(|e| bad(e.to_string()))?;
                        Splitter::Regex {
                            re: Box::new(re),
                            collapsed,
                        }
                    }
                })
            })
            .collect::<Result<_, TokenizerError>>()?;
        Ok(PreTokenizer {
            splitters,
            byte_encode,
        })
    }

    /// Splits `text` into words, appended to `words` (byte-encoded if configured).
    pub fn split(&self, text: &str, words: &mut Vec<String>) -> Result<(), TokenizerError> {
        let cpts: Vec<char> = text.chars().collect();
        if cpts.is_empty() {
            return Ok(());
        }
        let mut lens = vec![cpts.len()];
        let mut transformed: HashMap<bool, (String, Vec<usize>)> = HashMap::new();
        for splitter in &self.splitters {
            let mut pieces = Pieces::new(&cpts);
            let mut start = 0;
            for &len in &lens {
                let (ini, end) = (start, start + len);
                start = end;
                match splitter {
                    Splitter::Gpt2 => pieces.gpt2(ini, end),
                    Splitter::Llama3 { max_digits } => pieces.llama3(ini, end, *max_digits, false),
                    Splitter::Qwen35 => pieces.llama3(ini, end, 1, true),
                    Splitter::Newlines => pieces.newlines(ini, end),
                    Splitter::Regex { re, collapsed } => {
                        let (hay, char_at) = transformed
                            .entry(*collapsed)
                            .or_insert_with(|| transform(&cpts, *collapsed));
                        pieces.regex(re, hay, char_at, ini, end)?;
                    }
                }
            }
            lens = pieces.lens;
        }
        let mut start = 0;
        let mut utf8 = [0u8; 4];
        for len in lens {
            let word = &cpts[start..start + len];
            start += len;
            let mut w = String::with_capacity(len * 2);
            for &c in word {
                if self.byte_encode {
                    for &b in c.encode_utf8(&mut utf8).as_bytes() {
                        w.push(byte_to_char(b));
                    }
                } else {
                    w.push(c);
                }
            }
            words.push(w);
        }
        Ok(())
    }
}

/// The text a generic regex runs on, and the byte offset of every code point in it (plus the
/// end): collapsed (ASCII kept, other code points → category placeholder or `\v`) or real (only
/// non-ASCII whitespace → `\v`).
fn transform(cpts: &[char], collapsed: bool) -> (String, Vec<usize>) {
    let mut s = String::with_capacity(cpts.len());
    let mut offsets = Vec::with_capacity(cpts.len() + 1);
    for &c in cpts {
        offsets.push(s.len());
        if c.is_ascii() {
            s.push(c);
            continue;
        }
        let flags = CptFlags::of(c);
        if flags.is_whitespace() {
            s.push('\u{B}');
        } else if collapsed {
            s.push(placeholder(flags.category()));
        } else {
            s.push(c);
        }
    }
    offsets.push(s.len());
    (s, offsets)
}

/// Collects the lengths (in code points) of the pieces one splitter produces.
struct Pieces<'a> {
    cpts: &'a [char],
    lens: Vec<usize>,
}

impl<'a> Pieces<'a> {
    fn new(cpts: &'a [char]) -> Pieces<'a> {
        Pieces {
            cpts,
            lens: Vec::with_capacity(cpts.len() / 2 + 1),
        }
    }

    /// Runs `re` over the code points `ini..end`; matches and the gaps between them are pieces.
    fn regex(
        &mut self,
        re: &fancy_regex::Regex,
        hay: &str,
        char_at: &[usize],
        ini: usize,
        end: usize,
    ) -> Result<(), TokenizerError> {
        let (b0, b1) = (char_at[ini], char_at[end]);
        let to_cpt = |byte: usize| char_at.partition_point(|&o| o < b0 + byte);
        let mut prev = ini;
        for m in re.find_iter(&hay[b0..b1]) {
            // Only a backtracking limit can fail a match; std::regex would throw there too.
            let m = m.map_err(|e| TokenizerError::Regex {
                regex: re.as_str().to_owned(),
                reason: e.to_string(),
            })?;
            let (s, e) = (to_cpt(m.start()), to_cpt(m.end()));
            if s > prev {
                self.lens.push(s - prev);
            }
            if e > s {
                self.lens.push(e - s);
            }
            prev = e.max(prev);
        }
        if prev < end {
            self.lens.push(end - prev);
        }
        Ok(())
    }

    /// Runs of `\n` and runs of anything else.
    fn newlines(&mut self, ini: usize, end: usize) {
        let mut pos = ini;
        while pos < end {
            let nl = self.cpts[pos] == '\n';
            let run = pos;
            while pos < end && (self.cpts[pos] == '\n') == nl {
                pos += 1;
            }
            self.lens.push(pos - run);
        }
    }

    /// llama.cpp's GPT-2 matcher over `ini..end`:
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
    fn gpt2(&mut self, ini: usize, end: usize) {
        let seg = Segment {
            cpts: self.cpts,
            end,
        };
        let mut pos = ini;
        while pos < end {
            let start = pos;
            let c = self.cpts[pos];
            let flags = seg.flags(pos);
            if let Some(n) = seg.contraction(pos, false) {
                pos += n;
            } else {
                let space = usize::from(c == ' ');
                let mut f2 = if c == ' ' { seg.flags(pos + 1) } else { flags };
                if f2.is_letter() {
                    pos += space;
                    while f2.is_letter() {
                        pos += 1;
                        f2 = seg.flags(pos);
                    }
                } else if f2.is_number() {
                    pos += space;
                    while f2.is_number() {
                        pos += 1;
                        f2 = seg.flags(pos);
                    }
                } else if other_symbol(f2, false) && f2.is_some() {
                    pos += space;
                    while other_symbol(f2, false) && f2.is_some() {
                        pos += 1;
                        f2 = seg.flags(pos);
                    }
                } else {
                    pos = seg.whitespace(pos, false);
                }
            }
            self.lens.push(pos - start);
        }
    }

    /// llama.cpp's LLaMA 3 matcher (`max_digits` 3), Qwen 2's (`max_digits` 1) and Qwen 3.5's
    /// (`marks`: `\p{M}` counts with letters) over `ini..end`:
    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
    ///  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`.
    fn llama3(&mut self, ini: usize, end: usize, max_digits: usize, marks: bool) {
        let seg = Segment {
            cpts: self.cpts,
            end,
        };
        let letter = |f: CptFlags| f.is_letter() || (marks && f.is_accent_mark());
        let mut pos = ini;
        while pos < end {
            let start = pos;
            let c = self.cpts[pos];
            let flags = seg.flags(pos);
            if let Some(n) = seg.contraction(pos, true) {
                self.lens.push(n);
                pos += n;
                continue;
            }
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if !(c == '\r' || c == '\n' || flags.is_number())
                && (letter(flags) || letter(seg.flags(pos + 1)))
            {
                pos += 1;
                while letter(seg.flags(pos)) {
                    pos += 1;
                }
                self.lens.push(pos - start);
                continue;
            }
            // \p{N}{1,max_digits}
            if flags.is_number() {
                let mut run = pos;
                while seg.flags(pos).is_number() {
                    pos += 1;
                    if pos - run >= max_digits {
                        self.lens.push(pos - run);
                        run = pos;
                    }
                }
                if pos > run {
                    self.lens.push(pos - run);
                }
                continue;
            }
            // ' ?[^\s\p{L}\p{N}]+[\r\n]*' (the first test looks at the code point itself)
            let mut f2 = if c == ' ' { seg.flags(pos + 1) } else { flags };
            if other_symbol(f2, marks) && flags.is_some() {
                pos += usize::from(c == ' ');
                while other_symbol(f2, marks) && f2.is_some() {
                    pos += 1;
                    f2 = seg.flags(pos);
                }
                while matches!(seg.cpt(pos), Some('\r' | '\n')) {
                    pos += 1;
                }
                self.lens.push(pos - start);
                continue;
            }
            pos = seg.whitespace(pos, true);
            self.lens.push(pos - start);
        }
    }
}

/// `[^\s\p{L}\p{N}]` (and not `\p{M}` if `marks`); true for "past the end" too, so callers
/// add llama.cpp's `is_some` test where it has one.
fn other_symbol(f: CptFlags, marks: bool) -> bool {
    !(f.is_whitespace() || f.is_letter() || f.is_number() || (marks && f.is_accent_mark()))
}

/// The code points of one piece being split: `cpts[..end]`, with "past the end" beyond.
struct Segment<'a> {
    cpts: &'a [char],
    end: usize,
}

impl Segment<'_> {
    fn cpt(&self, pos: usize) -> Option<char> {
        if pos < self.end {
            Some(self.cpts[pos])
        } else {
            None
        }
    }

    fn flags(&self, pos: usize) -> CptFlags {
        CptFlags::of_opt(self.cpt(pos))
    }

    /// Length of a contraction (`'s 't 'm 'd 're 've 'll`) at `pos`, case-insensitively if
    /// asked (llama.cpp lowers with its Unicode table; the only non-ASCII code points it lowers
    /// to ASCII give `i` and `k`, so ASCII lowering is the same here).
    fn contraction(&self, pos: usize, ignore_case: bool) -> Option<usize> {
        if self.cpt(pos) != Some('\'') || pos + 1 >= self.end {
            return None;
        }
        let low = |p: usize| {
            self.cpt(p).map(|c| {
                if ignore_case {
                    c.to_ascii_lowercase()
                } else {
                    c
                }
            })
        };
        let next = low(pos + 1)?;
        if matches!(next, 's' | 't' | 'm' | 'd') {
            return Some(2);
        }
        if pos + 2 < self.end {
            let next2 = low(pos + 2)?;
            if matches!((next, next2), ('r', 'e') | ('v', 'e') | ('l', 'l')) {
                return Some(3);
            }
        }
        None
    }

    /// The end of the whitespace piece starting at `pos` (`\s*[\r\n]+` if `newline_runs`, then
    /// `\s+(?!\S)`, then `\s+`), or `pos + 1` if `pos` is not whitespace.
    fn whitespace(&self, pos: usize, newline_runs: bool) -> usize {
        let mut n = 0;
        let mut after_last_newline = None;
        while self.flags(pos + n).is_whitespace() {
            if matches!(self.cpt(pos + n), Some('\r' | '\n')) {
                after_last_newline = Some(pos + n + 1);
            }
            n += 1;
        }
        if newline_runs {
            if let Some(e) = after_last_newline {
                return e;
            }
        }
        if n > 1 && self.cpt(pos + n).is_some() {
            pos + n - 1
        } else if n > 0 {
            pos + n
        } else {
            pos + 1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(regexes: &[&str], text: &str) -> Vec<String> {
        let pre = PreTokenizer::new(regexes, false).unwrap();
        let mut words = Vec::new();
        pre.split(text, &mut words).unwrap();
        words
    }

    #[test]
    fn gpt2_matcher_splits_words_numbers_and_spaces() {
        assert_eq!(
            split(&[GPT2], "Hello world's 123  x!?\n"),
            ["Hello", " world", "'s", " 123", " ", " x", "!?", "\n"]
        );
    }

    #[test]
    fn llama3_matcher_groups_three_digits_and_newlines() {
        assert_eq!(
            split(&[LLAMA3], "I'M 12345\n\n  hi"),
            ["I", "'M", " ", "123", "45", "\n\n", " ", " hi"]
        );
        assert_eq!(split(&[QWEN2], "x 123"), ["x", " ", "1", "2", "3"]);
    }

    #[test]
    fn collapsed_regex_sees_categories_of_non_ascii() {
        // \p{N}: the Arabic-Indic digits are numbers, 'é' is not.
        assert_eq!(split(&[r"\p{N}"], "é٣4"), ["é", "٣", "4"]);
        assert_eq!(split(DEFAULT, "a... b1234"), ["a", "...", " b", "123", "4"]);
    }

    #[test]
    fn regex_translation_rejects_what_llama_cpp_rejects() {
        assert!(translate(r"\p{L}é").is_err());
        assert!(translate(r"\p{Han}+").is_err());
        let (pattern, collapsed) = translate(r"[^\s\p{N}]+").unwrap();
        assert!(collapsed);
        assert_eq!(
            pattern,
            r"[^\x{9}-\x{D}\x{20}\x{E0D1}\x{30}\x{31}\x{32}\x{33}\x{34}\x{35}\x{36}\x{37}\x{38}\x{39}]+"
        );
    }
}
