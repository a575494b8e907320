//! The clew SDK: the tracer provider, resource, samplers, span processors,
//! limits and `OTEL_*` configuration behind `clew-api`.
//!
//! Libraries never depend on this crate; applications do (usually through
//! the `clew` facade). It records what the API is told, samples it, and hands
//! finished spans to processors that export them from their own thread:
//! nothing here ever needs, or blocks on, the application's async runtime.
//!
//! # Getting started
//!
//! ```
//! use std::time::Duration;
//! use clew_sdk::{export::InMemoryExporter, SdkTracerProvider};
//!
//! let exporter = InMemoryExporter::new();
//! let provider = SdkTracerProvider::builder()
//!     .with_batch_exporter(exporter.clone())
//!     .build();
//! let tracer = provider.tracer("order-service");
//! tracer.in_span("order.process", |span| {
//!     span.add_event("order.completed", vec![]);
//! });
//! provider.shutdown(Duration::from_secs(5)).unwrap();
//! assert_eq!(exporter.finished_spans()[0].name, "order.process");
//! ```
//!
//! # A custom sampler
//!
//! The second seed's priority-customer sampler: enterprise customers always,
//! everyone else at 5%, deterministically per trace.
//!
//! ```
//! use clew_sdk::sampler::*;
//! use clew_api::KeyValue;
//!
//! #[derive(Debug)]
//! struct PriorityCustomer(TraceIdRatioBased);
//!
//! impl Sampler for PriorityCustomer {
//!     fn should_sample(&self, p: &SamplingParameters<'_>) -> SamplingResult {
//!         let enterprise = p.attributes.iter()
//!             .any(|kv| kv.key == "customer.tier" && kv.value.as_str() == Some("enterprise"));
//!         if enterprise {
//!             return SamplingResult::new(SamplingDecision::RecordAndSample)
//!                 .with_attributes([KeyValue::new("sampling.reason", "enterprise-customer")]);
//!         }
//!         self.0.should_sample(p)
//!     }
//!     fn description(&self) -> String { "PriorityCustomerSampler".into() }
//! }
//!
//! let sampler = ParentBased::new(PriorityCustomer(TraceIdRatioBased::new(0.05)));
//! ```
//!
//! # Configuration
//!
//! Code beats environment variables, which beat defaults. Read by this
//! crate: `OTEL_SDK_DISABLED`, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
//! `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`, `OTEL_BSP_SCHEDULE_DELAY`,
//! `OTEL_BSP_EXPORT_TIMEOUT`, `OTEL_BSP_MAX_QUEUE_SIZE`,
//! `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, `OTEL_BSP_MAX_CONCURRENT_EXPORTS` (an
//! opentelemetry-rust extension), `OTEL_ATTRIBUTE_COUNT_LIMIT`,
//! `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`, `OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT`,
//! `OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT`, `OTEL_SPAN_EVENT_COUNT_LIMIT`,
//! `OTEL_SPAN_LINK_COUNT_LIMIT`, `OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT`,
//! `OTEL_LINK_ATTRIBUTE_COUNT_LIMIT`. Invalid values are reported through
//! [`diagnostics`] and ignored.
//!
//! # Crate feature flags
//!
//! - `signal` (default): [`shutdown::on_signal`], flushing on SIGTERM and SIGINT.
//!
//! # Stability
//!
//! Pre-1.0. The extension traits ([`sampler::Sampler`],
//! [`processor::SpanProcessor`], [`export::SpanExporter`],
//! [`resource::ResourceDetector`]) only gain methods with default bodies;
//! configuration structs and error enums are `#[non_exhaustive]`.
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]

mod brief_lock;
pub mod diagnostics;
pub mod env;
pub mod export;
pub mod id;
pub mod limits;
#[cfg(test)]
mod lock_tests;
pub mod processor;
mod provider;
mod queue_lock;
pub mod resource;
pub mod sampler;
pub mod shutdown;
mod span;

pub use limits::SpanLimits;
pub use provider::{SdkTracerProvider, SdkTracerProviderBuilder, ShutdownError};
pub use resource::Resource;
pub use span::{Scope, SpanData, SpanEvent, SpanEvents, SpanLink, SpanLinks};

/// Locks `m`, going on through poisoning: the SDK's locks guard counters
/// and buffers that stay consistent even if a holder panicked, and the SDK
/// must not turn one panic into a panic on every later span.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
