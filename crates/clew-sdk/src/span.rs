//! Finished-span data, as processors and exporters see it, and the SDK's
//! recording span.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::ops::Deref;
use std::sync::Arc;

use clew_api::time::Timestamp;
use clew_api::trace::{
    Event, InstrumentationScope, Link, SpanBackend, SpanContext, SpanId, SpanKind, Status,
};
use clew_api::KeyValue;

use crate::brief_lock::{BriefLock, BriefLockGuard};
use crate::limits::set_attribute;
use crate::provider::{discard, ProviderShared};

/// An event recorded on a span.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SpanEvent {
    /// The event's name.
    pub name: Cow<'static, str>,
    /// When it happened.
    pub timestamp: Timestamp,
    /// Its attributes, within the per-event limit (each key once, unless
    /// repeated keys are allowed, as for [`SpanData::attributes`]).
    pub attributes: Vec<KeyValue>,
    /// Attributes dropped by the limit.
    pub dropped_attributes_count: u32,
}

/// A link recorded on a span.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SpanLink {
    /// The linked span.
    pub span_context: SpanContext,
    /// Its attributes, within the per-link limit (each key once, unless
    /// repeated keys are allowed, as for [`SpanData::attributes`]).
    pub attributes: Vec<KeyValue>,
    /// Attributes dropped by the limit.
    pub dropped_attributes_count: u32,
}

/// A span's events. The first one is stored inline, so the common span with
/// one event costs no allocation for it; a second one moves both to a list.
/// 64 bytes, the size of one event: the three states are told apart by
/// values an event's fields never take.
#[derive(Clone, Default)]
pub struct SpanEvents(ManuallyDrop<Events>);

/// Compared as the lists they are, whatever state holds them.
impl PartialEq for SpanEvents {
    fn eq(&self, other: &SpanEvents) -> bool {
        **self == **other
    }
}

/// Shown as the list it is.
impl fmt::Debug for SpanEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[derive(Clone, Default)]
enum Events {
    #[default]
    None,
    One(SpanEvent),
    Many(Vec<SpanEvent>),
}

impl SpanEvents {
    pub(crate) fn push(&mut self, event: SpanEvent) {
        match &mut *self.0 {
            Events::Many(list) => list.push(event),
            Events::One(_) => self.push_second(event),
            Events::None => self.push_first(event),
        }
    }

    /// Writes `event` inline, replacing the empty state; the caller has
    /// checked [`holds_none`](Self::holds_none) (the empty state owns
    /// nothing and needs no drop). `add_event`'s first event takes this
    /// after one test of the state, instead of `push`'s match.
    #[inline(always)]
    fn push_first(&mut self, event: SpanEvent) {
        debug_assert!(self.holds_none());
        // SAFETY: the empty state owns nothing, so overwriting it without
        // dropping it leaks nothing.
        unsafe { std::ptr::write(&mut *self.0, Events::One(event)) }
    }

    /// Moves the inline event and `event` to a list of their own.
    #[cold]
    #[inline(never)]
    fn push_second(&mut self, event: SpanEvent) {
        if let Events::One(first) = std::mem::take(&mut *self.0) {
            let mut list = Vec::with_capacity(4);
            list.push(first);
            list.push(event);
            *self.0 = Events::Many(list);
        }
    }

    /// True when the list holds no event.
    #[inline(always)]
    fn holds_none(&self) -> bool {
        matches!(*self.0, Events::None)
    }

    /// True when dropping the events releases nothing: none, or one inline
    /// event with a static name and no attributes.
    #[inline]
    fn owns_nothing(&self) -> bool {
        match &*self.0 {
            Events::None => true,
            Events::One(e) => matches!(e.name, Cow::Borrowed(_)) && e.attributes.capacity() == 0,
            Events::Many(_) => false,
        }
    }

    /// Drops events that own something; out of line, so that the usual
    /// span's drop (below) is only the test of `owns_nothing`.
    #[cold]
    #[inline(never)]
    fn drop_owned(&mut self) {
        // SAFETY: called once, from `drop`; never touched again.
        unsafe { ManuallyDrop::drop(&mut self.0) }
    }

