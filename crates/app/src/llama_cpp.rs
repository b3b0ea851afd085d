//! Where llama.cpp does the same thing: for a node of our graph, the place in llama.cpp's source
//! that creates the tensor of the same name, and the ggml-cpu function that computes its op.
//!
//! This is a table of facts (file, function, line) for llama.cpp commit
//! `0c1e57098bba43ac29e6e3b677cdceebdd22334f`, transcribed from
//! testdata/reference/llama-cpp-source-map.md; no llama.cpp code is reproduced. A node is
//! matched by its name with the layer number taken out (`Qcur-0 (view)` → `Qcur (view)`), its
//! printed op, and, where the two paths differ, whether the graph uses flash attention.

use serde::Serialize;

/// The commit every line number below refers to.
pub const COMMIT: &str = "0c1e57098bba43ac29e6e3b677cdceebdd22334f";

/// The llama.cpp side of the code panel. Paths are relative to the llama.cpp source root.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LlamaCppRef {
    pub file: &'static str,
    pub function: &'static str,
    pub line: u32,
    /// What happens there, where the tensor is named, and which ggml-cpu function computes it.
    pub note: String,
}

/// Which attention path a row applies to.
#[derive(Clone, Copy, PartialEq)]
enum Path {
    Any,
    FlashAttn,
    NoFlashAttn,
}

/// One fact: the tensor named `name` (layer number removed) with op `op` is created at
/// `file` `function` line `line`.
struct Row {
    name: &'static str,
    op: &'static str,
    path: Path,
    file: &'static str,
    function: &'static str,
    line: u32,
    note: &'static str,
}

const GRAPH: &str = "src/llama-graph.cpp";
const KV: &str = "src/llama-kv-cache.cpp";
const LLAMA: &str = "src/models/llama.cpp";
const LLAMA_FN: &str = "llama_model_llama::graph<embed>::graph";

