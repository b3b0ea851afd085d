//! Graphviz export of a graph document: one box per node (name, op, shape), one ellipse per
//! leaf it reads, an edge from each source to its reader labelled with the source position,
//! filled by semantic group. `layer` restricts the drawing to one layer's nodes; sources from
//! outside that layer are drawn dashed, so the picture still says where inputs come from.

use std::collections::BTreeSet;
use std::fmt::Write;

use crate::graph::Group;
use crate::trace::{GraphDoc, TensorDoc};

/// Fill colour of a group (the viewer's palette in spirit; plain names Graphviz knows).
fn colour(g: Group) -> &'static str {
    match g {
        Group::Embedding => "#f4cccc",
        Group::Query => "#cfe2f3",
        Group::Key => "#d9ead3",
        Group::Value => "#fff2cc",
        Group::Attention => "#d9d2e9",
        Group::KvCache => "#ead1dc",
        Group::Mlp => "#fce5cd",
        Group::Residual => "#eeeeee",
        Group::Norm => "#d0e0e3",
        Group::Output => "#f9cb9c",
        Group::Input => "#ffffff",
    }
}

/// `[576, 5, 1, 1]` → `576×5` (trailing 1s dropped, as ggml counts dims).
fn shape(ne: &[i64; 4]) -> String {
    let n = (1..4).rev().find(|&i| ne[i] != 1).map_or(1, |i| i + 1);
    ne[..n]
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("×")
}

/// A DOT string literal: quotes and backslashes escaped.
fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

fn label(t: &TensorDoc) -> String {
    if t.kind == "node" {
        format!("{}\n{} {}", t.name, t.op, shape(&t.ne))
    } else {
        format!("{}\n{} {}", t.name, t.ty, shape(&t.ne))
    }
}

/// The document as a Graphviz digraph; `layer` keeps only that layer's nodes (and marks the
/// tensors they read from elsewhere).
pub fn to_dot(doc: &GraphDoc, layer: Option<u32>) -> String {
    let keep = |t: &TensorDoc| layer.is_none() || t.layer == layer;
    let nodes: Vec<&TensorDoc> = doc
        .nodes
        .iter()
        .map(|&i| &doc.tensors[i as usize])
        .filter(|t| keep(t))
        .collect();
    let inside: BTreeSet<u32> = nodes.iter().map(|t| t.id).collect();
    let mut outside = BTreeSet::new();
    for t in &nodes {
        for s in t.src.iter().flatten() {
            if !inside.contains(s) {
                outside.insert(*s);
            }
        }
    }
    let mut s = String::new();
    let title = match layer {
        Some(l) => format!("{} — layer {l}", doc.model.name),
        None => doc.model.name.clone(),
    };
    let _ = writeln!(s, "digraph {} {{", quote(&title));
    let _ = writeln!(s, "  rankdir=TB;");
    let _ = writeln!(
        s,
        "  node [fontname=\"Helvetica\", fontsize=10, style=filled];"
    );
    let _ = writeln!(s, "  edge [fontsize=8, color=\"#666666\"];");
    for &id in &outside {
        let t = &doc.tensors[id as usize];
        let (shape_kind, style) = if t.kind == "node" {
            ("box", "filled,dashed")
        } else {
            (
                "ellipse",
                if layer.is_some() {
                    "filled,dashed"
                } else {
                    "filled"
                },
            )
        };
        let _ = writeln!(
            s,
            "  t{id} [label={}, shape={shape_kind}, style=\"{style}\", fillcolor=\"{}\"];",
            quote(&label(t)),
            colour(t.group)
        );
    }
    for t in &nodes {
        let _ = writeln!(
            s,
            "  t{} [label={}, shape=box, fillcolor=\"{}\"];",
            t.id,
            quote(&label(t)),
            colour(t.group)
        );
    }
    for t in &nodes {
        for (pos, src) in t.src.iter().enumerate() {
            if let Some(src) = src {
                let _ = writeln!(s, "  t{src} -> t{} [label=\"{pos}\"];", t.id);
            }
        }
    }
    s.push_str("}\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Graph, Leaf};
    use crate::trace::ModelInfo;
    use crate::GgmlType;

    fn doc() -> GraphDoc {
        let mut g = Graph::new();
        let x = g.new_leaf(
            "inp \"x\"",
            Leaf::Weight,
            GgmlType::F32,
            [4, 2, 1, 1],
            Group::Input,
        );
        g.set_layer(Some(0));
        let a = g.rms_norm(x, 1e-5);
        g.cb(a, "norm", Some(0), Group::Norm);
        g.set_layer(Some(1));
        let b = g.scale(a, 2.0);
        g.cb(b, "scaled", Some(1), Group::Residual);
        g.build_forward_expand(b);
        GraphDoc::from_graph(
            &g,
            ModelInfo {
                name: "m".into(),
                ..Default::default()
            },
        )
    }

    #[test]
    fn whole_graph_has_every_tensor_and_edge() {
        let d = to_dot(&doc(), None);
        assert!(d.starts_with("digraph \"m\" {"));
        assert!(d.contains(r#"label="inp \"x\"\nf32 4×2""#), "{d}");
        assert!(d.contains(r#"label="norm-0\nRMS_NORM 4×2""#), "{d}");
        assert!(d.contains("t0 -> t1 [label=\"0\"]"));
        assert!(d.contains("t1 -> t2 [label=\"0\"]"));
        assert!(d.trim_end().ends_with('}'));
    }

    #[test]
    fn one_layer_marks_outside_sources_dashed() {
        let d = to_dot(&doc(), Some(1));
        assert!(d.contains("layer 1"));
        assert!(!d.contains("t0 "), "the leaf is not read by layer 1: {d}");
        assert!(
            d.contains("t1 [label=\"norm-0\\nRMS_NORM 4×2\", shape=box, style=\"filled,dashed\""),
            "{d}"
        );
        assert!(d.contains("t1 -> t2"));
    }
}
