//! OTLP/gRPC through tonic, on a runtime of the exporter's own.
//!
//! tonic needs a tokio runtime. The application's is never used: the
//! exporter starts one thread with a current-thread runtime, and each export
//! hands its request to that thread and waits for the answer on a std
//! channel. The thread runs each request as a task of its own, so that
//! concurrent exports share one HTTP/2 connection as concurrent streams. So exporting works the same from a plain thread, from inside
//! any tokio runtime (even a current-thread one), or with no runtime at all,
//! and a blocked application runtime cannot stall it (the anchor's
//! deadlocks #2071, #2583 and #2715 come from sharing the runtime).
//!
//! Requests carry the bytes of [`crate::protobuf`] through a pass-through
//! codec: no generated message types, no second encoding.

use std::sync::mpsc;
use std::thread;

use std::time::{Duration, Instant};
use tokio::sync::mpsc as async_mpsc;

use bytes::{Buf, BufMut, Bytes};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue, MetadataMap};
use tonic::transport::{
    Certificate, Channel, ClientTlsConfig, Endpoint as TonicEndpoint, Identity,
};
use tonic::{Code, Status};

use crate::config::{Compression, OtlpConfig};
use crate::tls::tls_failure;

const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// Sends and receives already-encoded protobuf messages.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }
    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let mut out = vec![0; src.remaining()];
        src.copy_to_slice(&mut out);
        Ok(Some(out))
    }
}

/// How one gRPC attempt ended, when it did not succeed.
#[derive(Debug)]
pub(crate) enum GrpcFailure {
    /// Worth another attempt, after at least `delay` when the server said.
    Retryable {
        why: String,
        delay: Option<Duration>,
    },
    /// Not worth another attempt.
    Fatal(String),
}

struct Job {
    body: Bytes,
    deadline: Instant,
    reply: mpsc::SyncSender<Result<Vec<u8>, GrpcFailure>>,
}

/// A handle on the exporter's gRPC thread.
#[derive(Debug)]
pub(crate) struct GrpcClient {
    jobs: Option<async_mpsc::UnboundedSender<Job>>,
    thread: Option<thread::JoinHandle<()>>,
}

fn read(path: &std::path::Path, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{what} {}: {e}", path.display()))
}

/// The tonic endpoint for `config`, TLS included.
fn endpoint(config: &OtlpConfig) -> Result<TonicEndpoint, String> {
    let e = &config.endpoint;
    let scheme = if e.tls { "https" } else { "http" };
    let uri = format!("{scheme}://{}", e.authority());
    let mut endpoint = TonicEndpoint::from_shared(uri.clone())
        .map_err(|err| format!("{uri}: {err}"))?
        .user_agent(crate::USER_AGENT)
        .map_err(|err| format!("User-Agent: {err}"))?
        .tcp_nodelay(true);
    if e.tls {
        // The same checks as OTLP/HTTP (readable PEM, a usable CA, both
        // halves of an mTLS identity), with the same messages; tonic then
        // gets the files themselves.
        crate::tls::client_config(config)?;
        let mut tls = ClientTlsConfig::new().domain_name(e.host.clone());
        tls = match &config.certificate {
            Some(path) => tls.ca_certificate(Certificate::from_pem(read(
                path,
                "CA certificate (OTEL_EXPORTER_OTLP_CERTIFICATE)",
            )?)),
            None => tls.with_native_roots(),
        };
        if let (Some(cert), Some(key)) = (&config.client_certificate, &config.client_key) {
            tls = tls.identity(Identity::from_pem(
                read(
                    cert,
                    "client certificate (OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE)",
                )?,
                read(key, "client key (OTEL_EXPORTER_OTLP_CLIENT_KEY)")?,
            ));
        }
        endpoint = endpoint
            .tls_config(tls)
            .map_err(|err| format!("TLS: {err}"))?;
    }
    Ok(endpoint)
}

fn metadata(headers: &[(String, String)]) -> Result<MetadataMap, String> {
    let mut map = MetadataMap::new();
    for (name, value) in headers {
        let key = AsciiMetadataKey::from_bytes(name.to_ascii_lowercase().as_bytes())
            .map_err(|_| format!("{name:?} is not a valid gRPC metadata key"))?;
        let value = AsciiMetadataValue::try_from(value.as_str())
            .map_err(|_| format!("the value of {name:?} is not valid gRPC metadata"))?;
        map.append(key, value);
    }
    Ok(map)
}

