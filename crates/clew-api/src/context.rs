//! [`Context`]: the active span, baggage and user values, immutable, with a
//! current context per thread and one-call ways to carry it across threads,
//! tasks and futures.

use std::any::{Any, TypeId};
use std::cell::{Cell, RefCell, RefMut};
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{self, Poll};

use crate::baggage::Baggage;
use crate::trace::span::NOOP_HANDLE;
use crate::trace::{SpanContext, SpanHandle};

/// An immutable set of execution-scoped values: the active span, the baggage
/// and typed user values.
///
/// Every `with_*` method returns a new context and leaves `self` unchanged.
/// The empty context does not allocate; neither does a context holding only a
/// span (an extracted remote parent, say). Cloning costs a few reference
/// count increments.
#[derive(Clone, Default)]
pub struct Context {
    span: Option<SpanHandle>,
    entries: Option<Arc<Entries>>,
}

#[derive(Clone, Default)]
struct Entries {
    baggage: Baggage,
    values: Vec<(TypeId, Arc<dyn Any + Send + Sync>)>,
    suppress_telemetry: bool,
}

static EMPTY_BAGGAGE: Baggage = Baggage::new();
static EMPTY_CONTEXT: Context = Context::new();

thread_local! {
    // A plain const-initialised cell: reading it is a couple of instructions.
    // Mutable borrows are only taken inside this module, never while user
    // code runs, so shared borrows for user closures cannot conflict. It has
    // no destructor, so it is never destroyed and reading it never checks
    // whether it was (5 of an unsampled span's 154 instructions, 12–19 of
    // three nested spans' 1,974); what a thread leaves current at its end is
    // dropped by `CLEAR_AT_EXIT`.
    static CURRENT: ManuallyDrop<RefCell<Context>> =
        const { ManuallyDrop::new(RefCell::new(Context::new())) };
    // Touched by every `attach`, which registers its destructor: at the
    // thread's end that drops the context still current, which only a
    // guard forgotten (or kept until then) leaves there. Every other change
    // of the current context is undone before its call returns.
    static CLEAR_AT_EXIT: ClearAtExit = const { ClearAtExit };
    // Mirrors `CURRENT.span.is_some()`. A `Cell<bool>` has no destructor, so
    // reading it is a single load: the no-op tracer checks it before
    // touching `CURRENT` at all.
    static HAS_SPAN: Cell<bool> = const { Cell::new(false) };
}

/// Drops the context a thread leaves current at its end (see `CURRENT`).
struct ClearAtExit;

impl Drop for ClearAtExit {
    fn drop(&mut self) {
        // Run while the thread's thread-locals are destroyed: `CURRENT` is
        // never destroyed, and this one, being destroyed, is not touched
        // again (its `try_with` in `replace_current` fails, and is ignored).
        drop(replace_current(Context::new()));
    }
}

/// True when this thread's current context has an active span.
#[inline]
pub(crate) fn current_has_span() -> bool {
    HAS_SPAN.try_with(Cell::get).unwrap_or(false)
}

#[inline]
fn note_span(cx: &Context) {
    let has_span = cx.span.is_some();
    let _ = HAS_SPAN.try_with(|h| h.set(has_span));
}

impl Context {
    /// The empty context.
    pub const fn new() -> Context {
        Context {
            span: None,
            entries: None,
        }
    }

    /// A clone of this thread's current context.
    pub fn current() -> Context {
        Context::map_current(Context::clone)
    }

    /// Calls `f` with a reference to this thread's current context, without
    /// cloning it.
    ///
    /// `f` may read the current context and start spans; if it attaches
    /// another context, that attach is ignored (the guard it returns does
    /// nothing) rather than panicking.
    #[inline]
    pub fn map_current<R>(f: impl FnOnce(&Context) -> R) -> R {
        // Only the cell's address leaves the thread-local's `with`
        // (`current_cell`), so `f` is not moved into (and back out of) its
        // closure on every call: a span start's closure carries the whole
        // `SpanStart`.
        match current_cell().try_borrow() {
            Ok(current) => f(&current),
            // Impossibly, mutably borrowed: behave as if the current context
            // were empty.
            Err(_) => f(&EMPTY_CONTEXT),
        }
    }

    /// Makes this the current context of this thread until the returned guard
    /// is dropped, which restores the previous one. Guards must be dropped in
    /// the reverse order of their creation, which scoping does naturally.
    #[inline]
    pub fn attach(self) -> ContextGuard {
        let previous = replace_current(self);
        ContextGuard {
            previous,
            _not_send: PhantomData,
        }
    }

    /// Runs `f` with this context current, then restores the previous one.
    pub fn in_scope<R>(self, f: impl FnOnce() -> R) -> R {
        let _guard = self.attach();
        f()
    }

