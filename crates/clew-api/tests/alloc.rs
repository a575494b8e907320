//! Heap allocations on the hot paths, counted by a counting allocator.
//! Counts are per thread, so the test harness's own threads do not interfere.

#![allow(clippy::unwrap_used)] // reason: a failed unwrap is the test failing

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashMap;

use clew_api::propagation::{TextMapPropagator, TraceContextPropagator};
use clew_api::{global, Context};

struct Counting;

/// The size of an attribute list of 15 (48-byte attributes), which nothing
/// else in these tests allocates: live blocks of it are counted across
/// threads, so that a list kept by a thread that has exited can be seen.
const WATCHED_SIZE: usize = 15 * 48;
static WATCHED_LIVE: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

fn watch(layout: Layout, delta: i64) {
    if layout.size() == WATCHED_SIZE {
        WATCHED_LIVE.fetch_add(delta, std::sync::atomic::Ordering::Relaxed);
    }
}

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    static FREES: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        watch(layout, 1);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let _ = FREES.try_with(|c| c.set(c.get() + 1));
        watch(layout, -1);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        watch(layout, -1);
        watch(
            Layout::from_size_align(new_size, layout.align()).unwrap(),
            1,
        );
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

/// A thread's kept attribute lists are freed when it exits, and while it
/// runs they are taken again (last kept, first taken) rather than
/// allocated.
#[test]
fn kept_attribute_lists_are_freed_when_their_thread_exits() {
    use clew_api::attribute::{attribute_list, recycle_attribute_list, recycle_attribute_lists};
    use clew_api::KeyValue;
    use std::sync::atomic::Ordering;

    std::thread::spawn(|| {
        let lists: Vec<_> = (0..5).map(|_| attribute_list(15)).collect();
        assert!(lists.iter().all(|l| l.capacity() == 15));
        assert_eq!(WATCHED_LIVE.load(Ordering::Relaxed), 5);
        let addresses: Vec<_> = lists.iter().map(|l| l.as_ptr()).collect();
        let mut lists = lists.into_iter();
        let mut first = lists.next().unwrap();
        first.push(KeyValue::new("k", String::from("owned")));
        recycle_attribute_list(first);
        recycle_attribute_lists(lists);
        let (taken, n) = allocations(|| (0..5).map(|_| attribute_list(15)).collect::<Vec<_>>());
        let taken_addresses: Vec<_> = taken.iter().map(|l| l.as_ptr()).collect();
        assert_eq!(
            taken_addresses,
            addresses.iter().rev().copied().collect::<Vec<_>>()
        );
        assert!(taken.iter().all(Vec::is_empty));
        recycle_attribute_lists(taken);
        // One allocation: the `Vec` that collects them.
        assert_eq!(n, 1, "kept lists are taken again, not allocated");
        assert_eq!(WATCHED_LIVE.load(Ordering::Relaxed), 5, "kept, not freed");
    })
    .join()
    .unwrap();
    assert_eq!(WATCHED_LIVE.load(Ordering::Relaxed), 0);
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
