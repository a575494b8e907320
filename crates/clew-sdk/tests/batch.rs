//! The batch processor: export on size and on delay, drops when full,
//! exact accounting, failed exports, flush and shutdown.
#![allow(clippy::unwrap_used)] // reason: a failed unwrap is the test failing

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clew_sdk::env::Env;
use clew_sdk::export::{ExportError, SpanBatch, SpanExporter};
use clew_sdk::processor::{BatchConfig, BatchSpanProcessor, ProcessorError, ProcessorStats};
use clew_sdk::{Resource, SdkTracerProvider};
use common::{ChannelExporter, Discard, FlakyExporter, GatedExporter};

/// `threads` threads, each starting and ending `spans` spans.
fn spawn_producers(
    p: &SdkTracerProvider,
    threads: usize,
    spans: usize,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..threads)
        .map(|_| {
            let tracer = p.tracer("t");
            std::thread::spawn(move || {
                for _ in 0..spans {
                    tracer.start("x").end();
                }
            })
        })
        .collect()
}

fn invariant(s: &ProcessorStats) {
    assert_eq!(s.created, s.exported + s.dropped + s.queued, "{s:?}");
}

#[test]
fn exports_when_the_batch_is_full_without_waiting_for_the_delay() {
    let (exporter, rx) = ChannelExporter::new();
    let config = BatchConfig::default()
        .with_scheduled_delay(Duration::from_secs(3600))
        .with_max_export_batch_size(10);
    let p = common::batch_provider(exporter, config);
    let tracer = p.tracer("t");
    for _ in 0..10 {
        tracer.start("x").end();
    }
    let batch = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("exported on size");
    assert_eq!(batch.len(), 10);
    p.shutdown(Duration::from_secs(5)).unwrap();
}

/// After bursts of spans as fast as one thread can end them, and a pause,
/// the next batch is still exported as soon as it is full (the timer is an
/// hour away), a flush still exports a partial one, and nothing is lost or
/// exported twice. (A worker that paces itself by the rate it saw, as one
/// measured variant did, must not sleep through the pause.)
#[test]
fn after_a_fast_burst_and_a_pause_the_next_full_batch_goes_out_at_once() {
    let (exporter, rx) = ChannelExporter::new();
    let config = BatchConfig::default()
        .with_scheduled_delay(Duration::from_secs(3600))
        .with_max_queue_size(4096)
        .with_max_export_batch_size(16);
    let p = common::batch_provider(exporter, config);
    let tracer = p.tracer("t");
    let mut exported = 0;
    for round in 0..3 {
        for _ in 0..100_000 {
            tracer.start("burst").end();
        }
        std::thread::sleep(Duration::from_millis(50));
        for _ in 0..16 {
            tracer.start("late").end();
        }
        loop {
            let batch = rx
                .recv_timeout(Duration::from_secs(10))
                .unwrap_or_else(|_| panic!("round {round}: the late batch was not exported"));
            exported += batch.len();
            if batch.iter().any(|s| s.name == "late") {
                break;
            }
        }
    }
    tracer.start("partial").end();
    p.force_flush(Duration::from_secs(10)).unwrap();
    exported += rx.try_iter().map(|b| b.len()).sum::<usize>();
    let s = p.processor_stats()[0];
    invariant(&s);
    assert_eq!(s.created, 3 * 100_016 + 1);
    assert_eq!(s.queued, 0, "{s:?}");
    assert_eq!(exported as u64, s.exported, "{s:?}");
    p.shutdown(Duration::from_secs(5)).unwrap();
}

#[test]
fn exports_after_the_schedule_delay() {
    let (exporter, rx) = ChannelExporter::new();
    let config = BatchConfig::default().with_scheduled_delay(Duration::from_millis(50));
    let p = common::batch_provider(exporter, config);
    p.tracer("t").start("lonely").end();
    let batch = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("exported on the timer");
    assert_eq!(batch[0].name, "lonely");
    p.shutdown(Duration::from_secs(5)).unwrap();
}

