//! GGUF metadata values: the thirteen value types, typed arrays that stay cheap for 128k-entry
//! vocabularies, and the text form llama.cpp prints when it loads a model.
//!
//! Arrays are stored by element type (`Array::U32(Vec<u32>)`, …) rather than as `Vec<Value>`, so
//! a 49152-token vocabulary is one `String` of concatenated token texts plus one offset per token.
//!
//! Strings: ggml keeps GGUF strings as raw bytes and never checks UTF-8, and some vocabularies do
//! contain token texts that are not valid UTF-8. Here keys and tensor names must be UTF-8 (the
//! reader rejects them otherwise), values are decoded lossily (invalid sequences become U+FFFD),
//! and a [`StringArray`] also keeps the original bytes of every entry it had to repair, so a
//! tokenizer can stay byte-faithful through [`StringArray::raw`].

use std::fmt;

/// A GGUF value type, with its on-disk id (`enum gguf_type` in ggml's `gguf.h`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueType {
    U8 = 0,
    I8 = 1,
    U16 = 2,
    I16 = 3,
    U32 = 4,
    I32 = 5,
    F32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    U64 = 10,
    I64 = 11,
    F64 = 12,
}

impl ValueType {
    /// Every value type, in id order.
    pub const ALL: [ValueType; 13] = [
        ValueType::U8,
        ValueType::I8,
        ValueType::U16,
        ValueType::I16,
        ValueType::U32,
        ValueType::I32,
        ValueType::F32,
        ValueType::Bool,
        ValueType::String,
        ValueType::Array,
        ValueType::U64,
        ValueType::I64,
        ValueType::F64,
    ];

    /// The type for an on-disk id, or `None` for an id GGUF does not define.
    pub fn from_id(id: u32) -> Option<ValueType> {
        ValueType::ALL.get(usize::try_from(id).ok()?).copied()
    }

    /// The on-disk id.
    pub fn id(self) -> u32 {
        self as u32
    }

    /// The name ggml prints (`gguf_type_name`): "u8", "i32", "f32", "bool", "str", "arr", …
    pub fn name(self) -> &'static str {
        match self {
            ValueType::U8 => "u8",
            ValueType::I8 => "i8",
            ValueType::U16 => "u16",
            ValueType::I16 => "i16",
            ValueType::U32 => "u32",
            ValueType::I32 => "i32",
            ValueType::F32 => "f32",
            ValueType::Bool => "bool",
            ValueType::String => "str",
            ValueType::Array => "arr",
            ValueType::U64 => "u64",
            ValueType::I64 => "i64",
            ValueType::F64 => "f64",
        }
    }

    /// The fewest bytes one value of this type takes on disk: its fixed size, 8 for a string
    /// (the length), 12 for an array (element type and count). Used to reject declared counts
    /// before allocating.
    pub(crate) fn min_encoded_size(self) -> u64 {
        match self {
            ValueType::U8 | ValueType::I8 | ValueType::Bool => 1,
            ValueType::U16 | ValueType::I16 => 2,
            ValueType::U32 | ValueType::I32 | ValueType::F32 => 4,
            ValueType::U64 | ValueType::I64 | ValueType::F64 | ValueType::String => 8,
            ValueType::Array => 12,
        }
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One metadata value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    /// Decoded lossily if the file's bytes were not UTF-8 (see the module docs).
    String(String),
    U64(u64),
    I64(i64),
    F64(f64),
    Array(Array),
}

/// An array value, stored by element type. Arrays of arrays may mix element types (each inner
/// array carries its own type on disk); ggml itself rejects nested arrays, gguf-py accepts them.
#[derive(Clone, Debug, PartialEq)]
pub enum Array {
    U8(Vec<u8>),
    I8(Vec<i8>),
    U16(Vec<u16>),
    I16(Vec<i16>),
    U32(Vec<u32>),
    I32(Vec<i32>),
    F32(Vec<f32>),
    Bool(Vec<bool>),
    String(StringArray),
    U64(Vec<u64>),
    I64(Vec<i64>),
    F64(Vec<f64>),
    Array(Vec<Array>),
}

