//! The provider, spans, limits, samplers and resource, through the public API.
#![allow(clippy::unwrap_used)] // reason: a failed unwrap is the test failing

mod common;

use std::time::{Duration, SystemTime};

use clew_api::propagation::{TextMapPropagator, TraceContextPropagator};
use clew_api::time::Timestamp;
use clew_api::trace::{
    Link, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use clew_api::{Context, KeyValue, Value};
use clew_sdk::env::Env;
use clew_sdk::export::InMemoryExporter;
use clew_sdk::sampler::*;
use clew_sdk::{Resource, SdkTracerProvider, SpanLimits};

fn provider(exporter: &InMemoryExporter) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_env(Env::from_pairs([("OTEL_SERVICE_NAME", "test-service")]))
        .with_simple_exporter(exporter.clone())
        .build()
}

#[test]
fn a_span_never_ends_before_it_starts() {
    let exporter = InMemoryExporter::new();
    let p = provider(&exporter);
    let tracer = p.tracer("t");
    let later = SystemTime::now() + Duration::from_secs(3600);
    // Ended now, an hour before its given start.
    tracer.span("future").with_start_time(later).start().end();
    // Ended at an explicit time before its start.
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    tracer
        .span("backwards")
        .with_start_time(at)
        .start()
        .end_with_timestamp(at - Duration::from_millis(3));
    for name in ["future", "backwards"] {
        let s = exporter.span(name).unwrap();
        assert_eq!(s.end_time, s.start_time, "{name}");
    }
}

#[test]
fn timestamps_follow_the_wall_clock() {
    let exporter = InMemoryExporter::new();
    let p = provider(&exporter);
    let tracer = p.tracer("t");
    // Spans over a few hundred milliseconds, so the clock's counter path
    // (where the machine has one) and its anchor renewals are crossed.
    // Bracketed by clew's clock, which clew-api's tests hold to the system
    // clock: compared with `SystemTime` directly, a step of the system clock
    // (a CI run saw one of 0.5 ms) would show here before it reaches clew's
    // clock, which takes it at its next anchor renewal.
    for _ in 0..30 {
        let before = Timestamp::now();
        let span = tracer.start("s");
        span.add_event("e", vec![]);
        std::thread::sleep(Duration::from_millis(10));
        span.end();
        let after = Timestamp::now();
        let s = exporter.finished_spans().pop().unwrap();
        exporter.reset();
        let slack = Duration::from_millis(1);
        assert!(s.start_time + slack >= before, "{s:?}");
        assert!(s.events[0].timestamp >= s.start_time);
        assert!(s.end_time >= s.events[0].timestamp);
        assert!(s.end_time <= after + slack, "{s:?}");
        let elapsed = s.duration();
        assert!(
            elapsed >= Duration::from_millis(10) - slack && elapsed < Duration::from_millis(200),
            "{elapsed:?}"
        );
    }
}

#[test]
fn records_everything_the_api_is_told() {
    let exporter = InMemoryExporter::new();
    let p = provider(&exporter);
    let tracer = p.tracer_with_scope(
        clew_api::trace::InstrumentationScope::builder("orders")
            .with_version("1.0.0")
            .build(),
    );
    let other = tracer.start("other");
    let link_sc = other.span_context().clone();
    drop(other);
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let span = tracer
        .span("order.charge_payment")
        .with_kind(SpanKind::Client)
        .with_attributes([
            KeyValue::new("payment.provider", "stripe"),
            KeyValue::new("order.items", 3),
        ])
        .with_link(Link::new(link_sc.clone(), vec![KeyValue::new("k", "v")]))
        .with_start_time(at)
        .start();
    span.set_attribute(KeyValue::new("payment.amount_cents", 4999));
    span.add_event(
        "payment.authorized",
        vec![KeyValue::new("payment.charge_id", "ch_1")],
    );
    span.set_status(Status::error("card declined"));
    span.update_name("order.charge");
    span.end_with_timestamp(at + Duration::from_millis(25));

    let s = exporter.span("order.charge").unwrap();
    assert_eq!(s.kind, SpanKind::Client);
    assert_eq!(
        s.attribute("payment.provider"),
        Some(&Value::from("stripe"))
    );
    assert_eq!(s.attribute("payment.amount_cents"), Some(&Value::I64(4999)));
    assert_eq!(s.events.len(), 1);
    assert_eq!(s.events[0].name, "payment.authorized");
    assert_eq!(s.links[0].span_context, link_sc);
    assert_eq!(s.status, Status::error("card declined"));
    assert_eq!(s.start_time, Timestamp::from(at));
    assert_eq!(s.duration(), Duration::from_millis(25));
    assert_eq!(s.scope.name, "orders");
    assert_eq!(s.scope.version.as_deref(), Some("1.0.0"));
    assert!(s.span_context.is_sampled());
    assert!(
        s.span_context.trace_flags().is_random(),
        "new traces get the W3C random flag"
    );
    assert_eq!(
        exporter.resource().unwrap().get("service.name"),
        Some(&Value::from("test-service"))
    );
}

