//! The LLaMA graph, node for node as llama.cpp builds it (`src/models/llama.cpp`, with the
//! helpers of `src/llama-graph.cpp` and the KV cache of `src/llama-kv-cache.cpp`), told as one
//! linear story in [`build`]:
//!
//! ```text
//! embd ─▶ per layer: attn_norm ─▶ Q, K, V ─▶ RoPE ─▶ KV-cache writes ─▶ attention ─▶ attn_out
//!                    ─▶ + residual = ffn_inp ─▶ ffn_norm ─▶ gate, up ─▶ SwiGLU ─▶ down
//!                    ─▶ + residual = l_out
//!      ─▶ norm ─▶ result_norm ─▶ result_output (logits)
//! ```
//!
//! Execution order is ggml's depth-first expand, so this file calls `build_forward_expand`
//! exactly where llama.cpp does: the embeddings, then per layer Q, V, K (in that order), the two
//! cache writes and the attention result, and finally the logits.
//!
//! Every node records the line below that created it. The small helpers are deliberately not
//! `#[track_caller]`: a node's line is the recording call inside its helper
//! (`self.g.rms_norm(x, eps)`, `self.g.flash_attn_ext(…)`), which shows what it computes; the
//! story in [`build`] shows which helper made it. Weight and cache leaves, on the other hand,
//! point at the line in [`Llama::load_weights`] / [`Llama::kv_cache`] that names them.

use tt_core::{GgmlType, GluOp, Graph, Group, InputKind, Leaf, RopeParams, TensorId};

use crate::error::ModelError;
use crate::hparams::HParams;
use crate::model_graph::{BuildOptions, GraphDims, GraphInputs, KvCacheLayer, ModelGraph};
use crate::weights::{WeightInfo, WeightTable};

/// What a LLaMA file may hold that this builder does not build, for the error message.
const NOT_BUILT: &str = "llama.cpp would add it to the graph, e.g. as a bias, a fused QKV \
                         projection or experts; this builder does not build those yet";

/// The builder: the graph under construction and the sizes it is built with.
struct Llama<'h> {
    g: Graph,
    hp: &'h HParams,
    d: GraphDims,
    rope: RopeParams,
    /// 1/√head_dim, folded into the softmax (or flash attention).
    kq_scale: f32,
}

/// Weight leaves of one layer.
struct LayerWeights {
    attn_norm: TensorId, // [n_embd]
    wq: TensorId,        // [n_embd, n_embd_head·n_head]
    wk: TensorId,        // [n_embd, n_embd_k_gqa]
    wv: TensorId,        // [n_embd, n_embd_v_gqa]
    wo: TensorId,        // [n_embd_head·n_head, n_embd]
    ffn_norm: TensorId,  // [n_embd]
    ffn_gate: TensorId,  // [n_embd, n_ff]
    ffn_up: TensorId,    // [n_embd, n_ff]
    ffn_down: TensorId,  // [n_ff, n_embd]
}

/// Weight leaves of the whole model.
struct Weights {
    tok_embd: TensorId,    // [n_embd, n_vocab]
    output_norm: TensorId, // [n_embd]
    /// `output.weight`, or the `token_embd.weight` leaf itself when the output is tied.
    output: TensorId, // [n_embd, n_vocab]
    /// LLaMA 3.1+ frequency factors, shared by every layer's RoPE.
    rope_freqs: Option<TensorId>, // [n_rot/2]
    layers: Vec<LayerWeights>,
}

/// Q, K and V of one layer, [head_dim, heads, n_tokens].
struct Qkv {
    q: TensorId,
    k: TensorId,
    v: TensorId,
}