    /// The events as a `Vec`.
    pub fn into_vec(self) -> Vec<SpanEvent> {
        let mut events = ManuallyDrop::new(self);
        // SAFETY: `events` is never used again, and its `Drop` never runs.
        match unsafe { ManuallyDrop::take(&mut events.0) } {
            Events::None => Vec::new(),
            Events::One(event) => vec![event],
            Events::Many(list) => list,
        }
    }
}

/// An event with no attributes.
#[inline(always)]
fn bare(name: Cow<'static, str>, timestamp: Timestamp) -> SpanEvent {
    SpanEvent {
        name,
        timestamp,
        attributes: Vec::new(),
        dropped_attributes_count: 0,
    }
}

/// Dropped by hand: the common span's events (none, or one inline event
/// with a static name and no attributes) own nothing, and forgetting them
/// skips the out-of-line drop glue, which a span paid on every drop.
impl Drop for SpanEvents {
    #[inline]
    fn drop(&mut self) {
        if !self.owns_nothing() {
            self.drop_owned();
        }
    }
}

impl Deref for SpanEvents {
    type Target = [SpanEvent];
    fn deref(&self) -> &[SpanEvent] {
        match &*self.0 {
            Events::None => &[],
            Events::One(event) => std::slice::from_ref(event),
            Events::Many(list) => list,
        }
    }
}

impl<'a> IntoIterator for &'a SpanEvents {
    type Item = &'a SpanEvent;
    type IntoIter = std::slice::Iter<'a, SpanEvent>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// A span's links: a pointer to a list of them, or none. Links are rare,
/// and the span pays 8 bytes for them instead of a list's 24 (each record in
/// a batch processor's queue is that much smaller).
#[derive(Clone, Debug, PartialEq, Default)]
#[allow(clippy::box_collection)] // reason: the box is the point: one word in the span, not three
pub struct SpanLinks(Option<Box<Vec<SpanLink>>>);

impl SpanLinks {
    pub(crate) fn push(&mut self, link: SpanLink) {
        self.0.get_or_insert_with(Box::default).push(link);
    }

    /// True when the span has no list: dropping it releases nothing.
    #[inline(always)]
    fn is_unallocated(&self) -> bool {
        self.0.is_none()
    }

    /// The links as a `Vec`.
    pub fn into_vec(self) -> Vec<SpanLink> {
        self.0.map(|list| *list).unwrap_or_default()
    }
}

impl From<Vec<SpanLink>> for SpanLinks {
    fn from(list: Vec<SpanLink>) -> SpanLinks {
        if list.is_empty() {
            SpanLinks(None)
        } else {
            SpanLinks(Some(Box::new(list)))
        }
    }
}

impl Deref for SpanLinks {
    type Target = [SpanLink];
    fn deref(&self) -> &[SpanLink] {
        self.0.as_deref().map_or(&[], |list| list)
    }
}

impl<'a> IntoIterator for &'a SpanLinks {
    type Item = &'a SpanLink;
    type IntoIter = std::slice::Iter<'a, SpanLink>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Everything recorded about a span: what processors receive when it ends
/// and what exporters send.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SpanData {
    /// The span's identity.
    pub span_context: SpanContext,
    /// The parent's span id; invalid for a root span.
    pub parent_span_id: SpanId,
    /// True when the parent came from another process.
    pub parent_is_remote: bool,
    /// The span's name.
    pub name: Cow<'static, str>,
    /// The span's kind.
    pub kind: SpanKind,
    /// When it started.
    pub start_time: Timestamp,
    /// When it ended (equal to `start_time` until then).
    pub end_time: Timestamp,
    /// Attributes, within the limit, each key once (unless
    /// [`SpanLimits::allow_duplicate_attribute_keys`](crate::SpanLimits::allow_duplicate_attribute_keys)
    /// is set, when a key may repeat; [`attribute`](Self::attribute) then
    /// gives its last value).
    pub attributes: Vec<KeyValue>,
    /// Attributes dropped by the limit.
    pub dropped_attributes_count: u32,
    /// Events, within the limit.
    pub events: SpanEvents,
    /// Events dropped by the limit.
    pub dropped_events_count: u32,
    /// Links, within the limit.
    pub links: SpanLinks,
    /// Links dropped by the limit.
    pub dropped_links_count: u32,
    /// The outcome.
    pub status: Status,
    /// The instrumentation scope that created it.
    pub scope: Scope,
}

impl SpanData {
    /// The attribute `key`, if set: its last value, where repeated keys are
    /// allowed ([`SpanLimits::allow_duplicate_attribute_keys`](crate::SpanLimits::allow_duplicate_attribute_keys)).
    pub fn attribute(&self, key: &str) -> Option<&clew_api::Value> {
        self.attributes
            .iter()
            .rev()
            .find(|kv| kv.key == key)
            .map(|kv| &kv.value)
    }