/// An array of strings held as one concatenated `String` plus end offsets: one allocation for a
/// whole vocabulary instead of one per token.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StringArray {
    /// Every entry, concatenated (entries that were not UTF-8 are stored lossily).
    text: String,
    /// `ends[i]` is the end of entry `i` in `text`; entry `i` starts at `ends[i - 1]` (or 0).
    ends: Vec<usize>,
    /// `(index, original bytes)` of each entry that was not valid UTF-8, in index order.
    repaired: Vec<(usize, Box<[u8]>)>,
}

impl StringArray {
    /// An empty array with room for `n` entries.
    pub(crate) fn with_capacity(n: usize) -> StringArray {
        StringArray {
            text: String::new(),
            ends: Vec::with_capacity(n),
            repaired: Vec::new(),
        }
    }

    /// Appends an entry given as raw bytes; invalid UTF-8 is replaced by U+FFFD in the text and
    /// the original bytes are kept for [`StringArray::raw`].
    pub fn push_bytes(&mut self, bytes: &[u8]) {
        match std::str::from_utf8(bytes) {
            Ok(s) => self.text.push_str(s),
            Err(_) => {
                self.repaired.push((self.ends.len(), bytes.into()));
                self.text.push_str(&String::from_utf8_lossy(bytes));
            }
        }
        self.ends.push(self.text.len());
    }

    /// Appends a string entry.
    pub fn push(&mut self, s: &str) {
        self.push_bytes(s.as_bytes());
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True if there are no entries.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Entry `i` as text (lossy if the file's bytes were not UTF-8).
    pub fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.text.get(start..end)
    }

    /// Entry `i` exactly as the file stored it, even if it is not valid UTF-8.
    pub fn raw(&self, i: usize) -> Option<&[u8]> {
        match self.repaired.binary_search_by_key(&i, |(j, _)| *j) {
            Ok(k) => Some(&self.repaired[k].1),
            Err(_) => self.get(i).map(str::as_bytes),
        }
    }

    /// Indices of the entries that were not valid UTF-8 in the file.
    pub fn repaired_indices(&self) -> impl Iterator<Item = usize> + '_ {
        self.repaired.iter().map(|(i, _)| *i)
    }

    /// Every entry as text, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        (0..self.len()).map(|i| self.get(i).unwrap_or_default())
    }
}

impl<S: AsRef<str>> FromIterator<S> for StringArray {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> StringArray {
        let mut a = StringArray::default();
        for s in iter {
            a.push(s.as_ref());
        }
        a
    }
}

impl Array {
    /// The type of the elements.
    pub fn element_type(&self) -> ValueType {
        match self {
            Array::U8(_) => ValueType::U8,
            Array::I8(_) => ValueType::I8,
            Array::U16(_) => ValueType::U16,
            Array::I16(_) => ValueType::I16,
            Array::U32(_) => ValueType::U32,
            Array::I32(_) => ValueType::I32,
            Array::F32(_) => ValueType::F32,
            Array::Bool(_) => ValueType::Bool,
            Array::String(_) => ValueType::String,
            Array::U64(_) => ValueType::U64,
            Array::I64(_) => ValueType::I64,
            Array::F64(_) => ValueType::F64,
            Array::Array(_) => ValueType::Array,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Array::U8(v) => v.len(),
            Array::I8(v) => v.len(),
            Array::U16(v) => v.len(),
            Array::I16(v) => v.len(),
            Array::U32(v) => v.len(),
            Array::I32(v) => v.len(),
            Array::F32(v) => v.len(),
            Array::Bool(v) => v.len(),
            Array::String(v) => v.len(),
            Array::U64(v) => v.len(),
            Array::I64(v) => v.len(),
            Array::F64(v) => v.len(),
            Array::Array(v) => v.len(),
        }
    }

    /// True if there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements converted to `T`, if they are integers (of any width) that all fit.
    /// `Err(i)` names the first element that does not fit; `None` if this is not an integer array.
    pub fn to_ints<T: TryFrom<i128>>(&self) -> Option<Result<Vec<T>, usize>> {
        fn conv<T: TryFrom<i128>, X: Copy + Into<i128>>(v: &[X]) -> Result<Vec<T>, usize> {
            v.iter()
                .enumerate()
                .map(|(i, &x)| T::try_from(x.into()).map_err(|_| i))
                .collect()
        }
        Some(match self {
            Array::U8(v) => conv(v),
            Array::I8(v) => conv(v),
            Array::U16(v) => conv(v),
            Array::I16(v) => conv(v),
            Array::U32(v) => conv(v),
            Array::I32(v) => conv(v),
            Array::U64(v) => conv(v),
            Array::I64(v) => conv(v),
            _ => return None,
        })
    }

