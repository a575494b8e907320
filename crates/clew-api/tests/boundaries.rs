//! Every boundary of the first seed, in Rust: a child span started on the
//! other side of it must be a child of the span that was active on this side.

#![allow(clippy::unwrap_used)] // reason: a failed unwrap is the test failing

mod support;

use std::pin::Pin;
use std::process::Command;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll, Waker};

use clew_api::context::{bind, Envelope, FutureExt, StreamExt};
use clew_api::propagation::{extract_from_env, inject_into_command};
use clew_api::rt::rayon::ParallelIteratorExt;
use clew_api::{rt, Baggage, Context};
use rayon::prelude::*;
use support::{assert_child_of, Recorder};

#[test]
fn std_thread_spawn_and_scoped_threads() {
    let rec = Recorder::new();
    let tracer = rec.tracer("t");
    tracer.in_span("process_data", |_| {
        let t = tracer.clone();
        rt::thread::spawn(move || t.start("worker_thread").end())
            .join()
            .unwrap();
        let t = tracer.clone();
        std::thread::spawn(bind(move || t.start("bound_thread").end()))
            .join()
            .unwrap();
        std::thread::scope(|s| {
            rt::thread::scope_spawn(s, || tracer.start("scoped_thread").end());
        });
        // The problem this solves: a plain spawn loses the context.
        let t = tracer.clone();
        std::thread::spawn(move || t.start("orphan").end())
            .join()
            .unwrap();
    });
    let parent = rec.get("process_data");
    for name in ["worker_thread", "bound_thread", "scoped_thread"] {
        assert_child_of(&rec.get(name), &parent);
    }
    assert!(
        !rec.get("orphan").parent.is_valid(),
        "a bare thread::spawn starts a new trace"
    );
}

#[test]
fn tokio_spawn_and_spawn_blocking() {
    let rec = Recorder::new();
    let tracer = rec.tracer("t");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        let t = tracer.clone();
        tracer
            .in_span_async("process_data", |_| async move {
                let t1 = t.clone();
                rt::tokio::spawn(async move {
                    tokio::task::yield_now().await;
                    t1.start("tokio_task").end();
                })
                .await
                .unwrap();
                let t2 = t.clone();
                rt::tokio::spawn_blocking(move || t2.start("blocking_task").end())
                    .await
                    .unwrap();
                let t3 = t.clone();
                tokio::spawn(async move { t3.start("fut_ext_task").end() }.in_current_context())
                    .await
                    .unwrap();
                let t4 = t.clone();
                tokio::spawn(async move { t4.start("orphan_task").end() })
                    .await
                    .unwrap();
            })
            .await;
    });
    let parent = rec.get("process_data");
    for name in ["tokio_task", "blocking_task", "fut_ext_task"] {
        assert_child_of(&rec.get(name), &parent);
    }
    assert!(!rec.get("orphan_task").parent.is_valid());
}

#[test]
fn spawn_on_a_handle_from_outside_the_runtime() {
    let rec = Recorder::new();
    let tracer = rec.tracer("t");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (handle, blocking) = tracer.in_span("outside", |_| {
        let t = tracer.clone();
        let t2 = tracer.clone();
        (
            rt::tokio::spawn_on(rt.handle(), async move { t.start("on_handle").end() }),
            rt::tokio::spawn_blocking_on(rt.handle(), move || t2.start("blocking_on_handle").end()),
        )
    });
    rt.block_on(handle).unwrap();
    rt.block_on(blocking).unwrap();
    assert_child_of(&rec.get("on_handle"), &rec.get("outside"));
    assert_child_of(&rec.get("blocking_on_handle"), &rec.get("outside"));
}

#[test]
fn rayon_spawn_join_and_parallel_iterators() {
    let rec = Recorder::new();
    let tracer = rec.tracer("t");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .thread_name(|i| format!("rayon-{i}"))
        .build()
        .unwrap();
    pool.install(|| {
        tracer.in_span("process_data", |_| {
            let (tx, rx) = mpsc::channel();
            let t = tracer.clone();
            rt::rayon::spawn(move || {
                t.start("rayon_spawn").end();
                tx.send(()).unwrap();
            });
            rx.recv().unwrap();
            rt::rayon::join(
                || tracer.start("join_a").end(),
                || tracer.start("join_b").end(),
            );
            let sum: u64 = (0..64u64)
                .into_par_iter()
                .map(|i| {
                    tracer.start("par_before").end();
                    i
                })
                .in_current_context()
                .map(|i| {
                    tracer.start("par_after").end();
                    i * 2
                })
                .sum();
            assert_eq!(sum, 64 * 63);
            let collected: Vec<u64> = (0..8u64)
                .into_par_iter()
                .in_current_context()
                .map(|i| {
                    tracer.start("par_collect").end();
                    i
                })
                .collect();
            assert_eq!(collected.len(), 8);
        });
        // After the iterator, the pool's threads hold no stray context.
        let strays: Vec<bool> = (0..16)
            .into_par_iter()
            .map(|_| Context::current().has_active_span())
            .collect();
        assert!(strays.iter().all(|s| !s));
    });
    let parent = rec.get("process_data");
    let finished = rec.finished();
    for name in [
        "rayon_spawn",
        "join_a",
        "join_b",
        "par_before",
        "par_after",
        "par_collect",
    ] {
        let spans: Vec<_> = finished.iter().filter(|s| s.name == name).collect();
        assert!(!spans.is_empty(), "{name}");
        for s in spans {
            assert_child_of(s, &parent);
        }
    }
    assert_eq!(
        finished.iter().filter(|s| s.name == "par_after").count(),
        64
    );
}