#[test]
fn parents_local_and_remote() {
    let exporter = InMemoryExporter::new();
    let p = provider(&exporter);
    let tracer = p.tracer("t");
    let carrier: std::collections::HashMap<String, String> = [
        (
            "traceparent".to_owned(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
        ),
        ("tracestate".to_owned(), "vendor=x".to_owned()),
    ]
    .into();
    let remote = TraceContextPropagator.extract_with_context(&Context::new(), &carrier);
    remote.in_scope(|| {
        tracer.in_span("server", |_| tracer.start("child").end());
    });
    let server = exporter.span("server").unwrap();
    let child = exporter.span("child").unwrap();
    assert_eq!(
        server.span_context.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(server.parent_span_id.to_string(), "00f067aa0ba902b7");
    assert!(server.parent_is_remote);
    assert_eq!(server.span_context.trace_state().get("vendor"), Some("x"));
    assert_eq!(child.parent_span_id, server.span_context.span_id());
    assert!(!child.parent_is_remote);
    assert_ne!(child.span_context.span_id(), server.span_context.span_id());
}

/// Sequential ids, not random: the trace flags must not claim randomness.
#[derive(Debug, Default)]
struct Sequential(std::sync::atomic::AtomicU64);

impl clew_sdk::id::IdGenerator for Sequential {
    fn new_trace_id(&self) -> TraceId {
        TraceId::from_int(
            0xabc0_0000 + u128::from(self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed)),
        )
    }
    fn new_span_id(&self) -> SpanId {
        SpanId::from_int(0x5000 + self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }
}

#[test]
fn a_custom_id_generator_makes_every_id_and_the_default_sets_the_random_flag() {
    let exporter = InMemoryExporter::new();
    let p = SdkTracerProvider::builder()
        .with_env(Env::from_pairs([("X", "1")]))
        .with_id_generator(Sequential::default())
        .with_simple_exporter(exporter.clone())
        .build();
    let tracer = p.tracer("t");
    tracer.in_span("root", |_| tracer.start("child").end());
    // Unsampled spans take their ids from it as well.
    let p_off = SdkTracerProvider::builder()
        .with_env(Env::from_pairs([("X", "1")]))
        .with_id_generator(Sequential::default())
        .with_sampler(AlwaysOff)
        .build();
    let dropped = p_off.tracer("t").start("dropped");
    assert_eq!(
        dropped.span_context().trace_id(),
        TraceId::from_int(0xabc0_0000)
    );
    assert_eq!(dropped.span_context().span_id(), SpanId::from_int(0x5001));
    drop(dropped);

    let root = exporter.span("root").unwrap();
    let child = exporter.span("child").unwrap();
    assert_eq!(root.span_context.trace_id(), TraceId::from_int(0xabc0_0000));
    assert_eq!(root.span_context.span_id(), SpanId::from_int(0x5001));
    assert_eq!(
        child.span_context.trace_id(),
        TraceId::from_int(0xabc0_0000)
    );
    assert_eq!(child.span_context.span_id(), SpanId::from_int(0x5002));
    assert!(!root.span_context.trace_flags().is_random());

    // The built-in generator given explicitly behaves as the default.
    let p = SdkTracerProvider::builder()
        .with_env(Env::from_pairs([("X", "1")]))
        .with_id_generator(clew_sdk::id::RandomIdGenerator)
        .with_simple_exporter(exporter.clone())
        .build();
    let span = p.tracer("t").start("random");
    assert!(span.span_context().trace_flags().is_random());
    assert!(span.span_context().is_valid());
}

/// A parent in trace 42, span 7, with the trace state `vendor=x`.
fn parent_with_trace_state(sampled: bool, remote: bool) -> SpanContext {
    SpanContext::new(
        TraceId::from_int(42),
        SpanId::from_int(7),
        TraceFlags::NONE.with_sampled(sampled),
        remote,
        TraceState::from_header("vendor=x").unwrap(),
    )
}

#[test]
fn the_default_sampler_follows_the_parent_and_keeps_its_trace_state() {
    let p = SdkTracerProvider::builder()
        .with_env(Env::from_pairs([("X", "1")]))
        .build();
    let tracer = p.tracer("t");
    for (sampled, remote) in [(true, true), (false, true), (true, false), (false, false)] {
        let parent =
            Context::new().with_remote_span_context(parent_with_trace_state(sampled, remote));
        let span = tracer.start_with_context("child", &parent);
        let sc = span.span_context();
        assert_eq!(span.is_recording(), sampled, "remote {remote}");
        assert_eq!(sc.is_sampled(), sampled);
        assert_eq!(sc.trace_id(), TraceId::from_int(42));
        assert_ne!(sc.span_id(), SpanId::from_int(7));
        assert!(sc.span_id().is_valid());
        assert_eq!(sc.trace_state().get("vendor"), Some("x"));
    }
    let root = tracer.start("root");
    assert!(root.is_recording() && root.span_context().is_sampled());
}

/// A provider with `limits` and no environment but an unrelated variable,
/// exporting to `exporter` as each span ends.
fn limited_provider(limits: SpanLimits, exporter: &InMemoryExporter) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_env(Env::from_pairs([("X", "1")]))
        .with_span_limits(limits)
        .with_simple_exporter(exporter.clone())
        .build()
}

/// A sampled local span context, for links.
fn sampled_context() -> SpanContext {
    SpanContext::new(
        TraceId::from_int(1),
        SpanId::from_int(1),
        TraceFlags::SAMPLED,
        false,
        TraceState::NONE,
    )
}

#[test]
fn limits_drop_and_count() {
    let exporter = InMemoryExporter::new();
    let mut limits = SpanLimits::default();
    limits.max_attributes_per_span = 2;
    limits.max_events_per_span = 1;
    limits.max_links_per_span = 1;
    limits.max_attributes_per_event = 1;
    limits.max_attributes_per_link = 1;
    limits.max_attribute_value_length = Some(3);
    let p = limited_provider(limits, &exporter);
    let sc = sampled_context();
    let span = p
        .tracer("t")
        .span("s")
        .with_attributes([
            KeyValue::new("a", "abcdef"),
            KeyValue::new("b", 1),
            KeyValue::new("c", 2),
        ])
        .with_links([
            Link::new(
                sc.clone(),
                vec![KeyValue::new("x", 1), KeyValue::new("y", 2)],
            ),
            Link::new(sc.clone(), vec![]),
        ])
        .start();
    span.set_attribute(KeyValue::new("a", "überlang"));
    span.set_attribute(KeyValue::new("d", 1));
    span.add_event("e1", vec![KeyValue::new("x", 1), KeyValue::new("y", 2)]);
    span.add_event("e2", vec![]);
    span.add_link(sc, vec![]);
    drop(span);
    let s = exporter.span("s").unwrap();
    assert_eq!(s.attributes.len(), 2);
    assert_eq!(
        s.attribute("a"),
        Some(&Value::from("übe")),
        "truncated on a character boundary"
    );
    assert_eq!(s.dropped_attributes_count, 2);
    assert_eq!(s.events.len(), 1);
    assert_eq!(s.dropped_events_count, 1);
    assert_eq!(s.events[0].dropped_attributes_count, 1);
    assert_eq!(s.links.len(), 1);
    assert_eq!(s.dropped_links_count, 2);
    assert_eq!(s.links[0].dropped_attributes_count, 1);
}

/// The event limit holds on the path of a span's first event without
/// attributes (written inline, without the general path's checks): with a
/// limit of zero it is dropped and counted, with a limit of one the first
/// is kept and the next, bare or not, dropped.
#[test]
fn the_event_limit_holds_for_a_first_event_without_attributes() {
    for (max, kept, dropped) in [(0, 0, 3), (1, 1, 2), (2, 2, 1)] {
        let exporter = InMemoryExporter::new();
        let mut limits = SpanLimits::default();
        limits.max_events_per_span = max;
        let p = limited_provider(limits, &exporter);
        let span = p.tracer("t").start("s");
        span.add_event("first", vec![]);
        span.add_event("second", vec![]);
        span.add_event("third", vec![KeyValue::new("k", 1)]);
        drop(span);
        let s = exporter.span("s").unwrap();
        let names: Vec<_> = s.events.iter().map(|e| e.name.as_ref()).collect();
        assert_eq!(names, ["first", "second", "third"][..kept], "limit {max}");
        assert_eq!(s.dropped_events_count, dropped, "limit {max}");
    }
}

/// Events keep their order, names, times and attributes, whether they
/// have attributes or not, inline (the first) or spilled; an owned name is
/// kept as given.
#[test]
fn events_keep_order_names_times_and_attributes() {
    let exporter = InMemoryExporter::new();
    let p = provider(&exporter);
    let span = p.tracer("t").start("s");
    let at = |n: u64| Timestamp::from_unix_nanos(1_000 + n);
    span.add_event_with_timestamp("bare", at(1), vec![]);
    span.add_event_with_timestamp(String::from("owned"), at(2), vec![KeyValue::new("k", 1)]);
    span.add_event_with_timestamp("bare again", at(3), Vec::with_capacity(4));
    span.add_event("now", vec![]);
    drop(span);
    let s = exporter.span("s").unwrap();
    let seen: Vec<_> = s
        .events
        .iter()
        .map(|e| {
            (
                e.name.as_ref(),
                e.attributes.len(),
                e.dropped_attributes_count,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("bare", 0, 0),
            ("owned", 1, 0),
            ("bare again", 0, 0),
            ("now", 0, 0)
        ]
    );
    assert_eq!(s.events[0].timestamp, at(1));
    assert_eq!(s.events[1].timestamp, at(2));
    assert_eq!(s.events[2].timestamp, at(3));
    assert!(s.events[3].timestamp >= s.start_time && s.events[3].timestamp <= s.end_time);
    assert_eq!(s.events[1].attributes[0], KeyValue::new("k", 1));
}

/// By default a repeated key keeps its last value, wherever it is given;
/// with repeated keys allowed, every attribute is kept as given, within
/// the count.
#[test]
fn repeated_attribute_keys_merge_by_default_and_are_kept_when_allowed() {
    let record = |allow: bool| {
        let exporter = InMemoryExporter::new();
        let mut limits = SpanLimits::default();
        limits.allow_duplicate_attribute_keys = allow;
        limits.max_attributes_per_span = 4;
        let p = limited_provider(limits, &exporter);
        let sc = sampled_context();
        let span = p
            .tracer("t")
            .span("s")
            .with_attributes([
                KeyValue::new("k", 1),
                KeyValue::new("k", 2),
                KeyValue::new("j", 1),
            ])
            .with_link(Link::new(
                sc,
                vec![KeyValue::new("l", 1), KeyValue::new("l", 2)],
            ))
            .start();
        span.set_attribute(KeyValue::new("k", 3));
        span.set_attribute(KeyValue::new("m", 1));
        span.add_event("e", vec![KeyValue::new("x", 1), KeyValue::new("x", 2)]);
        drop(span);
        exporter.span("s").unwrap()
    };
    let merged = record(false);
    assert_eq!(
        merged.attributes,
        vec![
            KeyValue::new("k", 3),
            KeyValue::new("j", 1),
            KeyValue::new("m", 1)
        ]
    );
    assert_eq!(merged.dropped_attributes_count, 0);
    assert_eq!(merged.events[0].attributes, vec![KeyValue::new("x", 2)]);
    assert_eq!(merged.links[0].attributes, vec![KeyValue::new("l", 2)]);

    let kept = record(true);
    assert_eq!(
        kept.attributes,
        vec![
            KeyValue::new("k", 1),
            KeyValue::new("k", 2),
            KeyValue::new("j", 1),
            KeyValue::new("k", 3)
        ],
        "appended as given; the fifth is over the count of 4"
    );
    assert_eq!(kept.dropped_attributes_count, 1);
    assert_eq!(kept.attribute("k"), Some(&Value::I64(3)), "the last value");
    assert_eq!(kept.events[0].attributes.len(), 2);
    assert_eq!(kept.links[0].attributes.len(), 2);
}

#[test]
fn limits_from_the_environment() {
    let exporter = InMemoryExporter::new();
    let p = SdkTracerProvider::builder()
        .with_env(Env::from_pairs([
            ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "1"),
            ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "2"),
        ]))
        .with_simple_exporter(exporter.clone())
        .build();
    p.tracer("t")
        .span("s")
        .with_attributes([KeyValue::new("a", "xyz"), KeyValue::new("b", 1)])
        .start()
        .end();
    let s = exporter.span("s").unwrap();
    assert_eq!(s.attributes, vec![KeyValue::new("a", "xy")]);
    assert_eq!(s.dropped_attributes_count, 1);
}

