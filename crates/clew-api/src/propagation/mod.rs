//! Propagators: write a context into a carrier (HTTP headers, message headers,
//! environment variables) and read it back on the other side.
//!
//! Invalid input is never an error the caller has to handle: a propagator that
//! cannot read its headers returns the context it was given, unchanged.
//!
//! | propagator | headers |
//! |---|---|
//! | [`TraceContextPropagator`] | W3C `traceparent`, `tracestate` |
//! | [`BaggagePropagator`] | W3C `baggage` |
//! | [`B3Propagator`] | `b3`, or `x-b3-traceid`, `x-b3-spanid`, `x-b3-sampled`, `x-b3-flags` |
//! | [`JaegerPropagator`] | `uber-trace-id`, `uberctx-*` |
//!
//! The global propagator ([`crate::global::text_map_propagator`]) is W3C trace
//! context plus W3C baggage until an application installs another.

mod b3;
mod baggage;
mod carrier;
mod env;
mod jaeger;
mod trace_context;

use std::borrow::Cow;
use std::fmt;

pub use self::b3::{B3Encoding, B3Propagator};
pub use self::baggage::{BaggagePropagator, MAX_BAGGAGE_BYTES, MAX_BAGGAGE_MEMBERS};
pub use self::env::{extract_from_env, inject_into_command, EnvCarrier};
pub use self::jaeger::JaegerPropagator;
pub use self::trace_context::{parse_traceparent, TraceContextPropagator};

use crate::Context;

/// Writes propagation fields into a carrier.
pub trait Injector {
    /// Sets `key` to `value`, replacing any previous value.
    fn set(&mut self, key: &str, value: String);
}

/// Reads propagation fields from a carrier.
pub trait Extractor {
    /// The value of `key`. Carriers of HTTP headers match keys case-insensitively.
    fn get(&self, key: &str) -> Option<&str>;

    /// Every key in the carrier.
    fn keys(&self) -> Vec<&str>;

    /// Every value of `key`, joined with `,`, for fields that may be repeated
    /// (`tracestate`, `baggage`). Single-valued carriers need not override it.
    fn get_all(&self, key: &str) -> Option<Cow<'_, str>> {
        self.get(key).map(Cow::Borrowed)
    }
}

/// Injects a context into, and extracts one from, a text-map carrier.
pub trait TextMapPropagator: Send + Sync + fmt::Debug {
    /// Writes `cx` into `injector`.
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector);

    /// Reads a context from `extractor`, building on `cx`. Returns `cx`
    /// unchanged when the carrier holds nothing valid for this propagator.
    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context;

    /// The keys this propagator writes.
    fn fields(&self) -> Vec<&'static str>;

    /// Writes the current context into `injector`.
    fn inject(&self, injector: &mut dyn Injector) {
        Context::map_current(|cx| self.inject_context(cx, injector))
    }

    /// Reads a context from `extractor`, building on the current context.
    fn extract(&self, extractor: &dyn Extractor) -> Context {
        Context::map_current(|cx| self.extract_with_context(cx, extractor))
    }
}

/// Runs several propagators in order: each extraction sees the context the
/// previous one produced, and injection writes every propagator's fields.
#[derive(Debug)]
pub struct CompositePropagator {
    propagators: Vec<Box<dyn TextMapPropagator>>,
}

impl CompositePropagator {
    /// A composite of `propagators`, applied in order.
    pub fn new(propagators: Vec<Box<dyn TextMapPropagator>>) -> CompositePropagator {
        CompositePropagator { propagators }
    }
}

impl TextMapPropagator for CompositePropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        for p in &self.propagators {
            p.inject_context(cx, injector);
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        self.propagators
            .iter()
            .fold(cx.clone(), |cx, p| p.extract_with_context(&cx, extractor))
    }

    fn fields(&self) -> Vec<&'static str> {
        let mut fields = Vec::new();
        for p in &self.propagators {
            for f in p.fields() {
                if !fields.contains(&f) {
                    fields.push(f);
                }
            }
        }
        fields
    }
}

/// Propagates nothing (`OTEL_PROPAGATORS=none`).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopPropagator;

impl TextMapPropagator for NoopPropagator {
    fn inject_context(&self, _cx: &Context, _injector: &mut dyn Injector) {}

    fn extract_with_context(&self, cx: &Context, _extractor: &dyn Extractor) -> Context {
        cx.clone()
    }

    fn fields(&self) -> Vec<&'static str> {
        Vec::new()
    }
}

/// W3C trace context followed by W3C baggage: the specification's default
/// (`OTEL_PROPAGATORS=tracecontext,baggage`), with no allocation to build.
#[derive(Debug, Clone, Copy, Default)]
pub struct W3CPropagator;

impl TextMapPropagator for W3CPropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        TraceContextPropagator.inject_context(cx, injector);
        BaggagePropagator.inject_context(cx, injector);
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let cx = TraceContextPropagator.extract_with_context(cx, extractor);
        BaggagePropagator.extract_with_context(&cx, extractor)
    }

    fn fields(&self) -> Vec<&'static str> {
        vec!["traceparent", "tracestate", "baggage"]
    }
}

/// Writes the current context into `injector` with the global propagator.
pub fn inject(injector: &mut dyn Injector) {
    crate::global::text_map_propagator().inject(injector)
}

/// Writes `cx` into `injector` with the global propagator.
pub fn inject_context(cx: &Context, injector: &mut dyn Injector) {
    crate::global::text_map_propagator().inject_context(cx, injector)
}

/// Reads a context from `extractor` with the global propagator, on top of the
/// current context.
pub fn extract(extractor: &dyn Extractor) -> Context {
    crate::global::text_map_propagator().extract(extractor)
}

/// Reads a context from `extractor` with the global propagator, on top of `cx`.
/// Pass `&Context::new()` for an incoming request, whose parent must come
/// from the carrier alone.
pub fn extract_with_context(cx: &Context, extractor: &dyn Extractor) -> Context {
    crate::global::text_map_propagator().extract_with_context(cx, extractor)
}

/// Trims HTTP optional whitespace (spaces and tabs) from both ends.
#[inline]
pub(crate) fn trim_ows(s: &str) -> &str {
    let bytes = s.as_bytes();
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes.iter().position(|b| !is_ows(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |e| e + 1);
    // Spaces and tabs are ASCII, so both ends are character boundaries.
    s.get(start..end).unwrap_or("")
}

/// A marker in the context for B3 and Jaeger "debug" sampling, so a debug
/// decision extracted by one propagator is written back out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DebugSampled;
