//! Heap allocations on the hot paths, counted by a counting allocator.
//! Counts are per thread, so the test harness's own threads do not interfere.

#![allow(clippy::unwrap_used)] // reason: a failed unwrap is the test failing

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashMap;

use clew_api::propagation::{TextMapPropagator, TraceContextPropagator};
use clew_api::{global, Context};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    static FREES: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let _ = FREES.try_with(|c| c.set(c.get() + 1));
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let before = ALLOCATIONS.with(Cell::get);
    let r = f();
    (r, ALLOCATIONS.with(Cell::get) - before)
}

/// How many blocks `f` frees on this thread.
fn frees(f: impl FnOnce()) -> u64 {
    let before = FREES.with(Cell::get);
    f();
    FREES.with(Cell::get) - before
}

/// An attribute string frees what it owns when dropped (its owned copy, the
/// last reference to a shared one) and nothing else, and a clone of an
/// owned string is a copy of its own.
#[test]
fn attribute_strings_free_what_they_own() {
    use clew_api::attribute::StringValue;
    use std::sync::Arc;

    let (owned, n) = allocations(|| StringValue::from(String::from("owned")));
    assert_eq!(n, 1);
    let (copy, n) = allocations(|| owned.clone());
    assert_eq!(n, 1, "a clone of an owned string copies it");
    assert_eq!(frees(|| drop(owned)), 1);
    assert_eq!(copy.as_str(), "owned");
    assert_eq!(frees(|| drop(copy)), 1);

    let (literal, n) = allocations(|| StringValue::from("static"));
    assert_eq!(n, 0);
    assert_eq!(frees(|| drop(literal.clone())), 0);

    let shared: Arc<str> = Arc::from("shared");
    let (value, n) = allocations(|| StringValue::from(Arc::clone(&shared)));
    assert_eq!(n, 0, "a shared string is not copied");
    assert_eq!(frees(|| drop(value.clone())), 0);
    assert_eq!(frees(|| drop(shared)), 0, "the value still holds it");
    assert_eq!(frees(|| drop(value)), 1, "the last reference frees it");
}

#[test]
fn noop_span_start_and_end_allocate_nothing() {
    let tracer = global::tracer("bench");
    tracer.start("warm").end();
    let ((), n) = allocations(|| {
        for _ in 0..1000 {
            let span = tracer.start("x");
            std::hint::black_box(&span);
            span.end();
        }
    });
    assert_eq!(n, 0);
}

#[test]
fn noop_span_under_a_remote_parent_allocates_nothing() {
    let carrier: HashMap<String, String> = [(
        "traceparent".to_owned(),
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
    )]
    .into();
    let cx = TraceContextPropagator.extract_with_context(&Context::new(), &carrier);
    let _g = cx.attach();
    let tracer = global::tracer("bench");
    let ((), n) = allocations(|| {
        for _ in 0..1000 {
            let span = tracer.start("x");
            assert!(span.span_context().is_valid());
            span.end();
        }
    });
    assert_eq!(n, 0);
}

#[test]
fn extracting_a_valid_traceparent_allocates_nothing() {
    let carrier: HashMap<String, String> = [(
        "traceparent".to_owned(),
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
    )]
    .into();
    let empty = Context::new();
    let (cx, n) = allocations(|| TraceContextPropagator.extract_with_context(&empty, &carrier));
    assert_eq!(n, 0);
    assert!(cx.span_context().is_valid());
    let (cx, n) = allocations(|| TraceContextPropagator.extract(&carrier));
    assert_eq!(n, 0);
    assert!(cx.span_context().is_remote());
}

/// Without an SDK, a builder span's attribute list goes back to the
/// thread's spare lists and the next builder span takes it again: after the
/// first, builder spans with attributes allocate nothing, what their
/// attributes own is still released, and each span still carries its
/// parent's context (none outside a trace).
#[test]
fn noop_builder_spans_reuse_their_attribute_list() {
    use clew_api::{KeyValue, Value};
    use std::sync::Arc;

    let tracer = global::tracer("bench");
    let build = |last: Value| {
        let span = tracer
            .span("x")
            .with_attributes([
                KeyValue::new("k1", "value"),
                KeyValue::new("k2", 42),
                KeyValue::new("k3", true),
                KeyValue::new("k4", last),
            ])
            .start();
        span.add_event("event", vec![]);
        let context = span.span_context().clone();
        span.end();
        context
    };
    build(Value::F64(1.5));
    let ((), n) = allocations(|| {
        for _ in 0..1000 {
            assert!(!build(Value::F64(1.5)).is_valid(), "no trace, no context");
        }
    });
    assert_eq!(n, 0);

    let shared: Arc<str> = Arc::from("shared");
    build(Value::from(Arc::clone(&shared)));
    assert_eq!(
        Arc::strong_count(&shared),
        1,
        "the attribute's value is released"
    );

    let carrier: HashMap<String, String> = [(
        "traceparent".to_owned(),
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
    )]
    .into();
    let parent = TraceContextPropagator.extract_with_context(&Context::new(), &carrier);
    let _g = parent.clone().attach();
    let ((), n) = allocations(|| {
        assert_eq!(&build(Value::F64(1.5)), parent.span_context());
    });
    assert_eq!(n, 0);
}
