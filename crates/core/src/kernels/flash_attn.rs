//! FLASH_ATTN_EXT: fused attention softmax(scale·Q·Kᵀ + mask)·V, one query row at a time with
//! an online softmax (ggml-cpu `ops.cpp`, `ggml_compute_forward_flash_attn_ext_f16_one_chunk`).
//!
//! The numbers follow ggml's one-chunk CPU kernel, which is what llama.cpp runs for prompt
//! batches under 64 tokens:
//! - the query row is converted to the K cache's dot-product type (f16 for an f16 cache) and
//!   each score is that type's `vec_dot` ([`DotKernel`], `ggml_vec_dot_f16` for f16);
//! - cells whose mask is −∞ are skipped entirely;
//! - the running maximum M and sum S are f32, rescaled with libm `expf`;
//! - for an f16 V cache the weighted sum of V rows is accumulated **in f16** (`VKQ16`): every
//!   `V += v·p` rounds the accumulator to f16, which is why flash-attention numbers differ from
//!   the non-flash path in the 3rd–4th significant digit;
//! - the result is divided by S in f32.
//!
//! K and V may also be f32 or quantized (ggml's f32 accumulator path: V rows are dequantized and
//! accumulated in f32).
//!
//! Not reproduced: ggml's tiled kernel (batches of ≥ 64 query rows with an f32/f16 cache) and
//! its split-KV path (single-token decode over ≥ 512 cells) sum in other orders; this kernel is
//! the one-chunk order in every case.

// The kernel takes the op's sources and its three parameters, as ggml's op_params hold them.
#![allow(clippy::too_many_arguments)]

use half::f16;
use rayon::prelude::*;

use super::vec::{f32_from_f16_row, mad_f16, scale_f16};
use super::{kernel_fn_here, KernelError, Src};
use crate::dtype::GgmlType;
use crate::graph::SourceLoc;
use crate::quant::{dequantize_row, DotKernel};

/// The value accumulator: f16 for an f16 V cache (as ggml), f32 otherwise.
enum Acc {
    F16(Vec<f16>),
    F32 { acc: Vec<f32>, row: Vec<f32> },
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
    const OP: &str = "FLASH_ATTN_EXT";
    check(q, k, v, mask)?;
    let kq = DotKernel::new(k.ty).map_err(|source| KernelError::Quant { op: OP, source })?;
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
    let (rk2, rk3) = (n_head / k.ne[2], q.ne[3] / k.ne[3]);
    let (rv2, rv3) = (n_head / v.ne[2], q.ne[3] / v.ne[3]);
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
    let scale = if logit_softcap != 0.0 {
        scale / logit_softcap
    } else {
        scale
    };
    let n_head_log2 = if n_head == 0 {
        0
    } else {
        1u32 << (n_head as u32).ilog2()
    };
    let m0 = 2f32.powf(-max_bias / n_head_log2 as f32);
    let m1 = 2f32.powf(-(max_bias / 2.0) / n_head_log2 as f32);
    if dv == 0 {
        return Ok(());
    }

    dst.par_chunks_mut(dv).enumerate().try_for_each(|(r, out)| {
        let quant = |source| KernelError::Quant { op: OP, source };
        // dst row r = head + n_head·(token + n_tokens·i3)
        let (iq2, iq1, iq3) = (r % n_head, r / n_head % n_tokens, r / (n_head * n_tokens));
        let h = iq2 as u32;
        let slope = if max_bias > 0.0 {
            if h < n_head_log2 {
                m0.powf((h + 1) as f32)
            } else {
                m1.powf((2 * (h - n_head_log2) + 1) as f32)
            }
        } else {
            1.0
        };
        let (ik2, ik3, iv2, iv3) = (iq2 / rk2, iq3 / rk3, iq2 / rv2, iq3 / rv3);

        // The query row in the K cache's dot-product type (f16 for an f16 cache).
        let (_, q_len) = kq.row_bytes(dk).map_err(quant)?;
        let mut q_dot = vec![0u8; q_len];
        kq.quantize_row(q.row_f32(iq1, iq2, iq3), &mut q_dot)
            .map_err(quant)?;

        let mut acc = if v.ty == GgmlType::F16 {
            Acc::F16(vec![f16::ZERO; dv])
        } else {
            Acc::F32 {
                acc: vec![0.0; dv],
                row: vec![0.0; dv],
            }
        };
        let mut s_sum = 0.0f32; // S: sum of exp(score - M)
        let mut m_max = f32::NEG_INFINITY; // M: largest score so far

        // this query's mask row, widened once
        let mask_row: Vec<f32> = match mask {
            Some(m) => {
                let mut row = vec![0.0f32; n_kv];
                let (j2, j3) = (iq2 % m.ne[2], iq3 % m.ne[3]);
                if m.rows_contiguous() {
                    f32_from_f16_row(&mut row, &m.row_f16(iq1, j2, j3)[..n_kv]);
                } else {
                    for (ic, r) in row.iter_mut().enumerate() {
                        *r = m.f32_at([ic, iq1, j2, j3]);
                    }
                }
                row
            }
            None => Vec::new(),
        };
        for ic in 0..n_kv {
            let mv = mask_row.get(ic).map_or(0.0, |&m| slope * m);
            if mv == f32::NEG_INFINITY {
                continue;
            }
            let mut s = kq
                .vec_dot(dk, k.row_bytes(ic, ik2, ik3), &q_dot)
                .map_err(quant)?;
            s *= scale;
            if logit_softcap != 0.0 {
                s = logit_softcap * s.tanh();
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

fn check(q: &Src, k: &Src, v: &Src, mask: Option<&Src>) -> Result<(), KernelError> {
    const OP: &str = "FLASH_ATTN_EXT";
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
}
