//! Span behaviour through the public API, with a recording provider.

#![allow(clippy::unwrap_used)] // reason: a failed unwrap is the test failing

mod support;

use std::borrow::Cow;
use std::error::Error;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use clew_api::time::Timestamp;
use clew_api::trace::{
    InstrumentationScope, Link, Span, SpanContext, SpanKind, SpanStart, StartInPlace, Status,
    TraceState, TracerProvider,
};
use clew_api::{Context, KeyValue, Tracer, Value};
use support::{assert_child_of, Recorder};

#[test]
fn every_kind_and_attribute_type_is_recorded() {
    let rec = Recorder::new();
    let tracer = rec.tracer("kinds");
    for (name, kind) in [
        ("internal", SpanKind::Internal),
        ("server", SpanKind::Server),
        ("client", SpanKind::Client),
        ("producer", SpanKind::Producer),
        ("consumer", SpanKind::Consumer),
    ] {
        tracer.span(name).with_kind(kind).start().end();
        assert_eq!(rec.get(name).kind, kind);
    }
    let span = tracer
        .span("attrs")
        .with_attributes([KeyValue::new("s", "v"), KeyValue::new("b", true)])
        .start();
    span.set_attribute(KeyValue::new("i", 42));
    span.set_attributes([
        KeyValue::new("f", 1.5),
        KeyValue::new("sa", vec!["x", "y"]),
        KeyValue::new("ia", vec![1i64, 2]),
        KeyValue::new("fa", vec![0.5f64]),
        KeyValue::new("ba", vec![true, false]),
        KeyValue::new("s", String::from("replaced")),
    ]);
    assert!(span.is_recording());
    drop(span);
    let s = rec.get("attrs");
    assert_eq!(s.attr("s"), Some(&Value::from("replaced")));
    assert_eq!(s.attr("b"), Some(&Value::Bool(true)));
    assert_eq!(s.attr("i"), Some(&Value::I64(42)));
    assert_eq!(s.attr("f"), Some(&Value::F64(1.5)));
    assert_eq!(s.attr("sa").unwrap().to_string(), "[\"x\",\"y\"]");
    assert_eq!(s.attr("ia"), Some(&Value::from(vec![1i64, 2])));
    assert_eq!(s.attr("fa"), Some(&Value::from(vec![0.5f64])));
    assert_eq!(s.attr("ba"), Some(&Value::from(vec![true, false])));
    assert_eq!(s.scope, "kinds");
}

#[test]
fn events_links_status_and_rename() {
    let rec = Recorder::new();
    let tracer = rec.tracer("t");
    let other = tracer.start("other");
    let other_sc = other.span_context().clone();
    drop(other);
    // Times given as `SystemTime` (as here) or as `Timestamp` both work.
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let span = tracer
        .span("old")
        .with_link(Link::new(
            other_sc.clone(),
            vec![KeyValue::new("why", "batch")],
        ))
        .with_start_time(at)
        .start();
    span.add_event("first", vec![KeyValue::new("n", 1)]);
    span.add_event_with_timestamp("second", at, vec![]);
    span.add_link(other_sc.clone(), vec![]);
    span.set_status(Status::error("bad"));
    span.set_status(Status::Unset);
    span.update_name("new");
    span.end_with_timestamp(at + Duration::from_millis(5));
    let s = rec.get("new");
    assert_eq!(
        s.events.iter().map(|e| &*e.name).collect::<Vec<_>>(),
        ["first", "second"]
    );
    assert_eq!(s.events[1].timestamp, Timestamp::from(at));
    assert_eq!(s.links.len(), 2);
    assert_eq!(s.links[0].span_context, other_sc);
    assert_eq!(s.links[0].attributes[0].key, "why");
    assert_eq!(s.status, Status::error("bad"), "Unset is ignored");
    assert_eq!(s.start, Timestamp::from(at));
    assert_eq!(s.end, Timestamp::from(at) + Duration::from_millis(5));
}

