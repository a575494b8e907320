//! Propagators: W3C trace context and baggage (with the W3C reference cases),
//! B3, Jaeger, composite, and the carriers.

#![allow(clippy::unwrap_used)] // reason: a failed unwrap is the test failing

use std::collections::HashMap;

use clew_api::baggage::{BaggageEntry, BaggageMetadata};
use clew_api::propagation::{
    parse_traceparent, B3Encoding, B3Propagator, BaggagePropagator, CompositePropagator,
    EnvCarrier, JaegerPropagator, TextMapPropagator, TraceContextPropagator, W3CPropagator,
    MAX_BAGGAGE_BYTES,
};
use clew_api::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
use clew_api::{Baggage, Context};

const TID: &str = "0af7651916cd43dd8448eb211c80319c";
const SID: &str = "b7ad6b7169203331";

fn carrier(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn extract(p: &dyn TextMapPropagator, pairs: &[(&str, &str)]) -> Context {
    p.extract_with_context(&Context::new(), &carrier(pairs))
}

fn remote(sampled: bool, ts: &str) -> Context {
    Context::new().with_remote_span_context(SpanContext::new(
        TraceId::from_hex(TID).unwrap(),
        SpanId::from_hex(SID).unwrap(),
        TraceFlags::NONE.with_sampled(sampled),
        true,
        TraceState::from_header(ts).unwrap(),
    ))
}

// ---- W3C Trace Context -------------------------------------------------

#[test]
fn traceparent_valid_forms() {
    let ok = |v: &str| parse_traceparent(v).is_some();
    assert!(ok(&format!("00-{TID}-{SID}-01")));
    assert!(ok(&format!("00-{TID}-{SID}-00")));
    assert!(
        ok(&format!(" \t00-{TID}-{SID}-01\t ")),
        "optional whitespace around the value"
    );
    // Future versions may append fields after a dash.
    assert!(ok(&format!(
        "cc-{TID}-{SID}-01-what-the-future-will-be-like"
    )));
    assert!(ok(&format!("01-{TID}-{SID}-09")));
    let (t, s, f) = parse_traceparent(&format!("00-{TID}-{SID}-03")).unwrap();
    assert_eq!((t.to_string().as_str(), s.to_string().as_str()), (TID, SID));
    assert!(f.is_sampled() && f.is_random());
}

#[test]
fn traceparent_invalid_forms() {
    let zero_t = "0".repeat(32);
    let zero_s = "0".repeat(16);
    for bad in [
        format!("ff-{TID}-{SID}-01"), // forbidden version
        format!("0-{TID}-{SID}-01"),  // short version
        format!("000-{TID}-{SID}-01"),
        format!("00-{}-{SID}-01", TID.to_uppercase()), // upper-case hex
        format!("00-{TID}-{}-01", SID.to_uppercase()),
        format!("0A-{TID}-{SID}-01"),
        format!("00-{TID}-{SID}-0A"),
        format!("00-{zero_t}-{SID}-01"), // all-zero ids
        format!("00-{TID}-{zero_s}-01"),
        format!("00-{TID}-{SID}-01-extra"), // version 00 is exactly 55 chars
        format!("00-{TID}-{SID}-011"),
        format!("cc-{TID}-{SID}-01x"), // a longer future value needs a dash
        format!("00-{TID}-{SID}"),
        format!("00_{TID}_{SID}_01"),
        format!("00-{}-{SID}-01", &TID[..31]),
        format!("00-{TID}.-{}-01", &SID[..15]),
        format!("00-{TID}-{SID}-.1"),
        format!("00-{TID}-{SID}-01,00-{TID}-{SID}-01"), // repeated header
        String::new(),
        "00-".into(),
        "é".repeat(30),
    ] {
        assert!(parse_traceparent(&bad).is_none(), "accepted {bad:?}");
        let cx = extract(&TraceContextPropagator, &[("traceparent", &bad)]);
        assert!(
            !cx.has_active_span(),
            "an invalid traceparent extracts as no parent: {bad:?}"
        );
    }
}

#[test]
fn trace_context_round_trip_and_remote_flag() {
    let cx = remote(true, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    let mut out = HashMap::new();
    TraceContextPropagator.inject_context(&cx, &mut out);
    assert_eq!(out["traceparent"], format!("00-{TID}-{SID}-01"));
    assert_eq!(out["tracestate"], "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    let back = TraceContextPropagator.extract_with_context(&Context::new(), &out);
    assert_eq!(back.span_context(), cx.span_context());
    assert!(back.span_context().is_remote());
    // Unsampled and nothing to inject.
    let mut out = HashMap::new();
    TraceContextPropagator.inject_context(&remote(false, ""), &mut out);
    assert_eq!(out["traceparent"], format!("00-{TID}-{SID}-00"));
    assert!(
        !out.contains_key("tracestate"),
        "an empty tracestate is not sent"
    );
    let mut out = HashMap::new();
    TraceContextPropagator.inject_context(&Context::new(), &mut out);
    assert!(out.is_empty(), "no valid span, nothing injected");
    // Unknown flag bits are not forwarded by a version-00 writer.
    let cx = extract(
        &TraceContextPropagator,
        &[("traceparent", &format!("00-{TID}-{SID}-ff"))],
    );
    let mut out = HashMap::new();
    TraceContextPropagator.inject_context(&cx, &mut out);
    assert_eq!(out["traceparent"], format!("00-{TID}-{SID}-03"));
}

#[test]
fn tracestate_rules_on_extract() {
    let tp = format!("00-{TID}-{SID}-01");
    let ts_of = |ts: &str| {
        extract(
            &TraceContextPropagator,
            &[("traceparent", &tp), ("tracestate", ts)],
        )
        .span_context()
        .trace_state()
        .header()
        .to_owned()
    };
    assert_eq!(ts_of("foo=1,bar=2"), "foo=1,bar=2");
    assert_eq!(ts_of("foo=1 , , bar=2,"), "foo=1,bar=2");
    assert_eq!(ts_of("tenant@system=1"), "tenant@system=1");
    // Invalid tracestate is dropped whole; the parent survives.
    for bad in [
        "foo=1,foo=2",
        "FOO=1",
        "foo=bar=baz",
        "foo",
        "foo=1,b@r@z=2",
        "foo=a\u{1}b",
    ] {
        let cx = extract(
            &TraceContextPropagator,
            &[("traceparent", &tp), ("tracestate", bad)],
        );
        assert!(cx.span_context().is_valid(), "{bad}");
        assert!(cx.span_context().trace_state().is_empty(), "kept {bad:?}");
    }
    let members = |n: usize| {
        (0..n)
            .map(|i| format!("k{i}=v"))
            .collect::<Vec<_>>()
            .join(",")
    };
    assert_eq!(
        TraceState::from_header(&ts_of(&members(32))).unwrap().len(),
        32
    );
    assert_eq!(ts_of(&members(33)), "");
    assert_eq!(ts_of(&format!("{}=v", "k".repeat(256))).len(), 258);
    assert_eq!(ts_of(&format!("{}=v", "k".repeat(257))), "");
    assert_eq!(ts_of(&format!("k={}", "v".repeat(256))).len(), 258);
    assert_eq!(ts_of(&format!("k={}", "v".repeat(257))), "");
    // Without a valid traceparent, tracestate is ignored.
    let cx = extract(&TraceContextPropagator, &[("tracestate", "foo=1")]);
    assert!(!cx.has_active_span());
    // Repeated tracestate headers are combined.
    let cx = extract(
        &TraceContextPropagator,
        &[
            ("traceparent", &tp),
            ("tracestate", "a=1"),
            ("tracestate", "b=2"),
        ],
    );
    assert_eq!(cx.span_context().trace_state().header(), "a=1,b=2");
}

// ---- W3C Baggage -----------------------------------------------------------

fn baggage_of(header: &str) -> Baggage {
    extract(&BaggagePropagator, &[("baggage", header)])
        .baggage()
        .clone()
}

#[test]
fn baggage_reference_cases() {
    let b = baggage_of("SomeKey=SomeValue");
    assert_eq!(b.get("SomeKey"), Some("SomeValue"));
    assert_eq!(b.entry("SomeKey").unwrap().metadata().as_str(), "");

    let b = baggage_of("SomeKey=SomeValue;SomeProp,SomeKey2=SomeValue2;ValueProp=PropVal");
    assert_eq!(b.len(), 2);
    assert_eq!(b.entry("SomeKey").unwrap().metadata().as_str(), "SomeProp");
    assert_eq!(
        b.entry("SomeKey2").unwrap().metadata().as_str(),
        "ValueProp=PropVal"
    );

    let b = baggage_of(
        "SomeKey \t = \t SomeValue \t ; \t SomeProp \t , \t SomeKey2 \t = \t SomeValue2 \t ; \t ValueProp \t = \t PropVal",
    );
    assert_eq!(b.get("SomeKey"), Some("SomeValue"));
    assert_eq!(b.get("SomeKey2"), Some("SomeValue2"));
    assert_eq!(b.entry("SomeKey").unwrap().metadata().as_str(), "SomeProp");
    assert_eq!(
        b.entry("SomeKey2").unwrap().metadata().as_str(),
        "ValueProp=PropVal"
    );

    let b = baggage_of("SomeKey=SomeValue;SomeProp;SecondProp=PropValue");
    assert_eq!(
        b.entry("SomeKey").unwrap().metadata().as_str(),
        "SomeProp;SecondProp=PropValue"
    );
    let b = baggage_of(
        "SomeKey \t = \t SomeValue \t ; \t SomeProp \t ; \t SecondProp \t = \t PropValue",
    );
    assert_eq!(
        b.entry("SomeKey").unwrap().metadata().as_str(),
        "SomeProp;SecondProp=PropValue"
    );

    assert_eq!(
        baggage_of("SomeKey=SomeValue=equals").get("SomeKey"),
        Some("SomeValue=equals")
    );
    assert_eq!(
        baggage_of("SomeKey \t = \t SomeValue \t ").get("SomeKey"),
        Some("SomeValue")
    );

    let encoded = "%09%20%22%27%3B%3Dasdf%21%40%23%24%25%5E%26%2A%28%29";
    let decoded = "\t \"';=asdf!@#$%^&*()";
    assert_eq!(
        baggage_of(&format!("SomeKey={encoded}")).get("SomeKey"),
        Some(decoded)
    );
    assert_eq!(
        baggage_of(&format!("SomeKey \t = \t {encoded} \t ")).get("SomeKey"),
        Some(decoded)
    );
}

#[test]
fn baggage_encoding_round_trips_any_value() {
    let value = "\t \"';=asdf!@#$%^&*() , ü → 東京";
    let cx = Context::new().with_baggage(Baggage::new().with("tenant.id", value).with_entry(
        "flags",
        BaggageEntry::new("a,b", BaggageMetadata::new("ttl=60")),
    ));
    let mut out = HashMap::new();
    BaggagePropagator.inject_context(&cx, &mut out);
    let header = &out["baggage"];
    assert!(header.is_ascii() && !header.contains(' '), "{header}");
    assert!(header.ends_with("flags=a%2Cb;ttl=60"), "{header}");
    let back = BaggagePropagator.extract_with_context(&Context::new(), &out);
    assert_eq!(back.baggage().get("tenant.id"), Some(value));
    assert_eq!(
        back.baggage().entry("flags").unwrap().metadata().as_str(),
        "ttl=60"
    );
}

#[test]
fn baggage_limits_on_inject() {
    // All of 64 members are propagated.
    let b: Baggage = (0..64).map(|i| (format!("key{i}"), "value")).collect();
    let mut out = HashMap::new();
    BaggagePropagator.inject_context(&Context::new().with_baggage(b), &mut out);
    assert_eq!(out["baggage"].split(',').count(), 64);
    // The 65th is dropped, whole.
    let b: Baggage = (0..65).map(|i| (format!("key{i}"), "value")).collect();
    let mut out = HashMap::new();
    BaggagePropagator.inject_context(&Context::new().with_baggage(b), &mut out);
    assert_eq!(out["baggage"].split(',').count(), 64);
    // A single 8192-byte member is propagated.
    let b = Baggage::new().with("a", "0123456789".repeat(819));
    let mut out = HashMap::new();
    BaggagePropagator.inject_context(&Context::new().with_baggage(b), &mut out);
    assert_eq!(out["baggage"].len(), MAX_BAGGAGE_BYTES);
    // A member that would cross 8192 bytes is dropped whole; later small ones still fit.
    let b = Baggage::new()
        .with("big", "x".repeat(8000))
        .with("huge", "y".repeat(500))
        .with("small", "z");
    let mut out = HashMap::new();
    BaggagePropagator.inject_context(&Context::new().with_baggage(b), &mut out);
    let header = &out["baggage"];
    assert!(header.len() <= MAX_BAGGAGE_BYTES);
    assert!(!header.contains("huge="));
    assert!(header.ends_with(",small=z"));
    // Keys that are not tokens cannot be sent.
    let b = Baggage::new().with("bad key", "v").with("good", "v");
    let mut out = HashMap::new();
    BaggagePropagator.inject_context(&Context::new().with_baggage(b), &mut out);
    assert_eq!(out["baggage"], "good=v");
}

#[test]
fn baggage_limits_and_bad_members_on_extract() {
    let header = (0..100)
        .map(|i| format!("k{i}=v"))
        .collect::<Vec<_>>()
        .join(",");
    let b = baggage_of(&header);
    assert_eq!(b.len(), 64);
    assert_eq!(b.get("k63"), Some("v"));
    assert_eq!(b.get("k64"), None);
    // Oversized: whole members beyond 8192 bytes are dropped, never cut.
    let header = format!("a={},b={},c=1", "x".repeat(5000), "y".repeat(5000));
    let b = baggage_of(&header);
    assert_eq!(b.get("a").map(str::len), Some(5000));
    assert_eq!(b.get("b"), None);
    assert_eq!(b.get("c"), Some("1"));
    // Invalid members are skipped one by one.
    let b = baggage_of("ok=1,no value,=novalue,bad key=1,bad=%zz,bad2=a b,ok2=2");
    assert_eq!(b.iter().map(|(k, _)| k).collect::<Vec<_>>(), ["ok", "ok2"]);
    // Nothing valid: the context is unchanged.
    let cx = Context::new().with_baggage(Baggage::new().with("keep", "me"));
    let out = BaggagePropagator.extract_with_context(&cx, &carrier(&[("baggage", ",,;;==")]));
    assert_eq!(out.baggage().get("keep"), Some("me"));
    // Repeated headers count together.
    let b = BaggagePropagator.extract_with_context(
        &Context::new(),
        &carrier(&[("baggage", "a=1"), ("baggage", "b=2")]),
    );
    assert_eq!(b.baggage().len(), 2);
}

// ---- B3 ------------------------------------------------------------------

#[test]
fn b3_single_header() {
    let b3 = B3Propagator::default();
    let cx = extract(&b3, &[("b3", &format!("{TID}-{SID}-1"))]);
    assert!(cx.span_context().is_sampled() && cx.span_context().is_remote());
    assert_eq!(cx.span_context().trace_id().to_string(), TID);
    // 64-bit trace ids are left-padded.
    let cx = extract(&b3, &[("b3", &format!("a3ce929d0e0e4736-{SID}-0"))]);
    assert_eq!(
        cx.span_context().trace_id().to_string(),
        "0000000000000000a3ce929d0e0e4736"
    );
    assert!(!cx.span_context().is_sampled());
    // Debug implies sampled and is written back.
    let cx = extract(&b3, &[("b3", &format!("{TID}-{SID}-d-{SID}"))]);
    assert!(cx.span_context().is_sampled());
    let mut out = HashMap::new();
    b3.inject_context(&cx, &mut out);
    assert_eq!(out["b3"], format!("{TID}-{SID}-d"));
    // Deferred: not sampled.
    assert!(!extract(&b3, &[("b3", &format!("{TID}-{SID}"))])
        .span_context()
        .is_sampled());
    for bad in [
        "0",
        "1",
        "d",
        "",
        &format!("{TID}-{SID}-x"),
        &format!("{TID}-{SID}-1-zz"),
        &format!("{}-{SID}-1", "0".repeat(32)),
        &format!("{TID}-{SID}-1-{SID}-9"),
        &format!("abc-{SID}-1"),
    ] {
        assert!(
            !extract(&b3, &[("b3", bad)]).has_active_span(),
            "accepted {bad:?}"
        );
    }
}

#[test]
fn b3_multi_header_and_precedence() {
    let b3 = B3Propagator::new(B3Encoding::MultipleHeader);
    let cx = extract(
        &b3,
        &[
            ("X-B3-TraceId", TID),
            ("X-B3-SpanId", SID),
            ("X-B3-Sampled", "1"),
            ("X-B3-ParentSpanId", SID),
        ],
    );
    assert!(cx.span_context().is_sampled());
    let mut out = HashMap::new();
    b3.inject_context(&cx, &mut out);
    assert_eq!(out["x-b3-traceid"], TID);
    assert_eq!(out["x-b3-spanid"], SID);
    assert_eq!(out["x-b3-sampled"], "1");
    assert!(!out.contains_key("x-b3-parentspanid"), "never injected");
    let cx = extract(
        &b3,
        &[
            ("x-b3-traceid", TID),
            ("x-b3-spanid", SID),
            ("x-b3-flags", "1"),
        ],
    );
    let mut out = HashMap::new();
    b3.inject_context(&cx, &mut out);
    assert_eq!(out["x-b3-flags"], "1");
    assert!(!out.contains_key("x-b3-sampled"));
    // The single header wins.
    let other = "1111111111111111";
    let cx = extract(
        &b3,
        &[
            ("b3", &format!("{TID}-{other}-1")),
            ("x-b3-traceid", TID),
            ("x-b3-spanid", SID),
        ],
    );
    assert_eq!(cx.span_context().span_id().to_string(), other);
    // Broken single header falls back to multi.
    let cx = extract(
        &b3,
        &[
            ("b3", "garbage"),
            ("x-b3-traceid", TID),
            ("x-b3-spanid", SID),
        ],
    );
    assert_eq!(cx.span_context().span_id().to_string(), SID);
    assert!(!extract(
        &b3,
        &[
            ("x-b3-traceid", TID),
            ("x-b3-spanid", SID),
            ("x-b3-sampled", "maybe")
        ]
    )
    .has_active_span());
    assert_eq!(
        B3Propagator::new(B3Encoding::SingleAndMultiHeader)
            .fields()
            .len(),
        5
    );
}

// ---- Jaeger ----------------------------------------------------------------

#[test]
fn jaeger_round_trip_with_baggage() {
    let j = JaegerPropagator;
    let cx = extract(
        &j,
        &[
            ("uber-trace-id", &format!("{TID}:{SID}:0:1")),
            ("uberctx-tenant", "acme%20corp"),
            ("other", "x"),
        ],
    );
    assert!(cx.span_context().is_sampled());
    assert_eq!(cx.baggage().get("tenant"), Some("acme corp"));
    let mut out = HashMap::new();
    j.inject_context(&cx, &mut out);
    assert_eq!(out["uber-trace-id"], format!("{TID}:{SID}:0:1"));
    assert_eq!(out["uberctx-tenant"], "acme%20corp");
    // URL-encoded, short ids, debug.
    let cx = extract(&j, &[("uber-trace-id", "abc%3A1%3A0%3A2")]);
    assert_eq!(cx.span_context().trace_id().to_int(), 0xabc);
    assert_eq!(cx.span_context().span_id().to_int(), 1);
    assert!(cx.span_context().is_sampled(), "debug implies sampled");
    let mut out = HashMap::new();
    j.inject_context(&cx, &mut out);
    assert!(out["uber-trace-id"].ends_with(":0:3"));
    for bad in [
        "",
        "1:2:3",
        "1:2:3:4:5",
        "0:1:0:1",
        "1:0:0:1",
        "x:1:0:1",
        "1:1:0:",
        "1:1:0:123",
        &format!("{TID}0:1:0:1"),
    ] {
        assert!(
            !extract(&j, &[("uber-trace-id", bad)]).has_active_span(),
            "accepted {bad:?}"
        );
    }
}

// ---- Composite and carriers ------------------------------------------------

#[test]
fn composite_runs_in_order_and_unions_fields() {
    let p = CompositePropagator::new(vec![
        Box::new(TraceContextPropagator),
        Box::new(BaggagePropagator),
        Box::new(B3Propagator::default()),
    ]);
    assert_eq!(p.fields(), ["traceparent", "tracestate", "baggage", "b3"]);
    let cx = remote(true, "").with_baggage(Baggage::new().with("k", "v"));
    let mut out = HashMap::new();
    p.inject_context(&cx, &mut out);
    assert_eq!(out.len(), 3);
    // Later propagators see (and may override) what earlier ones extracted.
    let other = "1111111111111111";
    let back = p.extract_with_context(
        &Context::new(),
        &carrier(&[
            ("traceparent", &format!("00-{TID}-{SID}-01")),
            ("b3", &format!("{TID}-{other}-1")),
            ("baggage", "k=v"),
        ]),
    );
    assert_eq!(back.span_context().span_id().to_string(), other);
    assert_eq!(back.baggage().get("k"), Some("v"));
    let w3c = W3CPropagator.extract_with_context(&Context::new(), &out);
    assert_eq!(w3c.span_context(), cx.span_context());
}

#[cfg(feature = "http")]
#[test]
fn http_header_map_carrier() {
    let mut headers = http::HeaderMap::new();
    W3CPropagator.inject_context(
        &remote(true, "a=1").with_baggage(Baggage::new().with("k", "v")),
        &mut headers,
    );
    assert_eq!(
        headers["traceparent"],
        format!("00-{TID}-{SID}-01").as_str()
    );
    headers.append("tracestate", http::HeaderValue::from_static("b=2"));
    headers.append("baggage", http::HeaderValue::from_static("k2=v2"));
    let cx = W3CPropagator.extract_with_context(&Context::new(), &headers);
    assert_eq!(cx.span_context().trace_state().header(), "a=1,b=2");
    assert_eq!(cx.baggage().len(), 2);
    assert!(clew_api::propagation::Extractor::keys(&headers).contains(&"traceparent"));
    // Two traceparent headers: rejected together.
    headers.append(
        "traceparent",
        http::HeaderValue::from_str(&format!("00-{TID}-{SID}-01")).unwrap(),
    );
    assert!(!TraceContextPropagator
        .extract_with_context(&Context::new(), &headers)
        .has_active_span());
    // Non-visible-ASCII values are treated as absent rather than panicking.
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "traceparent",
        http::HeaderValue::from_bytes(b"00-\xff").unwrap(),
    );
    assert!(!TraceContextPropagator
        .extract_with_context(&Context::new(), &headers)
        .has_active_span());
}

#[test]
fn env_carrier_uses_upper_case_names() {
    let mut env = EnvCarrier::new();
    W3CPropagator.inject_context(
        &remote(true, "a=1").with_baggage(Baggage::new().with("k", "v")),
        &mut env,
    );
    let names: Vec<_> = env.vars().map(|(k, _)| k).collect();
    assert_eq!(names, ["TRACEPARENT", "TRACESTATE", "BAGGAGE"]);
    let cx = W3CPropagator.extract_with_context(&Context::new(), &env);
    assert_eq!(cx.span_context().trace_id().to_string(), TID);
    assert_eq!(cx.baggage().get("k"), Some("v"));
}
