//! `cargo xtask <command>`: what a contributor runs.
//!
//! - `ci`: formatting, clippy and every test, exactly as `.ci/run` does.
//! - `tidy`: the architecture invariants (also run by `cargo test`).
//! - `bench [--quick] [--iterations N] [--stress-seconds S]`: clew against
//!   opentelemetry 0.33: criterion times, callgrind instruction counts,
//!   allocations, and throughput under load (`clew-stress`; 0 skips it).
//! - `fuzz [--time SECONDS] [--runs N] [TARGET...]`: the libFuzzer targets.
#![allow(clippy::print_stdout)]

use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!(
        "usage: cargo xtask ci | tidy | bench [--quick] [--iterations N] [--stress-seconds S] | fuzz [--time SECONDS] [--runs N] [TARGET...]"
    );
    ExitCode::from(2)
}

fn number(args: &mut impl Iterator<Item = String>, flag: &str) -> Result<u64, String> {
    args.next()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("{flag} takes a whole number"))
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(command) = args.next() else {
        return usage();
    };
    let result = match command.as_str() {
        "ci" => xtask::ci(),
        "tidy" => xtask::tidy::check(&xtask::workspace_root()).and_then(|problems| {
            if problems.is_empty() {
                println!("tidy: all architecture invariants hold");
                Ok(())
            } else {
                Err(problems.join("\n"))
            }
        }),
        "bench" => {
            let mut options = xtask::bench::Options::default();
            let mut result = Ok(());
            while let Some(arg) = args.next() {
                match arg.as_str() {
                    "--quick" => options.criterion = false,
                    "--stress-seconds" => match number(&mut args, "--stress-seconds") {
                        Ok(n) => options.stress_seconds = n,
                        Err(e) => result = Err(e),
                    },
                    "--iterations" => match number(&mut args, "--iterations") {
                        Ok(n) => options.iterations = n.max(1),
                        Err(e) => result = Err(e),
                    },
                    _ => return usage(),
                }
            }
            result
                .and_then(|()| xtask::bench::bench(&options))
                .map(|(_, report)| println!("{report}"))
        }
        "fuzz" => {
            let mut options = xtask::fuzz::Options {
                seconds: 60,
                runs: 0,
                targets: Vec::new(),
            };
            let mut result = Ok(());
            while let Some(arg) = args.next() {
                match arg.as_str() {
                    "--time" => match number(&mut args, "--time") {
                        Ok(n) => options.seconds = n,
                        Err(e) => result = Err(e),
                    },
                    "--runs" => match number(&mut args, "--runs") {
                        Ok(n) => options.runs = n,
                        Err(e) => result = Err(e),
                    },
                    t if xtask::fuzz::TARGETS.contains(&t) => options.targets.push(t.to_owned()),
                    _ => return usage(),
                }
            }
            result
                .and_then(|()| xtask::fuzz::fuzz(&options))
                .map(|outcomes| {
                    println!("| target | executions | seconds | result |\n|---|---|---|---|");
                    for o in outcomes {
                        println!("| {} | {} | {} | no crash |", o.target, o.runs, o.seconds);
                    }
                })
        }
        _ => return usage(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask {command}: {e}");
            ExitCode::FAILURE
        }
    }
}
