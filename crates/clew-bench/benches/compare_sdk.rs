//! clew-sdk against opentelemetry_sdk 0.33 on the anchor workloads, in one
//! process. `cargo bench -p clew-bench --bench compare_sdk`, or `cargo xtask bench`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};

/// A workload's name, and its operation for clew and for opentelemetry.
type Case = (&'static str, Box<dyn FnMut()>, Box<dyn FnMut()>);

fn sdk(c: &mut Criterion) {
    use clew_bench::sdk::{self, ClewPipeline};
    let cases: [Case; 4] = [
        (
            "sdk_span_sampled_4attr/discard_processor",
            Box::new(sdk::clew_4attr(ClewPipeline::Discard)),
            Box::new(sdk::otel_4attr(ClewPipeline::Discard)),
        ),
        (
            "sdk_span_sampled_4attr/batch",
            Box::new(sdk::clew_4attr(ClewPipeline::Batch)),
            Box::new(sdk::otel_4attr(ClewPipeline::Batch)),
        ),
        (
            "sdk_span_not_sampled/always_off",
            Box::new(sdk::clew_not_sampled()),
            Box::new(sdk::otel_not_sampled()),
        ),
        (
            "nested_3/in_span",
            Box::new(sdk::clew_nested_3()),
            Box::new(sdk::otel_nested_3()),
        ),
    ];
    for (name, mut clew_op, mut otel_op) in cases {
        let mut g = c.benchmark_group(name);
        g.bench_function("clew", |b| b.iter(&mut clew_op));
        g.bench_function("opentelemetry", |b| b.iter(&mut otel_op));
        g.finish();
    }
}

/// Encoding a 512-span batch to OTLP protobuf. opentelemetry's transform
/// consumes the spans, so its input is cloned outside the timed section.
fn otlp(c: &mut Criterion) {
    use clew_bench::otlp;
    let mut g = c.benchmark_group("otlp_encode_512/convert_encode");
    let (resource, spans) = otlp::clew_batch();
    g.bench_function("clew", |b| b.iter(|| otlp::clew_encode(&resource, &spans)));
    let (resource, spans) = otlp::otel_batch();
    g.bench_function("opentelemetry", |b| {
        b.iter_batched(
            || spans.clone(),
            |spans| otlp::otel_encode(&resource, spans),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, sdk, otlp);
criterion_main!(benches);