    /// Writes element `i` the way llama.cpp's `gguf_kv_to_str` does (strings quoted, `\` and `"`
    /// escaped); nested arrays, which llama.cpp prints as `???`, are written out.
    fn fmt_element(&self, i: usize, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Array::U8(v) => write!(f, "{}", v[i]),
            Array::I8(v) => write!(f, "{}", v[i]),
            Array::U16(v) => write!(f, "{}", v[i]),
            Array::I16(v) => write!(f, "{}", v[i]),
            Array::U32(v) => write!(f, "{}", v[i]),
            Array::I32(v) => write!(f, "{}", v[i]),
            Array::F32(v) => write_c_float(f, f64::from(v[i])),
            Array::Bool(v) => write!(f, "{}", v[i]),
            Array::String(v) => {
                let s = v.get(i).unwrap_or_default();
                write!(f, "\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
            }
            Array::U64(v) => write!(f, "{}", v[i]),
            Array::I64(v) => write!(f, "{}", v[i]),
            Array::F64(v) => write_c_float(f, v[i]),
            Array::Array(v) => fmt::Display::fmt(&v[i], f),
        }
    }
}

/// How many elements `{}` shows before summarizing an array; `{:#}` shows all.
const SHOWN_ELEMENTS: usize = 5;

impl fmt::Display for Array {
    /// `[1, 2, 3]` like llama.cpp. Arrays longer than five elements are summarized as
    /// `["a", "b", "c", "d", "e", ...] (49152 elements)` unless the alternate flag (`{:#}`) asks
    /// for every element.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.len();
        let shown = if f.alternate() {
            n
        } else {
            n.min(SHOWN_ELEMENTS)
        };
        f.write_str("[")?;
        for i in 0..shown {
            if i > 0 {
                f.write_str(", ")?;
            }
            self.fmt_element(i, f)?;
        }
        if shown < n {
            write!(f, ", ...] ({n} elements)")
        } else {
            f.write_str("]")
        }
    }
}

/// `std::to_string(float)` / `printf("%f")`: six decimals, `nan`, `inf`.
fn write_c_float(f: &mut fmt::Formatter<'_>, x: f64) -> fmt::Result {
    if x.is_nan() {
        f.write_str(if x.is_sign_negative() { "-nan" } else { "nan" })
    } else if x.is_infinite() {
        f.write_str(if x < 0.0 { "-inf" } else { "inf" })
    } else {
        write!(f, "{x:.6}")
    }
}

impl Value {
    /// The value's type (`Array` for arrays; see [`Array::element_type`]).
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::U8(_) => ValueType::U8,
            Value::I8(_) => ValueType::I8,
            Value::U16(_) => ValueType::U16,
            Value::I16(_) => ValueType::I16,
            Value::U32(_) => ValueType::U32,
            Value::I32(_) => ValueType::I32,
            Value::F32(_) => ValueType::F32,
            Value::Bool(_) => ValueType::Bool,
            Value::String(_) => ValueType::String,
            Value::U64(_) => ValueType::U64,
            Value::I64(_) => ValueType::I64,
            Value::F64(_) => ValueType::F64,
            Value::Array(_) => ValueType::Array,
        }
    }

    /// The type column of llama.cpp's metadata listing: `u32`, `str`, `arr[str,49152]`.
    pub fn type_name(&self) -> String {
        match self {
            Value::Array(a) => format!("arr[{},{}]", a.element_type(), a.len()),
            v => v.value_type().name().to_owned(),
        }
    }

    /// The value as an integer of type `T`, if it is an integer of any width that fits in `T`.
    pub fn to_int<T: TryFrom<i128>>(&self) -> Option<T> {
        let x: i128 = match *self {
            Value::U8(x) => x.into(),
            Value::I8(x) => x.into(),
            Value::U16(x) => x.into(),
            Value::I16(x) => x.into(),
            Value::U32(x) => x.into(),
            Value::I32(x) => x.into(),
            Value::U64(x) => x.into(),
            Value::I64(x) => x.into(),
            _ => return None,
        };
        T::try_from(x).ok()
    }

    /// The string, if this is a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The array, if this is an array value.
    pub fn as_array(&self) -> Option<&Array> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// Type and a short form of the value, for error messages: `str "llama"`, `i32 -5`,
    /// `arr[str,49152]`.
    pub(crate) fn describe(&self) -> String {
        match self {
            Value::Array(_) => self.type_name(),
            Value::String(s) => {
                let short: String = s.chars().take(40).collect();
                let more = if short.len() < s.len() { "..." } else { "" };
                format!("str {short:?}{more}")
            }
            v => format!("{} {v}", v.type_name()),
        }
    }
}

