//! clew: OpenTelemetry-compatible tracing for Rust services.
//!
//! This is the crate an application depends on. It re-exports the API
//! ([`api`], which libraries depend on directly), the SDK ([`sdk`]) and the
//! OTLP exporter ([`otlp`]), and configures all of them from the standard
//! `OTEL_*` environment with one call, like Node's `NodeSDK`:
//!
//! ```no_run
//! // In `main`: flushes and shuts down when dropped.
//! let _telemetry = clew::init();
//! clew::api::global::tracer("checkout").in_span("startup", |_| {});
//! ```
//!
//! [`init`] reads:
//! - `OTEL_TRACES_EXPORTER`: `otlp` (the default), `console`, `none`, or a
//!   comma-separated list of them;
//! - `OTEL_EXPORTER_OTLP_*` (see [`otlp::OtlpConfig`]);
//! - `OTEL_PROPAGATORS`: `tracecontext`, `baggage`, `b3`, `b3multi`,
//!   `jaeger`, `none` (default `tracecontext,baggage`);
//! - and everything the SDK reads: `OTEL_SERVICE_NAME`,
//!   `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER[_ARG]`, `OTEL_BSP_*`,
//!   the span limits, `OTEL_SDK_DISABLED`.
//!
//! Every value clew reads is listed with its default in
//! `docs/configuration.md`. A malformed value never panics: it produces a
//! diagnostic naming the variable (see [`sdk::diagnostics`]) and the
//! documented fallback is used.
//!
//! # Crate feature flags
//!
//! - `signal` (default): [`Builder::with_signal_handler`] flushes on SIGTERM
//!   and SIGINT.
//! - `tokio`, `rayon`: the API's context carriers for those runtimes.
//!
//! Instrumentation crates (hyper, sqlx, redis, lapin, `tracing`) will each
//! get a feature of their name as they land.
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]

use std::fmt;
use std::time::Duration;

pub use clew_api as api;
pub use clew_otlp as otlp;
pub use clew_sdk as sdk;

use clew_api::propagation::{
    B3Encoding, B3Propagator, BaggagePropagator, CompositePropagator, JaegerPropagator,
    TextMapPropagator, TraceContextPropagator,
};
use clew_api::KeyValue;
use clew_otlp::{OtlpConfig, OtlpExporter};
use clew_sdk::diagnostics::{self, Diagnostic};
use clew_sdk::env::{invalid, Env};
use clew_sdk::export::{ConsoleExporter, SpanExporter};
use clew_sdk::shutdown::ShutdownGuard;
use clew_sdk::{Resource, SdkTracerProvider, ShutdownError};

/// Where spans go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExporterKind {
    /// OTLP, configured by `OTEL_EXPORTER_OTLP_*`.
    Otlp,
    /// Waterfalls on standard output.
    Console,
    /// Nowhere (spans are still created and propagated).
    None,
}

impl ExporterKind {
    fn parse(s: &str) -> Option<ExporterKind> {
        match s.trim().to_ascii_lowercase().as_str() {
            "otlp" => Some(ExporterKind::Otlp),
            "console" | "logging" => Some(ExporterKind::Console),
            "none" => Some(ExporterKind::None),
            _ => None,
        }
    }
}

/// Why [`Builder::try_init`] refused.
#[derive(Debug)]
#[non_exhaustive]
pub enum InitError {
    /// The OTLP exporter could not be built from its configuration.
    Exporter(clew_otlp::BuildError),
    /// A tracer provider was already installed globally.
    AlreadyInstalled,
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InitError::Exporter(e) => write!(f, "cannot build the OTLP exporter: {e}"),
            InitError::AlreadyInstalled => f.write_str("a tracer provider is already installed"),
        }
    }
}

impl std::error::Error for InitError {}

