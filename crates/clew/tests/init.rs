//! The facade: `clew::init()` and its builder, configured from a fixed
//! environment, exporting to the in-process receiver.
#![allow(clippy::unwrap_used)] // reason: a failed unwrap is the test failing

use std::collections::BTreeMap;
use std::sync::{Mutex, Once};
use std::time::Duration;

use clew::api::{Context, KeyValue};
use clew::sdk::env::Env;
use clew::{ExporterKind, InitError};
use clew_test_support::{Faults, Receiver};

static DIAGNOSTICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn capture_diagnostics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        clew::sdk::diagnostics::set_rate_limit(Duration::ZERO);
        clew::sdk::diagnostics::set_handler(|d| DIAGNOSTICS.lock().unwrap().push(d.to_string()));
    });
}

fn diagnosed(needle: &str) -> bool {
    DIAGNOSTICS
        .lock()
        .unwrap()
        .iter()
        .any(|d| d.contains(needle))
}

fn env(pairs: &[(&str, String)]) -> Env {
    Env::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())))
}

#[test]
fn otlp_endpoint_in_the_environment_selects_otlp() {
    let receiver = Receiver::start(Faults::default());
    let telemetry = clew::builder()
        .with_env(env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.base_url()),
            ("OTEL_SERVICE_NAME", "checkout".into()),
            ("OTEL_BSP_SCHEDULE_DELAY", "60000".into()),
        ]))
        .with_default_exporter(ExporterKind::Console)
        .build()
        .unwrap();
    let tracer = telemetry.provider().tracer("facade");
    for i in 0..10 {
        tracer.in_span("op", |s| s.set_attribute(KeyValue::new("i", i)));
    }
    telemetry.shutdown().unwrap();
    assert_eq!(receiver.span_count(), 10);
    assert_eq!(
        receiver.requests()[0].resource_attribute("service.name"),
        Some("checkout")
    );
}

#[test]
fn exporter_selection() {
    capture_diagnostics();
    let processors = |pairs: &[(&str, String)], default: ExporterKind| {
        let t = clew::builder()
            .with_env(env(pairs))
            .with_default_exporter(default)
            .build()
            .unwrap();
        let n = t.provider().processor_stats().len();
        let _ = t.shutdown();
        n
    };
    assert_eq!(processors(&[], ExporterKind::None), 0);
    assert_eq!(processors(&[], ExporterKind::Console), 1);
    assert_eq!(
        processors(
            &[("OTEL_TRACES_EXPORTER", "none".into())],
            ExporterKind::Console
        ),
        0
    );
    assert_eq!(
        processors(
            &[("OTEL_TRACES_EXPORTER", "console, otlp ,console".into())],
            ExporterKind::None
        ),
        2
    );
    assert_eq!(
        processors(
            &[("OTEL_TRACES_EXPORTER", "zipkin".into())],
            ExporterKind::None
        ),
        0
    );
    assert!(diagnosed("OTEL_TRACES_EXPORTER"));
}

#[test]
fn default_service_name_yields_to_the_environment() {
    let receiver = Receiver::start(Faults::default());
    let name_of = |pairs: &[(&str, String)]| {
        let mut all = vec![("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", receiver.traces_url())];
        all.extend(pairs.iter().cloned());
        let t = clew::builder()
            .with_env(env(&all))
            .with_default_service_name("fallback")
            .build()
            .unwrap();
        t.provider().tracer("x").in_span("s", |_| {});
        t.shutdown().unwrap();
        let last = receiver.requests().last().cloned().unwrap();
        last.resource_attribute("service.name").unwrap().to_owned()
    };
    assert_eq!(name_of(&[]), "fallback");
    assert_eq!(name_of(&[("OTEL_SERVICE_NAME", "svc".into())]), "svc");
    assert_eq!(
        name_of(&[("OTEL_RESOURCE_ATTRIBUTES", "service.name=attr".into())]),
        "attr"
    );
}

#[test]
fn propagators_from_the_environment() {
    capture_diagnostics();
    let inject = |value: &str| {
        let t = clew::builder()
            .with_env(env(&[
                ("OTEL_PROPAGATORS", value.into()),
                ("OTEL_TRACES_EXPORTER", "none".into()),
            ]))
            .build()
            .unwrap();
        let mut headers = BTreeMap::new();
        t.provider().tracer("p").in_span("s", |_| {
            t.propagator()
                .unwrap()
                .inject_context(&Context::current(), &mut headers);
        });
        headers.into_keys().collect::<Vec<_>>()
    };
    assert_eq!(inject("b3"), vec!["b3"]);
    assert_eq!(
        inject("tracecontext,b3multi"),
        vec!["traceparent", "x-b3-sampled", "x-b3-spanid", "x-b3-traceid"]
    );
    assert_eq!(inject("none"), Vec::<String>::new());
    assert_eq!(inject("jaeger, xray"), vec!["uber-trace-id"]);
    assert!(diagnosed("OTEL_PROPAGATORS"));
}

#[test]
fn unusable_otlp_configuration_is_an_error_for_try_init_and_a_diagnostic_for_init() {
    capture_diagnostics();
    let grpc = env(&[
        ("OTEL_TRACES_EXPORTER", "otlp".into()),
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "https://collector.invalid:4318".into(),
        ),
        (
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
            "/nonexistent/ca.pem".into(),
        ),
    ]);
    let err = clew::builder().with_env(grpc.clone()).build().unwrap_err();
    assert!(matches!(err, InitError::Exporter(_)), "{err}");

    // `init` never fails: it installs a provider that records (so context
    // still flows) and says why nothing is exported.
    let telemetry = clew::builder().with_env(grpc.clone()).init();
    assert!(diagnosed("OTEL_EXPORTER_OTLP_CERTIFICATE"));
    assert!(
        !diagnosed("clew:"),
        "the diagnostics channel prefixes its output itself"
    );
    let span_id = clew::api::global::tracer("t").in_span("s", |s| s.span_context().span_id());
    assert!(span_id.is_valid());
    let again = clew::builder()
        .with_env(env(&[("OTEL_TRACES_EXPORTER", "none".into())]))
        .try_init();
    assert!(matches!(again, Err(InitError::AlreadyInstalled)));
    telemetry.shutdown().unwrap();
}
