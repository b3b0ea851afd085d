//! Checks on a path a command is about to write, made before any work so a long trace never
//! ends in "cannot write": the directory must exist, an existing target must be a regular file
//! (never a device, FIFO, directory or symlink, which renaming over would replace), and the
//! target must not be one of the command's inputs (`trace m.gguf -o m.gguf` would destroy the
//! model it reads).

use std::path::{Path, PathBuf};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum OutPathError {
    #[error("cannot write {path}: its directory {dir} does not exist")]
    NoDirectory { path: PathBuf, dir: PathBuf },
    #[error("cannot write {path}: {dir} is not a directory")]
    NotADirectory { path: PathBuf, dir: PathBuf },
    #[error("cannot write {path}: it exists and is not a regular file (a {kind}); refusing to replace it")]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error("cannot write {path}: it is the input {input}; choose another output name")]
    IsInput { path: PathBuf, input: PathBuf },
    #[error("cannot write {path}: it is a GGUF model; refusing to overwrite a model (choose another output name)")]
    IsModel { path: PathBuf },
    #[error("cannot write {path}: no file name")]
    NoFileName { path: PathBuf },
}

/// Checks that `path` can be written as a new or replaced regular file that is none of `inputs`.
pub fn check(path: &Path, inputs: &[&Path]) -> Result<(), OutPathError> {
    let err_path = || path.to_path_buf();
    if path.file_name().is_none() {
        return Err(OutPathError::NoFileName { path: err_path() });
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    match std::fs::metadata(dir) {
        Err(_) => {
            return Err(OutPathError::NoDirectory {
                path: err_path(),
                dir: dir.to_path_buf(),
            })
        }
        Ok(m) if !m.is_dir() => {
            return Err(OutPathError::NotADirectory {
                path: err_path(),
                dir: dir.to_path_buf(),
            })
        }
        Ok(_) => {}
    }
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(()); // a new file
    };
    let ft = meta.file_type();
    if !ft.is_file() {
        let kind = if ft.is_dir() {
            "directory"
        } else if ft.is_symlink() {
            "symbolic link"
        } else {
            special_kind(&ft)
        };
        return Err(OutPathError::NotRegular {
            path: err_path(),
            kind,
        });
    }
    for input in inputs {
        if same_file(path, input) {
            return Err(OutPathError::IsInput {
                path: err_path(),
                input: input.to_path_buf(),
            });
        }
    }
    if is_gguf(path) {
        return Err(OutPathError::IsModel { path: err_path() });
    }
    Ok(())
}

#[cfg(unix)]
fn special_kind(ft: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_fifo() {
        "FIFO"
    } else if ft.is_char_device() || ft.is_block_device() {
        "device"
    } else if ft.is_socket() {
        "socket"
    } else {
        "special file"
    }
}

#[cfg(not(unix))]
fn special_kind(_: &std::fs::FileType) -> &'static str {
    "special file"
}

/// True when the file starts with GGUF's magic: no command of ours writes a model.
fn is_gguf(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && &magic == b"GGUF"
}

/// True when both paths name one existing file (hard links and `./a` vs `a` included).
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return ma.dev() == mb.dev() && ma.ino() == mb.ino();
        }
        false
    }
    #[cfg(not(unix))]
    {
        matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tt-outpath-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn new_and_regular_files_pass() {
        let d = tmp("ok");
        assert!(check(&d.join("new.ttrace"), &[]).is_ok());
        std::fs::write(d.join("old.ttrace"), b"x").unwrap();
        assert!(check(&d.join("old.ttrace"), &[&d.join("model.gguf")]).is_ok());
    }

    #[test]
    fn missing_directory_input_and_special_files_are_refused() {
        let d = tmp("bad");
        let e = check(&d.join("nope/x.ttrace"), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("nope") && e.contains("does not exist"), "{e}");
        std::fs::write(d.join("model.gguf"), b"GGUF").unwrap();
        let e = check(&d.join("model.gguf"), &[]).unwrap_err().to_string();
        assert!(e.contains("is a GGUF model"), "{e}");
        std::fs::write(d.join("in.ttrace"), b"{}").unwrap();
        // the same file by another spelling
        let other = d.join(".").join("in.ttrace");
        let e = check(&other, &[&d.join("in.ttrace")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("is the input"), "{e}");
        let e = check(&d, &[]).unwrap_err().to_string();
        assert!(e.contains("a directory"), "{e}");
        #[cfg(unix)]
        {
            let e = check(Path::new("/dev/null"), &[]).unwrap_err().to_string();
            assert!(e.contains("a device"), "{e}");
            std::os::unix::fs::symlink(d.join("model.gguf"), d.join("link")).unwrap();
            let e = check(&d.join("link"), &[]).unwrap_err().to_string();
            assert!(e.contains("symbolic link"), "{e}");
        }
        let e = check(&d.join("model.gguf/x"), &[]).unwrap_err().to_string();
        assert!(e.contains("is not a directory"), "{e}");
    }
}
