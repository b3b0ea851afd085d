//! The header parser: bytes in, metadata and tensor table out, every length checked against the
//! bytes that remain before anything is allocated. Tensor data is not touched here.
//!
//! Checks follow ggml's `gguf_init_from_reader` (ggml/src/gguf.cpp) so that a file this reader
//! accepts is one llama.cpp accepts, with these differences, all on the strict side except the
//! first: nested arrays are read (ggml rejects them; gguf-py writes them) up to
//! [`MAX_ARRAY_DEPTH`] levels; tensors must have 1 to 4 dimensions and every dimension must be
//! positive (ggml allows 0 dimensions and zero sizes); tensor names must be UTF-8.

use std::collections::HashMap;

use super::value::{Array, StringArray, Value, ValueType};
use super::{
    GgufError, Metadata, TensorInfo, DEFAULT_ALIGNMENT, MAX_ARRAY_DEPTH, MAX_ARRAY_ELEMENTS,
    MAX_DIMS, MAX_STRING_LENGTH, MAX_TENSOR_NAME,
};
use crate::GgmlType;

/// The four bytes every GGUF file starts with.
pub(crate) const MAGIC: [u8; 4] = *b"GGUF";

/// Fewest bytes one metadata entry can take: key length (8), a one-byte key, value type (4), a
/// one-byte value.
const MIN_KV_BYTES: u64 = 8 + 1 + 4 + 1;

/// Fewest bytes one tensor-table entry can take: name length (8), dimension count (4), type (4),
/// offset (8).
const MIN_TENSOR_INFO_BYTES: u64 = 8 + 4 + 4 + 8;

/// What one file's header says.
pub(crate) struct Header {
    pub version: u32,
    pub alignment: u32,
    pub metadata: Metadata,
    /// Tensor table in file order; `offset` is already absolute in the file.
    pub tensors: Vec<TensorInfo>,
}

/// A bounds-checked little-endian reader over the file's bytes.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    file: &'a str,
}

impl<'a> Cursor<'a> {
    fn offset(&self) -> u64 {
        self.pos as u64
    }

    fn remaining(&self) -> u64 {
        (self.bytes.len() - self.pos) as u64
    }

