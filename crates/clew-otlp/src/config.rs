//! Exporter configuration: in code, or from the `OTEL_EXPORTER_OTLP_*`
//! variables with the specification's rules (the per-signal `*_TRACES_*`
//! variable wins over the general one; `/v1/traces` is appended to the
//! general HTTP endpoint, the per-signal endpoint is used as it is).
//!
//! Bad values never panic: each produces an `InvalidConfiguration`
//! diagnostic naming the variable, and the documented default is used.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use clew_sdk::env::{invalid, Env};

/// The OTLP transport and body encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// gRPC (`grpc`).
    Grpc,
    /// HTTP with a binary protobuf body (`http/protobuf`), the default.
    HttpProtobuf,
    /// HTTP with an OTLP/JSON body (`http/json`).
    HttpJson,
}

impl Protocol {
    /// Parses the specification's names.
    pub fn parse(s: &str) -> Option<Protocol> {
        match s.trim().to_ascii_lowercase().as_str() {
            "grpc" => Some(Protocol::Grpc),
            "http/protobuf" => Some(Protocol::HttpProtobuf),
            "http/json" => Some(Protocol::HttpJson),
            _ => None,
        }
    }

    /// The specification's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::HttpProtobuf => "http/protobuf",
            Protocol::HttpJson => "http/json",
        }
    }

    fn default_endpoint(self) -> &'static str {
        match self {
            Protocol::Grpc => "http://localhost:4317",
            Protocol::HttpProtobuf | Protocol::HttpJson => "http://localhost:4318",
        }
    }
}

/// Request body compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// None (the default).
    #[default]
    None,
    /// gzip, sent with `Content-Encoding: gzip`.
    Gzip,
}

/// A parsed endpoint URL: only scheme, host, port and path are used.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `true` for `https`.
    pub tls: bool,
    /// The host name or address (IPv6 without brackets).
    pub host: String,
    /// The port; the scheme's default when the URL has none.
    pub port: u16,
    /// The path, starting with `/`.
    pub path: String,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}{}", self.host, self.port, self.path)
        } else {
            write!(f, "{scheme}://{}:{}{}", self.host, self.port, self.path)
        }
    }
}

/// Why an endpoint URL was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointError(String);

impl fmt::Display for EndpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EndpointError {}

impl Endpoint {
    /// Parses `scheme://host[:port][/path][?query][#fragment]`. The scheme
    /// must be `http` or `https`; query and fragment are ignored, as the
    /// specification says only scheme, host, port and path are honoured.
    pub fn parse(url: &str) -> Result<Endpoint, EndpointError> {
        let url = url.trim();
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| EndpointError(format!("{url:?} has no scheme (http:// or https://)")))?;
        let tls = match scheme.to_ascii_lowercase().as_str() {
            // `grpc://` is what Node's guides write for a plaintext gRPC
            // collector; it means the same as `http://`.
            "http" | "grpc" => false,
            "https" => true,
            other => return Err(EndpointError(format!("unsupported scheme {other:?}"))),
        };
        let rest = rest.split(['?', '#']).next().unwrap_or("");
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.contains('@') {
            return Err(EndpointError(
                "credentials in the URL are not supported; use the headers option".into(),
            ));
        }
        let default_port = if tls { 443 } else { 80 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| EndpointError(format!("unclosed IPv6 address in {url:?}")))?;
            let port = match after.strip_prefix(':') {
                Some(p) => parse_port(p, url)?,
                None if after.is_empty() => default_port,
                None => return Err(EndpointError(format!("unexpected {after:?} in {url:?}"))),
            };
            (host, port)
        } else {
            match authority.rsplit_once(':') {
                Some((host, p)) => (host, parse_port(p, url)?),
                None => (authority, default_port),
            }
        };
        if host.is_empty() {
            return Err(EndpointError(format!("{url:?} has no host")));
        }
        Ok(Endpoint {
            tls,
            host: host.to_owned(),
            port,
            path: path.to_owned(),
        })
    }

    /// The general endpoint made a per-signal one: `v1/traces` appended
    /// with exactly one `/` between.
    fn with_signal_path(mut self) -> Endpoint {
        if !self.path.ends_with('/') {
            self.path.push('/');
        }
        self.path.push_str("v1/traces");
        self
    }

    /// `host:port` for connecting, with brackets around IPv6 addresses.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

