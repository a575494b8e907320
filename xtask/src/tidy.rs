//! The architecture invariants of `docs/architecture.md`, checked from
//! `cargo tree` and the manifests.

use std::path::Path;

use crate::{cargo, output};

/// Crates that are not instrumentation crates.
const CORE_CRATES: &[&str] = &[
    "clew-api",
    "clew-sdk",
    "clew-otlp",
    "clew",
    "clew-test-support",
    "clew-bench",
];

/// What clew-api may depend on, and only behind its features.
const API_OPTIONAL_ALLOWED: &[&str] = &[
    "tokio",
    "rayon",
    "rayon-core",
    "http",
    "futures-core",
    // Dependencies of the above.
    "bytes",
    "itoa",
    "pin-project-lite",
    "crossbeam-deque",
    "crossbeam-epoch",
    "crossbeam-utils",
    "either",
];

/// Never a dependency of clew-api, with any features.
const API_FORBIDDEN: &[&str] = &[
    "tonic",
    "hyper",
    "prost",
    "clew-sdk",
    "clew-otlp",
    "reqwest",
    "h2",
];

/// What the SDK never depends on: it owns its threads and needs no async runtime.
const SDK_FORBIDDEN: &[&str] = &[
    "tokio",
    "async-std",
    "futures-executor",
    "tonic",
    "hyper",
    "prost",
    "reqwest",
    "clew-otlp",
];

/// What an instrumentation crate never depends on.
const INSTRUMENTATION_FORBIDDEN: &[&str] = &["clew-sdk", "clew-otlp", "clew"];

