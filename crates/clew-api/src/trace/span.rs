//! The span handles: [`Span`] owns a span and ends it on drop, [`SpanHandle`]
//! refers to one without owning it.

use std::borrow::Cow;
use std::error::Error;
use std::fmt::{self, Write as _};
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::Arc;

use super::{Event, Link, SpanBackend, SpanContext, Status};
use crate::attribute::KeyValue;
use crate::semconv;
use crate::time::Timestamp;

/// A reference to a span that does not own it: dropping a handle never ends
/// the span. Contexts hold handles; [`Context::span`](crate::Context::span)
/// and [`current_span`](crate::trace::SpanHandle::current) return them.
///
/// Every method is a no-op on a non-recording span, and none of them panics.
#[derive(Clone)]
pub struct SpanHandle {
    inner: Inner,
}

/// The three kinds of span. "No span" has its own variant so that creating
/// and dropping one is a single write and a single compare.
#[derive(Clone)]
enum Inner {
    Invalid,
    NonRecording(SpanContext),
    Recording(Recording),
}

/// A recording span: its backend, and where the backend keeps the span's
/// context. Reading the context is then a load, not a dynamic call (a
/// child's start reads its parent's, and log lines read theirs), and the
/// handle stays the size of a span context.
#[derive(Clone)]
struct Recording {
    backend: Arc<dyn SpanBackend>,
    /// Points into `backend`'s allocation, which `backend` keeps alive and
    /// in place; [`SpanBackend::span_context`] returns it from `&self`, so
    /// no safe code can move or change it while a shared reference to the
    /// backend can exist, and this handle holds one.
    context: NonNull<SpanContext>,
}

// SAFETY: `context` points into the backend, which is `Send + Sync`; it is
// only ever read, as a `&SpanContext` (`SpanContext` is `Sync`).
unsafe impl Send for Recording {}
// SAFETY: as above.
unsafe impl Sync for Recording {}

impl Recording {
    #[inline]
    fn new(backend: Arc<dyn SpanBackend>, context: NonNull<SpanContext>) -> Recording {
        Recording { backend, context }
    }

    #[inline]
    fn span_context(&self) -> &SpanContext {
        // SAFETY: see `context`: the backend this points into lives at
        // least as long as `self`, and its span context is fixed.
        unsafe { self.context.as_ref() }
    }
}

/// The handle of "no span": invalid context, not recording.
pub(crate) static NOOP_HANDLE: SpanHandle = SpanHandle {
    inner: Inner::Invalid,
};

impl SpanHandle {
    /// A handle to a span that records nothing but carries `context`, so that
    /// children and propagators still see the trace.
    #[inline]
    pub fn non_recording(context: SpanContext) -> SpanHandle {
        SpanHandle {
            inner: if context.is_valid() {
                Inner::NonRecording(context)
            } else {
                Inner::Invalid
            },
        }
    }

    /// The handle of no span at all.
    #[inline]
    pub(crate) const fn invalid() -> SpanHandle {
        SpanHandle {
            inner: Inner::Invalid,
        }
    }

    #[inline]
    fn backend(&self) -> Option<&Arc<dyn SpanBackend>> {
        match &self.inner {
            Inner::Recording(recording) => Some(&recording.backend),
            _ => None,
        }
    }

    /// The active span of the current context, or a non-recording handle.
    pub fn current() -> SpanHandle {
        crate::Context::map_current(|cx| cx.span().clone())
    }

    /// The span's identity.
    #[inline]
    pub fn span_context(&self) -> &SpanContext {
        match &self.inner {
            Inner::Invalid => &SpanContext::INVALID,
            Inner::NonRecording(context) => context,
            Inner::Recording(recording) => recording.span_context(),
        }
    }

    /// True while the span is recording: an SDK sampled it and it has not ended.
    pub fn is_recording(&self) -> bool {
        match self.backend() {
            Some(backend) => backend.is_recording(),
            None => false,
        }
    }

