//! clew against opentelemetry 0.33 on the anchor workloads, in one process.
//! `cargo bench -p clew-bench --bench compare`, or `cargo xtask bench`.

use clew_bench::{clew, otel};
use criterion::{criterion_group, criterion_main, Criterion};

fn noop_span(c: &mut Criterion) {
    let mut g = c.benchmark_group("noop_span/start_end");
    let mut op = clew::noop_start_end();
    g.bench_function("clew", |b| b.iter(&mut op));
    let mut op = otel::noop_start_end();
    g.bench_function("opentelemetry", |b| b.iter(&mut op));
    g.finish();

    let mut g = c.benchmark_group("noop_span/in_span");
    let mut op = clew::noop_in_span();
    g.bench_function("clew", |b| b.iter(&mut op));
    let mut op = otel::noop_in_span();
    g.bench_function("opentelemetry", |b| b.iter(&mut op));
    g.finish();
}

fn propagation(c: &mut Criterion) {
    let mut g = c.benchmark_group("propagation_inject_extract/roundtrip");
    let mut op = clew::roundtrip();
    g.bench_function("clew", |b| b.iter(&mut op));
    let mut op = otel::roundtrip();
    g.bench_function("opentelemetry", |b| b.iter(&mut op));
    g.finish();

    let mut g = c.benchmark_group("propagation_inject_extract/inject");
    let mut op = clew::inject();
    g.bench_function("clew", |b| b.iter(&mut op));
    let mut op = otel::inject();
    g.bench_function("opentelemetry", |b| b.iter(&mut op));
    g.finish();

    let mut g = c.benchmark_group("propagation_inject_extract/extract");
    let mut op = clew::extract();
    g.bench_function("clew", |b| b.iter(&mut op));
    let mut op = otel::extract();
    g.bench_function("opentelemetry", |b| b.iter(&mut op));
    g.finish();
}

criterion_group!(benches, noop_span, propagation);
criterion_main!(benches);