/// Package names from `cargo tree --prefix none --format {p}` output.
pub fn tree_packages(tree: &str) -> Vec<String> {
    let mut names: Vec<String> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Checks clew-api's trees: nothing at all by default, only the allow-listed
/// optional dependencies with every feature, never a forbidden one.
pub fn check_api(default_tree: &str, all_features_tree: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for dep in tree_packages(default_tree) {
        if dep != "clew-api" {
            problems.push(format!(
                "Architecture invariant: clew-api's default build has no dependencies, but it pulls in {dep}"
            ));
        }
    }
    for dep in tree_packages(all_features_tree) {
        if API_FORBIDDEN.contains(&dep.as_str()) {
            problems.push(format!(
                "Architecture invariant: clew-api never depends on {dep}"
            ));
        } else if dep != "clew-api" && !API_OPTIONAL_ALLOWED.contains(&dep.as_str()) {
            problems.push(format!(
                "clew-api gained the dependency {dep}: add it to the allow-list in xtask/src/tidy.rs only after review"
            ));
        }
    }
    problems
}

/// Checks clew-sdk's tree (all features, normal dependencies).
pub fn check_sdk(tree: &str) -> Vec<String> {
    tree_packages(tree)
        .into_iter()
        .filter(|dep| SDK_FORBIDDEN.contains(&dep.as_str()))
        .map(|dep| {
            format!("Architecture invariant: clew-sdk needs no async runtime or exporter, but depends on {dep}")
        })
        .collect()
}

/// Checks an instrumentation crate's tree.
pub fn check_instrumentation(name: &str, tree: &str) -> Vec<String> {
    tree_packages(tree)
        .into_iter()
        .filter(|dep| INSTRUMENTATION_FORBIDDEN.contains(&dep.as_str()))
        .map(|dep| {
            format!("Architecture invariant: instrumentation crate {name} must not depend on {dep}")
        })
        .collect()
}

/// The `name = "..."` of a manifest's `[package]`.
pub fn package_name(manifest: &str) -> Option<String> {
    let package = manifest.split("[package]").nth(1)?;
    package.lines().find_map(|l| {
        let (key, value) = l.split_once('=')?;
        (key.trim() == "name").then(|| value.trim().trim_matches('"').to_owned())
    })
}

/// Runs every check on the workspace at `root`.
pub fn check(root: &Path) -> Result<Vec<String>, String> {
    let mut problems = Vec::new();
    let tree = |args: &[&str]| {
        output(
            cargo()
                .current_dir(root)
                .args([
                    "tree", "--edges", "normal", "--prefix", "none", "--format", "{p}",
                ])
                .args(args),
        )
    };
    problems.extend(check_api(
        &tree(&["-p", "clew-api"])?,
        &tree(&["-p", "clew-api", "--all-features"])?,
    ));

    if root.join("crates/clew-sdk").exists() {
        problems.extend(check_sdk(&tree(&["-p", "clew-sdk", "--all-features"])?));
    }

    let crates = std::fs::read_dir(root.join("crates")).map_err(|e| format!("crates/: {e}"))?;
    for entry in crates.flatten() {
        let dir = entry.file_name().to_string_lossy().into_owned();
        let Ok(manifest) = std::fs::read_to_string(entry.path().join("Cargo.toml")) else {
            continue;
        };
        let name = package_name(&manifest).unwrap_or_default();
        if name != dir {
            problems.push(format!(
                "package name {name:?} differs from its directory crates/{dir}"
            ));
        }
        if entry.path().join("src/lib.rs").exists() {
            let lib = std::fs::read_to_string(entry.path().join("src/lib.rs")).unwrap_or_default();
            if !lib.contains("missing_docs") || !lib.starts_with("//!") {
                problems.push(format!(
                    "crates/{dir}/src/lib.rs must open with crate docs and warn on missing_docs"
                ));
            }
        }
        if !CORE_CRATES.contains(&name.as_str()) {
            problems.extend(check_instrumentation(
                &name,
                &tree(&["-p", &name, "--all-features"])?,
            ));
        }
    }
    for required in [
        "README.md",
        "CHANGELOG.md",
        "deny.toml",
        "docs/architecture.md",
        ".ci/run",
    ] {
        if !root.join(required).exists() {
            problems.push(format!("{required} is missing"));
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_with_a_runtime_by_default_is_rejected() {
        let problems = check_api(
            "clew-api v0.1.0 (/x)\ntokio v1.0.0\n",
            "clew-api v0.1.0 (/x)\n",
        );
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("tokio"));
    }

    #[test]
    fn api_with_tonic_behind_a_feature_is_rejected() {
        let problems = check_api(
            "clew-api v0.1.0\n",
            "clew-api v0.1.0\ntokio v1\ntonic v0.14\n",
        );
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("never depends on tonic"));
        let problems = check_api("clew-api v0.1.0\n", "clew-api v0.1.0\nserde v1\n");
        assert!(problems[0].contains("allow-list"), "{problems:?}");
    }

    #[test]
    fn sdk_on_a_runtime_is_rejected() {
        assert_eq!(
            check_sdk("clew-sdk v0.1.0\nclew-api v0.1.0\ntokio v1\n").len(),
            1
        );
        assert!(
            check_sdk("clew-sdk v0.1.0\nclew-api v0.1.0\nsmallvec v1\nsignal-hook v0.4\n")
                .is_empty()
        );
    }

    #[test]
    fn instrumentation_on_the_sdk_is_rejected() {
        let problems = check_instrumentation(
            "clew-redis",
            "clew-redis v0.1.0\nclew-api v0.1.0\nclew-sdk v0.1.0\n",
        );
        assert_eq!(problems.len(), 1);
        assert!(check_instrumentation(
            "clew-redis",
            "clew-redis v0.1.0\nclew-api v0.1.0\nredis v1\n"
        )
        .is_empty());
    }

    #[test]
    fn package_names_are_read_from_the_package_table() {
        let manifest =
            "[package]\nname = \"clew-api\"\nversion = \"0.1.0\"\n[dependencies]\nname = \"x\"\n";
        assert_eq!(package_name(manifest).as_deref(), Some("clew-api"));
    }
}
