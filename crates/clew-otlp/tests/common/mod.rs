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

/// The mTLS variables for `pki`'s client certificate and key.
#[allow(dead_code, reason = "each test binary uses part of the helpers")]
pub(crate) fn client_identity(pki: &clew_test_support::TestPki) -> [(&'static str, String); 2] {
    [
        (
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
            pki.client_cert.display().to_string(),
        ),
        (
            "OTEL_EXPORTER_OTLP_CLIENT_KEY",
            pki.client_key.display().to_string(),
        ),
    ]
}
