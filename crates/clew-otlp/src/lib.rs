//! OTLP for clew: the protocol's encodings, written here from its field
//! numbers (opentelemetry-proto v1.11.0), straight from span data to bytes,
//! with no dependency on opentelemetry-rust.
//!
//! [`OtlpExporter`] speaks OTLP/gRPC, OTLP/HTTP with protobuf bodies and
//! OTLP/HTTP with JSON bodies, chosen at run time, over plain TCP or TLS
//! and mTLS (rustls), with gzip, headers, timeout, retry with backoff,
//! `Retry-After` and `RetryInfo`, partial success and request splitting;
//! configured in code or from `OTEL_EXPORTER_OTLP_*` ([`OtlpConfig`]).
//!
//! HTTP exports run on the batch processor's thread with blocking sockets;
//! gRPC runs on a current-thread tokio runtime owned by the exporter, on a
//! thread of its own. The application's runtime is never used.
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

pub mod config;
mod exporter;
mod group;
mod grpc;
mod http;
pub mod json;
pub mod protobuf;
mod response;
mod retry;
mod tls;

pub use config::{Compression, Endpoint, OtlpConfig, Protocol};
pub use exporter::{BuildError, ExporterStats, OtlpExporter};
pub use response::PartialSuccess;

/// The `User-Agent` of every request: clew's product token, then the one
/// the specification recommends for Rust OTLP exporters.
pub const USER_AGENT: &str = concat!(
    "clew/",
    env!("CARGO_PKG_VERSION"),
    " OTel-OTLP-Exporter-Rust/",
    env!("CARGO_PKG_VERSION")
);
