//! The quickstart: `cargo run -p quickstart`.
//!
//! 1. The first seed's scenario: a `process_data` span whose work runs on a
//!    worker thread, a tokio blocking task, a rayon pool and a channel-fed
//!    worker pool; every worker span is a child of `process_data`.
//! 2. The second seed's order processing: `order.process` with
//!    `order.validate_inventory`, `order.calculate_pricing` and
//!    `order.charge_payment` (a client span), events and attributes; one
//!    order fails with an error status and an exception event.
//!
//! It starts with `clew::init`'s builder, so it honours every variable the
//! facade reads (`docs/configuration.md`). With no exporter configured it
//! prints each trace as a waterfall; with `OTEL_EXPORTER_OTLP_ENDPOINT` or
//! `OTEL_TRACES_EXPORTER=otlp` it sends OTLP instead, and it flushes before
//! it exits.
#![allow(clippy::print_stdout)] // reason: an example talks to its user

use std::error::Error;
use std::fmt;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use clew::api::context::Envelope;
use clew::api::rt::rayon::ParallelIteratorExt;
use clew::api::trace::{SpanKind, Status};
use clew::api::{global, rt, KeyValue, Tracer};
use clew::ExporterKind;
use rayon::prelude::*;

/// The whole pipeline from the environment, with the console as the
/// exporter when none is configured.
fn init_telemetry() -> clew::Telemetry {
    clew::builder()
        .with_default_exporter(ExporterKind::Console)
        .with_default_service_name("quickstart")
        .with_resource_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .with_shutdown_timeout(Duration::from_secs(5))
        // Flush on Ctrl-C or SIGTERM too.
        .with_signal_handler()
        .init()
}

fn heavy_computation(n: u64) -> u64 {
    (0..n * 10_000).fold(0u64, |acc, x| acc.wrapping_add(x * x))
}

/// The first seed: one `process_data` span, its work on four kinds of worker.
fn process_data(tracer: &Tracer, runtime: &tokio::runtime::Runtime) {
    tracer.in_span("process_data", |span| {
        span.set_attribute(KeyValue::new("data.items", 8));

        // A worker thread.
        let t = tracer.clone();
        rt::thread::spawn(move || {
            t.in_span("worker_process", |s| {
                s.set_attribute(KeyValue::new("worker.kind", "thread"));
                heavy_computation(20)
            })
        })
        .join()
        .ok();

        // A tokio blocking task.
        let t = tracer.clone();
        runtime
            .block_on(rt::tokio::spawn_blocking_on(runtime.handle(), move || {
                t.in_span("worker_process", |s| {
                    s.set_attribute(KeyValue::new("worker.kind", "spawn_blocking"));
                    heavy_computation(15)
                })
            }))
            .ok();

        // A rayon pool.
        let total: u64 = (1..=4u64)
            .into_par_iter()
            .in_current_context()
            .map(|n| {
                tracer.in_span("worker_process", |s| {
                    s.set_attribute(KeyValue::new("worker.kind", "rayon"));
                    heavy_computation(n * 3)
                })
            })
            .sum();
        span.set_attribute(KeyValue::new("data.checksum", (total % 1_000_000) as i64));

        // A channel-fed worker pool.
        let (tx, rx) = mpsc::channel::<Envelope<u64>>();
        let rx = Arc::new(Mutex::new(rx));
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let rx = Arc::clone(&rx);
                let t = tracer.clone();
                std::thread::spawn(move || loop {
                    let job = rx.lock().map(|rx| rx.recv());
                    let Ok(Ok(job)) = job else { break };
                    job.open(|n| {
                        t.in_span("worker_process", |s| {
                            s.set_attribute(KeyValue::new("worker.kind", "pool"));
                            heavy_computation(n)
                        })
                    });
                })
            })
            .collect();
        for n in [5, 10] {
            tx.send(Envelope::new(n)).ok();
        }
        drop(tx);
        for w in workers {
            w.join().ok();
        }
    });
}

#[derive(Debug)]
struct OutOfStock(Vec<&'static str>);

impl fmt::Display for OutOfStock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "out of stock: {}", self.0.join(", "))
    }
}

