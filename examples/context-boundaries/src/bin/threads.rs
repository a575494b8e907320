//! See `context_boundaries::demos::threads`.
fn main() {
    context_boundaries::demos::threads();
}