#[rustfmt::skip]
const ROWS: &[Row] = &[
    // Inputs and caches (leaves).
    Row { name: "inp_tokens", op: "NONE", path: Path::Any, file: GRAPH, function: "llm_graph_context::build_inp_embd", line: 2384,
          note: "i32 [n_tokens] token ids (ggml_new_tensor_1d); named at L2385" },
    Row { name: "inp_embd", op: "NONE", path: Path::Any, file: GRAPH, function: "llm_graph_context::build_inp_embd", line: 2389,
          note: "f32 embeddings input, used only when embeddings are given instead of tokens; named at L2390" },
    Row { name: "inp_pos", op: "NONE", path: Path::Any, file: GRAPH, function: "llm_graph_context::build_inp_pos", line: 2465,
          note: "i32 [n_tokens] positions, filled by llm_graph_input_pos::set_input (L127); called from src/models/llama.cpp L111; named at L2472" },
    Row { name: "attn_inp_k_idxs", op: "NONE", path: Path::Any, file: KV, function: "llama_kv_cache::build_input_k_idxs", line: 1419,
          note: "i64 cache cell of each new K row, set by set_input_k_idxs (L1488); via build_attn_inp_kv (src/llama-graph.cpp L2860), called from src/models/llama.cpp L119" },
    Row { name: "attn_inp_v_idxs", op: "NONE", path: Path::Any, file: KV, function: "llama_kv_cache::build_input_v_idxs", line: 1430,
          note: "i64 V destinations, set by set_input_v_idxs (L1504); via build_attn_inp_kv (src/llama-graph.cpp L2860), called from src/models/llama.cpp L119" },
    Row { name: "attn_inp_kq_mask", op: "NONE", path: Path::Any, file: GRAPH, function: "build_attn_inp_kq_mask", line: 29,
          note: "f16 with flash attention, f32 without; named at L43; filled by llama_kv_cache::set_input_kq_mask (src/llama-kv-cache.cpp L1756): 0 keeps a cell, -INFINITY drops it" },
    Row { name: "out_ids", op: "NONE", path: Path::Any, file: GRAPH, function: "llm_graph_context::build_inp_out_ids", line: 2494,
          note: "i32 rows whose logits are wanted, set by llm_graph_input_out_ids::set_input (L199); called from src/models/llama.cpp L124; named at L2509" },
    Row { name: "cache_k_l", op: "NONE", path: Path::Any, file: KV, function: "llama_kv_cache::llama_kv_cache", line: 234,
          note: "f16 [n_embd_k_gqa, kv_size, n_stream] K cache of one layer, named cache_k_l<il> at L234–237" },
    Row { name: "cache_v_l", op: "NONE", path: Path::Any, file: KV, function: "llama_kv_cache::llama_kv_cache", line: 234,
          note: "f16 [n_embd_v_gqa, kv_size, n_stream] V cache of one layer, named cache_v_l<il> at L234–237" },
    // Embedding.
    Row { name: "embd", op: "GET_ROWS", path: Path::Any, file: GRAPH, function: "llm_graph_context::build_inp_embd", line: 2401,
          note: "ggml_get_rows(tok_embd, tokens), selected by ggml_build_forward_select (L2436); called from src/models/llama.cpp L108; named at L2454" },
    // Norms.
    Row { name: "norm", op: "RMS_NORM", path: Path::Any, file: GRAPH, function: "llm_graph_context::build_norm", line: 1605,
          note: "ggml_rms_norm; named at L1615 (norm-<il> inside a layer, plain norm for the final norm, il = -1)" },
    Row { name: "attn_norm", op: "MUL", path: Path::Any, file: GRAPH, function: "llm_graph_context::build_norm", line: 1619,
          note: "ggml_mul by the attn_norm weight; build_norm called from src/models/llama.cpp L132–134, named at L135" },
    Row { name: "ffn_norm", op: "MUL", path: Path::Any, file: GRAPH, function: "llm_graph_context::build_norm", line: 1619,
          note: "ggml_mul by the ffn_norm weight; build_norm called from src/models/llama.cpp L184–186, named at L187" },
    Row { name: "result_norm", op: "MUL", path: Path::Any, file: GRAPH, function: "llm_graph_context::build_norm", line: 1619,
          note: "ggml_mul by output_norm; build_norm called with il = -1 from src/models/llama.cpp L231–233, named at L235" },
    // Q, K, V.
    Row { name: "Qcur", op: "MUL_MAT", path: Path::Any, file: GRAPH, function: "llm_graph_context::build_qkv", line: 1703,
          note: "separate-QKV path: build_lora_mm (L1520) → ggml_mul_mat (L1524); named at L1705; build_qkv is called from src/models/llama.cpp L143" },
    Row { name: "Kcur", op: "MUL_MAT", path: Path::Any, file: GRAPH, function: "llm_graph_context::build_qkv", line: 1717,
          note: "build_lora_mm(wk, cur); named at L1719" },
    Row { name: "Vcur", op: "MUL_MAT", path: Path::Any, file: GRAPH, function: "llm_graph_context::build_qkv", line: 1731,
          note: "build_lora_mm(wv, cur); named at L1733" },
    Row { name: "Qcur", op: "RESHAPE", path: Path::Any, file: GRAPH, function: "llm_graph_context::build_qkv", line: 1746,
          note: "ggml_reshape_3d to [head_dim, n_head, n_tokens]; named at L1753" },
    Row { name: "Kcur", op: "RESHAPE", path: Path::Any, file: GRAPH, function: "llm_graph_context::build_qkv", line: 1747,
          note: "ggml_reshape_3d to [head_dim, n_head_kv, n_tokens]; named at L1754" },
    Row { name: "Vcur", op: "RESHAPE", path: Path::Any, file: GRAPH, function: "llm_graph_context::build_qkv", line: 1748,
          note: "ggml_reshape_3d to [head_dim, n_head_kv, n_tokens]; named at L1755" },
    Row { name: "Qcur", op: "ROPE", path: Path::Any, file: LLAMA, function: LLAMA_FN, line: 146,
          note: "ggml_rope_ext (L146–150); named at L158–160" },
    Row { name: "Kcur", op: "ROPE", path: Path::Any, file: LLAMA, function: LLAMA_FN, line: 152,
          note: "ggml_rope_ext (L152–156); named at L158–160" },
    // KV-cache writes (build_attn expands q, v, k in that order, src/llama-graph.cpp L2895–2897).
    Row { name: "Kcur (view)", op: "VIEW", path: Path::Any, file: KV, function: "llama_kv_cache::cpy_k", line: 1345,
          note: "ggml_view_2d of the new K rows; cpy_k is called from build_attn (src/llama-graph.cpp L2915)" },
    Row { name: "cache_k_l (view)", op: "SET_ROWS", path: Path::Any, file: KV, function: "llama_kv_cache::cpy_k", line: 1360,
          note: "ggml_set_rows(cache, k_cur, k_idxs): the f32 K rows are written into the f16 cache" },
    Row { name: "Vcur (view)", op: "VIEW", path: Path::FlashAttn, file: KV, function: "llama_kv_cache::cpy_v", line: 1383,
          note: "V cache not transposed (flash attention); cpy_v is called from build_attn (src/llama-graph.cpp L2916)" },
    Row { name: "cache_v_l (view)", op: "SET_ROWS", path: Path::FlashAttn, file: KV, function: "llama_kv_cache::cpy_v", line: 1395,
          note: "ggml_set_rows(cache, v_cur, v_idxs): V rows written into the f16 cache" },
    Row { name: "Vcur (reshaped)", op: "RESHAPE", path: Path::NoFlashAttn, file: KV, function: "llama_kv_cache::cpy_v", line: 1400,
          note: "ggml_reshape_2d to [n_embd_v_gqa, n_tokens] before the transposed write" },
    Row { name: "cache_v_l (reshaped)", op: "RESHAPE", path: Path::NoFlashAttn, file: KV, function: "llama_kv_cache::cpy_v", line: 1412,
          note: "the transposed V cache seen as one element per row (ggml_reshape_2d(v, 1, nelements))" },
    Row { name: "Vcur (reshaped) (reshaped)", op: "RESHAPE", path: Path::NoFlashAttn, file: KV, function: "llama_kv_cache::cpy_v", line: 1414,
          note: "the new V values as one element per row" },
    Row { name: "cache_v_l (reshaped) (view)", op: "SET_ROWS", path: Path::NoFlashAttn, file: KV, function: "llama_kv_cache::cpy_v", line: 1416,
          note: "transposed V written element by element: v_idxs gives each element's place in the cache" },
    // KV-cache reads.
    Row { name: "cache_k_l (view)", op: "VIEW", path: Path::Any, file: KV, function: "llama_kv_cache::get_k", line: 1288,
          note: "ggml_view_4d over the n_kv cells attention reads (get_k starts at L1276); called from build_attn (src/llama-graph.cpp L2919)" },
    Row { name: "cache_v_l (view)", op: "VIEW", path: Path::FlashAttn, file: KV, function: "llama_kv_cache::get_v", line: 1311,
          note: "ggml_view_4d, V not transposed (get_v starts at L1296); called from build_attn (src/llama-graph.cpp L2920)" },
    Row { name: "cache_v_l (view)", op: "VIEW", path: Path::NoFlashAttn, file: KV, function: "llama_kv_cache::get_v", line: 1320,
          note: "ggml_view_4d of the transposed V cache (get_v starts at L1296); called from build_attn (src/llama-graph.cpp L2920)" },
    // Attention.
    Row { name: "Qcur (view)", op: "VIEW", path: Path::Any, file: GRAPH, function: "llm_graph_context::build_attn_mha", line: 2635,
          note: "ggml_view_4d (split by stream)" },
    Row { name: "Qcur (view) (permuted)", op: "PERMUTE", path: Path::Any, file: GRAPH, function: "llm_graph_context::build_attn_mha", line: 2637,
          note: "ggml_permute(q, 0, 2, 1, 3): heads outermost" },
    Row { name: "cache_k_l (view) (permuted)", op: "PERMUTE", path: Path::Any, file: GRAPH, function: "llm_graph_context::build_attn_mha", line: 2638,
          note: "ggml_permute(k, 0, 2, 1, 3)" },
    Row { name: "cache_v_l (view) (permuted)", op: "PERMUTE", path: Path::Any, file: GRAPH, function: "llm_graph_context::build_attn_mha", line: 2639,
          note: "ggml_permute(v, 0, 2, 1, 3)" },
    Row { name: "node", op: "FLASH_ATTN_EXT", path: Path::FlashAttn, file: GRAPH, function: "llm_graph_context::build_attn_mha", line: 2660,
          note: "ggml_flash_attn_ext, accumulation precision set to F32 at L2667; left unnamed, so ggml names it node_<index>" },
    Row { name: "kqv_out", op: "RESHAPE", path: Path::FlashAttn, file: GRAPH, function: "llm_graph_context::build_attn_mha", line: 2686,
          note: "ggml_reshape_2d of the flash-attention result to [n_embd_head·n_head, n_tokens]; named in build_attn (L2926)" },
    Row { name: "kq", op: "MUL_MAT", path: Path::NoFlashAttn, file: GRAPH, function: "llm_graph_context::build_attn_mha", line: 2688,
          note: "ggml_mul_mat(k, q): scores for every cell, token and head; named at L2689" },
    Row { name: "kq_soft_max", op: "SOFT_MAX", path: Path::NoFlashAttn, file: GRAPH, function: "llm_graph_context::build_attn_mha", line: 2722,
          note: "ggml_soft_max_ext(kq, mask, kq_scale, max_bias); named at L2724" },
    Row { name: "kqv", op: "MUL_MAT", path: Path::NoFlashAttn, file: GRAPH, function: "llm_graph_context::build_attn_mha", line: 2732,
          note: "ggml_mul_mat(v, kq): values weighted by the attention probabilities; named at L2733" },
    Row { name: "kqv (permuted)", op: "PERMUTE", path: Path::NoFlashAttn, file: GRAPH, function: "llm_graph_context::build_attn_mha", line: 2741,
          note: "ggml_permute(kqv, 0, 2, 1, 3)" },
    Row { name: "kqv_out", op: "CONT", path: Path::NoFlashAttn, file: GRAPH, function: "llm_graph_context::build_attn_mha", line: 2744,
          note: "ggml_cont_2d to [n_embd_head·n_head, n_tokens]; named in build_attn (L2926)" },
    Row { name: "attn_out", op: "MUL_MAT", path: Path::Any, file: GRAPH, function: "llm_graph_context::build_attn", line: 2941,
          note: "build_lora_mm(wo, cur), returned to src/models/llama.cpp L169–171 and named there at L172" },
    Row { name: "node", op: "GET_ROWS", path: Path::Any, file: LLAMA, function: LLAMA_FN, line: 175,
          note: "last layer only: ggml_get_rows(…, inp_out_ids) keeps the tokens whose logits are wanted (L175–176); unnamed, so ggml names it node_<index>" },
    // Residuals and feed-forward.
    Row { name: "ffn_inp", op: "ADD", path: Path::Any, file: LLAMA, function: LLAMA_FN, line: 178,
          note: "residual: attention output + the layer's input; named at L179" },
    Row { name: "ffn_up", op: "MUL_MAT", path: Path::Any, file: GRAPH, function: "llm_graph_context::build_ffn", line: 1800,
          note: "build_lora_mm(up, cur); named at L1801; build_ffn is called from src/models/llama.cpp L189–194" },
    Row { name: "ffn_gate", op: "MUL_MAT", path: Path::Any, file: GRAPH, function: "llm_graph_context::build_ffn", line: 1822,
          note: "gate projection in parallel with up (LLM_FFN_PAR); named at L1823" },
    Row { name: "ffn_swiglu", op: "SWIGLU", path: Path::Any, file: GRAPH, function: "llm_graph_context::build_ffn", line: 1865,
          note: "ggml_swiglu_split(gate, up): one fused GLU node; named at L1866" },
    Row { name: "ffn_out", op: "MUL_MAT", path: Path::Any, file: GRAPH, function: "llm_graph_context::build_ffn", line: 1940,
          note: "build_lora_mm(down, cur); named at src/models/llama.cpp L195" },
    Row { name: "l_out", op: "ADD", path: Path::Any, file: LLAMA, function: LLAMA_FN, line: 220,
          note: "residual ggml_add: FFN output + ffn_inp; first named ffn_out (L221), passed through build_cvec (L223, unchanged without a control vector), renamed at L224" },
    Row { name: "result_output", op: "MUL_MAT", path: Path::Any, file: LLAMA, function: LLAMA_FN, line: 240,
          note: "build_lora_mm(model.output, cur); model.output is token_embd.weight when the GGUF has no output.weight (L41–46); named at L242" },
];

