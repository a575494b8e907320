//! Span processors: what happens to a span when it starts and ends.
//!
//! [`BatchSpanProcessor`] is what production services use: a bounded queue
//! drained by its own thread, which never blocks the application and never
//! needs the application's async runtime. [`SimpleSpanProcessor`] exports
//! each span as it ends, on the ending thread: for tests and debugging.

use crate::queue_lock::{QueueLock, QueueLockGuard};
use std::any::Any;
use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use clew_api::Context;

use crate::diagnostics::{self, Diagnostic};
use crate::env::Env;
use crate::export::{deadline_after, BufferPool, ExportError, SpanExporter};
use crate::lock;
use crate::resource::Resource;
use crate::span::SpanData;

/// Why a flush or shutdown did not fully succeed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ProcessorError {
    /// It did not finish in time; `spans_lost` spans were not exported.
    Timeout {
        /// Spans still queued or in flight when time ran out.
        spans_lost: u64,
    },
    /// The processor was already shut down.
    AlreadyShutdown,
    /// The exporter failed.
    Export(ExportError),
    /// It finished in time, but exports failed on the way (or spans were
    /// refused as the queue filled meanwhile): `spans_lost` spans were
    /// dropped during the flush or shutdown.
    SpansLost {
        /// Spans dropped between the start and the end of the operation.
        spans_lost: u64,
    },
}

impl fmt::Display for ProcessorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcessorError::Timeout { spans_lost } => {
                write!(f, "timed out with {spans_lost} spans not exported")
            }
            ProcessorError::AlreadyShutdown => f.write_str("already shut down"),
            ProcessorError::Export(e) => write!(f, "{e}"),
            ProcessorError::SpansLost { spans_lost } => {
                write!(f, "{spans_lost} spans were dropped: the exporter failed")
            }
        }
    }
}

impl std::error::Error for ProcessorError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ProcessorError::Export(e) => Some(e),
            _ => None,
        }
    }
}

/// Counters a processor keeps, exact at every moment:
/// `created == exported + dropped + queued`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ProcessorStats {
    /// Sampled spans handed to the processor.
    pub created: u64,
    /// Spans the exporter accepted.
    pub exported: u64,
    /// Spans lost: queue full, failed export, or arriving after shutdown
    /// (the seed's `otel_bsp_dropped_spans`).
    pub dropped: u64,
    /// Spans waiting in the queue or in an export under way.
    pub queued: u64,
    /// Export calls that failed.
    pub failed_exports: u64,
}

/// Receives spans as they start and end. (`Any` lets the provider
/// recognise its own [`BatchSpanProcessor`] and call it without a vtable;
/// every `'static` type is `Any`.)
pub trait SpanProcessor: Any + Send + Sync + fmt::Debug + 'static {
    /// Called when a recording span starts; it may add to the span's data.
    fn on_start(&self, _span: &mut SpanData, _parent: &Context) {}

    /// False when [`on_start`](Self::on_start) does nothing, so the provider
    /// may skip calling it. When no processor of a provider has one, a
    /// recording span's start makes no `on_start` call at all; when any has,
    /// every processor's is called. The default is true: a processor that
    /// overrides `on_start` needs nothing more.
    fn has_on_start(&self) -> bool {
        true
    }

    /// Called when a recording span ends. Must not block.
    fn on_end(&self, span: SpanData);

    /// Called by the provider when a recording span ends, instead of
    /// [`on_end`](Self::on_end): the same span, where it lies rather than
    /// moved into the call, so a processor that stores spans can copy each
    /// one once, straight into its storage ([`EndedSpan::push_to`]). The
    /// default takes the data and calls `on_end`.
    fn on_end_in_place(&self, span: EndedSpan<'_>) {
        self.on_end(span.take());
    }

    /// Exports everything received so far, within `timeout`.
    fn force_flush(&self, timeout: Duration) -> Result<(), ProcessorError>;

    /// Flushes, then shuts the processor and its exporter down, within
    /// `timeout`. A zero timeout asks for the shutdown without waiting for it.
    fn shutdown(&self, timeout: Duration) -> Result<(), ProcessorError>;

    /// Receives the provider's resource before any span.
    fn set_resource(&self, _resource: &Arc<Resource>) {}

    /// The processor's counters, if it keeps any.
    fn stats(&self) -> Option<ProcessorStats> {
        None
    }
}

/// An ended span's data where it lies, owned by the processor it is handed
/// to ([`SpanProcessor::on_end_in_place`]): taken out with
/// [`take`](Self::take) or [`push_to`](Self::push_to), read through `Deref`,
/// or dropped in place.
pub struct EndedSpan<'a> {
    data: NonNull<SpanData>,
    _owns: PhantomData<&'a mut SpanData>,
}

impl EndedSpan<'_> {
    /// # Safety
    /// `data` must point to a valid `SpanData` that outlives the returned
    /// value and that nothing else reads, writes or drops afterwards.
    #[inline]
    pub(crate) unsafe fn new(data: NonNull<SpanData>) -> Self {
        EndedSpan {
            data,
            _owns: PhantomData,
        }
    }

    /// The data, moved out.
    #[inline]
    pub fn take(self) -> SpanData {
        let this = ManuallyDrop::new(self);
        // SAFETY: owned (see `new`); `this` is not dropped, so the data is
        // moved out exactly once.
        unsafe { this.data.as_ptr().read() }
    }

    /// Moves the data to the end of `spans`: one copy, from where the span
    /// lies into the vector's buffer.
    #[inline]
    pub fn push_to(self, spans: &mut Vec<SpanData>) {
        spans.reserve(1);
        let this = ManuallyDrop::new(self);
        let len = spans.len();
        // SAFETY: `reserve` made room for one more; the data is owned (see
        // `new`) and, as `this` is not dropped, moved exactly once; the two
        // places do not overlap (the vector's buffer is its own allocation).
        unsafe {
            std::ptr::copy_nonoverlapping(this.data.as_ptr(), spans.as_mut_ptr().add(len), 1);
            spans.set_len(len + 1);
        }
    }
}

