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
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
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
