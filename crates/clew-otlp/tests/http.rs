//! The OTLP/HTTP exporter against the in-process receiver of
//! `clew-test-support`, which decodes with `opentelemetry-proto`.
#![allow(clippy::unwrap_used)] // reason: a failed unwrap is the test failing

mod common;

use std::time::{Duration, Instant};

use clew_api::KeyValue;
use clew_otlp::{Compression, OtlpConfig, OtlpExporter, Protocol};
use clew_sdk::env::Env;
use clew_sdk::export::{SpanBatch, SpanExporter};
use clew_sdk::processor::{BatchConfig, ProcessorError};
use clew_sdk::{Resource, SdkTracerProvider, SpanData};
use clew_test_support::{Faults, Receiver};
use common::{batch_provider, spans};

fn resource() -> Resource {
    Resource::new([KeyValue::new("service.name", "http-test")])
}

fn exporter(receiver: &Receiver, protocol: Protocol) -> OtlpExporter {
    let config = OtlpConfig::for_protocol(protocol)
        .with_endpoint(&receiver.traces_url())
        .unwrap();
    OtlpExporter::new(config)
        .unwrap()
        .with_initial_backoff(Duration::from_millis(10))
}

fn export(e: &OtlpExporter, spans: Vec<SpanData>, timeout: Duration) -> Result<(), String> {
    e.export(SpanBatch::new(spans), &resource(), timeout)
        .map_err(|e| e.to_string())
}

/// A configuration for a loopback port where nothing listens: a port
/// reserved by a receiver, then freed.
fn dead_endpoint() -> (std::net::SocketAddr, OtlpConfig) {
    let addr = Receiver::start(Faults::default()).addr();
    let config = OtlpConfig::default()
        .with_endpoint(&format!("http://{addr}/v1/traces"))
        .unwrap();
    (addr, config)
}

#[test]
fn protobuf_requests_carry_ids_headers_and_user_agent() {
    let receiver = Receiver::start(Faults::default());
    let config = OtlpConfig::from(&Env::from_pairs([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.base_url()),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "x-api-key=s%3Dcret".to_owned(),
        ),
    ]));
    let e = OtlpExporter::new(config).unwrap();
    let batch = spans(3);
    let ids: Vec<[u8; 8]> = batch
        .iter()
        .map(|s| s.span_context.span_id().to_bytes())
        .collect();
    export(&e, batch, Duration::from_secs(5)).unwrap();
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.path, "/v1/traces");
    assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
    assert_eq!(r.header("x-api-key"), Some("s=cret"));
    assert!(r
        .header("user-agent")
        .unwrap()
        .contains("OTel-OTLP-Exporter-Rust/"));
    let got: Vec<Vec<u8>> = receiver.spans().iter().map(|s| s.span_id.clone()).collect();
    assert_eq!(got, ids.iter().map(|i| i.to_vec()).collect::<Vec<_>>());
    assert_eq!(receiver.spans()[2].name, "op-2");
    let stats = e.stats();
    assert_eq!(
        (stats.requests, stats.retries, stats.spans_exported),
        (1, 0, 3)
    );
}

#[test]
fn json_with_gzip_round_trips() {
    let receiver = Receiver::start(Faults::default());
    let config = OtlpConfig::for_protocol(Protocol::HttpJson)
        .with_endpoint(&receiver.traces_url())
        .unwrap()
        .with_compression(Compression::Gzip);
    let e = OtlpExporter::new(config).unwrap();
    export(&e, spans(20), Duration::from_secs(5)).unwrap();
    let r = &receiver.requests()[0];
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(&r.raw_body[..2], &[0x1f, 0x8b], "a gzip stream");
    let names: Vec<String> = receiver.spans().into_iter().map(|s| s.name).collect();
    assert_eq!(names.len(), 20);
    assert_eq!(names[19], "op-19");
}

#[test]
fn keeps_the_connection_alive_and_reconnects_when_closed() {
    let receiver = Receiver::start(Faults::default());
    let e = exporter(&receiver, Protocol::HttpProtobuf);
    for _ in 0..3 {
        export(&e, spans(1), Duration::from_secs(5)).unwrap();
    }
    assert_eq!(receiver.connections(), 1);
    receiver.set_faults(Faults {
        close_connections: true,
        ..Faults::default()
    });
    for _ in 0..3 {
        export(&e, spans(1), Duration::from_secs(5)).unwrap();
    }
    assert_eq!(receiver.span_count(), 6);
    assert!(receiver.connections() >= 3, "{}", receiver.connections());
}

