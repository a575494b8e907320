//! The tracer provider: where spans start, are sampled and are handed to
//! processors.

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clew_api::global::{self, GlobalError};
use clew_api::trace::{
    InstrumentationScope, Span, SpanContext, SpanId, SpanStart, StartInPlace, TraceFlags, TraceId,
    Tracer, TracerProvider,
};
use clew_api::Context;

use crate::env::Env;
use crate::export::SpanExporter;
use crate::id::{random_span_id, random_trace_and_span_ids, IdGenerator, RandomIdGenerator};
use crate::limits::SpanLimits;
use crate::processor::{
    BatchConfig, BatchSpanProcessor, EndedSpan, ProcessorError, ProcessorStats,
    SimpleSpanProcessor, SpanProcessor,
};
use crate::resource::Resource;
use crate::sampler::{sampler_from_env, Sampler, SamplingDecision, SamplingParameters, Shortcut};
use crate::shutdown::ShutdownGuard;
use crate::span::{link_from, NewSpan, Scope, SdkSpan, SpanData, SpanLinks};

pub(crate) struct ProviderShared {
    pub(crate) resource: Arc<Resource>,
    pub(crate) limits: SpanLimits,
    sampler: Arc<dyn Sampler>,
    /// The sampler's decision as data when it is one of clew's own.
    shortcut: Option<Shortcut>,
    /// `None`: the built-in [`RandomIdGenerator`], called inline.
    id_generator: Option<Box<dyn IdGenerator>>,
    /// A new trace's flags: `random` when the trace ids are.
    root_flags: TraceFlags,
    processors: Vec<Box<dyn SpanProcessor>>,
    /// The only processor is clew's [`BatchSpanProcessor`], the common
    /// set-up, which [`on_end`](Self::on_end) then calls directly (inlined)
    /// rather than through its vtable.
    only_batch: bool,
    /// Some processor has an `on_start` ([`SpanProcessor::has_on_start`]).
    calls_on_start: bool,
    is_shutdown: AtomicBool,
    disabled: bool,
    /// `disabled || is_shutdown`: the one flag a span start reads.
    stopped: AtomicBool,
}

impl ProviderShared {
    /// Marks the provider shut down, so that spans started from now on do
    /// not record; true for the first call only, whose caller shuts the
    /// processors down.
    fn begin_shutdown(&self) -> bool {
        self.stopped.store(true, Ordering::Release);
        !self.is_shutdown.swap(true, Ordering::AcqRel)
    }

    /// Hands an ended span's data to the processors, moving it out of
    /// `data` (the clones for all but the last processor are read in place).
    ///
    /// # Safety
    /// `data` must point to a valid `SpanData` that nothing else reads,
    /// writes or drops afterwards.
    #[inline]
    pub(crate) unsafe fn on_end(&self, data: *mut SpanData) {
        // SAFETY: the caller gives up `data`; it is handed, where it lies, to
        // the last processor (the others get clones), which owns it from
        // then on. (Should one of several processors panic before the last,
        // this span's data is leaked, never freed twice: reading it into a
        // local first cost the single-processor path 10–25 instructions per
        // span, measured.)
        let ended = || unsafe { EndedSpan::new(NonNull::new_unchecked(data)) };
        if self.only_batch {
            // SAFETY: `only_batch` is set only when the one processor is a
            // `BatchSpanProcessor` (checked by its type at build), so the
            // box's data pointer points to one.
            let batch = unsafe {
                &*(&*self.processors[0] as *const dyn SpanProcessor).cast::<BatchSpanProcessor>()
            };
            return batch.on_end_in_place(ended());
        }
        match self.processors.as_slice() {
            [] => drop(ended()),
            [only] => only.on_end_in_place(ended()),
            [rest @ .., last] => {
                for p in rest {
                    p.on_end(unsafe { (*data).clone() });
                }
                last.on_end_in_place(ended());
            }
        }
    }
}

