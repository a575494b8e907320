//! [`Tracer`]: where spans start.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::Arc;
use std::task::{self, Poll};

use super::{
    InstrumentationScope, Link, Span, SpanHandle, SpanKind, SpanStart, StartInPlace, TracerProvider,
};
use crate::attribute::KeyValue;
use crate::context::{Context, WithContext};
use crate::time::Timestamp;

#[derive(Clone)]
enum Source {
    /// Whatever provider is installed globally at the time a span starts, so a
    /// tracer made before the SDK is installed records once it is.
    Global,
    Fixed(FixedProvider),
}

/// A tracer's own provider, and where its value lies in the allocation:
/// reading it is then a load, where an `Arc<dyn _>` computes the value's
/// offset from the alignment in its vtable on every span.
#[derive(Clone)]
struct FixedProvider {
    /// Points into `_owner`'s allocation, which `_owner` keeps alive and in
    /// place; only ever read, as a `&dyn TracerProvider`.
    provider: NonNull<dyn TracerProvider>,
    _owner: Arc<dyn TracerProvider>,
}

// SAFETY: `provider` points into `_owner`, whose value is `Send + Sync`
// (`TracerProvider`'s bounds), and is only read through a shared reference.
unsafe impl Send for FixedProvider {}
// SAFETY: as above.
unsafe impl Sync for FixedProvider {}

/// Starts spans for one instrumentation scope.
///
/// Get one with [`global::tracer`](crate::global::tracer) (follows the global
/// provider, the usual choice in libraries) or [`Tracer::new`] (a given
/// provider). Tracers are cheap to clone and to keep in a `static`. Making
/// one interns its scope ([`InstrumentationScope::intern`]: a lock and a
/// search of the scopes seen so far, and one allocation the first time a
/// scope is seen, kept for the life of the process), so scope names should
/// come from a bounded set.
#[derive(Clone)]
pub struct Tracer {
    /// Interned when the tracer is made ([`InstrumentationScope::intern`]):
    /// providers receive it as a `'static` reference, which spans keep
    /// without a reference count.
    scope: &'static InstrumentationScope,
    source: Source,
}

impl fmt::Debug for Tracer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracer")
            .field("scope", &self.scope)
            .field("global", &matches!(self.source, Source::Global))
            .finish()
    }
}

impl Tracer {
    /// A tracer bound to `provider`.
    pub fn new(provider: Arc<dyn TracerProvider>, scope: InstrumentationScope) -> Tracer {
        Tracer {
            scope: scope.intern(),
            source: Source::Fixed(FixedProvider {
                provider: NonNull::from(&*provider),
                _owner: provider,
            }),
        }
    }

    pub(crate) fn global(scope: InstrumentationScope) -> Tracer {
        Tracer {
            scope: scope.intern(),
            source: Source::Global,
        }
    }

    /// The scope this tracer reports.
    pub fn scope(&self) -> &InstrumentationScope {
        self.scope
    }

    #[inline]
    fn provider(&self) -> Option<&dyn TracerProvider> {
        match &self.source {
            Source::Global => crate::global::provider(),
            // SAFETY: `provider` points into `_owner`, which `self` holds.
            Source::Fixed(fixed) => Some(unsafe { fixed.provider.as_ref() }),
        }
    }

    /// Starts an internal span, child of the current context's span.
    #[inline]
    pub fn start(&self, name: impl Into<Cow<'static, str>>) -> Span {
        match self.provider() {
            // The no-SDK path, outside any trace: no call, no allocation.
            None if !crate::context::current_has_span() => Span::invalid(),
            None => noop_span_from_current(),
            Some(provider) => self.start_current(provider, name.into()),
        }
    }

    /// Inline: out of line, its own call and register saves cost an
    /// unsampled span 20 of its 236 instructions (the no-op span, which
    /// never reaches it, 18 -> 19 through the layout around it).
    #[inline]
    fn start_current(&self, provider: &dyn TracerProvider, name: Cow<'static, str>) -> Span {
        Context::map_current(|parent| provider.start_named_span(self.scope, name, parent))
    }

    /// Starts an internal span, child of `parent`'s span.
    pub fn start_with_context(&self, name: impl Into<Cow<'static, str>>, parent: &Context) -> Span {
        match self.provider() {
            None => Span::non_recording(parent.span_context().clone()),
            Some(provider) => provider.start_named_span(self.scope, name.into(), parent),
        }
    }