    /// How long the span lasted.
    pub fn duration(&self) -> std::time::Duration {
        self.end_time.saturating_duration_since(self.start_time)
    }

    /// True when dropping this span releases nothing but its attribute
    /// list: a static name, no owned status description or trace state, no
    /// links, and events that own nothing. Every field is named, so a new
    /// one cannot be left out of the check.
    #[inline]
    pub(crate) fn owns_nothing_but_its_attributes(&self) -> bool {
        let SpanData {
            span_context,
            parent_span_id: _,
            parent_is_remote: _,
            name,
            kind: _,
            start_time: _,
            end_time: _,
            attributes: _,
            dropped_attributes_count: _,
            events,
            dropped_events_count: _,
            links,
            dropped_links_count: _,
            status,
            scope: _,
        } = self;
        matches!(name, Cow::Borrowed(_))
            && span_context.trace_state().is_empty()
            && links.is_unallocated()
            && !matches!(
                status,
                Status::Error {
                    description: Cow::Owned(_)
                }
            )
            && events.owns_nothing()
    }
}

/// A finished span's attribute list goes back to the dropping thread's
/// store ([`recycle_attribute_list`](clew_api::attribute::recycle_attribute_list))
/// instead of to the allocator, so that thread's next span with attributes
/// reuses it: wherever spans are dropped on the threads that make them (a
/// processor that drops them itself, the batch processor's returned
/// buffers, a full queue) a recorded span makes no `malloc`/`free` pair
/// for its list.
impl Drop for SpanData {
    #[inline]
    fn drop(&mut self) {
        if self.attributes.capacity() != 0 {
            clew_api::attribute::recycle_attribute_list(std::mem::take(&mut self.attributes));
        }
    }
}

/// The SDK's recording span: the data under a lock until the span ends,
/// then moved out, on the ending thread, to the provider's processors. (The
/// allocation stays with the ending thread, which keeps it for its next
/// span or frees it; only the span's own data travels to the export
/// thread.)
///
/// The data is written once, straight into the allocation, and moved once,
/// out of it, when the span ends: a `SpanData` is a few hundred bytes, and
/// each copy of it showed up as a `memcpy` call in the per-span profile.
pub(crate) struct SdkSpan {
    context: SpanContext,
    live: BriefLock<Live>,
    provider: &'static ProviderShared,
}

/// How many ended span allocations a thread keeps for reuse, besides the
/// last one.
const SPARE_SPANS: usize = 16;

/// A thread's ended spans' allocations, for its next spans: the last one in
/// a slot of its own, which a thread that ends each span before it starts
/// the next (the usual order) reaches without a borrow flag or a length
/// (about 20 instructions a span fewer than a `RefCell<Vec<_>>` alone), and
/// the rest, while spans are nested, in a list.
struct SpareSpans {
    last: Cell<Option<Arc<SdkSpan>>>,
    more: RefCell<Vec<Arc<SdkSpan>>>,
}

thread_local! {
    static SPARE: SpareSpans = const {
        SpareSpans { last: Cell::new(None), more: RefCell::new(Vec::new()) }
    };
}

#[inline]
fn take_spare() -> Option<Arc<SdkSpan>> {
    SPARE
        .try_with(|spare| {
            spare
                .last
                .take()
                .or_else(|| spare.more.try_borrow_mut().ok()?.pop())
        })
        .ok()
        .flatten()
}

/// Keeps `arc`, which nothing else refers to, for this thread's next span:
/// in the slot, whose previous occupant moves to the list (or, when the
/// list is full, is freed).
#[inline]
fn keep_spare(arc: Arc<SdkSpan>) {
    let _ = SPARE.try_with(|spare| {
        if let Some(previous) = spare.last.replace(Some(arc)) {
            keep_more(spare, previous);
        }
    });
}

#[inline(never)]
fn keep_more(spare: &SpareSpans, arc: Arc<SdkSpan>) {
    if let Ok(mut more) = spare.more.try_borrow_mut() {
        if more.len() < SPARE_SPANS {
            more.push(arc);
            return;
        }
    }
    // Freed after the borrow ends, so that nothing the free does (a global
    // allocator of the application's) meets the list borrowed.
    drop(arc);
}

/// A span's data, initialised exactly while `ended` is false.
struct Live {
    /// Set, under the lock, when `data` is moved out at end (and while a
    /// spare allocation waits for its next span); nothing reads `data`
    /// then, and [`SdkSpan`]'s `Drop` does not drop it.
    ended: bool,
    data: MaybeUninit<SpanData>,
}

/// The data of a span that has not ended, through its lock. `ended` is
/// read through a shared borrow first: once it is set, the ending thread
/// may be reading `data` after the unlock, so no `&mut Live` may be made.
#[inline]
fn live_data<'a>(live: &'a mut BriefLockGuard<'_, Live>) -> Option<&'a mut SpanData> {
    if live.ended {
        return None;
    }
    // SAFETY: `data` is initialised while `ended` is false.
    Some(unsafe { live.data.assume_init_mut() })
}

impl Drop for SdkSpan {
    fn drop(&mut self) {
        let live = self.live.get_mut();
        if !live.ended {
            // SAFETY: `ended` is false, so `data` is initialised.
            unsafe { live.data.assume_init_drop() }
        }
    }
}

impl fmt::Debug for SdkSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SdkSpan")
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

impl SdkSpan {
    /// An allocation for a new span, with no reference but this one: a
    /// spare one of this thread's when there is one (see
    /// [`SdkSpan::recycle`]). Its context is written now, in the span and in
    /// its record, so that it is not held, on the stack, across the calls
    /// the caller makes before [`start`](Self::start) writes the rest. (If
    /// one of those unwinds, the record's copy of the context is leaked,
    /// not dropped: `ended` is still set.)
    #[inline(always)]
    pub(crate) fn unique_arc(
        provider: &'static ProviderShared,
        context: SpanContext,
    ) -> UniqueSpan {
        let arc = match take_spare() {
            Some(spare) => spare,
            None => Arc::new(SdkSpan {
                live: BriefLock::new(Live {
                    ended: true,
                    data: MaybeUninit::uninit(),
                }),
                context: SpanContext::INVALID,
                provider,
            }),
        };
        // A new `Arc` has no other reference, and a spare one had none when
        // it was kept (`recycle` checks; nothing could have made one since).
        // Not checked again here with `Arc::get_mut`, a locked instruction
        // (7 instructions a span, and the lock's latency).
        debug_assert!(Arc::strong_count(&arc) == 1 && Arc::weak_count(&arc) == 0);
        let mut unique = UniqueSpan(arc);
        let span = unique.span_mut();
        let record = span.live.get_mut().data.as_mut_ptr();
        // SAFETY: `record` points to the allocation's record, which is not
        // initialised (`ended` is set); only its context is written, through
        // a raw field pointer. `start` writes every other field.
        unsafe { std::ptr::addr_of_mut!((*record).span_context).write(context.clone()) };
        // SAFETY: the span's context owns nothing (a new span's is invalid,
        // and `recycle` keeps only spares whose context has no trace
        // state), so overwriting it without a drop leaks nothing; read and
        // dropped instead, it cost about 8 instructions a span.
        unsafe { std::ptr::addr_of_mut!(span.context).write(context) };
        span.provider = provider;
        unique
    }

