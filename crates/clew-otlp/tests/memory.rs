//! Memory stays bounded by the queue while the collector is dead or hangs:
//! live heap bytes, counted by this test binary's allocator, do not grow
//! with the number of spans created.
#![allow(clippy::unwrap_used)] // reason: a failed unwrap is the test failing

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use clew_api::KeyValue;
use clew_otlp::{OtlpConfig, OtlpExporter, Protocol};
use clew_sdk::processor::BatchConfig;
use clew_test_support::{Faults, Receiver};
use common::batch_provider;

mod common;

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator, only counting bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const MIB: isize = 1 << 20;

/// Creates spans with attributes and an event through a batch processor
/// exporting to `config`; returns the live heap bytes after 20,000 spans
/// and after 220,000 (eleven times as many).
fn live_bytes_while_exporting_to(config: OtlpConfig) -> (isize, isize) {
    let provider = batch_provider(
        OtlpExporter::new(config)
            .unwrap()
            .with_initial_backoff(Duration::from_millis(5)),
        BatchConfig::default().with_export_timeout(Duration::from_millis(300)),
    );
    let tracer = provider.tracer("memory");
    let create = |n: usize| {
        for i in 0..n {
            let span = tracer
                .span("work")
                .with_attributes([
                    KeyValue::new("http.request.method", "GET"),
                    KeyValue::new("url.path", format!("/orders/{i}")),
                    KeyValue::new("http.response.status_code", 200),
                ])
                .start();
            span.add_event("retry", vec![KeyValue::new("attempt", 1)]);
            span.end();
        }
    };
    create(20_000);
    let early = LIVE.load(Ordering::Relaxed);
    create(200_000);
    let late = LIVE.load(Ordering::Relaxed);
    let stats = provider.processor_stats()[0];
    assert_eq!(stats.created, 220_000);
    assert_eq!(stats.created, stats.exported + stats.dropped + stats.queued);
    assert!(
        stats.dropped > 100_000,
        "the collector took nothing: {stats:?}"
    );
    let _ = provider.shutdown(Duration::from_secs(2));
    (early, late)
}

fn assert_bounded((early, late): (isize, isize)) {
    // 200,000 more spans of ~400 bytes would be ~80 MiB if kept. The queue
    // (2,048 spans) and the batches in flight (4 × 512) are full after the
    // first 20,000 already; what moves after that is noise.
    assert!(
        late - early < 2 * MIB,
        "live heap grew from {} KiB to {} KiB",
        early / 1024,
        late / 1024
    );
    assert!(late < 16 * MIB, "live heap {} KiB", late / 1024);
}

#[test]
fn memory_stays_bounded_by_the_queue_when_the_collector_is_dead_or_hangs() {
    // Dead: a loopback port where nothing listens (HTTP, connection refused
    // and retried until the export timeout).
    let addr = Receiver::start(Faults::default()).addr();
    let dead = OtlpConfig::for_protocol(Protocol::HttpProtobuf)
        .with_endpoint(&format!("http://{addr}/v1/traces"))
        .unwrap();
    assert_bounded(live_bytes_while_exporting_to(dead));

    // Hanging: a gRPC collector that answers after 10 s, so every export
    // in flight times out and the queue stays full.
    let hanging = Receiver::start_grpc(Faults {
        delay: Duration::from_secs(10),
        ..Faults::default()
    });
    let config = OtlpConfig::for_protocol(Protocol::Grpc)
        .with_endpoint(&hanging.base_url())
        .unwrap();
    assert_bounded(live_bytes_while_exporting_to(config));
}
