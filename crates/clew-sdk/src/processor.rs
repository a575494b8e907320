//! Span processors: what happens to a span when it starts and ends.
//!
//! [`BatchSpanProcessor`] is what production services use: a bounded queue
//! drained by its own thread, which never blocks the application and never
//! needs the application's async runtime. [`SimpleSpanProcessor`] exports
//! each span as it ends, on the ending thread: for tests and debugging.

use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use clew_api::Context;

use crate::diagnostics::{self, Diagnostic};
use crate::env::Env;
use crate::export::{ExportError, SpanExporter};
use crate::resource::Resource;
use crate::span::{FinishedSpan, SpanData};

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
}

impl fmt::Display for ProcessorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcessorError::Timeout { spans_lost } => {
                write!(f, "timed out with {spans_lost} spans not exported")
            }
            ProcessorError::AlreadyShutdown => f.write_str("already shut down"),
            ProcessorError::Export(e) => write!(f, "{e}"),
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

/// Receives spans as they start and end.
pub trait SpanProcessor: Send + Sync + fmt::Debug + 'static {
    /// Called when a recording span starts; it may add to the span's data.
    fn on_start(&self, _span: &mut SpanData, _parent: &Context) {}


    /// Called when a recording span ends. Must not block.
    fn on_end(&self, span: FinishedSpan);

    /// Exports everything received so far, within `timeout`.
    fn force_flush(&self, timeout: Duration) -> Result<(), ProcessorError>;

    /// Flushes, then shuts the processor and its exporter down, within `timeout`.
    fn shutdown(&self, timeout: Duration) -> Result<(), ProcessorError>;

    /// Receives the provider's resource before any span.
    fn set_resource(&self, _resource: &Arc<Resource>) {}

    /// The processor's counters, if it keeps any.
    fn stats(&self) -> Option<ProcessorStats> {
        None
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
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
    fn on_end(&self, span: FinishedSpan) {
        if !span.span_context().is_sampled() {
            return;
        }
        let exporter = lock(&self.exporter);
        {
            let mut stats = lock(&self.stats);
            stats.created += 1;
            stats.queued += 1;
        }
        let resource = self.resource.get().cloned().unwrap_or_default();
        let result = exporter.export(vec![span], &resource, self.timeout);
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
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_queue_size: 2048,
            scheduled_delay: Duration::from_millis(5000),
            max_export_batch_size: 512,
            export_timeout: Duration::from_millis(30_000),
        }
    }
}

impl BatchConfig {
    /// The configuration from `OTEL_BSP_SCHEDULE_DELAY`,
    /// `OTEL_BSP_EXPORT_TIMEOUT`, `OTEL_BSP_MAX_QUEUE_SIZE` and
    /// `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`; zero sizes are invalid.
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

    /// The batch size may not exceed the queue size (specification).
    fn validated(mut self) -> Self {
        self.max_export_batch_size = self.max_export_batch_size.min(self.max_queue_size);
        self
    }
}

struct BatchState {
    queue: Vec<FinishedSpan>,
    stats: ProcessorStats,
    /// Drops not yet reported to the diagnostics channel (the worker
    /// reports them, so a full queue never contends on the channel's lock).
    unreported_drops: u64,
    flush_requested: u64,
    flush_done: u64,
    shutdown: bool,
    worker_exited: bool,
    /// The worker is blocked waiting for work, so producers must wake it.
    worker_waiting: bool,
}

struct BatchShared {
    state: Mutex<BatchState>,
    /// Producers and callers wake the worker through this.
    work: Condvar,
    /// The worker wakes flush and shutdown callers through this.
    progress: Condvar,
    config: BatchConfig,
    exporter: Box<dyn SpanExporter>,
    resource: OnceLock<Arc<Resource>>,
}

