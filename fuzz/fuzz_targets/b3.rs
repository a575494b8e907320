//! B3, single and multiple headers: never panics; whatever extracts
//! re-injects (both encodings) and re-extracts to the same span context.
#![no_main]

use clew_api::propagation::{B3Encoding, B3Propagator, TextMapPropagator};
use clew_api::Context;
use libfuzzer_sys::fuzz_target;

const KEYS: [&str; 5] = ["b3", "x-b3-traceid", "x-b3-spanid", "x-b3-sampled", "x-b3-flags"];

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else { return };
    let carrier: Vec<(String, String)> = KEYS
        .iter()
        .zip(value.split('\n'))
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_owned()))
        .collect();
    let b3 = B3Propagator::new(B3Encoding::SingleAndMultiHeader);
    let cx = b3.extract_with_context(&Context::new(), &carrier);
    if !cx.has_active_span() {
        return;
    }
    let sc = cx.span_context();
    assert!(sc.is_valid() && sc.is_remote());
    for encoding in [B3Encoding::SingleHeader, B3Encoding::MultipleHeader] {
        let p = B3Propagator::new(encoding);
        let mut out = Vec::<(String, String)>::new();
        p.inject_context(&cx, &mut out);
        let again = p.extract_with_context(&Context::new(), &out);
        assert_eq!(again.span_context(), sc);
    }
});
