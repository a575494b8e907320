//! Throughput under load, as `anchors.md` §6 measures it: N threads create
//! spans as fast as they can for S seconds through the stock batch processor
//! (discarding exporter); then the provider shuts down, flushing the queue.
//!
//! `clew-stress <clew|opentelemetry> [--threads N] [--seconds S] [--attrs 0|4] [--queue Q] [--grpc 1] [--latency-ms L]`
//!
//! Prints created/s, exported/s (what reached the exporter, final flush
//! included, over S), the share dropped, peak RSS (VmHWM) and the peak of
//! the anonymous resident memory, sampled every 10 ms (`peak_anon`).
//!
//! With `--grpc 1` the exporter is the system's OTLP/gRPC exporter (clew's,
//! or opentelemetry-otlp 0.33's tonic exporter) sending to an in-process
//! tonic receiver on loopback that counts without decoding
//! (clew-test-support); exported/s is then what the receiver accepted, and
//! `export_cpu_per_span` is the CPU time the process spent outside the
//! producers and the receiver (batch worker, encoding, gRPC and runtime
//! threads) per exported span: what exporting costs the application.
//! `--latency-ms L` makes the receiver answer each request L ms late, like
//! a collector across a network.
//!
//! `clew-stress stalls [--threads N] [--seconds S]` measures the machine
//! instead: N threads that never sleep each read the clock in a loop, and
//! every gap between two reads longer than 150 µs is a time the thread lost
//! its core (to another thread or process, or to the hypervisor). A batch
//! processor's default queue of 2,048 spans lasts about 150–350 µs at the
//! rates measured here, so a stall of the export thread longer than that
//! drops spans whatever the processor does: the probe says how often the
//! machine does it.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clew_bench::sdk::EXPORTED;
use clew_test_support::{Faults, Receiver};

struct Options {
    system: String,
    threads: usize,
    seconds: u64,
    attrs: bool,
    queue: usize,
    grpc: bool,
    latency: Duration,
}

fn parse() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let system = args.next().ok_or("usage: clew-stress <clew|opentelemetry|stalls> [--threads N] [--seconds S] [--attrs 0|4] [--queue Q] [--grpc 1] [--latency-ms L]")?;
    let mut o = Options {
        system,
        threads: 1,
        seconds: 5,
        attrs: false,
        queue: 2048,
        grpc: false,
        latency: Duration::ZERO,
    };
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let n: usize = value.parse().map_err(|_| format!("{flag}: not a number"))?;
        match flag.as_str() {
            "--threads" => o.threads = n.max(1),
            "--seconds" => o.seconds = n as u64,
            "--attrs" => o.attrs = n > 0,
            "--queue" => o.queue = n.max(1),
            "--grpc" => o.grpc = n > 0,
            "--latency-ms" => o.latency = Duration::from_millis(n as u64),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(o)
}

/// utime + stime, in clock ticks, of a `/proc/.../stat` line.
fn stat_ticks(path: &str) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            // Fields after the command name, which may hold spaces.
            let rest = &s[s.rfind(')')? + 2..];
            let fields: Vec<&str> = rest.split_whitespace().collect();
            // utime and stime are fields 14 and 15, i.e. 11 and 12 after ")".
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0)
}

/// CPU ticks of the live threads named `name`.
fn named_thread_ticks(name: &str) -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == name))
        .map(|t| stat_ticks(&t.path().join("stat").to_string_lossy()))
        .sum()
}

/// The highest anonymous resident memory [`sample_anon`] saw, in KiB.
static PEAK_ANON_KIB: AtomicU64 = AtomicU64::new(0);

