//! What clew encodes, decoded by an independent implementation (the
//! published `opentelemetry-proto` types: prost for protobuf, serde for JSON)
//! and compared field by field.
#![allow(clippy::unwrap_used)] // reason: a failed unwrap is the test failing

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clew_api::propagation::{TextMapPropagator, TraceContextPropagator};
use clew_api::trace::{
    InstrumentationScope, Link, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId,
    TraceState,
};
use clew_api::{Context, KeyValue, Value};
use clew_sdk::env::Env;
use clew_sdk::export::InMemoryExporter;
use clew_sdk::{Resource, SdkTracerProvider, SpanData, SpanLimits};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue as PKeyValue};
use prost::Message;

fn resource() -> Resource {
    Resource::new([
        KeyValue::new("service.name", "checkout"),
        KeyValue::new("service.instance.id", "i-1"),
        KeyValue::new("deployment.replicas", 3),
    ])
    .with_schema_url("https://opentelemetry.io/schemas/1.44.0")
}

/// A batch that uses every field the protocol has for spans.
fn spans() -> Vec<SpanData> {
    let exporter = InMemoryExporter::new();
    let mut limits = SpanLimits::default();
    limits.max_attributes_per_span = 12;
    limits.max_events_per_span = 2;
    limits.max_links_per_span = 2;
    limits.max_attributes_per_event = 2;
    let provider = SdkTracerProvider::builder()
        .with_env(Env::from_pairs([("X", "1")]))
        .with_resource(resource())
        .with_span_limits(limits)
        .with_simple_exporter(exporter.clone())
        .build();
    let orders = provider.tracer_with_scope(
        InstrumentationScope::builder("orders")
            .with_version("1.2.0")
            .with_schema_url("https://opentelemetry.io/schemas/1.44.0")
            .with_attributes([KeyValue::new("library.kind", "business")])
            .build(),
    );
    let db = provider.tracer("db");

    let carrier: std::collections::HashMap<String, String> = [
        (
            "traceparent".to_owned(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
        ),
        ("tracestate".to_owned(), "vendor=x,ot=th:8".to_owned()),
    ]
    .into();
    let remote = TraceContextPropagator.extract_with_context(&Context::new(), &carrier);
    let linked = SpanContext::new(
        TraceId::from_int(0x1234),
        SpanId::from_int(0x5678),
        TraceFlags::SAMPLED,
        true,
        TraceState::from_header("l=1").unwrap(),
    );
    let t0 = UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789);
    let server = orders
        .span("POST /orders")
        .with_kind(SpanKind::Server)
        .with_parent(remote)
        .with_start_time(t0)
        .with_attributes([
            KeyValue::new("http.request.method", "POST"),
            KeyValue::new("empty", ""),
            KeyValue::new("flag", false),
            KeyValue::new("zero", 0),
            KeyValue::new("negative", -42),
            KeyValue::new("ratio", 0.25),
            KeyValue::new("nan", f64::NAN),
            KeyValue::new("inf", f64::INFINITY),
            KeyValue::new("tags", vec!["a", "b"]),
            KeyValue::new("codes", vec![200i64, -1]),
            KeyValue::new("weights", vec![1.5f64]),
            KeyValue::new("bits", vec![true, false]),
            KeyValue::new("dropped.one", 1),
        ])
        .with_link(Link::new(
            linked.clone(),
            vec![KeyValue::new("link.kind", "follows")],
        ))
        .start();
    server.add_event_with_timestamp(
        "first",
        t0 + Duration::from_millis(1),
        vec![
            KeyValue::new("n", 1),
            KeyValue::new("m", 2),
            KeyValue::new("x", 3),
        ],
    );
    server.add_event_with_timestamp("second", t0 + Duration::from_millis(2), vec![]);
    server.add_event("third (dropped)", vec![]);
    server.add_link(linked.clone(), vec![]);
    server.add_link(linked, vec![]);
    server.set_status(Status::error("card \"declined\"\nretry"));
    let cx = Context::new().with_span(server.handle());
    let child = db
        .span("SELECT orders")
        .with_kind(SpanKind::Client)
        .with_parent(cx)
        .with_start_time(t0)
        .start();
    child.set_status(Status::Ok);
    child.end_with_timestamp(t0 + Duration::from_millis(3));
    for kind in [SpanKind::Internal, SpanKind::Producer, SpanKind::Consumer] {
        db.span("kinds").with_kind(kind).root().start().end();
    }
    server.end_with_timestamp(t0 + Duration::from_millis(10));
    exporter.finished_spans()
}