    /// Sets an attribute.
    pub fn set_attribute(&self, attribute: KeyValue) {
        if let Some(backend) = self.backend() {
            backend.set_attribute(attribute);
        }
    }

    /// Sets several attributes.
    pub fn set_attributes(&self, attributes: impl IntoIterator<Item = KeyValue>) {
        if let Some(backend) = self.backend() {
            backend.set_attributes(attributes.into_iter().collect());
        }
    }

    /// Adds an event that happened now.
    #[inline]
    pub fn add_event(&self, name: impl Into<Cow<'static, str>>, attributes: Vec<KeyValue>) {
        if let Some(backend) = self.backend() {
            backend.add_event(Event::new(name, crate::time::now(), attributes));
        }
    }

    /// Adds an event that happened at `timestamp`.
    pub fn add_event_with_timestamp(
        &self,
        name: impl Into<Cow<'static, str>>,
        timestamp: impl Into<Timestamp>,
        attributes: Vec<KeyValue>,
    ) {
        if let Some(backend) = self.backend() {
            backend.add_event(Event::new(name, timestamp, attributes));
        }
    }

    /// Links this span to another span.
    pub fn add_link(&self, span_context: SpanContext, attributes: Vec<KeyValue>) {
        if let Some(backend) = self.backend() {
            backend.add_link(Link::new(span_context, attributes));
        }
    }

    /// Sets the status. `Unset` is ignored and `Ok` is final.
    pub fn set_status(&self, status: Status) {
        if let (Some(backend), false) = (self.backend(), status == Status::Unset) {
            backend.set_status(status);
        }
    }

    /// Renames the span.
    pub fn update_name(&self, name: impl Into<Cow<'static, str>>) {
        if let Some(backend) = self.backend() {
            backend.update_name(name.into());
        }
    }

    /// Records `error` as an `exception` event (`exception.type`,
    /// `exception.message`, and `exception.stacktrace` holding the error's
    /// source chain).
    ///
    /// It does not change the status; call [`set_status`](Self::set_status)
    /// too when the error fails the operation. No backtrace is captured:
    /// resolving one costs milliseconds, too much for an error path that may
    /// be hot; [`record_error_with_backtrace`](Self::record_error_with_backtrace)
    /// adds one.
    pub fn record_error<E: Error + ?Sized>(&self, error: &E) {
        self.record_error_with_attributes(error, Vec::new());
    }

    /// Like [`record_error`](Self::record_error), with the current thread's
    /// backtrace appended to `exception.stacktrace`.
    pub fn record_error_with_backtrace<E: Error + ?Sized>(&self, error: &E) {
        if !self.is_recording() {
            return;
        }
        let mut attributes = exception_attributes(std::any::type_name::<E>(), error);
        let backtrace = std::backtrace::Backtrace::force_capture();
        if let Some(kv) = attributes
            .iter_mut()
            .find(|kv| kv.key == semconv::EXCEPTION_STACKTRACE)
        {
            kv.value = format!("{}\n\nStack backtrace:\n{backtrace}", kv.value).into();
        }
        if let Some(backend) = self.backend() {
            backend.add_event(Event::new(
                semconv::EXCEPTION_EVENT_NAME,
                crate::time::now(),
                attributes,
            ));
        }
    }

    /// Like [`record_error`](Self::record_error), with extra attributes that
    /// override the generated ones on a key clash.
    pub fn record_error_with_attributes<E: Error + ?Sized>(
        &self,
        error: &E,
        attributes: Vec<KeyValue>,
    ) {
        let Some(backend) = self.backend() else {
            return;
        };
        if !backend.is_recording() {
            return;
        }
        let mut event_attributes = exception_attributes(std::any::type_name::<E>(), error);
        for extra in attributes {
            event_attributes.retain(|kv| kv.key != extra.key);
            event_attributes.push(extra);
        }
        backend.add_event(Event::new(
            semconv::EXCEPTION_EVENT_NAME,
            crate::time::now(),
            event_attributes,
        ));
    }
}