impl Error for OutOfStock {}

struct Pricing {
    total_cents: i64,
}

/// The second seed's order pipeline.
async fn process_order(
    tracer: &Tracer,
    order_id: &'static str,
    items: &[&'static str],
) -> Result<String, OutOfStock> {
    let item_count = items.len();
    tracer
        .span("order.process")
        .with_attributes([
            KeyValue::new("order.id", order_id),
            KeyValue::new("customer.id", "cus_42"),
            KeyValue::new("order.item_count", item_count),
        ])
        .in_span_async(|span| async move {
            let result: Result<String, OutOfStock> = async {
                tracer
                    .in_span_async("order.validate_inventory", |s| async move {
                        tokio::time::sleep(Duration::from_millis(15)).await;
                        let missing: Vec<&'static str> = items
                            .iter()
                            .copied()
                            .filter(|i| i.starts_with("rare"))
                            .collect();
                        s.add_event(
                            "inventory.checked",
                            vec![
                                KeyValue::new("inventory.available", missing.is_empty()),
                                KeyValue::new("inventory.items_checked", item_count),
                            ],
                        );
                        if missing.is_empty() {
                            Ok(())
                        } else {
                            s.set_status(Status::error("Insufficient inventory"));
                            Err(OutOfStock(missing))
                        }
                    })
                    .await?;
                let pricing = tracer
                    .in_span_async("order.calculate_pricing", |s| async move {
                        tokio::time::sleep(Duration::from_millis(8)).await;
                        let pricing = Pricing { total_cents: 4999 };
                        s.set_attributes([
                            KeyValue::new("order.subtotal_cents", 4599),
                            KeyValue::new("order.discount_cents", 0),
                            KeyValue::new("order.tax_cents", 400),
                            KeyValue::new("order.total_cents", pricing.total_cents),
                        ]);
                        pricing
                    })
                    .await;
                let charge_id = tracer
                    .span("order.charge_payment")
                    .with_kind(SpanKind::Client)
                    .in_span_async(|s| async move {
                        s.set_attributes([
                            KeyValue::new("payment.provider", "stripe"),
                            KeyValue::new("payment.amount_cents", pricing.total_cents),
                            KeyValue::new("payment.currency", "USD"),
                        ]);
                        tokio::time::sleep(Duration::from_millis(40)).await;
                        s.add_event(
                            "payment.authorized",
                            vec![KeyValue::new("payment.charge_id", "ch_9f2")],
                        );
                        "ch_9f2".to_owned()
                    })
                    .await;
                span.add_event(
                    "order.completed",
                    vec![
                        KeyValue::new("order.charge_id", charge_id.clone()),
                        KeyValue::new("order.total_cents", pricing.total_cents),
                    ],
                );
                Ok(charge_id)
            }
            .await;
            match &result {
                Ok(_) => span.set_status(Status::Ok),
                Err(e) => {
                    span.record_error(e);
                    span.set_status(Status::error(e.to_string()));
                }
            }
            result
        })
        .await
}

fn main() {
    // Flushes and shuts down when `main` returns (or on a signal).
    let telemetry = init_telemetry();
    let provider = telemetry.provider().clone();

    let tracer = global::tracer("quickstart");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("quickstart: cannot start tokio: {e}");
            return;
        }
    };

    process_data(&tracer, &runtime);
    runtime.block_on(async {
        for (order, items) in [
            ("ord_abc123", &["book", "pen"][..]),
            ("ord_def456", &["book", "rare-vinyl"][..]),
        ] {
            match process_order(&tracer, order, items).await {
                Ok(charge) => println!("{order}: charged {charge}"),
                Err(e) => println!("{order}: failed: {e}"),
            }
        }
    });
    drop(runtime);

    if let Err(e) = telemetry.shutdown() {
        eprintln!("quickstart: shutdown: {e}");
    }
    for s in provider.processor_stats() {
        println!(
            "spans created {} exported {} dropped {}",
            s.created, s.exported, s.dropped
        );
    }
}
