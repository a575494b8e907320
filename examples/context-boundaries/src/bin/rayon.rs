//! See `context_boundaries::demos::rayon`.
fn main() {
    context_boundaries::demos::rayon();
}
