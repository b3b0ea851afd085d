//! FLASH_ATTN_EXT: fused attention softmax(scale·Q·Kᵀ + mask)·V with an online softmax
//! (ggml-cpu `ops.cpp`, `ggml_compute_forward_flash_attn_ext_f16`). ggml has two CPU kernels
//! whose numbers differ, and llama.cpp picks by batch size; both are reproduced:
//!
//! **One chunk** (`…_f16_one_chunk`; prompts under 64 tokens, or K/V of other types), one
//! query row at a time, one cache cell at a time:
//! - the query row is converted to the K cache's dot-product type (f16 for an f16 cache) and
//!   each score is that type's `vec_dot` ([`DotKernel`], `ggml_vec_dot_f16` for f16);
//! - cells whose mask is −∞ are skipped entirely;
//! - the running maximum M and sum S are f32, rescaled with libm `expf`;
//! - for an f16 V cache the weighted sum of V rows is accumulated **in f16** (`VKQ16`): every
//!   `V += v·p` rounds the accumulator to f16, which is why flash-attention numbers differ from
//!   the non-flash path in the 3rd–4th significant digit; other V types are widened to f32 and
//!   accumulated in f32.
//!
//! **Tiled** (`…_tiled`; ≥ 64 query rows, K and V both f16 or both f32), 64 cells at a time:
//! - Q stays f32, K and V are widened to f32; each score and each output element is one chain
//!   of fused multiply-adds in index order (ggml's `simd_gemm`);
//! - the maximum is updated once per tile, the tile's exponentials come from the SIMD `v_expf`
//!   and are summed like SOFT_MAX's (8 lanes in f32, then f64), V is accumulated in f32.
//!
//! ggml's split-KV path (one query row over ≥ 512 cells) only runs for single-token decoding,
//! never for a prompt, and is not needed here.

// The kernel takes the op's sources and its three parameters, as ggml's op_params hold them.
#![allow(clippy::too_many_arguments)]

use half::f16;
use rayon::prelude::*;

use super::vec::{acc_rows_fma, exp_sum_row, f32_from_f16_row, mad_f16, scale_f16};
use super::{kernel_fn_here, KernelError, Src};
use crate::dtype::GgmlType;
use crate::graph::SourceLoc;
use crate::quant::{dequantize_row, DotKernel};

const OP: &str = "FLASH_ATTN_EXT";

/// Query rows and cache cells per tile of the tiled kernel (`GGML_FA_TILE_Q`, `GGML_FA_TILE_KV`).
const TILE_Q: usize = 64;
const TILE_KV: usize = 64;

/// What both kernels share: sizes, broadcast factors, the scale and the ALiBi slopes.
struct Setup<'a> {
    q: &'a Src<'a>,
    k: &'a Src<'a>,
    v: &'a Src<'a>,
    mask: Option<&'a Src<'a>>,
    dk: usize,
    dv: usize,
    n_kv: usize,
    n_tokens: usize,
    n_head: usize,
    /// K and V heads serve `rk2`/`rv2` query heads each (grouped-query attention).
    rk: [usize; 2],
    rv: [usize; 2],
    scale: f32,
    logit_softcap: f32,
    max_bias: f32,
    n_head_log2: u32,
    m0: f32,
    m1: f32,
}

impl Setup<'_> {
    /// ALiBi slope of head `h` (1 without ALiBi).
    fn slope(&self, h: u32) -> f32 {
        if self.max_bias <= 0.0 {
            1.0
        } else if h < self.n_head_log2 {
            self.m0.powf((h + 1) as f32)
        } else {
            self.m1.powf((2 * (h - self.n_head_log2) + 1) as f32)
        }
    }

    /// Mask row of query token `iq1` for head `iq2`, batch `iq3`, widened to f32 (empty if no mask).
    fn mask_row(&self, iq1: usize, iq2: usize, iq3: usize) -> Vec<f32> {
        let Some(m) = self.mask else {
            return Vec::new();
        };
        let mut row = vec![0.0f32; self.n_kv];
        let (j2, j3) = (iq2 % m.ne[2], iq3 % m.ne[3]);
        if m.rows_contiguous() {
            f32_from_f16_row(&mut row, &m.row_f16(iq1, j2, j3)[..self.n_kv]);
        } else {
            for (ic, r) in row.iter_mut().enumerate() {
                *r = m.f32_at([ic, iq1, j2, j3]);
            }
        }
        row
    }
}