    /// Starts the span in `unique` (whose context is written): the rest of
    /// its record is written once, in place, and `on_start` runs on it
    /// before anyone else can see it (so without taking the lock).
    #[inline(always)]
    pub(crate) fn start(
        mut unique: UniqueSpan,
        start: NewSpan,
        on_start: impl FnOnce(&mut SpanData),
    ) -> Arc<SdkSpan> {
        let live = unique.span_mut().live.get_mut();
        // Written in place; `ended` is true, so there is no old data to drop.
        start.write(&mut live.data);
        live.ended = false;
        // SAFETY: just written (the context by `unique_arc`, the rest above).
        on_start(unsafe { live.data.assume_init_mut() });
        unique.0
    }

    /// Keeps an ended span's allocation for this thread's next span, when
    /// nothing else refers to it (the common case: no handle outlived the
    /// span): the next `start_span` reuses it instead of a `malloc`/`free`
    /// pair.
    #[inline]
    fn recycle(mut arc: Arc<SdkSpan>) {
        // Only this reference exists and no `Weak`, so nothing can make
        // another one while the thread keeps it: `unique_arc` relies on it.
        if Arc::strong_count(&arc) == 1
            && Arc::weak_count(&arc) == 0
            && (arc.context.trace_state().is_empty() || release_trace_state(&mut arc))
        {
            keep_spare(arc);
        }
    }

