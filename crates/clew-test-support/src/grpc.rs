//! The OTLP/gRPC side of the receiver: tonic with the generated
//! `TraceService` of `opentelemetry-proto`, on a runtime of its own.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::codec::CompressionEncoding;
use tonic::{Code, Request, Response, Status};

use crate::{Recorded, Shared};

const PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

struct Service {
    shared: Arc<Shared>,
}

/// `google.rpc.Status` bytes carrying a `google.rpc.RetryInfo`.
fn retry_info_details(code: i32, delay: Duration) -> Vec<u8> {
    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    fn field(out: &mut Vec<u8>, number: u64, bytes: &[u8]) {
        varint(out, (number << 3) | 2);
        varint(out, bytes.len() as u64);
        out.extend_from_slice(bytes);
    }
    let mut duration = Vec::new();
    varint(&mut duration, 1 << 3);
    varint(&mut duration, delay.as_secs());
    varint(&mut duration, 2 << 3);
    varint(&mut duration, u64::from(delay.subsec_nanos()));
    let mut retry_info = Vec::new();
    field(&mut retry_info, 1, &duration);
    let mut any = Vec::new();
    field(&mut any, 1, b"type.googleapis.com/google.rpc.RetryInfo");
    field(&mut any, 2, &retry_info);
    let mut status = Vec::new();
    varint(&mut status, 1 << 3);
    varint(&mut status, code as u64);
    field(&mut status, 3, &any);
    status
}

#[tonic::async_trait]
impl TraceService for Service {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let _in_flight = self.shared.in_flight();
        let faults = self.shared.lock().faults.clone();
        if !faults.delay.is_zero() {
            tokio::time::sleep(faults.delay).await;
        }
        let headers: Vec<(String, String)> = request
            .metadata()
            .clone()
            .into_headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let message = request.into_inner();
        let raw_body = if faults.count_only {
            Vec::new()
        } else {
            prost::Message::encode_to_vec(&message)
        };
        let authorised = faults
            .require_header
            .as_ref()
            .is_none_or(|(n, v)| header(n).as_deref() == Some(v.as_str()));
        let result = if self.shared.take_failure(&faults) {
            let code = if faults.grpc_code == 0 {
                14
            } else {
                faults.grpc_code
            };
            Err(match faults.retry_info {
                Some(delay) => Status::with_details(
                    Code::from_i32(code),
                    "injected failure",
                    retry_info_details(code, delay).into(),
                ),
                None => Status::new(Code::from_i32(code), "injected failure"),
            })
        } else if !authorised {
            Err(Status::unauthenticated("missing credentials"))
        } else {
            Ok(Response::new(ExportTraceServiceResponse {
                partial_success: faults.partial_success.as_ref().map(|(rejected, message)| {
                    ExportTracePartialSuccess {
                        rejected_spans: *rejected,
                        error_message: message.clone(),
                    }
                }),
            }))
        };
        self.shared.record(Recorded {
            path: PATH.into(),
            headers,
            raw_body,
            request: result.is_ok().then_some(message),
            status: if result.is_ok() { 200 } else { 500 },
        });
        result
    }
}

/// Serves on `listener` until the returned sender fires.
pub(crate) fn serve(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    tls: Option<tonic::transport::ServerTlsConfig>,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    thread::JoinHandle<()>,
) {
    let addr = listener.local_addr().expect("local address");
    listener
        .set_nonblocking(true)
        .expect("non-blocking listener");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = thread::Builder::new()
        .name("otlp-receiver".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("the receiver's runtime");
            let _entered = runtime.enter();
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            // TCP_NODELAY, as every production gRPC server sets it (grpc-go
            // always does): with Nagle's algorithm the response's frames
            // wait for the client's delayed acknowledgement.
            let incoming =
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
            let count_only = shared.lock().faults.count_only;
            let decoding = TraceServiceServer::new(Service {
                shared: Arc::clone(&shared),
            })
            .accept_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Gzip);
            // Flow-control windows like a production collector's (grpc-go sizes
            // them from the bandwidth-delay product): a 512-span request does
            // not wait for window updates from a receiver starved of CPU.
            let mut server = tonic::transport::Server::builder()
                .initial_stream_window_size(4 << 20)
                .initial_connection_window_size(8 << 20);
            if let Some(tls) = tls {
                server = server
                    .tls_config(tls)
                    .expect("the receiver's TLS configuration");
            }
            if count_only {
                runtime.spawn(server.serve_with_incoming(CountingServer(shared), incoming));
            } else {
                runtime.spawn(server.serve_with_incoming(decoding, incoming));
            }
            let _ = runtime.block_on(stopped);
            // Not a graceful shutdown: clients keep their connections open, and
            // a stopped receiver must look like a dead collector at once.
            drop(_entered);
            runtime.shutdown_background();
        })
        .expect("start the receiver's thread");
    (addr, stop, thread)
}

