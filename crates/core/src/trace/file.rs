//! The `.ttrace` file: a safetensors file whose header `__metadata__` holds the [`GraphDoc`] as
//! JSON under [`METADATA_KEY`], and whose tensors are the captured values, named by their
//! `values.key`, stored as f32 with the numpy (row-major) shape — ggml's `ne` reversed:
//! ne [576, 5] is stored as shape [5, 576].
//!
//! [`write`] goes to a temporary file next to the destination and renames it at the end, so an
//! interrupted or failed write never leaves a partial trace behind.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use safetensors::tensor::{Dtype, Metadata, SafeTensorError, View};
use safetensors::SafeTensors;
use thiserror::Error;

use super::{GraphDoc, FORMAT_NAME, FORMAT_VERSION, METADATA_KEY};

#[derive(Debug, Error)]
pub enum TraceError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a valid .ttrace (safetensors) file, or truncated")]
    Safetensors {
        path: PathBuf,
        #[source]
        source: SafeTensorError,
    },
    #[error(transparent)]
    OutPath(#[from] crate::outpath::OutPathError),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: no graph document under __metadata__[{METADATA_KEY:?}]")]
    MissingDocument { path: PathBuf },
    #[error("{path}: the graph document is not valid JSON")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: expected format {FORMAT_NAME:?} version {FORMAT_VERSION}, found {format:?} version {version}")]
    Version {
        path: PathBuf,
        format: String,
        version: u32,
    },
    #[error("values {key:?}: shape {ne:?} has {expected} elements, data has {found}")]
    Shape {
        key: String,
        ne: [i64; 4],
        expected: u64,
        found: usize,
    },
    #[error("no values named {key:?} in the trace")]
    MissingValues { key: String },
    #[error("values {key:?} are {dtype:?}, expected F32")]
    Dtype { key: String, dtype: Dtype },
}

/// One tensor of values for safetensors: f32 data viewed as bytes.
struct F32View<'a> {
    shape: Vec<usize>,
    data: &'a [f32],
}

impl View for F32View<'_> {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(bytemuck::cast_slice(self.data))
    }
    fn data_len(&self) -> usize {
        self.data.len() * 4
    }
}

/// ggml `ne` → row-major shape: reversed, leading 1s dropped (at least one dimension).
fn numpy_shape(ne: [i64; 4]) -> Vec<usize> {
    let mut shape: Vec<usize> = ne.iter().rev().map(|&n| n.max(0) as usize).collect();
    while shape.len() > 1 && shape[0] == 1 {
        shape.remove(0);
    }
    shape
}

/// Write `doc` and `values` (key, shape in ggml order, data) to `path` atomically.
pub fn write(
    path: &Path,
    doc: &GraphDoc,
    values: &[(String, [i64; 4], &[f32])],
) -> Result<(), TraceError> {
    let mut tensors = Vec::with_capacity(values.len());
    for (key, ne, data) in values {
        let expected: u64 = ne.iter().map(|&n| n.max(0) as u64).product();
        if expected != data.len() as u64 {
            return Err(TraceError::Shape {
                key: key.clone(),
                ne: *ne,
                expected,
                found: data.len(),
            });
        }
        tensors.push((
            key.as_str(),
            F32View {
                shape: numpy_shape(*ne),
                data,
            },
        ));
    }
    // never rename over a device, FIFO, directory, symlink or model (`-o /dev/null` as root
    // would otherwise replace the device node with a regular file)
    crate::outpath::check(path, &[])?;
    let json = serde_json::to_string(doc).map_err(|source| TraceError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    let meta = HashMap::from([(METADATA_KEY.to_string(), json)]);
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.{}.tmp", std::process::id()));
    // errors name the file asked for, not the temporary one
    let result = safetensors::serialize_to_file(tensors, Some(meta), &tmp)
        .map_err(|source| match source {
            SafeTensorError::IoError(source) => TraceError::Write {
                path: path.to_path_buf(),
                source,
            },
            source => TraceError::Safetensors {
                path: path.to_path_buf(),
                source,
            },
        })
        .and_then(|()| {
            std::fs::rename(&tmp, path).map_err(|source| TraceError::Io {
                path: path.to_path_buf(),
                source,
            })
        });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// An opened trace: the graph document, and the values read on demand from the memory map.
pub struct Trace {
    pub doc: GraphDoc,
    mmap: Mmap,
    /// Start of the data section in the file.
    data_start: usize,
    metadata: Metadata,
}

impl std::fmt::Debug for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trace")
            .field("tensors", &self.doc.tensors.len())
            .finish_non_exhaustive()
    }
}