    #[inline]
    fn lock(&self) -> BriefLockGuard<'_, Live> {
        self.live.lock()
    }

    /// Runs `f` on the data unless the span has ended.
    #[inline]
    fn with(&self, f: impl FnOnce(&mut SpanData, &ProviderShared)) {
        if let Some(data) = live_data(&mut self.lock()) {
            f(data, self.provider);
        }
    }
}

/// Drops a spare's trace state (its context becomes the invalid one, which
/// owns nothing), so that `unique_arc` can overwrite the context without
/// dropping it.
#[cold]
#[inline(never)]
fn release_trace_state(arc: &mut Arc<SdkSpan>) -> bool {
    match Arc::get_mut(arc) {
        Some(span) => {
            span.context = SpanContext::INVALID;
            true
        }
        None => false,
    }
}

/// A span allocation that nothing else refers to ([`SdkSpan::unique_arc`]).
pub(crate) struct UniqueSpan(Arc<SdkSpan>);

impl UniqueSpan {
    #[inline(always)]
    fn span_mut(&mut self) -> &mut SdkSpan {
        // SAFETY: `UniqueSpan` holds the only reference and there is no
        // `Weak` (see `unique_arc`; nothing can clone it since), so this is
        // the only access to the span, as `Arc::get_mut` would give. The
        // pointer comes from the `Arc`'s own allocation, which it may write.
        unsafe { &mut *Arc::as_ptr(&self.0).cast_mut() }
    }
}

/// What a new span's record starts from, besides its context (written by
/// [`SdkSpan::unique_arc`]); the rest of it starts empty.
pub(crate) struct NewSpan {
    pub(crate) parent_span_id: SpanId,
    pub(crate) parent_is_remote: bool,
    pub(crate) name: Cow<'static, str>,
    pub(crate) kind: SpanKind,
    pub(crate) start_time: Timestamp,
    pub(crate) attributes: Vec<KeyValue>,
    pub(crate) dropped_attributes_count: u32,
    pub(crate) links: SpanLinks,
    pub(crate) dropped_links_count: u32,
    pub(crate) scope: Scope,
}

impl NewSpan {
    /// Writes the record field by field into `slot`, whose context
    /// `SdkSpan::unique_arc` has written. Built as one value and then
    /// written, the record (then 256 bytes) was assembled on the stack and copied
    /// into the allocation.
    #[inline(always)]
    fn write(self, slot: &mut MaybeUninit<SpanData>) {
        // Naming every field (no `..`) makes a field added to `SpanData`
        // fail to compile here until it is written below too.
        fn written_fields(d: SpanData) {
            let SpanData {
                span_context: _, // written by `SdkSpan::unique_arc`
                parent_span_id: _,
                parent_is_remote: _,
                name: _,
                kind: _,
                start_time: _,
                end_time: _,
                attributes: _,
                dropped_attributes_count: _,
                events: _,
                dropped_events_count: _,
                links: _,
                dropped_links_count: _,
                status: _,
                scope: _,
            } = d;
        }
        let _ = written_fields;
        let d = slot.as_mut_ptr();
        // SAFETY: `d` points to writable memory for a `SpanData`; each field
        // is written exactly once, through raw field pointers (no reference
        // to the uninitialised record is made), and every field but the
        // context, written before, is written (checked by `written_fields`).
        unsafe {
            std::ptr::addr_of_mut!((*d).parent_span_id).write(self.parent_span_id);
            std::ptr::addr_of_mut!((*d).parent_is_remote).write(self.parent_is_remote);
            std::ptr::addr_of_mut!((*d).name).write(self.name);
            std::ptr::addr_of_mut!((*d).kind).write(self.kind);
            std::ptr::addr_of_mut!((*d).start_time).write(self.start_time);
            std::ptr::addr_of_mut!((*d).end_time).write(self.start_time);
            std::ptr::addr_of_mut!((*d).attributes).write(self.attributes);
            std::ptr::addr_of_mut!((*d).dropped_attributes_count)
                .write(self.dropped_attributes_count);
            std::ptr::addr_of_mut!((*d).events).write(SpanEvents::default());
            std::ptr::addr_of_mut!((*d).dropped_events_count).write(0);
            std::ptr::addr_of_mut!((*d).links).write(self.links);
            std::ptr::addr_of_mut!((*d).dropped_links_count).write(self.dropped_links_count);
            std::ptr::addr_of_mut!((*d).status).write(clew_api::Status::Unset);
            std::ptr::addr_of_mut!((*d).scope).write(self.scope);
        }
    }
}