pub(super) const SOURCE: SourceLoc = kernel_fn_here!();
pub fn flash_attn_ext(
    q: &Src,
    k: &Src,
    v: &Src,
    mask: Option<&Src>,
    scale: f32,
    max_bias: f32,
    logit_softcap: f32,
    dst: &mut [f32],
) -> Result<(), KernelError> {
    check(q, k, v, mask)?;
    // q: [d_k, n_tokens, n_head, ne3]   k: [d_k, n_kv, n_head_kv, ·]   v: [d_v, n_kv, n_head_kv, ·]
    // mask: [n_kv, n_tokens_padded, ·, ·]   dst: [d_v, n_head, n_tokens, ne3]
    let (dk, dv, n_kv) = (k.ne[0], v.ne[0], k.ne[1]);
    let (n_tokens, n_head) = (q.ne[1], q.ne[2]);
    if q.ne[0] != dk || v.ne[1] != n_kv {
        return Err(KernelError::Shape {
            op: OP,
            what: "q/k/v sizes",
            expected: format!("q.ne0 = k.ne0 = {dk}, v.ne1 = k.ne1 = {n_kv}"),
            found: format!("q.ne0 = {}, v.ne1 = {}", q.ne[0], v.ne[1]),
        });
    }
    // grouped-query attention: each K/V head serves n_head / n_head_kv query heads
    for (s, what) in [(k, "k heads"), (v, "v heads")] {
        if s.ne[2] == 0
            || s.ne[3] == 0
            || !n_head.is_multiple_of(s.ne[2])
            || !q.ne[3].is_multiple_of(s.ne[3])
        {
            return Err(KernelError::Shape {
                op: OP,
                what,
                expected: format!("divisors of [{n_head}, {}]", q.ne[3]),
                found: format!("[{}, {}]", s.ne[2], s.ne[3]),
            });
        }
    }
    if let Some(m) = mask {
        if m.ne[0] < n_kv || m.ne[1] < n_tokens {
            return Err(KernelError::Shape {
                op: OP,
                what: "mask shape",
                expected: format!("[>= {n_kv}, >= {n_tokens}]"),
                found: format!("[{}, {}]", m.ne[0], m.ne[1]),
            });
        }
    }
    let n_head_log2 = if n_head == 0 {
        0
    } else {
        1u32 << (n_head as u32).ilog2()
    };
    let setup = Setup {
        q,
        k,
        v,
        mask,
        dk,
        dv,
        n_kv,
        n_tokens,
        n_head,
        rk: [n_head / k.ne[2], q.ne[3] / k.ne[3]],
        rv: [n_head / v.ne[2], q.ne[3] / v.ne[3]],
        scale: if logit_softcap != 0.0 {
            scale / logit_softcap
        } else {
            scale
        },
        logit_softcap,
        max_bias,
        n_head_log2,
        m0: 2f32.powf(-max_bias / n_head_log2 as f32),
        m1: 2f32.powf(-(max_bias / 2.0) / n_head_log2 as f32),
    };
    if dv == 0 {
        return Ok(());
    }
    let tiled = n_tokens >= TILE_Q && k.ty == v.ty && matches!(k.ty, GgmlType::F16 | GgmlType::F32);
    if tiled {
        tiled_kernel(&setup, dst)
    } else {
        one_chunk_kernel(&setup, dst)
    }
}

/// The value accumulator of the one-chunk kernel: f16 for an f16 V cache (as ggml), f32 otherwise.
enum Acc {
    F16(Vec<f16>),
    F32 { acc: Vec<f32>, row: Vec<f32> },
}

