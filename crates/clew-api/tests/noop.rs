//! Behaviour with no SDK installed: this test binary never installs a provider.

#![allow(clippy::unwrap_used)] // reason: a failed unwrap is the test failing

use std::collections::HashMap;

use clew_api::propagation;
use clew_api::{global, Baggage, Context, KeyValue};

const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[test]
fn spans_are_non_recording_and_invalid_without_a_parent() {
    assert!(!global::is_provider_installed());
    let tracer = global::tracer("lib");
    let span = tracer.start("work");
    assert!(!span.is_recording());
    assert!(!span.span_context().is_valid());
    span.set_attribute(KeyValue::new("ignored", 1));
    span.add_event("ignored", vec![]);
    let answer = tracer.in_span("closure", |s| {
        assert!(!s.is_recording());
        42
    });
    assert_eq!(answer, 42);
}

#[test]
fn a_service_without_an_sdk_still_forwards_the_trace() {
    let incoming: HashMap<String, String> = [
        ("traceparent".to_owned(), PARENT.to_owned()),
        ("baggage".to_owned(), "tenant.id=acme".to_owned()),
    ]
    .into();
    let cx = propagation::extract_with_context(&Context::new(), &incoming);
    let tracer = global::tracer("lib");
    let outgoing = cx.in_scope(|| {
        tracer.in_span("handler", |span| {
            assert!(!span.is_recording());
            assert_eq!(
                span.span_context().trace_id().to_string(),
                "4bf92f3577b34da6a3ce929d0e0e4736"
            );
            let child = tracer.start("db.query");
            assert_eq!(
                child.span_context().span_id().to_string(),
                "00f067aa0ba902b7"
            );
            let mut outgoing = HashMap::new();
            propagation::inject(&mut outgoing);
            outgoing
        })
    });
    assert_eq!(outgoing["traceparent"], PARENT);
    assert_eq!(outgoing["baggage"], "tenant.id=acme");
}

#[test]
fn default_global_propagator_is_w3c_trace_context_and_baggage() {
    let fields = global::text_map_propagator().fields();
    assert_eq!(fields, ["traceparent", "tracestate", "baggage"]);
    let cx = Context::new().with_baggage(Baggage::new().with("k", "v"));
    let mut carrier = HashMap::new();
    global::text_map_propagator().inject_context(&cx, &mut carrier);
    assert_eq!(carrier["baggage"], "k=v");
}

#[test]
fn the_noop_provider_forwards_the_parent() {
    use clew_api::trace::{InstrumentationScope, NoopTracerProvider};
    use std::sync::Arc;
    let tracer = clew_api::Tracer::new(
        Arc::new(NoopTracerProvider),
        InstrumentationScope::new("off"),
    );
    let carrier: HashMap<String, String> = [("traceparent".to_owned(), PARENT.to_owned())].into();
    let cx = propagation::extract_with_context(&Context::new(), &carrier);
    let span = tracer.start_with_context("child", &cx);
    assert!(!span.is_recording());
    assert_eq!(span.span_context(), cx.span_context());
    let root = tracer.span("root").root().start();
    assert!(!root.span_context().is_valid());
}
