//! clew's contributor commands, as a library so that `tidy` also runs as an
//! ordinary test (`xtask/tests/tidy.rs`).
#![allow(clippy::print_stdout)]

pub mod bench;
pub mod fuzz;
pub mod tidy;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// `cargo`, as the one that runs us.
pub fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(workspace_root());
    cmd
}

/// Runs a command, echoing it first; an error if it cannot start or fails.
pub fn run(cmd: &mut Command) -> Result<(), String> {
    eprintln!("$ {}", describe(cmd));
    let status: ExitStatus = cmd
        .status()
        .map_err(|e| format!("cannot run {}: {e}", describe(cmd)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{} failed: {status}", describe(cmd)))
    }
}

/// Runs a command and returns its standard output.
pub fn output(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {}: {e}", describe(cmd)))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed: {}\n{}",
            describe(cmd),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// What CI runs, in order: formatting, lints, every test.
pub const CI_STEPS: &[&[&str]] = &[
    &["fmt", "--all", "--", "--check"],
    &[
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--",
        "-D",
        "warnings",
    ],
    &["test", "--workspace", "--all-features"],
];

/// Runs the CI steps.
pub fn ci() -> Result<(), String> {
    for step in CI_STEPS {
        run(cargo().args(*step))?;
    }
    Ok(())
}