/// An instrumentation scope as spans carry it: interned once per distinct
/// scope ([`InstrumentationScope::intern`], which tracers do for their
/// provider), so copying it costs nothing and touches no shared counter.
#[derive(Clone, Copy)]
pub struct Scope(&'static InstrumentationScope);

impl Scope {
    /// The scope for `scope`, interned by value.
    pub fn intern(scope: &InstrumentationScope) -> Scope {
        Scope(scope.intern())
    }

    /// An interned scope, as a tracer hands it to its provider.
    #[inline(always)]
    pub(crate) fn interned(scope: &'static InstrumentationScope) -> Scope {
        Scope(scope)
    }
}

impl Deref for Scope {
    type Target = InstrumentationScope;
    fn deref(&self) -> &InstrumentationScope {
        self.0
    }
}

impl PartialEq for Scope {
    fn eq(&self, other: &Scope) -> bool {
        std::ptr::eq(self.0, other.0) || self.0 == other.0
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0, f)
    }
}

pub(crate) fn link_from(link: Link, limits: &crate::SpanLimits) -> SpanLink {
    let mut attributes = link.attributes;
    let dropped = limits.limit_list(&mut attributes, limits.max_attributes_per_link);
    SpanLink {
        span_context: link.span_context,
        attributes,
        dropped_attributes_count: dropped,
    }
}

/// Records `event` within the limits: any event but a span's first one
/// without attributes ([`SdkSpan::add_event`]'s inline path).
#[inline(never)]
fn push_event(data: &mut SpanData, event: Event, limits: &crate::SpanLimits) {
    if data.events.len() >= limits.max_events_per_span as usize {
        data.dropped_events_count += 1;
        return;
    }
    if event.attributes.capacity() == 0 {
        // No attributes to limit, and an empty list owns nothing, so it is
        // not carried over.
        let (name, timestamp, attributes) = event.into_parts();
        discard(attributes);
        data.events.push(bare(name, timestamp));
        return;
    }
    push_event_with_attributes(data, event, limits);
}

/// Appends an event with attributes, limited by the per-event limit.
fn push_event_with_attributes(data: &mut SpanData, event: Event, limits: &crate::SpanLimits) {
    let mut attributes = event.attributes;
    let dropped = limits.limit_list(&mut attributes, limits.max_attributes_per_event);
    data.events.push(SpanEvent {
        name: event.name,
        timestamp: event.timestamp,
        attributes,
        dropped_attributes_count: dropped,
    });
}

/// Sets one attribute within the span limits, counting a drop.
fn set_limited(data: &mut SpanData, attribute: KeyValue, limits: &crate::SpanLimits) {
    if !set_attribute(
        &mut data.attributes,
        attribute,
        limits.max_attributes_per_span,
        limits.max_attribute_value_length,
        limits.allow_duplicate_attribute_keys,
    ) {
        data.dropped_attributes_count += 1;
    }
}

impl SpanBackend for SdkSpan {
    fn span_context(&self) -> &SpanContext {
        &self.context
    }

    fn is_recording(&self) -> bool {
        !self.lock().ended
    }

    fn set_attribute(&self, attribute: KeyValue) {
        self.with(|data, p| set_limited(data, attribute, &p.limits))
    }