#[test]
fn unsampled_spans_propagate_and_record_only_spans_are_not_exported() {
    let exporter = InMemoryExporter::new();
    let p = SdkTracerProvider::builder()
        .with_env(Env::from_pairs([("X", "1")]))
        .with_sampler(AlwaysOff)
        .with_simple_exporter(exporter.clone())
        .build();
    let span = p.tracer("t").start("dropped");
    assert!(!span.is_recording());
    assert!(
        span.span_context().is_valid(),
        "a new span id and trace id even when dropped"
    );
    assert!(!span.span_context().is_sampled());
    drop(span);
    assert!(exporter.finished_spans().is_empty());

    #[derive(Debug)]
    struct RecordOnly;
    impl Sampler for RecordOnly {
        fn should_sample(&self, _: &SamplingParameters<'_>) -> SamplingResult {
            SamplingResult::new(SamplingDecision::RecordOnly)
        }
        fn description(&self) -> String {
            "RecordOnly".into()
        }
    }
    let p = SdkTracerProvider::builder()
        .with_env(Env::from_pairs([("X", "1")]))
        .with_sampler(RecordOnly)
        .with_simple_exporter(exporter.clone())
        .build();
    let span = p.tracer("t").start("recorded");
    assert!(span.is_recording());
    assert!(!span.span_context().is_sampled());
    drop(span);
    assert!(
        exporter.finished_spans().is_empty(),
        "not sampled, not exported"
    );
}