#[test]
fn retryable_statuses_are_retried_honouring_retry_after() {
    let receiver = Receiver::start(Faults {
        fail_first: 2,
        fail_status: 429,
        retry_after: Some("1".into()),
        ..Faults::default()
    });
    let e = exporter(&receiver, Protocol::HttpProtobuf);
    let start = Instant::now();
    export(&e, spans(2), Duration::from_secs(10)).unwrap();
    let took = start.elapsed();
    assert!(
        took >= Duration::from_secs(2),
        "Retry-After: 1 twice, took {took:?}"
    );
    assert_eq!(receiver.span_count(), 2);
    assert_eq!(e.stats().retries, 2);
    for status in [502, 503, 504] {
        receiver.set_faults(Faults {
            fail_first: 1,
            fail_status: status,
            ..Faults::default()
        });
        export(&e, spans(1), Duration::from_secs(5)).unwrap();
    }
    assert_eq!(receiver.span_count(), 5);
}

#[test]
fn other_statuses_fail_at_once() {
    let receiver = Receiver::start(Faults {
        fail_first: 100,
        fail_status: 400,
        ..Faults::default()
    });
    let e = exporter(&receiver, Protocol::HttpProtobuf);
    let err = export(&e, spans(4), Duration::from_secs(5)).unwrap_err();
    assert!(
        err.contains("HTTP 400") && err.contains("not retryable"),
        "{err}"
    );
    assert!(
        err.contains("injected failure"),
        "the body's message: {err}"
    );
    assert_eq!(receiver.requests().len(), 1);
    assert_eq!(e.stats().spans_failed, 4);

    let receiver = Receiver::start(Faults {
        require_header: Some(("authorization".into(), "Bearer t".into())),
        ..Faults::default()
    });
    let e = exporter(&receiver, Protocol::HttpProtobuf);
    let err = export(&e, spans(1), Duration::from_secs(5)).unwrap_err();
    assert!(err.contains("HTTP 401"), "{err}");
    let config = OtlpConfig::default()
        .with_endpoint(&receiver.traces_url())
        .unwrap()
        .with_header("Authorization", "Bearer t");
    let e = OtlpExporter::new(config).unwrap();
    export(&e, spans(1), Duration::from_secs(5)).unwrap();
    assert_eq!(receiver.span_count(), 1);
}

#[test]
fn partial_success_is_counted_not_retried() {
    for protocol in [Protocol::HttpProtobuf, Protocol::HttpJson] {
        let receiver = Receiver::start(Faults {
            partial_success: Some((2, "spans too old".into())),
            ..Faults::default()
        });
        let e = exporter(&receiver, protocol);
        export(&e, spans(5), Duration::from_secs(5)).unwrap();
        assert_eq!(receiver.requests().len(), 1, "{protocol:?}");
        let stats = e.stats();
        assert_eq!(
            (stats.spans_exported, stats.spans_rejected, stats.retries),
            (3, 2, 0),
            "{protocol:?}"
        );
    }
}

#[test]
fn oversized_requests_are_split_not_dropped() {
    let receiver = Receiver::start(Faults::default());
    let config = OtlpConfig::default()
        .with_endpoint(&receiver.traces_url())
        .unwrap()
        .with_max_request_size(400);
    let e = OtlpExporter::new(config).unwrap();
    export(&e, spans(16), Duration::from_secs(5)).unwrap();
    assert_eq!(receiver.span_count(), 16);
    assert!(receiver.requests().len() > 1);
    assert!(receiver.requests().iter().all(|r| r.raw_body.len() <= 400));
    let tiny = OtlpConfig::default()
        .with_endpoint(&receiver.traces_url())
        .unwrap()
        .with_max_request_size(10);
    let e = OtlpExporter::new(tiny).unwrap();
    let err = export(&e, spans(1), Duration::from_secs(5)).unwrap_err();
    assert!(err.contains("request limit"), "{err}");
}