/// Configures clew; [`init`] is `builder().init()`.
pub struct Builder {
    env: Env,
    default_exporter: ExporterKind,
    default_service_name: Option<String>,
    attributes: Vec<KeyValue>,
    otlp: Option<OtlpConfig>,
    extra_exporters: Vec<Box<dyn SpanExporter>>,
    shutdown_timeout: Duration,
    #[cfg(all(unix, feature = "signal"))]
    signals: bool,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("env", &self.env)
            .field("default_exporter", &self.default_exporter)
            .field("default_service_name", &self.default_service_name)
            .field("otlp", &self.otlp)
            .field("extra_exporters", &self.extra_exporters.len())
            .finish_non_exhaustive()
    }
}

/// Starts configuring clew.
pub fn builder() -> Builder {
    Builder {
        env: Env::process(),
        default_exporter: ExporterKind::Otlp,
        default_service_name: None,
        attributes: Vec::new(),
        otlp: None,
        extra_exporters: Vec::new(),
        shutdown_timeout: Duration::from_secs(5),
        #[cfg(all(unix, feature = "signal"))]
        signals: false,
    }
}

/// Configures everything from the environment, installs the provider and
/// the propagator globally, and returns a guard that flushes and shuts down
/// when dropped. Never fails: what cannot be used is reported as a
/// diagnostic and its fallback used (see [`Builder::init`]).
pub fn init() -> Telemetry {
    builder().init()
}

impl Builder {
    /// Reads `env` instead of the process environment.
    pub fn with_env(mut self, env: Env) -> Builder {
        self.env = env;
        self
    }

    /// The exporter when neither `OTEL_TRACES_EXPORTER` nor an OTLP
    /// endpoint variable is set (default [`ExporterKind::Otlp`], as the
    /// specification says). The quickstart uses `Console`.
    pub fn with_default_exporter(mut self, kind: ExporterKind) -> Builder {
        self.default_exporter = kind;
        self
    }

    /// `service.name` when neither `OTEL_SERVICE_NAME` nor
    /// `OTEL_RESOURCE_ATTRIBUTES` sets one.
    pub fn with_default_service_name(mut self, name: impl Into<String>) -> Builder {
        self.default_service_name = Some(name.into());
        self
    }

    /// A resource attribute set in code (it wins over the environment).
    pub fn with_resource_attribute(mut self, kv: KeyValue) -> Builder {
        self.attributes.push(kv);
        self
    }

    /// The OTLP configuration, instead of reading `OTEL_EXPORTER_OTLP_*`.
    pub fn with_otlp(mut self, config: OtlpConfig) -> Builder {
        self.otlp = Some(config);
        self
    }

    /// Another exporter, behind its own batch processor, beside those the
    /// environment selects.
    pub fn with_exporter(mut self, exporter: impl SpanExporter) -> Builder {
        self.extra_exporters.push(Box::new(exporter));
        self
    }

    /// How long the guard's shutdown may take (default 5 s).
    pub fn with_shutdown_timeout(mut self, timeout: Duration) -> Builder {
        self.shutdown_timeout = timeout;
        self
    }

    /// Also flush and shut down on SIGTERM and SIGINT, then exit with
    /// `128 + signal` (the seeds' signal handlers).
    #[cfg(all(unix, feature = "signal"))]
    pub fn with_signal_handler(mut self) -> Builder {
        self.signals = true;
        self
    }

    /// The exporters `OTEL_TRACES_EXPORTER` selects.
    fn exporter_kinds(&self) -> Vec<ExporterKind> {
        const VAR: &str = "OTEL_TRACES_EXPORTER";
        let Some(value) = self.env.get(VAR) else {
            let endpoint_set = self.env.get("OTEL_EXPORTER_OTLP_ENDPOINT").is_some()
                || self.env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some();
            return vec![if endpoint_set {
                ExporterKind::Otlp
            } else {
                self.default_exporter
            }];
        };
        let mut kinds = Vec::new();
        for item in value.split(',').filter(|s| !s.trim().is_empty()) {
            match ExporterKind::parse(item) {
                Some(kind) if !kinds.contains(&kind) => kinds.push(kind),
                Some(_) => {}
                None => invalid(
                    VAR,
                    item,
                    "expected otlp, console or none; this entry is ignored",
                ),
            }
        }
        if kinds.is_empty() {
            kinds.push(self.default_exporter);
        }
        if kinds.len() > 1 {
            kinds.retain(|k| *k != ExporterKind::None);
        }
        kinds
    }

