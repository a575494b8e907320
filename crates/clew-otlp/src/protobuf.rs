//! OTLP protobuf encoding, written from the protocol's field numbers
//! (opentelemetry-proto v1.11.0), straight from span data to bytes.
//!
//! Every length-delimited message needs its length before its contents. The
//! encoder walks the data twice with the same code: a counting pass records
//! each nested message's length, in the order the messages start, and a
//! writing pass emits tags, the recorded lengths and the contents. Nothing is
//! encoded twice and no intermediate message objects are built.

use clew_api::trace::{SpanContext, SpanKind, Status};
use clew_api::{Array, KeyValue, Value};
use clew_sdk::{Resource, SpanData};

use crate::group::{by_scope, ScopeGroup};

/// Protobuf wire types.
const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;
const FIXED32: u32 = 5;

/// Span flags bits 8 and 9: "is-remote is known", "parent (or link) is remote".
const HAS_IS_REMOTE: u32 = 0x100;
const IS_REMOTE: u32 = 0x200;

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// What both passes need: the same calls, counted or written.
trait Sink: Sized {
    fn raw(&mut self, bytes: &[u8]);
    fn varint(&mut self, v: u64);
    fn fixed64(&mut self, v: u64);
    fn fixed32(&mut self, v: u32);
    /// A nested message as field `field`.
    fn message(&mut self, field: u32, body: impl FnOnce(&mut Self));

    fn tag(&mut self, field: u32, wire: u32) {
        self.varint(u64::from((field << 3) | wire));
    }

    /// A string field, always written (oneof members).
    fn string_always(&mut self, field: u32, s: &str) {
        self.tag(field, LEN);
        self.varint(s.len() as u64);
        self.raw(s.as_bytes());
    }

    /// A string field, omitted when empty (proto3 default).
    fn string(&mut self, field: u32, s: &str) {
        if !s.is_empty() {
            self.string_always(field, s);
        }
    }

    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.tag(field, LEN);
        self.varint(b.len() as u64);
        self.raw(b);
    }

    /// A `uint32` field, omitted when zero.
    fn uint32(&mut self, field: u32, v: u32) {
        if v != 0 {
            self.tag(field, VARINT);
            self.varint(u64::from(v));
        }
    }

    fn fixed64_field(&mut self, field: u32, v: u64) {
        self.tag(field, FIXED64);
        self.fixed64(v);
    }

    fn fixed32_field(&mut self, field: u32, v: u32) {
        self.tag(field, FIXED32);
        self.fixed32(v);
    }
}

/// The counting pass: lengths only, plus each nested message's length.
struct Counter {
    len: usize,
    sizes: Vec<u32>,
}

impl Sink for Counter {
    fn raw(&mut self, bytes: &[u8]) {
        self.len += bytes.len();
    }
    fn varint(&mut self, v: u64) {
        self.len += varint_len(v);
    }
    fn fixed64(&mut self, _: u64) {
        self.len += 8;
    }
    fn fixed32(&mut self, _: u32) {
        self.len += 4;
    }
    fn message(&mut self, field: u32, body: impl FnOnce(&mut Self)) {
        let slot = self.sizes.len();
        self.sizes.push(0);
        let start = self.len;
        body(self);
        let inner = self.len - start;
        // A message longer than 4 GiB cannot be sent anyway (the request
        // size limit is far below); saturating keeps the arithmetic total.
        self.sizes[slot] = u32::try_from(inner).unwrap_or(u32::MAX);
        self.len += varint_len(u64::from((field << 3) | LEN)) + varint_len(inner as u64);
    }
}

/// The writing pass.
struct Writer<'a> {
    out: &'a mut Vec<u8>,
    sizes: &'a [u32],
    next: usize,
}

impl Sink for Writer<'_> {
    fn raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.out.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.out.push(v as u8);
    }
    fn fixed64(&mut self, v: u64) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }
    fn fixed32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }
    fn message(&mut self, field: u32, body: impl FnOnce(&mut Self)) {
        let inner = self.sizes.get(self.next).copied().unwrap_or(0);
        self.next += 1;
        self.tag(field, LEN);
        self.varint(u64::from(inner));
        body(self);
    }
}

/// OTLP `Span.SpanKind`.
pub(crate) fn kind_number(kind: SpanKind) -> u64 {
    match kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

/// The `flags` field of a span or link: W3C flags and the remote bits.
pub(crate) fn flags(sc: &SpanContext, remote: bool) -> u32 {
    u32::from(sc.trace_flags().to_u8()) | HAS_IS_REMOTE | if remote { IS_REMOTE } else { 0 }
}

fn any_value<S: Sink>(s: &mut S, v: &Value) {
    match v {
        Value::String(x) => s.string_always(1, x.as_str()),
        Value::Bool(x) => {
            s.tag(2, VARINT);
            s.varint(u64::from(*x));
        }
        Value::I64(x) => {
            s.tag(3, VARINT);
            s.varint(*x as u64);
        }
        Value::F64(x) => s.fixed64_field(4, x.to_bits()),
        Value::Array(array) => s.message(5, |s| match array {
            Array::Bool(items) => {
                for x in items {
                    s.message(1, |s| any_value(s, &Value::Bool(*x)));
                }
            }
            Array::I64(items) => {
                for x in items {
                    s.message(1, |s| any_value(s, &Value::I64(*x)));
                }
            }
            Array::F64(items) => {
                for x in items {
                    s.message(1, |s| any_value(s, &Value::F64(*x)));
                }
            }
            Array::String(items) => {
                for x in items {
                    s.message(1, |s| s.string_always(1, x.as_str()));
                }
            }
        }),
    }
}

fn key_values<'a, S: Sink>(
    s: &mut S,
    field: u32,
    attributes: impl IntoIterator<Item = &'a KeyValue>,
) {
    for kv in attributes {
        s.message(field, |s| {
            s.string(1, kv.key.as_str());
            s.message(2, |s| any_value(s, &kv.value));
        });
    }
}

