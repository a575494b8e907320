//! The exporter interface, and the two exporters that need no network: an
//! in-memory exporter for tests and a console exporter for people.

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clew_api::trace::{SpanId, TraceId};
use clew_api::{Array, Status, Value};

use crate::lock;
use crate::resource::Resource;
use crate::span::SpanData;

/// Why an export failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ExportError {
    /// The exporter was shut down.
    Shutdown,
    /// It did not finish in time.
    Timeout,
    /// The destination rejected or could not receive the data.
    Failed(Box<dyn std::error::Error + Send + Sync>),
}

impl ExportError {
    /// A failure with a message.
    pub fn failed(message: impl Into<String>) -> ExportError {
        ExportError::Failed(message.into().into())
    }
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportError::Shutdown => f.write_str("the exporter is shut down"),
            ExportError::Timeout => f.write_str("the export timed out"),
            ExportError::Failed(e) => write!(f, "export failed: {e}"),
        }
    }
}

impl std::error::Error for ExportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ExportError::Failed(e) => Some(&**e),
            _ => None,
        }
    }
}

/// A batch of finished spans, handed to an exporter. Read it as a slice;
/// take ownership with [`into_vec`](SpanBatch::into_vec). When a batch
/// processor made it, dropping it returns its buffer for reuse, so batches
/// cost no allocation in a steady state.
pub struct SpanBatch {
    spans: Vec<SpanData>,
    recycle: Option<Arc<BufferPool>>,
}

/// Spare batch buffers, shared by a batch processor and its batches.
///
/// The pool keeps the buffers it is given back, up to as many as its
/// processor can have in use at once, instead of freeing the ones it has no
/// immediate use for. A freed buffer (128 KiB with the default batch size)
/// seldom goes back to the system: the allocator keeps it in the arena of
/// the thread that freed it, and the next burst's buffer, made on another
/// thread, grows that thread's arena instead (two producers peaked at
/// 1.75-2.00 MiB of anonymous memory with four spare buffers, and at
/// 1.29-1.54 MiB with every buffer kept; docs/benchmarks.md). Kept buffers
/// never outnumber the most the processor had in use at once: a buffer is
/// only made when the pool is empty.
///
/// Buffers come back with their exported spans in them, and keep them until
/// a producer takes the buffer: what the spans own is released then, on
/// that thread, or when the processor shuts down. Emptying buffers on the
/// export thread instead, beyond the first four, made that thread the
/// bottleneck exactly when the queues were full (two producers with
/// attributes: 14-36% dropped instead of 0.4%).
#[derive(Debug)]
pub(crate) struct BufferPool {
    free: Mutex<Vec<Vec<SpanData>>>,
    /// The most buffers kept.
    keep: usize,
}

impl BufferPool {
    /// A pool keeping up to `keep` buffers.
    pub(crate) fn new(keep: usize) -> BufferPool {
        BufferPool {
            // Room made once for the usual configurations' buffers (21 by
            // default), so keeping them never grows the list.
            free: Mutex::new(Vec::with_capacity(keep.min(64))),
            keep,
        }
    }

    /// An empty buffer, from the pool when it has one. Buffers come back
    /// with their exported spans in them; they are dropped here, by the
    /// caller (a producer thread), not by the export thread.
    pub(crate) fn take(&self, capacity: usize) -> Vec<SpanData> {
        let pooled = lock(&self.free).pop();
        match pooled {
            Some(mut buffer) => {
                release_spans(&mut buffer, Lists::Recycle);
                buffer
            }
            None => Vec::with_capacity(capacity),
        }
    }

    /// Drops every pooled buffer and the spans left in them.
    pub(crate) fn clear(&self) {
        let buffers = std::mem::take(&mut *lock(&self.free));
        drop(buffers);
    }

