//! What a graph builder takes ([`BuildOptions`]) and returns ([`ModelGraph`]): the graph, its
//! input and KV-cache leaves, and the numbers an executor needs to fill the inputs exactly as
//! llama.cpp's `llm_graph_input_*::set_input` does (see [`ModelGraph::input_values`]).
//!
//! The context is sized as llama.cpp sizes it (`n_ctx` = n_ctx_train by default, like `-c 0`,
//! rounded up to 256), so the cache leaves have llama.cpp's real shapes ([n_embd_k_gqa, n_ctx]);
//! the attention reads only the first `n_kv` cells (the used cells rounded up to 256). Nothing is
//! allocated here: an executor needs memory only for the cells in use.
//!
//! One graph is one micro-batch of a fresh sequence: tokens at positions 0..n_tokens in cells
//! 0..n_tokens of an empty cache, as llama-eval-callback computes a prompt.

use tt_core::{InputKind, TensorId};

use crate::error::ModelError;
use crate::hparams::HParams;

/// llama.cpp's default micro-batch (`n_ubatch`): longer prompts are computed as several graphs.
pub const N_UBATCH: u32 = 512;

/// Cells the attention reads are padded to a multiple of this (`llama_kv_cache::get_n_kv`), and
/// the context size too (`llama_context`: `GGML_PAD(n_ctx, 256)`).
pub const KV_PAD: u32 = 256;

/// How to build a graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuildOptions {
    /// Prompt tokens in this graph (1 to [`N_UBATCH`]).
    pub n_tokens: u32,
    /// Rows of logits wanted: the last `n_outputs` tokens. Default 1, only the last token, as
    /// llama-eval-callback asks.
    pub n_outputs: u32,
    /// Flash attention (llama.cpp's `-fa auto` resolves to on for the CPU backend).
    pub flash_attn: bool,
    /// Context cells; `None` (or 0) = the model's n_ctx_train, like llama.cpp's `-c 0`.
    pub n_ctx: Option<u32>,
}

impl BuildOptions {
    /// `n_tokens` tokens, one output, flash attention on, context n_ctx_train.
    pub fn new(n_tokens: u32) -> BuildOptions {
        BuildOptions {
            n_tokens,
            n_outputs: 1,
            flash_attn: true,
            n_ctx: None,
        }
    }
}

/// The sizes the graph was built with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GraphDims {
    pub n_tokens: u32,
    pub n_outputs: u32,
    /// KV-cache cells (ne1 of `cache_k_l<il>`).
    pub n_ctx: u32,
    /// Cells the attention reads: min(n_ctx, max(256, n_tokens rounded up to 256)).
    pub n_kv: u32,
    /// Width of a K-cache row.
    pub n_embd_k_gqa: u32,
    /// Width of a V-cache row.
    pub n_embd_v_gqa: u32,
    pub flash_attn: bool,
    /// V cache stored transposed (cells innermost): llama.cpp does this without flash attention.
    pub v_trans: bool,
}

impl GraphDims {
    /// Checks the options against the model and derives the sizes.
    pub fn new(hp: &HParams, opts: &BuildOptions) -> Result<GraphDims, ModelError> {
        let n_tokens = opts.n_tokens;
        if n_tokens == 0 {
            return Err(ModelError::EmptyPrompt);
        }
        let n_ctx_req = match opts.n_ctx {
            None | Some(0) => hp.n_ctx_train,
            Some(n) => n,
        };
        let n_ctx = n_ctx_req.div_ceil(KV_PAD).saturating_mul(KV_PAD);
        if n_tokens > n_ctx {
            return Err(ModelError::PromptTooLong {
                n_tokens,
                n_ctx: n_ctx_req,
            });
        }
        if n_tokens > N_UBATCH {
            return Err(ModelError::PromptOverUbatch {
                n_tokens,
                n_ubatch: N_UBATCH,
            });
        }
        if opts.n_outputs == 0 || opts.n_outputs > n_tokens {
            return Err(ModelError::BadOutputs {
                n_outputs: opts.n_outputs,
                n_tokens,
            });
        }
        let used = n_tokens.div_ceil(KV_PAD) * KV_PAD;
        Ok(GraphDims {
            n_tokens,
            n_outputs: opts.n_outputs,
            n_ctx,
            n_kv: n_ctx.min(used.max(KV_PAD)),
            n_embd_k_gqa: hp.n_embd_k_gqa(),
            n_embd_v_gqa: hp.n_embd_v_gqa(),
            flash_attn: opts.flash_attn,
            v_trans: !opts.flash_attn,
        })
    }
}