#[test]
fn channel_fed_worker_pool() {
    let rec = Recorder::new();
    let tracer = rec.tracer("t");
    let (tx, rx) = mpsc::channel::<Envelope<u32>>();
    let rx = Arc::new(Mutex::new(rx));
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let rx = Arc::clone(&rx);
            let t = tracer.clone();
            std::thread::spawn(move || loop {
                let job = rx.lock().unwrap().recv();
                match job {
                    Ok(job) => job.open(|n| {
                        t.in_span("worker_process", |s| {
                            s.set_attribute(clew_api::KeyValue::new("job", i64::from(n)))
                        })
                    }),
                    Err(_) => break,
                }
            })
        })
        .collect();
    tracer.in_span("process_data", |_| {
        for n in 0..9 {
            tx.send(Envelope::new(n)).unwrap();
        }
    });
    drop(tx);
    for w in workers {
        w.join().unwrap();
    }
    let parent = rec.get("process_data");
    let done: Vec<_> = rec
        .finished()
        .into_iter()
        .filter(|s| s.name == "worker_process")
        .collect();
    assert_eq!(done.len(), 9);
    for s in &done {
        assert_child_of(s, &parent);
    }
}

/// A stream that starts a span per item, to show the context reaches `poll_next`.
struct Numbers {
    left: u32,
    tracer: clew_api::Tracer,
}

impl futures_core::Stream for Numbers {
    type Item = u32;
    fn poll_next(mut self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<Option<u32>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        self.left -= 1;
        self.tracer.start("stream_item").end();
        Poll::Ready(Some(self.left))
    }
}

#[test]
fn futures_and_streams_polled_elsewhere() {
    let rec = Recorder::new();
    let tracer = rec.tracer("t");
    let (fut, mut stream) = tracer.in_span("process_data", |_| {
        let t = tracer.clone();
        (
            async move { t.start("future_child").end() }.in_current_context(),
            StreamExt::in_current_context(Numbers {
                left: 3,
                tracer: tracer.clone(),
            }),
        )
    });
    // Polled after the span's scope ended, on another thread.
    std::thread::spawn(move || {
        let mut cx = TaskContext::from_waker(Waker::noop());
        let mut fut = std::pin::pin!(fut);
        assert!(fut.as_mut().poll(&mut cx).is_ready());
        let mut stream = Pin::new(&mut stream);
        let mut items = 0;
        while let Poll::Ready(Some(_)) = futures_core::Stream::poll_next(stream.as_mut(), &mut cx) {
            items += 1;
        }
        assert_eq!(items, 3);
    })
    .join()
    .unwrap();
    let parent = rec.get("process_data");
    assert_child_of(&rec.get("future_child"), &parent);
    let items: Vec<_> = rec
        .finished()
        .into_iter()
        .filter(|s| s.name == "stream_item")
        .collect();
    assert_eq!(items.len(), 3);
    for s in &items {
        assert_child_of(s, &parent);
    }
}

use std::future::Future;

#[test]
fn child_process_continues_the_trace() {
    let rec = Recorder::new();
    let tracer = rec.tracer("t");
    let output = Context::current()
        .with_baggage(Baggage::new().with("tenant.id", "acme"))
        .in_scope(|| {
            tracer.in_span("process_data", |_| {
                let mut cmd = Command::new(std::env::current_exe().unwrap());
                cmd.args([
                    "--exact",
                    "child_process_entry",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ]);
                inject_into_command(&mut cmd);
                cmd.output().unwrap()
            })
        });
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("CHILD ").map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("no CHILD line in {stdout}"));
    let parent = rec.get("process_data");
    assert_eq!(
        line,
        format!(
            "trace={} parent={} remote=true tenant=acme",
            parent.context.trace_id(),
            parent.context.span_id()
        )
    );
}

/// Runs in the child process started by `child_process_continues_the_trace`.
#[test]
#[ignore = "run as a child process by child_process_continues_the_trace"]
fn child_process_entry() {
    let _guard = extract_from_env().attach();
    let rec = Recorder::new();
    rec.tracer("child").start("worker_process").end();
    let span = rec.get("worker_process");
    println!(
        "CHILD trace={} parent={} remote={} tenant={}",
        span.context.trace_id(),
        span.parent.span_id(),
        span.parent.is_remote(),
        Baggage::current().get("tenant.id").unwrap_or("-")
    );
}
