//! `cargo xtask bench`: criterion times and callgrind instruction counts for
//! clew and opentelemetry 0.33 on the same workloads, in one run.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use crate::{cargo, output, run, workspace_root};

/// Options for a bench run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Run criterion (slow); otherwise only instruction and allocation counts.
    pub criterion: bool,
    /// Iterations of the smaller callgrind run (the larger is twice this).
    pub iterations: u64,
    /// Seconds per stress run (0 skips the stress runs).
    pub stress_seconds: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            criterion: true,
            iterations: 50_000,
            stress_seconds: 5,
        }
    }
}

/// One workload's measurements.
#[derive(Debug, Clone)]
pub struct Row {
    /// `group/case`.
    pub name: String,
    /// `clew`, `opentelemetry` or `carrier-floor`.
    pub system: String,
    /// Instructions per iteration (for a batch workload, the median of
    /// [`SCHEDULED_PAIRS`] measurements).
    pub ir: Option<f64>,
    /// For a batch workload: the lowest and highest of its measurements.
    pub ir_spread: Option<(f64, f64)>,
    /// Heap allocations per iteration.
    pub allocations: Option<f64>,
    /// Criterion's median, in nanoseconds.
    pub median_ns: Option<f64>,
    /// For the batch workloads: the share of the spans that reached the
    /// exporter while the measured loop ran (the rest were dropped at a full
    /// queue or were still queued), in the larger callgrind run.
    pub exported_share: Option<f64>,
}

/// Callgrind pairs measured for a batch workload, whose count depends on
/// how the producer and the worker thread were scheduled: how many batch
/// buffers came back through the pool, and how many spans a full queue
/// dropped. One pair of clew's varied by 17 instructions a span (1,019 to
/// 1,036 at 100,000 iterations), opentelemetry's by 100 (2,778 to 2,879 at
/// 20,000); the median of three is reported, with the spread.
const SCHEDULED_PAIRS: usize = 3;

/// One measurement: instructions and allocations per iteration, from the
/// difference between a run of `n` iterations and one of `2n` (the
/// workload's setup cancels out), and the spans exported during the larger.
fn callgrind_pair(
    binary: &Path,
    name: &str,
    system: &str,
    n: u64,
) -> Result<(f64, f64, Option<u64>), String> {
    let (small, small_allocations, _) = callgrind_total(binary, name, system, n)?;
    let (large, large_allocations, exported) = callgrind_total(binary, name, system, 2 * n)?;
    let ir = large.saturating_sub(small) as f64 / n as f64;
    let allocations = large_allocations * 2.0 - small_allocations;
    Ok((ir, allocations, exported))
}

fn callgrind_total(
    binary: &Path,
    name: &str,
    system: &str,
    iterations: u64,
) -> Result<(u64, f64, Option<u64>), String> {
    let out_file = workspace_root().join(format!(
        "target/callgrind.{}.{system}.{iterations}",
        name.replace('/', "_")
    ));
    let stdout = output(
        Command::new("valgrind")
            .arg("--tool=callgrind")
            // callgrind runs one thread at a time; without fair scheduling a
            // woken batch worker may not run before the loop ends, and the
            // batch workloads would count the queue's drop path.
            .arg("--fair-sched=yes")
            .arg(format!("--callgrind-out-file={}", out_file.display()))
            .arg(binary)
            .args([name, system, &iterations.to_string()]),
    )?;
    let data =
        std::fs::read_to_string(&out_file).map_err(|e| format!("{}: {e}", out_file.display()))?;
    let total = data
        .lines()
        .find_map(|l| {
            l.strip_prefix("totals:")
                .or_else(|| l.strip_prefix("summary:"))
        })
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or("no totals line in the callgrind output")?;
    let value = |name: &str| field(&stdout, name);
    let allocations = value("allocations_per_iteration=")
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(f64::NAN);
    let exported = value("exported_during_run=").and_then(|v| v.parse::<u64>().ok());
    let _ = std::fs::remove_file(&out_file);
    Ok((total, allocations, exported))
}

/// The median of a criterion benchmark, from its `estimates.json`.
fn criterion_median(group: &str, id: &str) -> Option<f64> {
    let dir = workspace_root()
        .join("target/criterion")
        .join(group.replace('/', "_"))
        .join(id)
        .join("new/estimates.json");
    let json = std::fs::read_to_string(dir).ok()?;
    let median = json.split("\"median\"").nth(1)?;
    let estimate = median.split("\"point_estimate\":").nth(1)?;
    let end = estimate.find([',', '}'])?;
    estimate[..end].trim().parse().ok()
}

