//! vec_dot throughput on SmolLM2-sized rows: 576 (n_embd) and 1536 (n_ff) elements, for Q4_1
//! (the reference model's weights, against Q8_1 activations) and Q8_0 (its `token_embd`/output).
//! Each iteration is 64 dot products — 64 weight rows against one activation row
//! (`vec_dot_rows`) or one weight row against 64 activation rows (`vec_dot_cols`) — so time/64
//! is ns per dot product; throughput counts 64 weight rows' bytes.
//!
//! Run: `cargo bench -p tt-core --bench quant`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use tt_core::quant::{quantize_row, quantize_row_ref, DotKernel, KernelPath};
use tt_core::GgmlType;

/// Deterministic pseudo-random values in −1..1 (a small LCG; no dependency needed).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn bench_vec_dot(c: &mut Criterion) {
    const ROWS: usize = 64;
    let mut group = c.benchmark_group(format!("vec_dot/{}", KernelPath::detect().name()));
    for ty in [GgmlType::Q4_1, GgmlType::Q8_0] {
        let kernel = DotKernel::new(ty).expect("supported type");
        for n in [576usize, 1536] {
            let (w_len, a_len) = kernel.row_bytes(n).expect("whole blocks");
            let mut w = vec![0u8; w_len * ROWS];
            for (r, row) in w.chunks_exact_mut(w_len).enumerate() {
                quantize_row_ref(ty, &values(n, r as u64 + 1), row).expect("row size");
            }
            let mut a = vec![0u8; a_len];
            quantize_row(kernel.vec_dot_type(), &values(n, 1000), &mut a).expect("row size");
            let mut out = vec![0f32; ROWS];

            // The same work as one weight row against ROWS activation rows (`vec_dot_cols`,
            // four columns at a time for these types).
            let mut acts = vec![0u8; a_len * ROWS];
            for (c, col) in acts.chunks_exact_mut(a_len).enumerate() {
                quantize_row(kernel.vec_dot_type(), &values(n, 2000 + c as u64), col)
                    .expect("row size");
            }
            group.throughput(Throughput::Bytes((w_len * ROWS) as u64));
            group.bench_with_input(
                BenchmarkId::new(format!("{ty}x{ROWS}cols"), n),
                &n,
                |b, &n| {
                    b.iter(|| {
                        kernel
                            .vec_dot_cols(n, black_box(&w[..w_len]), black_box(&acts), &mut out)
                            .expect("sizes");
                        black_box(&out);
                    })
                },
            );

            // One iteration = ROWS rows, so time/ROWS is ns per row.
            group.throughput(Throughput::Bytes(w.len() as u64));
            group.bench_with_input(
                BenchmarkId::new(format!("{ty}x{ROWS}rows"), n),
                &n,
                |b, &n| {
                    b.iter(|| {
                        kernel
                            .vec_dot_rows(n, black_box(&w), black_box(&a), &mut out)
                            .expect("sizes");
                        black_box(&out);
                    })
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, bench_vec_dot);
criterion_main!(benches);