/// Builds the LLaMA graph for one micro-batch.
pub(crate) fn build(
    hp: &HParams,
    table: &WeightTable,
    opts: &BuildOptions,
) -> Result<ModelGraph, ModelError> {
    let checked = LlamaWeights::check(hp, table)?;
    let d = GraphDims::new(hp, opts)?;
    let mut m = Llama {
        g: Graph::new(),
        hp,
        d,
        rope: hp.rope_params(),
        kq_scale: 1.0 / (hp.n_embd_head_v as f32).sqrt(),
    };
    let w = m.load_weights(&checked);
    let cache = m.kv_cache();

    let (tokens, embd) = m.inp_embd(w.tok_embd);
    let inp = m.inputs(tokens);

    let last = hp.n_layer - 1;
    let mut inp_l = embd; // [n_embd, n_tokens]
    for (il, lw) in (0..hp.n_layer).zip(&w.layers) {
        m.g.set_layer(Some(il));
        let inp_sa = inp_l;

        let cur = m.norm(inp_l, lw.attn_norm, Some(il), "attn_norm");
        let Qkv { q, k, v } = m.qkv(lw, cur, il);
        let q = m.rope(q, inp.positions, w.rope_freqs, "Qcur", il, Group::Query);
        let k = m.rope(k, inp.positions, w.rope_freqs, "Kcur", il, Group::Key);
        let cur = m.attention(lw.wo, Qkv { q, k, v }, &inp, cache[il as usize], il);

        // The last layer keeps only the rows whose logits are wanted.
        let (cur, inp_sa) = if il == last {
            m.keep_outputs(cur, inp_sa, inp.out_ids)
        } else {
            (cur, inp_sa)
        };
        let ffn_inp = m.residual(cur, inp_sa, "ffn_inp", il);

        let cur = m.norm(ffn_inp, lw.ffn_norm, Some(il), "ffn_norm");
        let cur = m.ffn(lw, cur, il);
        // llama.cpp names this sum `ffn_out`, then `l_out` after the control-vector hook.
        inp_l = m.residual(cur, ffn_inp, "l_out", il);
    }
    m.g.set_layer(None);

    let cur = m.norm(inp_l, w.output_norm, None, "result_norm");
    let logits = m.lm_head(w.output, cur);
    m.g.build_forward_expand(logits);

    Ok(ModelGraph {
        graph: m.g,
        inputs: inp,
        cache,
        output: logits,
        dims: d,
    })
}

