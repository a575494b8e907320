//! The benchmark workloads, defined once and run by both the criterion
//! benches (time) and the `clew-ir` binary (instructions under callgrind,
//! heap allocations under a counting allocator).
//!
//! Each workload exists for clew and for opentelemetry 0.33 and mirrors the
//! anchor workloads in `shared/reference/anchors.md` §6 exactly: a tracer
//! obtained once outside the loop, static span names, root spans, and for
//! propagation a fixed sampled remote span context injected into a new
//! `HashMap<String, String>` and extracted back.
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]

use std::hint::black_box;

/// The trace id used by the propagation workloads.
pub const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
/// The span id used by the propagation workloads.
pub const SPAN_ID: &str = "00f067aa0ba902b7";

/// A named workload: `setup` builds the state and returns the operation to repeat.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    /// `group/case`, as in the anchor table.
    pub name: &'static str,
    /// `clew` or `opentelemetry`.
    pub system: &'static str,
    /// How many times heavier one iteration is than a span: the harness
    /// divides its iteration count by this, so that a 512-span workload
    /// does not run for hours under callgrind.
    pub weight: u64,
}

/// Every workload, in report order.
pub const WORKLOADS: &[Workload] = &[
    Workload {
        name: "noop_span/start_end",
        system: "clew",
        weight: 1,
    },
    Workload {
        name: "noop_span/start_end",
        system: "opentelemetry",
        weight: 1,
    },
    Workload {
        name: "noop_span/in_span",
        system: "clew",
        weight: 1,
    },
    Workload {
        name: "noop_span/in_span",
        system: "opentelemetry",
        weight: 1,
    },
    Workload {
        name: "noop_span/builder_4attr",
        system: "clew",
        weight: 1,
    },
    Workload {
        name: "noop_span/builder_4attr",
        system: "opentelemetry",
        weight: 1,
    },
    Workload {
        name: "propagation_inject_extract/roundtrip",
        system: "clew",
        weight: 1,
    },
    Workload {
        name: "propagation_inject_extract/roundtrip",
        system: "opentelemetry",
        weight: 1,
    },
    Workload {
        name: "propagation_inject_extract/inject",
        system: "clew",
        weight: 1,
    },
    Workload {
        name: "propagation_inject_extract/inject",
        system: "opentelemetry",
        weight: 1,
    },
    Workload {
        name: "propagation_inject_extract/extract",
        system: "clew",
        weight: 1,
    },
    Workload {
        name: "propagation_inject_extract/extract",
        system: "opentelemetry",
        weight: 1,
    },
    Workload {
        name: "propagation_inject_extract/roundtrip",
        system: "carrier-floor",
        weight: 1,
    },
    Workload {
        name: "sdk_span_sampled_4attr/discard_processor",
        system: "clew",
        weight: 1,
    },
    Workload {
        name: "sdk_span_sampled_4attr/discard_processor",
        system: "opentelemetry",
        weight: 1,
    },
    Workload {
        name: "sdk_span_sampled_4attr/discard_processor",
        system: "clew-keys-checked-own-loop",
        weight: 1,
    },
    Workload {
        name: "sdk_span_sampled_4attr/discard_processor",
        system: "clew-repeated-keys-allowed-own-loop",
        weight: 1,
    },
    Workload {
        name: "sdk_span_sampled_4attr/batch",
        system: "clew",
        weight: 1,
    },
    Workload {
        name: "sdk_span_sampled_4attr/batch",
        system: "opentelemetry",
        weight: 1,
    },
    Workload {
        name: "sdk_span_not_sampled/always_off",
        system: "clew",
        weight: 1,
    },
    Workload {
        name: "sdk_span_not_sampled/always_off",
        system: "opentelemetry",
        weight: 1,
    },
    Workload {
        name: "nested_3/in_span",
        system: "clew",
        weight: 1,
    },
    Workload {
        name: "nested_3/in_span",
        system: "opentelemetry",
        weight: 1,
    },
    Workload {
        name: "otlp_encode_512/convert_encode",
        system: "clew",
        weight: 512,
    },
    Workload {
        name: "otlp_encode_512/convert_encode",
        system: "opentelemetry",
        weight: 512,
    },
    Workload {
        name: "otlp_encode_512/convert_encode",
        system: "opentelemetry-clone",
        weight: 512,
    },
];

