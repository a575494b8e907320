//! W3C Trace Context (Level 2): `traceparent` and `tracestate`.

use super::{trim_ows, Extractor, Injector, TextMapPropagator};
use crate::trace::id::{
    decode_lower_hex, decode_lower_hex_16, decode_lower_hex_8, write_hex_bytes,
};
use crate::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
use crate::Context;

const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";

/// The W3C Trace Context propagator.
///
/// Extraction validates `traceparent` as Level 2 requires (lower-case hex,
/// no all-zero ids, version `ff` rejected, longer values accepted only from
/// future versions and only at a `-`), and drops a `tracestate` that breaks
/// its grammar while keeping the parent. Extracting a valid `traceparent`
/// without `tracestate` does not allocate.
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceContextPropagator;

/// Parses a `traceparent` value into its ids and flags; `None` when invalid.
pub fn parse_traceparent(value: &str) -> Option<(TraceId, SpanId, TraceFlags)> {
    let b = trim_ows(value).as_bytes();
    if b.len() < 55 || b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
        return None;
    }
    let [version] = decode_lower_hex::<1>(&b[0..2])?;
    match version {
        0xff => return None,
        0x00 if b.len() != 55 => return None,
        // A future version may append fields, always after a dash.
        _ if b.len() > 55 && b[55] != b'-' => return None,
        _ => {}
    }
    let trace_id = TraceId::from_bytes(decode_lower_hex_16(&b[3..35])?);
    let span_id = SpanId::from_bytes(decode_lower_hex_8(&b[36..52])?);
    let [flags] = decode_lower_hex::<1>(&b[53..55])?;
    if !trace_id.is_valid() || !span_id.is_valid() {
        return None;
    }
    Some((trace_id, span_id, TraceFlags::new(flags)))
}

/// Formats a `traceparent` (version 00; only the flags Level 2 defines).
pub(crate) fn format_traceparent(sc: &SpanContext) -> String {
    let mut buf = vec![b'-'; 55];
    buf[0..2].copy_from_slice(b"00");
    write_hex_bytes(&mut buf[3..35], sc.trace_id().as_bytes());
    write_hex_bytes(&mut buf[36..52], sc.span_id().as_bytes());
    write_hex_bytes(&mut buf[53..55], &[sc.trace_flags().to_u8() & 0x03]);
    // SAFETY: every byte written above is an ASCII hex digit or `-`.
    unsafe { String::from_utf8_unchecked(buf) }
}

impl TextMapPropagator for TraceContextPropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let sc = cx.span_context();
        if !sc.is_valid() {
            return;
        }
        injector.set(TRACEPARENT, format_traceparent(sc));
        if !sc.trace_state().is_empty() {
            injector.set(TRACESTATE, sc.trace_state().header().to_owned());
        }
    }

    fn extract(&self, extractor: &dyn Extractor) -> Context {
        // Parse before touching the current context: an absent or invalid
        // header then costs nothing more than the lookup.
        match extract_span_context(extractor) {
            Some(sc) => Context::map_current(|cx| cx.with_remote_span_context(sc)),
            None => Context::current(),
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        match extract_span_context(extractor) {
            Some(sc) => cx.with_remote_span_context(sc),
            None => cx.clone(),
        }
    }

    fn fields(&self) -> Vec<&'static str> {
        vec![TRACEPARENT, TRACESTATE]
    }
}

/// Reads a remote span context from `traceparent` and `tracestate`.
fn extract_span_context(extractor: &dyn Extractor) -> Option<SpanContext> {
    // Repeated `traceparent` headers arrive joined with `,`, which no valid
    // value contains: they are rejected together, as W3C requires.
    let (trace_id, span_id, flags) = extractor
        .get_all(TRACEPARENT)
        .and_then(|v| parse_traceparent(&v))?;
    let trace_state = extractor
        .get_all(TRACESTATE)
        .and_then(|ts| TraceState::from_header(&ts).ok())
        .unwrap_or_default();
    Some(SpanContext::new(
        trace_id,
        span_id,
        flags,
        true,
        trace_state,
    ))
}