/// Builds the `exception.*` attributes for an error value.
fn exception_attributes<E: Error + ?Sized>(type_name: &'static str, error: &E) -> Vec<KeyValue> {
    let message = error.to_string();
    let mut stacktrace = String::new();
    let _ = write!(stacktrace, "{type_name}: {message}");
    let mut source = error.source();
    if source.is_some() {
        stacktrace.push_str("\n\nCaused by:");
    }
    let mut depth = 0;
    while let Some(cause) = source {
        let _ = write!(stacktrace, "\n    {depth}: {cause}");
        depth += 1;
        source = cause.source();
    }
    vec![
        KeyValue::new(semconv::EXCEPTION_TYPE, type_name),
        KeyValue::new(semconv::EXCEPTION_MESSAGE, message),
        KeyValue::new(semconv::EXCEPTION_STACKTRACE, stacktrace),
    ]
}

impl fmt::Debug for SpanHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanHandle")
            .field("context", self.span_context())
            .field("recording", &self.is_recording())
            .finish()
    }
}

/// An owned span. It ends when dropped, so a span can never be leaked open;
/// [`end_with_timestamp`](Span::end_with_timestamp) ends it at a given time.
///
/// `Span` dereferences to [`SpanHandle`] for everything else. A span dropped
/// while its thread is panicking gets an error status (`panicked`) before it
/// ends, unless its status is already `Ok`. A span ended explicitly
/// ([`end`](Span::end), [`end_with_timestamp`](Span::end_with_timestamp)) is
/// not marked, even during unwinding (in a `Drop`): the code that ended it
/// ran to that point.
pub struct Span {
    // Dropped by hand in `Drop`, so that dropping a span with no trace is a
    // single compare with no call to the handle's drop glue.
    handle: ManuallyDrop<SpanHandle>,
}

impl Span {
    /// A recording span of a backend behind a `dyn` reference.
    ///
    /// The span's context is the backend's [`SpanBackend::span_context`],
    /// read once, here. [`Span::from_backend`] does the same for a backend
    /// of a known type, without a dynamic call.
    pub fn new(backend: Arc<dyn SpanBackend>) -> Span {
        let context = NonNull::from(backend.span_context());
        Span::from_handle(SpanHandle {
            inner: Inner::Recording(Recording::new(backend, context)),
        })
    }

    /// A recording span of a backend whose type the caller knows: what an
    /// SDK returns from
    /// [`TracerProvider::start_span`](super::TracerProvider::start_span).
    #[inline]
    pub fn from_backend<B: SpanBackend>(backend: Arc<B>) -> Span {
        let context = NonNull::from(backend.span_context());
        Span::from_handle(SpanHandle {
            inner: Inner::Recording(Recording::new(backend, context)),
        })
    }

    /// The span that owns `handle`: ends it when dropped.
    #[inline]
    const fn from_handle(handle: SpanHandle) -> Span {
        Span {
            handle: ManuallyDrop::new(handle),
        }
    }

    /// A span that records nothing but carries `context`.
    #[inline]
    pub fn non_recording(context: SpanContext) -> Span {
        Span::from_handle(SpanHandle::non_recording(context))
    }

    /// A span that records nothing but carries `context`, whose ids the
    /// caller has just made and knows to be valid (an SDK's span that its
    /// sampler dropped). It skips [`non_recording`](Span::non_recording)'s
    /// check of the two ids, 18 of an unsampled span's 178 instructions
    /// (docs/benchmarks.md). Given an invalid context anyway, the span still
    /// reports that context and records nothing; only the representation of
    /// "no span" is not used.
    #[inline]
    pub fn non_recording_from_new_ids(context: SpanContext) -> Span {
        Span::from_handle(SpanHandle {
            inner: Inner::NonRecording(context),
        })
    }

    /// A span with no trace at all: what a tracer with no SDK returns outside any trace.
    #[inline]
    pub(crate) const fn invalid() -> Span {
        Span::from_handle(SpanHandle::invalid())
    }

