//! `baggage`: never panics; extraction respects the W3C limits; what was
//! extracted injects within the limits and every member that comes back is
//! unchanged.
#![no_main]

use clew_api::propagation::{BaggagePropagator, TextMapPropagator, MAX_BAGGAGE_BYTES, MAX_BAGGAGE_MEMBERS};
use clew_api::Context;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else { return };
    // Two headers, to exercise joining.
    let carrier: Vec<(String, String)> =
        value.splitn(2, '\n').map(|v| ("baggage".to_owned(), v.to_owned())).collect();
    let cx = BaggagePropagator.extract_with_context(&Context::new(), &carrier);
    let baggage = cx.baggage();
    assert!(baggage.len() <= MAX_BAGGAGE_MEMBERS);
    let mut out = Vec::<(String, String)>::new();
    BaggagePropagator.inject_context(&cx, &mut out);
    if let Some((_, header)) = out.first() {
        assert!(header.len() <= MAX_BAGGAGE_BYTES);
        assert!(header.is_ascii());
        let again = BaggagePropagator.extract_with_context(&Context::new(), &out);
        for (name, entry) in again.baggage().iter() {
            assert_eq!(baggage.entry(name), Some(entry), "member {name} changed on the round trip");
        }
    }
});