#[test]
fn config_from_the_environment_and_code_wins() {
    let env = Env::from_pairs([
        ("OTEL_BSP_MAX_QUEUE_SIZE", "100"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "500"),
        ("OTEL_BSP_SCHEDULE_DELAY", "250"),
        ("OTEL_BSP_EXPORT_TIMEOUT", "0"),
        ("OTEL_BSP_MAX_CONCURRENT_EXPORTS", "3"),
    ]);
    let c = BatchConfig::from_env(&env);
    assert_eq!(c.max_concurrent_exports, Some(3));
    assert_eq!(c.max_queue_size, 100);
    assert_eq!(c.max_export_batch_size, 100, "never above the queue size");
    assert_eq!(c.scheduled_delay, Duration::from_millis(250));
    assert_eq!(c.export_timeout, Duration::MAX, "0 means no limit");
    let bad = BatchConfig::from_env(&Env::from_pairs([
        ("OTEL_BSP_MAX_QUEUE_SIZE", "0"),
        ("OTEL_BSP_SCHEDULE_DELAY", "soon"),
        ("OTEL_BSP_MAX_CONCURRENT_EXPORTS", "0"),
    ]));
    assert_eq!(bad, BatchConfig::default());
    let p = BatchSpanProcessor::builder(Discard)
        .with_env(env)
        .with_config(BatchConfig::default().with_max_queue_size(7))
        .build();
    assert_eq!(p.config().max_queue_size, 7);
}

/// A provider whose batch processor queues 8 spans and exports them 4 at a
/// time through `exporter`, on size only (its scheduled delay is an hour).
fn queue_of_8_in_batches_of_4(exporter: &GatedExporter) -> SdkTracerProvider {
    let config = BatchConfig::default()
        .with_max_queue_size(8)
        .with_max_export_batch_size(4)
        .with_scheduled_delay(Duration::from_secs(3600));
    common::batch_provider(exporter.clone(), config)
}

/// A queue of 8 in batches of 4 whose first batch is in `exporter`, held
/// there until the test admits it; and a tracer of it.
fn first_batch_stuck_in(exporter: &GatedExporter) -> (SdkTracerProvider, clew_api::trace::Tracer) {
    let p = queue_of_8_in_batches_of_4(exporter);
    let tracer = p.tracer("t");
    for _ in 0..4 {
        tracer.start("x").end();
    }
    exporter.wait_entered(1);
    (p, tracer)
}

#[test]
fn a_full_queue_drops_never_blocks_and_counts_exactly() {
    let exporter = GatedExporter::default();
    // The worker now holds 4 spans and is stuck.
    let (p, tracer) = first_batch_stuck_in(&exporter);
    for _ in 0..20 {
        tracer.start("x").end(); // never blocks
    }
    let s = p.processor_stats()[0];
    invariant(&s);
    assert_eq!(s.created, 24);
    assert_eq!(s.queued, 12, "4 in flight + 8 queued");
    assert_eq!(s.dropped, 12);
    exporter.open();
    p.force_flush(Duration::from_secs(10)).unwrap();
    let s = p.processor_stats()[0];
    invariant(&s);
    assert_eq!(s.exported, 12);
    assert_eq!(s.queued, 0);
    assert_eq!(*exporter.exported.lock().unwrap(), 12);
}

/// A full queue gets no buffer for spans it cannot take: the span that
/// fills it hands its batch over and leaves the queue without a buffer
/// being filled, and the spans dropped after it take none. Once the worker
/// makes room, the next span gets the buffer the exporter gave back. (The
/// processor took a fresh buffer at every hand-over, so two full queues
/// held a buffer each that no span could go into.)
#[test]
fn a_full_queue_takes_no_buffer_until_it_has_room() {
    let exporter = GatedExporter::default();
    let (p, tracer) = first_batch_stuck_in(&exporter);
    let end = |n: usize| (0..n).for_each(|_| tracer.start("x").end());
    end(5); // the second batch, and a span of the third
    let allocations = common::thread_allocations();
    end(3); // the third batch fills the queue
    end(4); // dropped
    assert_eq!(
        common::thread_allocations(),
        allocations,
        "a buffer was taken for a full queue"
    );
    let s = p.processor_stats()[0];
    assert_eq!((s.created, s.dropped, s.queued), (16, 4, 12), "{s:?}");

    // The worker takes the second batch once the first is exported, which
    // gives its buffer back to the pool: the next span takes it.
    exporter.admit(1);
    exporter.wait_entered(2);
    let allocations = common::thread_allocations();
    end(4);
    assert_eq!(
        common::thread_allocations(),
        allocations,
        "the next batch's buffer was allocated, not the exported one reused"
    );
    exporter.open();
    p.force_flush(Duration::from_secs(10)).unwrap();
    let s = p.processor_stats()[0];
    invariant(&s);
    assert_eq!((s.exported, s.dropped), (16, 4), "{s:?}");
}

