//! OTLP/gRPC against the in-process tonic receiver of `clew-test-support`
//! (the generated `TraceService` of `opentelemetry-proto` decodes).
#![allow(clippy::unwrap_used)] // reason: a failed unwrap is the test failing

mod common;

use std::time::{Duration, Instant};

use clew_otlp::{Compression, OtlpConfig, OtlpExporter, Protocol};
use clew_sdk::env::Env;
use clew_sdk::export::{SpanBatch, SpanExporter};
use clew_sdk::processor::BatchConfig;
use clew_sdk::{Resource, SdkTracerProvider};
use clew_test_support::{Faults, Receiver};
use common::{batch_provider, spans};

fn exporter(receiver: &Receiver) -> OtlpExporter {
    let config = OtlpConfig::for_protocol(Protocol::Grpc)
        .with_endpoint(&receiver.base_url())
        .unwrap();
    OtlpExporter::new(config)
        .unwrap()
        .with_initial_backoff(Duration::from_millis(10))
}

fn export(e: &OtlpExporter, n: usize, timeout: Duration) -> Result<(), String> {
    e.export(SpanBatch::new(spans(n)), &Resource::empty(), timeout)
        .map_err(|e| e.to_string())
}

#[test]
fn grpc_from_the_environment_with_metadata_and_gzip() {
    let receiver = Receiver::start_grpc(Faults::default());
    let config = OtlpConfig::from(&Env::from_pairs([
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_owned()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.base_url()),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "x-service-token=t%201".to_owned(),
        ),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip".to_owned()),
    ]));
    assert_eq!(config.compression, Compression::Gzip);
    let e = OtlpExporter::new(config).unwrap();
    let batch = spans(5);
    let ids: Vec<Vec<u8>> = batch
        .iter()
        .map(|s| s.span_context.span_id().to_bytes().to_vec())
        .collect();
    e.export(
        SpanBatch::new(batch),
        &Resource::empty(),
        Duration::from_secs(5),
    )
    .unwrap();
    let got: Vec<Vec<u8>> = receiver.spans().into_iter().map(|s| s.span_id).collect();
    assert_eq!(got, ids);
    let r = &receiver.requests()[0];
    assert_eq!(r.header("x-service-token"), Some("t 1"));
    assert_eq!(r.header("grpc-encoding"), Some("gzip"));
    assert!(r
        .header("user-agent")
        .unwrap()
        .contains("OTel-OTLP-Exporter-Rust/"));
    assert_eq!(e.stats().spans_exported, 5);
}

#[test]
fn retryable_codes_are_retried_and_others_are_not() {
    let receiver = Receiver::start_grpc(Faults {
        fail_first: 2,
        grpc_code: 14, // UNAVAILABLE
        ..Faults::default()
    });
    let e = exporter(&receiver);
    export(&e, 2, Duration::from_secs(5)).unwrap();
    assert_eq!(e.stats().retries, 2);
    assert_eq!(receiver.span_count(), 2);

    receiver.set_faults(Faults {
        fail_first: 1,
        grpc_code: 3, // INVALID_ARGUMENT
        ..Faults::default()
    });
    let err = export(&e, 1, Duration::from_secs(5)).unwrap_err();
    assert!(
        err.contains("InvalidArgument") && err.contains("not retryable"),
        "{err}"
    );

    // RESOURCE_EXHAUSTED is retried only with a RetryInfo, after its delay.
    receiver.set_faults(Faults {
        fail_first: 1,
        grpc_code: 8,
        ..Faults::default()
    });
    let err = export(&e, 1, Duration::from_secs(5)).unwrap_err();
    assert!(err.contains("ResourceExhausted"), "{err}");
    receiver.set_faults(Faults {
        fail_first: 1,
        grpc_code: 8,
        retry_info: Some(Duration::from_millis(700)),
        ..Faults::default()
    });
    let start = Instant::now();
    export(&e, 1, Duration::from_secs(5)).unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(700),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(receiver.span_count(), 3);
}