    fn set_attributes(&self, attributes: Vec<KeyValue>) {
        self.with(|data, p| {
            for attribute in attributes {
                set_limited(data, attribute, &p.limits);
            }
        })
    }

    fn add_event(&self, event: Event) {
        // Not through `with`: its closure took the event in, one more copy
        // of its 56 bytes (about 15 instructions a span with an event).
        // The event, if not kept, is dropped after the lock, as before.
        let mut live = self.lock();
        let Some(data) = live_data(&mut live) else {
            return;
        };
        let limits = &self.provider.limits;
        if event.attributes.capacity() == 0
            && data.events.holds_none()
            && limits.max_events_per_span != 0
        {
            // The usual span's first event, with no attributes to limit (an
            // empty list owns nothing, so it is not carried over). Every
            // other event goes out of line, so that this path saves and
            // restores fewer registers.
            let (name, timestamp, attributes) = event.into_parts();
            discard(attributes);
            data.events.push_first(bare(name, timestamp));
            return;
        }
        push_event(data, event, limits);
    }

    fn add_link(&self, link: Link) {
        self.with(|data, p| {
            if data.links.len() >= p.limits.max_links_per_span as usize {
                data.dropped_links_count += 1;
                return;
            }
            data.links.push(link_from(link, &p.limits));
        })
    }

    fn set_status(&self, status: Status) {
        self.with(|data, _| data.status.merge(status))
    }

    fn update_name(&self, name: Cow<'static, str>) {
        self.with(|data, _| data.name = name)
    }

    fn end_owned(self: Arc<Self>, timestamp: Option<Timestamp>) {
        self.end(timestamp);
        SdkSpan::recycle(self);
    }