/// ggml's one-chunk kernel: every query row on its own, cell by cell.
fn one_chunk_kernel(st: &Setup, dst: &mut [f32]) -> Result<(), KernelError> {
    let (q, k, v) = (st.q, st.k, st.v);
    let kq = DotKernel::new(k.ty).map_err(|source| KernelError::Quant { op: OP, source })?;
    let (_, q_len) = kq
        .row_bytes(st.dk)
        .map_err(|source| KernelError::Quant { op: OP, source })?;
    dst.par_chunks_mut(st.dv)
        .enumerate()
        .try_for_each(|(r, out)| {
            let quant = |source| KernelError::Quant { op: OP, source };
            // dst row r = head + n_head·(token + n_tokens·i3)
            let (iq2, iq1, iq3) = (
                r % st.n_head,
                r / st.n_head % st.n_tokens,
                r / (st.n_head * st.n_tokens),
            );
            let slope = st.slope(iq2 as u32);
            let (ik2, ik3, iv2, iv3) = (
                iq2 / st.rk[0],
                iq3 / st.rk[1],
                iq2 / st.rv[0],
                iq3 / st.rv[1],
            );

            // The query row in the K cache's dot-product type (f16 for an f16 cache).
            let mut q_dot = vec![0u8; q_len];
            kq.quantize_row(q.row_f32(iq1, iq2, iq3), &mut q_dot)
                .map_err(quant)?;

            let mut acc = if v.ty == GgmlType::F16 {
                Acc::F16(vec![f16::ZERO; st.dv])
            } else {
                Acc::F32 {
                    acc: vec![0.0; st.dv],
                    row: vec![0.0; st.dv],
                }
            };
            let mut s_sum = 0.0f32; // S: sum of exp(score - M)
            let mut m_max = f32::NEG_INFINITY; // M: largest score so far
            let mask_row = st.mask_row(iq1, iq2, iq3);
            for ic in 0..st.n_kv {
                let mv = mask_row.get(ic).map_or(0.0, |&m| slope * m);
                if mv == f32::NEG_INFINITY {
                    continue;
                }
                let mut s = kq
                    .vec_dot(st.dk, k.row_bytes(ic, ik2, ik3), &q_dot)
                    .map_err(quant)?;
                s *= st.scale;
                if st.logit_softcap != 0.0 {
                    s = st.logit_softcap * s.tanh();
                }
                s += mv;

                // online softmax: a new maximum rescales what was accumulated so far
                let (ms, vs) = if s > m_max {
                    let ms = (m_max - s).exp();
                    m_max = s;
                    match &mut acc {
                        Acc::F16(a) => scale_f16(a, ms),
                        Acc::F32 { acc, .. } => acc.iter_mut().for_each(|x| *x *= ms),
                    }
                    (ms, 1.0f32)
                } else {
                    (1.0f32, (s - m_max).exp())
                };
                // V += v·exp(s - M)
                match &mut acc {
                    Acc::F16(a) => mad_f16(a, v.row_f16(ic, iv2, iv3), vs),
                    Acc::F32 { acc, row } => {
                        dequantize_row(v.ty, v.row_bytes(ic, iv2, iv3), row).map_err(quant)?;
                        for (x, &vi) in acc.iter_mut().zip(row.iter()) {
                            *x = vi.mul_add(vs, *x);
                        }
                    }
                }
                // `S = S*ms + vs`, contracted to an FMA by GCC like the rest of ops.cpp
                s_sum = s_sum.mul_add(ms, vs);
            }

            // V /= S
            let s_inv = if s_sum == 0.0 { 0.0 } else { 1.0 / s_sum };
            match &acc {
                Acc::F16(a) => {
                    for (o, x) in out.iter_mut().zip(a) {
                        *o = x.to_f32() * s_inv;
                    }
                }
                Acc::F32 { acc, .. } => {
                    for (o, &x) in out.iter_mut().zip(acc) {
                        *o = x * s_inv;
                    }
                }
            }
            Ok(())
        })
}