impl GrpcClient {
    /// Validates `config` and starts the exporter's gRPC thread.
    pub(crate) fn start(config: &OtlpConfig) -> Result<GrpcClient, String> {
        let endpoint = endpoint(config)?;
        let metadata = metadata(&config.headers)?;
        let gzip = config.compression == Compression::Gzip;
        let (max_request, max_response) = (config.max_request_size, config.max_response_size);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the gRPC runtime: {e}"))?;
        let (jobs, mut queue) = async_mpsc::unbounded_channel::<Job>();
        let thread = thread::Builder::new()
            .name("clew-otlp-grpc".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let channel = endpoint.connect_lazy();
                    let mut grpc = tonic::client::Grpc::new(channel)
                        .max_encoding_message_size(max_request)
                        .max_decoding_message_size(max_response);
                    if gzip {
                        grpc = grpc
                            .send_compressed(tonic::codec::CompressionEncoding::Gzip)
                            .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
                    }
                    let metadata = std::sync::Arc::new(metadata);
                    let mut running = tokio::task::JoinSet::new();
                    while let Some(job) = queue.recv().await {
                        while running.try_join_next().is_some() {}
                        let mut grpc = grpc.clone();
                        let metadata = std::sync::Arc::clone(&metadata);
                        running.spawn(async move {
                            let result = export(&mut grpc, &metadata, job.body, job.deadline).await;
                            let _ = job.reply.send(result);
                        });
                    }
                    // The exporter is gone: let the calls in flight finish
                    // (each is bounded by its deadline).
                    while running.join_next().await.is_some() {}
                });
            })
            .map_err(|e| format!("cannot start the gRPC thread: {e}"))?;
        Ok(GrpcClient {
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    /// One attempt, bounded by `deadline`.
    pub(crate) fn post(&self, body: Bytes, deadline: Instant) -> Result<Vec<u8>, GrpcFailure> {
        let (reply, answer) = mpsc::sync_channel(1);
        let sent = self.jobs.as_ref().is_some_and(|jobs| {
            jobs.send(Job {
                body,
                deadline,
                reply,
            })
            .is_ok()
        });
        if !sent {
            return Err(GrpcFailure::Fatal("the gRPC thread has stopped".into()));
        }
        // The thread bounds the call by the deadline; the margin covers a
        // thread that is slow to be scheduled.
        let wait = deadline.saturating_duration_since(Instant::now()) + Duration::from_millis(200);
        match answer.recv_timeout(wait) {
            Ok(result) => result,
            Err(_) => Err(GrpcFailure::Retryable {
                why: "no answer from the gRPC thread within the export timeout".into(),
                delay: None,
            }),
        }
    }
}

impl Drop for GrpcClient {
    fn drop(&mut self) {
        // Closing the queue ends the thread's loop once its call finishes
        // (every call is bounded by its deadline).
        self.jobs.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn export(
    grpc: &mut tonic::client::Grpc<Channel>,
    metadata: &MetadataMap,
    body: Bytes,
    deadline: Instant,
) -> Result<Vec<u8>, GrpcFailure> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(GrpcFailure::Retryable {
            why: "export timeout reached".into(),
            delay: None,
        });
    }
    let call = async {
        grpc.ready().await.map_err(|e| match tls_failure(&e) {
            Some(tls) => GrpcFailure::Fatal(tls),
            None => GrpcFailure::Retryable {
                why: format!("connection: {e}"),
                delay: None,
            },
        })?;
        let mut request = tonic::Request::new(body);
        *request.metadata_mut() = metadata.clone();
        request.set_timeout(left);
        let path = http::uri::PathAndQuery::from_static(EXPORT_PATH);
        grpc.unary(request, path, RawCodec)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|status| classify(&status))
    };
    match tokio::time::timeout(left, call).await {
        Ok(result) => result,
        Err(_) => Err(GrpcFailure::Retryable {
            why: "export timeout reached".into(),
            delay: None,
        }),
    }
}