/// The worker takes from the queue only what it exports next, so what the
/// processor holds is bounded by the queue size plus a batch per export
/// lane: had it taken every full batch at once, the queue would have filled
/// again behind the batches it held (here 16 spans held, not 12).
#[test]
fn the_worker_holds_no_more_than_it_exports_next() {
    let exporter = GatedExporter::default();
    let (p, tracer) = first_batch_stuck_in(&exporter);
    let end = |n: usize| (0..n).for_each(|_| tracer.start("x").end());
    end(8); // two full batches queued: the queue is full
    end(4); // dropped
    exporter.admit(1);
    exporter.wait_entered(2); // the second batch is in the exporter
    end(8); // room for one batch: the third waits, 4 are dropped
    let s = p.processor_stats()[0];
    invariant(&s);
    assert_eq!(s.created, 24, "{s:?}");
    assert_eq!(s.dropped, 8, "{s:?}");
    assert_eq!(s.queued, 12, "8 queued and 4 in the exporter: {s:?}");
    exporter.open();
    p.force_flush(Duration::from_secs(10)).unwrap();
    let s = p.processor_stats()[0];
    invariant(&s);
    assert_eq!((s.exported, s.queued), (16, 0), "{s:?}");
    assert_eq!(*exporter.exported.lock().unwrap(), 16);
    p.shutdown(Duration::from_secs(5)).unwrap();
}

#[test]
fn failed_exports_are_counted_as_dropped() {
    let flaky = Arc::new(FlakyExporter::default());
    let config = BatchConfig::default().with_max_export_batch_size(5);
    let p = common::batch_provider(Arc::clone(&flaky), config);
    // A flush whose exports failed says how many spans it lost.
    let mut reported = 0;
    let mut flush = || match p.force_flush(Duration::from_secs(10)) {
        Ok(()) => {}
        Err(e) => {
            assert!(
                matches!(e.errors[0], ProcessorError::SpansLost { .. }),
                "{e}"
            );
            reported += e.spans_lost();
        }
    };
    for _ in 0..20 {
        p.tracer("t").start("x").end();
        // Flushing each time makes batches, and so failures, deterministic.
        if p.processor_stats()[0].queued >= 5 {
            flush();
        }
    }
    flush();
    let s = p.processor_stats()[0];
    // A full batch may be exported (and fail) in the background before the
    // flush that follows it starts: flushes report at most every loss.
    assert!(reported <= s.dropped, "{reported} {s:?}");
    invariant(&s);
    assert_eq!(s.created, 20);
    assert_eq!(s.exported, *flaky.accepted.lock().unwrap() as u64);
    assert!(s.failed_exports >= 1, "{s:?}");
    assert_eq!(s.dropped, 20 - s.exported);
}

#[test]
fn accounting_is_exact_under_concurrency() {
    let config = BatchConfig::default()
        .with_max_queue_size(64)
        .with_max_export_batch_size(16);
    let p = common::batch_provider(Discard, config);
    let stop = Arc::new(AtomicBool::new(false));
    let producers = spawn_producers(&p, 3, 20_000);
    let checker = {
        let p = p.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut checks = 0;
            while !stop.load(Ordering::Relaxed) {
                invariant(&p.processor_stats()[0]);
                checks += 1;
            }
            checks
        })
    };
    for t in producers {
        t.join().unwrap();
    }
    p.shutdown(Duration::from_secs(10)).unwrap();
    stop.store(true, Ordering::Relaxed);
    assert!(checker.join().unwrap() > 0);
    let s = p.processor_stats()[0];
    invariant(&s);
    assert_eq!(s.created, 60_000);
    assert_eq!(s.queued, 0);
}

#[test]
fn shutdown_exports_everything_queued_then_refuses() {
    let (exporter, rx) = ChannelExporter::new();
    let config = BatchConfig::default().with_scheduled_delay(Duration::from_secs(3600));
    let p = common::batch_provider(exporter, config);
    for _ in 0..1000 {
        p.tracer("t").start("x").end();
    }
    p.shutdown(Duration::from_secs(10)).unwrap();
    let total: usize = rx.try_iter().map(|b| b.len()).sum();
    assert_eq!(total, 1000);
    let stats = p.processor_stats()[0];
    assert_eq!(stats.exported, 1000);
}