/// Open a `.ttrace` file.
pub fn read(path: &Path) -> Result<Trace, TraceError> {
    let io = |source| TraceError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    // SAFETY: the file is opened read-only; a concurrent writer could change the bytes under
    // us, which trace files (written once, renamed into place) do not do.
    let mmap = unsafe { Mmap::map(&file) }.map_err(io)?;
    let (header_len, metadata) =
        SafeTensors::read_metadata(&mmap).map_err(|source| TraceError::Safetensors {
            path: path.to_path_buf(),
            source,
        })?;
    let json = metadata
        .metadata()
        .as_ref()
        .and_then(|m| m.get(METADATA_KEY))
        .ok_or_else(|| TraceError::MissingDocument {
            path: path.to_path_buf(),
        })?;
    let doc: GraphDoc = serde_json::from_str(json).map_err(|source| TraceError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    if doc.format != FORMAT_NAME || doc.version != FORMAT_VERSION {
        return Err(TraceError::Version {
            path: path.to_path_buf(),
            format: doc.format,
            version: doc.version,
        });
    }
    Ok(Trace {
        doc,
        mmap,
        data_start: 8 + header_len,
        metadata,
    })
}

impl Trace {
    /// The values stored under `key` (a `values.key` of the document), as f32.
    pub fn values(&self, key: &str) -> Result<Vec<f32>, TraceError> {
        let info = self
            .metadata
            .info(key)
            .ok_or_else(|| TraceError::MissingValues {
                key: key.to_string(),
            })?;
        if info.dtype != Dtype::F32 {
            return Err(TraceError::Dtype {
                key: key.to_string(),
                dtype: info.dtype,
            });
        }
        let (a, b) = info.data_offsets;
        // read_metadata checked that the offsets lie inside the file
        let bytes = &self.mmap[self.data_start + a..self.data_start + b];
        Ok(bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    /// Keys of all stored values.
    pub fn keys(&self) -> Vec<String> {
        self.metadata.offset_keys()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{GraphDoc, ModelInfo};
    use crate::Graph;

    fn doc() -> GraphDoc {
        GraphDoc::from_graph(
            &Graph::new(),
            ModelInfo {
                name: "m".into(),
                ..Default::default()
            },
        )
    }

    #[test]
    fn round_trips_document_and_values() {
        let dir = std::env::temp_dir().join(format!("tt-trace-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.ttrace");
        let v = [1.0f32, -2.5, 3.25, 0.0, 5.0, 6.0];
        write(&path, &doc(), &[("00001:x".into(), [3, 2, 1, 1], &v)]).unwrap();
        let t = read(&path).unwrap();
        assert_eq!(t.doc.model.name, "m");
        assert_eq!(t.values("00001:x").unwrap(), v);
        assert_eq!(t.keys(), ["00001:x"]);
        assert!(matches!(
            t.values("nope"),
            Err(TraceError::MissingValues { .. })
        ));
        // the raw safetensors shape is ne reversed
        let bytes = std::fs::read(&path).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        assert_eq!(st.tensor("00001:x").unwrap().shape(), [2, 3]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_write_leaves_no_file() {
        let dir = std::env::temp_dir().join(format!("tt-trace-fail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("b.ttrace");
        let v = [1.0f32; 5];
        let err = write(&path, &doc(), &[("k".into(), [3, 2, 1, 1], &v)]).unwrap_err();
        assert!(matches!(
            err,
            TraceError::Shape {
                expected: 6,
                found: 5,
                ..
            }
        ));
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        let missing_dir = dir.join("no/such/dir/c.ttrace");
        assert!(write(&missing_dir, &doc(), &[]).is_err());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