    // Inline, so that `end_owned` (how a span is usually ended) does not
    // call it.
    #[inline]
    fn end(&self, timestamp: Option<Timestamp>) {
        let data: *mut SpanData = {
            let mut live = self.lock();
            let Some(data) = live_data(&mut live) else {
                return;
            };
            // Never before the start: a wall clock stepped back, or an end
            // time given from another clock, would make the duration negative.
            data.end_time = timestamp
                .unwrap_or_else(clew_api::time::now)
                .max(data.start_time);
            live.ended = true;
            // Taken last: no `&mut Live` is made after it.
            live.data.as_mut_ptr()
        };
        // SAFETY: `data` was initialised (the span had not ended) and
        // `ended` was set under the lock, so from here on nothing else reads
        // or writes it (`live_data` checks the flag through a shared borrow,
        // `Drop` skips it) and the allocation outlives `&self`. The provider
        // moves it straight into the processor's call: its only copy.
        unsafe { self.provider.on_end(data) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// glibc copies up to 256 bytes without a loop, and a finished span's
    /// record is copied into every processor's call or queue; a batch
    /// processor's queue holds up to 2,048 records per producer thread by
    /// default. At 232 bytes two producers' peak memory came level with
    /// opentelemetry's (docs/benchmarks.md): a field added to `SpanData`
    /// grows every queue. The sizes that keep it there are checked with it.
    #[test]
    fn a_span_record_fits_in_232_bytes() {
        let size = std::mem::size_of::<SpanData>();
        assert!(size <= 232, "SpanData is {size} bytes");
        assert_eq!(std::mem::size_of::<SpanContext>(), 40);
        assert_eq!(std::mem::size_of::<Timestamp>(), 8);
        assert_eq!(std::mem::size_of::<SpanEvent>(), 64);
        assert_eq!(std::mem::size_of::<SpanEvents>(), 64, "one event, inline");
        assert_eq!(std::mem::size_of::<SpanLinks>(), 8);
    }

    fn event(name: Cow<'static, str>, attributes: Vec<KeyValue>) -> SpanEvent {
        SpanEvent {
            name,
            timestamp: Timestamp::from_unix_nanos(1),
            attributes,
            dropped_attributes_count: 0,
        }
    }

    fn events(list: impl IntoIterator<Item = SpanEvent>) -> SpanEvents {
        let mut events = SpanEvents::default();
        list.into_iter().for_each(|e| events.push(e));
        events
    }

    /// Events in each of the list's three states read back in order, and
    /// come out of `into_vec` whole; only none, or one with a static name
    /// and no attributes, own nothing.
    #[test]
    fn events_keep_their_order_through_every_state() {
        let names = |events: &SpanEvents| {
            events
                .iter()
                .map(|e| e.name.to_string())
                .collect::<Vec<_>>()
        };
        let mut list = SpanEvents::default();
        assert!(list.is_empty() && list.holds_none() && list.owns_nothing());
        list.push_first(bare("a".into(), Timestamp::from_unix_nanos(1)));
        assert_eq!(names(&list), ["a"]);
        assert!(!list.holds_none() && list.owns_nothing());
        list.push(bare("b".into(), Timestamp::from_unix_nanos(2)));
        assert!(!list.owns_nothing(), "a list of two owns its buffer");
        for name in ["c", "d", "e"] {
            list.push(event(name.into(), vec![]));
        }
        assert_eq!(names(&list), ["a", "b", "c", "d", "e"]);
        assert_eq!(
            list.iter()
                .map(|e| e.timestamp.unix_nanos())
                .take(2)
                .collect::<Vec<_>>(),
            [1, 2]
        );
        assert_eq!(list.clone(), list);
        let one = events([event("x".into(), vec![])]);
        assert_eq!(
            one,
            SpanEvents(ManuallyDrop::new(Events::Many(vec![event(
                "x".into(),
                vec![]
            )])))
        );
        assert_eq!(format!("{:?}", SpanEvents::default()), "[]");
        let all = list.into_vec();
        assert_eq!(all.len(), 5);
        assert_eq!(events([]).into_vec(), Vec::<SpanEvent>::new());
        assert_eq!(events([event("x".into(), vec![])]).into_vec()[0].name, "x");
        let owned = events([event(String::from("owned").into(), vec![])]);
        assert!(!owned.owns_nothing(), "an owned name");
        let attributed = events([event("e".into(), vec![KeyValue::new("k", 1)])]);
        assert!(!attributed.owns_nothing(), "an attribute list");
    }

    /// Links: none until one is pushed or given, in order, out whole.
    #[test]
    fn links_are_unallocated_until_there_is_one() {
        let link = |n: u8| SpanLink {
            span_context: SpanContext::new(
                clew_api::trace::TraceId::from_bytes([n; 16]),
                SpanId::from_bytes([n; 8]),
                clew_api::trace::TraceFlags::SAMPLED,
                false,
                clew_api::trace::TraceState::NONE,
            ),
            attributes: Vec::new(),
            dropped_attributes_count: 0,
        };
        let mut links = SpanLinks::default();
        assert!(links.is_empty() && links.is_unallocated());
        assert!(SpanLinks::from(Vec::new()).is_unallocated());
        links.push(link(1));
        links.push(link(2));
        assert!(!links.is_unallocated());
        let ids: Vec<_> = (&links)
            .into_iter()
            .map(|l| l.span_context.span_id())
            .collect();
        assert_eq!(
            ids,
            [SpanId::from_bytes([1; 8]), SpanId::from_bytes([2; 8])]
        );
        assert_eq!(SpanLinks::from(vec![link(3)])[0], link(3));
        assert_eq!(links.into_vec().len(), 2);
        assert!(SpanLinks::default().into_vec().is_empty());
    }

    /// `SpanEvents` skips its drop glue only when its events own nothing:
    /// attribute values an event holds are still released. (That owned
    /// names and spilled lists are freed is counted by an allocator in
    /// `tests/provider.rs`, `a_dropped_span_frees_what_its_events_own`.)
    #[test]
    fn events_release_what_they_own() {
        let shared: Arc<str> = Arc::from("shared");
        let value = || vec![KeyValue::new("k", Arc::clone(&shared))];
        // One inline event with attributes, then two (spilled), the shared
        // value in the second.
        drop(events([event("e".into(), value())]));
        assert_eq!(Arc::strong_count(&shared), 1, "inline event's attributes");
        drop(events([
            event("a".into(), vec![]),
            event("b".into(), value()),
        ]));
        assert_eq!(Arc::strong_count(&shared), 1, "spilled events' attributes");
        let kept = events([event("e".into(), value())]).into_vec();
        assert_eq!(Arc::strong_count(&shared), 2, "moved out by into_vec");
        drop(kept);
        assert_eq!(Arc::strong_count(&shared), 1);
    }
}