fn parse_port(p: &str, url: &str) -> Result<u16, EndpointError> {
    p.parse::<u16>()
        .map_err(|_| EndpointError(format!("bad port {p:?} in {url:?}")))
}

/// How an OTLP exporter sends: everything the specification's variables
/// set, plus the size limits.
#[derive(Debug, Clone)]
pub struct OtlpConfig {
    /// The transport and encoding.
    pub protocol: Protocol,
    /// Where requests go. For HTTP this includes the `/v1/traces` path.
    pub endpoint: Endpoint,
    /// Sent on every request (HTTP headers or gRPC metadata).
    pub headers: Vec<(String, String)>,
    /// Request body compression.
    pub compression: Compression,
    /// The bound on one export, retries included.
    pub timeout: Duration,
    /// A trusted CA certificate (PEM) for the server.
    pub certificate: Option<PathBuf>,
    /// The client's private key (PEM), for mTLS.
    pub client_key: Option<PathBuf>,
    /// The client's certificate chain (PEM), for mTLS.
    pub client_certificate: Option<PathBuf>,
    /// gRPC without TLS when the endpoint has no scheme (the scheme, when
    /// present, decides).
    pub insecure: bool,
    /// Requests larger than this (before compression) are not sent; their
    /// spans are reported as dropped. Default 64 MiB.
    pub max_request_size: usize,
    /// Responses larger than this are a non-retryable error. Default 4 MiB.
    pub max_response_size: usize,
}

impl Default for OtlpConfig {
    fn default() -> OtlpConfig {
        OtlpConfig::for_protocol(Protocol::HttpProtobuf)
    }
}

/// The two names of one setting: general and per-signal.
struct Var {
    general: &'static str,
    traces: &'static str,
}

impl Var {
    /// The per-signal value if set, else the general one, with the name of
    /// the variable it came from and whether it was the per-signal one.
    fn get(&self, env: &Env) -> Option<(&'static str, String, bool)> {
        if let Some(v) = env.get(self.traces) {
            return Some((self.traces, v, true));
        }
        env.get(self.general).map(|v| (self.general, v, false))
    }
}

macro_rules! var {
    ($suffix:literal) => {
        Var {
            general: concat!("OTEL_EXPORTER_OTLP_", $suffix),
            traces: concat!("OTEL_EXPORTER_OTLP_TRACES_", $suffix),
        }
    };
}

impl OtlpConfig {
    /// The defaults for `protocol`: `localhost:4317` for gRPC,
    /// `localhost:4318/v1/traces` for HTTP, no headers, no compression,
    /// 10 s timeout.
    pub fn for_protocol(protocol: Protocol) -> OtlpConfig {
        let mut endpoint =
            Endpoint::parse(protocol.default_endpoint()).unwrap_or_else(|_| unreachable_endpoint());
        if protocol != Protocol::Grpc {
            endpoint = endpoint.with_signal_path();
        }
        OtlpConfig {
            protocol,
            endpoint,
            headers: Vec::new(),
            compression: Compression::None,
            timeout: Duration::from_secs(10),
            certificate: None,
            client_key: None,
            client_certificate: None,
            insecure: false,
            max_request_size: 64 << 20,
            max_response_size: 4 << 20,
        }
    }

    /// Reads the process environment.
    pub fn from_env() -> OtlpConfig {
        OtlpConfig::from(&Env::process())
    }