/// Each builder step keeps what the steps before it set: the builder is
/// taken apart and rebuilt at every step (clew-api's `map_start`), so a
/// field left out of the rebuild would be lost here.
#[test]
fn every_builder_step_keeps_the_earlier_ones() {
    let rec = Recorder::new();
    let tracer = rec.tracer("t");
    let first_parent = tracer.start("first_parent");
    let parent = tracer.start("parent");
    let linked = tracer.start("linked");
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    tracer
        .span("built")
        .with_parent(Context::new().with_span(first_parent.handle()))
        .with_kind(SpanKind::Producer)
        .with_attribute(KeyValue::new("one", 1))
        // Added to a list that already holds one: the path that does not
        // make a fresh list.
        .with_attributes([KeyValue::new("two", 2), KeyValue::new("three", 3)])
        .with_link(Link::new(linked.span_context().clone(), vec![]))
        .with_links([Link::new(linked.span_context().clone(), vec![])])
        .with_start_time(at)
        // A second parent replaces the first.
        .with_parent(Context::new().with_span(parent.handle()))
        .with_attributes(Vec::from([KeyValue::new("four", 4)]))
        .start()
        .end();
    let built = rec.get("built");
    assert_eq!(built.kind, SpanKind::Producer);
    assert_eq!(
        built
            .attributes
            .iter()
            .map(|kv| kv.key.as_str())
            .collect::<Vec<_>>(),
        ["one", "two", "three", "four"]
    );
    assert_eq!(built.links.len(), 2);
    assert_eq!(built.start, Timestamp::from(at));
    assert_eq!(&built.parent, parent.span_context());
}

/// An iterator that promises `claimed` items at least and yields `items`.
struct Promising {
    claimed: usize,
    items: std::vec::IntoIter<KeyValue>,
}

impl Iterator for Promising {
    type Item = KeyValue;
    fn next(&mut self) -> Option<KeyValue> {
        self.items.next()
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.claimed, None)
    }
}

/// A builder writes the attributes its iterator promises straight into the
/// list's room (`SpanBuilder::with_attributes`) and extends it with any
/// beyond: whatever the iterator promises, too little (a filter promises
/// none), exactly, or more than it yields, every attribute arrives once,
/// in order, owned values included.
#[test]
fn builder_attributes_arrive_whatever_the_iterator_promises() {
    let rec = Recorder::new();
    let tracer = rec.tracer("t");
    let owned = |k: &'static str| KeyValue::new(k, String::from(k));
    let promising = |claimed: usize, keys: &[&'static str]| Promising {
        claimed,
        items: keys
            .iter()
            .map(|&k| owned(k))
            .collect::<Vec<_>>()
            .into_iter(),
    };
    tracer
        .span("promises")
        .with_attributes(
            (0..6)
                .filter(|i| i % 2 == 0)
                .map(|i| KeyValue::new(["a", "b", "c", "d", "e", "f"][i], i as i64)),
        )
        .with_attributes(promising(5, &["over1", "over2"]))
        .with_attributes(promising(1, &["under1", "under2", "under3"]))
        .with_attributes(promising(0, &[]))
        .with_attributes(vec![owned("vec1"), owned("vec2")])
        .with_attributes([owned("arr")])
        .start()
        .end();
    let span = rec.get("promises");
    assert_eq!(
        span.attributes
            .iter()
            .map(|kv| kv.key.as_str())
            .collect::<Vec<_>>(),
        ["a", "c", "e", "over1", "over2", "under1", "under2", "under3", "vec1", "vec2", "arr"]
    );
    assert_eq!(span.attr("under3"), Some(&Value::from("under3")));
    // An iterator that panics after writing some of what it promised: the
    // attributes written so far are dropped once, with the builder's list.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tracer
            .span("never")
            .with_attributes((0..4).map(|i| {
                assert!(i < 2, "the iterator fails");
                owned(["w", "x", "y", "z"][i])
            }))
            .start()
    }));
    assert!(result.is_err());
    tracer.start("after").end();
    assert_eq!(rec.names(), ["promises", "after"]);
}

