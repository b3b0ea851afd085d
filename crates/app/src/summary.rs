//! What the viewer shows of a captured tensor's values: statistics, a 64-bin histogram, a
//! downsampled heatmap and the first values (`GET /api/tensor/{id}`), and the per-head
//! attention probabilities of a `kq_soft_max-<il>` node (`GET /api/attention/{id}`).
//!
//! Values arrive as f32 in ggml order (ne[0] innermost, contiguous). The heatmap sees a tensor
//! as a matrix whose columns are ne[0] and whose rows are ne[1]·ne[2]·ne[3] (for an activation
//! `[n_embd, n_tokens]`: one row per token), reduced to at most 64 × 128 cells by block means.
//! NaN and Inf are counted in the statistics and left out of means and histograms; they are
//! never hidden: a heatmap cell holding any NaN or Inf is `null` (the viewer marks it).

use serde::Serialize;
use tt_core::capture::stats_of;
use tt_core::trace::Stats;

/// Histogram bins.
pub const BINS: usize = 64;
/// Heatmap size limits (rows × columns).
pub const MAX_ROWS: usize = 64;
pub const MAX_COLS: usize = 128;
/// Values returned as a sample.
pub const SAMPLE: usize = 16;

#[derive(Debug, Serialize)]
pub struct Histogram {
    pub min: f64,
    pub max: f64,
    /// `BINS` equal-width bins over [min, max] of the finite values.
    pub counts: Vec<u64>,
}

#[derive(Debug, Serialize)]
pub struct Heatmap {
    pub rows: usize,
    pub cols: usize,
    /// Row-major block means; `None` (JSON null) where a block holds no finite value.
    pub values: Vec<Option<f32>>,
    pub row_label: String,
    pub col_label: String,
}

/// The body of `GET /api/tensor/{id}`.
#[derive(Debug, Serialize)]
pub struct TensorSummary {
    pub id: u32,
    pub name: String,
    /// The tensor's shape.
    pub ne: [i64; 4],
    /// Over every stored value.
    pub stats: Stats,
    pub histogram: Histogram,
    pub heatmap: Heatmap,
    /// The first values in memory order (NaN/Inf as null).
    pub sample: Vec<Option<f32>>,
}

fn histogram(values: &[f32], min: f64, max: f64) -> Histogram {
    let mut counts = vec![0u64; BINS];
    let width = (max - min) / BINS as f64;
    for &v in values {
        let v = v as f64;
        if !v.is_finite() {
            continue;
        }
        let bin = if width > 0.0 {
            (((v - min) / width) as usize).min(BINS - 1)
        } else {
            0
        };
        counts[bin] += 1;
    }
    Histogram { min, max, counts }
}

fn heatmap(values: &[f32], ne: [i64; 4]) -> Heatmap {
    let cols = ne[0].max(1) as usize;
    let rows = (values.len() / cols).max(1);
    let rb = rows.div_ceil(MAX_ROWS);
    let cb = cols.div_ceil(MAX_COLS);
    let (out_r, out_c) = (rows.div_ceil(rb), cols.div_ceil(cb));
    let mut sums = vec![0f64; out_r * out_c];
    let mut counts = vec![0u32; out_r * out_c];
    let mut bad = vec![false; out_r * out_c];
    for (r, row) in values.chunks(cols).enumerate().take(rows) {
        for (c, &v) in row.iter().enumerate() {
            let cell = (r / rb) * out_c + c / cb;
            if v.is_finite() {
                sums[cell] += v as f64;
                counts[cell] += 1;
            } else {
                bad[cell] = true;
            }
        }
    }
    // a cell holding any NaN/Inf is null, however many finite values share it: averaging
    // them away would hide exactly what the heatmap should show
    let values = sums
        .iter()
        .zip(&counts)
        .zip(&bad)
        .map(|((&s, &n), &b)| (n > 0 && !b).then(|| (s / n as f64) as f32))
        .collect();
    let per = |n: usize| {
        if n == 1 {
            String::new()
        } else {
            format!(", mean of {n} per cell")
        }
    };
    Heatmap {
        rows: out_r,
        cols: out_c,
        values,
        row_label: format!(
            "ne1·ne2·ne3 = {}×{}×{} ({rows} rows{})",
            ne[1],
            ne[2],
            ne[3],
            per(rb)
        ),
        col_label: format!("ne0 ({cols} columns{})", per(cb)),
    }
}

/// The summary of one tensor's stored values. `stored_ne` is the shape of `values` (it equals
/// the tensor's `ne` unless only part was kept).
pub fn summarize(
    id: u32,
    name: &str,
    ne: [i64; 4],
    stored_ne: [i64; 4],
    values: &[f32],
) -> TensorSummary {
    let stats = stats_of(values);
    TensorSummary {
        id,
        name: name.to_string(),
        ne,
        histogram: histogram(values, stats.min, stats.max),
        heatmap: heatmap(values, stored_ne),
        sample: values
            .iter()
            .take(SAMPLE)
            .map(|&v| v.is_finite().then_some(v))
            .collect(),
        stats,
    }
}