/// Runs `iterations` of the named workload. Returns false for an unknown name.
/// Monomorphised per workload, so the loop adds only its own counter.
pub fn run(workload: &Workload, iterations: u64) -> bool {
    fn repeat(iterations: u64, mut op: impl FnMut()) {
        for _ in 0..iterations {
            op();
        }
    }
    match (workload.name, workload.system) {
        ("noop_span/start_end", "clew") => repeat(iterations, clew::noop_start_end()),
        ("noop_span/start_end", "opentelemetry") => repeat(iterations, otel::noop_start_end()),
        ("noop_span/in_span", "clew") => repeat(iterations, clew::noop_in_span()),
        ("noop_span/in_span", "opentelemetry") => repeat(iterations, otel::noop_in_span()),
        ("noop_span/builder_4attr", "clew") => clew::noop_builder_4attr(iterations),
        ("noop_span/builder_4attr", "opentelemetry") => {
            repeat(iterations, otel::noop_builder_4attr())
        }
        ("propagation_inject_extract/roundtrip", "clew") => repeat(iterations, clew::roundtrip()),
        ("propagation_inject_extract/roundtrip", "opentelemetry") => {
            repeat(iterations, otel::roundtrip())
        }
        ("propagation_inject_extract/inject", "clew") => repeat(iterations, clew::inject()),
        ("propagation_inject_extract/inject", "opentelemetry") => {
            repeat(iterations, otel::inject())
        }
        ("propagation_inject_extract/extract", "clew") => repeat(iterations, clew::extract()),
        ("propagation_inject_extract/extract", "opentelemetry") => {
            repeat(iterations, otel::extract())
        }
        ("propagation_inject_extract/roundtrip", "carrier-floor") => {
            repeat(iterations, carrier_floor())
        }
        ("sdk_span_sampled_4attr/discard_processor", "clew") => {
            repeat(iterations, sdk::clew_4attr(sdk::ClewPipeline::Discard))
        }
        ("sdk_span_sampled_4attr/discard_processor", "clew-keys-checked-own-loop") => {
            sdk::clew_4attr_own_loop(iterations, false)
        }
        ("sdk_span_sampled_4attr/discard_processor", "clew-repeated-keys-allowed-own-loop") => {
            sdk::clew_4attr_own_loop(iterations, true)
        }
        ("sdk_span_sampled_4attr/discard_processor", "opentelemetry") => {
            repeat(iterations, sdk::otel_4attr(sdk::OtelPipeline::Discard))
        }
        ("sdk_span_sampled_4attr/batch", "clew") => {
            repeat(iterations, sdk::clew_4attr(sdk::ClewPipeline::Batch))
        }
        ("sdk_span_sampled_4attr/batch", "opentelemetry") => {
            repeat(iterations, sdk::otel_4attr(sdk::OtelPipeline::Batch))
        }
        ("sdk_span_not_sampled/always_off", "clew") => repeat(iterations, sdk::clew_not_sampled()),
        ("sdk_span_not_sampled/always_off", "opentelemetry") => {
            repeat(iterations, sdk::otel_not_sampled())
        }
        ("nested_3/in_span", "clew") => repeat(iterations, sdk::clew_nested_3()),
        ("nested_3/in_span", "opentelemetry") => repeat(iterations, sdk::otel_nested_3()),
        ("otlp_encode_512/convert_encode", "clew") => repeat(iterations, otlp::clew_workload()),
        ("otlp_encode_512/convert_encode", "opentelemetry") => {
            repeat(iterations, otlp::otel_workload())
        }
        ("otlp_encode_512/convert_encode", "opentelemetry-clone") => {
            repeat(iterations, otlp::otel_clone_workload())
        }
        _ => return false,
    }
    true
}

/// What the round trip costs with no propagator at all: a new
/// `HashMap<String, String>`, one 55-byte value stored under `traceparent`,
/// the two lookups an extraction makes, and the drop. No implementation can
/// go below this floor on this workload.
#[inline]
pub fn carrier_floor() -> impl FnMut() {
    move || {
        let mut carrier = std::collections::HashMap::<String, String>::new();
        carrier.insert("traceparent".to_owned(), "0".repeat(55));
        black_box(carrier.get("traceparent"));
        black_box(carrier.get("tracestate"));
        black_box(carrier);
    }
}

/// clew's side of each workload.
pub mod clew {
    use super::*;
    use clew_api::propagation::{TextMapPropagator, TraceContextPropagator};
    use clew_api::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    use clew_api::{global, Context, KeyValue};
    use std::collections::HashMap;