/// Runs the benchmarks and returns the rows and a markdown report.
pub fn bench(options: &Options) -> Result<(Vec<Row>, String), String> {
    if options.criterion {
        for bench in ["compare", "compare_sdk"] {
            run(cargo().args([
                "bench",
                "-p",
                "clew-bench",
                "--bench",
                bench,
                "--",
                "--warm-up-time",
                "1",
                "--measurement-time",
                "3",
            ]))?;
        }
    }
    run(cargo().args(["build", "--release", "-p", "clew-bench", "--bins"]))?;
    let binary = workspace_root().join("target/release/clew-ir");
    let list = output(Command::new(&binary).arg("--list"))?;
    let mut rows = Vec::new();
    for line in list.lines() {
        let mut fields = line.split_whitespace();
        let (Some(name), Some(system)) = (fields.next(), fields.next()) else {
            continue;
        };
        let weight = fields
            .next()
            .and_then(|w| w.parse::<u64>().ok())
            .unwrap_or(1)
            .max(1);
        let n = (options.iterations / weight).max(2);
        let batch = name.ends_with("/batch");
        let pairs = if batch { SCHEDULED_PAIRS } else { 1 };
        let mut measured = Vec::with_capacity(pairs);
        for _ in 0..pairs {
            measured.push(callgrind_pair(&binary, name, system, n)?);
        }
        measured.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (ir, allocations, exported) = measured[measured.len() / 2];
        let ir_spread = (pairs > 1).then(|| (measured[0].0, measured[measured.len() - 1].0));
        rows.push(Row {
            name: name.to_owned(),
            system: system.to_owned(),
            ir: Some(ir),
            ir_spread,
            allocations: Some(allocations),
            median_ns: criterion_median(name, system),
            exported_share: exported
                .filter(|_| batch)
                .map(|e| e as f64 / (2 * n) as f64),
        });
        eprintln!("{name} {system}: {ir:.0} Ir/op, {allocations} allocations/op");
    }
    let mut report = report(&rows);
    if options.stress_seconds > 0 {
        report.push_str(&stress(options.stress_seconds)?);
    }
    let path = workspace_root().join("target/bench-report.md");
    std::fs::write(&path, &report).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((rows, report))
}

/// The value of `name` (`key=`) in a line of `key=value` words.
fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    line.split_whitespace().find_map(|w| w.strip_prefix(name))
}

/// Runs of each discarding-exporter configuration per system, interleaved
/// (clew, opentelemetry, clew, ...): one run's drops and peak move with the
/// machine's stalls (one pair measured 0.36% and 0.95% dropped, 4.9 and 5.3
/// MiB, for the same command), so the table gives the median of these and
/// their range.
const STRESS_REPEATS: usize = 3;

/// Runs `clew-stress` for both systems, 1 and 2 producer threads, with and
/// without attributes, with the discarding exporter ([`STRESS_REPEATS`]
/// interleaved runs each) and with each system's OTLP/gRPC exporter to an
/// in-process receiver (on loopback, and answering 10 ms late like a
/// collector across a network; one run each), each in its own process;
/// returns a markdown table.
fn stress(seconds: u64) -> Result<String, String> {
    let binary = workspace_root().join("target/release/clew-stress");
    let mut out = String::from(
        "\n| stress | exporter | threads | attributes | created/s | exported/s | dropped | peak RSS | peak anonymous |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    let runs = [
        (
            "discard",
            "0",
            "0",
            &["0", "4"][..],
            &["1", "2"][..],
            STRESS_REPEATS,
        ),
        ("otlp-grpc", "1", "0", &["0", "4"][..], &["1", "2"][..], 1),
        (
            "otlp-grpc, 10 ms collector",
            "1",
            "10",
            &["4"][..],
            &["1"][..],
            1,
        ),
    ];
    // The machine's own stalls, before and after the runs: a stall of the
    // export thread longer than its queue lasts drops spans whatever the
    // processor does (`clew-stress stalls`).
    let probe = |when: &str| -> Result<String, String> {
        let line =
            output(Command::new(&binary).args(["stalls", "--threads", "2", "--seconds", "3"]))?;
        eprintln!("{}", line.trim());
        let value = |name: &str| field(&line, name).unwrap_or("?").to_owned();
        Ok(format!(
            "Machine stalls {when} (`clew-stress stalls --threads 2 --seconds 3`: two threads that never sleep, gaps between clock reads): {} a second per thread over 150 µs, {} over 1 ms, the longest {} µs.\n",
            value("over_150us_per_thread_s="),
            value("over_1ms_per_thread_s="),
            value("longest=").trim_end_matches("us")
        ))
    };
    let before = probe("before the runs")?;
    let systems = ["clew", "opentelemetry"];
    for (exporter, grpc, latency, attrs, threads, repeats) in runs {
        for &attrs in attrs {
            for &threads in threads {
                let mut lines: [Vec<String>; 2] = Default::default();
                for _ in 0..repeats {
                    for (system, lines) in systems.iter().zip(lines.iter_mut()) {
                        let line = output(Command::new(&binary).args([
                            system,
                            "--threads",
                            threads,
                            "--seconds",
                            &seconds.to_string(),
                            "--attrs",
                            attrs,
                            "--grpc",
                            grpc,
                            "--latency-ms",
                            latency,
                        ]))?;
                        eprintln!("{}", line.trim());
                        lines.push(line);
                    }
                }
                for (system, lines) in systems.iter().zip(&lines) {
                    let cell = |name: &str| summarize(lines, name);
                    let _ = writeln!(
                        out,
                        "| {system} | {exporter} | {threads} | {attrs} | {} | {} | {} | {} | {} |",
                        cell("created_per_s="),
                        cell("exported_per_s="),
                        cell("dropped="),
                        cell("peak_rss="),
                        cell("peak_anon="),
                    );
                }
            }
        }
    }
    let after = probe("after them")?;
    let _ = write!(
        out,
        "\nWhere a cell has a range, it is the median of {STRESS_REPEATS} interleaved runs with the lowest and highest in brackets. Peak anonymous is the anonymous resident memory (heap, stacks, queues, without the binary's pages) sampled every 10 ms.\n\n{before}\n{after}"
    );
    Ok(out)
}