/// Through `SystemTime`, independently of the exporter's own conversion.
fn nanos(t: impl Into<SystemTime>) -> u64 {
    t.into().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
}

fn same_value(a: &Value, b: &AnyValue) {
    use any_value::Value as V;
    match (a, b.value.as_ref().unwrap()) {
        (Value::String(x), V::StringValue(y)) => assert_eq!(x.as_str(), y),
        (Value::Bool(x), V::BoolValue(y)) => assert_eq!(x, y),
        (Value::I64(x), V::IntValue(y)) => assert_eq!(x, y),
        (Value::F64(x), V::DoubleValue(y)) => {
            assert!(x == y || (x.is_nan() && y.is_nan()), "{x} vs {y}")
        }
        (Value::Array(x), V::ArrayValue(y)) => {
            assert_eq!(x.len(), y.values.len());
            let items: Vec<Value> = match x {
                clew_api::Array::Bool(v) => v.iter().map(|b| Value::Bool(*b)).collect(),
                clew_api::Array::I64(v) => v.iter().map(|i| Value::I64(*i)).collect(),
                clew_api::Array::F64(v) => v.iter().map(|f| Value::F64(*f)).collect(),
                clew_api::Array::String(v) => v.iter().map(|s| Value::String(s.clone())).collect(),
            };
            for (a, b) in items.iter().zip(&y.values) {
                same_value(a, b);
            }
        }
        (a, b) => panic!("{a:?} decoded as {b:?}"),
    }
}

fn same_attributes<'a>(ours: impl IntoIterator<Item = &'a KeyValue>, theirs: &[PKeyValue]) {
    let ours: Vec<&KeyValue> = ours.into_iter().collect();
    assert_eq!(ours.len(), theirs.len());
    for (a, b) in ours.iter().zip(theirs) {
        assert_eq!(a.key.as_str(), b.key);
        same_value(&a.value, b.value.as_ref().unwrap());
    }
}

fn flags(sc: &SpanContext, remote: bool) -> u32 {
    u32::from(sc.trace_flags().to_u8()) | 0x100 | if remote { 0x200 } else { 0 }
}

/// Compares a decoded request with the batch, field by field.
fn check(decoded: &ExportTraceServiceRequest, resource: &Resource, spans: &[SpanData]) {
    assert_eq!(decoded.resource_spans.len(), 1);
    let rs = &decoded.resource_spans[0];
    same_attributes(resource.iter(), &rs.resource.as_ref().unwrap().attributes);
    assert_eq!(rs.schema_url, resource.schema_url().unwrap());
    assert_eq!(rs.scope_spans.len(), 2, "two scopes");
    let mut seen = 0;
    for ss in &rs.scope_spans {
        let scope = ss.scope.as_ref().unwrap();
        for ps in &ss.spans {
            seen += 1;
            let d = spans
                .iter()
                .find(|d| d.span_context.span_id().as_bytes() == &ps.span_id[..])
                .expect("every decoded span is one of ours");
            assert_eq!(scope.name, d.scope.name);
            assert_eq!(scope.version, d.scope.version.as_deref().unwrap_or(""));
            same_attributes(&d.scope.attributes, &scope.attributes);
            assert_eq!(ss.schema_url, d.scope.schema_url.as_deref().unwrap_or(""));
            assert_eq!(ps.trace_id, d.span_context.trace_id().to_bytes());
            assert_eq!(ps.trace_state, d.span_context.trace_state().header());
            if d.parent_span_id.is_valid() {
                assert_eq!(ps.parent_span_id, d.parent_span_id.to_bytes());
            } else {
                assert!(ps.parent_span_id.is_empty());
            }
            assert_eq!(ps.flags, flags(&d.span_context, d.parent_is_remote));
            assert_eq!(ps.name, d.name);
            let kind = match d.kind {
                SpanKind::Internal => 1,
                SpanKind::Server => 2,
                SpanKind::Client => 3,
                SpanKind::Producer => 4,
                SpanKind::Consumer => 5,
            };
            assert_eq!(ps.kind, kind);
            assert_eq!(ps.start_time_unix_nano, nanos(d.start_time));
            assert_eq!(ps.end_time_unix_nano, nanos(d.end_time));
            same_attributes(&d.attributes, &ps.attributes);
            assert_eq!(ps.dropped_attributes_count, d.dropped_attributes_count);
            assert_eq!(ps.events.len(), d.events.len());
            for (e, pe) in d.events.iter().zip(&ps.events) {
                assert_eq!(pe.name, e.name);
                assert_eq!(pe.time_unix_nano, nanos(e.timestamp));
                same_attributes(&e.attributes, &pe.attributes);
                assert_eq!(pe.dropped_attributes_count, e.dropped_attributes_count);
            }
            assert_eq!(ps.dropped_events_count, d.dropped_events_count);
            assert_eq!(ps.links.len(), d.links.len());
            for (l, pl) in d.links.iter().zip(&ps.links) {
                assert_eq!(pl.trace_id, l.span_context.trace_id().to_bytes());
                assert_eq!(pl.span_id, l.span_context.span_id().to_bytes());
                assert_eq!(pl.trace_state, l.span_context.trace_state().header());
                same_attributes(&l.attributes, &pl.attributes);
                assert_eq!(pl.dropped_attributes_count, l.dropped_attributes_count);
                assert_eq!(pl.flags, flags(&l.span_context, l.span_context.is_remote()));
            }
            assert_eq!(ps.dropped_links_count, d.dropped_links_count);
            match &d.status {
                Status::Unset => assert!(ps.status.is_none()),
                Status::Ok => assert_eq!(ps.status.as_ref().unwrap().code, 1),
                Status::Error { description } => {
                    let st = ps.status.as_ref().unwrap();
                    assert_eq!(st.code, 2);
                    assert_eq!(st.message, *description);
                }
            }
        }
    }
    assert_eq!(seen, spans.len());
}