/// A panic in what a builder step is given (here an attribute iterator)
/// reaches the caller; the builder is given up (leaked, not dropped: see
/// `SpanBuilder::with_attributes`), no span starts, and the tracer and the
/// current context work as before.
#[test]
fn a_panicking_attribute_iterator_in_a_builder_reaches_the_caller() {
    let rec = Recorder::new();
    let tracer = rec.tracer("t");
    let parent = tracer.start("parent");
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tracer
            .span(String::from("never"))
            .with_parent(Context::new().with_span(parent.handle()))
            .with_attribute(KeyValue::new("kept", String::from("owned")))
            .with_attributes((0..3).map(|i| {
                assert!(i < 2, "the iterator fails");
                KeyValue::new("n", i)
            }))
            .start()
    }));
    assert!(result.is_err());
    assert!(!Context::current().has_active_span());
    tracer
        .span("after")
        .with_attributes([KeyValue::new("k", 1)])
        .start()
        .end();
    parent.end();
    assert_eq!(rec.names(), ["after", "parent"]);
}

#[test]
fn span_ends_once_when_dropped_and_stops_recording() {
    let rec = Recorder::new();
    let tracer = rec.tracer("t");
    let span = tracer.start("s");
    let handle = span.handle();
    assert!(handle.is_recording());
    drop(span);
    assert!(
        !handle.is_recording(),
        "is_recording becomes false after end"
    );
    handle.set_attribute(KeyValue::new("late", 1));
    assert_eq!(rec.finished().len(), 1);
    assert!(rec.get("s").attr("late").is_none());
}

#[derive(Debug)]
struct Io;
impl fmt::Display for Io {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection reset")
    }
}
impl Error for Io {}

#[derive(Debug)]
struct PaymentError(Io);
impl fmt::Display for PaymentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("card declined")
    }
}
impl Error for PaymentError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.0)
    }
}

#[test]
fn record_error_adds_an_exception_event_with_the_source_chain() {
    let rec = Recorder::new();
    let tracer = rec.tracer("t");
    tracer.in_span("pay", |span| {
        span.record_error(&PaymentError(Io));
        span.record_error_with_attributes(&Io, vec![KeyValue::new("exception.type", "custom")]);
    });
    let s = rec.get("pay");
    assert_eq!(s.events.len(), 2);
    let e = &s.events[0];
    assert_eq!(e.name, "exception");
    let get = |k: &str| {
        e.attributes
            .iter()
            .find(|kv| kv.key == k)
            .map(|kv| kv.value.to_string())
    };
    assert_eq!(
        get("exception.type").as_deref(),
        Some("trace::PaymentError")
    );
    assert_eq!(get("exception.message").as_deref(), Some("card declined"));
    let st = get("exception.stacktrace").unwrap();
    assert!(st.contains("Caused by:\n    0: connection reset"), "{st}");
    let overridden = &s.events[1].attributes;
    assert_eq!(
        overridden
            .iter()
            .filter(|kv| kv.key == "exception.type")
            .count(),
        1
    );
    assert_eq!(
        overridden
            .iter()
            .find(|kv| kv.key == "exception.type")
            .unwrap()
            .value,
        Value::from("custom")
    );
    tracer.in_span("with_backtrace", |span| {
        span.record_error_with_backtrace(&Io)
    });
    let bt = rec.get("with_backtrace").events[0].attributes[2]
        .value
        .to_string();
    assert!(
        bt.starts_with("trace::Io: connection reset\n\nStack backtrace:"),
        "{bt}"
    );
    // `dyn Error` works too.
    let boxed: Box<dyn Error> = Box::new(Io);
    tracer.in_span("dyn", |span| span.record_error(&*boxed));
    assert_eq!(rec.get("dyn").events.len(), 1);
}

