//! Test support for clew (not published): an in-process OTLP/HTTP receiver
//! on a loopback port. It decodes every request with the published
//! `opentelemetry-proto` types (an implementation independent of clew's
//! encoders), records it, and can inject faults: fail the first N requests
//! with a chosen status and `Retry-After`, answer slowly, report a partial
//! success, require a header, or close connections after each response.
//!
//! ```
//! use clew_test_support::{Faults, Receiver};
//! let receiver = Receiver::start(Faults::default());
//! assert!(receiver.traces_url().starts_with("http://127.0.0.1:"));
//! assert_eq!(receiver.span_count(), 0);
//! ```
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

mod grpc;
mod pki;

pub use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
pub use opentelemetry_proto::tonic::trace::v1::Span;
pub use pki::TestPki;

/// Faults to inject. The default answers every request with success.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Fail this many requests (counted from when the faults are set).
    pub fail_first: usize,
    /// After those, fail every n-th request too (2: every other one).
    pub fail_every: usize,
    /// The status of those failures (default 503).
    pub fail_status: u16,
    /// A `Retry-After` value sent with the failures.
    pub retry_after: Option<String>,
    /// Wait this long before answering each request.
    pub delay: Duration,
    /// Answer success with this partial success (rejected spans, message).
    pub partial_success: Option<(i64, String)>,
    /// Answer 401 unless this header is present with this value.
    pub require_header: Option<(String, String)>,
    /// Send `Connection: close` and close after each response.
    pub close_connections: bool,
    /// gRPC receivers: the status code of injected failures (default
    /// 14, `UNAVAILABLE`).
    pub grpc_code: i32,
    /// gRPC receivers: a `google.rpc.RetryInfo` delay sent with failures.
    pub retry_info: Option<Duration>,
    /// Count accepted spans without keeping the requests (for benchmarks:
    /// memory stays flat); `requests()` and `spans()` are then empty. A
    /// gRPC receiver started with it does not even decode the spans (it
    /// walks the message's nesting to count them) and ignores the other
    /// faults.
    pub count_only: bool,
}

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The request path.
    pub path: String,
    /// Every header, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body as received (compressed if it was).
    pub raw_body: Vec<u8>,
    /// The decoded request; `None` when the request was answered with an
    /// injected failure before decoding, or could not be decoded.
    pub request: Option<ExportTraceServiceRequest>,
    /// The status answered: the HTTP status, or for gRPC 200 for `OK` and
    /// 500 for any error status.
    pub status: u16,
}

impl Recorded {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The string attribute `key` of the first resource in the request.
    pub fn resource_attribute(&self, key: &str) -> Option<&str> {
        use opentelemetry_proto::tonic::common::v1::any_value::Value;
        let resource = self
            .request
            .as_ref()?
            .resource_spans
            .first()?
            .resource
            .as_ref()?;
        let kv = resource.attributes.iter().find(|kv| kv.key == key)?;
        match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s),
            _ => None,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) faults: Faults,
    pub(crate) failed: usize,
    /// Requests seen after the first `fail_first`.
    seen_after_first: usize,
    pub(crate) recorded: Vec<Recorded>,
    connections: usize,
    /// Spans in requests answered with success.
    accepted: usize,
    /// Requests being handled now, and the most at any one time.
    in_flight: usize,
    max_in_flight: usize,
}

/// Counts a request as in flight while it lives.
pub(crate) struct InFlight<'a>(&'a Shared);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.lock().in_flight -= 1;
    }
}

#[derive(Debug, Default)]
pub(crate) struct Shared {
    state: Mutex<State>,
    pub(crate) changed: Condvar,
    stop: AtomicBool,
}