/// ggml's tiled kernel. A work item is up to 64 consecutive query rows of one head; the K and
/// V tiles (64 cells, widened to f32) are shared by its rows. Each row's numbers depend only on
/// the row, not on how rows are grouped.
fn tiled_kernel(st: &Setup, dst: &mut [f32]) -> Result<(), KernelError> {
    let (dk, dv) = (st.dk, st.dv);
    let blocks = st.n_tokens.div_ceil(TILE_Q);
    let ne3 = st.q.ne[3];
    let parts: Vec<Vec<f32>> = (0..ne3 * st.n_head * blocks)
        .into_par_iter()
        .map(|job| {
            let (b, iq2, iq3) = (
                job % blocks,
                job / blocks % st.n_head,
                job / (blocks * st.n_head),
            );
            let tokens = b * TILE_Q..((b + 1) * TILE_Q).min(st.n_tokens);
            let slope = st.slope(iq2 as u32);
            let (ik2, ik3, iv2, iv3) = (
                iq2 / st.rk[0],
                iq3 / st.rk[1],
                iq2 / st.rv[0],
                iq3 / st.rv[1],
            );
            let masks: Vec<Vec<f32>> = tokens.clone().map(|t| st.mask_row(t, iq2, iq3)).collect();
            let rows = tokens.len();
            let mut m_max = vec![f32::NEG_INFINITY; rows];
            let mut s_sum = vec![0.0f32; rows];
            let mut vkq = vec![0.0f32; rows * dv]; // [rows][d_v], f32 accumulator
            let mut k_t = vec![0.0f32; dk * TILE_KV]; // K tile transposed: [d_k][cell]
            let mut v_t = vec![0.0f32; TILE_KV * dv]; // V tile: [cell][d_v]
            let mut kq = vec![0.0f32; TILE_KV];
            let mut p = vec![0.0f32; TILE_KV];
            for ic in (0..st.n_kv).step_by(TILE_KV) {
                let n = TILE_KV.min(st.n_kv - ic);
                // a tile no row of the block may see is skipped
                let visible = |r: usize, tk: usize| {
                    masks[r]
                        .get(ic + tk)
                        .is_none_or(|&m| slope * m != f32::NEG_INFINITY)
                };
                if !(0..rows).any(|r| (0..n).any(|tk| visible(r, tk))) {
                    continue;
                }
                widen_tile(st, ic, n, ik2, ik3, iv2, iv3, &mut k_t, &mut v_t);
                for r in 0..rows {
                    let q_row = st.q.row_f32(tokens.start + r, iq2, iq3);
                    // scores of this tile: one FMA chain over d_k per cell
                    kq.fill(0.0);
                    acc_rows_fma(&mut kq, q_row, &k_t);
                    for x in kq.iter_mut() {
                        *x *= st.scale;
                    }
                    if st.logit_softcap != 0.0 {
                        for x in kq.iter_mut() {
                            *x = x.tanh() * st.logit_softcap;
                        }
                    }
                    kq[n..].fill(f32::NEG_INFINITY);
                    if st.mask.is_some() {
                        for (tk, x) in kq.iter_mut().enumerate() {
                            let m = if tk < n {
                                slope * masks[r][ic + tk]
                            } else {
                                f32::NEG_INFINITY
                            };
                            *x += m;
                        }
                    }
                    // ggml_vec_max_f32
                    let tile_max = kq
                        .iter()
                        .fold(f32::NEG_INFINITY, |m, &x| if m > x { m } else { x });
                    if tile_max == f32::NEG_INFINITY {
                        continue;
                    }
                    let m_new = m_max[r].max(tile_max);
                    let acc = &mut vkq[r * dv..(r + 1) * dv];
                    if m_new > m_max[r] {
                        let ms = (m_max[r] - m_new).exp();
                        acc.iter_mut().for_each(|x| *x *= ms);
                        s_sum[r] *= ms;
                    }
                    m_max[r] = m_new;
                    // S += Σ exp(score - M), the sum in f64 as ggml_vec_soft_max_f32 returns it
                    s_sum[r] = (f64::from(s_sum[r]) + exp_sum_row(&mut p, &kq, m_new)) as f32;
                    // V += p · V_tile: one FMA chain over the 64 cells per output element
                    acc_rows_fma(acc, &p, &v_t);
                }
            }
            for (r, acc) in vkq.chunks_exact_mut(dv).enumerate() {
                let s_inv = if s_sum[r] == 0.0 { 0.0 } else { 1.0 / s_sum[r] };
                acc.iter_mut().for_each(|x| *x *= s_inv);
            }
            vkq
        })
        .collect();
    // rows of block b of head h go to dst rows h + n_head·(token + n_tokens·i3)
    for (job, part) in parts.iter().enumerate() {
        let (b, iq2, iq3) = (
            job % blocks,
            job / blocks % st.n_head,
            job / (blocks * st.n_head),
        );
        for (r, row) in part.chunks_exact(dv).enumerate() {
            let d = iq2 + st.n_head * (b * TILE_Q + r + st.n_tokens * iq3);
            dst[d * dv..(d + 1) * dv].copy_from_slice(row);
        }
    }
    Ok(())
}

