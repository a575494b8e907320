//! A small HTTP/1.1 client for OTLP/HTTP, on `std::net` alone: it runs on
//! the exporting thread and never touches the application's async runtime.
//! One keep-alive connection, reopened when the server closes it.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::Endpoint;
use crate::tls::tls_failure;

/// What came back.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) retry_after: Option<String>,
    pub(crate) body: Vec<u8>,
}

/// Why a request got no usable response.
#[derive(Debug)]
pub(crate) enum SendError {
    /// Connecting, writing or reading failed (retryable).
    Io(io::Error),
    /// The response was malformed or too large (not retryable).
    Protocol(String),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Io(e) => write!(f, "{e}"),
            SendError::Protocol(m) => f.write_str(m),
        }
    }
}

impl From<io::Error> for SendError {
    fn from(e: io::Error) -> SendError {
        SendError::Io(e)
    }
}

/// A connection, plain or TLS.
enum Conn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Conn::Plain(_) => "Conn::Plain",
            Conn::Tls(_) => "Conn::Tls",
        })
    }
}

impl Conn {
    fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            Conn::Tls(s) => &s.sock,
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

/// The most header bytes accepted in a response.
const MAX_HEAD: usize = 64 * 1024;

#[derive(Debug)]
pub(crate) struct Client {
    endpoint: Endpoint,
    /// The fixed part of every request's head, up to `Content-Length`.
    head: String,
    max_response: usize,
    tls: Option<Arc<rustls::ClientConfig>>,
    conn: Option<BufReader<Conn>>,
}

impl Client {
    pub(crate) fn new(
        endpoint: Endpoint,
        content_type: &str,
        gzip: bool,
        headers: &[(String, String)],
        max_response: usize,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Client {
        let mut head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {}\r\nContent-Type: {content_type}\r\nAccept: {content_type}\r\n",
            endpoint.path,
            endpoint.authority(),
            crate::USER_AGENT,
        );
        if gzip {
            head.push_str("Content-Encoding: gzip\r\n");
        }
        for (name, value) in headers {
            head.push_str(name);
            head.push_str(": ");
            head.push_str(value);
            head.push_str("\r\n");
        }
        Client {
            endpoint,
            head,
            max_response,
            tls,
            conn: None,
        }
    }

    /// A client with the same settings and no connection yet.
    pub(crate) fn unconnected(&self) -> Client {
        Client {
            endpoint: self.endpoint.clone(),
            head: self.head.clone(),
            max_response: self.max_response,
            tls: self.tls.clone(),
            conn: None,
        }
    }

    /// Sends one request by `deadline`. A kept-alive connection that turns
    /// out to be closed is reopened once, without counting as a failure.
    pub(crate) fn post(&mut self, body: &[u8], deadline: Instant) -> Result<Response, SendError> {
        let reused = self.conn.is_some();
        match self.post_once(body, deadline) {
            Err(SendError::Io(e)) if reused && is_stale(&e) => {
                self.conn = None;
                self.post_once(body, deadline)
            }
            other => other,
        }
    }

    fn post_once(&mut self, body: &[u8], deadline: Instant) -> Result<Response, SendError> {
        let result = match self.exchange(body, deadline) {
            Err(SendError::Io(e)) => Err(match tls_failure(&e) {
                Some(message) => SendError::Protocol(message),
                None => SendError::Io(e),
            }),
            other => other,
        };
        if result.is_err() {
            self.conn = None;
        }
        result
    }

    fn exchange(&mut self, body: &[u8], deadline: Instant) -> Result<Response, SendError> {
        if self.conn.is_none() {
            let tcp = connect(&self.endpoint, deadline)?;
            let conn = match &self.tls {
                None => Conn::Plain(tcp),
                Some(config) => {
                    let name = rustls::pki_types::ServerName::try_from(self.endpoint.host.clone())
                        .map_err(|e| {
                            protocol(format!("TLS server name {:?}: {e}", self.endpoint.host))
                        })?;
                    let session = rustls::ClientConnection::new(Arc::clone(config), name)
                        .map_err(|e| protocol(format!("TLS: {e}")))?;
                    Conn::Tls(Box::new(rustls::StreamOwned::new(session, tcp)))
                }
            };
            self.conn = Some(BufReader::new(conn));
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err(SendError::Io(io::ErrorKind::NotConnected.into()));
        };
        let stream = conn.get_mut();
        let left = remaining(deadline)?;
        stream.tcp().set_write_timeout(Some(left))?;
        stream.tcp().set_read_timeout(Some(left))?;
        let mut head = String::with_capacity(self.head.len() + 32);
        head.push_str(&self.head);
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        stream.write_all(head.as_bytes())?;
        stream.write_all(body)?;
        stream.flush()?;
        let (response, keep) = read_response(conn, self.max_response)?;
        if !keep {
            self.conn = None;
        }
        Ok(response)
    }
}

fn is_stale(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::UnexpectedEof
    )
}

