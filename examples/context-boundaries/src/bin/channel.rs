//! See `context_boundaries::demos::channel`.
fn main() {
    context_boundaries::demos::channel();
}