/// The ggml-cpu function that computes an op: (file, function, line, remark).
fn cpu_kernel(op: &str) -> Option<(&'static str, &'static str, u32, &'static str)> {
    const OPS: &str = "ggml/src/ggml-cpu/ops.cpp";
    const CPU: &str = "ggml/src/ggml-cpu/ggml-cpu.c";
    Some(match op {
        "GET_ROWS" => (OPS, "ggml_compute_forward_get_rows", 5371,
            "quantized tables via ggml_compute_forward_get_rows_q (L5204), f32 via …_get_rows_f32 (L5330)"),
        "RMS_NORM" => (OPS, "ggml_compute_forward_rms_norm", 4172,
            "ggml_compute_forward_rms_norm_f32 (L4107): sum of squares in double"),
        "MUL" => ("ggml/src/ggml-cpu/binary-ops.cpp", "ggml_compute_forward_mul", 148,
            "binary_op<op_mul> → apply_binary_op (L50), broadcasting the second operand"),
        "ADD" => (OPS, "ggml_compute_forward_add", 654,
            "f32: ggml_compute_forward_add_non_quantized (binary-ops.cpp L140)"),
        "SCALE" => (OPS, "ggml_compute_forward_scale", 4970, "ggml_compute_forward_scale_f32 (L4880)"),
        "MUL_MAT" => (CPU, "ggml_compute_forward_mul_mat", 1255,
            "src1 is first converted to the weight type's vec_dot_type (q4_1 → q8_1, q8_0 → q8_0, K-quants → q8_K), then ggml_compute_forward_mul_mat_one_chunk (L1165) takes the type's vec_dot, unless llamafile_sgemm accepts the shapes"),
        "ROPE" => (OPS, "ggml_compute_forward_rope", 6469,
            "ggml_compute_forward_rope_flt (L6311), cos/sin cache from ggml_rope_cache_init (L6204); normal mode rotates pairs (2i, 2i+1), NeoX pairs (i, i+n_dims/2)"),
        "SET_ROWS" => (OPS, "ggml_compute_forward_set_rows", 5516,
            "ggml_compute_forward_set_rows_impl (L5446): f32 rows converted to the cache type"),
        "SOFT_MAX" => (OPS, "ggml_compute_forward_soft_max", 5925,
            "ggml_compute_forward_soft_max_f32 (L5813): scale, add mask, subtract max, exp, normalize"),
        "FLASH_ATTN_EXT" => (OPS, "ggml_compute_forward_flash_attn_ext", 9577,
            "ggml_compute_forward_flash_attn_ext_f16 (L9441) → …_f16_one_chunk (L8843) for small batches: online softmax, V·p accumulated in f16 for an f16 V cache"),
        "CONT" => (OPS, "ggml_compute_forward_cont", 5196, "→ ggml_compute_forward_dup (L526)"),
        "SWIGLU" => (OPS, "ggml_compute_forward_glu", 10470,
            "ggml_compute_forward_swiglu (L3456) → …_swiglu_f32 (L3331) → ggml_vec_swiglu_f32 (vec.cpp L417)"),
        "GEGLU" => (OPS, "ggml_compute_forward_glu", 10470,
            "ggml_compute_forward_geglu (L3303) → …_geglu_f32 (L3178) → ggml_vec_geglu_f32 (vec.h L1447)"),
        "VIEW" | "RESHAPE" | "PERMUTE" | "TRANSPOSE" => (CPU, "ggml_compute_forward", 2152,
            "no-op (L2152–2166): the node aliases its source's data, nothing is computed"),
        _ => return None,
    })
}