#[derive(Debug)]
struct PriorityCustomer(TraceIdRatioBased);

impl Sampler for PriorityCustomer {
    fn should_sample(&self, p: &SamplingParameters<'_>) -> SamplingResult {
        if p.attributes
            .iter()
            .any(|kv| kv.key == "customer.tier" && kv.value.as_str() == Some("enterprise"))
        {
            let ts = p
                .parent
                .span_context()
                .trace_state()
                .insert("priority", "1")
                .unwrap();
            return SamplingResult::new(SamplingDecision::RecordAndSample)
                .with_attributes([KeyValue::new("sampling.reason", "enterprise-customer")])
                .with_trace_state(ts);
        }
        self.0.should_sample(p)
    }
    fn description(&self) -> String {
        "PriorityCustomerSampler".into()
    }
}

#[test]
fn a_custom_sampler_adds_attributes_and_trace_state() {
    let exporter = InMemoryExporter::new();
    let p = SdkTracerProvider::builder()
        .with_env(Env::from_pairs([("X", "1")]))
        .with_sampler(ParentBased::new(PriorityCustomer(TraceIdRatioBased::new(
            0.0,
        ))))
        .with_simple_exporter(exporter.clone())
        .build();
    let tracer = p.tracer("t");
    tracer
        .span("free")
        .with_attribute(KeyValue::new("customer.tier", "free"))
        .start()
        .end();
    tracer
        .span("enterprise")
        .with_attribute(KeyValue::new("customer.tier", "enterprise"))
        .in_span(|_| tracer.start("child").end());
    let names: Vec<_> = exporter
        .finished_spans()
        .into_iter()
        .map(|s| s.name.to_string())
        .collect();
    assert_eq!(names, ["child", "enterprise"]);
    let e = exporter.span("enterprise").unwrap();
    assert_eq!(
        e.attribute("sampling.reason"),
        Some(&Value::from("enterprise-customer"))
    );
    assert_eq!(e.span_context.trace_state().get("priority"), Some("1"));
    let child = exporter.span("child").unwrap();
    assert_eq!(
        child.span_context.trace_state().get("priority"),
        Some("1"),
        "children inherit the trace state"
    );
}

#[test]
fn sdk_disabled_records_nothing_but_propagates() {
    let exporter = InMemoryExporter::new();
    let p = SdkTracerProvider::builder()
        .with_env(Env::from_pairs([("OTEL_SDK_DISABLED", "TRUE")]))
        .with_simple_exporter(exporter.clone())
        .build();
    assert!(p.is_disabled());
    let parent = Context::new().with_remote_span_context(SpanContext::new(
        TraceId::from_int(9),
        SpanId::from_int(9),
        TraceFlags::SAMPLED,
        true,
        TraceState::NONE,
    ));
    let span = p.tracer("t").start_with_context("x", &parent);
    assert!(!span.is_recording());
    assert_eq!(span.span_context(), parent.span_context());
    drop(span);
    assert!(exporter.finished_spans().is_empty());
}

#[test]
fn sampler_from_the_environment() {
    let exporter = InMemoryExporter::new();
    let p = SdkTracerProvider::builder()
        .with_env(Env::from_pairs([("OTEL_TRACES_SAMPLER", "always_off")]))
        .with_simple_exporter(exporter.clone())
        .build();
    assert_eq!(p.sampler_description(), "AlwaysOffSampler");
    p.tracer("t").start("x").end();
    assert!(exporter.finished_spans().is_empty());
}

#[test]
fn fan_out_to_several_processors() {
    let a = InMemoryExporter::new();
    let b = InMemoryExporter::new();
    let p = SdkTracerProvider::builder()
        .with_env(Env::from_pairs([("X", "1")]))
        .with_simple_exporter(a.clone())
        .with_batch_exporter(b.clone())
        .build();
    p.tracer("t").start("both").end();
    p.force_flush(Duration::from_secs(5)).unwrap();
    assert_eq!(a.finished_spans().len(), 1);
    assert_eq!(b.finished_spans().len(), 1);
    let stats = p.processor_stats();
    assert_eq!(stats.len(), 2);
    assert!(stats.iter().all(|s| s.created == 1 && s.exported == 1));
}

