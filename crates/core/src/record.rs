//! Recording constructors: one per ggml op, each the counterpart of a `ggml_*` graph function.
//! They apply ggml's shape and type rules and name results the way ggml does; they compute
//! nothing. Each is `#[track_caller]`, so the node remembers the line of model code that asked
//! for it.
//!
//! Shape checks here are internal invariants: model builders validate every weight's shape
//! against the hyperparameters (with a clear error) before recording, so a failed assertion
//! means a bug in a builder, not bad input.

use std::panic::Location;

use crate::dtype::GgmlType;
use crate::graph::{contiguous_strides, Graph, TensorId};
use crate::op::{GluOp, Op, RopeParams, UnaryOp};

impl Graph {
    fn ne(&self, id: TensorId) -> [i64; 4] {
        self.get(id).ne
    }

    fn suffixed(&self, id: TensorId, suffix: &str) -> String {
        format!("{} ({suffix})", self.get(id).name)
    }

    /// ggml_can_repeat(b, a): every dim of a is a multiple of b's.
    fn can_repeat(&self, b: TensorId, a: TensorId) -> bool {
        let (nb, na) = (self.ne(b), self.ne(a));
        (0..4).all(|i| nb[i] != 0 && na[i] % nb[i] == 0)
    }

    /// A new node with the same type and shape as `a` (ggml_dup_tensor), unnamed.
    fn elementwise(
        &mut self,
        op: Op,
        a: TensorId,
        src: Vec<Option<TensorId>>,
        loc: &'static Location<'static>,
    ) -> TensorId {
        let (ty, ne) = (self.get(a).ty, self.ne(a));
        self.new_node(op, ty, ne, None, src, None, String::new(), loc)
    }

    /// ggml_get_rows: rows of `a` picked by the i32 ids in `b` → f32 [a.ne0, b.ne0, b.ne1, b.ne2].
    #[track_caller]
    pub fn get_rows(&mut self, a: TensorId, b: TensorId) -> TensorId {
        let (na, nb) = (self.ne(a), self.ne(b));
        assert_eq!(na[2], nb[1], "get_rows: a.ne2 must equal b.ne1");
        assert_eq!(self.get(b).ty, GgmlType::I32, "get_rows: ids must be i32");
        let ty = if self.get(a).ty == GgmlType::I32 {
            GgmlType::I32
        } else {
            GgmlType::F32
        };
        let ne = [na[0], nb[0], nb[1], nb[2]];
        self.new_node(
            Op::GetRows,
            ty,
            ne,
            None,
            vec![Some(a), Some(b)],
            None,
            String::new(),
            Location::caller(),
        )
    }

    /// ggml_rms_norm over ne0.
    #[track_caller]
    pub fn rms_norm(&mut self, a: TensorId, eps: f32) -> TensorId {
        self.elementwise(Op::RmsNorm { eps }, a, vec![Some(a)], Location::caller())
    }

    /// ggml_norm (mean/variance) over ne0.
    #[track_caller]
    pub fn norm(&mut self, a: TensorId, eps: f32) -> TensorId {
        self.elementwise(Op::Norm { eps }, a, vec![Some(a)], Location::caller())
    }

    /// ggml_add: a + b, b broadcast over a.
    #[track_caller]
    pub fn add(&mut self, a: TensorId, b: TensorId) -> TensorId {
        assert!(self.can_repeat(b, a), "add: b must broadcast to a");
        self.elementwise(Op::Add, a, vec![Some(a), Some(b)], Location::caller())
    }

    /// ggml_mul: a ⊙ b, b broadcast over a.
    #[track_caller]
    pub fn mul(&mut self, a: TensorId, b: TensorId) -> TensorId {
        assert!(self.can_repeat(b, a), "mul: b must broadcast to a");
        self.elementwise(Op::Mul, a, vec![Some(a), Some(b)], Location::caller())
    }

    /// ggml_scale: s·a.
    #[track_caller]
    pub fn scale(&mut self, a: TensorId, s: f32) -> TensorId {
        self.elementwise(
            Op::Scale { s, b: 0.0 },
            a,
            vec![Some(a)],
            Location::caller(),
        )
    }

    /// ggml_mul_mat: b · aᵀ → f32 [a.ne1, b.ne1, b.ne2, b.ne3]; a's dims 2 and 3 broadcast over
    /// b's (GQA: 3 KV heads serve 9 query heads).
    #[track_caller]
    pub fn mul_mat(&mut self, a: TensorId, b: TensorId) -> TensorId {
        let (na, nb) = (self.ne(a), self.ne(b));
        assert_eq!(na[0], nb[0], "mul_mat: a.ne0 must equal b.ne0");
        assert!(
            nb[2] % na[2] == 0 && nb[3] % na[3] == 0,
            "mul_mat: b.ne2/ne3 must be multiples of a's"
        );
        let ne = [na[1], nb[1], nb[2], nb[3]];
        self.new_node(
            Op::MulMat,
            GgmlType::F32,
            ne,
            None,
            vec![Some(a), Some(b)],
            None,
            String::new(),
            Location::caller(),
        )
    }