/// K cells `ic..ic+n` widened to f32 and transposed into `k_t` [d_k][64], V cells into `v_t`
/// [64][d_v]; cells past `n` are zero (their scores are −∞ anyway).
fn widen_tile(
    st: &Setup,
    ic: usize,
    n: usize,
    ik2: usize,
    ik3: usize,
    iv2: usize,
    iv3: usize,
    k_t: &mut [f32],
    v_t: &mut [f32],
) {
    let (dk, dv) = (st.dk, st.dv);
    let mut k_row = vec![0.0f32; dk];
    k_t.fill(0.0);
    v_t.fill(0.0);
    for tk in 0..n {
        if st.k.ty == GgmlType::F16 {
            f32_from_f16_row(&mut k_row, st.k.row_f16(ic + tk, ik2, ik3));
        } else {
            k_row.copy_from_slice(st.k.row_f32(ic + tk, ik2, ik3));
        }
        for (d, &x) in k_row.iter().enumerate() {
            k_t[d * TILE_KV + tk] = x;
        }
        let v_row = &mut v_t[tk * dv..(tk + 1) * dv];
        if st.v.ty == GgmlType::F16 {
            f32_from_f16_row(v_row, st.v.row_f16(ic + tk, iv2, iv3));
        } else {
            v_row.copy_from_slice(st.v.row_f32(ic + tk, iv2, iv3));
        }
    }
}