    /// Takes `buffer` back, with its spans, unless the pool holds all it
    /// keeps (an exporter kept batches for a while): the buffer is then
    /// freed by the caller, usually the export thread, which makes no
    /// spans; the attribute lists are freed, not kept in its store, where
    /// nothing would reuse them (up to 512 lists, held for the thread's
    /// life).
    pub(crate) fn put(&self, mut buffer: Vec<SpanData>) {
        {
            let mut free = lock(&self.free);
            if free.len() < self.keep {
                free.push(buffer);
                return;
            }
        }
        release_spans(&mut buffer, Lists::Free);
    }
}

/// What [`release_spans`] does with the spans' attribute lists.
#[derive(Clone, Copy)]
enum Lists {
    /// Back to this thread's store, for its next spans.
    Recycle,
    /// Freed: this thread makes no spans.
    Free,
}

/// Empties a returned buffer. The spans' attribute lists are recycled (in
/// one call) or freed; a span that owns nothing else is then forgotten
/// rather than run through its drop glue (measured for a span with 4
/// attributes and an event: 176 → 114 instructions; docs/benchmarks.md).
fn release_spans(buffer: &mut Vec<SpanData>, lists: Lists) {
    let taken = buffer
        .iter_mut()
        .map(|span| std::mem::take(&mut span.attributes));
    match lists {
        Lists::Recycle => clew_api::attribute::recycle_attribute_lists(taken),
        Lists::Free => taken.for_each(drop),
    }
    let len = buffer.len();
    let spans = buffer.as_mut_ptr();
    // SAFETY: the length is zero before any span is dropped, so a panic in
    // a drop leaks the spans after it instead of dropping any twice. Each
    // of the `len` initialised spans is dropped once, or forgotten when
    // dropping it would release nothing.
    unsafe {
        buffer.set_len(0);
        for i in 0..len {
            let span = spans.add(i);
            if !(*span).owns_nothing_but_its_attributes() {
                std::ptr::drop_in_place(span);
            }
        }
    }
}

impl SpanBatch {
    /// A batch of `spans`.
    pub fn new(spans: Vec<SpanData>) -> SpanBatch {
        SpanBatch {
            spans,
            recycle: None,
        }
    }

    pub(crate) fn pooled(spans: Vec<SpanData>, pool: &Arc<BufferPool>) -> SpanBatch {
        SpanBatch {
            spans,
            recycle: Some(Arc::clone(pool)),
        }
    }

    /// The spans, owned.
    pub fn into_vec(mut self) -> Vec<SpanData> {
        self.recycle = None;
        std::mem::take(&mut self.spans)
    }
}

impl std::ops::Deref for SpanBatch {
    type Target = [SpanData];
    fn deref(&self) -> &[SpanData] {
        &self.spans
    }
}

impl Drop for SpanBatch {
    fn drop(&mut self) {
        if let Some(pool) = self.recycle.take() {
            pool.put(std::mem::take(&mut self.spans));
        }
    }
}

impl fmt::Debug for SpanBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanBatch")
            .field("len", &self.spans.len())
            .finish()
    }
}

/// Sends finished spans somewhere.
///
/// Processors call `export` from their own threads, never from the
/// application's async runtime. The batch processor calls it from several
/// threads at once only when the exporter asks for it through
/// [`max_concurrent_exports`](SpanExporter::max_concurrent_exports) or the
/// user configures it (`OTEL_BSP_MAX_CONCURRENT_EXPORTS`). An exporter must
/// return within `timeout`; retrying is its own business, within the same
/// bound.
pub trait SpanExporter: Send + Sync + fmt::Debug + 'static {
    /// Exports a batch of sampled spans.
    fn export(
        &self,
        batch: SpanBatch,
        resource: &Resource,
        timeout: Duration,
    ) -> Result<(), ExportError>;

    /// Sends anything the exporter itself buffers.
    fn force_flush(&self, _timeout: Duration) -> Result<(), ExportError> {
        Ok(())
    }

    /// Releases resources; later exports fail with [`ExportError::Shutdown`].
    fn shutdown(&self, _timeout: Duration) -> Result<(), ExportError> {
        Ok(())
    }

    /// How many exports the batch processor should run at once unless
    /// configured otherwise (default 1: one call at a time, in order).
    /// Network exporters whose throughput is bound by round trips ask for
    /// more, and must then accept concurrent calls; batches may then
    /// complete out of order.
    fn max_concurrent_exports(&self) -> usize {
        1
    }
}

