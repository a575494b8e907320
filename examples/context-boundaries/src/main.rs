//! Runs every boundary example in turn: `cargo run -p context-boundaries`.
//! Each is also its own binary: `cargo run -p context-boundaries --bin tokio`.
#![allow(clippy::print_stdout)]

use context_boundaries::demos;

fn main() {
    if demos::run_child_if_asked() {
        return;
    }
    println!("Without an SDK, spans record nothing but carry their parent's context:");
    println!("every line that shows the trace got it across the boundary.\n");
    for demo in [
        demos::threads,
        demos::tokio,
        demos::rayon,
        demos::channel,
        demos::child_process,
    ] {
        demo();
        println!();
    }
}