fn check(q: &Src, k: &Src, v: &Src, mask: Option<&Src>) -> Result<(), KernelError> {
    if q.ty != GgmlType::F32 {
        return Err(KernelError::UnsupportedType {
            op: OP,
            what: "q",
            ty: q.ty,
        });
    }
    // V rows are either f16 (accumulated in f16) or widened to f32 by quant's dequantizer
    if v.ty != GgmlType::F16 && dequantize_row(v.ty, &[], &mut []).is_err() {
        return Err(KernelError::UnsupportedType {
            op: OP,
            what: "v",
            ty: v.ty,
        });
    }
    if let Some(m) = mask {
        if m.ty != GgmlType::F16 {
            return Err(KernelError::UnsupportedType {
                op: OP,
                what: "mask",
                ty: m.ty,
            });
        }
    }
    for (s, what) in [(q, "q"), (k, "k"), (v, "v")] {
        s.require_contiguous_rows(OP, what)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f16s(v: &[f32]) -> Vec<f16> {
        v.iter().map(|&x| f16::from_f32(x)).collect()
    }

    /// Two cells, one query; the second cell masked: the output is V row 0 exactly.
    /// Unmasked: the softmax-weighted mean of the two V rows.
    #[test]
    fn attends_to_unmasked_cells_only() {
        let q = [1.0f32, 0.0]; // [2, 1 token, 1 head]
        let k = f16s(&[1.0, 0.0, 0.0, 1.0]); // [2, 2 cells]
        let v = f16s(&[1.0, 2.0, 3.0, 4.0]); // [2, 2 cells]
        let (sq, sk, sv) = (
            Src::dense(bytemuck::cast_slice(&q), GgmlType::F32, [2, 1, 1, 1]),
            Src::dense(bytemuck::cast_slice(&k), GgmlType::F16, [2, 2, 1, 1]),
            Src::dense(bytemuck::cast_slice(&v), GgmlType::F16, [2, 2, 1, 1]),
        );
        let masked = f16s(&[0.0, f32::NEG_INFINITY]);
        let sm = Src::dense(bytemuck::cast_slice(&masked), GgmlType::F16, [2, 1, 1, 1]);
        let mut out = [0.0f32; 2];
        flash_attn_ext(&sq, &sk, &sv, Some(&sm), 1.0, 0.0, 0.0, &mut out).unwrap();
        assert_eq!(out, [1.0, 2.0]);

        flash_attn_ext(&sq, &sk, &sv, None, 1.0, 0.0, 0.0, &mut out).unwrap();
        // scores 1 and 0: weights e/(1+e), 1/(1+e)
        let w0 = std::f64::consts::E / (1.0 + std::f64::consts::E);
        let expect = [w0 + 3.0 * (1.0 - w0), 2.0 * w0 + 4.0 * (1.0 - w0)];
        for (o, e) in out.iter().zip(expect) {
            assert!(
                (f64::from(*o) - e).abs() < 2e-3,
                "{o} vs {e} (f16 accumulation)"
            );
        }
    }

    fn pseudo(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                ((s >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 2.0
            })
            .collect()
    }

    /// 70 query tokens (the tiled kernel), 2 query heads over 1 K/V head, 80 cells (a full and
    /// a partial tile), a causal mask: close to f64 arithmetic on the f16-rounded inputs, and
    /// to the one-chunk kernel on the first 63 tokens (which stay under the tiled threshold).
    #[test]
    fn the_tiled_kernel_computes_causal_attention() {
        let (d, n_tok, n_kv) = (16usize, 70usize, 80usize);
        let q = pseudo(d * n_tok * 2, 1); // [d, n_tok, 2 heads]
        let k = f16s(&pseudo(d * n_kv, 2)); // [d, n_kv, 1 head]
        let v = f16s(&pseudo(d * n_kv, 3));
        let mask: Vec<f16> = (0..n_tok)
            .flat_map(|t| {
                (0..n_kv).map(move |c| if c <= t { f16::ZERO } else { f16::NEG_INFINITY })
            })
            .collect();
        let sq = Src::dense(bytemuck::cast_slice(&q), GgmlType::F32, [d, n_tok, 2, 1]);
        let sk = Src::dense(bytemuck::cast_slice(&k), GgmlType::F16, [d, n_kv, 1, 1]);
        let sv = Src::dense(bytemuck::cast_slice(&v), GgmlType::F16, [d, n_kv, 1, 1]);
        let sm = Src::dense(
            bytemuck::cast_slice(&mask),
            GgmlType::F16,
            [n_kv, n_tok, 1, 1],
        );
        let mut out = vec![0.0f32; d * 2 * n_tok]; // [d, 2 heads, n_tok]
        flash_attn_ext(&sq, &sk, &sv, Some(&sm), 0.25, 0.0, 0.0, &mut out).unwrap();

        let mut worst = 0.0f64;
        for t in 0..n_tok {
            for h in 0..2 {
                let qr = &q[(h * n_tok + t) * d..][..d];
                let scores: Vec<f64> = (0..=t)
                    .map(|c| {
                        0.25 * (0..d)
                            .map(|i| f64::from(qr[i]) * f64::from(k[c * d + i].to_f32()))
                            .sum::<f64>()
                    })
                    .collect();
                let mx = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let w: Vec<f64> = scores.iter().map(|s| (s - mx).exp()).collect();
                let z: f64 = w.iter().sum();
                for i in 0..d {
                    let e: f64 = (0..=t)
                        .map(|c| w[c] * f64::from(v[c * d + i].to_f32()))
                        .sum::<f64>()
                        / z;
                    worst = worst.max((f64::from(out[(t * 2 + h) * d + i]) - e).abs());
                }
            }
        }
        assert!(worst < 1e-5, "tiled vs f64: {worst}");

        // the first 63 tokens alone take the one-chunk path (f16 accumulator): close, not equal
        let n1 = 63;
        let q1: Vec<f32> = (0..2)
            .flat_map(|h| q[h * n_tok * d..][..n1 * d].to_vec())
            .collect();
        let sq1 = Src::dense(bytemuck::cast_slice(&q1), GgmlType::F32, [d, n1, 2, 1]);
        let mut out1 = vec![0.0f32; d * 2 * n1];
        flash_attn_ext(&sq1, &sk, &sv, Some(&sm), 0.25, 0.0, 0.0, &mut out1).unwrap();
        let diff = out1
            .iter()
            .zip(&out)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(diff > 0.0 && diff < 2e-3, "one-chunk vs tiled: {diff}");
    }
}
