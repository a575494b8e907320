//! The console exporter's waterfall and JSON lines.
#![allow(clippy::unwrap_used)] // reason: a failed unwrap is the test failing

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use clew_api::{KeyValue, Status};
use clew_sdk::env::Env;
use clew_sdk::export::{ConsoleExporter, ConsoleFormat};
use clew_sdk::SdkTracerProvider;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

fn provider(format: ConsoleFormat, buffer: &Buffer) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_env(Env::from_pairs([("OTEL_SERVICE_NAME", "demo")]))
        .with_simple_exporter(ConsoleExporter::with_writer(format, buffer.clone()))
        .build()
}

#[test]
fn waterfall_prints_each_trace_when_its_root_ends() {
    let buffer = Buffer::default();
    let p = provider(ConsoleFormat::Waterfall, &buffer);
    let t = p.tracer("t");
    let t0 = SystemTime::now();
    let root = t.span("process_data").with_start_time(t0).start();
    let cx = clew_api::Context::new().with_span(root.handle());
    let child = t
        .span("worker_process")
        .with_parent(cx)
        .with_start_time(t0 + Duration::from_millis(100))
        .start();
    child.set_status(Status::error("boom"));
    child.add_event("retry", vec![KeyValue::new("n", 1)]);
    child.end_with_timestamp(t0 + Duration::from_millis(490));
    assert_eq!(buffer.text(), "", "nothing until the root ends");
    root.end_with_timestamp(t0 + Duration::from_millis(500));
    let text = buffer.text();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("trace ") && lines[0].ends_with(" demo"),
        "{text}"
    );
    assert!(lines[1].starts_with("process_data "), "{text}");
    assert!(
        lines[1].contains("[========================================]"),
        "{text}"
    );
    assert!(lines[1].contains("500.0 ms"), "{text}");
    assert!(lines[2].starts_with("  worker_process"), "{text}");
    assert!(lines[2].contains("390.0 ms"), "{text}");
    assert!(
        lines[2].contains("ERROR: boom") && lines[2].contains("events: retry"),
        "{text}"
    );
    let bar = &lines[2][lines[2].find('[').unwrap()..=lines[2].find(']').unwrap()];
    assert!(
        bar.starts_with("[        ="),
        "the child's bar starts a fifth of the way in: {bar}"
    );
}

#[test]
fn open_traces_are_printed_at_shutdown() {
    let buffer = Buffer::default();
    let p = provider(ConsoleFormat::Waterfall, &buffer);
    let t = p.tracer("t");
    let root = t.start("still_running");
    let cx = clew_api::Context::new().with_span(root.handle());
    t.start_with_context("finished_child", &cx).end();
    p.shutdown(Duration::from_secs(1)).unwrap();
    assert!(
        buffer.text().contains("finished_child"),
        "{}",
        buffer.text()
    );
    std::mem::forget(root); // never ends: the test is about the child
}

#[test]
fn json_lines_are_one_object_per_span() {
    let buffer = Buffer::default();
    let p = provider(ConsoleFormat::JsonLines, &buffer);
    p.tracer("scope")
        .span("quoted \"name\"")
        .with_attributes([
            KeyValue::new("s", "a\nb"),
            KeyValue::new("n", 1.5),
            KeyValue::new("arr", vec![1i64, 2]),
        ])
        .start()
        .end();
    let text = buffer.text();
    assert_eq!(text.lines().count(), 1);
    let line = text.lines().next().unwrap();
    assert!(
        line.starts_with("{\"traceId\":\"") && line.ends_with('}'),
        "{line}"
    );
    assert!(line.contains("\"name\":\"quoted \\\"name\\\"\""), "{line}");
    assert!(line.contains("\"s\":\"a\\nb\""), "{line}");
    assert!(
        line.contains("\"n\":1.5") && line.contains("\"arr\":[1,2]"),
        "{line}"
    );
    assert!(
        line.contains("\"scope\":\"scope\"") && line.contains("\"service.name\":\"demo\""),
        "{line}"
    );
}
