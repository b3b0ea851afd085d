//! The GGUF reader: opens a model file (or all shards of a split model), parses its metadata and
//! tensor table, and hands out tensor bytes lazily from a memory map. It is tensor-trace's own
//! code because it must accept every file llama.cpp accepts and reject hostile input cleanly:
//! every declared length is checked against the bytes that remain before anything is allocated,
//! nothing panics, and every error names the file, the byte offset, what was expected and what
//! was found ([`GgufError`]).
//!
//! # Byte layout (little-endian, versions 2 and 3)
//!
//! ```text
//! offset  size  field
//! 0       4     magic "GGUF"
//! 4       4     version: u32 (2 or 3; v1 had 32-bit counts and is not supported)
//! 8       8     n_tensors: u64
//! 16      8     n_kv: u64
//! 24      …     n_kv metadata entries:
//!                 key: string, value type: u32, value
//!               then n_tensors tensor-table entries:
//!                 name: string, n_dims: u32, ne: [u64; n_dims], ggml type: u32,
//!                 offset: u64 (from the start of the data section)
//! …       …     padding to `general.alignment` (u32, default 32)
//! …       …     data section: each tensor's bytes at its offset, padded to the alignment
//!
//! string = len: u64, then len bytes (no terminator)
//! value  = u8 | i8 | u16 | i16 | u32 | i32 | f32 | bool (1 byte) | string | u64 | i64 | f64
//!        | array = element type: u32, count: u64, count elements (an element that is itself
//!                  an array is again element type, count, elements)
//! value type ids: u8 0, i8 1, u16 2, i16 3, u32 4, i32 5, f32 6, bool 7, string 8, array 9,
//!                 u64 10, i64 11, f64 12
//! ```
//!
//! `ne` is in ggml order: `ne[0]` is the contiguous (row) dimension. Unused dimensions are 1.
//!
//! # Split models
//!
//! `name-00001-of-00003.gguf` (as written by `llama-gguf-split`) is opened as one model: the other
//! shards are found next to it by name, each must carry `split.no` and `split.count`, and the first
//! one's `split.tensors.count` must equal the number of tensors found. Metadata comes from the
//! first shard (as in llama.cpp); the tensor table is every shard's table, in order.
//!
//! # Limits and leniency
//!
//! See `parse.rs` for where this reader is stricter than ggml. The typed getters
//! ([`GgufFile::get_u32`], …) accept an integer of any width whose value fits, where llama.cpp's
//! `get_key` demands the exact type; floats, bools and strings must have their exact type.
//! Strings are decoded lossily (see [`value`]'s docs).

mod error;
mod parse;
mod value;
#[cfg(any(test, feature = "test-writer"))]
pub mod writer;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

pub use error::GgufError;
pub use value::{Array, StringArray, Value, ValueType};

use crate::GgmlType;

/// Alignment of the data section and of every tensor when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u32 = 32;
/// Deepest nesting of arrays accepted (an array of arrays is 2 levels).
pub const MAX_ARRAY_DEPTH: usize = 8;
/// Longest string accepted, in bytes (ggml's `GGUF_MAX_STRING_LENGTH`).
pub const MAX_STRING_LENGTH: u64 = 1 << 30;
/// Most elements in one array (ggml's `GGUF_MAX_ARRAY_ELEMENTS`).
pub const MAX_ARRAY_ELEMENTS: u64 = 1 << 30;
/// Tensor names must be shorter than this many bytes (ggml's `GGML_MAX_NAME`, which counts the
/// terminating NUL).
pub const MAX_TENSOR_NAME: usize = 64;
/// Most dimensions a tensor can have (ggml's `GGML_MAX_DIMS`).
pub const MAX_DIMS: usize = 4;

/// One entry of the tensor table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    /// The element type, or the raw id if ggml's type table (as known to [`GgmlType`]) has no
    /// such id; such a tensor is listed but its data cannot be read.
    pub ty: Result<GgmlType, u32>,
    /// Shape in ggml order (`ne[0]` contiguous); dimensions past `n_dims` are 1.
    pub ne: [u64; MAX_DIMS],
    /// Number of dimensions stored in the file, 1 to 4.
    pub n_dims: u32,
    /// Absolute byte offset of the data in its shard.
    pub offset: u64,
    /// Size of the data in bytes (unpadded); 0 when `ty` is an unknown id.
    pub size: u64,
    /// Index of the shard (file) holding the data: 0 for single-file models.
    pub shard: usize,
}

impl TensorInfo {
    /// The shape as stored: `ne[..n_dims]`.
    pub fn shape(&self) -> &[u64] {
        &self.ne[..(self.n_dims as usize).min(MAX_DIMS)]
    }