fn remaining(deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "export timeout reached",
        ))
    } else {
        Ok(left)
    }
}

fn connect(endpoint: &Endpoint, deadline: Instant) -> io::Result<TcpStream> {
    let addrs = (endpoint.host.as_str(), endpoint.port).to_socket_addrs()?;
    let mut last = io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} resolved to no address", endpoint.host),
    );
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, remaining(deadline)?) {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn protocol(message: impl Into<String>) -> SendError {
    SendError::Protocol(message.into())
}

/// Reads a response; returns it and whether the connection stays open.
fn read_response(
    conn: &mut BufReader<Conn>,
    max_body: usize,
) -> Result<(Response, bool), SendError> {
    loop {
        let (status, headers) = read_head(conn)?;
        // 1xx responses (100 Continue) precede the real one.
        if (100..200).contains(&status) {
            continue;
        }
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let mut keep = !header("Connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let chunked =
            header("Transfer-Encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        let body = if chunked {
            read_chunked(conn, max_body)?
        } else if let Some(len) = header("Content-Length") {
            let len: usize = len
                .trim()
                .parse()
                .map_err(|_| protocol(format!("bad Content-Length {len:?}")))?;
            if len > max_body {
                return Err(protocol(format!(
                    "response body of {len} bytes exceeds the {max_body}-byte limit"
                )));
            }
            let mut body = vec![0; len];
            conn.read_exact(&mut body)?;
            body
        } else {
            keep = false;
            let mut body = Vec::new();
            let read = conn.take(max_body as u64 + 1).read_to_end(&mut body)?;
            if read > max_body {
                return Err(protocol(format!(
                    "response body exceeds the {max_body}-byte limit"
                )));
            }
            body
        };
        let body = if header("Content-Encoding").is_some_and(|v| v.eq_ignore_ascii_case("gzip")) {
            gunzip(&body, max_body)?
        } else {
            body
        };
        let retry_after = header("Retry-After").map(str::to_owned);
        return Ok((
            Response {
                status,
                retry_after,
                body,
            },
            keep,
        ));
    }
}

fn read_line(conn: &mut BufReader<Conn>, budget: &mut usize) -> Result<String, SendError> {
    let mut line = Vec::new();
    let n = conn
        .by_ref()
        .take(*budget as u64)
        .read_until(b'\n', &mut line)?;
    if n == 0 {
        return Err(SendError::Io(io::ErrorKind::UnexpectedEof.into()));
    }
    if line.last() != Some(&b'\n') {
        return Err(protocol("response head too long or truncated"));
    }
    *budget -= n;
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| protocol("response head is not UTF-8"))
}

type Head = (u16, Vec<(String, String)>);

fn read_head(conn: &mut BufReader<Conn>) -> Result<Head, SendError> {
    let mut budget = MAX_HEAD;
    let status_line = read_line(conn, &mut budget)?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(protocol(format!(
            "not an HTTP/1.x response: {status_line:?}"
        )));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| protocol(format!("bad status line {status_line:?}")))?;
    let mut headers = Vec::new();
    loop {
        let line = read_line(conn, &mut budget)?;
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    Ok((status, headers))
}

fn read_chunked(conn: &mut BufReader<Conn>, max_body: usize) -> Result<Vec<u8>, SendError> {
    let mut body = Vec::new();
    loop {
        let mut budget = 1024;
        let line = read_line(conn, &mut budget)?;
        let size = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| protocol(format!("bad chunk size {size:?}")))?;
        if size == 0 {
            // Trailers, then the empty line.
            let mut budget = MAX_HEAD;
            while !read_line(conn, &mut budget)?.is_empty() {}
            return Ok(body);
        }
        if body.len() + size > max_body {
            return Err(protocol(format!(
                "response body exceeds the {max_body}-byte limit"
            )));
        }
        let start = body.len();
        body.resize(start + size, 0);
        conn.read_exact(&mut body[start..])?;
        let mut crlf = [0; 2];
        conn.read_exact(&mut crlf)?;
    }
}

fn gunzip(body: &[u8], max: usize) -> Result<Vec<u8>, SendError> {
    let mut out = Vec::new();
    let read = flate2::read::GzDecoder::new(body)
        .take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| protocol(format!("bad gzip response body: {e}")))?;
    if read > max {
        return Err(protocol(format!(
            "response body exceeds the {max}-byte limit after decompression"
        )));
    }
    Ok(out)
}

/// gzip-compresses a request body.
pub(crate) fn gzip(body: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(body);
    encoder.finish().unwrap_or_default()
}
