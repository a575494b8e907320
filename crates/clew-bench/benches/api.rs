//! clew-api component benchmarks: context attach, baggage and the other
//! propagators, and the span clock. `cargo bench -p clew-bench --bench api`.

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

/// `clew_api::time::now` (the counter, once its rate is measured) against
/// `SystemTime::now` (`clock_gettime`), which spans read before.
fn clock(c: &mut Criterion) {
    let start = std::time::Instant::now();
    while !clew_api::time::uses_counter() && start.elapsed().as_millis() < 500 {
        black_box(clew_api::time::now());
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    c.bench_function("time/now/clew", |b| {
        b.iter(|| black_box(clew_api::time::now()))
    });
    c.bench_function("time/now/SystemTime", |b| {
        b.iter(|| black_box(std::time::SystemTime::now()))
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

criterion_group!(benches, context, clock, propagators);
criterion_main!(benches);
