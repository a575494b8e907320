//! Runtime independence: start-up, export, flush and shutdown complete
//! within their timeouts with no runtime, inside tokio runtimes of both
//! kinds, from `spawn_blocking`, from a `Drop` during a panic, and with an
//! exporter that hangs forever (opentelemetry-rust #2071, #2715, #2583,
//! #3125, #3356 in clew's terms).
#![allow(clippy::unwrap_used)] // reason: a failed unwrap is the test failing

mod common;

use std::time::{Duration, Instant};

use clew_sdk::env::Env;
use clew_sdk::export::InMemoryExporter;
use clew_sdk::SdkTracerProvider;
use common::GatedExporter;

const TIMEOUT: Duration = Duration::from_secs(5);

fn batch_provider() -> (SdkTracerProvider, InMemoryExporter) {
    let exporter = InMemoryExporter::new();
    let provider = SdkTracerProvider::builder()
        .with_env(Env::from_pairs([("OTEL_BSP_SCHEDULE_DELAY", "3600000")]))
        .with_batch_exporter(exporter.clone())
        .build();
    (provider, exporter)
}

fn exercise(provider: &SdkTracerProvider, exporter: &InMemoryExporter) {
    provider.tracer("t").in_span("work", |_| {});
    provider.force_flush(TIMEOUT).unwrap();
    assert_eq!(exporter.finished_spans().len(), 1);
    provider.tracer("t").start("second").end();
    provider.shutdown(TIMEOUT).unwrap();
    assert_eq!(exporter.finished_spans().len(), 2);
}

#[test]
fn with_no_async_runtime_at_all() {
    let (p, e) = batch_provider();
    exercise(&p, &e);
}

#[test]
fn inside_a_multi_thread_runtime_from_async_code() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    rt.block_on(async {
        let (p, e) = batch_provider();
        tokio::task::yield_now().await;
        exercise(&p, &e);
    });
}

#[test]
fn inside_a_current_thread_runtime_from_async_code() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (p, e) = batch_provider();
        let t = p.tracer("t");
        t.in_span_async("async_work", |_| async { tokio::task::yield_now().await })
            .await;
        // Flush and shutdown called from the only runtime thread: the
        // exporter never needs it.
        p.force_flush(TIMEOUT).unwrap();
        p.shutdown(TIMEOUT).unwrap();
        assert_eq!(e.finished_spans().len(), 1);
    });
}

#[test]
fn from_spawn_blocking() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        tokio::task::spawn_blocking(|| {
            let (p, e) = batch_provider();
            exercise(&p, &e);
        })
        .await
        .unwrap();
    });
}

struct ShutdownOnDrop(SdkTracerProvider, InMemoryExporter);

impl Drop for ShutdownOnDrop {
    fn drop(&mut self) {
        self.0.shutdown(TIMEOUT).unwrap();
        assert_eq!(self.1.finished_spans().len(), 1);
    }
}

#[test]
fn from_a_drop_during_a_panic() {
    let result = std::panic::catch_unwind(|| {
        let (p, e) = batch_provider();
        let _guard = ShutdownOnDrop(p.clone(), e);
        p.tracer("t")
            .in_span("doomed", |_| panic!("request handler panicked"));
    });
    assert!(
        result.is_err(),
        "the panic propagated after a clean shutdown"
    );
}

#[test]
fn the_shutdown_guard_flushes_on_drop() {
    let (p, e) = batch_provider();
    {
        let _guard = p.shutdown_guard(TIMEOUT);
        p.tracer("t").start("x").end();
    }
    assert_eq!(e.finished_spans().len(), 1);
}

#[test]
fn with_an_exporter_that_hangs_forever_the_timeout_wins() {
    let exporter = GatedExporter::default();
    let p = SdkTracerProvider::builder()
        .with_env(Env::from_pairs([("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "1")]))
        .with_batch_exporter(exporter.clone())
        .build();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        p.tracer("t").start("stuck").end();
        exporter.wait_entered(1);
        let started = Instant::now();
        let err = p.shutdown(Duration::from_millis(300)).unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(err.spans_lost(), 1);
    });
}
