//! The OTLP span exporter: one retry loop over the gRPC and HTTP transports.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;

use clew_sdk::diagnostics::{self, Diagnostic};
use clew_sdk::export::{ExportError, SpanBatch, SpanExporter};
use clew_sdk::{Resource, SpanData};

use crate::config::{Compression, OtlpConfig, Protocol};
use crate::grpc::{GrpcClient, GrpcFailure};
use crate::http::{Client, Response, SendError};
use crate::response::{self, PartialSuccess};
use crate::retry::{parse_retry_after, Backoff};

/// Why an exporter could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError(String);

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BuildError {}

/// What an exporter has done since it was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExporterStats {
    /// Requests sent (HTTP or gRPC), retries included.
    pub requests: u64,
    /// Requests that were retries.
    pub retries: u64,
    /// Spans the receiver accepted (sent minus rejected).
    pub spans_exported: u64,
    /// Spans lost: failed exports, oversized spans, and rejections.
    pub spans_failed: u64,
    /// Spans the receiver reported rejecting in partial successes.
    pub spans_rejected: u64,
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    retries: AtomicU64,
    exported: AtomicU64,
    failed: AtomicU64,
    rejected: AtomicU64,
}

/// Exports spans over OTLP/gRPC, or OTLP/HTTP with protobuf or JSON bodies.
///
/// HTTP exports run on the calling thread (the batch processor's export
/// thread) with blocking sockets; gRPC exports hand the request to the
/// exporter's own runtime thread and wait for it. No async runtime of the
/// application's, whatever its flavour, is ever entered. Transient failures
/// (connection errors, HTTP 429, 502, 503, 504, the retryable gRPC codes)
/// are retried with exponential backoff and jitter, honouring
/// `Retry-After` and `RetryInfo`, until the export's timeout; other
/// statuses fail at once. A batch whose request would exceed the size
/// limit is split in halves until each part fits.
#[derive(Debug)]
pub struct OtlpExporter {
    config: OtlpConfig,
    transport: Transport,
    counters: Counters,
    shut_down: AtomicBool,
    initial_backoff: Duration,
}

#[derive(Debug)]
enum Transport {
    Http(HttpPool),
    Grpc(GrpcClient),
}

/// Exports in flight at once that the exporter asks the batch processor
/// for: while one request waits for its answer the next is encoded and
/// sent, so throughput is not bound by the round trip.
const CONCURRENT_EXPORTS: usize = 4;

/// HTTP/1.1 connections: one per export in flight, kept alive between
/// exports.
#[derive(Debug)]
struct HttpPool {
    /// Settings for new connections; never connected itself.
    template: Client,
    idle: Mutex<Vec<Client>>,
}

impl HttpPool {
    fn take(&self) -> Client {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_else(|| self.template.unconnected())
    }

    fn give_back(&self, client: Client) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < clew_sdk::processor::MAX_CONCURRENT_EXPORTS {
            idle.push(client);
        }
    }
}

/// How one attempt ended.
enum Attempt {
    Done(Option<PartialSuccess>),
    Retry {
        why: String,
        floor: Option<Duration>,
    },
    Fail(String),
}

impl OtlpExporter {
    /// Builds an exporter for `config`: for `https` endpoints this loads
    /// the CA and client certificates, and fails if they cannot be used;
    /// for gRPC it starts the exporter's own gRPC thread.
    pub fn new(config: OtlpConfig) -> Result<OtlpExporter, BuildError> {
        let transport = OtlpExporter::transport(&config)
            .map_err(|e| BuildError(format!("{}: {e}", config.endpoint)))?;
        Ok(OtlpExporter {
            config,
            transport,
            counters: Counters::default(),
            shut_down: AtomicBool::new(false),
            initial_backoff: Duration::from_millis(100),
        })
    }

    fn transport(config: &OtlpConfig) -> Result<Transport, String> {
        let content_type = match config.protocol {
            Protocol::Grpc => return GrpcClient::start(config).map(Transport::Grpc),
            Protocol::HttpJson => "application/json",
            Protocol::HttpProtobuf => "application/x-protobuf",
        };
        let tls = if config.endpoint.tls {
            Some(crate::tls::client_config(config)?)
        } else {
            None
        };
        Ok(Transport::Http(HttpPool {
            template: Client::new(
                config.endpoint.clone(),
                content_type,
                config.compression == Compression::Gzip,
                &config.headers,
                config.max_response_size,
                tls,
            ),
            idle: Mutex::new(Vec::new()),
        }))
    }