    /// The next `n` bytes; `what` describes them for the error if the file is shorter.
    fn take(&mut self, n: u64, what: impl FnOnce() -> String) -> Result<&'a [u8], GgufError> {
        let rest = &self.bytes[self.pos..];
        match usize::try_from(n).ok().and_then(|n| rest.get(..n)) {
            Some(b) => {
                self.pos += b.len();
                Ok(b)
            }
            None => Err(GgufError::Truncated {
                file: self.file.to_owned(),
                offset: self.offset(),
                what: what(),
                expected: n,
                found: rest.len() as u64,
            }),
        }
    }

    fn array<const N: usize>(
        &mut self,
        what: impl FnOnce() -> String,
    ) -> Result<[u8; N], GgufError> {
        let b = self.take(N as u64, what)?;
        let mut a = [0; N];
        a.copy_from_slice(b);
        Ok(a)
    }

    fn u32(&mut self, what: impl FnOnce() -> String) -> Result<u32, GgufError> {
        self.array(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: impl FnOnce() -> String) -> Result<u64, GgufError> {
        self.array(what).map(u64::from_le_bytes)
    }

    /// Fails unless `count` items of at least `min_size` bytes each can fit in what remains.
    /// `offset` is where the count was read.
    fn check_fits(
        &self,
        offset: u64,
        count: u64,
        min_size: u64,
        what: impl FnOnce() -> String,
    ) -> Result<(), GgufError> {
        let needed = u128::from(count) * u128::from(min_size);
        if needed > u128::from(self.remaining()) {
            return Err(GgufError::LengthExceedsFile {
                file: self.file.to_owned(),
                offset,
                what: what(),
                declared: count,
                needed,
                remaining: self.remaining(),
            });
        }
        Ok(())
    }

    fn check_limit(
        &self,
        offset: u64,
        found: u64,
        limit: u64,
        what: impl FnOnce() -> String,
    ) -> Result<(), GgufError> {
        if found > limit {
            return Err(GgufError::LimitExceeded {
                file: self.file.to_owned(),
                offset,
                what: what(),
                found,
                limit,
            });
        }
        Ok(())
    }

    /// A GGUF string (u64 length, then bytes), as raw bytes. `what` names the string.
    fn string(&mut self, what: &dyn Fn() -> String) -> Result<&'a [u8], GgufError> {
        let at = self.offset();
        let len = self.u64(|| format!("the length of {}", what()))?;
        self.check_limit(at, len, MAX_STRING_LENGTH, || {
            format!("the length of {}", what())
        })?;
        self.check_fits(at, len, 1, || format!("the length of {}", what()))?;
        self.take(len, what)
    }

    fn utf8(
        &self,
        at: u64,
        raw: &'a [u8],
        what: impl FnOnce() -> String,
    ) -> Result<&'a str, GgufError> {
        std::str::from_utf8(raw).map_err(|_| GgufError::InvalidUtf8 {
            file: self.file.to_owned(),
            offset: at,
            what: what(),
        })
    }

    fn value_type(&mut self, what: &dyn Fn() -> String) -> Result<ValueType, GgufError> {
        let at = self.offset();
        let id = self.u32(|| format!("the value type of {}", what()))?;
        ValueType::from_id(id).ok_or_else(|| GgufError::UnknownValueType {
            file: self.file.to_owned(),
            offset: at,
            what: what(),
            found: id,
        })
    }

    /// A value of type `ty` belonging to metadata key `key`; `depth` arrays enclose it.
    fn value(&mut self, ty: ValueType, key: &str, depth: usize) -> Result<Value, GgufError> {
        let what = || format!("the value of key '{key}'");
        Ok(match ty {
            ValueType::U8 => Value::U8(u8::from_le_bytes(self.array(what)?)),
            ValueType::I8 => Value::I8(i8::from_le_bytes(self.array(what)?)),
            ValueType::U16 => Value::U16(u16::from_le_bytes(self.array(what)?)),
            ValueType::I16 => Value::I16(i16::from_le_bytes(self.array(what)?)),
            ValueType::U32 => Value::U32(u32::from_le_bytes(self.array(what)?)),
            ValueType::I32 => Value::I32(i32::from_le_bytes(self.array(what)?)),
            ValueType::F32 => Value::F32(f32::from_le_bytes(self.array(what)?)),
            // ggml reads a bool as an int8 and takes any non-zero byte as true.
            ValueType::Bool => Value::Bool(self.array::<1>(what)?[0] != 0),
            ValueType::String => {
                Value::String(String::from_utf8_lossy(self.string(&what)?).into_owned())
            }
            ValueType::U64 => Value::U64(u64::from_le_bytes(self.array(what)?)),
            ValueType::I64 => Value::I64(i64::from_le_bytes(self.array(what)?)),
            ValueType::F64 => Value::F64(f64::from_le_bytes(self.array(what)?)),
            ValueType::Array => Value::Array(self.array_value(key, depth + 1)?),
        })
    }

    /// An array (element type, count, elements) that is the `depth`-th level of arrays.
    fn array_value(&mut self, key: &str, depth: usize) -> Result<Array, GgufError> {
        if depth > MAX_ARRAY_DEPTH {
            return Err(GgufError::NestingTooDeep {
                file: self.file.to_owned(),
                offset: self.offset(),
                key: key.to_owned(),
                limit: MAX_ARRAY_DEPTH,
            });
        }
        let what = || format!("the elements of array '{key}'");
        let ty = self.value_type(&what)?;
        let at = self.offset();
        let count_what = || format!("the element count of array '{key}'");
        let n = self.u64(count_what)?;
        self.check_limit(at, n, MAX_ARRAY_ELEMENTS, count_what)?;
        self.check_fits(at, n, ty.min_encoded_size(), count_what)?;
        // `check_fits` bounds `n` by the bytes that remain, so it fits in a usize.
        let n_items = n as usize;

        macro_rules! fixed {
            ($variant:ident, $t:ty) => {{
                const SIZE: usize = std::mem::size_of::<$t>();
                let bytes = self.take(n * SIZE as u64, what)?;
                let values = bytes.chunks_exact(SIZE).map(|c| {
                    let mut a = [0; SIZE];
                    a.copy_from_slice(c);
                    <$t>::from_le_bytes(a)
                });
                Array::$variant(values.collect())
            }};
        }

        Ok(match ty {
            ValueType::U8 => Array::U8(self.take(n, what)?.to_vec()),
            ValueType::I8 => fixed!(I8, i8),
            ValueType::U16 => fixed!(U16, u16),
            ValueType::I16 => fixed!(I16, i16),
            ValueType::U32 => fixed!(U32, u32),
            ValueType::I32 => fixed!(I32, i32),
            ValueType::F32 => fixed!(F32, f32),
            ValueType::Bool => Array::Bool(self.take(n, what)?.iter().map(|&b| b != 0).collect()),
            ValueType::U64 => fixed!(U64, u64),
            ValueType::I64 => fixed!(I64, i64),
            ValueType::F64 => fixed!(F64, f64),
            ValueType::String => {
                let mut strings = StringArray::with_capacity(n_items);
                for i in 0..n {
                    strings.push_bytes(self.string(&|| format!("string #{i} of array '{key}'"))?);
                }
                Array::String(strings)
            }
            ValueType::Array => {
                let mut arrays = Vec::with_capacity(n_items);
                for _ in 0..n {
                    arrays.push(self.array_value(key, depth + 1)?);
                }
                Array::Array(arrays)
            }
        })
    }
}

