//! OTLP/HTTP over TLS and mTLS, against a receiver with its own CA.
#![allow(clippy::unwrap_used)] // reason: a failed unwrap is the test failing

mod common;

use std::time::Duration;

use clew_otlp::{OtlpConfig, OtlpExporter};
use clew_sdk::env::Env;
use clew_sdk::export::{SpanBatch, SpanExporter};
use clew_sdk::Resource;
use clew_test_support::{Faults, Receiver, TestPki};
use common::spans;

fn export(config: OtlpConfig) -> Result<(), String> {
    let e = OtlpExporter::new(config).map_err(|e| e.to_string())?;
    e.export(
        SpanBatch::new(spans(3)),
        &Resource::empty(),
        Duration::from_secs(5),
    )
    .map_err(|e| e.to_string())
}

fn env_config(pairs: Vec<(&str, String)>) -> OtlpConfig {
    OtlpConfig::from(&Env::from_pairs(pairs))
}

#[test]
fn tls_with_the_receivers_ca_from_the_environment() {
    let pki = TestPki::generate();
    let receiver = Receiver::start_tls(Faults::default(), &pki, false);
    export(env_config(vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.base_url()),
        (
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
            pki.ca.display().to_string(),
        ),
    ]))
    .unwrap();
    assert_eq!(receiver.span_count(), 3);
    // Keep-alive works over TLS as well.
    let config = env_config(vec![
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", receiver.traces_url()),
        (
            "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
            pki.ca.display().to_string(),
        ),
    ]);
    let e = OtlpExporter::new(config).unwrap();
    for _ in 0..3 {
        e.export(
            SpanBatch::new(spans(1)),
            &Resource::empty(),
            Duration::from_secs(5),
        )
        .unwrap();
    }
    assert_eq!(receiver.span_count(), 6);
    assert_eq!(receiver.connections(), 2);
}

#[test]
fn an_untrusted_server_fails_at_once_and_is_not_retried() {
    let pki = TestPki::generate();
    let receiver = Receiver::start_tls(Faults::default(), &pki, false);
    let err = export(env_config(vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.base_url()),
        (
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
            pki.other_ca.display().to_string(),
        ),
    ]))
    .unwrap_err();
    assert!(
        err.contains("TLS") && err.contains("not retryable"),
        "{err}"
    );
    assert_eq!(receiver.span_count(), 0);
}

#[test]
fn mtls_requires_the_client_certificate() {
    let pki = TestPki::generate();
    let receiver = Receiver::start_tls(Faults::default(), &pki, true);
    let base = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.base_url()),
        (
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
            pki.ca.display().to_string(),
        ),
    ];
    let err = export(env_config(base.clone())).unwrap_err();
    assert!(err.contains("TLS") || err.contains("gave up"), "{err}");
    assert_eq!(receiver.span_count(), 0);

    let mut with_client = base;
    with_client.extend(common::client_identity(&pki));
    export(env_config(with_client)).unwrap();
    assert_eq!(receiver.span_count(), 3);
}

#[test]
fn unusable_certificate_settings_are_build_errors_naming_the_variable() {
    let pki = TestPki::generate();
    let endpoint = (
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "https://127.0.0.1:1".to_owned(),
    );
    let missing = env_config(vec![
        endpoint.clone(),
        (
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
            "/nonexistent/ca.pem".into(),
        ),
    ]);
    let err = OtlpExporter::new(missing).unwrap_err().to_string();
    assert!(err.contains("OTEL_EXPORTER_OTLP_CERTIFICATE"), "{err}");

    let not_pem = env_config(vec![
        endpoint.clone(),
        (
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
            pki.server_key.display().to_string(),
        ),
    ]);
    let err = OtlpExporter::new(not_pem).unwrap_err().to_string();
    assert!(err.contains("no PEM certificate"), "{err}");

    let half_mtls = env_config(vec![
        endpoint,
        (
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
            pki.ca.display().to_string(),
        ),
        (
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
            pki.client_cert.display().to_string(),
        ),
    ]);
    let err = OtlpExporter::new(half_mtls).unwrap_err().to_string();
    assert!(err.contains("OTEL_EXPORTER_OTLP_CLIENT_KEY"), "{err}");
}