    /// Wraps `f` so that it runs with this context current, wherever and
    /// whenever it is called: the one call that carries a context into
    /// `std::thread::spawn`, a scoped thread, a thread pool or any executor
    /// that takes a closure.
    pub fn wrap<R>(self, f: impl FnOnce() -> R) -> impl FnOnce() -> R {
        move || self.in_scope(f)
    }

    /// The active span, or a non-recording handle with an invalid context.
    #[inline]
    pub fn span(&self) -> &SpanHandle {
        self.span.as_ref().unwrap_or(&NOOP_HANDLE)
    }

    /// The active span's context, invalid when there is none.
    #[inline]
    pub fn span_context(&self) -> &SpanContext {
        match &self.span {
            Some(span) => span.span_context(),
            None => &SpanContext::INVALID,
        }
    }

    /// True when a span (local or remote) is active in this context.
    pub fn has_active_span(&self) -> bool {
        self.span.is_some()
    }

    /// This context with `span` active.
    #[inline]
    pub fn with_span(&self, span: SpanHandle) -> Context {
        Context {
            span: Some(span),
            entries: self.entries.clone(),
        }
    }

    /// This context with a remote parent, as a propagator extracts it.
    pub fn with_remote_span_context(&self, span_context: SpanContext) -> Context {
        self.with_span(SpanHandle::non_recording(span_context))
    }

    /// This context with no active span.
    pub fn without_span(&self) -> Context {
        Context {
            span: None,
            entries: self.entries.clone(),
        }
    }

    fn with_entries(&self, change: impl FnOnce(&mut Entries)) -> Context {
        let mut entries = self.entries.as_deref().cloned().unwrap_or_default();
        change(&mut entries);
        Context {
            span: self.span.clone(),
            entries: Some(Arc::new(entries)),
        }
    }

    /// The baggage, empty when none was set.
    pub fn baggage(&self) -> &Baggage {
        match &self.entries {
            Some(entries) => &entries.baggage,
            None => &EMPTY_BAGGAGE,
        }
    }

    /// This context with `baggage` replacing its baggage.
    pub fn with_baggage(&self, baggage: Baggage) -> Context {
        self.with_entries(|e| e.baggage = baggage)
    }

    /// This context with a typed value, replacing any value of the same type.
    pub fn with_value<T: Any + Send + Sync>(&self, value: T) -> Context {
        self.with_entries(|e| {
            let id = TypeId::of::<T>();
            e.values.retain(|(t, _)| *t != id);
            e.values.push((id, Arc::new(value)));
        })
    }

    /// The value of type `T`, if one was set.
    pub fn get<T: Any + Send + Sync>(&self) -> Option<&T> {
        let id = TypeId::of::<T>();
        self.entries
            .as_ref()?
            .values
            .iter()
            .find(|(t, _)| *t == id)
            .and_then(|(_, v)| v.downcast_ref::<T>())
    }

    /// This context marked so that SDKs record nothing inside it: exporters
    /// use it so that their own I/O is never traced into the data they send.
    pub fn with_telemetry_suppressed(&self) -> Context {
        self.with_entries(|e| e.suppress_telemetry = true)
    }

    /// True inside [`with_telemetry_suppressed`](Self::with_telemetry_suppressed).
    pub fn is_telemetry_suppressed(&self) -> bool {
        self.entries.as_ref().is_some_and(|e| e.suppress_telemetry)
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("span", &self.span)
            .field("baggage", self.baggage())
            .field(
                "values",
                &self.entries.as_ref().map_or(0, |e| e.values.len()),
            )
            .field("suppress_telemetry", &self.is_telemetry_suppressed())
            .finish()
    }
}

/// Restores the previous current context when dropped. Not `Send`: it must be
/// dropped on the thread that attached it.
#[must_use = "the context is detached as soon as the guard is dropped"]
pub struct ContextGuard {
    previous: Option<Context>,
    _not_send: PhantomData<*const ()>,
}

impl fmt::Debug for ContextGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextGuard").finish_non_exhaustive()
    }
}

impl Drop for ContextGuard {
    #[inline]
    fn drop(&mut self) {
        restore_previous(&mut self.previous);
    }
}

