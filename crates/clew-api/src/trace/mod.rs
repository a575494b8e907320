//! Spans, tracers and the provider interface an SDK implements.
//!
//! Applications and libraries use the concrete handles: [`Tracer`], [`Span`],
//! [`SpanHandle`]. An SDK implements [`TracerProvider`] (how spans start) and
//! [`SpanBackend`] (what a recording span does with the data it is given).

pub mod id;
pub(crate) mod span;
mod trace_state;
mod tracer;

use std::borrow::Cow;
use std::fmt;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

pub use id::{ParseIdError, SpanId, TraceFlags, TraceId};
pub use span::{Span, SpanHandle};
pub use trace_state::{TraceState, TraceStateError};
pub use tracer::{InSpan, SpanBuilder, Tracer};

/// Grammar checks for trace-state keys and values, for SDKs and samplers that
/// build trace states themselves.
pub mod trace_state_grammar {
    pub use super::trace_state::{is_valid_key, is_valid_value, MAX_MEMBERS};
}

use crate::attribute::KeyValue;
use crate::context::Context;
use crate::time::Timestamp;

/// The identity of a span as it crosses process boundaries.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct SpanContext {
    trace_id: TraceId,
    span_id: SpanId,
    trace_flags: TraceFlags,
    is_remote: bool,
    trace_state: TraceState,
}

impl SpanContext {
    /// The invalid span context: what a span has when there is no trace.
    pub const INVALID: SpanContext = SpanContext {
        trace_id: TraceId::INVALID,
        span_id: SpanId::INVALID,
        trace_flags: TraceFlags::NONE,
        is_remote: false,
        trace_state: TraceState::NONE,
    };

    /// Assembles a span context.
    pub const fn new(
        trace_id: TraceId,
        span_id: SpanId,
        trace_flags: TraceFlags,
        is_remote: bool,
        trace_state: TraceState,
    ) -> SpanContext {
        SpanContext {
            trace_id,
            span_id,
            trace_flags,
            is_remote,
            trace_state,
        }
    }

    /// The trace this span belongs to.
    pub const fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The span's own id.
    pub const fn span_id(&self) -> SpanId {
        self.span_id
    }

    /// The W3C trace flags.
    pub const fn trace_flags(&self) -> TraceFlags {
        self.trace_flags
    }

    /// True when the context was extracted from a carrier rather than created here.
    pub const fn is_remote(&self) -> bool {
        self.is_remote
    }

    /// The vendor trace state.
    pub const fn trace_state(&self) -> &TraceState {
        &self.trace_state
    }

    /// True when both ids are non-zero.
    pub const fn is_valid(&self) -> bool {
        self.trace_id.is_valid() && self.span_id.is_valid()
    }

    /// True when the sampled flag is set.
    pub const fn is_sampled(&self) -> bool {
        self.trace_flags.is_sampled()
    }

    /// This context with another trace state.
    pub fn with_trace_state(mut self, trace_state: TraceState) -> SpanContext {
        self.trace_state = trace_state;
        self
    }

    /// This context with other flags.
    pub fn with_trace_flags(mut self, trace_flags: TraceFlags) -> SpanContext {
        self.trace_flags = trace_flags;
        self
    }
}

/// What a span represents in its trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum SpanKind {
    /// An internal operation (the default).
    #[default]
    Internal,
    /// The server side of a synchronous remote call.
    Server,
    /// The client side of a synchronous remote call.
    Client,
    /// The creator of an asynchronous message.
    Producer,
    /// The processor of an asynchronous message.
    Consumer,
}

impl SpanKind {
    /// The lower-case name used by the specification and by exporters that print spans.
    pub const fn as_str(self) -> &'static str {
        match self {
            SpanKind::Internal => "internal",
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
        }
    }
}

/// A span's outcome.
///
/// Precedence follows the specification: `Ok` is final, `Error` replaces
/// `Unset`, and setting `Unset` is ignored. See [`Status::merge`].
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Status {
    /// No outcome recorded (the default).
    #[default]
    Unset,
    /// The operation was validated as successful. Final.
    Ok,
    /// The operation failed.
    Error {
        /// Why it failed.
        description: Cow<'static, str>,
    },
}

impl Status {
    /// An error status with a description.
    pub fn error(description: impl Into<Cow<'static, str>>) -> Status {
        Status::Error {
            description: description.into(),
        }
    }

    /// Applies `new` on top of `self` with the specification's precedence:
    /// `Ok` stays, `Unset` changes nothing, anything else replaces.
    pub fn merge(&mut self, new: Status) {
        match (&*self, new) {
            (Status::Ok, _) | (_, Status::Unset) => {}
            (_, new) => *self = new,
        }
    }
}

