//! Jaeger propagation (`uber-trace-id`, `uberctx-*` baggage). Deprecated by
//! the specification, kept for services that still speak it.

use super::baggage::{is_token, percent_encode};
use super::{trim_ows, DebugSampled, Extractor, Injector, TextMapPropagator};
use crate::baggage::{Baggage, BaggageEntry, BaggageMetadata};
use crate::trace::id::{decode_hex_padded, push_hex};
use crate::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
use crate::Context;

const HEADER: &str = "uber-trace-id";
const BAGGAGE_PREFIX: &str = "uberctx-";

/// The Jaeger propagator.
///
/// Reads `{trace-id}:{span-id}:{parent-span-id}:{flags}`, URL-encoded or not,
/// with ids of any length up to 128 and 64 bits (left-padded); flag `0x02`
/// (debug) implies sampled. Writes 32-digit trace ids, parent `0`, and each
/// baggage entry as an `uberctx-{key}` header.
#[derive(Debug, Clone, Copy, Default)]
pub struct JaegerPropagator;

/// Parses an `uber-trace-id` value: ids, sampled, debug.
pub(crate) fn parse_uber_trace_id(value: &str) -> Option<(TraceId, SpanId, bool, bool)> {
    let value = trim_ows(value);
    let decoded;
    let value = if value.contains('%') {
        decoded = value.replace("%3A", ":").replace("%3a", ":");
        decoded.as_str()
    } else {
        value
    };
    let mut parts = value.split(':');
    let trace_id = TraceId::from_bytes(decode_hex_padded::<16>(parts.next()?.as_bytes())?);
    let span_id = SpanId::from_bytes(decode_hex_padded::<8>(parts.next()?.as_bytes())?);
    // The parent id is deprecated and ignored, but must still be well formed.
    decode_hex_padded::<8>(parts.next()?.as_bytes())?;
    let flags = parts.next()?;
    if parts.next().is_some() || flags.is_empty() || flags.len() > 2 {
        return None;
    }
    let [flags] = decode_hex_padded::<1>(flags.as_bytes())?;
    if !trace_id.is_valid() || !span_id.is_valid() {
        return None;
    }
    let debug = flags & 0x02 != 0;
    Some((trace_id, span_id, flags & 0x01 != 0 || debug, debug))
}

impl TextMapPropagator for JaegerPropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let sc = cx.span_context();
        if sc.is_valid() {
            let debug = cx.get::<DebugSampled>().is_some();
            let mut value = String::with_capacity(54);
            push_hex(&mut value, sc.trace_id().as_bytes());
            value.push(':');
            push_hex(&mut value, sc.span_id().as_bytes());
            value.push_str(match (debug, sc.is_sampled()) {
                (true, _) => ":0:3",
                (false, true) => ":0:1",
                (false, false) => ":0:0",
            });
            injector.set(HEADER, value);
        }
        for (name, entry) in cx.baggage().iter() {
            if is_token(name) {
                let mut value = String::new();
                percent_encode(entry.value(), &mut value);
                injector.set(&format!("{BAGGAGE_PREFIX}{name}"), value);
            }
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let mut cx = match extractor.get(HEADER).and_then(parse_uber_trace_id) {
            Some((trace_id, span_id, sampled, debug)) => {
                let flags = TraceFlags::NONE.with_sampled(sampled);
                let sc = SpanContext::new(trace_id, span_id, flags, true, TraceState::NONE);
                let cx = cx.with_remote_span_context(sc);
                if debug {
                    cx.with_value(DebugSampled)
                } else {
                    cx
                }
            }
            None => cx.clone(),
        };
        let mut baggage: Option<Baggage> = None;
        for key in extractor.keys() {
            let Some(name) = key
                .get(..BAGGAGE_PREFIX.len())
                .filter(|p| p.eq_ignore_ascii_case(BAGGAGE_PREFIX))
                .map(|_| &key[BAGGAGE_PREFIX.len()..])
            else {
                continue;
            };
            let value = extractor.get(key).and_then(super::baggage::percent_decode);
            if let (true, Some(value)) = (is_token(name), value) {
                let current = baggage.take().unwrap_or_else(|| cx.baggage().clone());
                baggage = Some(current.with_entry(
                    name.to_ascii_lowercase(),
                    BaggageEntry::new(value, BaggageMetadata::default()),
                ));
            }
        }
        if let Some(baggage) = baggage {
            cx = cx.with_baggage(baggage);
        }
        cx
    }

    fn fields(&self) -> Vec<&'static str> {
        vec![HEADER]
    }
}