/// An OTLP receiver on `127.0.0.1` (HTTP, HTTPS or gRPC), stopped on drop.
#[derive(Debug)]
pub struct Receiver {
    addr: SocketAddr,
    tls: bool,
    shared: Arc<Shared>,
    accept: Option<thread::JoinHandle<()>>,
    grpc_stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Receiver {
    /// Starts a receiver with `faults` on a free port.
    pub fn start(faults: Faults) -> Receiver {
        Receiver::serve(loopback(), faults, None)
    }

    /// Starts a receiver on a chosen address (to bring a "collector" back
    /// on the port an exporter is already configured with).
    pub fn start_on(addr: SocketAddr, faults: Faults) -> std::io::Result<Receiver> {
        Ok(Receiver::serve(TcpListener::bind(addr)?, faults, None))
    }

    /// Starts an HTTPS receiver with `pki`'s server certificate; with
    /// `require_client_cert`, a client must present a certificate signed by
    /// `pki`'s CA (mTLS).
    pub fn start_tls(faults: Faults, pki: &TestPki, require_client_cert: bool) -> Receiver {
        Receiver::serve(
            loopback(),
            faults,
            Some(pki.server_config(require_client_cert)),
        )
    }

    fn serve(
        listener: TcpListener,
        faults: Faults,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Receiver {
        let is_tls = tls.is_some();
        let addr = listener.local_addr().expect("local address");
        let shared = Shared::with(faults);
        let accept_shared = Arc::clone(&shared);
        let accept = thread::spawn(move || {
            for stream in listener.incoming() {
                if accept_shared.stop.load(Ordering::Acquire) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                accept_shared.lock().connections += 1;
                let shared = Arc::clone(&accept_shared);
                let tls = tls.clone();
                thread::spawn(move || match tls {
                    None => connection(stream, &shared),
                    Some(config) => {
                        let Ok(session) = rustls::ServerConnection::new(config) else {
                            return;
                        };
                        connection(rustls::StreamOwned::new(session, stream), &shared);
                    }
                });
            }
        });
        Receiver {
            addr,
            tls: is_tls,
            shared,
            accept: Some(accept),
            grpc_stop: None,
        }
    }

    /// Starts an OTLP/gRPC receiver (plain text) with `faults`.
    pub fn start_grpc(faults: Faults) -> Receiver {
        Receiver::serve_grpc(loopback(), faults, None)
    }

    /// Starts an OTLP/gRPC receiver on a chosen address.
    pub fn start_grpc_on(addr: SocketAddr, faults: Faults) -> std::io::Result<Receiver> {
        Ok(Receiver::serve_grpc(TcpListener::bind(addr)?, faults, None))
    }

    /// Starts an OTLP/gRPC receiver over TLS with `pki`'s server
    /// certificate; with `require_client_cert`, clients must present a
    /// certificate signed by `pki`'s CA.
    pub fn start_grpc_tls(faults: Faults, pki: &TestPki, require_client_cert: bool) -> Receiver {
        Receiver::serve_grpc(
            loopback(),
            faults,
            Some(pki.grpc_server_config(require_client_cert)),
        )
    }

    fn serve_grpc(
        listener: TcpListener,
        faults: Faults,
        tls: Option<tonic::transport::ServerTlsConfig>,
    ) -> Receiver {
        let shared = Shared::with(faults);
        let is_tls = tls.is_some();
        let (addr, stop, thread) = grpc::serve(listener, Arc::clone(&shared), tls);
        Receiver {
            addr,
            tls: is_tls,
            shared,
            accept: Some(thread),
            grpc_stop: Some(stop),
        }
    }

    /// The receiver's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (`https` for a TLS receiver), for
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The per-signal endpoint: `base_url()` and `/v1/traces`.
    pub fn traces_url(&self) -> String {
        format!("{}/v1/traces", self.base_url())
    }

    /// Replaces the faults; the `fail_first` count starts again.
    pub fn set_faults(&self, faults: Faults) {
        let mut state = self.shared.lock();
        state.faults = faults;
        state.failed = 0;
        state.seen_after_first = 0;
    }

    /// Every request so far, failures included.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().recorded.clone()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.lock().connections
    }

    /// The most requests this receiver was handling at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.shared.lock().max_in_flight
    }

    /// Every span of every successfully answered request, in arrival order.
    pub fn spans(&self) -> Vec<Span> {
        accepted(&self.shared.lock()).cloned().collect()
    }

    /// How many spans were accepted.
    pub fn span_count(&self) -> usize {
        count(&self.shared.lock())
    }

    /// Waits until at least `n` spans were accepted; false on timeout.
    pub fn wait_for_spans(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        while count(&state) < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }
}

/// The spans of every request answered with success.
fn accepted(state: &State) -> impl Iterator<Item = &Span> {
    state
        .recorded
        .iter()
        .filter(|r| r.status == 200)
        .filter_map(|r| r.request.as_ref())
        .flat_map(|req| &req.resource_spans)
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
}

fn count(state: &State) -> usize {
    state.accepted
}

fn span_total(request: &ExportTraceServiceRequest) -> usize {
    request
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len())
        .sum()
}

/// A listener on a free loopback port.
fn loopback() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").expect("bind a loopback port")
}

impl Shared {
    fn with(faults: Faults) -> Arc<Shared> {
        let shared = Arc::new(Shared::default());
        shared.lock().faults = faults;
        shared
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether this request gets an injected failure (counting it).
    pub(crate) fn take_failure(&self, faults: &Faults) -> bool {
        let mut state = self.lock();
        if state.failed < faults.fail_first {
            state.failed += 1;
            return true;
        }
        state.seen_after_first += 1;
        faults.fail_every > 0 && state.seen_after_first % faults.fail_every == 0
    }

    /// Marks a request as being handled until the guard drops.
    pub(crate) fn in_flight(&self) -> InFlight<'_> {
        let mut state = self.lock();
        state.in_flight += 1;
        state.max_in_flight = state.max_in_flight.max(state.in_flight);
        InFlight(self)
    }