    /// Number of elements (the parser has checked that it fits in an i64).
    pub fn n_elements(&self) -> u64 {
        self.ne.iter().product()
    }

    /// The type name ggml prints (`q4_1`), or `type 43` for an unknown id.
    pub fn type_name(&self) -> Cow<'static, str> {
        match self.ty {
            Ok(t) => Cow::Borrowed(t.name()),
            Err(id) => Cow::Owned(format!("type {id}")),
        }
    }
}

/// Metadata entries in file order, with an index by key.
struct Metadata {
    entries: Vec<(String, Value)>,
    index: HashMap<String, usize>,
}

impl Metadata {
    fn get(&self, key: &str) -> Option<&Value> {
        self.index.get(key).map(|&i| &self.entries[i].1)
    }

    /// `f` applied to the value of `key`; `KeyType` error naming `expected` if `f` declines.
    fn typed<'a, T>(
        &'a self,
        file: &str,
        key: &str,
        expected: &'static str,
        f: impl FnOnce(&'a Value) -> Option<T>,
    ) -> Result<Option<T>, GgufError> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        match f(v) {
            Some(x) => Ok(Some(x)),
            None => Err(GgufError::KeyType {
                file: file.to_owned(),
                key: key.to_owned(),
                expected,
                found: v.describe(),
            }),
        }
    }
}

/// The bytes of one shard.
enum Bytes {
    Mapped(Mmap),
    Owned(Vec<u8>),
}

impl Bytes {
    fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
        }
    }

    /// Memory-maps `path`. An empty file is not mapped (mapping zero bytes fails on some systems).
    fn map(path: &Path) -> std::io::Result<Bytes> {
        // a directory cannot be mapped ("No such device"), and opening a FIFO would block
        let meta = std::fs::metadata(path)?;
        if !meta.is_file() {
            let what = if meta.is_dir() {
                "a directory"
            } else {
                "a device, FIFO or socket"
            };
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("expected a GGUF model file, found {what}"),
            ));
        }
        let file = File::open(path)?;
        if file.metadata()?.len() == 0 {
            return Ok(Bytes::Owned(Vec::new()));
        }
        // SAFETY: the map is read-only. Like llama.cpp, we assume model files are not modified
        // or truncated while open; if one is, reads may see the new bytes or fault.
        let map = unsafe { Mmap::map(&file)? };
        Ok(Bytes::Mapped(map))
    }
}

struct Shard {
    path: PathBuf,
    bytes: Bytes,
}

/// A GGUF model: one file or all shards of a split model, memory-mapped.
pub struct GgufFile {
    path: PathBuf,
    version: u32,
    alignment: u32,
    metadata: Metadata,
    tensors: Vec<TensorInfo>,
    by_name: HashMap<String, usize>,
    shards: Vec<Shard>,
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("path", &self.path)
            .field("version", &self.version)
            .field("shards", &self.shards.len())
            .field("metadata", &self.metadata.entries.len())
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

impl GgufFile {
    /// Opens a GGUF file, and for a split model (`split.count` > 1) every shard named like it.
    pub fn open(path: impl AsRef<Path>) -> Result<GgufFile, GgufError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let bytes = Bytes::map(path).map_err(|source| GgufError::Io {
            file: name.clone(),
            source,
        })?;
        let mut model = GgufFile::from_shard(path.to_path_buf(), bytes)?;
        let count = model.split_count()?;
        if count > 1 {
            model.open_other_shards(count)?;
        }
        Ok(model)
    }

    /// Parses a GGUF file held in memory; `name` stands for the file in errors and
    /// [`GgufFile::path`]. Split models cannot be opened this way (there are no neighbouring
    /// files): a `split.count` above 1 is an error.
    pub fn from_bytes(name: impl Into<PathBuf>, bytes: Vec<u8>) -> Result<GgufFile, GgufError> {
        let model = GgufFile::from_shard(name.into(), Bytes::Owned(bytes))?;
        let count = model.split_count()?;
        if count > 1 {
            return Err(GgufError::SplitMismatch {
                file: model.path.display().to_string(),
                key: "split.count",
                expected: "at most 1 for a model opened from memory".into(),
                found: count.to_string(),
            });
        }
        Ok(model)
    }

    fn from_shard(path: PathBuf, bytes: Bytes) -> Result<GgufFile, GgufError> {
        let header = parse::parse_header(bytes.as_slice(), &path.display().to_string(), 0)?;
        let by_name = header
            .tensors
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect();
        Ok(GgufFile {
            path: path.clone(),
            version: header.version,
            alignment: header.alignment,
            metadata: header.metadata,
            tensors: header.tensors,
            by_name,
            shards: vec![Shard { path, bytes }],
        })
    }