#[test]
fn in_span_nests_and_restores_the_context() {
    let rec = Recorder::new();
    let tracer = rec.tracer("t");
    let outer_ctx = Context::current();
    tracer.in_span("parent", |parent| {
        assert_eq!(Context::current().span_context(), parent.span_context());
        tracer.in_span("child", |_| {
            tracer.start("grandchild").end();
        });
        tracer.start("second_child").end();
    });
    assert!(!Context::current().has_active_span());
    assert_eq!(Context::current().span_context(), outer_ctx.span_context());
    let (p, c, g, c2) = (
        rec.get("parent"),
        rec.get("child"),
        rec.get("grandchild"),
        rec.get("second_child"),
    );
    assert!(!p.parent.is_valid(), "parent is a root");
    assert_child_of(&c, &p);
    assert_child_of(&g, &c);
    assert_child_of(&c2, &p);
}

#[test]
fn explicit_parent_and_root() {
    let rec = Recorder::new();
    let tracer = rec.tracer("t");
    let a = tracer.start("a");
    let cx = Context::new().with_span(a.handle());
    tracer.in_span("ambient", |_| {
        tracer
            .span("explicit")
            .with_parent(cx.clone())
            .start()
            .end();
        tracer.start_with_context("explicit2", &cx).end();
        tracer.span("root").root().start().end();
    });
    drop(a);
    assert_child_of(&rec.get("explicit"), &rec.get("a"));
    assert_child_of(&rec.get("explicit2"), &rec.get("a"));
    let root = rec.get("root");
    assert!(!root.parent.is_valid());
    assert_ne!(
        root.context.trace_id(),
        rec.get("ambient").context.trace_id()
    );
}

#[test]
fn panic_inside_a_span_marks_it_as_an_error_and_restores_context() {
    let rec = Recorder::new();
    let tracer = rec.tracer("t");
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tracer.in_span("explodes", |_| panic!("boom"));
    }));
    assert!(result.is_err());
    assert_eq!(rec.get("explodes").status, Status::error("panicked"));
    assert!(
        !Context::current().has_active_span(),
        "the guard was restored while unwinding"
    );
}

#[test]
fn async_children_across_await_get_the_right_parent() {
    let rec = Recorder::new();
    let tracer = rec.tracer("t");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let t = tracer.clone();
        let a = tracer.in_span_async("order.process", |span| async move {
            tokio::time::sleep(Duration::from_millis(2)).await;
            let total = t
                .in_span_async("order.calculate_pricing", |_| async {
                    tokio::task::yield_now().await;
                    42
                })
                .await;
            span.set_attribute(KeyValue::new("order.total", total));
            t.start("after_await").end();
            total
        });
        // A concurrent sibling, interleaved on the same thread, must not steal the context.
        let t2 = tracer.clone();
        let b = tracer.in_span_async("other.request", |_| async move {
            tokio::task::yield_now().await;
            t2.start("other_child").end();
        });
        let (total, ()) = tokio::join!(a, b);
        assert_eq!(total, 42);
        assert!(!Context::current().has_active_span());
    });
    let p = rec.get("order.process");
    assert_child_of(&rec.get("order.calculate_pricing"), &p);
    assert_child_of(&rec.get("after_await"), &p);
    assert_child_of(&rec.get("other_child"), &rec.get("other.request"));
    assert_eq!(p.attr("order.total"), Some(&Value::I64(42)));
}

#[test]
fn dropping_an_unfinished_in_span_future_ends_the_span() {
    let rec = Recorder::new();
    let tracer = rec.tracer("t");
    let fut = tracer.in_span_async("cancelled", |_| std::future::pending::<()>());
    assert!(rec.finished().is_empty(), "not ended while pending");
    drop(fut);
    assert_eq!(rec.names(), ["cancelled"]);
}

