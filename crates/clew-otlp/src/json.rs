//! OTLP/JSON encoding: the proto3 JSON mapping with the protocol's
//! deviations: trace and span ids as hex (not base64), enums as numbers,
//! lowerCamelCase keys, 64-bit integers as decimal strings, default values
//! omitted, non-finite doubles as the strings `NaN`, `Infinity`, `-Infinity`.

use std::fmt::Write as _;

use clew_api::trace::Status;
use clew_api::{Array, KeyValue, Value};
use clew_sdk::{Resource, SpanData};

use clew_sdk::export::write_json_string as string;

use crate::group::by_scope;
use crate::protobuf::{flags, kind_number};

fn double(out: &mut String, f: f64) {
    if f.is_nan() {
        out.push_str("\"NaN\"");
    } else if f.is_infinite() {
        out.push_str(if f > 0.0 {
            "\"Infinity\""
        } else {
            "\"-Infinity\""
        });
    } else {
        let _ = write!(out, "{f:?}");
    }
}

fn any_value(out: &mut String, v: &Value) {
    match v {
        Value::String(s) => {
            out.push_str("{\"stringValue\":");
            string(out, s.as_str());
            out.push('}');
        }
        Value::Bool(b) => {
            let _ = write!(out, "{{\"boolValue\":{b}}}");
        }
        Value::I64(i) => {
            let _ = write!(out, "{{\"intValue\":\"{i}\"}}");
        }
        Value::F64(f) => {
            out.push_str("{\"doubleValue\":");
            double(out, *f);
            out.push('}');
        }
        Value::Array(array) => {
            out.push_str("{\"arrayValue\":{\"values\":[");
            let mut first = true;
            let mut each = |out: &mut String, v: Value| {
                if !std::mem::take(&mut first) {
                    out.push(',');
                }
                any_value(out, &v);
            };
            match array {
                Array::Bool(items) => items.iter().for_each(|x| each(out, Value::Bool(*x))),
                Array::I64(items) => items.iter().for_each(|x| each(out, Value::I64(*x))),
                Array::F64(items) => items.iter().for_each(|x| each(out, Value::F64(*x))),
                Array::String(items) => items
                    .iter()
                    .for_each(|x| each(out, Value::String(x.clone()))),
            }
            out.push_str("]}}");
        }
    }
}

/// Writes `items` with `item`, separated by commas.
fn list<T>(
    out: &mut String,
    items: impl IntoIterator<Item = T>,
    mut item: impl FnMut(&mut String, T),
) {
    for (i, x) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        item(out, x);
    }
}

/// `,"name":[...]`, or nothing when there are no attributes.
fn attributes<'a>(out: &mut String, name: &str, kvs: impl IntoIterator<Item = &'a KeyValue>) {
    attributes_after(out, ",", name, kvs);
}

/// The attributes field, written after `separator` when there is one.
fn attributes_after<'a>(
    out: &mut String,
    separator: &str,
    name: &str,
    kvs: impl IntoIterator<Item = &'a KeyValue>,
) {
    let mut kvs = kvs.into_iter().peekable();
    if kvs.peek().is_none() {
        return;
    }
    let _ = write!(out, "{separator}\"{name}\":[");
    list(out, kvs, |out, kv| {
        out.push_str("{\"key\":");
        string(out, kv.key.as_str());
        out.push_str(",\"value\":");
        any_value(out, &kv.value);
        out.push('}');
    });
    out.push(']');
}

/// The `traceId`, `spanId` and `traceState` fields that open a span or link.
fn identity(out: &mut String, sc: &clew_api::trace::SpanContext) {
    let _ = write!(
        out,
        "{{\"traceId\":\"{}\",\"spanId\":\"{}\"",
        sc.trace_id(),
        sc.span_id()
    );
    optional_string(out, "traceState", sc.trace_state().header());
}

fn count(out: &mut String, name: &str, n: u32) {
    if n > 0 {
        let _ = write!(out, ",\"{name}\":{n}");
    }
}

fn optional_string(out: &mut String, name: &str, s: &str) {
    if !s.is_empty() {
        let _ = write!(out, ",\"{name}\":");
        string(out, s);
    }
}

fn span(out: &mut String, d: &SpanData) {
    let sc = &d.span_context;
    identity(out, sc);
    if d.parent_span_id.is_valid() {
        let _ = write!(out, ",\"parentSpanId\":\"{}\"", d.parent_span_id);
    }
    let _ = write!(out, ",\"flags\":{}", flags(sc, d.parent_is_remote));
    optional_string(out, "name", &d.name);
    let _ = write!(
        out,
        ",\"kind\":{},\"startTimeUnixNano\":\"{}\",\"endTimeUnixNano\":\"{}\"",
        kind_number(d.kind),
        d.start_time.unix_nanos(),
        d.end_time.unix_nanos()
    );
    attributes(out, "attributes", &d.attributes);
    count(out, "droppedAttributesCount", d.dropped_attributes_count);
    if !d.events.is_empty() {
        out.push_str(",\"events\":[");
        list(out, &d.events, |out, e| {
            let _ = write!(out, "{{\"timeUnixNano\":\"{}\"", e.timestamp.unix_nanos());
            optional_string(out, "name", &e.name);
            attributes(out, "attributes", &e.attributes);
            count(out, "droppedAttributesCount", e.dropped_attributes_count);
            out.push('}');
        });
        out.push(']');
    }
    count(out, "droppedEventsCount", d.dropped_events_count);
    if !d.links.is_empty() {
        out.push_str(",\"links\":[");
        list(out, &d.links, |out, l| {
            let lsc = &l.span_context;
            identity(out, lsc);
            attributes(out, "attributes", &l.attributes);
            count(out, "droppedAttributesCount", l.dropped_attributes_count);
            let _ = write!(out, ",\"flags\":{}}}", flags(lsc, lsc.is_remote()));
        });
        out.push(']');
    }
    count(out, "droppedLinksCount", d.dropped_links_count);
    match &d.status {
        Status::Unset => {}
        Status::Ok => out.push_str(",\"status\":{\"code\":1}"),
        Status::Error { description } => {
            out.push_str(",\"status\":{");
            if !description.is_empty() {
                out.push_str("\"message\":");
                string(out, description);
                out.push(',');
            }
            out.push_str("\"code\":2}");
        }
    }
    out.push('}');
}

/// Encodes an `ExportTraceServiceRequest` as OTLP/JSON.
pub fn encode_request(resource: &Resource, spans: &[SpanData], out: &mut String) {
    out.push_str("{\"resourceSpans\":[");
    if !spans.is_empty() {
        out.push_str("{\"resource\":{");
        // The first field of the resource object: no separator before it.
        attributes_after(out, "", "attributes", resource.iter());
        out.push_str("},\"scopeSpans\":[");
        list(out, by_scope(spans).iter(), |out, group| {
            let scope = &*group.scope;
            out.push_str("{\"scope\":{\"name\":");
            string(out, &scope.name);
            optional_string(out, "version", scope.version.as_deref().unwrap_or(""));
            attributes(out, "attributes", &scope.attributes);
            out.push_str("},\"spans\":[");
            list(out, &group.spans, |out, &index| span(out, &spans[index]));
            out.push(']');
            optional_string(out, "schemaUrl", scope.schema_url.as_deref().unwrap_or(""));
            out.push('}');
        });
        out.push(']');
        optional_string(out, "schemaUrl", resource.schema_url().unwrap_or(""));
        out.push('}');
    }
    out.push_str("]}");
}
