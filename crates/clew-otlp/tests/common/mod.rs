//! Helpers shared by the exporter tests.

use clew_api::KeyValue;
use clew_sdk::env::Env;
use clew_sdk::export::InMemoryExporter;
use clew_sdk::{SdkTracerProvider, SpanData};

/// `n` finished spans named `op-0`, `op-1`, ..., each with an `i` attribute,
/// made through the real SDK pipeline.
pub(crate) fn spans(n: usize) -> Vec<SpanData> {
    let memory = InMemoryExporter::new();
    let provider = SdkTracerProvider::builder()
        .with_env(Env::from_pairs([("X", "1")]))
        .with_simple_exporter(memory.clone())
        .build();
    let tracer = provider.tracer("otlp-test");
    for i in 0..n {
        tracer.in_span(format!("op-{i}"), |span| {
            span.set_attribute(KeyValue::new("i", i as i64));
        });
    }
    memory.finished_spans()
}
