//! One function per boundary; each binary runs one, `main` runs them all.

use std::process::Command;
use std::sync::{mpsc, Arc, Mutex};

use clew_api::context::{Envelope, FutureExt};
use clew_api::propagation::{extract_from_env, inject_into_command};
use clew_api::rt::rayon::ParallelIteratorExt;
use clew_api::{context, rt, Context};
use rayon::prelude::*;

use crate::{incoming_request, show};

/// std::thread::spawn and scoped threads.
pub fn threads() {
    let _request = incoming_request().attach();
    show("thread", "caller");
    rt::thread::spawn(|| show("thread", "rt::thread::spawn"))
        .join()
        .ok();
    std::thread::spawn(context::bind(|| show("thread", "thread::spawn(bind(..))")))
        .join()
        .ok();
    std::thread::scope(|s| {
        rt::thread::scope_spawn(s, || show("thread", "rt::thread::scope_spawn"));
    });
    std::thread::spawn(|| show("thread", "bare thread::spawn"))
        .join()
        .ok();
}

/// tokio::spawn, spawn_blocking and futures polled elsewhere.
pub fn tokio() {
    let Ok(runtime) = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
    else {
        return;
    };
    runtime.block_on(
        async {
            show("tokio", "caller");
            rt::tokio::spawn(async { show("tokio", "rt::tokio::spawn") })
                .await
                .ok();
            rt::tokio::spawn_blocking(|| show("tokio", "rt::tokio::spawn_blocking"))
                .await
                .ok();
            tokio::spawn(async { show("tokio", "fut.in_current_context()") }.in_current_context())
                .await
                .ok();
            tokio::spawn(async { show("tokio", "bare tokio::spawn") })
                .await
                .ok();
        }
        .with_context(incoming_request()),
    );
}

/// rayon's spawn, join and parallel iterators.
pub fn rayon() {
    let _request = incoming_request().attach();
    show("rayon", "caller");
    let (tx, rx) = mpsc::channel();
    rt::rayon::spawn(move || {
        show("rayon", "rt::rayon::spawn");
        tx.send(()).ok();
    });
    rx.recv().ok();
    rt::rayon::join(
        || show("rayon", "rt::rayon::join (a)"),
        || show("rayon", "rt::rayon::join (b)"),
    );
    let carried = (0..1000)
        .into_par_iter()
        .in_current_context()
        .filter(|_| Context::current().span_context().is_valid())
        .count();
    println!(
        "{:>14} | {:<28} | {carried} of 1000 items saw the trace",
        "rayon", "par_iter.in_current_context"
    );
}

/// A channel-fed worker pool: the envelope carries the sender's context.
pub fn channel() {
    let (tx, rx) = mpsc::channel::<Envelope<u32>>();
    let rx = Arc::new(Mutex::new(rx));
    let workers: Vec<_> = (0..2)
        .map(|w| {
            let rx = Arc::clone(&rx);
            std::thread::spawn(move || loop {
                let next = rx.lock().map(|rx| rx.recv());
                match next {
                    Ok(Ok(job)) => {
                        job.open(|n| show("channel", &format!("worker {w}, job {n}")));
                    }
                    _ => break,
                }
            })
        })
        .collect();
    incoming_request().in_scope(|| {
        show("channel", "sender");
        for n in 0..4 {
            tx.send(Envelope::new(n)).ok();
        }
    });
    drop(tx);
    for w in workers {
        w.join().ok();
    }
}

/// The flag a child process is started with.
pub const CHILD_FLAG: &str = "--child";

/// A child process: TRACEPARENT, TRACESTATE and BAGGAGE in its environment.
/// Re-runs the current executable with [`CHILD_FLAG`].
pub fn child_process() {
    let _request = incoming_request().attach();
    show("child process", "parent");
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut child = Command::new(exe);
    child.arg(CHILD_FLAG);
    inject_into_command(&mut child);
    let status = child.status();
    if !matches!(status, Ok(s) if s.success()) {
        eprintln!("child failed: {status:?}");
    }
}

/// The child side: one call at start-up. Returns true when this process is the child.
pub fn run_child_if_asked() -> bool {
    if std::env::args().nth(1).as_deref() != Some(CHILD_FLAG) {
        return false;
    }
    let _parent = extract_from_env().attach();
    show("child process", "child, from its environment");
    true
}