    fn propagator(&self) -> Box<dyn TextMapPropagator> {
        const VAR: &str = "OTEL_PROPAGATORS";
        let value = self
            .env
            .get(VAR)
            .unwrap_or_else(|| "tracecontext,baggage".into());
        let mut parts: Vec<Box<dyn TextMapPropagator>> = Vec::new();
        let mut seen = Vec::new();
        for name in value.split(',').map(|s| s.trim().to_ascii_lowercase()) {
            if name.is_empty() || seen.contains(&name) {
                continue;
            }
            seen.push(name.clone());
            match name.as_str() {
                "tracecontext" => parts.push(Box::new(TraceContextPropagator)),
                "baggage" => parts.push(Box::new(BaggagePropagator)),
                "b3" => parts.push(Box::new(B3Propagator::new(B3Encoding::SingleHeader))),
                "b3multi" => parts.push(Box::new(B3Propagator::new(B3Encoding::MultipleHeader))),
                "jaeger" => parts.push(Box::new(JaegerPropagator)),
                "none" => {}
                other => invalid(
                    VAR,
                    other,
                    "not available (tracecontext, baggage, b3, b3multi, jaeger, none); ignored",
                ),
            }
        }
        Box::new(CompositePropagator::new(parts))
    }

    fn resource(&self) -> Resource {
        let mut builder = Resource::builder()
            .with_env(self.env.clone())
            .with_attributes(self.attributes.iter().cloned());
        if let Some(name) = &self.default_service_name {
            builder = builder.with_default_service_name(name.clone());
        }
        builder.build()
    }

    /// Builds the pipeline without installing anything globally: for tests,
    /// and for applications that hold their provider themselves.
    pub fn build(mut self) -> Result<Telemetry, InitError> {
        match self.exporters() {
            (_, Some(e)) => Err(InitError::Exporter(e)),
            (exporters, None) => Ok(self.pipeline(exporters)),
        }
    }

    /// The exporters `OTEL_TRACES_EXPORTER` and the code select, and the
    /// reason the OTLP one could not be built, if it could not.
    fn exporters(&mut self) -> (Vec<Box<dyn SpanExporter>>, Option<clew_otlp::BuildError>) {
        let mut exporters: Vec<Box<dyn SpanExporter>> = Vec::new();
        let mut failure = None;
        for kind in self.exporter_kinds() {
            match kind {
                ExporterKind::None => {}
                ExporterKind::Console => exporters.push(Box::new(ConsoleExporter::default())),
                ExporterKind::Otlp => {
                    let config = self
                        .otlp
                        .take()
                        .unwrap_or_else(|| OtlpConfig::from(&self.env));
                    match OtlpExporter::new(config) {
                        Ok(exporter) => exporters.push(Box::new(exporter)),
                        Err(e) => failure = Some(e),
                    }
                }
            }
        }
        exporters.append(&mut self.extra_exporters);
        (exporters, failure)
    }

    /// The provider over `exporters`, each behind its own batch processor.
    fn pipeline(self, exporters: Vec<Box<dyn SpanExporter>>) -> Telemetry {
        let mut builder = SdkTracerProvider::builder()
            .with_env(self.env.clone())
            .with_resource(self.resource());
        for exporter in exporters {
            builder = builder.with_batch_exporter(exporter);
        }
        let provider = builder.build();
        Telemetry {
            guard: Some(provider.shutdown_guard(self.shutdown_timeout)),
            propagator: Some(self.propagator()),
            provider,
            #[cfg(all(unix, feature = "signal"))]
            signals: self.signals,
            #[cfg(all(unix, feature = "signal"))]
            shutdown_timeout: self.shutdown_timeout,
            #[cfg(all(unix, feature = "signal"))]
            signal_handle: None,
        }
    }

