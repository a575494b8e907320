//! Runs the quickstart binary itself: the waterfall with no configuration,
//! OTLP (HTTP and gRPC) to a real in-process receiver when the environment
//! says so; every run flushes and exits on its own.
#![allow(clippy::unwrap_used)] // reason: a failed unwrap is the test failing

use std::process::{Command, Output};
use std::time::Duration;

use clew_test_support::{Faults, Receiver};

/// The quickstart's spans: `process_data` and its 8 workers, and the two
/// orders (4 spans, then 2 when inventory fails).
const SPANS: usize = 15;

/// Runs the binary with `vars` and no other `OTEL_*` variable.
fn quickstart(vars: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_quickstart"));
    for (name, _) in std::env::vars() {
        if name.starts_with("OTEL_") {
            command.env_remove(name);
        }
    }
    let output = command.envs(vars.iter().copied()).output().unwrap();
    assert!(
        output.status.success(),
        "{:?}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The span names the receiver got, and the service name of the requests.
fn received(receiver: &Receiver) -> (Vec<String>, String) {
    assert!(receiver.wait_for_spans(SPANS, Duration::from_secs(5)));
    let names = receiver.spans().into_iter().map(|s| s.name).collect();
    let service = receiver.requests()[0]
        .resource_attribute("service.name")
        .unwrap()
        .to_owned();
    (names, service)
}

fn assert_the_seeds_spans(names: &[String]) {
    for expected in [
        "process_data",
        "worker_process",
        "order.process",
        "order.validate_inventory",
        "order.calculate_pricing",
        "order.charge_payment",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
}

#[test]
fn with_no_configuration_it_prints_the_waterfall() {
    let out = stdout(&quickstart(&[]));
    assert!(out.contains("order.process"), "{out}");
    assert!(out.contains("order.charge_payment"), "{out}");
    assert!(out.contains("ERROR: out of stock: rare-vinyl"), "{out}");
    assert!(
        out.contains(&format!("spans created {SPANS} exported {SPANS} dropped 0")),
        "{out}"
    );
}

#[test]
fn with_an_otlp_endpoint_it_exports_over_http_and_exits() {
    let receiver = Receiver::start(Faults::default());
    let url = receiver.base_url();
    let out = stdout(&quickstart(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &url)]));
    // No waterfall: the spans went to the collector, all before the exit.
    assert!(!out.contains("trace "), "{out}");
    assert_eq!(receiver.span_count(), SPANS);
    let (names, service) = received(&receiver);
    assert_the_seeds_spans(&names);
    assert_eq!(service, "quickstart");
}

#[test]
fn with_otel_traces_exporter_otlp_it_exports_over_grpc() {
    let receiver = Receiver::start_grpc(Faults::default());
    let url = receiver.base_url();
    quickstart(&[
        ("OTEL_TRACES_EXPORTER", "otlp"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &url),
        ("OTEL_SERVICE_NAME", "checkout"),
    ]);
    assert_eq!(receiver.span_count(), SPANS);
    let (names, service) = received(&receiver);
    assert_the_seeds_spans(&names);
    assert_eq!(service, "checkout");
}
