//! Malformed configuration produces a diagnostic naming the variable, and a
//! documented fallback; drops and failed exports are reported too.
#![allow(clippy::unwrap_used)] // reason: a failed unwrap is the test failing

mod common;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use clew_sdk::diagnostics::{self, Diagnostic};
use clew_sdk::env::Env;
use clew_sdk::processor::BatchConfig;
use clew_sdk::SdkTracerProvider;
use common::FlakyExporter;

/// The handler is process-wide: tests that set it take turns.
static HANDLER: Mutex<()> = Mutex::new(());

/// Takes the handler's turn and collects every diagnostic, unlimited.
fn collect() -> (MutexGuard<'static, ()>, Arc<Mutex<Vec<Diagnostic>>>) {
    let turn = HANDLER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let seen: Arc<Mutex<Vec<Diagnostic>>> = Arc::default();
    let sink = seen.clone();
    diagnostics::set_rate_limit(Duration::ZERO);
    diagnostics::set_handler(move |d| sink.lock().unwrap().push(d.clone()));
    (turn, seen)
}

#[test]
fn invalid_values_name_their_variable_and_fall_back() {
    let (_turn, seen) = collect();

    let env = Env::from_pairs([
        ("OTEL_TRACES_SAMPLER", "sometimes"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "lots"),
        ("OTEL_RESOURCE_ATTRIBUTES", "team=a,broken"),
        ("OTEL_SDK_DISABLED", "maybe"),
    ]);
    let p = SdkTracerProvider::builder()
        .with_env(env)
        .with_batch_exporter(FlakyExporter::default())
        .build();
    assert!(!p.is_disabled());
    assert!(p
        .sampler_description()
        .starts_with("ParentBased{root:AlwaysOn"));
    assert!(
        p.resource().get("team").is_none(),
        "a malformed OTEL_RESOURCE_ATTRIBUTES is discarded whole"
    );

    let config = BatchConfig::default().with_max_export_batch_size(1);
    let p2 = common::batch_provider(FlakyExporter::default(), config);
    for _ in 0..4 {
        p2.tracer("t").start("x").end();
        // The flaky exporter fails every other export: a flush reports it.
        if let Err(e) = p2.force_flush(Duration::from_secs(5)) {
            assert_eq!(e.spans_lost(), 1, "{e}");
        }
    }

    let seen = seen.lock().unwrap();
    let variables: Vec<&str> = seen
        .iter()
        .filter_map(|d| match d {
            Diagnostic::InvalidConfiguration { variable, .. } => Some(variable.as_str()),
            _ => None,
        })
        .collect();
    for v in [
        "OTEL_TRACES_SAMPLER",
        "OTEL_BSP_MAX_QUEUE_SIZE",
        "OTEL_RESOURCE_ATTRIBUTES",
        "OTEL_SDK_DISABLED",
    ] {
        assert!(variables.contains(&v), "no diagnostic for {v}: {seen:?}");
    }
    assert!(
        seen.iter()
            .any(|d| matches!(d, Diagnostic::ExportFailed { .. })),
        "{seen:?}"
    );
    assert!(
        seen.iter().all(|d| !d.to_string().ends_with('.')),
        "messages have no trailing period"
    );
}

#[test]
fn a_handler_that_reports_a_diagnostic_itself_does_not_deadlock() {
    let _turn = HANDLER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = seen.clone();
    diagnostics::set_rate_limit(Duration::ZERO);
    diagnostics::set_handler(move |d| {
        sink.lock().unwrap().push(d.to_string());
        if d.to_string() == "outer" {
            diagnostics::report(Diagnostic::Other("inner".into()));
        }
    });
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        diagnostics::report(Diagnostic::Other("outer".into()));
        let _ = done.send(());
    });
    assert!(
        finished.recv_timeout(Duration::from_secs(5)).is_ok(),
        "report deadlocked in a re-entrant handler"
    );
    assert_eq!(*seen.lock().unwrap(), ["outer", "inner"]);
}

/// A custom generator that only ever makes the invalid all-zero ids.
#[derive(Debug)]
struct Zeros;

impl clew_sdk::id::IdGenerator for Zeros {
    fn new_trace_id(&self) -> clew_api::trace::TraceId {
        clew_api::trace::TraceId::INVALID
    }
    fn new_span_id(&self) -> clew_api::trace::SpanId {
        clew_api::trace::SpanId::INVALID
    }
}

#[test]
fn a_generator_that_makes_invalid_ids_is_reported_and_replaced() {
    let (_turn, seen) = collect();

    let exporter = clew_sdk::export::InMemoryExporter::new();
    let p = SdkTracerProvider::builder()
        .with_env(Env::from_pairs([("X", "1")]))
        .with_id_generator(Zeros)
        .with_simple_exporter(exporter.clone())
        .build();
    let tracer = p.tracer("t");
    tracer.in_span("root", |_| tracer.start("child").end());
    let root = exporter.span("root").unwrap();
    let child = exporter.span("child").unwrap();
    assert!(root.span_context.is_valid(), "{root:?}");
    assert!(child.span_context.is_valid(), "{child:?}");
    assert_eq!(child.parent_span_id, root.span_context.span_id());

    // Unsampled spans carry valid ids as well, for children and propagation.
    let p_off = SdkTracerProvider::builder()
        .with_env(Env::from_pairs([("X", "1")]))
        .with_id_generator(Zeros)
        .with_sampler(clew_sdk::sampler::AlwaysOff)
        .build();
    let dropped = p_off.tracer("t").start("dropped");
    assert!(dropped.span_context().is_valid());
    drop(dropped);

    let seen: Vec<String> = seen.lock().unwrap().iter().map(|d| d.to_string()).collect();
    for kind in ["trace", "span"] {
        assert!(
            seen.iter()
                .any(|m| m.contains(&format!("invalid (all-zero) {kind} id"))),
            "no diagnostic for the {kind} id: {seen:?}"
        );
    }
}