/// The SDK's tracer provider. Cheap to clone; clones share everything.
///
/// ```
/// use clew_sdk::{export::InMemoryExporter, SdkTracerProvider};
///
/// let exporter = InMemoryExporter::new();
/// let provider = SdkTracerProvider::builder()
///     .with_simple_exporter(exporter.clone())
///     .build();
/// provider.tracer("example").in_span("work", |_| {});
/// assert_eq!(exporter.finished_spans().len(), 1);
/// ```
#[derive(Clone)]
pub struct SdkTracerProvider {
    handle: Arc<ProviderHandle>,
}

/// The provider's configuration is allocated once and lives for the rest
/// of the process (it is small), so spans refer to it without a shared
/// reference count. Dropping the last handle shuts the processors down
/// without waiting: what they hold is exported in the background.
struct ProviderHandle {
    shared: &'static ProviderShared,
}

impl Drop for ProviderHandle {
    fn drop(&mut self) {
        if self.shared.begin_shutdown() {
            for p in &self.shared.processors {
                let _ = p.shutdown(Duration::ZERO);
            }
        }
    }
}

impl fmt::Debug for SdkTracerProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SdkTracerProvider")
            .field("resource", &self.shared().resource)
            .field("sampler", &self.shared().sampler.description())
            .field("limits", &self.shared().limits)
            .field("processors", &self.shared().processors)
            .field("disabled", &self.shared().disabled)
            .finish()
    }
}

/// Why a provider's flush or shutdown was incomplete.
#[derive(Debug)]
#[non_exhaustive]
pub struct ShutdownError {
    /// Each processor's error, in order.
    pub errors: Vec<ProcessorError>,
}

impl ShutdownError {
    /// Spans that were not exported, over all processors.
    pub fn spans_lost(&self) -> u64 {
        self.errors
            .iter()
            .map(|e| match e {
                ProcessorError::Timeout { spans_lost }
                | ProcessorError::SpansLost { spans_lost } => *spans_lost,
                _ => 0,
            })
            .sum()
    }
}

impl fmt::Display for ShutdownError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.errors.iter().map(ToString::to_string).collect();
        write!(f, "{}", parts.join("; "))
    }
}

impl std::error::Error for ShutdownError {}

impl SdkTracerProvider {
    #[inline]
    fn shared(&self) -> &'static ProviderShared {
        self.handle.shared
    }

    /// A builder; configuration not given in code comes from the environment.
    pub fn builder() -> SdkTracerProviderBuilder {
        SdkTracerProviderBuilder {
            env: Env::process(),
            resource: None,
            sampler: None,
            id_generator: None,
            limits: None,
            processors: Vec::new(),
            pending_batch: Vec::new(),
        }
    }

    /// A tracer for the scope `name`.
    pub fn tracer(&self, name: impl Into<Cow<'static, str>>) -> Tracer {
        self.tracer_with_scope(InstrumentationScope::new(name))
    }

    /// A tracer for a full scope.
    pub fn tracer_with_scope(&self, scope: InstrumentationScope) -> Tracer {
        Tracer::new(Arc::new(self.clone()), scope)
    }

    /// The resource every span of this provider is exported with.
    pub fn resource(&self) -> &Resource {
        &self.shared().resource
    }

    /// The sampler's description.
    pub fn sampler_description(&self) -> String {
        self.shared().sampler.description()
    }

    /// The span limits in use.
    pub fn limits(&self) -> SpanLimits {
        self.shared().limits
    }

    /// True when `OTEL_SDK_DISABLED` turned this provider into a no-op.
    pub fn is_disabled(&self) -> bool {
        self.shared().disabled
    }

    /// Each processor's counters, in order.
    pub fn processor_stats(&self) -> Vec<ProcessorStats> {
        self.shared()
            .processors
            .iter()
            .filter_map(|p| p.stats())
            .collect()
    }

    /// Runs `op` on every processor, sharing one deadline; collects the errors.
    fn each_processor(
        &self,
        timeout: Duration,
        op: impl Fn(&dyn SpanProcessor, Duration) -> Result<(), ProcessorError>,
    ) -> Result<(), ShutdownError> {
        let deadline = crate::export::deadline_after(timeout);
        let errors: Vec<ProcessorError> = self
            .shared()
            .processors
            .iter()
            .filter_map(|p| op(&**p, deadline.saturating_duration_since(Instant::now())).err())
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ShutdownError { errors })
        }
    }

    /// Exports everything ended so far, within `timeout` overall.
    pub fn force_flush(&self, timeout: Duration) -> Result<(), ShutdownError> {
        self.each_processor(timeout, |p, left| p.force_flush(left))
    }

    /// Flushes and shuts every processor down, within `timeout` overall.
    /// Afterwards spans are non-recording (they still carry the trace).
    /// A second call returns an error.
    pub fn shutdown(&self, timeout: Duration) -> Result<(), ShutdownError> {
        if !self.shared().begin_shutdown() {
            return Err(ShutdownError {
                errors: vec![ProcessorError::AlreadyShutdown],
            });
        }
        self.each_processor(timeout, |p, left| p.shutdown(left))
    }

    /// A guard that shuts this provider down, within `timeout`, when dropped.
    pub fn shutdown_guard(&self, timeout: Duration) -> ShutdownGuard {
        ShutdownGuard::new(self.clone(), timeout)
    }

    /// Installs this provider as the global one (`clew_api::global`), so that
    /// every `global::tracer` records through it.
    pub fn install_global(&self) -> Result<(), GlobalError> {
        global::set_tracer_provider(Arc::new(self.clone()))
    }
}