fn span<S: Sink>(s: &mut S, d: &SpanData) {
    let sc = &d.span_context;
    s.bytes(1, sc.trace_id().as_bytes());
    s.bytes(2, sc.span_id().as_bytes());
    s.string(3, sc.trace_state().header());
    if d.parent_span_id.is_valid() {
        s.bytes(4, d.parent_span_id.as_bytes());
    }
    s.string(5, &d.name);
    s.tag(6, VARINT);
    s.varint(kind_number(d.kind));
    s.fixed64_field(7, d.start_time.unix_nanos());
    s.fixed64_field(8, d.end_time.unix_nanos());
    key_values(s, 9, &d.attributes);
    s.uint32(10, d.dropped_attributes_count);
    for e in d.events.iter() {
        s.message(11, |s| {
            s.fixed64_field(1, e.timestamp.unix_nanos());
            s.string(2, &e.name);
            key_values(s, 3, &e.attributes);
            s.uint32(4, e.dropped_attributes_count);
        });
    }
    s.uint32(12, d.dropped_events_count);
    for l in &d.links {
        s.message(13, |s| {
            s.bytes(1, l.span_context.trace_id().as_bytes());
            s.bytes(2, l.span_context.span_id().as_bytes());
            s.string(3, l.span_context.trace_state().header());
            key_values(s, 4, &l.attributes);
            s.uint32(5, l.dropped_attributes_count);
            s.fixed32_field(6, flags(&l.span_context, l.span_context.is_remote()));
        });
    }
    s.uint32(14, d.dropped_links_count);
    match &d.status {
        Status::Unset => {}
        Status::Ok => s.message(15, |s| {
            s.tag(3, VARINT);
            s.varint(1);
        }),
        Status::Error { description } => s.message(15, |s| {
            s.string(2, description);
            s.tag(3, VARINT);
            s.varint(2);
        }),
    }
    s.fixed32_field(16, flags(sc, d.parent_is_remote));
}

fn request<S: Sink>(s: &mut S, resource: &Resource, spans: &[SpanData], groups: &[ScopeGroup]) {
    s.message(1, |s| {
        if !resource.is_empty() {
            s.message(1, |s| key_values(s, 1, resource.iter()));
        }
        for group in groups {
            s.message(2, |s| {
                let scope = &*group.scope;
                s.message(1, |s| {
                    s.string(1, &scope.name);
                    s.string(2, scope.version.as_deref().unwrap_or(""));
                    key_values(s, 3, &scope.attributes);
                });
                for &i in &group.spans {
                    s.message(2, |s| span(s, &spans[i]));
                }
                s.string(3, scope.schema_url.as_deref().unwrap_or(""));
            });
        }
        s.string(3, resource.schema_url().unwrap_or(""));
    });
}

/// Encodes an `ExportTraceServiceRequest` for `spans` of `resource`, spans
/// grouped by instrumentation scope in order of first appearance. An empty
/// batch encodes to an empty request.
pub fn encode_request(resource: &Resource, spans: &[SpanData], out: &mut Vec<u8>) {
    if spans.is_empty() {
        return;
    }
    let groups = by_scope(spans);
    let mut counter = Counter {
        len: 0,
        // About 14 nested messages per typical span (5 attributes, one
        // event); one growth at most beyond that.
        sizes: Vec::with_capacity(spans.len() * 16),
    };
    request(&mut counter, resource, spans, &groups);
    out.reserve(counter.len);
    let mut writer = Writer {
        out,
        sizes: &counter.sizes,
        next: 0,
    };
    request(&mut writer, resource, spans, &groups);
}

/// The encoded length of the request `encode_request` would produce.
pub fn encoded_len(resource: &Resource, spans: &[SpanData]) -> usize {
    if spans.is_empty() {
        return 0;
    }
    let groups = by_scope(spans);
    let mut counter = Counter {
        len: 0,
        sizes: Vec::new(),
    };
    request(&mut counter, resource, spans, &groups);
    counter.len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        for (v, n) in [
            (0u64, 1),
            (127, 1),
            (128, 2),
            (16_383, 2),
            (16_384, 3),
            (u64::MAX, 10),
        ] {
            assert_eq!(varint_len(v), n, "{v}");
            let mut out = Vec::new();
            let mut w = Writer {
                out: &mut out,
                sizes: &[],
                next: 0,
            };
            w.varint(v);
            assert_eq!(out.len(), n);
        }
        let mut out = Vec::new();
        Writer {
            out: &mut out,
            sizes: &[],
            next: 0,
        }
        .varint(300);
        assert_eq!(out, [0xac, 0x02]);
    }
}