/// The value `name` took in `lines` (one run each): alone for one run, else
/// the median with the lowest and highest, in the runs' unit.
fn summarize(lines: &[String], name: &str) -> String {
    let raw: Vec<&str> = lines
        .iter()
        .map(|l| field(l, name).unwrap_or("?"))
        .collect();
    if let [only] = raw.as_slice() {
        return (*only).to_owned();
    }
    // Each value is a number and a unit ("24.04M", "0.61%", "5.1MiB").
    let split = |v: &str| {
        let at = v
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(v.len());
        (v[..at].parse::<f64>().ok(), v[at..].to_owned())
    };
    let unit = split(raw[0]).1;
    let mut numbers: Vec<f64> = raw.iter().filter_map(|v| split(v).0).collect();
    if numbers.len() != raw.len() {
        return raw.join(" / ");
    }
    numbers.sort_by(f64::total_cmp);
    let digits = raw[0].split_once('.').map_or(0, |(_, d)| {
        d.chars().take_while(char::is_ascii_digit).count()
    });
    let fmt = |x: f64| format!("{x:.digits$}");
    format!(
        "{}{unit} ({}–{})",
        fmt(numbers[numbers.len() / 2]),
        fmt(numbers[0]),
        fmt(numbers[numbers.len() - 1])
    )
}