/// The name with layer numbers removed: `Qcur-12 (view)` → `Qcur (view)`,
/// `cache_k_l3 (view)` → `cache_k_l (view)`, `node_417` → `node`.
fn normalize(name: &str) -> String {
    let (base, suffix) = match name.find(" (") {
        Some(i) => name.split_at(i),
        None => (name, ""),
    };
    let strip_digits = |s: &str, sep: &str| -> Option<String> {
        let (head, tail) = s.rsplit_once(sep)?;
        (!tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit())).then(|| head.to_string())
    };
    let base = if base.starts_with("cache_k_l") || base.starts_with("cache_v_l") {
        base.trim_end_matches(|c: char| c.is_ascii_digit())
            .to_string()
    } else if let Some(b) = strip_digits(base, "_").filter(|b| b == "node" || b == "leaf") {
        b
    } else {
        strip_digits(base, "-").unwrap_or_else(|| base.to_string())
    };
    format!("{base}{suffix}")
}

/// The llama.cpp reference for a node named `name` with printed op `op`, in a graph that uses
/// flash attention or not. `None` when the table has no fact for it (weights, other
/// architectures' nodes).
pub fn lookup(name: &str, op: &str, flash_attn: bool) -> Option<LlamaCppRef> {
    let key = normalize(name);
    let row = ROWS.iter().find(|r| {
        r.name == key
            && r.op == op
            && match r.path {
                Path::Any => true,
                Path::FlashAttn => flash_attn,
                Path::NoFlashAttn => !flash_attn,
            }
    })?;
    let mut note = row.note.to_string();
    if let Some((file, function, line, remark)) = cpu_kernel(op) {
        note.push_str(&format!(
            ". Computed by {function} ({file} L{line}): {remark}"
        ));
    }
    note.push_str(&format!(". llama.cpp {}", &COMMIT[..10]));
    Some(LlamaCppRef {
        file: row.file,
        function: row.function,
        line: row.line,
        note,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_their_layer_number_only() {
        assert_eq!(normalize("Qcur-12"), "Qcur");
        assert_eq!(
            normalize("Qcur-0 (view) (permuted)"),
            "Qcur (view) (permuted)"
        );
        assert_eq!(
            normalize("cache_v_l29 (reshaped) (view)"),
            "cache_v_l (reshaped) (view)"
        );
        assert_eq!(normalize("node_417"), "node");
        assert_eq!(normalize("result_output"), "result_output");
        assert_eq!(normalize("attn_inp_k_idxs"), "attn_inp_k_idxs");
        assert_eq!(normalize("kq_soft_max-3"), "kq_soft_max");
    }

    #[test]
    fn qcur_matmul_is_build_qkv() {
        let r = lookup("Qcur-7", "MUL_MAT", true).unwrap();
        assert_eq!(
            (r.file, r.function, r.line),
            (GRAPH, "llm_graph_context::build_qkv", 1703)
        );
        assert!(
            r.note.contains("ggml_compute_forward_mul_mat"),
            "{}",
            r.note
        );
        let rope = lookup("Qcur-7", "ROPE", false).unwrap();
        assert_eq!((rope.file, rope.line), (LLAMA, 146));
    }

    #[test]
    fn attention_path_decides_between_rows() {
        assert_eq!(
            lookup("cache_v_l0 (view)", "VIEW", true).unwrap().line,
            1311
        );
        assert_eq!(
            lookup("cache_v_l0 (view)", "VIEW", false).unwrap().line,
            1320
        );
        assert_eq!(lookup("kqv_out-3", "RESHAPE", true).unwrap().line, 2686);
        assert_eq!(lookup("kqv_out-3", "CONT", false).unwrap().line, 2744);
        assert!(lookup("kq_soft_max-0", "SOFT_MAX", true).is_none());
        assert_eq!(
            lookup("node_12", "FLASH_ATTN_EXT", true).unwrap().line,
            2660
        );
    }

    #[test]
    fn weights_have_no_fact() {
        assert!(lookup("blk.0.attn_q.weight", "NONE", true).is_none());
    }
}
