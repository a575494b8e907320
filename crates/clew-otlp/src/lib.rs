//! OTLP for clew: the protocol's encodings, written here from its field
//! numbers (opentelemetry-proto v1.11.0), straight from span data to bytes,
//! with no dependency on opentelemetry-rust.
//!
//! This release has the encoders; the transports (gRPC through tonic, HTTP
//! with protobuf or JSON bodies), configuration from `OTEL_EXPORTER_OTLP_*`,
//! retry and TLS follow.
//!
//! # Getting started
//!
//! ```
//! use clew_sdk::{export::InMemoryExporter, Resource, SdkTracerProvider};
//!
//! let exporter = InMemoryExporter::new();
//! let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
//! provider.tracer("doc").in_span("work", |_| {});
//! let spans = exporter.finished_spans();
//!
//! let mut body = Vec::new();
//! clew_otlp::protobuf::encode_request(&Resource::empty(), &spans, &mut body);
//! assert_eq!(body.len(), clew_otlp::protobuf::encoded_len(&Resource::empty(), &spans));
//!
//! let mut json = String::new();
//! clew_otlp::json::encode_request(&Resource::empty(), &spans, &mut json);
//! assert!(json.starts_with("{\"resourceSpans\":["));
//! ```
//!
//! # Crate feature flags
//!
//! None yet.
//!
//! # Stability
//!
//! Pre-1.0: the encoding functions are stable in meaning (the protocol is),
//! their signatures may change as the exporter is built around them.
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]

mod group;
pub mod json;
pub mod protobuf;
