//! clew-api component benchmarks: context attach, baggage and the other
//! propagators. `cargo bench -p clew-bench --bench api`.

use std::collections::HashMap;
use std::hint::black_box;

use clew_api::propagation::{
    B3Propagator, BaggagePropagator, JaegerPropagator, TextMapPropagator, W3CPropagator,
};
use clew_api::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
use clew_api::{Baggage, Context};
use criterion::{criterion_group, criterion_main, Criterion};

fn remote() -> Context {
    Context::new()
        .with_remote_span_context(SpanContext::new(
            TraceId::from_int(0x4bf92f3577b34da6a3ce929d0e0e4736),
            SpanId::from_int(0x00f067aa0ba902b7),
            TraceFlags::SAMPLED,
            true,
            TraceState::from_header("rojo=00f067aa0ba902b7").unwrap_or_default(),
        ))
        .with_baggage(
            Baggage::new()
                .with("tenant.id", "acme")
                .with("feature.flags", "a,b"),
        )
}

fn context(c: &mut Criterion) {
    let cx = remote();
    c.bench_function("context/attach_detach", |b| {
        b.iter(|| {
            let guard = cx.clone().attach();
            black_box(&guard);
        })
    });
    let _g = cx.clone().attach();
    c.bench_function("context/current", |b| {
        b.iter(|| black_box(Context::current()))
    });
}

fn propagators(c: &mut Criterion) {
    let cx = remote();
    let cases: [(&str, &dyn TextMapPropagator); 4] = [
        ("w3c", &W3CPropagator),
        ("baggage", &BaggagePropagator),
        ("b3", &B3Propagator::default()),
        ("jaeger", &JaegerPropagator),
    ];
    for (name, p) in cases {
        let mut carrier = HashMap::<String, String>::new();
        p.inject_context(&cx, &mut carrier);
        c.bench_function(&format!("propagation/{name}/inject"), |b| {
            b.iter(|| {
                let mut out = HashMap::<String, String>::new();
                p.inject_context(&cx, &mut out);
                black_box(out)
            })
        });
        c.bench_function(&format!("propagation/{name}/extract"), |b| {
            b.iter(|| black_box(p.extract_with_context(&Context::new(), &carrier)))
        });
    }
}

criterion_group!(benches, context, propagators);
criterion_main!(benches);