impl Deref for EndedSpan<'_> {
    type Target = SpanData;
    #[inline]
    fn deref(&self) -> &SpanData {
        // SAFETY: valid and owned (see `new`).
        unsafe { self.data.as_ref() }
    }
}

impl Drop for EndedSpan<'_> {
    fn drop(&mut self) {
        // SAFETY: owned (see `new`) and not moved out (`take` and `push_to`
        // skip this).
        unsafe { std::ptr::drop_in_place(self.data.as_ptr()) }
    }
}

impl fmt::Debug for EndedSpan<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Exports each sampled span when it ends, on the ending thread, one export
/// at a time.
pub struct SimpleSpanProcessor {
    exporter: Mutex<Box<dyn SpanExporter>>,
    stats: Mutex<ProcessorStats>,
    resource: OnceLock<Arc<Resource>>,
    timeout: Duration,
}

impl fmt::Debug for SimpleSpanProcessor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimpleSpanProcessor")
            .field("stats", &*lock(&self.stats))
            .finish_non_exhaustive()
    }
}

impl SimpleSpanProcessor {
    /// A processor for `exporter`, with a 10 s export timeout.
    pub fn new(exporter: impl SpanExporter) -> SimpleSpanProcessor {
        SimpleSpanProcessor {
            exporter: Mutex::new(Box::new(exporter)),
            stats: Mutex::new(ProcessorStats::default()),
            resource: OnceLock::new(),
            timeout: Duration::from_secs(10),
        }
    }
}

impl SpanProcessor for SimpleSpanProcessor {
    fn has_on_start(&self) -> bool {
        false
    }

    fn on_end(&self, span: SpanData) {
        if !span.span_context.is_sampled() {
            return;
        }
        let exporter = lock(&self.exporter);
        {
            let mut stats = lock(&self.stats);
            stats.created += 1;
            stats.queued += 1;
        }
        let resource = self.resource.get().cloned().unwrap_or_default();
        let result = crate::export::export_guarded(
            &**exporter,
            crate::export::SpanBatch::new(vec![span]),
            &resource,
            self.timeout,
        );
        let mut stats = lock(&self.stats);
        stats.queued -= 1;
        match result {
            Ok(()) => stats.exported += 1,
            Err(e) => {
                stats.dropped += 1;
                stats.failed_exports += 1;
                drop(stats);
                diagnostics::report(Diagnostic::ExportFailed {
                    processor: "SimpleSpanProcessor",
                    spans: 1,
                    error: e.to_string(),
                });
            }
        }
    }

    fn force_flush(&self, timeout: Duration) -> Result<(), ProcessorError> {
        lock(&self.exporter)
            .force_flush(timeout)
            .map_err(ProcessorError::Export)
    }

    fn shutdown(&self, timeout: Duration) -> Result<(), ProcessorError> {
        lock(&self.exporter)
            .shutdown(timeout)
            .map_err(ProcessorError::Export)
    }

    fn set_resource(&self, resource: &Arc<Resource>) {
        let _ = self.resource.set(Arc::clone(resource));
    }

    fn stats(&self) -> Option<ProcessorStats> {
        Some(*lock(&self.stats))
    }
}

/// Batch processor settings. Code beats `OTEL_BSP_*`, which beats the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BatchConfig {
    /// The most spans waiting for export; more are dropped (default 2048).
    pub max_queue_size: usize,
    /// Export at least this often when spans are waiting (default 5 s).
    pub scheduled_delay: Duration,
    /// The most spans per export call (default 512); reaching it in the
    /// queue also starts an export.
    pub max_export_batch_size: usize,
    /// How long one export may take (default 30 s).
    pub export_timeout: Duration,
    /// The most exports in flight at once. `None` (the default) leaves it
    /// to the exporter ([`SpanExporter::max_concurrent_exports`]: 1 for
    /// most, more for OTLP, whose throughput is bound by round trips).
    /// Batches in flight are outside the queue: memory is bounded by
    /// `max_queue_size` plus this many batches.
    pub max_concurrent_exports: Option<usize>,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_queue_size: 2048,
            scheduled_delay: Duration::from_millis(5000),
            max_export_batch_size: 512,
            export_timeout: Duration::from_millis(30_000),
            max_concurrent_exports: None,
        }
    }
}

impl BatchConfig {
    /// The configuration from `OTEL_BSP_SCHEDULE_DELAY`,
    /// `OTEL_BSP_EXPORT_TIMEOUT`, `OTEL_BSP_MAX_QUEUE_SIZE`,
    /// `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` and `OTEL_BSP_MAX_CONCURRENT_EXPORTS`
    /// (not in the specification; opentelemetry-rust's name); zero sizes
    /// are invalid.
    pub fn from_env(env: &Env) -> BatchConfig {
        let d = BatchConfig::default();
        let positive = |name: &str| match env.usize(name) {
            Some(0) => {
                crate::env::invalid(name, "0", "must be greater than zero; using the default");
                None
            }
            other => other,
        };
        BatchConfig {
            max_queue_size: positive("OTEL_BSP_MAX_QUEUE_SIZE").unwrap_or(d.max_queue_size),
            scheduled_delay: env
                .millis("OTEL_BSP_SCHEDULE_DELAY")
                .unwrap_or(d.scheduled_delay),
            max_export_batch_size: positive("OTEL_BSP_MAX_EXPORT_BATCH_SIZE")
                .unwrap_or(d.max_export_batch_size),
            export_timeout: env
                .timeout("OTEL_BSP_EXPORT_TIMEOUT")
                .unwrap_or(d.export_timeout),
            max_concurrent_exports: positive("OTEL_BSP_MAX_CONCURRENT_EXPORTS"),
        }
        .validated()
    }

