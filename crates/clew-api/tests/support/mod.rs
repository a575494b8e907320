//! A minimal recording SDK for clew-api's own tests: it proves the provider
//! traits are implementable outside the crate and lets tests see parentage.
#![allow(dead_code, unreachable_pub)]

use clew_api::time::Timestamp;
use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use clew_api::trace::{
    Event, InstrumentationScope, Link, Span, SpanBackend, SpanContext, SpanId, SpanKind, SpanStart,
    Status, TraceFlags, TraceId, Tracer, TracerProvider,
};
use clew_api::{Context, KeyValue};

#[derive(Debug, Clone)]
pub struct Finished {
    pub name: String,
    pub scope: String,
    pub context: SpanContext,
    pub parent: SpanContext,
    pub kind: SpanKind,
    pub attributes: Vec<KeyValue>,
    pub events: Vec<Event>,
    pub links: Vec<Link>,
    pub status: Status,
    pub start: Timestamp,
    pub end: Timestamp,
    pub thread: String,
}

impl Finished {
    pub fn attr(&self, key: &str) -> Option<&clew_api::Value> {
        self.attributes
            .iter()
            .find(|kv| kv.key == key)
            .map(|kv| &kv.value)
    }
}

#[derive(Debug, Default)]
struct Inner {
    finished: Mutex<Vec<Finished>>,
    next: AtomicU64,
    /// Names of spans that must not be sampled.
    drop_names: Mutex<Vec<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct Recorder(Arc<Inner>);

impl Recorder {
    pub fn new() -> Recorder {
        Recorder::default()
    }

    pub fn tracer(&self, name: &'static str) -> Tracer {
        Tracer::new(Arc::new(self.clone()), InstrumentationScope::new(name))
    }

    pub fn never_sample(&self, name: &str) {
        self.0.drop_names.lock().unwrap().push(name.to_owned());
    }

    pub fn finished(&self) -> Vec<Finished> {
        self.0.finished.lock().unwrap().clone()
    }

    pub fn get(&self, name: &str) -> Finished {
        self.finished()
            .into_iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no finished span named {name}: {:?}", self.names()))
    }

    pub fn names(&self) -> Vec<String> {
        self.finished().into_iter().map(|s| s.name).collect()
    }

    fn next_id(&self) -> u64 {
        // Distinct, non-zero, and different between recorders.
        let n = self.0.next.fetch_add(1, Ordering::Relaxed) + 1;
        n ^ ((Arc::as_ptr(&self.0) as u64) << 20)
    }
}

/// Asserts that `child` is a direct child of `parent` in the same trace.
pub fn assert_child_of(child: &Finished, parent: &Finished) {
    assert_eq!(
        child.context.trace_id(),
        parent.context.trace_id(),
        "{} is not in {}'s trace",
        child.name,
        parent.name
    );
    assert_eq!(
        child.parent.span_id(),
        parent.context.span_id(),
        "{}'s parent is not {}",
        child.name,
        parent.name
    );
}

impl TracerProvider for Recorder {
    fn start_span(
        &self,
        scope: &'static InstrumentationScope,
        start: SpanStart,
        parent: &Context,
    ) -> Span {
        let parent_sc = parent.span_context().clone();
        let trace_id = if parent_sc.is_valid() {
            parent_sc.trace_id()
        } else {
            TraceId::from_int(u128::from(self.next_id()) << 64 | u128::from(self.next_id()))
        };
        let span_id = SpanId::from_int(self.next_id());
        let sampled = !self
            .0
            .drop_names
            .lock()
            .unwrap()
            .iter()
            .any(|n| *n == start.name);
        let sc = SpanContext::new(
            trace_id,
            span_id,
            TraceFlags::NONE.with_sampled(sampled),
            false,
            parent_sc.trace_state().clone(),
        );
        if !sampled {
            return Span::non_recording(sc);
        }
        let data = Finished {
            name: start.name.into_owned(),
            scope: scope.name.to_string(),
            context: sc.clone(),
            parent: parent_sc,
            kind: start.kind,
            attributes: start.attributes,
            events: Vec::new(),
            links: start.links,
            status: Status::Unset,
            start: start.start_time.unwrap_or_else(Timestamp::now),
            end: Timestamp::UNIX_EPOCH,
            thread: std::thread::current().name().unwrap_or("?").to_owned(),
        };
        Span::new(Arc::new(RecSpan {
            context: sc,
            data: Mutex::new(Some(data)),
            recorder: self.clone(),
        }))
    }
}

#[derive(Debug)]
struct RecSpan {
    context: SpanContext,
    data: Mutex<Option<Finished>>,
    recorder: Recorder,
}

impl RecSpan {
    fn with(&self, f: impl FnOnce(&mut Finished)) {
        if let Some(d) = self.data.lock().unwrap().as_mut() {
            f(d)
        }
    }
}

impl SpanBackend for RecSpan {
    fn span_context(&self) -> &SpanContext {
        &self.context
    }
    fn is_recording(&self) -> bool {
        self.data.lock().unwrap().is_some()
    }
    fn set_attribute(&self, attribute: KeyValue) {
        self.with(|d| {
            d.attributes.retain(|kv| kv.key != attribute.key);
            d.attributes.push(attribute)
        })
    }
    fn add_event(&self, event: Event) {
        self.with(|d| d.events.push(event))
    }
    fn add_link(&self, link: Link) {
        self.with(|d| d.links.push(link))
    }
    fn set_status(&self, status: Status) {
        self.with(|d| d.status.merge(status))
    }
    fn update_name(&self, name: Cow<'static, str>) {
        self.with(|d| d.name = name.into_owned())
    }
    fn end(&self, timestamp: Option<Timestamp>) {
        if let Some(mut d) = self.data.lock().unwrap().take() {
            d.end = timestamp.unwrap_or_else(Timestamp::now);
            self.recorder.0.finished.lock().unwrap().push(d);
        }
    }
}