#[test]
fn shutdown_is_once_and_stops_recording() {
    let exporter = InMemoryExporter::new();
    let p = provider(&exporter);
    let tracer = p.tracer("t");
    p.shutdown(Duration::from_secs(5)).unwrap();
    assert!(
        p.shutdown(Duration::from_secs(1)).is_err(),
        "a second shutdown is an error"
    );
    let span = tracer.start("late");
    assert!(!span.is_recording());
}

#[test]
fn a_given_resource_is_used_as_is() {
    let exporter = InMemoryExporter::new();
    let p = SdkTracerProvider::builder()
        .with_resource(Resource::new([KeyValue::new("service.name", "given")]))
        .with_simple_exporter(exporter.clone())
        .build();
    p.tracer("t").start("x").end();
    assert_eq!(exporter.resource().unwrap().len(), 1);
}

#[test]
fn suppressed_context_records_nothing() {
    let exporter = InMemoryExporter::new();
    let p = provider(&exporter);
    let cx = Context::new().with_telemetry_suppressed();
    let span = p.tracer("t").start_with_context("exporter-internal", &cx);
    assert!(!span.is_recording());
}

#[test]
fn an_unbounded_timeout_waits_without_overflowing() {
    // `Duration::MAX` is what `0` ("no limit") in the `OTEL_*_TIMEOUT`
    // variables becomes; flush and shutdown must take it, not panic. So must
    // the batch processor's thread as its schedule delay.
    let exporter = clew_sdk::export::InMemoryExporter::new();
    // The schedule delay too ("never on a timer").
    let p = common::batch_provider(
        exporter.clone(),
        clew_sdk::processor::BatchConfig::default().with_scheduled_delay(Duration::MAX),
    );
    p.tracer("t").start("x").end();
    p.force_flush(Duration::MAX).unwrap();
    assert_eq!(exporter.finished_spans().len(), 1);
    p.shutdown(Duration::MAX).unwrap();
}

/// Keeps what it is given; its `on_start` sets the attribute `key`.
#[derive(Debug, Clone)]
struct Keeper {
    key: &'static str,
    /// What `has_on_start` answers (true unless set).
    has_on_start: bool,
    ended: std::sync::Arc<std::sync::Mutex<Vec<clew_sdk::SpanData>>>,
}

impl Keeper {
    fn new(key: &'static str) -> Keeper {
        Keeper {
            key,
            has_on_start: true,
            ended: Default::default(),
        }
    }
}

impl clew_sdk::processor::SpanProcessor for Keeper {
    fn has_on_start(&self) -> bool {
        self.has_on_start
    }
    fn on_start(&self, span: &mut clew_sdk::SpanData, _parent: &Context) {
        span.attributes.push(KeyValue::new(self.key, true));
    }
    fn on_end(&self, span: clew_sdk::SpanData) {
        self.ended.lock().unwrap().push(span);
    }
    fn force_flush(&self, _: Duration) -> Result<(), clew_sdk::processor::ProcessorError> {
        Ok(())
    }
    fn shutdown(&self, _: Duration) -> Result<(), clew_sdk::processor::ProcessorError> {
        Ok(())
    }
}

/// A provider whose processors all say their `on_start` does nothing
/// skips the calls; once any processor has one, every processor's is
/// called, as `has_on_start` documents.
#[test]
fn on_start_is_skipped_only_when_no_processor_has_one() {
    let keys = |keepers: &[Keeper]| {
        let mut builder = SdkTracerProvider::builder().with_env(Env::from_pairs([("X", "1")]));
        for k in keepers {
            builder = builder.with_span_processor(k.clone());
        }
        let p = builder.build();
        p.tracer("t").span("op").start().end();
        let s = keepers[0].ended.lock().unwrap().pop().expect("span ended");
        let mut keys: Vec<String> = s.attributes.iter().map(|kv| kv.key.to_string()).collect();
        keys.sort();
        keys
    };
    let silent = |key| Keeper {
        has_on_start: false,
        ..Keeper::new(key)
    };
    assert_eq!(keys(&[silent("a")]), Vec::<String>::new(), "skipped");
    assert_eq!(keys(&[silent("a"), silent("b")]), Vec::<String>::new());
    assert_eq!(
        keys(&[silent("a"), Keeper::new("b")]),
        ["a", "b"],
        "all called"
    );
    assert_eq!(keys(&[Keeper::new("a")]), ["a"]);
}

#[test]
fn processors_change_the_span_at_start_and_receive_its_data_once() {
    use std::sync::Arc;
    let payload: Arc<str> = Arc::from("owned value");
    let (first, last) = (Keeper::new("first"), Keeper::new("last"));
    let exporter = InMemoryExporter::new();
    let p = SdkTracerProvider::builder()
        .with_env(Env::from_pairs([("X", "1")]))
        .with_span_processor(first.clone())
        .with_simple_exporter(exporter.clone())
        .with_span_processor(last.clone())
        .build();
    let span = p
        .tracer("t")
        .span("op")
        .with_attribute(KeyValue::new("payload", Arc::clone(&payload)))
        .start();
    let handle = span.handle();
    assert!(handle.is_recording());
    span.end();
    assert!(!handle.is_recording(), "a handle sees the end");
    handle.set_attribute(KeyValue::new("late", 1));
    // Three processors: two get clones, the last the data itself.
    let spans = [
        first.ended.lock().unwrap().clone(),
        exporter.finished_spans(),
        last.ended.lock().unwrap().clone(),
    ];
    for got in &spans {
        assert_eq!(got.len(), 1, "each processor sees the span once");
        let s = &got[0];
        assert_eq!(
            s.attribute("payload").and_then(Value::as_str),
            Some("owned value")
        );
        assert_eq!(s.attribute("first"), Some(&Value::Bool(true)));
        assert_eq!(s.attribute("last"), Some(&Value::Bool(true)));
        assert_eq!(s.attribute("late"), None, "set after the end: ignored");
        assert_eq!(s.attributes.len(), 3);
    }
    // Every copy of the data is released exactly once.
    drop(spans);
    drop(handle);
    first.ended.lock().unwrap().clear();
    last.ended.lock().unwrap().clear();
    exporter.reset();
    assert_eq!(Arc::strong_count(&payload), 1);
}