/// The input leaves of a graph; each field says what llama.cpp writes into it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GraphInputs {
    /// `inp_tokens`, i32 [n_tokens]: the token ids.
    pub tokens: TensorId,
    /// `inp_pos`, i32 [n_tokens]: each token's position (0..n_tokens for a fresh sequence).
    pub positions: TensorId,
    /// `attn_inp_kq_mask`, f16 with flash attention, f32 without, [n_kv, n_tokens]: row i,
    /// column j is 0 when cell j holds a token of the same sequence at a position ≤ token i's,
    /// −∞ otherwise (empty cells included).
    pub kq_mask: TensorId,
    /// `attn_inp_k_idxs`, i64 [n_tokens]: the cache cell each token's K row is written to.
    pub k_idxs: TensorId,
    /// `attn_inp_v_idxs`, i64: like `k_idxs` ([n_tokens]) with flash attention; without it the
    /// V cache is transposed and every element is scattered: [n_tokens·n_embd_v_gqa] with
    /// element i·n_embd_v_gqa + j = j·n_ctx + cell(i).
    pub v_idxs: TensorId,
    /// `out_ids`, i32 [n_outputs]: the token rows whose logits are kept.
    pub out_ids: TensorId,
}

impl GraphInputs {
    pub fn get(&self, kind: InputKind) -> TensorId {
        match kind {
            InputKind::Tokens => self.tokens,
            InputKind::Positions => self.positions,
            InputKind::KqMask => self.kq_mask,
            InputKind::KIdxs => self.k_idxs,
            InputKind::VIdxs => self.v_idxs,
            InputKind::OutIds => self.out_ids,
        }
    }

    /// Every input with its kind.
    pub fn all(&self) -> [(InputKind, TensorId); 6] {
        [
            (InputKind::Tokens, self.tokens),
            (InputKind::Positions, self.positions),
            (InputKind::KqMask, self.kq_mask),
            (InputKind::KIdxs, self.k_idxs),
            (InputKind::VIdxs, self.v_idxs),
            (InputKind::OutIds, self.out_ids),
        ]
    }
}

/// One layer's KV-cache leaves, f16 [n_embd_k_gqa, n_ctx] / [n_embd_v_gqa, n_ctx].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvCacheLayer {
    /// `cache_k_l<il>`.
    pub k: TensorId,
    /// `cache_v_l<il>` (its memory holds V transposed when [`GraphDims::v_trans`]).
    pub v: TensorId,
}

/// A built graph and what running it needs.
#[derive(Clone, Debug)]
pub struct ModelGraph {
    /// Nodes in llama.cpp's execution order.
    pub graph: tt_core::Graph,
    pub inputs: GraphInputs,
    /// One entry per layer.
    pub cache: Vec<KvCacheLayer>,
    /// `result_output`: f32 [n_vocab, n_outputs], the logits.
    pub output: TensorId,
    pub dims: GraphDims,
}

/// The values of every input for one run, as llama.cpp's `set_input` writes them. The mask is
/// given in f32 (0 or −∞); store it as f16 when the leaf is f16 (both values are exact in f16).
#[derive(Clone, Debug, PartialEq)]
pub struct InputValues {
    pub tokens: Vec<i32>,
    pub positions: Vec<i32>,
    /// Row-major [n_tokens][n_kv].
    pub kq_mask: Vec<f32>,
    pub k_idxs: Vec<i64>,
    pub v_idxs: Vec<i64>,
    pub out_ids: Vec<i32>,
}