impl TracerProvider for SdkTracerProvider {
    // Both starts are left where the caller put them (`InPlace`): read from
    // there only when the span records, dropped there when it does not.
    fn start_span(
        &self,
        scope: &'static InstrumentationScope,
        start: SpanStart,
        parent: &Context,
    ) -> Span {
        let mut start = ManuallyDrop::new(start);
        start_span_from(self.shared(), scope, InPlace(&mut start), parent)
    }

    fn start_named_span(
        &self,
        scope: &'static InstrumentationScope,
        name: Cow<'static, str>,
        parent: &Context,
    ) -> Span {
        let mut name = ManuallyDrop::new(name);
        start_span_from(self.shared(), scope, InPlace(&mut name), parent)
    }

    fn start_span_in_place(
        &self,
        scope: &'static InstrumentationScope,
        start: StartInPlace<'_>,
        parent: &Context,
    ) -> Span {
        start_span_from(self.shared(), scope, start, parent)
    }
}

/// What a span starts from: a full [`SpanStart`], or a name alone, whose
/// start is built only when the span records (an unsampled span then never
/// builds, moves or forgets one).
trait StartSource {
    fn into_start(self) -> SpanStart;
    /// Releases what a span that is not recorded was given.
    fn discard(self);
}

impl StartSource for SpanStart {
    #[inline(always)]
    fn into_start(self) -> SpanStart {
        self
    }

    #[inline(always)]
    fn discard(self) {
        discard_name(self.name);
        discard(self.attributes);
        discard(self.links);
    }
}

impl StartSource for Cow<'static, str> {
    #[inline(always)]
    fn into_start(self) -> SpanStart {
        SpanStart::new(self)
    }

    #[inline(always)]
    fn discard(self) {
        discard_name(self);
    }
}

/// A builder's start, where the API left it.
impl StartSource for StartInPlace<'_> {
    #[inline(always)]
    fn into_start(self) -> SpanStart {
        self.take()
    }

    #[inline(always)]
    fn discard(self) {
        self.take().discard()
    }
}

/// A start owned by the caller's `ManuallyDrop`, used where it lies: taken
/// (when the span records) or released (when not) exactly once, through one
/// of the two methods. Moved in by value instead, the start was copied on
/// every span: the name alone cost three nested spans 40 instructions, a
/// `SpanStart` the 4-attribute span 3–5.
struct InPlace<'a, S>(&'a mut ManuallyDrop<S>);