/// Takes spans where they lie, in the way its name says, noting each one's
/// name and where its attribute list lives.
#[derive(Debug, Clone, Default)]
struct InPlace {
    how: &'static str,
    kept: std::sync::Arc<std::sync::Mutex<Vec<clew_sdk::SpanData>>>,
    names: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    lists: std::sync::Arc<std::sync::Mutex<Vec<usize>>>,
}

impl InPlace {
    /// A processor that handles ended spans `how` and a provider whose only
    /// processor it is, its environment empty of `OTEL_*` overrides.
    fn provider(how: &'static str) -> (InPlace, SdkTracerProvider) {
        let processor = InPlace {
            how,
            ..InPlace::default()
        };
        let p = SdkTracerProvider::builder()
            .with_env(Env::from_pairs([("X", "1")]))
            .with_span_processor(processor.clone())
            .build();
        (processor, p)
    }
}

impl clew_sdk::processor::SpanProcessor for InPlace {
    fn on_end(&self, _: clew_sdk::SpanData) {
        unreachable!("the provider hands spans over in place")
    }
    fn on_end_in_place(&self, span: clew_sdk::processor::EndedSpan<'_>) {
        // Read in place first.
        self.names.lock().unwrap().push(span.name.to_string());
        self.lists
            .lock()
            .unwrap()
            .push(span.attributes.as_ptr() as usize);
        match self.how {
            "push_to" => span.push_to(&mut self.kept.lock().unwrap()),
            "take" => self.kept.lock().unwrap().push(span.take()),
            _ => drop(span),
        }
    }
    fn force_flush(&self, _: Duration) -> Result<(), clew_sdk::processor::ProcessorError> {
        Ok(())
    }
    fn shutdown(&self, _: Duration) -> Result<(), clew_sdk::processor::ProcessorError> {
        Ok(())
    }
}

#[test]
fn a_processor_can_take_the_ended_span_where_it_lies() {
    use std::sync::Arc;
    let payload: Arc<str> = Arc::from("owned value");
    for how in ["push_to", "take", "drop"] {
        let (processor, p) = InPlace::provider(how);
        let tracer = p.tracer("t");
        for i in 0..3 {
            tracer
                .span(format!("op{i}"))
                .with_attribute(KeyValue::new("payload", Arc::clone(&payload)))
                .start()
                .end();
        }
        assert_eq!(
            *processor.names.lock().unwrap(),
            ["op0", "op1", "op2"],
            "{how}"
        );
        let kept = std::mem::take(&mut *processor.kept.lock().unwrap());
        if how == "drop" {
            assert!(kept.is_empty());
        } else {
            assert_eq!(kept.len(), 3, "{how}");
            for (i, s) in kept.iter().enumerate() {
                assert_eq!(s.name, format!("op{i}"));
                assert_eq!(
                    s.attribute("payload").and_then(Value::as_str),
                    Some("owned value")
                );
            }
        }
        drop(kept);
        // Each span's data was moved or dropped exactly once.
        assert_eq!(Arc::strong_count(&payload), 1, "{how}");
    }
}

#[test]
fn writes_racing_the_end_from_other_threads_are_kept_or_ignored_whole() {
    let exporter = InMemoryExporter::new();
    let p = provider(&exporter);
    let tracer = p.tracer("t");
    for round in 0..200 {
        let span = tracer.start("raced");
        let handle = span.handle();
        let writers: Vec<_> = (0..3)
            .map(|w| {
                let handle = handle.clone();
                std::thread::spawn(move || {
                    for i in 0..20 {
                        handle.set_attribute(KeyValue::new(format!("w{w}.{i}"), i));
                        handle.add_event("tick", vec![KeyValue::new("i", i)]);
                    }
                })
            })
            .collect();
        span.end();
        for w in writers {
            w.join().unwrap();
        }
        assert!(!handle.is_recording());
        let spans = exporter.finished_spans();
        assert_eq!(spans.len(), round + 1, "ended exactly once");
        let s = spans.last().unwrap();
        // Whatever landed before the end is whole: an event's attribute
        // and every attribute value are intact.
        assert!(s
            .events
            .iter()
            .all(|e| e.name == "tick" && e.attributes.len() == 1));
        assert!(s
            .attributes
            .iter()
            .all(|kv| matches!(kv.value, Value::I64(0..=19))));
    }
}

#[test]
fn span_allocations_reused_by_later_spans_carry_nothing_over() {
    let exporter = InMemoryExporter::new();
    let p = provider(&exporter);
    let tracer = p.tracer("t");
    // A handle outliving its span keeps that span's identity: its
    // allocation is not reused while referenced. (The start relies on
    // that: it writes a spare allocation without checking it again.)
    let held = tracer.start("held");
    let handle = held.handle();
    let held_context = handle.span_context().clone();
    held.end();
    for i in 0..100 {
        let span = tracer
            .span("busy")
            .with_attributes([KeyValue::new("i", i)])
            .start();
        assert_ne!(span.span_context().span_id(), held_context.span_id());
        span.add_event("e", vec![]);
        span.set_status(Status::error("bad"));
    }
    assert!(!handle.is_recording());
    assert_eq!(handle.span_context(), &held_context);
    handle.set_attribute(KeyValue::new("late", true));
    // A span started on a reused allocation starts empty.
    tracer.start("plain").end();
    let plain = exporter.span("plain").unwrap();
    assert!(plain.attributes.is_empty());
    assert!(plain.events.is_empty());
    assert_eq!(plain.status, Status::Unset);
    assert!(exporter.span("held").unwrap().attribute("late").is_none());
    // Threads keep spare allocations until they exit.
    let tracer2 = tracer.clone();
    std::thread::spawn(move || {
        for _ in 0..50 {
            tracer2.start("on a thread").end();
        }
    })
    .join()
    .unwrap();
    assert_eq!(exporter.finished_spans().len(), 1 + 100 + 1 + 50);
}