/// The specification's retry rules for gRPC status codes.
pub(crate) fn classify(status: &Status) -> GrpcFailure {
    if let Some(tls) = tls_failure(status) {
        return GrpcFailure::Fatal(tls);
    }
    if status.code() == Code::OutOfRange
        && status
            .message()
            .starts_with("Error, decoded message length too large")
    {
        // tonic's own decoder refusing a response over the size limit
        // (`max_response_size`): a retryable code, but the limit is ours,
        // not the server's answer, and another attempt gets the same reply.
        return GrpcFailure::Fatal(format!(
            "response over the size limit: {}",
            status.message()
        ));
    }
    let delay = retry_delay(status.details());
    let why = format!("gRPC {:?}: {}", status.code(), status.message());
    match status.code() {
        Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::Unavailable
        | Code::DataLoss => GrpcFailure::Retryable { why, delay },
        // Throttling: retryable only when the server says when.
        Code::ResourceExhausted if delay.is_some() => GrpcFailure::Retryable { why, delay },
        _ => GrpcFailure::Fatal(why),
    }
}

/// The `google.rpc.RetryInfo.retry_delay` in a `google.rpc.Status`'s
/// details, if there is one and it is positive.
fn retry_delay(details: &[u8]) -> Option<Duration> {
    use crate::response::{fields, Field};
    for (n, f) in fields(details)? {
        let (3, Field::Bytes(any)) = (n, f) else {
            continue;
        };
        let any = fields(any)?;
        let is_retry_info = any.iter().any(|(n, f)| {
            matches!((n, f), (1, Field::Bytes(url)) if url.ends_with(b"google.rpc.RetryInfo"))
        });
        if !is_retry_info {
            continue;
        }
        let value = any.iter().find_map(|(n, f)| match (n, f) {
            (2, Field::Bytes(v)) => Some(*v),
            _ => None,
        })?;
        for (n, f) in fields(value)? {
            if let (1, Field::Bytes(duration)) = (n, f) {
                let (mut secs, mut nanos) = (0u64, 0u32);
                for (n, f) in fields(duration)? {
                    match (n, f) {
                        (1, Field::Varint(v)) => secs = v,
                        (2, Field::Varint(v)) => nanos = u32::try_from(v).unwrap_or(0),
                        _ => {}
                    }
                }
                let d = Duration::new(secs.min(3600), nanos.min(999_999_999));
                return (!d.is_zero()).then_some(d);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// google.rpc.Status { code: 8, details: [Any { RetryInfo { 1.5 s } }] }
    fn status_with_retry_info() -> Vec<u8> {
        let url = b"type.googleapis.com/google.rpc.RetryInfo";
        let duration = [0x08, 0x01, 0x10, 0x80, 0xca, 0xb5, 0xee, 0x01]; // 1 s, 500,000,000 ns
        let mut retry_info = vec![0x0a, duration.len() as u8];
        retry_info.extend_from_slice(&duration);
        let mut any = vec![0x0a, url.len() as u8];
        any.extend_from_slice(url);
        any.extend_from_slice(&[0x12, retry_info.len() as u8]);
        any.extend_from_slice(&retry_info);
        let mut status = vec![0x08, 0x08, 0x1a, any.len() as u8];
        status.extend_from_slice(&any);
        status
    }

    #[test]
    fn retry_rules() {
        let details = status_with_retry_info();
        assert_eq!(retry_delay(&details), Some(Duration::from_millis(1500)));
        let throttled = Status::with_details(Code::ResourceExhausted, "slow down", details.into());
        assert!(matches!(
            classify(&throttled),
            GrpcFailure::Retryable { delay: Some(d), .. } if d == Duration::from_millis(1500)
        ));
        assert!(matches!(
            classify(&Status::resource_exhausted("full")),
            GrpcFailure::Fatal(_)
        ));
        for code in [
            Code::Unavailable,
            Code::Cancelled,
            Code::DeadlineExceeded,
            Code::Aborted,
            Code::OutOfRange,
            Code::DataLoss,
        ] {
            assert!(
                matches!(
                    classify(&Status::new(code, "x")),
                    GrpcFailure::Retryable { delay: None, .. }
                ),
                "{code:?}"
            );
        }
        for code in [
            Code::Unknown,
            Code::InvalidArgument,
            Code::NotFound,
            Code::AlreadyExists,
            Code::PermissionDenied,
            Code::Unauthenticated,
            Code::FailedPrecondition,
            Code::Unimplemented,
            Code::Internal,
        ] {
            assert!(
                matches!(classify(&Status::new(code, "x")), GrpcFailure::Fatal(_)),
                "{code:?}"
            );
        }
        assert_eq!(retry_delay(&[0xff]), None);
    }
}