/// Queues sampled spans and exports them in batches from its own thread.
///
/// A full queue drops the span and counts it; nothing ever blocks the
/// thread that ends a span. Flush and shutdown wait at most their timeout,
/// even when the exporter hangs.
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
        let shared = Arc::new(BatchShared {
            state: Mutex::new(BatchState {
                queue: Vec::with_capacity(config.max_queue_size.min(4096)),
                stats: ProcessorStats::default(),
                unreported_drops: 0,
                flush_requested: 0,
                flush_done: 0,
                shutdown: false,
                worker_exited: false,
                worker_waiting: false,
            }),
            work: Condvar::new(),
            progress: Condvar::new(),
            config,
            exporter,
            resource: OnceLock::new(),
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
                let mut st = lock(&shared.state);
                st.shutdown = true;
                st.worker_exited = true;
                None
            }
        };
        BatchSpanProcessor {
            shared,
            worker: Mutex::new(worker),
        }
    }

    /// The settings in use.
    pub fn config(&self) -> BatchConfig {
        self.shared.config
    }

    fn wait_for(
        &self,
        deadline: Instant,
        mut done: impl FnMut(&BatchState) -> bool,
    ) -> Result<(), ProcessorError> {
        let mut st = lock(&self.shared.state);
        loop {
            if done(&st) {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(ProcessorError::Timeout {
                    spans_lost: st.stats.queued,
                });
            }
            st = self
                .shared
                .progress
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or(now + Duration::from_secs(86_400 * 365))
}

impl SpanProcessor for BatchSpanProcessor {
    fn on_end(&self, span: FinishedSpan) {
        if !span.span_context().is_sampled() {
            return;
        }
        let shared = &*self.shared;
        let mut st = lock(&shared.state);
        st.stats.created += 1;
        if st.shutdown || st.queue.len() >= shared.config.max_queue_size {
            st.stats.dropped += 1;
            st.unreported_drops += 1;
            drop(st);
            // `span` is dropped here, outside the lock.
            return;
        }
        st.queue.push(span);
        st.stats.queued += 1;
        if st.worker_waiting && st.queue.len() >= shared.config.max_export_batch_size {
            st.worker_waiting = false;
            drop(st);
            shared.work.notify_one();
        }
    }

    fn force_flush(&self, timeout: Duration) -> Result<(), ProcessorError> {
        let deadline = deadline_after(timeout);
        let target = {
            let mut st = lock(&self.shared.state);
            if st.worker_exited {
                return if st.stats.queued == 0 {
                    Ok(())
                } else {
                    Err(ProcessorError::AlreadyShutdown)
                };
            }
            st.flush_requested += 1;
            st.flush_requested
        };
        self.shared.work.notify_one();
        let result = self.wait_for(deadline, |st| st.flush_done >= target || st.worker_exited);
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
        {
            let mut st = lock(&self.shared.state);
            if st.shutdown {
                return Err(ProcessorError::AlreadyShutdown);
            }
            st.shutdown = true;
        }
        self.shared.work.notify_one();
        let result = self.wait_for(deadline, |st| st.worker_exited);
        match &result {
            Ok(()) => {
                if let Some(handle) = lock(&self.worker).take() {
                    let _ = handle.join();
                }
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
        Some(lock(&self.shared.state).stats)
    }
}

impl Drop for BatchSpanProcessor {
    fn drop(&mut self) {
        let first = {
            let mut st = lock(&self.shared.state);
            !std::mem::replace(&mut st.shutdown, true)
        };
        if first {
            // Dropped without a shutdown: export what is queued, in the
            // background; the worker exits when done.
            self.shared.work.notify_one();
        }
    }
}

fn worker_loop(shared: &BatchShared) {
    let config = shared.config;
    let mut spare: Vec<FinishedSpan> = Vec::with_capacity(config.max_queue_size.min(4096));
    let mut next_export = Instant::now() + config.scheduled_delay;
    loop {
        let mut st = lock(&shared.state);
        loop {
            let due = Instant::now() >= next_export;
            if st.shutdown
                || st.flush_requested > st.flush_done
                || st.queue.len() >= config.max_export_batch_size
                || (due && !st.queue.is_empty())
            {
                break;
            }
            if due {
                next_export = Instant::now() + config.scheduled_delay;
            }
            let wait = next_export.saturating_duration_since(Instant::now());
            st.worker_waiting = true;
            st = shared
                .work
                .wait_timeout(st, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            st.worker_waiting = false;
        }
        let flush_target = st.flush_requested;
        let shutting_down = st.shutdown;
        let drops = std::mem::take(&mut st.unreported_drops);
        std::mem::swap(&mut st.queue, &mut spare);
        drop(st);

        if drops > 0 {
            diagnostics::report(Diagnostic::SpansDropped {
                processor: "BatchSpanProcessor",
                count: drops,
            });
        }
        let resource = shared.resource.get().cloned().unwrap_or_default();
        while !spare.is_empty() {
            let take = spare.len().min(config.max_export_batch_size);
            let batch: Vec<FinishedSpan> = spare.drain(..take).collect();
            let result = shared
                .exporter
                .export(batch, &resource, config.export_timeout);
            let mut st = lock(&shared.state);
            st.stats.queued -= take as u64;
            match result {
                Ok(()) => st.stats.exported += take as u64,
                Err(e) => {
                    st.stats.dropped += take as u64;
                    st.stats.failed_exports += 1;
                    drop(st);
                    diagnostics::report(Diagnostic::ExportFailed {
                        processor: "BatchSpanProcessor",
                        spans: take,
                        error: e.to_string(),
                    });
                }
            }
        }
        next_export = Instant::now() + config.scheduled_delay;

        let flush_asked = flush_target > lock(&shared.state).flush_done;
        if flush_asked {
            // What the exporter buffers itself is part of a flush too.
            let _ = shared.exporter.force_flush(config.export_timeout);
        }
        let mut st = lock(&shared.state);
        st.flush_done = st.flush_done.max(flush_target);
        if shutting_down && st.queue.is_empty() {
            drop(st);
            let _ = shared.exporter.force_flush(config.export_timeout);
            let _ = shared.exporter.shutdown(config.export_timeout);
            lock(&shared.state).worker_exited = true;
            shared.progress.notify_all();
            return;
        }
        drop(st);
        shared.progress.notify_all();
    }
}
