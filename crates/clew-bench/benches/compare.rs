//! clew-api against opentelemetry 0.33 on the anchor workloads, in one
//! process. `cargo bench -p clew-bench --bench compare`, or `cargo xtask bench`.
//!
//! Each measurement runs the workload's loop as compiled in the `clew-bench`
//! library (`clew_bench::run`, the same code `clew-ir` counts under
//! callgrind), timed with `iter_custom`. A loop of a few cycles is sensitive
//! to where the compiler places it; measuring the library's loop keeps the
//! number independent of this file's other benchmarks. The set-up inside
//! `run` (a tracer, a context) is amortised over millions of iterations.
//! The SDK workloads are in `compare_sdk.rs`.

use std::time::Instant;

use clew_bench::{run, WORKLOADS};
use criterion::{criterion_group, criterion_main, Criterion};

fn api(c: &mut Criterion) {
    let mut groups: Vec<&str> = Vec::new();
    for w in WORKLOADS {
        if (w.name.starts_with("noop_span") || w.name.starts_with("propagation"))
            && !groups.contains(&w.name)
        {
            groups.push(w.name);
        }
    }
    for name in groups {
        let mut g = c.benchmark_group(name);
        for w in WORKLOADS
            .iter()
            .filter(|w| w.name == name && w.system != "carrier-floor")
        {
            g.bench_function(w.system, |b| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    run(w, iters);
                    start.elapsed()
                })
            });
        }
        g.finish();
    }
}

criterion_group!(benches, api);
criterion_main!(benches);
