//! `tracestate`: never panics; what parses is normalised, re-parses to
//! itself, holds at most 32 members, and stays valid under insert and remove.
#![no_main]

use clew_api::trace::TraceState;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else { return };
    let Ok(ts) = TraceState::from_header(value) else { return };
    assert!(ts.len() <= 32);
    assert_eq!(TraceState::from_header(ts.header()).as_ref(), Ok(&ts));
    let mut keys = Vec::new();
    for (k, v) in ts.iter() {
        assert_eq!(ts.get(k), Some(v));
        keys.push(k.to_owned());
    }
    let inserted = ts.insert("clew", "x").expect("a valid member inserts");
    assert!(inserted.len() <= 32);
    assert_eq!(inserted.iter().next(), Some(("clew", "x")));
    assert_eq!(TraceState::from_header(inserted.header()).as_ref(), Ok(&inserted));
    if let Some(first) = keys.first() {
        let removed = ts.remove(first);
        assert_eq!(removed.get(first), None);
        assert_eq!(removed.len(), ts.len() - 1);
    }
});