#[test]
fn flush_and_shutdown_honour_their_timeout_when_the_exporter_hangs() {
    let exporter = GatedExporter::default(); // never opened
    let config = BatchConfig::default().with_max_export_batch_size(1);
    let p = common::batch_provider(exporter.clone(), config);
    for _ in 0..3 {
        p.tracer("t").start("x").end();
    }
    exporter.wait_entered(1);
    let started = std::time::Instant::now();
    let err = p.force_flush(Duration::from_millis(200)).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(err.spans_lost(), 3);
    let started = std::time::Instant::now();
    let err = p.shutdown(Duration::from_millis(200)).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        err.spans_lost(),
        3,
        "shutdown says how many spans were lost"
    );
    assert!(matches!(err.errors[0], ProcessorError::Timeout { .. }));
}

#[test]
fn partial_batches_of_all_threads_go_out_in_one_export() {
    let exporter = clew_sdk::export::InMemoryExporter::new();
    let p = SdkTracerProvider::builder()
        .with_env(Env::from_pairs([("OTEL_BSP_SCHEDULE_DELAY", "60000")]))
        .with_batch_exporter(exporter.clone())
        .build();
    for t in spawn_producers(&p, 8, 10) {
        t.join().unwrap();
    }
    p.force_flush(Duration::from_secs(10)).unwrap();
    assert_eq!(exporter.finished_spans().len(), 80);
    assert_eq!(exporter.batches(), 1, "80 spans from 8 threads, one batch");
}

/// Sleeps in each export and records how many calls overlapped.
#[derive(Debug, Default)]
struct SlowExporter {
    wants: usize,
    now: Mutex<(usize, usize)>,
    exported: AtomicUsize,
}

impl SpanExporter for SlowExporter {
    fn export(&self, batch: SpanBatch, _: &Resource, _: Duration) -> Result<(), ExportError> {
        {
            let mut now = self.now.lock().unwrap();
            now.0 += 1;
            now.1 = now.1.max(now.0);
        }
        std::thread::sleep(Duration::from_millis(150));
        self.exported.fetch_add(batch.len(), Ordering::SeqCst);
        self.now.lock().unwrap().0 -= 1;
        Ok(())
    }

    fn max_concurrent_exports(&self) -> usize {
        self.wants
    }
}

/// Six full batches through an exporter that takes 150 ms per call, with
/// `config`; returns the most calls that overlapped.
fn overlapping_exports(wants: usize, config: BatchConfig) -> usize {
    let exporter = Arc::new(SlowExporter {
        wants,
        ..SlowExporter::default()
    });
    let p = common::batch_provider(
        Arc::clone(&exporter),
        config
            .with_scheduled_delay(Duration::from_secs(3600))
            .with_max_export_batch_size(10),
    );
    let tracer = p.tracer("t");
    for _ in 0..60 {
        tracer.start("x").end();
    }
    let during = p.processor_stats()[0];
    invariant(&during);
    // The flush returns only once every export in flight has finished.
    p.force_flush(Duration::from_secs(10)).unwrap();
    assert_eq!(exporter.exported.load(Ordering::SeqCst), 60);
    let after = p.processor_stats()[0];
    assert_eq!(
        (after.created, after.exported, after.queued),
        (60, 60, 0),
        "{after:?}"
    );
    p.shutdown(Duration::from_secs(5)).unwrap();
    let most = exporter.now.lock().unwrap().1;
    most
}

#[test]
fn exports_run_concurrently_when_the_exporter_asks_and_never_more() {
    assert_eq!(overlapping_exports(3, BatchConfig::default()), 3);
    assert_eq!(overlapping_exports(1, BatchConfig::default()), 1);
}

#[test]
fn the_configured_concurrency_beats_the_exporters_choice() {
    let config = BatchConfig::default().with_max_concurrent_exports(1);
    assert_eq!(overlapping_exports(4, config), 1);
    let config = BatchConfig::default().with_max_concurrent_exports(2);
    assert_eq!(overlapping_exports(1, config), 2);
}