/// The body of `GET /api/attention/{id}`.
#[derive(Debug, Serialize)]
pub struct Attention {
    pub layer: u32,
    pub n_head: usize,
    pub n_head_kv: usize,
    pub n_tokens: usize,
    pub n_kv_used: usize,
    /// Vocabulary piece of each prompt token.
    pub tokens: Vec<String>,
    /// Per head, `n_tokens × n_kv_used` probabilities, row-major (row = query token).
    pub heads: Vec<Vec<f32>>,
}

/// Why attention weights cannot be cut out of a softmax tensor.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AttentionError {
    #[error("softmax values have shape {found:?}, expected at least [{n_kv_used}, {n_tokens}, heads, 1]")]
    Shape {
        found: [i64; 4],
        n_kv_used: usize,
        n_tokens: usize,
    },
}

/// Per-head attention probabilities from a `kq_soft_max` tensor stored as `stored_ne` =
/// [n_kv, n_tokens, n_head, 1]: the first `n_kv_used` cells (the ones the prompt filled) of each
/// token's row.
pub fn attention(
    values: &[f32],
    stored_ne: [i64; 4],
    n_tokens: usize,
    n_kv_used: usize,
) -> Result<Vec<Vec<f32>>, AttentionError> {
    let [n_kv, rows, n_head, n3] = stored_ne.map(|n| n.max(0) as usize);
    if n_kv < n_kv_used || rows < n_tokens || n3 != 1 || values.len() < n_kv * rows * n_head {
        return Err(AttentionError::Shape {
            found: stored_ne,
            n_kv_used,
            n_tokens,
        });
    }
    Ok((0..n_head)
        .map(|h| {
            (0..n_tokens)
                .flat_map(|t| {
                    let start = (h * rows + t) * n_kv;
                    values[start..start + n_kv_used].iter().copied()
                })
                .collect()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_count_nan_and_inf_without_hiding_them() {
        let s = stats_of(&[1.0, f32::NAN, 3.0, f32::INFINITY, -1.0]);
        assert_eq!((s.n, s.nan, s.inf), (5, 1, 1));
        assert_eq!((s.min, s.max, s.mean), (-1.0, 3.0, 1.0));
        assert!((s.std - (8.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!(
            s.sum.is_nan(),
            "the printed sum includes the NaN, as llama.cpp's does"
        );
    }

    #[test]
    fn histogram_puts_max_in_last_bin() {
        let v: Vec<f32> = (0..=64).map(|i| i as f32).collect();
        let h = histogram(&v, 0.0, 64.0);
        assert_eq!(h.counts.iter().sum::<u64>(), 65);
        assert_eq!(h.counts[0], 1);
        assert_eq!(h.counts[63], 2, "63 and 64 share the closed last bin");
    }

    #[test]
    fn heatmap_block_means_rows_and_columns() {
        // 200 columns × 130 rows: blocks of 2 columns × 3 rows → 100 × 44 cells.
        let (c, r) = (200usize, 130usize);
        let v: Vec<f32> = (0..r * c).map(|i| (i % c) as f32).collect();
        let h = heatmap(&v, [c as i64, r as i64, 1, 1]);
        assert_eq!((h.rows, h.cols), (44, 100));
        assert_eq!(h.values[0], Some(0.5), "mean of columns 0 and 1");
        assert_eq!(h.values[99], Some(198.5));
        assert!(h.col_label.contains("mean of 2"), "{}", h.col_label);
    }

    #[test]
    fn heatmap_cell_with_one_nan_among_many_is_null() {
        // 4096 columns → cells of 32: one NaN hides among 31 finite values
        let mut v = vec![1.0f32; 4096];
        v[70] = f32::NAN;
        let h = heatmap(&v, [4096, 1, 1, 1]);
        assert_eq!(h.values.len(), 128);
        assert_eq!(h.values.iter().filter(|x| x.is_none()).count(), 1);
        assert_eq!(h.values[2], None);
        assert_eq!(h.values[3], Some(1.0));
    }

    #[test]
    fn heatmap_cell_without_finite_value_is_null() {
        let h = heatmap(&[f32::NAN, 1.0], [2, 1, 1, 1]);
        assert_eq!(h.values, vec![None, Some(1.0)]);
    }

    #[test]
    fn attention_cuts_used_cells_per_head() {
        // n_kv 4 cells, 2 tokens, 2 heads; value = 100·h + 10·t + cell.
        let mut v = Vec::new();
        for h in 0..2 {
            for t in 0..2 {
                for c in 0..4 {
                    v.push((100 * h + 10 * t + c) as f32);
                }
            }
        }
        let heads = attention(&v, [4, 2, 2, 1], 2, 3).unwrap();
        assert_eq!(heads[1], vec![100.0, 101.0, 102.0, 110.0, 111.0, 112.0]);
        assert!(attention(&v, [4, 2, 2, 1], 2, 5).is_err());
    }
}
