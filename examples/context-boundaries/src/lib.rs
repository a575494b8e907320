//! Shared helpers for the context-boundary examples.
//!
//! These examples run without an SDK: spans do not record, but they carry
//! their parent's context, so what each side prints is exactly what crosses
//! the boundary, the trace id, the parent span id and the baggage. With an
//! SDK installed the same calls parent the recorded spans.
#![allow(missing_docs, clippy::print_stdout)]

use std::collections::HashMap;

use clew_api::{propagation, Baggage, Context};

pub mod demos;

/// The context of an incoming request: a W3C `traceparent` and a tenant id in baggage.
pub fn incoming_request() -> Context {
    let headers: HashMap<String, String> = [
        (
            "traceparent".to_owned(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
        ),
        ("baggage".to_owned(), "tenant.id=acme".to_owned()),
    ]
    .into();
    propagation::extract_with_context(&Context::new(), &headers)
}

/// Prints what the current context holds, from wherever it is called.
pub fn show(boundary: &str, side: &str) -> bool {
    Context::map_current(|cx| {
        let sc = cx.span_context();
        let ok = sc.is_valid();
        if ok {
            println!(
                "{boundary:>14} | {side:<28} | trace {} parent {} tenant {}",
                sc.trace_id(),
                sc.span_id(),
                Baggage::current().get("tenant.id").unwrap_or("-"),
            );
        } else {
            println!("{boundary:>14} | {side:<28} | no trace: the context was lost");
        }
        ok
    })
}