    /// Sets the queue size.
    pub fn with_max_queue_size(mut self, n: usize) -> Self {
        self.max_queue_size = n.max(1);
        self.validated()
    }

    /// Sets the schedule delay.
    pub fn with_scheduled_delay(mut self, delay: Duration) -> Self {
        self.scheduled_delay = delay;
        self
    }

    /// Sets the export batch size.
    pub fn with_max_export_batch_size(mut self, n: usize) -> Self {
        self.max_export_batch_size = n.max(1);
        self.validated()
    }

    /// Sets the export timeout.
    pub fn with_export_timeout(mut self, timeout: Duration) -> Self {
        self.export_timeout = timeout;
        self
    }

    /// Sets how many exports may be in flight at once (at least 1),
    /// overriding the exporter's choice.
    pub fn with_max_concurrent_exports(mut self, n: usize) -> Self {
        self.max_concurrent_exports = Some(n.max(1));
        self
    }

    /// The batch size may not exceed the queue size (specification).
    fn validated(mut self) -> Self {
        self.max_export_batch_size = self.max_export_batch_size.min(self.max_queue_size);
        self
    }
}

/// How many queues producers spread over: each thread sticks to one, so
/// threads rarely share a lock. The queue-size limit applies to each.
/// A power of two: a thread's index is masked into range, without a bounds
/// check.
const SHARDS: usize = 4;
const _: () = assert!(SHARDS.is_power_of_two());

/// One producer queue, on cache lines of its own: two producers filling
/// neighbouring shards do not invalidate each other's lines.
#[derive(Default)]
#[repr(align(128))]
struct Shard {
    /// The batch being filled, up to `max_export_batch_size`.
    current: Vec<SpanData>,
    /// Full batches, waiting for the worker.
    full: VecDeque<Vec<SpanData>>,
    /// Spans in `current` and `full`.
    waiting: usize,
    /// How many may wait: the queue size, or zero once the processor shuts
    /// down ([`BatchShared::close`]). One comparison on every span checks
    /// both.
    limit: usize,
    /// Sampled spans received.
    created: u64,
    /// Spans dropped because the queue was full or shut down.
    dropped: u64,
    /// Drops not yet reported (the worker reports them, so a full queue never
    /// contends on the diagnostics channel).
    unreported_drops: u64,
}

/// What the worker and the waiting callers share.
#[derive(Default)]
struct Control {
    exported: u64,
    /// Spans lost to failed exports.
    failed_spans: u64,
    failed_exports: u64,
    flush_requested: u64,
    flush_done: u64,
    worker_exited: bool,
    /// The worker is blocked waiting for work, so producers must wake it.
    worker_waiting: bool,
    /// When the caller of `shutdown` stops waiting: exports during the
    /// shutdown get no more time than that.
    shutdown_deadline: Option<Instant>,
}

/// A batch the worker handed to a helper thread.
struct Handoff {
    spans: Vec<SpanData>,
    resource: Arc<Resource>,
    timeout: Duration,
}

/// The export lanes: the worker and its helper threads, each running at
/// most one export, so at most `max_concurrent_exports` run at once.
#[derive(Default)]
struct LaneState {
    /// Batches handed to helpers and not yet taken.
    handed: VecDeque<Handoff>,
    /// Helpers free to take a batch, not counting those already handed one.
    idle: usize,
    /// Exports running or handed over, the worker's own included.
    in_flight: usize,
    /// Helpers exit once nothing is handed.
    stop: bool,
}

/// The batch processor runs at most this many exports at once, whatever
/// the configuration says.
pub const MAX_CONCURRENT_EXPORTS: usize = 64;

struct BatchShared {
    shards: [QueueLock<Shard>; SHARDS],
    control: Mutex<Control>,
    shutdown: AtomicBool,
    /// Bumped at everything the worker must act on: a full batch handed
    /// over, a flush or shutdown asked for. The worker polls it while it
    /// waits briefly on a busy queue ([`Pace`]).
    signals: AtomicUsize,
    lanes: Mutex<LaneState>,
    /// The worker wakes helpers through this.
    lane_work: Condvar,
    /// Helpers tell the worker an export finished through this.
    lane_done: Condvar,
    /// Producers and callers wake the worker through this.
    work: Condvar,
    /// The worker wakes flush and shutdown callers through this.
    progress: Condvar,
    config: BatchConfig,
    exporter: Box<dyn SpanExporter>,
    resource: OnceLock<Arc<Resource>>,
    buffers: Arc<BufferPool>,
}

impl BatchShared {
    /// Closes every shard to new spans, then marks the processor shut
    /// down; returns whether it already was. In that order: a worker that
    /// sees the mark and drains the shards for the last time knows that no
    /// span can be queued after it (each limit was set under its shard's
    /// lock before the mark, which the worker reads with `Acquire`).
    fn close(&self) -> bool {
        for shard in &self.shards {
            shard.lock().limit = 0;
        }
        self.shutdown.swap(true, Ordering::AcqRel)
    }

    /// Counters; `queued` is derived, so `created == exported + dropped + queued`
    /// holds exactly in every snapshot. The worker's counters are read first:
    /// every span they count was created before, so `queued` never goes negative.
    fn stats(&self) -> ProcessorStats {
        let (exported, failed_spans, failed_exports) = {
            let c = lock(&self.control);
            (c.exported, c.failed_spans, c.failed_exports)
        };
        let (mut created, mut dropped) = (0, 0);
        for shard in self.shards.iter() {
            let s = shard.lock();
            created += s.created;
            dropped += s.dropped;
        }
        let dropped = dropped + failed_spans;
        ProcessorStats {
            created,
            exported,
            dropped,
            queued: created - exported - dropped,
            failed_exports,
        }
    }

