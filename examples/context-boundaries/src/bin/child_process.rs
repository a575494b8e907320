//! See `context_boundaries::demos::child_process`.
fn main() {
    if !context_boundaries::demos::run_child_if_asked() {
        context_boundaries::demos::child_process();
    }
}