/// The instant `timeout` from now. An unbounded timeout (`Duration::MAX`,
/// what `0` means in the `OTEL_*_TIMEOUT` variables) gives a year from now
/// instead of overflowing.
pub fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or(now + Duration::from_secs(86_400 * 365))
}

/// Calls `exporter.export`, turning a panic in the exporter into a failed
/// export: a buggy exporter loses its batch, not the processor's thread
/// (or, for the simple processor, the application's).
pub(crate) fn export_guarded(
    exporter: &dyn SpanExporter,
    batch: SpanBatch,
    resource: &Resource,
    timeout: Duration,
) -> Result<(), ExportError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        exporter.export(batch, resource, timeout)
    }))
    .unwrap_or_else(|_| Err(ExportError::failed("the exporter panicked")))
}

/// Forwards every method to the exporter behind a pointer.
macro_rules! forward_exporter {
    ($($(#[$doc:meta])* $pointer:ident),*) => {$(
        $(#[$doc])*
        impl<E: SpanExporter + ?Sized> SpanExporter for $pointer<E> {
            fn export(
                &self,
                batch: SpanBatch,
                resource: &Resource,
                timeout: Duration,
            ) -> Result<(), ExportError> {
                (**self).export(batch, resource, timeout)
            }
            fn force_flush(&self, timeout: Duration) -> Result<(), ExportError> {
                (**self).force_flush(timeout)
            }
            fn shutdown(&self, timeout: Duration) -> Result<(), ExportError> {
                (**self).shutdown(timeout)
            }
            fn max_concurrent_exports(&self) -> usize {
                (**self).max_concurrent_exports()
            }
        }
    )*};
}

forward_exporter!(
    Box,
    /// A shared exporter: the processor owns one handle and the application
    /// keeps another, to read the exporter's own counters (for example
    /// `OtlpExporter::stats`) while it runs.
    Arc
);

/// Keeps exported spans in memory, for tests. Clones share the same storage.
#[derive(Debug, Clone, Default)]
pub struct InMemoryExporter {
    inner: Arc<Mutex<InMemory>>,
}

#[derive(Debug, Default)]
struct InMemory {
    spans: Vec<SpanData>,
    resource: Option<Resource>,
    batches: usize,
    shut_down: bool,
}

impl InMemoryExporter {
    /// An empty exporter.
    pub fn new() -> InMemoryExporter {
        InMemoryExporter::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, InMemory> {
        lock(&self.inner)
    }

    /// Every span exported so far.
    pub fn finished_spans(&self) -> Vec<SpanData> {
        self.lock().spans.clone()
    }

    /// The first exported span named `name`.
    pub fn span(&self, name: &str) -> Option<SpanData> {
        self.lock().spans.iter().find(|s| s.name == name).cloned()
    }

    /// The resource of the last export.
    pub fn resource(&self) -> Option<Resource> {
        self.lock().resource.clone()
    }

    /// How many `export` calls there were.
    pub fn batches(&self) -> usize {
        self.lock().batches
    }

    /// Forgets the spans exported so far.
    pub fn reset(&self) {
        self.lock().spans.clear();
    }
}

impl SpanExporter for InMemoryExporter {
    fn export(
        &self,
        batch: SpanBatch,
        resource: &Resource,
        _timeout: Duration,
    ) -> Result<(), ExportError> {
        let mut inner = self.lock();
        if inner.shut_down {
            return Err(ExportError::Shutdown);
        }
        inner.spans.extend(batch.into_vec());
        inner.batches += 1;
        if inner.resource.as_ref() != Some(resource) {
            inner.resource = Some(resource.clone());
        }
        Ok(())
    }

    fn shutdown(&self, _timeout: Duration) -> Result<(), ExportError> {
        self.lock().shut_down = true;
        Ok(())
    }
}

/// How the console exporter prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ConsoleFormat {
    /// Each finished trace as an indented waterfall with durations and bars.
    #[default]
    Waterfall,
    /// One JSON object per span, per line.
    JsonLines,
}

type Sink = Box<dyn Write + Send>;

/// Prints spans for people: a waterfall per trace (the default) or JSON
/// lines. The waterfall is printed when a trace's local root span ends;
/// spans of traces still open are printed at flush and shutdown.
pub struct ConsoleExporter {
    format: ConsoleFormat,
    state: Mutex<ConsoleState>,
}

struct ConsoleState {
    sink: Sink,
    pending: HashMap<TraceId, Vec<SpanData>>,
    /// The resource of the last export, for traces printed at flush.
    resource: Resource,
    shut_down: bool,
}

impl fmt::Debug for ConsoleExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsoleExporter")
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl Default for ConsoleExporter {
    fn default() -> Self {
        ConsoleExporter::new(ConsoleFormat::Waterfall)
    }
}

impl ConsoleExporter {
    /// Prints to standard output.
    pub fn new(format: ConsoleFormat) -> ConsoleExporter {
        ConsoleExporter::with_writer(format, std::io::stdout())
    }

    /// Prints to `writer`.
    pub fn with_writer(
        format: ConsoleFormat,
        writer: impl Write + Send + 'static,
    ) -> ConsoleExporter {
        ConsoleExporter {
            format,
            state: Mutex::new(ConsoleState {
                sink: Box::new(writer),
                pending: HashMap::new(),
                resource: Resource::empty(),
                shut_down: false,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ConsoleState> {
        lock(&self.state)
    }
}

/// True for a span whose parent is not in this process.
fn is_local_root(span: &SpanData) -> bool {
    !span.parent_span_id.is_valid() || span.parent_is_remote
}

fn flush_pending(state: &mut ConsoleState, only: Option<TraceId>) -> std::io::Result<()> {
    let ids: Vec<TraceId> = match only {
        Some(id) => vec![id],
        None => state.pending.keys().copied().collect(),
    };
    for id in ids {
        if let Some(spans) = state.pending.remove(&id) {
            let text = render_waterfall(&spans, &state.resource);
            state.sink.write_all(text.as_bytes())?;
        }
    }
    state.sink.flush()
}

impl SpanExporter for ConsoleExporter {
    fn export(
        &self,
        batch: SpanBatch,
        resource: &Resource,
        _timeout: Duration,
    ) -> Result<(), ExportError> {
        let batch = batch.into_vec();
        let mut state = self.lock();
        if state.shut_down {
            return Err(ExportError::Shutdown);
        }
        let io = |e: std::io::Error| ExportError::Failed(Box::new(e));
        match self.format {
            ConsoleFormat::JsonLines => {
                let mut out = String::new();
                for span in &batch {
                    render_json(span, resource, &mut out);
                    out.push('\n');
                }
                state.sink.write_all(out.as_bytes()).map_err(io)?;
                state.sink.flush().map_err(io)
            }
            ConsoleFormat::Waterfall => {
                if state.resource != *resource {
                    state.resource = resource.clone();
                }
                let mut complete = Vec::new();
                for span in batch {
                    let id = span.span_context.trace_id();
                    if is_local_root(&span) {
                        complete.push(id);
                    }
                    state.pending.entry(id).or_default().push(span);
                }
                for id in complete {
                    flush_pending(&mut state, Some(id)).map_err(io)?;
                }
                Ok(())
            }
        }
    }

    fn force_flush(&self, _timeout: Duration) -> Result<(), ExportError> {
        let mut state = self.lock();
        flush_pending(&mut state, None).map_err(|e| ExportError::Failed(Box::new(e)))
    }

    fn shutdown(&self, timeout: Duration) -> Result<(), ExportError> {
        let result = self.force_flush(timeout);
        self.lock().shut_down = true;
        result
    }
}

fn format_duration(d: Duration) -> String {
    let micros = d.as_micros();
    if micros < 1_000 {
        format!("{micros} µs")
    } else if micros < 1_000_000 {
        format!("{:.1} ms", micros as f64 / 1_000.0)
    } else {
        format!("{:.2} s", micros as f64 / 1_000_000.0)
    }
}

const BAR_WIDTH: usize = 40;

/// Renders one trace as an indented waterfall: name, a bar placing the span
/// in the trace's time range, its duration, and kind and status when notable.
pub fn render_waterfall(spans: &[SpanData], resource: &Resource) -> String {
    let mut out = String::new();
    let Some(first) = spans.first() else {
        return out;
    };
    let start = spans
        .iter()
        .map(|s| s.start_time)
        .min()
        .unwrap_or(first.start_time);
    let end = spans
        .iter()
        .map(|s| s.end_time)
        .max()
        .unwrap_or(first.end_time);
    let total = end.saturating_duration_since(start).as_nanos().max(1);
    let service = resource
        .get("service.name")
        .map(|v| format!(" {v}"))
        .unwrap_or_default();
    let _ = writeln!(out, "trace {}{service}", first.span_context.trace_id());

    // Depth-first from the local roots, children in start order.
    let mut children: HashMap<SpanId, Vec<&SpanData>> = HashMap::new();
    let ids: Vec<SpanId> = spans.iter().map(|s| s.span_context.span_id()).collect();
    let mut roots = Vec::new();
    for span in spans {
        if span.parent_span_id.is_valid()
            && ids.contains(&span.parent_span_id)
            && !span.parent_is_remote
        {
            children.entry(span.parent_span_id).or_default().push(span);
        } else {
            roots.push(span);
        }
    }
    let by_start = |a: &&SpanData, b: &&SpanData| a.start_time.cmp(&b.start_time);
    roots.sort_by(by_start);
    for list in children.values_mut() {
        list.sort_by(by_start);
    }
    let mut rows: Vec<(usize, &SpanData)> = Vec::new();
    let mut stack: Vec<(usize, &SpanData)> = roots.into_iter().rev().map(|s| (0, s)).collect();
    while let Some((depth, span)) = stack.pop() {
        rows.push((depth, span));
        if let Some(kids) = children.get(&span.span_context.span_id()) {
            stack.extend(kids.iter().rev().map(|k| (depth + 1, *k)));
        }
    }
    let width = rows
        .iter()
        .map(|(d, s)| 2 * d + s.name.chars().count())
        .max()
        .unwrap_or(0);
    for (depth, span) in rows {
        let offset = span.start_time.saturating_duration_since(start).as_nanos();
        let length = span.duration().as_nanos();
        let from = (offset * BAR_WIDTH as u128 / total) as usize;
        let cells = ((length * BAR_WIDTH as u128).div_ceil(total) as usize).max(1);
        let from = from.min(BAR_WIDTH - 1);
        let cells = cells.min(BAR_WIDTH - from);
        let bar: String = (0..BAR_WIDTH)
            .map(|i| {
                if i >= from && i < from + cells {
                    '='
                } else {
                    ' '
                }
            })
            .collect();
        let label = format!("{}{}", "  ".repeat(depth), span.name);
        let mut notes = String::new();
        if span.kind != clew_api::SpanKind::Internal {
            let _ = write!(notes, "  {}", span.kind.as_str());
        }
        match &span.status {
            Status::Error { description } if description.is_empty() => notes.push_str("  ERROR"),
            Status::Error { description } => {
                let _ = write!(notes, "  ERROR: {description}");
            }
            _ => {}
        }
        if !span.events.is_empty() {
            let names: Vec<&str> = span.events.iter().map(|e| &*e.name).collect();
            let _ = write!(notes, "  events: {}", names.join(", "));
        }
        let _ = writeln!(
            out,
            "{label:<width$} [{bar}] {:>9}{notes}",
            format_duration(span.duration())
        );
    }
    out.push('\n');
    out
}

/// Appends `s` to `out` as a JSON string literal: quoted, with `"`, `\`
/// and control characters escaped. Shared by the console's JSON lines and
/// the OTLP/JSON encoder.
pub fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn json_value(out: &mut String, v: &Value) {
    fn list<T>(out: &mut String, items: &[T], one: impl Fn(&mut String, &T)) {
        out.push('[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            one(out, item);
        }
        out.push(']');
    }
    let float = |out: &mut String, f: &f64| {
        if f.is_finite() {
            let _ = write!(out, "{f}");
        } else {
            write_json_string(out, &f.to_string());
        }
    };
    match v {
        Value::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        Value::I64(i) => {
            let _ = write!(out, "{i}");
        }
        Value::F64(f) => float(out, f),
        Value::String(s) => write_json_string(out, s.as_str()),
        Value::Array(Array::Bool(v)) => list(out, v, |o, b| {
            let _ = write!(o, "{b}");
        }),
        Value::Array(Array::I64(v)) => list(out, v, |o, i| {
            let _ = write!(o, "{i}");
        }),
        Value::Array(Array::F64(v)) => list(out, v, float),
        Value::Array(Array::String(v)) => list(out, v, |o, s| write_json_string(o, s.as_str())),
    }
}

fn json_attributes<'a>(
    out: &mut String,
    attributes: impl IntoIterator<Item = &'a clew_api::KeyValue>,
) {
    out.push('{');
    for (i, kv) in attributes.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_string(out, kv.key.as_str());
        out.push(':');
        json_value(out, &kv.value);
    }
    out.push('}');
}

/// Renders one span as a JSON object (no trailing newline).
pub fn render_json(span: &SpanData, resource: &Resource, out: &mut String) {
    let sc = &span.span_context;
    let _ = write!(
        out,
        "{{\"traceId\":\"{}\",\"spanId\":\"{}\"",
        sc.trace_id(),
        sc.span_id()
    );
    if span.parent_span_id.is_valid() {
        let _ = write!(out, ",\"parentSpanId\":\"{}\"", span.parent_span_id);
    }
    out.push_str(",\"name\":");
    write_json_string(out, &span.name);
    let _ = write!(
        out,
        ",\"kind\":\"{}\",\"startTimeUnixNano\":{},\"endTimeUnixNano\":{},\"durationNanos\":{}",
        span.kind.as_str(),
        span.start_time.unix_nanos(),
        span.end_time.unix_nanos(),
        span.duration().as_nanos()
    );
    if !sc.trace_state().is_empty() {
        out.push_str(",\"traceState\":");
        write_json_string(out, sc.trace_state().header());
    }
    out.push_str(",\"attributes\":");
    json_attributes(out, &span.attributes);
    out.push_str(",\"events\":[");
    for (i, e) in span.events.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        write_json_string(out, &e.name);
        let _ = write!(
            out,
            ",\"timeUnixNano\":{},\"attributes\":",
            e.timestamp.unix_nanos()
        );
        json_attributes(out, &e.attributes);
        out.push('}');
    }
    out.push_str("],\"links\":[");
    for (i, l) in span.links.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "{{\"traceId\":\"{}\",\"spanId\":\"{}\",\"attributes\":",
            l.span_context.trace_id(),
            l.span_context.span_id()
        );
        json_attributes(out, &l.attributes);
        out.push('}');
    }
    out.push_str("],\"status\":");
    match &span.status {
        Status::Unset => out.push_str("{\"code\":\"unset\"}"),
        Status::Ok => out.push_str("{\"code\":\"ok\"}"),
        Status::Error { description } => {
            out.push_str("{\"code\":\"error\",\"description\":");
            write_json_string(out, description);
            out.push('}');
        }
    }
    out.push_str(",\"scope\":");
    write_json_string(out, &span.scope.name);
    out.push_str(",\"resource\":");
    json_attributes(out, resource.iter());
    let _ = write!(
        out,
        ",\"droppedAttributesCount\":{},\"droppedEventsCount\":{},\"droppedLinksCount\":{}}}",
        span.dropped_attributes_count, span.dropped_events_count, span.dropped_links_count
    );
}