    /// ggml_reshape_{1,2,3,4}d: same contiguous data, new shape, named "<a> (reshaped)".
    #[track_caller]
    pub fn reshape(&mut self, a: TensorId, ne: [i64; 4]) -> TensorId {
        let t = self.get(a);
        assert!(t.is_contiguous(), "reshape: source must be contiguous");
        assert_eq!(
            t.n_elements(),
            ne.iter().map(|&n| n as u64).product::<u64>(),
            "reshape: element count must not change"
        );
        let ty = t.ty;
        let name = self.suffixed(a, "reshaped");
        self.new_node(
            Op::Reshape,
            ty,
            ne,
            None,
            vec![Some(a)],
            Some((a, 0)),
            name,
            Location::caller(),
        )
    }

    /// ggml_view_{1..4}d: a window on a's memory with its own shape, strides and byte offset,
    /// named "<a> (view)". `nb[0]` is the element size; nb[1..] as given.
    #[track_caller]
    pub fn view(&mut self, a: TensorId, ne: [i64; 4], nb: [usize; 4], offset: usize) -> TensorId {
        let ty = self.get(a).ty;
        let name = self.suffixed(a, "view");
        self.new_node(
            Op::View { offset },
            ty,
            ne,
            Some(nb),
            vec![Some(a)],
            Some((a, offset)),
            name,
            Location::caller(),
        )
    }

    /// ggml_view_2d: `ne0 × ne1` elements, rows `nb1` bytes apart, from byte `offset` of `a`.
    #[track_caller]
    pub fn view_2d(
        &mut self,
        a: TensorId,
        ne0: i64,
        ne1: i64,
        nb1: usize,
        offset: usize,
    ) -> TensorId {
        let nb0 = self.get(a).ty.type_size();
        let nb2 = nb1 * ne1 as usize;
        self.view(a, [ne0, ne1, 1, 1], [nb0, nb1, nb2, nb2], offset)
    }

    /// ggml_view_4d: shape `ne`, byte strides `nb1..nb3`, from byte `offset` of `a`.
    #[track_caller]
    pub fn view_4d(
        &mut self,
        a: TensorId,
        ne: [i64; 4],
        [nb1, nb2, nb3]: [usize; 3],
        offset: usize,
    ) -> TensorId {
        let nb0 = self.get(a).ty.type_size();
        self.view(a, ne, [nb0, nb1, nb2, nb3], offset)
    }

    /// ggml_permute: source dim i becomes result dim axes[i]; named "<a> (permuted)".
    #[track_caller]
    pub fn permute(&mut self, a: TensorId, axes: [u8; 4]) -> TensorId {
        let t = self.get(a);
        let mut seen = [false; 4];
        for &ax in &axes {
            assert!(
                (ax as usize) < 4 && !seen[ax as usize],
                "permute: axes must be a permutation"
            );
            seen[ax as usize] = true;
        }
        let (mut ne, mut nb) = ([0i64; 4], [0usize; 4]);
        for i in 0..4 {
            ne[axes[i] as usize] = t.ne[i];
            nb[axes[i] as usize] = t.nb[i];
        }
        let ty = t.ty;
        let name = self.suffixed(a, "permuted");
        self.new_node(
            Op::Permute { axes },
            ty,
            ne,
            Some(nb),
            vec![Some(a)],
            Some((a, 0)),
            name,
            Location::caller(),
        )
    }

    /// ggml_transpose: ne0 and ne1 swapped; named "<a> (transposed)".
    #[track_caller]
    pub fn transpose(&mut self, a: TensorId) -> TensorId {
        let t = self.get(a);
        let (mut ne, mut nb) = (t.ne, t.nb);
        ne.swap(0, 1);
        nb.swap(0, 1);
        let ty = t.ty;
        let name = self.suffixed(a, "transposed");
        self.new_node(
            Op::Transpose,
            ty,
            ne,
            Some(nb),
            vec![Some(a)],
            Some((a, 0)),
            name,
            Location::caller(),
        )
    }

    /// ggml_cont_{1..4}d: a contiguous copy of `a` with shape `ne`; named "<a> (cont)".
    #[track_caller]
    pub fn cont(&mut self, a: TensorId, ne: [i64; 4]) -> TensorId {
        let t = self.get(a);
        assert_eq!(
            t.n_elements(),
            ne.iter().map(|&n| n as u64).product::<u64>(),
            "cont: element count must not change"
        );
        let ty = t.ty;
        let name = self.suffixed(a, "cont");
        self.new_node(
            Op::Cont,
            ty,
            ne,
            None,
            vec![Some(a)],
            None,
            name,
            Location::caller(),
        )
    }