#[test]
fn unsampled_spans_forward_context_but_record_nothing() {
    let rec = Recorder::new();
    rec.never_sample("quiet");
    let tracer = rec.tracer("t");
    tracer.in_span("quiet", |quiet| {
        assert!(!quiet.is_recording());
        assert!(quiet.span_context().is_valid());
        assert!(!quiet.span_context().is_sampled());
        quiet.set_attribute(KeyValue::new("ignored", 1));
        quiet.record_error(&Io);
    });
    assert!(rec.finished().is_empty());
}

#[test]
fn trace_state_is_inherited_from_a_remote_parent() {
    let rec = Recorder::new();
    let tracer = rec.tracer("t");
    let remote = SpanContext::new(
        clew_api::trace::TraceId::from_int(7),
        clew_api::trace::SpanId::from_int(9),
        clew_api::trace::TraceFlags::SAMPLED,
        true,
        TraceState::from_header("vendor=x").unwrap(),
    );
    let cx = Context::new().with_remote_span_context(remote.clone());
    tracer.start_with_context("child", &cx).end();
    let c = rec.get("child");
    assert_eq!(c.parent, remote);
    assert_eq!(c.context.trace_state().get("vendor"), Some("x"));
    assert!(c.parent.is_remote());
}

#[test]
fn context_values_are_typed_and_immutable() {
    #[derive(Debug, PartialEq)]
    struct TenantId(&'static str);
    #[derive(Debug, PartialEq)]
    struct Attempt(u32);
    let cx = Context::new()
        .with_value(TenantId("acme"))
        .with_value(Attempt(1));
    let cx2 = cx.with_value(Attempt(2));
    assert_eq!(cx.get::<Attempt>(), Some(&Attempt(1)));
    assert_eq!(cx2.get::<Attempt>(), Some(&Attempt(2)));
    assert_eq!(cx2.get::<TenantId>(), Some(&TenantId("acme")));
    assert_eq!(Context::new().get::<TenantId>(), None);
    assert!(!cx.is_telemetry_suppressed());
    assert!(cx.with_telemetry_suppressed().is_telemetry_suppressed());
    let _g = cx2.attach();
    assert_eq!(
        Context::map_current(|c| c.get::<Attempt>().map(|a| a.0)),
        Some(2)
    );
}

#[test]
fn guards_restore_in_lifo_order() {
    #[derive(Debug)]
    struct Level(u8);
    let g1 = Context::new().with_value(Level(1)).attach();
    {
        let _g2 = Context::current().with_value(Level(2)).attach();
        assert_eq!(Context::current().get::<Level>().unwrap().0, 2);
    }
    assert_eq!(Context::current().get::<Level>().unwrap().0, 1);
    drop(g1);
    assert!(Context::current().get::<Level>().is_none());
}

#[test]
fn attaching_inside_map_current_does_not_panic() {
    #[derive(Debug)]
    struct Marker;
    Context::map_current(|_| {
        let _g = Context::new().with_value(Marker).attach();
    });
    assert!(Context::current().get::<Marker>().is_none());
}

/// A thread-local whose destructor starts a span, as a library's
/// thread-local buffer flushing on thread exit might.
struct StartsASpanOnDrop(clew_api::Tracer, &'static str);

impl Drop for StartsASpanOnDrop {
    fn drop(&mut self) {
        let parent_valid = Context::map_current(|cx| cx.span_context().is_valid());
        let span = self.0.start(self.1);
        span.set_attribute(KeyValue::new("parent_valid", parent_valid));
    }
}

thread_local! {
    static PROBE: std::cell::RefCell<Option<StartsASpanOnDrop>> = const { std::cell::RefCell::new(None) };
}

#[test]
fn spans_start_from_thread_local_destructors_during_thread_teardown() {
    let rec = Recorder::new();
    // Both orders: the probe registered after the current context's
    // thread-local (destroyed first or last, depending on the platform's
    // order) and before it.
    for (name, probe_first) in [
        ("probe-after-context", false),
        ("probe-before-context", true),
    ] {
        let tracer = rec.tracer("teardown");
        std::thread::spawn(move || {
            let install = || {
                PROBE.with(|p| *p.borrow_mut() = Some(StartsASpanOnDrop(tracer.clone(), name)));
            };
            if probe_first {
                install();
            }
            let outer = tracer.start("outer");
            // Left attached when the thread ends: the guard is never dropped.
            std::mem::forget(Context::current().with_span(outer.handle()).attach());
            if !probe_first {
                install();
            }
            drop(outer);
        })
        .join()
        .expect("no panic in thread-local destructors");
        let span = rec.get(name);
        assert!(
            span.attr("parent_valid").is_some(),
            "{name}: recorded whole"
        );
    }
}

/// A context left current when its thread ends (its guard forgotten) is
/// dropped then, with the values and the span it holds; one changed and
/// restored, or never changed, leaves nothing behind.
#[test]
fn a_context_left_current_is_dropped_when_its_thread_ends() {
    struct Flag(Arc<std::sync::atomic::AtomicBool>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = Flag(Arc::clone(&dropped));
    let rec = Recorder::new();
    let tracer = rec.tracer("exit");
    let handle = std::thread::spawn(move || {
        let span = tracer.start("left_active");
        let cx = Context::current().with_value(flag).with_span(span.handle());
        std::mem::forget(cx.attach());
        span.end();
        assert!(Context::current().get::<Flag>().is_some());
    });
    handle.join().unwrap();
    assert!(
        dropped.load(std::sync::atomic::Ordering::SeqCst),
        "the context was dropped at the thread's end"
    );
    assert_eq!(rec.get("left_active").status, Status::Unset);
}

/// A provider that notes which of the two entry points each span came
/// through, and what it was given.
#[derive(Debug, Default)]
struct EntryPoints(Mutex<Vec<(&'static str, String, SpanKind, usize)>>);

impl TracerProvider for EntryPoints {
    fn start_span(
        &self,
        _scope: &'static InstrumentationScope,
        start: SpanStart,
        parent: &Context,
    ) -> Span {
        self.0.lock().unwrap().push((
            "start_span",
            start.name.into_owned(),
            start.kind,
            start.attributes.len(),
        ));
        Span::non_recording(parent.span_context().clone())
    }

    fn start_named_span(
        &self,
        _scope: &'static InstrumentationScope,
        name: Cow<'static, str>,
        parent: &Context,
    ) -> Span {
        self.0
            .lock()
            .unwrap()
            .push(("start_named_span", name.into_owned(), SpanKind::Internal, 0));
        Span::non_recording(parent.span_context().clone())
    }
}

#[test]
fn spans_with_only_a_name_start_through_the_named_entry_point() {
    let provider = Arc::new(EntryPoints::default());
    let tracer = Tracer::new(provider.clone(), InstrumentationScope::new("entry"));
    drop(tracer.start("start"));
    tracer.in_span("in_span", |_| {});
    drop(tracer.start_with_context("with_context", &Context::new()));
    drop(
        tracer
            .span("built")
            .with_kind(SpanKind::Client)
            .with_attribute(KeyValue::new("a", 1))
            .start(),
    );
    tracer.span("built_in_span").in_span(|_| {});
    let seen = provider.0.lock().unwrap().clone();
    let expected: Vec<(&str, String, SpanKind, usize)> = vec![
        ("start_named_span", "start".into(), SpanKind::Internal, 0),
        ("start_named_span", "in_span".into(), SpanKind::Internal, 0),
        (
            "start_named_span",
            "with_context".into(),
            SpanKind::Internal,
            0,
        ),
        ("start_span", "built".into(), SpanKind::Client, 1),
        ("start_span", "built_in_span".into(), SpanKind::Internal, 0),
    ];
    assert_eq!(seen, expected);
}

/// A provider that reads a builder's start where it lies, and then takes
/// it or leaves it to be dropped there.
#[derive(Debug)]
struct InPlaceReader {
    take: bool,
    seen: Mutex<Vec<(String, usize)>>,
}

impl TracerProvider for InPlaceReader {
    fn start_span(&self, _: &'static InstrumentationScope, _: SpanStart, _: &Context) -> Span {
        panic!("a builder's span starts through start_span_in_place, which this overrides")
    }

    fn start_span_in_place(
        &self,
        _scope: &'static InstrumentationScope,
        start: StartInPlace<'_>,
        parent: &Context,
    ) -> Span {
        let name = start.name.to_string();
        self.seen
            .lock()
            .unwrap()
            .push((name, start.attributes.len()));
        if self.take {
            drop(start.take());
        }
        Span::non_recording(parent.span_context().clone())
    }
}

#[test]
fn a_builders_start_reaches_the_provider_in_place_and_is_released_once() {
    let shared: Arc<str> = Arc::from("shared");
    let attribute = || KeyValue::new("k", Arc::clone(&shared));
    for take in [false, true] {
        let provider = Arc::new(InPlaceReader {
            take,
            seen: Mutex::default(),
        });
        let tracer = Tracer::new(provider.clone(), InstrumentationScope::new("in-place"));
        tracer
            .span("built")
            .with_attribute(attribute())
            .start()
            .end();
        tracer
            .span("in_span")
            .with_attribute(attribute())
            .in_span(|_| {});
        tracer
            .span("explicit")
            .with_parent(Context::new())
            .with_attributes([attribute(), attribute()])
            .in_span(|_| {});
        // Neither leaked nor dropped twice (a double drop would have
        // underflowed the count, or crashed).
        assert_eq!(Arc::strong_count(&shared), 1, "take: {take}");
        let seen = provider.seen.lock().unwrap().clone();
        let expected = [("built", 1), ("in_span", 1), ("explicit", 2)];
        let expected: Vec<(String, usize)> =
            expected.iter().map(|(n, c)| (n.to_string(), *c)).collect();
        assert_eq!(seen, expected, "take: {take}");
    }
}

#[test]
fn a_provider_with_only_start_span_receives_named_spans_through_it() {
    // `Recorder` implements `start_span` alone: the default body of
    // `start_named_span` must hand it a plain internal start.
    let rec = Recorder::new();
    let tracer = rec.tracer("default-body");
    tracer.in_span("outer", |_| {
        tracer.start("inner").end();
    });
    let outer = rec.get("outer");
    let inner = rec.get("inner");
    assert_eq!(outer.kind, SpanKind::Internal);
    assert_eq!(inner.kind, SpanKind::Internal);
    assert!(outer.attributes.is_empty() && inner.attributes.is_empty());
    assert_child_of(&inner, &outer);
}

/// `in_span` makes its span the active one of the current context and
/// keeps the rest of that context (its values, its baggage); afterwards
/// the context is what it was. Through the tracer, the builder, and a
/// builder with an explicit parent, whose context is attached instead.
#[test]
fn in_span_keeps_the_rest_of_the_current_context() {
    #[derive(Debug, PartialEq)]
    struct Tenant(&'static str);
    let rec = Recorder::new();
    let tracer = rec.tracer("t");
    let outer = tracer.start("outer");
    let _g = Context::new()
        .with_value(Tenant("acme"))
        .with_span(outer.handle())
        .attach();
    let check_inside = |span: &clew_api::trace::SpanHandle, tenant: &'static str| {
        let current = Context::current();
        assert_eq!(current.span_context(), span.span_context());
        assert_eq!(current.get::<Tenant>(), Some(&Tenant(tenant)));
    };
    tracer.in_span("by_tracer", |span| {
        check_inside(span, "acme");
        // A context attached inside is detached inside; the span is still
        // active afterwards, and still the parent.
        {
            let _inner = Context::current().with_value(Tenant("inner")).attach();
            check_inside(span, "inner");
            tracer.start("in_inner_context").end();
        }
        check_inside(span, "acme");
    });
    tracer
        .span("by_builder")
        .in_span(|span| check_inside(span, "acme"));
    let other = Context::new().with_value(Tenant("other"));
    tracer
        .span("explicit")
        .with_parent(other)
        .in_span(|span| check_inside(span, "other"));
    let after = Context::current();
    assert_eq!(after.span_context(), outer.span_context());
    assert_eq!(after.get::<Tenant>(), Some(&Tenant("acme")));
    drop(outer);
    let outer = rec.get("outer");
    assert_child_of(&rec.get("by_tracer"), &outer);
    assert_child_of(&rec.get("in_inner_context"), &rec.get("by_tracer"));
    assert_child_of(&rec.get("by_builder"), &outer);
    assert!(
        !rec.get("explicit").parent.is_valid(),
        "its parent had no span"
    );
}

/// Guards dropped out of order inside `in_span` are a misuse, but not a
/// crash: the span ends once, and `in_span` puts the previous active span
/// (none here) back into whatever context is current when it returns.
#[test]
fn in_span_survives_guards_dropped_out_of_order() {
    #[derive(Debug)]
    struct Level(u8);
    let rec = Recorder::new();
    let tracer = rec.tracer("t");
    tracer.in_span("outer", |_| {
        let g1 = Context::new().with_value(Level(1)).attach();
        let g2 = Context::new().with_value(Level(2)).attach();
        drop(g1);
        drop(g2);
        tracer.start("inside").end();
    });
    assert_eq!(rec.names().iter().filter(|n| *n == "outer").count(), 1);
    let current = Context::current();
    assert!(!current.has_active_span());
    assert_eq!(current.get::<Level>().map(|l| l.0), Some(1));
    // What the misuse left current is detached by attaching the empty
    // context, and a new span starts a new trace.
    let _clean = Context::new().attach();
    tracer.in_span("later", |_| {});
    assert!(!rec.get("later").parent.is_valid());
}

/// Inside `Context::map_current` the current context is borrowed, so
/// `in_span` cannot make its span current; the closure still runs and the
/// span is still recorded, as a child of that context.
#[test]
fn in_span_inside_map_current_runs_without_activating() {
    let rec = Recorder::new();
    let tracer = rec.tracer("t");
    let ran = Context::map_current(|_| {
        tracer.in_span("borrowed", |span| {
            assert!(span.is_recording());
            assert!(!Context::current().has_active_span());
            true
        })
    });
    assert!(ran);
    assert!(!Context::current().has_active_span());
    assert!(!rec.get("borrowed").parent.is_valid());
}

/// `in_span` marks its span as panicked only when its own closure panics,
/// not when it runs (and returns) in a destructor while the thread unwinds
/// from an earlier panic; nor does an explicit `end` or
/// `end_with_timestamp` there. A span merely dropped then is still marked.
#[test]
fn spans_ended_while_unwinding_are_not_marked_panicked() {
    struct CleansUp(Tracer);
    impl Drop for CleansUp {
        fn drop(&mut self) {
            self.0.in_span("cleanup", |_| {});
            self.0.start("ended_while_unwinding").end();
            self.0
                .start("ended_at_while_unwinding")
                .end_with_timestamp(std::time::SystemTime::now());
            drop(self.0.start("dropped_while_unwinding"));
        }
    }
    let rec = Recorder::new();
    let tracer = rec.tracer("t");
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _cleanup = CleansUp(tracer.clone());
        panic!("boom");
    }));
    assert!(result.is_err());
    assert_eq!(rec.get("cleanup").status, Status::Unset);
    assert_eq!(rec.get("ended_while_unwinding").status, Status::Unset);
    assert_eq!(rec.get("ended_at_while_unwinding").status, Status::Unset);
    assert_eq!(
        rec.get("dropped_while_unwinding").status,
        Status::error("panicked")
    );
}