/// Panics in its first export, then accepts everything.
#[derive(Debug, Default)]
struct PanicsOnce {
    calls: AtomicUsize,
    accepted: AtomicUsize,
}

impl SpanExporter for PanicsOnce {
    fn export(&self, batch: SpanBatch, _: &Resource, _: Duration) -> Result<(), ExportError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("a bug in the exporter");
        }
        self.accepted.fetch_add(batch.len(), Ordering::SeqCst);
        Ok(())
    }
}

#[test]
fn a_panicking_exporter_loses_its_batch_not_the_processor() {
    let exporter = Arc::new(PanicsOnce::default());
    let p = common::batch_provider(
        Arc::clone(&exporter),
        BatchConfig::default()
            .with_max_export_batch_size(10)
            .with_scheduled_delay(Duration::from_secs(3600)),
    );
    let tracer = p.tracer("t");
    for _ in 0..30 {
        tracer.start("x").end();
    }
    let err = p.force_flush(Duration::from_secs(5)).unwrap_err();
    assert_eq!(err.spans_lost(), 10, "{err}");
    let s = p.processor_stats()[0];
    assert_eq!(
        (s.exported, s.dropped, s.failed_exports),
        (20, 10, 1),
        "{s:?}"
    );
    // The worker survived: later spans are exported.
    for _ in 0..10 {
        tracer.start("x").end();
    }
    p.shutdown(Duration::from_secs(5)).unwrap();
    assert_eq!(exporter.accepted.load(Ordering::SeqCst), 30);

    // The simple processor exports on the application's thread: the panic
    // stays inside the processor there too.
    let exporter = Arc::new(PanicsOnce::default());
    let p = SdkTracerProvider::builder()
        .with_env(Env::from_pairs([("X", "1")]))
        .with_simple_exporter(Arc::clone(&exporter))
        .build();
    let tracer = p.tracer("t");
    tracer.start("lost").end();
    tracer.start("kept").end();
    let s = p.processor_stats()[0];
    assert_eq!((s.exported, s.dropped), (1, 1), "{s:?}");
}

/// Records where each exported span's attribute list lives. The first
/// batch is dropped, which returns its buffer, spans still in it, to the
/// processor; later ones are kept ([`Keep`]), so that buffer is the only
/// one the producer can take back. The first export returns only when the
/// test says so: the producer that filled the batch takes its next buffer
/// right after waking the worker, and must not find that batch's buffer
/// already back in the pool.
#[derive(Debug)]
struct ListAddresses(
    Arc<Mutex<Vec<usize>>>,
    Keep,
    Mutex<std::sync::mpsc::Receiver<()>>,
);

impl SpanExporter for ListAddresses {
    fn export(
        &self,
        batch: SpanBatch,
        resource: &Resource,
        timeout: Duration,
    ) -> Result<(), ExportError> {
        let first = {
            let mut seen = self.0.lock().unwrap();
            let first = seen.is_empty();
            seen.extend(batch.iter().map(|span| span.attributes.as_ptr() as usize));
            first
        };
        if !first {
            return self.1.export(batch, resource, timeout);
        }
        let _ = self.2.lock().unwrap().recv_timeout(Duration::from_secs(10));
        Ok(())
    }
}

/// Exported spans' attribute lists come back to the thread that next takes
/// their batch buffer, so its next spans' lists cost no allocation; their
/// values are released then, not held.
#[test]
fn exported_spans_attribute_lists_are_reused_and_their_values_released() {
    let addresses = Arc::new(Mutex::new(Vec::new()));
    let config = BatchConfig::default()
        .with_scheduled_delay(Duration::from_secs(3600))
        .with_max_export_batch_size(2);
    let (release, released) = std::sync::mpsc::channel();
    let p = common::batch_provider(
        ListAddresses(
            Arc::clone(&addresses),
            Keep::default(),
            Mutex::new(released),
        ),
        config,
    );
    let tracer = p.tracer("t");
    let shared: Arc<str> = Arc::from("a shared value");
    let span_with = |value: clew_api::Value| {
        tracer
            .span("x")
            .with_attributes([
                clew_api::KeyValue::new("static", 1),
                clew_api::KeyValue::new("shared", value),
            ])
            .start()
            .end();
    };
    span_with(Arc::clone(&shared).into());
    span_with(Arc::clone(&shared).into());
    release.send(()).unwrap();
    p.force_flush(Duration::from_secs(10)).unwrap();
    assert_eq!(addresses.lock().unwrap().len(), 2);
    // The exported buffer waits in the pool with both spans in it.
    assert_eq!(Arc::strong_count(&shared), 3);

    // The next span takes that buffer: the two lists are handed back to
    // this thread and the values they held are dropped.
    span_with(7.into());
    assert_eq!(
        Arc::strong_count(&shared),
        1,
        "recycled lists still hold values"
    );
    let exported = addresses.lock().unwrap().clone();
    let allocations = common::thread_allocations();
    let reused = [
        clew_api::attribute::attribute_list(2),
        clew_api::attribute::attribute_list(2),
    ];
    assert_eq!(
        common::thread_allocations(),
        allocations,
        "the next two lists were allocated, not reused"
    );
    for list in &reused {
        assert!(list.is_empty());
        assert!(
            exported.contains(&(list.as_ptr() as usize)),
            "a reused list is not an exported span's"
        );
    }
    p.shutdown(Duration::from_secs(5)).unwrap();
}