    /// Tells the worker there is something to do. A worker that is
    /// polling sees it at once; a blocked one is woken by the caller,
    /// through `work`, after the request is recorded under `control`.
    fn signal(&self) {
        self.signals.fetch_add(1, Ordering::Release);
    }

    /// Wakes the worker for a flush or shutdown request just recorded under
    /// `control` (with `worker_waiting` cleared there): a polling worker
    /// sees the signal, a blocked one the notification.
    fn wake_for_request(&self) {
        self.signal();
        self.work.notify_one();
    }

    fn wake_worker(&self) {
        self.signal();
        let wake = std::mem::replace(&mut lock(&self.control).worker_waiting, false);
        if wake {
            self.work.notify_one();
        }
    }
}

/// Which shard this thread uses: assigned round-robin on first use.
fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    INDEX.try_with(|i| *i).unwrap_or(0) & (SHARDS - 1)
}

/// Queues sampled spans and exports them in batches from its own thread.
///
/// A full queue drops the span and counts it; nothing ever blocks the
/// thread that ends a span. Producer threads spread over a few queues so
/// that they rarely contend; the size limit applies to each. Flush and
/// shutdown wait at most their timeout, even when the exporter hangs.
///
/// Its export thread blocks between batches, except while batches come so
/// fast that the queue could fill before a blocked thread is woken (with
/// the default settings, above about 3 M spans a second) and no export is
/// running on a helper thread: it then polls for the next batch, yielding
/// its core, for at most 500 µs before it blocks.
pub struct BatchSpanProcessor {
    shared: Arc<BatchShared>,
    worker: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for BatchSpanProcessor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchSpanProcessor")
            .field("config", &self.shared.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// Builds a [`BatchSpanProcessor`].
#[derive(Debug)]
pub struct BatchSpanProcessorBuilder {
    exporter: Box<dyn SpanExporter>,
    config: Option<BatchConfig>,
    env: Env,
}

impl BatchSpanProcessorBuilder {
    /// Uses `config` instead of the environment.
    pub fn with_config(mut self, config: BatchConfig) -> Self {
        self.config = Some(config);
        self
    }

    /// Reads `OTEL_BSP_*` from `env` instead of the process environment.
    pub fn with_env(mut self, env: Env) -> Self {
        self.env = env;
        self
    }

    /// Starts the processor and its thread.
    pub fn build(self) -> BatchSpanProcessor {
        let config = self
            .config
            .unwrap_or_else(|| BatchConfig::from_env(&self.env));
        BatchSpanProcessor::start(self.exporter, config)
    }
}

impl BatchSpanProcessor {
    /// A builder for `exporter`; the configuration comes from the environment
    /// unless given.
    pub fn builder(exporter: impl SpanExporter) -> BatchSpanProcessorBuilder {
        BatchSpanProcessorBuilder {
            exporter: Box::new(exporter),
            config: None,
            env: Env::process(),
        }
    }

    fn start(exporter: Box<dyn SpanExporter>, config: BatchConfig) -> BatchSpanProcessor {
        let lanes = export_lanes(&config, &*exporter);
        let shared = Arc::new(BatchShared {
            shards: std::array::from_fn(|_| {
                QueueLock::new(Shard {
                    limit: config.max_queue_size,
                    ..Shard::default()
                })
            }),
            control: Mutex::new(Control::default()),
            shutdown: AtomicBool::new(false),
            signals: AtomicUsize::new(0),
            lanes: Mutex::new(LaneState::default()),
            lane_work: Condvar::new(),
            lane_done: Condvar::new(),
            work: Condvar::new(),
            progress: Condvar::new(),
            config,
            exporter,
            resource: OnceLock::new(),
            buffers: Arc::new(BufferPool::new(most_buffers(&config, lanes))),
        });
        let worker_shared = Arc::clone(&shared);
        let worker = std::thread::Builder::new()
            .name("clew-batch-export".into())
            .spawn(move || worker_loop(&worker_shared));
        let worker = match worker {
            Ok(handle) => Some(handle),
            Err(e) => {
                // Without a thread nothing is exported; spans are counted as dropped.
                diagnostics::report(Diagnostic::Other(format!(
                    "BatchSpanProcessor: cannot start its thread ({e}); spans will be dropped"
                )));
                shared.close();
                lock(&shared.control).worker_exited = true;
                None
            }
        };
        BatchSpanProcessor {
            shared,
            worker: Mutex::new(worker),
        }
    }

    /// `SpansLost` if spans were dropped since the counter read `before`.
    fn lost_since(&self, before: u64) -> Result<(), ProcessorError> {
        match self.shared.stats().dropped.saturating_sub(before) {
            0 => Ok(()),
            spans_lost => Err(ProcessorError::SpansLost { spans_lost }),
        }
    }

    /// The settings in use.
    pub fn config(&self) -> BatchConfig {
        self.shared.config
    }

    fn wait_for(
        &self,
        deadline: Instant,
        mut done: impl FnMut(&Control) -> bool,
    ) -> Result<(), ProcessorError> {
        let mut c = lock(&self.shared.control);
        loop {
            if done(&c) {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                drop(c);
                return Err(ProcessorError::Timeout {
                    spans_lost: self.shared.stats().queued,
                });
            }
            c = self
                .shared
                .progress
                .wait_timeout(c, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

impl BatchSpanProcessor {
    /// Queues a span: `push` moves it into the batch being filled. When the
    /// queue is full `push` is not called, and the span it owns is dropped
    /// after the lock is released.
    #[inline]
    fn enqueue(&self, sampled: bool, push: impl FnOnce(&mut Vec<SpanData>)) {
        if !sampled {
            return;
        }
        let shared = &*self.shared;
        let config = &shared.config;
        let shard_lock = &shared.shards[shard_index()];
        let mut shard = shard_lock.lock();
        if shard.current.capacity() == 0 {
            shard = self.next_buffer(shard_lock, shard);
        }
        shard.created += 1;
        if shard.waiting >= shard.limit {
            shard.dropped += 1;
            shard.unreported_drops += 1;
            drop(shard);
            // `push`, and the span in it, is dropped here, outside the lock.
            return;
        }
        push(&mut shard.current);
        shard.waiting += 1;
        if shard.current.len() >= config.max_export_batch_size {
            self.hand_over(shard);
        }
    }

    /// Gives the shard (held through `shard`, the guard of `shard_lock`) a
    /// buffer from the pool where it has none and has room for a span: at
    /// its first span, after it handed a full batch over, and after the
    /// worker took a partial batch in the buffer it was filled in. A full
    /// shard gets none until it has room again, so its spans are not
    /// waiting in one more buffer than they fill (two producers' peak
    /// memory, docs/benchmarks.md). The lock is released meanwhile: the
    /// buffer's exported spans are dropped when it is taken. Out of line:
    /// once a batch, and kept out of the per-span path, which then saves
    /// fewer registers.
    #[cold]
    #[inline(never)]
    fn next_buffer<'a>(
        &self,
        shard_lock: &'a QueueLock<Shard>,
        mut shard: QueueLockGuard<'a, Shard>,
    ) -> QueueLockGuard<'a, Shard> {
        let shared = &*self.shared;
        // The next buffer comes from the pool, where exported batches
        // return with their spans still in them: dropping those here, on
        // a producer thread, spreads the freeing over the producers
        // instead of loading it all on the export thread.
        while shard.current.capacity() == 0 && shard.waiting < shard.limit {
            drop(shard);
            let buffer = shared.buffers.take(shared.config.max_export_batch_size);
            shard = shard_lock.lock();
            if shard.current.capacity() == 0 {
                shard.current = buffer;
            } else {
                // Another thread of this shard gave it one meanwhile.
                drop(shard);
                shared.buffers.put(buffer);
                shard = shard_lock.lock();
            }
        }
        shard
    }

    /// Hands the shard's full batch to the worker; the shard gets its next
    /// buffer with its next span ([`next_buffer`](Self::next_buffer)).
    /// Out of line, as `next_buffer`.
    #[cold]
    #[inline(never)]
    fn hand_over(&self, mut shard: QueueLockGuard<'_, Shard>) {
        let batch = std::mem::take(&mut shard.current);
        shard.full.push_back(batch);
        drop(shard);
        self.shared.wake_worker();
        // Offer the worker this thread's time slice, once per batch. It
        // never waits: with a free core it returns at once. When the
        // producers fill the cores, the worker (woken above, or woken
        // by another producer and not yet running) gets one at once
        // instead of when the scheduler next looks. Yielding only when
        // the queue was three-quarters full left two producers dropping
        // 1.9-7.2% of their spans; once per batch, 0.9-2.8%
        // (interleaved runs, docs/benchmarks.md).
        std::thread::yield_now();
    }
}

impl SpanProcessor for BatchSpanProcessor {
    fn has_on_start(&self) -> bool {
        false
    }

    fn on_end(&self, span: SpanData) {
        self.enqueue(span.span_context.is_sampled(), |spans| spans.push(span));
    }

    #[inline]
    fn on_end_in_place(&self, span: EndedSpan<'_>) {
        self.enqueue(span.span_context.is_sampled(), |spans| span.push_to(spans));
    }

    fn force_flush(&self, timeout: Duration) -> Result<(), ProcessorError> {
        let deadline = deadline_after(timeout);
        let dropped_before = self.shared.stats().dropped;
        let target = {
            let mut c = lock(&self.shared.control);
            if c.worker_exited {
                drop(c);
                return if self.shared.stats().queued == 0 {
                    Ok(())
                } else {
                    Err(ProcessorError::AlreadyShutdown)
                };
            }
            c.flush_requested += 1;
            c.worker_waiting = false;
            c.flush_requested
        };
        self.shared.wake_for_request();
        let result = self
            .wait_for(deadline, |c| c.flush_done >= target || c.worker_exited)
            .and_then(|()| self.lost_since(dropped_before));
        if let Err(ProcessorError::Timeout { spans_lost }) = &result {
            diagnostics::report(Diagnostic::Timeout {
                operation: "BatchSpanProcessor flush",
                spans_lost: *spans_lost,
            });
        }
        result
    }

    fn shutdown(&self, timeout: Duration) -> Result<(), ProcessorError> {
        let deadline = deadline_after(timeout);
        let dropped_before = self.shared.stats().dropped;
        if self.shared.close() {
            return Err(ProcessorError::AlreadyShutdown);
        }
        {
            let mut c = lock(&self.shared.control);
            c.worker_waiting = false;
            if !timeout.is_zero() {
                c.shutdown_deadline = Some(deadline);
            }
        }
        self.shared.wake_for_request();
        if timeout.is_zero() {
            // Signal only: the worker exports what is queued, then exits.
            return Ok(());
        }
        let result = self.wait_for(deadline, |c| c.worker_exited);
        match &result {
            Ok(()) => {
                if let Some(handle) = lock(&self.worker).take() {
                    let _ = handle.join();
                }
                return self.lost_since(dropped_before);
            }
            Err(ProcessorError::Timeout { spans_lost }) => {
                // The worker is stuck in the exporter; it is left to finish
                // (or not) on its own, detached.
                diagnostics::report(Diagnostic::Timeout {
                    operation: "BatchSpanProcessor shutdown",
                    spans_lost: *spans_lost,
                });
            }
            Err(_) => {}
        }
        result
    }

    fn set_resource(&self, resource: &Arc<Resource>) {
        let _ = self.shared.resource.set(Arc::clone(resource));
    }

    fn stats(&self) -> Option<ProcessorStats> {
        Some(self.shared.stats())
    }
}

impl Drop for BatchSpanProcessor {
    fn drop(&mut self) {
        if !self.shared.close() {
            // Dropped without a shutdown: export what is queued, in the
            // background; the worker exits when done.
            lock(&self.shared.control).worker_waiting = false;
            self.shared.wake_for_request();
        }
    }
}

/// How the worker waits for the next batch when its queue is busy.
///
/// Blocked on the condition variable, the export thread has to be woken by
/// a producer, and on a virtual machine whose other core was idle that took
/// long enough for one producer making spans flat out to fill the queue and
/// drop 1.1-3.2% of its spans (`clew-stress clew --threads 1`; docs/benchmarks.md).
/// So when batches come often enough that the queue's room after a
/// handed-over batch lasts less than [`BUSY_ROOM`], the worker polls for
/// the next batch (yielding its core between looks) for up to twice the
/// time between batches, at most [`MAX_POLL`], before it blocks, unless a
/// helper thread is exporting (its work needs the cores more: polling then
/// cost OTLP/gRPC up to a fifth of its throughput). On a quiet queue it
/// blocks at once, as before: the polling costs a core only while spans
/// come faster than the queue can wait for a wake-up.
struct Pace {
    /// Full batches the queue holds, less the one just handed over.
    spare_batches: u32,
    /// When the worker last took batches.
    last: Option<Instant>,
    /// The time per batch at the last take; `None` until two takes.
    per_batch: Option<Duration>,
}

/// The queue's room, in time, below which the worker polls instead of
/// blocking.
const BUSY_ROOM: Duration = Duration::from_micros(500);
/// The longest the worker polls before it blocks.
const MAX_POLL: Duration = Duration::from_micros(500);

impl Pace {
    fn new(config: &BatchConfig) -> Pace {
        let batches = config.max_queue_size / config.max_export_batch_size.max(1);
        Pace {
            spare_batches: u32::try_from(batches.saturating_sub(1).max(1)).unwrap_or(u32::MAX),
            last: None,
            per_batch: None,
        }
    }

    /// Records that the worker took `batches` at `now`.
    fn note(&mut self, now: Instant, batches: usize) {
        if batches == 0 {
            return;
        }
        if let Some(last) = self.last {
            let batches = u32::try_from(batches).unwrap_or(u32::MAX);
            self.per_batch = Some(now.saturating_duration_since(last) / batches);
        }
        self.last = Some(now);
    }

    /// How long to poll for the next batch before blocking: zero on a
    /// quiet queue.
    fn poll_for(&self) -> Duration {
        match self.per_batch {
            Some(per_batch) if per_batch.saturating_mul(self.spare_batches) < BUSY_ROOM => {
                per_batch.saturating_mul(2).min(MAX_POLL)
            }
            _ => Duration::ZERO,
        }
    }
}

/// Polls `signals` for a change from `seen` for up to `time`, yielding the
/// core between looks. True when something was signalled.
fn poll_signals(shared: &BatchShared, seen: usize, time: Duration) -> bool {
    let until = Instant::now() + time;
    loop {
        if shared.signals.load(Ordering::Acquire) != seen {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        std::thread::yield_now();
    }
}

/// Takes full batches from the shards, and the partial ones too when
/// `partial`; returns whether spans are still waiting, whether full batches
/// are, and the drops to report.
///
/// Without `partial`, at most `limit` full batches are taken (what the
/// export lanes free now can take), beginning with the shard `next` names
/// (the one after the shard last taken from), so that every shard's
/// batches go in turn: what the worker
/// holds is then what it exports next, and the rest stays counted in the
/// queue, whose size bounds it. (Taking every full batch at once, the
/// worker held up to the whole queue of every shard while the shards
/// filled again: twice the memory the queue size allows.) With `partial`
/// (a flush, a shutdown, the scheduled delay) everything is taken, as those
/// must cover every span queued before them.
///
/// Partial batches of different shards are merged, up to the batch size:
/// one export (one request) per cycle instead of one per shard, and the
/// spans of a trace ended on several threads travel together.
fn collect(
    shared: &BatchShared,
    partial: bool,
    limit: usize,
    next: &mut usize,
    batches: &mut Vec<Vec<SpanData>>,
) -> Collected {
    let max = shared.config.max_export_batch_size;
    let limit = if partial { usize::MAX } else { limit };
    let mut collected = Collected::default();
    // The batch partial spans are merged into, by index in `batches`.
    let mut open: Option<usize> = None;
    let start = *next;
    for i in 0..SHARDS {
        let index = (start + i) % SHARDS;
        let mut s = shared.shards[index].lock();
        collected.drops += std::mem::take(&mut s.unreported_drops);
        let mut taken = 0;
        while batches.len() < limit {
            let Some(batch) = s.full.pop_front() else {
                break;
            };
            taken += batch.len();
            batches.push(batch);
            *next = (index + 1) % SHARDS;
        }
        if partial && !s.current.is_empty() {
            taken += s.current.len();
            match open {
                Some(i) if batches[i].len() + s.current.len() <= max => {
                    // The shard keeps its (now empty) buffer.
                    batches[i].append(&mut s.current);
                }
                _ => {
                    open = Some(batches.len());
                    batches.push(std::mem::take(&mut s.current));
                }
            }
        }
        s.waiting -= taken;
        collected.still_waiting |= s.waiting > 0;
        collected.more_full |= !s.full.is_empty();
    }
    collected
}

/// What [`collect`] found.
#[derive(Default)]
struct Collected {
    /// Spans are still waiting in the shards.
    still_waiting: bool,
    /// Full batches are still waiting: the worker goes on without waiting.
    more_full: bool,
    /// Drops not yet reported.
    drops: u64,
}

/// Exports `spans` on an idle helper if there is one, else on this thread.
fn dispatch(
    shared: &BatchShared,
    spans: Vec<SpanData>,
    resource: &Arc<Resource>,
    timeout: Duration,
) {
    let mut lanes = lock(&shared.lanes);
    lanes.in_flight += 1;
    if lanes.idle > 0 {
        lanes.idle -= 1;
        lanes.handed.push_back(Handoff {
            spans,
            resource: Arc::clone(resource),
            timeout,
        });
        drop(lanes);
        shared.lane_work.notify_one();
        return;
    }
    drop(lanes);
    export_one(shared, spans, resource, timeout);
    lock(&shared.lanes).in_flight -= 1;
}

/// One export call, with its outcome counted.
fn export_one(shared: &BatchShared, spans: Vec<SpanData>, resource: &Resource, timeout: Duration) {
    let n = spans.len() as u64;
    let batch = crate::export::SpanBatch::pooled(spans, &shared.buffers);
    let result = crate::export::export_guarded(&*shared.exporter, batch, resource, timeout);
    let mut c = lock(&shared.control);
    match result {
        Ok(()) => c.exported += n,
        Err(e) => {
            c.failed_spans += n;
            c.failed_exports += 1;
            drop(c);
            diagnostics::report(Diagnostic::ExportFailed {
                processor: "BatchSpanProcessor",
                spans: n as usize,
                error: e.to_string(),
            });
        }
    }
}

/// Blocks until no export is in flight. Each is bounded by its timeout.
fn wait_for_lanes(shared: &BatchShared) {
    let mut lanes = lock(&shared.lanes);
    while lanes.in_flight > 0 {
        lanes = shared
            .lane_done
            .wait(lanes)
            .unwrap_or_else(PoisonError::into_inner);
    }
}

/// A helper thread: exports what the worker hands it, until told to stop.
fn helper_loop(shared: &BatchShared) {
    let mut lanes = lock(&shared.lanes);
    loop {
        let Some(job) = lanes.handed.pop_front() else {
            if lanes.stop {
                return;
            }
            lanes = shared
                .lane_work
                .wait(lanes)
                .unwrap_or_else(PoisonError::into_inner);
            continue;
        };
        drop(lanes);
        export_one(shared, job.spans, &job.resource, job.timeout);
        lanes = lock(&shared.lanes);
        lanes.in_flight -= 1;
        lanes.idle += 1;
        shared.lane_done.notify_all();
    }
}

/// How many exports run at once: as configured, else as the exporter asks.
fn export_lanes(config: &BatchConfig, exporter: &dyn SpanExporter) -> usize {
    config
        .max_concurrent_exports
        .unwrap_or_else(|| exporter.max_concurrent_exports())
        .clamp(1, MAX_CONCURRENT_EXPORTS)
}

/// The most batch buffers a processor can have in use at once: in each
/// shard, a queue's worth of full batches and the one being filled; and
/// one per export lane, taken by the worker or being exported.
fn most_buffers(config: &BatchConfig, lanes: usize) -> usize {
    let per_shard = config
        .max_queue_size
        .div_ceil(config.max_export_batch_size.max(1))
        .saturating_add(1);
    per_shard.saturating_mul(SHARDS).saturating_add(lanes)
}

/// The worker thread: starts the helpers that concurrent exports need,
/// runs the batching loop, then stops the helpers (all idle by then).
fn worker_loop(shared: &BatchShared) {
    let lanes = export_lanes(&shared.config, &*shared.exporter);
    std::thread::scope(|scope| {
        for _ in 1..lanes {
            let started = std::thread::Builder::new()
                .name("clew-batch-export".into())
                .spawn_scoped(scope, || helper_loop(shared));
            match started {
                // Counted idle now, not when it first runs: a batch handed
                // to it before then waits in `handed` for it.
                Ok(_) => lock(&shared.lanes).idle += 1,
                Err(e) => {
                    // Fewer lanes: exports still run, on the threads there are.
                    diagnostics::report(Diagnostic::Other(format!(
                        "BatchSpanProcessor: cannot start an export thread ({e}); fewer exports run at once"
                    )));
                    break;
                }
            }
        }
        batch_loop(shared);
        lock(&shared.lanes).stop = true;
        shared.lane_work.notify_all();
    });
}

fn batch_loop(shared: &BatchShared) {
    let config = shared.config;
    let mut next_export = deadline_after(config.scheduled_delay);
    let mut batches: Vec<Vec<SpanData>> = Vec::new();
    let mut pace = Pace::new(&config);
    // The shard whose full batches are taken first next time.
    let mut next_shard = 0;
    loop {
        // Read before anything this turn looks at: whatever is signalled
        // after it is still to be handled when the worker waits.
        let seen = shared.signals.load(Ordering::Acquire);
        let shutting_down = shared.shutdown.load(Ordering::Acquire);
        let (flush_target, flushing, shutdown_deadline) = {
            let c = lock(&shared.control);
            (
                c.flush_requested,
                c.flush_requested > c.flush_done,
                c.shutdown_deadline,
            )
        };
        // During a shutdown, exports get at most nine tenths of what is left
        // of the caller's wait, so that a dead collector fails the export
        // (and the shutdown reports it) rather than outliving the wait.
        let export_timeout = match shutdown_deadline {
            Some(d) => config
                .export_timeout
                .min(d.saturating_duration_since(Instant::now()).mul_f64(0.9)),
            None => config.export_timeout,
        };
        let due = Instant::now() >= next_export;
        let partial = shutting_down || flushing || due;
        let Collected {
            still_waiting,
            more_full,
            drops,
        } = collect(
            shared,
            partial,
            // The lanes free now: idle helpers, and this thread.
            lock(&shared.lanes).idle + 1,
            &mut next_shard,
            &mut batches,
        );
        if drops > 0 {
            diagnostics::report(Diagnostic::SpansDropped {
                processor: "BatchSpanProcessor",
                count: drops,
            });
        }

        pace.note(Instant::now(), batches.len());
        let resource = shared.resource.get().cloned().unwrap_or_default();
        let handled = !batches.is_empty();
        for spans in batches.drain(..) {
            dispatch(shared, spans, &resource, export_timeout);
        }
        if partial {
            next_export = deadline_after(config.scheduled_delay);
        }
        let finished = shutting_down && !still_waiting;
        if flushing || finished {
            // A flush covers the exports still in flight on helpers.
            wait_for_lanes(shared);
        }
        if flushing {
            // What the exporter buffers itself is part of a flush too.
            let _ = shared.exporter.force_flush(export_timeout);
        }
        if finished {
            let _ = shared.exporter.force_flush(export_timeout);
            let _ = shared.exporter.shutdown(export_timeout);
            // Exported spans waiting in pooled buffers are released now:
            // no producer will take those buffers any more.
            shared.buffers.clear();
        }

        let mut c = lock(&shared.control);
        if flushing {
            c.flush_done = c.flush_done.max(flush_target);
        }
        if finished {
            c.worker_exited = true;
            drop(c);
            shared.progress.notify_all();
            return;
        }
        if flushing || handled {
            shared.progress.notify_all();
        }
        drop(c);
        if more_full {
            // Full batches left for the next turn: no waiting for them.
            continue;
        }
        // On a busy queue, the next batch is polled for before blocking;
        // not while a helper exports, whose work needs the cores more.
        let poll = if lock(&shared.lanes).in_flight == 0 {
            pace.poll_for()
                .min(next_export.saturating_duration_since(Instant::now()))
        } else {
            Duration::ZERO
        };
        if !poll.is_zero() && poll_signals(shared, seen, poll) {
            continue;
        }
        let mut c = lock(&shared.control);
        // Checked under the lock that announces the wait below: a request
        // made before it is seen here, one made after finds the worker
        // announced and wakes it.
        if shared.shutdown.load(Ordering::Acquire) || c.flush_requested > c.flush_done {
            continue;
        }
        // Announce the wait before looking for work, so that a producer that
        // queues a full batch after the look sees `worker_waiting` and wakes us.
        c.worker_waiting = true;
        drop(c);
        let more = shared.shards.iter().any(|s| !s.lock().full.is_empty());
        let mut c = lock(&shared.control);
        let wait = next_export.saturating_duration_since(Instant::now());
        if more || wait.is_zero() || !c.worker_waiting {
            c.worker_waiting = false;
            continue;
        }
        let (mut c, _) = shared
            .work
            .wait_timeout(c, wait)
            .unwrap_or_else(PoisonError::into_inner);
        c.worker_waiting = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pace(queue: usize, batch: usize) -> Pace {
        Pace::new(
            &BatchConfig::default()
                .with_max_queue_size(queue)
                .with_max_export_batch_size(batch),
        )
    }

    /// The worker polls only when batches come so fast that the queue's
    /// room after a handed-over batch lasts less than `BUSY_ROOM`, and then
    /// for twice the time per batch, at most `MAX_POLL`.
    #[test]
    fn polls_only_while_batches_come_faster_than_the_queue_can_wait() {
        let t0 = Instant::now();
        let us = Duration::from_micros;
        // Default queue: 4 batches, so 3 spare ones after a hand-over.
        let mut p = pace(2048, 512);
        assert_eq!(p.poll_for(), Duration::ZERO, "nothing taken yet");
        p.note(t0, 1);
        assert_eq!(p.poll_for(), Duration::ZERO, "one take gives no rate");
        // Nothing taken: no change.
        p.note(t0 + us(10), 0);
        assert_eq!(p.poll_for(), Duration::ZERO);
        // 2 batches in 200 µs: 100 µs each, 300 µs of room: poll 200 µs.
        p.note(t0 + us(200), 2);
        assert_eq!(p.poll_for(), us(200));
        // 166 µs each: 498 µs of room, still busy.
        p.note(t0 + us(366), 1);
        assert_eq!(p.poll_for(), us(332));
        // 167 µs each: 501 µs of room: quiet.
        p.note(t0 + us(533), 1);
        assert_eq!(p.poll_for(), Duration::ZERO);
        // Fast again, then a pause: quiet at once.
        p.note(t0 + us(543), 1);
        assert_eq!(p.poll_for(), us(20));
        p.note(t0 + Duration::from_secs(5), 1);
        assert_eq!(p.poll_for(), Duration::ZERO);

        // A queue of one batch counts one spare batch; the poll is capped.
        let mut p = pace(512, 512);
        p.note(t0, 1);
        p.note(t0 + us(400), 1);
        assert_eq!(p.poll_for(), MAX_POLL);
        p.note(t0 + us(900), 1);
        assert_eq!(p.poll_for(), Duration::ZERO);

        // Small batches in a large queue: polls only at very high rates.
        let mut p = pace(2048, 1);
        p.note(t0, 1);
        p.note(t0 + us(1), 1);
        assert_eq!(p.poll_for(), Duration::ZERO, "2047 µs of room");
    }
}