    /// Builds an exporter from the `OTEL_EXPORTER_OTLP_*` variables.
    pub fn from_env() -> Result<OtlpExporter, BuildError> {
        OtlpExporter::new(OtlpConfig::from_env())
    }

    /// Sets the first retry delay (default 100 ms); it doubles up to 5 s.
    pub fn with_initial_backoff(mut self, delay: Duration) -> OtlpExporter {
        self.initial_backoff = delay;
        self
    }

    /// The configuration in use.
    pub fn config(&self) -> &OtlpConfig {
        &self.config
    }

    /// Counters since the exporter was built.
    pub fn stats(&self) -> ExporterStats {
        let c = &self.counters;
        ExporterStats {
            requests: c.requests.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            spans_exported: c.exported.load(Ordering::Relaxed),
            spans_failed: c.failed.load(Ordering::Relaxed),
            spans_rejected: c.rejected.load(Ordering::Relaxed),
        }
    }

    fn encode(&self, resource: &Resource, spans: &[SpanData]) -> Vec<u8> {
        match self.config.protocol {
            Protocol::HttpJson => {
                let mut out = String::new();
                crate::json::encode_request(resource, spans, &mut out);
                out.into_bytes()
            }
            _ => {
                let mut out = Vec::new();
                crate::protobuf::encode_request(resource, spans, &mut out);
                out
            }
        }
    }