/// Samples the process's anonymous resident memory (resident pages minus
/// those backed by files, from `/proc/self/statm`): the heap, the stacks and
/// the queues, without the binary's code pages. `VmHWM` counts those too,
/// and which pages of the binary (both systems' code is in it) a run
/// touches moved it by a few hundred KiB between runs of one system.
fn sample_anon() {
    let Ok(statm) = std::fs::read_to_string("/proc/self/statm") else {
        return;
    };
    let mut fields = statm.split_whitespace().skip(1);
    let (Some(resident), Some(shared)) = (fields.next(), fields.next()) else {
        return;
    };
    let (Ok(resident), Ok(shared)) = (resident.parse::<u64>(), shared.parse::<u64>()) else {
        return;
    };
    // Pages of 4 KiB on this machine's architecture.
    PEAK_ANON_KIB.fetch_max(resident.saturating_sub(shared) * 4, Ordering::Relaxed);
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

fn run_clew(o: &Options, stop: &Arc<AtomicBool>, receiver: Option<&Receiver>) -> (u64, u64) {
    use clew_sdk::processor::BatchConfig;
    let builder = clew_sdk::SdkTracerProvider::builder()
        .with_resource(clew_sdk::Resource::new([clew_api::KeyValue::new(
            "service.name",
            "stress",
        )]))
        .with_sampler(clew_sdk::sampler::AlwaysOn);
    // OTEL_BSP_* from the environment (e.g. OTEL_BSP_MAX_CONCURRENT_EXPORTS),
    // then the queue size of the command line.
    let config = BatchConfig::from_env(&clew_sdk::env::Env::process()).with_max_queue_size(o.queue);
    let provider = match receiver {
        None => {
            builder.with_batch_exporter_config(clew_bench::sdk::clew_side::DiscardExporter, config)
        }
        Some(r) => {
            let otlp = clew_otlp::OtlpConfig::for_protocol(clew_otlp::Protocol::Grpc)
                .with_endpoint(&r.base_url())
                .expect("the receiver's URL");
            let exporter = clew_otlp::OtlpExporter::new(otlp).expect("the gRPC exporter");
            builder.with_batch_exporter_config(exporter, config)
        }
    }
    .build();
    let attrs = o.attrs;
    let (created, ticks) = produce(o, stop, || {
        let tracer = provider.tracer("stress");
        move || {
            if attrs {
                clew_bench::sdk::clew_span_4attr(&tracer);
            } else {
                black_box(tracer.start("x"));
            }
        }
    });
    let _ = provider.shutdown(Duration::from_secs(30));
    (created, ticks)
}

/// Runs `o.threads` producers, each repeating the operation `make` gives
/// it until `stop` is set after `o.seconds`; returns the spans created and
/// the producers' CPU ticks.
fn produce<F, Op>(o: &Options, stop: &Arc<AtomicBool>, make: F) -> (u64, u64)
where
    F: Fn() -> Op,
    Op: FnMut() + Send + 'static,
{
    let handles: Vec<_> = (0..o.threads)
        .map(|_| {
            let mut op = make();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    op();
                    n += 1;
                }
                (n, stat_ticks("/proc/thread-self/stat"))
            })
        })
        .collect();
    // This thread watches the process's anonymous memory while the
    // producers run (`sample_anon` every 10 ms: reading `statm` costs a few
    // microseconds), then stops them.
    let end = Instant::now() + Duration::from_secs(o.seconds);
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        sample_anon();
        std::thread::sleep(left.min(Duration::from_millis(10)));
    }
    stop.store(true, Ordering::Relaxed);
    handles
        .into_iter()
        .map(|h| h.join().unwrap_or((0, 0)))
        .fold((0, 0), |(n, t), (n2, t2)| (n + n2, t + t2))
}

fn run_otel(o: &Options, stop: &Arc<AtomicBool>, receiver: Option<&Receiver>) -> (u64, u64) {
    use opentelemetry::trace::{Tracer as _, TracerProvider as _};
    use opentelemetry_otlp::WithExportConfig as _;
    use opentelemetry_sdk::trace::{
        BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider,
    };
    let config = BatchConfigBuilder::default()
        .with_max_queue_size(o.queue)
        .build();
    // opentelemetry-otlp's tonic exporter must be built inside a tokio
    // runtime and needs it running while it exports (its documented setup).
    // Only then: with the discarding exporter, a runtime's worker thread and
    // allocations were counted in opentelemetry's peak memory.
    let runtime = receiver.map(|_| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime")
    });
    let processor = match (receiver, &runtime) {
        (Some(r), Some(runtime)) => {
            let _entered = runtime.enter();
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(r.base_url())
                .build()
                .expect("the opentelemetry-otlp gRPC exporter");
            BatchSpanProcessor::builder(exporter)
                .with_batch_config(config)
                .build()
        }
        _ => BatchSpanProcessor::builder(clew_bench::sdk::otel_side::DiscardExporter)
            .with_batch_config(config)
            .build(),
    };
    let provider = SdkTracerProvider::builder()
        .with_resource(
            opentelemetry_sdk::Resource::builder_empty()
                .with_service_name("stress")
                .build(),
        )
        .with_sampler(Sampler::AlwaysOn)
        .with_span_processor(processor)
        .build();
    let attrs = o.attrs;
    let (created, ticks) = produce(o, stop, || {
        let tracer = provider.tracer("stress");
        move || {
            if attrs {
                clew_bench::sdk::otel_span_4attr(&tracer);
            } else {
                black_box(tracer.start("x"));
            }
        }
    });
    let _ = provider.shutdown();
    drop(runtime);
    (created, ticks)
}