/// Parses the header of one GGUF file (`file` names it in errors; `shard` is stored in each
/// tensor) and checks that every tensor's data lies inside `bytes`.
pub(crate) fn parse_header(bytes: &[u8], file: &str, shard: usize) -> Result<Header, GgufError> {
    let mut c = Cursor {
        bytes,
        pos: 0,
        file,
    };
    let err_file = || file.to_owned();

    let magic = c.array::<4>(|| "the magic \"GGUF\"".into())?;
    if magic != MAGIC {
        return Err(GgufError::BadMagic {
            file: err_file(),
            found: magic,
        });
    }
    let version = c.u32(|| "the version".into())?;
    if version != 0 && version & 0xffff == 0 {
        return Err(GgufError::BigEndian {
            file: err_file(),
            found: version,
        });
    }
    if !(2..=3).contains(&version) {
        return Err(GgufError::UnsupportedVersion {
            file: err_file(),
            found: version,
        });
    }
    let n_tensors_at = c.offset();
    let n_tensors = c.u64(|| "the tensor count".into())?;
    let n_kv_at = c.offset();
    let n_kv = c.u64(|| "the metadata entry count".into())?;
    c.check_fits(n_kv_at, n_kv, MIN_KV_BYTES, || {
        "the metadata entry count".into()
    })?;

    let mut entries: Vec<(String, Value)> = Vec::with_capacity(n_kv as usize);
    let mut index: HashMap<String, usize> = HashMap::with_capacity(n_kv as usize);
    for i in 0..n_kv {
        let at = c.offset();
        let raw = c.string(&|| format!("metadata key #{i}"))?;
        if raw.is_empty() {
            return Err(GgufError::EmptyKey {
                file: err_file(),
                offset: at,
                index: i,
            });
        }
        let key = c.utf8(at, raw, || format!("metadata key #{i}"))?;
        if let Some(&first) = index.get(key) {
            return Err(GgufError::DuplicateKey {
                file: err_file(),
                offset: at,
                key: key.to_owned(),
                index: i,
                first: first as u64,
            });
        }
        let ty = c.value_type(&|| format!("key '{key}'"))?;
        let value = c.value(ty, key, 0)?;
        index.insert(key.to_owned(), entries.len());
        entries.push((key.to_owned(), value));
    }
    let metadata = Metadata { entries, index };

    let alignment = match metadata.get("general.alignment") {
        None => DEFAULT_ALIGNMENT,
        Some(&Value::U32(a)) if a.is_power_of_two() => a,
        Some(v) => {
            return Err(GgufError::InvalidAlignment {
                file: err_file(),
                found: v.describe(),
            })
        }
    };

    c.check_fits(n_tensors_at, n_tensors, MIN_TENSOR_INFO_BYTES, || {
        "the tensor count".into()
    })?;
    let mut tensors: Vec<TensorInfo> = Vec::with_capacity(n_tensors as usize);
    let mut names: HashMap<String, usize> = HashMap::with_capacity(n_tensors as usize);
    for i in 0..n_tensors {
        let at = c.offset();
        let raw = c.string(&|| format!("the name of tensor #{i}"))?;
        if raw.len() >= MAX_TENSOR_NAME {
            return Err(GgufError::TensorNameTooLong {
                file: err_file(),
                offset: at,
                index: i,
                len: raw.len() as u64,
                limit: MAX_TENSOR_NAME,
            });
        }
        let name = c.utf8(at, raw, || format!("the name of tensor #{i}"))?;
        if let Some(&first) = names.get(name) {
            return Err(GgufError::DuplicateTensor {
                file: err_file(),
                offset: at,
                name: name.to_owned(),
                index: i,
                first,
            });
        }
        tensors.push(tensor_info(&mut c, name, shard)?);
        names.insert(name.to_owned(), tensors.len() - 1);
    }

    // The data section starts at the end of the tensor table, padded to the alignment.
    let data_offset = c.offset().next_multiple_of(u64::from(alignment));
    check_layout(
        &mut tensors,
        data_offset,
        alignment,
        bytes.len() as u64,
        file,
    )?;
    Ok(Header {
        version,
        alignment,
        metadata,
        tensors,
    })
}