    /// Reads `env`. Every malformed value is reported through the
    /// diagnostics channel, naming its variable, and replaced by its
    /// default.
    pub fn from(env: &Env) -> OtlpConfig {
        let protocol = match var!("PROTOCOL").get(env) {
            None => Protocol::HttpProtobuf,
            Some((name, value, _)) => Protocol::parse(&value).unwrap_or_else(|| {
                invalid(
                    name,
                    &value,
                    "expected grpc, http/protobuf or http/json; using http/protobuf",
                );
                Protocol::HttpProtobuf
            }),
        };
        let mut config = OtlpConfig::for_protocol(protocol);
        if let Some((name, _, _)) = var!("INSECURE").get(env) {
            config.insecure = env.bool(name);
        }
        if let Some((name, value, per_signal)) = var!("ENDPOINT").get(env) {
            // gRPC endpoints may omit the scheme; `INSECURE` then decides.
            let url = if protocol == Protocol::Grpc && !value.contains("://") {
                let scheme = if config.insecure { "http" } else { "https" };
                format!("{scheme}://{value}")
            } else {
                value.clone()
            };
            match Endpoint::parse(&url) {
                Ok(endpoint) if per_signal || protocol == Protocol::Grpc => {
                    config.endpoint = endpoint;
                }
                Ok(endpoint) => config.endpoint = endpoint.with_signal_path(),
                Err(e) => invalid(name, &value, &format!("{e}; using {}", config.endpoint)),
            }
        }
        if let Some((name, value, _)) = var!("HEADERS").get(env) {
            match parse_headers(&value) {
                Ok(headers) => config.headers = headers,
                Err(e) => invalid(name, &value, &format!("{e}; no headers are sent")),
            }
        }
        if let Some((name, value, _)) = var!("COMPRESSION").get(env) {
            match value.to_ascii_lowercase().as_str() {
                "gzip" => config.compression = Compression::Gzip,
                "none" => config.compression = Compression::None,
                _ => invalid(name, &value, "expected gzip or none; using none"),
            }
        }
        if let Some(timeout) = var!("TIMEOUT")
            .get(env)
            .and_then(|(name, _, _)| env.timeout(name))
        {
            config.timeout = timeout;
        }
        let path = |var: Var| {
            var.get(env).map(|(name, value, _)| {
                let path = PathBuf::from(&value);
                if !path.is_file() {
                    invalid(
                        name,
                        &value,
                        "not a readable file; an exporter for an https endpoint cannot be built until it is fixed",
                    );
                }
                path
            })
        };
        config.certificate = path(var!("CERTIFICATE"));
        config.client_key = path(var!("CLIENT_KEY"));
        config.client_certificate = path(var!("CLIENT_CERTIFICATE"));
        config
    }

    /// Sets the endpoint, used as it is (like the per-signal variable).
    pub fn with_endpoint(mut self, url: &str) -> Result<OtlpConfig, EndpointError> {
        self.endpoint = Endpoint::parse(url)?;
        Ok(self)
    }

    /// Adds a header sent on every request.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> OtlpConfig {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the compression.
    pub fn with_compression(mut self, compression: Compression) -> OtlpConfig {
        self.compression = compression;
        self
    }

    /// Sets the bound on one export, retries included.
    pub fn with_timeout(mut self, timeout: Duration) -> OtlpConfig {
        self.timeout = timeout;
        self
    }

    /// Sets the request size limit (before compression).
    pub fn with_max_request_size(mut self, bytes: usize) -> OtlpConfig {
        self.max_request_size = bytes;
        self
    }
}

fn unreachable_endpoint() -> Endpoint {
    Endpoint {
        tls: false,
        host: "localhost".into(),
        port: 4318,
        path: "/".into(),
    }
}

