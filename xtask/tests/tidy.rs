//! The architecture invariants, checked on every `cargo test`.

#[test]
fn architecture_invariants_hold() {
    let root = xtask::workspace_root();
    let problems = xtask::tidy::check(&root).expect("cargo tree runs");
    assert!(problems.is_empty(), "tidy found:\n{}", problems.join("\n"));
}
