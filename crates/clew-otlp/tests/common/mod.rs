//! Helpers shared by the exporter tests.

use clew_api::KeyValue;
use clew_sdk::env::Env;
use clew_sdk::export::{InMemoryExporter, SpanExporter};
use clew_sdk::processor::BatchConfig;
use clew_sdk::{SdkTracerProvider, SpanData};

/// `n` finished spans named `op-0`, `op-1`, ..., each with an `i` attribute,
/// made through the real SDK pipeline.
#[allow(dead_code, reason = "each test binary uses part of the helpers")]
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

/// A provider that sends its spans through a batch processor with `config`
/// to `exporter`, configured by code only (not the process environment).
#[allow(dead_code, reason = "each test binary uses part of the helpers")]
pub(crate) fn batch_provider(
    exporter: impl SpanExporter,
    config: BatchConfig,
) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_env(Env::from_pairs([("X", "1")]))
        .with_batch_exporter_config(exporter, config)
        .build()
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
