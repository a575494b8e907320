//! The OTLP encoding workload of `anchors.md` §6: 512 spans made through the
//! real SDK pipeline, kind Server, 16 distinct names, 5 attributes (two
//! strings, an i64, a bool, an f64) and one event with an i64 attribute;
//! encoded to an `ExportTraceServiceRequest`.

use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const NAMES: [&str; 16] = [
    "GET /a",
    "GET /b",
    "GET /c",
    "GET /d",
    "POST /a",
    "POST /b",
    "POST /c",
    "POST /d",
    "PUT /a",
    "PUT /b",
    "PUT /c",
    "PUT /d",
    "DELETE /a",
    "DELETE /b",
    "DELETE /c",
    "DELETE /d",
];

/// clew's 512 spans and their resource.
pub fn clew_batch() -> (clew_sdk::Resource, Vec<clew_sdk::SpanData>) {
    use clew_api::{KeyValue, SpanKind};
    let exporter = clew_sdk::export::InMemoryExporter::new();
    let resource = clew_sdk::Resource::new([KeyValue::new("service.name", "otel-baseline-bench")]);
    let provider = clew_sdk::SdkTracerProvider::builder()
        .with_resource(resource.clone())
        .with_sampler(clew_sdk::sampler::AlwaysOn)
        .with_simple_exporter(exporter.clone())
        .build();
    let tracer = provider.tracer("bench");
    for i in 0..512 {
        let span = tracer
            .span(NAMES[i % 16])
            .with_kind(SpanKind::Server)
            .with_attributes([
                KeyValue::new("http.request.method", "GET"),
                KeyValue::new("url.path", "/orders/123"),
                KeyValue::new("http.response.status_code", 200),
                KeyValue::new("cache.hit", true),
                KeyValue::new("load", 0.75),
            ])
            .start();
        span.add_event("retry", vec![KeyValue::new("attempt", 1)]);
        span.end();
    }
    let _ = provider.shutdown(Duration::from_secs(5));
    (resource, exporter.finished_spans())
}

#[derive(Debug, Default, Clone)]
struct Collect(Arc<Mutex<Vec<opentelemetry_sdk::trace::SpanData>>>);

impl opentelemetry_sdk::trace::SpanProcessor for Collect {
    fn on_start(&self, _: &mut opentelemetry_sdk::trace::Span, _: &opentelemetry::Context) {}
    fn on_end(&self, span: opentelemetry_sdk::trace::SpanData) {
        if let Ok(mut spans) = self.0.lock() {
            spans.push(span);
        }
    }
    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _: Duration) -> opentelemetry_sdk::error::OTelSdkResult {
        Ok(())
    }
}

/// opentelemetry's 512 spans and their resource.
pub fn otel_batch() -> (
    opentelemetry_sdk::Resource,
    Vec<opentelemetry_sdk::trace::SpanData>,
) {
    use opentelemetry::trace::{Span as _, SpanKind, Tracer as _, TracerProvider as _};
    use opentelemetry::KeyValue;
    let collect = Collect::default();
    let resource = opentelemetry_sdk::Resource::builder_empty()
        .with_service_name("otel-baseline-bench")
        .build();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_resource(resource.clone())
        .with_sampler(opentelemetry_sdk::trace::Sampler::AlwaysOn)
        .with_span_processor(collect.clone())
        .build();
    let tracer = provider.tracer("bench");
    for i in 0..512 {
        let mut span = tracer
            .span_builder(NAMES[i % 16])
            .with_kind(SpanKind::Server)
            .with_attributes([
                KeyValue::new("http.request.method", "GET"),
                KeyValue::new("url.path", "/orders/123"),
                KeyValue::new("http.response.status_code", 200),
                KeyValue::new("cache.hit", true),
                KeyValue::new("load", 0.75),
            ])
            .start(&tracer);
        span.add_event("retry", vec![KeyValue::new("attempt", 1)]);
        span.end();
    }
    let spans = collect.0.lock().map(|s| s.clone()).unwrap_or_default();
    (resource, spans)
}

/// opentelemetry: group and convert (`opentelemetry-proto`'s transform),
/// then `prost` encode into a buffer sized by `encoded_len`.
pub fn otel_encode(
    resource: &opentelemetry_sdk::Resource,
    spans: Vec<opentelemetry_sdk::trace::SpanData>,
) -> Vec<u8> {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
    use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
    use prost::Message;
    let resource = ResourceAttributesWithSchema::from(resource);
    let request = ExportTraceServiceRequest {
        resource_spans: group_spans_by_resource_and_scope(spans, &resource),
    };
    let mut buf = Vec::with_capacity(request.encoded_len());
    let _ = request.encode(&mut buf);
    buf
}

/// clew: encode straight from span data.
pub fn clew_encode(resource: &clew_sdk::Resource, spans: &[clew_sdk::SpanData]) -> Vec<u8> {
    let mut buf = Vec::new();
    clew_otlp::protobuf::encode_request(resource, spans, &mut buf);
    buf
}

/// The encoded sizes of the two batches: (clew, opentelemetry).
pub fn sizes() -> (usize, usize) {
    let (r, s) = clew_batch();
    let (or, os) = otel_batch();
    (clew_encode(&r, &s).len(), otel_encode(&or, os).len())
}

/// clew's workload: encode the batch.
#[inline]
pub fn clew_workload() -> impl FnMut() {
    let (resource, spans) = clew_batch();
    move || {
        black_box(clew_encode(&resource, &spans));
    }
}

/// opentelemetry's workload: clone the batch (the transform consumes it),
/// then convert and encode. Subtract [`otel_clone_workload`].
#[inline]
pub fn otel_workload() -> impl FnMut() {
    let (resource, spans) = otel_batch();
    move || {
        black_box(otel_encode(&resource, spans.clone()));
    }
}

/// The clone alone, to subtract from [`otel_workload`].
#[inline]
pub fn otel_clone_workload() -> impl FnMut() {
    let (_, spans) = otel_batch();
    move || {
        black_box(spans.clone());
    }
}