#[test]
fn partial_success_and_required_metadata() {
    let receiver = Receiver::start_grpc(Faults {
        partial_success: Some((1, "one too old".into())),
        require_header: Some(("authorization".into(), "Bearer t".into())),
        ..Faults::default()
    });
    let e = exporter(&receiver);
    let err = export(&e, 2, Duration::from_secs(5)).unwrap_err();
    assert!(err.contains("Unauthenticated"), "{err}");
    let config = OtlpConfig::for_protocol(Protocol::Grpc)
        .with_endpoint(&receiver.base_url())
        .unwrap()
        .with_header("Authorization", "Bearer t");
    let e = OtlpExporter::new(config).unwrap();
    export(&e, 4, Duration::from_secs(5)).unwrap();
    let stats = e.stats();
    assert_eq!(
        (stats.spans_exported, stats.spans_rejected, stats.retries),
        (3, 1, 0)
    );
}

#[test]
fn unreachable_then_recovered() {
    let addr = Receiver::start(Faults::default()).addr();
    let config = OtlpConfig::for_protocol(Protocol::Grpc)
        .with_endpoint(&format!("http://{addr}"))
        .unwrap();
    let e = OtlpExporter::new(config)
        .unwrap()
        .with_initial_backoff(Duration::from_millis(10));
    let start = Instant::now();
    let err = export(&e, 2, Duration::from_millis(400)).unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert!(err.contains("gave up after"), "{err}");
    let Ok(receiver) = Receiver::start_on(addr, Faults::default()) else {
        return; // the port was taken meanwhile; the recovery half cannot run
    };
    drop(receiver);
    // A gRPC receiver on the same port: the exporter reconnects by itself.
    let receiver = match grpc_on(addr) {
        Some(r) => r,
        None => return,
    };
    export(&e, 2, Duration::from_secs(5)).unwrap();
    assert_eq!(receiver.span_count(), 2);
}

/// A gRPC receiver on `addr`, if the port is free.
fn grpc_on(addr: std::net::SocketAddr) -> Option<Receiver> {
    Receiver::start_grpc_on(addr, Faults::default()).ok()
}

#[test]
fn simple_processor_exports_from_inside_a_current_thread_runtime() {
    // The anchor's deadlocks (#2071, #2583): a synchronous export on the
    // only thread of a tokio runtime. clew's gRPC has its own runtime.
    let receiver = Receiver::start_grpc(Faults::default());
    let provider = SdkTracerProvider::builder()
        .with_env(Env::from_pairs([("X", "1")]))
        .with_simple_exporter(exporter(&receiver))
        .build();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let p = provider.clone();
    runtime.block_on(async move {
        let tracer = p.tracer("in-runtime");
        for _ in 0..5 {
            tracer
                .in_span_async("request", |_| async { tokio::task::yield_now().await })
                .await;
        }
        p.shutdown(Duration::from_secs(5)).unwrap();
    });
    assert_eq!(receiver.span_count(), 5);
}

#[test]
fn batch_processor_end_to_end() {
    let receiver = Receiver::start_grpc(Faults::default());
    let provider = batch_provider(
        exporter(&receiver),
        BatchConfig::default().with_max_queue_size(8192),
    );
    let tracer = provider.tracer("batch");
    for _ in 0..5000 {
        tracer.in_span("op", |_| {});
    }
    provider.shutdown(Duration::from_secs(10)).unwrap();
    assert_eq!(receiver.span_count(), 5000);
}

#[test]
fn metadata_that_grpc_cannot_carry_is_a_build_error() {
    let config = OtlpConfig::for_protocol(Protocol::Grpc).with_header("x-name", "a\u{1}b");
    let err = OtlpExporter::new(config).unwrap_err().to_string();
    assert!(err.contains("x-name"), "{err}");
}

