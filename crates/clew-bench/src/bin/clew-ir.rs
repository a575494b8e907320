//! Runs one workload a given number of times, for callgrind, and reports the
//! heap allocations per iteration it counted.
//!
//! `clew-ir <group/case> <clew|opentelemetry> <iterations>`; `clew-ir --list`.
//! `cargo xtask bench` runs it under callgrind at two iteration counts and
//! divides the difference, so set-up costs cancel out.

use std::alloc::{GlobalAlloc, Layout, System};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};

use clew_bench::sdk::EXPORTED;
use clew_bench::{run, Workload, WORKLOADS};

struct Counting;
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator, only counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--otlp-sizes") {
        let (clew, otel) = clew_bench::otlp::sizes();
        println!("otlp_bytes clew={clew} opentelemetry={otel}");
        return ExitCode::SUCCESS;
    }
    if args.first().map(String::as_str) == Some("--list") {
        for w in WORKLOADS {
            println!("{} {} {}", w.name, w.system, w.weight);
        }
        return ExitCode::SUCCESS;
    }
    let [name, system, iterations] = args.as_slice() else {
        eprintln!("usage: clew-ir <group/case> <clew|opentelemetry> <iterations> | --list");
        return ExitCode::from(2);
    };
    let Some(workload) = WORKLOADS
        .iter()
        .find(|w| w.name == name && w.system == system)
        .copied()
    else {
        eprintln!("unknown workload {name} {system}");
        return ExitCode::from(2);
    };
    let Ok(iterations) = iterations.parse::<u64>() else {
        eprintln!("iterations must be a whole number");
        return ExitCode::from(2);
    };
    // One warm-up pass fills lazily initialised state (thread-locals, the
    // global tracer) so it is not counted as a per-iteration allocation.
    run(&workload, 1);
    if std::env::var_os("CLEW_PROBE").is_some() {
        clew_bench::probe_noop_span(&clew_api::global::tracer("probe"));
    }
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let exported_before = EXPORTED.load(Ordering::Relaxed);
    run(&Workload { ..workload }, iterations);
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    // What the batch workloads' exporters received while the loop ran: under
    // callgrind, which runs one thread at a time, a batch worker that is not
    // scheduled leaves the queue full, and the count would measure spans
    // dropped at the queue instead of spans exported (`--fair-sched=yes`).
    let exported = EXPORTED.load(Ordering::Relaxed) - exported_before;
    println!(
        "workload={} system={} iterations={iterations} allocations_per_iteration={:.3} exported_during_run={exported}",
        workload.name,
        workload.system,
        allocations as f64 / iterations.max(1) as f64
    );
    ExitCode::SUCCESS
}
