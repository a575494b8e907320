//! Malformed configuration produces a diagnostic naming the variable, and a
//! documented fallback; drops and failed exports are reported too.
#![allow(clippy::unwrap_used)] // reason: a failed unwrap is the test failing

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use clew_sdk::diagnostics::{self, Diagnostic};
use clew_sdk::env::Env;
use clew_sdk::processor::BatchConfig;
use clew_sdk::SdkTracerProvider;
use common::FlakyExporter;

/// The handler is process-wide: tests that set it take turns.
static HANDLER: Mutex<()> = Mutex::new(());

#[test]
fn invalid_values_name_their_variable_and_fall_back() {
    let _turn = HANDLER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let seen: Arc<Mutex<Vec<Diagnostic>>> = Arc::default();
    let sink = seen.clone();
    diagnostics::set_rate_limit(Duration::ZERO);
    diagnostics::set_handler(move |d| sink.lock().unwrap().push(d.clone()));

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
