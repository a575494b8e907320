//! The SDK workloads of `anchors.md` §6, for clew-sdk and opentelemetry_sdk
//! 0.33: a provider built once, `tracer("bench")` used directly (never
//! installed globally), resource `service.name=otel-baseline-bench`, static
//! span names, root spans except in `nested_3`.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Spans the discarding exporters received, across all workloads in the process.
pub static EXPORTED: AtomicU64 = AtomicU64::new(0);

/// Which clew pipeline a workload runs through.
#[derive(Debug, Clone, Copy)]
pub enum ClewPipeline {
    /// A processor that drops each finished span (after `black_box`).
    Discard,
    /// The stock batch processor, default configuration, discarding exporter.
    Batch,
}

/// Which opentelemetry pipeline a workload runs through.
pub type OtelPipeline = ClewPipeline;

/// clew-sdk pieces of the workloads.
pub mod clew_side {
    use super::*;
    use clew_sdk::export::SpanBatch;
    use clew_sdk::export::{ExportError, SpanExporter};
    use clew_sdk::processor::{BatchConfig, ProcessorError, SpanProcessor};
    use clew_sdk::sampler::{AlwaysOff, AlwaysOn, Sampler};
    use clew_sdk::{Resource, SdkTracerProvider, SdkTracerProviderBuilder, SpanData};

    #[derive(Debug)]
    pub(crate) struct DiscardProcessor;

    impl SpanProcessor for DiscardProcessor {
        fn has_on_start(&self) -> bool {
            false
        }
        fn on_end(&self, span: SpanData) {
            black_box(span);
        }
        fn force_flush(&self, _: Duration) -> Result<(), ProcessorError> {
            Ok(())
        }
        fn shutdown(&self, _: Duration) -> Result<(), ProcessorError> {
            Ok(())
        }
    }

    /// Counts spans with a relaxed atomic and drops them.
    #[derive(Debug)]
    pub struct DiscardExporter;

    impl SpanExporter for DiscardExporter {
        fn export(&self, batch: SpanBatch, _: &Resource, _: Duration) -> Result<(), ExportError> {
            EXPORTED.fetch_add(batch.len() as u64, Ordering::Relaxed);
            Ok(())
        }
    }

    /// The workloads' builder: the anchor's resource, and `sampler`.
    fn builder(sampler: impl Sampler + 'static) -> SdkTracerProviderBuilder {
        SdkTracerProvider::builder()
            .with_resource(Resource::new([clew_api::KeyValue::new(
                "service.name",
                "otel-baseline-bench",
            )]))
            .with_sampler(sampler)
    }

    pub(crate) fn provider(
        pipeline: ClewPipeline,
        sampler: impl Sampler + 'static,
    ) -> SdkTracerProvider {
        let builder = builder(sampler);
        match pipeline {
            ClewPipeline::Discard => builder.with_span_processor(DiscardProcessor).build(),
            ClewPipeline::Batch => builder
                .with_batch_exporter_config(DiscardExporter, BatchConfig::default())
                .build(),
        }
    }

    /// The discarding pipeline, with repeated attribute keys allowed or not
    /// ([`clew_sdk::SpanLimits::allow_duplicate_attribute_keys`]).
    pub(crate) fn provider_with_key_check(repeated_keys_allowed: bool) -> SdkTracerProvider {
        let mut limits = clew_sdk::SpanLimits::default();
        limits.allow_duplicate_attribute_keys = repeated_keys_allowed;
        builder(AlwaysOn)
            .with_span_limits(limits)
            .with_span_processor(DiscardProcessor)
            .build()
    }

    pub(crate) fn always_on() -> AlwaysOn {
        AlwaysOn
    }

    pub(crate) fn always_off() -> AlwaysOff {
        AlwaysOff
    }
}

/// opentelemetry_sdk pieces of the workloads.
pub mod otel_side {
    use super::*;
    use opentelemetry::Context;
    use opentelemetry_sdk::error::OTelSdkResult;
    use opentelemetry_sdk::trace::{
        BatchSpanProcessor, Sampler, SdkTracerProvider, Span, SpanData, SpanExporter, SpanProcessor,
    };
    use opentelemetry_sdk::Resource;

    #[derive(Debug)]
    pub(crate) struct DiscardProcessor;

    impl SpanProcessor for DiscardProcessor {
        fn on_start(&self, _: &mut Span, _: &Context) {}
        fn on_end(&self, span: SpanData) {
            black_box(span);
        }
        fn force_flush(&self) -> OTelSdkResult {
            Ok(())
        }
        fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
            Ok(())
        }
    }

    /// Counts spans with a relaxed atomic and drops them.
    #[derive(Debug)]
    pub struct DiscardExporter;

    impl SpanExporter for DiscardExporter {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            EXPORTED.fetch_add(batch.len() as u64, Ordering::Relaxed);
            Ok(())
        }
    }

    pub(crate) fn provider(pipeline: OtelPipeline, sampler: Sampler) -> SdkTracerProvider {
        let builder = SdkTracerProvider::builder()
            .with_resource(
                Resource::builder_empty()
                    .with_service_name("otel-baseline-bench")
                    .build(),
            )
            .with_sampler(sampler);
        match pipeline {
            ClewPipeline::Discard => builder.with_span_processor(DiscardProcessor).build(),
            ClewPipeline::Batch => builder
                .with_span_processor(BatchSpanProcessor::builder(DiscardExporter).build())
                .build(),
        }
    }
}

