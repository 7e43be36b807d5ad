//! `bytecopy::copy` against `copy_from_slice` for one 61 KiB copy (a 64 KB super-packet's
//! payload) at destination-minus-source offsets (mod 4 KiB) inside and outside the window
//! where glibc's `rep movsb` stalls (1..=31 bytes on AMD EPYC).
#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const LEN: usize = 62_720;

fn bench(c: &mut Criterion) {
    let src = vec![7u8; LEN + 8192];
    let mut dst = vec![0u8; LEN + 8192];
    // Place both at a common 4 KiB phase, then shift the destination by `delta`.
    let phase = |p: *const u8| 4096 - (p as usize % 4096);
    let s0 = phase(src.as_ptr());
    let d0 = phase(dst.as_ptr());
    let mut g = c.benchmark_group("copy-61k");
    g.throughput(Throughput::Bytes(LEN as u64));
    for delta in [0usize, 8, 16, 64, 2048] {
        let (s, d) = (s0 + 256, d0 + 256 + delta);
        g.bench_with_input(
            BenchmarkId::new("copy_from_slice", delta),
            &delta,
            |b, _| b.iter(|| dst[d..d + LEN].copy_from_slice(&src[s..s + LEN])),
        );
        g.bench_with_input(BenchmarkId::new("bytecopy", delta), &delta, |b, _| {
            b.iter(|| bytecopy::copy(&mut dst[d..d + LEN], &src[s..s + LEN]))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