/// Many spans alive at once, then ended: the thread keeps the last one's
/// allocation in its slot, up to 16 more in its list, and frees the rest.
/// Every span started on them afterwards starts empty, with its own ids.
#[test]
fn many_live_spans_reuse_allocations_through_slot_and_list() {
    let exporter = InMemoryExporter::new();
    let p = provider(&exporter);
    let tracer = p.tracer("t");
    for round in 0..3 {
        let spans: Vec<_> = (0..20)
            .map(|i| {
                let span = tracer
                    .span(format!("r{round}-{i}"))
                    .with_attributes([KeyValue::new("i", i)])
                    .start();
                if round == 0 {
                    span.add_event("only in round 0", vec![]);
                    span.set_status(Status::error("round 0"));
                }
                span
            })
            .collect();
        // Ended in both orders over the rounds.
        if round == 1 {
            spans.into_iter().rev().for_each(|s| s.end());
        } else {
            spans.into_iter().for_each(|s| s.end());
        }
    }
    let spans = exporter.finished_spans();
    assert_eq!(spans.len(), 60);
    let mut ids: Vec<_> = spans.iter().map(|s| s.span_context.span_id()).collect();
    ids.sort_unstable_by_key(|id| id.to_bytes());
    ids.dedup();
    assert_eq!(ids.len(), 60, "every span has its own id");
    for s in &spans {
        let (round, i) = s.name[1..].split_once('-').unwrap();
        assert_eq!(s.attributes.len(), 1, "{}", s.name);
        assert_eq!(s.attribute("i"), Some(&Value::I64(i.parse().unwrap())));
        if round == "0" {
            assert_eq!(s.events.len(), 1);
        } else {
            assert!(s.events.is_empty(), "{} carried an event over", s.name);
            assert_eq!(s.status, Status::Unset, "{} carried a status over", s.name);
        }
    }
}

/// Notes what it is asked, then defers to `AlwaysOff` for names starting
/// with `drop` and to `AlwaysOn` for the rest.
#[derive(Debug, Default)]
struct Asked(std::sync::Mutex<Vec<Asking>>);

/// Name, kind, how many attributes and links, trace id.
type Asking = (String, SpanKind, usize, usize, TraceId);

impl Sampler for Asked {
    fn should_sample(&self, p: &SamplingParameters<'_>) -> SamplingResult {
        self.0.lock().unwrap().push((
            p.name.to_string(),
            p.kind,
            p.attributes.len(),
            p.links.len(),
            p.trace_id,
        ));
        if p.name.starts_with("drop") {
            AlwaysOff.should_sample(p)
        } else {
            AlwaysOn.should_sample(p)
        }
    }
    fn description(&self) -> String {
        "Asked".into()
    }
}

#[test]
fn a_span_started_by_name_alone_is_sampled_and_recorded_like_a_built_one() {
    let exporter = InMemoryExporter::new();
    let asked = std::sync::Arc::new(Asked::default());
    let p = SdkTracerProvider::builder()
        .with_env(Env::from_pairs([("X", "1")]))
        .with_sampler(asked.clone())
        .with_simple_exporter(exporter.clone())
        .build();
    let tracer = p.tracer("t");
    let parent = Context::new().with_remote_span_context(SpanContext::new(
        TraceId::from_int(7),
        SpanId::from_int(7),
        TraceFlags::SAMPLED,
        true,
        TraceState::NONE.insert("k", "v").unwrap(),
    ));
    // By name alone (the named entry point) and built (the full one), kept
    // and dropped.
    tracer.start_with_context("named", &parent).end();
    tracer
        .span("built")
        .with_parent(parent.clone())
        .start()
        .end();
    let named_drop = tracer.start_with_context("drop-named", &parent);
    let built_drop = tracer
        .span("drop-built")
        .with_parent(parent.clone())
        .start();

    let asked = asked.0.lock().unwrap().clone();
    let trace = TraceId::from_int(7);
    assert_eq!(
        asked,
        [
            ("named".to_string(), SpanKind::Internal, 0, 0, trace),
            ("built".to_string(), SpanKind::Internal, 0, 0, trace),
            ("drop-named".to_string(), SpanKind::Internal, 0, 0, trace),
            ("drop-built".to_string(), SpanKind::Internal, 0, 0, trace),
        ]
    );
    let (named, built) = (
        exporter.span("named").unwrap(),
        exporter.span("built").unwrap(),
    );
    for span in [&named, &built] {
        assert_eq!(span.kind, SpanKind::Internal);
        assert_eq!(span.parent_span_id, SpanId::from_int(7));
        assert!(span.parent_is_remote);
        assert_eq!(span.span_context.trace_state().get("k"), Some("v"));
        assert!(span.attributes.is_empty() && span.links.is_empty());
    }
    for span in [&named_drop, &built_drop] {
        assert!(!span.is_recording());
        let sc = span.span_context();
        assert_eq!(sc.trace_id(), trace);
        assert!(sc.span_id().is_valid() && sc.span_id() != SpanId::from_int(7));
        assert!(!sc.is_sampled());
        assert_eq!(sc.trace_state().get("k"), Some("v"));
    }
    assert_eq!(
        exporter.finished_spans().len(),
        2,
        "dropped spans are not exported"
    );
}