impl<S: StartSource> StartSource for InPlace<'_, S> {
    #[inline(always)]
    fn into_start(self) -> SpanStart {
        // SAFETY: the start is taken once, here, and never touched again.
        unsafe { ManuallyDrop::take(self.0) }.into_start()
    }

    #[inline(always)]
    fn discard(self) {
        // SAFETY: as above.
        unsafe { ManuallyDrop::take(self.0) }.discard()
    }
}

#[inline(always)]
fn start_span_from(
    shared: &'static ProviderShared,
    scope: &'static InstrumentationScope,
    start: impl StartSource,
    parent: &Context,
) -> Span {
    let parent_sc = parent.span_context();
    if shared.stopped.load(Ordering::Relaxed) || parent.is_telemetry_suppressed() {
        start.discard();
        return Span::non_recording(parent_sc.clone());
    }
    let (trace_id, span_id, base_flags) = shared.new_ids(parent_sc);
    let Some(shortcut) = shared.shortcut else {
        return start_with_sampler(
            shared,
            scope,
            start.into_start(),
            parent,
            trace_id,
            span_id,
            base_flags,
        );
    };
    // One of clew's own samplers: decided here, without a call. (The
    // context is built in each branch: one construction before the
    // branch measured 6 instructions more unsampled, ~50 more for three
    // nested spans, through the code LLVM then laid out.)
    if !shortcut.sampled(parent_sc) {
        start.discard();
        return Span::non_recording_from_new_ids(SpanContext::new(
            trace_id,
            span_id,
            base_flags.with_sampled(false),
            false,
            parent_sc.trace_state().clone(),
        ));
    }
    let context = SpanContext::new(
        trace_id,
        span_id,
        base_flags.with_sampled(true),
        false,
        parent_sc.trace_state().clone(),
    );
    start_recording(shared, scope, start, parent, parent_sc, context)
}

impl ProviderShared {
    /// The new span's trace id (the parent's, if any), span id, and the
    /// flags it inherits or, for a new trace, starts with. Inlined by
    /// force: with two start entry points LLVM put it out of line, and an
    /// unsampled span cost 269 instructions instead of 248.
    #[inline(always)]
    fn new_ids(&self, parent: &SpanContext) -> (TraceId, SpanId, TraceFlags) {
        match (&self.id_generator, parent.is_valid()) {
            (None, true) => (parent.trace_id(), random_span_id(), parent.trace_flags()),
            (None, false) => {
                let (trace_id, span_id) = random_trace_and_span_ids();
                (trace_id, span_id, self.root_flags)
            }
            (Some(g), true) => (
                parent.trace_id(),
                checked_id(g.new_span_id(), SpanId::is_valid, "span", random_span_id),
                parent.trace_flags(),
            ),
            (Some(g), false) => (
                checked_id(g.new_trace_id(), TraceId::is_valid, "trace", || {
                    RandomIdGenerator.new_trace_id()
                }),
                checked_id(g.new_span_id(), SpanId::is_valid, "span", random_span_id),
                self.root_flags,
            ),
        }
    }
}

/// A custom generator's `kind` id, or, when it made the invalid all-zero
/// id, a `random` one and a diagnostic: every id a span starts with is
/// valid, which the unsampled path relies on
/// ([`Span::non_recording_from_new_ids`]), and no exporter is handed a span
/// that a backend would reject.
#[inline]
fn checked_id<T>(id: T, is_valid: fn(&T) -> bool, kind: &str, random: fn() -> T) -> T {
    if is_valid(&id) {
        return id;
    }
    report_invalid_id(kind);
    random()
}

#[cold]
fn report_invalid_id(kind: &str) {
    crate::diagnostics::report(crate::diagnostics::Diagnostic::Other(format!(
        "the id generator made an invalid (all-zero) {kind} id; a random one is used instead"
    )));
}

