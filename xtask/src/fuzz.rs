//! `cargo xtask fuzz`: builds the libFuzzer targets in `fuzz/` with
//! coverage instrumentation on the stable toolchain and runs each one.

use std::process::Command;

use crate::{cargo, output, run, workspace_root};

/// The targets in `fuzz/fuzz_targets`.
pub const TARGETS: &[&str] = &["traceparent", "tracestate", "baggage", "b3", "jaeger"];

/// The flags cargo-fuzz passes for libFuzzer's coverage, all stable.
const RUSTFLAGS: &str = "-Cpasses=sancov-module \
    -Cllvm-args=-sanitizer-coverage-level=4 \
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
    -Cllvm-args=-sanitizer-coverage-pc-table \
    -Cllvm-args=-sanitizer-coverage-trace-compares \
    --cfg fuzzing -Cdebug-assertions -Coverflow-checks";

/// Options for a fuzz run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Seconds per target.
    pub seconds: u64,
    /// Stop a target after this many executions (0: no limit).
    pub runs: u64,
    /// Which targets (empty: all).
    pub targets: Vec<String>,
}

/// What one target did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The target.
    pub target: String,
    /// Executions libFuzzer reported.
    pub runs: u64,
    /// Seconds it ran.
    pub seconds: u64,
}

fn host_triple() -> Result<String, String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let info = output(Command::new(rustc).arg("-vV"))?;
    info.lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .ok_or_else(|| "rustc -vV printed no host".to_owned())
}

/// Builds and runs the targets; an error on the first crash.
pub fn fuzz(options: &Options) -> Result<Vec<Outcome>, String> {
    let root = workspace_root();
    let host = host_triple()?;
    let target_dir = root.join("fuzz/target");
    // `--target` keeps the flags off build scripts and proc macros.
    run(cargo()
        .env("RUSTFLAGS", RUSTFLAGS)
        .args(["build", "--release", "--bins", "--manifest-path"])
        .arg(root.join("fuzz/Cargo.toml"))
        .arg("--target")
        .arg(&host)
        .arg("--target-dir")
        .arg(&target_dir))?;
    let targets: Vec<String> = if options.targets.is_empty() {
        TARGETS.iter().map(|t| t.to_string()).collect()
    } else {
        options.targets.clone()
    };
    let mut outcomes = Vec::new();
    for target in targets {
        let corpus = root.join("fuzz/corpus").join(&target);
        let artifacts = root.join("fuzz/artifacts").join(&target);
        std::fs::create_dir_all(&corpus).map_err(|e| e.to_string())?;
        std::fs::create_dir_all(&artifacts).map_err(|e| e.to_string())?;
        let binary = target_dir.join(&host).join("release").join(&target);
        let mut cmd = Command::new(&binary);
        cmd.arg(&corpus)
            .arg(root.join("fuzz/seeds").join(&target))
            .arg(format!("-max_total_time={}", options.seconds))
            .arg(format!("-artifact_prefix={}/", artifacts.display()))
            .arg("-print_final_stats=1")
            .arg("-rss_limit_mb=2048");
        if options.runs > 0 {
            cmd.arg(format!("-runs={}", options.runs));
        }
        eprintln!("fuzzing {target}");
        let out = cmd
            .output()
            .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
        let log = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            return Err(format!(
                "{target} failed ({}); artifacts in {}:\n{}",
                out.status,
                artifacts.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            ));
        }
        // libFuzzer ends with "Done N runs in S second(s)".
        let (runs, seconds) = log
            .lines()
            .find_map(|l| {
                let rest = l.strip_prefix("Done ")?;
                let mut words = rest.split_whitespace();
                let runs = words.next()?.parse().ok()?;
                let seconds = words.nth(2)?.parse().ok()?;
                Some((runs, seconds))
            })
            .unwrap_or((0, 0));
        eprintln!("{target}: {runs} runs in {seconds} s, no crash");
        outcomes.push(Outcome {
            target,
            runs,
            seconds,
        });
    }
    Ok(outcomes)
}
