//! `tensor-trace inspect MODEL`: a GGUF file's metadata and tensor table, as llama.cpp would
//! read them (no tensor data is touched). `--json` prints the same as one JSON object.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use serde_json::{json, Value as Json};
use tt_core::gguf::{Array, GgufFile, Value};

use crate::engine::human_bytes;

/// Arrays longer than this are shortened to their first elements in `--json` output.
const JSON_ARRAY_HEAD: usize = 64;

#[derive(Parser, Debug)]
pub struct Args {
    /// GGUF file (the first shard of a split model)
    #[arg(value_name = "MODEL.gguf")]
    pub model: PathBuf,

    /// Print one JSON object: {file, version, alignment, file_size, metadata: {key: value},
    /// tensors: [{name, type, ne, n_elements, bytes, offset, shard}]}; arrays longer than 64
    /// elements become {len, head: [first 64]}
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let f = GgufFile::open(&args.model)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &to_json(&f)).context("writing to stdout")?;
        writeln!(out)?;
    } else {
        print_text(&f, &mut out)?;
    }
    out.flush()?;
    Ok(())
}

fn print_text(f: &GgufFile, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "file        {}", f.path().display())?;
    writeln!(
        out,
        "format      GGUF v{}, alignment {}, {} in {} file(s)",
        f.version(),
        f.alignment(),
        human_bytes(f.file_size()),
        f.shard_paths().len()
    )?;
    let n_params: u64 = f.tensors().iter().map(|t| t.n_elements()).sum();
    let n_bytes: u64 = f.tensors().iter().map(|t| t.size).sum();
    let mut by_type: BTreeMap<String, usize> = BTreeMap::new();
    for t in f.tensors() {
        *by_type.entry(t.type_name().into_owned()).or_default() += 1;
    }
    let types: Vec<String> = by_type.iter().map(|(k, n)| format!("{n} {k}")).collect();
    let unknown: Vec<&str> = f
        .tensors()
        .iter()
        .filter(|t| t.ty.is_err())
        .map(|t| t.name.as_str())
        .collect();
    if let Some(first) = unknown.first() {
        eprintln!(
            "warning: {}: {} tensor(s) have a ggml type id this build does not know (first: {first} \
             is {}); they are listed, but cannot be read or computed",
            f.path().display(),
            unknown.len(),
            f.tensors().iter().find(|t| t.ty.is_err()).map_or_else(String::new, |t| t.type_name().into_owned())
        );
    }
    writeln!(
        out,
        "tensors     {} ({} parameters, {}): {}",
        f.tensors().len(),
        group_digits(n_params),
        human_bytes(n_bytes),
        types.join(", ")
    )?;

    writeln!(out, "\nmetadata ({} keys)", f.metadata().len())?;
    let key_w = f.metadata().iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in f.metadata() {
        let text = v.to_string();
        // Keep one line per key: a long string (chat template) is cut, with its length shown.
        let one_line: String = text.replace('\n', "\\n");
        let shown = if one_line.chars().count() > 100 {
            let head: String = one_line.chars().take(100).collect();
            format!("{head}… ({} chars)", text.chars().count())
        } else {
            one_line
        };
        writeln!(out, "  {k:<key_w$}  {:<14}  {shown}", v.type_name())?;
    }

    writeln!(out, "\ntensors")?;
    let name_w = f.tensors().iter().map(|t| t.name.len()).max().unwrap_or(4);
    writeln!(
        out,
        "  {:>5}  {:<name_w$}  {:<7}  {:<24}  {:>10}",
        "#", "name", "type", "ne", "bytes"
    )?;
    for (i, t) in f.tensors().iter().enumerate() {
        let shape: Vec<String> = t.shape().iter().map(|n| n.to_string()).collect();
        writeln!(
            out,
            "  {i:>5}  {:<name_w$}  {:<7}  {:<24}  {:>10}",
            t.name,
            t.type_name(),
            format!("[{}]", shape.join(", ")),
            human_bytes(t.size)
        )?;
    }
    Ok(())
}

fn to_json(f: &GgufFile) -> Json {
    let metadata: serde_json::Map<String, Json> = f
        .metadata()
        .iter()
        .map(|(k, v)| (k.clone(), value_json(v)))
        .collect();
    let tensors: Vec<Json> = f
        .tensors()
        .iter()
        .map(|t| {
            json!({
                "name": t.name,
                "type": t.type_name(),
                "ne": t.shape(),
                "n_elements": t.n_elements(),
                "bytes": t.size,
                "offset": t.offset,
                "shard": t.shard,
            })
        })
        .collect();
    json!({
        "file": f.path().file_name().map(|n| n.to_string_lossy().into_owned()),
        "version": f.version(),
        "alignment": f.alignment(),
        "file_size": f.file_size(),
        "metadata": metadata,
        "tensors": tensors,
    })
}

fn value_json(v: &Value) -> Json {
    match v {
        Value::U8(x) => json!(x),
        Value::I8(x) => json!(x),
        Value::U16(x) => json!(x),
        Value::I16(x) => json!(x),
        Value::U32(x) => json!(x),
        Value::I32(x) => json!(x),
        Value::F32(x) => json!(x),
        Value::Bool(x) => json!(x),
        Value::String(s) => json!(s),
        Value::U64(x) => json!(x),
        Value::I64(x) => json!(x),
        Value::F64(x) => json!(x),
        Value::Array(a) => array_json(a),
    }
}

fn array_json(a: &Array) -> Json {
    fn head<T: serde::Serialize>(v: &[T]) -> Json {
        json!(&v[..v.len().min(JSON_ARRAY_HEAD)])
    }
    let elems = match a {
        Array::U8(v) => head(v),
        Array::I8(v) => head(v),
        Array::U16(v) => head(v),
        Array::I16(v) => head(v),
        Array::U32(v) => head(v),
        Array::I32(v) => head(v),
        Array::F32(v) => head(v),
        Array::Bool(v) => head(v),
        Array::String(v) => json!(v.iter().take(JSON_ARRAY_HEAD).collect::<Vec<_>>()),
        Array::U64(v) => head(v),
        Array::I64(v) => head(v),
        Array::F64(v) => head(v),
        Array::Array(v) => Json::Array(v.iter().take(JSON_ARRAY_HEAD).map(array_json).collect()),
    };
    if a.len() > JSON_ARRAY_HEAD {
        json!({ "len": a.len(), "head": elems })
    } else {
        elems
    }
}

/// 134515008 → "134,515,008".
fn group_digits(n: u64) -> String {
    let digits = n.to_string();
    let first = match digits.len() % 3 {
        0 => 3,
        r => r,
    };
    let mut out = digits[..first.min(digits.len())].to_string();
    for chunk in digits.as_bytes()[first.min(digits.len())..].chunks(3) {
        out.push(',');
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_grouped_by_thousands() {
        assert_eq!(group_digits(0), "0");
        assert_eq!(group_digits(999), "999");
        assert_eq!(group_digits(1000), "1,000");
        assert_eq!(group_digits(134515008), "134,515,008");
    }

    #[test]
    fn long_arrays_are_shortened_in_json() {
        let a = Array::U32((0..100).collect());
        let j = array_json(&a);
        assert_eq!(j["len"], 100);
        assert_eq!(j["head"].as_array().unwrap().len(), JSON_ARRAY_HEAD);
        assert_eq!(array_json(&Array::I32(vec![1, -2])), json!([1, -2]));
    }
}
