//! A GGUF writer for tests: builds a file in memory from metadata and tensors. It writes exactly
//! what it is given (duplicate keys, odd shapes, explicit offsets), so tests can also build the
//! malformed files the reader must reject. Compiled for tests and with the `test-writer` feature
//! (for other crates' tests); it is not a general-purpose writer.

use super::value::{Array, Value};
use super::{GgufError, GgufFile, DEFAULT_ALIGNMENT};
use crate::GgmlType;

/// One tensor to write.
#[derive(Clone, Debug)]
pub struct TensorSpec {
    pub name: String,
    /// The ggml type id written (need not be a known type).
    pub type_id: u32,
    /// Shape in ggml order; its length is the dimension count written.
    pub ne: Vec<u64>,
    /// The bytes written at the tensor's offset (need not match the shape).
    pub data: Vec<u8>,
    /// Offset within the data section; `None` places the tensor right after the previous one,
    /// padded to the alignment, as real writers do.
    pub offset: Option<u64>,
}

/// A GGUF file under construction.
#[derive(Clone, Debug)]
pub struct GgufWriter {
    pub version: u32,
    pub metadata: Vec<(String, Value)>,
    pub tensors: Vec<TensorSpec>,
}

impl Default for GgufWriter {
    fn default() -> GgufWriter {
        GgufWriter {
            version: 3,
            metadata: Vec::new(),
            tensors: Vec::new(),
        }
    }
}

impl GgufWriter {
    /// An empty version-3 file.
    pub fn new() -> GgufWriter {
        GgufWriter::default()
    }

    /// Adds a metadata entry.
    pub fn kv(mut self, key: &str, value: Value) -> GgufWriter {
        self.metadata.push((key.to_owned(), value));
        self
    }

    /// Adds a tensor of a known type, placed after the previous one.
    pub fn tensor(mut self, name: &str, ty: GgmlType, ne: &[u64], data: Vec<u8>) -> GgufWriter {
        self.tensors.push(TensorSpec {
            name: name.to_owned(),
            type_id: ty.id(),
            ne: ne.to_vec(),
            data,
            offset: None,
        });
        self
    }

    /// Adds a tensor with every field under the caller's control.
    pub fn raw_tensor(mut self, spec: TensorSpec) -> GgufWriter {
        self.tensors.push(spec);
        self
    }

    /// A copy of a parsed file (metadata and every tensor's bytes); fails on a tensor whose data
    /// cannot be read.
    pub fn from_file(file: &GgufFile) -> Result<GgufWriter, GgufError> {
        let mut w = GgufWriter {
            version: file.version(),
            metadata: file.metadata().to_vec(),
            tensors: Vec::new(),
        };
        for t in file.tensors() {
            w.tensors.push(TensorSpec {
                name: t.name.clone(),
                type_id: t.ty.map_or_else(|id| id, GgmlType::id),
                ne: t.shape().to_vec(),
                data: file.tensor_data(t)?.to_vec(),
                offset: None,
            });
        }
        Ok(w)
    }

    /// The alignment used for padding: `general.alignment` if it is a u32 power of two, else 32.
    pub fn alignment(&self) -> u64 {
        let declared = self.metadata.iter().find(|(k, _)| k == "general.alignment");
        match declared {
            Some((_, Value::U32(a))) if a.is_power_of_two() => u64::from(*a),
            _ => u64::from(DEFAULT_ALIGNMENT),
        }
    }

    /// The file's bytes. Without tensors the file ends right after the header (like llama.cpp's
    /// vocab-only files); with tensors the data section is padded to the alignment at the end.
    pub fn to_bytes(&self) -> Vec<u8> {
        let align = self.alignment();
        let mut out = Vec::new();
        out.extend_from_slice(b"GGUF");
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.metadata.len() as u64).to_le_bytes());
        for (key, value) in &self.metadata {
            write_str(&mut out, key.as_bytes());
            out.extend_from_slice(&value.value_type().id().to_le_bytes());
            write_value(&mut out, value);
        }
        let mut offsets = Vec::with_capacity(self.tensors.len());
        let mut next = 0u64;
        for t in &self.tensors {
            let offset = t.offset.unwrap_or(next);
            next = offset + (t.data.len() as u64).next_multiple_of(align);
            offsets.push(offset);
            write_str(&mut out, t.name.as_bytes());
            out.extend_from_slice(&(t.ne.len() as u32).to_le_bytes());
            for &x in &t.ne {
                out.extend_from_slice(&x.to_le_bytes());
            }
            out.extend_from_slice(&t.type_id.to_le_bytes());
            out.extend_from_slice(&offset.to_le_bytes());
        }
        if self.tensors.is_empty() {
            return out;
        }
        out.resize((out.len() as u64).next_multiple_of(align) as usize, 0);
        let data_start = out.len();
        for (t, &offset) in self.tensors.iter().zip(&offsets) {
            let start = data_start + offset as usize;
            if out.len() < start + t.data.len() {
                out.resize(start + t.data.len(), 0);
            }
            out[start..start + t.data.len()].copy_from_slice(&t.data);
        }
        out.resize((out.len() as u64).next_multiple_of(align) as usize, 0);
        out
    }
}

fn write_str(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s);
}

fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::U8(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I8(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Bool(x) => out.push(u8::from(*x)),
        Value::String(s) => write_str(out, s.as_bytes()),
        Value::U64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Array(a) => write_array(out, a),
    }
}

/// Element type, count, elements; an element that is an array is written the same way.
fn write_array(out: &mut Vec<u8>, a: &Array) {
    out.extend_from_slice(&a.element_type().id().to_le_bytes());
    out.extend_from_slice(&(a.len() as u64).to_le_bytes());
    macro_rules! each {
        ($v:expr) => {
            for x in $v {
                out.extend_from_slice(&x.to_le_bytes());
            }
        };
    }
    match a {
        Array::U8(v) => out.extend_from_slice(v),
        Array::I8(v) => each!(v),
        Array::U16(v) => each!(v),
        Array::I16(v) => each!(v),
        Array::U32(v) => each!(v),
        Array::I32(v) => each!(v),
        Array::F32(v) => each!(v),
        Array::Bool(v) => out.extend(v.iter().map(|&b| u8::from(b))),
        Array::String(v) => {
            for i in 0..v.len() {
                write_str(out, v.raw(i).unwrap_or_default());
            }
        }
        Array::U64(v) => each!(v),
        Array::I64(v) => each!(v),
        Array::F64(v) => each!(v),
        Array::Array(v) => {
            for inner in v {
                write_array(out, inner);
            }
        }
    }
}