/// Passes message bytes through undecoded (the counting receiver).
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
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

impl tonic::codec::Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), Status> {
        bytes::BufMut::put_slice(dst, &item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, src: &mut tonic::codec::DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let mut out = vec![0; bytes::Buf::remaining(src)];
        bytes::Buf::copy_to_slice(src, &mut out);
        Ok(Some(out))
    }
}

/// The length-delimited fields numbered `field` of a protobuf message;
/// `None` if it is malformed.
fn nested(mut buf: &[u8], field: u64) -> Option<Vec<&[u8]>> {
    fn varint(buf: &mut &[u8]) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = buf.split_first()?;
            *buf = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    let mut out = Vec::new();
    while !buf.is_empty() {
        let tag = varint(&mut buf)?;
        match tag & 7 {
            0 => {
                varint(&mut buf)?;
            }
            1 => buf = buf.get(8..)?,
            5 => buf = buf.get(4..)?,
            2 => {
                let len = usize::try_from(varint(&mut buf)?).ok()?;
                let bytes = buf.get(..len)?;
                buf = &buf[len..];
                if tag >> 3 == field {
                    out.push(bytes);
                }
            }
            _ => return None,
        }
    }
    Some(out)
}

/// Spans in an encoded `ExportTraceServiceRequest`, walking only the
/// nesting (resource spans, scope spans, spans), not decoding the spans.
fn count_spans(request: &[u8]) -> Option<usize> {
    let mut n = 0;
    for resource_spans in nested(request, 1)? {
        for scope_spans in nested(resource_spans, 2)? {
            n += nested(scope_spans, 2)?.len();
        }
    }
    Some(n)
}

#[derive(Clone)]
struct CountSvc(Arc<Shared>);

impl tonic::codegen::Service<Request<Vec<u8>>> for CountSvc {
    type Response = Response<Vec<u8>>;
    type Error = Status;
    type Future = tonic::codegen::BoxFuture<Response<Vec<u8>>, Status>;
    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Status>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn call(&mut self, request: Request<Vec<u8>>) -> Self::Future {
        let shared = Arc::clone(&self.0);
        Box::pin(async move {
            let n = count_spans(request.get_ref())
                .ok_or_else(|| Status::invalid_argument("not an ExportTraceServiceRequest"))?;
            // A collector further away: the answer comes `delay` later.
            let delay = shared.lock().faults.delay;
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            shared.count(n);
            // An empty ExportTraceServiceResponse: full success.
            Ok(Response::new(Vec::new()))
        })
    }
}

/// The counting receiver: accepts any `TraceService/Export`, counts its
/// spans without decoding them, answers success. For throughput
/// benchmarks, where a decoding receiver would be the bottleneck.
#[derive(Clone)]
pub(crate) struct CountingServer(pub(crate) Arc<Shared>);

impl tonic::server::NamedService for CountingServer {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
}

impl<B> tonic::codegen::Service<http::Request<B>> for CountingServer
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<tonic::codegen::StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = tonic::codegen::BoxFuture<Self::Response, Self::Error>;
    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let shared = Arc::clone(&self.0);
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(RawCodec)
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip);
            Ok(grpc.unary(CountSvc(shared), request).await)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_spans_without_decoding_them() {
        use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
        let request = ExportTraceServiceRequest {
            resource_spans: vec![
                ResourceSpans {
                    scope_spans: vec![
                        ScopeSpans {
                            spans: vec![Span::default(); 3],
                            ..Default::default()
                        },
                        ScopeSpans {
                            spans: vec![Span::default(); 2],
                            ..Default::default()
                        },
                    ],
                    ..Default::default()
                },
                ResourceSpans::default(),
            ],
        };
        let bytes = prost::Message::encode_to_vec(&request);
        assert_eq!(count_spans(&bytes), Some(5));
        assert_eq!(count_spans(&bytes[..bytes.len() - 1]), None);
        assert_eq!(count_spans(&[]), Some(0));
    }
}