/// Makes `span` the active span of this thread's current context, the rest
/// of the context (baggage, values) kept, until the returned scope is
/// dropped, which puts the previous active span back: what
/// [`Tracer::in_span`](crate::trace::Tracer::in_span) does for a span whose
/// parent is the current context. Only the span is exchanged, in place:
/// building a whole new context and swapping the two 48-byte contexts in and
/// out of the thread-local cost three nested spans about 135 instructions
/// (docs/benchmarks.md).
///
/// Like [`ContextGuard`], scopes and guards must be dropped in the reverse
/// order of their creation. If they are not, this scope still puts its
/// previous span back into whatever context is current then.
#[inline(always)]
pub(crate) fn activate_span(span: SpanHandle) -> SpanScope {
    let previous = current_mut().map(|mut current| {
        let _ = HAS_SPAN.try_with(|h| h.set(true));
        current.span.replace(span)
    });
    SpanScope {
        previous: ManuallyDrop::new(previous),
        _not_send: PhantomData,
    }
}

/// Puts the previous active span back when dropped ([`activate_span`]).
/// Not `Send`, like [`ContextGuard`].
pub(crate) struct SpanScope {
    /// The span that was active before; `None` when nothing was activated
    /// (the current context was borrowed). Taken by
    /// [`SpanScope::end`] or, when the closure unwinds, by `Drop`.
    previous: ManuallyDrop<Option<Option<SpanHandle>>>,
    _not_send: PhantomData<*const ()>,
}

impl SpanScope {
    /// Puts the previous span back: the scope's drop, inlined by force. (A
    /// plain drop stayed an out-of-line call, even with its field dropped by
    /// hand: three nested spans counted 2,152–2,163 instead of 2,100.)
    #[inline(always)]
    pub(crate) fn end(self) {
        let mut scope = ManuallyDrop::new(self);
        // SAFETY: taken once; `scope` is never dropped, so `Drop` does not
        // take it again.
        restore_span(unsafe { ManuallyDrop::take(&mut scope.previous) });
    }
}

/// The scope of a closure that unwound.
impl Drop for SpanScope {
    fn drop(&mut self) {
        // SAFETY: taken once, here; `end` does not let this run.
        restore_span(unsafe { ManuallyDrop::take(&mut self.previous) });
    }
}

#[inline(always)]
fn restore_span(previous: Option<Option<SpanHandle>>) {
    let Some(mut previous) = previous else {
        return;
    };
    if let Some(mut current) = current_mut() {
        // The activated span moves into `previous`, dropped once the borrow
        // has ended (dropping a span's last handle may run an SDK's code).
        std::mem::swap(&mut current.span, &mut previous);
        note_span(&current);
    }
}

/// Puts `previous` back as the current context, for a guard that attached
/// another one (`ContextGuard`, and the rayon adapter's).
///
/// Swapped in place: the previous context goes back into the cell and the
/// detached one takes its place in `previous`, which its owner drops
/// afterwards, once the borrow has ended (dropping a context may run an
/// SDK's span code). Taking it out and replacing the current one with it
/// copied the 48-byte contexts through the stack: three nested spans cost
/// ~70 instructions more.
#[inline]
pub(crate) fn restore_previous(previous: &mut Option<Context>) {
    if let Some(previous) = previous {
        swap_current(previous);
    }
}

/// Makes `cx` current and returns the previous context, without a guard;
/// `None` when the current context is borrowed (inside
/// [`Context::map_current`]).
#[inline]
pub(crate) fn replace_current(cx: Context) -> Option<Context> {
    let _ = CLEAR_AT_EXIT.try_with(|_| ());
    let mut current = current_mut()?;
    note_span(&cx);
    Some(std::mem::replace(&mut *current, cx))
}

/// This thread's current-context cell.
///
/// Only the cell's address leaves `with`, so callers' values are not moved
/// into (and back out of) its closure: `map_current` carries a span start's
/// whole `SpanStart`, `replace_current` a context.
#[inline]
fn current_cell<'a>() -> &'a RefCell<Context> {
    let cell = CURRENT.with(|current| &**current as *const RefCell<Context>);
    // SAFETY: `CURRENT` has no destructor, so it is never destroyed and
    // lives as long as its thread; the callers use the reference on this
    // thread, within one call.
    unsafe { &*cell }
}

/// This thread's current context, borrowed mutably; `None` when it is
/// already borrowed (inside [`Context::map_current`]).
#[inline]
fn current_mut<'a>() -> Option<RefMut<'a, Context>> {
    current_cell().try_borrow_mut().ok()
}

/// Swaps `cx` with this thread's current context; returns false when it
/// is borrowed.
#[inline]
fn swap_current(cx: &mut Context) -> bool {
    match current_mut() {
        Some(mut current) => {
            std::mem::swap(&mut *current, cx);
            note_span(&current);
            true
        }
        None => false,
    }
}

/// Swaps the context back when a poll ends, even by unwinding.
struct SwapBack<'a> {
    cx: &'a mut Context,
    swapped: bool,
}

impl Drop for SwapBack<'_> {
    fn drop(&mut self) {
        if self.swapped {
            swap_current(self.cx);
        }
    }
}