    /// `split.count`, or 0 if absent.
    fn split_count(&self) -> Result<u16, GgufError> {
        Ok(self
            .metadata
            .typed(&self.file_name(), "split.count", "u16", Value::to_int)?
            .unwrap_or(0))
    }

    /// Opens shards 2..=count next to the first one and appends their tensors.
    fn open_other_shards(&mut self, count: u16) -> Result<(), GgufError> {
        let file = self.file_name();
        let no: u16 = self
            .metadata
            .typed(&file, "split.no", "u16", Value::to_int)?
            .ok_or_else(|| GgufError::SplitMismatch {
                file: file.clone(),
                key: "split.no",
                expected: "0 in the first shard".into(),
                found: "no such key".into(),
            })?;
        if no != 0 {
            return Err(GgufError::NotFirstShard { file, no, count });
        }
        let suffix = shard_suffix(0, count);
        let prefix = self
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(&suffix))
            .ok_or_else(|| GgufError::BadShardName {
                file: file.clone(),
                count,
                expected_suffix: suffix.clone(),
            })?
            .to_owned();

        for idx in 1..count {
            let path = self
                .path
                .with_file_name(format!("{prefix}{}", shard_suffix(idx, count)));
            let name = path.display().to_string();
            let bytes = Bytes::map(&path).map_err(|source| GgufError::MissingShard {
                file: name.clone(),
                shard: u32::from(idx) + 1,
                count,
                source,
            })?;
            let shard = usize::from(idx);
            let header = parse::parse_header(bytes.as_slice(), &name, shard)?;
            let mismatch = |key, expected: u16, found: Option<&Value>| GgufError::SplitMismatch {
                file: name.clone(),
                key,
                expected: expected.to_string(),
                found: found.map_or_else(|| "no such key".to_owned(), Value::describe),
            };
            for (key, expected) in [("split.no", idx), ("split.count", count)] {
                let found = header.metadata.get(key);
                if found.and_then(Value::to_int::<u16>) != Some(expected) {
                    return Err(mismatch(key, expected, found));
                }
            }
            for t in header.tensors {
                if let Some(&first) = self.by_name.get(&t.name) {
                    return Err(GgufError::DuplicateTensorAcrossShards {
                        file: name.clone(),
                        name: t.name,
                        first_file: self.shards[self.tensors[first].shard]
                            .path
                            .display()
                            .to_string(),
                    });
                }
                self.by_name.insert(t.name.clone(), self.tensors.len());
                self.tensors.push(t);
            }
            self.shards.push(Shard { path, bytes });
        }