/// A timestamped annotation on a span.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Event {
    /// The event's name.
    pub name: Cow<'static, str>,
    /// When it happened.
    pub timestamp: Timestamp,
    /// What describes it.
    pub attributes: Vec<KeyValue>,
}

impl Event {
    /// An event with the given fields.
    pub fn new(
        name: impl Into<Cow<'static, str>>,
        timestamp: impl Into<Timestamp>,
        attributes: Vec<KeyValue>,
    ) -> Event {
        Event {
            name: name.into(),
            timestamp: timestamp.into(),
            attributes,
        }
    }

    /// The event's fields, moved out: its name, timestamp and attributes.
    #[inline]
    pub fn into_parts(self) -> (Cow<'static, str>, Timestamp, Vec<KeyValue>) {
        let Event {
            name,
            timestamp,
            attributes,
        } = self;
        (name, timestamp, attributes)
    }
}

/// A reference from a span to another span, possibly in another trace.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Link {
    /// The linked span.
    pub span_context: SpanContext,
    /// What describes the link.
    pub attributes: Vec<KeyValue>,
}

impl Link {
    /// A link to `span_context`.
    pub fn new(span_context: SpanContext, attributes: Vec<KeyValue>) -> Link {
        Link {
            span_context,
            attributes,
        }
    }
}

/// The library, module or component that produces spans.
#[derive(Clone, Debug, PartialEq, Default)]
#[non_exhaustive]
pub struct InstrumentationScope {
    /// The scope's name, usually the crate or module path.
    pub name: Cow<'static, str>,
    /// The scope's version.
    pub version: Option<Cow<'static, str>>,
    /// The semantic-conventions schema the scope's telemetry follows.
    pub schema_url: Option<Cow<'static, str>>,
    /// Attributes that describe the scope.
    pub attributes: Vec<KeyValue>,
}

impl InstrumentationScope {
    /// A scope with only a name.
    pub fn new(name: impl Into<Cow<'static, str>>) -> InstrumentationScope {
        InstrumentationScope {
            name: name.into(),
            ..Default::default()
        }
    }

    /// A copy of this scope that lives as long as the process, shared by
    /// every caller that interns an equal scope: what [`Tracer`]s hand to
    /// their provider, so that spans can refer to their scope without a
    /// reference count. Each distinct scope is kept once, for the life of
    /// the process (every tracer interns its scope when it is made), so
    /// scopes should come from a bounded set, as crate and module names do:
    /// a tracer per request with a name made per request keeps each name.
    pub fn intern(&self) -> &'static InstrumentationScope {
        static REGISTRY: std::sync::Mutex<Vec<&'static InstrumentationScope>> =
            std::sync::Mutex::new(Vec::new());
        let mut registry = REGISTRY
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(found) = registry.iter().find(|s| **s == self) {
            return found;
        }
        let leaked: &'static InstrumentationScope = Box::leak(Box::new(self.clone()));
        registry.push(leaked);
        leaked
    }

    /// Starts building a scope.
    pub fn builder(name: impl Into<Cow<'static, str>>) -> InstrumentationScopeBuilder {
        InstrumentationScopeBuilder(InstrumentationScope::new(name))
    }
}

/// Builds an [`InstrumentationScope`].
#[derive(Debug)]
pub struct InstrumentationScopeBuilder(InstrumentationScope);

impl InstrumentationScopeBuilder {
    /// Sets the version.
    pub fn with_version(mut self, version: impl Into<Cow<'static, str>>) -> Self {
        self.0.version = Some(version.into());
        self
    }

    /// Sets the schema URL.
    pub fn with_schema_url(mut self, schema_url: impl Into<Cow<'static, str>>) -> Self {
        self.0.schema_url = Some(schema_url.into());
        self
    }

    /// Sets the attributes.
    pub fn with_attributes(mut self, attributes: impl IntoIterator<Item = KeyValue>) -> Self {
        self.0.attributes = attributes.into_iter().collect();
        self
    }

    /// The finished scope.
    pub fn build(self) -> InstrumentationScope {
        self.0
    }
}

/// Everything known about a span when it starts, handed to the provider.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SpanStart {
    /// The span's name.
    pub name: Cow<'static, str>,
    /// The span's kind.
    pub kind: SpanKind,
    /// Attributes known at start (samplers see these).
    pub attributes: Vec<KeyValue>,
    /// Links known at start (samplers see these).
    pub links: Vec<Link>,
    /// An explicit start time; `None` means now.
    pub start_time: Option<Timestamp>,
}