    /// A builder for a span with a kind, attributes, links, a start time or an
    /// explicit parent.
    pub fn span(&self, name: impl Into<Cow<'static, str>>) -> SpanBuilder<'_> {
        SpanBuilder {
            tracer: self,
            start: SpanStart::new(name),
            parent: None,
        }
    }

    /// Runs `f` with a new span active, then ends the span. Spans started
    /// inside `f`, on this thread, are its children.
    ///
    /// The span becomes the active span of the current context, whose
    /// baggage and values stay as they are, and the previous active span is
    /// put back when `f` returns (or unwinds). If `f` panics, the span gets
    /// an error status (`panicked`).
    #[inline]
    pub fn in_span<R>(
        &self,
        name: impl Into<Cow<'static, str>>,
        f: impl FnOnce(&SpanHandle) -> R,
    ) -> R {
        let Some(provider) = self.provider() else {
            // No SDK: the span carries the current context unchanged, so
            // there is nothing to attach.
            return f(&self.start(name));
        };
        // The same as `self.span(name).in_span(f)`, without a builder to
        // move through each step (measured: ~25 instructions per span).
        let name = name.into();
        let span =
            Context::map_current(|parent| provider.start_named_span(self.scope, name, parent));
        run_in_current(span, f)
    }

    /// Starts a span now and returns a future that runs `f`'s future with the
    /// span active on every poll, across `.await`, and ends the span when it
    /// completes (or when it is dropped unfinished).
    pub fn in_span_async<F, Fut>(&self, name: impl Into<Cow<'static, str>>, f: F) -> InSpan<Fut>
    where
        F: FnOnce(SpanHandle) -> Fut,
        Fut: Future,
    {
        self.span(name).in_span_async(f)
    }

    /// Starts a builder's span. The start is passed on where it lies: by
    /// value, it was copied into this call and again into the provider's.
    #[inline(always)]
    fn start_in_place(&self, start: StartInPlace<'_>, parent: &Context) -> Span {
        match self.provider() {
            None => non_recording_in_place(start, parent),
            Some(provider) => provider.start_span_in_place(self.scope, start, parent),
        }
    }
}

/// A builder's span without a provider: non-recording, with its parent's
/// context. Its attribute list goes back to this thread's spare lists, as
/// an SDK's finished spans' do, so the next builder span takes it again:
/// dropped, every builder span with attributes in a process without an SDK
/// made a `malloc`/`free` pair and ran each attribute's drop glue (602
/// instructions for 4 attributes and an event).
///
/// Out of line, so that the call that starts a builder's span with an SDK
/// is a bare jump into the provider: with this path inline, it saved and
/// restored five registers that only this path uses (17 instructions a
/// recorded span with a builder). Not marked cold: it is the path of every
/// builder span in a process without an SDK.
#[inline(never)]
fn non_recording_in_place(start: StartInPlace<'_>, parent: &Context) -> Span {
    let SpanStart {
        attributes, links, ..
    } = start.take();
    if attributes.capacity() != 0 {
        crate::attribute::recycle_attribute_list(attributes);
    }
    drop(links);
    if !parent.has_active_span() {
        return Span::invalid();
    }
    Span::non_recording(parent.span_context().clone())
}

/// Runs `f` with `span`, a child of the current context, as that context's
/// active span, then puts the previous one back and ends the span. (If `f`
/// unwinds, both happen as the scope and the span drop.)
#[inline]
fn run_in_current<R>(span: Span, f: impl FnOnce(&SpanHandle) -> R) -> R {
    let scope = crate::context::activate_span(span.handle());
    let result = f(&span);
    scope.end();
    span.end_at(None);
    result
}

/// Runs `f` with `cx` (the span's context, made from an explicit parent)
/// attached, then detaches it and ends the span.
#[inline]
fn run_active<R>(span: Span, cx: Context, f: impl FnOnce(&SpanHandle) -> R) -> R {
    let guard = cx.attach();
    let result = f(&span);
    drop(guard);
    span.end_at(None);
    result
}

/// Without a provider, a span is non-recording and carries its parent's
/// context, so a library behind a service with no SDK still forwards the trace.
#[inline(never)]
fn noop_span_from_current() -> Span {
    Context::map_current(|cx| Span::non_recording(cx.span_context().clone()))
}

/// Configures a span before it starts. Made by [`Tracer::span`].
///
/// Should what a step is given panic (an iterator handed to
/// [`with_attributes`](Self::with_attributes) or
/// [`with_links`](Self::with_links), a conversion into a start time), the
/// panic reaches the caller and the builder is leaked, not dropped: what it
/// held (its attribute list, an explicit parent context) is not freed. Every
/// step is cheaper for it.
#[must_use = "a span builder does nothing until started"]
pub struct SpanBuilder<'a> {
    tracer: &'a Tracer,
    start: SpanStart,
    parent: Option<Context>,
}

impl fmt::Debug for SpanBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanBuilder")
            .field("start", &self.start)
            .field("explicit_parent", &self.parent.is_some())
            .finish()
    }
}