impl Llama<'_> {
    // ── leaves ────────────────────────────────────────────────────────────────────────────

    /// A weight leaf, located at the caller's line (the one naming the weight).
    #[track_caller]
    fn weight(&mut self, w: &WeightInfo, group: Group) -> TensorId {
        self.g
            .new_leaf(w.name.as_str(), Leaf::Weight, w.ty, w.ne, group)
    }

    /// The weights as graph leaves (llama_model_llama::load_arch_tensors).
    fn load_weights(&mut self, c: &LlamaWeights) -> Weights {
        let tok_embd = self.weight(c.tok_embd, Group::Embedding);
        let output_norm = self.weight(c.output_norm, Group::Norm);
        let output = match c.output {
            Some(out) => self.weight(out, Group::Output),
            // Tied embeddings: llama.cpp loads token_embd.weight a second time
            // (TENSOR_DUPLICATED); it is the same tensor, so the same leaf.
            None => tok_embd,
        };
        // Positional information like inp_pos, hence the input group.
        let rope_freqs = c.rope_freqs.map(|f| self.weight(f, Group::Input));
        let mut layers = Vec::with_capacity(c.layers.len());
        for (il, l) in (0u32..).zip(&c.layers) {
            self.g.set_layer(Some(il));
            layers.push(LayerWeights {
                attn_norm: self.weight(l.attn_norm, Group::Norm),
                wq: self.weight(l.wq, Group::Query),
                wk: self.weight(l.wk, Group::Key),
                wv: self.weight(l.wv, Group::Value),
                wo: self.weight(l.wo, Group::Attention),
                ffn_norm: self.weight(l.ffn_norm, Group::Norm),
                ffn_gate: self.weight(l.ffn_gate, Group::Mlp),
                ffn_up: self.weight(l.ffn_up, Group::Mlp),
                ffn_down: self.weight(l.ffn_down, Group::Mlp),
            });
        }
        self.g.set_layer(None);
        Weights {
            tok_embd,
            output_norm,
            output,
            rope_freqs,
            layers,
        }
    }

    /// The KV cache: per layer, f16 K and V buffers of n_ctx cells (llama_kv_cache constructor).
    fn kv_cache(&mut self) -> Vec<KvCacheLayer> {
        let n_ctx = self.d.n_ctx as i64;
        let (k_row, v_row) = (self.d.n_embd_k_gqa as i64, self.d.n_embd_v_gqa as i64);
        let mut cache = Vec::with_capacity(self.hp.n_layer as usize);
        for il in 0..self.hp.n_layer {
            self.g.set_layer(Some(il));
            let k = self.g.new_leaf(
                format!("cache_k_l{il}"),
                Leaf::Cache,
                GgmlType::F16,
                [k_row, n_ctx, 1, 1], // [n_embd_k_gqa, n_ctx]
                Group::KvCache,
            );
            let v = self.g.new_leaf(
                format!("cache_v_l{il}"),
                Leaf::Cache,
                GgmlType::F16,
                [v_row, n_ctx, 1, 1], // [n_embd_v_gqa, n_ctx]
                Group::KvCache,
            );
            cache.push(KvCacheLayer { k, v });
        }
        self.g.set_layer(None);
        cache
    }

    /// Token ids → embeddings (build_inp_embd). Expanded at once, so `embd` is node 0.
    /// Returns the token-id leaf and `embd`. llama.cpp also creates an `inp_embd` leaf for
    /// batches given as embeddings and selects the token path; that leaf feeds no node of a
    /// token batch, so it is not recorded here.
    fn inp_embd(&mut self, tok_embd: TensorId) -> (TensorId, TensorId) {
        let n_tokens = self.d.n_tokens as i64;
        let tokens = self.g.new_leaf(
            "inp_tokens",
            Leaf::Input(InputKind::Tokens),
            GgmlType::I32,
            [n_tokens, 1, 1, 1],
            Group::Input,
        );
        let embd = self.g.get_rows(tok_embd, tokens); // [n_embd, n_tokens]
        self.g.cb(embd, "embd", None, Group::Embedding);
        self.g.build_forward_expand(embd);
        (tokens, embd)
    }

    /// The other inputs, in llama.cpp's order: positions (build_inp_pos), cache indices and
    /// mask (build_attn_inp_kv), output rows (build_inp_out_ids). Token ids come with `embd`.
    fn inputs(&mut self, tokens: TensorId) -> GraphInputs {
        let d = self.d;
        let n_tokens = d.n_tokens as i64;
        let positions = self.input("inp_pos", InputKind::Positions, GgmlType::I32, n_tokens);
        let k_idxs = self.input("attn_inp_k_idxs", InputKind::KIdxs, GgmlType::I64, n_tokens);
        let n_v_idxs = if d.v_trans {
            n_tokens * d.n_embd_v_gqa as i64 // one index per element of the transposed V
        } else {
            n_tokens
        };
        let v_idxs = self.input("attn_inp_v_idxs", InputKind::VIdxs, GgmlType::I64, n_v_idxs);
        // Flash attention wants an f16 mask.
        let mask_ty = if d.flash_attn {
            GgmlType::F16
        } else {
            GgmlType::F32
        };
        let kq_mask = self.g.new_leaf(
            "attn_inp_kq_mask",
            Leaf::Input(InputKind::KqMask),
            mask_ty,
            [d.n_kv as i64, n_tokens, 1, 1], // [n_kv, n_tokens]
            Group::Input,
        );
        let out_ids = self.input(
            "out_ids",
            InputKind::OutIds,
            GgmlType::I32,
            d.n_outputs as i64,
        );
        GraphInputs {
            tokens,
            positions,
            kq_mask,
            k_idxs,
            v_idxs,
            out_ids,
        }
    }

    /// A 1-D input leaf, located at the caller's line.
    #[track_caller]
    fn input(&mut self, name: &str, kind: InputKind, ty: GgmlType, n: i64) -> TensorId {
        self.g
            .new_leaf(name, Leaf::Input(kind), ty, [n, 1, 1, 1], Group::Input)
    }

    // ── one layer ─────────────────────────────────────────────────────────────────────────

    /// RMS norm then the weight (build_norm): `norm-<il>` then `<name>-<il>`.
    fn norm(&mut self, x: TensorId, weight: TensorId, il: Option<u32>, name: &str) -> TensorId {
        let normed = self.g.rms_norm(x, self.hp.f_norm_rms_eps); // [n_embd, n_tokens]
        self.g.cb(normed, "norm", il, Group::Norm);
        let cur = self.g.mul(normed, weight); // [n_embd, n_tokens]
        self.g.cb(cur, name, il, Group::Norm);
        cur
    }

    /// The three projections, split into heads (build_qkv, separate-weights path).
    fn qkv(&mut self, lw: &LayerWeights, cur: TensorId, il: u32) -> Qkv {
        let hp = self.hp;
        let n_tokens = self.d.n_tokens as i64;
        let il = Some(il);

        let q = self.g.mul_mat(lw.wq, cur); // [n_embd_head·n_head, n_tokens]
        self.g.cb(q, "Qcur", il, Group::Query);
        let k = self.g.mul_mat(lw.wk, cur); // [n_embd_k_gqa, n_tokens]
        self.g.cb(k, "Kcur", il, Group::Key);
        let v = self.g.mul_mat(lw.wv, cur); // [n_embd_v_gqa, n_tokens]
        self.g.cb(v, "Vcur", il, Group::Value);

        let head = hp.n_embd_head_k as i64;
        let q = self.g.reshape(q, [head, hp.n_head as i64, n_tokens, 1]); // [head, n_head, n_tokens]
        self.g.cb(q, "Qcur", il, Group::Query);
        let k = self.g.reshape(k, [head, hp.n_head_kv as i64, n_tokens, 1]); // [head, n_head_kv, n_tokens]
        self.g.cb(k, "Kcur", il, Group::Key);
        let v = self.g.reshape(v, [head, hp.n_head_kv as i64, n_tokens, 1]); // [head, n_head_kv, n_tokens]
        self.g.cb(v, "Vcur", il, Group::Value);
        Qkv { q, k, v }
    }

    /// Rotary position embedding of Q or K (ggml_rope_ext in models/llama.cpp).
    fn rope(
        &mut self,
        x: TensorId,
        positions: TensorId,
        freq_factors: Option<TensorId>,
        name: &str,
        il: u32,
        group: Group,
    ) -> TensorId {
        let cur = self.g.rope_ext(x, positions, freq_factors, self.rope); // same shape as x
        self.g.cb(cur, name, Some(il), group);
        cur
    }

    /// Self-attention through the KV cache (build_attn): store K and V, read the first n_kv
    /// cells back, attend, project with wo.
    fn attention(
        &mut self,
        wo: TensorId,
        Qkv { q, k, v }: Qkv,
        inp: &GraphInputs,
        cache: KvCacheLayer,
        il: u32,
    ) -> TensorId {
        // Q, V, K in this order ("expand k later to enable rope fusion").
        self.g.build_forward_expand(q);
        self.g.build_forward_expand(v);
        self.g.build_forward_expand(k);

        let k_write = self.store_k(cache.k, k, inp.k_idxs);
        self.g.build_forward_expand(k_write);
        let v_write = self.store_v(cache.v, v, inp.v_idxs);
        self.g.build_forward_expand(v_write);

        let k_cells = self.cached_k(cache.k); // [head, n_head_kv, n_kv]
        let v_cells = self.cached_v(cache.v); // [head, n_head_kv, n_kv] or [n_kv, n_head_kv, head]
        let cur = self.attn_mha(q, k_cells, v_cells, inp.kq_mask, il); // [n_embd_head·n_head, n_tokens]
        self.g.cb(cur, "kqv_out", Some(il), Group::Attention);

        let cur = self.g.mul_mat(wo, cur); // [n_embd, n_tokens]
        self.g.cb(cur, "attn_out", Some(il), Group::Attention);
        cur
    }

    /// Writes this batch's K rows into cells `k_idxs` of the cache (llama_kv_cache::cpy_k).
    fn store_k(&mut self, cache_k: TensorId, k: TensorId, k_idxs: TensorId) -> TensorId {
        let t = self.g.get(k);
        let (ne, nb2) = (t.ne, t.nb[2]);
        let rows = self.g.view_2d(k, ne[0] * ne[1], ne[2], nb2, 0); // [n_embd_k_gqa, n_tokens]
        let write = self.g.set_rows(cache_k, rows, k_idxs); // [n_embd_k_gqa, n_ctx]
        self.g.set_group(write, Group::KvCache);
        write
    }

    /// Writes V into the cache (llama_kv_cache::cpy_v): row per token like K with flash
    /// attention; without it the cache is transposed and every element goes to its own cell.
    fn store_v(&mut self, cache_v: TensorId, v: TensorId, v_idxs: TensorId) -> TensorId {
        let t = self.g.get(v);
        let (ne, nb2) = (t.ne, t.nb[2]);
        let (row, n_tokens) = (ne[0] * ne[1], ne[2]);
        let write = if !self.d.v_trans {
            let rows = self.g.view_2d(v, row, n_tokens, nb2, 0); // [n_embd_v_gqa, n_tokens]
            self.g.set_rows(cache_v, rows, v_idxs) // [n_embd_v_gqa, n_ctx]
        } else {
            let rows = self.g.reshape(v, [row, n_tokens, 1, 1]); // [n_embd_v_gqa, n_tokens]
            let cache_elems = self.g.get(cache_v).n_elements() as i64;
            let cells = self.g.reshape(cache_v, [1, cache_elems, 1, 1]); // [1, n_embd_v_gqa·n_ctx]
            let elems = self.g.reshape(rows, [1, row * n_tokens, 1, 1]); // [1, n_embd_v_gqa·n_tokens]
            self.g.set_rows(cells, elems, v_idxs) // [1, n_embd_v_gqa·n_ctx]
        };
        self.g.set_group(write, Group::KvCache);
        write
    }

    /// The first n_kv cells of the K cache, split into heads (llama_kv_cache::get_k).
    fn cached_k(&mut self, cache_k: TensorId) -> TensorId {
        let (hp, d) = (self.hp, self.d);
        let f16 = |n: u32| 2 * n as usize;
        let head = hp.n_embd_head_k;
        self.g.view_4d(
            cache_k,
            [head as i64, hp.n_head_kv as i64, d.n_kv as i64, 1], // [head, n_head_kv, n_kv]
            [
                f16(head),
                f16(d.n_embd_k_gqa),
                f16(d.n_embd_k_gqa) * d.n_ctx as usize,
            ],
            0,
        )
    }

    /// The first n_kv cells of the V cache, split into heads (llama_kv_cache::get_v); when V
    /// is stored transposed the cells are the innermost dimension.
    fn cached_v(&mut self, cache_v: TensorId) -> TensorId {
        let (hp, d) = (self.hp, self.d);
        let f16 = |n: u32| 2 * n as usize;
        let (head, n_ctx) = (hp.n_embd_head_v, d.n_ctx);
        let whole = f16(d.n_embd_v_gqa) * n_ctx as usize;
        if !d.v_trans {
            self.g.view_4d(
                cache_v,
                [head as i64, hp.n_head_kv as i64, d.n_kv as i64, 1], // [head, n_head_kv, n_kv]
                [f16(head), f16(d.n_embd_v_gqa), whole],
                0,
            )
        } else {
            self.g.view_4d(
                cache_v,
                [d.n_kv as i64, hp.n_head_kv as i64, head as i64, 1], // [n_kv, n_head_kv, head]
                [f16(n_ctx) * head as usize, f16(n_ctx), whole],
                0,
            )
        }
    }

    /// Multi-head attention over the cached cells (build_attn_mha): one fused FLASH_ATTN_EXT,
    /// or scores → masked softmax → weighted sum of V.
    fn attn_mha(
        &mut self,
        q: TensorId,
        k: TensorId,
        v: TensorId,
        kq_mask: TensorId,
        il: u32,
    ) -> TensorId {
        let t = self.g.get(q);
        let (ne, nb) = (t.ne, t.nb);
        // One stream: a view of all of Q.
        let q = self
            .g
            .view_4d(q, ne, [nb[1], nb[2], nb[2] * ne[2] as usize], 0); // [head, n_head, n_tokens]
        let q = self.g.permute(q, [0, 2, 1, 3]); // [head, n_tokens, n_head]
        let k = self.g.permute(k, [0, 2, 1, 3]); // [head, n_kv, n_head_kv]
        let v = self.g.permute(v, [0, 2, 1, 3]); // [head, n_kv, n_head_kv] or [n_kv, head, n_head_kv]

        let cur = if self.d.flash_attn {
            let fa = self
                .g
                .flash_attn_ext(q, k, v, Some(kq_mask), self.kq_scale, 0.0, 0.0); // [head, n_head, n_tokens]
            self.g.set_group(fa, Group::Attention);
            let ne = self.g.get(fa).ne;
            self.g.reshape(fa, [ne[0] * ne[1], ne[2] * ne[3], 1, 1]) // [head·n_head, n_tokens]
        } else {
            let kq = self.g.mul_mat(k, q); // [n_kv, n_tokens, n_head]
            self.g.cb(kq, "kq", Some(il), Group::Attention);
            let kq = self.g.soft_max_ext(kq, Some(kq_mask), self.kq_scale, 0.0); // [n_kv, n_tokens, n_head]
            self.g.cb(kq, "kq_soft_max", Some(il), Group::Attention);
            let kqv = self.g.mul_mat(v, kq); // [head, n_tokens, n_head]
            self.g.cb(kqv, "kqv", Some(il), Group::Attention);
            let cur = self.g.permute(kqv, [0, 2, 1, 3]); // [head, n_head, n_tokens]
            let ne = self.g.get(cur).ne;
            self.g.cont(cur, [ne[0] * ne[1], ne[2] * ne[3], 1, 1]) // [head·n_head, n_tokens]
        };
        self.g.build_forward_expand(cur);
        cur
    }

    /// Keeps the output rows of the attention result and of the residual (models/llama.cpp,
    /// last layer): two unnamed GET_ROWS by `out_ids`.
    fn keep_outputs(
        &mut self,
        cur: TensorId,
        inp_sa: TensorId,
        out_ids: TensorId,
    ) -> (TensorId, TensorId) {
        let cur = self.g.get_rows(cur, out_ids); // [n_embd, n_outputs]
        self.g.set_group(cur, Group::Attention);
        let inp_sa = self.g.get_rows(inp_sa, out_ids); // [n_embd, n_outputs]
        self.g.set_group(inp_sa, Group::Residual);
        (cur, inp_sa)
    }

    /// A residual addition: `x + skip`.
    fn residual(&mut self, x: TensorId, skip: TensorId, name: &str, il: u32) -> TensorId {
        let cur = self.g.add(x, skip); // [n_embd, n_tokens]
        self.g.cb(cur, name, Some(il), Group::Residual);
        cur
    }

    /// The gated feed-forward network (build_ffn, SiLU, parallel gate): up and gate
    /// projections, one fused SWIGLU node, down projection (named `ffn_out`).
    fn ffn(&mut self, lw: &LayerWeights, cur: TensorId, il: u32) -> TensorId {
        let il = Some(il);
        let up = self.g.mul_mat(lw.ffn_up, cur); // [n_ff, n_tokens]
        self.g.cb(up, "ffn_up", il, Group::Mlp);
        let gate = self.g.mul_mat(lw.ffn_gate, cur); // [n_ff, n_tokens]
        self.g.cb(gate, "ffn_gate", il, Group::Mlp);
        let act = self.g.glu_split(GluOp::Swiglu, gate, up); // [n_ff, n_tokens]: silu(gate)·up
        self.g.cb(act, "ffn_swiglu", il, Group::Mlp);
        let down = self.g.mul_mat(lw.ffn_down, act); // [n_embd, n_tokens]
        self.g.cb(down, "ffn_out", il, Group::Mlp);
        down
    }

    // ── head ──────────────────────────────────────────────────────────────────────────────

    /// Logits: the final hidden state times the output matrix.
    fn lm_head(&mut self, output: TensorId, cur: TensorId) -> TensorId {
        let logits = self.g.mul_mat(output, cur); // [n_vocab, n_outputs]
        self.g.cb(logits, "result_output", None, Group::Output);
        logits
    }
}

