//! The batch worker's pacing: it may poll for the next batch while batches
//! come fast, but once they stop it blocks and uses no CPU. In its own test
//! binary, so that this test's export thread is the process's only one.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)] // reason: a failed unwrap is the test failing

mod common;

use std::time::{Duration, Instant};

use clew_sdk::processor::BatchConfig;
use common::Discard;

/// The ids of this process's threads named `name` (as the kernel keeps
/// it: cut to 15 bytes).
fn threads_named(name: &str) -> Vec<String> {
    let name = &name[..name.len().min(15)];
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| {
            let task = task.ok()?;
            let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
            (comm.trim_end() == name).then(|| task.file_name().to_string_lossy().into_owned())
        })
        .collect()
}

/// The time thread `tid` has spent on a CPU (`schedstat`'s first field).
fn cpu_time(tid: &str) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).unwrap();
    let ns = stat.split_whitespace().next().unwrap().parse().unwrap();
    Duration::from_nanos(ns)
}

#[test]
fn the_export_thread_sleeps_once_fast_batches_stop() {
    // Small batches, so that even a debug build's spans fill them often
    // enough for the worker to poll between them.
    let config = BatchConfig::default()
        .with_scheduled_delay(Duration::from_secs(3600))
        .with_max_queue_size(64)
        .with_max_export_batch_size(16);
    let p = common::batch_provider(Discard, config);
    let tracer = p.tracer("t");
    let started = Instant::now();
    let worker = loop {
        match threads_named("clew-batch-export").as_slice() {
            [one] => break one.clone(),
            [] if started.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(1));
            }
            other => panic!("export threads: {other:?}"),
        }
    };

    // 200 ms of spans as fast as this thread can end them.
    let burst = Instant::now();
    let before = cpu_time(&worker);
    while burst.elapsed() < Duration::from_millis(200) {
        for _ in 0..64 {
            tracer.start("x").end();
        }
    }
    let busy = cpu_time(&worker) - before;
    p.force_flush(Duration::from_secs(10)).unwrap();

    // Nothing comes for 300 ms: the worker must be blocked, not polling (a
    // polling worker is on a CPU most of that time).
    std::thread::sleep(Duration::from_millis(20));
    let before = cpu_time(&worker);
    std::thread::sleep(Duration::from_millis(300));
    let idle = cpu_time(&worker) - before;
    assert!(
        idle < Duration::from_millis(30),
        "the export thread ran {idle:?} of 300 ms with nothing to do (it ran {busy:?} during the burst)"
    );

    let stats = p.processor_stats()[0];
    assert!(stats.created > 0);
    assert_eq!(
        stats.created,
        stats.exported + stats.dropped + stats.queued,
        "{stats:?}"
    );
    assert_eq!(stats.queued, 0, "{stats:?}");
    p.shutdown(Duration::from_secs(10)).unwrap();
}