/// Span start with a sampler that is not one of clew's own: its result may
/// add attributes and replace the trace state.
#[inline(never)]
fn start_with_sampler(
    shared: &'static ProviderShared,
    scope: &'static InstrumentationScope,
    mut start: SpanStart,
    parent: &Context,
    trace_id: TraceId,
    span_id: SpanId,
    base_flags: TraceFlags,
) -> Span {
    let parent_sc = parent.span_context();
    let result = shared.sampler.should_sample(&SamplingParameters {
        parent,
        trace_id,
        name: &start.name,
        kind: start.kind,
        attributes: &start.attributes,
        links: &start.links,
    });
    let sampled = result.decision == SamplingDecision::RecordAndSample;
    let trace_state = result
        .trace_state
        .unwrap_or_else(|| parent_sc.trace_state().clone());
    let context = SpanContext::new(
        trace_id,
        span_id,
        base_flags.with_sampled(sampled),
        false,
        trace_state,
    );
    if result.decision == SamplingDecision::Drop {
        start.discard();
        discard(result.attributes);
        return Span::non_recording_from_new_ids(context);
    }
    // The sampler's attributes join the span's, before the limits apply.
    if !result.attributes.is_empty() {
        start.attributes.extend(result.attributes);
    }
    start_recording(
        shared,
        scope,
        InPlace(&mut ManuallyDrop::new(start)),
        parent,
        parent_sc,
        context,
    )
}

/// Starts a recording span: limits applied, data written in place,
/// processors told. Inlined by force into the SDK's entry: out of line (to
/// keep the unsampled path a small function), its call, its saved registers
/// and its arguments' moves cost the 4-attribute span about 22 instructions
/// and three nested spans 100, while the entry saves the same registers on
/// every path anyway (unsampled 132 -> 131). `start` is an [`InPlace`]
/// start (moving a `SpanStart` in by value copied its 96 bytes).
/// `parent_sc` is `parent`'s span context, which the caller has read
/// already: for a recording parent, reading it again is a dynamic call.
#[inline(always)]
fn start_recording<S: StartSource>(
    shared: &'static ProviderShared,
    scope: &'static InstrumentationScope,
    start: S,
    parent: &Context,
    parent_sc: &SpanContext,
    context: SpanContext,
) -> Span {
    // The allocation (with the context written) and the scope first, then
    // the start's parts, each computed and stored straight into the record:
    // a call that might unwind while the parts were held kept them all on
    // the stack, and copied them.
    let span = SdkSpan::unique_arc(shared, context);
    let scope = Scope::interned(scope);
    let SpanStart {
        name,
        kind,
        mut attributes,
        links: start_links,
        start_time,
        ..
    } = start.into_start();
    let start_time = start_time.unwrap_or_else(clew_api::time::now);
    let limits = &shared.limits;
    let dropped_attributes_count =
        limits.limit_list(&mut attributes, limits.max_attributes_per_span);
    let link_count = start_links.len();
    let links: SpanLinks = if start_links.is_empty() {
        discard(start_links);
        SpanLinks::default()
    } else {
        start_links
            .into_iter()
            .take(limits.max_links_per_span as usize)
            .map(|l| link_from(l, limits))
            .collect::<Vec<_>>()
            .into()
    };
    let span = SdkSpan::start(
        span,
        NewSpan {
            parent_span_id: if parent_sc.is_valid() {
                parent_sc.span_id()
            } else {
                SpanId::INVALID
            },
            parent_is_remote: parent_sc.is_remote(),
            name,
            kind,
            start_time,
            attributes,
            dropped_attributes_count,
            dropped_links_count: (link_count - links.len()) as u32,
            links,
            scope,
        },
        |data| {
            if shared.calls_on_start {
                for p in &shared.processors {
                    p.on_start(data, parent);
                }
            }
        },
    );
    Span::from_backend(span)
}

/// Drops `v`. An unallocated `Vec`, what an unsampled span's start almost
/// always carries, owns nothing: forgetting it skips the drop glue's call
/// (about 15 instructions each, a tenth of the unsampled path for three).
#[inline(always)]
pub(crate) fn discard<T>(v: Vec<T>) {
    if v.capacity() == 0 {
        std::mem::forget(v);
    } else {
        drop(v);
    }
}

