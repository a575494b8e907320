//! TLS through rustls (with the `ring` provider): server verification
//! against the configured CA (`OTEL_EXPORTER_OTLP_CERTIFICATE`) or, without
//! one, the system's trust store; client certificates for mTLS.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

use crate::config::OtlpConfig;

fn certificates(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{what} {}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{what} {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{what} {}: no PEM certificate in the file",
            path.display()
        ));
    }
    Ok(certs)
}

/// The client configuration for `config`, or why it cannot be made.
pub(crate) fn client_config(config: &OtlpConfig) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    match &config.certificate {
        Some(path) => {
            for cert in certificates(path, "CA certificate (OTEL_EXPORTER_OTLP_CERTIFICATE)")? {
                roots
                    .add(cert)
                    .map_err(|e| format!("CA certificate {}: {e}", path.display()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                // A system certificate rustls cannot use is skipped, as
                // every TLS client on the system skips it.
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                return Err(
                    "no trusted CA certificates: the system store is empty or unreadable; set OTEL_EXPORTER_OTLP_CERTIFICATE"
                        .into(),
                );
            }
        }
    }
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots);
    let client = match (&config.client_certificate, &config.client_key) {
        (Some(cert), Some(key)) => {
            let chain = certificates(
                cert,
                "client certificate (OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE)",
            )?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                format!(
                    "client key (OTEL_EXPORTER_OTLP_CLIENT_KEY) {}: {e}",
                    key.display()
                )
            })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("client certificate and key: {e}"))?
        }
        (None, None) => builder.with_no_client_auth(),
        (Some(_), None) | (None, Some(_)) => {
            return Err(
                "mTLS needs both a client certificate (OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE) and its key (OTEL_EXPORTER_OTLP_CLIENT_KEY)"
                    .into(),
            )
        }
    };
    Ok(Arc::new(client))
}

/// A TLS failure (untrusted certificate, handshake refused) somewhere in
/// an error's source chain: not transient, so not retried.
pub(crate) fn tls_failure(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(format!("TLS: {tls}"));
        }
        if let Some(tls) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(format!("TLS: {tls}"));
        }
        next = e.source();
    }
    None
}
