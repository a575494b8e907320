//! SIGTERM flushes and shuts the provider down (the seeds' shutdown handlers).
#![allow(clippy::unwrap_used)] // reason: a failed unwrap is the test failing
#![cfg(unix)]

use std::sync::mpsc;
use std::time::Duration;

use clew_sdk::env::Env;
use clew_sdk::export::InMemoryExporter;
use clew_sdk::shutdown::on_signal_then;
use clew_sdk::SdkTracerProvider;

#[test]
fn sigterm_flushes_and_shuts_down() {
    let exporter = InMemoryExporter::new();
    let provider = SdkTracerProvider::builder()
        .with_env(Env::from_pairs([("OTEL_BSP_SCHEDULE_DELAY", "3600000")]))
        .with_batch_exporter(exporter.clone())
        .build();
    let (tx, rx) = mpsc::channel();
    let _handle = on_signal_then(provider.clone(), Duration::from_secs(5), move |sig| {
        tx.send(sig).unwrap();
    })
    .unwrap();
    provider.tracer("t").start("in-flight request").end();
    assert!(exporter.finished_spans().is_empty(), "still queued");
    signal_hook::low_level::raise(signal_hook::consts::SIGTERM).unwrap();
    let sig = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(sig, signal_hook::consts::SIGTERM);
    assert_eq!(
        exporter.finished_spans().len(),
        1,
        "flushed before the handler's continuation"
    );
    assert!(
        provider.shutdown(Duration::from_secs(1)).is_err(),
        "already shut down"
    );
}
