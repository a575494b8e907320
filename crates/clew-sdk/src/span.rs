//! Finished-span data, as processors and exporters see it, and the SDK's
//! recording span.

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use clew_api::trace::{
    Event, InstrumentationScope, Link, SpanBackend, SpanContext, SpanId, SpanKind, Status,
};
use clew_api::KeyValue;
use smallvec::SmallVec;

use crate::limits::{limit_attributes, set_attribute};
use crate::provider::ProviderShared;

/// An event recorded on a span.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SpanEvent {
    /// The event's name.
    pub name: Cow<'static, str>,
    /// When it happened.
    pub timestamp: SystemTime,
    /// Its attributes, within the per-event limit.
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
    /// Its attributes, within the per-link limit.
    pub attributes: Vec<KeyValue>,
    /// Attributes dropped by the limit.
    pub dropped_attributes_count: u32,
}

/// A span's events. The first one is stored inline, so the common span with
/// one event costs no allocation for it.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SpanEvents(SmallVec<[SpanEvent; 1]>);

impl SpanEvents {
    pub(crate) fn push(&mut self, event: SpanEvent) {
        self.0.push(event);
    }

    /// The events as a `Vec`.
    pub fn into_vec(self) -> Vec<SpanEvent> {
        self.0.into_vec()
    }
}

impl Deref for SpanEvents {
    type Target = [SpanEvent];
    fn deref(&self) -> &[SpanEvent] {
        &self.0
    }
}

impl<'a> IntoIterator for &'a SpanEvents {
    type Item = &'a SpanEvent;
    type IntoIter = std::slice::Iter<'a, SpanEvent>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
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
    pub start_time: SystemTime,
    /// When it ended (equal to `start_time` until then).
    pub end_time: SystemTime,
    /// Attributes, within the limit.
    pub attributes: Vec<KeyValue>,
    /// Attributes dropped by the limit.
    pub dropped_attributes_count: u32,
    /// Events, within the limit.
    pub events: SpanEvents,
    /// Events dropped by the limit.
    pub dropped_events_count: u32,
    /// Links, within the limit.
    pub links: Vec<SpanLink>,
    /// Links dropped by the limit.
    pub dropped_links_count: u32,
    /// The outcome.
    pub status: Status,
    /// The instrumentation scope that created it.
    pub scope: Arc<InstrumentationScope>,
}

impl SpanData {
    /// The attribute `key`, if set.
    pub fn attribute(&self, key: &str) -> Option<&clew_api::Value> {
        self.attributes
            .iter()
            .find(|kv| kv.key == key)
            .map(|kv| &kv.value)
    }

    /// How long the span lasted.
    pub fn duration(&self) -> std::time::Duration {
        self.end_time
            .duration_since(self.start_time)
            .unwrap_or_default()
    }
}

/// The SDK's recording span. Its data lives in this one allocation from
/// start to export: processors and exporters receive a [`FinishedSpan`]
/// handle to it, so a span is never copied on its way out.
pub(crate) struct SdkSpan {
    context: SpanContext,
    live: Mutex<Live>,
    provider: Arc<ProviderShared>,
}

struct Live {
    data: SpanData,
    ended: bool,
}

impl fmt::Debug for SdkSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SdkSpan").field("context", &self.context).finish_non_exhaustive()
    }
}

impl SdkSpan {
    pub(crate) fn new(data: SpanData, provider: Arc<ProviderShared>) -> SdkSpan {
        SdkSpan {
            context: data.span_context.clone(),
            live: Mutex::new(Live { data, ended: false }),
            provider,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the data unless the span has ended.
    #[inline]
    fn with(&self, f: impl FnOnce(&mut SpanData, &ProviderShared)) {
        let mut live = self.lock();
        if !live.ended {
            f(&mut live.data, &self.provider);
        }
    }

    /// Gives processors a chance to change the data of a span that just started.
    pub(crate) fn on_start(&self, f: impl FnOnce(&mut SpanData)) {
        f(&mut self.lock().data)
    }

    /// Marks the span ended; true the first time.
    fn finish(&self, timestamp: Option<SystemTime>) -> bool {
        let mut live = self.lock();
        if live.ended {
            return false;
        }
        live.ended = true;
        live.data.end_time = timestamp.unwrap_or_else(SystemTime::now);
        true
    }
}

/// A span that has ended, as processors and exporters receive it: a cheap
/// handle (cloning it copies a pointer) to the span's data, which no longer
/// changes.
#[derive(Clone)]
pub struct FinishedSpan(Arc<SdkSpan>);

impl FinishedSpan {
    /// The span's data.
    pub fn data(&self) -> SpanDataRef<'_> {
        SpanDataRef(self.0.lock())
    }

    /// The span's identity, without touching its data.
    pub fn span_context(&self) -> &SpanContext {
        &self.0.context
    }

    /// A copy of the data, to keep beyond the export.
    pub fn to_data(&self) -> SpanData {
        self.data().clone()
    }
}

impl fmt::Debug for FinishedSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FinishedSpan").field(&*self.data()).finish()
    }
}

/// Read access to a finished span's data (see [`FinishedSpan::data`]).
pub struct SpanDataRef<'a>(MutexGuard<'a, Live>);

impl Deref for SpanDataRef<'_> {
    type Target = SpanData;
    fn deref(&self) -> &SpanData {
        &self.0.data
    }
}

impl fmt::Debug for SpanDataRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0.data, f)
    }
}

pub(crate) fn link_from(link: Link, limits: &crate::SpanLimits) -> SpanLink {
    let mut attributes = link.attributes;
    let dropped = limit_attributes(
        &mut attributes,
        limits.max_attributes_per_link,
        limits.max_attribute_value_length,
    );
    SpanLink {
        span_context: link.span_context,
        attributes,
        dropped_attributes_count: dropped,
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
        self.with(|data, p| {
            if !set_attribute(
                &mut data.attributes,
                attribute,
                p.limits.max_attributes_per_span,
                p.limits.max_attribute_value_length,
            ) {
                data.dropped_attributes_count += 1;
            }
        })
    }

    fn set_attributes(&self, attributes: Vec<KeyValue>) {
        self.with(|data, p| {
            for attribute in attributes {
                if !set_attribute(
                    &mut data.attributes,
                    attribute,
                    p.limits.max_attributes_per_span,
                    p.limits.max_attribute_value_length,
                ) {
                    data.dropped_attributes_count += 1;
                }
            }
        })
    }

    fn add_event(&self, event: Event) {
        self.with(|data, p| {
            if data.events.len() >= p.limits.max_events_per_span as usize {
                data.dropped_events_count += 1;
                return;
            }
            let mut attributes = event.attributes;
            let dropped = limit_attributes(
                &mut attributes,
                p.limits.max_attributes_per_event,
                p.limits.max_attribute_value_length,
            );
            data.events.push(SpanEvent {
                name: event.name,
                timestamp: event.timestamp,
                attributes,
                dropped_attributes_count: dropped,
            });
        })
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

    /// Without the owning reference the span cannot be queued: it is
    /// marked ended and not exported. The API never ends spans this way.
    fn end(&self, timestamp: Option<SystemTime>) {
        self.finish(timestamp);
    }

    fn end_owned(self: Arc<Self>, timestamp: Option<SystemTime>) {
        if self.finish(timestamp) {
            // The handle keeps the provider alive while its processors run;
            // cloning the span's own reference count, rather than the
            // provider's, keeps threads from contending on one counter.
            let span = FinishedSpan(self);
            span.0.provider.on_end(&span);
        }
    }
}