#[test]
fn the_batch_covers_every_field() {
    let spans = spans();
    assert_eq!(spans.len(), 5);
    let server = spans.iter().find(|s| s.name == "POST /orders").unwrap();
    assert_eq!(server.dropped_attributes_count, 1);
    assert_eq!(server.dropped_events_count, 1);
    assert_eq!(server.dropped_links_count, 1);
    assert_eq!(server.events[0].dropped_attributes_count, 1);
    assert!(server.parent_is_remote);
}

#[test]
fn protobuf_decodes_field_by_field() {
    let (resource, spans) = (resource(), spans());
    let mut body = Vec::new();
    clew_otlp::protobuf::encode_request(&resource, &spans, &mut body);
    assert_eq!(
        body.len(),
        clew_otlp::protobuf::encoded_len(&resource, &spans)
    );
    let decoded = ExportTraceServiceRequest::decode(&body[..]).unwrap();
    check(&decoded, &resource, &spans);
    // And prost re-encodes what it decoded to the same bytes: nothing was
    // written that the schema does not know, and nothing in a different order.
    assert_eq!(decoded.encode_to_vec(), body);
}

#[test]
fn json_decodes_field_by_field() {
    let (resource, mut spans) = (resource(), spans());
    let mut body = String::new();
    clew_otlp::json::encode_request(&resource, &spans, &mut body);
    // Non-finite doubles are strings in the proto3 JSON mapping, which the
    // reference types do not read: the whole document must still be valid
    // JSON, and the rest is decoded field by field.
    let generic: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(generic["resourceSpans"].is_array());
    for span in &mut spans {
        span.attributes
            .retain(|kv| kv.value.as_f64().is_none_or(f64::is_finite));
    }
    let mut finite = String::new();
    clew_otlp::json::encode_request(&resource, &spans, &mut finite);
    let decoded: ExportTraceServiceRequest =
        serde_json::from_str(&finite).unwrap_or_else(|e| panic!("{e}: {finite}"));
    check(&decoded, &resource, &spans);
    assert!(
        body.contains("\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\""),
        "ids are hex"
    );
    assert!(body.contains("\"kind\":2"), "enums are numbers");
    assert!(
        body.contains("\"intValue\":\"-42\""),
        "64-bit integers are strings"
    );
    assert!(body.contains("\"startTimeUnixNano\":\"1700000000123456789\""));
    assert!(
        body.contains("\"doubleValue\":\"NaN\"") && body.contains("\"doubleValue\":\"Infinity\"")
    );
}

#[test]
fn an_empty_batch_is_an_empty_request() {
    let mut body = Vec::new();
    clew_otlp::protobuf::encode_request(&resource(), &[], &mut body);
    assert!(body.is_empty());
    assert_eq!(
        ExportTraceServiceRequest::decode(&body[..])
            .unwrap()
            .resource_spans
            .len(),
        0
    );
    let mut json = String::new();
    clew_otlp::json::encode_request(&resource(), &[], &mut json);
    assert_eq!(json, "{\"resourceSpans\":[]}");
}