/// Stalls longer than this are counted: about the shortest time a
/// 2,048-span queue lasts at the producer rates measured here.
const STALL: Duration = Duration::from_micros(150);

/// A thread's stalls over `seconds` of reading the clock without pause:
/// (gaps over [`STALL`], gaps over 1 ms, the longest gap).
fn watch_stalls(seconds: u64) -> (u64, u64, Duration) {
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut last = Instant::now();
    let (mut over, mut over_ms, mut longest) = (0, 0, Duration::ZERO);
    while last < end {
        let now = Instant::now();
        let gap = now - last;
        last = now;
        over += u64::from(gap > STALL);
        over_ms += u64::from(gap > Duration::from_millis(1));
        longest = longest.max(gap);
    }
    (over, over_ms, longest)
}

/// Runs [`watch_stalls`] on `threads` threads at once; one line of totals.
fn stalls(threads: usize, seconds: u64) -> String {
    let seconds = seconds.max(1);
    let watchers: Vec<_> = (0..threads)
        .map(|_| std::thread::spawn(move || watch_stalls(seconds)))
        .collect();
    let (mut over, mut over_ms, mut longest) = (0, 0, Duration::ZERO);
    for w in watchers {
        let (o, m, l) = w.join().expect("watcher");
        over += o;
        over_ms += m;
        longest = longest.max(l);
    }
    let per_thread_second = (threads as u64 * seconds) as f64;
    format!(
        "system=stalls threads={threads} seconds={seconds} over_150us_per_thread_s={:.1} over_1ms_per_thread_s={:.1} longest={}us",
        over as f64 / per_thread_second,
        over_ms as f64 / per_thread_second,
        longest.as_micros()
    )
}

fn main() -> std::process::ExitCode {
    let o = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    if o.system == "stalls" {
        println!("{}", stalls(o.threads, o.seconds));
        return std::process::ExitCode::SUCCESS;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let receiver = o.grpc.then(|| {
        Receiver::start_grpc(Faults {
            count_only: true,
            delay: o.latency,
            ..Faults::default()
        })
    });
    let started = Instant::now();
    let (created, producer_ticks) = match o.system.as_str() {
        "clew" => run_clew(&o, &stop, receiver.as_ref()),
        "opentelemetry" => run_otel(&o, &stop, receiver.as_ref()),
        other => {
            eprintln!("unknown system {other}");
            return std::process::ExitCode::from(2);
        }
    };
    let _total = started.elapsed();
    // After the shutdown's final flush too.
    sample_anon();
    let exported = match &receiver {
        Some(r) => r.span_count() as u64,
        None => EXPORTED.load(Ordering::Relaxed),
    };
    // Everything the process ran, minus the producers, the receiver and
    // this thread: the exporting side.
    let export_ticks = stat_ticks("/proc/self/stat")
        .saturating_sub(producer_ticks)
        .saturating_sub(named_thread_ticks("otlp-receiver"))
        .saturating_sub(stat_ticks("/proc/thread-self/stat"));
    let tick_us = 1e6 / 100.0; // USER_HZ is 100 on Linux
    let export_cpu = if exported > 0 {
        format!("{:.2}us", export_ticks as f64 * tick_us / exported as f64)
    } else {
        "-".to_owned()
    };
    let secs = o.seconds.max(1) as f64;
    let dropped = created.saturating_sub(exported);
    println!(
        "system={} exporter={} latency={}ms threads={} attrs={} queue={} created_per_s={:.2}M exported_per_s={:.2}M dropped={:.2}% peak_rss={:.1}MiB peak_anon={:.2}MiB export_cpu_per_span={}",
        o.system,
        if o.grpc { "otlp-grpc" } else { "discard" },
        o.latency.as_millis(),
        o.threads,
        if o.attrs { 4 } else { 0 },
        o.queue,
        created as f64 / secs / 1e6,
        exported as f64 / secs / 1e6,
        if created > 0 { dropped as f64 * 100.0 / created as f64 } else { 0.0 },
        peak_rss_kib() as f64 / 1024.0,
        PEAK_ANON_KIB.load(Ordering::Relaxed) as f64 / 1024.0,
        export_cpu
    );
    std::process::ExitCode::SUCCESS
}