/// Keeps every batch it is given until the test drops it, so that the
/// processor's pool holds exactly the buffers the test gives back.
#[derive(Debug, Clone, Default)]
struct Keep(Arc<Mutex<Vec<SpanBatch>>>);

impl SpanExporter for Keep {
    fn export(&self, batch: SpanBatch, _: &Resource, _: Duration) -> Result<(), ExportError> {
        self.0.lock().unwrap().push(batch);
        Ok(())
    }
}

/// Grows this thread's store of spare attribute lists beforehand: its
/// growth inside a measured window would count as a free.
fn grow_spare_list_store() {
    for _ in 0..64 {
        clew_api::attribute::recycle_attribute_list(Vec::with_capacity(1));
    }
}

/// A batch processor exporting into `kept`, with batches of `size` and a
/// delay that never fires, so batches go out when full or flushed.
fn keeping_provider(kept: &Keep, size: usize) -> SdkTracerProvider {
    let config = BatchConfig::default()
        .with_scheduled_delay(Duration::from_secs(3600))
        .with_max_export_batch_size(size);
    common::batch_provider(kept.clone(), config)
}

/// A returned buffer's spans are released by the producer that next takes
/// the buffer. Everything they own is freed there, once: each of the spans
/// below owns one kind of thing, so that each kind is checked on its own.
/// A span that owns nothing but its attribute list frees nothing: the list
/// is kept for the thread's next span.
#[test]
fn a_reused_buffer_frees_exactly_what_its_spans_own() {
    use clew_api::trace::{Link, SpanContext, SpanId, Status, TraceFlags, TraceId, TraceState};
    use clew_api::{Context, KeyValue};

    const BATCH: usize = 8;
    let kept = Keep::default();
    let p = keeping_provider(&kept, BATCH);
    let tracer = p.tracer("t");
    let plain = || {
        tracer
            .span("plain")
            .with_attributes([KeyValue::new("k", 1)])
            .start()
            .end();
    };
    // Gives the exported batches' buffers back, then counts the frees made
    // on this thread while plain spans fill a batch, whose producer then
    // takes a buffer back and releases the spans in it.
    let frees_on_release = || {
        p.force_flush(Duration::from_secs(10)).unwrap();
        kept.0.lock().unwrap().clear();
        let before = common::thread_frees();
        (0..BATCH).for_each(|_| plain());
        common::thread_frees() - before
    };
    grow_spare_list_store();

    let remote = |state: TraceState| {
        SpanContext::new(
            TraceId::from_int(5),
            SpanId::from_int(6),
            TraceFlags::SAMPLED,
            true,
            state,
        )
    };
    let (name, description, event, value) = (
        String::from("owned name"),
        String::from("owned description"),
        String::from("owned event"),
        String::from("owned value"),
    );
    let parent =
        Context::new().with_remote_span_context(remote(TraceState::from_header("v=x").unwrap()));
    let link = Link::new(remote(TraceState::NONE), Vec::new());

    tracer.start(name).end();
    let span = tracer.start("status");
    span.set_status(Status::error(description));
    span.end();
    let span = tracer.start("event");
    span.add_event(event, Vec::new());
    span.end();
    let span = tracer.start("spilled events");
    span.add_event("first", Vec::new());
    span.add_event("second", Vec::new());
    span.end();
    tracer.span("link").with_link(link).start().end();
    tracer.span("trace state").with_parent(parent).start().end();
    tracer
        .span("value")
        .with_attributes([KeyValue::new("k", value)])
        .start()
        .end();
    plain();

    // One free each, two for the trace state (its `Arc` and its text) and
    // two for the links (their list and the box that holds it).
    assert_eq!(frees_on_release(), 9, "the owning spans' release");
    assert_eq!(frees_on_release(), 0, "the plain spans' release");
    p.shutdown(Duration::from_secs(5)).unwrap();
    assert_eq!(p.processor_stats()[0].exported, 3 * BATCH as u64);
}