/// The weights the LLaMA graph needs, checked against the hyperparameters
/// (llama_model_llama::load_arch_tensors: names, shapes, what is optional).
pub(crate) struct LlamaWeights<'t> {
    tok_embd: &'t WeightInfo,
    output_norm: &'t WeightInfo,
    /// Absent when the output is tied to the token embeddings.
    output: Option<&'t WeightInfo>,
    rope_freqs: Option<&'t WeightInfo>,
    layers: Vec<LayerWeightInfo<'t>>,
}

struct LayerWeightInfo<'t> {
    attn_norm: &'t WeightInfo,
    wq: &'t WeightInfo,
    wk: &'t WeightInfo,
    wv: &'t WeightInfo,
    wo: &'t WeightInfo,
    ffn_norm: &'t WeightInfo,
    ffn_gate: &'t WeightInfo,
    ffn_up: &'t WeightInfo,
    ffn_down: &'t WeightInfo,
}

impl<'t> LlamaWeights<'t> {
    pub(crate) fn check(hp: &HParams, table: &'t WeightTable) -> Result<Self, ModelError> {
        let n_embd = hp.n_embd as i64;
        let n_vocab = hp.n_vocab as i64;
        let n_ff = hp.n_ff as i64;
        let n_embd_q = (hp.n_embd_head_k * hp.n_head) as i64;
        let n_embd_k = hp.n_embd_k_gqa() as i64;
        let n_embd_v = hp.n_embd_v_gqa() as i64;

        let mut c = table.check(&hp.arch);
        let tok_embd = c.expect("token_embd.weight", &[n_embd, n_vocab])?;
        let output_norm = c.expect("output_norm.weight", &[n_embd])?;
        let output = c.optional("output.weight", &[n_embd, n_vocab])?;
        let rope_freqs = c.optional("rope_freqs.weight", &[hp.n_rot as i64 / 2])?;
        if let Some(f) = rope_freqs {
            // ggml_rope_ext asserts f32 frequency factors.
            if f.ty != GgmlType::F32 {
                return Err(ModelError::WeightType {
                    name: f.name.clone(),
                    expected: GgmlType::F32,
                    found: f.ty,
                });
            }
        }
        let mut layers = Vec::with_capacity(hp.n_layer as usize);
        for il in 0..hp.n_layer {
            let mut w = |name: &str, ne: &[i64]| c.expect(&format!("blk.{il}.{name}.weight"), ne);
            layers.push(LayerWeightInfo {
                attn_norm: w("attn_norm", &[n_embd])?,
                wq: w("attn_q", &[n_embd, n_embd_q])?,
                wk: w("attn_k", &[n_embd, n_embd_k])?,
                wv: w("attn_v", &[n_embd, n_embd_v])?,
                wo: w("attn_output", &[n_embd_q, n_embd])?,
                ffn_norm: w("ffn_norm", &[n_embd])?,
                ffn_gate: w("ffn_gate", &[n_embd, n_ff])?,
                ffn_up: w("ffn_up", &[n_embd, n_ff])?,
                ffn_down: w("ffn_down", &[n_ff, n_embd])?,
            });
        }
        c.finish(NOT_BUILT)?;
        Ok(LlamaWeights {
            tok_embd,
            output_norm,
            output,
            rope_freqs,
            layers,
        })
    }
}