impl fmt::Display for Value {
    /// Scalars as llama.cpp prints them (`std::to_string`: floats with six decimals, `true` /
    /// `false`, strings verbatim); arrays as in [`Array`]'s `Display`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::U8(x) => write!(f, "{x}"),
            Value::I8(x) => write!(f, "{x}"),
            Value::U16(x) => write!(f, "{x}"),
            Value::I16(x) => write!(f, "{x}"),
            Value::U32(x) => write!(f, "{x}"),
            Value::I32(x) => write!(f, "{x}"),
            Value::F32(x) => write_c_float(f, f64::from(*x)),
            Value::Bool(x) => write!(f, "{x}"),
            Value::String(s) => f.write_str(s),
            Value::U64(x) => write!(f, "{x}"),
            Value::I64(x) => write!(f, "{x}"),
            Value::F64(x) => write_c_float(f, *x),
            Value::Array(a) => fmt::Display::fmt(a, f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_matches_llama_cpp_for_short_values() {
        assert_eq!(Value::F32(1e-5).to_string(), "0.000010");
        assert_eq!(Value::F32(100000.0).to_string(), "100000.000000");
        assert_eq!(Value::Bool(false).to_string(), "false");
        assert_eq!(Value::I32(-3).to_string(), "-3");
        assert_eq!(Value::String("llama".into()).to_string(), "llama");
        let a = Value::Array(Array::String(["a\"b", "c\\d"].into_iter().collect()));
        assert_eq!(a.to_string(), r#"["a\"b", "c\\d"]"#);
        assert_eq!(a.type_name(), "arr[str,2]");
    }

    #[test]
    fn long_arrays_are_summarized_unless_alternate() {
        let a = Array::U32((0..100).collect());
        assert_eq!(a.to_string(), "[0, 1, 2, 3, 4, ...] (100 elements)");
        assert_eq!(format!("{a:#}").matches(", ").count(), 99);
        let nested = Array::Array(vec![Array::I8(vec![-1]), Array::Bool(vec![])]);
        assert_eq!(nested.to_string(), "[[-1], []]");
    }

    #[test]
    fn string_array_keeps_original_bytes_of_repaired_entries() {
        let mut a = StringArray::default();
        a.push("ok");
        a.push_bytes(b"\xffx");
        a.push("");
        assert_eq!(a.len(), 3);
        assert_eq!(a.get(1), Some("\u{fffd}x"));
        assert_eq!(a.raw(1), Some(&b"\xffx"[..]));
        assert_eq!(a.raw(0), Some(&b"ok"[..]));
        assert_eq!(a.get(2), Some(""));
        assert_eq!(a.get(3), None);
        assert_eq!(a.repaired_indices().collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn integer_conversions_are_lenient_about_width_but_not_range() {
        assert_eq!(Value::U8(30).to_int::<u32>(), Some(30));
        assert_eq!(Value::I64(-1).to_int::<u32>(), None);
        assert_eq!(Value::F32(1.0).to_int::<u32>(), None);
        assert_eq!(
            Array::I64(vec![1, -2]).to_ints::<i32>(),
            Some(Ok(vec![1, -2]))
        );
        assert_eq!(Array::U64(vec![1, u64::MAX]).to_ints::<i32>(), Some(Err(1)));
        assert_eq!(Array::F32(vec![]).to_ints::<i32>(), None);
    }
}
