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
        let raw_body = prost::Message::encode_to_vec(&message);
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
    let thread = thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("the receiver's runtime");
        let _entered = runtime.enter();
        let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        let service = TraceServiceServer::new(Service { shared })
            .accept_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Gzip);
        runtime.spawn(tonic::transport::Server::builder().serve_with_incoming(service, incoming));
        let _ = runtime.block_on(stopped);
        // Not a graceful shutdown: clients keep their connections open, and
        // a stopped receiver must look like a dead collector at once.
        drop(_entered);
        runtime.shutdown_background();
    });
    (addr, stop, thread)
}
