//! Jaeger: never panics; whatever extracts re-injects and re-extracts to the
//! same span context and baggage.
#![no_main]

use clew_api::propagation::{JaegerPropagator, TextMapPropagator};
use clew_api::Context;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else { return };
    let mut lines = value.split('\n');
    let mut carrier = vec![("uber-trace-id".to_owned(), lines.next().unwrap_or("").to_owned())];
    for line in lines.take(8) {
        if let Some((k, v)) = line.split_once('=') {
            carrier.push((format!("uberctx-{k}"), v.to_owned()));
        }
    }
    let cx = JaegerPropagator.extract_with_context(&Context::new(), &carrier);
    let mut out = Vec::<(String, String)>::new();
    JaegerPropagator.inject_context(&cx, &mut out);
    let again = JaegerPropagator.extract_with_context(&Context::new(), &out);
    assert_eq!(again.span_context(), cx.span_context());
    assert_eq!(again.baggage(), cx.baggage());
});