/// Parses `k1=v1,k2=v2` with W3C-baggage percent-encoding. Empty members
/// are skipped; a member without `=` or with an empty key fails the whole
/// list (sending half the credentials would fail anyway, and silently).
pub fn parse_headers(list: &str) -> Result<Vec<(String, String)>, String> {
    let mut headers = Vec::new();
    for member in list.split(',') {
        let member = member.trim();
        if member.is_empty() {
            continue;
        }
        let (key, value) = member
            .split_once('=')
            .ok_or_else(|| format!("member {member:?} has no '='"))?;
        let key = percent_decode(key.trim())?;
        let value = percent_decode(value.trim())?;
        if key.is_empty() || !key.bytes().all(is_token_byte) {
            return Err(format!("{key:?} is not a valid header name"));
        }
        if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(format!("the value of {key:?} holds a line break"));
        }
        headers.push((key, value));
    }
    Ok(headers)
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent-escape in {s:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{s:?} decodes to invalid UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> OtlpConfig {
        OtlpConfig::from(&Env::from_pairs(pairs.iter().copied()))
    }

    #[test]
    fn defaults() {
        let c = env(&[]);
        assert_eq!(c.protocol, Protocol::HttpProtobuf);
        assert_eq!(c.endpoint.to_string(), "http://localhost:4318/v1/traces");
        assert_eq!(c.timeout, Duration::from_secs(10));
        let g = env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]);
        assert_eq!(g.endpoint.to_string(), "http://localhost:4317/");
        // A gRPC endpoint without a scheme is TLS unless INSECURE says not.
        let g = env(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
        ]);
        assert_eq!(g.endpoint.to_string(), "https://collector:4317/");
        let g = env(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
            ("OTEL_EXPORTER_OTLP_TRACES_INSECURE", "true"),
        ]);
        assert_eq!(g.endpoint.to_string(), "http://collector:4317/");
    }

    #[test]
    fn endpoint_path_rules() {
        let c = env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")]);
        assert_eq!(c.endpoint.to_string(), "http://collector:4318/v1/traces");
        let c = env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://gw.example/otlp/")]);
        assert_eq!(
            c.endpoint.to_string(),
            "https://gw.example:443/otlp/v1/traces"
        );
        let c = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:1"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://b:2/custom"),
        ]);
        assert_eq!(c.endpoint.to_string(), "http://b:2/custom");
        let c = env(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://b:2")]);
        assert_eq!(c.endpoint.to_string(), "http://b:2/");
        let c = env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://[::1]:4318?x=1")]);
        assert_eq!(c.endpoint.host, "::1");
        assert_eq!(c.endpoint.authority(), "[::1]:4318");
    }

    #[test]
    fn bad_values_are_reported_by_name_and_fall_back() {
        // The only test here that sets the (process-wide) handler.
        static SAID: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
        clew_sdk::diagnostics::set_rate_limit(Duration::ZERO);
        clew_sdk::diagnostics::set_handler(|d| {
            SAID.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(d.to_string());
        });
        let c = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "novalue"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd"),
        ]);
        let said = SAID
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        for variable in [
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "OTEL_EXPORTER_OTLP_HEADERS",
            "OTEL_EXPORTER_OTLP_TIMEOUT",
            "OTEL_EXPORTER_OTLP_COMPRESSION",
        ] {
            assert!(
                said.iter().any(|d| d.contains(variable)),
                "{variable} not named in {said:#?}"
            );
        }
        assert_eq!(c.protocol, Protocol::HttpProtobuf);
        assert_eq!(c.endpoint.to_string(), "http://localhost:4318/v1/traces");
        assert!(c.headers.is_empty());
        assert_eq!(c.timeout, Duration::from_secs(10));
        assert_eq!(c.compression, Compression::None);
        for bad in [
            "ftp://x",
            "http://",
            "http://h:99999",
            "http://u@h",
            "http://[::1",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn headers_are_percent_decoded_and_per_signal_wins() {
        let c = env(&[
            ("OTEL_EXPORTER_OTLP_HEADERS", "a=1"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                "Authorization=Basic%20dXNlcg%3D%3D, x-tenant = t1 ,",
            ),
            ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "GZIP"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "2500"),
        ]);
        assert_eq!(
            c.headers,
            vec![
                ("Authorization".to_owned(), "Basic dXNlcg==".to_owned()),
                ("x-tenant".to_owned(), "t1".to_owned())
            ]
        );
        assert_eq!(c.compression, Compression::Gzip);
        assert_eq!(c.timeout, Duration::from_millis(2500));
        assert!(parse_headers("a=%0d%0aInjected: x").is_err());
        assert!(parse_headers("bad key=v").is_err());
        assert!(parse_headers("k=%zz").is_err());
    }
}