    /// Exports `spans`, split as needed to respect the request size limit.
    fn export_parts(
        &self,
        resource: &Resource,
        spans: &[SpanData],
        deadline: Instant,
    ) -> Result<(), ExportError> {
        if spans.is_empty() {
            return Ok(());
        }
        // Encoded once; only a request over the limit (rare) is encoded
        // again, in halves.
        let body = self.encode(resource, spans);
        let len = body.len();
        if len > self.config.max_request_size {
            if spans.len() == 1 {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                return Err(ExportError::failed(format!(
                    "span {:?} encodes to {len} bytes, over the {}-byte request limit; dropped",
                    spans[0].name, self.config.max_request_size
                )));
            }
            drop(body);
            let (a, b) = spans.split_at(spans.len() / 2);
            let first = self.export_parts(resource, a, deadline);
            let second = self.export_parts(resource, b, deadline);
            return first.and(second);
        }
        // gRPC compresses in its own framing.
        let body = match (self.config.compression, &self.transport) {
            (Compression::Gzip, Transport::Http(_)) => crate::http::gzip(&body),
            _ => body,
        };
        match self.send(Bytes::from(body), deadline) {
            Ok(partial) => {
                let rejected = partial
                    .as_ref()
                    .map_or(0, |p| p.rejected_spans.max(0) as u64);
                let rejected = rejected.min(spans.len() as u64);
                self.counters
                    .exported
                    .fetch_add(spans.len() as u64 - rejected, Ordering::Relaxed);
                self.counters
                    .rejected
                    .fetch_add(rejected, Ordering::Relaxed);
                self.counters.failed.fetch_add(rejected, Ordering::Relaxed);
                if let Some(p) = partial {
                    diagnostics::report(Diagnostic::Other(format!(
                        "OTLP partial success from {}: {} of {} spans rejected: {}",
                        self.config.endpoint,
                        p.rejected_spans,
                        spans.len(),
                        p.error_message
                    )));
                }
                Ok(())
            }
            Err(e) => {
                self.counters
                    .failed
                    .fetch_add(spans.len() as u64, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    /// Sends one body, retrying transient failures until `deadline`.
    /// The body is shared, not copied, between attempts.
    fn send(&self, body: Bytes, deadline: Instant) -> Result<Option<PartialSuccess>, ExportError> {
        let mut backoff = Backoff::new(self.initial_backoff, Duration::from_secs(5));
        let mut attempt = 0u32;
        loop {
            if attempt > 0 {
                self.counters.retries.fetch_add(1, Ordering::Relaxed);
            }
            attempt += 1;
            self.counters.requests.fetch_add(1, Ordering::Relaxed);
            let (why, floor) = match self.attempt(&body, deadline) {
                Attempt::Done(partial) => return Ok(partial),
                Attempt::Fail(why) => {
                    return Err(ExportError::failed(format!("{why} (not retryable)")));
                }
                Attempt::Retry { why, floor } => (why, floor),
            };
            let delay = backoff.delay(floor);
            let now = Instant::now();
            if self.shut_down.load(Ordering::Acquire) || now + delay >= deadline {
                return Err(ExportError::failed(format!(
                    "gave up after {attempt} attempts within the export timeout; last: {why}"
                )));
            }
            thread::sleep(delay);
        }
    }

    /// One request over the transport, classified by the specification's
    /// retry rules.
    fn attempt(&self, body: &Bytes, deadline: Instant) -> Attempt {
        let endpoint = &self.config.endpoint;
        match &self.transport {
            Transport::Grpc(client) => match client.post(body.clone(), deadline) {
                Ok(response) => Attempt::Done(
                    response::partial_success_protobuf(&response).unwrap_or_else(|()| {
                        self.not_a_response("OK");
                        None
                    }),
                ),
                Err(GrpcFailure::Retryable { why, delay }) => Attempt::Retry {
                    why: format!("{endpoint}: {why}"),
                    floor: delay,
                },
                Err(GrpcFailure::Fatal(why)) => Attempt::Fail(format!("{endpoint}: {why}")),
            },
            Transport::Http(pool) => {
                let mut client = pool.take();
                let sent = client.post(body, deadline);
                pool.give_back(client);
                match sent {
                    Ok(response) if (200..300).contains(&response.status) => {
                        Attempt::Done(self.partial_success(&response))
                    }
                    Ok(response) if matches!(response.status, 429 | 502 | 503 | 504) => {
                        Attempt::Retry {
                            floor: response
                                .retry_after
                                .as_deref()
                                .and_then(|v| parse_retry_after(v, SystemTime::now())),
                            why: self.describe(&response),
                        }
                    }
                    Ok(response) => Attempt::Fail(self.describe(&response)),
                    Err(SendError::Protocol(message)) => {
                        Attempt::Fail(format!("{endpoint}: {message}"))
                    }
                    Err(SendError::Io(e)) => Attempt::Retry {
                        why: format!("{endpoint}: {e}"),
                        floor: None,
                    },
                }
            }
        }
    }

    fn not_a_response(&self, status: &str) {
        diagnostics::report(Diagnostic::Other(format!(
            "OTLP receiver {} answered {status} with a body that is not an ExportTraceServiceResponse; counted as success",
            self.config.endpoint
        )));
    }

    fn partial_success(&self, response: &Response) -> Option<PartialSuccess> {
        let parsed = match self.config.protocol {
            Protocol::HttpJson => response::partial_success_json(&response.body),
            _ => response::partial_success_protobuf(&response.body),
        };
        parsed.unwrap_or_else(|()| {
            self.not_a_response(&response.status.to_string());
            None
        })
    }

    fn describe(&self, response: &Response) -> String {
        let message = match self.config.protocol {
            Protocol::HttpJson => response::status_message_json(&response.body),
            _ => response::status_message_protobuf(&response.body),
        }
        .or_else(|| {
            let text = String::from_utf8_lossy(&response.body);
            let text = text.trim();
            (!text.is_empty() && text.len() <= 200).then(|| text.to_owned())
        });
        match message {
            Some(m) => format!(
                "{} answered HTTP {}: {m}",
                self.config.endpoint, response.status
            ),
            None => format!("{} answered HTTP {}", self.config.endpoint, response.status),
        }
    }
}

impl SpanExporter for OtlpExporter {
    fn export(
        &self,
        batch: SpanBatch,
        resource: &Resource,
        timeout: Duration,
    ) -> Result<(), ExportError> {
        if self.shut_down.load(Ordering::Acquire) {
            return Err(ExportError::Shutdown);
        }
        let timeout = timeout.min(self.config.timeout);
        let deadline = clew_sdk::export::deadline_after(timeout);
        self.export_parts(resource, &batch, deadline)
    }

    fn shutdown(&self, _timeout: Duration) -> Result<(), ExportError> {
        self.shut_down.store(true, Ordering::Release);
        Ok(())
    }

    fn max_concurrent_exports(&self) -> usize {
        CONCURRENT_EXPORTS
    }
}