    /// ggml_set_rows(a, b, c): writes the rows of `b` into `a` at the i64 row indices `c`.
    /// The result is a view of `a` (named "<a> (view)") with sources [b, c, a], as in ggml
    /// (`a` last "for legacy reasons"; it makes the destination, e.g. a reshape of the cache,
    /// part of the graph before the write).
    #[track_caller]
    pub fn set_rows(&mut self, a: TensorId, b: TensorId, c: TensorId) -> TensorId {
        let (na, nbb, nc) = (self.ne(a), self.ne(b), self.ne(c));
        assert_eq!(na[0], nbb[0], "set_rows: row length must match");
        assert_eq!(nbb[1], nc[0], "set_rows: one index per row");
        assert!(
            matches!(self.get(c).ty, GgmlType::I64 | GgmlType::I32),
            "set_rows: indices must be i64 or i32"
        );
        let (ty, nb) = (self.get(a).ty, self.get(a).nb);
        let name = self.suffixed(a, "view");
        self.new_node(
            Op::SetRows,
            ty,
            na,
            Some(nb),
            vec![Some(b), Some(c), Some(a)],
            Some((a, 0)),
            name,
            Location::caller(),
        )
    }

    /// ggml_rope_ext: rotary embedding of `a` [head_dim, n_head, n_tokens] by positions `pos`
    /// (i32 [n_tokens]); `freq_factors` (f32 [head_dim/2]) divides the frequencies when present.
    #[track_caller]
    pub fn rope_ext(
        &mut self,
        a: TensorId,
        pos: TensorId,
        freq_factors: Option<TensorId>,
        p: RopeParams,
    ) -> TensorId {
        assert_eq!(
            self.ne(a)[2],
            self.ne(pos)[0],
            "rope: one position per token"
        );
        self.elementwise(
            Op::Rope(p),
            a,
            vec![Some(a), Some(pos), freq_factors],
            Location::caller(),
        )
    }

    /// ggml_soft_max_ext: softmax(scale·a + mask) over ne0; mask [n_kv, n_tokens_padded]
    /// broadcast over heads.
    #[track_caller]
    pub fn soft_max_ext(
        &mut self,
        a: TensorId,
        mask: Option<TensorId>,
        scale: f32,
        max_bias: f32,
    ) -> TensorId {
        if let Some(m) = mask {
            let (na, nm) = (self.ne(a), self.ne(m));
            assert_eq!(na[0], nm[0], "soft_max: mask row length must match");
            assert!(nm[1] >= na[1], "soft_max: mask must cover every row");
        }
        self.elementwise(
            Op::SoftMax { scale, max_bias },
            a,
            vec![Some(a), mask],
            Location::caller(),
        )
    }

    /// ggml_flash_attn_ext: q [d, n_tokens, n_head], k/v [d, n_kv, n_head_kv], mask
    /// [n_kv, n_tokens_padded] → f32 [d_v, n_head, n_tokens] (note the swap: ready to reshape).
    // Mirrors ggml_flash_attn_ext's argument list, so it reads like the llama.cpp call.
    #[allow(clippy::too_many_arguments)]
    #[track_caller]
    pub fn flash_attn_ext(
        &mut self,
        q: TensorId,
        k: TensorId,
        v: TensorId,
        mask: Option<TensorId>,
        scale: f32,
        max_bias: f32,
        logit_softcap: f32,
    ) -> TensorId {
        let (nq, nk, nv) = (self.ne(q), self.ne(k), self.ne(v));
        assert_eq!(
            nq[0], nk[0],
            "flash_attn_ext: q and k head sizes must match"
        );
        assert_eq!(
            nk[1], nv[1],
            "flash_attn_ext: k and v must have the same cells"
        );
        assert!(
            nq[2] % nk[2] == 0,
            "flash_attn_ext: heads must be a multiple of kv heads"
        );
        let ne = [nv[0], nq[2], nq[1], nq[3]];
        self.new_node(
            Op::FlashAttnExt {
                scale,
                max_bias,
                logit_softcap,
            },
            GgmlType::F32,
            ne,
            None,
            vec![Some(q), Some(k), Some(v), mask],
            None,
            String::new(),
            Location::caller(),
        )
    }

    /// ggml_{swiglu,geglu,…}_split: act(a) ⊙ b.
    #[track_caller]
    pub fn glu_split(&mut self, op: GluOp, a: TensorId, b: TensorId) -> TensorId {
        assert_eq!(
            self.ne(a),
            self.ne(b),
            "glu: gate and up must have the same shape"
        );
        self.elementwise(
            Op::Glu { op, swapped: false },
            a,
            vec![Some(a), Some(b)],
            Location::caller(),
        )
    }