    /// Counts `n` accepted spans without recording a request.
    pub(crate) fn count(&self, n: usize) {
        self.lock().accepted += n;
        self.changed.notify_all();
    }

    /// Records a request and wakes the waiters.
    pub(crate) fn record(&self, recorded: Recorded) {
        {
            let mut state = self.lock();
            if recorded.status == 200 {
                state.accepted += recorded.request.as_ref().map_or(0, span_total);
            }
            if !state.faults.count_only {
                state.recorded.push(recorded);
            }
        }
        self.changed.notify_all();
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(stop) = self.grpc_stop.take() {
            let _ = stop.send(());
        } else {
            // Wake the accept loop.
            let _ = TcpStream::connect(self.addr);
        }
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

/// Reads one request head; `None` at end of stream or on garbage.
fn read_head<S: Read>(reader: &mut BufReader<S>) -> Option<(String, Vec<(String, String)>)> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let path = line.split(' ').nth(1)?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            return Some((path, headers));
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
}

fn connection<S: Read + Write>(stream: S, shared: &Shared) {
    let mut reader = BufReader::new(stream);
    while let Some((path, headers)) = read_head(&mut reader) {
        if shared.stop.load(Ordering::Acquire) {
            return;
        }
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let len = header("content-length")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut raw_body = vec![0; len];
        if reader.read_exact(&mut raw_body).is_err() {
            return;
        }
        let _in_flight = shared.in_flight();
        let faults = shared.lock().faults.clone();
        if !faults.delay.is_zero() {
            thread::sleep(faults.delay);
        }
        let json = header("content-type").is_some_and(|v| v.contains("json"));
        let content_type = if json {
            "application/json"
        } else {
            "application/x-protobuf"
        };
        let inject = shared.take_failure(&faults);
        let authorised = faults
            .require_header
            .as_ref()
            .is_none_or(|(n, v)| header(&n.to_ascii_lowercase()).as_deref() == Some(v.as_str()));
        let (status, request, body, extra) = if inject {
            let status = if faults.fail_status == 0 {
                503
            } else {
                faults.fail_status
            };
            let extra = faults
                .retry_after
                .as_ref()
                .map(|v| format!("Retry-After: {v}\r\n"))
                .unwrap_or_default();
            (status, None, b"injected failure".to_vec(), extra)
        } else if !authorised {
            (401, None, b"missing credentials".to_vec(), String::new())
        } else {
            match decode(&raw_body, header("content-encoding").as_deref(), json) {
                Ok(request) => (200, Some(request), response(json, &faults), String::new()),
                Err(e) => (400, None, e.into_bytes(), String::new()),
            }
        };
        let close = faults.close_connections;
        let head = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}{}\r\n",
            body.len(),
            if close { "Connection: close\r\n" } else { "" }
        );
        shared.record(Recorded {
            path,
            headers: headers.clone(),
            raw_body,
            request,
            status,
        });
        let writer = reader.get_mut();
        if writer.write_all(head.as_bytes()).is_err()
            || writer.write_all(&body).is_err()
            || writer.flush().is_err()
        {
            return;
        }
        if close {
            return;
        }
    }
}

fn decode(
    raw: &[u8],
    encoding: Option<&str>,
    json: bool,
) -> Result<ExportTraceServiceRequest, String> {
    let body = match encoding {
        Some(e) if e.eq_ignore_ascii_case("gzip") => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(raw)
                .read_to_end(&mut out)
                .map_err(|e| format!("bad gzip: {e}"))?;
            out
        }
        Some(other) => return Err(format!("unsupported Content-Encoding {other}")),
        None => raw.to_vec(),
    };
    if json {
        serde_json::from_slice(&body).map_err(|e| format!("bad OTLP/JSON: {e}"))
    } else {
        <ExportTraceServiceRequest as prost::Message>::decode(body.as_slice())
            .map_err(|e| format!("bad OTLP protobuf: {e}"))
    }
}

fn response(json: bool, faults: &Faults) -> Vec<u8> {
    use opentelemetry_proto::tonic::collector::trace::v1::{
        ExportTracePartialSuccess, ExportTraceServiceResponse,
    };
    match (&faults.partial_success, json) {
        (None, true) => b"{}".to_vec(),
        (Some((rejected, message)), true) => format!(
            "{{\"partialSuccess\":{{\"rejectedSpans\":\"{rejected}\",\"errorMessage\":{}}}}}",
            serde_json::Value::String(message.clone())
        )
        .into_bytes(),
        (partial, false) => prost::Message::encode_to_vec(&ExportTraceServiceResponse {
            partial_success: partial.as_ref().map(|(rejected, message)| {
                ExportTracePartialSuccess {
                    rejected_spans: *rejected,
                    error_message: message.clone(),
                }
            }),
        }),
    }
}