impl ModelGraph {
    /// The input values for a prompt of `tokens` (a fresh sequence: token i at position i, in
    /// cell i). Fails if the count differs from the graph's `n_tokens`.
    pub fn input_values(&self, tokens: &[i32]) -> Result<InputValues, ModelError> {
        let d = &self.dims;
        if tokens.len() != d.n_tokens as usize {
            return Err(ModelError::TokenCount {
                expected: d.n_tokens,
                found: tokens.len(),
            });
        }
        let n = d.n_tokens as usize;
        let n_kv = d.n_kv as usize;
        let positions: Vec<i32> = (0..n as i32).collect();
        // Token i sits in cell i; cells ≥ n_tokens are empty.
        let k_idxs: Vec<i64> = (0..n as i64).collect();
        let v_idxs = if d.v_trans {
            let (w, n_ctx) = (d.n_embd_v_gqa as i64, d.n_ctx as i64);
            (0..n as i64)
                .flat_map(|cell| (0..w).map(move |j| j * n_ctx + cell))
                .collect()
        } else {
            k_idxs.clone()
        };
        let mut kq_mask = vec![f32::NEG_INFINITY; n * n_kv];
        for (i, row) in kq_mask.chunks_exact_mut(n_kv).enumerate() {
            // Causal: cell j (position j) is visible from token i when j ≤ i.
            row[..=i].fill(0.0);
        }
        let first_out = (d.n_tokens - d.n_outputs) as i32;
        Ok(InputValues {
            tokens: tokens.to_vec(),
            positions,
            kq_mask,
            k_idxs,
            v_idxs,
            out_ids: (first_out..d.n_tokens as i32).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp() -> HParams {
        crate::presets::get("llama-3.2-1b").unwrap().hparams
    }

    fn opts(n_tokens: u32) -> BuildOptions {
        BuildOptions::new(n_tokens)
    }

    fn err(o: BuildOptions) -> String {
        GraphDims::new(&hp(), &o).unwrap_err().to_string()
    }

    #[test]
    fn bad_prompts_and_outputs_are_refused() {
        assert_eq!(
            err(opts(0)),
            "the prompt is empty: a graph needs at least one token"
        );
        let small_ctx = BuildOptions {
            n_ctx: Some(200),
            ..opts(300)
        };
        assert_eq!(
            err(small_ctx),
            "the prompt has 300 tokens but the context has only 200 cells"
        );
        assert_eq!(
            err(opts(600)),
            "the prompt has 600 tokens, more than one micro-batch of 512: llama.cpp would \
             compute it as several graphs, which is not supported yet"
        );
        for n_outputs in [0, 7] {
            assert_eq!(
                err(BuildOptions {
                    n_outputs,
                    ..opts(6)
                }),
                format!("{n_outputs} outputs requested for 6 tokens: expected 1 to 6")
            );
        }
    }

    #[test]
    fn context_and_cells_read_are_padded_to_256() {
        let d = GraphDims::new(&hp(), &opts(6)).unwrap();
        assert_eq!((d.n_ctx, d.n_kv), (131072, 256), "-c 0: n_ctx_train");
        let d = GraphDims::new(
            &hp(),
            &BuildOptions {
                n_ctx: Some(1000),
                ..opts(300)
            },
        )
        .unwrap();
        assert_eq!((d.n_ctx, d.n_kv), (1024, 512));
        let d = GraphDims::new(
            &hp(),
            &BuildOptions {
                n_ctx: Some(100),
                ..opts(6)
            },
        )
        .unwrap();
        assert_eq!((d.n_ctx, d.n_kv), (256, 256));
        assert_eq!((d.n_embd_k_gqa, d.n_embd_v_gqa), (512, 512));
        assert!(d.flash_attn && !d.v_trans);
    }

    #[test]
    fn inputs_are_filled_like_llama_cpp() {
        let spec = crate::presets::get("llama-3.2-1b").unwrap();
        let o = BuildOptions {
            flash_attn: false,
            n_outputs: 2,
            n_ctx: Some(512),
            ..opts(3)
        };
        let mg = spec.build_graph(&o).unwrap();
        assert_eq!(
            mg.input_values(&[1, 2]).unwrap_err().to_string(),
            "2 token ids given for a graph built for 3 tokens"
        );
        let v = mg.input_values(&[128000, 791, 6864]).unwrap();
        assert_eq!(v.tokens, [128000, 791, 6864]);
        assert_eq!(v.positions, [0, 1, 2]);
        assert_eq!(v.k_idxs, [0, 1, 2]);
        assert_eq!(v.out_ids, [1, 2], "the last two tokens");
        // Transposed V: element j of token i goes to j·n_ctx + i.
        assert_eq!(v.v_idxs.len(), 3 * 512);
        assert_eq!(&v.v_idxs[..3], &[0, 512, 1024]);
        assert_eq!(v.v_idxs[512 + 5], 5 * 512 + 1);
        // Mask rows of n_kv = 256: token i sees cells 0..=i.
        assert_eq!(v.kq_mask.len(), 3 * 256);
        let row1 = &v.kq_mask[256..512];
        assert_eq!(&row1[..3], &[0.0, 0.0, f32::NEG_INFINITY]);
        assert!(row1[3..].iter().all(|&x| x == f32::NEG_INFINITY));
        // The leaves have the sizes of these values.
        let g = &mg.graph;
        assert_eq!(g.get(mg.inputs.v_idxs).n_elements(), v.v_idxs.len() as u64);
        assert_eq!(
            g.get(mg.inputs.kq_mask).n_elements(),
            v.kq_mask.len() as u64
        );
        assert_eq!(
            g.get(mg.inputs.out_ids).n_elements(),
            v.out_ids.len() as u64
        );
    }
}