/// Drops `name`. A borrowed name, or an owned one without an allocation,
/// owns nothing. With the free out of line, LLVM asks that as one compare
/// of the capacity word (a borrowed name keeps a negative value there);
/// the inline drop glue asked "borrowed?" and "empty?" apart, 4
/// instructions instead of 2 on every unsampled span (135 -> 133).
#[inline(always)]
fn discard_name(name: Cow<'static, str>) {
    let owns_nothing = match &name {
        Cow::Borrowed(_) => true,
        Cow::Owned(s) => s.capacity() == 0,
    };
    if owns_nothing {
        std::mem::forget(name);
    } else {
        drop_name(name);
    }
}

/// The free of a name that owns an allocation; see [`discard_name`].
#[cold]
#[inline(never)]
fn drop_name(name: Cow<'static, str>) {
    drop(name);
}

/// Builds an [`SdkTracerProvider`].
pub struct SdkTracerProviderBuilder {
    env: Env,
    resource: Option<Resource>,
    sampler: Option<Arc<dyn Sampler>>,
    id_generator: Option<Box<dyn IdGenerator>>,
    limits: Option<SpanLimits>,
    processors: Vec<Box<dyn SpanProcessor>>,
    pending_batch: Vec<(usize, Box<dyn SpanExporter>, Option<BatchConfig>)>,
}

impl fmt::Debug for SdkTracerProviderBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SdkTracerProviderBuilder")
            .field("env", &self.env)
            .finish_non_exhaustive()
    }
}

impl SdkTracerProviderBuilder {
    /// Reads configuration from `env` instead of the process environment.
    pub fn with_env(mut self, env: Env) -> Self {
        self.env = env;
        self
    }

    /// Sets the resource (default: [`Resource::builder`] from the environment).
    pub fn with_resource(mut self, resource: Resource) -> Self {
        self.resource = Some(resource);
        self
    }

    /// Sets the sampler (default: `OTEL_TRACES_SAMPLER`, else parent-based always-on).
    pub fn with_sampler(mut self, sampler: impl Sampler + 'static) -> Self {
        self.sampler = Some(Arc::new(sampler));
        self
    }

    /// Sets the id generator (default: [`RandomIdGenerator`]).
    pub fn with_id_generator<G: IdGenerator>(mut self, generator: G) -> Self {
        // The built-in generator is called inline rather than through the box.
        self.id_generator = if (&generator as &dyn std::any::Any).is::<RandomIdGenerator>() {
            None
        } else {
            Some(Box::new(generator))
        };
        self
    }

    /// Sets the span limits (default: from the environment).
    pub fn with_span_limits(mut self, limits: SpanLimits) -> Self {
        self.limits = Some(limits);
        self
    }

    /// Adds a processor; spans go to every processor, in order.
    pub fn with_span_processor(mut self, processor: impl SpanProcessor) -> Self {
        self.processors.push(Box::new(processor));
        self
    }

    /// Adds a [`SimpleSpanProcessor`] for `exporter`.
    pub fn with_simple_exporter(self, exporter: impl SpanExporter) -> Self {
        self.with_span_processor(SimpleSpanProcessor::new(exporter))
    }

    /// Adds a [`BatchSpanProcessor`] for `exporter`, configured from the
    /// environment (`OTEL_BSP_*`).
    pub fn with_batch_exporter(mut self, exporter: impl SpanExporter) -> Self {
        self.pending_batch
            .push((self.processors.len(), Box::new(exporter), None));
        self
    }

    /// Adds a [`BatchSpanProcessor`] for `exporter` with `config`.
    pub fn with_batch_exporter_config(
        mut self,
        exporter: impl SpanExporter,
        config: BatchConfig,
    ) -> Self {
        self.pending_batch
            .push((self.processors.len(), Box::new(exporter), Some(config)));
        self
    }