        let total = self.tensors.len();
        let declared =
            self.metadata
                .typed(&file, "split.tensors.count", "i32", Value::to_int::<i64>)?;
        if declared != i64::try_from(total).ok() {
            return Err(GgufError::SplitMismatch {
                file,
                key: "split.tensors.count",
                expected: format!("{total} (the tensors found in {count} shards)"),
                found: declared.map_or_else(|| "no such key".to_owned(), |d| d.to_string()),
            });
        }
        Ok(())
    }

    fn file_name(&self) -> String {
        self.path.display().to_string()
    }

    /// The path given to [`GgufFile::open`] (the first shard of a split model).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every shard's path, in order (one for a single-file model).
    pub fn shard_paths(&self) -> impl ExactSizeIterator<Item = &Path> + '_ {
        self.shards.iter().map(|s| s.path.as_path())
    }

    /// The GGUF version (2 or 3) of the (first) file.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The data alignment of the (first) file: `general.alignment` or 32.
    pub fn alignment(&self) -> u32 {
        self.alignment
    }

    /// Metadata entries in file order (of the first shard, for a split model).
    pub fn metadata(&self) -> &[(String, Value)] {
        &self.metadata.entries
    }

    /// The value of a metadata key.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.get(key)
    }

    /// A u32 value; any integer type whose value fits is accepted.
    pub fn get_u32(&self, key: &str) -> Result<Option<u32>, GgufError> {
        self.metadata
            .typed(&self.file_name(), key, "u32", Value::to_int)
    }

    /// A u64 value; any integer type whose value fits is accepted.
    pub fn get_u64(&self, key: &str) -> Result<Option<u64>, GgufError> {
        self.metadata
            .typed(&self.file_name(), key, "u64", Value::to_int)
    }

    /// An i32 value; any integer type whose value fits is accepted.
    pub fn get_i32(&self, key: &str) -> Result<Option<i32>, GgufError> {
        self.metadata
            .typed(&self.file_name(), key, "i32", Value::to_int)
    }

    /// An f32 value (exactly f32).
    pub fn get_f32(&self, key: &str) -> Result<Option<f32>, GgufError> {
        self.metadata
            .typed(&self.file_name(), key, "f32", |v| match *v {
                Value::F32(x) => Some(x),
                _ => None,
            })
    }

    /// A bool value (exactly bool).
    pub fn get_bool(&self, key: &str) -> Result<Option<bool>, GgufError> {
        self.metadata
            .typed(&self.file_name(), key, "bool", |v| match *v {
                Value::Bool(x) => Some(x),
                _ => None,
            })
    }

    /// A string value.
    pub fn get_str(&self, key: &str) -> Result<Option<&str>, GgufError> {
        self.metadata
            .typed(&self.file_name(), key, "str", Value::as_str)
    }

    /// An array value of any element type.
    pub fn get_array(&self, key: &str) -> Result<Option<&Array>, GgufError> {
        self.metadata
            .typed(&self.file_name(), key, "arr", Value::as_array)
    }

    /// An array of strings (e.g. `tokenizer.ggml.tokens`). For the original bytes of entries
    /// that were not UTF-8, use [`GgufFile::get_array`] and [`StringArray::raw`].
    pub fn get_string_array(&self, key: &str) -> Result<Option<Vec<&str>>, GgufError> {
        self.metadata
            .typed(&self.file_name(), key, "arr[str]", |v| match v {
                Value::Array(Array::String(a)) => Some(a.iter().collect()),
                _ => None,
            })
    }

    /// An array of f32 (exactly f32), e.g. `tokenizer.ggml.scores`.
    pub fn get_f32_array(&self, key: &str) -> Result<Option<&[f32]>, GgufError> {
        self.metadata
            .typed(&self.file_name(), key, "arr[f32]", |v| match v {
                Value::Array(Array::F32(a)) => Some(a.as_slice()),
                _ => None,
            })
    }

    /// An array of integers of any width that all fit in i32, e.g. `tokenizer.ggml.token_type`.
    pub fn get_i32_array(&self, key: &str) -> Result<Option<Vec<i32>>, GgufError> {
        self.metadata
            .typed(&self.file_name(), key, "arr[i32]", |v| {
                v.as_array()?.to_ints().and_then(Result::ok)
            })
    }

    /// An array of integers of any width that all fit in u32 (e.g. per-layer head counts).
    pub fn get_u32_array(&self, key: &str) -> Result<Option<Vec<u32>>, GgufError> {
        self.metadata
            .typed(&self.file_name(), key, "arr[u32]", |v| {
                v.as_array()?.to_ints().and_then(Result::ok)
            })
    }

    /// The tensor table in file order (shard after shard).
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// A tensor by name.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.by_name.get(name).map(|&i| &self.tensors[i])
    }

    /// The bytes of a tensor of this file, straight from the memory map (pages are read on first
    /// touch). Fails for a tensor of unknown type or one that is not from this file.
    pub fn tensor_data(&self, t: &TensorInfo) -> Result<&[u8], GgufError> {
        let foreign = || GgufError::ForeignTensor {
            file: self.file_name(),
            tensor: t.name.clone(),
            shard: t.shard,
            offset: t.offset,
        };
        if self.tensor(&t.name) != Some(t) {
            return Err(foreign());
        }
        let shard = self.shards.get(t.shard).ok_or_else(foreign)?;
        if let Err(id) = t.ty {
            return Err(GgufError::UnknownTensorType {
                file: shard.path.display().to_string(),
                tensor: t.name.clone(),
                id,
            });
        }
        let bytes = shard.bytes.as_slice();
        usize::try_from(t.offset)
            .ok()
            .zip(usize::try_from(t.size).ok())
            .and_then(|(start, len)| bytes.get(start..start.checked_add(len)?))
            .ok_or_else(|| GgufError::TensorOutOfBounds {
                file: shard.path.display().to_string(),
                tensor: t.name.clone(),
                start: t.offset,
                end: u128::from(t.offset) + u128::from(t.size),
                file_size: bytes.len() as u64,
            })
    }

    /// Total size in bytes of all shards.
    pub fn file_size(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.bytes.as_slice().len() as u64)
            .sum()
    }
}

/// `-00002-of-00003.gguf` for shard index 1 of 3 (llama.cpp's `llama_split_path` format).
fn shard_suffix(idx: u16, count: u16) -> String {
    format!("-{:05}-of-{count:05}.gguf", u32::from(idx) + 1)
}