    /// ggml_silu / ggml_gelu / …: element-wise activation.
    #[track_caller]
    pub fn unary(&mut self, op: UnaryOp, a: TensorId) -> TensorId {
        self.elementwise(Op::Unary(op), a, vec![Some(a)], Location::caller())
    }

    /// Byte strides of a dense tensor of `ty` and `ne` (for view arguments).
    pub fn strides_of(ty: GgmlType, ne: [i64; 4]) -> [usize; 4] {
        contiguous_strides(ty, ne)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Group, InputKind, Leaf};

    /// The first nodes of SmolLM2's layer 0 (graph-summary.md): shapes, names, order.
    #[test]
    fn q_path_matches_ggml_shapes_and_names() {
        let mut g = Graph::new();
        let w = g.new_leaf(
            "blk.0.attn_q.weight",
            Leaf::Weight,
            GgmlType::Q4_1,
            [576, 576, 1, 1],
            Group::Query,
        );
        let x = g.new_leaf(
            "attn_norm-0",
            Leaf::Input(InputKind::Tokens),
            GgmlType::F32,
            [576, 5, 1, 1],
            Group::Norm,
        );
        let q = g.mul_mat(w, x);
        g.cb(q, "Qcur", Some(0), Group::Query);
        let q3 = g.reshape(q, [64, 9, 5, 1]);
        assert_eq!(g.get(q3).name, "Qcur-0 (reshaped)");
        g.cb(q3, "Qcur", Some(0), Group::Query);
        let qv = g.view(q3, [64, 9, 5, 1], g.get(q3).nb, 0);
        let qp = g.permute(qv, [0, 2, 1, 3]);
        assert_eq!(g.get(qp).name, "Qcur-0 (view) (permuted)");
        assert_eq!(g.get(qp).ne, [64, 5, 9, 1]);
        assert_eq!(g.get(qp).view_src, Some(q), "views alias the root tensor");
        g.build_forward_expand(qp);
        let names: Vec<_> = g.nodes.iter().map(|&n| g.get(n).name.clone()).collect();
        assert_eq!(
            names,
            [
                "Qcur-0",
                "Qcur-0",
                "Qcur-0 (view)",
                "Qcur-0 (view) (permuted)"
            ]
        );
        assert_eq!(g.leafs.len(), 2);
    }

    /// Regression: SET_ROWS listed only [rows, indices] as sources, so a reshape of the cache
    /// made just for the write (llama.cpp's transposed V store) never entered the graph.
    #[test]
    fn set_rows_keeps_its_destination_as_third_source() {
        let mut g = Graph::new();
        let cache = g.new_leaf(
            "cache_v_l0",
            Leaf::Cache,
            GgmlType::F16,
            [192, 8192, 1, 1],
            Group::KvCache,
        );
        let v = g.new_leaf(
            "Vcur-0",
            Leaf::Weight,
            GgmlType::F32,
            [960, 1, 1, 1],
            Group::Value,
        );
        let idx = g.new_leaf(
            "attn_inp_v_idxs",
            Leaf::Input(InputKind::VIdxs),
            GgmlType::I64,
            [960, 1, 1, 1],
            Group::Input,
        );
        let flat_cache = g.reshape(cache, [1, 192 * 8192, 1, 1]);
        let flat_v = g.reshape(v, [1, 960, 1, 1]);
        let w = g.set_rows(flat_cache, flat_v, idx);
        assert_eq!(g.get(w).src, [Some(flat_v), Some(idx), Some(flat_cache)]);
        assert_eq!(g.get(w).name, "cache_v_l0 (reshaped) (view)");
        assert_eq!(g.get(w).view_src, Some(cache));
        g.build_forward_expand(w);
        let names: Vec<_> = g.nodes.iter().map(|&n| g.get(n).name.clone()).collect();
        assert_eq!(
            names,
            [
                "Vcur-0 (reshaped)",
                "cache_v_l0 (reshaped)",
                "cache_v_l0 (reshaped) (view)"
            ]
        );
    }

    #[test]
    fn unnamed_nodes_are_named_by_index() {
        let mut g = Graph::new();
        let a = g.new_leaf("a", Leaf::Weight, GgmlType::F32, [4, 2, 1, 1], Group::Input);
        let b = g.scale(a, 2.0);
        let c = g.add(b, a);
        g.build_forward_expand(c);
        assert_eq!(g.get(b).name, "node_0");
        assert_eq!(g.get(c).name, "node_1");
        assert_eq!(g.exec_index(c), Some(1));
    }
}