impl SpanStart {
    /// An internal span with no attributes or links, starting now.
    pub fn new(name: impl Into<Cow<'static, str>>) -> SpanStart {
        SpanStart {
            name: name.into(),
            kind: SpanKind::Internal,
            attributes: Vec::new(),
            links: Vec::new(),
            start_time: None,
        }
    }
}

/// A [`SpanStart`] owned where it lies, handed to
/// [`TracerProvider::start_span_in_place`] as a pointer: a builder's start
/// (96 bytes) then reaches the provider without being copied on each call
/// on the way, which copied it three times (a recorded span with 4
/// attributes: about 10 instructions fewer, net, through a discarding
/// processor, 1,048–1,053 → 1,039).
/// Read it through `Deref`, move it out with [`take`](Self::take), or drop
/// it, which drops the start where it lies.
pub struct StartInPlace<'a> {
    start: &'a mut ManuallyDrop<SpanStart>,
}

impl<'a> StartInPlace<'a> {
    /// # Safety
    /// `start` must hold a start that nothing reads, takes or drops after
    /// this call, except through the returned value.
    #[inline(always)]
    pub(crate) unsafe fn new(start: &'a mut ManuallyDrop<SpanStart>) -> Self {
        StartInPlace { start }
    }

    /// The start, moved out.
    #[inline(always)]
    pub fn take(self) -> SpanStart {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: the start is owned (see `new`), and `this`, never dropped,
        // takes it exactly once.
        unsafe { ManuallyDrop::take(this.start) }
    }
}

impl Deref for StartInPlace<'_> {
    type Target = SpanStart;
    #[inline(always)]
    fn deref(&self) -> &SpanStart {
        self.start
    }
}

impl DerefMut for StartInPlace<'_> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut SpanStart {
        self.start
    }
}

impl Drop for StartInPlace<'_> {
    fn drop(&mut self) {
        // SAFETY: owned and not taken (`take` skips this `Drop`).
        unsafe { ManuallyDrop::drop(self.start) }
    }
}

impl fmt::Debug for StartInPlace<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self.start, f)
    }
}

/// What an SDK implements to receive spans.
///
/// The API calls [`start_span`](TracerProvider::start_span) for every span a
/// [`Tracer`] starts while this provider is in charge. Later additions to this
/// trait come with default bodies, so implementations keep compiling.
pub trait TracerProvider: Send + Sync + fmt::Debug + 'static {
    /// Starts a span for `scope` as a child of `parent`.
    ///
    /// Return [`Span::non_recording`] for spans that are not sampled; it must
    /// carry a fresh span id and the parent's trace id.
    fn start_span(
        &self,
        scope: &'static InstrumentationScope,
        start: SpanStart,
        parent: &Context,
    ) -> Span;

    /// Starts an internal span that has only a name and starts now, as
    /// [`Tracer::start`] and [`Tracer::in_span`] make it: the same as
    /// `start_span` with [`SpanStart::new(name)`](SpanStart::new), which is
    /// what the default does. A provider overrides it to skip building the
    /// start for a span it will not record.
    fn start_named_span(
        &self,
        scope: &'static InstrumentationScope,
        name: Cow<'static, str>,
        parent: &Context,
    ) -> Span {
        self.start_span(scope, SpanStart::new(name), parent)
    }

    /// Starts a span from a builder's start, where it lies: the same as
    /// [`start_span`](TracerProvider::start_span) with
    /// [`start.take()`](StartInPlace::take), which is what the default
    /// does. [`SpanBuilder`] starts its spans here; a provider overrides it
    /// to read the start in place and skip the copy of it into the call.
    fn start_span_in_place(
        &self,
        scope: &'static InstrumentationScope,
        start: StartInPlace<'_>,
        parent: &Context,
    ) -> Span {
        self.start_span(scope, start.take(), parent)
    }
}

/// A provider that records nothing: every span is non-recording and carries
/// its parent's context. It is what the API behaves like before an SDK is
/// installed, available as a value for tests and for switching tracing off.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopTracerProvider;

impl TracerProvider for NoopTracerProvider {
    fn start_span(
        &self,
        _scope: &'static InstrumentationScope,
        _start: SpanStart,
        parent: &Context,
    ) -> Span {
        Span::non_recording(parent.span_context().clone())
    }
}