/// clew: one span with 4 attributes (string, i64, bool, f64) and 1 event.
#[inline]
pub fn clew_span_4attr(tracer: &clew_api::Tracer) {
    let span = tracer
        .span("x")
        .with_attributes([
            clew_api::KeyValue::new("k1", "value"),
            clew_api::KeyValue::new("k2", 42),
            clew_api::KeyValue::new("k3", true),
            clew_api::KeyValue::new("k4", 1.5),
        ])
        .start();
    span.add_event("event", vec![]);
    span.end();
}

/// opentelemetry: the same span.
#[inline]
pub fn otel_span_4attr<T: opentelemetry::trace::Tracer>(tracer: &T) {
    use opentelemetry::trace::Span as _;
    let mut span = tracer
        .span_builder("x")
        .with_attributes([
            opentelemetry::KeyValue::new("k1", "value"),
            opentelemetry::KeyValue::new("k2", 42),
            opentelemetry::KeyValue::new("k3", true),
            opentelemetry::KeyValue::new("k4", 1.5),
        ])
        .start(tracer);
    span.add_event("event", vec![]);
    span.end();
}

/// clew: a span with 4 attributes (string, i64, bool, f64) and 1 event.
#[inline]
pub fn clew_4attr(pipeline: ClewPipeline) -> impl FnMut() {
    let provider = clew_side::provider(pipeline, clew_side::always_on());
    let tracer = provider.tracer("bench");
    let keep = Arc::new(provider);
    move || {
        let _keep = &keep;
        clew_span_4attr(&tracer);
    }
}

/// clew: `iterations` of the same span through the discarding processor,
/// with the duplicate-key check (`repeated_keys_allowed` false, the
/// default) or without it
/// ([`clew_sdk::SpanLimits::allow_duplicate_attribute_keys`]). The two
/// differ only in that setting, so their difference is the check's cost.
///
/// Out of line, with its own loop: a second caller of [`clew_span_4attr`]
/// inside `run` changed how the other workloads' loops were compiled (the
/// main clew row moved by 50 to 120 instructions). This loop is not the main
/// rows' either (about 30 instructions fewer with the check), so compare
/// these two rows with each other only.
#[inline(never)]
pub fn clew_4attr_own_loop(iterations: u64, repeated_keys_allowed: bool) {
    let provider = clew_side::provider_with_key_check(repeated_keys_allowed);
    let tracer = provider.tracer("bench");
    for _ in 0..iterations {
        clew_span_4attr(&tracer);
    }
}

/// opentelemetry: the same span.
#[inline]
pub fn otel_4attr(pipeline: OtelPipeline) -> impl FnMut() {
    use opentelemetry::trace::TracerProvider as _;
    let provider = otel_side::provider(pipeline, opentelemetry_sdk::trace::Sampler::AlwaysOn);
    let tracer = provider.tracer("bench");
    move || {
        let _keep = &provider;
        otel_span_4attr(&tracer);
    }
}

/// clew: a span the sampler drops (AlwaysOff).
#[inline]
pub fn clew_not_sampled() -> impl FnMut() {
    let provider = clew_side::provider(ClewPipeline::Discard, clew_side::always_off());
    let tracer = provider.tracer("bench");
    move || {
        let _keep = &provider;
        let span = tracer.start("x");
        black_box(&span);
        span.end();
    }
}

/// opentelemetry: a span the sampler drops (AlwaysOff).
#[inline]
pub fn otel_not_sampled() -> impl FnMut() {
    use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
    let provider = otel_side::provider(
        ClewPipeline::Discard,
        opentelemetry_sdk::trace::Sampler::AlwaysOff,
    );
    let tracer = provider.tracer("bench");
    move || {
        let _keep = &provider;
        let mut span = tracer.start("x");
        black_box(&span);
        span.end();
    }
}

/// clew: a parent and two sequential children, nested `in_span`.
#[inline]
pub fn clew_nested_3() -> impl FnMut() {
    let provider = clew_side::provider(ClewPipeline::Discard, clew_side::always_on());
    let tracer = provider.tracer("bench");
    move || {
        let _keep = &provider;
        tracer.in_span("parent", |_| {
            tracer.in_span("child1", |s| {
                black_box(s);
            });
            tracer.in_span("child2", |s| {
                black_box(s);
            });
        })
    }
}

/// opentelemetry: a parent and two sequential children, nested `in_span`.
#[inline]
pub fn otel_nested_3() -> impl FnMut() {
    use opentelemetry::trace::{Tracer as _, TracerProvider as _};
    let provider = otel_side::provider(
        ClewPipeline::Discard,
        opentelemetry_sdk::trace::Sampler::AlwaysOn,
    );
    let tracer = provider.tracer("bench");
    move || {
        let _keep = &provider;
        tracer.in_span("parent", |_| {
            tracer.in_span("child1", |cx| {
                black_box(cx);
            });
            tracer.in_span("child2", |cx| {
                black_box(cx);
            });
        })
    }
}