    /// A handle to this span, for putting it in a context or passing it around.
    #[inline]
    pub fn handle(&self) -> SpanHandle {
        SpanHandle::clone(&self.handle)
    }

    /// Takes the handle out, leaving the span with nothing to end.
    fn take(&mut self) -> SpanHandle {
        std::mem::replace(&mut *self.handle, SpanHandle::invalid())
    }

    /// Ends the span now.
    #[inline]
    pub fn end(self) {
        self.end_at(None)
    }

    /// Ends the span at `timestamp` (now when `None`) with a direct call of
    /// its backend: an explicit end, never marked as panicked, even if the
    /// thread is unwinding from an earlier panic (in a `Drop`, say), since
    /// the caller's own code finished. [`end`](Span::end),
    /// [`end_with_timestamp`](Span::end_with_timestamp) and
    /// [`Tracer::in_span`](super::Tracer::in_span) end spans this way; a
    /// drop goes through the out-of-line `drop_slow` (about 20 instructions
    /// more). Spans that record nothing are dropped, by `Span`'s inline drop.
    #[inline]
    pub(crate) fn end_at(self, timestamp: Option<Timestamp>) {
        match &self.handle.inner {
            Inner::Recording(recording) => {
                // SAFETY: the backend is read out once, and `self`, which
                // owns it, is forgotten at once: it is neither dropped nor
                // used again.
                let backend = unsafe { std::ptr::read(&recording.backend) };
                std::mem::forget(self);
                backend.end_owned(timestamp);
            }
            _ => drop(self),
        }
    }

    /// Ends the span at `timestamp`. (The SDK records a `timestamp` before
    /// the span's start as its start: a span never has a negative duration.)
    pub fn end_with_timestamp(self, timestamp: impl Into<Timestamp>) {
        self.end_at(Some(timestamp.into()));
    }
}

impl Deref for Span {
    type Target = SpanHandle;
    fn deref(&self) -> &SpanHandle {
        &self.handle
    }
}

impl Drop for Span {
    #[inline]
    fn drop(&mut self) {
        // Inline: the checks that a span owns nothing, which a no-op span
        // and an unsampled span without a trace state pass; everything
        // else out of line. The second check costs the no-op span 4
        // instructions (20 → 24: the kind is then decoded in full, within
        // its target of 25) and saves an unsampled span the call, 28
        // (206 → 178). Passing the handle to the call by reference instead
        // of by value made the no-op span 31.
        if matches!(self.handle.inner, Inner::Invalid) {
            return;
        }
        if let Inner::NonRecording(context) = &self.handle.inner {
            if context.trace_state().is_empty() {
                return;
            }
        }
        drop_slow(self.take());
    }
}