/// The recording side of a span, implemented by an SDK.
///
/// Every method takes `&self`: a span is shared between its owner and the
/// contexts it is active in, and may be touched from several threads.
/// Calls after [`end`](SpanBackend::end) must be ignored.
pub trait SpanBackend: Send + Sync + fmt::Debug + 'static {
    /// The span's identity, fixed at start. The API reads it once, when
    /// the span is made ([`Span::new`]), and keeps the reference for as
    /// long as it holds the backend: it must point into the backend (or
    /// into something that outlives it) and never change.
    fn span_context(&self) -> &SpanContext;
    /// False once the span has ended.
    fn is_recording(&self) -> bool;
    /// Sets one attribute, replacing an existing one with the same key.
    fn set_attribute(&self, attribute: KeyValue);
    /// Sets several attributes.
    fn set_attributes(&self, attributes: Vec<KeyValue>) {
        for attribute in attributes {
            self.set_attribute(attribute);
        }
    }
    /// Adds an event.
    fn add_event(&self, event: Event);
    /// Adds a link.
    fn add_link(&self, link: Link);
    /// Sets the status. The API has already dropped `Unset`; precedence is
    /// the backend's to apply (see [`Status::merge`]).
    fn set_status(&self, status: Status);
    /// Renames the span.
    fn update_name(&self, name: Cow<'static, str>);
    /// Ends the span, now or at `timestamp`. Only the first call counts.
    fn end(&self, timestamp: Option<Timestamp>);

    /// Ends the span through the owning reference, which the backend may
    /// keep (to queue the span without copying it). The API always ends
    /// spans through this method; the default calls [`end`](Self::end).
    fn end_owned(self: Arc<Self>, timestamp: Option<Timestamp>) {
        self.end(timestamp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Equal scopes intern to one copy, unequal ones (by any field) to
    /// their own, and a tracer hands its provider the interned copy of its
    /// scope.
    #[test]
    fn equal_scopes_intern_to_one_copy() {
        let scope = || {
            InstrumentationScope::builder("interning")
                .with_version("1.0")
                .with_attributes([KeyValue::new("k", "v")])
                .build()
        };
        let first = scope().intern();
        assert!(std::ptr::eq(first, scope().intern()));
        assert_eq!(*first, scope());
        let other_attribute = InstrumentationScope::builder("interning")
            .with_version("1.0")
            .with_attributes([KeyValue::new("k", "w")])
            .build();
        let other_version = InstrumentationScope::builder("interning")
            .with_version("1.1")
            .build();
        for other in [other_attribute, other_version] {
            let interned = other.intern();
            assert!(!std::ptr::eq(first, interned));
            assert_eq!(*interned, other);
        }

        #[derive(Debug)]
        struct ScopeOf(std::sync::Mutex<Option<&'static InstrumentationScope>>);
        impl TracerProvider for ScopeOf {
            fn start_span(
                &self,
                scope: &'static InstrumentationScope,
                _: SpanStart,
                parent: &Context,
            ) -> Span {
                *self.0.lock().unwrap() = Some(scope);
                Span::non_recording(parent.span_context().clone())
            }
        }
        let provider = Arc::new(ScopeOf(std::sync::Mutex::new(None)));
        let tracer = Tracer::new(provider.clone(), scope());
        tracer.start("x").end();
        tracer.span("y").start().end();
        let seen = provider.0.lock().unwrap().take();
        assert!(seen.is_some_and(|s| std::ptr::eq(s, first)));
        assert!(std::ptr::eq(tracer.scope(), first));
    }

    #[test]
    fn status_precedence() {
        let mut s = Status::Unset;
        s.merge(Status::Unset);
        assert_eq!(s, Status::Unset);
        s.merge(Status::error("boom"));
        assert_eq!(s, Status::error("boom"));
        s.merge(Status::Unset);
        assert_eq!(s, Status::error("boom"));
        s.merge(Status::Ok);
        assert_eq!(s, Status::Ok);
        s.merge(Status::error("late"));
        assert_eq!(s, Status::Ok, "Ok is final");
    }

    #[test]
    fn span_context_validity() {
        assert!(!SpanContext::INVALID.is_valid());
        let sc = SpanContext::new(
            TraceId::from_int(1),
            SpanId::INVALID,
            TraceFlags::SAMPLED,
            false,
            TraceState::NONE,
        );
        assert!(!sc.is_valid());
        assert!(sc.is_sampled());
        let sc = sc.with_trace_flags(TraceFlags::NONE);
        assert!(!sc.is_sampled());
    }

    #[test]
    fn scope_builder() {
        let s = InstrumentationScope::builder("lib")
            .with_version("1.0")
            .with_schema_url("https://opentelemetry.io/schemas/1.44.0")
            .with_attributes([KeyValue::new("a", 1)])
            .build();
        assert_eq!(s.name, "lib");
        assert_eq!(s.version.as_deref(), Some("1.0"));
        assert_eq!(s.attributes.len(), 1);
        assert_eq!(SpanKind::Producer.as_str(), "producer");
    }
}