/// Reads one tensor-table entry after its name. The offset stays relative to the data section.
fn tensor_info(c: &mut Cursor<'_>, name: &str, shard: usize) -> Result<TensorInfo, GgufError> {
    let file = c.file;
    let dims_at = c.offset();
    let n_dims = c.u32(|| format!("the dimension count of tensor '{name}'"))?;
    if n_dims == 0 || n_dims as usize > MAX_DIMS {
        return Err(GgufError::BadDimensionCount {
            file: file.to_owned(),
            offset: dims_at,
            tensor: name.to_owned(),
            found: n_dims,
        });
    }
    let mut ne = [1u64; MAX_DIMS];
    for (dim, slot) in ne.iter_mut().enumerate().take(n_dims as usize) {
        let at = c.offset();
        let x = c.u64(|| format!("dimension {dim} of tensor '{name}'"))?;
        if x == 0 || i64::try_from(x).is_err() {
            return Err(GgufError::BadDimension {
                file: file.to_owned(),
                offset: at,
                tensor: name.to_owned(),
                dim,
                found: x,
            });
        }
        *slot = x;
    }
    let too_large = |what| GgufError::TensorTooLarge {
        file: file.to_owned(),
        offset: dims_at,
        tensor: name.to_owned(),
        ne: ne[..n_dims as usize].to_vec(),
        what,
    };
    let n_elements = ne
        .iter()
        .try_fold(1u64, |acc, &x| acc.checked_mul(x))
        .filter(|&n| i64::try_from(n).is_ok())
        .ok_or_else(|| too_large("element count"))?;

    let type_at = c.offset();
    let type_id = c.u32(|| format!("the type of tensor '{name}'"))?;
    let ty = GgmlType::from_id(type_id).ok_or(type_id);
    let size = match ty {
        Ok(t) => {
            let block = t.block_size();
            if !ne[0].is_multiple_of(block as u64) {
                return Err(GgufError::RowNotWholeBlocks {
                    file: file.to_owned(),
                    offset: type_at,
                    tensor: name.to_owned(),
                    ty: t,
                    ne0: ne[0],
                    block,
                });
            }
            (n_elements / block as u64)
                .checked_mul(t.type_size() as u64)
                .filter(|&s| usize::try_from(s).is_ok())
                .ok_or_else(|| too_large("size in bytes"))?
        }
        Err(_) => 0,
    };
    let offset = c.u64(|| format!("the data offset of tensor '{name}'"))?;
    Ok(TensorInfo {
        name: name.to_owned(),
        ty,
        ne,
        n_dims,
        offset,
        size,
        shard,
    })
}

/// Applies ggml's layout rule (each tensor's data starts where the previous tensor's data,
/// padded to the alignment, ends), checks every range against the file size, and turns the
/// relative offsets into absolute ones. After a tensor of unknown type (whose size is unknown)
/// only alignment, order and bounds can be checked until the next known tensor.
fn check_layout(
    tensors: &mut [TensorInfo],
    data_offset: u64,
    alignment: u32,
    file_size: u64,
    file: &str,
) -> Result<(), GgufError> {
    let align = u64::from(alignment);
    // The offset where the next tensor must start, and the tensor that ends there.
    let mut expected: Option<u64> = Some(0);
    let mut previous: Option<(usize, u64)> = None;
    for i in 0..tensors.len() {
        let t = &tensors[i];
        let rel = t.offset;
        if !rel.is_multiple_of(align) {
            return Err(GgufError::MisalignedTensor {
                file: file.to_owned(),
                tensor: t.name.clone(),
                offset: rel,
                alignment,
            });
        }
        let overlap = |other: usize, other_end: u64| GgufError::OverlappingTensors {
            file: file.to_owned(),
            tensor: t.name.clone(),
            offset: rel,
            other: tensors[other].name.clone(),
            other_end,
        };
        match (expected, previous) {
            (Some(e), Some((p, _))) if rel < e => return Err(overlap(p, e)),
            (Some(e), _) if rel > e => {
                return Err(GgufError::TensorGap {
                    file: file.to_owned(),
                    tensor: t.name.clone(),
                    offset: rel,
                    expected: e,
                })
            }
            // After a tensor of unknown size: it must at least start after that one starts.
            (None, Some((p, start))) if rel <= start => return Err(overlap(p, start)),
            _ => {}
        }
        let out_of_bounds = |end: u128| GgufError::TensorOutOfBounds {
            file: file.to_owned(),
            tensor: t.name.clone(),
            start: data_offset.saturating_add(rel),
            end,
            file_size,
        };
        let start = data_offset
            .checked_add(rel)
            .ok_or_else(|| out_of_bounds(u128::from(data_offset) + u128::from(rel)))?;
        let end = u128::from(start) + u128::from(t.size);
        if end > u128::from(file_size) || start > file_size {
            return Err(out_of_bounds(end));
        }
        expected = match t.ty {
            Ok(_) => Some(rel + t.size.next_multiple_of(align)),
            Err(_) => None,
        };
        previous = Some((i, rel));
        tensors[i].offset = start;
    }
    Ok(())
}