/// Formats the rows as a markdown table, clew beside the anchor.
pub fn report(rows: &[Row]) -> String {
    let mut out = String::from(
        "| workload | clew Ir/op | opentelemetry Ir/op | Ir ratio | clew median | opentelemetry median | clew allocs/op | opentelemetry allocs/op |\n|---|---|---|---|---|---|---|---|\n",
    );
    let fmt_ns = |v: Option<f64>| v.map_or("–".to_owned(), |ns| format!("{ns:.2} ns"));
    let fmt =
        |v: Option<f64>, digits: usize| v.map_or("–".to_owned(), |x| format!("{x:.digits$}"));
    let mut names: Vec<&str> = Vec::new();
    for row in rows {
        if !names.contains(&row.name.as_str()) {
            names.push(&row.name);
        }
    }
    for name in names {
        let get = |system: &str| rows.iter().find(|r| r.name == name && r.system == system);
        let (Some(c), Some(o)) = (get("clew"), get("opentelemetry")) else {
            continue;
        };
        // A workload whose opentelemetry side must clone its input (the
        // OTLP transform consumes the spans) measures the clone alone as
        // `opentelemetry-clone`; the anchor's numbers are net of it.
        let mut o = o.clone();
        if let Some(clone) = get("opentelemetry-clone") {
            let minus = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| a - b);
            o.ir = minus(o.ir, clone.ir);
            o.allocations = minus(o.allocations, clone.allocations);
        }
        let o = &o;
        let ratio = match (c.ir, o.ir) {
            (Some(c), Some(o)) if c > 0.0 => format!("{:.1}× fewer", o / c),
            _ => "–".to_owned(),
        };
        let _ = writeln!(
            out,
            "| `{name}` | {} | {} | {ratio} | {} | {} | {} | {} |",
            fmt(c.ir, 0),
            fmt(o.ir, 0),
            fmt_ns(c.median_ns),
            fmt_ns(o.median_ns),
            fmt(c.allocations, 2),
            fmt(o.allocations, 2),
        );
    }
    for row in rows
        .iter()
        .filter(|r| r.system != "clew" && r.system != "opentelemetry")
    {
        let _ = writeln!(
            out,
            "| `{}` ({}) | {} | | | | | {} | |",
            row.name,
            row.system,
            fmt(row.ir, 0),
            fmt(row.allocations, 2)
        );
    }
    for row in rows {
        if let Some(share) = row.exported_share {
            let _ = writeln!(
                out,
                "\n`{}` ({}): {:.1}% of the spans reached the exporter while the loop ran; the rest were dropped at a full queue or still queued.",
                row.name,
                row.system,
                share * 100.0
            );
        }
        if let Some((low, high)) = row.ir_spread {
            let _ = writeln!(
                out,
                "\n`{}` ({}): Ir/op is the median of {SCHEDULED_PAIRS} callgrind pairs, which gave {low:.0} to {high:.0} (the count depends on how the threads were scheduled).",
                row.name, row.system
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, system: &str, ir: f64) -> Row {
        Row {
            name: name.into(),
            system: system.into(),
            ir: Some(ir),
            ir_spread: None,
            allocations: Some(0.0),
            median_ns: Some(1.5),
            exported_share: None,
        }
    }

    #[test]
    fn report_says_what_share_of_a_batch_workload_was_exported() {
        let mut clew = row("s/batch", "clew", 10.0);
        clew.exported_share = Some(0.95);
        let mut otel = row("s/batch", "opentelemetry", 20.0);
        otel.exported_share = Some(0.4);
        let report = report(&[clew, otel]);
        assert!(
            report.contains("`s/batch` (clew): 95.0% of the spans reached the exporter"),
            "{report}"
        );
        assert!(
            report.contains("`s/batch` (opentelemetry): 40.0%"),
            "{report}"
        );
        assert!(!report.contains("median of"), "{report}");
    }

    #[test]
    fn stress_cells_give_the_median_and_range_of_interleaved_runs() {
        let lines: Vec<String> = ["0.95%", "0.36%", "1.20%"]
            .iter()
            .zip(["5.3MiB", "4.9MiB", "5.2MiB"])
            .map(|(d, p)| format!("system=clew dropped={d} peak_rss={p} peak_anon=?"))
            .collect();
        assert_eq!(summarize(&lines, "dropped="), "0.95% (0.36–1.20)");
        assert_eq!(summarize(&lines, "peak_rss="), "5.2MiB (4.9–5.3)");
        // A value that is not a number is shown as measured.
        assert_eq!(summarize(&lines, "peak_anon="), "? / ? / ?");
        // One run: its value alone.
        assert_eq!(summarize(&lines[..1], "dropped="), "0.95%");
        assert_eq!(summarize(&lines[..1], "missing="), "?");
    }

    #[test]
    fn report_gives_a_batch_workloads_spread_beside_its_median() {
        let mut clew = row("s/batch", "clew", 1021.0);
        clew.ir_spread = Some((1018.7, 1036.2));
        let otel = row("s/batch", "opentelemetry", 2800.0);
        let report = report(&[clew, otel]);
        assert!(report.contains("| `s/batch` | 1021 | 2800 |"), "{report}");
        assert!(
            report.contains(
                "`s/batch` (clew): Ir/op is the median of 3 callgrind pairs, which gave 1019 to 1036"
            ),
            "{report}"
        );
        assert!(!report.contains("(opentelemetry): Ir/op"), "{report}");
    }

    #[test]
    fn report_pairs_each_workload_once() {
        let rows = [
            row("a/x", "clew", 10.0),
            row("a/x", "opentelemetry", 100.0),
            row("b/y", "clew", 5.0),
            row("b/y", "opentelemetry", 50.0),
            row("a/x", "carrier-floor", 8.0),
        ];
        let report = report(&rows);
        assert_eq!(report.matches("| `a/x` |").count(), 1, "{report}");
        assert!(
            report.contains("| `a/x` | 10 | 100 | 10.0× fewer | 1.50 ns |"),
            "{report}"
        );
        assert!(report.contains("| `a/x` (carrier-floor) | 8 |"), "{report}");
    }

    #[test]
    fn report_subtracts_the_anchor_clone() {
        let rows = [
            row("o/e", "clew", 100.0),
            row("o/e", "opentelemetry", 900.0),
            row("o/e", "opentelemetry-clone", 300.0),
        ];
        let report = report(&rows);
        assert!(
            report.contains("| `o/e` | 100 | 600 | 6.0× fewer |"),
            "{report}"
        );
    }
}
