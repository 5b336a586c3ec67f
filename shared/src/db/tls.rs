//! TLS for PostgreSQL with rustls, following libpq's `sslmode` meanings (RDS enforces TLS):
//! `disable` never encrypts; `prefer`/`require` encrypt without checking the certificate, as
//! libpq does; `verify-ca`/`verify-full` check it against the public roots plus the PEM file
//! named by `sslrootcert` (RDS's CA bundle is not a public root).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::PoolSetupError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum TlsMode {
    Disable,
    Prefer,
    Require,
    Verify { root_cert: Option<String> },
}

impl TlsMode {
    pub(super) fn ssl_mode(&self) -> SslMode {
        match self {
            Self::Disable => SslMode::Disable,
            Self::Prefer => SslMode::Prefer,
            Self::Require | Self::Verify { .. } => SslMode::Require,
        }
    }

    pub(super) fn connector(&self) -> Result<MakeRustlsConnect, PoolSetupError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| PoolSetupError(e.to_string()))?;
        let config = match self {
            Self::Verify { root_cert } => builder
                .with_root_certificates(root_store(root_cert.as_deref())?)
                .with_no_client_auth(),
            _ => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
                .with_no_client_auth(),
        };
        Ok(MakeRustlsConnect::new(config))
    }
}

fn root_store(root_cert: Option<&str>) -> Result<RootCertStore, PoolSetupError> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = root_cert {
        let pem =
            std::fs::read(path).map_err(|e| PoolSetupError(format!("sslrootcert {path}: {e}")))?;
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            let cert = cert.map_err(|e| PoolSetupError(format!("sslrootcert {path}: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| PoolSetupError(format!("sslrootcert {path}: {e}")))?;
        }
    }
    Ok(roots)
}

/// Removes `sslmode` and `sslrootcert` from a `postgres://` URL (tokio-postgres does not know
/// `verify-full`) and returns the URL with the TLS mode they asked for.
pub(super) fn split_tls_options(url: &str) -> Result<(String, TlsMode), PoolSetupError> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), TlsMode::Prefer));
    };
    let mut mode = None;
    let mut root_cert = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_encoding::percent_decode_str(value)
            .decode_utf8_lossy()
            .into_owned();
        match key {
            "sslmode" => mode = Some(value),
            "sslrootcert" => root_cert = Some(value),
            _ => kept.push(pair),
        }
    }
    let mode = match mode.as_deref() {
        None | Some("prefer") | Some("allow") => TlsMode::Prefer,
        Some("disable") => TlsMode::Disable,
        Some("require") => TlsMode::Require,
        Some("verify-ca") | Some("verify-full") => TlsMode::Verify { root_cert },
        Some(other) => return Err(PoolSetupError(format!("unknown sslmode {other:?}"))),
    };
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, mode))
}

/// Encrypts the connection without authenticating the server: libpq's `require`.
#[derive(Debug)]
struct EncryptOnly(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_is_taken_out_of_the_url() {
        let (url, mode) =
            split_tls_options("postgres://u@h/db?sslmode=require&application_name=x").unwrap();
        assert_eq!(url, "postgres://u@h/db?application_name=x");
        assert_eq!(mode, TlsMode::Require);
    }

    #[test]
    fn verify_full_keeps_its_root_certificate() {
        let (url, mode) =
            split_tls_options("postgres://u@h/db?sslrootcert=%2Fopt%2Frds.pem&sslmode=verify-full")
                .unwrap();
        assert_eq!(url, "postgres://u@h/db");
        assert_eq!(
            mode,
            TlsMode::Verify {
                root_cert: Some("/opt/rds.pem".into())
            }
        );
    }

    #[test]
    fn no_options_means_prefer_and_unknown_modes_are_refused() {
        assert_eq!(
            split_tls_options("postgres://h/db").unwrap().1,
            TlsMode::Prefer
        );
        assert!(split_tls_options("postgres://h/db?sslmode=sometimes").is_err());
    }

    #[test]
    fn every_mode_builds_a_connector() {
        for mode in [
            TlsMode::Disable,
            TlsMode::Prefer,
            TlsMode::Require,
            TlsMode::Verify { root_cert: None },
        ] {
            mode.connector().unwrap();
        }
        let missing = TlsMode::Verify {
            root_cert: Some("/nonexistent/ca.pem".into()),
        };
        assert!(missing.connector().is_err());
    }
}