/// Runs `grow` on `list` moved out into a local, then puts it back: the
/// builder's own address then never reaches a `Vec`'s out-of-line growth
/// path, so the compiler may keep the builder in registers instead of
/// copying it when the span starts (a recorded span with 4 attributes:
/// about 30 instructions). Should `grow` unwind, the list is dropped with
/// the local, and the builder, which is leaked then
/// ([`SpanBuilder::map_start`]), keeps an empty one.
#[inline(always)]
fn grow_apart<T>(list: &mut Vec<T>, grow: impl FnOnce(&mut Vec<T>)) {
    let mut local = std::mem::take(list);
    grow(&mut local);
    // The empty `Vec` there owns nothing.
    std::mem::forget(std::mem::replace(list, local));
}

impl<'a> SpanBuilder<'a> {
    /// Changes what the span starts with and hands the builder back. Taken
    /// apart and rebuilt, the start (96 bytes) was copied on every step; as
    /// `self` changed in place, with the builder dropped should `f` unwind,
    /// the whole builder (152 bytes) was copied through a `memcpy` call.
    #[inline(always)]
    fn map_start(self, f: impl FnOnce(&mut SpanStart)) -> Self {
        // If `f` unwinds (a panicking iterator or conversion handed to the
        // builder), the builder is leaked, not dropped (the type's
        // documentation says so). Measured with 4 attributes and an event:
        // 16 instructions a span fewer than taking the builder apart, and
        // 30 fewer than a guard that dropped it on unwinding.
        let mut this = ManuallyDrop::new(self);
        f(&mut this.start);
        ManuallyDrop::into_inner(this)
    }

    /// Sets the kind.
    #[inline]
    pub fn with_kind(self, kind: SpanKind) -> Self {
        self.map_start(|start| start.kind = kind)
    }

    /// Adds an attribute. Attributes given at start are visible to samplers.
    #[inline]
    pub fn with_attribute(self, attribute: KeyValue) -> Self {
        self.map_start(|start| grow_apart(&mut start.attributes, |list| list.push(attribute)))
    }

    /// Adds attributes.
    #[inline]
    pub fn with_attributes(self, attributes: impl IntoIterator<Item = KeyValue>) -> Self {
        self.map_start(|start| {
            let mut attributes = attributes.into_iter();
            // The room the iterator promises (an array's is exact).
            let room = attributes.size_hint().0;
            // Extended as a local: the builder's own address never reaches
            // the out-of-line growth path, so the compiler may keep the
            // builder in registers instead of copying it when it starts.
            // (Not through `grow_apart`: moved into its closure, the
            // iterator, an array and all, was copied: about 80 instructions
            // a recorded span.)
            let mut list = if start.attributes.capacity() == 0 {
                // Made at that size, from this thread's spare lists when it
                // has one: `extend` into an empty `Vec` went through the
                // general growth path. The empty `Vec` replaced owns nothing.
                std::mem::forget(std::mem::take(&mut start.attributes));
                crate::attribute::attribute_list(room)
            } else {
                let mut list = std::mem::take(&mut start.attributes);
                list.reserve(room);
                list
            };
            // The promised attributes are written one by one into the room
            // made for them: for an array, whose iterator the compiler then
            // sees through, the loop unrolls into inline moves (given to
            // `extend`, the array was built on the stack and copied in
            // through a `memcpy` call).
            for _ in 0..room {
                let Some(attribute) = attributes.next() else {
                    break;
                };
                let len = list.len();
                // SAFETY: the room for `room` more attributes was made
                // above, and at most `room` are written; each is counted as
                // soon as it is written, so a panicking iterator leaves the
                // list whole.
                unsafe {
                    list.as_mut_ptr().add(len).write(attribute);
                    list.set_len(len + 1);
                }
            }
            // Any beyond the promise. An array's iterator is spent here, as
            // the compiler can tell, so this and the array itself are gone
            // (given to `extend` unasked, the spent iterator was still
            // copied, array and all).
            if attributes.size_hint().1 != Some(0) {
                list.extend(attributes);
            }
            // The empty `Vec` there owns nothing.
            std::mem::forget(std::mem::replace(&mut start.attributes, list));
        })
    }

    /// Adds a link.
    #[inline]
    pub fn with_link(self, link: Link) -> Self {
        self.map_start(|start| grow_apart(&mut start.links, |list| list.push(link)))
    }