/// Batches given back are kept by the processor, spans and all, up to the
/// most buffers it can have in use at once; the producer that takes one
/// next releases its spans. Beyond that (here an exporter holding on to
/// every batch outnumbers them), the thread that gives a batch back frees
/// it and its spans' attribute lists: that thread, usually the export
/// thread, makes no spans and would never reuse them.
#[test]
fn buffers_given_back_are_kept_up_to_what_the_processor_uses_then_freed() {
    let kept = Keep::default();
    // Queues of 2 in batches of 2: the processor uses at most 4 shards x
    // (1 full batch + 1 being filled) + 1 export lane = 9 buffers at once.
    let config = BatchConfig::default()
        .with_scheduled_delay(Duration::from_secs(3600))
        .with_max_queue_size(2)
        .with_max_export_batch_size(2);
    let p = common::batch_provider(kept.clone(), config);
    let tracer = p.tracer("t");
    grow_spare_list_store();
    for _ in 0..10 {
        for _ in 0..2 {
            tracer
                .span("x")
                .with_attributes([clew_api::KeyValue::new("k", 1)])
                .start()
                .end();
        }
        p.force_flush(Duration::from_secs(10)).unwrap();
    }
    let mut batches = std::mem::take(&mut *kept.0.lock().unwrap());
    assert_eq!(batches.len(), 10);
    let frees_on_return = |batches: &mut Vec<SpanBatch>| {
        let before = common::thread_frees();
        drop(batches.pop().unwrap());
        common::thread_frees() - before
    };
    for kept in 0..9 {
        assert_eq!(frees_on_return(&mut batches), 0, "buffer {kept} is kept");
    }
    assert_eq!(
        frees_on_return(&mut batches),
        3,
        "the tenth buffer, with its two spans' attribute lists"
    );
    p.shutdown(Duration::from_secs(5)).unwrap();
}

/// Spans handed to the processor from two threads while it shuts down are
/// each exported or counted as dropped: none is left queued once the
/// producers are done, however the shutdown falls between their spans.
#[test]
fn spans_ended_during_shutdown_are_exported_or_dropped_never_left_queued() {
    use clew_sdk::processor::SpanProcessor;
    let memory = clew_sdk::export::InMemoryExporter::new();
    let source = SdkTracerProvider::builder()
        .with_env(Env::from_pairs([("X", "1")]))
        .with_simple_exporter(memory.clone())
        .build();
    for _ in 0..16 {
        source.tracer("t").start("x").end();
    }
    let spans = Arc::new(memory.finished_spans());
    for round in 0..20u64 {
        let p = Arc::new(
            BatchSpanProcessor::builder(Discard)
                .with_env(Env::from_pairs([("X", "1")]))
                .with_config(BatchConfig::default().with_max_export_batch_size(64))
                .build(),
        );
        let producers: Vec<_> = (0..2)
            .map(|_| {
                let (p, spans) = (Arc::clone(&p), Arc::clone(&spans));
                std::thread::spawn(move || {
                    for span in spans.iter().cycle().take(20_000) {
                        p.on_end(span.clone());
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_micros(100 * round));
        // Spans dropped at the full queue meanwhile are reported as lost.
        match p.shutdown(Duration::from_secs(10)) {
            Ok(()) | Err(ProcessorError::SpansLost { .. }) => {}
            Err(e) => panic!("round {round}: {e:?}"),
        }
        for t in producers {
            t.join().unwrap();
        }
        let s = p.stats().unwrap();
        invariant(&s);
        assert_eq!(s.created, 40_000, "{s:?}");
        assert_eq!(s.queued, 0, "round {round}: {s:?}");
    }
}