/// Kept out of line so that dropping a span that owns nothing stays the
/// inline checks in `Span`'s drop.
#[inline(never)]
fn drop_slow(handle: SpanHandle) {
    if let Inner::Recording(Recording { backend, .. }) = handle.inner {
        if std::thread::panicking() {
            backend.set_status(Status::error("panicked"));
        }
        backend.end_owned(None);
    }
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Span")
            .field("context", self.handle.span_context())
            .field("recording", &self.handle.is_recording())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Inner;
    impl fmt::Display for Inner {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("connection refused")
        }
    }
    impl Error for Inner {}

    #[derive(Debug)]
    struct Outer(Inner);
    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("payment failed")
        }
    }
    impl Error for Outer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn dropping_a_non_recording_span_releases_its_trace_state() {
        use crate::trace::{SpanId, TraceFlags, TraceId, TraceState};
        let state = TraceState::from_header("vendor=value").unwrap();
        let context = |state: TraceState| {
            SpanContext::new(
                TraceId::from_int(7),
                SpanId::from_int(9),
                TraceFlags::NONE,
                true,
                state,
            )
        };
        let span = Span::non_recording(context(state.clone()));
        assert_eq!(state.sharers(), 2);
        assert_eq!(span.span_context().trace_state().header(), "vendor=value");
        span.end();
        assert_eq!(state.sharers(), 1, "the span's copy was not released");

        // Without a trace state there is nothing to release; the span
        // still carries its context until it ends.
        let span = Span::non_recording(context(TraceState::NONE));
        assert!(span.span_context().is_valid());
        assert!(!span.is_recording());
        drop(span);

        // Dropped rather than ended, through both constructors.
        drop(Span::non_recording(context(state.clone())));
        assert_eq!(state.sharers(), 1, "dropping did not release the state");
        let span = Span::non_recording_from_new_ids(context(state.clone()));
        assert_eq!(span.span_context().trace_state().header(), "vendor=value");
        drop(span);
        assert_eq!(state.sharers(), 1, "dropping did not release the state");
    }

    #[test]
    fn a_span_from_new_ids_given_an_invalid_context_still_reports_it() {
        let span = Span::non_recording_from_new_ids(SpanContext::INVALID);
        assert!(!span.span_context().is_valid());
        assert!(!span.is_recording());
        let cx = crate::Context::new().with_span(span.handle());
        assert!(!cx.span_context().is_valid());
        drop(span);
    }

    /// A backend that records whether it ended.
    #[derive(Debug)]
    struct Fixed {
        context: SpanContext,
        ended: std::sync::atomic::AtomicBool,
    }

    impl SpanBackend for Fixed {
        fn span_context(&self) -> &SpanContext {
            &self.context
        }
        fn is_recording(&self) -> bool {
            !self.ended.load(std::sync::atomic::Ordering::Relaxed)
        }
        fn set_attribute(&self, _: KeyValue) {}
        fn add_event(&self, _: Event) {}
        fn add_link(&self, _: Link) {}
        fn set_status(&self, _: Status) {}
        fn update_name(&self, _: Cow<'static, str>) {}
        fn end(&self, _: Option<Timestamp>) {
            self.ended.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// A recording handle reads its context from where the backend keeps
    /// it, through either constructor, from clones on other threads, and
    /// after the owning span has ended (the handles keep the backend).
    #[test]
    fn recording_handles_read_the_backends_context() {
        use crate::trace::{SpanId, TraceFlags, TraceId, TraceState};
        assert_eq!(
            std::mem::size_of::<SpanHandle>(),
            std::mem::size_of::<SpanContext>()
        );
        let context = |n: u64| {
            SpanContext::new(
                TraceId::from_int(u128::from(n)),
                SpanId::from_int(n),
                TraceFlags::SAMPLED,
                false,
                TraceState::from_header("k=v").unwrap(),
            )
        };
        let fixed = |n| {
            Arc::new(Fixed {
                context: context(n),
                ended: false.into(),
            })
        };
        let typed = fixed(3);
        let dynamic: Arc<dyn SpanBackend> = fixed(4);
        for (span, n, backend) in [
            (
                Span::from_backend(Arc::clone(&typed)),
                3,
                typed as Arc<dyn SpanBackend>,
            ),
            (Span::new(Arc::clone(&dynamic)), 4, dynamic),
        ] {
            assert!(std::ptr::eq(span.span_context(), backend.span_context()));
            let handle = span.handle();
            let from_thread = std::thread::spawn({
                let handle = handle.clone();
                move || handle.span_context().clone()
            });
            assert_eq!(from_thread.join().unwrap(), context(n));
            span.end();
            assert!(!backend.is_recording());
            drop(backend);
            // The handle is now the backend's last owner.
            assert_eq!(handle.span_context(), &context(n));
            assert_eq!(handle.span_context().trace_state().header(), "k=v");
        }
    }

    #[test]
    fn exception_attributes_carry_the_source_chain() {
        let attrs = exception_attributes("my::Outer", &Outer(Inner));
        assert_eq!(attrs[0].value.as_str(), Some("my::Outer"));
        assert_eq!(attrs[1].value.as_str(), Some("payment failed"));
        let st = attrs[2].value.as_str().unwrap();
        assert!(
            st.starts_with("my::Outer: payment failed\n\nCaused by:\n    0: connection refused"),
            "{st}"
        );
    }
}
