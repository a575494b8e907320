//! The clew tracing API: spans, context and propagation, no-op until an
//! application installs an SDK.
//!
//! This is the crate libraries depend on. Without an SDK every call is close
//! to free: starting and ending a span is a couple of loads and no allocation,
//! and spans still carry their parent's context, so a library behind a service
//! with no SDK keeps forwarding the trace.
//!
//! # Getting started
//!
//! ```
//! use clew_api::{global, KeyValue, trace::{SpanKind, Status}};
//!
//! let tracer = global::tracer("order-service");
//! let total = tracer.in_span("order.process", |span| {
//!     span.set_attribute(KeyValue::new("order.item_count", 3));
//!     let total = tracer
//!         .span("order.charge_payment")
//!         .with_kind(SpanKind::Client)
//!         .in_span(|payment| {
//!             payment.add_event("payment.authorized", vec![]);
//!             4999
//!         });
//!     span.set_status(Status::Ok);
//!     total
//! });
//! assert_eq!(total, 4999);
//! ```
//!
//! # In libraries
//!
//! Depend on `clew-api` only, get a tracer with [`global::tracer`] and start
//! spans. Carry the context across every boundary your library creates
//! ([`rt`], [`context::FutureExt`], [`context::Envelope`]) and through every
//! protocol it speaks ([`propagation`]).
//!
//! # In applications
//!
//! Depend on the `clew` facade, which installs the SDK and an exporter from
//! the environment; this crate's types are re-exported there.
//!
//! # Context across boundaries
//!
//! | boundary | one call |
//! |---|---|
//! | futures, streams | `fut.in_current_context()` ([`context::FutureExt`]) |
//! | `tokio::spawn`, `spawn_blocking` | [`rt::tokio::spawn`], [`rt::tokio::spawn_blocking`] |
//! | threads, scoped threads | [`rt::thread::spawn`], [`rt::thread::scope_spawn`], [`context::bind`] |
//! | rayon | [`rt::rayon::spawn`], [`rt::rayon::join`], `.in_current_context()` |
//! | channels | [`context::Envelope`] |
//! | child processes | [`propagation::inject_into_command`], [`propagation::extract_from_env`] |
//!
//! # Crate feature flags
//!
//! None is on by default, and the default build has no dependencies.
//!
//! - `tokio`: [`rt::tokio`].
//! - `rayon`: [`rt::rayon`].
//! - `futures`: `futures_core::Stream` support for [`context::WithContext`].
//! - `http`: [`propagation::Injector`] and [`propagation::Extractor`] for `http::HeaderMap`.
//!
//! # Stability
//!
//! This crate is meant to stay on one major version for years, because two
//! copies of it in one build would split the global state. Public enums that
//! may grow are `#[non_exhaustive]`, and the SDK-facing traits
//! ([`trace::TracerProvider`], [`trace::SpanBackend`],
//! [`propagation::TextMapPropagator`]) only ever gain methods with default
//! bodies.
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]

pub mod attribute;
pub mod baggage;
pub mod context;
pub mod global;
pub mod propagation;
pub mod rt;
pub mod semconv;
pub mod time;
pub mod trace;

pub use attribute::{Array, Key, KeyValue, StringValue, Value};
pub use baggage::Baggage;
pub use context::Context;
pub use trace::{Span, SpanContext, SpanHandle, SpanKind, Status, Tracer};