    /// Builds the provider. With `OTEL_SDK_DISABLED=true` it records nothing
    /// (spans still propagate context) and starts no thread.
    pub fn build(self) -> SdkTracerProvider {
        let env = self.env;
        let disabled = env.bool("OTEL_SDK_DISABLED");
        let mut processors = self.processors;
        if !disabled {
            // Insert batch processors where they were added, once the
            // environment that configures them is known.
            for (offset, (index, exporter, config)) in self.pending_batch.into_iter().enumerate() {
                let config = config.unwrap_or_else(|| BatchConfig::from_env(&env));
                let processor = BatchSpanProcessor::builder(exporter)
                    .with_config(config)
                    .build();
                processors.insert((index + offset).min(processors.len()), Box::new(processor));
            }
        }
        let resource = Arc::new(
            self.resource
                .unwrap_or_else(|| Resource::builder().with_env(env.clone()).build()),
        );
        for p in &processors {
            p.set_resource(&resource);
        }
        let random_ids = self
            .id_generator
            .as_ref()
            .is_none_or(|g| g.trace_ids_are_random());
        let sampler = self.sampler.unwrap_or_else(|| sampler_from_env(&env));
        let shared: &'static ProviderShared = Box::leak(Box::new(ProviderShared {
            resource,
            limits: self.limits.unwrap_or_else(|| SpanLimits::from_env(&env)),
            shortcut: sampler.shortcut(),
            sampler,
            root_flags: TraceFlags::NONE.with_random(random_ids),
            id_generator: self.id_generator,
            calls_on_start: !disabled && processors.iter().any(|p| p.has_on_start()),
            only_batch: !disabled
                && matches!(processors.as_slice(), [only] if (&**only as &dyn Any).is::<BatchSpanProcessor>()),
            processors: if disabled { Vec::new() } else { processors },
            is_shutdown: AtomicBool::new(false),
            disabled,
            stopped: AtomicBool::new(disabled),
        }));
        SdkTracerProvider {
            handle: Arc::new(ProviderHandle { shared }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Env;
    use crate::export::InMemoryExporter;

    fn builder() -> SdkTracerProviderBuilder {
        SdkTracerProvider::builder().with_env(Env::from_pairs(std::iter::empty::<(&str, &str)>()))
    }

    /// Ends a span named `name` on `provider` and checks, after a flush,
    /// that `exporter` received it.
    fn one_span(provider: &SdkTracerProvider, exporter: &InMemoryExporter, name: &'static str) {
        provider.tracer("t").span(name).start().end();
        provider.force_flush(Duration::from_secs(5)).unwrap();
        let names: Vec<_> = exporter
            .finished_spans()
            .iter()
            .map(|s| s.name.to_string())
            .collect();
        assert!(
            names.iter().any(|n| n == name),
            "{name} not exported: {names:?}"
        );
    }

    /// The direct call is taken only when the one processor is clew's batch
    /// processor, however it was added; every other set-up goes through the
    /// vtable, and each exports its spans.
    #[test]
    fn only_a_lone_batch_processor_is_called_directly() {
        let exporter = InMemoryExporter::new();
        let provider = builder().with_batch_exporter(exporter.clone()).build();
        assert!(provider.shared().only_batch);
        one_span(&provider, &exporter, "batch exporter");

        let exporter = InMemoryExporter::new();
        let provider = builder()
            .with_span_processor(BatchSpanProcessor::builder(exporter.clone()).build())
            .build();
        assert!(provider.shared().only_batch);
        one_span(&provider, &exporter, "batch processor");

        let exporter = InMemoryExporter::new();
        let provider = builder().with_simple_exporter(exporter.clone()).build();
        assert!(!provider.shared().only_batch);
        one_span(&provider, &exporter, "simple");

        let (first, second) = (InMemoryExporter::new(), InMemoryExporter::new());
        let provider = builder()
            .with_batch_exporter(first.clone())
            .with_simple_exporter(second.clone())
            .build();
        assert!(!provider.shared().only_batch);
        one_span(&provider, &first, "two processors");
        one_span(&provider, &second, "two processors, second");

        let provider = builder()
            .with_env(Env::from_pairs([("OTEL_SDK_DISABLED", "true")]))
            .with_batch_exporter(InMemoryExporter::new())
            .build();
        assert!(!provider.shared().only_batch);
    }
}