    fn remote_context() -> Context {
        Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from_hex(TRACE_ID).unwrap_or_default(),
            SpanId::from_hex(SPAN_ID).unwrap_or_default(),
            TraceFlags::SAMPLED,
            true,
            TraceState::NONE,
        ))
    }

    /// No SDK installed: `start("x")` then `end()`.
    #[inline]
    pub fn noop_start_end() -> impl FnMut() {
        let tracer = global::tracer("bench");
        move || {
            let span = tracer.start("x");
            black_box(&span);
            span.end();
        }
    }

    /// No SDK installed: `in_span("x", ..)`.
    #[inline]
    pub fn noop_in_span() -> impl FnMut() {
        let tracer = global::tracer("bench");
        move || {
            tracer.in_span("x", |span| {
                black_box(span);
            })
        }
    }

    /// No SDK installed: the recorded-span workload's span (a builder with
    /// 4 attributes, 1 event, end), which a library makes whether or not
    /// the application installed an SDK.
    ///
    /// Out of line, with its own loop, and with the attributes as an array
    /// iterator rather than an array: a second caller of the builder steps
    /// the recorded-span rows use (the same function, or the same generic
    /// steps) changed how those rows' loops were compiled (+53 to +194
    /// instructions).
    #[inline(never)]
    #[allow(clippy::useless_conversion)] // reason: a distinct instantiation of `with_attributes`, on purpose
    pub fn noop_builder_4attr(iterations: u64) {
        let tracer = global::tracer("bench");
        for _ in 0..iterations {
            let span = tracer
                .span("x")
                .with_attributes(
                    [
                        KeyValue::new("k1", "value"),
                        KeyValue::new("k2", 42),
                        KeyValue::new("k3", true),
                        KeyValue::new("k4", 1.5),
                    ]
                    .into_iter(),
                )
                .start();
            span.add_event("event", vec![]);
            span.end();
        }
    }

    /// Inject into a new map, then extract from it.
    #[inline]
    pub fn roundtrip() -> impl FnMut() {
        let cx = remote_context();
        move || {
            let mut carrier = HashMap::<String, String>::new();
            TraceContextPropagator.inject_context(&cx, &mut carrier);
            black_box(TraceContextPropagator.extract(&carrier));
        }
    }

    /// Inject into a new map.
    #[inline]
    pub fn inject() -> impl FnMut() {
        let cx = remote_context();
        move || {
            let mut carrier = HashMap::<String, String>::new();
            TraceContextPropagator.inject_context(&cx, &mut carrier);
            black_box(carrier);
        }
    }

    /// Extract from a prepared map.
    #[inline]
    pub fn extract() -> impl FnMut() {
        let mut carrier = HashMap::<String, String>::new();
        TraceContextPropagator.inject_context(&remote_context(), &mut carrier);
        move || {
            black_box(TraceContextPropagator.extract(&carrier));
        }
    }
}

/// opentelemetry 0.33's side of each workload.
pub mod otel {
    use super::*;
    use opentelemetry::propagation::TextMapPropagator;
    use opentelemetry::trace::{
        Span, SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, Tracer,
    };
    use opentelemetry::{global, Context};
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use std::collections::HashMap;

    fn remote_context() -> Context {
        Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from_hex(TRACE_ID).unwrap_or(TraceId::INVALID),
            SpanId::from_hex(SPAN_ID).unwrap_or(SpanId::INVALID),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        ))
    }

    /// No provider installed: `start("x")` then `end()` on a `BoxedTracer`.
    #[inline]
    pub fn noop_start_end() -> impl FnMut() {
        let tracer = global::tracer("bench");
        move || {
            let mut span = tracer.start("x");
            black_box(&span);
            span.end();
        }
    }

    /// No provider installed: `in_span("x", ..)`.
    #[inline]
    pub fn noop_in_span() -> impl FnMut() {
        let tracer = global::tracer("bench");
        move || {
            tracer.in_span("x", |cx| {
                black_box(cx);
            })
        }
    }

    /// No provider installed: the same builder span as clew's.
    #[inline]
    pub fn noop_builder_4attr() -> impl FnMut() {
        let tracer = global::tracer("bench");
        move || crate::sdk::otel_span_4attr(&tracer)
    }

    /// Inject into a new map, then extract from it.
    #[inline]
    pub fn roundtrip() -> impl FnMut() {
        let cx = remote_context();
        let propagator = TraceContextPropagator::new();
        move || {
            let mut carrier = HashMap::<String, String>::new();
            propagator.inject_context(&cx, &mut carrier);
            black_box(propagator.extract(&carrier));
        }
    }

    /// Inject into a new map.
    #[inline]
    pub fn inject() -> impl FnMut() {
        let cx = remote_context();
        let propagator = TraceContextPropagator::new();
        move || {
            let mut carrier = HashMap::<String, String>::new();
            propagator.inject_context(&cx, &mut carrier);
            black_box(carrier);
        }
    }

    /// Extract from a prepared map.
    #[inline]
    pub fn extract() -> impl FnMut() {
        let propagator = TraceContextPropagator::new();
        let mut carrier = HashMap::<String, String>::new();
        propagator.inject_context(&remote_context(), &mut carrier);
        move || {
            black_box(propagator.extract(&carrier));
        }
    }
}

pub mod otlp;
pub mod sdk;

/// One no-op span, out of line, for reading its machine code (`objdump`).
#[inline(never)]
pub fn probe_noop_span(tracer: &clew_api::Tracer) {
    let span = tracer.start("x");
    black_box(&span);
    span.end();
}