    /// Builds the pipeline and installs it globally; fails if the OTLP
    /// exporter cannot be built or a provider is already installed.
    pub fn try_init(self) -> Result<Telemetry, InitError> {
        let mut telemetry = self.build()?;
        telemetry.install(true)?;
        Ok(telemetry)
    }

    /// Builds the pipeline and installs it globally. Never fails: an OTLP
    /// configuration that cannot be used leaves spans unexported, and an
    /// already-installed provider stays; both are reported through the
    /// diagnostics channel.
    pub fn init(mut self) -> Telemetry {
        let (exporters, failure) = self.exporters();
        if let Some(e) = failure {
            diagnostics::report(Diagnostic::Other(format!(
                "{e}; spans will not be exported"
            )));
        }
        let mut telemetry = self.pipeline(exporters);
        let _ = telemetry.install(false);
        telemetry
    }
}

/// The running pipeline: flushes and shuts down when dropped (keep it in
/// `main`).
#[must_use = "the pipeline is shut down when this is dropped"]
pub struct Telemetry {
    provider: SdkTracerProvider,
    guard: Option<ShutdownGuard>,
    propagator: Option<Box<dyn TextMapPropagator>>,
    /// The signal handler was asked for; it is installed with the provider.
    #[cfg(all(unix, feature = "signal"))]
    signals: bool,
    #[cfg(all(unix, feature = "signal"))]
    shutdown_timeout: Duration,
    #[cfg(all(unix, feature = "signal"))]
    signal_handle: Option<clew_sdk::shutdown::SignalHandle>,
}

impl fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telemetry")
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

impl Telemetry {
    fn install(&mut self, strict: bool) -> Result<(), InitError> {
        if let Some(propagator) = self.propagator.take() {
            if clew_api::global::set_text_map_propagator(propagator).is_err() {
                diagnostics::report(Diagnostic::Other(
                    "a propagator was already installed; OTEL_PROPAGATORS is not applied".into(),
                ));
            }
        }
        if self.provider.install_global().is_err() {
            if strict {
                return Err(InitError::AlreadyInstalled);
            }
            diagnostics::report(Diagnostic::Other(
                "a tracer provider was already installed; it stays in use".into(),
            ));
        }
        #[cfg(all(unix, feature = "signal"))]
        if self.signals {
            match clew_sdk::shutdown::on_signal(self.provider.clone(), self.shutdown_timeout) {
                Ok(handle) => self.signal_handle = Some(handle),
                Err(e) => diagnostics::report(Diagnostic::Other(format!(
                    "cannot install the signal handler: {e}"
                ))),
            }
        }
        Ok(())
    }

    /// The provider: for tracers that do not go through the global one, and
    /// for its counters.
    pub fn provider(&self) -> &SdkTracerProvider {
        &self.provider
    }

    /// The propagator `OTEL_PROPAGATORS` selected, when it was not
    /// installed globally (after [`Builder::build`]).
    pub fn propagator(&self) -> Option<&dyn TextMapPropagator> {
        self.propagator.as_deref()
    }

    /// Exports everything ended so far.
    pub fn flush(&self) -> Result<(), ShutdownError> {
        self.provider.force_flush(Duration::from_secs(5))
    }

    /// Flushes and shuts down now, and reports the outcome (dropping the
    /// guard does the same, silently).
    pub fn shutdown(mut self) -> Result<(), ShutdownError> {
        match self.guard.take() {
            Some(guard) => guard.shutdown(),
            None => Ok(()),
        }
    }
}
