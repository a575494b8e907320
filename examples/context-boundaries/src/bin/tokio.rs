//! See `context_boundaries::demos::tokio`.
fn main() {
    context_boundaries::demos::tokio();
}