/// A future or stream that runs with a context attached on every poll.
/// Made by [`FutureExt::with_context`] and [`FutureExt::in_current_context`]
/// (and `StreamExt`'s, with the `futures` feature).
#[must_use = "futures do nothing unless polled"]
pub struct WithContext<T> {
    inner: T,
    cx: Context,
}

impl<T> fmt::Debug for WithContext<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithContext").field("cx", &self.cx).finish()
    }
}

impl<T> WithContext<T> {
    pub(crate) fn new(inner: T, cx: Context) -> WithContext<T> {
        WithContext { inner, cx }
    }

    /// The context this future runs in.
    pub fn context(&self) -> &Context {
        &self.cx
    }

    fn project(self: Pin<&mut Self>) -> (Pin<&mut T>, &mut Context) {
        // SAFETY: `inner` is structurally pinned: it is never moved out of
        // `self` and only reached through this projection. `cx` is not pinned.
        unsafe {
            let this = self.get_unchecked_mut();
            (Pin::new_unchecked(&mut this.inner), &mut this.cx)
        }
    }

    /// Runs `f` with the context current. The context is swapped in and out
    /// rather than cloned, so a poll costs no reference counting.
    fn enter<R>(self: Pin<&mut Self>, f: impl FnOnce(Pin<&mut T>) -> R) -> R {
        let (inner, cx) = self.project();
        let swapped = swap_current(cx);
        let _back = SwapBack { cx, swapped };
        f(inner)
    }
}

impl<F: Future> Future for WithContext<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, task: &mut task::Context<'_>) -> Poll<F::Output> {
        self.enter(|inner| inner.poll(task))
    }
}

#[cfg(feature = "futures")]
impl<S: futures_core::Stream> futures_core::Stream for WithContext<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, task: &mut task::Context<'_>) -> Poll<Option<S::Item>> {
        self.enter(|inner| inner.poll_next(task))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

/// Carries a context into a future: `fut.in_current_context()` is the one
/// call that keeps the trace across `.await` points and into spawned tasks on
/// any executor.
pub trait FutureExt: Future + Sized {
    /// Polls `self` with `cx` attached.
    fn with_context(self, cx: Context) -> WithContext<Self> {
        WithContext::new(self, cx)
    }

    /// Polls `self` with the caller's current context attached.
    fn in_current_context(self) -> WithContext<Self> {
        WithContext::new(self, Context::current())
    }
}

impl<F: Future> FutureExt for F {}

/// Carries a context into a stream (feature `futures`): every `poll_next`
/// runs with it attached.
#[cfg(feature = "futures")]
pub trait StreamExt: futures_core::Stream + Sized {
    /// Polls `self` with `cx` attached.
    fn with_context(self, cx: Context) -> WithContext<Self> {
        WithContext::new(self, cx)
    }

    /// Polls `self` with the caller's current context attached.
    fn in_current_context(self) -> WithContext<Self> {
        WithContext::new(self, Context::current())
    }
}

#[cfg(feature = "futures")]
impl<S: futures_core::Stream> StreamExt for S {}

/// Wraps `f` so it runs with the caller's current context, on whatever thread
/// calls it: `std::thread::spawn(clew_api::context::bind(|| ...))`.
pub fn bind<R>(f: impl FnOnce() -> R) -> impl FnOnce() -> R {
    Context::current().wrap(f)
}

/// A value sent through a channel together with the sender's context, so the
/// worker that receives it continues the sender's trace.
///
/// ```
/// use clew_api::context::Envelope;
/// let (tx, rx) = std::sync::mpsc::channel();
/// tx.send(Envelope::new("job")).unwrap();
/// let job = rx.recv().unwrap();
/// job.open(|payload| assert_eq!(payload, "job"));
/// ```
#[derive(Debug, Clone)]
pub struct Envelope<T> {
    payload: T,
    cx: Context,
}

impl<T> Envelope<T> {
    /// Wraps `payload` with the current context.
    pub fn new(payload: T) -> Envelope<T> {
        Envelope {
            payload,
            cx: Context::current(),
        }
    }

    /// Wraps `payload` with a given context.
    pub fn with_context(payload: T, cx: Context) -> Envelope<T> {
        Envelope { payload, cx }
    }

    /// The sender's context.
    pub fn context(&self) -> &Context {
        &self.cx
    }

    /// Runs `f` on the payload with the sender's context current.
    pub fn open<R>(self, f: impl FnOnce(T) -> R) -> R {
        let Envelope { payload, cx } = self;
        cx.in_scope(|| f(payload))
    }

    /// Splits the envelope.
    pub fn into_parts(self) -> (T, Context) {
        (self.payload, self.cx)
    }
}