    /// Adds links.
    #[inline]
    pub fn with_links(self, links: impl IntoIterator<Item = Link>) -> Self {
        self.map_start(|start| grow_apart(&mut start.links, |list| list.extend(links)))
    }

    /// Sets an explicit start time.
    #[inline]
    pub fn with_start_time(self, start_time: impl Into<Timestamp>) -> Self {
        self.map_start(|start| start.start_time = Some(start_time.into()))
    }

    /// Uses `parent`'s span as the parent instead of the current context's.
    /// Pass `Context::new()` to start a new trace.
    #[inline]
    pub fn with_parent(self, parent: Context) -> Self {
        let SpanBuilder { tracer, start, .. } = self;
        SpanBuilder {
            tracer,
            start,
            parent: Some(parent),
        }
    }

    /// Makes the span the root of a new trace.
    #[inline]
    pub fn root(self) -> Self {
        self.with_parent(Context::new())
    }

    /// Starts the span.
    #[inline]
    pub fn start(self) -> Span {
        self.with_parts(|tracer, start, parent| match parent {
            Some(parent) => tracer.start_in_place(start, &parent),
            None => Context::map_current(|parent| tracer.start_in_place(start, parent)),
        })
    }

    /// Runs `f` on the builder's parts, its start owned in place (moved
    /// into `f` by value, it was copied on the way, and again into the
    /// provider's call).
    #[inline(always)]
    fn with_parts<R>(
        self,
        f: impl FnOnce(&'a Tracer, StartInPlace<'_>, Option<Context>) -> R,
    ) -> R {
        let SpanBuilder {
            tracer,
            start,
            parent,
        } = self;
        let mut start = ManuallyDrop::new(start);
        // SAFETY: `start` is not touched again but through this.
        f(tracer, unsafe { StartInPlace::new(&mut start) }, parent)
    }

    /// Starts the span and makes the context it will be active in. The
    /// current context is read in place, not cloned.
    fn start_in_context(self) -> (Span, Context) {
        self.with_parts(|tracer, start, parent| {
            let start_in = move |parent: &Context| {
                let span = tracer.start_in_place(start, parent);
                let cx = parent.with_span(span.handle());
                (span, cx)
            };
            match parent {
                Some(parent) => start_in(&parent),
                None => Context::map_current(start_in),
            }
        })
    }

    /// Runs `f` with the span active, then ends it, as
    /// [`Tracer::in_span`] does. With an explicit parent
    /// ([`with_parent`](Self::with_parent)), the parent's context with the
    /// span is attached for `f` instead, and detached afterwards.
    pub fn in_span<R>(self, f: impl FnOnce(&SpanHandle) -> R) -> R {
        if self.parent.is_none() && self.tracer.provider().is_none() {
            // No SDK and no explicit parent: the span carries the current
            // context unchanged, so there is nothing to attach.
            let span = self.tracer.start(self.start.name);
            return f(&span);
        }
        if self.parent.is_none() {
            return run_in_current(self.start(), f);
        }
        let (span, cx) = self.start_in_context();
        run_active(span, cx, f)
    }

    /// Starts the span now; the returned future runs `f`'s future with the
    /// span active on every poll and ends the span when it completes.
    pub fn in_span_async<F, Fut>(self, f: F) -> InSpan<Fut>
    where
        F: FnOnce(SpanHandle) -> Fut,
        Fut: Future,
    {
        let (span, cx) = self.start_in_context();
        let future = {
            let _guard = cx.clone().attach();
            f(span.handle())
        };
        InSpan {
            inner: WithContext::new(future, cx),
            span: Some(span),
        }
    }
}

/// The future returned by [`Tracer::in_span_async`]: polls the inner future
/// with the span's context attached and ends the span when it completes.
#[must_use = "futures do nothing unless polled"]
pub struct InSpan<F> {
    inner: WithContext<F>,
    span: Option<Span>,
}

impl<F> fmt::Debug for InSpan<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InSpan").field("span", &self.span).finish()
    }
}

impl<F: Future> Future for InSpan<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut task::Context<'_>) -> Poll<F::Output> {
        // SAFETY: `inner` is structurally pinned: it is never moved out of
        // `self` and only ever reached through this projection; `span` is not
        // pinned (it is `Unpin`) and may be taken.
        let this = unsafe { self.get_unchecked_mut() };
        let inner = unsafe { Pin::new_unchecked(&mut this.inner) };
        match inner.poll(cx) {
            Poll::Ready(output) => {
                drop(this.span.take());
                Poll::Ready(output)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