/// A span record dropped on the thread that made it hands its attribute
/// list back to that thread, values released, for its next span.
#[test]
fn a_dropped_span_gives_its_attribute_list_back_to_the_thread() {
    // Dropped in place, on the thread that ended it.
    let (processor, p) = InPlace::provider("drop");
    let tracer = p.tracer("t");
    let shared: std::sync::Arc<str> = std::sync::Arc::from("a shared value");
    tracer
        .span("x")
        .with_attributes([
            KeyValue::new("static", 1),
            KeyValue::new("shared", Value::from(std::sync::Arc::clone(&shared))),
        ])
        .start()
        .end();
    assert_eq!(
        std::sync::Arc::strong_count(&shared),
        1,
        "the dropped span's values were kept"
    );
    // Were the list freed, the allocator would hand its block to the decoy
    // (the most recently freed block of that size comes back first); kept,
    // it comes from the thread's store.
    let decoy: Vec<KeyValue> = Vec::with_capacity(2);
    let next = clew_api::attribute::attribute_list(2);
    assert_eq!(
        next.as_ptr() as usize,
        processor.lists.lock().unwrap()[0],
        "the list was freed, not kept for this thread"
    );
    assert!(next.is_empty());
    drop(decoy);
}

/// A finished span's events free what they own when it is dropped (an
/// owned name, a list of more than one), and a span whose one event owns
/// nothing frees nothing for it.
#[test]
fn a_dropped_span_frees_what_its_events_own() {
    let exporter = InMemoryExporter::new();
    let p = provider(&exporter);
    let tracer = p.tracer("t");
    let span = tracer.start("owned name");
    span.add_event(String::from("owned"), vec![]);
    span.end();
    let span = tracer.start("two events");
    span.add_event("a", vec![]);
    span.add_event("b", vec![]);
    span.end();
    let span = tracer.start("one static event");
    span.add_event("static", vec![]);
    span.end();

    let frees = |name: &str| {
        let span = exporter.span(name).unwrap();
        let before = common::thread_frees();
        drop(span);
        common::thread_frees() - before
    };
    assert_eq!(frees("owned name"), 1, "the event's owned name");
    assert_eq!(frees("two events"), 1, "the events' heap list");
    assert_eq!(frees("one static event"), 0);
}

/// A span with a trace state gives its reference to it up when its
/// allocation is kept for the thread's next span: once the exported copy
/// and the parent are dropped, the trace state is freed, and the next span,
/// on the same allocation, starts with its own context and none.
#[test]
fn a_kept_span_allocation_releases_its_trace_state() {
    let exporter = InMemoryExporter::new();
    let p = provider(&exporter);
    let tracer = p.tracer("t");
    let parent = Context::new().with_remote_span_context(parent_with_trace_state(true, true));
    let span = tracer.start_with_context("child", &parent);
    assert_eq!(span.span_context().trace_state().get("vendor"), Some("x"));
    span.end();
    let exported = exporter.span("child").unwrap();
    assert_eq!(exported.span_context.trace_state().get("vendor"), Some("x"));
    exporter.reset();
    let before = common::thread_frees();
    drop(exported);
    drop(parent);
    // The trace state's shared string: its `Arc` and its buffer.
    assert_eq!(
        common::thread_frees() - before,
        2,
        "the trace state is freed"
    );
    let next = tracer.start("next");
    let sc = next.span_context().clone();
    assert!(sc.trace_state().is_empty());
    assert_ne!(sc.trace_id(), TraceId::from_int(42));
    assert!(sc.is_valid() && sc.is_sampled() && !sc.is_remote());
    next.end();
    let next = exporter.span("next").unwrap();
    assert_eq!(next.span_context, sc);
    assert!(!next.parent_span_id.is_valid());
}

/// A span that is not recorded (unsampled, the SDK disabled, the provider
/// shut down, telemetry suppressed) frees the name it was given, once,
/// whichever way it was started; with a name that owns no allocation it
/// neither allocates nor frees.
#[test]
fn names_of_spans_not_recorded_are_freed() {
    let exporter = InMemoryExporter::new();
    let builder = || {
        SdkTracerProvider::builder()
            .with_env(Env::from_pairs([("X", "1")]))
            .with_simple_exporter(exporter.clone())
    };
    let unsampled = builder().with_sampler(AlwaysOff).build();
    let disabled = builder()
        .with_env(Env::from_pairs([("OTEL_SDK_DISABLED", "true")]))
        .build();
    let shut_down = builder().build();
    shut_down.shutdown(Duration::from_secs(1)).unwrap();
    let recording = builder().build();
    for (case, provider, suppressed) in [
        ("unsampled", &unsampled, false),
        ("disabled", &disabled, false),
        ("shut down", &shut_down, false),
        ("suppressed", &recording, true),
    ] {
        let tracer = provider.tracer("t");
        let _suppressed =
            suppressed.then(|| Context::current().with_telemetry_suppressed().attach());
        let name = format!("{case} by name");
        let frees = common::thread_frees();
        tracer.start(name).end();
        assert_eq!(common::thread_frees(), frees + 1, "{case}: start(name)");
        let name = format!("{case} by builder");
        let frees = common::thread_frees();
        tracer.span(name).start().end();
        assert_eq!(
            common::thread_frees(),
            frees + 1,
            "{case}: span(name).start()"
        );
        // Names that own no allocation: the span neither allocates nor frees.
        let counts = || (common::thread_allocations(), common::thread_frees());
        let before = counts();
        tracer.start("static").end();
        tracer.start(String::new()).end();
        tracer.span(String::new()).start().end();
        assert_eq!(counts(), before, "{case}: names that own nothing");
    }
    assert!(exporter.finished_spans().is_empty());
}