#[test]
fn grpc_over_tls_and_mtls_with_the_receivers_ca() {
    let pki = clew_test_support::TestPki::generate();
    let receiver = Receiver::start_grpc_tls(Faults::default(), &pki, true);
    let base = vec![
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_owned()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.base_url()),
        (
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
            pki.ca.display().to_string(),
        ),
    ];
    // Without the client certificate the mTLS receiver refuses.
    let e = OtlpExporter::new(OtlpConfig::from(&Env::from_pairs(base.clone())))
        .unwrap()
        .with_initial_backoff(Duration::from_millis(10));
    assert!(export(&e, 1, Duration::from_millis(500)).is_err());
    assert_eq!(receiver.span_count(), 0);

    let mut with_client = base;
    with_client.extend(common::client_identity(&pki));
    let e = OtlpExporter::new(OtlpConfig::from(&Env::from_pairs(with_client))).unwrap();
    export(&e, 3, Duration::from_secs(5)).unwrap();
    assert_eq!(receiver.span_count(), 3);

    // A server the configured CA did not sign is not trusted.
    let untrusted = OtlpConfig::from(&Env::from_pairs([
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_owned()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.base_url()),
        (
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
            pki.other_ca.display().to_string(),
        ),
    ]));
    let e = OtlpExporter::new(untrusted)
        .unwrap()
        .with_initial_backoff(Duration::from_millis(10));
    let err = export(&e, 1, Duration::from_secs(5)).unwrap_err();
    assert!(
        err.contains("TLS") && err.contains("not retryable"),
        "{err}"
    );
    assert_eq!(e.stats().retries, 0);
    assert_eq!(receiver.span_count(), 3);
}

#[test]
fn unusable_certificate_settings_are_build_errors_over_grpc_too() {
    let pki = clew_test_support::TestPki::generate();
    let half_mtls = OtlpConfig::from(&Env::from_pairs([
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_owned()),
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "https://127.0.0.1:1".to_owned(),
        ),
        (
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
            pki.ca.display().to_string(),
        ),
        (
            "OTEL_EXPORTER_OTLP_CLIENT_KEY",
            pki.client_key.display().to_string(),
        ),
    ]));
    let err = OtlpExporter::new(half_mtls).unwrap_err().to_string();
    assert!(
        err.contains("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"),
        "{err}"
    );
    let not_pem = OtlpConfig::from(&Env::from_pairs([
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_owned()),
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "https://127.0.0.1:1".to_owned(),
        ),
        (
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
            pki.server_key.display().to_string(),
        ),
    ]));
    let err = OtlpExporter::new(not_pem).unwrap_err().to_string();
    assert!(err.contains("no PEM certificate"), "{err}");
}

/// Four full batches to a receiver that takes 300 ms per request, with
/// `config`: returns the most requests the receiver had in hand at once.
fn concurrent_requests(config: BatchConfig) -> usize {
    let receiver = Receiver::start_grpc(Faults {
        delay: Duration::from_millis(300),
        ..Faults::default()
    });
    let provider = batch_provider(
        exporter(&receiver),
        config
            .with_max_export_batch_size(100)
            .with_scheduled_delay(Duration::from_secs(3600)),
    );
    let tracer = provider.tracer("concurrent");
    for _ in 0..400 {
        tracer.in_span("op", |_| {});
    }
    provider.force_flush(Duration::from_secs(10)).unwrap();
    assert_eq!(receiver.span_count(), 400);
    let stats = provider.processor_stats()[0];
    assert_eq!((stats.exported, stats.dropped), (400, 0), "{stats:?}");
    provider.shutdown(Duration::from_secs(5)).unwrap();
    receiver.max_in_flight()
}

#[test]
fn grpc_requests_run_concurrently() {
    // The exporter asks for four exports in flight: streams of one
    // HTTP/2 connection.
    assert_eq!(concurrent_requests(BatchConfig::default()), 4);
    // The configuration wins.
    assert_eq!(
        concurrent_requests(BatchConfig::default().with_max_concurrent_exports(2)),
        2
    );
    assert_eq!(
        concurrent_requests(BatchConfig::default().with_max_concurrent_exports(1)),
        1
    );
}

#[test]
fn a_response_over_the_size_limit_is_an_error_not_retried() {
    let receiver = Receiver::start_grpc(Faults {
        partial_success: Some((1, "x".repeat(200))),
        ..Faults::default()
    });
    let mut config = OtlpConfig::for_protocol(Protocol::Grpc)
        .with_endpoint(&receiver.base_url())
        .unwrap();
    config.max_response_size = 64;
    let e = OtlpExporter::new(config).unwrap();
    let err = export(&e, 5, Duration::from_secs(5)).unwrap_err();
    assert!(
        err.contains("response over the size limit") && err.contains("limit is: 64 bytes"),
        "{err}"
    );
    assert_eq!(receiver.requests().len(), 1, "not retried");
    assert_eq!(e.stats().spans_failed, 5);
}
