//! W3C Trace Context (Level 2): `traceparent` and `tracestate`.

use super::{trim_ows, Extractor, Injector, TextMapPropagator};
use crate::trace::id::{decode_hex, is_lower_hex, push_hex};
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
    let version = &b[0..2];
    if !is_lower_hex(version) || version == b"ff" {
        return None;
    }
    if version == b"00" {
        if b.len() != 55 {
            return None;
        }
    } else if b.len() > 55 && b[55] != b'-' {
        // A future version may append fields, always after a dash.
        return None;
    }
    let (trace, span, flags) = (&b[3..35], &b[36..52], &b[53..55]);
    if !(is_lower_hex(trace) && is_lower_hex(span) && is_lower_hex(flags)) {
        return None;
    }
    let trace_id = TraceId::from_bytes(decode_hex::<16>(trace)?);
    let span_id = SpanId::from_bytes(decode_hex::<8>(span)?);
    let [flags] = decode_hex::<1>(flags)?;
    if !trace_id.is_valid() || !span_id.is_valid() {
        return None;
    }
    Some((trace_id, span_id, TraceFlags::new(flags)))
}

/// Formats a `traceparent` (version 00; only the flags Level 2 defines).
pub(crate) fn format_traceparent(sc: &SpanContext) -> String {
    let mut out = String::with_capacity(55);
    out.push_str("00-");
    push_hex(&mut out, sc.trace_id().as_bytes());
    out.push('-');
    push_hex(&mut out, sc.span_id().as_bytes());
    out.push('-');
    push_hex(&mut out, &[sc.trace_flags().to_u8() & 0x03]);
    out
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

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        // Repeated `traceparent` headers arrive joined with `,`, which no valid
        // value contains: they are rejected together, as W3C requires.
        let Some((trace_id, span_id, flags)) =
            extractor.get_all(TRACEPARENT).and_then(|v| parse_traceparent(&v))
        else {
            return cx.clone();
        };
        let trace_state = extractor
            .get_all(TRACESTATE)
            .and_then(|ts| TraceState::from_header(&ts).ok())
            .unwrap_or_default();
        cx.with_remote_span_context(SpanContext::new(trace_id, span_id, flags, true, trace_state))
    }

    fn fields(&self) -> Vec<&'static str> {
        vec![TRACEPARENT, TRACESTATE]
    }
}
