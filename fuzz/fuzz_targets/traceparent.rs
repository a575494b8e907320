//! `traceparent`: never panics; whatever parses re-encodes and re-parses to
//! the same ids; a valid traceparent extracts as a remote parent.
#![no_main]

use clew_api::propagation::{parse_traceparent, TextMapPropagator, TraceContextPropagator};
use clew_api::Context;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else { return };
    let parsed = parse_traceparent(value);
    let carrier = vec![("traceparent".to_owned(), value.to_owned())];
    let cx = TraceContextPropagator.extract_with_context(&Context::new(), &carrier);
    assert_eq!(cx.has_active_span(), parsed.is_some());
    if let Some((trace_id, span_id, flags)) = parsed {
        assert!(trace_id.is_valid() && span_id.is_valid());
        assert!(cx.span_context().is_remote());
        let mut out = Vec::<(String, String)>::new();
        TraceContextPropagator.inject_context(&cx, &mut out);
        let (again_t, again_s, again_f) = parse_traceparent(&out[0].1).expect("re-encoded traceparent parses");
        assert_eq!((again_t, again_s), (trace_id, span_id));
        assert_eq!(again_f.to_u8(), flags.to_u8() & 0x03);
    }
});
