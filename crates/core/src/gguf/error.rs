//! Every way opening or reading a GGUF file can fail. Each message names the file, says what was
//! expected and what was found, and gives the byte offset of the offending field where there is
//! one, e.g. `model.gguf: truncated at byte 1234: expected 8 bytes for the length of metadata
//! key #3, found 2`.

use crate::GgmlType;

/// An error from the GGUF reader. `file` is the path (or in-memory name) of the file at fault,
/// which for a split model is the shard at fault.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    /// The file could not be opened, measured or memory-mapped.
    #[error("{file}: cannot read the file: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },

    /// The file ends inside a fixed-size field.
    #[error(
        "{file}: truncated at byte {offset}: expected {expected} bytes for {what}, found {found}"
    )]
    Truncated {
        file: String,
        offset: u64,
        what: String,
        expected: u64,
        found: u64,
    },

    /// A declared string length or element count needs more bytes than the file has left.
    #[error(
        "{file}: at byte {offset}: {what} is {declared}, which needs at least {needed} bytes, \
         but only {remaining} bytes remain in the file"
    )]
    LengthExceedsFile {
        file: String,
        offset: u64,
        what: String,
        declared: u64,
        needed: u128,
        remaining: u64,
    },

    /// A declared length or count is beyond the limits ggml itself enforces.
    #[error("{file}: at byte {offset}: {what} is {found}, more than the limit of {limit}")]
    LimitExceeded {
        file: String,
        offset: u64,
        what: String,
        found: u64,
        limit: u64,
    },

    /// The first four bytes are not `GGUF`.
    #[error(
        "{file}: not a GGUF file: expected the magic \"GGUF\" at byte 0, found {}",
        show_bytes(found)
    )]
    BadMagic { file: String, found: [u8; 4] },

    /// The version field reads as a byte-swapped small number: a big-endian file.
    #[error(
        "{file}: big-endian GGUF is not supported: the version field at byte 4 reads {found:#010x}, \
         which is {} with its bytes swapped",
        found.swap_bytes()
    )]
    BigEndian { file: String, found: u32 },

    /// A version other than 2 or 3.
    #[error("{file}: unsupported GGUF version {found} at byte 4: expected 2 or 3{}", version_hint(*found))]
    UnsupportedVersion { file: String, found: u32 },

    /// A key or tensor name that is not UTF-8.
    #[error("{file}: at byte {offset}: {what} is not valid UTF-8")]
    InvalidUtf8 {
        file: String,
        offset: u64,
        what: String,
    },

    /// A metadata key of length zero (ggml rejects these too).
    #[error("{file}: at byte {offset}: metadata key #{index} is empty: expected a non-empty key")]
    EmptyKey {
        file: String,
        offset: u64,
        index: u64,
    },

    /// The same metadata key twice.
    #[error("{file}: at byte {offset}: duplicate metadata key '{key}': entry #{index} repeats entry #{first}")]
    DuplicateKey {
        file: String,
        offset: u64,
        key: String,
        index: u64,
        first: u64,
    },

    /// A value type id outside 0..=12.
    #[error(
        "{file}: at byte {offset}: expected a GGUF value type (0 to 12) for {what}, found {found}"
    )]
    UnknownValueType {
        file: String,
        offset: u64,
        what: String,
        found: u32,
    },

    /// Arrays nested deeper than [`super::MAX_ARRAY_DEPTH`].
    #[error("{file}: at byte {offset}: the value of key '{key}' nests arrays deeper than {limit} levels")]
    NestingTooDeep {
        file: String,
        offset: u64,
        key: String,
        limit: usize,
    },

    /// `general.alignment` is not a non-zero power of two stored as u32.
    #[error(
        "{file}: general.alignment: expected a non-zero power of two of type u32, found {found}"
    )]
    InvalidAlignment { file: String, found: String },

    /// A tensor name of 64 bytes or more (ggml's `GGML_MAX_NAME` counts the terminating NUL).
    #[error(
        "{file}: at byte {offset}: the name of tensor #{index} is {len} bytes long: \
         expected fewer than {limit}"
    )]
    TensorNameTooLong {
        file: String,
        offset: u64,
        index: u64,
        len: u64,
        limit: usize,
    },

    /// The same tensor name twice in one file.
    #[error("{file}: at byte {offset}: duplicate tensor name '{name}': tensor #{index} repeats tensor #{first}")]
    DuplicateTensor {
        file: String,
        offset: u64,
        name: String,
        index: u64,
        first: usize,
    },

    /// The same tensor name in two shards of a split model.
    #[error("{file}: tensor '{name}' is also defined in {first_file}")]
    DuplicateTensorAcrossShards {
        file: String,
        name: String,
        first_file: String,
    },

    /// A dimension count other than 1 to 4.
    #[error(
        "{file}: at byte {offset}: tensor '{tensor}': expected 1 to 4 dimensions, found {found}"
    )]
    BadDimensionCount {
        file: String,
        offset: u64,
        tensor: String,
        found: u32,
    },

    /// A dimension of size zero, or one that is negative as ggml's signed `int64_t ne[]`.
    #[error(
        "{file}: at byte {offset}: tensor '{tensor}': expected a positive size for dimension {dim}, \
         found {found}{}",
        negative_hint(*found)
    )]
    BadDimension {
        file: String,
        offset: u64,
        tensor: String,
        dim: usize,
        found: u64,
    },

    /// The element count or byte size does not fit (elements in an i64, bytes in a usize).
    #[error("{file}: at byte {offset}: tensor '{tensor}' with shape {ne:?} is too large: its {what} overflows")]
    TensorTooLarge {
        file: String,
        offset: u64,
        tensor: String,
        ne: Vec<u64>,
        what: &'static str,
    },

    /// `ne[0]` is not a whole number of quantization blocks.
    #[error(
        "{file}: at byte {offset}: tensor '{tensor}' of type {ty} has {ne0} elements per row: \
         expected a multiple of the block size {block}"
    )]
    RowNotWholeBlocks {
        file: String,
        offset: u64,
        tensor: String,
        ty: GgmlType,
        ne0: u64,
        block: usize,
    },

    /// A tensor data offset that is not a multiple of the file's alignment.
    #[error("{file}: tensor '{tensor}': expected a data offset that is a multiple of {alignment}, found {offset}")]
    MisalignedTensor {
        file: String,
        tensor: String,
        offset: u64,
        alignment: u32,
    },

    /// A tensor whose data starts before the previous tensor's (padded) data ends.
    #[error(
        "{file}: tensor '{tensor}': data at offset {offset} overlaps tensor '{other}', \
         whose data (padded) ends at offset {other_end}"
    )]
    OverlappingTensors {
        file: String,
        tensor: String,
        offset: u64,
        other: String,
        other_end: u64,
    },

    /// A gap or reordering in the data section: ggml requires each tensor's data to start right
    /// where the previous tensor's padded data ends, in table order.
    #[error(
        "{file}: tensor '{tensor}': expected data offset {expected} (right after the previous \
         tensor, padded to the alignment, as ggml requires), found {offset}"
    )]
    TensorGap {
        file: String,
        tensor: String,
        offset: u64,
        expected: u64,
    },

    /// Tensor data that does not lie inside the file.
    #[error("{file}: tensor '{tensor}': data at bytes {start}..{end} lies outside the file ({file_size} bytes)")]
    TensorOutOfBounds {
        file: String,
        tensor: String,
        start: u64,
        end: u128,
        file_size: u64,
    },

    /// The data of a tensor whose ggml type id is unknown was asked for.
    #[error(
        "{file}: tensor '{tensor}' has unknown ggml type id {id}: its size and data are unknown"
    )]
    UnknownTensorType {
        file: String,
        tensor: String,
        id: u32,
    },

    /// `tensor_data` was given a `TensorInfo` that is not one of this file's.
    #[error(
        "{file}: tensor '{tensor}' (shard {shard}, offset {offset}) is not a tensor of this file"
    )]
    ForeignTensor {
        file: String,
        tensor: String,
        shard: usize,
        offset: u64,
    },

    /// A split model was opened from a shard other than the first.
    #[error(
        "{file}: this is shard {} of {count} (split.no = {no}): open the first shard, \
         whose name ends in -00001-of-{count:05}.gguf",
        *no as u32 + 1
    )]
    NotFirstShard { file: String, no: u16, count: u16 },

    /// A split model whose first shard is not named `<prefix>-00001-of-<count>.gguf`.
    #[error("{file}: split.count is {count}, so the file name must end in '{expected_suffix}' to find the other shards")]
    BadShardName {
        file: String,
        count: u16,
        expected_suffix: String,
    },

    /// A shard of a split model that could not be opened.
    #[error("{file}: cannot open shard {shard} of {count}: {source}")]
    MissingShard {
        file: String,
        shard: u32,
        count: u16,
        #[source]
        source: std::io::Error,
    },

    /// Split metadata (`split.no`, `split.count`, `split.tensors.count`) that does not match.
    #[error("{file}: {key}: expected {expected}, found {found}")]
    SplitMismatch {
        file: String,
        key: &'static str,
        expected: String,
        found: String,
    },

    /// A typed getter found a value of another type (or an integer out of range).
    #[error("{file}: key {key}: expected {expected}, found {found}")]
    KeyType {
        file: String,
        key: String,
        expected: &'static str,
        found: String,
    },
}

fn show_bytes(b: &[u8]) -> String {
    format!("\"{}\"", b.escape_ascii())
}

fn version_hint(v: u32) -> &'static str {
    if v == 1 {
        " (GGUFv1 is no longer supported, as in llama.cpp)"
    } else {
        ""
    }
}

fn negative_hint(x: u64) -> String {
    match i64::try_from(x) {
        Ok(_) => String::new(),
        Err(_) => format!(" (which is {} as ggml's signed int64)", x as i64),
    }
}