#[test]
fn unreachable_collector_fails_within_the_timeout_and_recovery_is_automatic() {
    let (addr, config) = dead_endpoint();
    let e = OtlpExporter::new(config)
        .unwrap()
        .with_initial_backoff(Duration::from_millis(10));
    let start = Instant::now();
    let err = export(&e, spans(3), Duration::from_millis(300)).unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert!(err.contains("gave up after"), "{err}");
    assert!(e.stats().retries >= 1);
    let Ok(receiver) = Receiver::start_on(addr, Faults::default()) else {
        return; // another test took the port; the recovery half cannot run
    };
    export(&e, spans(2), Duration::from_secs(5)).unwrap();
    assert_eq!(receiver.span_count(), 2);
}

#[test]
fn slow_collector_is_bounded_by_the_timeout() {
    let receiver = Receiver::start(Faults {
        delay: Duration::from_secs(3),
        ..Faults::default()
    });
    let e = exporter(&receiver, Protocol::HttpProtobuf);
    let start = Instant::now();
    assert!(export(&e, spans(1), Duration::from_millis(300)).is_err());
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn batch_processor_delivers_everything_at_shutdown() {
    let receiver = Receiver::start(Faults::default());
    // A queue that holds everything: shutdown must deliver every span.
    let provider = SdkTracerProvider::builder()
        .with_env(Env::from_pairs([("X", "1")]))
        .with_resource(resource())
        .with_batch_exporter_config(
            exporter(&receiver, Protocol::HttpProtobuf),
            BatchConfig::default().with_max_queue_size(8192),
        )
        .build();
    let tracer = provider.tracer("batch");
    for i in 0..5000 {
        tracer.in_span(format!("s{}", i % 7), |_| {});
    }
    provider.shutdown(Duration::from_secs(10)).unwrap();
    assert_eq!(receiver.span_count(), 5000);

    // The default queue, filled faster than it drains: exact accounting.
    let receiver = Receiver::start(Faults::default());
    let provider = SdkTracerProvider::builder()
        .with_env(Env::from_pairs([("X", "1")]))
        .with_batch_exporter(exporter(&receiver, Protocol::HttpProtobuf))
        .build();
    let tracer = provider.tracer("batch");
    for _ in 0..20_000 {
        tracer.in_span("fast", |_| {});
    }
    provider.shutdown(Duration::from_secs(10)).unwrap();
    let stats = provider.processor_stats()[0];
    assert_eq!(stats.created, 20_000);
    assert_eq!(stats.exported + stats.dropped, 20_000, "{stats:?}");
    assert_eq!(receiver.span_count() as u64, stats.exported, "{stats:?}");
}

#[test]
fn dead_collector_never_blocks_the_application_and_shutdown_is_bounded() {
    let (_, config) = dead_endpoint();
    let provider = batch_provider(
        OtlpExporter::new(config).unwrap(),
        BatchConfig::default().with_export_timeout(Duration::from_millis(200)),
    );
    let tracer = provider.tracer("dead");
    for _ in 0..50_000 {
        tracer.in_span("work", |_| {});
    }
    let start = Instant::now();
    let result = provider.shutdown(Duration::from_secs(1));
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    let stats = provider.processor_stats()[0];
    assert_eq!(stats.created, 50_000);
    assert_eq!(stats.exported, 0);
    // Exports during the shutdown are bounded by its wait: they fail in
    // time, nothing stays queued, and the shutdown says what it lost.
    assert_eq!((stats.dropped, stats.queued), (50_000, 0), "{stats:?}");
    let err = result.unwrap_err();
    assert!(
        matches!(err.errors[0], ProcessorError::SpansLost { .. }),
        "{err}"
    );
    assert!(err.spans_lost() > 0, "{err}");
}

#[test]
fn current_thread_runtime_exports_and_shuts_down_from_async_code() {
    // The anchor's #2583: shutdown called on a current-thread runtime's only
    // thread. clew's export thread needs no runtime, so it completes.
    let receiver = Receiver::start(Faults::default());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let provider = SdkTracerProvider::builder()
        .with_env(Env::from_pairs([("X", "1")]))
        .with_batch_exporter(exporter(&receiver, Protocol::HttpProtobuf))
        .build();
    let p = provider.clone();
    runtime.block_on(async move {
        let tracer = p.tracer("async");
        for _ in 0..100 {
            tracer
                .in_span_async("request", |_| async { tokio::task::yield_now().await })
                .await;
        }
        p.force_flush(Duration::from_secs(5)).unwrap();
        p.shutdown(Duration::from_secs(5)).unwrap();
    });
    assert_eq!(receiver.span_count(), 100);
    drop(provider);
}

#[test]
fn a_collector_failing_half_the_requests_then_recovering_loses_nothing_silently() {
    // 1. Every other request fails with 503: the retries deliver everything.
    let receiver = Receiver::start(Faults {
        fail_every: 2,
        fail_status: 503,
        ..Faults::default()
    });
    let provider = batch_provider(
        exporter(&receiver, Protocol::HttpProtobuf),
        BatchConfig::default()
            .with_max_queue_size(8192)
            .with_max_export_batch_size(100),
    );
    let tracer = provider.tracer("flaky");
    let burst = |n: usize| {
        let start = Instant::now();
        for _ in 0..n {
            tracer.in_span("op", |_| {});
        }
        // Span creation never waits for the collector.
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
    };
    burst(2000);
    provider.force_flush(Duration::from_secs(20)).unwrap();
    let s1 = provider.processor_stats()[0];
    assert_eq!((s1.exported, s1.dropped), (2000, 0), "{s1:?}");
    assert_eq!(receiver.span_count(), 2000);
    let failed = receiver
        .requests()
        .iter()
        .filter(|r| r.status == 503)
        .count();
    assert!(failed >= 5, "{failed} requests failed and were retried");

    // 2. Every other request is refused (400, not retryable): those batches
    //    are lost, and every one is counted. The receiver answers 200 ms
    //    late, so every loss happens during the flush, which reports them.
    receiver.set_faults(Faults {
        fail_every: 2,
        fail_status: 400,
        delay: Duration::from_millis(200),
        ..Faults::default()
    });
    burst(2000);
    let err = provider.force_flush(Duration::from_secs(20)).unwrap_err();
    let s2 = provider.processor_stats()[0];
    assert_eq!(s2.created, 4000);
    assert_eq!(s2.exported + s2.dropped, 4000, "{s2:?}");
    assert_eq!(receiver.span_count() as u64, s2.exported, "{s2:?}");
    assert_eq!(s2.dropped, 1000, "{s2:?}");
    assert_eq!(err.spans_lost(), 1000, "{err}");

    // 3. The collector heals: export resumes by itself.
    receiver.set_faults(Faults::default());
    burst(1000);
    provider.force_flush(Duration::from_secs(20)).unwrap();
    let s3 = provider.processor_stats()[0];
    assert_eq!(s3.exported - s2.exported, 1000, "{s3:?}");
    assert_eq!(receiver.span_count() as u64, s3.exported);
    provider.shutdown(Duration::from_secs(5)).unwrap();
}

#[test]
fn concurrent_exports_use_one_kept_alive_connection_each() {
    let receiver = Receiver::start(Faults {
        delay: Duration::from_millis(300),
        ..Faults::default()
    });
    let provider = batch_provider(
        exporter(&receiver, Protocol::HttpProtobuf),
        BatchConfig::default()
            .with_max_export_batch_size(100)
            .with_scheduled_delay(Duration::from_secs(3600))
            .with_max_concurrent_exports(3),
    );
    let tracer = provider.tracer("concurrent");
    for round in 1..=2 {
        for _ in 0..600 {
            tracer.in_span("op", |_| {});
        }
        provider.force_flush(Duration::from_secs(10)).unwrap();
        assert_eq!(receiver.span_count(), 600 * round);
    }
    assert_eq!(receiver.max_in_flight(), 3);
    // Three connections, opened in the first round and reused in the second.
    assert_eq!(receiver.connections(), 3);
    provider.shutdown(Duration::from_secs(5)).unwrap();
}

#[test]
fn a_response_over_the_size_limit_is_an_error_not_retried() {
    for protocol in [Protocol::HttpProtobuf, Protocol::HttpJson] {
        let receiver = Receiver::start(Faults {
            partial_success: Some((1, "x".repeat(200))),
            ..Faults::default()
        });
        let mut config = OtlpConfig::for_protocol(protocol)
            .with_endpoint(&receiver.traces_url())
            .unwrap();
        config.max_response_size = 64;
        let e = OtlpExporter::new(config).unwrap();
        let err = export(&e, spans(5), Duration::from_secs(5)).unwrap_err();
        assert!(err.contains("64-byte limit"), "{protocol:?}: {err}");
        assert_eq!(receiver.requests().len(), 1, "{protocol:?}: not retried");
        assert_eq!(e.stats().spans_failed, 5, "{protocol:?}");
    }
}
