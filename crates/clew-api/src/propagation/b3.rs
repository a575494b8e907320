//! Zipkin B3 propagation, single (`b3`) and multiple (`x-b3-*`) headers.

use super::{trim_ows, DebugSampled, Extractor, Injector, TextMapPropagator};
use crate::trace::id::{decode_hex, push_hex};
use crate::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
use crate::Context;

const B3: &str = "b3";
const TRACE_ID: &str = "x-b3-traceid";
const SPAN_ID: &str = "x-b3-spanid";
const SAMPLED: &str = "x-b3-sampled";
const FLAGS: &str = "x-b3-flags";

/// Which B3 headers to write. Extraction always reads both, single first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum B3Encoding {
    /// The single `b3` header (the specification's default, `OTEL_PROPAGATORS=b3`).
    #[default]
    SingleHeader,
    /// The `x-b3-*` headers (`OTEL_PROPAGATORS=b3multi`).
    MultipleHeader,
    /// Both.
    SingleAndMultiHeader,
}

/// The B3 propagator.
///
/// 64-bit trace ids are left-padded to 128 bits; the debug flag implies
/// sampled and is written back out; `x-b3-parentspanid` is never written.
/// An absent sampling decision ("defer") extracts as not sampled.
#[derive(Debug, Clone, Copy, Default)]
pub struct B3Propagator {
    encoding: B3Encoding,
}

impl B3Propagator {
    /// A propagator writing the given headers.
    pub fn new(encoding: B3Encoding) -> B3Propagator {
        B3Propagator { encoding }
    }
}

fn parse_trace_id(s: &str) -> Option<TraceId> {
    let b = s.as_bytes();
    let id = match b.len() {
        32 => TraceId::from_bytes(decode_hex::<16>(b)?),
        16 => TraceId::from_int(u128::from(u64::from_be_bytes(decode_hex::<8>(b)?))),
        _ => return None,
    };
    id.is_valid().then_some(id)
}

fn parse_span_id(s: &str) -> Option<SpanId> {
    let id = SpanId::from_bytes(decode_hex::<8>(s.as_bytes())?);
    id.is_valid().then_some(id)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sampling {
    Deny,
    Accept,
    Debug,
    Defer,
}

/// Parses a single `b3` header: `{trace}-{span}[-{sampling}[-{parent}]]`.
/// A lone sampling state carries no ids and yields `None`.
fn parse_single(value: &str) -> Option<(TraceId, SpanId, Sampling)> {
    let mut parts = trim_ows(value).split('-');
    let trace_id = parse_trace_id(parts.next()?)?;
    let span_id = parse_span_id(parts.next()?)?;
    let sampling = match parts.next() {
        None => Sampling::Defer,
        Some("0") => Sampling::Deny,
        Some("1") => Sampling::Accept,
        Some("d") => Sampling::Debug,
        Some(_) => return None,
    };
    if let Some(parent) = parts.next() {
        parse_span_id(parent)?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some((trace_id, span_id, sampling))
}

fn parse_multi(extractor: &dyn Extractor) -> Option<(TraceId, SpanId, Sampling)> {
    let trace_id = parse_trace_id(trim_ows(extractor.get(TRACE_ID)?))?;
    let span_id = parse_span_id(trim_ows(extractor.get(SPAN_ID)?))?;
    let debug = extractor.get(FLAGS).map(trim_ows) == Some("1");
    let sampling = if debug {
        Sampling::Debug
    } else {
        match extractor.get(SAMPLED).map(trim_ows) {
            None => Sampling::Defer,
            Some("1") | Some("true") => Sampling::Accept,
            Some("0") | Some("false") => Sampling::Deny,
            Some(_) => return None,
        }
    };
    Some((trace_id, span_id, sampling))
}

impl TextMapPropagator for B3Propagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let sc = cx.span_context();
        if !sc.is_valid() {
            return;
        }
        let debug = cx.get::<DebugSampled>().is_some();
        let sampled = sc.is_sampled();
        if matches!(
            self.encoding,
            B3Encoding::SingleHeader | B3Encoding::SingleAndMultiHeader
        ) {
            let mut value = String::with_capacity(52);
            push_hex(&mut value, sc.trace_id().as_bytes());
            value.push('-');
            push_hex(&mut value, sc.span_id().as_bytes());
            value.push_str(match (debug, sampled) {
                (true, _) => "-d",
                (false, true) => "-1",
                (false, false) => "-0",
            });
            injector.set(B3, value);
        }
        if matches!(
            self.encoding,
            B3Encoding::MultipleHeader | B3Encoding::SingleAndMultiHeader
        ) {
            injector.set(TRACE_ID, sc.trace_id().to_string());
            injector.set(SPAN_ID, sc.span_id().to_string());
            if debug {
                injector.set(FLAGS, "1".to_owned());
            } else {
                injector.set(SAMPLED, if sampled { "1" } else { "0" }.to_owned());
            }
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let parsed = extractor
            .get(B3)
            .and_then(parse_single)
            .or_else(|| parse_multi(extractor));
        let Some((trace_id, span_id, sampling)) = parsed else {
            return cx.clone();
        };
        let flags =
            TraceFlags::NONE.with_sampled(matches!(sampling, Sampling::Accept | Sampling::Debug));
        let sc = SpanContext::new(trace_id, span_id, flags, true, TraceState::NONE);
        let cx = cx.with_remote_span_context(sc);
        if sampling == Sampling::Debug {
            cx.with_value(DebugSampled)
        } else {
            cx
        }
    }

    fn fields(&self) -> Vec<&'static str> {
        match self.encoding {
            B3Encoding::SingleHeader => vec![B3],
            B3Encoding::MultipleHeader => vec![TRACE_ID, SPAN_ID, SAMPLED, FLAGS],
            B3Encoding::SingleAndMultiHeader => vec![B3, TRACE_ID, SPAN_ID, SAMPLED, FLAGS],
        }
    }
}
